/**
 * SECTION:element-qualitymeter
 * @title: qualitymeter
 *
 * Measures a video stream against a reference: per frame PSNR (Y, U, V and all planes
 * together) and SSIM (Y), posted as "qualitymeter" element messages; at EOS a
 * "qualitymeter-summary" message and, with #GstQualitymeter:location, a JSON or CSV file.
 * The `test` stream passes through to the src pad unchanged. Frames are paired by running
 * time; an unpaired test frame passes unmeasured and is counted.
 *
 * ## Example launch line
 * |[
 * gst-launch-1.0 qualitymeter name=q location=psnr.json ! fakesink \
 *   filesrc location=hr.mkv ! decodebin ! q.reference \
 *   filesrc location=lr.mkv ! decodebin ! superres ! q.test
 * ]|
 */
#include "gstqualitymeter.h"

#include <gst/video/video.h>
#include <json-glib/json-glib.h>
#include <sr-core/sr-core.h>
#include <errno.h>
#include <glib/gstdio.h>
#include <math.h>
#include <string.h>

GST_DEBUG_CATEGORY_STATIC (gst_qualitymeter_debug);
#define GST_CAT_DEFAULT gst_qualitymeter_debug

#define CAPS GST_VIDEO_CAPS_MAKE ("{ I420, NV12, Y42B, Y444, GRAY8 }")

/* what the summary keeps of one field */
typedef struct {
  double sum, min;
  guint64 n;
} Running;

typedef struct {
  guint64 index;
  GstClockTime pts;
  double psnr[3]; /* Y, U, V; NAN where the format has no such plane */
  double psnr_all;
  double ssim_y;  /* NAN below 11x11 */
} FrameScore;

struct _GstQualitymeter {
  GstAggregator parent;
  GstAggregatorPad *ref_pad, *test_pad;
  char *location;

  /* streaming state */
  GstVideoInfo ref_info, test_info;
  gboolean have_ref_info, have_test_info;
  guint64 frames;
  Running totals[5]; /* per entry of fields[] */
  FILE *report;      /* location, written as frames come */
  gboolean report_csv;
  guint64 unmatched_test, unmatched_ref;
  gboolean summarized;
};

enum {
  PROP_0,
  PROP_LOCATION,
};

static GstStaticPadTemplate src_template = GST_STATIC_PAD_TEMPLATE ("src", GST_PAD_SRC,
    GST_PAD_ALWAYS, GST_STATIC_CAPS (CAPS));
static GstStaticPadTemplate ref_template = GST_STATIC_PAD_TEMPLATE ("reference", GST_PAD_SINK,
    GST_PAD_ALWAYS, GST_STATIC_CAPS (CAPS));
static GstStaticPadTemplate test_template = GST_STATIC_PAD_TEMPLATE ("test", GST_PAD_SINK,
    GST_PAD_ALWAYS, GST_STATIC_CAPS (CAPS));

G_DEFINE_TYPE (GstQualitymeter, gst_qualitymeter, GST_TYPE_AGGREGATOR);
GST_ELEMENT_REGISTER_DEFINE (qualitymeter, "qualitymeter", GST_RANK_NONE,
    GST_TYPE_QUALITYMETER);

static gboolean
gst_qualitymeter_sink_event (GstAggregator *agg, GstAggregatorPad *pad, GstEvent *event)
{
  GstQualitymeter *self = GST_QUALITYMETER (agg);
  if (GST_EVENT_TYPE (event) == GST_EVENT_CAPS) {
    GstCaps *caps;
    GstVideoInfo info;
    gst_event_parse_caps (event, &caps);
    if (!gst_video_info_from_caps (&info, caps)) {
      gst_event_unref (event);
      return FALSE;
    }
    gboolean is_ref = pad == self->ref_pad;
    GST_OBJECT_LOCK (self);
    if (is_ref) {
      self->ref_info = info;
      self->have_ref_info = TRUE;
    } else {
      self->test_info = info;
      self->have_test_info = TRUE;
    }
    gboolean mismatch = self->have_ref_info && self->have_test_info &&
        (GST_VIDEO_INFO_FORMAT (&self->ref_info) != GST_VIDEO_INFO_FORMAT (&self->test_info) ||
        GST_VIDEO_INFO_WIDTH (&self->ref_info) != GST_VIDEO_INFO_WIDTH (&self->test_info) ||
        GST_VIDEO_INFO_HEIGHT (&self->ref_info) != GST_VIDEO_INFO_HEIGHT (&self->test_info));
    GstVideoInfo ri = self->ref_info, ti = self->test_info;
    GST_OBJECT_UNLOCK (self);
    if (mismatch) {
      GST_ELEMENT_ERROR (self, CORE, NEGOTIATION,
          ("Reference and test streams differ: %s %dx%d vs %s %dx%d.",
              gst_video_format_to_string (GST_VIDEO_INFO_FORMAT (&ri)),
              GST_VIDEO_INFO_WIDTH (&ri), GST_VIDEO_INFO_HEIGHT (&ri),
              gst_video_format_to_string (GST_VIDEO_INFO_FORMAT (&ti)),
              GST_VIDEO_INFO_WIDTH (&ti), GST_VIDEO_INFO_HEIGHT (&ti)),
          ("qualitymeter compares frames of the same format and size"));
      gst_event_unref (event);
      return FALSE;
    }
    if (!is_ref)
      gst_aggregator_set_src_caps (agg, caps);
  }
  return GST_AGGREGATOR_CLASS (gst_qualitymeter_parent_class)->sink_event (agg, pad, event);
}

static SrPlane
component (GstVideoFrame *frame, int c)
{
  SrPlane p = {
    GST_VIDEO_FRAME_COMP_DATA (frame, c), GST_VIDEO_FRAME_COMP_WIDTH (frame, c),
    GST_VIDEO_FRAME_COMP_HEIGHT (frame, c), GST_VIDEO_FRAME_COMP_STRIDE (frame, c),
    GST_VIDEO_FRAME_COMP_PSTRIDE (frame, c),
  };
  return p;
}

static gboolean
measure (GstQualitymeter *self, GstBuffer *ref, GstBuffer *test, FrameScore *score)
{
  GstVideoFrame rf, tf;
  if (!gst_video_frame_map (&rf, &self->ref_info, ref, GST_MAP_READ))
    return FALSE;
  if (!gst_video_frame_map (&tf, &self->test_info, test, GST_MAP_READ)) {
    gst_video_frame_unmap (&rf);
    return FALSE;
  }
  guint64 sse_all = 0, samples_all = 0;
  for (int c = 0; c < 3; c++)
    score->psnr[c] = NAN;
  score->ssim_y = NAN;
  gboolean ok = TRUE;
  for (guint c = 0; c < GST_VIDEO_FRAME_N_COMPONENTS (&rf) && c < 3 && ok; c++) {
    SrPlane a = component (&rf, c), b = component (&tf, c);
    guint64 sse, n = (guint64) a.width * a.height;
    ok = sr_plane_sse (&a, &b, &sse, NULL);
    score->psnr[c] = sr_psnr_from_sse (sse, n);
    sse_all += sse;
    samples_all += n;
    if (c == 0 && a.width >= 11 && a.height >= 11)
      ok = sr_plane_ssim (&a, &b, &score->ssim_y, NULL);
  }
  score->psnr_all = sr_psnr_from_sse (sse_all, samples_all);
  gst_video_frame_unmap (&rf);
  gst_video_frame_unmap (&tf);
  return ok;
}

static void
post_score (GstQualitymeter *self, const FrameScore *s)
{
  GstStructure *st = gst_structure_new ("qualitymeter", "frame", G_TYPE_UINT64, s->index,
      "pts", G_TYPE_UINT64, s->pts, "psnr", G_TYPE_DOUBLE, s->psnr_all,
      "psnr-y", G_TYPE_DOUBLE, s->psnr[0], NULL);
  if (!isnan (s->psnr[1]))
    gst_structure_set (st, "psnr-u", G_TYPE_DOUBLE, s->psnr[1], "psnr-v", G_TYPE_DOUBLE,
        s->psnr[2], NULL);
  if (!isnan (s->ssim_y))
    gst_structure_set (st, "ssim-y", G_TYPE_DOUBLE, s->ssim_y, NULL);
  gst_element_post_message (GST_ELEMENT (self), gst_message_new_element (GST_OBJECT (self), st));
}

static const struct {
  const char *name;
  gsize offset;
} fields[] = {
  { "psnr", G_STRUCT_OFFSET (FrameScore, psnr_all) },
  { "psnr-y", G_STRUCT_OFFSET (FrameScore, psnr) },
  { "psnr-u", G_STRUCT_OFFSET (FrameScore, psnr) + sizeof (double) },
  { "psnr-v", G_STRUCT_OFFSET (FrameScore, psnr) + 2 * sizeof (double) },
  { "ssim-y", G_STRUCT_OFFSET (FrameScore, ssim_y) },
};

G_STATIC_ASSERT (G_N_ELEMENTS (fields) == G_N_ELEMENTS (((GstQualitymeter *) NULL)->totals));

static double
field_value (const FrameScore *s, guint f)
{
  return *(const double *) ((const guint8 *) s + fields[f].offset);
}

/* Running sums of each field (NAN values skipped), so memory stays flat on endless streams. */
static void
accumulate (GstQualitymeter *self, const FrameScore *s)
{
  self->frames++;
  for (guint f = 0; f < G_N_ELEMENTS (fields); f++) {
    double v = field_value (s, f);
    if (isnan (v))
      continue;
    Running *r = &self->totals[f];
    r->min = r->n == 0 ? v : MIN (r->min, v);
    r->sum += v;
    r->n++;
  }
}

static char *
json_text (JsonBuilder *b, gboolean pretty)
{
  g_autoptr (JsonGenerator) gen = json_generator_new ();
  g_autoptr (JsonNode) root = json_builder_get_root (b);
  json_generator_set_root (gen, root);
  json_generator_set_pretty (gen, pretty);
  return json_generator_to_data (gen, NULL);
}

/* Appends one frame's row to the report: written as frames come, never held. */
static void
report_frame (GstQualitymeter *self, const FrameScore *s)
{
  if (!self->report)
    return;
  if (self->report_csv) {
    fprintf (self->report, "%" G_GUINT64_FORMAT ",%" G_GUINT64_FORMAT, s->index, s->pts);
    for (guint f = 0; f < G_N_ELEMENTS (fields); f++) {
      if (isnan (field_value (s, f)))
        fputc (',', self->report);
      else
        fprintf (self->report, ",%.6f", field_value (s, f));
    }
    fputc ('\n', self->report);
    return;
  }
  g_autoptr (JsonBuilder) b = json_builder_new ();
  json_builder_begin_object (b);
  json_builder_set_member_name (b, "frame");
  json_builder_add_int_value (b, s->index);
  json_builder_set_member_name (b, "pts");
  json_builder_add_int_value (b, s->pts);
  for (guint f = 0; f < G_N_ELEMENTS (fields); f++)
    if (!isnan (field_value (s, f))) {
      json_builder_set_member_name (b, fields[f].name);
      json_builder_add_double_value (b, field_value (s, f));
    }
  json_builder_end_object (b);
  g_autofree char *text = json_text (b, FALSE);
  fprintf (self->report, "%s\n    %s", s->index ? "," : "", text);
}

/* Opens the report at start, so a file that cannot be written fails the start; JSON is
 * {"frames": [...], "summary": {...}}, complete at EOS. */
static gboolean
open_report (GstQualitymeter *self)
{
  GST_OBJECT_LOCK (self);
  g_autofree char *location = g_strdup (self->location);
  GST_OBJECT_UNLOCK (self);
  if (!location)
    return TRUE;
  self->report_csv = g_str_has_suffix (location, ".csv");
  self->report = g_fopen (location, "w");
  if (!self->report) {
    int err = errno;
    GST_ELEMENT_ERROR (self, RESOURCE, OPEN_WRITE, ("Could not write \"%s\".", location),
        ("%s", g_strerror (err)));
    return FALSE;
  }
  if (self->report_csv) {
    fputs ("frame,pts", self->report);
    for (guint f = 0; f < G_N_ELEMENTS (fields); f++)
      fprintf (self->report, ",%s", fields[f].name);
    fputc ('\n', self->report);
  } else {
    fputs ("{\n  \"frames\": [", self->report);
  }
  return TRUE;
}

static void
close_report (GstQualitymeter *self, GstStructure *summary)
{
  if (!self->report)
    return;
  if (summary && !self->report_csv) {
    g_autoptr (JsonBuilder) b = json_builder_new ();
    json_builder_begin_object (b);
    for (int i = 0; i < gst_structure_n_fields (summary); i++) {
      const char *name = gst_structure_nth_field_name (summary, i);
      const GValue *v = gst_structure_get_value (summary, name);
      json_builder_set_member_name (b, name);
      if (G_VALUE_HOLDS_DOUBLE (v))
        json_builder_add_double_value (b, g_value_get_double (v));
      else
        json_builder_add_int_value (b, g_value_get_uint64 (v));
    }
    json_builder_end_object (b);
    g_autofree char *text = json_text (b, FALSE);
    fprintf (self->report, "\n  ],\n  \"summary\": %s\n}\n", text);
  }
  if (fclose (self->report) != 0 && summary)
    GST_ELEMENT_ERROR (self, RESOURCE, WRITE, ("Could not write the quality report."),
        ("%s", g_strerror (errno)));
  self->report = NULL;
}

static void
post_summary (GstQualitymeter *self)
{
  if (self->summarized)
    return;
  self->summarized = TRUE;
  GstStructure *st = gst_structure_new ("qualitymeter-summary",
      "frames", G_TYPE_UINT64, self->frames,
      "unmatched-test", G_TYPE_UINT64, self->unmatched_test,
      "unmatched-reference", G_TYPE_UINT64, self->unmatched_ref, NULL);
  for (guint f = 0; f < G_N_ELEMENTS (fields); f++) {
    const Running *r = &self->totals[f];
    if (r->n == 0)
      continue;
    g_autofree char *mean = g_strconcat (fields[f].name, "-mean", NULL);
    g_autofree char *min = g_strconcat (fields[f].name, "-min", NULL);
    gst_structure_set (st, mean, G_TYPE_DOUBLE, r->sum / r->n, min, G_TYPE_DOUBLE, r->min, NULL);
  }
  GST_INFO_OBJECT (self, "summary: %" GST_PTR_FORMAT, st);
  close_report (self, st);
  gst_element_post_message (GST_ELEMENT (self), gst_message_new_element (GST_OBJECT (self), st));
}

/* NONE outside a time segment: such frames pair in arrival order */
static GstClockTime
running_time (GstAggregatorPad *pad, GstBuffer *buf)
{
  if (pad->segment.format != GST_FORMAT_TIME)
    return GST_CLOCK_TIME_NONE;
  return gst_segment_to_running_time (&pad->segment, GST_FORMAT_TIME, GST_BUFFER_PTS (buf));
}

static GstFlowReturn
gst_qualitymeter_aggregate (GstAggregator *agg, gboolean timeout)
{
  GstQualitymeter *self = GST_QUALITYMETER (agg);
  GstBuffer *test = gst_aggregator_pad_peek_buffer (self->test_pad);
  if (!test) {
    if (gst_aggregator_pad_is_eos (self->test_pad)) {
      post_summary (self);
      return GST_FLOW_EOS;
    }
    return GST_AGGREGATOR_FLOW_NEED_DATA;
  }
  GstBuffer *ref = gst_aggregator_pad_peek_buffer (self->ref_pad);
  if (!ref && !gst_aggregator_pad_is_eos (self->ref_pad)) {
    gst_buffer_unref (test);
    return GST_AGGREGATOR_FLOW_NEED_DATA;
  }

  GstClockTime t_test = running_time (self->test_pad, test);
  /* frames pair when their running times are within half a frame (or 1 ms) */
  GstClockTime slack = GST_BUFFER_DURATION_IS_VALID (test) ? GST_BUFFER_DURATION (test) / 2
      : GST_MSECOND;
  if (ref) {
    GstClockTime t_ref = running_time (self->ref_pad, ref);
    if (GST_CLOCK_TIME_IS_VALID (t_ref) && GST_CLOCK_TIME_IS_VALID (t_test) &&
        t_ref + slack < t_test) {
      /* a reference frame with no test frame: skip it */
      self->unmatched_ref++;
      gst_buffer_unref (ref);
      gst_buffer_unref (test);
      gst_aggregator_pad_drop_buffer (self->ref_pad);
      return GST_FLOW_OK;
    }
    if (GST_CLOCK_TIME_IS_VALID (t_ref) && GST_CLOCK_TIME_IS_VALID (t_test) &&
        t_ref > t_test + slack) {
      gst_clear_buffer (&ref); /* the test frame has no reference: pass it unmeasured */
    }
  }

  if (ref) {
    FrameScore score = { self->frames, GST_BUFFER_PTS (test), { 0 }, 0, 0 };
    if (!measure (self, ref, test, &score)) {
      GST_ELEMENT_ERROR (self, STREAM, FAILED, ("Could not measure a frame."),
          ("mapping or measuring frame %" G_GUINT64_FORMAT " failed", self->frames));
      gst_buffer_unref (ref);
      gst_buffer_unref (test);
      return GST_FLOW_ERROR;
    }
    report_frame (self, &score);
    accumulate (self, &score);
    post_score (self, &score);
    gst_buffer_unref (ref);
    gst_aggregator_pad_drop_buffer (self->ref_pad);
  } else {
    self->unmatched_test++;
  }
  gst_aggregator_pad_drop_buffer (self->test_pad);
  return gst_aggregator_finish_buffer (agg, test);
}

static gboolean
gst_qualitymeter_start (GstAggregator *agg)
{
  GstQualitymeter *self = GST_QUALITYMETER (agg);
  self->frames = 0;
  memset (self->totals, 0, sizeof self->totals);
  self->unmatched_test = self->unmatched_ref = 0;
  self->summarized = FALSE;
  self->have_ref_info = self->have_test_info = FALSE;
  return open_report (self);
}

static gboolean
gst_qualitymeter_stop (GstAggregator *agg)
{
  close_report (GST_QUALITYMETER (agg), NULL); /* stopped before EOS: rows so far, no summary */
  return TRUE;
}

static void
gst_qualitymeter_set_property (GObject *object, guint prop_id, const GValue *value,
    GParamSpec *pspec)
{
  GstQualitymeter *self = GST_QUALITYMETER (object);
  switch (prop_id) {
    case PROP_LOCATION:
      GST_OBJECT_LOCK (self);
      g_free (self->location);
      self->location = g_value_dup_string (value);
      GST_OBJECT_UNLOCK (self);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
  }
}

static void
gst_qualitymeter_get_property (GObject *object, guint prop_id, GValue *value,
    GParamSpec *pspec)
{
  GstQualitymeter *self = GST_QUALITYMETER (object);
  switch (prop_id) {
    case PROP_LOCATION:
      GST_OBJECT_LOCK (self);
      g_value_set_string (value, self->location);
      GST_OBJECT_UNLOCK (self);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
  }
}

static void
gst_qualitymeter_finalize (GObject *object)
{
  GstQualitymeter *self = GST_QUALITYMETER (object);
  g_free (self->location);
  G_OBJECT_CLASS (gst_qualitymeter_parent_class)->finalize (object);
}

static void
gst_qualitymeter_class_init (GstQualitymeterClass *klass)
{
  GObjectClass *gobject_class = G_OBJECT_CLASS (klass);
  GstElementClass *element_class = GST_ELEMENT_CLASS (klass);
  GstAggregatorClass *agg_class = GST_AGGREGATOR_CLASS (klass);

  GST_DEBUG_CATEGORY_INIT (gst_qualitymeter_debug, "qualitymeter", 0, "PSNR/SSIM meter");

  gobject_class->set_property = gst_qualitymeter_set_property;
  gobject_class->get_property = gst_qualitymeter_get_property;
  gobject_class->finalize = gst_qualitymeter_finalize;
  g_object_class_install_property (gobject_class, PROP_LOCATION,
      g_param_spec_string ("location", "Location",
          "Write per-frame scores here as they come and the summary at EOS: CSV if the name "
          "ends in .csv, else JSON", NULL,
          G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS | GST_PARAM_MUTABLE_READY));

  gst_element_class_set_static_metadata (element_class, "Video quality meter",
      "Filter/Analyzer/Video", "PSNR and SSIM of a test stream against a reference",
      "gst-superres developers");
  gst_element_class_add_static_pad_template_with_gtype (element_class, &src_template,
      GST_TYPE_AGGREGATOR_PAD);
  gst_element_class_add_static_pad_template_with_gtype (element_class, &ref_template,
      GST_TYPE_AGGREGATOR_PAD);
  gst_element_class_add_static_pad_template_with_gtype (element_class, &test_template,
      GST_TYPE_AGGREGATOR_PAD);

  agg_class->sink_event = GST_DEBUG_FUNCPTR (gst_qualitymeter_sink_event);
  agg_class->aggregate = GST_DEBUG_FUNCPTR (gst_qualitymeter_aggregate);
  agg_class->start = GST_DEBUG_FUNCPTR (gst_qualitymeter_start);
  agg_class->stop = GST_DEBUG_FUNCPTR (gst_qualitymeter_stop);
}

static GstAggregatorPad *
add_sink_pad (GstQualitymeter *self, const char *name)
{
  GstPadTemplate *templ = gst_element_class_get_pad_template (GST_ELEMENT_GET_CLASS (self), name);
  GstAggregatorPad *pad = g_object_new (GST_TYPE_AGGREGATOR_PAD, "name", name,
      "direction", GST_PAD_SINK, "template", templ, NULL);
  gst_element_add_pad (GST_ELEMENT (self), GST_PAD (pad));
  return pad;
}

static void
gst_qualitymeter_init (GstQualitymeter *self)
{
  self->ref_pad = add_sink_pad (self, "reference");
  self->test_pad = add_sink_pad (self, "test");
}
