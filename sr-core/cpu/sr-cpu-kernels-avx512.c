/* AVX-512F kernels. Built with -mavx512f -mfma; called only when the CPU has them. */
#include "sr-cpu-kernels.h"

#include <immintrin.h>

/* G output channels of a K x K conv for 16 pixels at a time; the last partial vector uses a
 * mask, so the whole row runs here. conv_group_G_3: K fixed at 3 (the shipped nets'),
 * conv_group_G_k: K read from the layer. */
#define CONV_GROUP(G, NAME, K)                                                           \
  static void conv_group_##G##_##NAME (const SrLayer *l, int oc0, const float *in,        \
      gsize plane, gsize pitch, int n, float *out, gsize out_plane)                       \
  {                                                                                       \
    const __m512 zero = _mm512_setzero_ps ();                                             \
    for (int x = 0; x < n; x += 16) {                                                     \
      const __mmask16 m = n - x >= 16 ? 0xffff : (__mmask16) ((1u << (n - x)) - 1);       \
      __m512 acc[G];                                                                      \
      for (int g = 0; g < G; g++)                                                         \
        acc[g] = _mm512_set1_ps (l->bias[oc0 + g]);                                       \
      for (int ic = 0; ic < l->in_ch; ic++)                                               \
        for (int ky = 0; ky < K; ky++) {                                                  \
          const float *row = in + ic * plane + (gsize) ky * pitch + x;                    \
          for (int kx = 0; kx < K; kx++) {                                                \
            const __m512 v = _mm512_maskz_loadu_ps (m, row + kx);                         \
            const float *w = l->weight + ((gsize) oc0 * l->in_ch + ic) * (K * K) + ky * K + kx; \
            for (int g = 0; g < G; g++)                                                   \
              acc[g] = _mm512_fmadd_ps (_mm512_set1_ps (w[(gsize) g * l->in_ch * (K * K)]), \
                  v, acc[g]);                                                             \
          }                                                                               \
        }                                                                                 \
      for (int g = 0; g < G; g++) {                                                       \
        if (l->act == SR_ACT_RELU)                                                        \
          acc[g] = _mm512_max_ps (acc[g], zero);                                          \
        _mm512_mask_storeu_ps (out + (gsize) (oc0 + g) * out_plane + x, m, acc[g]);       \
      }                                                                                   \
    }                                                                                     \
  }

CONV_GROUP (16, 3, 3)
CONV_GROUP (8, 3, 3)
CONV_GROUP (4, 3, 3)
CONV_GROUP (1, 3, 3)
CONV_GROUP (16, k, l->kernel)
CONV_GROUP (8, k, l->kernel)
CONV_GROUP (4, k, l->kernel)
CONV_GROUP (1, k, l->kernel)

#define CONV_ROW(NAME)                                                                   \
  {                                                                                       \
    int oc = 0;                                                                           \
    for (; oc + 16 <= l->out_ch; oc += 16)                                                \
      conv_group_16_##NAME (l, oc, in, plane, pitch, n, out, out_plane);                  \
    for (; oc + 8 <= l->out_ch; oc += 8)                                                  \
      conv_group_8_##NAME (l, oc, in, plane, pitch, n, out, out_plane);                   \
    for (; oc + 4 <= l->out_ch; oc += 4)                                                  \
      conv_group_4_##NAME (l, oc, in, plane, pitch, n, out, out_plane);                   \
    for (; oc < l->out_ch; oc++)                                                          \
      conv_group_1_##NAME (l, oc, in, plane, pitch, n, out, out_plane);                   \
  }

void
sr_conv_row_avx512 (const SrLayer *l, const float *in, gsize plane, gsize pitch, int n,
    float *out, gsize out_plane)
{
  if (l->kernel == 3)
    CONV_ROW (3)
  else
    CONV_ROW (k)
}
