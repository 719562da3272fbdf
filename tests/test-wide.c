/* Planes of more than 8 bits (10-bit video) through sr-core: the network keeps their
 * precision (CPU backend, fp32 path), chroma bicubic matches its formula, the GPU backends
 * give the CPU's picture. */
#include <math.h>
#include <string.h>

#include <sr-core/sr-core.h>

#include "test-util.h"

/* golden-lr.pgm at 10 bits: x4 plus a 0..3 pattern, so the two low bits carry detail */
static guint16 *
ten_bit_lr (const TestImage *lr)
{
  guint16 *p = g_new (guint16, lr->width * lr->height);
  for (int y = 0; y < lr->height; y++)
    for (int x = 0; x < lr->width; x++)
      p[y * lr->width + x] = lr->data[y * lr->width + x] * 4 + (x + 2 * y) % 4;
  return p;
}

static void
test_network_keeps_10_bits (void)
{
  g_autofree char *lr_path = test_data_path ("golden-lr.pgm");
  TestImage lr = test_read_pgm (lr_path);
  const int w = lr.width, h = lr.height, W = 2 * w, H = 2 * h;
  SrModel *model = sr_model_load (test_model_path (), NULL);
  g_assert_nonnull (model);
  SrEngineConfig config = { SR_BACKEND_CPU, 2, 0, NULL };
  SrEngine *engine = sr_engine_new (model, &config, NULL);
  guint16 *lr10 = ten_bit_lr (&lr), *out10 = g_new0 (guint16, W * H);
  guint8 *out8 = g_malloc (W * H);
  SrPlane s10 = { (guint8 *) lr10, w, h, 2 * w, 2, 10, 0 };
  SrPlane d10 = { (guint8 *) out10, W, H, 2 * W, 2, 10, 0 };
  SrPlane s8 = { lr.data, w, h, w, 1 }, d8 = { out8, W, H, W, 1 };
  GError *error = NULL;
  g_assert_true (sr_engine_upscale_luma (engine, &s10, &d10, &error));
  g_assert_no_error (error);
  g_assert_true (sr_engine_upscale_luma (engine, &s8, &d8, &error));
  /* the same picture as the 8-bit path, to the 8-bit path's precision (its precision may be
   * bf16/int16, and the pattern moves the input by up to 3/1023) ... */
  int far = 0, fine = 0, changed = 0;
  for (int i = 0; i < W * H; i++) {
    far += fabs (out10[i] / 4.0 - out8[i]) > 2.0;
    fine += out10[i] % 4 != 0;
    int x = i % W, y = i / W;
    changed += ABS (out10[i] - lr10[(y / 2) * w + x / 2]) > 4;
  }
  g_test_message ("%d of %d pixels more than 2/255 from the 8-bit path; %d with detail below "
      "8 bits; %d changed from nearest", far, W * H, fine, changed);
  g_assert_cmpfloat ((double) far / (W * H), <, 0.002);
  /* ... with its two low bits used (not 8 bits shifted), the network really run */
  g_assert_cmpfloat ((double) fine / (W * H), >, 0.6);
  g_assert_cmpfloat ((double) changed / (W * H), >, 0.3);

  /* P010's layout (the value in the top 10 bits) gives the same samples */
  guint16 *lrp = g_new (guint16, w * h), *outp = g_new0 (guint16, W * H);
  for (int i = 0; i < w * h; i++)
    lrp[i] = lr10[i] << 6;
  SrPlane sp = { (guint8 *) lrp, w, h, 2 * w, 2, 10, 6 };
  SrPlane dp = { (guint8 *) outp, W, H, 2 * W, 2, 10, 6 };
  g_assert_true (sr_engine_upscale_luma (engine, &sp, &dp, &error));
  for (int i = 0; i < W * H; i++)
    g_assert_cmpint (outp[i], ==, out10[i] << 6);

  /* mixed sample formats are refused */
  g_assert_false (sr_engine_upscale_luma (engine, &s10, &d8, &error));
  g_assert_error (error, SR_ERROR, SR_ERROR_INVALID);
  g_clear_error (&error);
  g_free (lrp);
  g_free (outp);
  g_free (lr10);
  g_free (out10);
  g_free (out8);
  g_free (lr.data);
  sr_engine_free (engine);
  sr_model_free (model);
}

static double
keys (double t)
{
  t = fabs (t);
  return t <= 1 ? 1.5 * t * t * t - 2.5 * t * t + 1 : t < 2 ? -0.5 * t * t * t + 2.5 * t * t -
      4 * t + 2 : 0;
}

/* Chroma bicubic x2 on 10-bit samples (planar and P010-like interleaved) equals the formula. */
static void
test_bicubic_10_bit (void)
{
  const int w = 13, h = 9;
  GRand *rand = g_rand_new_with_seed (5);
  for (int shift = 0; shift <= 6; shift += 6) {
    const int ps = shift ? 4 : 2;
    guint8 *src = g_malloc0 ((gsize) ps * w * h), *dst = g_malloc0 ((gsize) ps * 4 * w * h);
    guint16 v[13 * 9];
    for (int i = 0; i < w * h; i++) {
      v[i] = g_rand_int_range (rand, 0, 1024);
      *(guint16 *) (src + (gsize) i * ps) = v[i] << shift;
    }
    SrPlane sp = { src, w, h, (gsize) ps * w, ps, 10, shift };
    SrPlane dp = { dst, 2 * w, 2 * h, (gsize) ps * 2 * w, ps, 10, shift };
    g_assert_true (sr_bicubic_x2 (&sp, &dp, NULL));
    for (int Y = 0; Y < 2 * h; Y++)
      for (int X = 0; X < 2 * w; X++) {
        double u = X / 2.0 - 0.25, t = Y / 2.0 - 0.25, sum = 0;
        for (int j = (int) floor (t) - 1; j <= (int) floor (t) + 2; j++)
          for (int i = (int) floor (u) - 1; i <= (int) floor (u) + 2; i++)
            sum += keys (u - i) * keys (t - j) * v[CLAMP (j, 0, h - 1) * w + CLAMP (i, 0, w - 1)];
        int got = *(guint16 *) (dst + ((gsize) Y * 2 * w + X) * ps);
        g_assert_cmpint (got & ((1 << shift) - 1), ==, 0);
        g_assert_cmpfloat (fabs ((got >> shift) - CLAMP (sum, 0, 1023)), <=, 0.5 + 1e-9);
      }
    g_free (src);
    g_free (dst);
  }
  g_rand_free (rand);
}

/* The GPU backends on 10-bit luma against the CPU's fp32 path on the same frames, as
 * tests/test-backends.c does at 8 bits: the flowers frame and odd crops, I420_10LE's and
 * P010's layouts (pixel stride 4 too: the bytes between samples untouched), within 4/1023
 * (the 8-bit bound, 1/255 of the range) on >= 99.9% of pixels, with the two low bits used;
 * the ghost net at its default threshold, exit depths agreeing on >= 99% of tiles. Then
 * resampled (the 2x picture on the device, resampled on the CPU) and chroma bicubic (CPU)
 * of 10-bit planes through the GPU engine. A backend that does not start is skipped unless
 * SR_REQUIRE_BACKENDS names it. */
static void
test_gpu_backends_match_cpu (void)
{
  SrModel *model = sr_model_load (test_model_path (), NULL);
  const double threshold = sr_model_get_default_exit_threshold (model);
  char *saved = test_env_push ("SR_CPU_PRECISION", "fp32");
  SrEngineConfig cpu_config = { SR_BACKEND_CPU, 2, 0, NULL };
  SrEngine *cpu = sr_engine_new (model, &cpu_config, NULL);
  sr_engine_set_exit_threshold (cpu, threshold);
  /* an input frame, not golden data: from the source tree whichever model is tested */
  g_autofree char *path = g_build_filename (SR_TEST_DATA_DIR, "flowers-360p-frame30.pgm", NULL);
  TestImage img = test_read_pgm (path);
  const SrBackendKind kinds[] = { SR_BACKEND_VULKAN, SR_BACKEND_OPENCL };
  int tried = 0;
  for (guint k = 0; k < G_N_ELEMENTS (kinds); k++) {
    if (!test_backend_starts (kinds[k]))
      continue;
    SrEngineConfig config = { kinds[k], 0, 0, NULL };
    SrEngine *gpu = sr_engine_new (model, &config, NULL);
    tried++;
    sr_engine_set_exit_threshold (gpu, threshold);
    const int crops[][7] = {
      /* x, y, w, h, pixel stride, shift */
      { 0, 0, 640, 360, 2, 0 }, { 7, 5, 333, 187, 2, 6 }, { 301, 77, 9, 8, 4, 6 },
      { 100, 40, 1, 45, 2, 0 },
    };
    int off = 0, off1 = 0, fine = 0, total = 0, tiles_off = 0, tiles = 0;
    for (guint c = 0; c < G_N_ELEMENTS (crops); c++) {
      const int x0 = crops[c][0], y0 = crops[c][1], w = crops[c][2], h = crops[c][3];
      const int ps = crops[c][4], shift = crops[c][5];
      guint8 *sd = g_malloc0 ((gsize) w * h * ps);
      for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
          guint16 v = (img.data[(y0 + y) * img.width + x0 + x] * 4 + (x + 2 * y) % 4) << shift;
          memcpy (sd + ((gsize) y * w + x) * ps, &v, 2);
        }
      gsize stride = (gsize) 2 * w * ps + 6;
      guint8 *a = g_malloc0 (stride * 2 * h), *b = g_malloc0 (stride * 2 * h);
      SrPlane src = { sd, w, h, (gsize) w * ps, ps, 10, shift };
      SrPlane da = { a, 2 * w, 2 * h, stride, ps, 10, shift };
      SrPlane db = { b, 2 * w, 2 * h, stride, ps, 10, shift };
      GError *error = NULL;
      g_assert_true (sr_engine_upscale_luma (cpu, &src, &da, &error));
      g_assert_true (sr_engine_upscale_luma (gpu, &src, &db, &error));
      g_assert_no_error (error);
      for (int y = 0; y < 2 * h; y++)
        for (int x = 0; x < 2 * w; x++) {
          guint16 va, vb;
          memcpy (&va, a + y * stride + (gsize) x * ps, 2);
          memcpy (&vb, b + y * stride + (gsize) x * ps, 2);
          g_assert_cmpint (vb & ((1 << shift) - 1), ==, 0);
          off += ABS ((va >> shift) - (vb >> shift)) > 4;
          off1 += va != vb;
          fine += (vb >> shift) % 4 != 0;
          total++;
        }
      /* the bytes between samples and past each row are not the backend's to write */
      for (gsize i = 0; i < stride * 2 * h; i++)
        if (i % stride >= (gsize) 2 * w * ps || i % stride % ps >= 2)
          g_assert_cmpint (b[i], ==, 0);
      SrFrameStats sa, sb;
      sr_engine_get_stats (cpu, &sa);
      sr_engine_get_stats (gpu, &sb);
      for (int t = 0; sa.tile_depths && t < sa.tiles_x * sa.tiles_y; t++)
        tiles_off += sa.tile_depths[t] != sb.tile_depths[t];
      tiles += sa.tile_depths ? sa.tiles_x * sa.tiles_y : 0;
      g_free (sd);
      g_free (a);
      g_free (b);
    }
    g_test_message ("%s, 10-bit: %d of %d pixels off by > 4/1023, %d off at all, %d with "
        "detail below 8 bits; %d of %d tiles at another depth",
        sr_backend_kind_name (kinds[k]), off, total, off1, fine, tiles_off, tiles);
    g_assert_cmpfloat ((double) off / total, <=, 0.001);
    g_assert_cmpfloat ((double) fine / total, >, 0.5);
    g_assert_cmpint (tiles_off * 100, <=, tiles);

    /* resampled and bicubic 10-bit planes through the GPU engine equal the CPU's */
    const int w = 37, h = 21, W = 55, H = 31;
    guint16 *in = g_new (guint16, w * h), *x2 = g_new (guint16, 4 * w * h);
    guint16 *ra = g_new0 (guint16, W * H), *rb = g_new0 (guint16, W * H);
    for (int i = 0; i < w * h; i++)
      in[i] = img.data[i] * 4 + i % 4;
    SrPlane s = { (guint8 *) in, w, h, 2 * w, 2, 10, 0 };
    SrPlane p2 = { (guint8 *) x2, 2 * w, 2 * h, 4 * w, 2, 10, 0 };
    SrPlane pa = { (guint8 *) ra, W, H, 2 * W, 2, 10, 0 };
    SrPlane pb = { (guint8 *) rb, W, H, 2 * W, 2, 10, 0 };
    g_assert_true (sr_engine_upscale_luma (gpu, &s, &p2, NULL));
    g_assert_true (sr_resample (&p2, &pa, NULL));
    g_assert_true (sr_engine_upscale_luma_resampled (gpu, &s, &pb, NULL));
    g_assert_cmpmem (ra, 2 * W * H, rb, 2 * W * H);
    g_assert_true (sr_bicubic_x2 (&s, &p2, NULL));
    memcpy (ra, x2, 2 * W * H);
    g_assert_true (sr_engine_bicubic_x2 (gpu, &s, &p2, NULL));
    g_assert_cmpmem (ra, 2 * W * H, x2, 2 * W * H);
    g_assert_cmpint (sr_engine_get_backend (gpu), ==, kinds[k]);
    g_free (in);
    g_free (x2);
    g_free (ra);
    g_free (rb);
    sr_engine_free (gpu);
  }
  test_env_pop ("SR_CPU_PRECISION", saved);
  g_free (img.data);
  sr_engine_free (cpu);
  sr_model_free (model);
  if (!tried)
    g_test_skip ("no GPU backend starts here");
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/wide/network-keeps-10-bits", test_network_keeps_10_bits);
  g_test_add_func ("/wide/bicubic-10-bit", test_bicubic_10_bit);
  g_test_add_func ("/wide/gpu-backends-match-cpu", test_gpu_backends_match_cpu);
  return g_test_run ();
}
