/* The integer conv rows on 256-bit registers, for CPUs without AVX-512. This one file is
 * built twice (sr-core/meson.build): with -mavx2 -mfma, where a pair of int16 products is
 * vpmaddwd then vpaddd, and with -mavxvnni added, where it is one vpdpwssd and int8 gets
 * vpdpbusd (AVX-VNNI, Alder Lake and later). A ymm holds 8 of an output block's 16 sums for
 * one pixel (a "half"); the activations of one word are broadcast against it, P pixels share
 * each weight load. The sums are exact in 32 bits and requantisation is the C reference's
 * (one fused multiply-add, one rounding), so the rows equal sr_int*_conv3x3_row_c bit for
 * bit (tests/test-kernels.c). */
#include "sr-cpu-lowp.h"

#include <immintrin.h>
#include <string.h>

#if defined(__AVXVNNI__)
#define SUFFIX(name) name##_avxvnni
#define DOT16(acc, a, w) _mm256_dpwssd_avx_epi32 (acc, a, w)
#define DOT8(acc, a, w) _mm256_dpbusd_avx_epi32 (acc, a, w)
#else
#define SUFFIX(name) name##_avx2
#define DOT16(acc, a, w) _mm256_add_epi32 (acc, _mm256_madd_epi16 (a, w))
#endif

static inline __m256i
bcast_word (const guint8 *p)
{
  gint32 v;
  memcpy (&v, p, 4);
  return _mm256_set1_epi32 (v);
}

/* integer_store () of sr-cpu-lowp.c for the 8 outputs oc0.. of pixel x */
static inline void
store8 (const SrLowpLayer *l, __m256i acc, int oc0, int x, gpointer out)
{
  const __m256 v = _mm256_fmadd_ps (_mm256_cvtepi32_ps (acc), _mm256_loadu_ps (l->mul + oc0),
      _mm256_loadu_ps (l->bias + oc0));
  if (l->last) {
    const int n = MIN (8, l->out_ch - oc0);
    const __m256i m = _mm256_cmpgt_epi32 (_mm256_set1_epi32 (n),
        _mm256_setr_epi32 (0, 1, 2, 3, 4, 5, 6, 7));
    _mm256_maskstore_ps ((float *) out + (gsize) x * l->out_ch + oc0, m, v);
    return;
  }
  /* ReLU, round to nearest even as lrintf does, clamp to the levels (a value too large for
   * 32 bits converts to INT_MIN, which the C reference's clamp also makes 0) */
  const __m256 r = _mm256_max_ps (v, _mm256_setzero_ps ());
  __m256i q = _mm256_cvtps_epi32 (_mm256_mul_ps (r, _mm256_set1_ps (l->out_inv_scale)));
  q = _mm256_max_epi32 (_mm256_min_epi32 (q, _mm256_set1_epi32 (l->out_max)),
      _mm256_setzero_si256 ());
  const __m128i words = _mm_packs_epi32 (_mm256_castsi256_si128 (q),
      _mm256_extracti128_si256 (q, 1));
  const int bytes = l->precision == SR_PRECISION_INT8 ? 1 : 2;
  const int n = MIN (8, l->out_stride / bytes - oc0);
  guint8 *dst = (guint8 *) out + (gsize) x * l->out_stride + oc0 * bytes;
  if (n * bytes == 16) { /* 8 int16 outputs, without a memcpy call */
    _mm_storeu_si128 ((__m128i *) dst, words);
    return;
  }
  guint8 packed[16];
  _mm_storeu_si128 ((__m128i *) packed, bytes == 1 ? _mm_packus_epi16 (words, words) : words);
  memcpy (dst, packed, n * bytes);
}

/* P pixels from x, H halves (8 outputs each) of output block b. G: the words of an input
 * pixel when known at compile time (1: the heads' luma, 8: 16 int16 channels), else 0: the
 * loops then unroll, and each pixel's address is a constant offset. */
#define PIXELS(NAME, DOT, P, H, G)                                                        \
  static inline void NAME (const SrLowpLayer *l, const guint8 *in, gsize pitch, int x,     \
      int b, gpointer out)                                                                 \
  {                                                                                        \
    const int groups = G ? G : l->groups, stride = groups * 4;                            \
    __m256i acc[P][H];                                                                     \
    for (int p = 0; p < P; p++)                                                            \
      for (int h = 0; h < H; h++)                                                          \
        acc[p][h] = _mm256_setzero_si256 ();                                               \
    const guint8 *w = l->weight + (gsize) b * 9 * groups * 64;                             \
    for (int t = 0; t < 9; t++) {                                                          \
      const guint8 *px = in + ((t / 3) * pitch + x + t % 3) * stride;                      \
      for (int g = 0; g < groups; g++, w += 64) {                                          \
        __m256i wv[H];                                                                     \
        for (int h = 0; h < H; h++)                                                        \
          wv[h] = _mm256_loadu_si256 ((const __m256i *) (w + 32 * h));                     \
        for (int p = 0; p < P; p++) {                                                      \
          const __m256i a = bcast_word (px + (gsize) p * stride + g * 4);                  \
          for (int h = 0; h < H; h++)                                                      \
            acc[p][h] = DOT (acc[p][h], a, wv[h]);                                         \
        }                                                                                  \
      }                                                                                    \
    }                                                                                      \
    for (int p = 0; p < P; p++)                                                            \
      for (int h = 0; h < H; h++)                                                          \
        store8 (l, acc[p][h], b * 16 + h * 8, x + p, out);                                 \
  }

/* One row: per output block, two halves for 4 pixels at a time (16 -> 16), or one half for
 * 8 (16 -> 8 and the 16 -> 4 tail), then the rest a pixel at a time. */
#define ROW_LOOP(NAME, DOT, G)                                                             \
  PIXELS (NAME##_4x2, DOT, 4, 2, G)                                                        \
  PIXELS (NAME##_1x2, DOT, 1, 2, G)                                                        \
  PIXELS (NAME##_8x1, DOT, 8, 1, G)                                                        \
  PIXELS (NAME##_4x1, DOT, 4, 1, G)                                                        \
  PIXELS (NAME##_1x1, DOT, 1, 1, G)                                                        \
  static void NAME (const SrLowpLayer *l, const guint8 *in, gsize pitch, int n, gpointer out) \
  {                                                                                        \
    for (int b = 0; b < l->blocks; b++) {                                                  \
      int x = 0;                                                                           \
      if (l->out_ch - b * 16 > 8) {                                                        \
        for (; x + 4 <= n; x += 4)                                                         \
          NAME##_4x2 (l, in, pitch, x, b, out);                                            \
        for (; x < n; x++)                                                                 \
          NAME##_1x2 (l, in, pitch, x, b, out);                                            \
        continue;                                                                          \
      }                                                                                    \
      for (; x + 8 <= n; x += 8)                                                           \
        NAME##_8x1 (l, in, pitch, x, b, out);                                              \
      for (; x + 4 <= n; x += 4)                                                           \
        NAME##_4x1 (l, in, pitch, x, b, out);                                              \
      for (; x < n; x++)                                                                   \
        NAME##_1x1 (l, in, pitch, x, b, out);                                              \
    }                                                                                      \
  }

/* The layers that sr_lowp_layer_init packs for sums of 8 words in two zmm (l->weight_k: the
 * 16 -> 4 tails): here four ymm of one output each, lane j summing the words j mod 8 of a
 * pixel, all 8 words in one load. The rows then take no dot products for idle outputs (1.3x
 * AVX2, 1.1x AVX-VNNI against the 8-output rows below). The same for the 16 -> 8 blocks (4
 * words, four ymm of two outputs) was 7-8% slower: two pixels a step share too little. */
static inline gboolean
words_takes (const SrLowpLayer *l)
{
  return l->k_zmms == 2 && l->k_words == 8;
}

/* the 4 output sums of a pixel's four ymm */
static inline __m256i
words_sums (const __m256i *a)
{
  /* outputs 0 1 2 3 over words 0-3 | over words 4-7 */
  const __m256i s = _mm256_hadd_epi32 (_mm256_hadd_epi32 (a[0], a[1]),
      _mm256_hadd_epi32 (a[2], a[3]));
  return _mm256_castsi128_si256 (_mm_add_epi32 (_mm256_castsi256_si128 (s),
      _mm256_extracti128_si256 (s, 1)));
}

#define WORDS_PIXELS(NAME, DOT, P)                                                         \
  static inline void NAME (const SrLowpLayer *l, const guint8 *in, gsize pitch, int x,     \
      gpointer out)                                                                        \
  {                                                                                        \
    __m256i acc[P][4];                                                                     \
    for (int p = 0; p < P; p++)                                                            \
      for (int h = 0; h < 4; h++)                                                          \
        acc[p][h] = _mm256_setzero_si256 ();                                               \
    const guint8 *w = l->weight_k;                                                         \
    for (int t = 0; t < 9; t++) {                                                          \
      const guint8 *px = in + ((t / 3) * pitch + x + t % 3) * l->in_stride;                \
      for (int g = 0; g < l->groups; g += 8, w += 128) {                                   \
        __m256i wv[4];                                                                     \
        for (int h = 0; h < 4; h++)                                                        \
          wv[h] = _mm256_loadu_si256 ((const __m256i *) (w + 32 * h));                     \
        for (int p = 0; p < P; p++) {                                                      \
          const __m256i a = _mm256_loadu_si256 ((const __m256i *) (px +                    \
              (gsize) p * l->in_stride + g * 4));                                          \
          for (int h = 0; h < 4; h++)                                                      \
            acc[p][h] = DOT (acc[p][h], a, wv[h]);                                         \
        }                                                                                  \
      }                                                                                    \
    }                                                                                      \
    for (int p = 0; p < P; p++)                                                            \
      store8 (l, words_sums (acc[p]), 0, x + p, out);                                      \
  }

#define WORDS_ROW(NAME, DOT)                                                               \
  WORDS_PIXELS (NAME##_2, DOT, 2)                                                          \
  WORDS_PIXELS (NAME##_1, DOT, 1)                                                          \
  static void NAME (const SrLowpLayer *l, const guint8 *in, gsize pitch, int n, gpointer out) \
  {                                                                                        \
    int x = 0;                                                                             \
    for (; x + 2 <= n; x += 2)                                                             \
      NAME##_2 (l, in, pitch, x, out);                                                     \
    for (; x < n; x++)                                                                     \
      NAME##_1 (l, in, pitch, x, out);                                                     \
  }

/* the one-word inputs (the heads' luma) unrolled, and with AVX-VNNI the 16 int16 channels
 * (unrolled, the AVX2 rows' vpmaddwd + vpaddd spill their 16 ymm: 1.6x slower) */
#if defined(__AVXVNNI__)
#define G16 8
#else
#define G16 0
#endif
#define ROW(NAME, DOT) ROW_ (NAME, DOT) /* NAME expanded before it is pasted */
#define ROW_(NAME, DOT)                                                                    \
  ROW_LOOP (NAME##_any, DOT, 0)                                                            \
  ROW_LOOP (NAME##_g1, DOT, 1)                                                             \
  ROW_LOOP (NAME##_g16, DOT, G16)                                                          \
  WORDS_ROW (NAME##_words8, DOT)                                                           \
  void NAME (const SrLowpLayer *l, const guint8 *in, gsize pitch, int n, gpointer out)    \
  {                                                                                        \
    if (words_takes (l)) {                                                                 \
      NAME##_words8 (l, in, pitch, n, out);                                                \
      return;                                                                              \
    }                                                                                      \
    (l->groups == 1 ? NAME##_g1 : l->groups == 8 ? NAME##_g16 : NAME##_any) (l, in, pitch, n, \
        out);                                                                              \
  }

ROW (SUFFIX (sr_int16_conv3x3_row), DOT16)
#if defined(__AVXVNNI__)
ROW (SUFFIX (sr_int8_conv3x3_row), DOT8)
#endif
