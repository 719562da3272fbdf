#ifndef GST_SUPERRES_H
#define GST_SUPERRES_H

#include <gst/video/gstvideofilter.h>
#include <sr-core/sr-core.h>

G_BEGIN_DECLS

#define GST_TYPE_SUPERRES (gst_superres_get_type ())
G_DECLARE_FINAL_TYPE (GstSuperres, gst_superres, GST, SUPERRES, GstVideoFilter)

#define GST_TYPE_SUPERRES_BACKEND (gst_superres_backend_get_type ())
GType gst_superres_backend_get_type (void);

GST_ELEMENT_REGISTER_DECLARE (superres);

G_END_DECLS

#endif
