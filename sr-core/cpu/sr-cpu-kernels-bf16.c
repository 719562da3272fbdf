/* The bf16 conv row with AVX-512 BF16 (built with -mavx512f -mavx512bw -mavx512vl
 * -mavx512bf16; called only when the CPU has them). One zmm holds the 16 fp32 sums of an
 * output block for one pixel; each vdpbf16ps adds 2 input channels x 16 outputs, the pair of
 * activations broadcast as one 32-bit word. P pixels share each weight load. */
#include "sr-cpu-lowp.h"

#include <immintrin.h>
#include <string.h>

static inline __m512bh
bcast_pair (const guint8 *p)
{
  gint32 v;
  memcpy (&v, p, 4);
  return (__m512bh) _mm512_set1_epi32 (v);
}

/* As sr_bf16_conv3x3_row_c stores: fp32 residuals, or ReLU and round to bf16. */
static inline void
store (const SrLowpLayer *l, __m512 acc, int b, int x, gpointer out)
{
  if (l->last) {
    int n = MIN (16, l->out_ch - b * 16);
    _mm512_mask_storeu_ps ((float *) out + (gsize) x * l->out_ch + b * 16,
        (__mmask16) ((1u << n) - 1), acc);
    return;
  }
  const __m256bh v = _mm512_cvtneps_pbh (_mm512_max_ps (acc, _mm512_setzero_ps ()));
  int n = MIN (16, l->out_stride / 2 - b * 16);
  _mm256_mask_storeu_epi16 ((guint8 *) out + (gsize) x * l->out_stride + b * 32,
      (__mmask16) ((1u << n) - 1), (__m256i) v);
}

#define ROW_PIXELS(P)                                                                   \
  static inline void pixels_##P (const SrLowpLayer *l, const guint8 *in, gsize pitch,    \
      int x, gpointer out)                                                               \
  {                                                                                      \
    for (int b = 0; b < l->blocks; b++) {                                                \
      __m512 acc[P];                                                                     \
      for (int p = 0; p < P; p++)                                                        \
        acc[p] = _mm512_loadu_ps (l->bias + b * 16);                                     \
      const guint8 *w = l->weight + (gsize) b * 9 * l->groups * 64;                      \
      for (int t = 0; t < 9; t++) {                                                      \
        const guint8 *px = in + ((t / 3) * pitch + x + t % 3) * l->in_stride;            \
        for (int g = 0; g < l->groups; g++, w += 64) {                                   \
          const __m512bh wv = (__m512bh) _mm512_loadu_si512 (w);                         \
          for (int p = 0; p < P; p++)                                                    \
            acc[p] = _mm512_dpbf16_ps (acc[p], wv,                                       \
                bcast_pair (px + (gsize) p * l->in_stride + g * 4));                     \
        }                                                                                \
      }                                                                                  \
      for (int p = 0; p < P; p++)                                                        \
        store (l, acc[p], b, x + p, out);                                                \
    }                                                                                    \
  }

ROW_PIXELS (8)
ROW_PIXELS (1)

void
sr_bf16_conv3x3_row_avx512 (const SrLowpLayer *l, const guint8 *in, gsize pitch, int n,
    gpointer out)
{
  int x = 0;
  for (; x + 8 <= n; x += 8)
    pixels_8 (l, in, pitch, x, out);
  for (; x < n; x++)
    pixels_1 (l, in, pitch, x, out);
}

/* Per pixel: the 8 intrinsic maps, then the 8 shifted ones merged lane-masked from one
 * 16-byte load per distinct direction (at most 9), widened to fp32 (bf16 is the top half of
 * a float), added, rounded back with vcvtneps2bf16. */
void
sr_ghost_add_row_bf16_avx512 (float *feat, guint8 *feat_b, const guint8 *intr,
    const SrGhostAdd *shifts, int n)
{
  for (int x = 0; x < n; x++, feat += 16, feat_b += 32, intr += 16) {
    __m128i ghost = _mm_setzero_si128 ();
    for (int i = 0; i < shifts->n; i++)
      ghost = _mm_mask_mov_epi16 (ghost, shifts->lanes[i],
          _mm_loadu_si128 ((const __m128i *) (intr + shifts->offset[i])));
    __m256i both = _mm256_inserti128_si256 (
        _mm256_castsi128_si256 (_mm_loadu_si128 ((const __m128i *) intr)), ghost, 1);
    __m512 add = _mm512_castsi512_ps (_mm512_slli_epi32 (_mm512_cvtepu16_epi32 (both), 16));
    __m512 sum = _mm512_add_ps (_mm512_loadu_ps (feat), add);
    _mm512_storeu_ps (feat, sum);
    _mm256_storeu_si256 ((__m256i *) feat_b, (__m256i) _mm512_cvtneps_pbh (sum));
  }
}
