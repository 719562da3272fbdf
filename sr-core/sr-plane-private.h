/* Plane argument checks shared by the engine, bicubic and metrics. */
#ifndef SR_PLANE_PRIVATE_H
#define SR_PLANE_PRIVATE_H

#include "sr-core/sr-core.h"

#include <string.h>

/* Whether samples are 16-bit words (more than 8 bits), and the largest sample value. */
static inline gboolean
sr_plane_is_wide (const SrPlane *p)
{
  return p->bits > 8;
}

static inline int
sr_plane_max (const SrPlane *p)
{
  return p->bits > 8 ? (1 << p->bits) - 1 : 255;
}

/* The sample `offset` bytes into the plane's data, and storing one (within 0..max). */
/* 16-bit words through memcpy: a caller's plane need not be 2-byte aligned (a plain load
 * at an odd address is undefined behaviour; this compiles to the same mov) */
static inline int
sr_plane_get (const SrPlane *p, gsize offset)
{
  if (p->bits <= 8)
    return p->data[offset];
  guint16 w;
  memcpy (&w, p->data + offset, sizeof w);
  return w >> p->shift;
}

static inline void
sr_plane_put (const SrPlane *p, gsize offset, int v)
{
  if (p->bits > 8) {
    guint16 w = v << p->shift;
    memcpy (p->data + offset, &w, sizeof w);
  } else {
    p->data[offset] = v;
  }
}

/* A usable plane: data, positive size, stride covering a row, a sample format it names.
 * `what` names it in errors. */
gboolean sr_plane_check (const SrPlane *p, const char *what, GError **error);
/* Both planes hold samples of the same bits and shift. */
gboolean sr_planes_same_samples (const SrPlane *a, const SrPlane *b, GError **error);
/* A strided plane to tightly packed rows (width samples each: bytes, or for wider samples
 * 16-bit words as they are, shift included), and rows `in_stride` bytes apart back into a
 * strided plane: what GPU backends upload and download. */
void sr_plane_pack (const SrPlane *src, guint8 *out);
void sr_plane_unpack (const guint8 *in, gsize in_stride, SrPlane *dst);
/* Both planes usable and dst a valid bicubic x2 size for src. */
gboolean sr_bicubic_x2_check (const SrPlane *src, const SrPlane *dst, GError **error);
/* Output rows [y0, y1) of sr_bicubic_x2 (checked planes), so bands can run in parallel;
 * tmp holds sr_bicubic_x2_scratch (dst, y1 - y0) values. */
void sr_bicubic_x2_rows (const SrPlane *src, SrPlane *dst, int y0, int y1, gint32 *tmp);
gsize sr_bicubic_x2_scratch (const SrPlane *dst, int rows);

#endif
