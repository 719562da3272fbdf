/* Small helpers shared by the C tests. */
#ifndef SR_TEST_UTIL_H
#define SR_TEST_UTIL_H

#include <glib.h>
#include <stdio.h>
#include <string.h>

/* Sets an environment variable for part of a test; test_env_pop puts back what was there,
 * so a suite run under e.g. SR_CPU_PRECISION=bf16 keeps it for the tests that follow. */
static inline char *
test_env_push (const char *name, const char *value)
{
  char *saved = g_strdup (g_getenv (name));
  g_setenv (name, value, TRUE);
  return saved;
}

static inline void
test_env_pop (const char *name, char *saved)
{
  if (saved)
    g_setenv (name, saved, TRUE);
  else
    g_unsetenv (name);
  g_free (saved);
}

/* A binary PGM (P5, maxval 255) as a tightly packed plane; aborts the test on error. */
typedef struct {
  int width, height;
  guint8 *data;
} TestImage;

static inline TestImage
test_read_pgm (const char *path)
{
  TestImage img = { 0 };
  g_autofree char *bytes = NULL;
  gsize size;
  g_autoptr (GError) error = NULL;
  g_assert_true (g_file_get_contents (path, &bytes, &size, &error));
  int maxval, consumed = 0;
  g_assert_cmpint (sscanf (bytes, "P5 %d %d %d%n", &img.width, &img.height, &maxval, &consumed),
      ==, 3);
  g_assert_cmpint (maxval, ==, 255);
  consumed++; /* the single whitespace after maxval */
  g_assert_cmpuint (size - consumed, ==, (gsize) img.width * img.height);
  img.data = g_memdup2 (bytes + consumed, size - consumed);
  return img;
}

/* The golden data and model; SR_TEST_DATA_DIR / SR_TEST_MODEL in the environment
 * override the build's (to check a freshly exported model before shipping it). */
static inline char *
test_data_path (const char *name)
{
  const char *dir = g_getenv ("SR_TEST_DATA_DIR");
  return g_build_filename (dir ? dir : SR_TEST_DATA_DIR, name, NULL);
}

static inline const char *
test_model_path (void)
{
  const char *path = g_getenv ("SR_TEST_MODEL");
  return path ? path : SR_TEST_MODEL;
}

/* Whether the backend starts here with the test model; a backend SR_REQUIRE_BACKENDS names
 * must. For tests that include sr-core.h. */
#ifdef SR_CORE_H
static inline gboolean
test_backend_starts (SrBackendKind kind)
{
  const char *name = sr_backend_kind_name (kind), *required = g_getenv ("SR_REQUIRE_BACKENDS");
  SrModel *model = sr_model_load (test_model_path (), NULL);
  SrEngineConfig config = { kind, 0, 0, NULL };
  SrEngine *probe = sr_engine_new (model, &config, NULL);
  gboolean ok = probe != NULL;
  sr_engine_free (probe);
  sr_model_free (model);
  g_assert_true (ok || !required || !strstr (required, name));
  return ok;
}

/* The same, the test marked skipped when it does not start. */
static inline gboolean
test_backend_available (SrBackendKind kind)
{
  if (test_backend_starts (kind))
    return TRUE;
  g_test_skip ("backend not available here");
  return FALSE;
}
#endif

/* Fraction of pixels that differ by more than `tolerance`. */
static inline double
test_fraction_off (const guint8 *a, gsize a_stride, const guint8 *b, gsize b_stride, int w, int h,
    int tolerance)
{
  gsize off = 0;
  for (int y = 0; y < h; y++)
    for (int x = 0; x < w; x++)
      off += ABS ((int) a[y * a_stride + x] - (int) b[y * b_stride + x]) > tolerance;
  return (double) off / ((double) w * h);
}

#endif
