/* One probe of the CPU's features, the environment's switches as config fields, and the one
 * init of every kernel table (see sr-cpu-dsp.h). */
#include "sr-cpu-dsp.h"

#include <string.h>
#if defined(__x86_64__)
#include <cpuid.h>
#endif

const char *
sr_kernel_isa_name (SrKernelIsa isa)
{
  static const char *const names[] = { "c", "avx2", "avxvnni", "avx512", "avx512vnni",
    "avx512bf16", "amx" };
  return isa < G_N_ELEMENTS (names) ? names[isa] : "?";
}

static guint
probe (void)
{
  guint flags = 0;
#if defined(__x86_64__)
  __builtin_cpu_init ();
  if (!__builtin_cpu_supports ("avx2") || !__builtin_cpu_supports ("fma"))
    return 0;
  flags |= SR_CPU_FLAG_AVX2;
  unsigned a, b, c, d;
  /* CPUID 7.1 EAX bit 4: AVX-VNNI; 7.0 EDX bits 22 and 24: AMX-BF16 and AMX-TILE */
  if (__get_cpuid_count (7, 1, &a, &b, &c, &d) && (a & (1u << 4)))
    flags |= SR_CPU_FLAG_AVXVNNI;
  if (!__builtin_cpu_supports ("avx512f") || !__builtin_cpu_supports ("avx512bw") ||
      !__builtin_cpu_supports ("avx512vl"))
    return flags;
  flags |= SR_CPU_FLAG_AVX512;
  if (__builtin_cpu_supports ("avx512vnni"))
    flags |= SR_CPU_FLAG_AVX512VNNI;
  if (!__builtin_cpu_supports ("avx512bf16"))
    return flags;
  flags |= SR_CPU_FLAG_AVX512BF16;
  if (__get_cpuid_count (7, 0, &a, &b, &c, &d) && (d & (1u << 22)) && (d & (1u << 24)))
    flags |= SR_CPU_FLAG_AMX;
#endif
  return flags;
}

guint
sr_cpu_flags_probe (void)
{
  static gsize flags = 0;
  if (g_once_init_enter (&flags))
    g_once_init_leave (&flags, probe () | 1u << 31); /* bit 31: probed (never 0) */
  return flags & ~(1u << 31);
}

guint
sr_cpu_flags_cap (const char *cap)
{
  const guint avx2 = SR_CPU_FLAG_AVX2, avxvnni = avx2 | SR_CPU_FLAG_AVXVNNI;
  if (g_strcmp0 (cap, "c") == 0)
    return 0;
  if (g_strcmp0 (cap, "avx2") == 0)
    return avx2;
  if (g_strcmp0 (cap, "avxvnni") == 0)
    return avxvnni;
  return ~0u;
}

void
sr_cpu_config_from_env (SrCpuConfig *config)
{
  config->flags = sr_cpu_flags_probe () & sr_cpu_flags_cap (g_getenv ("SR_CPU_ISA"));
  if (g_strcmp0 (g_getenv ("SR_CPU_AMX"), "0") == 0)
    config->flags &= ~SR_CPU_FLAG_AMX;
  config->precision = sr_precision_from_name (g_getenv ("SR_CPU_PRECISION"));
}

static void
set_conv (SrCpuDsp *dsp, SrPrecision p, SrLowpRowFn fn, SrKernelIsa isa)
{
  dsp->conv.lowp[p] = fn;
  dsp->conv.isa[p] = isa;
}

static void
set_ghost_add (SrCpuDsp *dsp, SrPrecision p, SrGhostAddFn fn, SrKernelIsa isa)
{
  dsp->ghost.add[p] = fn;
  dsp->ghost.add_isa[p] = isa;
}

/* Up the x86 ladder: each step assumes the ones below it and overrides what it runs better.
 * Each set is compiled in only where the compiler has its flags (HAVE_*). */
static void
init_x86 (SrCpuDsp *dsp, guint flags)
{
  if (!(flags & SR_CPU_FLAG_AVX2))
    return;
#if defined(HAVE_AVX2)
  dsp->conv.fp32 = sr_conv_row_avx2;
  dsp->conv.isa[SR_PRECISION_FP32] = SR_KERNEL_AVX2;
  set_conv (dsp, SR_PRECISION_INT16, sr_int16_conv3x3_row_avx2, SR_KERNEL_AVX2);
  /* also on AVX-512: a zmm version (a pixel's 16 sums in one) took as long, the add being
   * bound by its memory traffic */
  set_ghost_add (dsp, SR_PRECISION_INT16, sr_ghost_add_row_int16_avx2, SR_KERNEL_AVX2);
  dsp->tail.row = sr_tail_row_avx2;
  dsp->tail.isa = SR_KERNEL_AVX2;
  /* the taps of 8 output channels at once, accumulated in registers (one tap per call and
   * channel pair, re-reading its outputs, took 9.4% of an AMX frame at threshold 0.1) */
  dsp->predictor.conv = sr_stride2_conv_avx2;
  dsp->predictor.isa = SR_KERNEL_AVX2;
#endif
#if defined(HAVE_AVXVNNI)
  if (flags & SR_CPU_FLAG_AVXVNNI) {
    set_conv (dsp, SR_PRECISION_INT16, sr_int16_conv3x3_row_avxvnni, SR_KERNEL_AVXVNNI);
    set_conv (dsp, SR_PRECISION_INT8, sr_int8_conv3x3_row_avxvnni, SR_KERNEL_AVXVNNI);
  }
#endif

  if (!(flags & SR_CPU_FLAG_AVX512))
    return;
#if defined(HAVE_AVX512)
  dsp->conv.fp32 = sr_conv_row_avx512;
  dsp->conv.isa[SR_PRECISION_FP32] = SR_KERNEL_AVX512;
#endif
#if defined(HAVE_AVX512VNNI)
  if (flags & SR_CPU_FLAG_AVX512VNNI) {
    set_conv (dsp, SR_PRECISION_INT16, sr_int16_conv3x3_row_vnni, SR_KERNEL_AVX512VNNI);
    set_conv (dsp, SR_PRECISION_INT8, sr_int8_conv3x3_row_vnni, SR_KERNEL_AVX512VNNI);
  }
#endif

  if (!(flags & SR_CPU_FLAG_AVX512BF16))
    return;
#if defined(HAVE_AVX512BF16)
  set_conv (dsp, SR_PRECISION_BF16, sr_bf16_conv3x3_row_avx512, SR_KERNEL_AVX512BF16);
  set_ghost_add (dsp, SR_PRECISION_BF16, sr_ghost_add_row_bf16_avx512, SR_KERNEL_AVX512BF16);
#endif
#if defined(HAVE_AMX)
  /* the tile state is the kernel's to grant: asked once, here, only when AMX may be used
   * (if refused, bf16 stays on AVX-512) */
  if ((flags & SR_CPU_FLAG_AMX) && sr_amx_request ())
    set_conv (dsp, SR_PRECISION_BF16, sr_bf16_conv3x3_row_amx, SR_KERNEL_AMX);
#endif
}

void
sr_cpu_dsp_init (SrCpuDsp *dsp, guint flags)
{
  memset (dsp, 0, sizeof *dsp);
  dsp->conv.fp32 = sr_conv_row_c;
  set_conv (dsp, SR_PRECISION_BF16, sr_bf16_conv3x3_row_c, SR_KERNEL_C);
  set_conv (dsp, SR_PRECISION_INT16, sr_int16_conv3x3_row_c, SR_KERNEL_C);
  set_conv (dsp, SR_PRECISION_INT8, sr_int8_conv3x3_row_c, SR_KERNEL_C);
  dsp->tail.row = sr_tail_row_c;
  dsp->predictor.conv = sr_stride2_conv_c;
  set_ghost_add (dsp, SR_PRECISION_BF16, sr_ghost_add_row_bf16_c, SR_KERNEL_C);
  set_ghost_add (dsp, SR_PRECISION_INT16, sr_ghost_add_row_int16_c, SR_KERNEL_C);
  init_x86 (dsp, flags & sr_cpu_flags_probe ());
}
