#ifndef GST_QUALITYMETER_H
#define GST_QUALITYMETER_H

#include <gst/base/gstaggregator.h>

G_BEGIN_DECLS

#define GST_TYPE_QUALITYMETER (gst_qualitymeter_get_type ())
G_DECLARE_FINAL_TYPE (GstQualitymeter, gst_qualitymeter, GST, QUALITYMETER, GstAggregator)

GST_ELEMENT_REGISTER_DECLARE (qualitymeter);

G_END_DECLS

#endif
