#include "sr-plane-private.h"

#include <string.h>

gboolean
sr_plane_check (const SrPlane *p, const char *what, GError **error)
{
  if (p && (p->bits < 0 || p->bits > 16 || p->shift < 0 ||
          (p->bits > 8 ? p->bits + p->shift > 16 : p->shift != 0))) {
    g_set_error (error, SR_ERROR, SR_ERROR_INVALID, "%s plane has %d-bit samples shifted by %d",
        what, p->bits, p->shift);
    return FALSE;
  }
  const int sample = p && p->bits > 8 ? 2 : 1;
  if (!p || !p->data || p->width < 1 || p->height < 1 || p->pixel_stride < sample ||
      p->stride < (gsize) (p->width - 1) * p->pixel_stride + sample) {
    g_set_error (error, SR_ERROR, SR_ERROR_INVALID, "%s plane is invalid (%dx%d, stride %"
        G_GSIZE_FORMAT ", pixel stride %d)", what, p ? p->width : 0, p ? p->height : 0,
        p ? p->stride : 0, p ? p->pixel_stride : 0);
    return FALSE;
  }
  return TRUE;
}

gboolean
sr_planes_same_samples (const SrPlane *a, const SrPlane *b, GError **error)
{
  if (MAX (a->bits, 8) != MAX (b->bits, 8) || a->shift != b->shift) {
    g_set_error (error, SR_ERROR, SR_ERROR_INVALID, "source and destination samples differ "
        "(%d and %d bits)", MAX (a->bits, 8), MAX (b->bits, 8));
    return FALSE;
  }
  return TRUE;
}

void
sr_plane_pack (const SrPlane *src, guint8 *out)
{
  const int sample = sr_plane_is_wide (src) ? 2 : 1;
  const gsize row_bytes = (gsize) src->width * sample;
  for (int y = 0; y < src->height; y++) {
    const guint8 *row = src->data + (gsize) y * src->stride;
    guint8 *o = out + (gsize) y * row_bytes;
    if (src->pixel_stride == sample)
      memcpy (o, row, row_bytes);
    else if (sample == 1)
      for (int x = 0; x < src->width; x++)
        o[x] = row[(gsize) x * src->pixel_stride];
    else
      for (int x = 0; x < src->width; x++)
        memcpy (o + 2 * x, row + (gsize) x * src->pixel_stride, 2);
  }
}

void
sr_plane_unpack (const guint8 *in, gsize in_stride, SrPlane *dst)
{
  const int sample = sr_plane_is_wide (dst) ? 2 : 1;
  for (int y = 0; y < dst->height; y++) {
    const guint8 *i = in + (gsize) y * in_stride;
    guint8 *row = dst->data + (gsize) y * dst->stride;
    if (dst->pixel_stride == sample)
      memcpy (row, i, (gsize) dst->width * sample);
    else if (sample == 1)
      for (int x = 0; x < dst->width; x++)
        row[(gsize) x * dst->pixel_stride] = i[x];
    else
      for (int x = 0; x < dst->width; x++)
        memcpy (row + (gsize) x * dst->pixel_stride, i + 2 * x, 2);
  }
}
