/* The resampler (sr-core/sr-resample.c): its AVX2 rows against the C rows (bit-exact, on
 * random planes of edge sizes, interleaved and padded), and the C result against the
 * floating-point filter written out independently here. Prints the speed of both. */
#include <math.h>
#include <string.h>

#include "sr-resample-private.h"

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

static void
test_avx2_matches_c (void)
{
  if (!sr_resample_avx2_supported ()) {
    g_test_skip ("no AVX2");
    return;
  }
  const int sides[] = { 1, 2, 5, 8, 9, 16, 17, 31, 64, 101 };
  GRand *rand = g_rand_new_with_seed (7);
  for (guint a = 0; a < G_N_ELEMENTS (sides); a++)
    for (guint b = 0; b < G_N_ELEMENTS (sides); b++)
      for (int ps = 1; ps <= 2; ps++) {
        /* sides[a] x sides[b] to each size from half to twice, interleaved at ps, 13 bytes
         * of row padding; the bytes between interleaved samples must stay untouched */
        int w = sides[a], h = sides[b];
        int W = MAX (1, (int) (w * g_rand_double_range (rand, 0.5, 2.0) + 0.5));
        int H = MAX (1, (int) (h * g_rand_double_range (rand, 0.5, 2.0) + 0.5));
        gsize s_stride = (gsize) w * ps + 13, d_stride = (gsize) W * ps + 13;
        guint8 *sd = random_bytes (rand, s_stride * h);
        guint8 *da = g_malloc (d_stride * H), *db = g_malloc (d_stride * H);
        memset (da, 0xA5, d_stride * H);
        memset (db, 0xA5, d_stride * H);
        SrPlane src = { sd, w, h, s_stride, ps };
        SrPlane pa = { da, W, H, d_stride, ps }, pb = { db, W, H, d_stride, ps };
        sr_resample_with (&src, &pa, sr_resample_vertical_c, sr_resample_horizontal_c);
        sr_resample_with (&src, &pb, sr_resample_vertical_avx2, sr_resample_horizontal_avx2);
        if (memcmp (da, db, d_stride * H) != 0)
          g_error ("%dx%d -> %dx%d pixel stride %d: AVX2 differs from C", w, h, W, H, ps);
        for (int y = 0; y < H; y++)
          for (gsize i = 0; i < d_stride; i++)
            if (i >= (gsize) (W - 1) * ps + 1 || i % ps)
              g_assert_cmpint (da[y * d_stride + i], ==, 0xA5);
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
  g_test_add_func ("/resample/bad-planes", test_bad_planes);
  g_test_add_func ("/resample/speed", test_speed);
  return g_test_run ();
}
