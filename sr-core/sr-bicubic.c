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
  if (!sr_plane_check (src, "source", error) || !sr_plane_check (dst, "destination", error))
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

gboolean
sr_bicubic_x2 (const SrPlane *src, SrPlane *dst, GError **error)
{
  if (!sr_bicubic_x2_check (src, dst, error))
    return FALSE;
  /* horizontal pass: src->height rows of dst->width values, scaled by 128 */
  gint32 *tmp = g_new (gint32, (gsize) dst->width * src->height);
  for (int y = 0; y < src->height; y++) {
    const guint8 *row = src->data + y * src->stride;
    gint32 *out = tmp + (gsize) y * dst->width;
    for (int x = 0; x < dst->width; x++) {
      int x0 = first_tap (x), acc = 0;
      for (int t = 0; t < 4; t++)
        acc += taps[x & 1][t] * row[(gsize) CLAMP (x0 + t, 0, src->width - 1) * src->pixel_stride];
      out[x] = acc;
    }
  }
  /* vertical pass, then round and clamp: the total scale is 128 * 128 */
  for (int y = 0; y < dst->height; y++) {
    int y0 = first_tap (y);
    const gint32 *rows[4];
    for (int t = 0; t < 4; t++)
      rows[t] = tmp + (gsize) CLAMP (y0 + t, 0, src->height - 1) * dst->width;
    guint8 *out = dst->data + y * dst->stride;
    const int *w = taps[y & 1];
    for (int x = 0; x < dst->width; x++) {
      gint32 acc = w[0] * rows[0][x] + w[1] * rows[1][x] + w[2] * rows[2][x] + w[3] * rows[3][x];
      int v = (acc + 8192) >> 14;
      out[(gsize) x * dst->pixel_stride] = CLAMP (v, 0, 255);
    }
  }
  g_free (tmp);
  return TRUE;
}
