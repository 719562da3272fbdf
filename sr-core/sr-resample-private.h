/* The resampler's tables and row kernels (sr-resample.c), shared with its SIMD version and
 * tests/test-kernels.c. */
#ifndef SR_RESAMPLE_PRIVATE_H
#define SR_RESAMPLE_PRIVATE_H

#include "sr-core/sr-core.h"

/* Weights are fixed point with this many fraction bits and sum to exactly 1 per output. */
#define SR_RESAMPLE_WEIGHT_BITS 14
/* The vertical pass keeps 15 - bits fraction bits of each sample (8-bit: 7, 10-bit: 5), so
 * the horizontal sum (2^14 x 2^15 x ~1.3) stays within 32 bits; at most 12-bit samples. */
#define SR_RESAMPLE_MAX_BITS 12
static inline int
sr_resample_mid_bits (const SrPlane *p)
{
  return 15 - MAX (p->bits, 8);
}
/* The right shifts (with rounding) that end each pass: to the mid precision, then back to
 * samples. The GPU kernels get these from the host rather than their own formulas. */
static inline int
sr_resample_vertical_shift (const SrPlane *p)
{
  return SR_RESAMPLE_WEIGHT_BITS - sr_resample_mid_bits (p);
}
static inline int
sr_resample_horizontal_shift (const SrPlane *p)
{
  return SR_RESAMPLE_WEIGHT_BITS + sr_resample_mid_bits (p);
}

/* One axis: output i reads source samples first[i] .. first[i] + n_taps - 1 (always inside
 * the source) with weights weight[t * n_out + i] (tap-major, so SIMD loads a tap for
 * consecutive outputs at once). */
typedef struct {
  int n_out, n_taps;
  int *first;
  gint32 *weight;
} SrResampleAxis;

void sr_resample_axis_init (SrResampleAxis *axis, int n_in, int n_out);
void sr_resample_axis_clear (SrResampleAxis *axis);

/* Vertical pass for output row y: mid[x] for x in [x0, x1) (source columns), rounded to
 * sr_resample_mid_bits fraction bits. */
typedef void (*SrResampleVerticalFn) (const SrPlane *src, const SrResampleAxis *ay, int y,
    int x0, int x1, gint32 *mid);
/* Horizontal pass: outputs x in [x0, x1) of dst's row y from one row of mid values,
 * rounded and clamped to the samples' range. */
typedef void (*SrResampleHorizontalFn) (const gint32 *mid, const SrResampleAxis *ax,
    int x0, int x1, const SrPlane *dst, int y);

void sr_resample_vertical_c (const SrPlane *src, const SrResampleAxis *ay, int y, int x0,
    int x1, gint32 *mid);
void sr_resample_horizontal_c (const gint32 *mid, const SrResampleAxis *ax, int x0, int x1,
    const SrPlane *dst, int y);
/* AVX2 versions, bit-exact with the C ones; callers check sr_resample_avx2_supported. */
gboolean sr_resample_avx2_supported (void);
void sr_resample_vertical_avx2 (const SrPlane *src, const SrResampleAxis *ay, int y, int x0,
    int x1, gint32 *mid);
void sr_resample_horizontal_avx2 (const gint32 *mid, const SrResampleAxis *ax, int x0, int x1,
    const SrPlane *dst, int y);

/* One resampling: both axes' tables and the row kernels (NULL where only the tables are
 * wanted: the GPU backends upload them). Rows of the output can then be made in any order
 * or in parallel bands (sr_engine_resample). */
typedef struct {
  SrResampleAxis ax, ay;
  SrResampleVerticalFn vertical;
  SrResampleHorizontalFn horizontal;
} SrResamplePlan;

void sr_resample_plan_init (SrResamplePlan *plan, const SrPlane *src, const SrPlane *dst,
    SrResampleVerticalFn vertical, SrResampleHorizontalFn horizontal);
/* With the fastest row kernels the CPU runs. */
void sr_resample_plan_best (SrResamplePlan *plan, const SrPlane *src, const SrPlane *dst);
void sr_resample_plan_clear (SrResamplePlan *plan);
/* Output rows [y0, y1). */
void sr_resample_rows (const SrResamplePlan *plan, const SrPlane *src, SrPlane *dst, int y0,
    int y1);
/* The planes usable and their samples resamplable (at most SR_RESAMPLE_MAX_BITS). */
gboolean sr_resample_check (const SrPlane *src, const SrPlane *dst, GError **error);
/* The whole plane with the given row kernels (for tests). */
void sr_resample_with (const SrPlane *src, SrPlane *dst, SrResampleVerticalFn vertical,
    SrResampleHorizontalFn horizontal);

#endif
