/* Every GPU backend built in against the CPU backend on the same frames: real frames and
 * odd-size crops, the plain and the ghost-exit model, several exit thresholds, strided
 * planes, frame-size changes, and the error paths (no such device, a frame too large).
 * A backend without a driver or device is skipped unless SR_REQUIRE_BACKENDS names it. */
#include <sr-core/sr-core.h>
#include <glib/gstdio.h>
#include <string.h>
#include <sys/mman.h>

#include "sr-backend.h"
#include "test-net.h"
#include "test-util.h"

static const SrBackendKind gpu_kinds[] = { SR_BACKEND_VULKAN, SR_BACKEND_OPENCL };

static gboolean
required (SrBackendKind kind)
{
  const char *list = g_getenv ("SR_REQUIRE_BACKENDS");
  if (!list)
    return FALSE;
  g_auto (GStrv) names = g_strsplit (list, ",", -1);
  return g_strv_contains ((const char *const *) names, sr_backend_kind_name (kind));
}

/* The backend's engine on the model, or NULL after marking the test skipped. */
static SrEngine *
gpu_engine (SrModel *model, SrBackendKind kind)
{
  const char *name = sr_backend_kind_name (kind);
  if (!sr_backend_is_built (kind)) {
    if (required (kind))
      g_error ("%s is required (SR_REQUIRE_BACKENDS) but not built in", name);
    g_test_skip_printf ("%s is not built in", name);
    return NULL;
  }
  g_autoptr (GError) error = NULL;
  SrEngineConfig config = { kind, 0, 0, NULL };
  SrEngine *engine = sr_engine_new (model, &config, &error);
  if (!engine) {
    if (required (kind))
      g_error ("%s is required (SR_REQUIRE_BACKENDS) but cannot start: %s", name, error->message);
    g_test_skip_printf ("%s cannot start here: %s", name, error->message);
    return NULL;
  }
  g_assert_cmpint (sr_engine_get_backend (engine), ==, kind);
  g_test_message ("%s on %s", name, sr_engine_get_device_name (engine));
  return engine;
}

static SrModel *
load_model (const char *file)
{
  g_autoptr (GError) error = NULL;
  const char *dir = g_getenv ("SR_TEST_MODEL_DIR");
  g_autofree char *path = g_build_filename (dir ? dir : SR_TEST_MODEL_DIR, file, NULL);
  SrModel *model = sr_model_load (path, &error);
  g_assert_no_error (error);
  return model;
}

/* What the device-against-CPU tests of one frame start from: the model, the backend's
 * engine on it and the flowers frame. FALSE (the test skipped) where the backend cannot run. */
typedef struct {
  SrModel *model;
  SrEngine *gpu;
  TestImage img;
} GpuFixture;

static gboolean
gpu_fixture_setup (GpuFixture *fx, const char *model_file, gconstpointer kind)
{
  fx->model = load_model (model_file);
  fx->gpu = gpu_engine (fx->model, GPOINTER_TO_INT (kind));
  if (!fx->gpu) {
    sr_model_free (fx->model);
    return FALSE;
  }
  g_autofree char *path = test_data_path ("flowers-360p-frame30.pgm");
  fx->img = test_read_pgm (path);
  return TRUE;
}

static void
gpu_fixture_teardown (GpuFixture *fx)
{
  g_free (fx->img.data);
  sr_engine_free (fx->gpu);
  sr_model_free (fx->model);
}

typedef struct {
  const char *file;   /* under tests/data */
  int x, y, w, h;     /* the crop; w = 0: the whole image */
} Frame;

static const Frame frames[] = {
  { "flowers-360p-frame30.pgm", 0, 0, 0, 0 },
  { "flowers-360p-frame30.pgm", 7, 5, 333, 187 },  /* odd size, unaligned start */
  { "flowers-360p-frame30.pgm", 301, 77, 8, 8 },   /* smaller than a tile */
  { "flowers-360p-frame30.pgm", 100, 40, 1, 45 },  /* one pixel wide */
  { "golden-lr.pgm", 0, 0, 0, 0 },
};

typedef struct {
  int pixels_off;     /* differing by more than 1/255 */
  int pixels;
  int tiles_off;      /* with another exit depth */
  int tiles;
} Diff;

/* Runs both engines on one crop and counts the differences. */
static void
compare_frame (SrEngine *cpu, SrEngine *gpu, const TestImage *img, const Frame *f,
    int pixel_stride, Diff *diff)
{
  int w = f->w ? f->w : img->width, h = f->h ? f->h : img->height;
  /* the source as a crop of the image, at the pixel stride asked for */
  guint8 *src_data = g_malloc ((gsize) img->width * img->height * pixel_stride);
  for (int y = 0; y < img->height; y++)
    for (int x = 0; x < img->width; x++)
      src_data[((gsize) y * img->width + x) * pixel_stride] = img->data[y * img->width + x];
  SrPlane src = { src_data + ((gsize) f->y * img->width + f->x) * pixel_stride, w, h,
    img->width * pixel_stride, pixel_stride };
  gsize dst_stride = 2 * w * pixel_stride + 24;
  guint8 *a = g_malloc0 (dst_stride * 2 * h), *b = g_malloc0 (dst_stride * 2 * h);
  SrPlane da = { a, 2 * w, 2 * h, dst_stride, pixel_stride };
  SrPlane db = { b, 2 * w, 2 * h, dst_stride, pixel_stride };
  g_autoptr (GError) error = NULL;
  g_assert_true (sr_engine_upscale_luma (cpu, &src, &da, &error));
  g_assert_true (sr_engine_upscale_luma (gpu, &src, &db, &error));
  g_assert_no_error (error);

  for (int y = 0; y < 2 * h; y++)
    for (int x = 0; x < 2 * w; x++) {
      gsize i = y * dst_stride + (gsize) x * pixel_stride;
      diff->pixels_off += ABS ((int) a[i] - (int) b[i]) > 1;
      diff->pixels++;
    }
  /* the bytes between pixels and past each row are not the backend's to write */
  for (gsize i = 0; i < dst_stride * 2 * h; i++)
    if (i % dst_stride >= (gsize) 2 * w * pixel_stride || i % pixel_stride)
      g_assert_cmpint (b[i], ==, 0);

  SrFrameStats sa, sb;
  sr_engine_get_stats (cpu, &sa);
  sr_engine_get_stats (gpu, &sb);
  g_assert_cmpint (sa.n_tiles != 0, ==, sb.n_tiles != 0);
  g_assert_cmpint (sa.max_depth, ==, sb.max_depth);
  g_assert_cmpfloat (sb.macs_per_pixel, >, 0);
  g_assert_cmpfloat (sb.macs_per_pixel_full, ==, sa.macs_per_pixel_full);
  if (sa.tile_depths) {
    g_assert_nonnull (sb.tile_depths);
    g_assert_cmpint (sa.tiles_x, ==, sb.tiles_x);
    g_assert_cmpint (sa.tiles_y, ==, sb.tiles_y);
    int n = sa.tiles_x * sa.tiles_y, at_depth = 0;
    for (int t = 0; t < n; t++)
      diff->tiles_off += sa.tile_depths[t] != sb.tile_depths[t];
    for (int d = 0; d <= SR_MAX_DEPTH; d++)
      at_depth += sb.tiles_at_depth[d];
    g_assert_cmpint (at_depth, ==, n);
    diff->tiles += n;
  }
  g_free (src_data);
  g_free (a);
  g_free (b);
}

/* The GPU picture equals the CPU's within 1/255 on >= 99.9% of pixels, and the exit
 * decisions agree on >= 99% of tiles (they may differ only where a predicted gain is
 * within rounding of the threshold). */
static void
compare_model (gconstpointer data, const char *model_file, const double *thresholds,
    int n_thresholds, int pixel_stride)
{
  SrBackendKind kind = GPOINTER_TO_INT (data);
  SrModel *model = load_model (model_file);
  SrEngine *gpu = gpu_engine (model, kind);
  if (!gpu) {
    sr_model_free (model);
    return;
  }
  SrEngineConfig cpu_config = { SR_BACKEND_CPU, 0, 0, NULL };
  SrEngine *cpu = sr_engine_new (model, &cpu_config, NULL);
  for (int t = 0; t < n_thresholds; t++) {
    double threshold = thresholds[t] < 0 ? -thresholds[t] *
        sr_model_get_default_exit_threshold (model) : thresholds[t];
    sr_engine_set_exit_threshold (cpu, threshold);
    sr_engine_set_exit_threshold (gpu, threshold);
    Diff diff = { 0 };
    for (guint i = 0; i < G_N_ELEMENTS (frames); i++) {
      g_autofree char *path = test_data_path (frames[i].file);
      TestImage img = test_read_pgm (path);
      compare_frame (cpu, gpu, &img, &frames[i], pixel_stride, &diff);
      g_free (img.data);
    }
    g_test_message ("%s, threshold %.4f: %d of %d pixels off by > 1/255, %d of %d tiles at "
        "another depth", model_file, threshold, diff.pixels_off, diff.pixels, diff.tiles_off,
        diff.tiles);
    g_assert_cmpfloat ((double) diff.pixels_off / diff.pixels, <=, 0.001);
    g_assert_cmpint (diff.tiles_off * 100, <=, diff.tiles);
  }
  sr_engine_free (cpu);
  sr_engine_free (gpu);
  sr_model_free (model);
}

/* the default model: full depth, and its exits at 0.05 dB (its default is full depth) */
static void
test_plain_matches_cpu (gconstpointer data)
{
  const double thresholds[] = { 0, 0.05 };
  compare_model (data, SR_PLAIN_MODEL_FILE, thresholds, G_N_ELEMENTS (thresholds), 1);
}

/* negative thresholds are multiples of the model's default */
static void
test_ghost_matches_cpu (gconstpointer data)
{
  const double thresholds[] = { 0, -1, -2, 0.1 };
  compare_model (data, SR_GHOST_MODEL_FILE, thresholds, G_N_ELEMENTS (thresholds), 1);
}

/* A plain net of 5x5, 3x3, 7x7, 1x1 and 5x5 layers (tests/test-net.h), which the CPU runs
 * through the same executor as the 3x3 nets: the GPU picture equals the CPU's within 1/255
 * everywhere, on an odd-sized test picture and an odd crop of the flowers frame. */
static void
test_kxk_matches_cpu (gconstpointer data)
{
  const int kernels[] = { 5, 3, 7, 1, 5 }, channels[] = { 1, 8, 8, 8, 6, 4 };
  TestNet net;
  test_net_init (&net, G_N_ELEMENTS (kernels), kernels, channels, 1234);
  SrModel *model = test_net_load (&net, NULL, NULL);
  g_autoptr (GError) error = NULL;
  SrEngine *gpu = gpu_engine (model, GPOINTER_TO_INT (data));
  if (gpu) {
    SrEngineConfig cpu_config = { SR_BACKEND_CPU, 2, 0, NULL };
    SrEngine *cpu = sr_engine_new (model, &cpu_config, &error);
    g_assert_no_error (error);
    TestImage pic = { 67, 45, g_malloc (67 * 45) };
    test_net_picture (pic.data, pic.width, pic.height, 7);
    g_autofree char *path = test_data_path ("flowers-360p-frame30.pgm");
    TestImage flowers = test_read_pgm (path);
    const Frame whole = { NULL, 0, 0, 0, 0 }, crop = { NULL, 7, 5, 133, 97 };
    Diff diff = { 0 };
    compare_frame (cpu, gpu, &pic, &whole, 1, &diff);
    compare_frame (cpu, gpu, &flowers, &crop, 1, &diff);
    g_test_message ("kxk net: %d of %d pixels off by > 1/255", diff.pixels_off, diff.pixels);
    g_assert_cmpint (diff.pixels_off, ==, 0);
    g_free (pic.data);
    g_free (flowers.data);
    sr_engine_free (cpu);
    sr_engine_free (gpu);
  }
  sr_model_free (model);
  test_net_clear (&net);
}

/* A plain net with exits (3x3, 3 hidden layers, exit tiles of 8: the net of test-core's
 * /engine/plain-exits) against the CPU's fp32 at thresholds 0 (full depth), two that mix
 * depths and one that sends every tile out at depth 1: the same depth on every tile, and
 * (exact) no pixel off by more than 1/255, else the bounds of compare_model. On odd-sized
 * test pictures and an odd crop of the flowers frame. */
static void
plain_exits_compare (SrBackendKind kind, gboolean exact)
{
  const int B = TEST_EXIT_NET_B;
  TestNet net;
  test_net_init_exit_net (&net);
  SrModel *model = test_net_load (&net, NULL, NULL);
  g_autoptr (GError) error = NULL;
  g_assert_cmpint (sr_model_get_max_depth (model), ==, B);
  SrEngine *gpu = gpu_engine (model, kind);
  if (gpu) {
    SrEngineConfig cpu_config = { SR_BACKEND_CPU, 2, 0, NULL };
    SrEngine *cpu = sr_engine_new (model, &cpu_config, &error);
    g_assert_no_error (error);
    TestImage pics[3] = { { 67, 45, g_malloc (67 * 45) }, { 41, 83, g_malloc (41 * 83) } };
    test_net_picture (pics[0].data, pics[0].width, pics[0].height, 3);
    test_net_picture (pics[1].data, pics[1].width, pics[1].height, 4);
    g_autofree char *path = test_data_path ("flowers-360p-frame30.pgm");
    pics[2] = test_read_pgm (path);
    const Frame crops[3] = { { NULL, 0, 0, 0, 0 }, { NULL, 0, 0, 0, 0 },
      { NULL, 7, 5, 133, 97 } };
    const double thresholds[] = { 0, 0.01, 0.15, 1e6 };
    gboolean mixed = FALSE;
    for (guint t = 0; t < G_N_ELEMENTS (thresholds); t++) {
      sr_engine_set_exit_threshold (cpu, thresholds[t]);
      sr_engine_set_exit_threshold (gpu, thresholds[t]);
      Diff diff = { 0 };
      int at_depth[SR_MAX_DEPTH + 1] = { 0 };
      for (guint i = 0; i < G_N_ELEMENTS (pics); i++) {
        compare_frame (cpu, gpu, &pics[i], &crops[i], 1, &diff);
        SrFrameStats st;
        sr_engine_get_stats (gpu, &st);
        g_assert_cmpint (st.max_depth, ==, B);
        g_assert_cmpint (st.tile_size, ==, 8);
        int seen = 0;
        for (int d = 1; d <= B; d++) {
          at_depth[d] += st.tiles_at_depth[d];
          seen += st.tiles_at_depth[d] > 0;
        }
        if (seen > 1) {
          mixed = TRUE;
          g_assert_cmpfloat (st.macs_per_pixel, <, st.macs_per_pixel_full);
        }
      }
      g_test_message ("plain exits, threshold %g: %d of %d pixels off by > 1/255, %d of %d "
          "tiles at another depth; tiles at depth 1..%d: %d %d %d", thresholds[t],
          diff.pixels_off, diff.pixels, diff.tiles_off, diff.tiles, B, at_depth[1],
          at_depth[2], at_depth[3]);
      g_assert_cmpint (diff.tiles, >, 0);
      if (exact) {
        g_assert_cmpint (diff.pixels_off, ==, 0);
        g_assert_cmpint (diff.tiles_off, ==, 0);
      } else {
        g_assert_cmpfloat ((double) diff.pixels_off / diff.pixels, <=, 0.001);
        g_assert_cmpint (diff.tiles_off * 100, <=, diff.tiles);
      }
      if (thresholds[t] == 0)
        g_assert_cmpint (at_depth[B], ==, diff.tiles);
      if (thresholds[t] == 1e6)
        g_assert_cmpint (at_depth[1], ==, diff.tiles);
    }
    g_assert_true (mixed);
    for (guint i = 0; i < G_N_ELEMENTS (pics); i++)
      g_free (pics[i].data);
    sr_engine_free (cpu);
    sr_engine_free (gpu);
  }
  sr_model_free (model);
  test_net_clear (&net);
}

static void
test_plain_exits_match_cpu (gconstpointer data)
{
  plain_exits_compare (GPOINTER_TO_INT (data), TRUE);
}

/* fp16 feature maps (SR_VULKAN_PRECISION / SR_OPENCL_PRECISION=fp16, arithmetic in fp32):
 * the same bounds against the CPU's fp32, where the device can store fp16. */
static void
test_fp16_matches_cpu (gconstpointer data)
{
  SrBackendKind kind = GPOINTER_TO_INT (data);
  const char *var = kind == SR_BACKEND_VULKAN ? "SR_VULKAN_PRECISION" : "SR_OPENCL_PRECISION";
  g_setenv (var, "fp16", TRUE);
  SrModel *model = load_model (SR_PLAIN_MODEL_FILE);
  SrEngine *probe = sr_backend_is_built (kind) ? sr_engine_new (model, &(SrEngineConfig) { kind,
      0, 0, NULL }, NULL) : NULL;
  gboolean fp16 = probe && strstr (sr_engine_get_device_name (probe), "fp16");
  sr_engine_free (probe);
  sr_model_free (model);
  if (fp16) {
    const double plain[] = { 0 }, ghost[] = { 0, -1 };
    compare_model (data, SR_PLAIN_MODEL_FILE, plain, 1, 1);
    compare_model (data, SR_GHOST_MODEL_FILE, ghost, 2, 1);
    plain_exits_compare (kind, FALSE);
  } else {
    g_test_skip ("no fp16 feature maps on this backend or device");
  }
  g_unsetenv (var);
}

static void
test_pixel_stride (gconstpointer data)
{
  const double thresholds[] = { -1 };
  compare_model (data, SR_GHOST_MODEL_FILE, thresholds, 1, 2);
}

/* Chroma on the device equals sr_bicubic_x2 bit for bit: odd sizes, one sample narrower
 * output (4:2:0 of odd width), interleaved planes (NV12's pixel stride 2). */
static void
test_bicubic_matches_cpu (gconstpointer data)
{
  GpuFixture fx;
  if (!gpu_fixture_setup (&fx, SR_PLAIN_MODEL_FILE, data))
    return;
  SrEngine *gpu = fx.gpu;
  TestImage img = fx.img;
  const int sizes[][4] = {
    /* w, h, narrower by, pixel stride */
    { 320, 180, 0, 1 }, { 161, 91, 1, 1 }, { 1, 1, 0, 1 }, { 45, 27, 1, 2 }, { 7, 300, 0, 2 },
  };
  for (guint i = 0; i < G_N_ELEMENTS (sizes); i++) {
    int w = sizes[i][0], h = sizes[i][1], ps = sizes[i][3];
    int dw = 2 * w - sizes[i][2], dh = 2 * h - sizes[i][2];
    SrPlane src = { img.data + 3 * img.width + 5, w, h, img.width, 1 };
    guint8 *src_data = NULL;
    if (ps == 2) {
      src_data = g_malloc0 ((gsize) 2 * w * h);
      for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++)
          src_data[(y * w + x) * 2] = img.data[(y + 3) * img.width + x + 5];
      src = (SrPlane) { src_data, w, h, 2 * w, 2 };
    }
    gsize stride = (gsize) dw * ps + 8;
    guint8 *a = g_malloc0 (stride * dh), *b = g_malloc0 (stride * dh);
    SrPlane da = { a, dw, dh, stride, ps }, db = { b, dw, dh, stride, ps };
    g_autoptr (GError) error = NULL;
    g_assert_true (sr_bicubic_x2 (&src, &da, &error));
    g_assert_true (sr_engine_bicubic_x2 (gpu, &src, &db, &error));
    g_assert_no_error (error);
    g_assert_cmpmem (a, stride * dh, b, stride * dh);
    g_free (a);
    g_free (b);
    g_free (src_data);
  }
  /* a wrong size is refused before the device sees it */
  guint8 px[4] = { 0 };
  SrPlane s1 = { px, 2, 2, 2, 1 }, d1 = { px, 1, 1, 1, 1 };
  g_autoptr (GError) error = NULL;
  g_assert_false (sr_engine_bicubic_x2 (gpu, &s1, &d1, &error));
  g_assert_error (error, SR_ERROR, SR_ERROR_INVALID);
  gpu_fixture_teardown (&fx);
}

/* Resampling on the device equals sr_resample bit for bit: odd sizes, the element's ratios
 * (the network's 2x to 1x, 1.5x or 2x of the input: 0.5, 0.75, 1; chroma from the input:
 * 1, 1.5, 2), unequal axes, a one-sample plane, interleaved planes; jobs of several sizes
 * in turn (a frame's luma and chroma), each twice. Wider samples run on the CPU there, and
 * still match. */
static void
test_resample_matches_cpu (gconstpointer data)
{
  GpuFixture fx;
  if (!gpu_fixture_setup (&fx, SR_PLAIN_MODEL_FILE, data))
    return;
  SrEngine *gpu = fx.gpu;
  TestImage img = fx.img;
  const int sizes[][5] = {
    /* source w, h, destination w, h, pixel stride */
    { 640, 360, 320, 180, 1 }, { 639, 359, 479, 269, 1 }, { 333, 187, 333, 187, 1 },
    { 161, 91, 241, 136, 1 }, { 161, 91, 322, 182, 1 }, { 45, 27, 67, 54, 2 },
    { 1, 1, 2, 1, 1 }, { 7, 300, 5, 451, 2 }, { 200, 120, 150, 119, 1 },
  };
  for (int round = 0; round < 2; round++)
    for (guint i = 0; i < G_N_ELEMENTS (sizes); i++) {
      int w = sizes[i][0], h = sizes[i][1], dw = sizes[i][2], dh = sizes[i][3];
      int ps = sizes[i][4];
      g_assert_cmpint (w, <=, img.width);
      g_assert_cmpint (h, <=, img.height);
      guint8 *src_data = g_malloc0 ((gsize) ps * w * h);
      for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++)
          src_data[(y * w + x) * ps] = img.data[(img.height - h + y) * img.width + x];
      SrPlane src = { src_data, w, h, (gsize) w * ps, ps };
      gsize stride = (gsize) dw * ps + 8;
      guint8 *a = g_malloc0 (stride * dh), *b = g_malloc0 (stride * dh);
      SrPlane da = { a, dw, dh, stride, ps }, db = { b, dw, dh, stride, ps };
      g_autoptr (GError) error = NULL;
      g_assert_true (sr_resample (&src, &da, &error));
      g_assert_true (sr_engine_resample (gpu, &src, &db, &error));
      g_assert_no_error (error);
      g_assert_cmpmem (a, stride * dh, b, stride * dh);
      g_free (a);
      g_free (b);
      g_free (src_data);
    }
  /* no failover happened: the frames above ran on the device */
  g_assert_null (sr_engine_take_failover_note (gpu));
  g_assert_cmpint (sr_engine_get_backend (gpu), ==, GPOINTER_TO_INT (data));

  /* 10-bit words (P010: shifted by 6) */
  const int w = 37, h = 21, dw = 55, dh = 31;
  guint16 *wide = g_new (guint16, w * h), *wa = g_new0 (guint16, dw * dh),
      *wb = g_new0 (guint16, dw * dh);
  for (int i = 0; i < w * h; i++)
    wide[i] = (img.data[i] * 4 + i % 4) << 6;
  SrPlane ws = { (guint8 *) wide, w, h, 2 * w, 2, 10, 6 };
  SrPlane wda = { (guint8 *) wa, dw, dh, 2 * dw, 2, 10, 6 };
  SrPlane wdb = { (guint8 *) wb, dw, dh, 2 * dw, 2, 10, 6 };
  g_assert_true (sr_resample (&ws, &wda, NULL));
  g_assert_true (sr_engine_resample (gpu, &ws, &wdb, NULL));
  g_assert_cmpmem (wa, 2 * dw * dh, wb, 2 * dw * dh);
  g_free (wide);
  g_free (wa);
  g_free (wb);
  gpu_fixture_teardown (&fx);
}

/* The network and the resampling in one pass on the device equal the device's own 2x
 * picture resampled by sr_resample, bit for bit, with the same exit depths: odd sizes, 1x,
 * 1.5x and unequal ratios, a 2x axis beside another, an interleaved destination; sizes in
 * turn and back (the frame is remade for each), the ghost net at its default threshold.
 * A failure in that pass fails over to the CPU, which redoes the frame. */
static void
test_upscale_resampled_matches (gconstpointer data)
{
  GpuFixture fx;
  if (!gpu_fixture_setup (&fx, SR_GHOST_MODEL_FILE, data))
    return;
  SrModel *model = fx.model;
  SrEngine *gpu = fx.gpu;
  TestImage img = fx.img;
  sr_engine_set_exit_threshold (gpu, sr_model_get_default_exit_threshold (model));
  const int sizes[][5] = {
    /* source w, h, destination w, h, destination pixel stride */
    { 201, 113, 301, 169, 1 }, { 201, 113, 201, 113, 1 }, { 161, 91, 322, 137, 1 },
    { 45, 27, 67, 53, 2 }, { 201, 113, 301, 169, 1 }, { 1, 1, 2, 1, 1 },
  };
  for (guint i = 0; i < G_N_ELEMENTS (sizes); i++) {
    int w = sizes[i][0], h = sizes[i][1], dw = sizes[i][2], dh = sizes[i][3], ps = sizes[i][4];
    SrPlane src = { img.data + 5 * img.width + 7, w, h, img.width, 1 };
    guint8 *x2 = g_malloc ((gsize) 4 * w * h);
    SrPlane px2 = { x2, 2 * w, 2 * h, 2 * w, 1 };
    gsize stride = (gsize) dw * ps + 8;
    guint8 *a = g_malloc0 (stride * dh), *b = g_malloc0 (stride * dh);
    SrPlane da = { a, dw, dh, stride, ps }, db = { b, dw, dh, stride, ps };
    g_autoptr (GError) error = NULL;
    g_assert_true (sr_engine_upscale_luma (gpu, &src, &px2, &error));
    SrFrameStats sa, sb;
    sr_engine_get_stats (gpu, &sa);
    guint8 *depths = g_memdup2 (sa.tile_depths, sa.tiles_x * sa.tiles_y);
    g_assert_true (sr_resample (&px2, &da, &error));
    g_assert_true (sr_engine_upscale_luma_resampled (gpu, &src, &db, &error));
    g_assert_no_error (error);
    g_assert_cmpmem (a, stride * dh, b, stride * dh);
    sr_engine_get_stats (gpu, &sb);
    g_assert_cmpint (sa.n_tiles, ==, sb.n_tiles);
    g_assert_cmpmem (depths, sa.tiles_x * sa.tiles_y, sb.tile_depths, sb.tiles_x * sb.tiles_y);
    g_free (depths);
    g_free (x2);
    g_free (a);
    g_free (b);
  }
  g_assert_null (sr_engine_take_failover_note (gpu));
  g_assert_cmpint (sr_engine_get_backend (gpu), ==, GPOINTER_TO_INT (data));
  sr_engine_free (gpu);

  /* a device failing in that pass: the frame is redone on the CPU, as the CPU makes it */
  g_setenv ("SR_FAULT_GPU_FRAME", "0", TRUE);
  gpu = fx.gpu = gpu_engine (model, GPOINTER_TO_INT (data));
  g_unsetenv ("SR_FAULT_GPU_FRAME");
  SrEngineConfig cpu_config = { SR_BACKEND_CPU, 0, 0, NULL };
  SrEngine *cpu = sr_engine_new (model, &cpu_config, NULL);
  const int w = 61, h = 37, dw = 90, dh = 55;
  SrPlane src = { img.data, w, h, img.width, 1 };
  guint8 *a = g_malloc0 (dw * dh), *b = g_malloc0 (dw * dh);
  SrPlane da = { a, dw, dh, dw, 1 }, db = { b, dw, dh, dw, 1 };
  g_assert_true (sr_engine_upscale_luma_resampled (cpu, &src, &da, NULL));
  g_assert_true (sr_engine_upscale_luma_resampled (gpu, &src, &db, NULL));
  g_assert_cmpmem (a, dw * dh, b, dw * dh);
  g_autofree char *note = sr_engine_take_failover_note (gpu);
  g_assert_nonnull (strstr (note, "injected fault"));
  g_assert_cmpint (sr_engine_get_backend (gpu), ==, SR_BACKEND_CPU);
  g_free (a);
  g_free (b);
  sr_engine_free (cpu);
  gpu_fixture_teardown (&fx);
}

/* A device that does not exist: a clear error naming what was asked for. */
static void
test_no_such_device (gconstpointer data)
{
  SrBackendKind kind = GPOINTER_TO_INT (data);
  SrModel *model = load_model (SR_PLAIN_MODEL_FILE);
  SrEngine *probe = gpu_engine (model, kind);
  if (probe) {
    sr_engine_free (probe);
    g_autoptr (GError) error = NULL;
    SrEngineConfig config = { kind, 0, 0, "no-such-device-xyz" };
    g_assert_null (sr_engine_new (model, &config, &error));
    g_assert_error (error, SR_ERROR, SR_ERROR_NO_DEVICE);
    g_test_message ("%s", error->message);
    g_assert_nonnull (strstr (error->message, "no-such-device-xyz"));
    g_clear_error (&error);
    config.device = "9999";
    g_assert_null (sr_engine_new (model, &config, &error));
    g_assert_error (error, SR_ERROR, SR_ERROR_NO_DEVICE);
  }
  sr_model_free (model);
}

/* No driver at all (the ICD loader pointed at nothing, in a fresh process): the named
 * backend fails with SR_ERROR_NO_DEVICE, auto ends on the CPU. */
static void
test_no_driver (gconstpointer data)
{
  SrBackendKind kind = GPOINTER_TO_INT (data);
  if (!sr_backend_is_built (kind)) {
    g_test_skip ("not built in");
    return;
  }
  if (g_test_subprocess ()) {
    SrModel *model = load_model (SR_PLAIN_MODEL_FILE);
    g_autoptr (GError) error = NULL;
    SrEngineConfig config = { kind, 0, 0, NULL };
    g_assert_null (sr_engine_new (model, &config, &error));
    g_assert_error (error, SR_ERROR, SR_ERROR_NO_DEVICE);
    g_printerr ("%s\n", error->message);
    SrEngine *engine = sr_engine_new (model, NULL, NULL);
    g_assert_cmpint (sr_engine_get_backend (engine), ==, SR_BACKEND_CPU);
    sr_engine_free (engine);
    sr_model_free (model);
    return;
  }
  /* the loaders read these when the child starts */
  g_setenv ("OCL_ICD_VENDORS", "/nonexistent", TRUE);
  g_setenv ("VK_ICD_FILENAMES", "/nonexistent/icd.json", TRUE);
  g_setenv ("VK_DRIVER_FILES", "/nonexistent/icd.json", TRUE);
  g_test_trap_subprocess (NULL, 60 * G_USEC_PER_SEC, G_TEST_SUBPROCESS_DEFAULT);
  g_unsetenv ("OCL_ICD_VENDORS");
  g_unsetenv ("VK_ICD_FILENAMES");
  g_unsetenv ("VK_DRIVER_FILES");
  g_test_trap_assert_passed ();
  g_test_trap_assert_stderr ("*no*");
}

/* A kernel that does not build: the error carries the compiler's log. */
static void
test_opencl_build_log (void)
{
  if (!sr_backend_is_built (SR_BACKEND_OPENCL)) {
    g_test_skip ("not built in");
    return;
  }
  if (g_test_subprocess ()) {
    SrModel *model = load_model (SR_PLAIN_MODEL_FILE);
    g_autoptr (GError) error = NULL;
    SrEngineConfig config = { SR_BACKEND_OPENCL, 0, 0, NULL };
    g_assert_null (sr_engine_new (model, &config, &error));
    g_assert_error (error, SR_ERROR, SR_ERROR_BACKEND);
    g_printerr ("%s\n", error->message);
    sr_model_free (model);
    return;
  }
  /* only where OpenCL starts with the real kernels */
  SrModel *model = load_model (SR_PLAIN_MODEL_FILE);
  SrEngine *probe = gpu_engine (model, SR_BACKEND_OPENCL);
  sr_model_free (model);
  if (!probe)
    return;
  sr_engine_free (probe);
  g_autofree char *dir = g_dir_make_tmp ("sr-cl-XXXXXX", NULL);
  g_autofree char *path = g_build_filename (dir, "broken.cl", NULL);
  g_assert_true (g_file_set_contents (path,
      "__kernel void conv (__global float *x) { x[0] = undeclared_identifier_xyz; }\n", -1,
      NULL));
  g_setenv ("SR_OPENCL_KERNELS", path, TRUE);
  g_test_trap_subprocess (NULL, 60 * G_USEC_PER_SEC, G_TEST_SUBPROCESS_DEFAULT);
  g_unsetenv ("SR_OPENCL_KERNELS");
  g_unlink (path);
  g_rmdir (dir);
  g_test_trap_assert_passed ();
  g_test_trap_assert_stderr ("*building the kernels*undeclared_identifier_xyz*");
}

/* The vtable of a built GPU backend (sr-backend.h, linked from the library). */
static const SrBackendOps *
backend_ops (SrBackendKind kind)
{
#ifdef HAVE_VULKAN
  if (kind == SR_BACKEND_VULKAN)
    return &sr_vulkan_backend;
#endif
#ifdef HAVE_OPENCL
  if (kind == SR_BACKEND_OPENCL)
    return &sr_opencl_backend;
#endif
  g_assert_not_reached ();
}

/* A frame whose feature maps cannot fit any device fails in the backend with an error and
 * leaves it usable. The planes are reserved, never touched, so the test needs no memory. The
 * backend is called directly: the engine would refuse the frame first (its memory bound) or
 * hand it to the CPU (failover, tests/test-reliability.c). */
static void
test_frame_too_large (gconstpointer data)
{
  SrBackendKind kind = GPOINTER_TO_INT (data);
  SrModel *model = load_model (SR_GHOST_MODEL_FILE);
  SrEngine *probe = gpu_engine (model, kind);
  if (!probe) {
    sr_model_free (model);
    return;
  }
  sr_engine_free (probe);
  const SrBackendOps *ops = backend_ops (kind);
  SrEngineConfig config = { kind, 0, 0, NULL };
  gpointer gpu = ops->create (model, &config, FALSE, NULL);
  g_assert_nonnull (gpu);
  SrFrameStats stats;
  const int w = 60000, h = 40000;
  gsize src_size = (gsize) w * h, dst_size = src_size * 4;
  guint8 *src_data = mmap (NULL, src_size, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
      -1, 0);
  guint8 *dst_data = mmap (NULL, dst_size, PROT_READ | PROT_WRITE,
      MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  g_assert_true (src_data != MAP_FAILED && dst_data != MAP_FAILED);
  SrPlane src = { src_data, w, h, w, 1 }, dst = { dst_data, 2 * w, 2 * h, 2 * w, 1 };
  g_autoptr (GError) error = NULL;
  g_assert_false (ops->upscale_luma (gpu, &src, &dst, 0, &stats, &error));
  g_assert_error (error, SR_ERROR, SR_ERROR_BACKEND);
  g_test_message ("%s", error->message);
  munmap (src_data, src_size);
  munmap (dst_data, dst_size);

  /* still works on a normal frame */
  guint8 small[16 * 16] = { 0 }, out[32 * 32];
  SrPlane s = { small, 16, 16, 16, 1 }, d = { out, 32, 32, 32, 1 };
  g_clear_error (&error);
  g_assert_true (ops->upscale_luma (gpu, &s, &d, 0, &stats, &error));
  g_assert_no_error (error);
  ops->destroy (gpu);
  sr_model_free (model);
}

/* AUTO never picks a software device: on a machine whose only devices are lavapipe and
 * PoCL it ends on the CPU, and finding no GPU is not a failure worth a warning. */
static void
test_auto_skips_software_devices (void)
{
  SrModel *model = load_model (SR_PLAIN_MODEL_FILE);
  SrEngine *engine = sr_engine_new (model, NULL, NULL);
  g_assert_nonnull (engine);
  const char *note = sr_engine_get_fallback_note (engine);
  g_test_message ("auto chose %s (%s); note: %s",
      sr_backend_kind_name (sr_engine_get_backend (engine)), sr_engine_get_device_name (engine),
      note ? note : "none");
  gboolean software_only = TRUE;
  for (guint i = 0; i < G_N_ELEMENTS (gpu_kinds); i++) {
    SrEngineConfig config = { gpu_kinds[i], 0, 0, NULL };
    SrEngine *named = sr_engine_new (model, &config, NULL);
    if (named) {
      const char *name = sr_engine_get_device_name (named);
      software_only &= strstr (name, "llvmpipe") || strstr (name, "pthread");
      sr_engine_free (named);
    }
  }
  if (software_only) {
    g_assert_cmpint (sr_engine_get_backend (engine), ==, SR_BACKEND_CPU);
    g_assert_null (note);
  } else {
    g_assert_null (strstr (sr_engine_get_device_name (engine), "llvmpipe"));
    g_assert_null (strstr (sr_engine_get_device_name (engine), "pthread"));
  }
  sr_engine_free (engine);
  sr_model_free (model);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  /* the GPU backends compute in fp32: compare with the CPU's fp32 path, not its int8 one */
  g_setenv ("SR_CPU_PRECISION", "fp32", TRUE);
  for (guint i = 0; i < G_N_ELEMENTS (gpu_kinds); i++) {
    const char *name = sr_backend_kind_name (gpu_kinds[i]);
    gconstpointer kind = GINT_TO_POINTER (gpu_kinds[i]);
    struct {
      const char *test;
      GTestDataFunc func;
    } tests[] = {
      { "plain-matches-cpu", test_plain_matches_cpu },
      { "ghost-matches-cpu", test_ghost_matches_cpu },
      { "kxk-matches-cpu", test_kxk_matches_cpu },
      { "plain-exits-match-cpu", test_plain_exits_match_cpu },
      { "pixel-stride", test_pixel_stride },
      { "fp16-matches-cpu", test_fp16_matches_cpu },
      { "bicubic-matches-cpu", test_bicubic_matches_cpu },
      { "resample-matches-cpu", test_resample_matches_cpu },
      { "upscale-resampled-matches", test_upscale_resampled_matches },
      { "no-such-device", test_no_such_device },
      { "frame-too-large", test_frame_too_large },
      { "no-driver", test_no_driver },
    };
    for (guint t = 0; t < G_N_ELEMENTS (tests); t++) {
      g_autofree char *path = g_strdup_printf ("/backends/%s/%s", name, tests[t].test);
      g_test_add_data_func (path, kind, tests[t].func);
    }
  }
  g_test_add_func ("/backends/auto-skips-software-devices", test_auto_skips_software_devices);
  g_test_add_func ("/backends/opencl/build-log", test_opencl_build_log);
  return g_test_run ();
}
