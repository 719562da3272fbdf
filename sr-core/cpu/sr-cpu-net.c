/* The CPU's network executor: every net, the plain one and the ghost-exit one, as one
 * wavefront of rows.
 *
 * A net is a list of steps, each making one row of its output map from rows of its input
 * map: the luma (samples to the head's format), a k x k conv (the head, a plain net's
 * layers, a ghost block's intrinsic maps), a ghost block's residual add (the intrinsic maps
 * and their shifted copies into the residual stream, in place), and the exits (the tail conv,
 * pixel shuffle and anchor). Each worker takes a band of rows and pushes them through all
 * steps back to back (run_band): at wavefront step t a step makes row t - offset, its offset
 * being its input's plus how far it reads around a row (k/2 for a k x k conv; 1 for a ghost
 * block's add, whose shifts read one row around), so every row it reads is final. No
 * whole-frame feature map is written: each map lives in a small per-worker ring of rows
 * (2 h + 1 rows, h its reader's k/2) that stays in cache. A band computes the cone of its own
 * output rows, recomputing the halo its neighbour also computes (the sum of the later steps'
 * reaches). Buffers carry a zero border as wide as the widest k/2 that is never written; the
 * rows -h..-1 and H..H+h-1 of a map are zero rows the steps write when they reach them: the
 * "same" padding of every conv and the zero fill of every shift.
 *
 * The plain net is head, its hidden layers as blocks (each into its own ring), the last
 * layer as the tail of the exit at full depth; its layers may be any odd k x k (1..7) in fp32,
 * 3x3 in low precision. With "exits" in its file, a 3x3 tail of its own after each hidden
 * layer d < B is exit d. A net with exits (the ghost-exit net always: 3x3 convs, one-pixel
 * shifts, by its file format) cuts the frame into exit tiles; the predictor gives each tile a
 * depth; without, the frame is one tile at full depth.
 * Steps run only where some tile still needs them: a tile exiting after block d needs the
 * output of a step at offset p on itself dilated by the exit's offset (out_offset[d] plus the
 * tail's k/2) minus p (each later step reads its reach around). Rows are cut into runs
 * covering those regions, so every computed value equals the whole-frame network's at that
 * depth.
 *
 * In low precision the convs (3x3) read pixel-major copies of their inputs (sr-cpu-lowp.h)
 * through the row kernels (AMX, VNNI or AVX2). The plain net keeps every map in the format:
 * int8 or int16 levels at the calibrated scale of each layer's input (the luma at 1/255), or
 * bf16. The ghost net (bf16 or int16) keeps its residual stream in fp32 beside the 16-bit
 * copy: only each conv's input is rounded. int16 quantises to 12-bit levels with one scale
 * per depth (the stream's calibrated maximum after d blocks, act_max[d + 1] / 4095, which
 * also bounds block d's intrinsic maps: every add is non-negative), so block d + 1 and the
 * tail at exit d read the same copy; its luma enters as 16 levels per 8-bit step (exact for
 * 8-bit samples, 12 bits for wider ones). The exit decisions do not change (the predictor
 * reads the fp32 luma). */
#include "sr-cpu-net.h"
#include "../sr-plane-private.h"

#include <math.h>
#include <string.h>

typedef enum {
  STEP_LUMA,
  STEP_CONV,
  STEP_ADD,
  STEP_EXIT,
} StepKind;

typedef struct {
  StepKind kind;
  int block;                /* 0: the luma and the head; k: block k's steps, exit k */
  int offset;               /* at wavefront step t it makes row t - offset */
  int in, out;              /* the maps it reads and writes */
  const SrLayer *layer;     /* CONV, EXIT */
  const SrLowpLayer *lowp;  /* CONV, EXIT in low precision */
} Step;

/* A map's ring: frame row y in slot y mod rows; slots -halo..-1 and rows..rows+halo-1
 * mirror the last and the first halo slots, so a k x k conv's k input rows (halo = k/2, its
 * reader's) and a shift's neighbour row are always `pitch` apart, as in a whole-frame map. */
typedef struct {
  int rows;
  int planes;               /* fp32: its channels; low precision: 1, pixel-major */
  gsize bytes;              /* a pixel's bytes in one plane */
  int halo;                 /* how far its reader reads around a row: its zero rows above and
                             * below the frame, its mirror slots */
} Map;

enum { MAP_LUMA, MAP_STREAM, MAP_INTR }; /* the ghost net's; a plain net's layer i writes i + 1 */

struct _SrCpuNet {
  const SrModel *model;
  SrCpuPool *pool;
  gboolean ghost;
  gboolean exits;             /* the predictor picks each tile's exit */
  int B;                      /* the exits are after blocks 1..B (plain: its hidden layers) */
  int *out_offset;            /* [0..B]: block d's output is row t - out_offset[d] at step t */
  Step *steps;
  int n_steps;
  Map *maps;
  int n_maps;
  int width, height;          /* frame size the buffers are for */
  gsize pitch;                /* padded row, in pixels */
  int pad;                    /* the zero border of every buffer: the widest halo (k/2) */
  int tail_reach;             /* the tail's k/2 */
  guint8 ***bufs;             /* per worker, per map: its ring */
  float **stream;             /* ghost in low precision: per worker, the fp32 stream
                               * (pixel-major, the ring of MAP_STREAM) */
  float *input;               /* exits: the luma, a padded plane, for the predictor */
  int tile, tiles_x, tiles_y; /* exit tiles (no exits: one, the frame) */
  guint8 *depth;              /* per tile */
  int uniform_depth;          /* this frame's: every tile's depth if they share one, else 0 */
  gint16 *rings;              /* this frame's, unless uniform: [step][tile] ring (-1: none; at
                               * most SR_MAX_LAYERS x SR_MAX_KERNEL / 2) */
  gint16 **widest;            /* per worker: a row's widest ring per tile column */
  int (**runs)[2];            /* per worker: the runs of one row (one per tile column at most) */
  float **scratch;            /* exits, per worker: predictor maps */
  float **res;                /* per worker: a row's tail residuals, then its wide anchors */
  SrConvRowFn conv;           /* fp32 */
  SrTailRowFn tail;
  SrStride2ConvFn stride2_conv; /* the predictor's */
  double *macs;               /* per worker: MACs computed this frame */
  /* low precision (layers NULL: fp32) */
  SrPrecision precision;
  SrLowpLayer *layers;
  int n_layers;
  SrLowpRowFn row;
  SrGhostAddFn add;
  SrGhostAdd *adds;           /* ghost: per block, shift groups for this frame width, scales */
  float *scale;               /* ghost: [0..B], what one level of the 16-bit stream is worth
                               * after d blocks */
  int luma_levels;            /* int16: the luma's levels for 1.0 */
};

/* the ghost net's int16 luma: 16 levels per 8-bit step */
#define LUMA_LEVELS 4080

/* The AMX kernel reads up to 18 pixels past a row's end. */
#define ROW_SLACK_PIXELS 32

typedef struct {
  SrCpuNet *g;
  const SrPlane *src;
  SrPlane *dst;
  double threshold;
} Frame;

static inline gsize
at (const SrCpuNet *g, int y, int x)
{
  return (gsize) (y + g->pad) * g->pitch + x + g->pad;
}

/* the ring slot of frame row y (>= -halo) in map m */
static inline int
slot (const SrCpuNet *g, int m, int y)
{
  return (y + g->maps[m].rows) % g->maps[m].rows;
}

static inline gsize
map_plane (const SrCpuNet *g, int m)
{
  return g->pitch * (g->maps[m].rows + 2 * g->pad);
}

static inline gsize
map_bytes (const SrCpuNet *g, int m)
{
  return map_plane (g, m) * g->maps[m].planes * g->maps[m].bytes;
}

/* How far around a tile of depth d the step must compute, or -1 if not at all: the sum of
 * the halos of the steps after it up to the exit, which is the difference of their offsets
 * (the exit's is out_offset[d] + tail_reach). */
static int
ring (const SrCpuNet *g, const Step *st, int d)
{
  return st->block <= d ? g->out_offset[d] + g->tail_reach - st->offset : -1;
}

/* the widest ring: the luma's (the first step's) at full depth */
static int
reach (const SrCpuNet *g)
{
  return ring (g, &g->steps[0], g->B);
}

/* The runs [x0, x1) of row y that the step computes for the output rows [y0, y1): per tile
 * column the widest ring of the tiles (cut to those rows) that reach row y (rings of one
 * column share a centre), then merged. */
static int
row_runs (const SrCpuNet *g, const Step *st, int y, int y0, int y1, int (*runs)[2],
    gint16 *widest)
{
  const int T = g->tile, W = g->width, R = reach (g), TX = g->tiles_x;
  if (g->uniform_depth) { /* every tile column's ring is the same: the whole row or nothing */
    const int r = ring (g, st, g->uniform_depth);
    if (r < 0 || y < y0 - r || y >= y1 + r)
      return 0;
    runs[0][0] = 0;
    runs[0][1] = W;
    return 1;
  }
  /* only tile rows within the widest ring can reach row y; one row of tiles at a time, so
   * that the loop over the columns is branch-free */
  const int ty0 = MAX (0, (y - R) / T), ty1 = MIN (g->tiles_y, (y + R) / T + 1);
  const gint16 *rings = g->rings + (gsize) (st - g->steps) * TX * g->tiles_y;
  for (int tx = 0; tx < TX; tx++)
    widest[tx] = -1;
  for (int ty = ty0; ty < ty1; ty++) {
    const int top = MAX (ty * T, y0), bottom = MIN ((ty + 1) * T, y1);
    if (top >= bottom)
      continue;
    const gint16 *r = rings + (gsize) ty * TX;
    for (int tx = 0; tx < TX; tx++) {
      const gboolean reaches = y >= top - r[tx] && y < bottom + r[tx];
      widest[tx] = reaches && r[tx] > widest[tx] ? r[tx] : widest[tx];
    }
  }
  int n = 0;
  for (int tx = 0; tx < TX; tx++) {
    if (widest[tx] < 0)
      continue;
    int x0 = MAX (tx * T - widest[tx], 0), x1 = MIN (MIN ((tx + 1) * T, W) + widest[tx], W);
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

/* After pixels [xa, xa + len) of slot s of map m were written: the same in the slot's
 * mirrors (s + rows for the first halo slots, s - rows for the last halo), if it has one. */
static void
mirror (const SrCpuNet *g, int m, guint8 *buf, int s, int xa, int len)
{
  const Map *map = &g->maps[m];
  const gsize plane_bytes = map_plane (g, m) * map->bytes;
  for (int to = s - map->rows; to <= s + map->rows; to += 2 * map->rows) {
    if (to < -map->halo || to >= map->rows + map->halo)
      continue;
    for (int p = 0; p < map->planes; p++) {
      guint8 *base = buf + p * plane_bytes;
      memcpy (base + at (g, to, xa) * map->bytes, base + at (g, s, xa) * map->bytes,
          len * map->bytes);
    }
  }
}

/* Frame row -halo..-1 or H..H+halo-1 of map m: zeros, the padding its readers see. */
static void
zero_row (const SrCpuNet *g, int m, guint8 *buf, int s)
{
  const Map *map = &g->maps[m];
  for (int p = 0; p < map->planes; p++)
    memset (buf + (p * map_plane (g, m) + at (g, s, -g->pad)) * map->bytes, 0,
        g->pitch * map->bytes);
  mirror (g, m, buf, s, -g->pad, g->pitch);
}

/* The luma's run: samples to [0, 1] (fp32) or to the head's input words, the value in the
 * first half of a word (int8: its first byte). bf16: 8-bit levels (exact for 8-bit samples,
 * rounded to bf16's precision for wider ones); int16: luma_levels for 1.0 (exact for 8-bit
 * samples) */
static void
luma_run (const Frame *f, guint8 *buf, int s, int y, int xa, int len)
{
  const SrCpuNet *g = f->g;
  const SrPlane *src = f->src;
  const gsize row = (gsize) y * src->stride;
  const float scale = 1.f / sr_plane_max (src);
  const gboolean wide = sr_plane_is_wide (src);
  for (int x = xa; x < xa + len; x++) {
    const gsize i = row + (gsize) x * src->pixel_stride;
    const float v = sr_plane_get (src, i) * scale;
    const int v8 = wide ? 0 : src->data[i];
    guint8 *p = buf + at (g, s, x) * g->maps[MAP_LUMA].bytes;
    if (!g->layers) {
      memcpy (p, &v, 4);
    } else if (g->precision == SR_PRECISION_INT8) {
      p[0] = v8;
    } else {
      /* int16: samples past the plane's bits (a 16-bit word's garbage) saturate, as in fp32
       * they are merely large */
      guint16 word = g->precision == SR_PRECISION_BF16 ?
          sr_bf16_from_float (wide ? v * 255.f : v8) :
          (guint16) (wide ? MIN (lrintf (v * g->luma_levels), G_MAXINT16) :
              v8 * (g->luma_levels / 255));
      memcpy (p, &word, 2);
    }
  }
  mirror (g, MAP_LUMA, buf, s, xa, len);
}

/* A conv's run into its map. */
static void
conv_run (const SrCpuNet *g, const Step *st, guint8 **bufs, float *stream, int y, int xa,
    int len)
{
  const int si = slot (g, st->in, y), so = slot (g, st->out, y);
  const gsize ob = g->maps[st->out].bytes;
  guint8 *out = bufs[st->out] + at (g, so, xa) * ob;
  if (!g->layers) {
    /* the conv reads k/2 rows and columns around the run: the ring's rows are `pitch` apart
     * (the mirror slots) and its border is zero */
    const int r = st->layer->kernel / 2;
    g->conv (st->layer, (const float *) bufs[st->in] + at (g, si - r, xa - r),
        map_plane (g, st->in), g->pitch, len, (float *) out, map_plane (g, st->out));
  } else {
    g->row (st->lowp, bufs[st->in] + at (g, si - 1, xa - 1) * g->maps[st->in].bytes, g->pitch,
        len, out);
    if (stream && st->block == 0) {
      /* the ghost's residual stream starts from the head's (rounded) output; the run is
       * contiguous in both maps (C channels a pixel), one loop per format so that it
       * vectorises */
      const int C = st->layer->out_ch;
      float *o = stream + at (g, so, xa) * C;
      if (g->precision == SR_PRECISION_BF16) {
        for (int i = 0; i < len * C; i++)
          o[i] = sr_bf16_to_float (((const guint16 *) out)[i]);
      } else {
        const float scale = g->scale[0];
        for (int i = 0; i < len * C; i++)
          o[i] = ((const gint16 *) out)[i] * scale;
      }
    }
  }
  mirror (g, st->out, bufs[st->out], so, xa, len);
}

/* A ghost block's residual add, in place in the stream: intrinsic maps to the first half,
 * their shifted copies to the second. */
static void
add_run (const SrCpuNet *g, const Step *st, guint8 **bufs, float *stream, int y, int xa,
    int len)
{
  const SrGhostExit *m = &g->model->ghost;
  const int C = m->channels, half = C / 2, s = slot (g, MAP_STREAM, y); /* intr's too */
  if (g->layers) {
    const gsize fs = g->maps[MAP_STREAM].bytes;
    g->add (stream + at (g, s, xa) * C, bufs[MAP_STREAM] + at (g, s, xa) * fs,
        bufs[MAP_INTR] + at (g, s, xa) * g->maps[MAP_INTR].bytes, &g->adds[st->block - 1], len);
  } else {
    /* the shift is only an offset in the read */
    const gint8 (*shift)[2] = (const gint8 (*)[2]) m->shifts + (gsize) (st->block - 1) * half;
    const gsize fp = map_plane (g, MAP_STREAM), ip = map_plane (g, MAP_INTR);
    float *feat = (float *) bufs[MAP_STREAM], *intr = (float *) bufs[MAP_INTR];
    for (int c = 0; c < half; c++) {
      float *lo = feat + c * fp + at (g, s, xa);
      float *hi = feat + (c + half) * fp + at (g, s, xa);
      const float *yi = intr + c * ip + at (g, s, xa);
      const float *ys = intr + c * ip + at (g, s + shift[c][0], xa + shift[c][1]);
      for (int x = 0; x < len; x++) {
        lo[x] += yi[x];
        hi[x] += ys[x];
      }
    }
  }
  mirror (g, MAP_STREAM, bufs[MAP_STREAM], s, xa, len);
}

/* Each block's shift directions as byte offsets in the intrinsic maps, grouped by
 * direction. */
static void
init_shift_groups (SrCpuNet *g)
{
  const SrGhostExit *m = &g->model->ghost;
  const int half = m->channels / 2;
  for (int j = 0; j < m->n_blocks; j++) {
    SrGhostAdd *a = &g->adds[j];
    a->n = 0;
    for (int c = 0; c < half; c++) {
      const gint8 *d = m->shifts[j * half + c];
      sr_ghost_add_shift (a, ((gssize) d[0] * (gssize) g->pitch + d[1]) *
          (gssize) g->maps[MAP_INTR].bytes, c);
    }
  }
}

/* The anchor add and x2 shuffle for planes of more than 8 bits: the residuals of LR pixels
 * x0..x0+w-1 of row y (sub-pixel c at res[c * cs + x * xs]) plus the fp32 anchor (1.0 = the
 * plane's maximum), rounded and clamped, into dst. The 8-bit planes take the SrTailRowFn
 * kernels. */
static void
tail_wide (const float *res, gsize xs, gsize cs, const float *anchor, int w,
    const SrPlane *dst, int x0, int y)
{
  const float max = sr_plane_max (dst);
  for (int x = 0; x < w; x++)
    for (int c = 0; c < 4; c++) {
      /* clamped as a float first: a huge value must not reach the int conversion */
      float v = floorf ((res[c * cs + x * xs] + anchor[x]) * max + 0.5f);
      v = v > 0.f ? v : 0.f;
      v = v < max ? v : max;
      sr_plane_put (dst, ((gsize) y * 2 + c / 2) * dst->stride +
          ((gsize) (x0 + x) * 2 + c % 2) * dst->pixel_stride, (int) v);
    }
}

/* Row y of the tiles that exit after the step's block: the tail, the pixel shuffle and the
 * anchor. */
static void
exit_row (const Frame *f, const Step *st, guint8 **bufs, int y, int worker)
{
  SrCpuNet *g = f->g;
  const int ty = y / g->tile, s = slot (g, st->in, y);
  float *res = g->res[worker], *anchor = res + 4 * (gsize) g->width;
  /* the residual of pixel x, sub-pixel c: res[c * cs + x * xs] */
  const gsize cs = g->layers ? 1 : g->width, xs = g->layers ? 4 : 1;
  const guint8 *depth = g->depth + ty * g->tiles_x;
  for (int tx = 0; tx < g->tiles_x; tx++) {
    if (depth[tx] != st->block)
      continue;
    const int first = tx; /* and the neighbouring tiles of this depth, in one run */
    while (tx + 1 < g->tiles_x && depth[tx + 1] == st->block)
      tx++;
    const int x0 = first * g->tile, w = MIN ((tx + 1) * g->tile, g->width) - x0;
    const int r = st->layer->kernel / 2;
    g->macs[worker] += (double) w * sr_layer_macs (st->layer);
    if (g->layers)
      g->row (st->lowp, bufs[st->in] + at (g, s - 1, x0 - 1) * g->maps[st->in].bytes, g->pitch,
          w, res);
    else
      g->conv (st->layer, (const float *) bufs[st->in] + at (g, s - r, x0 - r),
          map_plane (g, st->in), g->pitch, w, res, cs);
    if (sr_plane_is_wide (f->dst)) {
      const float scale = 1.f / sr_plane_max (f->src);
      for (int x = 0; x < w; x++)
        anchor[x] = sr_plane_get (f->src, (gsize) y * f->src->stride +
            (gsize) (x0 + x) * f->src->pixel_stride) * scale;
      tail_wide (res, xs, cs, anchor, w, f->dst, x0, y);
    } else {
      g->tail (res, xs, cs, sr_cpu_pixel (f->src, x0, y), f->src->pixel_stride, w,
          sr_cpu_pixel (f->dst, 2 * x0, 2 * y), sr_cpu_pixel (f->dst, 2 * x0, 2 * y + 1),
          f->dst->pixel_stride);
    }
  }
}

/* Row t - offset of a step, where the output rows [y0, y1) need it. The MACs counted are
 * those of the band's own rows over every tile's rings (as one whole-frame pass would
 * compute them), so the count does not depend on the number of bands. */
static void
step_row (const Frame *f, const Step *st, int t, int y0, int y1, int worker)
{
  SrCpuNet *g = f->g;
  const int y = t - st->offset, H = g->height;
  guint8 **bufs = g->bufs[worker];
  float *stream = g->stream ? g->stream[worker] : NULL;
  if (st->kind == STEP_EXIT) {
    if (y >= y0 && y < y1)
      exit_row (f, st, bufs, y, worker);
    return;
  }
  const int halo = g->maps[st->out].halo;
  if (y < -halo || y >= H + halo)
    return;
  if (y < 0 || y >= H) { /* the stream's are the head's */
    if (st->kind != STEP_ADD)
      zero_row (g, st->out, bufs[st->out], slot (g, st->out, y));
    return;
  }
  int (*runs)[2] = g->runs[worker];
  gint16 *widest = g->widest[worker];
  const gboolean conv = st->kind == STEP_CONV;
  const double px_macs = conv ? (double) sr_layer_macs (st->layer) : 0;
  /* farther than any ring from the band's edges, the band's runs are the frame's */
  const gboolean inner = y - reach (g) >= y0 && y + reach (g) < y1;
  if (conv && y >= y0 && y < y1 && !inner) {
    int n = row_runs (g, st, y, 0, H, runs, widest);
    for (int i = 0; i < n; i++)
      g->macs[worker] += (runs[i][1] - runs[i][0]) * px_macs;
  }
  int n = row_runs (g, st, y, y0, y1, runs, widest);
  for (int i = 0; i < n; i++) {
    const int xa = runs[i][0], len = runs[i][1] - runs[i][0];
    if (conv && inner)
      g->macs[worker] += len * px_macs;
    if (st->kind == STEP_LUMA)
      luma_run (f, bufs[MAP_LUMA], slot (g, MAP_LUMA, y), y, xa, len);
    else if (conv)
      conv_run (g, st, bufs, stream, y, xa, len);
    else
      add_run (g, st, bufs, stream, y, xa, len);
  }
}

/* The same number of bands for each worker, as many as keep each band at least 5 halos
 * tall: a band recomputes the halo its neighbour also computes (2 reach rows a boundary),
 * but bands handed out as the workers free up keep both busy to the end of the frame. With
 * one band a worker, a worker slowed by anything else waits the frame for it (2 threads,
 * 640x360, bands of 45 rows against 180: plain int16 48.6 -> 53.8 fps, int8 74.0 -> 84.4;
 * the ghost net's halo of 23 rows keeps it at one band a worker, where it is fastest). */
static int
band_rows (const SrCpuNet *g)
{
  const int workers = sr_cpu_pool_n_workers (g->pool);
  const int bands = workers * MAX (1, g->height / (workers * 5 * reach (g)));
  return MAX (8, (g->height + bands - 1) / bands);
}

/* The band's rows pass through every step back to back, in a wavefront: at step t each step
 * makes its row t - offset, in the order of the list, after the rows it reads (at smaller
 * offsets, or earlier in the same t). Later steps write a map's row only at later t, so every
 * row read is as the whole-frame network has it at that depth, and each map's live rows fit
 * its ring: the maps stay in cache instead of streaming through memory once per layer. */
static void
run_band (gpointer ctx, int band, int worker)
{
  Frame *f = ctx;
  SrCpuNet *g = f->g;
  const int rows = band_rows (g);
  const int y0 = band * rows, y1 = MIN (y0 + rows, g->height);
  /* from the first row a step makes for the band (its ring's top, or its first zero row at
   * the top of the frame; the luma's for 3x3 nets) to the deepest exit's last */
  int t0 = G_MAXINT;
  for (int i = 0; i < g->n_steps; i++) {
    const Step *st = &g->steps[i];
    if (st->kind != STEP_EXIT)
      t0 = MIN (t0, MAX (-g->maps[st->out].halo, y0 - ring (g, st, g->B)) + st->offset);
  }
  for (int t = t0; t <= y1 - 1 + g->out_offset[g->B] + g->tail_reach; t++)
    for (int i = 0; i < g->n_steps; i++)
      step_row (f, &g->steps[i], t, y0, y1, worker);
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
}

static void
tile_rect (const SrCpuNet *g, int t, int *x0, int *y0, int *w, int *h)
{
  *x0 = (t % g->tiles_x) * g->tile;
  *y0 = (t / g->tiles_x) * g->tile;
  *w = MIN (g->tile, g->width - *x0);
  *h = MIN (g->tile, g->height - *y0);
}

/* The predictor's two 3x3 stride-2 convs (zero padding 1, ReLU) run on a whole row of tiles
 * at once, each tile on its own pixels: the tiles sit side by side, each in a segment of
 * `seg` split columns, so the dispatched kernel's vectors run full whatever the tile size.
 * A segment holds its tile's input columns split by parity (even[i], then odd shifted by
 * one: zero at the left edge and past the tile's right), so every tap is a contiguous
 * multiply-add; its last output reads past the tile and is not used. */
typedef struct {
  int seg[3];    /* per level (the tile, conv 1's, conv 2's maps): columns of a tile's segment */
  int rows[3];   /* rows of the level's maps */
} PredictorRow;

static void
predictor_row_init (PredictorRow *p, int tile, int rows)
{
  p->seg[0] = tile;
  p->rows[0] = rows;
  for (int l = 1, w = tile; l < 3; l++) {
    w = (w + 1) / 2;
    p->seg[l] = w + 1; /* the conv's outputs for a tile, plus the odd columns' slot */
    p->rows[l] = (p->rows[l - 1] + 1) / 2;
  }
}

/* the width of tile tx's maps at a level: its own pixels, halved per conv */
static int
tile_width (const SrCpuNet *g, int tx, int level)
{
  int w = MIN (g->tile, g->width - tx * g->tile);
  for (int l = 0; l < level; l++)
    w = (w + 1) / 2;
  return w;
}

/* conv `level` + 1 of the predictor: `in` holds the level's maps ([in_ch][rows][pitch], tile
 * tx's from column tx * seg[level]); `cols` gets them split; `out` the conv's
 * ([out_ch][rows'][tiles_x * seg'], one unused column a tile) */
static void
predictor_conv (const SrCpuNet *g, const PredictorRow *p, int level, const float *in,
    gsize pitch, float *cols, float *out)
{
  const SrLayer *l = &g->model->exits.pred[level];
  const int h = p->rows[level], cw = p->seg[level + 1], CW = g->tiles_x * cw;
  for (int tx = 0; tx < g->tiles_x; tx++) {
    /* the tile's even and odd columns, the rest of its segment zero */
    const int w = tile_width (g, tx, level), n_even = (w + 1) / 2, n_odd = w / 2;
    for (int ic = 0; ic < l->in_ch; ic++)
      for (int y = 0; y < h; y++) {
        const float *row = in + ((gsize) ic * h + y) * pitch + (gsize) tx * p->seg[level];
        float *even = cols + ((gsize) ic * h + y) * 2 * CW + (gsize) tx * cw, *odd = even + CW;
        /* tap kx reads column 2 ox - 1 + kx: kx = 0 odd[ox], 1 even[ox], 2 odd[ox + 1] */
        for (int i = 0; i < n_even; i++)
          even[i] = row[2 * i];
        for (int i = n_even; i < cw; i++)
          even[i] = 0.f;
        odd[0] = 0.f;
        for (int i = 0; i < n_odd; i++)
          odd[i + 1] = row[2 * i + 1];
        for (int i = n_odd + 1; i < cw; i++)
          odd[i] = 0.f;
      }
  }
  g->stride2_conv (l, cols, h, p->rows[level + 1], CW - 1, CW, out);
}

/* per worker: both convs' outputs, then the larger of their `cols` */
static gsize
predictor_floats (const SrExits *m, int tile, int tiles_x)
{
  PredictorRow p;
  predictor_row_init (&p, tile, tile);
  const gsize n1 = (gsize) p.rows[1] * tiles_x * p.seg[1];
  const gsize n2 = (gsize) p.rows[2] * tiles_x * p.seg[2];
  const gsize cols1 = 2 * (gsize) p.rows[0] * tiles_x * p.seg[1];
  const gsize cols2 = 2 * (gsize) m->pred[1].in_ch * p.rows[1] * tiles_x * p.seg[2];
  return m->pred[0].out_ch * n1 + m->pred[1].out_ch * n2 + MAX (cols1, cols2);
}

/* Row ty of the exit tiles: the predictor, then each tile's depth. */
static void
predict_row (gpointer ctx, int ty, int worker)
{
  Frame *f = ctx;
  SrCpuNet *g = f->g;
  const SrExits *m = &g->model->exits;
  PredictorRow p;
  predictor_row_init (&p, g->tile, MIN (g->tile, g->height - ty * g->tile));
  const int width = m->pred[1].out_ch, TX = g->tiles_x;
  float *a = g->scratch[worker];
  float *b = a + (gsize) m->pred[0].out_ch * p.rows[1] * TX * p.seg[1];
  float *cols = b + (gsize) width * p.rows[2] * TX * p.seg[2];
  predictor_conv (g, &p, 0, g->input + at (g, ty * g->tile, 0), g->pitch, cols, a);
  predictor_conv (g, &p, 1, a, (gsize) TX * p.seg[1] - 1, cols, b);
  const gsize pitch = (gsize) TX * p.seg[2] - 1, plane = pitch * p.rows[2];
  for (int tx = 0; tx < TX; tx++) {
    const int w = tile_width (g, tx, 2), n = p.rows[2] * w;
    float pooled[64];
    for (int c = 0; c < width; c++) {
      double sum = 0;
      for (int y = 0; y < p.rows[2]; y++)
        for (int x = 0; x < w; x++)
          sum += b[c * plane + y * pitch + (gsize) tx * p.seg[2] + x];
      pooled[c] = sum / n;
    }
    /* the depth whose predicted gains, each less the threshold, sum highest (ties go deeper):
     * the tile's least predicted error plus threshold per block; block 1 always runs */
    int depth = 1;
    float sum = 0, best = 0;
    for (int k = 2; k <= m->n_blocks; k++) {
      const SrLayer *fc = &m->pred[2];
      float gain = fc->bias[k - 2];
      for (int c = 0; c < width; c++)
        gain += fc->weight[(k - 2) * width + c] * pooled[c];
      sum += gain - (float) f->threshold;
      if (sum >= best) {
        best = sum;
        depth = k;
      }
    }
    g->depth[ty * TX + tx] = depth;
  }
}

static void
free_frame_buffers (SrCpuNet *g)
{
  const int workers = sr_cpu_pool_n_workers (g->pool);
  g_clear_pointer (&g->input, g_free);
  for (int i = 0; g->bufs && i < workers; i++) {
    for (int m = 0; m < g->n_maps; m++)
      g_free (g->bufs[i][m]);
    g_free (g->bufs[i]);
    g_free (g->stream ? g->stream[i] : NULL);
    g_free (g->runs[i]);
    g_free (g->widest[i]);
    g_free (g->scratch ? g->scratch[i] : NULL);
    g_free (g->res[i]);
  }
  g_clear_pointer (&g->bufs, g_free);
  g_clear_pointer (&g->stream, g_free);
  g_clear_pointer (&g->runs, g_free);
  g_clear_pointer (&g->widest, g_free);
  g_clear_pointer (&g->scratch, g_free);
  g_clear_pointer (&g->rings, g_free);
  g_clear_pointer (&g->res, g_free);
  g_clear_pointer (&g->depth, g_free);
  g->width = g->height = 0;
}

/* the ghost in low precision: its fp32 stream beside MAP_STREAM's 16-bit one */
static gsize
stream_bytes (const SrCpuNet *g)
{
  return g->ghost && g->layers ?
      map_plane (g, MAP_STREAM) * sizeof (float) * g->model->ghost.channels : 0;
}

guint64
sr_cpu_net_frame_bytes (const SrCpuNet *g, int width, int height)
{
  SrCpuNet sized = *g; /* for the maps' sizes at this width */
  sized.pitch = width + 2 * g->pad;
  guint64 ring = stream_bytes (&sized);
  for (int m = 0; m < g->n_maps; m++)
    ring += map_bytes (&sized, m);
  /* the predictor reads the fp32 luma of whole tiles, and maps a row of tiles at a time */
  guint64 input = 0;
  if (g->exits) {
    const int tile = g->model->exits.tile;
    input = 4 * (guint64) sized.pitch * (height + 2 * g->pad);
    ring += 4 * (guint64) predictor_floats (&g->model->exits, tile, (width + tile - 1) / tile);
  }
  return input + ring * sr_cpu_pool_n_workers (g->pool);
}

static gboolean
ensure_frame_buffers (SrCpuNet *g, int width, int height, GError **error)
{
  if (g->width == width && g->height == height)
    return TRUE;
  free_frame_buffers (g);
  const int workers = sr_cpu_pool_n_workers (g->pool);
  g->pitch = width + 2 * g->pad;
  gboolean ok = TRUE;
  if (g->exits) {
    g->input = g_try_malloc0 (sizeof (float) * g->pitch * (height + 2 * g->pad));
    ok = g->input != NULL;
  }
  g->bufs = g_new0 (guint8 **, workers);
  g->stream = stream_bytes (g) ? g_new0 (float *, workers) : NULL;
  for (int i = 0; i < workers; i++) {
    g->bufs[i] = g_new0 (guint8 *, g->n_maps);
    for (int m = 0; m < g->n_maps; m++) {
      g->bufs[i][m] = g_try_malloc0 (map_bytes (g, m) + ROW_SLACK_PIXELS * g->maps[m].bytes);
      ok = ok && g->bufs[i][m];
    }
    if (g->stream) {
      g->stream[i] = g_try_malloc0 (stream_bytes (g));
      ok = ok && g->stream[i];
    }
  }
  /* the exit tiles, or the frame */
  g->tile = g->exits ? g->model->exits.tile : MAX (width, height);
  g->tiles_x = (width + g->tile - 1) / g->tile;
  g->tiles_y = (height + g->tile - 1) / g->tile;
  g->depth = g_new0 (guint8, g->tiles_x * g->tiles_y);
  g->runs = g_malloc0 (sizeof (int (*)[2]) * workers);
  g->widest = g_new0 (gint16 *, workers);
  g->scratch = g->exits ? g_new0 (float *, workers) : NULL;
  g->rings = g_new (gint16, (gsize) g->n_steps * g->tiles_x * g->tiles_y);
  g->res = g_new0 (float *, workers);
  for (int i = 0; i < workers; i++) {
    g->runs[i] = g_malloc (sizeof (int[2]) * g->tiles_x);
    g->widest[i] = g_new (gint16, g->tiles_x);
    if (g->scratch) {
      g->scratch[i] = g_try_new (float, predictor_floats (&g->model->exits, g->tile, g->tiles_x));
      ok = ok && g->scratch[i];
    }
    g->res[i] = g_try_new (float, 5 * (gsize) width);
    ok = ok && g->res[i];
  }
  if (!ok) {
    free_frame_buffers (g);
    g_set_error (error, SR_ERROR, SR_ERROR_BACKEND, "cpu: cannot allocate %" G_GUINT64_FORMAT
        " bytes of feature maps for %dx%d", sr_cpu_net_frame_bytes (g, width, height), width,
        height);
    return FALSE;
  }
  if (g->ghost && g->layers)
    init_shift_groups (g);
  g->width = width;
  g->height = height;
  return TRUE;
}

/* int8 / int16: the levels of an activation */
static int
levels (SrPrecision precision)
{
  return precision == SR_PRECISION_INT8 ? 255 : SR_INT16_LEVELS;
}

gboolean
sr_cpu_net_takes (const SrModel *model, SrPrecision precision)
{
  const gboolean integer = precision == SR_PRECISION_INT8 || precision == SR_PRECISION_INT16;
  if (model->type == SR_ARCH_GHOST_EXIT) {
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
  if (model->n_layers < 2 || model->scale != 2 || (integer && !model->act_max))
    return FALSE;
  for (int i = 0; i < model->n_layers; i++) {
    const SrLayer *l = &model->layers[i];
    const gboolean last = i + 1 == model->n_layers;
    /* any odd k x k (the model's limit) in fp32; the low-precision row kernels are 3x3 */
    if (l->kernel < 1 || l->kernel > SR_MAX_KERNEL || l->kernel % 2 == 0 || l->stride != 1 ||
        (precision != SR_PRECISION_FP32 && l->kernel != 3))
      return FALSE;
    /* low precision: non-negative inputs (ReLU outputs) whose sums of products fit 32 bits */
    if (precision != SR_PRECISION_FP32 &&
        ((!last && l->act != SR_ACT_RELU) || !sr_lowp_sums_fit (precision, l->in_ch)))
      return FALSE;
  }
  return TRUE;
}

gboolean
sr_cpu_net_takes_wide (const SrCpuNet *g)
{
  return g->ghost || !g->layers;
}

static void
add_step (SrCpuNet *g, StepKind kind, int block, int offset, int in, int out,
    const SrLayer *layer, int lowp)
{
  g->steps[g->n_steps++] = (Step) { kind, block, offset, in, out, layer,
    g->layers && lowp >= 0 ? &g->layers[lowp] : NULL };
}

/* The ghost net: the luma, the head, then per block its conv, its add and its exit. */
static void
init_ghost (SrCpuNet *g, const SrCpuDsp *dsp)
{
  const SrModel *model = g->model;
  const SrGhostExit *m = &model->ghost;
  const int B = m->n_blocks, C = m->channels; /* B >= 1 (sr-model.c) */
  g->B = B;
  g->n_maps = 3;
  g->maps = g_new0 (Map, 3);
  g->steps = g_new0 (Step, 3 * (gsize) B + 2);
  g->out_offset = g_new0 (int, (gsize) B + 1);
  if (g->layers) {
    const gboolean int16 = g->precision == SR_PRECISION_INT16;
    g->luma_levels = LUMA_LEVELS;
    g->scale = g_new (float, (gsize) B + 1);
    for (int d = 0; d <= B; d++) /* bf16 keeps values as they are */
      g->scale[d] = int16 ? model->act_max[d + 1] / SR_INT16_LEVELS : 1.f;
    g->adds = g_new0 (SrGhostAdd, (gsize) B);
    sr_lowp_layer_init (&g->layers[0], g->precision, &m->head,
        1.f / (int16 ? LUMA_LEVELS : 255), g->scale[0], FALSE);
    for (int j = 1; j <= B; j++) {
      sr_lowp_layer_init (&g->layers[j], g->precision, &m->blocks[j - 1], g->scale[j - 1],
          g->scale[j], FALSE);
      sr_lowp_layer_init (&g->layers[B + j], g->precision, &m->tail, g->scale[j], 0.f, TRUE);
      /* block j's intrinsic maps are at most the stream after it: they share its scale */
      g->adds[j - 1].intr_scale = g->scale[j];
      g->adds[j - 1].feat_inv_scale = 1.f / g->scale[j];
    }
    g->add = dsp->ghost.add[g->precision];
  }
  /* the stream's live rows span 2B + 3 (the head's newest to the deepest exit's), and row H's
   * zeros */
  /* every conv is 3x3 (the file format's), every shift one pixel */
  g->pad = g->tail_reach = 1;
  g->maps[MAP_LUMA] = (Map) { 3, 1, 4, 1 };
  g->maps[MAP_STREAM] = g->layers ? (Map) { 2 * B + 4, 1, g->layers[0].out_stride, 1 } :
      (Map) { 2 * B + 4, C, 4, 1 };
  g->maps[MAP_INTR] = g->layers ? (Map) { 2 * B + 4, 1, g->layers[1].out_stride, 1 } :
      (Map) { 2 * B + 4, C / 2, 4, 1 };
  add_step (g, STEP_LUMA, 0, -1, -1, MAP_LUMA, NULL, -1);
  add_step (g, STEP_CONV, 0, 0, MAP_LUMA, MAP_STREAM, &m->head, 0);
  for (int k = 1; k <= B; k++) {
    add_step (g, STEP_CONV, k, 2 * k - 1, MAP_STREAM, MAP_INTR, &m->blocks[k - 1], k);
    add_step (g, STEP_ADD, k, 2 * k, MAP_INTR, MAP_STREAM, NULL, -1);
    add_step (g, STEP_EXIT, k, 2 * k + 1, MAP_STREAM, -1, &m->tail, B + k);
    g->out_offset[k] = 2 * k;
  }
}

/* The plain net: the luma, then layer i from map i into map i + 1, the last one as the exit.
 * Layer i (k x k, r = k/2) reads r rows around: its offset is its input's plus r, and its
 * input map keeps a ring of 2 r + 1 rows (r mirror slots and r zero rows at each end of the
 * frame). Exit d < B (3x3) reads map d + 1 too: that map's r is at least 1, and the exit
 * step comes right after layer d, at its offset plus 1. In low precision (3x3 only) each
 * layer's input is at its calibrated scale (the luma's 1/255), as choose_precision.py
 * calibrated it; an exit's input is the next layer's. */
static void
init_plain (SrCpuNet *g)
{
  const SrModel *model = g->model;
  const int n = model->n_layers, B = n - 2;
  const gboolean integer = g->precision == SR_PRECISION_INT8 ||
      g->precision == SR_PRECISION_INT16;
  const SrExits *exits = &model->exits;
  g->B = B;
  g->n_maps = n;
  g->maps = g_new0 (Map, n);
  g->steps = g_new0 (Step, 2 * n);
  g->out_offset = g_new0 (int, B + 1);
  g->luma_levels = 255;
  for (int i = 0; g->layers && i < n; i++) {
    const gboolean last = i + 1 == n;
    const float in_scale = i == 0 ? 1.f / 255.f : integer ?
        model->act_max[i] / levels (g->precision) : 1.f;
    const float out_scale = integer && !last ?
        model->act_max[i + 1] / levels (g->precision) : 1.f;
    sr_lowp_layer_init (&g->layers[i], g->precision, &model->layers[i], in_scale, out_scale,
        last);
    if (exits->n_blocks && i >= 1 && i < B) /* exit i reads layer i + 1's input */
      sr_lowp_layer_init (&g->layers[n + i - 1], g->precision, &exits->tails[i - 1],
          integer ? model->act_max[i + 1] / levels (g->precision) : 1.f, 1.f, TRUE);
  }
  /* map i's halo: layer i's k/2 (map 0 the luma, map n - 1 the tail's input) */
  g->pad = 0;
  for (int i = 0; i < n; i++)
    g->pad = MAX (g->pad, model->layers[i].kernel / 2);
  g->tail_reach = model->layers[n - 1].kernel / 2;
  if (exits->n_blocks) /* the exits' rings (ring ()) take the widest tail's reach */
    g->tail_reach = MAX (g->tail_reach, 1);
  const int r0 = model->layers[0].kernel / 2;
  g->maps[MAP_LUMA] = (Map) { 2 * r0 + 1, 1, 4, r0 };
  add_step (g, STEP_LUMA, 0, -r0, -1, MAP_LUMA, NULL, -1);
  int offset = 0; /* the head's */
  for (int i = 0; i <= B; i++) {
    const SrLayer *l = &model->layers[i];
    const gboolean exit = exits->n_blocks && i >= 1 && i < B;
    /* the readers': the next layer's, and exit i's */
    const int r = MAX (model->layers[i + 1].kernel / 2, exit ? 1 : 0);
    g->maps[i + 1] = g->layers ? (Map) { 2 * r + 1, 1, g->layers[i].out_stride, r } :
        (Map) { 2 * r + 1, l->out_ch, 4, r };
    if (i > 0)
      offset += l->kernel / 2;
    add_step (g, STEP_CONV, i, offset, i, i + 1, l, i);
    g->out_offset[i] = offset;
    if (exit)
      add_step (g, STEP_EXIT, i, offset + 1, i + 1, -1, &exits->tails[i - 1], n + i - 1);
  }
  add_step (g, STEP_EXIT, B, offset + g->tail_reach, B + 1, -1, &model->layers[n - 1], n - 1);
}

SrCpuNet *
sr_cpu_net_new (const SrModel *model, SrCpuPool *pool, const SrCpuDsp *dsp,
    SrPrecision precision)
{
  g_return_val_if_fail (sr_cpu_net_takes (model, precision), NULL);
  SrCpuNet *g = g_new0 (SrCpuNet, 1);
  g->model = model;
  g->pool = pool;
  g->ghost = model->type == SR_ARCH_GHOST_EXIT;
  g->exits = model->exits.n_blocks > 0;
  g->conv = dsp->conv.fp32;
  g->tail = dsp->tail.row;
  g->stride2_conv = dsp->predictor.conv;
  g->precision = precision;
  if (precision != SR_PRECISION_FP32) {
    /* the ghost's head, blocks and tail per exit; the plain net's layers, then its exits */
    g->n_layers = g->ghost ? 2 * model->ghost.n_blocks + 1 :
        model->n_layers + MAX (model->exits.n_blocks - 1, 0);
    g->layers = g_new0 (SrLowpLayer, g->n_layers);
    g->row = dsp->conv.lowp[precision];
  }
  if (g->ghost)
    init_ghost (g, dsp);
  else
    init_plain (g);
  const int workers = sr_cpu_pool_n_workers (pool);
  g->macs = g_new0 (double, workers);
  return g;
}

void
sr_cpu_net_free (SrCpuNet *g)
{
  free_frame_buffers (g);
  g_free (g->macs);
  for (int i = 0; i < g->n_layers; i++)
    sr_lowp_layer_clear (&g->layers[i]);
  g_free (g->layers);
  g_free (g->scale);
  g_free (g->adds);
  g_free (g->steps);
  g_free (g->maps);
  g_free (g->out_offset);
  g_free (g);
}

gboolean
sr_cpu_net_upscale (SrCpuNet *g, const SrPlane *src, SrPlane *dst, double threshold,
    SrFrameStats *stats, GError **error)
{
  if (!ensure_frame_buffers (g, src->width, src->height, error))
    return FALSE;
  Frame f = { g, src, dst, threshold };
  const int n_tiles = g->tiles_x * g->tiles_y, bands = (src->height + band_rows (g) - 1) /
      band_rows (g);
  memset (g->macs, 0, sizeof (double) * sr_cpu_pool_n_workers (g->pool));
  if (g->exits && threshold > 0) {
    sr_cpu_pool_run (g->pool, src->height, fill_input_row, &f);
    sr_cpu_pool_run (g->pool, g->tiles_y, predict_row, &f);
  } else {
    memset (g->depth, g->B, n_tiles);
  }
  g->uniform_depth = g->depth[0];
  for (int t = 1; t < n_tiles && g->uniform_depth; t++)
    if (g->depth[t] != g->uniform_depth)
      g->uniform_depth = 0;
  for (int i = 0; !g->uniform_depth && i < g->n_steps; i++)
    for (int t = 0; t < n_tiles; t++)
      g->rings[(gsize) i * n_tiles + t] = ring (g, &g->steps[i], g->depth[t]);
  sr_cpu_pool_run (g->pool, bands, run_band, &f);
  if (!g->exits) { /* the work units */
    stats->n_tiles = bands;
    return TRUE;
  }

  /* what it cost, per LR pixel: the MACs computed (the rings around early-exiting tiles
   * included) and the predictor's */
  const SrExits *m = &g->model->exits;
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
      macs += sr_exit_predictor_macs (g->model, w, h);
    depth_sum += (double) w * h * g->depth[t];
  }
  stats->mean_depth = depth_sum / area;
  stats->tiles_x = g->tiles_x;
  stats->tiles_y = g->tiles_y;
  stats->tile_size = g->tile;
  stats->tile_depths = g->depth;
  stats->macs_per_pixel = macs / area;
  stats->macs_per_pixel_full = sr_exit_macs_per_pixel (g->model, m->n_blocks);
  return TRUE;
}
