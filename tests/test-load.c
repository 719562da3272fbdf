/* superres under load and time (docs/reliability.md): a long run with RSS sampled, 20
 * instances in one process behind a tee, NULL->PLAYING->NULL cycles on every backend, two
 * processes on one GPU device. $SR_LOAD_FRAMES (default 1000) sets the long run's length:
 * the documented soak is SR_LOAD_FRAMES=10000; $SR_LOAD_CYCLES (default 100) the cycles. */
#include <gio/gio.h>
#include <gst/gst.h>
#include <sr-core/sr-core.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "test-util.h"

#if defined(__SANITIZE_ADDRESS__)
#define UNDER_ASAN 1 /* its quarantine holds freed memory: RSS says nothing about leaks */
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define UNDER_ASAN 1
#endif
#endif
#ifndef UNDER_ASAN
#define UNDER_ASAN 0
#endif

static guint64
env_count (const char *name, guint64 fallback)
{
  const char *v = g_getenv (name);
  return v ? g_ascii_strtoull (v, NULL, 10) : fallback;
}

/* Resident set size in KiB (/proc/self/statm). */
static gint64
rss_kib (void)
{
  g_autofree char *text = NULL;
  if (!g_file_get_contents ("/proc/self/statm", &text, NULL, NULL))
    return -1;
  long pages = 0, resident = 0;
  if (sscanf (text, "%ld %ld", &pages, &resident) != 2)
    return -1;
  return resident * (sysconf (_SC_PAGESIZE) / 1024);
}

static GstPadProbeReturn
count_buffer (GstPad *pad, GstPadProbeInfo *info, gpointer counter)
{
  g_atomic_int_inc ((gint *) counter);
  return GST_PAD_PROBE_OK;
}

/* Counts the buffers reaching the sink pad of the element called `name`. */
static void
count_at (GstElement *pipe, const char *name, gint *counter)
{
  GstElement *el = gst_bin_get_by_name (GST_BIN (pipe), name);
  g_assert_nonnull (el);
  GstPad *pad = gst_element_get_static_pad (el, "sink");
  gst_pad_add_probe (pad, GST_PAD_PROBE_TYPE_BUFFER, count_buffer, counter, NULL);
  gst_object_unref (pad);
  gst_object_unref (el);
}

/* Runs the pipeline to EOS, failing on an error or after `timeout_s`. */
static void
play_to_eos (GstElement *pipe, int timeout_s)
{
  g_assert_cmpint (gst_element_set_state (pipe, GST_STATE_PLAYING), !=, GST_STATE_CHANGE_FAILURE);
  GstBus *bus = gst_element_get_bus (pipe);
  GstMessage *msg = gst_bus_timed_pop_filtered (bus, timeout_s * GST_SECOND,
      GST_MESSAGE_ERROR | GST_MESSAGE_EOS);
  gst_object_unref (bus);
  g_assert_nonnull (msg);
  if (GST_MESSAGE_TYPE (msg) == GST_MESSAGE_ERROR) {
    GError *error = NULL;
    gst_message_parse_error (msg, &error, NULL);
    g_error ("pipeline error: %s", error->message);
  }
  gst_message_unref (msg);
  g_assert_cmpint (gst_element_set_state (pipe, GST_STATE_NULL), ==, GST_STATE_CHANGE_SUCCESS);
}

/* SR_LOAD_FRAMES frames of 160x96 I420 through one superres; RSS sampled every 100 frames
 * after a warm-up of 10% stays within 4 MiB of its first sample. */
static void
test_long_run (void)
{
  const guint64 frames = env_count ("SR_LOAD_FRAMES", 1000);
  g_autofree char *desc = g_strdup_printf ("videotestsrc num-buffers=%" G_GUINT64_FORMAT
      " pattern=ball ! video/x-raw,format=I420,width=160,height=96,framerate=30/1 ! "
      "superres backend=cpu ! fakesink name=sink", frames);
  GstElement *pipe = gst_parse_launch (desc, NULL);
  gint count = 0;
  count_at (pipe, "sink", &count);
  GArray *samples = g_array_new (FALSE, FALSE, sizeof (gint64));
  g_assert_cmpint (gst_element_set_state (pipe, GST_STATE_PLAYING), !=, GST_STATE_CHANGE_FAILURE);
  GstBus *bus = gst_element_get_bus (pipe);
  gint64 next = frames / 10;
  gint64 t0 = g_get_monotonic_time ();
  for (;;) {
    GstMessage *msg = gst_bus_timed_pop_filtered (bus, 20 * GST_MSECOND,
        GST_MESSAGE_ERROR | GST_MESSAGE_EOS);
    if (g_atomic_int_get (&count) >= next || msg) {
      gint64 rss = rss_kib ();
      g_array_append_val (samples, rss);
      next += 100;
    }
    if (msg) {
      g_assert_cmpint (GST_MESSAGE_TYPE (msg), ==, GST_MESSAGE_EOS);
      gst_message_unref (msg);
      break;
    }
    g_assert_cmpint (g_get_monotonic_time () - t0, <, (gint64) 3600 * G_USEC_PER_SEC);
  }
  gst_object_unref (bus);
  gst_element_set_state (pipe, GST_STATE_NULL);
  gst_object_unref (pipe);
  g_assert_cmpint (count, ==, frames);
  gint64 first = g_array_index (samples, gint64, 0), lo = first, hi = first;
  for (guint i = 0; i < samples->len; i++) {
    lo = MIN (lo, g_array_index (samples, gint64, i));
    hi = MAX (hi, g_array_index (samples, gint64, i));
  }
  double seconds = (g_get_monotonic_time () - t0) / 1e6;
  g_test_message ("%d frames in %.1f s; RSS after warm-up: %u samples, first %" G_GINT64_FORMAT
      " KiB, min %" G_GINT64_FORMAT ", max %" G_GINT64_FORMAT ", last %" G_GINT64_FORMAT
      " (max - first %+" G_GINT64_FORMAT " KiB)", count, seconds, samples->len, first, lo, hi,
      g_array_index (samples, gint64, samples->len - 1), hi - first);
  if (!UNDER_ASAN)
    g_assert_cmpint (hi - first, <=, 4096);
  g_array_unref (samples);
}

/* 20 superres in one process behind a tee, each on its own thread (queue): every branch
 * gets every frame. */
static void
test_twenty_instances (void)
{
  const int n = 20, frames = 30;
  GString *desc = g_string_new (NULL);
  g_string_append_printf (desc, "videotestsrc num-buffers=%d ! video/x-raw,format=I420,width=64,"
      "height=48,framerate=30/1 ! tee name=t", frames);
  for (int i = 0; i < n; i++)
    g_string_append_printf (desc, " t. ! queue ! superres backend=cpu n-threads=1 ! "
        "fakesink name=sink%d", i);
  GstElement *pipe = gst_parse_launch (desc->str, NULL);
  g_string_free (desc, TRUE);
  gint counts[20] = { 0 };
  for (int i = 0; i < n; i++) {
    g_autofree char *name = g_strdup_printf ("sink%d", i);
    count_at (pipe, name, &counts[i]);
  }
  play_to_eos (pipe, 300);
  gst_object_unref (pipe);
  for (int i = 0; i < n; i++)
    g_assert_cmpint (counts[i], ==, frames);
}

/* SR_LOAD_CYCLES NULL->PLAYING->NULL cycles of a two-frame stream on the backend: every
 * cycle ends in EOS with both frames; RSS after the last cycle stays within 16 MiB of its
 * value after the tenth (devices and kernels are set up again each cycle). */
static void
test_state_cycles (gconstpointer data)
{
  SrBackendKind kind = GPOINTER_TO_INT (data);
  if (!test_backend_available (kind))
    return;
  const guint64 cycles = env_count ("SR_LOAD_CYCLES", 100);
  g_autofree char *desc = g_strdup_printf ("videotestsrc num-buffers=2 ! "
      "video/x-raw,format=I420,width=32,height=24,framerate=30/1 ! superres backend=%s ! "
      "fakesink name=sink", sr_backend_kind_name (kind));
  GstElement *pipe = gst_parse_launch (desc, NULL);
  gint count = 0;
  count_at (pipe, "sink", &count);
  gint64 rss_10 = 0, t0 = g_get_monotonic_time ();
  for (guint64 c = 0; c < cycles; c++) {
    play_to_eos (pipe, 60);
    if (c == MIN (9, cycles - 1))
      rss_10 = rss_kib ();
  }
  gint64 rss_end = rss_kib ();
  gst_object_unref (pipe);
  g_test_message ("%s: %" G_GUINT64_FORMAT " cycles in %.1f s, RSS %" G_GINT64_FORMAT
      " KiB after 10, %" G_GINT64_FORMAT " after all (%+" G_GINT64_FORMAT ")",
      sr_backend_kind_name (kind), cycles, (g_get_monotonic_time () - t0) / 1e6, rss_10, rss_end,
      rss_end - rss_10);
  g_assert_cmpint (count, ==, 2 * cycles);
  if (!UNDER_ASAN)
    g_assert_cmpint (rss_end - rss_10, <=, 16384);
}

/* Two processes (this test binary again, in child mode) upscale on the same Vulkan or
 * OpenCL device at the same time; both finish every frame. */
static void
test_two_processes (gconstpointer data)
{
  SrBackendKind kind = GPOINTER_TO_INT (data);
  if (!test_backend_available (kind))
    return;
  const char *name = sr_backend_kind_name (kind);
  GSubprocess *children[2];
  for (int i = 0; i < 2; i++) {
    g_autoptr (GSubprocessLauncher) launcher = g_subprocess_launcher_new (
        G_SUBPROCESS_FLAGS_STDOUT_PIPE);
    g_subprocess_launcher_setenv (launcher, "SR_LOAD_CHILD", name, TRUE);
    g_autoptr (GError) error = NULL;
    children[i] = g_subprocess_launcher_spawn (launcher, &error, "/proc/self/exe", NULL);
    g_assert_no_error (error);
  }
  for (int i = 0; i < 2; i++) {
    g_autoptr (GError) error = NULL;
    g_autofree char *out = NULL;
    g_assert_true (g_subprocess_communicate_utf8 (children[i], NULL, NULL, &out, NULL, &error));
    g_assert_no_error (error);
    g_test_message ("child %d: %s", i, g_strstrip (out));
    g_assert_true (g_subprocess_get_if_exited (children[i]));
    g_assert_cmpint (g_subprocess_get_exit_status (children[i]), ==, 0);
    g_assert_cmpstr (out, ==, "20 frames");
    g_object_unref (children[i]);
  }
}

/* Child mode of test_two_processes: 20 frames on the named backend. */
static int
child_main (const char *backend)
{
  g_autofree char *desc = g_strdup_printf ("videotestsrc num-buffers=20 ! "
      "video/x-raw,format=I420,width=48,height=32,framerate=30/1 ! superres backend=%s ! "
      "fakesink name=sink", backend);
  GstElement *pipe = gst_parse_launch (desc, NULL);
  gint count = 0;
  count_at (pipe, "sink", &count);
  play_to_eos (pipe, 300);
  gst_object_unref (pipe);
  printf ("%d frames\n", count);
  return 0;
}

int
main (int argc, char **argv)
{
  gst_init (&argc, &argv);
  const char *child = g_getenv ("SR_LOAD_CHILD");
  if (child)
    return child_main (child);
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/load/long-run", test_long_run);
  g_test_add_func ("/load/twenty-instances", test_twenty_instances);
  const SrBackendKind kinds[] = { SR_BACKEND_CPU, SR_BACKEND_VULKAN, SR_BACKEND_OPENCL };
  for (guint i = 0; i < G_N_ELEMENTS (kinds); i++) {
    g_autofree char *path = g_strdup_printf ("/load/state-cycles/%s",
        sr_backend_kind_name (kinds[i]));
    g_test_add_data_func (path, GINT_TO_POINTER (kinds[i]), test_state_cycles);
  }
  for (guint i = 1; i < G_N_ELEMENTS (kinds); i++) {
    g_autofree char *path = g_strdup_printf ("/load/two-processes/%s",
        sr_backend_kind_name (kinds[i]));
    g_test_add_data_func (path, GINT_TO_POINTER (kinds[i]), test_two_processes);
  }
  return g_test_run ();
}
