/* Run-time choice of CPU kernels, and the plain-C reference kernels. */
#include "sr-cpu-kernels.h"

#include <string.h>

void
sr_conv3x3_row_c (const SrLayer *l, const float *in, gsize plane, gsize pitch, int y, int xa,
    int n, float *out, gsize out_plane)
{
  for (int oc = 0; oc < l->out_ch; oc++) {
    float *o = out + oc * out_plane;
    for (int x = 0; x < n; x++)
      o[x] = l->bias[oc];
    for (int ic = 0; ic < l->in_ch; ic++) {
      const float *w = l->weight + ((gsize) oc * l->in_ch + ic) * 9;
      for (int ky = 0; ky < 3; ky++) {
        const float *row = in + ic * plane + (gsize) (y + ky) * pitch + xa;
        for (int kx = 0; kx < 3; kx++) {
          const float wv = w[ky * 3 + kx], *ip = row + kx;
          for (int x = 0; x < n; x++)
            o[x] += wv * ip[x];
        }
      }
    }
    if (l->act == SR_ACT_RELU)
      for (int x = 0; x < n; x++)
        o[x] = o[x] > 0.f ? o[x] : 0.f;
  }
}

const char *
sr_isa_name (SrIsa isa)
{
  switch (isa) {
    case SR_ISA_C: return "c";
    case SR_ISA_AVX2: return "avx2";
    case SR_ISA_AVX512: return "avx512";
  }
  return "?";
}

static SrIsa
cpu_isa (void)
{
#if defined(HAVE_X86_KERNELS)
  __builtin_cpu_init ();
  if (__builtin_cpu_supports ("avx512f"))
    return SR_ISA_AVX512;
  if (__builtin_cpu_supports ("avx2") && __builtin_cpu_supports ("fma"))
    return SR_ISA_AVX2;
#endif
  return SR_ISA_C;
}

SrIsa
sr_cpu_detect_isa (void)
{
  SrIsa isa = cpu_isa ();
  const char *cap = g_getenv ("SR_CPU_ISA");
  for (SrIsa i = SR_ISA_C; cap && i <= SR_ISA_AVX512; i++)
    if (strcmp (cap, sr_isa_name (i)) == 0)
      isa = MIN (isa, i);
  return isa;
}

gboolean
sr_cpu_kernels_init (SrCpuKernels *k, SrIsa isa)
{
  k->isa = SR_ISA_C;
  k->conv3x3_row = sr_conv3x3_row_c;
  if (isa > cpu_isa ())
    return isa == SR_ISA_C;
#if defined(HAVE_X86_KERNELS)
  if (isa >= SR_ISA_AVX2)
    k->conv3x3_row = sr_conv3x3_row_avx2;
  if (isa >= SR_ISA_AVX512)
    k->conv3x3_row = sr_conv3x3_row_avx512;
  k->isa = isa;
  return TRUE;
#else
  return isa == SR_ISA_C;
#endif
}
