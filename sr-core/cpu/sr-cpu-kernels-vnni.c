/* The int8 and int16 conv rows with AVX-512 VNNI (built with -mavx512f -mavx512bw
 * -mavx512vl -mavx512vnni; called only when the CPU has them). One zmm holds the 16 sums of
 * an output block for one pixel; each vpdpbusd adds 4 input channels x 16 outputs (int8),
 * each vpdpwssd 2 (int16), the activations of one word broadcast. P pixels share each
 * weight load. */
#include "sr-cpu-lowp.h"

#include <immintrin.h>
#include <string.h>

static inline __m512i
bcast_word (const guint8 *p)
{
  gint32 v;
  memcpy (&v, p, 4);
  return _mm512_set1_epi32 (v);
}

/* The same requantisation as integer_store () in sr-cpu-lowp.c, 16 outputs at once. */
static inline void
store (const SrLowpLayer *l, __m512i acc, int b, int x, gpointer out)
{
  const __m512 v = _mm512_fmadd_ps (_mm512_cvtepi32_ps (acc), _mm512_loadu_ps (l->mul + b * 16),
      _mm512_loadu_ps (l->bias + b * 16));
  if (l->last) {
    int n = MIN (16, l->out_ch - b * 16);
    _mm512_mask_storeu_ps ((float *) out + (gsize) x * l->out_ch + b * 16,
        (__mmask16) ((1u << n) - 1), v);
    return;
  }
  /* rounding to nearest even as lrintf does; after the ReLU the levels are >= 0 */
  const __m512 r = _mm512_max_ps (v, _mm512_setzero_ps ());
  __m512i q = _mm512_cvtps_epi32 (_mm512_mul_ps (r, _mm512_set1_ps (l->out_inv_scale)));
  q = _mm512_min_epi32 (q, _mm512_set1_epi32 (l->out_max));
  if (l->precision == SR_PRECISION_INT8) {
    int n = MIN (16, l->out_stride - b * 16);
    _mm_mask_storeu_epi8 ((guint8 *) out + (gsize) x * l->out_stride + b * 16,
        (__mmask16) ((1u << n) - 1), _mm512_cvtepi32_epi8 (q));
  } else {
    int n = MIN (16, l->out_stride / 2 - b * 16);
    _mm256_mask_storeu_epi16 ((guint8 *) out + (gsize) x * l->out_stride + b * 32,
        (__mmask16) ((1u << n) - 1), _mm512_cvtepi32_epi16 (q));
  }
}

#define ROW_PIXELS(NAME, P, DOT)                                                        \
  static inline void NAME (const SrLowpLayer *l, const guint8 *in, gsize pitch, int x,   \
      gpointer out)                                                                      \
  {                                                                                      \
    for (int b = 0; b < l->blocks; b++) {                                                \
      __m512i acc[P];                                                                    \
      for (int p = 0; p < P; p++)                                                        \
        acc[p] = _mm512_setzero_si512 ();                                                \
      const guint8 *w = l->weight + (gsize) b * 9 * l->groups * 64;                      \
      for (int t = 0; t < 9; t++) {                                                      \
        const guint8 *px = in + ((t / 3) * pitch + x + t % 3) * l->in_stride;            \
        for (int g = 0; g < l->groups; g++, w += 64) {                                   \
          const __m512i wv = _mm512_loadu_si512 (w);                                     \
          for (int p = 0; p < P; p++)                                                    \
            acc[p] = DOT (acc[p], bcast_word (px + (gsize) p * l->in_stride + g * 4), wv); \
        }                                                                                \
      }                                                                                  \
      for (int p = 0; p < P; p++)                                                        \
        store (l, acc[p], b, x + p, out);                                                \
    }                                                                                    \
  }

/* u8 activations x s8 weights; s16 x s16 */
ROW_PIXELS (int8_pixels_8, 8, _mm512_dpbusd_epi32)
ROW_PIXELS (int8_pixels_4, 4, _mm512_dpbusd_epi32)
ROW_PIXELS (int8_pixels_1, 1, _mm512_dpbusd_epi32)
ROW_PIXELS (int16_pixels_8, 8, _mm512_dpwssd_epi32)
ROW_PIXELS (int16_pixels_4, 4, _mm512_dpwssd_epi32)
ROW_PIXELS (int16_pixels_1, 1, _mm512_dpwssd_epi32)

void
sr_int8_conv3x3_row_vnni (const SrLowpLayer *l, const guint8 *in, gsize pitch, int n,
    gpointer out)
{
  int x = 0;
  for (; x + 8 <= n; x += 8)
    int8_pixels_8 (l, in, pitch, x, out);
  for (; x + 4 <= n; x += 4) /* rows are rarely a multiple of 8 */
    int8_pixels_4 (l, in, pitch, x, out);
  for (; x < n; x++)
    int8_pixels_1 (l, in, pitch, x, out);
}

void
sr_int16_conv3x3_row_vnni (const SrLowpLayer *l, const guint8 *in, gsize pitch, int n,
    gpointer out)
{
  int x = 0;
  for (; x + 8 <= n; x += 8)
    int16_pixels_8 (l, in, pitch, x, out);
  for (; x + 4 <= n; x += 4)
    int16_pixels_4 (l, in, pitch, x, out);
  for (; x < n; x++)
    int16_pixels_1 (l, in, pitch, x, out);
}
