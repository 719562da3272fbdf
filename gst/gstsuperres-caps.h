/* Caps for superres: which output sizes an input size allows (1x to 2x on each axis) and
 * which one to pick. */
#ifndef GST_SUPERRES_CAPS_H
#define GST_SUPERRES_CAPS_H

#include <gst/gst.h>

G_BEGIN_DECLS

/* The network's scale: the largest output is this many times the input on each axis. */
#define GST_SUPERRES_MAX_SCALE 2

/* sink caps -> the src caps they allow (direction GST_PAD_SINK), or src -> sink. */
GstCaps *gst_superres_caps_transform (GstPadDirection direction, GstCaps *caps,
    GstCaps *filter);
/* Fixates `othercaps` (the other side of the fixed `caps`) to 2x the input, or, where
 * downstream fixed one side only, to the other side that keeps the input's shape. */
GstCaps *gst_superres_caps_fixate (GstPadDirection direction, GstCaps *caps,
    GstCaps *othercaps);
/* Whether an output of out_w x out_h can be made from in_w x in_h. */
gboolean gst_superres_size_ok (int in_w, int in_h, int out_w, int out_h);

G_END_DECLS

#endif
