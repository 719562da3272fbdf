/* checkasm-style tests of the SIMD kernels: each against the plain-C reference on random
 * data, edge sizes (1 pixel, odd, remainders of the vector width) and channel counts that
 * leave partial groups; each kernel must also leave memory outside its row alone.
 * Prints each kernel's speed (not asserted: speed is the benchmark's job). */
#include <math.h>
#include <string.h>

#include "cpu/sr-cpu-kernels.h"

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
  g_test_add_func ("/kernels/isa-cap", test_isa_cap);
  return g_test_run ();
}
