/* checkasm-style tests of the SIMD kernels: each against the plain-C reference on random
 * data, edge sizes (1 pixel, odd, remainders of the vector width) and channel counts that
 * leave partial groups; each kernel must also leave memory outside its row alone.
 * Prints each kernel's speed (not asserted: speed is the benchmark's job). */
#include <math.h>
#include <string.h>

#include "cpu/sr-cpu-kernels.h"
#include "cpu/sr-cpu-lowp.h"

#define PAD 64 /* guard floats around every output row */

typedef struct {
  int in_ch, out_ch;
  SrActivation act;
} Shape;

static void
random_layer (GRand *rand, SrLayer *l, const Shape *s)
{
  l->in_ch = s->in_ch;
  l->out_ch = s->out_ch;
  l->kernel = 3;
  l->stride = 1;
  l->act = s->act;
  l->weight = g_new (float, s->out_ch * s->in_ch * 9);
  l->bias = g_new (float, s->out_ch);
  for (int i = 0; i < s->out_ch * s->in_ch * 9; i++)
    l->weight[i] = g_rand_double_range (rand, -0.5, 0.5);
  for (int i = 0; i < s->out_ch; i++)
    l->bias[i] = g_rand_double_range (rand, -0.3, 0.3);
}

static void
check_isa (SrIsa isa)
{
  SrCpuKernels ref, k;
  sr_cpu_kernels_init (&ref, SR_ISA_C);
  if (!sr_cpu_kernels_init (&k, isa)) {
    g_test_skip ("this CPU or build has no such instruction set");
    return;
  }
  const Shape shapes[] = {
    { 1, 16, SR_ACT_RELU }, { 16, 8, SR_ACT_RELU }, { 16, 4, SR_ACT_NONE },
    { 16, 16, SR_ACT_RELU }, { 8, 3, SR_ACT_NONE }, { 3, 13, SR_ACT_RELU },
  };
  const int widths[] = { 1, 2, 7, 8, 9, 15, 16, 17, 31, 33, 64, 100 };
  GRand *rand = g_rand_new_with_seed (42 + isa);
  const int W = 130, H = 5;
  const gsize pitch = W + 2, plane = pitch * (H + 2);
  double worst = 0;
  for (guint s = 0; s < G_N_ELEMENTS (shapes); s++) {
    SrLayer l;
    random_layer (rand, &l, &shapes[s]);
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
        ref.conv3x3_row (&l, in, plane, pitch, 2, xa, n, a + PAD, out_plane);
        k.conv3x3_row (&l, in, plane, pitch, 2, xa, n, b + PAD, out_plane);
        for (int oc = 0; oc < l.out_ch; oc++)
          for (gsize i = 0; i < out_plane; i++) {
            float ra = a[oc * out_plane + i], rb = b[oc * out_plane + i];
            gboolean inside = i >= PAD && i < PAD + (gsize) n;
            if (!inside) {
              g_assert_cmpfloat (rb, ==, 1234.5f); /* nothing written outside the row */
              continue;
            }
            /* FMA rounds once where C rounds twice: a few ulps over ~150 terms */
            double err = fabs (ra - rb) / (1 + fabs (ra));
            worst = MAX (worst, err);
            if (err > 1e-5)
              g_error ("%s %d->%d n=%d xa=%d oc=%d x=%zu: %.7f vs C %.7f", sr_isa_name (isa),
                  l.in_ch, l.out_ch, n, xa, oc, i - PAD, rb, ra);
          }
        g_free (a);
        g_free (b);
      }
    g_free (in);
    g_free (l.weight);
    g_free (l.bias);
  }
  g_test_message ("%s: worst relative difference from C %.2e", sr_isa_name (isa), worst);

  /* speed on the ghost block's shape, 640-pixel rows */
  SrLayer l;
  random_layer (rand, &l, &(Shape) { 16, 8, SR_ACT_RELU });
  const int n = 640;
  const gsize bpitch = n + 2, bplane = bpitch * 3;
  float *in = g_new0 (float, bplane * 16), *out = g_new (float, n * 8);
  SrCpuKernels *kernels[] = { &ref, &k };
  double ns[2];
  for (int i = 0; i < 2; i++) {
    gint64 t0 = g_get_monotonic_time ();
    int reps = 0;
    while (g_get_monotonic_time () - t0 < 100000) {
      kernels[i]->conv3x3_row (&l, in, bplane, bpitch, 0, 0, n, out, n);
      reps++;
    }
    ns[i] = (g_get_monotonic_time () - t0) * 1000.0 / reps / n;
  }
  g_test_message ("conv 16->8, 640 px: C %.2f ns/px, %s %.2f ns/px (%.1fx)", ns[0],
      sr_isa_name (isa), ns[1], ns[0] / ns[1]);
  g_free (in);
  g_free (out);
  g_free (l.weight);
  g_free (l.bias);
  g_rand_free (rand);
}

static void
test_avx2 (void)
{
  check_isa (SR_ISA_AVX2);
}

static void
test_avx512 (void)
{
  check_isa (SR_ISA_AVX512);
}

/* Speed of two row kernels on the body's shape (16 -> 16, 640-pixel rows), printed, not
 * asserted. */
static void
compare_speed (GRand *rand, SrLowpFormat format, SrLowpRowFn a, const char *a_name,
    SrLowpRowFn b, const char *b_name)
{
  SrLayer src;
  random_layer (rand, &src, &(Shape) { 16, 16, SR_ACT_RELU });
  SrLowpLayer l;
  sr_lowp_layer_init (&l, format, &src, 0.005f, 0.005f, FALSE);
  const int n = 640;
  guint8 *in = g_new0 (guint8, (gsize) (n + 2) * 3 * l.in_stride + 1024);
  guint8 *out = g_new (guint8, (gsize) n * l.out_stride);
  double ns[2];
  for (int i = 0; i < 2; i++) {
    gint64 t0 = g_get_monotonic_time ();
    int reps = 0;
    while (g_get_monotonic_time () - t0 < 100000) {
      (i ? b : a) (&l, in, n + 2, n, out);
      reps++;
    }
    ns[i] = (g_get_monotonic_time () - t0) * 1000.0 / reps / n;
  }
  g_test_message ("%s conv 16->16, 640 px: %s %.2f ns/px, %s %.2f ns/px (%.1fx)",
      sr_lowp_format_name (format), a_name, ns[0], b_name, ns[1], ns[0] / ns[1]);
  g_free (in);
  g_free (out);
  sr_lowp_layer_clear (&l);
  g_free (src.weight);
  g_free (src.bias);
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

/* The int8 and int16 (VNNI) and bf16 (AVX-512 BF16) rows against their C references: exact (the same
 * sums in the same order, one IEEE rounding each), u8/bf16 and fp32 outputs, partial
 * channel words and output blocks, and nothing written outside the row. */
static void
check_lowp (SrLowpFormat format)
{
  if (!sr_lowp_supported (format)) {
    g_test_skip ("this CPU or build has no such instructions");
    return;
  }
  SrLowpRowFn refs[] = { sr_int8_conv3x3_row_c, sr_int16_conv3x3_row_c, sr_bf16_conv3x3_row_c };
  SrLowpRowFn simds[] = { sr_int8_conv3x3_row_vnni, sr_int16_conv3x3_row_vnni,
    sr_bf16_conv3x3_row_avx512 };
  SrLowpRowFn ref = refs[format], simd = simds[format];
  const Shape shapes[] = {
    { 1, 16, SR_ACT_RELU }, { 16, 16, SR_ACT_RELU }, { 16, 4, SR_ACT_NONE }, { 16, 8, SR_ACT_RELU },
    { 3, 13, SR_ACT_RELU }, { 8, 3, SR_ACT_NONE }, { 20, 40, SR_ACT_RELU },
  };
  const int widths[] = { 1, 2, 7, 8, 9, 15, 16, 17, 31, 33, 64, 100 };
  GRand *rand = g_rand_new_with_seed (7 + format);
  const int W = 110;
  for (guint s = 0; s < G_N_ELEMENTS (shapes); s++) {
    SrLayer src;
    random_layer (rand, &src, &shapes[s]);
    SrLowpLayer l;
    gboolean last = shapes[s].act == SR_ACT_NONE;
    sr_lowp_layer_init (&l, format, &src, 1 / 255.f, 0.004f, last);
    gsize in_size = (gsize) W * 3 * l.in_stride;
    guint8 *in = g_new (guint8, in_size);
    for (gsize i = 0; i < in_size; i++)
      in[i] = g_rand_int_range (rand, 0, 256);
    for (gsize i = 0; format != SR_LOWP_INT8 && i < in_size; i += 2) {
      /* bf16 activations of either sign around 1; int16 levels 0..4095 */
      guint16 v = format == SR_LOWP_BF16 ? sr_bf16_from_float (g_rand_double_range (rand, -2, 2))
          : g_rand_int_range (rand, 0, 4096);
      memcpy (in + i, &v, 2);
    }
    gsize px = last ? l.out_ch * sizeof (float) : (gsize) l.out_stride;
    for (guint wi = 0; wi < G_N_ELEMENTS (widths); wi++) {
      int n = widths[wi];
      guint8 *a, *b;
      run_row_pair (&l, ref, simd, in, W, n, px, &a, &b);
      if (memcmp (a, b, (n + 2) * px) != 0)
        g_error ("%s %d->%d n=%d: SIMD differs from C", sr_lowp_format_name (format), l.in_ch,
            l.out_ch, n);
      g_free (a);
      g_free (b);
    }
    g_free (in);
    sr_lowp_layer_clear (&l);
    g_free (src.weight);
    g_free (src.bias);
  }

  compare_speed (rand, format, ref, "C", simd, "SIMD");
  g_rand_free (rand);
}

/* The AMX bf16 row against the C reference: AMX sums in its own order, so fp32 outputs
 * agree within 1e-5 relative and bf16 outputs within one bf16 step; layers it does not take
 * (other than 1 or 16 input channels) go to the AVX-512 kernel and must be exact. */
static void
test_bf16_amx (void)
{
  if (!sr_lowp_amx_supported ()) {
    g_test_skip ("this CPU, kernel or build has no AMX-BF16");
    return;
  }
  const Shape shapes[] = {
    { 16, 16, SR_ACT_RELU }, { 16, 4, SR_ACT_NONE }, { 16, 13, SR_ACT_RELU }, { 16, 3, SR_ACT_NONE },
    { 16, 8, SR_ACT_RELU }, { 8, 16, SR_ACT_RELU }, { 1, 16, SR_ACT_RELU },
  };
  const int widths[] = { 1, 7, 15, 16, 17, 31, 32, 33, 100, 240 };
  GRand *rand = g_rand_new_with_seed (11);
  const int W = 260;
  double worst = 0;
  for (guint s = 0; s < G_N_ELEMENTS (shapes); s++) {
    SrLayer src;
    random_layer (rand, &src, &shapes[s]);
    SrLowpLayer l;
    gboolean last = shapes[s].act == SR_ACT_NONE;
    sr_lowp_layer_init (&l, SR_LOWP_BF16, &src, 1.f, 1.f, last);
    gsize in_size = (gsize) W * 3 * l.in_stride + 1024; /* the kernel's read slack */
    guint8 *in = g_new0 (guint8, in_size);
    for (gsize i = 0; i < (gsize) W * 3 * l.in_stride; i += 2) {
      guint16 v = sr_bf16_from_float (g_rand_double_range (rand, -2, 2));
      memcpy (in + i, &v, 2);
    }
    gsize px = last ? l.out_ch * sizeof (float) : (gsize) l.out_stride;
    for (guint wi = 0; wi < G_N_ELEMENTS (widths); wi++) {
      int n = widths[wi];
      guint8 *a, *b;
      run_row_pair (&l, sr_bf16_conv3x3_row_c, sr_bf16_conv3x3_row_amx, in, W, n, px, &a, &b);
      if (!sr_bf16_amx_takes (&l)) {
        g_assert_cmpmem (a, (n + 2) * px, b, (n + 2) * px);
      } else if (last) {
        for (int i = 0; i < n * l.out_ch; i++) {
          float fa = ((float *) (a + px))[i], fb = ((float *) (b + px))[i];
          double err = fabs (fa - fb) / (1 + fabs (fa));
          worst = MAX (worst, err);
          if (err > 1e-5)
            g_error ("amx %d->%d n=%d: %g vs C %g", l.in_ch, l.out_ch, n, fb, fa);
        }
      } else {
        for (int i = 0; i < n * l.out_stride / 2; i++) {
          guint16 va, vb;
          memcpy (&va, a + px + 2 * i, 2);
          memcpy (&vb, b + px + 2 * i, 2);
          if (ABS ((int) va - (int) vb) > 1)
            g_error ("amx %d->%d n=%d: bf16 %04x vs C %04x", l.in_ch, l.out_ch, n, vb, va);
        }
      }
      g_free (a);
      g_free (b);
    }
    g_free (in);
    sr_lowp_layer_clear (&l);
    g_free (src.weight);
    g_free (src.bias);
  }
  g_test_message ("amx: worst relative difference of fp32 outputs from C %.2e", worst);

  compare_speed (rand, SR_LOWP_BF16, sr_bf16_conv3x3_row_avx512, "AVX-512",
      sr_bf16_conv3x3_row_amx, "AMX");
  g_rand_free (rand);
}

static void
test_int8 (void)
{
  check_lowp (SR_LOWP_INT8);
}

static void
test_int16 (void)
{
  check_lowp (SR_LOWP_INT16);
}

static void
test_bf16 (void)
{
  check_lowp (SR_LOWP_BF16);
}

/* The ghost net's bf16 residual add (AVX-512) against the C one: exact (fp32 adds, one
 * rounding), every shift direction, and nothing written outside the run. Rows of 40 pixels
 * with a ring of 1, as the ghost path pads its maps; the run starts past the ring. */
static void
test_ghost_add (void)
{
  if (!sr_lowp_supported (SR_LOWP_BF16)) {
    g_test_skip ("this CPU or build has no AVX-512 BF16");
    return;
  }
  GRand *rand = g_rand_new_with_seed (13);
  const int pitch = 40, rows = 3, n_px = pitch * rows;
  guint16 *intr = g_new (guint16, 8 * n_px);
  for (int i = 0; i < 8 * n_px; i++)
    intr[i] = sr_bf16_from_float (g_rand_double_range (rand, 0, 3));
  for (int trial = 0; trial < 20; trial++) {
    /* channel c reads direction dirs[c]; trial 0 all the same, then random mixes */
    SrGhostShifts shifts = { 0 };
    for (int c = 0; c < 8; c++) {
      int d = trial == 0 ? 4 : g_rand_int_range (rand, 0, 9);
      sr_ghost_shifts_add (&shifts, ((gssize) (d / 3 - 1) * pitch + d % 3 - 1) * 16, c);
    }
    const int x0 = pitch + 1, n = g_rand_int_range (rand, 1, pitch - 2);
    float *fa = g_new (float, 16 * n_px), *fb = g_new (float, 16 * n_px);
    guint16 *ba = g_new (guint16, 16 * n_px), *bb = g_new (guint16, 16 * n_px);
    for (int i = 0; i < 16 * n_px; i++)
      fa[i] = fb[i] = g_rand_double_range (rand, -4, 4);
    memset (ba, 0xA5, 32 * n_px);
    memset (bb, 0xA5, 32 * n_px);
    sr_ghost_add_row_c (fa + 16 * x0, (guint8 *) (ba + 16 * x0), (guint8 *) (intr + 8 * x0),
        &shifts, n);
    sr_ghost_add_row_avx512 (fb + 16 * x0, (guint8 *) (bb + 16 * x0), (guint8 *) (intr + 8 * x0),
        &shifts, n);
    if (memcmp (fa, fb, sizeof (float) * 16 * n_px) || memcmp (ba, bb, 32 * n_px))
      g_error ("ghost add, trial %d, %d directions, n=%d: AVX-512 differs from C", trial,
          shifts.n, n);
    for (int i = 0; i < 16 * n_px; i++) /* outside the run: untouched */
      if (i < 16 * x0 || i >= 16 * (x0 + n))
        g_assert_true (bb[i] == 0xA5A5);
    g_free (fa);
    g_free (fb);
    g_free (ba);
    g_free (bb);
  }
  g_free (intr);
  g_rand_free (rand);
}

static void
test_isa_cap (void)
{
  /* $SR_CPU_ISA caps the choice, so the C path can be forced for comparisons */
  g_setenv ("SR_CPU_ISA", "c", TRUE);
  g_assert_cmpint (sr_cpu_detect_isa (), ==, SR_ISA_C);
  g_unsetenv ("SR_CPU_ISA");
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/kernels/conv3x3-row/avx2", test_avx2);
  g_test_add_func ("/kernels/conv3x3-row/avx512", test_avx512);
  g_test_add_func ("/kernels/lowp-conv3x3-row/int8-vnni", test_int8);
  g_test_add_func ("/kernels/lowp-conv3x3-row/int16-vnni", test_int16);
  g_test_add_func ("/kernels/lowp-conv3x3-row/bf16-avx512", test_bf16);
  g_test_add_func ("/kernels/lowp-conv3x3-row/bf16-amx", test_bf16_amx);
  g_test_add_func ("/kernels/ghost-add-row/avx512", test_ghost_add);
  g_test_add_func ("/kernels/isa-cap", test_isa_cap);
  return g_test_run ();
}
