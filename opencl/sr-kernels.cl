/* The SR network's kernels in OpenCL C 1.2; the plan they follow is docs/gpu-backends.md.
 * Feature maps are float planes [channels][H][W] over the whole LR frame; reads outside
 * the frame are zero. Conv-like kernels run over a list of tiles: global size
 * (Tr, Tr, n_tiles * groups), Tr = the tile side rounded up to the 8x8 work-group; z picks
 * the list entry and a group of up to OC_GROUP output channels. */
#define OC_GROUP 16

/* Feature maps in fp32, or stored as fp16 (built with -DSR_FEATURE_HALF; the arithmetic stays
 * fp32: vload_half/vstore_half are core OpenCL, no cl_khr_fp16 needed). The luma input
 * stays fp32 in both. */
#ifdef SR_FEATURE_HALF
typedef half feature_t;
#define LOAD_FEATURE(p, i) vload_half ((i), (p))
#define STORE_FEATURE(v, p, i) vstore_half ((v), (i), (p))
#else
typedef float feature_t;
#define LOAD_FEATURE(p, i) ((p)[i])
#define STORE_FEATURE(v, p, i) ((p)[i] = (v))
#endif
#define LOAD_FLOAT(p, i) ((p)[i])

typedef struct {
  int w, h, tile, tiles_x, n_tiles;
} Frame;

/* The pixel this work-item covers, or 0 when it has none (past the list or the frame). */
static int
tile_pixel (Frame f, __global const int *lists, __global const int *counts, int list,
    int groups, int *x, int *y, int *group)
{
  int z = get_global_id (2), entry = z / groups;
  int lx = get_global_id (0), ly = get_global_id (1);
  if (entry >= counts[list] || lx >= f.tile || ly >= f.tile)
    return 0;
  int t = lists[list * f.n_tiles + entry];
  *x = (t % f.tiles_x) * f.tile + lx;
  *y = (t / f.tiles_x) * f.tile + ly;
  *group = z % groups;
  return *x < f.w && *y < f.h;
}

/* acc[o] += the k x k conv of every input channel at (x, y), for n outputs from oc0; from
 * feature maps or from the fp32 luma. */
#define CONV_AT(NAME, IN_T, LOAD)                                                         \
  static void NAME (Frame f, __global const IN_T *in, int in_ch,                          \
      __global const float *weight, int k, int oc0, int n, int x, int y, float *acc)      \
  {                                                                                       \
    const int r = k / 2, plane = f.w * f.h, wstride = in_ch * k * k;                      \
    for (int ic = 0; ic < in_ch; ic++)                                                    \
      for (int ky = 0; ky < k; ky++) {                                                    \
        int iy = y + ky - r;                                                              \
        if (iy < 0 || iy >= f.h)                                                          \
          continue;                                                                       \
        for (int kx = 0; kx < k; kx++) {                                                  \
          int ix = x + kx - r;                                                            \
          if (ix < 0 || ix >= f.w)                                                        \
            continue;                                                                     \
          float v = LOAD (in, ic * plane + iy * f.w + ix);                                \
          __global const float *wp = weight + (oc0 * in_ch + ic) * k * k + ky * k + kx;   \
          for (int o = 0; o < n; o++)                                                     \
            acc[o] += wp[o * wstride] * v;                                                \
        }                                                                                 \
      }                                                                                   \
  }

CONV_AT (conv_at_feature, feature_t, LOAD_FEATURE)
CONV_AT (conv_at_input, float, LOAD_FLOAT)

/* The LR luma to input = v * scale, the CPU's 1 / max: bytes (max 255), or 16-bit words
 * holding the sample shifted left by `shift` (10-bit video). */
__kernel void
to_float (__global const uchar *src, __global float *input, int n, int max, int shift,
    float scale)
{
  int i = get_global_id (0);
  if (i < n)
    input[i] = (max > 255 ? ((__global const ushort *) src)[i] >> shift : src[i]) * scale;
}

/* out[oc] = act(bias + conv(in)) for a conv layer over a tile list: `conv` reads feature
 * maps, `conv_input` the fp32 luma (the first layer). */
#define CONV_KERNEL(NAME, IN_T, CONV_AT_FN)                                               \
  __kernel void NAME (Frame f, __global const int *lists, __global const int *counts,     \
      int list, __global const IN_T *in, int in_ch, __global feature_t *out, int out_ch,  \
      __global const float *params, int weight_off, int bias_off, int k, int relu)         \
  {                                                                                       \
    const int groups = (out_ch + OC_GROUP - 1) / OC_GROUP;                                \
    int x, y, g;                                                                          \
    if (!tile_pixel (f, lists, counts, list, groups, &x, &y, &g))                         \
      return;                                                                             \
    const int oc0 = g * OC_GROUP, n = min (OC_GROUP, out_ch - oc0);                       \
    float acc[OC_GROUP];                                                                  \
    for (int o = 0; o < n; o++)                                                           \
      acc[o] = params[bias_off + oc0 + o];                                                \
    CONV_AT_FN (f, in, in_ch, params + weight_off, k, oc0, n, x, y, acc);                 \
    const int plane = f.w * f.h;                                                          \
    for (int o = 0; o < n; o++)                                                           \
      STORE_FEATURE (relu ? fmax (acc[o], 0.f) : acc[o], out,                             \
          (oc0 + o) * plane + y * f.w + x);                                               \
  }

CONV_KERNEL (conv, feature_t, conv_at_feature)
CONV_KERNEL (conv_input, float, conv_at_input)

/* The ghost residual: feat[c] += intr[c]; feat[c + n_half] += intr[c] read at (y + dy, x + dx),
 * zero past the frame. The shift is an offset in the read, never a copy. */
__kernel void
ghost_add (Frame f, __global const int *lists, __global const int *counts, int list,
    __global feature_t *feat, __global const feature_t *intr, int n_half, __global const int *shifts,
    int shift_off)
{
  shifts += shift_off;
  int x, y, g;
  if (!tile_pixel (f, lists, counts, list, 1, &x, &y, &g))
    return;
  const int plane = f.w * f.h, i = y * f.w + x;
  for (int c = 0; c < n_half; c++) {
    int sy = y + shifts[2 * c], sx = x + shifts[2 * c + 1];
    float v = LOAD_FEATURE (intr, c * plane + i);
    float s = sy >= 0 && sy < f.h && sx >= 0 && sx < f.w ?
        LOAD_FEATURE (intr, c * plane + sy * f.w + sx) : 0.f;
    STORE_FEATURE (LOAD_FEATURE (feat, c * plane + i) + v, feat, c * plane + i);
    STORE_FEATURE (LOAD_FEATURE (feat, (c + n_half) * plane + i) + s, feat, (c + n_half) * plane + i);
  }
}

/* The last conv (scale^2 outputs, no activation), plus the anchor, pixel-shuffled and
 * quantised (floor (v * max + 0.5), clamped as a float as sr_cpu_tail_wide does) into the
 * HR plane: bytes, or 16-bit words with the sample shifted left by `shift`. */
__kernel void
tail (Frame f, __global const int *lists, __global const int *counts, int list,
    __global const feature_t *in, int in_ch, __global const float *input, int scale,
    __global const float *params, int weight_off, int bias_off, int k, __global uchar *dst,
    int max, int shift)
{
  int x, y, g;
  if (!tile_pixel (f, lists, counts, list, 1, &x, &y, &g))
    return;
  const int n = scale * scale;
  float acc[OC_GROUP];
  for (int o = 0; o < n; o++)
    acc[o] = params[bias_off + o];
  conv_at_feature (f, in, in_ch, params + weight_off, k, 0, n, x, y, acc);
  const float anchor = input[y * f.w + x];
  const float m = max;
  for (int o = 0; o < n; o++) {
    int q = (int) clamp (floor ((acc[o] + anchor) * m + 0.5f), 0.f, m);
    int i = (y * scale + o / scale) * (f.w * scale) + x * scale + o % scale;
    if (max > 255)
      ((__global ushort *) dst)[i] = q << shift;
    else
      dst[i] = q;
  }
}

/* A 3x3 stride-2 conv with zero padding 1 and ReLU over a [in_ch][h][w] local map, the
 * work-group's items sharing the outputs. */
static void
conv_stride2 (__global const float *weight, __global const float *bias, int in_ch, int out_ch,
    __local const float *in, int h, int w, __local float *out)
{
  const int oh = (h + 1) / 2, ow = (w + 1) / 2;
  for (int i = get_local_id (0); i < out_ch * oh * ow; i += get_local_size (0)) {
    int oc = i / (oh * ow), oy = i / ow % oh, ox = i % ow;
    float acc = bias[oc];
    for (int ic = 0; ic < in_ch; ic++)
      for (int ky = 0; ky < 3; ky++) {
        int iy = 2 * oy - 1 + ky;
        if (iy < 0 || iy >= h)
          continue;
        for (int kx = 0; kx < 3; kx++) {
          int ix = 2 * ox - 1 + kx;
          if (ix >= 0 && ix < w)
            acc += weight[((oc * in_ch + ic) * 3 + ky) * 3 + kx] * in[(ic * h + iy) * w + ix];
        }
      }
    out[i] = fmax (acc, 0.f);
  }
}

/* One work-group per tile: the exit predictor on the tile's own pixels (clipped at the
 * frame's edge, zero-padded at the tile's), then the tile's depth: the one whose predicted
 * gains, each less the threshold, sum highest (as on the CPU). threshold <= 0: full depth. */
__kernel void
predict (Frame f, __global const float *input, __global const float *params, int c1_w, int c1_b,
    int c2_w, int c2_b, int fc_w, int fc_b, int width, int n_blocks, float threshold,
    __global int *depth, __local float *scratch)
{
  const int t = get_group_id (0), lid = get_local_id (0);
  if (threshold <= 0.f) {
    if (lid == 0)
      depth[t] = n_blocks;
    return;
  }
  const int x0 = (t % f.tiles_x) * f.tile, y0 = (t / f.tiles_x) * f.tile;
  const int w = min (f.tile, f.w - x0), h = min (f.tile, f.h - y0);
  const int h1 = (h + 1) / 2, w1 = (w + 1) / 2, h2 = (h1 + 1) / 2, w2 = (w1 + 1) / 2;
  __local float *in = scratch, *a = in + w * h, *b = a + width * h1 * w1;
  for (int i = lid; i < w * h; i += get_local_size (0))
    in[i] = input[(y0 + i / w) * f.w + x0 + i % w];
  barrier (CLK_LOCAL_MEM_FENCE);
  conv_stride2 (params + c1_w, params + c1_b, 1, width, in, h, w, a);
  barrier (CLK_LOCAL_MEM_FENCE);
  conv_stride2 (params + c2_w, params + c2_b, width, width, a, h1, w1, b);
  barrier (CLK_LOCAL_MEM_FENCE);
  if (lid != 0)
    return;
  float pooled[64];
  for (int c = 0; c < width; c++) {
    float sum = 0.f;
    for (int i = 0; i < h2 * w2; i++)
      sum += b[c * h2 * w2 + i];
    pooled[c] = sum / (h2 * w2);
  }
  int d = 1;
  float sum = 0.f, best = 0.f;
  for (int k = 2; k <= n_blocks; k++) {
    float gain = params[fc_b + k - 2];
    for (int c = 0; c < width; c++)
      gain += params[fc_w + (k - 2) * width + c] * pooled[c];
    sum += gain - threshold;
    if (sum >= best) {
      best = sum;
      d = k;
    }
  }
  depth[t] = d;
}

/* Per tile: join active[j] (list j) for every block j up to the deepest exit within
 * `reach` tiles, and exits[d] (list n_blocks + d) for its own depth d. */
__kernel void
plan (Frame f, __global const int *depth, int reach, int n_blocks, __global int *lists,
    volatile __global int *counts)
{
  const int t = get_global_id (0);
  if (t >= f.n_tiles)
    return;
  const int tiles_y = f.n_tiles / f.tiles_x, tx = t % f.tiles_x, ty = t / f.tiles_x;
  int need = 0;
  for (int y = max (ty - reach, 0); y <= min (ty + reach, tiles_y - 1); y++)
    for (int x = max (tx - reach, 0); x <= min (tx + reach, f.tiles_x - 1); x++)
      need = max (need, depth[y * f.tiles_x + x]);
  for (int j = 1; j <= need; j++)
    lists[j * f.n_tiles + atomic_inc (&counts[j])] = t;
  const int e = n_blocks + depth[t];
  lists[e * f.n_tiles + atomic_inc (&counts[e])] = t;
}

/* Bicubic x2 of a chroma plane in the exact integer arithmetic of sr-core/sr-bicubic.c
 * (weights in 1/128, edges repeated), so it matches the CPU bit for bit. */
__constant int bicubic_taps[2][4] = { { -3, 29, 111, -9 }, { -9, 111, 29, -3 } };

__kernel void
bicubic_x2 (__global const uchar *src, int sw, int sh, __global uchar *dst, int dw, int dh)
{
  const int x = get_global_id (0), y = get_global_id (1);
  if (x >= dw || y >= dh)
    return;
  const int x0 = x / 2 - 2 + (x & 1), y0 = y / 2 - 2 + (y & 1);
  int acc = 0;
  for (int ty = 0; ty < 4; ty++) {
    __global const uchar *row = src + clamp (y0 + ty, 0, sh - 1) * sw;
    int h = 0;
    for (int tx = 0; tx < 4; tx++)
      h += bicubic_taps[x & 1][tx] * row[clamp (x0 + tx, 0, sw - 1)];
    acc += bicubic_taps[y & 1][ty] * h;
  }
  dst[y * dw + x] = clamp ((acc + 8192) >> 14, 0, 255);
}

/* sr_resample of an 8-bit plane, bit for bit (sr-core/sr-resample.c): the host passes the
 * tables the C code made (per output, the first source sample and the fixed-point weight
 * of each tap, per axis: first x [dw], weights x [taps_x][dw], first y [dh], weights y
 * [taps_y][dh]) and the passes' shifts, so the filter is described once. The vertical pass
 * rounds each column the horizontal taps need as the C rows do, in the same 32-bit
 * integers. One work-item per output sample. */
__kernel void
resample (__global const uchar *src, int sw, int sh, __global uchar *dst, int dw, int dh,
    __global const int *tab, int taps_x, int taps_y, int vshift, int hshift)
{
  const int x = get_global_id (0), y = get_global_id (1);
  if (x >= dw || y >= dh)
    return;
  __global const int *wx = tab + dw, *fy = wx + taps_x * dw, *wy = fy + dh;
  __global const uchar *col = src + fy[y] * sw + tab[x];
  int acc = 0;
  for (int t = 0; t < taps_x; t++) {
    int v = 0;
    for (int u = 0; u < taps_y; u++)
      v += wy[u * dh + y] * col[u * sw + t];
    acc += wx[t * dw + x] * ((v + (1 << (vshift - 1))) >> vshift);
  }
  dst[y * dw + x] = clamp ((acc + (1 << (hshift - 1))) >> hshift, 0, 255);
}
