/* AVX-512F kernels. Built with -mavx512f -mfma; called only when the CPU has them. */
#include "sr-cpu-kernels.h"

#include <immintrin.h>

/* G output channels for 16 pixels at a time; the last partial vector uses a mask, so the
 * whole row runs here. */
#define CONV_GROUP(G)                                                                    \
  static void conv_group_##G (const SrLayer *l, int oc0, const float *in, gsize plane,    \
      gsize pitch, int y, int xa, int n, float *out, gsize out_plane)                     \
  {                                                                                       \
    const __m512 zero = _mm512_setzero_ps ();                                             \
    for (int x = 0; x < n; x += 16) {                                                     \
      const __mmask16 m = n - x >= 16 ? 0xffff : (__mmask16) ((1u << (n - x)) - 1);       \
      __m512 acc[G];                                                                      \
      for (int g = 0; g < G; g++)                                                         \
        acc[g] = _mm512_set1_ps (l->bias[oc0 + g]);                                       \
      for (int ic = 0; ic < l->in_ch; ic++)                                               \
        for (int ky = 0; ky < 3; ky++) {                                                  \
          const float *row = in + ic * plane + (gsize) (y + ky) * pitch + xa + x;          \
          for (int kx = 0; kx < 3; kx++) {                                                \
            const __m512 v = _mm512_maskz_loadu_ps (m, row + kx);                         \
            const float *w = l->weight + ((gsize) oc0 * l->in_ch + ic) * 9 + ky * 3 + kx; \
            for (int g = 0; g < G; g++)                                                   \
              acc[g] = _mm512_fmadd_ps (_mm512_set1_ps (w[(gsize) g * l->in_ch * 9]), v,   \
                  acc[g]);                                                                \
          }                                                                               \
        }                                                                                 \
      for (int g = 0; g < G; g++) {                                                       \
        if (l->act == SR_ACT_RELU)                                                        \
          acc[g] = _mm512_max_ps (acc[g], zero);                                          \
        _mm512_mask_storeu_ps (out + (gsize) (oc0 + g) * out_plane + x, m, acc[g]);       \
      }                                                                                   \
    }                                                                                     \
  }

CONV_GROUP (16)
CONV_GROUP (8)
CONV_GROUP (4)
CONV_GROUP (1)

void
sr_conv3x3_row_avx512 (const SrLayer *l, const float *in, gsize plane, gsize pitch, int y,
    int xa, int n, float *out, gsize out_plane)
{
  int oc = 0;
  for (; oc + 16 <= l->out_ch; oc += 16)
    conv_group_16 (l, oc, in, plane, pitch, y, xa, n, out, out_plane);
  for (; oc + 8 <= l->out_ch; oc += 8)
    conv_group_8 (l, oc, in, plane, pitch, y, xa, n, out, out_plane);
  for (; oc + 4 <= l->out_ch; oc += 4)
    conv_group_4 (l, oc, in, plane, pitch, y, xa, n, out, out_plane);
  for (; oc < l->out_ch; oc++)
    conv_group_1 (l, oc, in, plane, pitch, y, xa, n, out, out_plane);
}
