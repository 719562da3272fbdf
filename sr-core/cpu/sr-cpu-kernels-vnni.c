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

/* The 4-output last layers (the tails, 16 -> 4): one sum a pixel per output would fill 4 of a
 * zmm's 16 lanes, so a zmm holds 4 pixels x 4 outputs instead. Per tap, two loads cover 4
 * neighbouring pixels; word g of each is spread over its pixel's 128-bit lane by one
 * vpermt2d, against the 4 outputs' weights of word g broadcast to every lane. 8 pixels a
 * step, 4x fewer dot products than the pixel-at-a-time rows. For layers whose 4 pixels span at
 * most 32 words (tail4_takes). */
static inline gboolean
tail4_takes (const SrLowpLayer *l)
{
  return l->last && l->out_ch == 4 && l->blocks == 1 && l->in_stride <= 32;
}

/* 4 pixels' words from px: the first 32 words (fewer where 4 pixels are fewer: nothing is read
 * past them) */
static inline void
load_four_pixels (const SrLowpLayer *l, const guint8 *px, __m512i *lo, __m512i *hi)
{
  const int words = l->in_stride; /* 4 pixels x in_stride / 4 words */
  *lo = _mm512_maskz_loadu_epi32 ((__mmask16) ((1u << MIN (words, 16)) - 1), px);
  *hi = words > 16 ? _mm512_maskz_loadu_epi32 ((__mmask16) ((1u << (words - 16)) - 1), px + 64)
      : _mm512_setzero_si512 ();
}

#define TAIL4_ROW(NAME, DOT)                                                              \
  static void NAME (const SrLowpLayer *l, const guint8 *in, gsize pitch, int x,            \
      gpointer out)                                                                        \
  {                                                                                        \
    const int words = l->in_stride / 4;                                                    \
    /* lane j reads word g of pixel j / 4 */                                               \
    const __m512i base = _mm512_mullo_epi32 (_mm512_set1_epi32 (words), _mm512_setr_epi32 ( \
        0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3));                                  \
    __m512i acc[2] = { _mm512_setzero_si512 (), _mm512_setzero_si512 () };                 \
    const guint8 *w = l->weight;                                                           \
    for (int t = 0; t < 9; t++) {                                                          \
      const guint8 *px = in + ((t / 3) * pitch + x + t % 3) * l->in_stride;                \
      __m512i lo[2], hi[2];                                                                \
      for (int p = 0; p < 2; p++)                                                          \
        load_four_pixels (l, px + (gsize) 4 * p * l->in_stride, &lo[p], &hi[p]);           \
      for (int g = 0; g < l->groups; g++, w += 64) {                                       \
        const __m512i wv = _mm512_broadcast_i32x4 (_mm_loadu_si128 ((const __m128i *) w)); \
        const __m512i idx = _mm512_add_epi32 (base, _mm512_set1_epi32 (g));                \
        for (int p = 0; p < 2; p++)                                                        \
          acc[p] = DOT (acc[p], _mm512_permutex2var_epi32 (lo[p], idx, hi[p]), wv);        \
      }                                                                                    \
    }                                                                                      \
    const __m512 mul = _mm512_broadcast_f32x4 (_mm_loadu_ps (l->mul));                     \
    const __m512 bias = _mm512_broadcast_f32x4 (_mm_loadu_ps (l->bias));                   \
    for (int p = 0; p < 2; p++)                                                            \
      _mm512_storeu_ps ((float *) out + (gsize) (x + 4 * p) * 4,                           \
          _mm512_fmadd_ps (_mm512_cvtepi32_ps (acc[p]), mul, bias));                       \
  }

TAIL4_ROW (int8_tail4_8, _mm512_dpbusd_epi32)
TAIL4_ROW (int16_tail4_8, _mm512_dpwssd_epi32)

/* The layers of at most 8 outputs and an even number of input words (the ghost net's 16 -> 8
 * blocks): a pixel a zmm would leave half its lanes idle, and the rows cost their dot
 * products (one per word, whatever the width). Here each one takes two words of a pixel
 * (one 64-bit broadcast) against the 8 outputs' weights of both, interleaved by one vpermt2d
 * per word pair shared by P pixels: lane 2k sums output k over the even words, lane 2k + 1
 * over the odd ones, added at the end (integer sums, exact in any order). Half the dot
 * products of the pixel-at-a-time rows. */
static inline gboolean
words2_takes (const SrLowpLayer *l)
{
  return !l->last && l->out_ch <= 8 && l->groups % 2 == 0;
}

static inline __m512i
bcast_two_words (const guint8 *p)
{
  gint64 v;
  memcpy (&v, p, 8);
  return _mm512_set1_epi64 (v);
}

/* store () for the 8 outputs of words2 sums */
static inline void
store_words2 (const SrLowpLayer *l, __m512i acc, int x, gpointer out)
{
  const __m256i sum = _mm512_cvtepi64_epi32 (_mm512_add_epi32 (acc, _mm512_srli_epi64 (acc, 32)));
  const __m256 v = _mm256_fmadd_ps (_mm256_cvtepi32_ps (sum), _mm256_loadu_ps (l->mul),
      _mm256_loadu_ps (l->bias));
  const __m256 r = _mm256_max_ps (v, _mm256_setzero_ps ());
  __m256i q = _mm256_cvtps_epi32 (_mm256_mul_ps (r, _mm256_set1_ps (l->out_inv_scale)));
  q = _mm256_min_epi32 (q, _mm256_set1_epi32 (l->out_max));
  const int bytes = l->precision == SR_PRECISION_INT8 ? 1 : 2;
  const __mmask8 n = (__mmask8) ((1u << MIN (8, l->out_stride / bytes)) - 1);
  guint8 *dst = (guint8 *) out + (gsize) x * l->out_stride;
  if (bytes == 1)
    _mm_mask_storeu_epi8 (dst, n, _mm256_cvtepi32_epi8 (q));
  else
    _mm_mask_storeu_epi16 (dst, n, _mm256_cvtepi32_epi16 (q));
}

#define WORDS2_PIXELS(NAME, P, DOT)                                                        \
  static inline void NAME (const SrLowpLayer *l, const guint8 *in, gsize pitch, int x,     \
      gpointer out)                                                                        \
  {                                                                                        \
    /* lane 2k: output k's weight of the first word, 2k + 1: of the second */              \
    const __m512i mix = _mm512_setr_epi32 (0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6,    \
        22, 7, 23);                                                                        \
    __m512i acc[P];                                                                        \
    for (int p = 0; p < P; p++)                                                            \
      acc[p] = _mm512_setzero_si512 ();                                                    \
    const guint8 *w = l->weight;                                                           \
    for (int t = 0; t < 9; t++) {                                                          \
      const guint8 *px = in + ((t / 3) * pitch + x + t % 3) * l->in_stride;                \
      for (int g = 0; g < l->groups; g += 2, w += 128) {                                   \
        const __m512i wv = _mm512_permutex2var_epi32 (_mm512_loadu_si512 (w), mix,        \
            _mm512_loadu_si512 (w + 64));                                                  \
        for (int p = 0; p < P; p++)                                                        \
          acc[p] = DOT (acc[p], bcast_two_words (px + (gsize) p * l->in_stride + g * 4), wv); \
      }                                                                                    \
    }                                                                                      \
    for (int p = 0; p < P; p++)                                                            \
      store_words2 (l, acc[p], x + p, out);                                                \
  }

WORDS2_PIXELS (int8_words2_8, 8, _mm512_dpbusd_epi32)
WORDS2_PIXELS (int8_words2_1, 1, _mm512_dpbusd_epi32)
WORDS2_PIXELS (int16_words2_8, 8, _mm512_dpwssd_epi32)
WORDS2_PIXELS (int16_words2_1, 1, _mm512_dpwssd_epi32)

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
  if (words2_takes (l)) {
    for (; x + 8 <= n; x += 8)
      int8_words2_8 (l, in, pitch, x, out);
    for (; x < n; x++)
      int8_words2_1 (l, in, pitch, x, out);
    return;
  }
  for (; tail4_takes (l) && x + 8 <= n; x += 8)
    int8_tail4_8 (l, in, pitch, x, out);
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
  if (words2_takes (l)) {
    for (; x + 8 <= n; x += 8)
      int16_words2_8 (l, in, pitch, x, out);
    for (; x < n; x++)
      int16_words2_1 (l, in, pitch, x, out);
    return;
  }
  for (; tail4_takes (l) && x + 8 <= n; x += 8)
    int16_tail4_8 (l, in, pitch, x, out);
  for (; x + 8 <= n; x += 8)
    int16_pixels_8 (l, in, pitch, x, out);
  for (; x + 4 <= n; x += 4)
    int16_pixels_4 (l, in, pitch, x, out);
  for (; x < n; x++)
    int16_pixels_1 (l, in, pitch, x, out);
}
