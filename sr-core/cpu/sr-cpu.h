/* What the CPU backend's network paths share: the worker pool. */
#ifndef SR_CPU_H
#define SR_CPU_H

#include "../sr-model-private.h"

typedef struct _SrCpu SrCpu;

/* task(ctx, item, worker) for every item in [0, n_items), spread over the workers;
 * returns when all are done. worker < sr_cpu_n_workers (). */
typedef void (*SrCpuTask) (gpointer ctx, int item, int worker);
void sr_cpu_parallel_for (SrCpu *cpu, int n_items, SrCpuTask task, gpointer ctx);
int sr_cpu_n_workers (const SrCpu *cpu);

/* The ghost-exit path (sr-cpu-ghost.c). */
typedef struct _SrCpuGhost SrCpuGhost;
/* bf16: conv inputs in bf16 (the model allows it and the CPU runs it well), else fp32 */
SrCpuGhost *sr_cpu_ghost_new (const SrModel *model, SrCpu *cpu, gboolean bf16);
const char *sr_cpu_ghost_kernels_name (const SrCpuGhost *ghost);
void sr_cpu_ghost_free (SrCpuGhost *ghost);
/* Bytes of feature maps it allocates for a width x height frame. */
guint64 sr_cpu_ghost_frame_bytes (const SrCpuGhost *ghost, int width, int height);
gboolean sr_cpu_ghost_upscale (SrCpuGhost *ghost, const SrPlane *src, SrPlane *dst,
    double exit_threshold, SrFrameStats *stats, GError **error);

#endif
