/* Image quality metrics on 8-bit planes: squared error (for PSNR) and SSIM.
 *
 * SSIM follows Wang et al. 2004: an 11x11 Gaussian window (sigma 1.5), K1 = 0.01,
 * K2 = 0.03, L = 255, averaged over the positions where the window fits in the plane
 * (no padding), as MATLAB's ssim_index and scikit-image with gaussian_weights=True. */
#include "sr-plane-private.h"

#include <math.h>

static gboolean
same_size (const SrPlane *a, const SrPlane *b, GError **error)
{
  if (!sr_plane_check (a, "first", error) || !sr_plane_check (b, "second", error))
    return FALSE;
  if (a->width != b->width || a->height != b->height) {
    g_set_error (error, SR_ERROR, SR_ERROR_INVALID, "planes differ in size: %dx%d vs %dx%d",
        a->width, a->height, b->width, b->height);
    return FALSE;
  }
  return TRUE;
}

gboolean
sr_plane_sse (const SrPlane *a, const SrPlane *b, guint64 *sse, GError **error)
{
  g_return_val_if_fail (a != NULL, FALSE);
  g_return_val_if_fail (b != NULL, FALSE);
  g_return_val_if_fail (sse != NULL, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);
  if (!same_size (a, b, error))
    return FALSE;
  guint64 sum = 0;
  for (int y = 0; y < a->height; y++) {
    const guint8 *ra = a->data + y * a->stride, *rb = b->data + y * b->stride;
    for (int x = 0; x < a->width; x++) {
      int d = (int) ra[(gsize) x * a->pixel_stride] - (int) rb[(gsize) x * b->pixel_stride];
      sum += (guint64) (d * d);
    }
  }
  *sse = sum;
  return TRUE;
}

double
sr_psnr_from_sse (guint64 sse, guint64 samples)
{
  if (samples == 0)
    return 0;
  if (sse == 0)
    return SR_PSNR_IDENTICAL;
  double psnr = 10.0 * log10 (255.0 * 255.0 * (double) samples / (double) sse);
  return MIN (psnr, SR_PSNR_IDENTICAL);
}

#define WIN 11

gboolean
sr_plane_ssim (const SrPlane *a, const SrPlane *b, double *ssim, GError **error)
{
  g_return_val_if_fail (a != NULL, FALSE);
  g_return_val_if_fail (b != NULL, FALSE);
  g_return_val_if_fail (ssim != NULL, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);
  if (!same_size (a, b, error))
    return FALSE;
  const int w = a->width, h = a->height;
  if (w < WIN || h < WIN) {
    g_set_error (error, SR_ERROR, SR_ERROR_INVALID, "SSIM needs at least %dx%d, got %dx%d",
        WIN, WIN, w, h);
    return FALSE;
  }
  double g[WIN], gsum = 0;
  for (int i = 0; i < WIN; i++)
    gsum += g[i] = exp (-((i - WIN / 2) * (i - WIN / 2)) / (2 * 1.5 * 1.5));
  for (int i = 0; i < WIN; i++)
    g[i] /= gsum;

  /* horizontal Gaussian of a, b, a², b², ab into five (w - 10) x h planes, then vertical */
  const int ow = w - WIN + 1, oh = h - WIN + 1;
  double *hz = g_new (double, (gsize) 5 * ow * h);
  for (int y = 0; y < h; y++) {
    const guint8 *ra = a->data + y * a->stride, *rb = b->data + y * b->stride;
    for (int x = 0; x < ow; x++) {
      double s[5] = { 0 };
      for (int k = 0; k < WIN; k++) {
        double va = ra[(gsize) (x + k) * a->pixel_stride];
        double vb = rb[(gsize) (x + k) * b->pixel_stride];
        s[0] += g[k] * va;
        s[1] += g[k] * vb;
        s[2] += g[k] * va * va;
        s[3] += g[k] * vb * vb;
        s[4] += g[k] * va * vb;
      }
      for (int c = 0; c < 5; c++)
        hz[((gsize) c * h + y) * ow + x] = s[c];
    }
  }
  const double c1 = (0.01 * 255) * (0.01 * 255), c2 = (0.03 * 255) * (0.03 * 255);
  double total = 0;
  for (int y = 0; y < oh; y++)
    for (int x = 0; x < ow; x++) {
      double s[5] = { 0 };
      for (int k = 0; k < WIN; k++)
        for (int c = 0; c < 5; c++)
          s[c] += g[k] * hz[((gsize) c * h + y + k) * ow + x];
      double va = s[2] - s[0] * s[0], vb = s[3] - s[1] * s[1], cov = s[4] - s[0] * s[1];
      total += ((2 * s[0] * s[1] + c1) * (2 * cov + c2)) /
          ((s[0] * s[0] + s[1] * s[1] + c1) * (va + vb + c2));
    }
  g_free (hz);
  *ssim = total / ((double) ow * oh);
  return TRUE;
}
