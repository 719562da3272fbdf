/* The CPU backend: the kernels (sr-cpu-dsp.c), the precision, a worker pool (sr-cpu-pool.c)
 * and the two network paths, the plain net in tiles (sr-cpu-ref.c, sr-cpu-lowp.c) and the
 * ghost-exit net (sr-cpu-ghost.c). */
#include "../sr-backend.h"
#include "../sr-plane-private.h"
#include "sr-cpu-ghost.h"
#include "sr-cpu-ref.h"

#define SR_DEFAULT_TILE 160 /* with the halo of 7: 1.19x the work of the tile itself, 1.49x at 64 */
/* the low-precision paths' buffers are 2-4x smaller: larger tiles, less halo (360p int8,
 * alternating runs: 86.7 fps at 160, 88.0 at 240) */
#define SR_LOWP_TILE 240

typedef struct {
  const SrModel *model;
  char *name, *kernels_name;
  int tile;
  int n_threads;
  SrCpuPool *pool;
  SrCpuConfig config;
  SrCpuDsp dsp;
  SrPrecision precision;  /* the precision the net runs in */
  /* plain path: scratch per worker (fp32 or low precision); ghost path: its own state */
  float **scratch;
  float **fp32_scratch;   /* with lowp: the fp32 path's, made for the first wide frame */
  SrLowpNet *lowp;        /* the plain net in bf16, int16 or int8, when chosen */
  SrCpuGhost *ghost;
} SrCpu;

static void
cpu_destroy (gpointer state)
{
  SrCpu *cpu = state;
  for (int i = 0; cpu->scratch && i < cpu->n_threads; i++)
    g_free (cpu->scratch[i]);
  g_free (cpu->scratch);
  for (int i = 0; cpu->fp32_scratch && i < cpu->n_threads; i++)
    g_free (cpu->fp32_scratch[i]);
  g_free (cpu->fp32_scratch);
  if (cpu->ghost)
    sr_cpu_ghost_free (cpu->ghost);
  sr_cpu_pool_free (cpu->pool);
  sr_lowp_net_free (cpu->lowp);
  g_free (cpu->name);
  g_free (cpu->kernels_name);
  g_free (cpu);
}

/* The fastest of the precisions the model file allows that the kernel tables run well: bf16
 * on AMX, then int8 and int16 on VNNI or AVX2 (bf16 without AMX is no faster than fp32).
 * config->precision (from $SR_CPU_PRECISION) narrows the choice to one, fp32 being the
 * reference path. */
static SrPrecision
choose_precision (const SrModel *model, const SrCpuConfig *config, const SrCpuDsp *dsp)
{
  guint allowed = model->precisions;
  if (config->precision >= 0)
    allowed &= 1u << config->precision;
  const SrKernelIsa *isa = dsp->conv.isa;
  if ((allowed & (1u << SR_PRECISION_BF16)) && isa[SR_PRECISION_BF16] == SR_KERNEL_AMX)
    return SR_PRECISION_BF16;
  if ((allowed & (1u << SR_PRECISION_INT8)) && isa[SR_PRECISION_INT8] != SR_KERNEL_C)
    return SR_PRECISION_INT8;
  if ((allowed & (1u << SR_PRECISION_INT16)) && isa[SR_PRECISION_INT16] != SR_KERNEL_C)
    return SR_PRECISION_INT16;
  if (config->precision == SR_PRECISION_BF16 && (allowed & (1u << SR_PRECISION_BF16)) &&
      isa[SR_PRECISION_BF16] != SR_KERNEL_C)
    return SR_PRECISION_BF16;
  return SR_PRECISION_FP32;
}

/* "bf16 amx", "int16 avx2", "avx512" (fp32): what the net runs in and on */
static const char *
kernels_name (SrCpu *cpu)
{
  if (!cpu->kernels_name) {
    SrKernelIsa isa = cpu->dsp.conv.isa[cpu->precision];
    cpu->kernels_name = cpu->precision == SR_PRECISION_FP32 ?
        g_strdup (sr_kernel_isa_name (isa)) : isa == SR_KERNEL_AMX ? g_strdup ("bf16 amx") :
        g_strdup_printf ("%s %s", sr_precision_name (cpu->precision), sr_kernel_isa_name (isa));
  }
  return cpu->kernels_name;
}

static gpointer
cpu_create (const SrModel *model, const SrEngineConfig *config, gboolean automatic,
    GError **error)
{
  SrCpu *cpu = g_new0 (SrCpu, 1);
  cpu->model = model;
  cpu->tile = config->tile_size > 0 ? config->tile_size : SR_DEFAULT_TILE;
  cpu->n_threads = config->n_threads > 0 ? config->n_threads : (int) g_get_num_processors ();
  /* the calling thread is worker 0, the pool's threads the others */
  cpu->pool = sr_cpu_pool_new (cpu->n_threads, error);
  if (!cpu->pool) {
    cpu_destroy (cpu);
    return NULL;
  }
  sr_cpu_config_from_env (&cpu->config);
  /* AMX only where bf16 may run: the kernel is asked for its tile state when it may */
  guint flags = cpu->config.flags;
  if (!(model->precisions & (1u << SR_PRECISION_BF16)) ||
      (cpu->config.precision >= 0 && cpu->config.precision != SR_PRECISION_BF16))
    flags &= ~SR_CPU_FLAG_AMX;
  sr_cpu_dsp_init (&cpu->dsp, flags);
  cpu->precision = choose_precision (model, &cpu->config, &cpu->dsp);
  if (model->type == SR_ARCH_GHOST_EXIT) {
    if (!sr_cpu_ghost_takes (model, cpu->precision)) {
      g_debug ("sr-core: the ghost net's %s path takes 16 channels, not %d: fp32",
          sr_precision_name (cpu->precision), model->ghost.channels);
      cpu->precision = SR_PRECISION_FP32;
    }
    cpu->ghost = sr_cpu_ghost_new (model, cpu->pool, &cpu->dsp, cpu->precision);
  } else {
    if (cpu->precision != SR_PRECISION_FP32) {
      cpu->lowp = sr_lowp_net_new (model, cpu->precision);
      if (!cpu->lowp)
        cpu->precision = SR_PRECISION_FP32;
      else if (config->tile_size <= 0)
        cpu->tile = SR_LOWP_TILE;
    }
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
  g_debug ("sr-core: cpu kernels: %s", kernels_name (cpu));
  return cpu;
}

static const char *
cpu_device_name (gpointer state)
{
  SrCpu *cpu = state;
  if (!cpu->name)
    cpu->name = g_strdup_printf ("cpu: %d thread%s, %s kernels", cpu->n_threads,
        cpu->n_threads > 1 ? "s" : "", kernels_name (cpu));
  return cpu->name;
}

static const char *
cpu_precision_name (gpointer state)
{
  SrCpu *cpu = state;
  return sr_precision_name (cpu->precision);
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
        (guint8 *) f->cpu->scratch[worker], f->cpu->dsp.conv.lowp[f->cpu->precision],
        f->cpu->dsp.tail.row);
  else
    sr_cpu_ref_run_tile (f->cpu->model, f->src, f->dst, x0, y0, w, h,
        f->fp32 ? f->cpu->fp32_scratch[worker] : f->cpu->scratch[worker],
        f->cpu->dsp.conv.fp32, f->cpu->dsp.tail.row);
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
  sr_cpu_pool_run (cpu->pool, n_tiles, plain_tile, &f);
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
  sr_cpu_pool_run (cpu->pool, (n_rows + job.rows - 1) / job.rows, rows_band, &job);
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

/* The plain net runs in tiles whose scratch does not grow with the frame. */
static guint64
cpu_frame_bytes (gpointer state, int width, int height)
{
  SrCpu *cpu = state;
  return cpu->ghost ? sr_cpu_ghost_frame_bytes (cpu->ghost, width, height) : 0;
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
  .frame_bytes = cpu_frame_bytes,
};
