/* The worker pool (sr-cpu-pool.h): items are taken from a shared counter, so workers that
 * finish early take more; the caller is worker 0 and waits for the others at the end. */
#include "sr-cpu-pool.h"

struct _SrCpuPool {
  int n_workers;
  GThreadPool *threads;   /* workers 1.., NULL when single-threaded */
  GMutex lock;
  GCond done;
  /* the run in flight */
  SrCpuTask task;
  gpointer ctx;
  int n_items;
  gint next_item;
  int workers_left;
};

static void
run_items (SrCpuPool *pool, int worker)
{
  for (;;) {
    int i = g_atomic_int_add (&pool->next_item, 1);
    if (i >= pool->n_items)
      return;
    pool->task (pool->ctx, i, worker);
  }
}

static void
worker_func (gpointer data, gpointer user_data)
{
  SrCpuPool *pool = user_data;
  run_items (pool, GPOINTER_TO_INT (data) - 1);
  g_mutex_lock (&pool->lock);
  if (--pool->workers_left == 0)
    g_cond_signal (&pool->done);
  g_mutex_unlock (&pool->lock);
}

SrCpuPool *
sr_cpu_pool_new (int n_workers, GError **error)
{
  SrCpuPool *pool = g_new0 (SrCpuPool, 1);
  pool->n_workers = MAX (1, n_workers);
  g_mutex_init (&pool->lock);
  g_cond_init (&pool->done);
  if (pool->n_workers > 1) {
    pool->threads = g_thread_pool_new (worker_func, pool, pool->n_workers - 1, TRUE, error);
    if (!pool->threads) {
      sr_cpu_pool_free (pool);
      return NULL;
    }
  }
  return pool;
}

void
sr_cpu_pool_free (SrCpuPool *pool)
{
  if (!pool)
    return;
  if (pool->threads)
    g_thread_pool_free (pool->threads, FALSE, TRUE);
  g_mutex_clear (&pool->lock);
  g_cond_clear (&pool->done);
  g_free (pool);
}

int
sr_cpu_pool_n_workers (const SrCpuPool *pool)
{
  return pool->n_workers;
}

void
sr_cpu_pool_run (SrCpuPool *pool, int n_items, SrCpuTask task, gpointer ctx)
{
  pool->task = task;
  pool->ctx = ctx;
  pool->n_items = n_items;
  g_atomic_int_set (&pool->next_item, 0);
  int helpers = pool->threads ? MIN (pool->n_workers, n_items) - 1 : 0;
  pool->workers_left = helpers;
  /* worker ids travel as pointers, offset by one so none is NULL */
  for (int i = 1; i <= helpers; i++)
    g_thread_pool_push (pool->threads, GINT_TO_POINTER (i + 1), NULL);
  run_items (pool, 0);
  g_mutex_lock (&pool->lock);
  while (pool->workers_left > 0)
    g_cond_wait (&pool->done, &pool->lock);
  g_mutex_unlock (&pool->lock);
}
