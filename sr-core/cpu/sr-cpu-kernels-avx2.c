/* AVX2 + FMA kernels. Built with -mavx2 -mfma; called only when the CPU has them. */
#include "sr-cpu-kernels.h"

#include <immintrin.h>

/* G output channels (starting at oc0) for 8 pixels at a time; the accumulators stay in
 * registers. The last partial vector takes the same FMA arithmetic through masked loads and
 * stores, so a pixel's value does not depend on where it falls in a row (tilings give
 * identical pictures). */
#define EIGHT_PIXELS(G, LOAD, STORE)                                                     \
  {                                                                                       \
    __m256 acc[G];                                                                        \
    for (int g = 0; g < G; g++)                                                           \
      acc[g] = _mm256_set1_ps (l->bias[oc0 + g]);                                         \
    for (int ic = 0; ic < l->in_ch; ic++)                                                 \
      for (int ky = 0; ky < 3; ky++) {                                                    \
        const float *row = in + ic * plane + (gsize) (y + ky) * pitch + xa + x;            \
        for (int kx = 0; kx < 3; kx++) {                                                  \
          const __m256 v = LOAD (row + kx);                                               \
          const float *w = l->weight + ((gsize) oc0 * l->in_ch + ic) * 9 + ky * 3 + kx;   \
          for (int g = 0; g < G; g++)                                                     \
            acc[g] = _mm256_fmadd_ps (_mm256_broadcast_ss (w + (gsize) g * l->in_ch * 9), v, \
                acc[g]);                                                                  \
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

#define CONV_GROUP(G)                                                                    \
  static void conv_group_##G (const SrLayer *l, int oc0, const float *in, gsize plane,    \
      gsize pitch, int y, int xa, int n, float *out, gsize out_plane)                     \
  {                                                                                       \
    int x = 0;                                                                            \
    for (; x + 8 <= n; x += 8)                                                            \
      EIGHT_PIXELS (G, LOAD_ALL, STORE_ALL)                                               \
    if (x < n) {                                                                          \
      const __m256i m = _mm256_cmpgt_epi32 (_mm256_set1_epi32 (n - x),                   \
          _mm256_setr_epi32 (0, 1, 2, 3, 4, 5, 6, 7));                                    \
      EIGHT_PIXELS (G, LOAD_SOME, STORE_SOME)                                             \
    }                                                                                     \
  }

CONV_GROUP (8)
CONV_GROUP (4)
CONV_GROUP (1)

void
sr_conv3x3_row_avx2 (const SrLayer *l, const float *in, gsize plane, gsize pitch, int y,
    int xa, int n, float *out, gsize out_plane)
{
  int oc = 0;
  for (; oc + 8 <= l->out_ch; oc += 8)
    conv_group_8 (l, oc, in, plane, pitch, y, xa, n, out, out_plane);
  for (; oc + 4 <= l->out_ch; oc += 4)
    conv_group_4 (l, oc, in, plane, pitch, y, xa, n, out, out_plane);
  for (; oc < l->out_ch; oc++)
    conv_group_1 (l, oc, in, plane, pitch, y, xa, n, out, out_plane);
}
