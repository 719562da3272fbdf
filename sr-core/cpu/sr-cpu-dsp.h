/* The CPU kernels' dispatch, laid out like dav1d's: one probe of the CPU's features (a flags
 * mask), a config whose fields the environment merely sets, and one init that fills a table
 * per kernel family with the plain-C references first and then walks the x86 ladder,
 * each instruction set overriding what it does better. The backend and tests/test-kernels.c
 * reach every kernel through this init, so the dispatcher itself is tested. */
#ifndef SR_CPU_DSP_H
#define SR_CPU_DSP_H

#include "sr-cpu-kernels.h"
#include "sr-cpu-lowp.h"

/* What the CPU (and the kernel, for AMX) offers; each set is also built only when the
 * compiler has it (HAVE_* from sr-core/meson.build). */
typedef enum {
  SR_CPU_FLAG_AVX2 = 1 << 0,        /* AVX2 and FMA */
  SR_CPU_FLAG_AVXVNNI = 1 << 1,     /* AVX-VNNI: vpdpwssd / vpdpbusd on 256-bit registers */
  SR_CPU_FLAG_AVX512 = 1 << 2,      /* AVX-512 F, BW, VL */
  SR_CPU_FLAG_AVX512VNNI = 1 << 3,
  SR_CPU_FLAG_AVX512BF16 = 1 << 4,
  SR_CPU_FLAG_AMX = 1 << 5,         /* AMX-TILE and AMX-BF16 (permission asked at init) */
} SrCpuFlag;

/* Which instruction set a table entry runs, for names and choices. */
typedef enum {
  SR_KERNEL_C,
  SR_KERNEL_AVX2,
  SR_KERNEL_AVXVNNI,
  SR_KERNEL_AVX512,
  SR_KERNEL_AVX512VNNI,
  SR_KERNEL_AVX512BF16,
  SR_KERNEL_AMX,
} SrKernelIsa;

const char *sr_kernel_isa_name (SrKernelIsa isa);

typedef struct {
  guint flags;      /* SrCpuFlag: the instruction sets kernels may use */
  int precision;    /* the SrPrecision to run, or -1: the fastest the model file allows */
} SrCpuConfig;

/* The CPU's flags, probed once per process. */
guint sr_cpu_flags_probe (void);
/* The probe, capped by $SR_CPU_ISA (c, avx2, avxvnni, avx512) and $SR_CPU_AMX=0;
 * precision from $SR_CPU_PRECISION (fp32, bf16, int16, int8). */
void sr_cpu_config_from_env (SrCpuConfig *config);
/* The flags $SR_CPU_ISA-style name `cap` allows (all for NULL or an unknown name). */
guint sr_cpu_flags_cap (const char *cap);

/* The convs per precision: fp32 (any odd k x k) on planar maps, the others (3x3) on
 * pixel-major ones (sr-cpu-lowp.h; lowp[SR_PRECISION_FP32] is unused). */
typedef struct {
  SrConvRowFn fp32;
  SrLowpRowFn lowp[SR_N_PRECISIONS];
  SrKernelIsa isa[SR_N_PRECISIONS];
} SrConvDsp;

/* The anchor and pixel shuffle that end every net (sr-cpu-kernels.h). */
typedef struct {
  SrTailRowFn row;
  SrKernelIsa isa;
} SrTailDsp;

/* The ghost net's residual add per low precision (bf16, int16; sr-cpu-lowp.h), NULL for
 * the others. */
typedef struct {
  SrGhostAddFn add[SR_N_PRECISIONS];
  SrKernelIsa add_isa[SR_N_PRECISIONS];
} SrGhostDsp;

/* The exit predictor's stride-2 conv (sr-cpu-kernels.h). */
typedef struct {
  SrStride2ConvFn conv;
  SrKernelIsa isa;
} SrPredictorDsp;

typedef struct {
  SrConvDsp conv;
  SrTailDsp tail;
  SrGhostDsp ghost;
  SrPredictorDsp predictor;
} SrCpuDsp;

/* C references, then every instruction set of `flags` that this build and CPU have (AMX
 * also needs the kernel's permission, asked here). */
void sr_cpu_dsp_init (SrCpuDsp *dsp, guint flags);

#endif
