/* Bicubic x2 for chroma planes, in exact integer arithmetic so every backend can match it.
 *
 * Keys' cubic with a = -0.5 at the two phases of a 2x upscale (sample centres at
 * x/2 - 0.25) gives weights that are multiples of 1/128:
 *   even outputs read src[k-2..k+1] with (-3, 29, 111, -9)
 *   odd outputs  read src[k-1..k+2] with (-9, 111, 29, -3)
 * Edges repeat the border sample. */
#include "sr-plane-private.h"

static const int taps[2][4] = { { -3, 29, 111, -9 }, { -9, 111, 29, -3 } };

/* First source index and weights of output sample o. */
static inline int
first_tap (int o)
{
  return o / 2 - 2 + (o & 1);
}

gboolean
sr_bicubic_x2_check (const SrPlane *src, const SrPlane *dst, GError **error)
{
  if (!sr_plane_check (src, "source", error) || !sr_plane_check (dst, "destination", error) ||
      !sr_planes_same_samples (src, dst, error))
    return FALSE;
  if (dst->width > 2 * src->width || dst->width < 2 * src->width - 1 ||
      dst->height > 2 * src->height || dst->height < 2 * src->height - 1) {
    g_set_error (error, SR_ERROR, SR_ERROR_INVALID,
        "bicubic x2: destination %dx%d does not match source %dx%d", dst->width, dst->height,
        src->width, src->height);
    return FALSE;
  }
  return TRUE;
}

gsize
sr_bicubic_x2_scratch (const SrPlane *dst, int rows)
{
  return (gsize) dst->width * (rows / 2 + 6);
}

/* One source row, filtered horizontally into dst->width values scaled by 128. The interior
 * has no edge clamps, so compilers vectorise it. */
static void
horizontal (const SrPlane *src, int y, int width, gint32 *out)
{
  const guint8 *row = src->data + (gsize) y * src->stride;
  const int ps = src->pixel_stride, last = src->width - 1;
  int x = 0;
  if (sr_plane_is_wide (src)) {
    /* 16-bit samples (up to 16 x 140 x 140 stays within 32 bits): the plain loop */
    for (; x < width; x++) {
      int x0 = first_tap (x), acc = 0;
      for (int t = 0; t < 4; t++)
        acc += taps[x & 1][t] * sr_plane_get (src, (gsize) y * src->stride +
            (gsize) CLAMP (x0 + t, 0, last) * ps);
      out[x] = acc;
    }
    return;
  }
  /* outputs whose taps all lie inside: first_tap (x) >= 0 and first_tap (x) + 3 <= last */
  const int inner0 = 4, inner1 = MIN (width, 2 * last - 4);
  for (; x < MIN (inner0, width); x++) {
    int x0 = first_tap (x), acc = 0;
    for (int t = 0; t < 4; t++)
      acc += taps[x & 1][t] * row[(gsize) CLAMP (x0 + t, 0, last) * ps];
    out[x] = acc;
  }
  if (ps == 1) {
    for (; x + 1 < inner1; x += 2) {
      const guint8 *r = row + x / 2;
      out[x] = -3 * r[-2] + 29 * r[-1] + 111 * r[0] - 9 * r[1];
      out[x + 1] = -9 * r[-1] + 111 * r[0] + 29 * r[1] - 3 * r[2];
    }
  }
  for (; x < width; x++) {
    int x0 = first_tap (x), acc = 0;
    for (int t = 0; t < 4; t++)
      acc += taps[x & 1][t] * row[(gsize) CLAMP (x0 + t, 0, last) * ps];
    out[x] = acc;
  }
}

void
sr_bicubic_x2_rows (const SrPlane *src, SrPlane *dst, int y0, int y1, gint32 *tmp)
{
  /* the source rows these output rows read, filtered once each */
  const int s0 = MAX (first_tap (y0), 0), s1 = MIN (first_tap (y1 - 1) + 3, src->height - 1);
  for (int y = s0; y <= s1; y++)
    horizontal (src, y, dst->width, tmp + (gsize) (y - s0) * dst->width);
  /* vertical pass, then round and clamp: the total scale is 128 * 128 */
  for (int y = y0; y < y1; y++) {
    int f = first_tap (y);
    const gint32 *rows[4];
    for (int t = 0; t < 4; t++)
      rows[t] = tmp + (gsize) (CLAMP (f + t, 0, src->height - 1) - s0) * dst->width;
    guint8 *out = dst->data + (gsize) y * dst->stride;
    const int *w = taps[y & 1], max = sr_plane_max (dst);
    for (int x = 0; x < dst->width; x++) {
      gint32 acc = w[0] * rows[0][x] + w[1] * rows[1][x] + w[2] * rows[2][x] + w[3] * rows[3][x];
      int v = CLAMP ((acc + 8192) >> 14, 0, max);
      if (max == 255)
        out[(gsize) x * dst->pixel_stride] = v;
      else
        sr_plane_put (dst, (out - dst->data) + (gsize) x * dst->pixel_stride, v);
    }
  }
}

gboolean
sr_bicubic_x2 (const SrPlane *src, SrPlane *dst, GError **error)
{
  g_return_val_if_fail (src != NULL, FALSE);
  g_return_val_if_fail (dst != NULL, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);
  if (!sr_bicubic_x2_check (src, dst, error))
    return FALSE;
  gint32 *tmp = g_new (gint32, sr_bicubic_x2_scratch (dst, dst->height));
  sr_bicubic_x2_rows (src, dst, 0, dst->height, tmp);
  g_free (tmp);
  return TRUE;
}
