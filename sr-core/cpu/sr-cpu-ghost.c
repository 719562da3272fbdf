/* The ghost-exit net on the CPU, plain C: the reference for adaptive patch exit.
 *
 * The frame is cut into exit tiles; the predictor gives each tile a depth. Layers run only
 * where some tile still needs them: a tile exiting at depth d needs block j's output on
 * itself dilated by 2(d - j) + 1 pixels (each later block reads 1 pixel around for its conv
 * and 1 for its shift; the tail reads 1). Rows are cut into runs covering those regions, so
 * every computed value equals the whole-frame network's at that depth.
 *
 * Each worker takes a band of rows and pushes them through all layers back to back
 * (run_band), so no whole-frame feature map is written: the residual stream and the
 * intrinsic maps live in small per-worker rings of rows that stay in cache. A band computes
 * the cone of its own output rows, recomputing the halo its neighbour also computes.
 * Buffers carry a 1-pixel zero border that is never written (the rings' frame rows -1 and H
 * are zeroed when reached): the "same" padding of every conv and the zero fill of every
 * shift at the frame's edge.
 *
 * In low precision (bf16 or int16, when the model file allows it, chosen like the plain
 * net's precision) the convs read pixel-major 16-bit copies of their inputs through the
 * plain net's row kernels (AMX, VNNI or AVX2) and the residual stream stays fp32 beside
 * them: only each conv's input is rounded. bf16 rounds to bf16; int16 quantises to 12-bit
 * levels with one scale per depth (the stream's calibrated maximum after d blocks, act_max[d
 * + 1] / 4095, which also bounds block d's intrinsic maps: every add is non-negative), so
 * block d + 1 and the tail at exit d read the same copy. The luma enters int16 as 16 levels
 * per 8-bit step (exact for 8-bit samples, 12 bits for wider ones). The exit decisions do
 * not change (the predictor reads the fp32 luma). */
#include "sr-cpu-ghost.h"
#include "sr-cpu-ref.h"
#include "../sr-plane-private.h"

#include <math.h>
#include <string.h>

/* A worker's line buffers: the last `ring_rows` rows of the residual stream and of the
 * intrinsic maps, frame row y in slot y mod ring_rows. Slots -1 and ring_rows mirror the last
 * and the first, so a conv's three input rows and a shift's neighbour row are always
 * `pitch` apart, as in a whole-frame map. */
typedef struct {
  float *feat, *intr;       /* fp32: planar, C and C/2 planes; lowp: feat pixel-major, no intr */
  guint8 *feat_b, *intr_b;  /* lowp: pixel-major, C and C/2 16-bit words */
} Ring;

struct _SrCpuGhost {
  const SrModel *model;
  SrCpuPool *pool;
  int width, height;          /* frame size the buffers are for */
  gsize pitch, plane;         /* padded row and plane, in floats */
  float *input;               /* the luma, a padded plane */
  int ring_rows;              /* rows a ring holds (2 more for the mirrors) */
  gsize ring_plane;           /* a ring's plane, in pixels */
  Ring *rings;                /* per worker */
  int tile, tiles_x, tiles_y;
  guint8 *depth;              /* per tile */
  int (**runs)[2];            /* per worker: the runs of one row (one per tile column at most) */
  float **scratch;            /* per worker: predictor maps or tail rows */
  SrConvRowFn conv;           /* fp32 */
  SrTailRowFn tail;
  double *macs;               /* per worker: MACs computed this frame */
  /* low-precision path (layers NULL: fp32) */
  SrPrecision precision;      /* bf16 or int16 */
  SrLowpLayer *layers;        /* head, blocks 1..B, the tail at exits 1..B */
  float *scale;               /* [0..B]: what one level of feat_b is worth after d blocks */
  SrLowpRowFn row;
  SrGhostAddFn add;
  SrGhostAdd *adds;           /* per block: shift groups for this frame width, scales */
  guint8 *luma_b;             /* the luma, padded, pixel-major: 1 word */
};

/* int16: the luma's levels (16 per 8-bit step) */
#define LUMA_LEVELS 4080

/* The AMX kernel reads up to 18 pixels past a row's end. */
#define ROW_SLACK_PIXELS 32

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
} Frame;

static inline gsize
at (const SrCpuGhost *g, int y, int x)
{
  return (gsize) (y + 1) * g->pitch + x + 1;
}

/* the ring slot of frame row y (>= -1) */
static inline int
slot (const SrCpuGhost *g, int y)
{
  return (y + g->ring_rows) % g->ring_rows;
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

/* The runs [x0, x1) of row y that the phase computes for the output rows [y0, y1): per tile
 * column the widest ring of the tiles (cut to those rows) that reach row y (rings of one
 * column share a centre), then merged. */
static int
row_runs (const SrCpuGhost *g, Phase phase, int block, int y, int y0, int y1, int (*runs)[2])
{
  const int T = g->tile, W = g->width;
  /* only tile rows within the widest ring (the head's at full depth) can reach row y */
  const int reach = 2 * g->model->ghost.n_blocks + 2;
  const int ty0 = MAX (0, (y - reach) / T), ty1 = MIN (g->tiles_y, (y + reach) / T + 1);
  int n = 0;
  for (int tx = 0; tx < g->tiles_x; tx++) {
    int widest = -1;
    for (int ty = ty0; ty < ty1; ty++) {
      const int top = MAX (ty * T, y0), bottom = MIN ((ty + 1) * T, y1);
      int r = ring (phase, block, g->depth[ty * g->tiles_x + tx]);
      if (top < bottom && r > widest && y >= top - r && y < bottom + r)
        widest = r;
    }
    if (widest < 0)
      continue;
    int x0 = MAX (tx * T - widest, 0), x1 = MIN (MIN ((tx + 1) * T, W) + widest, W);
    /* insert in order of x0 (already in order unless a ring is wider than a tile) */
    int i = n++;
    for (; i > 0 && runs[i - 1][0] > x0; i--) {
      runs[i][0] = runs[i - 1][0];
      runs[i][1] = runs[i - 1][1];
    }
    runs[i][0] = x0;
    runs[i][1] = x1;
  }
  int merged = 0;
  for (int i = 0; i < n; i++) {
    if (merged > 0 && runs[i][0] <= runs[merged - 1][1]) {
      runs[merged - 1][1] = MAX (runs[merged - 1][1], runs[i][1]);
    } else {
      runs[merged][0] = runs[i][0];
      runs[merged++][1] = runs[i][1];
    }
  }
  return merged;
}

/* After pixels [xa, xa + len) of slot s were written in a map of `planes` planes: the same
 * in the slot's mirror, if it has one. */
static void
mirror (const SrCpuGhost *g, gpointer map, int planes, gsize pixel_bytes, int s, int xa, int len)
{
  const int m = s == 0 ? g->ring_rows : s == g->ring_rows - 1 ? -1 : -2;
  if (m == -2)
    return;
  const gsize plane_bytes = g->ring_plane * pixel_bytes;
  for (int p = 0; p < planes; p++) {
    guint8 *base = (guint8 *) map + p * plane_bytes;
    memcpy (base + at (g, m, xa) * pixel_bytes, base + at (g, s, xa) * pixel_bytes,
        len * pixel_bytes);
  }
}

/* The maps read across rows (the convs' inputs, the intrinsic maps): their slot s and its
 * mirror zeroed, for the frame rows -1 and H (the "same" padding and the shifts' fill). */
static void
zero_row (const SrCpuGhost *g, Ring *r, int s)
{
  const int C = g->model->ghost.channels;
  struct { gpointer map; int planes; gsize bytes; } maps[2] = {
    { r->feat_b, 1, g->layers ? g->layers[0].out_stride : 0 },
    { r->intr_b, 1, g->layers ? g->layers[1].out_stride : 0 },
  };
  if (!g->layers) {
    maps[0].map = r->feat, maps[0].planes = C, maps[0].bytes = 4;
    maps[1].map = r->intr, maps[1].planes = C / 2, maps[1].bytes = 4;
  }
  for (int i = 0; i < 2; i++) {
    for (int p = 0; p < maps[i].planes; p++)
      memset ((guint8 *) maps[i].map + (p * g->ring_plane + at (g, s, -1)) * maps[i].bytes, 0,
          g->pitch * maps[i].bytes);
    mirror (g, maps[i].map, maps[i].planes, maps[i].bytes, s, -1, g->pitch);
  }
}

/* One run of a row in low precision. */
static void
lowp_run (SrCpuGhost *g, Ring *r, Phase phase, int block, int y, int xa, int len)
{
  const int C = g->model->ghost.channels, s = slot (g, y);
  const int fs = g->layers[0].out_stride; /* bytes per pixel of feat_b */
  if (phase == PHASE_HEAD) {
    g->row (&g->layers[0], g->luma_b + at (g, y - 1, xa - 1) * 4, g->pitch, len,
        r->feat_b + at (g, s, xa) * fs);
    mirror (g, r->feat_b, 1, fs, s, xa, len);
    /* the residual stream starts from the head's (rounded) output; the run is contiguous
     * in both maps (C channels a pixel), one loop per format so that it vectorises */
    const guint8 *h = r->feat_b + at (g, s, xa) * fs;
    float *o = r->feat + at (g, s, xa) * C;
    if (g->precision == SR_PRECISION_BF16) {
      for (int i = 0; i < len * C; i++)
        o[i] = sr_bf16_to_float (((const guint16 *) h)[i]);
    } else {
      const float scale = g->scale[0];
      for (int i = 0; i < len * C; i++)
        o[i] = ((const gint16 *) h)[i] * scale;
    }
    return;
  }
  const SrLowpLayer *conv = &g->layers[block];
  if (phase == PHASE_CONV) {
    g->row (conv, r->feat_b + at (g, s - 1, xa - 1) * fs, g->pitch, len,
        r->intr_b + at (g, s, xa) * conv->out_stride);
    mirror (g, r->intr_b, 1, conv->out_stride, s, xa, len);
  } else {
    g->add (r->feat + at (g, s, xa) * C, r->feat_b + at (g, s, xa) * fs,
        r->intr_b + at (g, s, xa) * conv->out_stride, &g->adds[block - 1], len);
    mirror (g, r->feat_b, 1, fs, s, xa, len);
  }
}

/* One run of a row in fp32. */
static void
fp32_run (SrCpuGhost *g, Ring *r, Phase phase, int block, int y, int xa, int len)
{
  const SrGhostExit *m = &g->model->ghost;
  const int C = m->channels, half = C / 2, s = slot (g, y);
  if (phase == PHASE_HEAD) {
    g->conv (&m->head, g->input, g->plane, g->pitch, y, xa, len, r->feat + at (g, s, xa),
        g->ring_plane);
    mirror (g, r->feat, C, 4, s, xa, len);
  } else if (phase == PHASE_CONV) {
    /* the conv takes the slot for the row: the ring's rows are `pitch` apart */
    g->conv (&m->blocks[block - 1], r->feat, g->ring_plane, g->pitch, s, xa, len,
        r->intr + at (g, s, xa), g->ring_plane);
    mirror (g, r->intr, half, 4, s, xa, len);
  } else {
    /* the residual: intrinsic maps to the first half, their shifted copies to the second;
     * the shift is only an offset in the read */
    const gint8 (*shift)[2] = (const gint8 (*)[2]) m->shifts + (gsize) (block - 1) * half;
    for (int c = 0; c < half; c++) {
      float *lo = r->feat + c * g->ring_plane + at (g, s, xa);
      float *hi = r->feat + (c + half) * g->ring_plane + at (g, s, xa);
      const float *yi = r->intr + c * g->ring_plane + at (g, s, xa);
      const float *ys = r->intr + c * g->ring_plane + at (g, s + shift[c][0], xa + shift[c][1]);
      for (int x = 0; x < len; x++) {
        lo[x] += yi[x];
        hi[x] += ys[x];
      }
    }
    mirror (g, r->feat, C, 4, s, xa, len);
  }
}

/* Each block's shift directions as byte offsets in intr_b, grouped by direction. */
static void
init_shift_groups (SrCpuGhost *g)
{
  const SrGhostExit *m = &g->model->ghost;
  const int half = m->channels / 2;
  for (int j = 0; j < m->n_blocks; j++) {
    SrGhostAdd *a = &g->adds[j];
    a->n = 0;
    for (int c = 0; c < half; c++) {
      const gint8 *d = m->shifts[j * half + c];
      sr_ghost_add_shift (a, ((gssize) d[0] * (gssize) g->pitch + d[1]) *
          g->layers[j + 1].out_stride, c);
    }
  }
}

/* Output rows [y0, y1): row y of a phase, where the band needs it. The MACs counted are
 * those of the band's own rows over every tile's rings (as one whole-frame pass would
 * compute them), so the count does not depend on the number of bands. */
static void
phase_row (const Frame *f, Ring *r, Phase phase, int block, int y, int y0, int y1, int worker)
{
  SrCpuGhost *g = f->g;
  const SrGhostExit *m = &g->model->ghost;
  if (y < 0 || y >= g->height)
    return;
  int (*runs)[2] = g->runs[worker];
  const SrLayer *conv = phase == PHASE_HEAD ? &m->head
      : phase == PHASE_CONV ? &m->blocks[block - 1] : NULL;
  /* farther than any ring from the band's edges, the band's runs are the frame's */
  const int reach = 2 * m->n_blocks + 2;
  const gboolean inner = y - reach >= y0 && y + reach < y1;
  if (conv && y >= y0 && y < y1 && !inner) {
    int n = row_runs (g, phase, block, y, 0, g->height, runs);
    for (int i = 0; i < n; i++)
      g->macs[worker] += (double) (runs[i][1] - runs[i][0]) * conv->in_ch * conv->out_ch * 9;
  }
  int n = row_runs (g, phase, block, y, y0, y1, runs);
  for (int i = 0; i < n; i++) {
    if (conv && inner)
      g->macs[worker] += (double) (runs[i][1] - runs[i][0]) * conv->in_ch * conv->out_ch * 9;
    if (g->layers)
      lowp_run (g, r, phase, block, y, runs[i][0], runs[i][1] - runs[i][0]);
    else
      fp32_run (g, r, phase, block, y, runs[i][0], runs[i][1] - runs[i][0]);
  }
}

/* Row y of the tiles that exit after block d: the tail, the pixel shuffle and the skip. */
static void
tail_row (const Frame *f, Ring *r, int d, int y, int y0, int y1, int worker)
{
  SrCpuGhost *g = f->g;
  if (y < y0 || y >= y1)
    return;
  const SrLayer *tail = &g->model->ghost.tail;
  const int ty = y / g->tile, s = slot (g, y);
  float *res = g->scratch[worker];
  /* the residual of pixel x, sub-pixel c: res[c * cs + x * xs] */
  const gsize cs = g->layers ? 1 : g->tile, xs = g->layers ? 4 : 1;
  for (int tx = 0; tx < g->tiles_x; tx++) {
    if (g->depth[ty * g->tiles_x + tx] != d)
      continue;
    const int x0 = tx * g->tile, w = MIN (g->tile, g->width - x0);
    g->macs[worker] += (double) w * tail->in_ch * tail->out_ch * 9;
    if (g->layers) /* the tail packed for this exit's scale */
      g->row (&g->layers[g->model->ghost.n_blocks + d],
          r->feat_b + at (g, s - 1, x0 - 1) * g->layers[0].out_stride, g->pitch, w, res);
    else
      g->conv (tail, r->feat, g->ring_plane, g->pitch, s, x0, w, res, g->tile);
    if (sr_plane_is_wide (f->dst))
      sr_cpu_tail_wide (res, xs, cs, g->input + at (g, y, x0), w, f->dst, x0, y);
    else
      g->tail (res, xs, cs, sr_cpu_pixel (f->src, x0, y), f->src->pixel_stride, w,
          sr_cpu_pixel (f->dst, 2 * x0, 2 * y), sr_cpu_pixel (f->dst, 2 * x0, 2 * y + 1),
          f->dst->pixel_stride);
  }
}

/* One band per worker: the band's rows plus the halo its deepest tiles need (2 d + 1 rows
 * each side at depth d), recomputed by both neighbours; one band each keeps that to two
 * halos a frame. */
static int
band_rows (const SrCpuGhost *g)
{
  int workers = sr_cpu_pool_n_workers (g->pool);
  return MAX (8, (g->height + workers - 1) / workers);
}

/* The band's rows pass through every layer back to back, in a wavefront: at step t the
 * head makes row t, then block k's conv row t - 2k + 1 (it reads the stream's rows up to
 * t - 2k + 2, which block k - 1 has just finished), its add row t - 2k (the intrinsic rows
 * up to t - 2k + 1) and the tails of exit k row t - 2k - 1. Every row a step reads is then
 * as the whole-frame network has it at that depth (later blocks write it only at later
 * steps), and the live rows span 2B + 3, all held in the worker's rings: the maps stay in
 * cache instead of streaming through memory once per block. */
static void
run_band (gpointer ctx, int band, int worker)
{
  Frame *f = ctx;
  SrCpuGhost *g = f->g;
  const int B = g->model->ghost.n_blocks, H = g->height, rows = band_rows (g);
  const int y0 = band * rows, y1 = MIN (y0 + rows, H);
  Ring *r = &g->rings[worker];
  const int first = MAX (0, y0 - (2 * B + 1));
  if (first == 0)
    zero_row (g, r, slot (g, -1));
  for (int t = first; t <= y1 + 2 * B; t++) {
    if (t == H)
      zero_row (g, r, slot (g, H));
    phase_row (f, r, PHASE_HEAD, 0, t, y0, y1, worker);
    for (int k = 1; k <= B; k++) {
      phase_row (f, r, PHASE_CONV, k, t - 2 * k + 1, y0, y1, worker);
      phase_row (f, r, PHASE_ADD, k, t - 2 * k, y0, y1, worker);
      tail_row (f, r, k, t - 2 * k - 1, y0, y1, worker);
    }
  }
}

static void
fill_input_row (gpointer ctx, int y, int worker)
{
  Frame *f = ctx;
  const SrPlane *src = f->src;
  const gsize row = (gsize) y * src->stride;
  const float scale = 1.f / sr_plane_max (src);
  float *out = f->g->input + at (f->g, y, 0);
  for (int x = 0; x < src->width; x++)
    out[x] = sr_plane_get (src, row + (gsize) x * src->pixel_stride) * scale;
  /* the luma in the first half of a word, its scale in the head. bf16: 8-bit levels (exact
   * for 8-bit samples, rounded to bf16's precision for wider ones); int16: 16 levels per
   * 8-bit step (exact for 8-bit samples, to 1/4080 for wider ones) */
  guint16 *word = f->g->luma_b ? (guint16 *) (f->g->luma_b + at (f->g, y, 0) * 4) : NULL;
  const gboolean wide = sr_plane_is_wide (src), bf16 = f->g->precision == SR_PRECISION_BF16;
  for (int x = 0; word && x < src->width; x++) {
    const int v8 = wide ? 0 : src->data[row + (gsize) x * src->pixel_stride];
    if (bf16)
      word[2 * x] = sr_bf16_from_float (wide ? out[x] * 255.f : v8);
    else
      /* samples past the plane's bits (a 16-bit word's garbage) saturate, as in fp32 they
       * are merely large */
      word[2 * x] = wide ? MIN (lrintf (out[x] * LUMA_LEVELS), G_MAXINT16) :
          v8 * (LUMA_LEVELS / 255);
  }
}

static void
tile_rect (const SrCpuGhost *g, int t, int *x0, int *y0, int *w, int *h)
{
  *x0 = (t % g->tiles_x) * g->tile;
  *y0 = (t / g->tiles_x) * g->tile;
  *w = MIN (g->tile, g->width - *x0);
  *h = MIN (g->tile, g->height - *y0);
}

/* A 3x3 stride-2 conv with zero padding 1 over a [in_ch][h][w] map (the predictor), then
 * ReLU. Each output sums bias, then ic, ky, kx in order (as the GPU kernels). The input's
 * columns are split by parity first (`cols`: [in_ch][h][2][ow + 1], the odd ones shifted by
 * one, zero at the left edge and past the right), so every tap is a contiguous multiply-add
 * over an output row, which the compiler vectorises. */
static void
conv_stride2 (const SrLayer *l, const float *in, int h, int w, float *out, float *cols)
{
  const int oh = (h + 1) / 2, ow = (w + 1) / 2, cw = ow + 1;
  for (int ic = 0; ic < l->in_ch; ic++)
    for (int y = 0; y < h; y++) {
      const float *row = in + ((gsize) ic * h + y) * w;
      float *even = cols + (((gsize) ic * h + y) * 2) * cw, *odd = even + cw;
      /* tap kx reads column 2 ox - 1 + kx: kx = 0 odd[ox], 1 even[ox], 2 odd[ox + 1] */
      odd[0] = 0.f;
      for (int i = 0; i < cw; i++) {
        even[i] = 2 * i < w ? row[2 * i] : 0.f;
        if (i + 1 < cw)
          odd[i + 1] = 2 * i + 1 < w ? row[2 * i + 1] : 0.f;
      }
    }
  for (int oc = 0; oc < l->out_ch; oc++) {
    float *o = out + (gsize) oc * oh * ow;
    for (int i = 0; i < oh * ow; i++)
      o[i] = l->bias[oc];
    for (int ic = 0; ic < l->in_ch; ic++)
      for (int ky = 0; ky < 3; ky++)
        for (int oy = 0; oy < oh; oy++) {
          const int iy = 2 * oy - 1 + ky;
          if (iy < 0 || iy >= h)
            continue;
          const float *wt = l->weight + ((gsize) (oc * l->in_ch + ic) * 3 + ky) * 3;
          const float *even = cols + (((gsize) ic * h + iy) * 2) * cw, *odd = even + cw;
          float *orow = o + (gsize) oy * ow;
          /* the three taps in one pass: each sum still adds kx = 0, 1, 2 in order */
          for (int ox = 0; ox < ow; ox++)
            orow[ox] = ((orow[ox] + wt[0] * odd[ox]) + wt[1] * even[ox]) + wt[2] * odd[ox + 1];
        }
    for (int i = 0; i < oh * ow; i++)
      o[i] = o[i] > 0.f ? o[i] : 0.f;
  }
}

/* conv_stride2's `cols` for an [in_ch][h][w] input */
static gsize
cols_floats (int in_ch, int h, int w)
{
  return (gsize) in_ch * h * 2 * ((w + 1) / 2 + 1);
}

/* the tile, both conv outputs, then the larger of the two convs' `cols` */
static gsize
predictor_floats (int tile, int width)
{
  const int half = (tile + 1) / 2;
  return (gsize) tile * tile + (gsize) width * half * half * 2 +
      MAX (cols_floats (1, tile, tile), cols_floats (width, half, half));
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
  float *cols = b + (gsize) m->pred[1].out_ch * ((h + 3) / 4) * ((w + 3) / 4);
  conv_stride2 (&m->pred[0], in, h, w, a, cols);
  conv_stride2 (&m->pred[1], a, (h + 1) / 2, (w + 1) / 2, b, cols);
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
free_frame_buffers (SrCpuGhost *g)
{
  const int workers = sr_cpu_pool_n_workers (g->pool);
  g_clear_pointer (&g->input, g_free);
  g_clear_pointer (&g->luma_b, g_free);
  for (int i = 0; g->rings && i < workers; i++) {
    g_free (g->rings[i].feat);
    g_free (g->rings[i].intr);
    g_free (g->rings[i].feat_b);
    g_free (g->rings[i].intr_b);
  }
  g_clear_pointer (&g->rings, g_free);
  g_clear_pointer (&g->depth, g_free);
  for (int i = 0; g->runs && i < workers; i++)
    g_free (g->runs[i]);
  g_clear_pointer (&g->runs, g_free);
  g->width = g->height = 0;
}

/* rows a ring holds: the 2B + 3 live ones and row H's zeros */
static int
ring_rows (const SrCpuGhost *g)
{
  return 2 * g->model->ghost.n_blocks + 4;
}

guint64
sr_cpu_ghost_frame_bytes (const SrCpuGhost *g, int width, int height)
{
  const guint64 C = g->model->ghost.channels, plane = (guint64) (width + 2) * (height + 2);
  const guint64 ring = (guint64) (width + 2) * (ring_rows (g) + 2) *
      sr_cpu_pool_n_workers (g->pool);
  if (g->layers) /* fp32 input, 16-bit luma; rings: fp32 stream, 16-bit stream and intrinsics */
    return plane * (4 + 4) + ring * (4 * C + g->layers[0].out_stride + g->layers[1].out_stride);
  return 4 * plane + 4 * ring * (C + C / 2); /* fp32 input; rings: stream and intrinsics */
}

static gboolean
ensure_frame_buffers (SrCpuGhost *g, int width, int height, GError **error)
{
  if (g->width == width && g->height == height)
    return TRUE;
  free_frame_buffers (g);
  const int C = g->model->ghost.channels, workers = sr_cpu_pool_n_workers (g->pool);
  g->pitch = width + 2;
  g->plane = g->pitch * (height + 2);
  g->ring_rows = ring_rows (g);
  g->ring_plane = g->pitch * (g->ring_rows + 2);
  g->input = g_try_malloc0 (sizeof (float) * g->plane);
  gboolean ok = g->input != NULL;
  if (g->layers) {
    g->luma_b = g_try_malloc0 ((g->plane + ROW_SLACK_PIXELS) * 4);
    ok = ok && g->luma_b;
  }
  g->rings = g_new0 (Ring, workers);
  for (int i = 0; i < workers; i++) {
    Ring *r = &g->rings[i];
    r->feat = g_try_malloc0 (sizeof (float) * g->ring_plane * C);
    if (g->layers) {
      const gsize slack = ROW_SLACK_PIXELS * (gsize) g->layers[0].out_stride;
      r->feat_b = g_try_malloc0 (g->ring_plane * g->layers[0].out_stride + slack);
      r->intr_b = g_try_malloc0 (g->ring_plane * g->layers[1].out_stride + slack);
      ok = ok && r->feat && r->feat_b && r->intr_b;
    } else {
      r->intr = g_try_malloc0 (sizeof (float) * g->ring_plane * (C / 2));
      ok = ok && r->feat && r->intr;
    }
  }
  if (!ok) {
    free_frame_buffers (g);
    g_set_error (error, SR_ERROR, SR_ERROR_BACKEND, "cpu: cannot allocate %" G_GUINT64_FORMAT
        " bytes of feature maps for %dx%d", sr_cpu_ghost_frame_bytes (g, width, height), width,
        height);
    return FALSE;
  }
  if (g->layers)
    init_shift_groups (g);
  g->tiles_x = (width + g->tile - 1) / g->tile;
  g->tiles_y = (height + g->tile - 1) / g->tile;
  g->depth = g_new0 (guint8, g->tiles_x * g->tiles_y);
  g->runs = g_malloc0 (sizeof (int (*)[2]) * workers);
  for (int i = 0; i < workers; i++)
    g->runs[i] = g_malloc (sizeof (int[2]) * g->tiles_x);
  g->width = width;
  g->height = height;
  return TRUE;
}

gboolean
sr_cpu_ghost_takes (const SrModel *model, SrPrecision precision)
{
  const SrGhostExit *m = &model->ghost;
  switch (precision) {
    case SR_PRECISION_FP32:
      return TRUE;
    case SR_PRECISION_BF16: /* the residual add's kernels take 16 channels */
      return m->channels == 16;
    case SR_PRECISION_INT16: /* and each depth's calibrated scale */
      return m->channels == 16 && model->act_max && sr_lowp_sums_fit (precision, m->channels);
    default:
      return FALSE;
  }
}

SrCpuGhost *
sr_cpu_ghost_new (const SrModel *model, SrCpuPool *pool, const SrCpuDsp *dsp,
    SrPrecision precision)
{
  g_return_val_if_fail (sr_cpu_ghost_takes (model, precision), NULL);
  SrCpuGhost *g = g_new0 (SrCpuGhost, 1);
  const SrGhostExit *m = &model->ghost;
  const guint B = m->n_blocks; /* >= 1 (sr-model.c) */
  g->model = model;
  g->pool = pool;
  g->tile = m->exit_tile;
  g->conv = dsp->conv.fp32;
  g->tail = dsp->tail.row;
  g->precision = precision;
  if (precision != SR_PRECISION_FP32) {
    const gboolean int16 = precision == SR_PRECISION_INT16;
    g->scale = g_new (float, B + 1);
    for (guint d = 0; d <= B; d++) /* bf16 keeps values as they are */
      g->scale[d] = int16 ? model->act_max[d + 1] / SR_INT16_LEVELS : 1.f;
    g->layers = g_new0 (SrLowpLayer, 2 * B + 1);
    g->adds = g_new0 (SrGhostAdd, B);
    sr_lowp_layer_init (&g->layers[0], precision, &m->head,
        1.f / (int16 ? LUMA_LEVELS : 255), g->scale[0], FALSE);
    for (guint j = 1; j <= B; j++) {
      sr_lowp_layer_init (&g->layers[j], precision, &m->blocks[j - 1], g->scale[j - 1],
          g->scale[j], FALSE);
      sr_lowp_layer_init (&g->layers[B + j], precision, &m->tail, g->scale[j], 0.f, TRUE);
      /* block j's intrinsic maps are at most the stream after it: they share its scale */
      g->adds[j - 1].intr_scale = g->scale[j];
      g->adds[j - 1].feat_inv_scale = 1.f / g->scale[j];
    }
    g->row = dsp->conv.lowp[precision];
    g->add = dsp->ghost.add[precision];
  }
  int workers = sr_cpu_pool_n_workers (pool);
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
  int workers = sr_cpu_pool_n_workers (g->pool);
  free_frame_buffers (g);
  for (int i = 0; i < workers; i++)
    g_free (g->scratch[i]);
  g_free (g->scratch);
  g_free (g->macs);
  for (int i = 0; g->layers && i < 2 * g->model->ghost.n_blocks + 1; i++)
    sr_lowp_layer_clear (&g->layers[i]);
  g_free (g->layers);
  g_free (g->scale);
  g_free (g->adds);
  g_free (g);
}

gboolean
sr_cpu_ghost_upscale (SrCpuGhost *g, const SrPlane *src, SrPlane *dst, double threshold,
    SrFrameStats *stats, GError **error)
{
  const SrGhostExit *m = &g->model->ghost;
  if (!ensure_frame_buffers (g, src->width, src->height, error))
    return FALSE;
  Frame f = { g, src, dst, threshold };
  const int n_tiles = g->tiles_x * g->tiles_y;
  memset (g->macs, 0, sizeof (double) * sr_cpu_pool_n_workers (g->pool));
  sr_cpu_pool_run (g->pool, src->height, fill_input_row, &f);
  if (threshold > 0)
    sr_cpu_pool_run (g->pool, n_tiles, predict_tile, &f);
  else
    memset (g->depth, m->n_blocks, n_tiles);
  sr_cpu_pool_run (g->pool, (src->height + band_rows (g) - 1) / band_rows (g), run_band, &f);

  /* what it cost, per LR pixel: the MACs computed (the rings around early-exiting tiles
   * included) and the predictor's */
  double macs = 0, depth_sum = 0, area = (double) src->width * src->height;
  for (int i = 0; i < sr_cpu_pool_n_workers (g->pool); i++)
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
