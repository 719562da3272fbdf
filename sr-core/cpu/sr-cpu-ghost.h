/* The ghost-exit net on the CPU (sr-cpu-ghost.c). */
#ifndef SR_CPU_GHOST_H
#define SR_CPU_GHOST_H

#include "sr-cpu-dsp.h"
#include "sr-cpu-pool.h"

typedef struct _SrCpuGhost SrCpuGhost;

/* Whether the ghost path runs `model` in `precision`: fp32 always; bf16 and int16 (conv
 * inputs rounded, the residual stream in fp32) with 16 channels, int16 also with the file's
 * calibrated maxima (act_max: the luma's 1, then the stream's after 0..B blocks). */
gboolean sr_cpu_ghost_takes (const SrModel *model, SrPrecision precision);
/* The net in `precision` (one sr_cpu_ghost_takes), with the kernels from `dsp` and the
 * workers of `pool`, which must outlive the ghost path. */
SrCpuGhost *sr_cpu_ghost_new (const SrModel *model, SrCpuPool *pool, const SrCpuDsp *dsp,
    SrPrecision precision);
void sr_cpu_ghost_free (SrCpuGhost *ghost);
/* Bytes of feature maps it allocates for a width x height frame. */
guint64 sr_cpu_ghost_frame_bytes (const SrCpuGhost *ghost, int width, int height);
gboolean sr_cpu_ghost_upscale (SrCpuGhost *ghost, const SrPlane *src, SrPlane *dst,
    double exit_threshold, SrFrameStats *stats, GError **error);

#endif
