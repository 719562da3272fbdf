/* Caps for superres. An input of w x h gives any output from w x h to 2w x 2h: the network
 * makes 2x and the resampler brings it to the size downstream asked; free downstream gets
 * 2x. The two directions map each width/height value (int, range or list) to a range. */
#include "gstsuperres-caps.h"

#define S GST_SUPERRES_MAX_SCALE

/* The range of sizes one side v maps to: up [v, S v], down [ceil (v / S), v]. */
static void
side_range (int lo, int hi, gboolean up, int *out_lo, int *out_hi)
{
  if (up) {
    *out_lo = lo;
    *out_hi = hi > G_MAXINT / S ? G_MAXINT : hi * S;
  } else {
    *out_lo = (lo + S - 1) / S;
    *out_hi = hi;
  }
}

static gboolean
map_side (const GValue *in, GValue *out, gboolean up)
{
  int lo, hi;
  if (G_VALUE_HOLDS_INT (in)) {
    lo = hi = g_value_get_int (in);
  } else if (GST_VALUE_HOLDS_INT_RANGE (in)) {
    lo = gst_value_get_int_range_min (in);
    hi = gst_value_get_int_range_max (in);
  } else if (GST_VALUE_HOLDS_LIST (in)) {
    g_value_init (out, GST_TYPE_LIST);
    for (guint i = 0; i < gst_value_list_get_size (in); i++) {
      GValue item = G_VALUE_INIT;
      if (map_side (gst_value_list_get_value (in, i), &item, up))
        gst_value_list_append_and_take_value (out, &item);
    }
    return TRUE;
  } else {
    return FALSE;
  }
  side_range (lo, hi, up, &lo, &hi);
  g_value_init (out, GST_TYPE_INT_RANGE);
  gst_value_set_int_range (out, lo, hi);
  return TRUE;
}

GstCaps *
gst_superres_caps_transform (GstPadDirection direction, GstCaps *caps, GstCaps *filter)
{
  gboolean up = direction == GST_PAD_SINK;
  GstCaps *result = gst_caps_new_empty ();
  for (guint i = 0; i < gst_caps_get_size (caps); i++) {
    GstStructure *s = gst_structure_copy (gst_caps_get_structure (caps, i));
    const char *fields[] = { "width", "height" };
    gboolean ok = TRUE;
    for (guint f = 0; f < G_N_ELEMENTS (fields) && ok; f++) {
      const GValue *v = gst_structure_get_value (s, fields[f]);
      GValue mapped = G_VALUE_INIT;
      if (!v)
        continue;
      ok = map_side (v, &mapped, up);
      if (ok)
        gst_structure_take_value (s, fields[f], &mapped);
    }
    if (ok)
      gst_caps_append_structure_full (result, s,
          gst_caps_features_copy (gst_caps_get_features (caps, i)));
    else
      gst_structure_free (s);
  }
  if (filter) {
    GstCaps *tmp = gst_caps_intersect_full (filter, result, GST_CAPS_INTERSECT_FIRST);
    gst_caps_unref (result);
    result = tmp;
  }
  return result;
}

GstCaps *
gst_superres_caps_fixate (GstPadDirection direction, GstCaps *caps, GstCaps *othercaps)
{
  const GstStructure *in = gst_caps_get_structure (caps, 0);
  int in_w = 0, in_h = 0;
  othercaps = gst_caps_truncate (othercaps);
  othercaps = gst_caps_make_writable (othercaps);
  GstStructure *out = gst_caps_get_structure (othercaps, 0);
  if (gst_structure_get_int (in, "width", &in_w) && gst_structure_get_int (in, "height", &in_h)
      && in_w > 0 && in_h > 0) {
    gboolean up = direction == GST_PAD_SINK;
    /* the size free downstream gets: the largest (x2) upward, the smallest back */
    int w = up ? in_w * S : (in_w + S - 1) / S, h = up ? in_h * S : (in_h + S - 1) / S;
    int fixed_w, fixed_h;
    gboolean has_w = gst_structure_get_int (out, "width", &fixed_w);
    gboolean has_h = gst_structure_get_int (out, "height", &fixed_h);
    /* one side fixed by the other element: keep the picture's shape */
    if (has_w && !has_h)
      h = (int) gst_util_uint64_scale_int_round (fixed_w, in_h, in_w);
    else if (has_h && !has_w)
      w = (int) gst_util_uint64_scale_int_round (fixed_h, in_w, in_h);
    if (gst_structure_has_field (out, "width"))
      gst_structure_fixate_field_nearest_int (out, "width", w);
    if (gst_structure_has_field (out, "height"))
      gst_structure_fixate_field_nearest_int (out, "height", h);
  }
  return gst_caps_fixate (othercaps);
}

gboolean
gst_superres_size_ok (int in_w, int in_h, int out_w, int out_h)
{
  return out_w >= in_w && out_h >= in_h && out_w <= S * in_w && out_h <= S * in_h;
}
