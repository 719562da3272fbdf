/* The OpenCL backend: the plan of docs/gpu-backends.md on one in-order queue. Weights are
 * uploaded once; buffers are made per frame size and reused; per frame the LR luma goes up
 * (bytes, or 16-bit words for 10-bit video), the HR luma (or its resampled picture) and the
 * tile depths come down. Planes are interpolated on the device too: bicubic x2 and
 * resampling (with the tables of sr-resample.c). */
#include "../sr-backend.h"
#include "sr-opencl.h"
#include "../sr-plane-private.h"

#include <string.h>

#define OC_GROUP 16 /* as in opencl/sr-kernels.cl */

typedef struct {
  cl_int w, h, tile, tiles_x, n_tiles;
} ClFrame; /* the kernels' Frame */

typedef struct {
  const SrModel *model;
  SrClDevice *dev;
  char *name;
  cl_command_queue queue;
  cl_kernel to_float, conv, conv_input, ghost_add, tail, predict, plan, bicubic, resample;
  cl_mem params;               /* every layer's weights and biases */
  int *weight_off, *bias_off;  /* per layer, in floats: plain layers, or head, blocks, tail;
                                * then a plain net's exit tails but the last */
  int *exit_tail;              /* with exits: exit d's tail's index in those at [d], 1..B */
  int pred_off[6];             /* predictor conv1 w/b, conv2 w/b, fc w/b */
  cl_mem shifts;               /* ghost: [blocks][C/2][2] ints */
  cl_ulong max_alloc, global_mem;
  size_t max_group;
  /* per frame size */
  ClFrame frame;
  int sample;                  /* bytes per luma sample: 1, or 2 (16-bit words) */
  cl_int s_max, s_shift;       /* the luma's samples, for to_float and the tail */
  cl_mem lr, hr, input, act[2], depth, lists, counts;  /* lr, hr: the luma's samples */
  guint8 *host_src, *host_dst;
  int *host_depth;
  guint8 *tile_depths;
  /* plane kernels (bicubic x2, resampling), grown as needed */
  cl_mem plane_src, plane_dst, plane_tables;
  gsize plane_src_size, plane_dst_size, plane_tables_size;
  guint8 *plane_host;
} SrCl;

static const char *
cl_device_name (gpointer state)
{
  SrCl *cl = state;
  if (!cl->name)
    cl->name = g_strdup_printf ("%s%s", cl->dev->name, cl->dev->fp16 ? ", fp16 feature maps" : "");
  return cl->name;
}

static void
free_frame (SrCl *cl)
{
  cl_mem *mems[] = { &cl->lr, &cl->hr, &cl->input, &cl->act[0], &cl->act[1], &cl->depth,
    &cl->lists, &cl->counts };
  for (guint i = 0; i < G_N_ELEMENTS (mems); i++)
    if (*mems[i]) {
      clReleaseMemObject (*mems[i]);
      *mems[i] = NULL;
    }
  g_clear_pointer (&cl->host_src, g_free);
  g_clear_pointer (&cl->host_dst, g_free);
  g_clear_pointer (&cl->host_depth, g_free);
  g_clear_pointer (&cl->tile_depths, g_free);
  memset (&cl->frame, 0, sizeof cl->frame);
  cl->sample = 0;
}

static void
cl_destroy (gpointer state)
{
  SrCl *cl = state;
  if (cl->queue)
    clFinish (cl->queue);
  free_frame (cl);
  cl_kernel *kernels[] = { &cl->to_float, &cl->conv, &cl->conv_input, &cl->ghost_add, &cl->tail,
    &cl->predict, &cl->plan, &cl->bicubic, &cl->resample };
  for (guint i = 0; i < G_N_ELEMENTS (kernels); i++)
    if (*kernels[i])
      clReleaseKernel (*kernels[i]);
  if (cl->params)
    clReleaseMemObject (cl->params);
  cl_mem *planes[] = { &cl->plane_src, &cl->plane_dst, &cl->plane_tables };
  for (guint i = 0; i < G_N_ELEMENTS (planes); i++)
    if (*planes[i])
      clReleaseMemObject (*planes[i]);
  g_free (cl->plane_host);
  if (cl->shifts)
    clReleaseMemObject (cl->shifts);
  if (cl->queue)
    clReleaseCommandQueue (cl->queue);
  g_free (cl->name);
  g_free (cl->weight_off);
  g_free (cl->bias_off);
  g_free (cl->exit_tail);
  g_free (cl);
}

static gboolean
is_ghost (const SrCl *cl)
{
  return cl->model->type == SR_ARCH_GHOST_EXIT;
}

/* Whether the net has adaptive exits (the ghost net always; a plain net when its file does). */
static gboolean
has_exits (const SrCl *cl)
{
  return cl->model->exits.n_blocks > 0;
}

/* The side of the tiles conv dispatches walk: the exit tile, or the plain net's. */
static int
tile_side (const SrCl *cl)
{
  return has_exits (cl) ? cl->model->exits.tile : SR_GPU_PLAIN_TILE;
}

/* Lists: 0 = all tiles; with exits: 1..B = active[j], B+1..2B = exits[j]. */
static int
n_lists (const SrCl *cl)
{
  return 2 * cl->model->exits.n_blocks + 1;
}

static void
append_layer (GArray *params, const SrLayer *l, int *weight_off, int *bias_off)
{
  *weight_off = params->len;
  g_array_append_vals (params, l->weight, (guint) l->out_ch * l->in_ch * MAX (l->kernel, 1) *
      MAX (l->kernel, 1));
  *bias_off = params->len;
  g_array_append_vals (params, l->bias, l->out_ch);
}

/* The network's parameters in one buffer, with each layer's offsets. */
static gboolean
upload_params (SrCl *cl, GError **error)
{
  const SrModel *m = cl->model;
  GArray *params = g_array_new (FALSE, FALSE, sizeof (float));
  const int B = m->exits.n_blocks;
  /* the last layer (the plain net's, or the ghost net's shared tail) at n - 1, then the
   * exit tails that are not it */
  const SrLayer *last;
  int n;
  if (is_ghost (cl)) {
    const SrGhostExit *g = &m->ghost;
    n = g->n_blocks + 2;
    last = &g->tail;
    cl->weight_off = g_new (int, n);
    cl->bias_off = g_new (int, n);
    append_layer (params, &g->head, &cl->weight_off[0], &cl->bias_off[0]);
    for (int j = 0; j < g->n_blocks; j++)
      append_layer (params, &g->blocks[j], &cl->weight_off[j + 1], &cl->bias_off[j + 1]);
    append_layer (params, &g->tail, &cl->weight_off[n - 1], &cl->bias_off[n - 1]);
  } else {
    n = m->n_layers;
    last = &m->layers[n - 1];
    cl->weight_off = g_new (int, n + MAX (B - 1, 0));
    cl->bias_off = g_new (int, n + MAX (B - 1, 0));
    for (int i = 0; i < n; i++)
      append_layer (params, &m->layers[i], &cl->weight_off[i], &cl->bias_off[i]);
  }
  if (B) {
    cl->exit_tail = g_new (int, B + 1);
    for (int d = 1, next = n; d <= B; d++) {
      const SrLayer *t = sr_exit_tail (m, d);
      const int i = cl->exit_tail[d] = t == last ? n - 1 : next++;
      if (t != last)
        append_layer (params, t, &cl->weight_off[i], &cl->bias_off[i]);
    }
    for (int i = 0; i < 3; i++)
      append_layer (params, &m->exits.pred[i], &cl->pred_off[2 * i], &cl->pred_off[2 * i + 1]);
  }
  cl_int status;
  cl->params = clCreateBuffer (cl->dev->context, CL_MEM_READ_ONLY | CL_MEM_COPY_HOST_PTR,
      sizeof (float) * params->len, params->data, &status);
  g_array_free (params, TRUE);
  if (!sr_cl_check (status, "uploading the weights", error))
    return FALSE;
  if (is_ghost (cl)) {
    const SrGhostExit *g = &m->ghost;
    gsize n = (gsize) g->n_blocks * (g->channels / 2) * 2;
    cl_int *shifts = g_new (cl_int, n);
    for (gsize i = 0; i < n; i++)
      shifts[i] = ((const gint8 *) g->shifts)[i];
    cl->shifts = clCreateBuffer (cl->dev->context, CL_MEM_READ_ONLY | CL_MEM_COPY_HOST_PTR,
        sizeof (cl_int) * n, shifts, &status);
    g_free (shifts);
    if (!sr_cl_check (status, "uploading the shifts", error))
      return FALSE;
  }
  return TRUE;
}

/* What the kernels can take: channel groups, the tail's scale^2 and the predictor's width
 * fit their fixed arrays. */
static gboolean
check_model (const SrModel *m, GError **error)
{
  int outputs = m->scale * m->scale, width = 0;
  if (m->exits.n_blocks)
    width = m->exits.pred[0].out_ch;
  if (outputs > OC_GROUP || width > 64) {
    g_set_error (error, SR_ERROR, SR_ERROR_UNSUPPORTED, "opencl: scale %d or predictor width "
        "%d is beyond what the kernels take (4, 64)", m->scale, width);
    return FALSE;
  }
  return TRUE;
}

static gpointer
cl_create (const SrModel *model, const SrEngineConfig *config, gboolean automatic,
    GError **error)
{
  if (!check_model (model, error))
    return NULL;
  SrCl *cl = g_new0 (SrCl, 1);
  cl->model = model;
  /* fp16 feature maps on request (SR_OPENCL_PRECISION=fp16) until measured on a GPU; a plain
   * net of one layer has no feature maps */
  gboolean fp16 = g_strcmp0 (g_getenv ("SR_OPENCL_PRECISION"), "fp16") == 0 &&
      !(model->type == SR_ARCH_PLAIN && model->n_layers < 2);
  cl->dev = sr_cl_device_get (config->device, automatic, fp16, error);
  if (!cl->dev) {
    cl_destroy (cl);
    return NULL;
  }
  cl_int status;
  /* profiling gives the device time of each frame (stats.device_seconds) */
  cl->queue = clCreateCommandQueue (cl->dev->context, cl->dev->device,
      CL_QUEUE_PROFILING_ENABLE, &status);
  if (!sr_cl_check (status, "clCreateCommandQueue", error))
    goto fail;
  struct {
    cl_kernel *kernel;
    const char *name;
  } kernels[] = { { &cl->to_float, "to_float" }, { &cl->conv, "conv" },
    { &cl->conv_input, "conv_input" },
    { &cl->ghost_add, "ghost_add" }, { &cl->tail, "tail" }, { &cl->predict, "predict" },
    { &cl->plan, "plan" }, { &cl->bicubic, "bicubic_x2" }, { &cl->resample, "resample" } };
  for (guint i = 0; i < G_N_ELEMENTS (kernels); i++) {
    *kernels[i].kernel = clCreateKernel (cl->dev->program, kernels[i].name, &status);
    if (!sr_cl_check (status, kernels[i].name, error))
      goto fail;
  }
  clGetDeviceInfo (cl->dev->device, CL_DEVICE_MAX_MEM_ALLOC_SIZE, sizeof cl->max_alloc,
      &cl->max_alloc, NULL);
  clGetDeviceInfo (cl->dev->device, CL_DEVICE_GLOBAL_MEM_SIZE, sizeof cl->global_mem,
      &cl->global_mem, NULL);
  clGetDeviceInfo (cl->dev->device, CL_DEVICE_MAX_WORK_GROUP_SIZE, sizeof cl->max_group,
      &cl->max_group, NULL);
  if (cl->max_group < 64) {
    g_set_error (error, SR_ERROR, SR_ERROR_BACKEND, "opencl: %s takes work-groups of %zu items, "
        "the kernels need 64", cl->dev->name, cl->max_group);
    goto fail;
  }
  if (!upload_params (cl, error))
    goto fail;
  return cl;

fail:
  cl_destroy (cl);
  return NULL;
}

static int
feature_channels (const SrCl *cl)
{
  if (is_ghost (cl))
    return cl->model->ghost.channels;
  return cl->model->max_channels;
}

static cl_mem
make_buffer (SrCl *cl, cl_mem_flags flags, gsize size, GError **error)
{
  cl_int status;
  cl_mem mem = clCreateBuffer (cl->dev->context, flags, MAX (size, 4), NULL, &status);
  if (!sr_cl_check (status, "allocating a buffer", error))
    return NULL;
  return mem;
}

/* The device buffers of a w x h frame; act_bytes gets the two feature maps' sizes: plain
 * ping-pong of max_channels, ghost feat (C) and intr (C/2). */
static gsize
device_bytes (const SrCl *cl, int w, int h, gsize act_bytes[2])
{
  const int C = feature_channels (cl), s = cl->model->scale;
  const gsize plane = (gsize) w * h, feature = cl->dev->fp16 ? 2 : 4;
  act_bytes[0] = feature * plane * C;
  act_bytes[1] = feature * plane * (is_ghost (cl) ? C / 2 : C);
  return act_bytes[0] + act_bytes[1] + plane * (4 + 1 + s * s);
}

/* Device buffers plus the host copies of the frame (host_src, host_dst). */
static guint64
cl_frame_bytes (gpointer state, int w, int h)
{
  gsize act_bytes[2];
  const int s = ((SrCl *) state)->model->scale;
  return device_bytes (state, w, h, act_bytes) + (guint64) w * h * (1 + s * s);
}

/* Buffers for a w x h frame, after checking they fit the device (before touching it: a
 * frame too large fails cleanly and the engine stays usable). */
static gboolean
ensure_frame (SrCl *cl, int w, int h, int sample, GError **error)
{
  if (cl->frame.w == w && cl->frame.h == h && cl->sample == sample)
    return TRUE;
  free_frame (cl);
  const int T = tile_side (cl), C = feature_channels (cl), s = cl->model->scale;
  const gsize plane = (gsize) w * h;
  gsize act_bytes[2];
  gsize total = device_bytes (cl, w, h, act_bytes);
  if (plane * C >= G_MAXINT32 || plane * s * s >= G_MAXINT32 || act_bytes[0] > cl->max_alloc ||
      total > cl->global_mem) {
    g_set_error (error, SR_ERROR, SR_ERROR_BACKEND, "opencl: a %dx%d frame needs %" G_GSIZE_FORMAT
        " MiB of feature maps (one buffer of %" G_GSIZE_FORMAT " MiB), more than %s allows "
        "(%" G_GUINT64_FORMAT " MiB, buffers up to %" G_GUINT64_FORMAT " MiB)", w, h,
        total >> 20, act_bytes[0] >> 20, cl->dev->name, (guint64) cl->global_mem >> 20,
        (guint64) cl->max_alloc >> 20);
    return FALSE;
  }
  ClFrame f = { w, h, T, (w + T - 1) / T, 0 };
  f.n_tiles = f.tiles_x * ((h + T - 1) / T);
  const int L = n_lists (cl);
  if (!(cl->lr = make_buffer (cl, CL_MEM_READ_ONLY, plane * sample, error)) ||
      !(cl->hr = make_buffer (cl, CL_MEM_WRITE_ONLY, plane * s * s * sample, error)) ||
      !(cl->input = make_buffer (cl, CL_MEM_READ_WRITE, sizeof (float) * plane, error)) ||
      !(cl->act[0] = make_buffer (cl, CL_MEM_READ_WRITE, act_bytes[0], error)) ||
      !(cl->act[1] = make_buffer (cl, CL_MEM_READ_WRITE, act_bytes[1], error)) ||
      !(cl->depth = make_buffer (cl, CL_MEM_READ_WRITE, sizeof (cl_int) * f.n_tiles, error)) ||
      !(cl->lists = make_buffer (cl, CL_MEM_READ_WRITE, sizeof (cl_int) * f.n_tiles * L, error)) ||
      !(cl->counts = make_buffer (cl, CL_MEM_READ_WRITE, sizeof (cl_int) * L, error)))
    goto fail;
  /* list 0, all tiles, never changes */
  cl_int *all = g_new (cl_int, f.n_tiles), n_all = f.n_tiles;
  for (int t = 0; t < f.n_tiles; t++)
    all[t] = t;
  cl_int status = clEnqueueWriteBuffer (cl->queue, cl->lists, CL_TRUE, 0,
      sizeof (cl_int) * f.n_tiles, all, 0, NULL, NULL);
  g_free (all);
  if (!sr_cl_check (status, "writing the tile list", error) ||
      !sr_cl_check (clEnqueueWriteBuffer (cl->queue, cl->counts, CL_TRUE, 0, sizeof n_all,
              &n_all, 0, NULL, NULL), "writing the tile count", error))
    goto fail;
  cl->host_src = g_malloc (plane * sample);
  cl->host_dst = g_malloc (plane * s * s * sample);
  cl->sample = sample;
  cl->host_depth = g_new (int, f.n_tiles);
  cl->tile_depths = g_new (guint8, f.n_tiles);
  cl->frame = f;
  return TRUE;

fail:
  free_frame (cl);
  return FALSE;
}

/* clSetKernelArg for a list of (size, pointer) pairs ended by 0, from argument `first`. */
static cl_int
set_args_from (cl_kernel kernel, cl_uint first, ...)
{
  va_list ap;
  va_start (ap, first);
  cl_int status = CL_SUCCESS;
  size_t size;
  for (cl_uint i = first; status == CL_SUCCESS && (size = va_arg (ap, size_t)); i++)
    status = clSetKernelArg (kernel, i, size, va_arg (ap, const void *));
  va_end (ap);
  return status;
}

#define set_args(kernel, ...) set_args_from ((kernel), 0, __VA_ARGS__)

#define ARG(v) sizeof (v), (const void *) &(v)

/* Work-items over the tiles of a list: 8x8 groups, z = entry x channel group. */
static cl_int
run_tiles (SrCl *cl, cl_kernel kernel, int groups)
{
  size_t side = (cl->frame.tile + 7) / 8 * 8;
  size_t global[3] = { side, side, (size_t) cl->frame.n_tiles * groups };
  size_t local[3] = { 8, 8, 1 };
  return clEnqueueNDRangeKernel (cl->queue, kernel, 3, NULL, global, local, 0, NULL, NULL);
}

static cl_int
conv (SrCl *cl, cl_int list, cl_mem in, const SrLayer *l, cl_mem out, int layer)
{
  cl_kernel kernel = in == cl->input ? cl->conv_input : cl->conv;
  cl_int in_ch = l->in_ch, out_ch = l->out_ch, k = l->kernel, relu = l->act == SR_ACT_RELU;
  cl_int w = cl->weight_off[layer], b = cl->bias_off[layer];
  cl_int status = set_args (kernel, ARG (cl->frame), ARG (cl->lists), ARG (cl->counts),
      ARG (list), ARG (in), ARG (in_ch), ARG (out), ARG (out_ch), ARG (cl->params), ARG (w),
      ARG (b), ARG (k), ARG (relu), (size_t) 0);
  return status ? status : run_tiles (cl, kernel, (out_ch + OC_GROUP - 1) / OC_GROUP);
}

static cl_int
tail (SrCl *cl, cl_int list, cl_mem in, const SrLayer *l, int layer)
{
  cl_int in_ch = l->in_ch, k = l->kernel, scale = cl->model->scale;
  cl_int w = cl->weight_off[layer], b = cl->bias_off[layer];
  cl_int status = set_args (cl->tail, ARG (cl->frame), ARG (cl->lists), ARG (cl->counts),
      ARG (list), ARG (in), ARG (in_ch), ARG (cl->input), ARG (scale), ARG (cl->params), ARG (w),
      ARG (b), ARG (k), ARG (cl->hr), ARG (cl->s_max), ARG (cl->s_shift), (size_t) 0);
  return status ? status : run_tiles (cl, cl->tail, 1);
}

/* A net with exits (docs/gpu-backends.md): head, predictor, plan, then block by block over
 * the active tiles, each exit's tail right after its block. A ghost block convs the stream
 * (act[0]) into act[1] and adds that into the stream, where its exit reads; a plain hidden
 * layer convs one map into the other (ping-pong, as enqueue_plain). */
static cl_int
enqueue_exits (SrCl *cl, double threshold)
{
  const SrModel *m = cl->model;
  const int B = m->exits.n_blocks;
  cl_int status = conv (cl, 0, cl->input, sr_exit_head (m), cl->act[0], 0);
  if (status)
    return status;

  cl_int width = m->exits.pred[0].out_ch, blocks = B;
  cl_float t = threshold;
  const int T = cl->frame.tile, h1 = (T + 1) / 2;
  size_t scratch = sizeof (float) * (T * T + width * h1 * h1 + width * ((h1 + 1) / 2) *
      ((h1 + 1) / 2));
  status = set_args (cl->predict, ARG (cl->frame), ARG (cl->input), ARG (cl->params),
      ARG (cl->pred_off[0]), ARG (cl->pred_off[1]), ARG (cl->pred_off[2]), ARG (cl->pred_off[3]),
      ARG (cl->pred_off[4]), ARG (cl->pred_off[5]), ARG (width), ARG (blocks), ARG (t),
      ARG (cl->depth), scratch, NULL, (size_t) 0);
  size_t local = 64, global = 64 * (size_t) cl->frame.n_tiles;
  if (!status)
    status = clEnqueueNDRangeKernel (cl->queue, cl->predict, 1, NULL, &global, &local, 0, NULL,
        NULL);

  /* zero the counts of lists 1.., then plan; reach covers the deepest tile's receptive field */
  cl_int zero = 0, reach = sr_exit_reach_tiles (cl->model, T);
  if (!status)
    status = clEnqueueFillBuffer (cl->queue, cl->counts, &zero, sizeof zero, sizeof (cl_int),
        sizeof (cl_int) * 2 * B, 0, NULL, NULL);
  if (!status)
    status = set_args (cl->plan, ARG (cl->frame), ARG (cl->depth), ARG (reach), ARG (blocks),
        ARG (cl->lists), ARG (cl->counts), (size_t) 0);
  size_t n = cl->frame.n_tiles;
  if (!status)
    status = clEnqueueNDRangeKernel (cl->queue, cl->plan, 1, NULL, &n, NULL, 0, NULL, NULL);

  for (int j = 1; j <= B && !status; j++) {
    cl_int list = j;
    /* ghost: the stream in act[0]; plain: hidden layer j reads act[(j - 1) % 2] */
    cl_mem in = is_ghost (cl) ? cl->act[0] : cl->act[(j - 1) % 2];
    cl_mem out = in == cl->act[0] ? cl->act[1] : cl->act[0];
    status = conv (cl, list, in, sr_exit_block (m, j), out, j);
    cl_mem exit_in = out;
    if (is_ghost (cl)) {
      cl_int half = m->ghost.channels / 2, shift_off = (j - 1) * half * 2;
      if (!status)
        status = set_args (cl->ghost_add, ARG (cl->frame), ARG (cl->lists), ARG (cl->counts),
            ARG (list), ARG (cl->act[0]), ARG (cl->act[1]), ARG (half), ARG (cl->shifts),
            ARG (shift_off), (size_t) 0);
      if (!status)
        status = run_tiles (cl, cl->ghost_add, 1);
      exit_in = cl->act[0];
    }
    if (!status)
      status = tail (cl, B + j, exit_in, sr_exit_tail (m, j), cl->exit_tail[j]);
  }
  return status;
}

static cl_int
enqueue_plain (SrCl *cl)
{
  const SrModel *m = cl->model;
  cl_mem in = cl->input;
  cl_int status = CL_SUCCESS;
  for (int i = 0; i < m->n_layers - 1 && !status; i++) {
    status = conv (cl, 0, in, &m->layers[i], cl->act[i % 2], i);
    in = cl->act[i % 2];
  }
  return status ? status : tail (cl, 0, in, &m->layers[m->n_layers - 1], m->n_layers - 1);
}

static gboolean
grow_buffer (SrCl *cl, cl_mem *mem, gsize *have, gsize need, cl_mem_flags flags, GError **error)
{
  if (*have >= need)
    return TRUE;
  if (*mem)
    clReleaseMemObject (*mem);
  *have = 0;
  if (!(*mem = make_buffer (cl, flags, need, error)))
    return FALSE;
  *have = need;
  return TRUE;
}

/* The resample kernel's tables (uploaded, blocking: the caller frees them) and its
 * arguments after the planes'. */
static gboolean
set_resample_tables (SrCl *cl, const SrResamplePlan *plan, const SrPlane *src,
    const SrPlane *dst, GError **error)
{
  const SrResampleAxis *axes[2] = { &plan->ax, &plan->ay };
  gsize size = 0;
  for (int a = 0; a < 2; a++)
    size += sizeof (gint32) * axes[a]->n_out * (axes[a]->n_taps + 1);
  if (!grow_buffer (cl, &cl->plane_tables, &cl->plane_tables_size, size, CL_MEM_READ_ONLY,
          error))
    return FALSE;
  gint32 *tables = g_malloc (size), *t = tables;
  for (int a = 0; a < 2; a++) {
    memcpy (t, axes[a]->first, sizeof (gint32) * axes[a]->n_out);
    t += axes[a]->n_out;
    memcpy (t, axes[a]->weight, sizeof (gint32) * axes[a]->n_out * axes[a]->n_taps);
    t += axes[a]->n_out * axes[a]->n_taps;
  }
  cl_int status = clEnqueueWriteBuffer (cl->queue, cl->plane_tables, CL_TRUE, 0, size, tables,
      0, NULL, NULL);
  g_free (tables);
  cl_int taps_x = plan->ax.n_taps, taps_y = plan->ay.n_taps;
  cl_int vshift = sr_resample_vertical_shift (src), hshift = sr_resample_horizontal_shift (dst);
  if (!status)
    status = set_args_from (cl->resample, 6, ARG (cl->plane_tables), ARG (taps_x),
        ARG (taps_y), ARG (vshift), ARG (hshift), (size_t) 0);
  return sr_cl_check (status, "resampling", error);
}

/* The kernels' (src, sw, sh, dst, dw, dh) and the 8x8 work-groups over dst's samples. */
static cl_int
enqueue_plane_kernel (SrCl *cl, cl_kernel kernel, cl_mem src, cl_int sw, cl_int sh, cl_mem dst,
    cl_int dw, cl_int dh, cl_event *event)
{
  size_t local[2] = { 8, 8 };
  size_t global[2] = { (dw + 7) / 8 * 8, (dh + 7) / 8 * 8 };
  cl_int status = set_args (kernel, ARG (src), ARG (sw), ARG (sh), ARG (dst), ARG (dw), ARG (dh),
      (size_t) 0);
  return status ? status : clEnqueueNDRangeKernel (cl->queue, kernel, 2, NULL, global, local, 0,
      NULL, event);
}

/* The network, then (with a plan) its picture resampled to dst's size on the device: only
 * the resampled bytes come down. */
static gboolean
upscale (SrCl *cl, const SrPlane *src, SrPlane *dst, const SrResamplePlan *plan,
    double threshold, SrFrameStats *stats, GError **error)
{
  const int sample = sr_plane_is_wide (src) ? 2 : 1;
  if (!ensure_frame (cl, src->width, src->height, sample, error))
    return FALSE;
  const int w = src->width, h = src->height, s = cl->model->scale;
  cl->s_max = sr_plane_max (src);
  cl->s_shift = src->shift;
  cl_float in_scale = 1.f / cl->s_max;
  const gsize out_size = (gsize) dst->width * dst->height;
  if (plan) {
    SrPlane hr = { NULL, s * w, s * h, (gsize) s * w, 1, src->bits, src->shift };
    if (out_size >= G_MAXINT32 || out_size > cl->max_alloc) {
      g_set_error (error, SR_ERROR, SR_ERROR_BACKEND, "opencl: a %dx%d output is too large for "
          "%s", dst->width, dst->height, cl->dev->name);
      return FALSE;
    }
    if (!grow_buffer (cl, &cl->plane_dst, &cl->plane_dst_size, out_size, CL_MEM_WRITE_ONLY,
            error) || !set_resample_tables (cl, plan, &hr, dst, error))
      return FALSE;
    cl->plane_host = g_realloc (cl->plane_host, out_size);
  }
  sr_plane_pack (src, cl->host_src);
  cl_int n = w * h;
  size_t global = (n + 63) / 64 * 64;
  cl_int status = clEnqueueWriteBuffer (cl->queue, cl->lr, CL_FALSE, 0, (size_t) n * sample,
      cl->host_src, 0, NULL, NULL);
  if (!status)
    status = set_args (cl->to_float, ARG (cl->lr), ARG (cl->input), ARG (n), ARG (cl->s_max),
        ARG (cl->s_shift), ARG (in_scale), (size_t) 0);
  cl_event started = NULL, computed = NULL;
  if (!status)
    status = clEnqueueNDRangeKernel (cl->queue, cl->to_float, 1, NULL, &global, NULL, 0, NULL,
        &started);
  if (!status)
    status = has_exits (cl) ? enqueue_exits (cl, threshold) : enqueue_plain (cl);
  /* the resampling or the download starts when the last kernel has ended (in-order queue) */
  if (!status && plan)
    status = enqueue_plane_kernel (cl, cl->resample, cl->hr, s * w, s * h, cl->plane_dst,
        dst->width, dst->height, &computed);
  if (!status)
    status = plan ? clEnqueueReadBuffer (cl->queue, cl->plane_dst, CL_FALSE, 0, out_size,
        cl->plane_host, 0, NULL, NULL) : clEnqueueReadBuffer (cl->queue, cl->hr, CL_FALSE, 0,
        (size_t) n * s * s * sample, cl->host_dst, 0, NULL, &computed);
  if (!status && has_exits (cl))
    status = clEnqueueReadBuffer (cl->queue, cl->depth, CL_FALSE, 0,
        sizeof (cl_int) * cl->frame.n_tiles, cl->host_depth, 0, NULL, NULL);
  if (!status)
    status = clFinish (cl->queue);
  cl_ulong t0 = 0, t1 = 0;
  if (!status && clGetEventProfilingInfo (started, CL_PROFILING_COMMAND_START, sizeof t0, &t0,
          NULL) == CL_SUCCESS && clGetEventProfilingInfo (computed, CL_PROFILING_COMMAND_START,
          sizeof t1, &t1, NULL) == CL_SUCCESS && t1 > t0)
    stats->device_seconds = (t1 - t0) * 1e-9;
  if (started)
    clReleaseEvent (started);
  if (computed)
    clReleaseEvent (computed);
  if (status) {
    /* the queue may hold half a frame: drop the buffers so the next frame starts clean */
    clFinish (cl->queue);
    free_frame (cl);
    return sr_cl_check (status, "running the network", error);
  }

  sr_plane_unpack (plan ? cl->plane_host : cl->host_dst, (gsize) dst->width * sample, dst);
  if (has_exits (cl)) {
    sr_exit_gpu_stats (cl->model, cl->frame.w, cl->frame.h, cl->frame.tile, cl->host_depth,
        cl->tile_depths, threshold, stats);
  } else {
    stats->n_tiles = cl->frame.n_tiles;
  }
  return TRUE;
}

static gboolean
cl_upscale_luma (gpointer state, const SrPlane *src, SrPlane *dst, double threshold,
    SrFrameStats *stats, GError **error)
{
  return upscale (state, src, dst, NULL, threshold, stats, error);
}

static gboolean
cl_upscale_luma_resampled (gpointer state, const SrPlane *src, SrPlane *dst,
    const SrResamplePlan *plan, double threshold, SrFrameStats *stats, GError **error)
{
  return upscale (state, src, dst, plan, threshold, stats, error);
}

/* A plane kernel (its arguments after the planes' set): the source packed and uploaded,
 * the result downloaded. */
static gboolean
run_plane_kernel (SrCl *cl, cl_kernel kernel, const SrPlane *src, SrPlane *dst,
    const char *what, GError **error)
{
  gsize in_size = (gsize) src->width * src->height, out_size = (gsize) dst->width * dst->height;
  if (out_size >= G_MAXINT32 || in_size >= G_MAXINT32 || MAX (in_size, out_size) > cl->max_alloc) {
    g_set_error (error, SR_ERROR, SR_ERROR_BACKEND, "opencl: %s of a %dx%d plane to %dx%d is "
        "too large for %s", what, src->width, src->height, dst->width, dst->height,
        cl->dev->name);
    return FALSE;
  }
  if (!grow_buffer (cl, &cl->plane_src, &cl->plane_src_size, in_size, CL_MEM_READ_ONLY, error) ||
      !grow_buffer (cl, &cl->plane_dst, &cl->plane_dst_size, out_size, CL_MEM_WRITE_ONLY, error))
    return FALSE;
  cl->plane_host = g_realloc (cl->plane_host, MAX (in_size, out_size));
  sr_plane_pack (src, cl->plane_host);
  cl_int status = clEnqueueWriteBuffer (cl->queue, cl->plane_src, CL_FALSE, 0, in_size,
      cl->plane_host, 0, NULL, NULL);
  if (!status)
    status = enqueue_plane_kernel (cl, kernel, cl->plane_src, src->width, src->height,
        cl->plane_dst, dst->width, dst->height, NULL);
  /* blocking: the upload from plane_host is done too when this returns */
  if (!status)
    status = clEnqueueReadBuffer (cl->queue, cl->plane_dst, CL_TRUE, 0, out_size,
        cl->plane_host, 0, NULL, NULL);
  if (status)
    clFinish (cl->queue); /* nothing may still read plane_host */
  if (!sr_cl_check (status, what, error))
    return FALSE;
  sr_plane_unpack (cl->plane_host, (gsize) dst->width, dst);
  return TRUE;
}

static gboolean
cl_bicubic_x2 (gpointer state, const SrPlane *src, SrPlane *dst, GError **error)
{
  SrCl *cl = state;
  return run_plane_kernel (cl, cl->bicubic, src, dst, "bicubic x2", error);
}

static gboolean
cl_resample (gpointer state, const SrPlane *src, SrPlane *dst, const SrResamplePlan *plan,
    GError **error)
{
  SrCl *cl = state;
  return set_resample_tables (cl, plan, src, dst, error) &&
      run_plane_kernel (cl, cl->resample, src, dst, "resampling", error);
}

const SrBackendOps sr_opencl_backend = {
  .kind = SR_BACKEND_OPENCL,
  .create = cl_create,
  .upscale_luma = cl_upscale_luma,
  .upscale_luma_resampled = cl_upscale_luma_resampled,
  .destroy = cl_destroy,
  .device_name = cl_device_name,
  .bicubic_x2 = cl_bicubic_x2,
  .resample = cl_resample,
  .frame_bytes = cl_frame_bytes,
};
