/* What the CPU backend's network paths share: the worker pool. */
#ifndef SR_CPU_H
#define SR_CPU_H

#include "../sr-model-private.h"
#include "sr-cpu-dsp.h"

typedef struct _SrCpu SrCpu;

/* task(ctx, item, worker) for every item in [0, n_items), spread over the workers;
 * returns when all are done. worker < sr_cpu_n_workers (). */
typedef void (*SrCpuTask) (gpointer ctx, int item, int worker);
void sr_cpu_parallel_for (SrCpu *cpu, int n_items, SrCpuTask task, gpointer ctx);
int sr_cpu_n_workers (const SrCpu *cpu);
/* What the net runs in and on: "bf16 amx", "int16 avx2", "avx512" (fp32)... */
const char *sr_cpu_kernels_name (SrCpu *cpu);

/* The ghost-exit path (sr-cpu-ghost.c). */
typedef struct _SrCpuGhost SrCpuGhost;
/* bf16: conv inputs in bf16 (the model allows it and the CPU runs it well), else fp32;
 * the kernels from `dsp`, which must outlive the ghost path */
SrCpuGhost *sr_cpu_ghost_new (const SrModel *model, SrCpu *cpu, const SrCpuDsp *dsp,
    gboolean bf16);
void sr_cpu_ghost_free (SrCpuGhost *ghost);
gboolean sr_cpu_ghost_upscale (SrCpuGhost *ghost, const SrPlane *src, SrPlane *dst,
    double exit_threshold, SrFrameStats *stats, GError **error);

#endif
