/* The ghost-exit net on the CPU, plain C: the reference for adaptive patch exit.
 *
 * The frame is cut into exit tiles; the predictor gives each tile a depth. Layers then run
 * over the whole frame, block by block ("grouped by depth"), but only where some tile
 * still needs them: a tile exiting at depth d needs block j's output on itself dilated by
 * 2(d - j) + 1 pixels (each later block reads 1 pixel around for its conv and 1 for its
 * shift; the tail reads 1). Rows are cut into runs covering those regions, so nothing is
 * computed twice and every computed value equals the whole-frame network's at that depth.
 * Buffers carry a 1-pixel zero border that is never written: the "same" padding of every
 * conv and the zero fill of every shift at the frame's edge. */
#include "sr-cpu.h"
#include "sr-cpu-kernels.h"

#include <math.h>
#include <string.h>

struct _SrCpuGhost {
  const SrModel *model;
  SrCpu *cpu;
  int width, height;          /* frame size the buffers are for */
  gsize pitch, plane;         /* padded row and plane, in floats */
  float *input, *feat, *intr; /* 1, C and C/2 padded planes */
  int tile, tiles_x, tiles_y;
  guint8 *depth;              /* per tile */
  guint8 **cover;             /* per worker: one row of coverage flags */
  int (**runs)[2];            /* per worker: the runs of one row */
  float **scratch;            /* per worker: predictor maps or tail rows */
  SrCpuKernels k;
  double *macs;               /* per worker: MACs computed this frame */
};

typedef enum {
  PHASE_HEAD,
  PHASE_CONV,
  PHASE_ADD,
} Phase;

typedef struct {
  SrCpuGhost *g;
  const SrPlane *src;
  SrPlane *dst;
  double threshold;
  Phase phase;
  int block; /* 1-based */
} Frame;

static inline gsize
at (const SrCpuGhost *g, int y, int x)
{
  return (gsize) (y + 1) * g->pitch + x + 1;
}

/* How far around a tile of depth d the phase must compute, or -1 if not at all. */
static int
ring (Phase phase, int block, int d)
{
  switch (phase) {
    case PHASE_HEAD: return 2 * d + 1;
    case PHASE_CONV: return d >= block ? 2 * (d - block) + 2 : -1;
    case PHASE_ADD: return d >= block ? 2 * (d - block) + 1 : -1;
  }
  return -1;
}

/* The runs [x0, x1) of row y that the phase computes. */
static int
row_runs (const Frame *f, int y, guint8 *cover, int (*runs)[2])
{
  const SrCpuGhost *g = f->g;
  const int T = g->tile, W = g->width, H = g->height;
  gboolean any = FALSE;
  memset (cover, 0, W);
  for (int ty = 0; ty < g->tiles_y; ty++)
    for (int tx = 0; tx < g->tiles_x; tx++) {
      int r = ring (f->phase, f->block, g->depth[ty * g->tiles_x + tx]);
      if (r < 0 || y < ty * T - r || y >= MIN ((ty + 1) * T, H) + r)
        continue;
      int x0 = MAX (tx * T - r, 0), x1 = MIN (MIN ((tx + 1) * T, W) + r, W);
      memset (cover + x0, 1, x1 - x0);
      any = TRUE;
    }
  if (!any)
    return 0;
  int n = 0;
  for (int x = 0; x < W; x++) {
    if (cover[x] && (x == 0 || !cover[x - 1]))
      runs[n][0] = x;
    if (cover[x] && (x == W - 1 || !cover[x + 1]))
      runs[n++][1] = x + 1;
  }
  return n;
}

static void
layer_row (gpointer ctx, int y, int worker)
{
  Frame *f = ctx;
  SrCpuGhost *g = f->g;
  const SrGhostExit *m = &g->model->ghost;
  const int half = m->channels / 2;
  int n = row_runs (f, y, g->cover[worker], g->runs[worker]);
  const SrLayer *conv = f->phase == PHASE_HEAD ? &m->head
      : f->phase == PHASE_CONV ? &m->blocks[f->block - 1] : NULL;
  for (int i = 0; i < n; i++) {
    int xa = g->runs[worker][i][0], len = g->runs[worker][i][1] - xa;
    if (conv)
      g->macs[worker] += (double) len * conv->in_ch * conv->out_ch * 9;
    if (f->phase == PHASE_HEAD) {
      g->k.conv3x3_row (&m->head, g->input, g->plane, g->pitch, y, xa, len, g->feat + at (g, y, xa),
          g->plane);
    } else if (f->phase == PHASE_CONV) {
      g->k.conv3x3_row (&m->blocks[f->block - 1], g->feat, g->plane, g->pitch, y, xa, len,
          g->intr + at (g, y, xa), g->plane);
    } else {
      /* the residual: intrinsic maps to the first half, their shifted copies to the second;
       * the shift is only an offset in the read */
      const gint8 (*shift)[2] = (const gint8 (*)[2]) m->shifts + (gsize) (f->block - 1) * half;
      for (int c = 0; c < half; c++) {
        float *lo = g->feat + c * g->plane + at (g, y, xa);
        float *hi = g->feat + (c + half) * g->plane + at (g, y, xa);
        const float *yi = g->intr + c * g->plane + at (g, y, xa);
        const float *ys = g->intr + c * g->plane + at (g, y + shift[c][0], xa + shift[c][1]);
        for (int x = 0; x < len; x++) {
          lo[x] += yi[x];
          hi[x] += ys[x];
        }
      }
    }
  }
}

/* Rows go to workers in a few tall bands (two per worker), so a worker mostly reads the
 * rows around its own from its own cache: row by row, neighbouring rows were written by the
 * other core and each phase paid for the transfer (2 threads ran at 1.1x one thread;
 * bands make it 1.8x). */
static int
band_rows (const SrCpuGhost *g)
{
  int workers = sr_cpu_n_workers (g->cpu);
  return MAX (8, (g->height + 2 * workers - 1) / (2 * workers));
}

static void
layer_band (gpointer ctx, int band, int worker)
{
  Frame *f = ctx;
  int rows = band_rows (f->g), y1 = MIN ((band + 1) * rows, f->g->height);
  for (int y = band * rows; y < y1; y++)
    layer_row (ctx, y, worker);
}

static void
fill_input_row (gpointer ctx, int y, int worker)
{
  Frame *f = ctx;
  const guint8 *row = f->src->data + (gsize) y * f->src->stride;
  float *out = f->g->input + at (f->g, y, 0);
  for (int x = 0; x < f->src->width; x++)
    out[x] = row[(gsize) x * f->src->pixel_stride] * (1.f / 255.f);
}

static void
tile_rect (const SrCpuGhost *g, int t, int *x0, int *y0, int *w, int *h)
{
  *x0 = (t % g->tiles_x) * g->tile;
  *y0 = (t / g->tiles_x) * g->tile;
  *w = MIN (g->tile, g->width - *x0);
  *h = MIN (g->tile, g->height - *y0);
}

/* A 3x3 stride-2 conv with zero padding 1 over a [in_ch][h][w] map (the predictor). */
static void
conv_stride2 (const SrLayer *l, const float *in, int h, int w, float *out)
{
  const int oh = (h + 1) / 2, ow = (w + 1) / 2;
  for (int oc = 0; oc < l->out_ch; oc++)
    for (int oy = 0; oy < oh; oy++)
      for (int ox = 0; ox < ow; ox++) {
        float acc = l->bias[oc];
        for (int ic = 0; ic < l->in_ch; ic++)
          for (int ky = 0; ky < 3; ky++) {
            int iy = 2 * oy - 1 + ky;
            if (iy < 0 || iy >= h)
              continue;
            for (int kx = 0; kx < 3; kx++) {
              int ix = 2 * ox - 1 + kx;
              if (ix >= 0 && ix < w)
                acc += l->weight[((oc * l->in_ch + ic) * 3 + ky) * 3 + kx] *
                    in[((gsize) ic * h + iy) * w + ix];
            }
          }
        out[((gsize) oc * oh + oy) * ow + ox] = acc > 0.f ? acc : 0.f;
      }
}

static gsize
predictor_floats (int tile, int width)
{
  return (gsize) tile * tile + (gsize) width * ((tile + 1) / 2) * ((tile + 1) / 2) * 2;
}

static void
predict_tile (gpointer ctx, int t, int worker)
{
  Frame *f = ctx;
  SrCpuGhost *g = f->g;
  const SrGhostExit *m = &g->model->ghost;
  int x0, y0, w, h;
  tile_rect (g, t, &x0, &y0, &w, &h);
  float *in = g->scratch[worker];
  float *a = in + (gsize) w * h;
  float *b = a + (gsize) m->pred[0].out_ch * ((h + 1) / 2) * ((w + 1) / 2);
  for (int y = 0; y < h; y++)
    memcpy (in + (gsize) y * w, g->input + at (g, y0 + y, x0), sizeof (float) * w);
  conv_stride2 (&m->pred[0], in, h, w, a);
  conv_stride2 (&m->pred[1], a, (h + 1) / 2, (w + 1) / 2, b);
  const int width = m->pred[1].out_ch, n = ((h + 3) / 4) * ((w + 3) / 4);
  float pooled[64];
  for (int c = 0; c < width; c++) {
    double sum = 0;
    for (int i = 0; i < n; i++)
      sum += b[(gsize) c * n + i];
    pooled[c] = sum / n;
  }
  /* the deepest block whose predicted gain reaches the threshold; block 1 always runs */
  int depth = 1;
  for (int k = 2; k <= m->n_blocks; k++) {
    const SrLayer *fc = &m->pred[2];
    float gain = fc->bias[k - 2];
    for (int c = 0; c < width; c++)
      gain += fc->weight[(k - 2) * width + c] * pooled[c];
    if (gain >= f->threshold)
      depth = k;
  }
  g->depth[t] = depth;
}

static void
tail_tile (gpointer ctx, int t, int worker)
{
  Frame *f = ctx;
  SrCpuGhost *g = f->g;
  if (g->depth[t] != f->block)
    return;
  const SrLayer *tail = &g->model->ghost.tail;
  const int s = g->model->scale;
  int x0, y0, w, h;
  tile_rect (g, t, &x0, &y0, &w, &h);
  float *res = g->scratch[worker];
  g->macs[worker] += (double) w * h * tail->in_ch * tail->out_ch * 9;
  for (int y = y0; y < y0 + h; y++) {
    g->k.conv3x3_row (tail, g->feat, g->plane, g->pitch, y, x0, w, res, g->tile);
    const float *anchor = g->input + at (g, y, x0);
    for (int x = 0; x < w; x++)
      for (int c = 0; c < s * s; c++) {
        int q = (int) floorf ((res[c * g->tile + x] + anchor[x]) * 255.f + 0.5f);
        f->dst->data[((gsize) y * s + c / s) * f->dst->stride +
            ((gsize) (x0 + x) * s + c % s) * f->dst->pixel_stride] = CLAMP (q, 0, 255);
      }
  }
}

static void
free_frame_buffers (SrCpuGhost *g)
{
  g_clear_pointer (&g->input, g_free);
  g_clear_pointer (&g->feat, g_free);
  g_clear_pointer (&g->intr, g_free);
  g_clear_pointer (&g->depth, g_free);
  for (int i = 0; g->cover && i < sr_cpu_n_workers (g->cpu); i++) {
    g_free (g->cover[i]);
    g_free (g->runs[i]);
  }
  g_clear_pointer (&g->cover, g_free);
  g_clear_pointer (&g->runs, g_free);
  g->width = g->height = 0;
}

static gboolean
ensure_frame_buffers (SrCpuGhost *g, int width, int height, GError **error)
{
  if (g->width == width && g->height == height)
    return TRUE;
  free_frame_buffers (g);
  const int C = g->model->ghost.channels;
  g->pitch = width + 2;
  g->plane = g->pitch * (height + 2);
  g->input = g_try_malloc0 (sizeof (float) * g->plane);
  g->feat = g_try_malloc0 (sizeof (float) * g->plane * C);
  g->intr = g_try_malloc0 (sizeof (float) * g->plane * (C / 2));
  if (!g->input || !g->feat || !g->intr) {
    free_frame_buffers (g);
    g_set_error (error, SR_ERROR, SR_ERROR_BACKEND, "cpu: cannot allocate %" G_GSIZE_FORMAT
        " bytes of feature maps for %dx%d", sizeof (float) * g->plane * (1 + C + C / 2),
        width, height);
    return FALSE;
  }
  g->tiles_x = (width + g->tile - 1) / g->tile;
  g->tiles_y = (height + g->tile - 1) / g->tile;
  g->depth = g_new0 (guint8, g->tiles_x * g->tiles_y);
  int workers = sr_cpu_n_workers (g->cpu);
  g->cover = g_new0 (guint8 *, workers);
  g->runs = g_malloc0 (sizeof (int (*)[2]) * workers);
  for (int i = 0; i < workers; i++) {
    g->cover[i] = g_malloc (width);
    g->runs[i] = g_malloc (sizeof (int[2]) * (width / 2 + 1));
  }
  g->width = width;
  g->height = height;
  return TRUE;
}

SrCpuGhost *
sr_cpu_ghost_new (const SrModel *model, SrCpu *cpu)
{
  SrCpuGhost *g = g_new0 (SrCpuGhost, 1);
  g->model = model;
  g->cpu = cpu;
  g->tile = model->ghost.exit_tile;
  sr_cpu_kernels_init (&g->k, sr_cpu_detect_isa ());
  g_debug ("sr-core: cpu kernels: %s", sr_isa_name (g->k.isa));
  int workers = sr_cpu_n_workers (cpu);
  gsize floats = MAX (predictor_floats (g->tile, model->ghost.pred[0].out_ch),
      (gsize) g->tile * model->scale * model->scale);
  g->scratch = g_new0 (float *, workers);
  for (int i = 0; i < workers; i++)
    g->scratch[i] = g_new (float, floats);
  g->macs = g_new0 (double, workers);
  return g;
}

void
sr_cpu_ghost_free (SrCpuGhost *g)
{
  int workers = sr_cpu_n_workers (g->cpu);
  free_frame_buffers (g);
  for (int i = 0; i < workers; i++)
    g_free (g->scratch[i]);
  g_free (g->scratch);
  g_free (g->macs);
  g_free (g);
}

gboolean
sr_cpu_ghost_upscale (SrCpuGhost *g, const SrPlane *src, SrPlane *dst, double threshold,
    SrFrameStats *stats, GError **error)
{
  const SrGhostExit *m = &g->model->ghost;
  if (!ensure_frame_buffers (g, src->width, src->height, error))
    return FALSE;
  Frame f = { g, src, dst, threshold, PHASE_HEAD, 0 };
  const int n_tiles = g->tiles_x * g->tiles_y;
  memset (g->macs, 0, sizeof (double) * sr_cpu_n_workers (g->cpu));
  sr_cpu_parallel_for (g->cpu, src->height, fill_input_row, &f);
  if (threshold > 0)
    sr_cpu_parallel_for (g->cpu, n_tiles, predict_tile, &f);
  else
    memset (g->depth, m->n_blocks, n_tiles);

  const int bands = (src->height + band_rows (g) - 1) / band_rows (g);
  sr_cpu_parallel_for (g->cpu, bands, layer_band, &f);
  for (int j = 1; j <= m->n_blocks; j++) {
    f.block = j;
    f.phase = PHASE_CONV;
    sr_cpu_parallel_for (g->cpu, bands, layer_band, &f);
    f.phase = PHASE_ADD;
    sr_cpu_parallel_for (g->cpu, bands, layer_band, &f);
    sr_cpu_parallel_for (g->cpu, n_tiles, tail_tile, &f);
  }

  /* what it cost, per LR pixel: the MACs computed (the rings around early-exiting tiles
   * included) and the predictor's */
  double macs = 0, depth_sum = 0, area = (double) src->width * src->height;
  for (int i = 0; i < sr_cpu_n_workers (g->cpu); i++)
    macs += g->macs[i];
  stats->n_tiles = n_tiles;
  stats->max_depth = m->n_blocks;
  for (int t = 0; t < n_tiles; t++) {
    int x0, y0, w, h;
    tile_rect (g, t, &x0, &y0, &w, &h);
    stats->tiles_at_depth[g->depth[t]]++;
    if (threshold > 0)
      macs += sr_ghost_predictor_macs (g->model, w, h);
    depth_sum += (double) w * h * g->depth[t];
  }
  stats->mean_depth = depth_sum / area;
  stats->tiles_x = g->tiles_x;
  stats->tiles_y = g->tiles_y;
  stats->tile_size = g->tile;
  stats->tile_depths = g->depth;
  stats->macs_per_pixel = macs / area;
  stats->macs_per_pixel_full = sr_ghost_macs_per_pixel (g->model, m->n_blocks);
  return TRUE;
}
