/* Plane argument checks shared by the engine, bicubic and metrics. */
#ifndef SR_PLANE_PRIVATE_H
#define SR_PLANE_PRIVATE_H

#include "sr-core/sr-core.h"

/* A usable plane: data, positive size, stride covering a row. `what` names it in errors. */
gboolean sr_plane_check (const SrPlane *p, const char *what, GError **error);
/* A strided plane to tightly packed rows (width bytes each), and rows `in_stride` apart back
 * into a strided plane: what GPU backends upload and download. */
void sr_plane_pack (const SrPlane *src, guint8 *out);
void sr_plane_unpack (const guint8 *in, gsize in_stride, SrPlane *dst);
/* Both planes usable and dst a valid bicubic x2 size for src. */
gboolean sr_bicubic_x2_check (const SrPlane *src, const SrPlane *dst, GError **error);
/* Output rows [y0, y1) of sr_bicubic_x2 (checked planes), so bands can run in parallel;
 * tmp holds sr_bicubic_x2_scratch (dst, y1 - y0) values. */
void sr_bicubic_x2_rows (const SrPlane *src, SrPlane *dst, int y0, int y1, gint32 *tmp);
gsize sr_bicubic_x2_scratch (const SrPlane *dst, int rows);

#endif
