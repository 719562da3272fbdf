/* sr-bench: times sr-core alone on one luma frame, and the machine's fp32 peak.
 *
 *   sr-bench [--model M] [--input Y.raw --width W --height H] [--frames N]
 *            [--threads T] [--threshold DB] [--peak] [--backend cpu|vulkan|opencl]
 *            [--device D]
 * The kernels are chosen as the library does ($SR_CPU_ISA=c forces the C reference).
 * Prints one JSON object. */
#include <sr-core/sr-core.h>
#include <stdio.h>
#include <string.h>

#include "peak-flops.h"

int
main (int argc, char **argv)
{
  char *model_path = NULL, *input = NULL, *backend = NULL, *device = NULL;
  int width = 640, height = 360, frames = 30, threads = 0, tile = 0;
  double threshold = -1;
  gboolean peak = FALSE;
  GOptionEntry entries[] = {
    { "model", 0, 0, G_OPTION_ARG_FILENAME, &model_path, "model file (default: the default model)", "M" },
    { "input", 0, 0, G_OPTION_ARG_FILENAME, &input, "raw 8-bit luma frame (else a synthetic one)", "Y" },
    { "width", 0, 0, G_OPTION_ARG_INT, &width, "frame width", "W" },
    { "height", 0, 0, G_OPTION_ARG_INT, &height, "frame height", "H" },
    { "frames", 0, 0, G_OPTION_ARG_INT, &frames, "frames to time (after one warm-up)", "N" },
    { "threads", 0, 0, G_OPTION_ARG_INT, &threads, "worker threads (0 = cores)", "T" },
    { "tile", 0, 0, G_OPTION_ARG_INT, &tile, "tile side of the GPU backends (0 = default)", "N" },
    { "threshold", 0, 0, G_OPTION_ARG_DOUBLE, &threshold, "exit threshold (-1 = model default)", "DB" },
    { "peak", 0, 0, G_OPTION_ARG_NONE, &peak, "also measure the fp32 FMA peak", NULL },
    { "backend", 0, 0, G_OPTION_ARG_STRING, &backend, "cpu (default), vulkan, opencl or auto", "B" },
    { "device", 0, 0, G_OPTION_ARG_STRING, &device, "GPU device index or name substring", "D" },
    { NULL }
  };
  g_autoptr (GOptionContext) ctx = g_option_context_new ("- time sr-core alone");
  g_option_context_add_main_entries (ctx, entries, NULL);
  g_autoptr (GError) error = NULL;
  if (!g_option_context_parse (ctx, &argc, &argv, &error)) {
    g_printerr ("%s\n", error->message);
    return 2;
  }
  if (!model_path)
    model_path = sr_model_find_default ();
  SrModel *model = model_path ? sr_model_load (model_path, &error) : NULL;
  if (!model) {
    g_printerr ("no model: %s\n", error ? error->message : "none found");
    return 1;
  }
  gsize size = (gsize) width * height;
  guint8 *lr = g_malloc (size), *hr = g_malloc (4 * size);
  if (input) {
    g_autofree char *bytes = NULL;
    gsize len;
    if (!g_file_get_contents (input, &bytes, &len, &error) || len < size) {
      g_printerr ("cannot read %zu bytes from %s\n", size, input);
      return 1;
    }
    memcpy (lr, bytes, size);
  } else {
    GRand *r = g_rand_new_with_seed (1);
    for (gsize i = 0; i < size; i++)
      lr[i] = (guint8) (64 + 64 * ((i % width) / (double) width) + g_rand_int_range (r, 0, 64));
    g_rand_free (r);
  }
  SrBackendKind kind = SR_BACKEND_CPU;
  const SrBackendKind kinds[] = { SR_BACKEND_AUTO, SR_BACKEND_CPU, SR_BACKEND_VULKAN,
    SR_BACKEND_OPENCL };
  for (guint i = 0; backend && i < G_N_ELEMENTS (kinds); i++)
    if (g_str_equal (backend, sr_backend_kind_name (kinds[i])))
      kind = kinds[i];
  if (backend && !g_str_equal (backend, sr_backend_kind_name (kind))) {
    g_printerr ("unknown backend %s\n", backend);
    return 2;
  }
  SrEngineConfig config = { kind, threads, tile, device };
  SrEngine *engine = sr_engine_new (model, &config, &error);
  if (!engine) {
    g_printerr ("%s\n", error->message);
    return 1;
  }
  sr_engine_set_exit_threshold (engine, threshold >= 0 ? threshold
      : sr_model_get_default_exit_threshold (model));
  SrPlane src = { lr, width, height, width, 1 }, dst = { hr, 2 * width, 2 * height, 2 * width, 1 };
  sr_engine_upscale_luma (engine, &src, &dst, NULL); /* warm-up: buffers, caches */
  double total = 0, device_total = 0, macs = 0, depth = 0;
  for (int i = 0; i < frames; i++) {
    if (!sr_engine_upscale_luma (engine, &src, &dst, &error)) {
      g_printerr ("%s\n", error->message);
      return 1;
    }
    SrFrameStats st;
    sr_engine_get_stats (engine, &st);
    total += st.seconds;
    device_total += st.device_seconds;
    macs += st.macs_per_pixel;
    depth += st.mean_depth;
  }
  const char *isa = g_getenv ("SR_CPU_ISA");
  printf ("{\"backend\": \"%s\", \"device\": \"%s\", ",
      sr_backend_kind_name (sr_engine_get_backend (engine)), sr_engine_get_device_name (engine));
  if (device_total > 0)
    printf ("\"device_fps\": %.3f, \"device_ms_per_frame\": %.4f, ", frames / device_total,
        1000 * device_total / frames);
  printf ("\"model\": \"%s\", \"width\": %d, \"height\": %d, \"frames\": %d, \"threads\": %d, "
      "\"isa_cap\": \"%s\", \"threshold\": %g, \"fps\": %.3f, \"ms_per_frame\": %.3f, "
      "\"macs_per_pixel\": %.1f, \"mean_depth\": %.3f, \"gmacs_per_s\": %.2f",
      sr_model_get_name (model), width, height, frames, threads, isa ? isa : "best",
      sr_engine_get_exit_threshold (engine), frames / total, 1000 * total / frames,
      macs / frames, depth / frames, macs / frames * size * frames / total / 1e9);
  if (peak) {
#if defined(HAVE_X86_PEAK)
    __builtin_cpu_init ();
    gboolean avx512 = __builtin_cpu_supports ("avx512f");
    int cores = threads > 0 ? threads : (int) g_get_num_processors ();
    printf (", \"peak_isa\": \"%s\", \"peak_gflops_1thread\": %.1f, \"peak_gflops\": %.1f",
        avx512 ? "avx512" : "avx2", peak_gflops (1, avx512, 0.5), peak_gflops (cores, avx512, 0.5));
#endif
  }
  printf ("}\n");
  sr_engine_free (engine);
  sr_model_free (model);
  g_free (lr);
  g_free (hr);
  g_free (model_path);
  g_free (input);
  g_free (backend);
  g_free (device);
  return 0;
}
