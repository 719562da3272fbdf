/* The ghost-exit net on the CPU (sr-cpu-ghost.c). */
#ifndef SR_CPU_GHOST_H
#define SR_CPU_GHOST_H

#include "sr-cpu-dsp.h"
#include "sr-cpu-pool.h"

typedef struct _SrCpuGhost SrCpuGhost;

/* bf16: conv inputs in bf16 (the model allows it and the CPU runs it well), else fp32;
 * the kernels from `dsp` and the workers of `pool`, which must outlive the ghost path */
SrCpuGhost *sr_cpu_ghost_new (const SrModel *model, SrCpuPool *pool, const SrCpuDsp *dsp,
    gboolean bf16);
void sr_cpu_ghost_free (SrCpuGhost *ghost);
/* Bytes of feature maps it allocates for a width x height frame. */
guint64 sr_cpu_ghost_frame_bytes (const SrCpuGhost *ghost, int width, int height);
gboolean sr_cpu_ghost_upscale (SrCpuGhost *ghost, const SrPlane *src, SrPlane *dst,
    double exit_threshold, SrFrameStats *stats, GError **error);

#endif
