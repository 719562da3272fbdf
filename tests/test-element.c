/* superres element tests with GstHarness: negotiation per format and odd sizes, output
 * size and content, padded strides, timestamps, bad models, GPU backends and their failures. */
#include <gst/check/gstharness.h>
#include <gst/video/video.h>
#include <sr-core/sr-core.h>
#include <glib/gstdio.h>
#include <math.h>
#include <string.h>

#include "test-util.h"

static const char *formats[] = { "I420", "YV12", "NV12", "NV21", "Y42B", "Y444", "GRAY8" };

static GstHarness *
harness_for (const char *format, int w, int h, const char *props)
{
  g_autofree char *desc = g_strdup_printf ("superres %s", props ? props : "");
  GstHarness *hx = gst_harness_new_parse (desc);
  g_autofree char *caps = g_strdup_printf ("video/x-raw,format=%s,width=%d,height=%d,"
      "framerate=30/1", format, w, h);
  gst_harness_set_src_caps_str (hx, caps);
  return hx;
}

/* A luma ramp from 40 to about 240 across the frame. */
static guint8
ramp (int x, int y, int w, int h)
{
  return 40 + 150 * x / w + 50 * y / h;
}

/* A frame whose luma is a smooth ramp and whose chroma planes are constant. */
static GstBuffer *
make_frame (const GstVideoInfo *info, GstClockTime pts)
{
  GstBuffer *buf = gst_buffer_new_allocate (NULL, GST_VIDEO_INFO_SIZE (info), NULL);
  GstVideoFrame frame;
  g_assert_true (gst_video_frame_map (&frame, (GstVideoInfo *) info, buf, GST_MAP_WRITE));
  for (guint c = 0; c < GST_VIDEO_FRAME_N_COMPONENTS (&frame); c++) {
    guint8 *data = GST_VIDEO_FRAME_COMP_DATA (&frame, c);
    int stride = GST_VIDEO_FRAME_COMP_STRIDE (&frame, c);
    int ps = GST_VIDEO_FRAME_COMP_PSTRIDE (&frame, c);
    for (int y = 0; y < GST_VIDEO_FRAME_COMP_HEIGHT (&frame, c); y++)
      for (int x = 0; x < GST_VIDEO_FRAME_COMP_WIDTH (&frame, c); x++)
        data[y * stride + x * ps] = c == 0 ? ramp (x, y, GST_VIDEO_INFO_WIDTH (info),
            GST_VIDEO_INFO_HEIGHT (info)) : 60 + 50 * c;
  }
  gst_video_frame_unmap (&frame);
  GST_BUFFER_PTS (buf) = pts;
  GST_BUFFER_DURATION (buf) = GST_SECOND / 30;
  return buf;
}

/* make_frame's constant chroma came through unchanged. */
static void
assert_chroma_constant (GstVideoFrame *frame)
{
  for (guint c = 1; c < GST_VIDEO_FRAME_N_COMPONENTS (frame); c++)
    for (int y = 0; y < GST_VIDEO_FRAME_COMP_HEIGHT (frame, c); y++)
      for (int x = 0; x < GST_VIDEO_FRAME_COMP_WIDTH (frame, c); x++)
        g_assert_cmpint (GST_VIDEO_FRAME_COMP_DATA (frame, c)[y *
                GST_VIDEO_FRAME_COMP_STRIDE (frame, c) + x *
                GST_VIDEO_FRAME_COMP_PSTRIDE (frame, c)], ==, 60 + 50 * c);
}

static void
test_negotiation_all_formats (void)
{
  const int sizes[][2] = { { 8, 8 }, { 33, 17 }, { 64, 36 }, { 9, 31 } };
  for (guint f = 0; f < G_N_ELEMENTS (formats); f++)
    for (guint s = 0; s < G_N_ELEMENTS (sizes); s++) {
      int w = sizes[s][0], h = sizes[s][1];
      GstHarness *hx = harness_for (formats[f], w, h, NULL);
      GstVideoInfo in_info, out_info;
      gst_video_info_set_format (&in_info, gst_video_format_from_string (formats[f]), w, h);
      GstBuffer *out = gst_harness_push_and_pull (hx, make_frame (&in_info, 5 * GST_SECOND));
      g_assert_nonnull (out);

      GstCaps *caps = gst_pad_get_current_caps (hx->sinkpad);
      g_assert_true (gst_video_info_from_caps (&out_info, caps));
      gst_caps_unref (caps);
      g_assert_cmpint (GST_VIDEO_INFO_FORMAT (&out_info), ==, GST_VIDEO_INFO_FORMAT (&in_info));
      g_assert_cmpint (GST_VIDEO_INFO_WIDTH (&out_info), ==, 2 * w);
      g_assert_cmpint (GST_VIDEO_INFO_HEIGHT (&out_info), ==, 2 * h);
      g_assert_cmpuint (gst_buffer_get_size (out), >=, GST_VIDEO_INFO_SIZE (&out_info));
      g_assert_cmpuint (GST_BUFFER_PTS (out), ==, 5 * GST_SECOND);
      g_assert_cmpuint (GST_BUFFER_DURATION (out), ==, GST_SECOND / 30);

      /* constant chroma stays constant; the luma ramp keeps its range */
      GstVideoFrame frame;
      g_assert_true (gst_video_frame_map (&frame, &out_info, out, GST_MAP_READ));
      assert_chroma_constant (&frame);
      const guint8 *luma = GST_VIDEO_FRAME_COMP_DATA (&frame, 0);
      int ls = GST_VIDEO_FRAME_COMP_STRIDE (&frame, 0);
      g_assert_cmpint (ABS ((int) luma[0] - 40), <=, 4);
      g_assert_cmpint (ABS ((int) luma[(2 * h - 1) * ls + 2 * w - 1] -
              ramp (w - 1, h - 1, w, h)), <=, 12);
      gst_video_frame_unmap (&frame);
      gst_buffer_unref (out);
      gst_harness_teardown (hx);
    }
}

/* Plays the pipeline until its first error or EOS, asserts it was an error and returns that
 * message; the pipeline is stopped and freed. */
static GstMessage *
pipeline_error (const char *desc)
{
  GstElement *pipe = gst_parse_launch (desc, NULL);
  g_assert_true (GST_IS_PIPELINE (pipe));
  gst_element_set_state (pipe, GST_STATE_PLAYING);
  GstBus *bus = gst_element_get_bus (pipe);
  GstMessage *msg = gst_bus_timed_pop_filtered (bus, 10 * GST_SECOND,
      GST_MESSAGE_ERROR | GST_MESSAGE_EOS);
  gst_object_unref (bus);
  g_assert_nonnull (msg);
  g_assert_cmpint (GST_MESSAGE_TYPE (msg), ==, GST_MESSAGE_ERROR);
  gst_element_set_state (pipe, GST_STATE_NULL);
  gst_object_unref (pipe);
  return msg;
}

/* Sizes that cannot be made (beyond 2x, below the input, below 8x8) fail when linking;
 * interlaced input and a downstream that takes no size in reach fail at caps time with an
 * error saying what would work. */
static void
test_negotiation_refuses_impossible (void)
{
  const char *unlinkable[] = { "width=67", "width=32", "height=41" };
  for (guint i = 0; i < G_N_ELEMENTS (unlinkable); i++) {
    g_autofree char *desc = g_strdup_printf ("videotestsrc num-buffers=1 ! "
        "video/x-raw,format=I420,width=33,height=20 ! superres ! video/x-raw,%s ! fakesink",
        unlinkable[i]);
    GError *error = NULL;
    GstElement *pipe = gst_parse_launch (desc, &error);
    g_assert_error (error, GST_PARSE_ERROR, GST_PARSE_ERROR_LINK);
    g_clear_error (&error);
    gst_clear_object (&pipe);
  }

  GstHarness *hx = gst_harness_new ("superres");
  GstCaps *tiny = gst_caps_from_string ("video/x-raw,format=I420,width=4,height=4,framerate=30/1");
  g_assert_false (gst_pad_peer_query_accept_caps (hx->srcpad, tiny));
  gst_caps_unref (tiny);
  gst_harness_teardown (hx);

  const struct { const char *upstream, *downstream, *says; } at_caps[] = {
    { "width=64,height=36,interlace-mode=interleaved", NULL, "deinterlace" },
    { "width=64,height=36", "video/x-raw,width=1000,height=72", "widths 64 to 128" },
  };
  for (guint i = 0; i < G_N_ELEMENTS (at_caps); i++) {
    hx = gst_harness_new ("superres");
    GstBus *bus = gst_bus_new ();
    gst_element_set_bus (hx->element, bus);
    if (at_caps[i].downstream)
      gst_harness_set_sink_caps_str (hx, at_caps[i].downstream);
    g_autofree char *caps = g_strdup_printf ("video/x-raw,format=I420,framerate=30/1,%s",
        at_caps[i].upstream);
    gst_harness_set_src_caps_str (hx, caps);
    GstMessage *msg = gst_bus_pop_filtered (bus, GST_MESSAGE_ERROR);
    g_assert_nonnull (msg);
    GError *error = NULL;
    gst_message_parse_error (msg, &error, NULL);
    g_test_message ("%s", error->message);
    g_assert_nonnull (strstr (error->message, at_caps[i].says));
    g_error_free (error);
    gst_message_unref (msg);
    gst_element_set_bus (hx->element, NULL);
    gst_object_unref (bus);
    gst_harness_teardown (hx);
  }
}

/* The output of `format` w x h when downstream asks for W x H (NULL: nothing), the element
 * with `props`. */
static GstBuffer *
upscale_to (const char *format, int w, int h, const char *downstream, const char *props,
    GstBuffer **input, GstVideoInfo *out_info)
{
  GstHarness *hx = harness_for (format, w, h, props);
  if (downstream)
    gst_harness_set_sink_caps_str (hx, downstream);
  GstVideoInfo info;
  gst_video_info_set_format (&info, gst_video_format_from_string (format), w, h);
  GstBuffer *in = make_frame (&info, 0);
  if (input)
    *input = gst_buffer_ref (in);
  GstBuffer *out = gst_harness_push_and_pull (hx, in);
  g_assert_nonnull (out);
  GstCaps *caps = gst_pad_get_current_caps (hx->sinkpad);
  g_assert_true (gst_video_info_from_caps (out_info, caps));
  gst_caps_unref (caps);
  gst_harness_teardown (hx);
  return out;
}

/* Any size from 1x to 2x with the element's `props`: the network's 2x luma resampled
 * (compared with sr_resample of the element's own 2x output), the chroma resampled from
 * the input; the input size is passthrough (the same buffer). */
static void
check_output_sizes (const char *props)
{
  const char *fmts[] = { "I420", "NV21", "GRAY8" };
  const int in_sizes[][2] = { { 64, 36 }, { 33, 17 } };
  for (guint f = 0; f < G_N_ELEMENTS (fmts); f++)
    for (guint s = 0; s < G_N_ELEMENTS (in_sizes); s++) {
      const int w = in_sizes[s][0], h = in_sizes[s][1];
      GstVideoInfo x2_info, out_info;
      GstBuffer *x2 = upscale_to (fmts[f], w, h, NULL, props, NULL, &x2_info);
      g_assert_cmpint (GST_VIDEO_INFO_WIDTH (&x2_info), ==, 2 * w);
      g_assert_cmpint (GST_VIDEO_INFO_HEIGHT (&x2_info), ==, 2 * h);
      const int sizes[][2] = { { w * 3 / 2, h * 3 / 2 }, { w + 1, 2 * h }, { 2 * w - 1, h },
        { w, h } };
      for (guint i = 0; i < G_N_ELEMENTS (sizes); i++) {
        const int W = sizes[i][0], H = sizes[i][1];
        g_autofree char *down = g_strdup_printf ("video/x-raw,width=%d,height=%d", W, H);
        GstBuffer *in, *out = upscale_to (fmts[f], w, h, down, props, &in, &out_info);
        g_assert_cmpint (GST_VIDEO_INFO_WIDTH (&out_info), ==, W);
        g_assert_cmpint (GST_VIDEO_INFO_HEIGHT (&out_info), ==, H);
        if (W == w && H == h) {
          g_assert_true (out == in);
        } else {
          GstVideoFrame a, b;
          g_assert_true (gst_video_frame_map (&a, &x2_info, x2, GST_MAP_READ));
          g_assert_true (gst_video_frame_map (&b, &out_info, out, GST_MAP_READ));
          SrPlane src = { GST_VIDEO_FRAME_COMP_DATA (&a, 0), 2 * w, 2 * h,
            GST_VIDEO_FRAME_COMP_STRIDE (&a, 0), 1 };
          guint8 *want = g_malloc ((gsize) W * H);
          SrPlane dst = { want, W, H, W, 1 };
          g_assert_true (sr_resample (&src, &dst, NULL));
          g_assert_cmpfloat (test_fraction_off (GST_VIDEO_FRAME_COMP_DATA (&b, 0),
                  GST_VIDEO_FRAME_COMP_STRIDE (&b, 0), want, W, W, H, 0), ==, 0);
          assert_chroma_constant (&b);
          g_free (want);
          gst_video_frame_unmap (&a);
          gst_video_frame_unmap (&b);
        }
        gst_buffer_unref (in);
        gst_buffer_unref (out);
      }
      gst_buffer_unref (x2);
    }
}

/* check_output_sizes on each backend that starts (the GPU ones resample on the device, bit
 * for bit); free downstream gets 2x, one side fixed keeps the shape. */
static void
test_output_sizes (void)
{
  const SrBackendKind kinds[] = { SR_BACKEND_CPU, SR_BACKEND_VULKAN, SR_BACKEND_OPENCL };
  for (guint k = 0; k < G_N_ELEMENTS (kinds); k++)
    if (!k || test_backend_starts (kinds[k])) {
      g_autofree char *props = g_strdup_printf ("backend=%s", sr_backend_kind_name (kinds[k]));
      check_output_sizes (props);
    }

  /* one side fixed downstream: the other keeps the input's shape */
  GstVideoInfo info;
  gst_buffer_unref (upscale_to ("I420", 64, 36, "video/x-raw,width=96", NULL, NULL, &info));
  g_assert_cmpint (GST_VIDEO_INFO_HEIGHT (&info), ==, 54);
  gst_buffer_unref (upscale_to ("I420", 64, 36, "video/x-raw,height=[40,60]", NULL, NULL,
          &info));
  g_assert_cmpint (GST_VIDEO_INFO_WIDTH (&info), ==, 128);
  g_assert_cmpint (GST_VIDEO_INFO_HEIGHT (&info), ==, 60);
}

/* A GRAY8 frame holding the image, at GStreamer's default stride. */
static GstBuffer *
gray8_buffer (const TestImage *img)
{
  GstVideoInfo info;
  gst_video_info_set_format (&info, GST_VIDEO_FORMAT_GRAY8, img->width, img->height);
  GstBuffer *buf = gst_buffer_new_allocate (NULL, GST_VIDEO_INFO_SIZE (&info), NULL);
  GstMapInfo map;
  gst_buffer_map (buf, &map, GST_MAP_WRITE);
  for (int y = 0; y < img->height; y++)
    memcpy (map.data + y * GST_VIDEO_INFO_PLANE_STRIDE (&info, 0), img->data + y * img->width,
        img->width);
  gst_buffer_unmap (buf, &map);
  return buf;
}

/* x4 is two elements in a row; 720p -> 1080p and 540p -> 1080p (one frame each) negotiate
 * the sizes asked (their PSNR: the clip-flowers-bundled-x1.5 test and every clip test). */
static void
test_chained_and_hd_sizes (void)
{
  GstHarness *hx = gst_harness_new_parse ("superres ! superres");
  gst_harness_set_src_caps_str (hx, "video/x-raw,format=I420,width=24,height=16,framerate=30/1");
  GstVideoInfo info, out_info;
  gst_video_info_set_format (&info, GST_VIDEO_FORMAT_I420, 24, 16);
  gst_buffer_unref (gst_harness_push_and_pull (hx, make_frame (&info, 0)));
  GstCaps *caps = gst_pad_get_current_caps (hx->sinkpad);
  g_assert_true (gst_video_info_from_caps (&out_info, caps));
  gst_caps_unref (caps);
  g_assert_cmpint (GST_VIDEO_INFO_WIDTH (&out_info), ==, 96);
  g_assert_cmpint (GST_VIDEO_INFO_HEIGHT (&out_info), ==, 64);
  gst_harness_teardown (hx);

  const int inputs[][2] = { { 1280, 720 }, { 960, 540 } };
  for (guint i = 0; i < G_N_ELEMENTS (inputs); i++) {
    GstBuffer *out = upscale_to ("GRAY8", inputs[i][0], inputs[i][1],
        "video/x-raw,width=1920,height=1080", NULL, NULL, &out_info);
    g_assert_cmpint (GST_VIDEO_INFO_WIDTH (&out_info), ==, 1920);
    g_assert_cmpint (GST_VIDEO_INFO_HEIGHT (&out_info), ==, 1080);
    g_assert_cmpuint (gst_buffer_get_size (out), >=, 1920 * 1080);
    gst_buffer_unref (out);
  }
}

/* What runs is readable (active-*), metadata and enum descriptions are for people. */
static void
test_active_properties_and_metadata (void)
{
  char *saved = test_env_push ("SR_CPU_PRECISION", "fp32");
  GstHarness *hx = harness_for ("I420", 32, 16, "backend=cpu");
  GstElement *sr = gst_harness_find_element (hx, "superres");
  g_autofree char *backend = NULL, *device = NULL, *precision = NULL;
  g_object_get (sr, "active-backend", &backend, "active-device", &device,
      "active-precision", &precision, NULL);
  g_assert_cmpstr (backend, ==, "cpu");
  g_assert_true (g_str_has_prefix (device, "cpu: "));
  g_assert_cmpstr (precision, ==, "fp32");
  gst_element_set_state (sr, GST_STATE_NULL);
  g_free (backend);
  g_object_get (sr, "active-backend", &backend, NULL);
  g_assert_null (backend);
  gst_object_unref (sr);
  gst_harness_teardown (hx);
  test_env_pop ("SR_CPU_PRECISION", saved);

  GstElementFactory *factory = gst_element_factory_find ("superres");
  g_assert_cmpstr (gst_element_factory_get_metadata (factory, GST_ELEMENT_METADATA_KLASS), ==,
      "Filter/Converter/Video/Scaler");
  GstPlugin *plugin = gst_plugin_feature_get_plugin (GST_PLUGIN_FEATURE (factory));
  g_assert_false (g_str_has_prefix (gst_plugin_get_origin (plugin), "https://example"));
  gst_object_unref (plugin);
  gst_object_unref (factory);
  GEnumClass *backends = g_type_class_ref (g_type_from_name ("GstSuperresBackend"));
  for (guint i = 0; i < backends->n_values; i++)
    g_assert_false (g_str_has_prefix (backends->values[i].value_name, "SR_"));
  g_type_class_unref (backends);
}

/* Late frames (QoS) are degraded and counted; with qos=true the base class drops them, also
 * counted; stats messages carry the running time (the segment's base added) and stream time
 * besides the pts. */
static void
test_late_frames_and_running_time (void)
{
  GstHarness *hx = harness_for ("GRAY8", 16, 16, "post-stats=true");
  GstBus *bus = gst_bus_new ();
  gst_element_set_bus (hx->element, bus);
  GstVideoInfo info;
  gst_video_info_set_format (&info, GST_VIDEO_FORMAT_GRAY8, 16, 16);
  GstSegment segment;
  gst_segment_init (&segment, GST_FORMAT_TIME);
  segment.base = 10 * GST_SECOND;
  g_assert_true (gst_harness_push_event (hx, gst_event_new_segment (&segment)));
  gst_buffer_unref (gst_harness_push_and_pull (hx, make_frame (&info, GST_SECOND)));
  GstMessage *msg = gst_bus_pop_filtered (bus, GST_MESSAGE_ELEMENT);
  g_assert_nonnull (msg);
  guint64 pts, running_time, stream_time;
  const GstStructure *st = gst_message_get_structure (msg);
  g_assert_true (gst_structure_get_uint64 (st, "pts", &pts));
  g_assert_true (gst_structure_get_uint64 (st, "running-time", &running_time));
  g_assert_true (gst_structure_get_uint64 (st, "stream-time", &stream_time));
  g_assert_cmpuint (pts, ==, GST_SECOND);
  g_assert_cmpuint (running_time, ==, 11 * GST_SECOND);
  g_assert_cmpuint (stream_time, ==, GST_SECOND);
  gst_message_unref (msg);

  /* downstream says it is 5 s behind: the next frames, at 12 s and 13 s running time, are
   * late. By default they come out interpolated (degraded), not dropped; with qos=true the
   * base class drops them */
  g_assert_true (gst_harness_push_upstream_event (hx, gst_event_new_qos (GST_QOS_TYPE_UNDERFLOW,
              1.0, 5 * GST_SECOND, 11 * GST_SECOND)));
  GstElement *sr = gst_harness_find_element (hx, "superres");
  for (int qos = 0; qos <= 1; qos++) {
    g_object_set (sr, "qos", qos, NULL);
    for (int i = 2; i <= 3; i++)
      g_assert_cmpint (gst_harness_push (hx, make_frame (&info, i * GST_SECOND)), ==, GST_FLOW_OK);
    g_assert_cmpuint (gst_harness_buffers_in_queue (hx), ==, qos ? 0 : 2);
    while (gst_harness_buffers_in_queue (hx))
      gst_buffer_unref (gst_harness_pull (hx));
  }
  GstStructure *stats;
  g_object_get (sr, "stats", &stats, NULL);
  gst_object_unref (sr);
  guint64 frames, dropped, degraded;
  g_assert_true (gst_structure_get_uint64 (stats, "frames", &frames));
  g_assert_true (gst_structure_get_uint64 (stats, "dropped", &dropped));
  g_assert_true (gst_structure_get_uint64 (stats, "degraded", &degraded));
  g_assert_cmpuint (frames, ==, 1);
  g_assert_cmpuint (degraded, ==, 2);
  g_assert_cmpuint (dropped, ==, 2);
  gst_structure_free (stats);
  gst_element_set_bus (hx->element, NULL);
  gst_object_unref (bus);
  gst_harness_teardown (hx);
}

/* Pointer coordinates go back to the input's scale; a region of interest comes out scaled
 * to the output (both as videoscale does). */
static void
test_navigation_and_roi_scaled (void)
{
  GstHarness *hx = harness_for ("I420", 64, 36, NULL);
  gst_harness_set_sink_caps_str (hx, "video/x-raw,width=96,height=72");
  GstVideoInfo info;
  gst_video_info_set_format (&info, GST_VIDEO_FORMAT_I420, 64, 36);
  GstBuffer *in = make_frame (&info, 0);
  gst_buffer_add_video_region_of_interest_meta (in, "face", 10, 6, 20, 12);
  GstBuffer *out = gst_harness_push_and_pull (hx, in);
  guint n = 0;
  gpointer state = NULL;
  GstMeta *meta;
  while ((meta = gst_buffer_iterate_meta_filtered (out, &state,
              GST_VIDEO_REGION_OF_INTEREST_META_API_TYPE))) {
    GstVideoRegionOfInterestMeta *roi = (GstVideoRegionOfInterestMeta *) meta;
    g_assert_cmpuint (roi->x, ==, 15);
    g_assert_cmpuint (roi->y, ==, 12);
    g_assert_cmpuint (roi->w, ==, 30);
    g_assert_cmpuint (roi->h, ==, 24);
    n++;
  }
  g_assert_cmpuint (n, ==, 1);
  gst_buffer_unref (out);

  g_assert_true (gst_harness_push_upstream_event (hx,
          gst_navigation_event_new_mouse_button_press (1, 48, 36, GST_NAVIGATION_MODIFIER_NONE)));
  GstEvent *ev;
  while ((ev = gst_harness_pull_upstream_event (hx)) && GST_EVENT_TYPE (ev) !=
      GST_EVENT_NAVIGATION)
    gst_event_unref (ev);
  g_assert_nonnull (ev);
  double x, y;
  g_assert_true (gst_navigation_event_get_coordinates (ev, &x, &y));
  g_assert_cmpfloat (x, ==, 32);
  g_assert_cmpfloat (y, ==, 18);
  gst_event_unref (ev);
  gst_harness_teardown (hx);
}

/* The 16-bit sample of component c at (x, y). GStreamer 1.22 puts P010's V one byte into
 * the pair (poffset 1); the word starts at byte 2. */
static guint16 *
sample16 (GstVideoFrame *frame, int c, int x, int y)
{
  guint8 *p = GST_VIDEO_FRAME_COMP_DATA (frame, c) + y * GST_VIDEO_FRAME_COMP_STRIDE (frame, c) +
      x * GST_VIDEO_FRAME_COMP_PSTRIDE (frame, c);
  return (guint16 *) (p + GST_VIDEO_FORMAT_INFO_POFFSET (frame->info.finfo, c) % 2);
}

/* A 10-bit frame: a luma ramp using all 10 bits, constant chroma (100 + 150 c). */
static GstBuffer *
make_frame_10bit (const GstVideoInfo *info)
{
  GstBuffer *buf = gst_buffer_new_allocate (NULL, GST_VIDEO_INFO_SIZE (info), NULL);
  GstVideoFrame frame;
  g_assert_true (gst_video_frame_map (&frame, (GstVideoInfo *) info, buf, GST_MAP_WRITE));
  for (guint c = 0; c < GST_VIDEO_FRAME_N_COMPONENTS (&frame); c++) {
    const int shift = GST_VIDEO_FORMAT_INFO_SHIFT (info->finfo, c);
    for (int y = 0; y < GST_VIDEO_FRAME_COMP_HEIGHT (&frame, c); y++)
      for (int x = 0; x < GST_VIDEO_FRAME_COMP_WIDTH (&frame, c); x++)
        *sample16 (&frame, c, x, y) = (c == 0 ? 160 + 7 * x + 3 * y : 100 + 150 * (int) c) << shift;
  }
  gst_video_frame_unmap (&frame);
  return buf;
}

/* I420_10LE, P010_10LE and I422_10LE stay 10-bit through the network (luma detail below 8
 * bits, chroma kept exactly), at 2x and resampled sizes; HDR caps fields pass through, since
 * the output really is 10-bit; on a GPU backend too, which gives the CPU's picture. */
static void
test_10_bit_formats (void)
{
  const char *fmts[] = { "I420_10LE", "P010_10LE", "I422_10LE" };
  const int w = 48, h = 32;
  const char *hdr = "colorimetry=bt2100-pq,"
      "mastering-display-info=(string)35400:14600:8500:39850:6550:2300:15635:16450:10000000:1,"
      "content-light-level=(string)1000:400";
  for (guint f = 0; f < G_N_ELEMENTS (fmts); f++)
    for (int resized = 0; resized <= 1; resized++) {
      g_autofree char *caps = g_strdup_printf ("video/x-raw,format=%s,width=%d,height=%d,"
          "framerate=30/1,%s", fmts[f], w, h, hdr);
      GstHarness *hx = gst_harness_new ("superres");
      gst_harness_set_src_caps_str (hx, caps);
      if (resized)
        gst_harness_set_sink_caps_str (hx, "video/x-raw,width=72,height=48");
      GstVideoInfo info, out_info;
      gst_video_info_set_format (&info, gst_video_format_from_string (fmts[f]), w, h);
      GstBuffer *out = gst_harness_push_and_pull (hx, make_frame_10bit (&info));
      GstCaps *out_caps = gst_pad_get_current_caps (hx->sinkpad);
      g_assert_true (gst_video_info_from_caps (&out_info, out_caps));
      g_assert_cmpint (GST_VIDEO_INFO_FORMAT (&out_info), ==, GST_VIDEO_INFO_FORMAT (&info));
      g_assert_cmpint (GST_VIDEO_INFO_WIDTH (&out_info), ==, resized ? 72 : 2 * (int) w);
      const GstStructure *st = gst_caps_get_structure (out_caps, 0);
      g_assert_cmpstr (gst_structure_get_string (st, "colorimetry"), ==, "bt2100-pq");
      g_assert_nonnull (gst_structure_get_string (st, "mastering-display-info"));
      g_assert_cmpstr (gst_structure_get_string (st, "content-light-level"), ==, "1000:400");
      gst_caps_unref (out_caps);

      GstVideoFrame frame;
      g_assert_true (gst_video_frame_map (&frame, &out_info, out, GST_MAP_READ));
      int fine = 0, n = 0;
      for (guint c = 0; c < GST_VIDEO_FRAME_N_COMPONENTS (&frame); c++) {
        const int shift = GST_VIDEO_FORMAT_INFO_SHIFT (out_info.finfo, c);
        for (int y = 0; y < GST_VIDEO_FRAME_COMP_HEIGHT (&frame, c); y++)
          for (int x = 0; x < GST_VIDEO_FRAME_COMP_WIDTH (&frame, c); x++) {
            guint16 raw = *sample16 (&frame, c, x, y);
            g_assert_cmpint (raw & ((1 << shift) - 1), ==, 0);
            int v = raw >> shift;
            if (c) {
              g_assert_cmpint (v, ==, 100 + 150 * c);
            } else {
              g_assert_cmpint (v, >=, 140);
              g_assert_cmpint (v, <=, 160 + 7 * w + 3 * h + 20);
              fine += v % 4 != 0;
              n++;
            }
          }
      }
      g_assert_cmpfloat ((double) fine / n, >, 0.5);
      gst_video_frame_unmap (&frame);
      gst_buffer_unref (out);
      gst_harness_teardown (hx);
    }

  /* a GPU backend runs 10-bit itself: the CPU's fp32 luma within 4/1023 (the 8-bit bound)
   * on >= 99.9% of samples, chroma equal, at 2x and resampled, P010 (shifted samples) */
  char *saved = test_env_push ("SR_CPU_PRECISION", "fp32");
  const char *kinds[] = { "cpu", "vulkan", "opencl" };
  for (int resized = 0; resized <= 1; resized++) {
    GstBuffer *outs[G_N_ELEMENTS (kinds)] = { NULL };
    GstVideoInfo info, out_info;
    gst_video_info_set_format (&info, GST_VIDEO_FORMAT_P010_10LE, w, h);
    for (guint k = 0; k < G_N_ELEMENTS (kinds); k++) {
      if (k && !test_backend_starts (k == 1 ? SR_BACKEND_VULKAN : SR_BACKEND_OPENCL))
        continue;
      g_autofree char *props = g_strdup_printf ("backend=%s", kinds[k]);
      GstHarness *hx = harness_for ("P010_10LE", w, h, props);
      if (resized)
        gst_harness_set_sink_caps_str (hx, "video/x-raw,width=72,height=47");
      outs[k] = gst_harness_push_and_pull (hx, make_frame_10bit (&info));
      GstCaps *out_caps = gst_pad_get_current_caps (hx->sinkpad);
      g_assert_true (gst_video_info_from_caps (&out_info, out_caps));
      gst_caps_unref (out_caps);
      GstElement *sr = gst_harness_find_element (hx, "superres");
      g_autofree char *active = NULL;
      g_object_get (sr, "active-backend", &active, NULL);
      g_assert_cmpstr (active, ==, kinds[k]);
      gst_object_unref (sr);
      gst_harness_teardown (hx);
      if (!k)
        continue;
      GstVideoFrame a, b;
      g_assert_true (gst_video_frame_map (&a, &out_info, outs[0], GST_MAP_READ));
      g_assert_true (gst_video_frame_map (&b, &out_info, outs[k], GST_MAP_READ));
      int off = 0, n = 0;
      for (guint c = 0; c < GST_VIDEO_FRAME_N_COMPONENTS (&a); c++)
        for (int y = 0; y < GST_VIDEO_FRAME_COMP_HEIGHT (&a, c); y++)
          for (int x = 0; x < GST_VIDEO_FRAME_COMP_WIDTH (&a, c); x++) {
            int va = *sample16 (&a, c, x, y) >> 6, vb = *sample16 (&b, c, x, y) >> 6;
            if (c)
              g_assert_cmpint (va, ==, vb);
            else
              off += ABS (va - vb) > 4, n++;
          }
      g_test_message ("%s%s: %d of %d luma samples off by > 4/1023", kinds[k],
          resized ? ", resized" : "", off, n);
      g_assert_cmpfloat ((double) off / n, <=, 0.001);
      gst_video_frame_unmap (&a);
      gst_video_frame_unmap (&b);
      gst_buffer_unref (outs[k]);
    }
    gst_buffer_unref (outs[0]);
  }
  test_env_pop ("SR_CPU_PRECISION", saved);
}

static GstPadProbeReturn
stamp_time (GstPad *pad, GstPadProbeInfo *info, gpointer times)
{
  g_array_append_val (times, (gint64) { g_get_monotonic_time () });
  return GST_PAD_PROBE_OK;
}

static int
compare_doubles (gconstpointer a, gconstpointer b)
{
  return (*(const double *) a > *(const double *) b) - (*(const double *) a < *(const double *) b);
}

/* The median seconds a frame spends in superres at 640x360 with `props` (frames 2 to 7:
 * the first may take the full path, or warm caches). */
static double
seconds_per_frame (const char *props)
{
  g_autofree char *desc = g_strdup_printf ("videotestsrc num-buffers=7 pattern=ball ! "
      "video/x-raw,format=I420,width=640,height=360 ! superres name=sr %s ! fakesink", props);
  GstElement *pipe = gst_parse_launch (desc, NULL);
  GstElement *sr = gst_bin_get_by_name (GST_BIN (pipe), "sr");
  GArray *in = g_array_new (FALSE, FALSE, sizeof (gint64));
  GArray *out = g_array_new (FALSE, FALSE, sizeof (gint64));
  GstPad *sink = gst_element_get_static_pad (sr, "sink"), *src = gst_element_get_static_pad (sr, "src");
  gst_pad_add_probe (sink, GST_PAD_PROBE_TYPE_BUFFER, stamp_time, in, NULL);
  gst_pad_add_probe (src, GST_PAD_PROBE_TYPE_BUFFER, stamp_time, out, NULL);
  GstBus *bus = gst_element_get_bus (pipe);
  gst_element_set_state (pipe, GST_STATE_PLAYING);
  gst_message_unref (gst_bus_timed_pop_filtered (bus, 60 * GST_SECOND, GST_MESSAGE_EOS));
  gst_element_set_state (pipe, GST_STATE_NULL);
  g_assert_cmpuint (out->len, ==, 7);
  double spent[6];
  for (int i = 0; i < 6; i++)
    spent[i] = (g_array_index (out, gint64, i + 1) - g_array_index (in, gint64, i + 1)) / 1e6;
  qsort (spent, 6, sizeof (double), compare_doubles);
  g_array_unref (in);
  g_array_unref (out);
  gst_object_unref (sink);
  gst_object_unref (src);
  gst_object_unref (sr);
  gst_object_unref (bus);
  gst_object_unref (pipe);
  return (spent[2] + spent[3]) / 2;
}

/* A live source into a syncing sink (a video sink's 20 ms max-lateness) at a frame rate the
 * network cannot keep up with but interpolation can (chosen from this machine's measured
 * speeds): every frame is rendered, none dropped, the late ones degraded and counted, and
 * the pipeline's latency includes superres' measured time. */
static void
test_live_degrades_not_drops (void)
{
  const int n = 40;
  /* target-fps=1000 degrades every frame after the first (nets without exits) */
  double full = seconds_per_frame (""), cheap = seconds_per_frame ("target-fps=1000");
  if (full < 5 * cheap) {
    g_test_skip_printf ("the network (%.1f ms) is too close to interpolation (%.1f ms) here",
        1000 * full, 1000 * cheap);
    return;
  }
  int fps = (int) ceil (1 / sqrt (full * cheap));
  g_autofree char *desc = g_strdup_printf ("videotestsrc is-live=true num-buffers=%d "
      "pattern=ball ! video/x-raw,format=I420,width=640,height=360,framerate=%d/1 ! "
      "superres name=sr ! queue ! fakesink name=sink sync=true qos=true max-lateness=20000000",
      n, fps);
  GstElement *pipe = gst_parse_launch (desc, NULL);
  GstBus *bus = gst_element_get_bus (pipe);
  gst_element_set_state (pipe, GST_STATE_PLAYING);
  GstClockTime latency = 0;
  for (;;) {
    GstMessage *msg = gst_bus_timed_pop_filtered (bus, 120 * GST_SECOND, GST_MESSAGE_ERROR |
        GST_MESSAGE_EOS | GST_MESSAGE_LATENCY);
    g_assert_nonnull (msg);
    GstMessageType type = GST_MESSAGE_TYPE (msg);
    g_assert_cmpint (type, !=, GST_MESSAGE_ERROR);
    gst_message_unref (msg);
    if (type == GST_MESSAGE_EOS)
      break;
    /* what an application does with a latency message */
    gst_bin_recalculate_latency (GST_BIN (pipe));
    GstQuery *query = gst_query_new_latency ();
    if (gst_element_query (pipe, query))
      gst_query_parse_latency (query, NULL, &latency, NULL);
    gst_query_unref (query);
  }
  GstElement *sr = gst_bin_get_by_name (GST_BIN (pipe), "sr");
  GstElement *sink = gst_bin_get_by_name (GST_BIN (pipe), "sink");
  GstStructure *stats, *sink_stats;
  g_object_get (sr, "stats", &stats, NULL);
  g_object_get (sink, "stats", &sink_stats, NULL);
  guint64 frames, degraded, dropped, rendered, sink_dropped;
  g_assert_true (gst_structure_get_uint64 (stats, "frames", &frames));
  g_assert_true (gst_structure_get_uint64 (stats, "degraded", &degraded));
  g_assert_true (gst_structure_get_uint64 (stats, "dropped", &dropped));
  g_assert_true (gst_structure_get_uint64 (sink_stats, "rendered", &rendered));
  g_assert_true (gst_structure_get_uint64 (sink_stats, "dropped", &sink_dropped));
  g_test_message ("%d frames at %d fps (network %.1f ms, interpolation %.1f ms a frame): %"
      G_GUINT64_FORMAT " through the network, %" G_GUINT64_FORMAT " degraded; sink rendered %"
      G_GUINT64_FORMAT ", dropped %" G_GUINT64_FORMAT "; pipeline latency %.0f ms", n, fps,
      1000 * full, 1000 * cheap, frames, degraded, rendered, sink_dropped, latency / 1e6);
  g_assert_cmpuint (rendered, ==, n);
  g_assert_cmpuint (sink_dropped, ==, 0);
  g_assert_cmpuint (dropped, ==, 0);
  g_assert_cmpuint (frames + degraded, ==, n);
  g_assert_cmpuint (degraded, >, 0);
  g_assert_cmpuint (frames, >, 0);
  g_assert_cmpuint (latency, >=, full * GST_SECOND);
  gst_structure_free (stats);
  gst_structure_free (sink_stats);
  gst_object_unref (sr);
  gst_object_unref (sink);
  gst_element_set_state (pipe, GST_STATE_NULL);
  gst_object_unref (bus);
  gst_object_unref (pipe);
}

/* The luma through the element equals PyTorch's golden output like the core does. */
static void
test_output_matches_golden (void)
{
  g_autofree char *lr_path = test_data_path ("golden-lr.pgm");
  g_autofree char *sr_path = test_data_path ("golden-sr.pgm");
  TestImage lr = test_read_pgm (lr_path), golden = test_read_pgm (sr_path);
  /* golden-sr.pgm is the full-depth fp32 output */
  char *saved_precision = test_env_push ("SR_CPU_PRECISION", "fp32");
  GstHarness *hx = harness_for ("GRAY8", lr.width, lr.height, "exit-threshold=0");
  GstMapInfo map;
  GstBuffer *out = gst_harness_push_and_pull (hx, gray8_buffer (&lr));
  GstVideoInfo out_info;
  gst_video_info_set_format (&out_info, GST_VIDEO_FORMAT_GRAY8, golden.width, golden.height);
  gst_buffer_map (out, &map, GST_MAP_READ);
  double off = test_fraction_off (map.data, GST_VIDEO_INFO_PLANE_STRIDE (&out_info, 0),
      golden.data, golden.width, golden.width, golden.height, 1);
  gst_buffer_unmap (out, &map);
  g_assert_cmpfloat (off, <=, 0.001);
  gst_buffer_unref (out);
  gst_harness_teardown (hx);
  test_env_pop ("SR_CPU_PRECISION", saved_precision);
  g_free (lr.data);
  g_free (golden.data);
}

/* Input with padded strides and plane offsets (GstVideoMeta) gives the same picture as
 * the tightly packed input. */
static void
test_padded_stride_input (void)
{
  const int w = 45, h = 27;
  for (guint f = 0; f < G_N_ELEMENTS (formats); f++) {
    GstVideoInfo info;
    gst_video_info_set_format (&info, gst_video_format_from_string (formats[f]), w, h);
    GstBuffer *packed = make_frame (&info, 0);

    /* the same frame with 40 bytes of padding per row and 100 before each plane */
    gsize offsets[GST_VIDEO_MAX_PLANES] = { 0 };
    gint strides[GST_VIDEO_MAX_PLANES] = { 0 };
    gsize total = 0;
    for (guint p = 0; p < GST_VIDEO_INFO_N_PLANES (&info); p++) {
      strides[p] = GST_VIDEO_INFO_PLANE_STRIDE (&info, p) + 40;
      offsets[p] = total + 100;
      total = offsets[p] + (gsize) strides[p] *
          GST_VIDEO_FORMAT_INFO_SCALE_HEIGHT (info.finfo, p, h);
    }
    GstBuffer *padded = gst_buffer_new_allocate (NULL, total, NULL);
    gst_buffer_memset (padded, 0, 0xAB, total);
    gst_buffer_add_video_meta_full (padded, GST_VIDEO_FRAME_FLAG_NONE,
        GST_VIDEO_INFO_FORMAT (&info), w, h, GST_VIDEO_INFO_N_PLANES (&info), offsets, strides);
    GstVideoFrame src, dst;
    g_assert_true (gst_video_frame_map (&src, &info, packed, GST_MAP_READ));
    g_assert_true (gst_video_frame_map (&dst, &info, padded, GST_MAP_WRITE));
    g_assert_cmpint (GST_VIDEO_FRAME_PLANE_STRIDE (&dst, 0), ==, strides[0]);
    g_assert_true (gst_video_frame_copy (&dst, &src));
    gst_video_frame_unmap (&src);
    gst_video_frame_unmap (&dst);

    GstHarness *hx = harness_for (formats[f], w, h, NULL);
    GstBuffer *a = gst_harness_push_and_pull (hx, packed);
    GstBuffer *b = gst_harness_push_and_pull (hx, padded);
    GstVideoInfo out_info;
    gst_video_info_set_format (&out_info, GST_VIDEO_INFO_FORMAT (&info), 2 * w, 2 * h);
    GstVideoFrame fa, fb;
    g_assert_true (gst_video_frame_map (&fa, &out_info, a, GST_MAP_READ));
    g_assert_true (gst_video_frame_map (&fb, &out_info, b, GST_MAP_READ));
    for (guint p = 0; p < GST_VIDEO_FRAME_N_PLANES (&fa); p++)
      g_assert_cmpfloat (test_fraction_off (GST_VIDEO_FRAME_PLANE_DATA (&fa, p),
              GST_VIDEO_FRAME_PLANE_STRIDE (&fa, p), GST_VIDEO_FRAME_PLANE_DATA (&fb, p),
              GST_VIDEO_FRAME_PLANE_STRIDE (&fb, p),
              GST_VIDEO_FRAME_COMP_WIDTH (&fa, p) * GST_VIDEO_FRAME_COMP_PSTRIDE (&fa, p),
              GST_VIDEO_FRAME_COMP_HEIGHT (&fa, p), 0), ==, 0.0);
    gst_video_frame_unmap (&fa);
    gst_video_frame_unmap (&fb);
    gst_buffer_unref (a);
    gst_buffer_unref (b);
    gst_harness_teardown (hx);
  }
}

static void
test_timestamps_kept (void)
{
  GstHarness *hx = harness_for ("I420", 16, 16, NULL);
  GstVideoInfo info;
  gst_video_info_set_format (&info, GST_VIDEO_FORMAT_I420, 16, 16);
  for (int i = 0; i < 5; i++) {
    GstBuffer *in = make_frame (&info, i * GST_SECOND / 30 + 123);
    GST_BUFFER_DTS (in) = i * GST_SECOND / 30;
    GST_BUFFER_OFFSET (in) = i;
    GstBuffer *out = gst_harness_push_and_pull (hx, in);
    g_assert_cmpuint (GST_BUFFER_PTS (out), ==, i * GST_SECOND / 30 + 123);
    g_assert_cmpuint (GST_BUFFER_DTS (out), ==, i * GST_SECOND / 30);
    g_assert_cmpuint (GST_BUFFER_DURATION (out), ==, GST_SECOND / 30);
    gst_buffer_unref (out);
  }
  gst_harness_teardown (hx);
}

/* READY->PAUSED must fail with an error naming the file; returns the error's debug text. */
static char *
start_fails_with_error (const char *model)
{
  GstElement *pipe = gst_pipeline_new (NULL);
  GstElement *el = gst_element_factory_make ("superres", NULL);
  g_object_set (el, "model", model, NULL);
  gst_bin_add (GST_BIN (pipe), el);
  g_assert_cmpint (gst_element_set_state (pipe, GST_STATE_PAUSED), ==, GST_STATE_CHANGE_FAILURE);
  GstBus *bus = gst_element_get_bus (pipe);
  GstMessage *msg = gst_bus_pop_filtered (bus, GST_MESSAGE_ERROR);
  gst_object_unref (bus);
  g_assert_nonnull (msg);
  GError *error = NULL;
  char *debug = NULL;
  gst_message_parse_error (msg, &error, &debug);
  char *text = g_strdup_printf ("%s | %s", error->message, debug);
  g_assert_nonnull (strstr (text, model));
  g_error_free (error);
  g_free (debug);
  gst_message_unref (msg);
  gst_element_set_state (pipe, GST_STATE_NULL);
  gst_object_unref (pipe);
  return text;
}

static void
test_bad_model_fails_start (void)
{
  g_autofree char *missing = start_fails_with_error ("/nonexistent/x.safetensors");
  g_assert_nonnull (strstr (missing, "No such file"));

  /* a truncated copy of the real model */
  char *bytes;
  gsize size;
  g_assert_true (g_file_get_contents (test_model_path (), &bytes, &size, NULL));
  g_autofree char *dir = g_dir_make_tmp ("superres-XXXXXX", NULL);
  g_autofree char *path = g_build_filename (dir, "truncated.safetensors", NULL);
  g_assert_true (g_file_set_contents (path, bytes, size / 2, NULL));
  g_autofree char *truncated = start_fails_with_error (path);
  g_assert_nonnull (strstr (truncated, "truncated"));

  g_assert_true (g_file_set_contents (path, "not a model at all", -1, NULL));
  g_autofree char *junk = start_fails_with_error (path);
  g_test_message ("%s", junk);
  g_unlink (path);
  g_rmdir (dir);
  g_free (bytes);
}

/* A named backend that cannot start (not built, or no device matching `device`) fails
 * the start with an error saying why; it never runs elsewhere silently. */
static void
test_named_backend_fails_start (void)
{
  const char *kinds[] = { "vulkan", "opencl" };
  for (guint i = 0; i < G_N_ELEMENTS (kinds); i++) {
    g_autofree char *desc = g_strdup_printf ("videotestsrc num-buffers=2 ! "
        "video/x-raw,format=GRAY8,width=16,height=16 ! superres backend=%s "
        "device=no-such-device-xyz ! fakesink", kinds[i]);
    GstMessage *msg = pipeline_error (desc);
    GError *error = NULL;
    char *debug = NULL;
    gst_message_parse_error (msg, &error, &debug);
    g_test_message ("%s: %s | %s", kinds[i], error->message, debug);
    g_assert_nonnull (strstr (error->message, kinds[i]));
    g_assert_nonnull (strstr (debug, sr_backend_is_built (i ? SR_BACKEND_OPENCL :
                SR_BACKEND_VULKAN) ? "no-such-device-xyz" : "not built"));
    g_error_free (error);
    g_free (debug);
    gst_message_unref (msg);
  }
}

/* backend=vulkan / opencl in a pipeline gives the CPU backend's picture (within 1/255 on
 * >= 99.9% of pixels) on the golden frame, where a device is present. */
static void
test_gpu_backend_in_pipeline (void)
{
  const char *kinds[] = { "vulkan", "opencl" };
  const char *required = g_getenv ("SR_REQUIRE_BACKENDS");
  g_autofree char *lr_path = test_data_path ("golden-lr.pgm");
  TestImage lr = test_read_pgm (lr_path);
  GstVideoInfo out_info;
  gst_video_info_set_format (&out_info, GST_VIDEO_FORMAT_GRAY8, 2 * lr.width, 2 * lr.height);
  GstBuffer *outs[3];
  SrModel *model = sr_model_load (test_model_path (), NULL);
  /* the GPU backends compute in fp32: compare with the CPU's fp32 path */
  char *saved_precision = test_env_push ("SR_CPU_PRECISION", "fp32");
  for (guint i = 0; i < 3; i++) {
    if (i) {
      /* the harness cannot take a failed start: probe the backend first */
      SrEngineConfig config = { i == 1 ? SR_BACKEND_VULKAN : SR_BACKEND_OPENCL, 0, 0, NULL };
      SrEngine *probe = sr_engine_new (model, &config, NULL);
      if (!probe) {
        g_assert_true (!required || !strstr (required, kinds[i - 1]));
        g_test_message ("%s: not available here, skipped", kinds[i - 1]);
        continue;
      }
      sr_engine_free (probe);
    }
    g_autofree char *props = g_strdup_printf ("backend=%s", i ? kinds[i - 1] : "cpu");
    GstHarness *hx = harness_for ("GRAY8", lr.width, lr.height, props);
    outs[i] = gst_harness_push_and_pull (hx, gray8_buffer (&lr));
    gst_harness_teardown (hx);
    g_assert_nonnull (outs[i]);
    if (i) {
      GstMapInfo a, b;
      gst_buffer_map (outs[0], &a, GST_MAP_READ);
      gst_buffer_map (outs[i], &b, GST_MAP_READ);
      int stride = GST_VIDEO_INFO_PLANE_STRIDE (&out_info, 0);
      double off = test_fraction_off (a.data, stride, b.data, stride, 2 * lr.width,
          2 * lr.height, 1);
      g_test_message ("%s: %.4f%% of pixels off by > 1/255", kinds[i - 1], 100 * off);
      g_assert_cmpfloat (off, <=, 0.001);
      gst_buffer_unmap (outs[0], &a);
      gst_buffer_unmap (outs[i], &b);
      gst_buffer_unref (outs[i]);
    }
  }
  gst_buffer_unref (outs[0]);
  test_env_pop ("SR_CPU_PRECISION", saved_precision);
  sr_model_free (model);
  g_free (lr.data);
}

/* target-fps: frames over budget raise the exit threshold, so depth (and work) drops
 * instead of frames being late. */
static void
test_target_fps_trades_quality (void)
{
  SrModel *model = sr_model_load (test_model_path (), NULL);
  int max_depth = model ? sr_model_get_max_depth (model) : 0;
  double base = model ? sr_model_get_default_exit_threshold (model) : 0;
  sr_model_free (model);
  if (max_depth == 0) {
    g_test_skip ("the model has no exits");
    return;
  }
  GstHarness *hx = harness_for ("I420", 320, 192, "target-fps=1000");
  GstVideoInfo info;
  gst_video_info_set_format (&info, GST_VIDEO_FORMAT_I420, 320, 192);
  for (int i = 0; i < 15; i++)
    gst_buffer_unref (gst_harness_push_and_pull (hx, make_frame (&info, i * GST_SECOND / 30)));
  GstStructure *stats = NULL;
  GstElement *sr = gst_harness_find_element (hx, "superres");
  g_object_get (sr, "stats", &stats, NULL);
  gst_object_unref (sr);
  double threshold, depth;
  g_assert_true (gst_structure_get_double (stats, "exit-threshold", &threshold));
  g_assert_true (gst_structure_get_double (stats, "mean-depth", &depth));
  g_test_message ("after 15 frames: threshold %.3f (base %.3f), mean depth %.2f of %d",
      threshold, base, depth, max_depth);
  g_assert_cmpfloat (threshold, >, base + 0.1);
  g_assert_cmpfloat (depth, <, max_depth);
  gst_structure_free (stats);
  gst_harness_teardown (hx);
}

int
main (int argc, char **argv)
{
  gst_init (&argc, &argv);
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/superres/negotiation-all-formats", test_negotiation_all_formats);
  g_test_add_func ("/superres/negotiation-refuses-impossible", test_negotiation_refuses_impossible);
  g_test_add_func ("/superres/output-sizes", test_output_sizes);
  g_test_add_func ("/superres/chained-and-hd-sizes", test_chained_and_hd_sizes);
  g_test_add_func ("/superres/active-properties-and-metadata",
      test_active_properties_and_metadata);
  g_test_add_func ("/superres/late-frames-and-running-time", test_late_frames_and_running_time);
  g_test_add_func ("/superres/live-degrades-not-drops", test_live_degrades_not_drops);
  g_test_add_func ("/superres/navigation-and-roi-scaled", test_navigation_and_roi_scaled);
  g_test_add_func ("/superres/10-bit-formats", test_10_bit_formats);
  g_test_add_func ("/superres/output-matches-golden", test_output_matches_golden);
  g_test_add_func ("/superres/padded-stride-input", test_padded_stride_input);
  g_test_add_func ("/superres/timestamps-kept", test_timestamps_kept);
  g_test_add_func ("/superres/bad-model-fails-start", test_bad_model_fails_start);
  g_test_add_func ("/superres/named-backend-fails-start", test_named_backend_fails_start);
  g_test_add_func ("/superres/gpu-backend-in-pipeline", test_gpu_backend_in_pipeline);
  g_test_add_func ("/superres/target-fps-trades-quality", test_target_fps_trades_quality);
  return g_test_run ();
}
