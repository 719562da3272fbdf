#include "sr-plane-private.h"

gboolean
sr_plane_check (const SrPlane *p, const char *what, GError **error)
{
  if (!p || !p->data || p->width < 1 || p->height < 1 || p->pixel_stride < 1 ||
      p->stride < (gsize) (p->width - 1) * p->pixel_stride + 1) {
    g_set_error (error, SR_ERROR, SR_ERROR_INVALID, "%s plane is invalid (%dx%d, stride %"
        G_GSIZE_FORMAT ", pixel stride %d)", what, p ? p->width : 0, p ? p->height : 0,
        p ? p->stride : 0, p ? p->pixel_stride : 0);
    return FALSE;
  }
  return TRUE;
}
