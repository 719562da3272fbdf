/* The resampler (sr-core/sr-resample.c): its AVX2 rows against the C rows (bit-exact, on
 * random planes of edge sizes, interleaved and padded), and the C result against the
 * floating-point filter written out independently here. Prints the speed of both. */
#include <math.h>
#include <string.h>

#include "sr-resample-private.h"
#include "test-util.h"

static double
cubic (double x)
{
  x = fabs (x);
  return x < 1 ? 1.5 * x * x * x - 2.5 * x * x + 1
      : x < 2 ? -0.5 * x * x * x + 2.5 * x * x - 4 * x + 2 : 0;
}

/* Output sample i's value along one axis of n_in samples read by `at`, in doubles: the
 * bicubic widened by the scale when shrinking, normalised over the source samples in reach. */
static double
filter_1d (int n_in, int n_out, int i, const double *line)
{
  double scale = (double) n_in / n_out, widen = MAX (scale, 1), centre = (i + 0.5) * scale;
  double sum = 0, wsum = 0;
  for (int s = 0; s < n_in; s++) {
    double w = fabs (s + 0.5 - centre) < 2 * widen ? cubic ((s + 0.5 - centre) / widen) : 0;
    sum += w * line[s];
    wsum += w;
  }
  return sum / wsum;
}

static void
resample_double (const guint8 *src, int w, int h, guint8 *dst, int W, int H)
{
  double *mid = g_new (double, (gsize) w * H), *col = g_new (double, MAX (h, w));
  for (int x = 0; x < w; x++) {
    for (int y = 0; y < h; y++)
      col[y] = src[y * w + x];
    for (int y = 0; y < H; y++)
      mid[y * w + x] = filter_1d (h, H, y, col);
  }
  for (int y = 0; y < H; y++)
    for (int x = 0; x < W; x++)
      dst[y * W + x] = CLAMP (lrint (filter_1d (w, W, x, mid + y * w)), 0, 255);
  g_free (mid);
  g_free (col);
}

static guint8 *
random_bytes (GRand *rand, gsize n)
{
  guint8 *p = g_malloc (n);
  for (gsize i = 0; i < n; i++)
    p[i] = g_rand_int_range (rand, 0, 256);
  return p;
}

/* Random samples of `bits` (shifted left by `shift` in 16-bit words when over 8) at every
 * pixel_stride'th byte of each row; the bytes between stay 0xA5. */
static guint8 *
random_plane (GRand *rand, int w, int h, gsize stride, int ps, int bits, int shift)
{
  guint8 *p = g_malloc (stride * h);
  memset (p, 0xA5, stride * h);
  for (int y = 0; y < h; y++)
    for (int x = 0; x < w; x++) {
      guint8 *at = p + y * stride + (gsize) x * ps;
      guint v = g_rand_int_range (rand, 0, 1 << bits);
      if (bits > 8) {
        guint16 sample = v << shift;
        memcpy (at, &sample, 2); /* rows have odd padding: samples may be misaligned */
      } else {
        *at = v;
      }
    }
  return p;
}

static void
test_avx2_matches_c (void)
{
  if (!sr_resample_avx2_supported ()) {
    g_test_skip ("no AVX2");
    return;
  }
  /* 8-bit (planar, NV12-like), 10-bit (planar, P010-like: shifted and interleaved) */
  const struct { int bits, shift, ps; } kinds[] = {
    { 8, 0, 1 }, { 8, 0, 2 }, { 10, 0, 2 }, { 10, 6, 2 }, { 10, 6, 4 }, { 12, 0, 2 },
  };
  const int sides[] = { 1, 2, 5, 8, 9, 16, 17, 31, 64, 101 };
  GRand *rand = g_rand_new_with_seed (7);
  for (guint k = 0; k < G_N_ELEMENTS (kinds); k++)
    for (guint a = 0; a < G_N_ELEMENTS (sides); a++)
      for (guint b = 0; b < G_N_ELEMENTS (sides); b++) {
        /* sides[a] x sides[b] to a size from half to twice, 13 bytes of row padding */
        const int bits = kinds[k].bits, shift = kinds[k].shift, ps = kinds[k].ps;
        const int sample = bits > 8 ? 2 : 1;
        int w = sides[a], h = sides[b];
        int W = MAX (1, (int) (w * g_rand_double_range (rand, 0.5, 2.0) + 0.5));
        int H = MAX (1, (int) (h * g_rand_double_range (rand, 0.5, 2.0) + 0.5));
        gsize s_stride = (gsize) w * ps + 13, d_stride = (gsize) W * ps + 13;
        guint8 *sd = random_plane (rand, w, h, s_stride, ps, bits, shift);
        guint8 *da = g_malloc (d_stride * H), *db = g_malloc (d_stride * H);
        memset (da, 0xA5, d_stride * H);
        memset (db, 0xA5, d_stride * H);
        SrPlane src = { sd, w, h, s_stride, ps, bits, shift };
        SrPlane pa = { da, W, H, d_stride, ps, bits, shift }, pb = { db, W, H, d_stride, ps, bits, shift };
        sr_resample_with (&src, &pa, sr_resample_vertical_c, sr_resample_horizontal_c);
        sr_resample_with (&src, &pb, sr_resample_vertical_avx2, sr_resample_horizontal_avx2);
        if (memcmp (da, db, d_stride * H) != 0)
          g_error ("%d-bit %dx%d -> %dx%d pixel stride %d: AVX2 differs from C", bits, w, h, W,
              H, ps);
        for (int y = 0; y < H; y++)
          for (gsize i = 0; i < d_stride; i++) {
            gboolean in_sample = i < (gsize) W * ps && i % ps < (gsize) sample;
            if (!in_sample)
              g_assert_cmpint (da[y * d_stride + i], ==, 0xA5);
            else if (bits > 8 && i % ps == 0) {
              guint16 v;
              memcpy (&v, da + y * d_stride + i, 2);
              g_assert_cmpint (v & ((1 << shift) - 1), ==, 0);
            }
          }
        g_free (sd);
        g_free (da);
        g_free (db);
      }
  g_rand_free (rand);
}

/* Against the filter in doubles: off by at most 1 (two roundings), and only rarely. */
static void
test_matches_formula (void)
{
  const int sizes[][4] = {
    { 64, 48, 96, 72 }, { 128, 72, 96, 54 }, { 33, 17, 65, 34 }, { 40, 30, 41, 59 },
    { 20, 20, 20, 20 }, { 3, 2, 5, 4 }, { 1, 1, 2, 2 },
  };
  GRand *rand = g_rand_new_with_seed (11);
  for (guint i = 0; i < G_N_ELEMENTS (sizes); i++) {
    int w = sizes[i][0], h = sizes[i][1], W = sizes[i][2], H = sizes[i][3];
    /* a smooth picture with some noise, like a network's output */
    guint8 *s = g_malloc ((gsize) w * h), *ref = g_malloc ((gsize) W * H);
    guint8 *out = g_malloc ((gsize) W * H);
    for (int y = 0; y < h; y++)
      for (int x = 0; x < w; x++)
        s[y * w + x] = CLAMP (128 + 100 * sin (x * 0.4) * cos (y * 0.3) +
            g_rand_int_range (rand, -20, 21), 0, 255);
    SrPlane src = { s, w, h, w, 1 }, dst = { out, W, H, W, 1 };
    GError *error = NULL;
    g_assert_true (sr_resample (&src, &dst, &error));
    resample_double (s, w, h, ref, W, H);
    int worst = 0, off = 0;
    for (int p = 0; p < W * H; p++) {
      worst = MAX (worst, ABS (out[p] - ref[p]));
      off += out[p] != ref[p];
    }
    g_assert_cmpint (worst, <=, 1);
    g_assert_cmpfloat ((double) off / (W * H), <, 0.05);
    if (w == W && h == H) /* the same size is a copy */
      g_assert_cmpmem (out, W * H, s, w * h);
    g_free (s);
    g_free (ref);
    g_free (out);
  }
  g_rand_free (rand);
}

/* 10-bit samples keep their precision: a 10-bit picture resamples to 4x the 8-bit result
 * of the same picture at a quarter, within the 8-bit rounding (not to multiples of 4). */
static void
test_10_bit (void)
{
  const int w = 40, h = 30, W = 61, H = 45;
  guint16 *s10 = g_new (guint16, w * h), *d10 = g_new (guint16, W * H);
  guint8 *s8 = g_malloc (w * h), *d8 = g_malloc (W * H);
  for (int i = 0; i < w * h; i++) {
    s10[i] = CLAMP (512 + 400 * sin (i * 0.37) * cos (i * 0.011), 0, 1023);
    s8[i] = (s10[i] + 2) / 4;
  }
  SrPlane a = { (guint8 *) s10, w, h, 2 * w, 2, 10, 0 }, b = { (guint8 *) d10, W, H, 2 * W, 2, 10, 0 };
  SrPlane a8 = { s8, w, h, w, 1 }, b8 = { d8, W, H, W, 1 };
  g_assert_true (sr_resample (&a, &b, NULL));
  g_assert_true (sr_resample (&a8, &b8, NULL));
  int not_multiple_of_4 = 0;
  for (int i = 0; i < W * H; i++) {
    g_assert_cmpfloat (fabs (d10[i] / 4.0 - d8[i]), <=, 1.5);
    not_multiple_of_4 += d10[i] % 4 != 0;
  }
  g_assert_cmpint (not_multiple_of_4, >, W * H / 2);
  /* 16-bit samples are refused, not resampled wrong */
  SrPlane a16 = a, b16 = b;
  a16.bits = b16.bits = 16;
  GError *error = NULL;
  g_assert_false (sr_resample (&a16, &b16, &error));
  g_assert_error (error, SR_ERROR, SR_ERROR_UNSUPPORTED);
  g_clear_error (&error);
  g_free (s10);
  g_free (d10);
  g_free (s8);
  g_free (d8);
}

/* The CPU engine's banded version gives the same bytes as sr_resample, 8- and 10-bit. */
static void
test_engine_bands_match (void)
{
  SrModel *model = sr_model_load (test_model_path (), NULL);
  g_assert_nonnull (model);
  SrEngineConfig config = { SR_BACKEND_CPU, 3, 0, NULL };
  SrEngine *engine = sr_engine_new (model, &config, NULL);
  GRand *rand = g_rand_new_with_seed (9);
  const int sizes[][4] = { { 200, 120, 150, 90 }, { 64, 200, 90, 333 }, { 33, 17, 40, 20 } };
  for (int bits = 8; bits <= 10; bits += 2)
    for (guint i = 0; i < G_N_ELEMENTS (sizes); i++) {
      const int w = sizes[i][0], h = sizes[i][1], W = sizes[i][2], H = sizes[i][3];
      const int ps = bits > 8 ? 2 : 1;
      guint8 *sd = random_plane (rand, w, h, (gsize) w * ps, ps, bits, 0);
      guint8 *a = g_malloc0 ((gsize) W * H * ps), *b = g_malloc0 ((gsize) W * H * ps);
      SrPlane src = { sd, w, h, (gsize) w * ps, ps, bits, 0 };
      SrPlane da = { a, W, H, (gsize) W * ps, ps, bits, 0 }, db = { b, W, H, (gsize) W * ps, ps, bits, 0 };
      g_assert_true (sr_resample (&src, &da, NULL));
      g_assert_true (sr_engine_resample (engine, &src, &db, NULL));
      g_assert_cmpmem (a, (gsize) W * H * ps, b, (gsize) W * H * ps);
      g_free (sd);
      g_free (a);
      g_free (b);
    }
  g_rand_free (rand);
  sr_engine_free (engine);
  sr_model_free (model);
}

/* sr_engine_upscale_luma_resampled on the CPU engine: the network's picture then
 * sr_resample, bit for bit, 8- and 10-bit, sizes growing and shrinking (the engine's
 * scratch); the network's own size is sr_engine_upscale_luma. */
static void
test_engine_upscale_resampled (void)
{
  SrModel *model = sr_model_load (test_model_path (), NULL);
  g_assert_nonnull (model);
  SrEngineConfig config = { SR_BACKEND_CPU, 2, 0, NULL };
  SrEngine *engine = sr_engine_new (model, &config, NULL);
  GRand *rand = g_rand_new_with_seed (11);
  const int sizes[][4] = { { 33, 17, 50, 25 }, { 64, 40, 64, 40 }, { 21, 30, 42, 60 },
    { 20, 9, 39, 18 } };
  for (int bits = 8; bits <= 10; bits += 2)
    for (guint i = 0; i < G_N_ELEMENTS (sizes); i++) {
      const int w = sizes[i][0], h = sizes[i][1], W = sizes[i][2], H = sizes[i][3];
      const int ps = bits > 8 ? 2 : 1;
      guint8 *sd = random_plane (rand, w, h, (gsize) w * ps, ps, bits, 0);
      guint8 *x2 = g_malloc ((gsize) 4 * w * h * ps);
      guint8 *a = g_malloc0 ((gsize) W * H * ps), *b = g_malloc0 ((gsize) W * H * ps);
      SrPlane src = { sd, w, h, (gsize) w * ps, ps, bits, 0 };
      SrPlane px2 = { x2, 2 * w, 2 * h, (gsize) 2 * w * ps, ps, bits, 0 };
      SrPlane da = { a, W, H, (gsize) W * ps, ps, bits, 0 }, db = { b, W, H, (gsize) W * ps, ps, bits, 0 };
      g_autoptr (GError) error = NULL;
      g_assert_true (sr_engine_upscale_luma (engine, &src, &px2, &error));
      g_assert_true (sr_resample (&px2, &da, &error));
      g_assert_true (sr_engine_upscale_luma_resampled (engine, &src, &db, &error));
      g_assert_no_error (error);
      g_assert_cmpmem (a, (gsize) W * H * ps, b, (gsize) W * H * ps);
      g_free (sd);
      g_free (x2);
      g_free (a);
      g_free (b);
    }
  /* planes of different samples are refused */
  guint8 buf[64 * 64] = { 0 };
  SrPlane s8 = { buf, 8, 8, 8, 1 }, d10 = { buf + 64, 12, 12, 24, 2, 10, 0 };
  GError *error = NULL;
  g_assert_false (sr_engine_upscale_luma_resampled (engine, &s8, &d10, &error));
  g_assert_error (error, SR_ERROR, SR_ERROR_INVALID);
  g_clear_error (&error);
  g_rand_free (rand);
  sr_engine_free (engine);
  sr_model_free (model);
}

static void
test_bad_planes (void)
{
  guint8 buf[64];
  SrPlane ok = { buf, 8, 8, 8, 1 }, no_data = { NULL, 8, 8, 8, 1 }, short_stride = { buf, 8, 8, 4, 1 };
  GError *error = NULL;
  g_assert_false (sr_resample (&no_data, &ok, &error));
  g_assert_error (error, SR_ERROR, SR_ERROR_INVALID);
  g_clear_error (&error);
  g_assert_false (sr_resample (&ok, &short_stride, &error));
  g_assert_error (error, SR_ERROR, SR_ERROR_INVALID);
  g_clear_error (&error);
}

/* 720p -> 1080p through the x2 network: 2560x1440 to 1920x1080 (not asserted). */
static void
test_speed (void)
{
  GRand *rand = g_rand_new_with_seed (3);
  const int w = 2560, h = 1440, W = 1920, H = 1080;
  guint8 *s = random_bytes (rand, (gsize) w * h), *d = g_malloc ((gsize) W * H);
  SrPlane src = { s, w, h, w, 1 }, dst = { d, W, H, W, 1 };
  struct { const char *name; SrResampleVerticalFn v; SrResampleHorizontalFn h; } k[] = {
    { "c", sr_resample_vertical_c, sr_resample_horizontal_c },
    { "avx2", sr_resample_vertical_avx2, sr_resample_horizontal_avx2 },
  };
  for (guint i = 0; i < G_N_ELEMENTS (k); i++) {
    if (i == 1 && !sr_resample_avx2_supported ())
      break;
    gint64 t0 = g_get_monotonic_time ();
    sr_resample_with (&src, &dst, k[i].v, k[i].h);
    g_test_message ("resample %dx%d -> %dx%d %s: %.1f ms", w, h, W, H, k[i].name,
        (g_get_monotonic_time () - t0) / 1000.0);
  }
  g_free (s);
  g_free (d);
  g_rand_free (rand);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/resample/avx2-matches-c", test_avx2_matches_c);
  g_test_add_func ("/resample/matches-formula", test_matches_formula);
  g_test_add_func ("/resample/10-bit", test_10_bit);
  g_test_add_func ("/resample/engine-bands-match", test_engine_bands_match);
  g_test_add_func ("/resample/engine-upscale-resampled", test_engine_upscale_resampled);
  g_test_add_func ("/resample/bad-planes", test_bad_planes);
  g_test_add_func ("/resample/speed", test_speed);
  return g_test_run ();
}
