/**
 * SECTION:element-superres
 * @title: superres
 *
 * Upscales raw video with a small convolutional network on the luma plane (sr-core, x2)
 * and bicubic interpolation on the chroma planes, in the same format. The output is any size
 * from 1x to 2x the input on each axis that downstream asks for (2x when free): the
 * network's 2x picture is resampled to it; the input size is passthrough.
 *
 * ## Example launch line
 * |[
 * gst-launch-1.0 filesrc location=in.mp4 ! decodebin ! videoconvert ! superres ! videoconvert ! autovideosink
 * ]|
 *
 * A missing or corrupt model fails the READY->PAUSED change with an error naming the file.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include "gstsuperres.h"
#include "gstsuperres-caps.h"
#include "gstsuperres-live.h"

GST_DEBUG_CATEGORY_STATIC (gst_superres_debug);
#define GST_CAT_DEFAULT gst_superres_debug

#define FORMATS "{ I420, YV12, NV12, NV21, Y42B, Y444, GRAY8, I420_10LE, P010_10LE, I422_10LE }"

struct _GstSuperres {
  GstVideoFilter parent;

  /* properties, guarded by the object lock */
  char *model_path;
  char *device;
  SrBackendKind backend;
  guint n_threads;
  double exit_threshold; /* < 0: the model's default */
  double target_fps;     /* > 0: raise the threshold while frames take longer than 1/fps */
  double boost;          /* what target-fps adds to the threshold now */
  gboolean post_stats;
  /* what runs, for the active-* properties (NULL when stopped), guarded by the object lock */
  char *active_backend, *active_device, *active_precision;
  /* running sums for the "stats" property, guarded by the object lock */
  guint64 frames, dropped, degraded;
  GstSuperresLive live;  /* latency and degrading, guarded by the object lock */
  double sum_depth, sum_macs_fraction, sum_seconds, last_threshold;

  /* between start and stop */
  SrModel *model;
  SrEngine *engine;       /* every format, 10-bit included, runs on it */
  /* negotiated: the output is not 2x, so the network's luma is resampled to it (in the
   * same pass on a GPU backend) and the chroma resampled from the input */
  gboolean resample;
};

enum {
  PROP_0,
  PROP_MODEL,
  PROP_BACKEND,
  PROP_N_THREADS,
  PROP_DEVICE,
  PROP_EXIT_THRESHOLD,
  PROP_TARGET_FPS,
  PROP_POST_STATS,
  PROP_STATS,
  PROP_ACTIVE_BACKEND,
  PROP_ACTIVE_DEVICE,
  PROP_ACTIVE_PRECISION,
};

#define DEFAULT_EXIT_THRESHOLD -1.0

GType
gst_superres_backend_get_type (void)
{
  static const GEnumValue values[] = {
    { SR_BACKEND_AUTO, "Automatic: a hardware GPU (Vulkan, then OpenCL), else the CPU", "auto" },
    { SR_BACKEND_CPU, "CPU: worker threads, SIMD kernels", "cpu" },
    { SR_BACKEND_VULKAN, "Vulkan compute, on any Vulkan device", "vulkan" },
    { SR_BACKEND_OPENCL, "OpenCL, on any OpenCL device", "opencl" },
    { 0, NULL, NULL },
  };
  static gsize type = 0;
  if (g_once_init_enter (&type))
    g_once_init_leave (&type, g_enum_register_static ("GstSuperresBackend", values));
  return type;
}

/* interlace-mode is left open so interlaced input reaches input_caps_usable, which names
 * deinterlace, instead of failing upstream with a bare not-negotiated */
#define CAPS(w0, w1) "video/x-raw, format = (string) " FORMATS ", " \
    "width = (int) [ " #w0 ", " #w1 " ], height = (int) [ " #w0 ", " #w1 " ], " \
    "framerate = (fraction) [ 0/1, 2147483647/1 ]"

static GstStaticPadTemplate sink_template = GST_STATIC_PAD_TEMPLATE ("sink",
    GST_PAD_SINK, GST_PAD_ALWAYS, GST_STATIC_CAPS (CAPS (8, 16384)));
static GstStaticPadTemplate src_template = GST_STATIC_PAD_TEMPLATE ("src",
    GST_PAD_SRC, GST_PAD_ALWAYS, GST_STATIC_CAPS (CAPS (8, 32768)));

G_DEFINE_TYPE (GstSuperres, gst_superres, GST_TYPE_VIDEO_FILTER);
GST_ELEMENT_REGISTER_DEFINE (superres, "superres", GST_RANK_NONE, GST_TYPE_SUPERRES);

static GstCaps *
gst_superres_transform_caps (GstBaseTransform *trans, GstPadDirection direction,
    GstCaps *caps, GstCaps *filter)
{
  GstCaps *result = gst_superres_caps_transform (direction, caps, filter);
  GST_DEBUG_OBJECT (trans, "%s %" GST_PTR_FORMAT " -> %" GST_PTR_FORMAT,
      direction == GST_PAD_SINK ? "up" : "down", caps, result);
  return result;
}

static GstCaps *
gst_superres_fixate_caps (GstBaseTransform *trans, GstPadDirection direction, GstCaps *caps,
    GstCaps *othercaps)
{
  GstCaps *result = gst_superres_caps_fixate (direction, caps, othercaps);
  GST_DEBUG_OBJECT (trans, "fixated to %" GST_PTR_FORMAT, result);
  return result;
}

/* New input caps that cannot work fail here with a message saying why and what would work,
 * rather than a bare not-negotiated: interlaced video, or a downstream that takes no size
 * between 1x and 2x of the input. */
static gboolean
input_caps_usable (GstSuperres *self, GstCaps *caps)
{
  GstBaseTransform *trans = GST_BASE_TRANSFORM (self);
  GstVideoInfo info;
  if (!gst_video_info_from_caps (&info, caps))
    return TRUE; /* incomplete caps: the base class refuses them */
  if (GST_VIDEO_INFO_IS_INTERLACED (&info)) {
    GST_ELEMENT_ERROR (self, STREAM, FORMAT,
        ("superres needs progressive video: put deinterlace before it."),
        ("interlaced input %" GST_PTR_FORMAT, caps));
    return FALSE;
  }
  GstCaps *possible = gst_superres_caps_transform (GST_PAD_SINK, caps, NULL);
  GstCaps *accepted = gst_pad_peer_query_caps (trans->srcpad, possible);
  gboolean ok = !gst_caps_is_empty (accepted);
  if (!ok) {
    GstCaps *downstream = gst_pad_peer_query_caps (trans->srcpad, NULL);
    int w = GST_VIDEO_INFO_WIDTH (&info), h = GST_VIDEO_INFO_HEIGHT (&info);
    GST_ELEMENT_ERROR (self, CORE, NEGOTIATION,
        ("superres makes 1x to 2x its input on each axis: from %dx%d, widths %d to %d and "
            "heights %d to %d, in the same format; downstream takes none of these.",
            w, h, w, GST_SUPERRES_MAX_SCALE * w, h, GST_SUPERRES_MAX_SCALE * h),
        ("downstream accepts %" GST_PTR_FORMAT, downstream));
    gst_caps_unref (downstream);
  }
  gst_caps_unref (accepted);
  gst_caps_unref (possible);
  return ok;
}

/* QoS events say where the sink is, for the late-frame check (gstsuperres-live.c). Pointer
 * coordinates from downstream are in the output picture: scaled back to the input, as
 * videoscale does, for elements upstream that react to them. */
static gboolean
gst_superres_src_event (GstBaseTransform *trans, GstEvent *event)
{
  GstVideoFilter *filter = GST_VIDEO_FILTER (trans);
  double x, y;
  if (GST_EVENT_TYPE (event) == GST_EVENT_QOS) {
    GstClockTimeDiff diff;
    GstClockTime timestamp;
    gst_event_parse_qos (event, NULL, NULL, &diff, &timestamp);
    GST_OBJECT_LOCK (trans);
    gst_superres_live_qos (&GST_SUPERRES (trans)->live, timestamp, diff);
    GST_OBJECT_UNLOCK (trans);
  }
  if (GST_EVENT_TYPE (event) == GST_EVENT_NAVIGATION && filter->negotiated &&
      gst_navigation_event_get_coordinates (event, &x, &y)) {
    event = gst_event_make_writable (event);
    gst_navigation_event_set_coordinates (event,
        x * GST_VIDEO_INFO_WIDTH (&filter->in_info) / GST_VIDEO_INFO_WIDTH (&filter->out_info),
        y * GST_VIDEO_INFO_HEIGHT (&filter->in_info) / GST_VIDEO_INFO_HEIGHT (&filter->out_info));
  }
  return GST_BASE_TRANSFORM_CLASS (gst_superres_parent_class)->src_event (trans, event);
}

/* Metas that only describe the picture (video, orientation, colorspace tags) are copied;
 * those that also carry sizes or positions (regions of interest) are scaled to the output
 * with their own transform, as videoscale does; others go to the base class. */
static gboolean
gst_superres_transform_meta (GstBaseTransform *trans, GstBuffer *outbuf, GstMeta *meta,
    GstBuffer *inbuf)
{
  static const char *const picture_tags[] = { GST_META_TAG_VIDEO_STR,
    GST_META_TAG_VIDEO_ORIENTATION_STR, GST_META_TAG_VIDEO_COLORSPACE_STR,
    GST_META_TAG_VIDEO_SIZE_STR, NULL };
  const GstMetaInfo *info = meta->info;
  const char *const *tags = gst_meta_api_type_get_tags (info->api);
  for (; tags && *tags; tags++)
    if (!g_strv_contains (picture_tags, *tags))
      return GST_BASE_TRANSFORM_CLASS (gst_superres_parent_class)->transform_meta (trans,
          outbuf, meta, inbuf);
  if (!gst_meta_api_type_has_tag (info->api,
          g_quark_from_static_string (GST_META_TAG_VIDEO_SIZE_STR)))
    return TRUE;
  GstVideoFilter *filter = GST_VIDEO_FILTER (trans);
  GstVideoMetaTransform scale = { &filter->in_info, &filter->out_info };
  if (info->transform_func)
    info->transform_func (outbuf, meta, inbuf, gst_video_meta_transform_scale_get_quark (),
        &scale);
  return FALSE; /* transformed here, not to be copied as well */
}

/* The latency query: what is upstream, plus the time a frame takes here (measured). */
static gboolean
gst_superres_query (GstBaseTransform *trans, GstPadDirection direction, GstQuery *query)
{
  if (!GST_BASE_TRANSFORM_CLASS (gst_superres_parent_class)->query (trans, direction, query))
    return FALSE;
  if (direction == GST_PAD_SRC && GST_QUERY_TYPE (query) == GST_QUERY_LATENCY &&
      !gst_base_transform_is_passthrough (trans)) {
    gboolean live;
    GstClockTime min, max;
    gst_query_parse_latency (query, &live, &min, &max);
    GST_OBJECT_LOCK (trans);
    GstSuperres *self = GST_SUPERRES (trans);
    self->live.live = live;
    GstClockTime own = self->live.latency;
    GST_OBJECT_UNLOCK (trans);
    GST_DEBUG_OBJECT (trans, "adding %" GST_TIME_FORMAT " of latency", GST_TIME_ARGS (own));
    gst_query_set_latency (query, live, min + own, GST_CLOCK_TIME_IS_VALID (max) ? max + own :
        max);
  }
  return TRUE;
}

/* Counts the late frames the base class's QoS drops, for "stats". */
static GstFlowReturn
gst_superres_submit_input_buffer (GstBaseTransform *trans, gboolean is_discont,
    GstBuffer *input)
{
  GstFlowReturn ret = GST_BASE_TRANSFORM_CLASS (gst_superres_parent_class)->submit_input_buffer
      (trans, is_discont, input);
  if (ret == GST_BASE_TRANSFORM_FLOW_DROPPED) {
    GST_OBJECT_LOCK (trans);
    GST_SUPERRES (trans)->dropped++;
    GST_OBJECT_UNLOCK (trans);
  }
  return ret;
}

static gboolean
gst_superres_sink_event (GstBaseTransform *trans, GstEvent *event)
{
  if (GST_EVENT_TYPE (event) == GST_EVENT_CAPS) {
    GstCaps *caps;
    gst_event_parse_caps (event, &caps);
    if (!input_caps_usable (GST_SUPERRES (trans), caps)) {
      gst_event_unref (event);
      return FALSE;
    }
  }
  return GST_BASE_TRANSFORM_CLASS (gst_superres_parent_class)->sink_event (trans, event);
}

/* The engine frames run on, published in the active-* properties (NULL: stopped). */
static void
set_active_engine (GstSuperres *self, SrEngine *engine)
{
  GST_OBJECT_LOCK (self);
  g_free (self->active_backend);
  g_free (self->active_device);
  g_free (self->active_precision);
  self->active_backend = engine ? g_strdup (sr_backend_kind_name (sr_engine_get_backend (engine)))
      : NULL;
  self->active_device = engine ? g_strdup (sr_engine_get_device_name (engine)) : NULL;
  self->active_precision = engine ? g_strdup (sr_engine_get_precision (engine)) : NULL;
  GST_OBJECT_UNLOCK (self);
  const char *active[] = { "active-backend", "active-device", "active-precision" };
  for (guint i = 0; i < G_N_ELEMENTS (active); i++)
    g_object_notify (G_OBJECT (self), active[i]);
}

static gboolean
gst_superres_start (GstBaseTransform *trans)
{
  GstSuperres *self = GST_SUPERRES (trans);
  GError *error = NULL;

  GST_OBJECT_LOCK (self);
  char *path = self->model_path ? g_strdup (self->model_path) : sr_model_find_default ();
  char *device = g_strdup (self->device);
  SrEngineConfig config = { self->backend, self->n_threads, 0, device };
  GST_OBJECT_UNLOCK (self);

  if (!path) {
    GST_ELEMENT_ERROR (self, RESOURCE, NOT_FOUND, ("No super-resolution model found."),
        ("the default model is not installed; set the \"model\" property or SR_MODEL_PATH"));
    return FALSE;
  }
  self->model = sr_model_load (path, &error);
  if (!self->model) {
    GST_ELEMENT_ERROR (self, RESOURCE, OPEN_READ,
        ("Could not load super-resolution model \"%s\".", path), ("%s", error->message));
    goto fail;
  }
  GST_INFO_OBJECT (self, "model %s (%s), %" G_GUINT64_FORMAT " MACs per pixel", path,
      sr_model_get_name (self->model), sr_model_get_macs_per_pixel (self->model));

  /* a backend named explicitly must work or fail the start: silently running elsewhere
   * would hide a broken driver; only auto falls back, with a warning */
  self->engine = sr_engine_new (self->model, &config, &error);
  g_free (device);
  if (!self->engine) {
    GST_ELEMENT_ERROR (self, LIBRARY, INIT, ("Could not start the %s super-resolution backend.",
            sr_backend_kind_name (config.backend)), ("%s", error->message));
    goto fail;
  }
  const char *note = sr_engine_get_fallback_note (self->engine);
  if (note && sr_engine_get_backend (self->engine) == SR_BACKEND_CPU)
    GST_ELEMENT_WARNING (self, LIBRARY, INIT, ("No GPU backend could start; using the CPU."),
        ("%s", note));
  else if (note)
    GST_ELEMENT_WARNING (self, LIBRARY, INIT, ("Falling back to the %s backend.",
            sr_backend_kind_name (sr_engine_get_backend (self->engine))), ("%s", note));
  GST_INFO_OBJECT (self, "running on the %s backend (%s)",
      sr_backend_kind_name (sr_engine_get_backend (self->engine)),
      sr_engine_get_device_name (self->engine));
  set_active_engine (self, self->engine);
  GST_OBJECT_LOCK (self);
  self->frames = self->dropped = self->degraded = 0;
  gst_superres_live_reset (&self->live);
  self->sum_depth = self->sum_macs_fraction = self->sum_seconds = 0;
  self->boost = 0;
  GST_OBJECT_UNLOCK (self);
  g_free (path);
  return TRUE;

fail:
  g_clear_error (&error);
  g_free (path);
  g_clear_pointer (&self->model, sr_model_free);
  return FALSE;
}

static gboolean
gst_superres_stop (GstBaseTransform *trans)
{
  GstSuperres *self = GST_SUPERRES (trans);
  set_active_engine (self, NULL);
  g_clear_pointer (&self->engine, sr_engine_free);
  g_clear_pointer (&self->model, sr_model_free);
  return TRUE;
}

static void account_time (GstSuperres *self, double seconds, gboolean degraded);

/* Live: the first frame's latency must be known before it arrives, so a blank frame of the
 * negotiated sizes goes through the network (and the resampling) once, x 1.25 for the
 * chroma it does not time; the frame also sets up the backend for those sizes. */
static void
measure_latency (GstSuperres *self, const GstVideoInfo *in_info, const GstVideoInfo *out_info)
{
  /* the pipeline's latency query may not have come through here yet: ask upstream */
  GstQuery *query = gst_query_new_latency ();
  gboolean live = FALSE;
  if (gst_pad_peer_query (GST_BASE_TRANSFORM (self)->sinkpad, query))
    gst_query_parse_latency (query, &live, NULL, NULL);
  gst_query_unref (query);
  GST_OBJECT_LOCK (self);
  self->live.live = live;
  gboolean needed = live && self->live.full_mean == 0;
  GST_OBJECT_UNLOCK (self);
  if (!needed)
    return;
  const int w = GST_VIDEO_INFO_WIDTH (in_info), h = GST_VIDEO_INFO_HEIGHT (in_info);
  const int bits = GST_VIDEO_FORMAT_INFO_DEPTH (in_info->finfo, 0), sample = bits > 8 ? 2 : 1;
  const int shift = GST_VIDEO_FORMAT_INFO_SHIFT (in_info->finfo, 0);
  SrPlane src = { g_malloc0 ((gsize) w * h * sample), w, h, (gsize) w * sample, sample, bits,
    shift };
  const int W = GST_VIDEO_INFO_WIDTH (out_info), H = GST_VIDEO_INFO_HEIGHT (out_info);
  SrPlane dst = { g_malloc ((gsize) W * H * sample), W, H, (gsize) W * sample, sample, bits,
    shift };
  gint64 t0 = g_get_monotonic_time ();
  if (sr_engine_upscale_luma_resampled (self->engine, &src, &dst, NULL))
    account_time (self, 1.25 * (g_get_monotonic_time () - t0) / 1e6, FALSE);
  g_free (src.data);
  g_free (dst.data);
}

static gboolean
gst_superres_set_info (GstVideoFilter *filter, GstCaps *incaps, GstVideoInfo *in_info,
    GstCaps *outcaps, GstVideoInfo *out_info)
{
  GstSuperres *self = GST_SUPERRES (filter);
  const int w = GST_VIDEO_INFO_WIDTH (in_info), h = GST_VIDEO_INFO_HEIGHT (in_info);
  const int W = GST_VIDEO_INFO_WIDTH (out_info), H = GST_VIDEO_INFO_HEIGHT (out_info);
  if (GST_VIDEO_INFO_FORMAT (in_info) != GST_VIDEO_INFO_FORMAT (out_info) ||
      !gst_superres_size_ok (w, h, W, H)) {
    GST_ERROR_OBJECT (filter, "output caps %" GST_PTR_FORMAT " are not 1x to 2x of %"
        GST_PTR_FORMAT, outcaps, incaps);
    return FALSE;
  }
  /* the input size asked downstream: the buffers go through untouched */
  gst_base_transform_set_passthrough (GST_BASE_TRANSFORM (filter), W == w && H == h);
  self->resample = (W != GST_SUPERRES_MAX_SCALE * w || H != GST_SUPERRES_MAX_SCALE * h) &&
      !(W == w && H == h);
  GError *error = NULL;
  if (!(W == w && H == h) && !sr_engine_check_frame_size (self->engine, w, h, &error)) {
    GST_ELEMENT_ERROR (self, CORE, NEGOTIATION, ("Frames of %dx%d are too large to upscale.",
            w, h), ("%s", error->message));
    g_clear_error (&error);
    return FALSE;
  }
  if (W != w || H != h)
    measure_latency (self, in_info, out_info);
  GST_INFO_OBJECT (filter, "%dx%d -> %dx%d: %s", w, h, W, H, W == w && H == h ? "passthrough"
      : self->resample ? "network x2 resampled in the same pass" : "network x2");
  return TRUE;
}

static SrPlane
frame_component (GstVideoFrame *frame, int comp)
{
  SrPlane p = {
    GST_VIDEO_FRAME_COMP_DATA (frame, comp),
    GST_VIDEO_FRAME_COMP_WIDTH (frame, comp),
    GST_VIDEO_FRAME_COMP_HEIGHT (frame, comp),
    GST_VIDEO_FRAME_COMP_STRIDE (frame, comp),
    GST_VIDEO_FRAME_COMP_PSTRIDE (frame, comp),
    GST_VIDEO_FRAME_COMP_DEPTH (frame, comp),
    GST_VIDEO_FORMAT_INFO_SHIFT (frame->info.finfo, comp),
  };
  /* GStreamer 1.22 gives the V of P010 one byte into the pair, where a 16-bit sample cannot
   * start: it is the second word */
  if (p.bits > 8 && GST_VIDEO_FORMAT_INFO_POFFSET (frame->info.finfo, comp) % 2)
    p.data++;
  return p;
}

/* What one unit of boost adds to the threshold: the model's default threshold over the
 * ghost model's (0.03 dB), so that target-fps steers alike whatever unit a model's predictor
 * speaks (dB of PSNR, or squared error in 8-bit levels: docs/architecture.md). */
static double
boost_unit (GstSuperres *self)
{
  const double base = sr_model_get_default_exit_threshold (self->model);
  return base > 0 ? base / 0.03 : 1.0;
}

/* target-fps: trade quality for time before frames are late. A frame over budget raises
 * the threshold quickly; one well under it lowers it back slowly. Called with the lock. */
static void
steer_threshold (GstSuperres *self, const SrFrameStats *st)
{
  if (self->target_fps <= 0 || st->max_depth == 0) {
    self->boost = 0;
    return;
  }
  double budget = 1.0 / self->target_fps;
  if (st->seconds > budget)
    self->boost = MIN (self->boost * 1.3 + 0.02, 20.0);
  else if (st->seconds < 0.75 * budget)
    self->boost = self->boost < 0.005 ? 0 : self->boost * 0.85;
}

static void
account_frame (GstSuperres *self, GstClockTime pts)
{
  SrFrameStats st;
  sr_engine_get_stats (self->engine, &st);
  double fraction = st.macs_per_pixel_full > 0 ? st.macs_per_pixel / st.macs_per_pixel_full : 1;
  GST_OBJECT_LOCK (self);
  steer_threshold (self, &st);
  self->frames++;
  self->sum_depth += st.mean_depth;
  self->sum_macs_fraction += fraction;
  self->sum_seconds += st.seconds;
  gboolean post = self->post_stats;
  double threshold = self->last_threshold;
  GST_OBJECT_UNLOCK (self);
  if (!post)
    return;
  GValue depths = G_VALUE_INIT, v = G_VALUE_INIT;
  gst_value_array_init (&depths, st.max_depth);
  g_value_init (&v, G_TYPE_INT);
  for (int d = 1; d <= st.max_depth; d++) {
    g_value_set_int (&v, st.tiles_at_depth[d]);
    gst_value_array_append_value (&depths, &v);
  }
  g_value_unset (&v);
  GstSegment *segment = &GST_BASE_TRANSFORM (self)->segment;
  GstStructure *s = gst_structure_new ("superres-stats", "pts", G_TYPE_UINT64, pts,
      "running-time", G_TYPE_UINT64,
      gst_segment_to_running_time (segment, GST_FORMAT_TIME, pts),
      "stream-time", G_TYPE_UINT64, gst_segment_to_stream_time (segment, GST_FORMAT_TIME, pts),
      "exit-threshold", G_TYPE_DOUBLE, threshold, "tiles", G_TYPE_INT, st.n_tiles,
      "mean-depth", G_TYPE_DOUBLE, st.mean_depth, "max-depth", G_TYPE_INT, st.max_depth,
      "macs-per-pixel", G_TYPE_DOUBLE, st.macs_per_pixel,
      "macs-per-pixel-full", G_TYPE_DOUBLE, st.macs_per_pixel_full,
      "macs-fraction", G_TYPE_DOUBLE, fraction, "seconds", G_TYPE_DOUBLE, st.seconds, NULL);
  gst_structure_take_value (s, "tiles-at-depth", &depths);
  gst_element_post_message (GST_ELEMENT (self), gst_message_new_element (GST_OBJECT (self), s));
}

/* Interpolation to the output size: chroma always, luma for a degraded frame. */
static gboolean
interpolate (GstSuperres *self, SrEngine *engine, const SrPlane *src, SrPlane *dst,
    GError **error)
{
  return self->resample ? sr_engine_resample (engine, src, dst, error)
      : sr_engine_bicubic_x2 (engine, src, dst, error);
}

/* The clock's running time now, or GST_CLOCK_TIME_NONE without a clock. */
static GstClockTime
clock_running_time (GstElement *element)
{
  GstClock *clock = gst_element_get_clock (element);
  if (!clock)
    return GST_CLOCK_TIME_NONE;
  GstClockTime now = gst_clock_get_time (clock), base = gst_element_get_base_time (element);
  gst_object_unref (clock);
  return now > base ? now - base : 0;
}

/* Records how long a frame took; a frame through the network that needs more latency than
 * reported posts a latency message, so the pipeline asks again. */
static void
account_time (GstSuperres *self, double seconds, gboolean degraded)
{
  gboolean has_exits = sr_model_get_max_depth (self->model) > 0;
  GST_OBJECT_LOCK (self);
  self->degraded += degraded;
  double budget = self->target_fps > 0 ? 1 / self->target_fps : 0;
  gboolean grew = gst_superres_live_account (&self->live, seconds, degraded, budget, has_exits);
  GstClockTime latency = self->live.latency;
  GST_OBJECT_UNLOCK (self);
  if (grew) {
    GST_INFO_OBJECT (self, "latency now %" GST_TIME_FORMAT, GST_TIME_ARGS (latency));
    gst_element_post_message (GST_ELEMENT (self), gst_message_new_latency (GST_OBJECT (self)));
  }
}

static GstFlowReturn
gst_superres_transform_frame (GstVideoFilter *filter, GstVideoFrame *in, GstVideoFrame *out)
{
  GstSuperres *self = GST_SUPERRES (filter);
  GError *error = NULL;
  SrPlane src = frame_component (in, 0), dst = frame_component (out, 0);
  GstClockTime rt = gst_segment_to_running_time (&GST_BASE_TRANSFORM (self)->segment,
      GST_FORMAT_TIME, GST_BUFFER_PTS (in->buffer));
  GstClockTime now = clock_running_time (GST_ELEMENT (self));
  gboolean has_exits = sr_model_get_max_depth (self->model) > 0;
  GST_OBJECT_LOCK (self);
  double threshold = (self->exit_threshold >= 0 ? self->exit_threshold
      : sr_model_get_default_exit_threshold (self->model)) + self->boost * boost_unit (self);
  self->last_threshold = threshold;
  gboolean degrade = gst_superres_live_should_degrade (&self->live, rt, now,
      self->target_fps > 0 ? 1 / self->target_fps : 0, has_exits);
  GST_LOG_OBJECT (self, "running time %" GST_TIME_FORMAT ", clock %" GST_TIME_FORMAT
      ", frames take %.1f ms, latency %" GST_TIME_FORMAT "%s", GST_TIME_ARGS (rt),
      GST_TIME_ARGS (now), 1000 * self->live.full_mean, GST_TIME_ARGS (self->live.latency),
      degrade ? ": degraded" : "");
  GST_OBJECT_UNLOCK (self);
  SrEngine *engine = self->engine;
  sr_engine_set_exit_threshold (engine, threshold);
  gint64 t0 = g_get_monotonic_time ();
  /* other sizes than 2x: the network's 2x luma resampled, the chroma resampled directly;
   * a frame that would be late: the luma interpolated too */
  gboolean ok;
  if (degrade)
    ok = interpolate (self, engine, &src, &dst, &error);
  else
    ok = sr_engine_upscale_luma_resampled (engine, &src, &dst, &error);
  if (ok && !degrade)
    account_frame (self, GST_BUFFER_PTS (in->buffer));
  for (guint c = 1; ok && c < GST_VIDEO_FRAME_N_COMPONENTS (in); c++) {
    src = frame_component (in, c);
    dst = frame_component (out, c);
    ok = interpolate (self, engine, &src, &dst, &error);
  }
  g_autofree char *failover = sr_engine_take_failover_note (engine);
  if (failover)
    GST_ELEMENT_WARNING (self, LIBRARY, FAILED, ("The GPU backend failed; continuing on the CPU."),
        ("%s", failover));
  if (!ok) {
    GST_ELEMENT_ERROR (self, STREAM, FAILED, ("Super-resolution failed."), ("%s", error->message));
    g_clear_error (&error);
    return GST_FLOW_ERROR;
  }
  account_time (self, (g_get_monotonic_time () - t0) / 1e6, degrade);
  return GST_FLOW_OK;
}

/* GstVideoFilter answers a buffer smaller than its caps with a warning and then pushes the
 * output buffer unwritten; drop such a frame here instead, with a warning saying so. */
static GstFlowReturn
gst_superres_transform (GstBaseTransform *trans, GstBuffer *inbuf, GstBuffer *outbuf)
{
  GstVideoFilter *filter = GST_VIDEO_FILTER (trans);
  GstVideoFrame frame;
  if (!filter->negotiated) /* the base class reports it */
    return GST_BASE_TRANSFORM_CLASS (gst_superres_parent_class)->transform (trans, inbuf, outbuf);
  if (!gst_video_frame_map (&frame, &filter->in_info, inbuf, GST_MAP_READ)) {
    GST_ELEMENT_WARNING (trans, STREAM, FORMAT, ("Dropped an invalid input frame."),
        ("a buffer of %" G_GSIZE_FORMAT " bytes does not hold the %" G_GSIZE_FORMAT
            "-byte frame its caps describe", gst_buffer_get_size (inbuf),
            GST_VIDEO_INFO_SIZE (&filter->in_info)));
    return GST_BASE_TRANSFORM_FLOW_DROPPED;
  }
  gst_video_frame_unmap (&frame);
  return GST_BASE_TRANSFORM_CLASS (gst_superres_parent_class)->transform (trans, inbuf, outbuf);
}

static void
gst_superres_set_property (GObject *object, guint prop_id, const GValue *value,
    GParamSpec *pspec)
{
  GstSuperres *self = GST_SUPERRES (object);
  GST_OBJECT_LOCK (self);
  switch (prop_id) {
    case PROP_MODEL:
      g_free (self->model_path);
      self->model_path = g_value_dup_string (value);
      break;
    case PROP_BACKEND:
      self->backend = g_value_get_enum (value);
      break;
    case PROP_DEVICE:
      g_free (self->device);
      self->device = g_value_dup_string (value);
      break;
    case PROP_N_THREADS:
      self->n_threads = g_value_get_uint (value);
      break;
    case PROP_EXIT_THRESHOLD:
      self->exit_threshold = g_value_get_double (value);
      break;
    case PROP_TARGET_FPS:
      self->target_fps = g_value_get_double (value);
      break;
    case PROP_POST_STATS:
      self->post_stats = g_value_get_boolean (value);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
  }
  GST_OBJECT_UNLOCK (self);
}

static void
gst_superres_get_property (GObject *object, guint prop_id, GValue *value, GParamSpec *pspec)
{
  GstSuperres *self = GST_SUPERRES (object);
  GST_OBJECT_LOCK (self);
  switch (prop_id) {
    case PROP_MODEL:
      g_value_set_string (value, self->model_path);
      break;
    case PROP_BACKEND:
      g_value_set_enum (value, self->backend);
      break;
    case PROP_DEVICE:
      g_value_set_string (value, self->device);
      break;
    case PROP_N_THREADS:
      g_value_set_uint (value, self->n_threads);
      break;
    case PROP_EXIT_THRESHOLD:
      g_value_set_double (value, self->exit_threshold);
      break;
    case PROP_TARGET_FPS:
      g_value_set_double (value, self->target_fps);
      break;
    case PROP_POST_STATS:
      g_value_set_boolean (value, self->post_stats);
      break;
    case PROP_ACTIVE_BACKEND:
      g_value_set_string (value, self->active_backend);
      break;
    case PROP_ACTIVE_DEVICE:
      g_value_set_string (value, self->active_device);
      break;
    case PROP_ACTIVE_PRECISION:
      g_value_set_string (value, self->active_precision);
      break;
    case PROP_STATS: {
      double n = MAX (self->frames, 1);
      g_value_take_boxed (value, gst_structure_new ("superres-stats",
              "frames", G_TYPE_UINT64, self->frames,
              "dropped", G_TYPE_UINT64, self->dropped,
              "degraded", G_TYPE_UINT64, self->degraded,
              "exit-threshold", G_TYPE_DOUBLE, self->last_threshold,
              "mean-depth", G_TYPE_DOUBLE, self->sum_depth / n,
              "macs-fraction", G_TYPE_DOUBLE, self->sum_macs_fraction / n,
              "ms-per-frame", G_TYPE_DOUBLE, 1000 * self->sum_seconds / n, NULL));
      break;
    }
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
  }
  GST_OBJECT_UNLOCK (self);
}

static void
gst_superres_finalize (GObject *object)
{
  GstSuperres *self = GST_SUPERRES (object);
  g_free (self->model_path);
  g_free (self->device);
  g_free (self->active_backend);
  g_free (self->active_device);
  g_free (self->active_precision);
  G_OBJECT_CLASS (gst_superres_parent_class)->finalize (object);
}

static void
gst_superres_class_init (GstSuperresClass *klass)
{
  GObjectClass *gobject_class = G_OBJECT_CLASS (klass);
  GstElementClass *element_class = GST_ELEMENT_CLASS (klass);
  GstBaseTransformClass *trans_class = GST_BASE_TRANSFORM_CLASS (klass);
  GstVideoFilterClass *filter_class = GST_VIDEO_FILTER_CLASS (klass);

  GST_DEBUG_CATEGORY_INIT (gst_superres_debug, "superres", 0, "x2 super-resolution");

  gobject_class->set_property = gst_superres_set_property;
  gobject_class->get_property = gst_superres_get_property;
  gobject_class->finalize = gst_superres_finalize;

  g_object_class_install_property (gobject_class, PROP_MODEL,
      g_param_spec_string ("model", "Model",
          "Path of the model file (safetensors); NULL uses the default model. Read at start.",
          NULL, G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS | GST_PARAM_MUTABLE_READY));
  g_object_class_install_property (gobject_class, PROP_BACKEND,
      g_param_spec_enum ("backend", "Backend",
          "Where the network runs. auto: Vulkan, OpenCL, then the CPU, GPUs only on hardware "
          "devices, falling back with a warning; a named backend that cannot start fails the start",
          GST_TYPE_SUPERRES_BACKEND, SR_BACKEND_AUTO,
          G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS | GST_PARAM_MUTABLE_READY));
  g_object_class_install_property (gobject_class, PROP_DEVICE,
      g_param_spec_string ("device", "Device",
          "GPU backends: the device's index or a substring of its name (NULL = the first GPU)",
          NULL, G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS | GST_PARAM_MUTABLE_READY));
  g_object_class_install_property (gobject_class, PROP_N_THREADS,
      g_param_spec_uint ("n-threads", "Threads", "CPU worker threads (0 = one per core)",
          0, 256, 0, G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS | GST_PARAM_MUTABLE_READY));

  g_object_class_install_property (gobject_class, PROP_EXIT_THRESHOLD,
      g_param_spec_double ("exit-threshold", "Exit threshold",
          "Adaptive patch exit: a tile stops at the depth whose predicted gains, each less "
          "this, sum highest (a block is worth running if it gains more than this), in the "
          "unit of the model's predictor (dB of PSNR for the shipped default and ghost models, "
          "or squared error in 8-bit levels for a model whose gain is mse). 0 = always full "
          "depth; larger = faster; -1 = the model's recommended value. Can change while "
          "playing.",
          -1, 100, DEFAULT_EXIT_THRESHOLD,
          G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS | GST_PARAM_MUTABLE_PLAYING));
  g_object_class_install_property (gobject_class, PROP_TARGET_FPS,
      g_param_spec_double ("target-fps", "Target fps",
          "Keep up with this frame rate by raising the exit threshold while frames take "
          "longer than 1/target-fps (quality drops before frames do); 0 = off. Models with "
          "exits only.", 0, 1000, 0,
          G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS | GST_PARAM_MUTABLE_PLAYING));
  g_object_class_install_property (gobject_class, PROP_POST_STATS,
      g_param_spec_boolean ("post-stats", "Post stats",
          "Post a \"superres-stats\" element message for every frame (depths, MACs, time)",
          FALSE, G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS | GST_PARAM_MUTABLE_PLAYING));
  g_object_class_install_property (gobject_class, PROP_STATS,
      g_param_spec_boxed ("stats", "Stats",
          "Since start: frames (through the network), degraded (late frames upscaled "
          "bicubically instead), dropped (late frames dropped by QoS, with qos=true), and "
          "running means over the network's frames: exit-threshold, mean-depth, "
          "macs-fraction (spent / full depth), ms-per-frame", GST_TYPE_STRUCTURE,
          G_PARAM_READABLE | G_PARAM_STATIC_STRINGS));
  g_object_class_install_property (gobject_class, PROP_ACTIVE_BACKEND,
      g_param_spec_string ("active-backend", "Active backend",
          "The backend running the network (cpu, vulkan, opencl); NULL when stopped", NULL,
          G_PARAM_READABLE | G_PARAM_STATIC_STRINGS));
  g_object_class_install_property (gobject_class, PROP_ACTIVE_DEVICE,
      g_param_spec_string ("active-device", "Active device",
          "The device the backend runs on, e.g. \"cpu: 2 threads, bf16 amx kernels\" or the "
          "GPU's name; NULL when stopped", NULL, G_PARAM_READABLE | G_PARAM_STATIC_STRINGS));
  g_object_class_install_property (gobject_class, PROP_ACTIVE_PRECISION,
      g_param_spec_string ("active-precision", "Active precision",
          "The arithmetic the network runs in: fp32, bf16, int16 or int8; NULL when stopped",
          NULL, G_PARAM_READABLE | G_PARAM_STATIC_STRINGS));

  gst_element_class_set_static_metadata (element_class, "Super-resolution",
      "Filter/Converter/Video/Scaler",
      "Upscales video up to x2 with a small neural network (luma) and bicubic chroma",
      "gst-superres developers");
  gst_element_class_add_static_pad_template (element_class, &sink_template);
  gst_element_class_add_static_pad_template (element_class, &src_template);
  gst_type_mark_as_plugin_api (GST_TYPE_SUPERRES_BACKEND, 0);

  trans_class->transform_caps = GST_DEBUG_FUNCPTR (gst_superres_transform_caps);
  trans_class->fixate_caps = GST_DEBUG_FUNCPTR (gst_superres_fixate_caps);
  trans_class->sink_event = GST_DEBUG_FUNCPTR (gst_superres_sink_event);
  trans_class->src_event = GST_DEBUG_FUNCPTR (gst_superres_src_event);
  trans_class->transform_meta = GST_DEBUG_FUNCPTR (gst_superres_transform_meta);
  trans_class->submit_input_buffer = GST_DEBUG_FUNCPTR (gst_superres_submit_input_buffer);
  trans_class->query = GST_DEBUG_FUNCPTR (gst_superres_query);
  trans_class->start = GST_DEBUG_FUNCPTR (gst_superres_start);
  trans_class->stop = GST_DEBUG_FUNCPTR (gst_superres_stop);
  trans_class->transform = GST_DEBUG_FUNCPTR (gst_superres_transform);
  filter_class->set_info = GST_DEBUG_FUNCPTR (gst_superres_set_info);
  filter_class->transform_frame = GST_DEBUG_FUNCPTR (gst_superres_transform_frame);
}

static void
gst_superres_init (GstSuperres *self)
{
  self->backend = SR_BACKEND_AUTO;
  self->exit_threshold = DEFAULT_EXIT_THRESHOLD;
  /* late frames are degraded (bicubic), not dropped; qos=true brings dropping back */
  gst_base_transform_set_qos_enabled (GST_BASE_TRANSFORM (self), FALSE);
}
