/* Plane argument checks shared by the engine, bicubic and metrics. */
#ifndef SR_PLANE_PRIVATE_H
#define SR_PLANE_PRIVATE_H

#include "sr-core/sr-core.h"

/* A usable plane: data, positive size, stride covering a row. `what` names it in errors. */
gboolean sr_plane_check (const SrPlane *p, const char *what, GError **error);

#endif
