/* The CPU kernels the ghost-exit path calls through function pointers, chosen at run
 * time (dav1d style): plain C is the reference and fallback; AVX2 and AVX-512 versions
 * are tested against it (tests/test-kernels.c). */
#ifndef SR_CPU_KERNELS_H
#define SR_CPU_KERNELS_H

#include "../sr-model-private.h"

/* One row of a 3x3 "same" conv (stride 1) on padded planes: for every output channel oc,
 * out[oc * out_plane + x] for x in [0, n) is output pixel (y, xa + x); input pixel
 * (y', x') is in[ic * plane + (y' + 1) * pitch + x' + 1]. Sums bias, then ic, ky, kx in
 * order; ReLU if the layer has it. */
typedef void (*SrConvRowFn) (const SrLayer *l, const float *in, gsize plane, gsize pitch,
    int y, int xa, int n, float *out, gsize out_plane);

typedef enum {
  SR_ISA_C,
  SR_ISA_AVX2,
  SR_ISA_AVX512,
} SrIsa;

typedef struct {
  SrIsa isa;
  SrConvRowFn conv3x3_row;
} SrCpuKernels;

void sr_conv3x3_row_c (const SrLayer *l, const float *in, gsize plane, gsize pitch, int y,
    int xa, int n, float *out, gsize out_plane);
void sr_conv3x3_row_avx2 (const SrLayer *l, const float *in, gsize plane, gsize pitch, int y,
    int xa, int n, float *out, gsize out_plane);
void sr_conv3x3_row_avx512 (const SrLayer *l, const float *in, gsize plane, gsize pitch,
    int y, int xa, int n, float *out, gsize out_plane);

/* A network output (residual plus anchor, 1.0 = white) as an 8-bit sample: floor (v * 255
 * + 0.5) clamped to [0, 255]. The clamp comes before the conversion, so a model with wild
 * weights gives 0 or 255 (NaN: 0), never an out-of-range float-to-int conversion (undefined
 * behaviour); in this form the loops that call it still vectorise. */
static inline guint8
sr_unit_to_u8 (float v)
{
  float u = v * 255.f + 0.5f;
  u = u > 0.f ? u : 0.f;
  u = u < 255.f ? u : 255.f;
  return (guint8) (int) u;
}

/* The best the CPU runs, capped by $SR_CPU_ISA (c, avx2, avx512) when set. */
SrIsa sr_cpu_detect_isa (void);
/* Kernels for `isa`; FALSE (and C kernels) when this CPU or build cannot run it. */
gboolean sr_cpu_kernels_init (SrCpuKernels *k, SrIsa isa);
const char *sr_isa_name (SrIsa isa);

#endif
