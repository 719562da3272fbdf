/* sr-core tests: model loading and validation, the reference network against PyTorch,
 * tiling, bicubic chroma, argument checks. */
#include <sr-core/sr-core.h>
#include <glib/gstdio.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "test-net.h"
#include "test-util.h"

static char *model_bytes;
static gsize model_size;

/* The shipped model with its JSON header edited: the first `find` becomes `replace`;
 * NULL when the header has no `find` (an edit for the other architecture). */
static GBytes *
try_edit_header_of (const guint8 *file, gsize file_size, const char *find, const char *replace)
{
  guint64 len = 0;
  memcpy (&len, file, 8);
  len = GUINT64_FROM_LE (len);
  GString *header = g_string_new_len ((const char *) file + 8, len);
  char *at = strstr (header->str, find);
  if (!at) {
    g_string_free (header, TRUE);
    return NULL;
  }
  gssize pos = at - header->str;
  g_string_erase (header, pos, strlen (find));
  g_string_insert (header, pos, replace);
  guint64 new_len = GUINT64_TO_LE ((guint64) header->len);
  GByteArray *out = g_byte_array_new ();
  g_byte_array_append (out, (guint8 *) &new_len, 8);
  g_byte_array_append (out, (guint8 *) header->str, header->len);
  g_byte_array_append (out, file + 8 + len, file_size - 8 - len);
  g_string_free (header, TRUE);
  return g_byte_array_free_to_bytes (out);
}

static GBytes *
try_edit_header (const char *find, const char *replace)
{
  return try_edit_header_of ((const guint8 *) model_bytes, model_size, find, replace);
}

static GBytes *
edit_header (const char *find, const char *replace)
{
  GBytes *bytes = try_edit_header (find, replace);
  g_assert_nonnull (bytes);
  return bytes;
}

/* Loading must fail with `code` and a message containing `needle`. */
static void
expect_load_error (GBytes *bytes, int code, const char *needle)
{
  g_autoptr (GError) error = NULL;
  gsize size;
  const guint8 *data = g_bytes_get_data (bytes, &size);
  SrModel *model = sr_model_load_from_data (data, size, &error);
  g_assert_null (model);
  g_assert_error (error, SR_ERROR, code);
  if (!strstr (error->message, needle))
    g_error ("error \"%s\" does not mention \"%s\"", error->message, needle);
  g_bytes_unref (bytes);
}

static void
test_load_good (void)
{
  g_autoptr (GError) error = NULL;
  SrModel *model = sr_model_load (test_model_path (), &error);
  g_assert_no_error (error);
  g_assert_cmpint (sr_model_get_scale (model), ==, 2);
  g_assert_cmpuint (sr_model_get_macs_per_pixel (model), <=, 15000);
  g_assert_cmpint (sr_model_get_receptive_radius (model), >=, 2);
  g_assert_cmpstr (sr_model_get_name (model), !=, "");
  sr_model_free (model);
}

static void
test_load_missing_file (void)
{
  g_autoptr (GError) error = NULL;
  g_assert_null (sr_model_load ("/nonexistent/model.safetensors", &error));
  g_assert_error (error, SR_ERROR, SR_ERROR_IO);
  g_assert_nonnull (strstr (error->message, "/nonexistent/model.safetensors"));
}

static void
test_load_truncated (void)
{
  gsize cuts[] = { 0, 3, 8, 9, 200, model_size / 2, model_size - 1 };
  for (guint i = 0; i < G_N_ELEMENTS (cuts); i++) {
    g_autoptr (GError) error = NULL;
    SrModel *model = sr_model_load_from_data ((guint8 *) model_bytes, cuts[i], &error);
    g_assert_null (model);
    g_assert_error (error, SR_ERROR, SR_ERROR_FORMAT);
  }
}

static void
test_load_bad_json (void)
{
  expect_load_error (edit_header ("{", "["), SR_ERROR_FORMAT, "JSON");
  expect_load_error (edit_header ("\"head.weight\":{", "\"head.weight\":{{"), SR_ERROR_FORMAT,
      "JSON");
  expect_load_error (edit_header ("\"arch\":\"{", "\"arch\":\"x{"), SR_ERROR_FORMAT, "arch");
  expect_load_error (edit_header ("\"format\":\"gst-superres\"", "\"format\":\"other\""),
      SR_ERROR_FORMAT, "format");
  expect_load_error (edit_header ("\"version\":\"1\"", "\"version\":\"99\""),
      SR_ERROR_UNSUPPORTED, "version");
}

/* The precision metadata: an unknown format, maxima missing, of the wrong count or not
 * positive, int8 for a ghost-exit net (its CPU path has bf16 and int16). Only files
 * that carry it can be edited this way; each edit applies where its text is. */
static void
test_load_bad_precision (void)
{
  const char *edits[][3] = {
    { "\"precision\":\"fp32,", "\"precision\":\"fp32,int4,", "precision" },
    { "\"act_max\":\"[", "\"act_max\":\"[2.0, ", "act_max" },
    { "\"act_max\":\"[1.0", "\"act_max\":\"[-1.0", "act_max[0]" },
    { "\"act_max\":\"[", "\"act_max\":\"x[", "act_max" },
    { "\"act_max\":", "\"act_maxima\":", "needs act_max" },
  };
  int applied = 0;
  for (guint i = 0; i < G_N_ELEMENTS (edits); i++) {
    GBytes *bytes = try_edit_header (edits[i][0], edits[i][1]);
    if (!bytes)
      continue;
    applied++;
    expect_load_error (bytes, SR_ERROR_FORMAT, edits[i][2]);
  }
  /* int8 added to a ghost-exit file's list */
  SrModel *model = sr_model_load (test_model_path (), NULL);
  g_assert_nonnull (model);
  GBytes *int8 = g_strstr_len (model_bytes, model_size, "ghost-exit") ?
      try_edit_header ("\"precision\":\"fp32,", "\"precision\":\"fp32,int8,") : NULL;
  if (int8)
    expect_load_error (int8, SR_ERROR_FORMAT, "plain nets only");
  sr_model_free (model);
  if (!applied)
    g_test_skip ("this model file carries no precision metadata");
}

static void
test_load_wrong_shape (void)
{
  expect_load_error (edit_header ("[16,1,3,3]", "[16,2,3,3]"), SR_ERROR_FORMAT, "head.weight");
  expect_load_error (edit_header ("\"shape\":[16]", "\"shape\":[15]"), SR_ERROR_FORMAT,
      "head.bias");
  /* the architecture itself inconsistent; each edit applies to one architecture */
  const char *arch_edits[][3] = {
    /* plain: a layer taking the wrong number of channels, an even kernel */
    { "\\\"name\\\":\\\"body.0\\\",\\\"in\\\":16",
      "\\\"name\\\":\\\"body.0\\\",\\\"in\\\":8", "body.0" },
    { "\\\"kernel\\\":3", "\\\"kernel\\\":4", "even" },
    /* ghost-exit: odd channels, a shift of two pixels, a block missing its shifts */
    { "\\\"channels\\\":16", "\\\"channels\\\":15", "even" },
    { "\\\"shifts\\\":[[[", "\\\"shifts\\\":[[[2,", "shift" },
    { "\\\"blocks\\\":10", "\\\"blocks\\\":11", "shifts" },
  };
  int applied = 0;
  for (guint i = 0; i < G_N_ELEMENTS (arch_edits); i++) {
    GBytes *bytes = try_edit_header (arch_edits[i][0], arch_edits[i][1]);
    if (bytes) {
      expect_load_error (bytes, SR_ERROR_FORMAT, arch_edits[i][2]);
      applied++;
    }
  }
  g_assert_cmpint (applied, >=, 2);
  expect_load_error (edit_header ("\\\"scale\\\":2", "\\\"scale\\\":3"), SR_ERROR_UNSUPPORTED,
      "scale");
  expect_load_error (edit_header ("\"head.bias\"", "\"head.bias_renamed\""), SR_ERROR_FORMAT,
      "head.bias");
}

/* A plain net's "exits": not an object, a tile out of range, an unknown gain unit, an exit
 * tail missing or of the wrong shape, exits on a net with no hidden layer to exit after. */
static void
test_load_bad_exits (void)
{
  const int kernels[] = { 3, 3, 3, 3 }, channels[] = { 1, 4, 4, 4, 4 };
  TestNet net;
  test_net_init (&net, G_N_ELEMENTS (kernels), kernels, channels, 1);
  test_net_add_exits (&net, 16, 2);
  GBytes *good = test_net_to_bytes (&net, NULL, NULL);
  gsize size;
  const guint8 *data = g_bytes_get_data (good, &size);
  const char *edits[][3] = {
    { "\\\"exits\\\":{", "\\\"exits\\\":[{", "JSON" },
    { "\\\"exits\\\":{", "\\\"exits\\\":7,\\\"x\\\":{", "not an object" },
    { "\\\"tile\\\":16", "\\\"tile\\\":4", "tile" },
    { "\\\"gain\\\":\\\"mse\\\"", "\\\"gain\\\":\\\"psnr\\\"", "gain" },
    { "\"exits.1.bias\"", "\"exits.1.bias_\"", "exits.1.bias" },
    { "\"exits.1.weight\":{\"dtype\":\"F32\",\"shape\":[4,4,3,3]",
      "\"exits.1.weight\":{\"dtype\":\"F32\",\"shape\":[4,4,1,9]", "exits.1.weight" },
  };
  g_autoptr (GError) error = NULL;
  SrModel *model = sr_model_load_from_data (data, size, &error);
  g_assert_no_error (error);
  g_assert_cmpint (sr_model_get_max_depth (model), ==, 2);
  sr_model_free (model);
  for (guint i = 0; i < G_N_ELEMENTS (edits); i++) {
    GBytes *bytes = try_edit_header_of (data, size, edits[i][0], edits[i][1]);
    if (!bytes)
      g_error ("edit %u does not apply", i);
    expect_load_error (bytes, SR_ERROR_FORMAT, edits[i][2]);
  }
  g_bytes_unref (good);
  test_net_clear (&net);
  /* head and last layer only: no exit to take */
  const int k2[] = { 3, 3 }, c2[] = { 1, 4, 4 };
  test_net_init (&net, 2, k2, c2, 1);
  test_net_add_exits (&net, 16, 2);
  expect_load_error (test_net_to_bytes (&net, NULL, NULL), SR_ERROR_FORMAT, "hidden layer");
  test_net_clear (&net);
}

static void
test_load_wrong_dtype (void)
{
  expect_load_error (edit_header ("\"F32\"", "\"F16\""), SR_ERROR_FORMAT, "dtype");
  expect_load_error (edit_header ("\"F32\"", "\"I64\""), SR_ERROR_FORMAT, "dtype");
}

static void
test_load_huge_sizes (void)
{
  /* a header length far past the end of the file */
  GByteArray *huge = g_byte_array_new ();
  guint64 len = GUINT64_TO_LE (G_GUINT64_CONSTANT (1) << 62);
  g_byte_array_append (huge, (guint8 *) &len, 8);
  g_byte_array_append (huge, (guint8 *) model_bytes + 8, model_size - 8);
  expect_load_error (g_byte_array_free_to_bytes (huge), SR_ERROR_FORMAT, "header length");
  /* offsets past the data, and a negative one */
  expect_load_error (edit_header ("[0,576]", "[0,99999999999999]"), SR_ERROR_FORMAT,
      "data_offsets");
  expect_load_error (edit_header ("[0,576]", "[-8,568]"), SR_ERROR_FORMAT, "data_offsets");
  /* absurd channel counts and layer counts are refused before any allocation */
  GBytes *huge_channels = try_edit_header ("\\\"out\\\":16", "\\\"out\\\":2000000000");
  if (!huge_channels)
    huge_channels = edit_header ("\\\"channels\\\":16", "\\\"channels\\\":2000000000");
  expect_load_error (huge_channels, SR_ERROR_FORMAT, "outside");
  expect_load_error (edit_header ("[16,1,3,3]", "[16,1,3,3,1000000000,1000000000]"),
      SR_ERROR_FORMAT, "shape");
}

/* A plain net with exits deeper than SR_MAX_DEPTH (the stats count tiles per depth up to it,
 * the GPU plan keeps two tile lists per depth) is refused when its arch is read; at the limit
 * it gets past the arch (and fails on its missing tensors). */
static void
test_load_plain_exits_too_deep (void)
{
  const int hidden[] = { SR_MAX_DEPTH + 1, SR_MAX_DEPTH };
  for (guint i = 0; i < G_N_ELEMENTS (hidden); i++) {
    GString *arch = g_string_new ("{\\\"scale\\\":2,\\\"anchor\\\":\\\"nearest\\\","
        "\\\"exits\\\":{\\\"tile\\\":16,\\\"predictor_width\\\":8},\\\"layers\\\":[");
    for (int l = 0; l < hidden[i] + 2; l++)
      g_string_append_printf (arch, "%s{\\\"name\\\":\\\"l%d\\\",\\\"in\\\":%d,"
          "\\\"out\\\":%d,\\\"kernel\\\":3,\\\"act\\\":\\\"%s\\\"}", l ? "," : "", l,
          l ? 4 : 1, 4, l <= hidden[i] ? "relu" : "none");
    g_string_append (arch, "]}");
    g_autofree char *header = g_strdup_printf ("{\"__metadata__\":{\"format\":\"gst-superres\","
        "\"version\":\"1\",\"name\":\"deep\",\"arch\":\"%s\"}}", arch->str);
    g_string_free (arch, TRUE);
    GByteArray *file = g_byte_array_new ();
    guint64 len = GUINT64_TO_LE ((guint64) strlen (header));
    g_byte_array_append (file, (const guint8 *) &len, 8);
    g_byte_array_append (file, (const guint8 *) header, strlen (header));
    expect_load_error (g_byte_array_free_to_bytes (file), SR_ERROR_FORMAT,
        i == 0 ? "hidden layers" : "l0.weight");
  }
}

/* `depth` nested arrays: "[[[...]]]". */
static char *
nested_arrays (int depth)
{
  char *s = g_malloc (2 * depth + 1);
  memset (s, '[', depth);
  memset (s + depth, ']', depth);
  s[2 * depth] = 0;
  return s;
}

/* Deep nesting in the header or in the arch JSON is refused with an error, not a stack
 * overflow in the recursive parser; the nesting the format uses still loads. */
static void
test_load_deep_nesting (void)
{
  g_autofree char *deep = nested_arrays (1000000);
  g_autofree char *member = g_strdup_printf ("\"deep\":%s,\"__metadata__\"", deep);
  expect_load_error (edit_header ("\"__metadata__\"", member), SR_ERROR_FORMAT, "deeper than");
  g_autofree char *arch = g_strdup_printf ("\"arch\":\"{\\\"deep\\\":%s,", deep);
  expect_load_error (edit_header ("\"arch\":\"{", arch), SR_ERROR_FORMAT, "deeper than");
  /* eight levels are allowed (and then rejected for what they are) */
  g_autofree char *eight = nested_arrays (7);
  g_autofree char *ok = g_strdup_printf ("\"deep\":%s,\"__metadata__\"", eight);
  expect_load_error (edit_header ("\"__metadata__\"", ok), SR_ERROR_FORMAT, "entries");
}

/* The loader reads regular files only, and none over its size limit: /dev/zero, a FIFO
 * (opening one used to wait for a writer forever), a directory and a 65 MiB file give an
 * error at once. */
static void
test_load_not_regular_or_too_large (void)
{
  g_autofree char *dir = g_dir_make_tmp ("sr-core-XXXXXX", NULL);
  g_autofree char *fifo = g_build_filename (dir, "fifo", NULL);
  g_autofree char *big = g_build_filename (dir, "big.safetensors", NULL);
  g_assert_cmpint (mkfifo (fifo, 0600), ==, 0);
  FILE *f = fopen (big, "wb");
  g_assert_nonnull (f);
  g_assert_cmpint (ftruncate (fileno (f), 65 << 20), ==, 0); /* sparse: nothing written */
  fclose (f);
  const char *paths[] = { "/dev/zero", fifo, dir, big };
  const char *needles[] = { "not a regular file", "not a regular file", "not a regular file",
    "more than the 64 MiB" };
  for (guint i = 0; i < G_N_ELEMENTS (paths); i++) {
    g_autoptr (GError) error = NULL;
    gint64 t0 = g_get_monotonic_time ();
    g_assert_null (sr_model_load (paths[i], &error));
    g_assert_error (error, SR_ERROR, SR_ERROR_IO);
    g_test_message ("%s", error->message);
    g_assert_nonnull (strstr (error->message, needles[i]));
    g_assert_cmpint (g_get_monotonic_time () - t0, <, G_USEC_PER_SEC);
  }
  g_unlink (fifo);
  g_unlink (big);
  g_rmdir (dir);
}

/* Random corruption must give an error or a model, never a crash (a cheap fuzzer; run
 * under valgrind or ASan for more). */
static void
test_load_random_corruption (void)
{
  GRand *rand = g_rand_new_with_seed (1234);
  char *copy = g_malloc (model_size);
  for (int iter = 0; iter < 3000; iter++) {
    memcpy (copy, model_bytes, model_size);
    int flips = g_rand_int_range (rand, 1, 8);
    gsize limit = iter % 2 ? model_size : MIN (model_size, (gsize) 1400); /* half hit the header */
    for (int f = 0; f < flips; f++)
      copy[g_rand_int_range (rand, 0, limit)] = g_rand_int_range (rand, 0, 256);
    gsize size = iter % 5 == 0 ? (gsize) g_rand_int_range (rand, 0, model_size) : model_size;
    GError *error = NULL;
    SrModel *model = sr_model_load_from_data ((guint8 *) copy, size, &error);
    g_assert_true ((model == NULL) != (error == NULL));
    sr_model_free (model);
    g_clear_error (&error);
  }
  g_free (copy);
  g_rand_free (rand);
}

static guint8 *
upscale (const SrModel *model, const TestImage *lr, int tile, int threads)
{
  SrEngineConfig config = { SR_BACKEND_CPU, threads, tile };
  g_autoptr (GError) error = NULL;
  SrEngine *engine = sr_engine_new (model, &config, &error);
  g_assert_no_error (error);
  g_assert_cmpint (sr_engine_get_backend (engine), ==, SR_BACKEND_CPU);
  guint8 *out = g_malloc (4 * lr->width * lr->height);
  SrPlane src = { lr->data, lr->width, lr->height, lr->width, 1 };
  SrPlane dst = { out, 2 * lr->width, 2 * lr->height, 2 * lr->width, 1 };
  g_assert_true (sr_engine_upscale_luma (engine, &src, &dst, &error));
  g_assert_no_error (error);
  sr_engine_free (engine);
  return out;
}

/* The reference network equals PyTorch's output for a real image within 1/255 on
 * >= 99.9% of pixels; different tilings and thread counts give identical output. */
static void
test_reference_matches_pytorch (void)
{
  g_autofree char *lr_path = test_data_path ("golden-lr.pgm");
  g_autofree char *sr_path = test_data_path ("golden-sr.pgm");
  TestImage lr = test_read_pgm (lr_path), golden = test_read_pgm (sr_path);
  g_assert_cmpint (golden.width, ==, 2 * lr.width);
  g_assert_cmpint (golden.height, ==, 2 * lr.height);
  SrModel *model = sr_model_load (test_model_path (), NULL);
  g_assert_nonnull (model);

  /* the fp32 path (the int8 one has its own golden, below) */
  char *saved_precision = test_env_push ("SR_CPU_PRECISION", "fp32");
  guint8 *whole = upscale (model, &lr, 256, 1);
  double off = test_fraction_off (whole, golden.width, golden.data, golden.width, golden.width,
      golden.height, 1);
  g_test_message ("pixels off by more than 1/255: %.4f%%", 100 * off);
  g_assert_cmpfloat (off, <=, 0.001);
  /* and it is not trivially close: the net changes the picture from nearest neighbour */
  gsize changed = 0;
  for (int y = 0; y < golden.height; y++)
    for (int x = 0; x < golden.width; x++)
      changed += whole[y * golden.width + x] != lr.data[(y / 2) * lr.width + x / 2];
  g_assert_cmpuint (changed, >, (gsize) golden.width * golden.height / 2);

  const int tiles[][2] = { { 1, 1 }, { 7, 2 }, { 16, 2 }, { 64, 3 } };
  for (guint i = 0; i < G_N_ELEMENTS (tiles); i++) {
    guint8 *tiled = upscale (model, &lr, tiles[i][0], tiles[i][1]);
    g_assert_cmpmem (tiled, golden.width * golden.height, whole, golden.width * golden.height);
    g_free (tiled);
  }
  g_free (whole);
  test_env_pop ("SR_CPU_PRECISION", saved_precision);
  sr_model_free (model);
  g_free (lr.data);
  g_free (golden.data);
}

/* Plain nets of other kernels than 3x3 (5x5 head, 3x3, 7x7, 1x1, 5x5 tail, SESR-like; and
 * 1x1 head, 7x7, 3x3 tail): the CPU runs them (in fp32: their files also list the low
 * precisions, whose kernels are 3x3 only) and every pixel is within one 8-bit level of the
 * whole-frame reference computed here, on an odd-sized frame and on frames taller than
 * several bands, with 1 and 2 threads; the tilings and thread counts give identical
 * pictures. */
static void
kxk_plain_net (int n, const int *kernels, const int *channels)
{
  TestNet net;
  test_net_init (&net, n, kernels, channels, 1234);
  GString *act_max = g_string_new ("[1");
  for (int i = 1; i < n; i++)
    g_string_append (act_max, ", 2");
  g_string_append (act_max, "]");
  SrModel *model = test_net_load (&net, "fp32,bf16,int16,int8", act_max->str);
  g_string_free (act_max, TRUE);
  g_autoptr (GError) error = NULL;
  const int sizes[][2] = { { 67, 45 }, { 41, 203 }, { 9, 130 } };
  for (guint s = 0; s < G_N_ELEMENTS (sizes); s++) {
    const int w = sizes[s][0], h = sizes[s][1];
    guint8 *lr = g_malloc ((gsize) w * h), *ref = g_malloc ((gsize) 4 * w * h);
    test_net_picture (lr, w, h, 7 + s);
    test_net_reference (&net, lr, w, h, ref);
    guint8 *first = NULL;
    gsize changed = 0;
    for (int y = 0; y < 2 * h; y++)
      for (int x = 0; x < 2 * w; x++)
        changed += ref[(gsize) y * 2 * w + x] != lr[(gsize) (y / 2) * w + x / 2];
    /* the residuals matter: a broken halo or border would show */
    g_assert_cmpuint (changed, >, (gsize) w * h);
    const int runs[][2] = { { 0, 1 }, { 0, 2 }, { 16, 2 } }; /* tile, threads */
    for (guint r = 0; r < G_N_ELEMENTS (runs); r++) {
      SrEngineConfig config = { SR_BACKEND_CPU, runs[r][1], runs[r][0] };
      SrEngine *engine = sr_engine_new (model, &config, &error);
      g_assert_no_error (error);
      g_assert_cmpstr (sr_engine_get_precision (engine), ==, "fp32");
      guint8 *out = g_malloc ((gsize) 4 * w * h);
      SrPlane src = { lr, w, h, w, 1 };
      SrPlane dst = { out, 2 * w, 2 * h, 2 * w, 1 };
      g_assert_true (sr_engine_upscale_luma (engine, &src, &dst, &error));
      g_assert_no_error (error);
      int worst = 0;
      gsize off = 0;
      for (gsize i = 0; i < (gsize) 4 * w * h; i++) {
        const int d = abs (out[i] - ref[i]);
        if (d > 1)
          g_error ("%dx%d, tile %d, %d threads: HR pixel (%d, %d) is %d, the reference %d", w,
              h, runs[r][0], runs[r][1], (int) (i % (2 * w)), (int) (i / (2 * w)), out[i],
              ref[i]);
        worst = MAX (worst, d);
        off += d > 0;
      }
      g_test_message ("%d layers, %dx%d, tile %d, %d threads (%s): %" G_GSIZE_FORMAT " of %d "
          "HR pixels off by 1 from the reference", n, w, h, runs[r][0], runs[r][1],
          sr_engine_get_device_name (engine), off, 4 * w * h);
      if (first)
        g_assert_cmpmem (out, (gsize) 4 * w * h, first, (gsize) 4 * w * h);
      else
        first = g_memdup2 (out, (gsize) 4 * w * h);
      g_free (out);
      sr_engine_free (engine);
    }
    g_free (first);
    g_free (lr);
    g_free (ref);
  }
  sr_model_free (model);
  test_net_clear (&net);
}

static void
test_kxk_plain_net (void)
{
  const int sesr[] = { 5, 3, 7, 1, 5 }, sesr_ch[] = { 1, 8, 8, 8, 6, 4 };
  kxk_plain_net (G_N_ELEMENTS (sesr), sesr, sesr_ch);
  const int pointwise_head[] = { 1, 7, 3 }, pointwise_head_ch[] = { 1, 6, 5, 4 };
  kxk_plain_net (G_N_ELEMENTS (pointwise_head), pointwise_head, pointwise_head_ch);
}

/* A plain net with exits (3x3, 3 hidden layers, exit tiles of 8): at each threshold every
 * LR tile's 2x2 HR block equals the whole-frame reference at the depth the engine reports
 * for it (within one 8-bit level, fp32), on odd-sized frames with 1 and 2 threads; the
 * thresholds give mixed depths, fewer MACs than full depth, and threshold 0 full depth.
 * In low precision a tile at depth 1 or B equals the same path's picture with every tile
 * at that depth, bit for bit. */
static void
test_plain_exits (void)
{
  const int B = TEST_EXIT_NET_B, T = 8;
  TestNet net;
  test_net_init_exit_net (&net);
  SrModel *model = test_net_load (&net, "fp32,bf16,int16,int8", "[1, 2, 2, 2, 2]");
  g_autoptr (GError) error = NULL;
  g_assert_cmpint (sr_model_get_max_depth (model), ==, B);
  const int sizes[][2] = { { 67, 45 }, { 41, 83 } };
  const double thresholds[] = { 0, 0.05, 0.4, 1e6 };
  const char *precisions[] = { "fp32", "int16", "int8", "bf16" };
  gboolean mixed = FALSE;
  for (guint s = 0; s < G_N_ELEMENTS (sizes); s++) {
    const int w = sizes[s][0], h = sizes[s][1], W2 = 2 * w;
    const gsize hr_size = (gsize) 4 * w * h;
    guint8 *lr = g_malloc ((gsize) w * h), *ref[TEST_NET_MAX_LAYERS];
    test_net_picture (lr, w, h, 3 + s);
    for (int d = 1; d <= B; d++) {
      ref[d] = g_malloc (hr_size);
      test_net_reference_at (&net, lr, w, h, d, ref[d]);
    }
    for (guint p = 0; p < G_N_ELEMENTS (precisions); p++) {
      g_setenv ("SR_CPU_PRECISION", precisions[p], TRUE);
      guint8 *at_depth[2] = { NULL, NULL }; /* this precision's picture at depth 1 and B */
      for (int threads = 1; threads <= 2; threads++)
        for (int ti = G_N_ELEMENTS (thresholds) - 1; ti >= 0; ti--) {
          SrEngineConfig config = { SR_BACKEND_CPU, threads, 0 };
          SrEngine *engine = sr_engine_new (model, &config, &error);
          g_assert_no_error (error);
          if (strcmp (sr_engine_get_precision (engine), precisions[p]) != 0) {
            sr_engine_free (engine); /* this CPU lacks it */
            continue;
          }
          sr_engine_set_exit_threshold (engine, thresholds[ti]);
          guint8 *out = g_malloc (hr_size);
          SrPlane src = { lr, w, h, w, 1 };
          SrPlane dst = { out, W2, 2 * h, W2, 1 };
          g_assert_true (sr_engine_upscale_luma (engine, &src, &dst, &error));
          g_assert_no_error (error);
          SrFrameStats stats, *st = &stats;
          sr_engine_get_stats (engine, st);
          g_assert_cmpint (st->tiles_x * st->tiles_y, ==, ((w + T - 1) / T) * ((h + T - 1) / T));
          int seen = 0;
          for (int t = 0; t < st->tiles_x * st->tiles_y; t++) {
            const int d = st->tile_depths[t], x0 = (t % st->tiles_x) * T, y0 = (t / st->tiles_x) * T;
            g_assert_cmpint (d, >=, 1);
            g_assert_cmpint (d, <=, B);
            if (thresholds[ti] == 0)
              g_assert_cmpint (d, ==, B);
            seen |= 1 << d;
            const guint8 *want = p == 0 ? ref[d] : d == 1 ? at_depth[0] : d == B ? at_depth[1] :
                NULL;
            for (int y = 2 * y0; want && y < MIN (2 * (y0 + T), 2 * h); y++)
              for (int x = 2 * x0; x < MIN (2 * (x0 + T), W2); x++) {
                const int diff = abs (out[(gsize) y * W2 + x] - want[(gsize) y * W2 + x]);
                if (diff > (p == 0 ? 1 : 0))
                  g_error ("%s, %dx%d, threshold %g, tile %d at depth %d: HR pixel (%d, %d) is "
                      "%d, expected %d", precisions[p], w, h, thresholds[ti], t, d, x, y,
                      out[(gsize) y * W2 + x], want[(gsize) y * W2 + x]);
              }
          }
          g_test_message ("%s, %dx%d, %d threads, threshold %g: depths seen 0x%x, %.0f of %.0f "
              "MACs per pixel", precisions[p], w, h, threads, thresholds[ti], seen,
              st->macs_per_pixel, st->macs_per_pixel_full);
          mixed |= (seen & (seen - 1)) != 0;
          if (seen & (seen - 1))
            g_assert_cmpfloat (st->macs_per_pixel, <, st->macs_per_pixel_full);
          if (seen == 1 << 1 && !at_depth[0])
            at_depth[0] = g_memdup2 (out, hr_size);
          if (seen == 1 << B && !at_depth[1])
            at_depth[1] = g_memdup2 (out, hr_size);
          g_free (out);
          sr_engine_free (engine);
        }
      g_free (at_depth[0]);
      g_free (at_depth[1]);
    }
    g_unsetenv ("SR_CPU_PRECISION");
    for (int d = 1; d <= B; d++)
      g_free (ref[d]);
    g_free (lr);
  }
  g_assert_true (mixed);
  sr_model_free (model);
  test_net_clear (&net);
}

/* The low-precision path the engine picked (among those the model file allows, the fastest
 * this CPU runs) equals the same arithmetic simulated in PyTorch by choose_precision.py
 * within 1/255 on >= 99.9% of pixels, for every tiling; and stays close to the fp32 picture.
 * Run under SR_CPU_PRECISION=int16/int8/bf16 it checks each path the CPU has. */
static void
test_lowp_matches_simulation (void)
{
  g_autofree char *lr_path = test_data_path ("golden-lr.pgm");
  g_autofree char *fp32_path = test_data_path ("golden-sr.pgm");
  SrModel *model = sr_model_load (test_model_path (), NULL);
  SrEngine *engine = sr_engine_new (model, NULL, NULL);
  const char *device = sr_engine_get_device_name (engine);
  const char *format = strstr (device, "int8") ? "int8" : strstr (device, "int16") ? "int16" :
      strstr (device, "bf16") ? "bf16" : NULL;
  gboolean lowp = format != NULL;
  g_autofree char *golden_name = g_strdup_printf ("golden-sr-%s.pgm", format ? format : "");
  g_autofree char *sr_path = test_data_path (golden_name);
  g_test_message ("%s", device);
  /* a suite that names the precision it covers ($SR_TEST_PRECISION) must get it, unless the
   * CPU has no SIMD at all */
  const char *want = g_getenv ("SR_TEST_PRECISION");
  if (want && !strstr (device, " c kernels")) {
    g_assert_cmpstr (format, ==, want);
    g_assert_true (g_file_test (sr_path, G_FILE_TEST_EXISTS));
  }
  sr_engine_free (engine);
  if (!lowp || !g_file_test (sr_path, G_FILE_TEST_EXISTS)) {
    g_test_skip (lowp ? "no low-precision golden for this model" :
        "no integer path (the model file or the CPU)");
    sr_model_free (model);
    return;
  }
  TestImage lr = test_read_pgm (lr_path), golden = test_read_pgm (sr_path);
  TestImage fp32 = test_read_pgm (fp32_path);
  guint8 *whole = upscale (model, &lr, 256, 1);
  double off = test_fraction_off (whole, golden.width, golden.data, golden.width, golden.width,
      golden.height, 1);
  double off_fp32 = test_fraction_off (whole, golden.width, fp32.data, golden.width,
      golden.width, golden.height, 2);
  g_test_message ("%.4f%% of pixels off the simulation by > 1/255, %.4f%% off fp32 by > 2/255",
      100 * off, 100 * off_fp32);
  g_assert_cmpfloat (off, <=, 0.001);
  g_assert_cmpfloat (off_fp32, <=, 0.01);
  const int tiles[][2] = { { 1, 1 }, { 7, 2 }, { 64, 3 } };
  for (guint i = 0; i < G_N_ELEMENTS (tiles); i++) {
    guint8 *tiled = upscale (model, &lr, tiles[i][0], tiles[i][1]);
    g_assert_cmpmem (tiled, golden.width * golden.height, whole, golden.width * golden.height);
    g_free (tiled);
  }
  g_free (whole);
  sr_model_free (model);
  g_free (lr.data);
  g_free (golden.data);
  g_free (fp32.data);
}

/* Adaptive exit: at each threshold of golden-exit.txt (made by export.py with the
 * PyTorch reference), every tile takes the same depth as in PyTorch and the pixels match
 * within 1/255; at threshold 0 every tile runs at full depth. */
static void
test_exits_match_pytorch (void)
{
  SrModel *model = sr_model_load (test_model_path (), NULL);
  g_assert_nonnull (model);
  if (sr_model_get_max_depth (model) == 0) {
    g_test_skip ("the shipped model has no exits");
    sr_model_free (model);
    return;
  }
  /* the golden pictures are PyTorch's fp32; int8 is further from them than this test's 1/255
   * (its own golden is test_lowp_matches_simulation's), so an int8 model's exits run in fp32 */
  SrEngineConfig probe_config = { SR_BACKEND_CPU, 1, 0 };
  SrEngine *probe = sr_engine_new (model, &probe_config, NULL);
  const gboolean int8 = strcmp (sr_engine_get_precision (probe), "int8") == 0;
  sr_engine_free (probe);
  char *saved_precision = int8 ? test_env_push ("SR_CPU_PRECISION", "fp32") : NULL;
  g_autofree char *lr_path = test_data_path ("golden-lr.pgm");
  g_autofree char *list_path = test_data_path ("golden-exit.txt");
  TestImage lr = test_read_pgm (lr_path);
  g_autofree char *list = NULL;
  g_assert_true (g_file_get_contents (list_path, &list, NULL, NULL));
  g_auto (GStrv) lines = g_strsplit (list, "\n", -1);
  int checked = 0;
  for (int i = -1; lines[MAX (i, 0)]; i++) {
    double threshold = 0;
    g_autofree char *golden_name = g_strdup ("golden-sr.pgm");
    g_auto (GStrv) fields = NULL;
    if (i >= 0) {
      if (lines[i][0] == '#' || !lines[i][0])
        continue;
      fields = g_strsplit (lines[i], " ", -1);
      threshold = g_ascii_strtod (fields[0], NULL);
      g_free (golden_name);
      golden_name = g_strdup (fields[1]);
    }
    g_autofree char *golden_path = test_data_path (golden_name);
    TestImage golden = test_read_pgm (golden_path);
    for (int threads = 1; threads <= 2; threads++) {
      SrEngineConfig config = { SR_BACKEND_CPU, threads, 0 };
      SrEngine *engine = sr_engine_new (model, &config, NULL);
      sr_engine_set_exit_threshold (engine, threshold);
      guint8 *out = g_malloc (golden.width * golden.height);
      SrPlane src = { lr.data, lr.width, lr.height, lr.width, 1 };
      SrPlane dst = { out, golden.width, golden.height, golden.width, 1 };
      g_assert_true (sr_engine_upscale_luma (engine, &src, &dst, NULL));
      SrFrameStats st;
      sr_engine_get_stats (engine, &st);
      g_assert_nonnull (st.tile_depths);
      g_assert_cmpint (st.tiles_x * st.tiles_y, ==, st.n_tiles);
      for (int t = 0; t < st.n_tiles; t++) {
        int want = fields ? atoi (fields[2 + t]) : sr_model_get_max_depth (model);
        g_assert_cmpint (st.tile_depths[t], ==, want);
      }
      if (fields)
        g_assert_null (fields[2 + st.n_tiles]);
      g_assert_cmpfloat (st.macs_per_pixel, <=, st.macs_per_pixel_full * 1.05);
      double off = test_fraction_off (out, golden.width, golden.data, golden.width,
          golden.width, golden.height, 1);
      g_test_message ("threshold %.4f: mean depth %.2f, %.0f of %.0f MACs/px, %.4f%% off",
          threshold, st.mean_depth, st.macs_per_pixel, st.macs_per_pixel_full, 100 * off);
      g_assert_cmpfloat (off, <=, 0.001);
      g_free (out);
      sr_engine_free (engine);
    }
    g_free (golden.data);
    checked++;
    if (i < 0)
      continue;
  }
  g_assert_cmpint (checked, >=, 3);
  if (int8)
    test_env_pop ("SR_CPU_PRECISION", saved_precision);
  g_free (lr.data);
  sr_model_free (model);
}

static void
test_engine_rejects_bad_planes (void)
{
  SrModel *model = sr_model_load (test_model_path (), NULL);
  SrEngine *engine = sr_engine_new (model, NULL, NULL);
  guint8 buf[64 * 64];
  SrPlane src = { buf, 8, 8, 8, 1 };
  SrPlane dst_wrong = { buf, 15, 16, 16, 1 };
  SrPlane short_stride = { buf, 8, 8, 4, 1 };
  GError *error = NULL;
  g_assert_false (sr_engine_upscale_luma (engine, &src, &dst_wrong, &error));
  g_assert_error (error, SR_ERROR, SR_ERROR_INVALID);
  g_clear_error (&error);
  SrPlane dst = { buf, 16, 16, 16, 1 };
  g_assert_false (sr_engine_upscale_luma (engine, &short_stride, &dst, &error));
  g_assert_error (error, SR_ERROR, SR_ERROR_INVALID);
  g_clear_error (&error);
  sr_engine_free (engine);

  SrEngineConfig gpu = { SR_BACKEND_VULKAN, 0, 0 };
  if (!sr_backend_is_built (SR_BACKEND_VULKAN)) {
    g_assert_null (sr_engine_new (model, &gpu, &error));
    g_assert_error (error, SR_ERROR, SR_ERROR_UNSUPPORTED);
    g_clear_error (&error);
  }
  sr_model_free (model);
}

/* Keys' cubic (a = -0.5) evaluated directly in floating point. */
/* A model whose every weight and bias is `value`: huge values must saturate the picture
 * (the float-to-int conversion of the output used to overflow, undefined behaviour that gave
 * black for white on x86), on whatever precision the CPU picks for the model. */
static void
upscale_with_all_weights (float value, guint8 expect)
{
  guint64 len;
  memcpy (&len, model_bytes, 8);
  len = GUINT64_FROM_LE (len);
  guint8 *copy = g_memdup2 (model_bytes, model_size);
  float le = value;
#if G_BYTE_ORDER == G_BIG_ENDIAN
  guint32 bits;
  memcpy (&bits, &le, 4);
  bits = GUINT32_SWAP_LE_BE (bits);
  memcpy (&le, &bits, 4);
#endif
  for (gsize at = 8 + len; at + 4 <= model_size; at += 4)
    memcpy (copy + at, &le, 4);
  g_autoptr (GError) error = NULL;
  SrModel *model = sr_model_load_from_data (copy, model_size, &error);
  g_assert_no_error (error);
  g_autofree char *lr_path = test_data_path ("golden-lr.pgm");
  TestImage lr = test_read_pgm (lr_path);
  SrEngine *engine = sr_engine_new (model, NULL, &error);
  g_assert_no_error (error);
  sr_engine_set_exit_threshold (engine, 0.5); /* the exit predictor's output is huge too */
  gsize n = 4 * (gsize) lr.width * lr.height;
  guint8 *out = g_malloc (n);
  SrPlane src = { lr.data, lr.width, lr.height, lr.width, 1 };
  SrPlane dst = { out, 2 * lr.width, 2 * lr.height, 2 * lr.width, 1 };
  g_assert_true (sr_engine_upscale_luma (engine, &src, &dst, &error));
  for (gsize i = 0; i < n; i++)
    if (out[i] != expect)
      g_error ("weights %g: pixel %" G_GSIZE_FORMAT " is %d, expected %d", value, i, out[i],
          expect);
  g_free (out);
  g_free (lr.data);
  sr_engine_free (engine);
  sr_model_free (model);
  g_free (copy);
}

static void
test_wild_weights_saturate (void)
{
  upscale_with_all_weights (1e30f, 255);
  upscale_with_all_weights (-1e30f, 0);
}

static double
keys (double t)
{
  t = fabs (t);
  if (t <= 1)
    return 1.5 * t * t * t - 2.5 * t * t + 1;
  if (t < 2)
    return -0.5 * t * t * t + 2.5 * t * t - 4 * t + 2;
  return 0;
}

static double
bicubic_ref (const guint8 *src, int w, int h, int ps, gsize stride, int X, int Y)
{
  double u = X / 2.0 - 0.25, v = Y / 2.0 - 0.25, sum = 0;
  for (int j = (int) floor (v) - 1; j <= (int) floor (v) + 2; j++)
    for (int i = (int) floor (u) - 1; i <= (int) floor (u) + 2; i++)
      sum += keys (u - i) * keys (v - j) *
          src[CLAMP (j, 0, h - 1) * stride + CLAMP (i, 0, w - 1) * ps];
  return sum;
}

/* The integer bicubic equals the floating-point formula (rounded), on interleaved input
 * and on odd destination sizes. */
static void
test_bicubic_matches_formula (void)
{
  const int sizes[][4] = { { 1, 1, 2, 2 }, { 5, 3, 9, 5 }, { 17, 12, 34, 24 }, { 8, 9, 16, 17 },
    { 37, 21, 74, 42 }, { 40, 9, 79, 17 } };
  GRand *rand = g_rand_new_with_seed (7);
  /* the CPU engine's version runs in row bands on its threads: the same bytes */
  SrModel *model = sr_model_load (test_model_path (), NULL);
  SrEngineConfig config = { SR_BACKEND_CPU, 3, 0, NULL };
  SrEngine *engine = sr_engine_new (model, &config, NULL);
  for (int ps = 1; ps <= 2; ps++)
    for (guint s = 0; s < G_N_ELEMENTS (sizes); s++) {
      int w = sizes[s][0], h = sizes[s][1], ow = sizes[s][2], oh = sizes[s][3];
      gsize stride = ps * w + 5, ostride = ps * ow + 3; /* NV12-like pairs, padding */
      guint8 *src = g_malloc (stride * h), *dst = g_malloc0 (ostride * oh + 1);
      guint8 *dst2 = g_malloc0 (ostride * oh + 1);
      for (gsize i = 0; i < stride * h; i++)
        src[i] = g_rand_int_range (rand, 0, 256);
      SrPlane sp = { src + 1, w, h, stride, ps };
      SrPlane dp = { dst + 1, ow, oh, ostride, ps }, dp2 = { dst2 + 1, ow, oh, ostride, ps };
      g_autoptr (GError) error = NULL;
      g_assert_true (sr_bicubic_x2 (&sp, &dp, &error));
      g_assert_true (sr_engine_bicubic_x2 (engine, &sp, &dp2, &error));
      g_assert_cmpmem (dst, ostride * oh + 1, dst2, ostride * oh + 1);
      for (int y = 0; y < oh; y++)
        for (int x = 0; x < ow; x++) {
          double want = CLAMP (bicubic_ref (src + 1, w, h, ps, stride, x, y), 0, 255);
          int got = dst[1 + y * ostride + ps * x];
          g_assert_cmpfloat (fabs (got - want), <=, 0.5 + 1e-9);
          if (ps == 2) /* the other component untouched */
            g_assert_cmpint (dst[y * ostride + 2 * x], ==, 0);
        }
      g_free (src);
      g_free (dst);
      g_free (dst2);
    }
  sr_engine_free (engine);
  sr_model_free (model);
  g_rand_free (rand);

  guint8 buf[64];
  SrPlane src = { buf, 4, 4, 4, 1 }, dst = { buf, 10, 8, 10, 1 };
  GError *error = NULL;
  g_assert_false (sr_bicubic_x2 (&src, &dst, &error));
  g_assert_error (error, SR_ERROR, SR_ERROR_INVALID);
  g_clear_error (&error);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_assert_true (g_file_get_contents (test_model_path (), &model_bytes, &model_size, NULL));
  g_test_add_func ("/model/load-good", test_load_good);
  g_test_add_func ("/model/missing-file", test_load_missing_file);
  g_test_add_func ("/model/truncated", test_load_truncated);
  g_test_add_func ("/model/bad-json", test_load_bad_json);
  g_test_add_func ("/model/bad-precision", test_load_bad_precision);
  g_test_add_func ("/model/wrong-shape", test_load_wrong_shape);
  g_test_add_func ("/model/wrong-dtype", test_load_wrong_dtype);
  g_test_add_func ("/model/huge-sizes", test_load_huge_sizes);
  g_test_add_func ("/model/random-corruption", test_load_random_corruption);
  g_test_add_func ("/model/deep-nesting", test_load_deep_nesting);
  g_test_add_func ("/model/plain-exits-too-deep", test_load_plain_exits_too_deep);
  g_test_add_func ("/model/not-regular-or-too-large", test_load_not_regular_or_too_large);
  g_test_add_func ("/engine/wild-weights-saturate", test_wild_weights_saturate);
  g_test_add_func ("/engine/reference-matches-pytorch", test_reference_matches_pytorch);
  g_test_add_func ("/engine/lowp-matches-simulation", test_lowp_matches_simulation);
  g_test_add_func ("/engine/kxk-plain-net", test_kxk_plain_net);
  g_test_add_func ("/engine/plain-exits", test_plain_exits);
  g_test_add_func ("/load/bad-exits", test_load_bad_exits);
  g_test_add_func ("/engine/exits-match-pytorch", test_exits_match_pytorch);
  g_test_add_func ("/engine/rejects-bad-planes", test_engine_rejects_bad_planes);
  g_test_add_func ("/bicubic/matches-formula", test_bicubic_matches_formula);
  int ret = g_test_run ();
  g_free (model_bytes);
  return ret;
}
