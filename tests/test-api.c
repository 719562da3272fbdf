/* sr-core as an application links it: the shared library exports the API and nothing else,
 * the version, the config initialiser, and argument checks at the entry points. */
#include <sr-core/sr-core.h>

#include <dlfcn.h>
#include <string.h>

#include "test-util.h"

static void
test_exports_only_the_api (void)
{
  void *lib = dlopen (SR_CORE_LIB_PATH, RTLD_NOW | RTLD_LOCAL);
  g_assert_nonnull (lib);
  const char *api[] = { "sr_model_load", "sr_engine_new", "sr_engine_config_init",
    "sr_core_get_version", "sr_bicubic_x2", "sr_plane_ssim" };
  for (guint i = 0; i < G_N_ELEMENTS (api); i++)
    g_assert_nonnull (dlsym (lib, api[i]));
  /* internals: a plane check, the CPU backend's vtable and kernels, the ghost stats */
  const char *internal[] = { "sr_plane_check", "sr_cpu_backend", "sr_bicubic_x2_rows",
    "sr_cpu_kernels_init", "sr_exit_macs_per_pixel", "sr_precision_from_name" };
  for (guint i = 0; i < G_N_ELEMENTS (internal); i++)
    if (dlsym (lib, internal[i]))
      g_error ("libsr-core exports the internal symbol %s", internal[i]);
  dlclose (lib);
}

static void
test_version (void)
{
  int major = -1, minor = -1, micro = -1;
  const char *version = sr_core_get_version (&major, &minor, &micro);
  g_assert_cmpstr (version, ==, SR_CORE_VERSION_STRING);
  g_autofree char *joined = g_strdup_printf ("%d.%d.%d", major, minor, micro);
  g_assert_cmpstr (joined, ==, version);
  g_assert_true (SR_CORE_CHECK_VERSION (SR_CORE_MAJOR_VERSION, SR_CORE_MINOR_VERSION,
      SR_CORE_MICRO_VERSION));
  g_assert_true (SR_CORE_CHECK_VERSION (0, 0, 1));
  g_assert_false (SR_CORE_CHECK_VERSION (SR_CORE_MAJOR_VERSION + 1, 0, 0));
  g_assert_false (SR_CORE_CHECK_VERSION (SR_CORE_MAJOR_VERSION, SR_CORE_MINOR_VERSION + 1, 0));
  g_assert_cmpstr (sr_core_get_version (NULL, NULL, NULL), ==, version);
}

static void
test_config_init (void)
{
  SrEngineConfig config;
  memset (&config, 0xa5, sizeof config);
  sr_engine_config_init (&config);
  SrEngineConfig zero = { 0 };
  g_assert_cmpmem (&config, sizeof config, &zero, sizeof zero);
  g_assert_cmpint (config.backend, ==, SR_BACKEND_AUTO);

  /* a config left uninitialised (garbage in the reserved fields) is refused */
  g_autoptr (GError) error = NULL;
  SrModel *model = sr_model_load (SR_TEST_MODEL, &error);
  g_assert_no_error (error);
  config.backend = SR_BACKEND_CPU;
  config.reserved[3] = &config;
  g_assert_null (sr_engine_new (model, &config, &error));
  g_assert_error (error, SR_ERROR, SR_ERROR_INVALID);
  g_assert_nonnull (strstr (error->message, "sr_engine_config_init"));
  g_clear_error (&error);
  config.reserved[3] = NULL;
  SrEngine *engine = sr_engine_new (model, &config, &error);
  g_assert_no_error (error);
  g_assert_cmpint (sr_engine_get_backend (engine), ==, SR_BACKEND_CPU);
  sr_engine_free (engine);
  sr_model_free (model);
}

/* A NULL object or an error already set: a critical and a harmless return, never a crash. */
#define EXPECT_CRITICAL(call, expected) G_STMT_START { \
  g_test_expect_message ("sr-core", G_LOG_LEVEL_CRITICAL, "*assertion*failed*"); \
  g_assert_true ((call) == (expected)); \
  g_test_assert_expected_messages (); \
} G_STMT_END

static void
test_argument_checks (void)
{
  guint8 pixels[16 * 16] = { 0 };
  SrPlane plane = { pixels, 16, 16, 16, 1 };
  guint64 sse;
  double ssim;
  SrFrameStats stats;
  GError *set = g_error_new_literal (SR_ERROR, SR_ERROR_IO, "already set");
  EXPECT_CRITICAL (sr_model_load (NULL, NULL), NULL);
  EXPECT_CRITICAL (sr_model_load (SR_TEST_MODEL, &set), NULL);
  EXPECT_CRITICAL (sr_model_load_from_data (NULL, 100, NULL), NULL);
  EXPECT_CRITICAL (sr_model_get_scale (NULL), 0);
  EXPECT_CRITICAL (sr_model_get_name (NULL), NULL);
  EXPECT_CRITICAL (sr_model_get_macs_per_pixel (NULL), 0);
  EXPECT_CRITICAL (sr_model_get_receptive_radius (NULL), 0);
  EXPECT_CRITICAL (sr_model_get_max_depth (NULL), 0);
  EXPECT_CRITICAL (sr_model_get_default_exit_threshold (NULL), 0.0);
  EXPECT_CRITICAL (sr_engine_new (NULL, NULL, NULL), NULL);
  EXPECT_CRITICAL (sr_engine_get_backend (NULL), SR_BACKEND_AUTO);
  EXPECT_CRITICAL (sr_engine_get_device_name (NULL), NULL);
  EXPECT_CRITICAL (sr_engine_get_fallback_note (NULL), NULL);
  EXPECT_CRITICAL (sr_engine_get_exit_threshold (NULL), 0.0);
  EXPECT_CRITICAL (sr_engine_upscale_luma (NULL, &plane, &plane, NULL), FALSE);
  EXPECT_CRITICAL (sr_engine_bicubic_x2 (NULL, &plane, &plane, NULL), FALSE);
  EXPECT_CRITICAL (sr_bicubic_x2 (NULL, &plane, NULL), FALSE);
  EXPECT_CRITICAL (sr_bicubic_x2 (&plane, NULL, NULL), FALSE);
  EXPECT_CRITICAL (sr_plane_sse (&plane, NULL, &sse, NULL), FALSE);
  EXPECT_CRITICAL (sr_plane_sse (&plane, &plane, NULL, NULL), FALSE);
  EXPECT_CRITICAL (sr_plane_ssim (NULL, &plane, &ssim, NULL), FALSE);
  EXPECT_CRITICAL (sr_plane_ssim (&plane, &plane, &ssim, &set), FALSE);
  /* void calls: the critical is the whole effect */
  g_test_expect_message ("sr-core", G_LOG_LEVEL_CRITICAL, "*assertion*failed*");
  sr_engine_set_exit_threshold (NULL, 1.0);
  g_test_expect_message ("sr-core", G_LOG_LEVEL_CRITICAL, "*assertion*failed*");
  sr_engine_get_stats (NULL, &stats);
  g_test_expect_message ("sr-core", G_LOG_LEVEL_CRITICAL, "*assertion*failed*");
  sr_engine_config_init (NULL);
  g_test_assert_expected_messages ();
  g_assert_cmpstr (set->message, ==, "already set");
  g_error_free (set);
  sr_model_free (NULL);
  sr_engine_free (NULL);
}

/* The library looks for the default model in $SR_MODEL_PATH and the install directory only,
 * never in the source tree it was built from. */
static void
test_default_model_lookup (void)
{
  char *saved = test_env_push ("SR_MODEL_PATH", "/some/model.safetensors");
  g_autofree char *from_env = sr_model_find_default ();
  g_assert_cmpstr (from_env, ==, "/some/model.safetensors");
  g_unsetenv ("SR_MODEL_PATH");
  g_autofree char *found = sr_model_find_default ();
  test_env_pop ("SR_MODEL_PATH", saved);
  if (found && g_str_has_prefix (found, SR_SOURCE_ROOT))
    g_error ("the default model was found in the source tree: %s", found);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/api/exports-only-the-api", test_exports_only_the_api);
  g_test_add_func ("/api/version", test_version);
  g_test_add_func ("/api/config-init", test_config_init);
  g_test_add_func ("/api/argument-checks", test_argument_checks);
  g_test_add_func ("/api/default-model-lookup", test_default_model_lookup);
  return g_test_run ();
}
