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

/* The same requantisation as integer_store () in sr-cpu-lowp.c, 16 outputs at once, with
 * what it reads of l read once for P pixels (the stores could alias l: the compiler would
 * reload it for each pixel). */
typedef struct {
  __m512 mul, bias, inv;
  __m512i max;
  __mmask16 n;
  gsize stride, offset;  /* bytes from a pixel to the next, and to block b */
  gboolean last, int8;
} Store;

static inline Store
store_init (const SrLowpLayer *l, int b)
{
  Store s = { _mm512_loadu_ps (l->mul + b * 16), _mm512_loadu_ps (l->bias + b * 16),
      _mm512_set1_ps (l->out_inv_scale), _mm512_set1_epi32 (l->out_max), 0, l->out_stride,
      0, l->last, l->precision == SR_PRECISION_INT8 };
  const int bytes = s.last ? 4 : s.int8 ? 1 : 2;
  if (s.last)
    s.stride = (gsize) l->out_ch * 4;
  s.n = (__mmask16) ((1u << MIN (16, (int) s.stride / bytes - b * 16)) - 1);
  s.offset = (gsize) b * 16 * bytes;
  return s;
}

static inline void
store (const Store *s, __m512i acc, int x, gpointer out)
{
  guint8 *dst = (guint8 *) out + x * s->stride + s->offset;
  const __m512 v = _mm512_fmadd_ps (_mm512_cvtepi32_ps (acc), s->mul, s->bias);
  if (s->last) {
    _mm512_mask_storeu_ps (dst, s->n, v);
    return;
  }
  /* rounding to nearest even as lrintf does; after the ReLU the levels are >= 0 */
  const __m512 r = _mm512_max_ps (v, _mm512_setzero_ps ());
  const __m512i q = _mm512_min_epi32 (_mm512_cvtps_epi32 (_mm512_mul_ps (r, s->inv)), s->max);
  if (s->int8)
    _mm_mask_storeu_epi8 (dst, s->n, _mm512_cvtepi32_epi8 (q));
  else
    _mm256_mask_storeu_epi16 (dst, s->n, _mm512_cvtepi32_epi16 (q));
}

/* G: the words of an input pixel when known at compile time (1: the heads), else 0 */
#define ROW_PIXELS(NAME, P, G, DOT)                                                     \
  static inline void NAME (const SrLowpLayer *l, const guint8 *in, gsize pitch, int x,   \
      gpointer out)                                                                      \
  {                                                                                      \
    const int groups = G ? G : l->groups, stride = groups * 4;                          \
    for (int b = 0; b < l->blocks; b++) {                                                \
      __m512i acc[P];                                                                    \
      for (int p = 0; p < P; p++)                                                        \
        acc[p] = _mm512_setzero_si512 ();                                                \
      const guint8 *w = l->weight + (gsize) b * 9 * groups * 64;                         \
      for (int t = 0; t < 9; t++) {                                                      \
        const guint8 *px = in + ((t / 3) * pitch + x + t % 3) * stride;                  \
        for (int g = 0; g < groups; g++, w += 64) {                                      \
          const __m512i wv = _mm512_loadu_si512 (w);                                     \
          for (int p = 0; p < P; p++)                                                    \
            acc[p] = DOT (acc[p], bcast_word (px + (gsize) p * stride + g * 4), wv);     \
        }                                                                                \
      }                                                                                  \
      const Store s = store_init (l, b);                                                 \
      for (int p = 0; p < P; p++)                                                        \
        store (&s, acc[p], x + p, out);                                                  \
    }                                                                                    \
  }

/* The 4-output last layers with an odd number of words (the others, the tails among them, take
 * the k-word rows below): one sum a pixel per output would fill 4 of a zmm's 16 lanes, so a
 * zmm holds 4 pixels x 4 outputs instead. Per tap, two loads cover 4
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

/* The layers of at most 8 outputs (the ghost net's 16 -> 8 blocks and 16 -> 4 tails): a
 * pixel a zmm would leave lanes idle, and the rows are bound by the broadcasts of the
 * activations (one load per dot product in the rows above). Here one broadcast brings k
 * words of a pixel (64, 128 or 256 bits) and serves the dot products of h zmm, each against
 * the weights of 16 / k outputs for all k words (packed that way at init, l->weight_k):
 * lane k o + j sums output o over the words j mod k, added at the end (integer sums, exact
 * in any order). 1/k the dot products of the pixel-at-a-time rows, 1/h the broadcasts. */
static inline __m512i
bcast_words (const guint8 *p, int k)
{
  if (k == 8)
    return _mm512_broadcast_i64x4 (_mm256_loadu_si256 ((const __m256i *) p));
  if (k == 4)
    return _mm512_broadcast_i32x4 (_mm_loadu_si128 ((const __m128i *) p));
  gint64 v;
  memcpy (&v, p, 8);
  return _mm512_set1_epi64 (v);
}

/* lane k i: the sum of lanes k i .. k i + k - 1 */
static inline __m512i
lane_sums (__m512i a, int k)
{
  a = _mm512_add_epi32 (a, _mm512_srli_epi64 (a, 32));
  if (k >= 4)
    a = _mm512_add_epi32 (a, _mm512_bsrli_epi128 (a, 8));
  if (k == 8) /* 128-bit lanes 1 and 3 onto 0 and 2 */
    a = _mm512_add_epi32 (a, _mm512_shuffle_i32x4 (a, a, _MM_SHUFFLE (3, 3, 0, 1)));
  return a;
}

/* the 16 / k outputs of each of h zmm of sums, in order */
static inline __m256i
output_sums (const __m512i *acc, int k, int h)
{
  const __m512i idx = k == 2 ? _mm512_setr_epi32 (0, 2, 4, 6, 8, 10, 12, 14, 0, 0, 0, 0, 0, 0, 0, 0)
      : k == 4 ? _mm512_setr_epi32 (0, 4, 8, 12, 16, 20, 24, 28, 0, 0, 0, 0, 0, 0, 0, 0)
      : _mm512_setr_epi32 (0, 8, 16, 24, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0);
  const __m512i a = lane_sums (acc[0], k);
  return _mm512_castsi512_si256 (_mm512_permutex2var_epi32 (a, idx,
      h == 2 ? lane_sums (acc[1], k) : a));
}

/* store () for these rows, with what it reads of l read once a step (the stores could alias
 * l: the compiler would reload it for each pixel) */
typedef struct {
  __m256 mul, bias, inv;
  __m256i max;
  __mmask8 n;
  int stride;
  gboolean last, int8;
} WordsStore;

static inline WordsStore
words_store (const SrLowpLayer *l)
{
  const int bytes = l->precision == SR_PRECISION_INT8 ? 1 : 2;
  return (WordsStore) { _mm256_loadu_ps (l->mul), _mm256_loadu_ps (l->bias),
      _mm256_set1_ps (l->out_inv_scale), _mm256_set1_epi32 (l->out_max),
      (__mmask8) ((1u << (l->last ? l->out_ch : MIN (8, l->out_stride / bytes))) - 1),
      l->last ? l->out_ch * 4 : l->out_stride, l->last, bytes == 1 };
}

static inline void
store_words (const WordsStore *s, __m256i sums, guint8 *dst)
{
  const __m256 v = _mm256_fmadd_ps (_mm256_cvtepi32_ps (sums), s->mul, s->bias);
  if (s->last) {
    _mm256_mask_storeu_ps (dst, s->n, v);
    return;
  }
  const __m256 r = _mm256_max_ps (v, _mm256_setzero_ps ());
  const __m256i q = _mm256_min_epi32 (_mm256_cvtps_epi32 (_mm256_mul_ps (r, s->inv)), s->max);
  if (s->int8)
    _mm_mask_storeu_epi8 (dst, s->n, _mm256_cvtepi32_epi8 (q));
  else
    _mm_mask_storeu_epi16 (dst, s->n, _mm256_cvtepi32_epi16 (q));
}

/* G: the words of an input pixel when known at compile time (the 16-channel int16 maps),
 * else 0: the loops then unroll, and each pixel's address is a constant offset */
#define WORDS_PIXELS(NAME, P, K, H, G, DOT)                                                \
  static inline void NAME (const SrLowpLayer *l, const guint8 *in, gsize pitch, int x,     \
      gpointer out)                                                                        \
  {                                                                                        \
    const int groups = G ? G : l->groups, stride = groups * 4;                            \
    __m512i acc[P][H];                                                                     \
    for (int p = 0; p < P; p++)                                                            \
      for (int h = 0; h < H; h++)                                                          \
        acc[p][h] = _mm512_setzero_si512 ();                                               \
    const guint8 *w = l->weight_k;                                                         \
    for (int t = 0; t < 9; t++) {                                                          \
      const guint8 *px = in + ((t / 3) * pitch + x + t % 3) * stride;                      \
      for (int g = 0; g < groups; g += K, w += 64 * H) {                                   \
        __m512i wv[H];                                                                     \
        for (int h = 0; h < H; h++)                                                        \
          wv[h] = _mm512_loadu_si512 (w + 64 * h);                                         \
        for (int p = 0; p < P; p++) {                                                      \
          const __m512i a = bcast_words (px + (gsize) p * stride + g * 4, K);              \
          for (int h = 0; h < H; h++)                                                      \
            acc[p][h] = DOT (acc[p][h], a, wv[h]);                                         \
        }                                                                                  \
      }                                                                                    \
    }                                                                                      \
    const WordsStore s = words_store (l);                                                  \
    guint8 *dst = (guint8 *) out + (gsize) x * s.stride;                                   \
    for (int p = 0; p < P; p++)                                                            \
      store_words (&s, output_sums (acc[p], K, H), dst + (gsize) p * s.stride);            \
  }

/* a row of k-word sums: 16 / h pixels a step (their sums, the weights and a broadcast fit
 * the 32 zmm), then 4, then one */
#define WORDS_ROW(NAME, K, H, G, DOT)                                                      \
  WORDS_PIXELS (NAME##_n, 16 / H, K, H, G, DOT)                                            \
  WORDS_PIXELS (NAME##_4, 4, K, H, G, DOT)                                                 \
  WORDS_PIXELS (NAME##_1, 1, K, H, G, DOT)                                                 \
  static void NAME (const SrLowpLayer *l, const guint8 *in, gsize pitch, int n, gpointer out) \
  {                                                                                        \
    int x = 0;                                                                             \
    for (; x + 16 / H <= n; x += 16 / H)                                                   \
      NAME##_n (l, in, pitch, x, out);                                                     \
    for (; x + 4 <= n; x += 4)                                                             \
      NAME##_4 (l, in, pitch, x, out);                                                     \
    for (; x < n; x++)                                                                     \
      NAME##_1 (l, in, pitch, x, out);                                                     \
  }

/* the (k, h) that sr_lowp_layer_init packs */
#define WORDS_ROWS(PREFIX, DOT)                                                            \
  WORDS_ROW (PREFIX##_words2x1, 2, 1, 0, DOT)                                              \
  WORDS_ROW (PREFIX##_words4x1, 4, 1, 0, DOT)                                              \
  WORDS_ROW (PREFIX##_words4x2, 4, 2, 0, DOT)                                              \
  WORDS_ROW (PREFIX##_words8x1, 8, 1, 0, DOT)                                              \
  WORDS_ROW (PREFIX##_words8x2, 8, 2, 0, DOT)                                              \
  static void PREFIX##_words (const SrLowpLayer *l, const guint8 *in, gsize pitch, int n,  \
      gpointer out)                                                                        \
  {                                                                                        \
    switch (l->k_words * 10 + l->k_zmms) {                                                 \
      case 21: PREFIX##_words2x1 (l, in, pitch, n, out); break;                            \
      case 41: PREFIX##_words4x1 (l, in, pitch, n, out); break;                            \
      case 42: PREFIX##_words4x2 (l, in, pitch, n, out); break;                            \
      case 81: PREFIX##_words8x1 (l, in, pitch, n, out); break;                            \
      case 82: PREFIX##_words8x2 (l, in, pitch, n, out); break;                            \
      default: g_assert_not_reached ();                                                    \
    }                                                                                      \
  }

WORDS_ROWS (int8, _mm512_dpbusd_epi32)
WORDS_ROWS (int16, _mm512_dpwssd_epi32)
/* the 16-channel int16 inputs (the ghost net's blocks and tails), unrolled */
WORDS_ROW (int16_words4x2_g8, 4, 2, 8, _mm512_dpwssd_epi32)
WORDS_ROW (int16_words8x2_g8, 8, 2, 8, _mm512_dpwssd_epi32)

/* u8 activations x s8 weights; s16 x s16 */
ROW_PIXELS (int8_pixels_8, 8, 0, _mm512_dpbusd_epi32)
ROW_PIXELS (int8_pixels_4, 4, 0, _mm512_dpbusd_epi32)
ROW_PIXELS (int8_pixels_1, 1, 0, _mm512_dpbusd_epi32)
ROW_PIXELS (int16_pixels_8, 8, 0, _mm512_dpwssd_epi32)
ROW_PIXELS (int16_pixels_4, 4, 0, _mm512_dpwssd_epi32)
ROW_PIXELS (int16_pixels_1, 1, 0, _mm512_dpwssd_epi32)
/* the one-word inputs (the heads' luma), unrolled */
ROW_PIXELS (int16_head_8, 8, 1, _mm512_dpwssd_epi32)
ROW_PIXELS (int16_head_4, 4, 1, _mm512_dpwssd_epi32)
ROW_PIXELS (int16_head_1, 1, 1, _mm512_dpwssd_epi32)

void
sr_int8_conv3x3_row_vnni (const SrLowpLayer *l, const guint8 *in, gsize pitch, int n,
    gpointer out)
{
  int x = 0;
  if (l->k_words) {
    int8_words (l, in, pitch, n, out);
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
  if (l->k_words) {
    if (l->groups == 8 && l->k_zmms == 2)
      (l->k_words == 4 ? int16_words4x2_g8 : int16_words8x2_g8) (l, in, pitch, n, out);
    else
      int16_words (l, in, pitch, n, out);
    return;
  }
  if (l->groups == 1) {
    for (; x + 8 <= n; x += 8)
      int16_head_8 (l, in, pitch, x, out);
    for (; x + 4 <= n; x += 4)
      int16_head_4 (l, in, pitch, x, out);
    for (; x < n; x++)
      int16_head_1 (l, in, pitch, x, out);
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
