/* The CPU backend: the kernels (sr-cpu-dsp.c), the precision, a worker pool (sr-cpu-pool.c)
 * and the network executor (sr-cpu-net.c), which runs every net. */
#include "../sr-backend.h"
#include "../sr-plane-private.h"
#include "sr-cpu-net.h"

typedef struct {
  const SrModel *model;
  char *name, *kernels_name;
  int n_threads;
  SrCpuPool *pool;
  SrCpuConfig config;
  SrCpuDsp dsp;
  SrPrecision precision;  /* the precision the net runs in */
  SrCpuNet *net;
  SrCpuNet *fp32_net;     /* a plain net in low precision: fp32 for the first wide frame */
} SrCpu;

static void
cpu_destroy (gpointer state)
{
  SrCpu *cpu = state;
  if (cpu->net)
    sr_cpu_net_free (cpu->net);
  if (cpu->fp32_net)
    sr_cpu_net_free (cpu->fp32_net);
  sr_cpu_pool_free (cpu->pool);
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
  if (!sr_cpu_net_takes (model, SR_PRECISION_FP32)) {
    g_set_error (error, SR_ERROR, SR_ERROR_BACKEND, "cpu: the net has a layer other than an "
        "odd k x k conv (k <= 7) of stride 1, or a scale other than 2");
    cpu_destroy (cpu);
    return NULL;
  }
  if (!sr_cpu_net_takes (model, cpu->precision)) {
    g_debug ("sr-core: the net cannot run in %s: fp32", sr_precision_name (cpu->precision));
    cpu->precision = SR_PRECISION_FP32;
  }
  cpu->net = sr_cpu_net_new (model, cpu->pool, &cpu->dsp, cpu->precision);
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

static gboolean
cpu_upscale_luma (gpointer state, const SrPlane *src, SrPlane *dst, double exit_threshold,
    SrFrameStats *stats, GError **error)
{
  SrCpu *cpu = state;
  SrCpuNet *net = cpu->net;
  /* the plain net's low precisions take 8-bit values as their input levels: wider samples
   * (10-bit video) run in fp32, so the network sees them whole */
  if (sr_plane_is_wide (src) && !sr_cpu_net_takes_wide (net)) {
    if (!cpu->fp32_net)
      cpu->fp32_net = sr_cpu_net_new (cpu->model, cpu->pool, &cpu->dsp, SR_PRECISION_FP32);
    net = cpu->fp32_net;
  }
  return sr_cpu_net_upscale (net, src, dst, exit_threshold, stats, error);
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

static guint64
cpu_frame_bytes (gpointer state, int width, int height)
{
  SrCpu *cpu = state;
  return sr_cpu_net_frame_bytes (cpu->net, width, height);
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
