/* checkasm-style tests of the CPU kernels, reached through the library's own dispatch
 * (sr_cpu_dsp_init) for every flag set up the x86 ladder this CPU has: each table entry
 * must use only instructions of its set, and each new SIMD entry must match the plain-C
 * table's on random data, edge sizes (1 pixel, odd, remainders of the vector width),
 * channel counts that leave partial groups, and leave memory outside its row alone.
 * With --bench, each entry's speed against C on the default models' shapes is printed. */
#include <math.h>
#include <string.h>

#include "cpu/sr-cpu-dsp.h"
#include "test-util.h"

#define PAD 64 /* guard floats around every output row */

static gboolean bench;

typedef struct {
  int in_ch, out_ch;
  SrActivation act;
} Shape;

/* The flag sets up the ladder; each also tests what the ones below it left in place. */
typedef struct {
  const char *name;
  guint flags;
} FlagSet;

#define F_AVX2 SR_CPU_FLAG_AVX2
#define F_AVX512 (F_AVX2 | SR_CPU_FLAG_AVX512)
static const FlagSet flag_sets[] = {
  { "c", 0 },
  { "avx2", F_AVX2 },
  { "avxvnni", F_AVX2 | SR_CPU_FLAG_AVXVNNI },
  { "avx512", F_AVX512 },
  { "avx512vnni", F_AVX512 | SR_CPU_FLAG_AVX512VNNI },
  { "avx512bf16", F_AVX512 | SR_CPU_FLAG_AVX512VNNI | SR_CPU_FLAG_AVX512BF16 },
  { "amx", F_AVX512 | SR_CPU_FLAG_AVX512VNNI | SR_CPU_FLAG_AVX512BF16 | SR_CPU_FLAG_AMX },
};

/* The flags a kernel of `isa` needs. */
static guint
isa_flags (SrKernelIsa isa)
{
  switch (isa) {
    case SR_KERNEL_C: return 0;
    case SR_KERNEL_AVX2: return F_AVX2;
    case SR_KERNEL_AVXVNNI: return F_AVX2 | SR_CPU_FLAG_AVXVNNI;
    case SR_KERNEL_AVX512: return F_AVX512;
    case SR_KERNEL_AVX512VNNI: return F_AVX512 | SR_CPU_FLAG_AVX512VNNI;
    case SR_KERNEL_AVX512BF16: return F_AVX512 | SR_CPU_FLAG_AVX512BF16;
    case SR_KERNEL_AMX: return F_AVX512 | SR_CPU_FLAG_AVX512BF16 | SR_CPU_FLAG_AMX;
  }
  g_assert_not_reached ();
}

static void
random_layer_k (GRand *rand, SrLayer *l, const Shape *s, int k)
{
  l->in_ch = s->in_ch;
  l->out_ch = s->out_ch;
  l->kernel = k;
  l->stride = 1;
  l->act = s->act;
  l->weight = g_new (float, s->out_ch * s->in_ch * k * k);
  l->bias = g_new (float, s->out_ch);
  for (int i = 0; i < s->out_ch * s->in_ch * k * k; i++)
    l->weight[i] = g_rand_double_range (rand, -0.5, 0.5);
  for (int i = 0; i < s->out_ch; i++)
    l->bias[i] = g_rand_double_range (rand, -0.3, 0.3);
}

static void
random_layer (GRand *rand, SrLayer *l, const Shape *s)
{
  random_layer_k (rand, l, s, 3);
}

static void
free_layer (SrLayer *l)
{
  g_free (l->weight);
  g_free (l->bias);
}

/* The conv shapes of the shipped models (1->16 head, 16->16 body, 16->8 ghost blocks,
 * 16->4 tail) and odd ones that leave partial groups, words and blocks. */
static const Shape shapes[] = {
  { 1, 16, SR_ACT_RELU }, { 16, 16, SR_ACT_RELU }, { 16, 8, SR_ACT_RELU }, { 16, 4, SR_ACT_NONE },
  { 3, 13, SR_ACT_RELU }, { 8, 3, SR_ACT_NONE }, { 20, 40, SR_ACT_RELU }, { 16, 13, SR_ACT_RELU },
  { 8, 16, SR_ACT_RELU }, { 16, 3, SR_ACT_NONE }, { 3, 8, SR_ACT_RELU }, { 12, 6, SR_ACT_RELU },
  { 8, 7, SR_ACT_RELU }, { 13, 5, SR_ACT_RELU },
};
static const int widths[] = { 1, 2, 7, 8, 9, 15, 16, 17, 31, 33, 64, 100, 240 };

/* ns per output pixel of `run` (called with `reps` growing until 0.1 s has passed) */
#define TIME_NS_PER_PX(n, call)                                                          \
  ({                                                                                      \
    gint64 t0_ = g_get_monotonic_time ();                                                 \
    int reps_ = 0;                                                                        \
    while (g_get_monotonic_time () - t0_ < 100000) {                                      \
      call;                                                                               \
      reps_++;                                                                            \
    }                                                                                     \
    (g_get_monotonic_time () - t0_) * 1000.0 / reps_ / (n);                               \
  })

/* fp32 conv, every odd kernel size k x k the models allow (3: the SIMD kernels' fixed loops;
 * 1, 5, 7: the same loops with k read at run time): FMA rounds once where C rounds twice, a
 * few ulps over ~150 terms (~1200 for 7x7). The rows read are 3 - k/2 .. 3 + k/2 of a
 * 7-row plane, the columns from xa on. */
static void
check_conv_fp32 (const SrCpuDsp *ref, const SrCpuDsp *k, const char *set)
{
  GRand *rand = g_rand_new_with_seed (42);
  const int W = 260, H = 7;
  const gsize pitch = W + 6, plane = pitch * H;
  double worst[4] = { 0 };
  /* every shape at k = 1, 3, 5, 7 */
  for (guint c = 0; c < 4 * G_N_ELEMENTS (shapes); c++) {
    const int ks = 2 * (c / G_N_ELEMENTS (shapes)) + 1;
    SrLayer l;
    random_layer_k (rand, &l, &shapes[c % G_N_ELEMENTS (shapes)], ks);
    float *in = g_new (float, plane * l.in_ch);
    for (gsize i = 0; i < plane * l.in_ch; i++)
      in[i] = g_rand_double_range (rand, -1, 1);
    for (guint wi = 0; wi < G_N_ELEMENTS (widths); wi++)
      for (int xa = 0; xa <= 3; xa += 3) {
        int n = widths[wi];
        gsize out_plane = n + 2 * PAD;
        float *a = g_new (float, out_plane * l.out_ch), *b = g_new (float, out_plane * l.out_ch);
        for (gsize i = 0; i < out_plane * l.out_ch; i++)
          a[i] = b[i] = 1234.5f;
        const float *win = in + (gsize) (3 - ks / 2) * pitch + xa;
        ref->conv.fp32 (&l, win, plane, pitch, n, a + PAD, out_plane);
        k->conv.fp32 (&l, win, plane, pitch, n, b + PAD, out_plane);
        for (int oc = 0; oc < l.out_ch; oc++)
          for (gsize i = 0; i < out_plane; i++) {
            float ra = a[oc * out_plane + i], rb = b[oc * out_plane + i];
            if (i < PAD || i >= PAD + (gsize) n) {
              g_assert_cmpfloat (rb, ==, 1234.5f); /* nothing written outside the row */
              continue;
            }
            double err = fabs (ra - rb) / (1 + fabs (ra));
            worst[ks / 2] = MAX (worst[ks / 2], err);
            if (err > 1e-5)
              g_error ("%s fp32 %dx%d %d->%d n=%d xa=%d oc=%d x=%zu: %.7f vs C %.7f", set, ks,
                  ks, l.in_ch, l.out_ch, n, xa, oc, i - PAD, rb, ra);
          }
        g_free (a);
        g_free (b);
      }
    g_free (in);
    free_layer (&l);
  }
  for (int ks = 1; ks <= 7; ks += 2)
    g_test_message ("%s: conv fp32 %dx%d (%s): worst relative difference from C %.2e", set, ks,
        ks, sr_kernel_isa_name (k->conv.isa[SR_PRECISION_FP32]), worst[ks / 2]);
  g_rand_free (rand);
}

/* One row of n outputs by `ref` into *a and by `other` into *b, each with a guard pixel of
 * px bytes (0xA5) on both sides; asserts `other` wrote nothing outside the row. */
static void
run_row_pair (const SrLowpLayer *l, SrLowpRowFn ref, SrLowpRowFn other, const guint8 *in,
    int W, int n, gsize px, guint8 **a, guint8 **b)
{
  gsize size = (n + 2) * px;
  *a = g_malloc (size);
  *b = g_malloc (size);
  memset (*a, 0xA5, size);
  memset (*b, 0xA5, size);
  ref (l, in, W, n, *a + px);
  other (l, in, W, n, *b + px);
  for (gsize i = 0; i < px; i++)
    g_assert_true ((*b)[i] == 0xA5 && (*b)[size - 1 - i] == 0xA5);
}

/* AMX sums in its own order (even element of a pair first), so where it takes the layer its
 * fp32 outputs agree with C within 1e-5 relative and bf16 outputs within one bf16 step;
 * every other low-precision kernel equals C bit for bit (the same exact sums in the same
 * order, one IEEE rounding each). */
static void
compare_lowp_rows (const SrLowpLayer *l, gboolean exact, const guint8 *a, const guint8 *b,
    int n, const char *what, double *worst)
{
  if (exact) {
    gsize px = l->last ? l->out_ch * sizeof (float) : (gsize) l->out_stride;
    if (memcmp (a, b, n * px) != 0)
      g_error ("%s %d->%d n=%d: differs from C", what, l->in_ch, l->out_ch, n);
    return;
  }
  if (l->last) {
    for (int i = 0; i < n * l->out_ch; i++) {
      float fa = ((const float *) a)[i], fb = ((const float *) b)[i];
      double err = fabs (fa - fb) / (1 + fabs (fa));
      *worst = MAX (*worst, err);
      if (err > 1e-5)
        g_error ("%s %d->%d n=%d: %g vs C %g", what, l->in_ch, l->out_ch, n, fb, fa);
    }
    return;
  }
  for (int i = 0; i < n * l->out_stride / 2; i++) {
    guint16 va, vb;
    memcpy (&va, a + 2 * i, 2);
    memcpy (&vb, b + 2 * i, 2);
    if (ABS ((int) va - (int) vb) > 1)
      g_error ("%s %d->%d n=%d: bf16 %04x vs C %04x", what, l->in_ch, l->out_ch, n, vb, va);
  }
}

/* Activations a layer of precision p may see: bf16 of either sign around 1, int16 levels
 * 0..4095, any u8 (int8). */
static void
random_activations (GRand *rand, SrPrecision p, guint8 *in, gsize size)
{
  for (gsize i = 0; i < size; i++)
    in[i] = g_rand_int_range (rand, 0, 256);
  for (gsize i = 0; p != SR_PRECISION_INT8 && i + 1 < size; i += 2) {
    guint16 v = p == SR_PRECISION_BF16 ? sr_bf16_from_float (g_rand_double_range (rand, -2, 2))
        : g_rand_int_range (rand, 0, 4096);
    memcpy (in + i, &v, 2);
  }
}

static void
check_conv_lowp (const SrCpuDsp *ref, const SrCpuDsp *k, SrPrecision p, const char *set)
{
  GRand *rand = g_rand_new_with_seed (7 + p);
  const int W = 260;
  const SrKernelIsa isa = k->conv.isa[p];
  g_autofree char *what = g_strdup_printf ("%s %s (%s)", set, sr_precision_name (p),
      sr_kernel_isa_name (isa));
  double worst = 0;
  for (guint s = 0; s < G_N_ELEMENTS (shapes); s++) {
    SrLayer src;
    random_layer (rand, &src, &shapes[s]);
    SrLowpLayer l;
    gboolean last = shapes[s].act == SR_ACT_NONE;
    sr_lowp_layer_init (&l, p, &src, p == SR_PRECISION_BF16 ? 1.f : 1 / 255.f, 0.004f, last);
    gsize in_size = (gsize) W * 3 * l.in_stride;
    guint8 *in = g_new0 (guint8, in_size + 1024); /* + the AMX kernel's read slack */
    random_activations (rand, p, in, in_size);
    gsize px = last ? l.out_ch * sizeof (float) : (gsize) l.out_stride;
    gboolean exact = isa != SR_KERNEL_AMX || !sr_bf16_amx_takes (&l);
    for (guint wi = 0; wi < G_N_ELEMENTS (widths); wi++) {
      int n = widths[wi];
      guint8 *a, *b;
      run_row_pair (&l, ref->conv.lowp[p], k->conv.lowp[p], in, W, n, px, &a, &b);
      compare_lowp_rows (&l, exact, a + px, b + px, n, what, &worst);
      g_free (a);
      g_free (b);
    }
    g_free (in);
    sr_lowp_layer_clear (&l);
    free_layer (&src);
  }
  if (isa == SR_KERNEL_AMX)
    g_test_message ("%s: worst relative difference of fp32 outputs from C %.2e", what, worst);
  else
    g_test_message ("%s: bit-exact with C", what);
  g_rand_free (rand);
}

/* The ghost net's residual add in precision p (bf16, int16): exact (fp32 products and adds,
 * one rounding each), every shift direction, int16 sums that round either way or clamp at
 * both ends, and nothing written outside the run. Rows of 40 pixels with a ring of 1, as the
 * ghost path pads its maps; the run starts past the ring. */
static void
check_ghost_add (const SrCpuDsp *ref, const SrCpuDsp *k, SrPrecision p, const char *set)
{
  GRand *rand = g_rand_new_with_seed (13);
  const int pitch = 40, rows = 3, n_px = pitch * rows;
  const gboolean int16 = p == SR_PRECISION_INT16;
  guint16 *intr = g_new (guint16, 8 * n_px);
  for (int i = 0; i < 8 * n_px; i++)
    intr[i] = int16 ? g_rand_int_range (rand, 0, SR_INT16_LEVELS + 1) :
        sr_bf16_from_float (g_rand_double_range (rand, 0, 3));
  for (int trial = 0; trial < 20; trial++) {
    /* channel c reads direction dirs[c]; trial 0 all the same, then random mixes */
    SrGhostAdd add = { 0 };
    for (int c = 0; c < 8; c++) {
      int d = trial == 0 ? 4 : g_rand_int_range (rand, 0, 9);
      sr_ghost_add_shift (&add, ((gssize) (d / 3 - 1) * pitch + d % 3 - 1) * 16, c);
    }
    /* int16: sums up to ~1.5x the top level, and below 0 */
    add.intr_scale = g_rand_double_range (rand, 1e-4, 1e-3);
    add.feat_inv_scale = 1 / (add.intr_scale * g_rand_double_range (rand, 1, 2));
    const float top = int16 ? 4 * SR_INT16_LEVELS * add.intr_scale : 4;
    const int x0 = pitch + 1, n = g_rand_int_range (rand, 1, pitch - 2);
    float *fa = g_new (float, 16 * n_px), *fb = g_new (float, 16 * n_px);
    guint16 *ba = g_new (guint16, 16 * n_px), *bb = g_new (guint16, 16 * n_px);
    for (int i = 0; i < 16 * n_px; i++)
      fa[i] = fb[i] = g_rand_double_range (rand, -top, top);
    memset (ba, 0xA5, 32 * n_px);
    memset (bb, 0xA5, 32 * n_px);
    ref->ghost.add[p] (fa + 16 * x0, (guint8 *) (ba + 16 * x0), (guint8 *) (intr + 8 * x0),
        &add, n);
    k->ghost.add[p] (fb + 16 * x0, (guint8 *) (bb + 16 * x0), (guint8 *) (intr + 8 * x0),
        &add, n);
    if (memcmp (fa, fb, sizeof (float) * 16 * n_px) || memcmp (ba, bb, 32 * n_px))
      g_error ("%s ghost add %s, trial %d, %d directions, n=%d: differs from C", set,
          sr_precision_name (p), trial, add.n, n);
    for (int i = 0; i < 16 * n_px; i++) /* outside the run: untouched */
      if (i < 16 * x0 || i >= 16 * (x0 + n))
        g_assert_true (bb[i] == 0xA5A5);
    /* int16: the C reference itself clamps to the levels and rounds to nearest */
    for (int i = 16 * x0; int16 && i < 16 * (x0 + n); i++) {
      float v = fa[i] * add.feat_inv_scale;
      g_assert_cmpint (ba[i], <=, SR_INT16_LEVELS);
      if (v >= 0 && v <= SR_INT16_LEVELS)
        g_assert_cmpfloat (fabsf (ba[i] - v), <=, 0.5f);
    }
    g_free (fa);
    g_free (fb);
    g_free (ba);
    g_free (bb);
  }
  g_test_message ("%s: ghost add %s (%s) bit-exact with C", set, sr_precision_name (p),
      sr_kernel_isa_name (k->ghost.add_isa[p]));
  g_free (intr);
  g_rand_free (rand);
}

/* The tail's anchor and shuffle: exact, pixel-major and planar residuals, packed and strided
 * anchors and HR pixels, values that round either way, go out of [0, 255] or are not finite;
 * nothing written outside the two HR rows' n pixels. */
static void
check_tail (const SrCpuDsp *ref, const SrCpuDsp *k, const char *set)
{
  GRand *rand = g_rand_new_with_seed (17);
  const int max_n = 240, guard = 16;
  const float wild[] = { NAN, INFINITY, -INFINITY, 1e30f, -1e30f, 0.5f / 255.f, -0.5f / 255.f };
  float *res = g_new (float, 4 * (max_n + 8));
  guint8 *anchor = g_new (guint8, 2 * max_n);
  for (int trial = 0; trial < 40; trial++) {
    const int n = trial < (int) G_N_ELEMENTS (widths) ? widths[trial] : g_rand_int_range (rand, 1, max_n);
    const gboolean planar = trial % 3 == 2;
    const gsize x_stride = planar ? 1 : 4, c_stride = planar ? max_n + 8 : 1;
    const gsize a_step = trial % 5 == 4 ? 2 : 1, d_step = trial % 7 == 6 ? 2 : 1;
    for (int i = 0; i < 4 * (max_n + 8); i++)
      res[i] = g_rand_int_range (rand, 0, 20) == 0 ? wild[g_rand_int_range (rand, 0, 7)] :
          g_rand_int_range (rand, -1020, 1020) / 2040.f; /* on and around the .5 boundaries */
    for (int i = 0; i < 2 * max_n; i++)
      anchor[i] = g_rand_int_range (rand, 0, 256);
    const gsize row = 2 * n * d_step + 2 * guard;
    guint8 *a = g_malloc (2 * row), *b = g_malloc (2 * row);
    memset (a, 0xA5, 2 * row);
    memset (b, 0xA5, 2 * row);
    ref->tail.row (res, x_stride, c_stride, anchor, a_step, n, a + guard, a + row + guard, d_step);
    k->tail.row (res, x_stride, c_stride, anchor, a_step, n, b + guard, b + row + guard, d_step);
    if (memcmp (a, b, 2 * row) != 0)
      g_error ("%s tail n=%d %s a_step=%zu d_step=%zu: differs from C", set, n,
          planar ? "planar" : "pixel-major", a_step, d_step);
    for (int i = 0; i < guard; i++) /* the guards (C leaves them too: a == b) */
      g_assert_true (b[i] == 0xA5 && b[row - 1 - i] == 0xA5 && b[row + i] == 0xA5);
    g_free (a);
    g_free (b);
  }
  g_test_message ("%s: tail (%s) bit-exact with C", set, sr_kernel_isa_name (k->tail.isa));
  g_free (res);
  g_free (anchor);
  g_rand_free (rand);
}

/* --bench: every conv entry of the set against C, 640-pixel rows, on the shipped models'
 * shapes. */
static void
bench_set (const SrCpuDsp *ref, const SrCpuDsp *k, const char *set)
{
  const Shape bench_shapes[] = {
    { 1, 16, SR_ACT_RELU }, { 16, 16, SR_ACT_RELU }, { 16, 8, SR_ACT_RELU }, { 16, 4, SR_ACT_NONE },
  };
  GRand *rand = g_rand_new_with_seed (3);
  const int n = 640;
  for (guint s = 0; s < G_N_ELEMENTS (bench_shapes); s++) {
    SrLayer src;
    random_layer (rand, &src, &bench_shapes[s]);
    const gsize pitch = n + 2, plane = pitch * 3;
    float *in = g_new0 (float, plane * src.in_ch), *out = g_new (float, n * src.out_ch);
    double c = TIME_NS_PER_PX (n, ref->conv.fp32 (&src, in, plane, pitch, n, out, n));
    double v = TIME_NS_PER_PX (n, k->conv.fp32 (&src, in, plane, pitch, n, out, n));
    printf ("%-11s conv %2d->%-2d fp32  %-10s %7.2f ns/px  (C %7.2f, %5.1fx)\n", set,
        src.in_ch, src.out_ch, sr_kernel_isa_name (k->conv.isa[SR_PRECISION_FP32]), v, c, c / v);
    g_free (in);
    g_free (out);
    for (SrPrecision p = SR_PRECISION_BF16; p < SR_N_PRECISIONS; p++) {
      SrLowpLayer l;
      sr_lowp_layer_init (&l, p, &src, 0.005f, 0.005f, src.act == SR_ACT_NONE);
      guint8 *lin = g_new0 (guint8, (gsize) pitch * 3 * l.in_stride + 1024);
      guint8 *lout = g_new (guint8, (gsize) n * MAX (l.out_stride, 4 * l.out_ch));
      c = TIME_NS_PER_PX (n, ref->conv.lowp[p] (&l, lin, pitch, n, lout));
      v = TIME_NS_PER_PX (n, k->conv.lowp[p] (&l, lin, pitch, n, lout));
      printf ("%-11s conv %2d->%-2d %-5s %-10s %7.2f ns/px  (C %7.2f, %5.1fx)\n", set,
          src.in_ch, src.out_ch, sr_precision_name (p), sr_kernel_isa_name (k->conv.isa[p]), v,
          c, c / v);
      g_free (lin);
      g_free (lout);
      sr_lowp_layer_clear (&l);
    }
    free_layer (&src);
  }
  /* the predictor of a 32-pixel exit tile: 1->8 over 32x32, then 8->8 over 16x16 */
  const Shape pred[] = { { 1, 8, SR_ACT_RELU }, { 8, 8, SR_ACT_RELU } };
  for (guint s = 0; s < G_N_ELEMENTS (pred); s++) {
    SrLayer l;
    random_layer (rand, &l, &pred[s]);
    const int h = 32 >> s, oh = h / 2, cw = oh + 1;
    float *cols = g_new0 (float, (gsize) l.in_ch * h * 2 * cw);
    float *out = g_new (float, (gsize) l.out_ch * oh * oh);
    double c = TIME_NS_PER_PX (oh * oh, ref->predictor.conv (&l, cols, h, oh, oh, cw, out));
    double v = TIME_NS_PER_PX (oh * oh, k->predictor.conv (&l, cols, h, oh, oh, cw, out));
    printf ("%-11s predictor %d->%d fp32 %-10s %7.2f ns/px  (C %7.2f, %5.1fx)\n", set, l.in_ch,
        l.out_ch, sr_kernel_isa_name (k->predictor.isa), v, c, c / v);
    g_free (cols);
    g_free (out);
    free_layer (&l);
  }
  g_rand_free (rand);
}

/* Each SIMD function is checked once, under the first set that brings it in (the sets above
 * it only show that the ladder left it in place). */
static GHashTable *checked;

/* The predictor's stride-2 conv: exact, for its layers (1->8, 8->8) over the shapes of the
 * 32- and 64-pixel exit tiles and odd ones (a partial vector, one output, an input row past
 * the last output's, channel counts off the block of 8); nothing written outside the output. */
static void
check_predictor (const SrCpuDsp *ref, const SrCpuDsp *k, const char *set)
{
  GRand *rand = g_rand_new_with_seed (23);
  const int sizes[][2] = { { 32, 32 }, { 16, 16 }, { 64, 64 }, { 1, 1 }, { 2, 3 }, { 17, 33 },
    { 31, 47 }, { 5, 18 } }; /* h, w of the input */
  const Shape layers[] = { { 1, 8, SR_ACT_RELU }, { 8, 8, SR_ACT_RELU }, { 3, 13, SR_ACT_RELU },
    { 5, 3, SR_ACT_RELU } };
  for (guint s = 0; s < G_N_ELEMENTS (sizes); s++)
    for (guint c = 0; c < G_N_ELEMENTS (layers); c++) {
      const int h = sizes[s][0], w = sizes[s][1], oh = (h + 1) / 2, ow = (w + 1) / 2;
      const int cw = ow + 1, guard = 16;
      SrLayer l;
      random_layer (rand, &l, &layers[c]);
      const gsize n_cols = (gsize) l.in_ch * h * 2 * cw;
      float *cols = g_new (float, n_cols);
      for (gsize i = 0; i < n_cols; i++)
        cols[i] = g_rand_double_range (rand, -1, 1);
      const gsize n = (gsize) l.out_ch * oh * ow + 2 * guard;
      float *a = g_new (float, n), *b = g_new (float, n);
      for (gsize i = 0; i < n; i++)
        a[i] = b[i] = g_rand_double_range (rand, -1, 1);
      ref->predictor.conv (&l, cols, h, oh, ow, cw, a + guard);
      k->predictor.conv (&l, cols, h, oh, ow, cw, b + guard);
      if (memcmp (a, b, n * sizeof (float)) != 0)
        g_error ("%s predictor conv %d->%d over %dx%d: differs from C", set, l.in_ch, l.out_ch,
            h, w);
      g_free (cols);
      g_free (a);
      g_free (b);
      free_layer (&l);
    }
  g_test_message ("%s: predictor conv (%s) bit-exact with C", set,
      sr_kernel_isa_name (k->predictor.isa));
  g_rand_free (rand);
}

static gboolean
first_time (gpointer fn)
{
  return g_hash_table_add (checked, fn);
}

static void
test_flag_set (gconstpointer data)
{
  const FlagSet *set = data;
  guint missing = set->flags & ~sr_cpu_flags_probe ();
  if (missing) {
    g_test_skip ("this CPU lacks part of the set");
    return;
  }
  SrCpuDsp ref, k;
  sr_cpu_dsp_init (&ref, 0);
  sr_cpu_dsp_init (&k, set->flags);
  /* the dispatcher never picks a kernel outside the set */
  for (SrPrecision p = 0; p < SR_N_PRECISIONS; p++)
    g_assert_cmpuint (isa_flags (k.conv.isa[p]) & ~set->flags, ==, 0);
  g_assert_cmpuint (isa_flags (k.tail.isa) & ~set->flags, ==, 0);
  g_assert_cmpuint (isa_flags (k.predictor.isa) & ~set->flags, ==, 0);
  for (SrPrecision p = 0; p < SR_N_PRECISIONS; p++)
    g_assert_cmpuint (isa_flags (k.ghost.add_isa[p]) & ~set->flags, ==, 0);
  /* the ghost path's low precisions have their residual add */
  g_assert_nonnull (k.ghost.add[SR_PRECISION_BF16]);
  g_assert_nonnull (k.ghost.add[SR_PRECISION_INT16]);
  if (set->flags == 0) { /* the C table is C throughout */
    for (SrPrecision p = 0; p < SR_N_PRECISIONS; p++) {
      g_assert_cmpint (k.conv.isa[p], ==, SR_KERNEL_C);
      g_assert_cmpint (k.ghost.add_isa[p], ==, SR_KERNEL_C);
    }
    g_assert_cmpint (k.tail.isa, ==, SR_KERNEL_C);
    g_assert_cmpint (k.predictor.isa, ==, SR_KERNEL_C);
    /* the C references themselves (what the SIMD entries are checked against) */
    check_ghost_add (&ref, &k, SR_PRECISION_INT16, set->name);
    return;
  }

  if (k.conv.isa[SR_PRECISION_FP32] != SR_KERNEL_C && first_time (k.conv.fp32))
    check_conv_fp32 (&ref, &k, set->name);
  for (SrPrecision p = SR_PRECISION_BF16; p < SR_N_PRECISIONS; p++)
    if (k.conv.isa[p] != SR_KERNEL_C && first_time (k.conv.lowp[p]))
      check_conv_lowp (&ref, &k, p, set->name);
  if (k.tail.isa != SR_KERNEL_C && first_time (k.tail.row))
    check_tail (&ref, &k, set->name);
  if (k.predictor.isa != SR_KERNEL_C && first_time (k.predictor.conv))
    check_predictor (&ref, &k, set->name);
  for (SrPrecision p = SR_PRECISION_BF16; p < SR_N_PRECISIONS; p++)
    if (k.ghost.add_isa[p] != SR_KERNEL_C && first_time (k.ghost.add[p]))
      check_ghost_add (&ref, &k, p, set->name);
  if (bench)
    bench_set (&ref, &k, set->name);
}

/* The environment only sets config fields: $SR_CPU_ISA caps the probed flags, SR_CPU_AMX=0
 * clears AMX, $SR_CPU_PRECISION names the precision. */
static void
test_config_from_env (void)
{
  const guint probed = sr_cpu_flags_probe ();
  char *isa = test_env_push ("SR_CPU_ISA", "c");
  char *amx = test_env_push ("SR_CPU_AMX", "1");
  char *precision = test_env_push ("SR_CPU_PRECISION", "int16");
  SrCpuConfig config;
  sr_cpu_config_from_env (&config);
  g_assert_cmpuint (config.flags, ==, 0);
  g_assert_cmpint (config.precision, ==, SR_PRECISION_INT16);
  for (guint i = 1; i < G_N_ELEMENTS (flag_sets); i++) {
    g_setenv ("SR_CPU_ISA", flag_sets[i].name, TRUE);
    sr_cpu_config_from_env (&config);
    g_assert_cmpuint (config.flags, ==, probed & sr_cpu_flags_cap (flag_sets[i].name));
  }
  g_assert_cmpuint (sr_cpu_flags_cap ("avx2"), ==, SR_CPU_FLAG_AVX2);
  g_assert_cmpuint (sr_cpu_flags_cap ("avxvnni"), ==, SR_CPU_FLAG_AVX2 | SR_CPU_FLAG_AVXVNNI);
  g_setenv ("SR_CPU_ISA", "avx512", TRUE);
  g_setenv ("SR_CPU_AMX", "0", TRUE);
  g_unsetenv ("SR_CPU_PRECISION");
  sr_cpu_config_from_env (&config);
  g_assert_cmpuint (config.flags, ==, probed & ~SR_CPU_FLAG_AMX);
  g_assert_cmpint (config.precision, ==, -1);
  test_env_pop ("SR_CPU_ISA", isa);
  test_env_pop ("SR_CPU_AMX", amx);
  test_env_pop ("SR_CPU_PRECISION", precision);
}

int
main (int argc, char **argv)
{
  for (int i = 1; i < argc; i++)
    if (strcmp (argv[i], "--bench") == 0) {
      bench = TRUE;
      memmove (argv + i, argv + i + 1, sizeof (char *) * (argc - i));
      argc--;
      break;
    }
  g_test_init (&argc, &argv, NULL);
  checked = g_hash_table_new (NULL, NULL);
  for (guint i = 0; i < G_N_ELEMENTS (flag_sets); i++) {
    g_autofree char *path = g_strdup_printf ("/kernels/%s", flag_sets[i].name);
    g_test_add_data_func (path, &flag_sets[i], test_flag_set);
  }
  g_test_add_func ("/kernels/config-from-env", test_config_from_env);
  int ret = g_test_run ();
  g_hash_table_unref (checked);
  return ret;
}
