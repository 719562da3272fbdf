/* The CPU backend: a worker pool (the caller plus a GThreadPool) and the two network
 * paths, the plain net in tiles (sr-cpu-ref.c) and the ghost-exit net (sr-cpu-ghost.c). */
#include "../sr-backend.h"
#include "../sr-plane-private.h"
#include "sr-cpu.h"
#include "sr-cpu-ref.h"
#include "sr-cpu-lowp.h"

#define SR_DEFAULT_TILE 160 /* with the halo of 7: 1.19x the work of the tile itself, 1.49x at 64 */
/* the low-precision paths' buffers are 2-4x smaller: larger tiles, less halo (360p int8,
 * alternating runs: 86.7 fps at 160, 88.0 at 240) */
#define SR_LOWP_TILE 240

struct _SrCpu {
  const SrModel *model;
  char *name;
  int tile;
  int n_threads;
  GThreadPool *pool;      /* NULL when single-threaded */
  GMutex lock;
  GCond done;
  /* the parallel_for in flight */
  SrCpuTask task;
  gpointer ctx;
  int n_items;
  gint next_item;
  int workers_left;
  /* plain path: scratch per worker (fp32 or low precision); ghost path: its own state */
  float **scratch;
  float **fp32_scratch;   /* with lowp: the fp32 path's, made for the first wide frame */
  SrLowpNet *lowp;        /* the plain net in bf16, int16 or int8, when chosen */
  SrLowpRowFn lowp_row;
  SrCpuKernels k;
  SrCpuGhost *ghost;
  const char *precision;  /* what the network runs in: "fp32", "bf16", "int16", "int8" */
};

int
sr_cpu_n_workers (const SrCpu *cpu)
{
  return cpu->n_threads;
}

static void
run_items (SrCpu *cpu, int worker)
{
  for (;;) {
    int i = g_atomic_int_add (&cpu->next_item, 1);
    if (i >= cpu->n_items)
      return;
    cpu->task (cpu->ctx, i, worker);
  }
}

static void
worker_func (gpointer data, gpointer user_data)
{
  SrCpu *cpu = user_data;
  run_items (cpu, GPOINTER_TO_INT (data) - 1);
  g_mutex_lock (&cpu->lock);
  if (--cpu->workers_left == 0)
    g_cond_signal (&cpu->done);
  g_mutex_unlock (&cpu->lock);
}

void
sr_cpu_parallel_for (SrCpu *cpu, int n_items, SrCpuTask task, gpointer ctx)
{
  cpu->task = task;
  cpu->ctx = ctx;
  cpu->n_items = n_items;
  g_atomic_int_set (&cpu->next_item, 0);
  int helpers = cpu->pool ? MIN (cpu->n_threads, n_items) - 1 : 0;
  cpu->workers_left = helpers;
  for (int i = 1; i <= helpers; i++)
    g_thread_pool_push (cpu->pool, GINT_TO_POINTER (i + 1), NULL);
  run_items (cpu, 0);
  g_mutex_lock (&cpu->lock);
  while (cpu->workers_left > 0)
    g_cond_wait (&cpu->done, &cpu->lock);
  g_mutex_unlock (&cpu->lock);
}

static void
cpu_destroy (gpointer state)
{
  SrCpu *cpu = state;
  if (cpu->pool)
    g_thread_pool_free (cpu->pool, FALSE, TRUE);
  for (int i = 0; cpu->scratch && i < cpu->n_threads; i++)
    g_free (cpu->scratch[i]);
  g_free (cpu->scratch);
  for (int i = 0; cpu->fp32_scratch && i < cpu->n_threads; i++)
    g_free (cpu->fp32_scratch[i]);
  g_free (cpu->fp32_scratch);
  if (cpu->ghost)
    sr_cpu_ghost_free (cpu->ghost);
  sr_lowp_net_free (cpu->lowp);
  g_mutex_clear (&cpu->lock);
  g_cond_clear (&cpu->done);
  g_free (cpu->name);
  g_free (cpu);
}

/* The fastest of the precisions the model file allows that this CPU runs well: bf16 on AMX,
 * then int8 and int16 on VNNI (bf16 without AMX is no faster than fp32 here). $SR_CPU_PRECISION
 * (fp32, bf16, int16, int8) narrows the choice to one, fp32 being the reference path.
 * FALSE: fp32. */
static gboolean
choose_format (const SrModel *model, SrLowpFormat *format)
{
  guint allowed = model->precisions;
  int narrowed = sr_precision_from_name (g_getenv ("SR_CPU_PRECISION"));
  if (narrowed >= 0)
    allowed &= 1u << narrowed;
  if ((allowed & (1u << SR_PRECISION_BF16)) && sr_lowp_amx_supported ())
    *format = SR_LOWP_BF16;
  else if ((allowed & (1u << SR_PRECISION_INT8)) && sr_lowp_supported (SR_LOWP_INT8))
    *format = SR_LOWP_INT8;
  else if ((allowed & (1u << SR_PRECISION_INT16)) && sr_lowp_supported (SR_LOWP_INT16))
    *format = SR_LOWP_INT16;
  else if (narrowed == SR_PRECISION_BF16 && (allowed & (1u << SR_PRECISION_BF16)) &&
      sr_lowp_supported (SR_LOWP_BF16))
    *format = SR_LOWP_BF16;
  else
    return FALSE;
  return TRUE;
}

static gpointer
cpu_create (const SrModel *model, const SrEngineConfig *config, gboolean automatic,
    GError **error)
{
  SrCpu *cpu = g_new0 (SrCpu, 1);
  cpu->model = model;
  cpu->tile = config->tile_size > 0 ? config->tile_size : SR_DEFAULT_TILE;
  cpu->n_threads = config->n_threads > 0 ? config->n_threads : (int) g_get_num_processors ();
  g_mutex_init (&cpu->lock);
  g_cond_init (&cpu->done);
  SrLowpFormat format;
  gboolean lowp = choose_format (model, &format);
  if (model->type == SR_ARCH_GHOST_EXIT) {
    cpu->ghost = sr_cpu_ghost_new (model, cpu, lowp && format == SR_LOWP_BF16);
    cpu->precision = lowp && format == SR_LOWP_BF16 ? "bf16" : "fp32";
  } else {
    sr_cpu_kernels_init (&cpu->k, sr_cpu_detect_isa ());
    cpu->lowp = lowp ? sr_lowp_net_new (model, format) : NULL;
    cpu->precision = cpu->lowp ? sr_lowp_format_name (format) : "fp32";
    if (cpu->lowp) {
      cpu->lowp_row = sr_lowp_row (format);
      if (config->tile_size <= 0)
        cpu->tile = SR_LOWP_TILE;
    }
    g_debug ("sr-core: cpu kernels: %s%s%s", sr_isa_name (cpu->k.isa), cpu->lowp ? ", " : "",
        cpu->lowp ? sr_lowp_format_name (sr_lowp_net_format (cpu->lowp)) : "");
    cpu->scratch = g_new0 (float *, cpu->n_threads);
    gsize floats = cpu->lowp ? sr_lowp_scratch_bytes (cpu->lowp, cpu->tile) / sizeof (float) + 1
        : sr_cpu_ref_scratch_floats (model, cpu->tile);
    for (int i = 0; i < cpu->n_threads; i++) {
      cpu->scratch[i] = g_try_new (float, floats);
      if (!cpu->scratch[i]) {
        g_set_error (error, SR_ERROR, SR_ERROR_BACKEND, "cpu: cannot allocate %" G_GSIZE_FORMAT
            " bytes of tile scratch", floats * sizeof (float));
        cpu_destroy (cpu);
        return NULL;
      }
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

static const char *
cpu_device_name (gpointer state)
{
  SrCpu *cpu = state;
  if (!cpu->name)
    cpu->name = g_strdup_printf ("cpu: %d thread%s, %s kernels", cpu->n_threads,
        cpu->n_threads > 1 ? "s" : "", cpu->ghost ? sr_cpu_ghost_kernels_name (cpu->ghost) :
        !cpu->lowp ? sr_isa_name (sr_cpu_detect_isa ()) :
        sr_lowp_row_is_amx (cpu->lowp_row) ? "bf16 amx" :
        sr_lowp_format_name (sr_lowp_net_format (cpu->lowp)));
  return cpu->name;
}

static const char *
cpu_precision_name (gpointer state)
{
  SrCpu *cpu = state;
  return cpu->precision;
}

typedef struct {
  SrCpu *cpu;
  const SrPlane *src;
  SrPlane *dst;
  int tiles_x;
  gboolean fp32; /* the fp32 path, though lowp was chosen: samples of more than 8 bits */
} PlainFrame;

static void
plain_tile (gpointer ctx, int t, int worker)
{
  PlainFrame *f = ctx;
  int tile = f->cpu->tile;
  int x0 = (t % f->tiles_x) * tile, y0 = (t / f->tiles_x) * tile;
  int w = MIN (tile, f->src->width - x0), h = MIN (tile, f->src->height - y0);
  if (f->cpu->lowp && !f->fp32)
    sr_lowp_run_tile (f->cpu->lowp, f->src, f->dst, x0, y0, w, h,
        (guint8 *) f->cpu->scratch[worker], f->cpu->lowp_row);
  else
    sr_cpu_ref_run_tile (f->cpu->model, f->src, f->dst, x0, y0, w, h,
        f->fp32 ? f->cpu->fp32_scratch[worker] : f->cpu->scratch[worker],
        f->cpu->k.conv3x3_row);
}

/* The low-precision paths take 8-bit values as their input levels: wider samples (10-bit
 * video) run the fp32 path instead, so the network sees them whole. Its scratch is made the
 * first time. */
static gboolean
ensure_fp32_scratch (SrCpu *cpu, GError **error)
{
  if (cpu->fp32_scratch)
    return TRUE;
  gsize floats = sr_cpu_ref_scratch_floats (cpu->model, cpu->tile);
  float **scratch = g_new0 (float *, cpu->n_threads);
  for (int i = 0; i < cpu->n_threads; i++) {
    scratch[i] = g_try_new (float, floats);
    if (!scratch[i]) {
      g_set_error (error, SR_ERROR, SR_ERROR_BACKEND, "cpu: cannot allocate %" G_GSIZE_FORMAT
          " bytes of fp32 tile scratch", floats * sizeof (float));
      for (int j = 0; j < i; j++)
        g_free (scratch[j]);
      g_free (scratch);
      return FALSE;
    }
  }
  cpu->fp32_scratch = scratch;
  return TRUE;
}

static gboolean
cpu_upscale_luma (gpointer state, const SrPlane *src, SrPlane *dst, double exit_threshold,
    SrFrameStats *stats, GError **error)
{
  SrCpu *cpu = state;
  if (cpu->ghost)
    return sr_cpu_ghost_upscale (cpu->ghost, src, dst, exit_threshold, stats, error);
  PlainFrame f = { cpu, src, dst, (src->width + cpu->tile - 1) / cpu->tile,
    cpu->lowp && sr_plane_is_wide (src) };
  if (f.fp32 && !ensure_fp32_scratch (cpu, error))
    return FALSE;
  int n_tiles = f.tiles_x * ((src->height + cpu->tile - 1) / cpu->tile);
  sr_cpu_parallel_for (cpu, n_tiles, plain_tile, &f);
  stats->n_tiles = n_tiles;
  return TRUE;
}

typedef struct {
  void (*fn) (gpointer ctx, int y0, int y1);
  gpointer ctx;
  int n_rows, rows;
} RowsJob;

static void
rows_band (gpointer ctx, int band, int worker)
{
  RowsJob *job = ctx;
  int y0 = band * job->rows;
  job->fn (job->ctx, y0, MIN (y0 + job->rows, job->n_rows));
}

/* Row bands over the workers, at least 16 rows each: chroma and the resampler. */
static void
cpu_run_rows (gpointer state, int n_rows, void (*fn) (gpointer ctx, int y0, int y1),
    gpointer ctx)
{
  SrCpu *cpu = state;
  RowsJob job = { fn, ctx, n_rows, MAX (16, (n_rows + cpu->n_threads - 1) / cpu->n_threads) };
  sr_cpu_parallel_for (cpu, (n_rows + job.rows - 1) / job.rows, rows_band, &job);
}

typedef struct {
  const SrPlane *src;
  SrPlane *dst;
} ChromaFrame;

static void
chroma_rows (gpointer ctx, int y0, int y1)
{
  ChromaFrame *f = ctx;
  gint32 *tmp = g_new (gint32, sr_bicubic_x2_scratch (f->dst, y1 - y0));
  sr_bicubic_x2_rows (f->src, f->dst, y0, y1, tmp);
  g_free (tmp);
}

/* Chroma in row bands over the workers (it was 10-15% of the element's frame time on one). */
static gboolean
cpu_bicubic_x2 (gpointer state, const SrPlane *src, SrPlane *dst, GError **error)
{
  ChromaFrame f = { src, dst };
  cpu_run_rows (state, dst->height, chroma_rows, &f);
  return TRUE;
}

const SrBackendOps sr_cpu_backend = {
  .kind = SR_BACKEND_CPU,
  .create = cpu_create,
  .upscale_luma = cpu_upscale_luma,
  .destroy = cpu_destroy,
  .device_name = cpu_device_name,
  .precision_name = cpu_precision_name,
  .run_rows = cpu_run_rows,
  .bicubic_x2 = cpu_bicubic_x2,
};
