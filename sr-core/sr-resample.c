/* Resampling a plane to any size, for outputs between the input size and the network's x2:
 * a separable bicubic (Keys, a = -0.5) whose support widens by the scale when shrinking so
 * it also filters aliasing, with sample centres aligned, as PIL's Image.resize(BICUBIC).
 * Integer arithmetic, so the SIMD rows (sr-resample-avx2.c) match the C rows bit for bit;
 * samples of 8 bits or, in 16-bit words, up to 12 (10-bit video).
 * The vertical pass runs first, on source rows, then the horizontal pass on its result. */
#include <math.h>

#include "sr-plane-private.h"
#include "sr-resample-private.h"

static double
keys_cubic (double x)
{
  const double a = -0.5;
  x = fabs (x);
  if (x < 1)
    return ((a + 2) * x - (a + 3)) * x * x + 1;
  if (x < 2)
    return (((x - 5) * x + 8) * x - 4) * a;
  return 0;
}

void
sr_resample_axis_init (SrResampleAxis *axis, int n_in, int n_out)
{
  const double scale = (double) n_in / n_out, widen = MAX (scale, 1.0), support = 2 * widen;
  axis->n_out = n_out;
  /* the widest window of source samples in reach of an output */
  axis->n_taps = 1;
  for (int i = 0; i < n_out; i++) {
    const double centre = (i + 0.5) * scale;
    axis->n_taps = MAX (axis->n_taps, (int) floor (centre + support + 0.5) -
        (int) floor (centre - support + 0.5));
  }
  axis->n_taps = MIN (axis->n_taps, n_in);
  axis->first = g_new (int, n_out);
  axis->weight = g_new0 (gint32, (gsize) axis->n_taps * n_out);
  double *w = g_new (double, axis->n_taps);
  for (int i = 0; i < n_out; i++) {
    const double centre = (i + 0.5) * scale;
    /* the source samples in reach, then the same number of taps kept inside the source */
    int lo = MAX ((int) floor (centre - support + 0.5), 0);
    int hi = MIN ((int) floor (centre + support + 0.5), n_in);
    int first = CLAMP (lo, 0, n_in - axis->n_taps);
    double sum = 0;
    for (int t = 0; t < axis->n_taps; t++) {
      int s = first + t;
      w[t] = s >= lo && s < hi ? keys_cubic ((s + 0.5 - centre) / widen) : 0;
      sum += w[t];
    }
    /* normalise, quantise, and put the rounding remainder on the largest tap */
    int total = 0, largest = 0;
    for (int t = 0; t < axis->n_taps; t++) {
      gint32 q = (gint32) lrint (w[t] / sum * (1 << SR_RESAMPLE_WEIGHT_BITS));
      axis->weight[(gsize) t * n_out + i] = q;
      total += q;
      if (w[t] > w[largest])
        largest = t;
    }
    axis->weight[(gsize) largest * n_out + i] += (1 << SR_RESAMPLE_WEIGHT_BITS) - total;
    axis->first[i] = first;
  }
  g_free (w);
}

void
sr_resample_axis_clear (SrResampleAxis *axis)
{
  g_clear_pointer (&axis->first, g_free);
  g_clear_pointer (&axis->weight, g_free);
}

void
sr_resample_vertical_c (const SrPlane *src, const SrResampleAxis *ay, int y, int x0, int x1,
    gint32 *mid)
{
  const gsize row0 = (gsize) ay->first[y] * src->stride;
  const int shift = sr_resample_vertical_shift (src);
  for (int x = x0; x < x1; x++) {
    gint32 acc = 0;
    for (int t = 0; t < ay->n_taps; t++)
      acc += ay->weight[(gsize) t * ay->n_out + y] *
          sr_plane_get (src, row0 + (gsize) t * src->stride + (gsize) x * src->pixel_stride);
    mid[x] = (acc + (1 << (shift - 1))) >> shift;
  }
}

void
sr_resample_horizontal_c (const gint32 *mid, const SrResampleAxis *ax, int x0, int x1,
    const SrPlane *dst, int y)
{
  const int shift = sr_resample_horizontal_shift (dst), max = sr_plane_max (dst);
  for (int x = x0; x < x1; x++) {
    gint32 acc = 0;
    for (int t = 0; t < ax->n_taps; t++)
      acc += ax->weight[(gsize) t * ax->n_out + x] * mid[ax->first[x] + t];
    int v = (acc + (1 << (shift - 1))) >> shift;
    sr_plane_put (dst, (gsize) y * dst->stride + (gsize) x * dst->pixel_stride,
        CLAMP (v, 0, max));
  }
}

void
sr_resample_plan_init (SrResamplePlan *plan, const SrPlane *src, const SrPlane *dst,
    SrResampleVerticalFn vertical, SrResampleHorizontalFn horizontal)
{
  sr_resample_axis_init (&plan->ax, src->width, dst->width);
  sr_resample_axis_init (&plan->ay, src->height, dst->height);
  plan->vertical = vertical;
  plan->horizontal = horizontal;
}

void
sr_resample_plan_clear (SrResamplePlan *plan)
{
  sr_resample_axis_clear (&plan->ax);
  sr_resample_axis_clear (&plan->ay);
}

void
sr_resample_rows (const SrResamplePlan *plan, const SrPlane *src, SrPlane *dst, int y0, int y1)
{
  gint32 *mid = g_new (gint32, src->width);
  for (int y = y0; y < y1; y++) {
    plan->vertical (src, &plan->ay, y, 0, src->width, mid);
    plan->horizontal (mid, &plan->ax, 0, dst->width, dst, y);
  }
  g_free (mid);
}

void
sr_resample_with (const SrPlane *src, SrPlane *dst, SrResampleVerticalFn vertical,
    SrResampleHorizontalFn horizontal)
{
  SrResamplePlan plan;
  sr_resample_plan_init (&plan, src, dst, vertical, horizontal);
  sr_resample_rows (&plan, src, dst, 0, dst->height);
  sr_resample_plan_clear (&plan);
}

gboolean
sr_resample_check (const SrPlane *src, const SrPlane *dst, GError **error)
{
  if (!sr_plane_check (src, "source", error) || !sr_plane_check (dst, "destination", error) ||
      !sr_planes_same_samples (src, dst, error))
    return FALSE;
  if (src->bits > SR_RESAMPLE_MAX_BITS) {
    g_set_error (error, SR_ERROR, SR_ERROR_UNSUPPORTED, "resampling takes samples of at most "
        "%d bits, not %d", SR_RESAMPLE_MAX_BITS, src->bits);
    return FALSE;
  }
  return TRUE;
}

void
sr_resample_plan_best (SrResamplePlan *plan, const SrPlane *src, const SrPlane *dst)
{
#ifdef HAVE_X86_KERNELS
  static gsize simd = 0; /* 1 + whether the CPU has AVX2 */
  if (g_once_init_enter (&simd))
    g_once_init_leave (&simd, 1 + sr_resample_avx2_supported ());
  if (simd == 2) {
    sr_resample_plan_init (plan, src, dst, sr_resample_vertical_avx2,
        sr_resample_horizontal_avx2);
    return;
  }
#endif
  sr_resample_plan_init (plan, src, dst, sr_resample_vertical_c, sr_resample_horizontal_c);
}

gboolean
sr_resample (const SrPlane *src, SrPlane *dst, GError **error)
{
  if (!sr_resample_check (src, dst, error))
    return FALSE;
  SrResamplePlan plan;
  sr_resample_plan_best (&plan, src, dst);
  sr_resample_rows (&plan, src, dst, 0, dst->height);
  sr_resample_plan_clear (&plan);
  return TRUE;
}
