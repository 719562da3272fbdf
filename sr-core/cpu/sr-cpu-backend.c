/* The CPU backend: cuts the frame into tiles and spreads them over a GThreadPool.
 * Each worker owns its scratch, so tiles run independently. */
#include "../sr-backend.h"
#include "sr-cpu-ref.h"

#define SR_DEFAULT_TILE 64

typedef struct {
  const SrModel *model;
  int tile;
  int n_threads;
  float **scratch;        /* one per worker */
  GThreadPool *pool;      /* NULL when single-threaded */
  GMutex lock;
  GCond done;
  /* the frame in flight */
  const SrPlane *src;
  SrPlane *dst;
  int tiles_x, n_tiles;
  gint next_tile;
  int workers_left;
} SrCpu;

static void
run_tiles (SrCpu *cpu, int worker)
{
  for (;;) {
    int t = g_atomic_int_add (&cpu->next_tile, 1);
    if (t >= cpu->n_tiles)
      return;
    int x0 = (t % cpu->tiles_x) * cpu->tile, y0 = (t / cpu->tiles_x) * cpu->tile;
    sr_cpu_ref_run_tile (cpu->model, cpu->src, cpu->dst, x0, y0,
        MIN (cpu->tile, cpu->src->width - x0), MIN (cpu->tile, cpu->src->height - y0),
        cpu->scratch[worker]);
  }
}

static void
worker_func (gpointer data, gpointer user_data)
{
  SrCpu *cpu = user_data;
  run_tiles (cpu, GPOINTER_TO_INT (data) - 1);
  g_mutex_lock (&cpu->lock);
  if (--cpu->workers_left == 0)
    g_cond_signal (&cpu->done);
  g_mutex_unlock (&cpu->lock);
}

static void
cpu_destroy (gpointer state)
{
  SrCpu *cpu = state;
  if (cpu->pool)
    g_thread_pool_free (cpu->pool, FALSE, TRUE);
  for (int i = 0; i < cpu->n_threads; i++)
    g_free (cpu->scratch[i]);
  g_free (cpu->scratch);
  g_mutex_clear (&cpu->lock);
  g_cond_clear (&cpu->done);
  g_free (cpu);
}

static gpointer
cpu_create (const SrModel *model, const SrEngineConfig *config, GError **error)
{
  SrCpu *cpu = g_new0 (SrCpu, 1);
  cpu->model = model;
  cpu->tile = config->tile_size > 0 ? config->tile_size : SR_DEFAULT_TILE;
  cpu->n_threads = config->n_threads > 0 ? config->n_threads : (int) g_get_num_processors ();
  g_mutex_init (&cpu->lock);
  g_cond_init (&cpu->done);
  cpu->scratch = g_new0 (float *, cpu->n_threads);
  gsize floats = sr_cpu_ref_scratch_floats (model, cpu->tile);
  for (int i = 0; i < cpu->n_threads; i++) {
    cpu->scratch[i] = g_try_new (float, floats);
    if (!cpu->scratch[i]) {
      g_set_error (error, SR_ERROR, SR_ERROR_BACKEND, "cpu: cannot allocate %" G_GSIZE_FORMAT
          " bytes of tile scratch", floats * sizeof (float));
      cpu_destroy (cpu);
      return NULL;
    }
  }
  if (cpu->n_threads > 1) {
    /* the calling thread is worker 0, the pool runs the others */
    cpu->pool = g_thread_pool_new (worker_func, cpu, cpu->n_threads - 1, TRUE, error);
    if (!cpu->pool) {
      cpu_destroy (cpu);
      return NULL;
    }
  }
  return cpu;
}

static gboolean
cpu_upscale_luma (gpointer state, const SrPlane *src, SrPlane *dst, GError **error)
{
  SrCpu *cpu = state;
  cpu->src = src;
  cpu->dst = dst;
  cpu->tiles_x = (src->width + cpu->tile - 1) / cpu->tile;
  cpu->n_tiles = cpu->tiles_x * ((src->height + cpu->tile - 1) / cpu->tile);
  g_atomic_int_set (&cpu->next_tile, 0);
  int helpers = cpu->pool ? MIN (cpu->n_threads, cpu->n_tiles) - 1 : 0;
  cpu->workers_left = helpers;
  for (int i = 1; i <= helpers; i++)
    g_thread_pool_push (cpu->pool, GINT_TO_POINTER (i + 1), NULL);
  run_tiles (cpu, 0);
  g_mutex_lock (&cpu->lock);
  while (cpu->workers_left > 0)
    g_cond_wait (&cpu->done, &cpu->lock);
  g_mutex_unlock (&cpu->lock);
  return TRUE;
}

const SrBackendOps sr_cpu_backend = {
  .kind = SR_BACKEND_CPU,
  .create = cpu_create,
  .upscale_luma = cpu_upscale_luma,
  .destroy = cpu_destroy,
};
