/* AVX2 rows of the resampler, bit-exact with sr_resample_vertical_c/_horizontal_c: the same
 * 32-bit integer sums, eight outputs at a time; tails (and interleaved planes in the
 * vertical pass) go through the C rows. Built with -mavx2. */
#include <immintrin.h>

#include "sr-plane-private.h"
#include "sr-resample-private.h"

gboolean
sr_resample_avx2_supported (void)
{
  __builtin_cpu_init ();
  return __builtin_cpu_supports ("avx2");
}

void
sr_resample_vertical_avx2 (const SrPlane *src, const SrResampleAxis *ay, int y, int x0,
    int x1, gint32 *mid)
{
  const int shift = sr_resample_vertical_shift (src);
  const __m256i round = _mm256_set1_epi32 (1 << (shift - 1));
  const guint8 *row0 = src->data + (gsize) ay->first[y] * src->stride;
  const gboolean wide = sr_plane_is_wide (src);
  const __m128i sample_shift = _mm_cvtsi32_si128 (src->shift);
  int x = x0;
  /* contiguous samples only: 8 bytes or 8 words a load */
  for (; src->pixel_stride == (wide ? 2 : 1) && x + 8 <= x1; x += 8) {
    __m256i acc = _mm256_setzero_si256 ();
    for (int t = 0; t < ay->n_taps; t++) {
      __m256i w = _mm256_set1_epi32 (ay->weight[(gsize) t * ay->n_out + y]);
      const guint8 *p = row0 + (gsize) t * src->stride + (gsize) x * src->pixel_stride;
      __m256i v = wide ? _mm256_srl_epi32 (_mm256_cvtepu16_epi32 (_mm_loadu_si128 (
                  (const __m128i *) p)), sample_shift)
          : _mm256_cvtepu8_epi32 (_mm_loadl_epi64 ((const __m128i *) p));
      acc = _mm256_add_epi32 (acc, _mm256_mullo_epi32 (w, v));
    }
    _mm256_storeu_si256 ((__m256i *) (mid + x),
        _mm256_srai_epi32 (_mm256_add_epi32 (acc, round), shift));
  }
  sr_resample_vertical_c (src, ay, y, x, x1, mid);
}

void
sr_resample_horizontal_avx2 (const gint32 *mid, const SrResampleAxis *ax, int x0, int x1,
    const SrPlane *dst, int y)
{
  const int shift = sr_resample_horizontal_shift (dst);
  const __m256i round = _mm256_set1_epi32 (1 << (shift - 1)), zero = _mm256_setzero_si256 (),
      max = _mm256_set1_epi32 (sr_plane_max (dst));
  const gsize row = (gsize) y * dst->stride;
  int x = x0;
  for (; x + 8 <= x1; x += 8) {
    __m256i first = _mm256_loadu_si256 ((const __m256i *) (ax->first + x));
    __m256i acc = _mm256_setzero_si256 ();
    for (int t = 0; t < ax->n_taps; t++) {
      __m256i w = _mm256_loadu_si256 ((const __m256i *) (ax->weight + (gsize) t * ax->n_out + x));
      __m256i v = _mm256_i32gather_epi32 ((const int *) mid + t, first, 4);
      acc = _mm256_add_epi32 (acc, _mm256_mullo_epi32 (w, v));
    }
    acc = _mm256_srai_epi32 (_mm256_add_epi32 (acc, round), shift);
    acc = _mm256_min_epi32 (_mm256_max_epi32 (acc, zero), max);
    gint32 v[8];
    _mm256_storeu_si256 ((__m256i *) v, acc);
    for (int i = 0; i < 8; i++)
      sr_plane_put (dst, row + (gsize) (x + i) * dst->pixel_stride, v[i]);
  }
  sr_resample_horizontal_c (mid, ax, x, x1, dst, y);
}
