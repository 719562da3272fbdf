/* The CPU backend's workers: the calling thread plus a GThreadPool, running the items of one
 * task at a time. The network paths and the chroma share one pool per engine. */
#ifndef SR_CPU_POOL_H
#define SR_CPU_POOL_H

#include <glib.h>

typedef struct _SrCpuPool SrCpuPool;

/* task(ctx, item, worker) for every item in [0, n_items), spread over the workers;
 * sr_cpu_pool_run returns when all are done. worker < sr_cpu_pool_n_workers (). */
typedef void (*SrCpuTask) (gpointer ctx, int item, int worker);

/* NULL and `error` set if the threads cannot be made. */
SrCpuPool *sr_cpu_pool_new (int n_workers, GError **error);
void sr_cpu_pool_free (SrCpuPool *pool);
int sr_cpu_pool_n_workers (const SrCpuPool *pool);
void sr_cpu_pool_run (SrCpuPool *pool, int n_items, SrCpuTask task, gpointer ctx);

#endif
