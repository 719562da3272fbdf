/* The CPU's network executor, for every net: the plain one and the ghost-exit one
 * (sr-cpu-net.c). */
#ifndef SR_CPU_NET_H
#define SR_CPU_NET_H

#include "sr-cpu-dsp.h"
#include "sr-cpu-pool.h"

typedef struct _SrCpuNet SrCpuNet;

/* Whether the executor runs `model` in `precision`. Plain nets: odd k x k stride-1 layers
 * (k = 1..7) in fp32; bf16, int8 and int16 only with every layer 3x3 and ReLU before every
 * layer but the last, int8/int16 also with the file's calibrated maxima and sums that fit
 * 32 bits. Ghost nets: fp32 always; bf16 and int16 (conv inputs rounded, the
 * residual stream in fp32) with 16 channels, int16 also with the calibrated maxima (act_max:
 * the luma's 1, then the stream's after 0..B blocks). */
gboolean sr_cpu_net_takes (const SrModel *model, SrPrecision precision);
/* The net in `precision` (one sr_cpu_net_takes), with the kernels from `dsp` and the
 * workers of `pool`, which must outlive it. */
SrCpuNet *sr_cpu_net_new (const SrModel *model, SrCpuPool *pool, const SrCpuDsp *dsp,
    SrPrecision precision);
void sr_cpu_net_free (SrCpuNet *net);
/* Bytes of feature maps it allocates for a width x height frame. */
guint64 sr_cpu_net_frame_bytes (const SrCpuNet *net, int width, int height);
/* The low-precision paths take samples of more than 8 bits only on the ghost net: a plain
 * net's caller runs them through an fp32 executor instead. */
gboolean sr_cpu_net_takes_wide (const SrCpuNet *net);
gboolean sr_cpu_net_upscale (SrCpuNet *net, const SrPlane *src, SrPlane *dst,
    double exit_threshold, SrFrameStats *stats, GError **error);

#endif
