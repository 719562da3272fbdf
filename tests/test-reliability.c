/* superres under hostile use (docs/reliability.md): properties set in every order and
 * while playing, short input buffers, frame sizes beyond the memory bound, a GPU backend
 * failing mid-stream. */
#include <gst/check/gstharness.h>
#include <gst/video/video.h>
#include <sr-core/sr-core.h>
#include <malloc.h>
#include <string.h>

#include "test-util.h"

/* The element's own writable properties, each with a value other than its default. */
typedef struct {
  GParamSpec *pspec;
  GValue value;
} PropValue;

static PropValue *
writable_props (GObjectClass *klass, guint *n_out)
{
  guint n_all;
  GParamSpec **all = g_object_class_list_properties (klass, &n_all);
  PropValue *props = g_new0 (PropValue, n_all);
  guint n = 0;
  for (guint i = 0; i < n_all; i++) {
    GParamSpec *p = all[i];
    if (p->owner_type != G_OBJECT_CLASS_TYPE (klass) || !(p->flags & G_PARAM_WRITABLE) ||
        !(p->flags & G_PARAM_READABLE) || (p->flags & G_PARAM_CONSTRUCT_ONLY))
      continue;
    GValue *v = &props[n].value;
    g_value_init (v, p->value_type);
    if (G_IS_PARAM_SPEC_STRING (p)) {
      g_autofree char *s = g_strdup_printf ("value-of-%s", p->name);
      g_value_set_string (v, s);
    } else if (G_IS_PARAM_SPEC_ENUM (p)) {
      GEnumClass *e = G_PARAM_SPEC_ENUM (p)->enum_class;
      g_value_set_enum (v, e->values[e->n_values - 1].value);
    } else if (G_IS_PARAM_SPEC_UINT (p)) {
      g_value_set_uint (v, G_PARAM_SPEC_UINT (p)->minimum + 3);
    } else if (G_IS_PARAM_SPEC_INT (p)) {
      g_value_set_int (v, G_PARAM_SPEC_INT (p)->minimum + 3);
    } else if (G_IS_PARAM_SPEC_DOUBLE (p)) {
      g_value_set_double (v, G_PARAM_SPEC_DOUBLE (p)->minimum + 0.25);
    } else if (G_IS_PARAM_SPEC_BOOLEAN (p)) {
      g_value_set_boolean (v, !G_PARAM_SPEC_BOOLEAN (p)->default_value);
    } else {
      g_error ("no test value for property %s of type %s", p->name, g_type_name (p->value_type));
    }
    g_assert_false (g_param_value_defaults (p, v));
    props[n++].pspec = p;
  }
  g_free (all);
  *n_out = n;
  return props;
}

static void
free_props (PropValue *props, guint n)
{
  for (guint i = 0; i < n; i++)
    g_value_unset (&props[i].value);
  g_free (props);
}

static void
assert_props_read_back (GObject *obj, PropValue *props, guint n)
{
  for (guint i = 0; i < n; i++) {
    GValue got = G_VALUE_INIT;
    g_value_init (&got, props[i].pspec->value_type);
    g_object_get_property (obj, props[i].pspec->name, &got);
    if (g_param_values_cmp (props[i].pspec, &got, &props[i].value) != 0)
      g_error ("property %s does not read back what was set", props[i].pspec->name);
    g_value_unset (&got);
  }
}

/* Heap's algorithm: every permutation of order[0..k) in turn. */
static void
each_order (guint *order, guint k, guint n, void (*run) (const guint *, guint, gpointer),
    gpointer data)
{
  if (k <= 1) {
    run (order, n, data);
    return;
  }
  for (guint i = 0; i < k; i++) {
    each_order (order, k - 1, n, run, data);
    guint j = k % 2 ? 0 : i, t = order[j];
    order[j] = order[k - 1];
    order[k - 1] = t;
  }
}

static void
set_in_order (const guint *order, guint n, gpointer data)
{
  PropValue *props = data;
  GstElement *el = gst_element_factory_make ("superres", NULL);
  for (guint i = 0; i < n; i++)
    g_object_set_property (G_OBJECT (el), props[order[i]].pspec->name, &props[order[i]].value);
  assert_props_read_back (G_OBJECT (el), props, n);
  gst_object_unref (el);
}

/* Every writable property set in every order (all permutations) reads back what was set:
 * setting one must never disturb another (model used to free device). */
static void
test_properties_every_order (void)
{
  GstElement *el = gst_element_factory_make ("superres", NULL);
  guint n;
  PropValue *props = writable_props (G_OBJECT_GET_CLASS (el), &n);
  gst_object_unref (el);
  g_assert_cmpuint (n, >=, 7);
  /* all n! orders up to 8 properties (40320 elements, about a second); beyond that every
   * rotation of every ordered pair, so the test stays fast as properties are added */
  guint *order = g_new (guint, n);
  for (guint i = 0; i < n; i++)
    order[i] = i;
  if (n <= 8) {
    each_order (order, n, n, set_in_order, props);
  } else {
    for (guint a = 0; a < n; a++)
      for (guint b = 0; b < n; b++) {
        if (a == b)
          continue;
        guint k = 0;
        order[k++] = a;
        order[k++] = b;
        for (guint i = 0; i < n; i++)
          if (i != a && i != b)
            order[k++] = i;
        set_in_order (order, n, props);
      }
  }
  g_free (order);
  free_props (props, n);
}

static GstHarness *
video_harness (const char *format, int w, int h, const char *props)
{
  g_autofree char *desc = g_strdup_printf ("superres %s", props ? props : "");
  GstHarness *hx = gst_harness_new_parse (desc);
  g_autofree char *caps = g_strdup_printf ("video/x-raw,format=%s,width=%d,height=%d,"
      "framerate=30/1", format, w, h);
  gst_harness_set_src_caps_str (hx, caps);
  return hx;
}

/* A frame of `format` whose bytes (every plane) follow a pattern that changes with `seed`. */
static GstBuffer *
video_frame (const char *format, int w, int h, int seed, GstClockTime pts)
{
  GstVideoInfo info;
  gst_video_info_set_format (&info, gst_video_format_from_string (format), w, h);
  GstBuffer *buf = gst_buffer_new_allocate (NULL, GST_VIDEO_INFO_SIZE (&info), NULL);
  GstMapInfo map;
  gst_buffer_map (buf, &map, GST_MAP_WRITE);
  for (gsize i = 0; i < map.size; i++)
    map.data[i] = (i * 7 + i / w * 13 + seed * 29) & 255;
  gst_buffer_unmap (buf, &map);
  GST_BUFFER_PTS (buf) = pts;
  GST_BUFFER_DURATION (buf) = GST_SECOND / 30;
  return buf;
}

static GstHarness *
gray8_harness (int w, int h, const char *props)
{
  return video_harness ("GRAY8", w, h, props);
}

static GstBuffer *
gray8_frame (int w, int h, int seed, GstClockTime pts)
{
  return video_frame ("GRAY8", w, h, seed, pts);
}

/* Properties that may change while PLAYING do, between frames, and the stream goes on;
 * each reads back what was set. */
static void
test_properties_while_playing (void)
{
  GstHarness *hx = gray8_harness (40, 24, NULL);
  GstElement *el = gst_harness_find_element (hx, "superres");
  guint n;
  PropValue *props = writable_props (G_OBJECT_GET_CLASS (el), &n);
  guint frame = 0, mutable = 0;
  for (guint i = 0; i < n; i++) {
    if (!(props[i].pspec->flags & GST_PARAM_MUTABLE_PLAYING))
      continue;
    mutable++;
    gst_buffer_unref (gst_harness_push_and_pull (hx, gray8_frame (40, 24, frame, frame *
                GST_SECOND / 30)));
    frame++;
    g_object_set_property (G_OBJECT (el), props[i].pspec->name, &props[i].value);
    GstBuffer *out = gst_harness_push_and_pull (hx, gray8_frame (40, 24, frame, frame *
            GST_SECOND / 30));
    g_assert_nonnull (out);
    g_assert_cmpuint (GST_BUFFER_PTS (out), ==, frame * GST_SECOND / 30);
    gst_buffer_unref (out);
    frame++;
    assert_props_read_back (G_OBJECT (el), &props[i], 1);
  }
  g_assert_cmpuint (mutable, >=, 3); /* exit-threshold, target-fps, post-stats */
  free_props (props, n);
  gst_object_unref (el);
  gst_harness_teardown (hx);
}

/* The element's bus, so its warnings and errors can be read in a harness. */
static GstBus *
watch_bus (GstHarness *hx)
{
  GstBus *bus = gst_bus_new ();
  gst_element_set_bus (hx->element, bus);
  return bus;
}

/* Drops what is left on the bus and detaches it: a queued message holds a reference to the
 * bin that holds the bus, a cycle only a pipeline's READY->NULL flush would break. */
static void
unwatch_bus (GstHarness *hx, GstBus *bus)
{
  gst_bus_set_flushing (bus, TRUE);
  gst_element_set_bus (hx->element, NULL);
  gst_object_unref (bus);
}

static int
count_messages (GstBus *bus, GstMessageType type, const char *needle)
{
  int n = 0;
  GstMessage *msg;
  while ((msg = gst_bus_pop_filtered (bus, type))) {
    GError *error = NULL;
    char *debug = NULL;
    if (type == GST_MESSAGE_WARNING)
      gst_message_parse_warning (msg, &error, &debug);
    else
      gst_message_parse_error (msg, &error, &debug);
    g_test_message ("%s | %s", error->message, debug);
    n += needle == NULL || strstr (error->message, needle) || (debug && strstr (debug, needle));
    g_error_free (error);
    g_free (debug);
    gst_message_unref (msg);
  }
  return n;
}

/* A buffer shorter than its caps (or empty) is dropped with a warning, never answered with
 * an output frame superres did not write. */
static void
test_short_buffer_dropped (void)
{
  GstHarness *hx = gray8_harness (32, 16, NULL);
  GstBus *bus = watch_bus (hx);
  GstBuffer *shorts[] = { gst_buffer_new_allocate (NULL, 100, NULL), gst_buffer_new () };
  for (guint i = 0; i < G_N_ELEMENTS (shorts); i++) {
    GST_BUFFER_PTS (shorts[i]) = i * GST_SECOND / 30;
    g_assert_cmpint (gst_harness_push (hx, shorts[i]), ==, GST_FLOW_OK);
  }
  g_assert_cmpint (gst_harness_push (hx, gray8_frame (32, 16, 0, GST_SECOND)), ==, GST_FLOW_OK);
  g_assert_cmpuint (gst_harness_buffers_received (hx), ==, 1);
  GstBuffer *out = gst_harness_pull (hx);
  g_assert_cmpuint (GST_BUFFER_PTS (out), ==, GST_SECOND);
  gst_buffer_unref (out);
  g_assert_cmpint (count_messages (bus, GST_MESSAGE_WARNING, "Dropped"), ==, 2);
  unwatch_bus (hx, bus);
  gst_harness_teardown (hx);
}

/* Frame sizes whose working memory would pass SR_MAX_FRAME_MEMORY are refused at negotiation
 * with a message saying so (a net with exits, the ghost net or the default, at 16384x16384
 * needs just over 1 GiB on the CPU: its luma plane for the predictor, 4 bytes a pixel, and
 * its rings; here over a bound of 1 GiB); smaller ones are accepted. Every shipped model has
 * exits since stop 24 (the int8 one too); a net without them (rings of rows only) was
 * accepted at 16384x16384. */
static void
test_huge_frames_refused (void)
{
  g_setenv ("SR_MAX_FRAME_MEMORY", "1024", TRUE);
  const struct {
    const char *model;
    int side;
    gboolean ok;
  } cases[] = {
    { SR_GHOST_MODEL, 16384, FALSE }, { SR_GHOST_MODEL, 2048, TRUE },
    { SR_DEFAULT_MODEL, 16384, FALSE }, { SR_DEFAULT_MODEL, 2048, TRUE },
    { SR_INT8_MODEL, 16384, FALSE }, { SR_INT8_MODEL, 2048, TRUE },
  };
  for (guint i = 0; i < G_N_ELEMENTS (cases); i++) {
    g_autofree char *desc = g_strdup_printf ("superres model=%s backend=cpu", cases[i].model);
    GstHarness *hx = gst_harness_new_parse (desc);
    GstBus *bus = watch_bus (hx);
    g_autofree char *caps = g_strdup_printf ("video/x-raw,format=GRAY8,width=%d,height=%d,"
        "framerate=30/1", cases[i].side, cases[i].side);
    gst_harness_set_src_caps_str (hx, caps);
    int refusals = count_messages (bus, GST_MESSAGE_ERROR, "limit");
    if (cases[i].ok)
      g_assert_cmpint (refusals, ==, 0);
    else
      g_assert_cmpint (refusals, >=, 1); /* once per negotiation attempt */
    unwatch_bus (hx, bus);
    gst_harness_teardown (hx);
  }
  g_unsetenv ("SR_MAX_FRAME_MEMORY");
}

/* qualitymeter with a harness on each sink pad; `segment` replaces the harness's time segment
 * when not NULL. */
typedef struct {
  GstHarness *test, *ref;
} Meter;

static Meter
meter_new (int w, int h, const GstSegment *segment)
{
  Meter m;
  m.test = gst_harness_new_with_padnames ("qualitymeter", "test", "src");
  m.ref = gst_harness_new_with_element (m.test->element, "reference", NULL);
  g_autofree char *caps = g_strdup_printf ("video/x-raw,format=GRAY8,width=%d,height=%d,"
      "framerate=30/1", w, h);
  gst_harness_set_src_caps_str (m.test, caps);
  gst_harness_set_src_caps_str (m.ref, caps);
  if (segment) {
    gst_harness_push_event (m.test, gst_event_new_segment (segment));
    gst_harness_push_event (m.ref, gst_event_new_segment (segment));
  }
  return m;
}

/* One frame pair through the meter; the test frame comes out. */
static void
meter_frame (Meter *m, int w, int h, int i)
{
  GstClockTime pts = i * GST_SECOND / 30;
  g_assert_cmpint (gst_harness_push (m->ref, gray8_frame (w, h, i, pts)), ==, GST_FLOW_OK);
  g_assert_cmpint (gst_harness_push (m->test, gray8_frame (w, h, i + 1, pts)), ==, GST_FLOW_OK);
  GstBuffer *out = gst_harness_pull (m->test);
  g_assert_nonnull (out);
  gst_buffer_unref (out);
}

static void
meter_free (Meter *m)
{
  gst_harness_teardown (m->ref);
  gst_harness_teardown (m->test);
}

/* Segments not in time (bytes here) pair frames in arrival order, without the
 * GStreamer-CRITICALs of converting them to running time (fatal in this test). */
static void
test_meter_non_time_segment (void)
{
  GstSegment segment;
  gst_segment_init (&segment, GST_FORMAT_BYTES);
  Meter m = meter_new (16, 16, &segment);
  for (int i = 0; i < 5; i++)
    meter_frame (&m, 16, 16, i);
  meter_free (&m);
}

/* The meter keeps running sums, not every frame's score: the heap in use does not grow
 * with the frame count (it grew by the score array, 48 bytes a frame, before). */
static void
test_meter_memory_flat (void)
{
  Meter m = meter_new (8, 8, NULL);
  for (int i = 0; i < 2000; i++)
    meter_frame (&m, 8, 8, i);
  struct mallinfo2 before = mallinfo2 ();
  for (int i = 2000; i < 30000; i++)
    meter_frame (&m, 8, 8, i);
  struct mallinfo2 after = mallinfo2 ();
  /* uordblks: the heap in use; hblkhd: blocks too large for it (mmap) */
  gssize growth = (gssize) (after.uordblks + after.hblkhd) - (gssize) (before.uordblks +
      before.hblkhd);
  g_test_message ("heap in use grew by %" G_GSSIZE_FORMAT " bytes over 28000 frames", growth);
  g_assert_cmpint (growth, <, 128 * 1024);
  meter_free (&m);
}

/* n I420 frames of w x h through superres with `props`, pts i/30 s; warnings naming `needle`
 * are counted into *warnings. */
static GstBuffer **
upscale_frames (const char *props, int w, int h, int n, const char *needle, int *warnings)
{
  GstHarness *hx = video_harness ("I420", w, h, props);
  GstBus *bus = watch_bus (hx);
  GstBuffer **out = g_new (GstBuffer *, n);
  for (int i = 0; i < n; i++) {
    out[i] = gst_harness_push_and_pull (hx, video_frame ("I420", w, h, i, i * GST_SECOND / 30));
    g_assert_nonnull (out[i]);
  }
  g_assert_cmpuint (gst_harness_buffers_received (hx), ==, n);
  *warnings = count_messages (bus, GST_MESSAGE_WARNING, needle);
  unwatch_bus (hx, bus);
  gst_harness_teardown (hx);
  return out;
}

/* A GPU backend failing at frame 3 (SR_FAULT_GPU_FRAME) hands that frame and the rest to the
 * CPU: every frame comes out with its timestamp, one warning names the cause, the GPU's
 * frames match the CPU within 1/255 and the CPU's are the CPU's exactly. */
static void
test_gpu_failover (gconstpointer data)
{
  SrBackendKind kind = GPOINTER_TO_INT (data);
  const char *name = sr_backend_kind_name (kind);
  if (!test_backend_available (kind))
    return;
  /* the GPU backends compute in fp32: compare with the CPU's fp32 path */
  char *saved_precision = test_env_push ("SR_CPU_PRECISION", "fp32");
  const int w = 48, h = 40, n = 8, fail_at = 3;
  int warnings;
  GstBuffer **cpu = upscale_frames ("backend=cpu", w, h, n, NULL, &warnings);
  g_assert_cmpint (warnings, ==, 0);
  char *saved_fault = test_env_push ("SR_FAULT_GPU_FRAME", "3");
  g_autofree char *props = g_strdup_printf ("backend=%s", name);
  GstBuffer **gpu = upscale_frames (props, w, h, n, "injected fault", &warnings);
  test_env_pop ("SR_FAULT_GPU_FRAME", saved_fault);
  test_env_pop ("SR_CPU_PRECISION", saved_precision);
  g_assert_cmpint (warnings, ==, 1);
  for (int i = 0; i < n; i++) {
    g_assert_cmpuint (GST_BUFFER_PTS (gpu[i]), ==, i * GST_SECOND / 30);
    GstMapInfo a, b;
    gst_buffer_map (cpu[i], &a, GST_MAP_READ);
    gst_buffer_map (gpu[i], &b, GST_MAP_READ);
    g_assert_cmpuint (a.size, ==, b.size);
    double off = test_fraction_off (a.data, a.size, b.data, b.size, a.size, 1, 1);
    g_test_message ("%s frame %d (%s): %.4f%% of samples off by > 1/255", name, i,
        i < fail_at ? "gpu" : "cpu", 100 * off);
    g_assert_cmpfloat (off, ==, 0);
    if (i >= fail_at)
      g_assert_cmpmem (a.data, a.size, b.data, b.size);
    gst_buffer_unmap (cpu[i], &a);
    gst_buffer_unmap (gpu[i], &b);
    gst_buffer_unref (cpu[i]);
    gst_buffer_unref (gpu[i]);
  }
  g_free (cpu);
  g_free (gpu);
}

/* A real failure, not an injected one: a frame whose feature maps pass lavapipe's 128 MiB
 * per buffer goes to the CPU backend, which then keeps the engine. */
static void
test_vulkan_too_large_fails_over (void)
{
  SrModel *model = sr_model_load (test_model_path (), NULL);
  SrEngineConfig config = { SR_BACKEND_VULKAN, 0, 0, "llvmpipe" };
  SrEngine *engine = sr_engine_new (model, &config, NULL);
  if (!engine) {
    sr_model_free (model);
    g_test_skip ("no lavapipe here");
    return;
  }
  const int w = 1500, h = 1500;
  guint8 *in = g_malloc0 ((gsize) w * h), *out = g_malloc ((gsize) 4 * w * h);
  SrPlane src = { in, w, h, w, 1 }, dst = { out, 2 * w, 2 * h, 2 * w, 1 };
  g_autoptr (GError) error = NULL;
  g_assert_true (sr_engine_upscale_luma (engine, &src, &dst, &error));
  g_assert_no_error (error);
  g_assert_cmpint (sr_engine_get_backend (engine), ==, SR_BACKEND_CPU);
  g_autofree char *note = sr_engine_take_failover_note (engine);
  g_test_message ("%s", note);
  g_assert_nonnull (strstr (note, "bytes per buffer"));
  g_assert_null (sr_engine_take_failover_note (engine)); /* reported once */
  g_free (in);
  g_free (out);
  sr_engine_free (engine);
  sr_model_free (model);
}

int
main (int argc, char **argv)
{
  gst_init (&argc, &argv);
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/reliability/properties-every-order", test_properties_every_order);
  g_test_add_func ("/reliability/properties-while-playing", test_properties_while_playing);
  g_test_add_func ("/reliability/short-buffer-dropped", test_short_buffer_dropped);
  g_test_add_func ("/reliability/huge-frames-refused", test_huge_frames_refused);
  g_test_add_func ("/reliability/meter-non-time-segment", test_meter_non_time_segment);
  g_test_add_func ("/reliability/meter-memory-flat", test_meter_memory_flat);
  g_test_add_data_func ("/reliability/failover/vulkan", GINT_TO_POINTER (SR_BACKEND_VULKAN),
      test_gpu_failover);
  g_test_add_data_func ("/reliability/failover/opencl", GINT_TO_POINTER (SR_BACKEND_OPENCL),
      test_gpu_failover);
  g_test_add_func ("/reliability/failover/vulkan-frame-too-large", test_vulkan_too_large_fails_over);
  return g_test_run ();
}
