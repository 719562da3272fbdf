/* AVX2 + FMA fp32 kernels. Built with -mavx2 -mfma; called only when the CPU has them. */
#include "sr-cpu-kernels.h"
#include "sr-cpu-lowp.h"

#include <immintrin.h>

/* G output channels (starting at oc0) of a K x K conv for 8 pixels at a time; the
 * accumulators stay in registers. The last partial vector takes the same FMA arithmetic
 * through masked loads and stores, so a pixel's value does not depend on where it falls in a
 * row (tilings give identical pictures). */
#define EIGHT_PIXELS(G, K, LOAD, STORE)                                                  \
  {                                                                                       \
    __m256 acc[G];                                                                        \
    for (int g = 0; g < G; g++)                                                           \
      acc[g] = _mm256_set1_ps (l->bias[oc0 + g]);                                         \
    for (int ic = 0; ic < l->in_ch; ic++)                                                 \
      for (int ky = 0; ky < K; ky++) {                                                    \
        const float *row = in + ic * plane + (gsize) ky * pitch + x;                      \
        for (int kx = 0; kx < K; kx++) {                                                  \
          const __m256 v = LOAD (row + kx);                                               \
          const float *w = l->weight + ((gsize) oc0 * l->in_ch + ic) * (K * K) + ky * K + kx; \
          for (int g = 0; g < G; g++)                                                     \
            acc[g] = _mm256_fmadd_ps (_mm256_broadcast_ss (w + (gsize) g * l->in_ch * (K * K)), \
                v, acc[g]);                                                               \
        }                                                                                 \
      }                                                                                   \
    for (int g = 0; g < G; g++) {                                                         \
      if (l->act == SR_ACT_RELU)                                                          \
        acc[g] = _mm256_max_ps (acc[g], _mm256_setzero_ps ());                            \
      STORE (out + (gsize) (oc0 + g) * out_plane + x, acc[g]);                            \
    }                                                                                     \
  }

#define LOAD_ALL(p) _mm256_loadu_ps (p)
#define STORE_ALL(p, v) _mm256_storeu_ps (p, v)
#define LOAD_SOME(p) _mm256_maskload_ps (p, m)
#define STORE_SOME(p, v) _mm256_maskstore_ps (p, m, v)

/* conv_group_G_3: K fixed at 3 (the shipped nets'), conv_group_G_k: K read from the layer */
#define CONV_GROUP(G, NAME, K)                                                           \
  static void conv_group_##G##_##NAME (const SrLayer *l, int oc0, const float *in,        \
      gsize plane, gsize pitch, int n, float *out, gsize out_plane)                       \
  {                                                                                       \
    int x = 0;                                                                            \
    for (; x + 8 <= n; x += 8)                                                            \
      EIGHT_PIXELS (G, K, LOAD_ALL, STORE_ALL)                                            \
    if (x < n) {                                                                          \
      const __m256i m = _mm256_cmpgt_epi32 (_mm256_set1_epi32 (n - x),                   \
          _mm256_setr_epi32 (0, 1, 2, 3, 4, 5, 6, 7));                                    \
      EIGHT_PIXELS (G, K, LOAD_SOME, STORE_SOME)                                          \
    }                                                                                     \
  }

CONV_GROUP (8, 3, 3)
CONV_GROUP (4, 3, 3)
CONV_GROUP (1, 3, 3)
CONV_GROUP (8, k, l->kernel)
CONV_GROUP (4, k, l->kernel)
CONV_GROUP (1, k, l->kernel)

#define CONV_ROW(NAME)                                                                   \
  {                                                                                       \
    int oc = 0;                                                                           \
    for (; oc + 8 <= l->out_ch; oc += 8)                                                  \
      conv_group_8_##NAME (l, oc, in, plane, pitch, n, out, out_plane);                   \
    for (; oc + 4 <= l->out_ch; oc += 4)                                                  \
      conv_group_4_##NAME (l, oc, in, plane, pitch, n, out, out_plane);                   \
    for (; oc < l->out_ch; oc++)                                                          \
      conv_group_1_##NAME (l, oc, in, plane, pitch, n, out, out_plane);                   \
  }

void
sr_conv_row_avx2 (const SrLayer *l, const float *in, gsize plane, gsize pitch, int n,
    float *out, gsize out_plane)
{
  if (l->kernel == 3)
    CONV_ROW (3)
  else
    CONV_ROW (k)
}

/* 8 pixels a step: the residuals of two pixels a register, each pixel's anchor spread over
 * its 4 lanes, the same float operations as C (no contraction: -ffp-contract=off), then the
 * bytes of sub-pixels 0, 1 to the first HR row and 2, 3 to the second. */
void
sr_tail_row_avx2 (const float *res, gsize x_stride, gsize c_stride, const guint8 *anchor,
    gsize anchor_step, int n, guint8 *dst0, guint8 *dst1, gsize dst_step)
{
  int x = 0;
  if (x_stride == 4 && c_stride == 1 && anchor_step == 1 && dst_step == 1) {
    const __m256 inv = _mm256_set1_ps (1.f / 255.f), k255 = _mm256_set1_ps (255.f);
    const __m256 half = _mm256_set1_ps (0.5f), zero = _mm256_setzero_ps ();
    /* after the packs below, 32-bit groups hold pixels 0 2 4 6 | 1 3 5 7; put them in order,
     * then split each 128-bit lane's 4 pixels into sub-pixels 0, 1 (low half) and 2, 3 */
    const __m256i order = _mm256_setr_epi32 (0, 4, 1, 5, 2, 6, 3, 7);
    const __m256i split = _mm256_setr_epi8 (0, 1, 4, 5, 8, 9, 12, 13, 2, 3, 6, 7, 10, 11, 14, 15,
        0, 1, 4, 5, 8, 9, 12, 13, 2, 3, 6, 7, 10, 11, 14, 15);
    for (; x + 8 <= n; x += 8) {
      const __m256 a = _mm256_mul_ps (_mm256_cvtepi32_ps (_mm256_cvtepu8_epi32 (
          _mm_loadl_epi64 ((const __m128i *) (anchor + x)))), inv);
      __m256i q[4];
      for (int k = 0; k < 4; k++) {
        const __m256i spread = _mm256_setr_epi32 (2 * k, 2 * k, 2 * k, 2 * k, 2 * k + 1, 2 * k + 1,
            2 * k + 1, 2 * k + 1);
        __m256 u = _mm256_add_ps (_mm256_loadu_ps (res + (gsize) (x + 2 * k) * 4),
            _mm256_permutevar8x32_ps (a, spread));
        u = _mm256_add_ps (_mm256_mul_ps (u, k255), half);
        u = _mm256_min_ps (_mm256_max_ps (u, zero), k255);
        q[k] = _mm256_cvttps_epi32 (u);
      }
      __m256i b = _mm256_packus_epi16 (_mm256_packs_epi32 (q[0], q[1]),
          _mm256_packs_epi32 (q[2], q[3]));
      b = _mm256_shuffle_epi8 (_mm256_permutevar8x32_epi32 (b, order), split);
      b = _mm256_permute4x64_epi64 (b, _MM_SHUFFLE (3, 1, 2, 0));
      _mm_storeu_si128 ((__m128i *) (dst0 + 2 * x), _mm256_castsi256_si128 (b));
      _mm_storeu_si128 ((__m128i *) (dst1 + 2 * x), _mm256_extracti128_si256 (b, 1));
    }
  }
  sr_tail_row_c (res + (gsize) x * x_stride, x_stride, c_stride, anchor + x * anchor_step,
      anchor_step, n - x, dst0 + 2 * x * dst_step, dst1 + 2 * x * dst_step, dst_step);
}

/* The ghost net's int16 residual add (sr_ghost_add_row_int16_c), a pixel at a time: the 8
 * intrinsic maps, the 8 shifted ones blended from one 16-byte load per distinct direction
 * (byte masks made once per row from the lane bits), widened and scaled, added; then the
 * 16 sums clamped in float and rounded (nearest even, as lrintf) to int16 levels. */
void
sr_ghost_add_row_int16_avx2 (float *feat, guint8 *feat_b, const guint8 *intr,
    const SrGhostAdd *add, int n)
{
  const __m128i bit = _mm_setr_epi16 (1, 2, 4, 8, 16, 32, 64, 128);
  __m128i mask[9];
  for (int i = 0; i < add->n; i++)
    mask[i] = _mm_cmpeq_epi16 (_mm_and_si128 (_mm_set1_epi16 (add->lanes[i]), bit), bit);
  const __m256 scale = _mm256_set1_ps (add->intr_scale);
  const __m256 inv = _mm256_set1_ps (add->feat_inv_scale);
  const __m256 top = _mm256_set1_ps (SR_INT16_LEVELS), zero = _mm256_setzero_ps ();
  for (int x = 0; x < n; x++, feat += 16, feat_b += 32, intr += 16) {
    __m128i ghost = _mm_setzero_si128 ();
    for (int i = 0; i < add->n; i++)
      ghost = _mm_blendv_epi8 (ghost,
          _mm_loadu_si128 ((const __m128i *) (intr + add->offset[i])), mask[i]);
    const __m128i own = _mm_loadu_si128 ((const __m128i *) intr);
    __m256 lo = _mm256_add_ps (_mm256_loadu_ps (feat),
        _mm256_mul_ps (_mm256_cvtepi32_ps (_mm256_cvtepi16_epi32 (own)), scale));
    __m256 hi = _mm256_add_ps (_mm256_loadu_ps (feat + 8),
        _mm256_mul_ps (_mm256_cvtepi32_ps (_mm256_cvtepi16_epi32 (ghost)), scale));
    _mm256_storeu_ps (feat, lo);
    _mm256_storeu_ps (feat + 8, hi);
    /* CLAMP (v, 0, levels) then lrintf: vmaxps makes a NaN 0, as lrintf and the cast do */
    __m256i qlo = _mm256_cvtps_epi32 (_mm256_min_ps (_mm256_max_ps (_mm256_mul_ps (lo, inv),
        zero), top));
    __m256i qhi = _mm256_cvtps_epi32 (_mm256_min_ps (_mm256_max_ps (_mm256_mul_ps (hi, inv),
        zero), top));
    /* vpackssdw packs within 128-bit lanes: put the quarters back in order */
    _mm256_storeu_si256 ((__m256i *) feat_b,
        _mm256_permute4x64_epi64 (_mm256_packs_epi32 (qlo, qhi), 0xd8));
  }
}

/* G output channels from oc0 for the 8 outputs of row oy from ox (n of them valid: the rest
 * masked off); the accumulators stay in registers, each input vector serves all G. */
static inline __attribute__ ((always_inline)) void
stride2_outputs (const SrLayer *l, const float *cols, int h, int oh, int ow, int cw,
    float *out, int oc0, int G, int oy, int ox, int n)
{
  const gsize plane = (gsize) h * 2 * cw;
  const __m256i mask = _mm256_cmpgt_epi32 (_mm256_set1_epi32 (n),
      _mm256_setr_epi32 (0, 1, 2, 3, 4, 5, 6, 7));
  __m256 acc[8];
  for (int g = 0; g < G; g++)
    acc[g] = _mm256_set1_ps (l->bias[oc0 + g]);
  for (int ic = 0; ic < l->in_ch; ic++)
    for (int ky = 0; ky < 3; ky++) {
      const int iy = 2 * oy - 1 + ky;
      if (iy < 0 || iy >= h)
        continue;
      const float *even = cols + ic * plane + (gsize) iy * 2 * cw + ox, *odd = even + cw;
      const __m256 v[3] = { _mm256_maskload_ps (odd, mask), _mm256_maskload_ps (even, mask),
        _mm256_maskload_ps (odd + 1, mask) };
      const float *w = l->weight + ((gsize) oc0 * l->in_ch + ic) * 9 + 3 * ky;
      for (int g = 0; g < G; g++)
        for (int kx = 0; kx < 3; kx++)
          acc[g] = _mm256_add_ps (acc[g], _mm256_mul_ps (_mm256_broadcast_ss (w + (gsize) g *
                      l->in_ch * 9 + kx), v[kx]));
    }
  for (int g = 0; g < G; g++)
    _mm256_maskstore_ps (out + ((gsize) (oc0 + g) * oh + oy) * ow + ox, mask,
        _mm256_max_ps (acc[g], _mm256_setzero_ps ()));
}

/* 8 outputs a vector (the last one masked), 8 output channels at a time */
void
sr_stride2_conv_avx2 (const SrLayer *l, const float *cols, int h, int oh, int ow, int cw,
    float *out)
{
  for (int oy = 0; oy < oh; oy++)
    for (int ox = 0; ox < ow; ox += 8) {
      const int n = MIN (8, ow - ox);
      int oc = 0;
      for (; oc + 8 <= l->out_ch; oc += 8)
        stride2_outputs (l, cols, h, oh, ow, cw, out, oc, 8, oy, ox, n);
      for (; oc < l->out_ch; oc++)
        stride2_outputs (l, cols, h, oh, ow, cw, out, oc, 1, oy, ox, n);
    }
}
