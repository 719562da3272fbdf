/* Per frame size: the buffers, the descriptor sets and the one command buffer that runs
 * the plan of docs/gpu-backends.md. It is recorded once and resubmitted while the size
 * stays: the tile lists' counts live on the device (the plan kernel fills them), so the
 * commands do not depend on the frame's content. A frame resampled to an output size
 * (sr_engine_upscale_luma_resampled) has that size in its key and resample.comp after the
 * network, reading the HR bytes where the tails left them: only the output comes down. */
#include "sr-vk.h"

#include <string.h>

/* The descriptor sets: which buffers the src / dst / aux / bytes bindings see. */
enum {
  SET_LR,    /* to_float: LR bytes -> input */
  SET_IN_A,  /* input -> map A (head, first plain layer, predict with its scratch) */
  SET_A_B,   /* map A -> map B (ghost block convs, odd plain layers), tails reading map A */
  SET_B_A,   /* map B -> map A (ghost_add, even plain layers), tails reading map B */
  SET_OUT,   /* HR bytes -> the output bytes (resample, with its tables) */
  N_SETS,
};
G_STATIC_ASSERT (N_SETS == G_N_ELEMENTS (((SrVkFrame *) NULL)->sets));
/* the counts of active[j] and exits[j] for every depth fit before the first list */
G_STATIC_ASSERT (SR_VK_LIST_BASE >= 2 * SR_MAX_BLOCKS);

static gint64
div_up (gint64 a, gint64 b)
{
  return (a + b - 1) / b;
}

void
sr_vk_frame_free (SrVk *vk, SrVkFrame *f)
{
  if (!f)
    return;
  SrVkDevice *dev = &vk->dev;
  if (f->cmd)
    vkFreeCommandBuffers (dev->device, vk->pool, 1, &f->cmd);
  if (f->desc_pool)
    vkDestroyDescriptorPool (dev->device, f->desc_pool, NULL);
  SrVkBuffer *bufs[] = { &f->input, &f->map_a, &f->map_b, &f->lists, &f->depths, &f->scratch,
    &f->lr, &f->hr, &f->up, &f->down, &f->out, &f->tables };
  for (guint i = 0; i < G_N_ELEMENTS (bufs); i++)
    sr_vk_buffer_free (dev, bufs[i]);
  g_free (f->tile_depths);
  g_free (f);
}

/* Everything the size decides, computed before anything is allocated. */
typedef struct {
  gint64 tile, tiles_x, tiles_y, n_tiles, max_ocg; /* 64-bit: sizes are checked after */
  guint64 input, map_a, map_b, lists, depths, scratch, lr, hr, out, tables, down;
  int scratch_per_tile;
  int out_w, out_h, out_words;  /* the resampled output (words of 4 bytes per row); 0: none */
} Sizes;

/* sample: bytes per luma sample; plan: the tables of the resampling to out_w x out_h that
 * follows, or NULL */
static void
compute_sizes (const SrModel *m, gboolean fp16, int W, int H, int sample,
    const SrResamplePlan *plan, Sizes *s)
{
  const gboolean ghost = m->type == SR_ARCH_GHOST_EXIT, exits = m->exits.n_blocks > 0;
  const guint64 plane = (guint64) W * H;
  s->tile = exits ? m->exits.tile : SR_GPU_PLAIN_TILE;
  s->tiles_x = div_up (W, s->tile);
  s->tiles_y = div_up (H, s->tile);
  s->n_tiles = s->tiles_x * s->tiles_y;
  int ch_a, ch_b;
  if (ghost) {
    const SrGhostExit *g = &m->ghost;
    ch_a = g->channels;
    ch_b = g->channels / 2;
    s->max_ocg = div_up (g->channels, SR_VK_GROUP);
  } else {
    ch_a = ch_b = m->max_channels;
    s->max_ocg = div_up (m->max_channels, SR_VK_GROUP);
  }
  s->scratch_per_tile = 0;
  if (exits) {
    int Wp = m->exits.pred[0].out_ch, h1 = (s->tile + 1) / 2, h2 = (h1 + 1) / 2;
    s->scratch_per_tile = Wp * (h1 * h1 + h2 * h2);
  }
  s->input = plane * 4;
  s->map_a = plane * ch_a * (fp16 ? 2 : 4);
  s->map_b = plane * ch_b * (fp16 ? 2 : 4);
  s->lists = (SR_VK_LIST_BASE + 2 * (guint64) m->exits.n_blocks * s->n_tiles) * 4;
  s->depths = MAX (s->n_tiles, 1) * 4;
  s->scratch = MAX ((guint64) s->n_tiles * s->scratch_per_tile * 4, 16);
  s->lr = (plane * sample + 3) / 4 * 4;
  s->hr = plane * m->scale * m->scale * sample;
  s->out_w = plan ? plan->ax.n_out : 0;
  s->out_h = plan ? plan->ay.n_out : 0;
  s->out_words = (s->out_w + 3) / 4;
  s->out = (guint64) s->out_words * 4 * s->out_h;
  s->tables = plan ? sr_vk_resample_table_bytes (plan) : 0;
  s->down = (plan ? s->out : s->hr) + s->depths;
}

static guint64
device_bytes (const Sizes *s)
{
  return s->input + s->map_a + s->map_b + s->lists + s->depths + s->scratch + s->lr + s->hr +
      s->out;
}

static guint64
host_bytes (const Sizes *s)
{
  return s->lr + s->down + s->tables;
}

guint64
sr_vk_frame_bytes (SrVk *vk, int width, int height)
{
  Sizes s;
  compute_sizes (vk->model, vk->fp16, width, height, 1, NULL, &s);
  return device_bytes (&s) + host_bytes (&s);
}

/* The device's limits, checked before any allocation (or any touch of the planes). */
static gboolean
check_limits (SrVk *vk, int W, int H, const Sizes *s, GError **error)
{
  const VkPhysicalDeviceLimits *lim = &vk->dev.props.limits;
  const struct {
    const char *what;
    guint64 bytes;
  } storage[] = {
    { "input map", s->input }, { "feature map", s->map_a }, { "feature map", s->map_b },
    { "tile list", s->lists }, { "tile depth list", s->depths },
    { "predictor scratch", s->scratch }, { "HR output", s->hr },
    { "resampled output", s->out }, { "resampling table", s->tables },
  };
  for (guint i = 0; i < G_N_ELEMENTS (storage); i++) {
    guint64 limit = MIN ((guint64) lim->maxStorageBufferRange, vk->dev.max_alloc);
    if (storage[i].bytes > limit) {
      g_set_error (error, SR_ERROR, SR_ERROR_BACKEND, "vulkan: a %dx%d frame needs a %"
          G_GUINT64_FORMAT "-byte %s; %s allows %" G_GUINT64_FORMAT " bytes per buffer", W, H,
          storage[i].bytes, storage[i].what, vk->dev.props.deviceName, limit);
      return FALSE;
    }
  }
  guint64 device = device_bytes (s), host = host_bytes (s);
  if (device > sr_vk_heap_size (&vk->dev, FALSE) || host > sr_vk_heap_size (&vk->dev, TRUE)) {
    g_set_error (error, SR_ERROR, SR_ERROR_BACKEND, "vulkan: a %dx%d frame needs %"
        G_GUINT64_FORMAT " bytes of device and %" G_GUINT64_FORMAT " of staging memory, more "
        "than %s has", W, H, device, host, vk->dev.props.deviceName);
    return FALSE;
  }
  const gint64 bt = div_up (s->tile, SR_VK_BLOCK);
  const guint64 need[3] = {
    MAX (MAX (MAX (bt, div_up (W, SR_VK_BLOCK)), MAX (s->tiles_x, div_up (s->n_tiles, 64))),
        div_up (s->out_words, SR_VK_BLOCK)),
    MAX (MAX (bt, div_up (H, SR_VK_BLOCK)), MAX (s->tiles_y, div_up (s->out_h, SR_VK_BLOCK))),
    (guint64) s->n_tiles * s->max_ocg,
  };
  for (int i = 0; i < 3; i++)
    if (need[i] > lim->maxComputeWorkGroupCount[i]) {
      g_set_error (error, SR_ERROR, SR_ERROR_BACKEND, "vulkan: a %dx%d frame needs %"
          G_GUINT64_FORMAT " work-groups along %c; %s allows %u", W, H, need[i], "xyz"[i],
          vk->dev.props.deviceName, lim->maxComputeWorkGroupCount[i]);
      return FALSE;
    }
  return TRUE;
}

static gboolean
make_buffers (SrVk *vk, SrVkFrame *f, const Sizes *s, GError **error)
{
  SrVkDevice *dev = &vk->dev;
  const VkBufferUsageFlags storage = VK_BUFFER_USAGE_STORAGE_BUFFER_BIT |
      VK_BUFFER_USAGE_TRANSFER_DST_BIT | VK_BUFFER_USAGE_TRANSFER_SRC_BIT;
  return sr_vk_buffer_new (dev, &f->input, s->input, storage, FALSE, error) &&
      sr_vk_buffer_new (dev, &f->map_a, s->map_a, storage, FALSE, error) &&
      sr_vk_buffer_new (dev, &f->map_b, s->map_b, storage, FALSE, error) &&
      sr_vk_buffer_new (dev, &f->lists, s->lists, storage, FALSE, error) &&
      sr_vk_buffer_new (dev, &f->depths, s->depths, storage, FALSE, error) &&
      sr_vk_buffer_new (dev, &f->scratch, s->scratch, storage, FALSE, error) &&
      sr_vk_buffer_new (dev, &f->lr, s->lr, storage, FALSE, error) &&
      sr_vk_buffer_new (dev, &f->hr, s->hr, storage, FALSE, error) &&
      sr_vk_buffer_new (dev, &f->up, s->lr, VK_BUFFER_USAGE_TRANSFER_SRC_BIT, TRUE, error) &&
      sr_vk_buffer_new (dev, &f->down, s->down, VK_BUFFER_USAGE_TRANSFER_DST_BIT, TRUE, error) &&
      (!s->out || (sr_vk_buffer_new (dev, &f->out, s->out, storage, FALSE, error) &&
          sr_vk_buffer_new (dev, &f->tables, s->tables, VK_BUFFER_USAGE_STORAGE_BUFFER_BIT,
              TRUE, error))) &&
      /* never-computed rims are read (and never reach an output): keep them defined */
      sr_vk_copy_now (vk, NULL, &f->map_a, error) && sr_vk_copy_now (vk, NULL, &f->map_b, error);
}

static gboolean
make_sets (SrVk *vk, SrVkFrame *f, GError **error)
{
  /* the predictor's scratch; without exits, the anchor of a one-layer net's tail */
  SrVkBuffer *in_a_aux = vk->model->exits.n_blocks ? &f->scratch : &f->input;
  /* without resampling, SET_OUT is unused but valid */
  const gboolean out = f->out.buffer != VK_NULL_HANDLE;
  SrVkBuffer *spec[N_SETS][4] = {  /* src, dst, aux, bytes */
    [SET_LR] = { &f->input, &f->input, &f->input, &f->lr },
    [SET_IN_A] = { &f->input, &f->map_a, in_a_aux, &f->hr },
    [SET_A_B] = { &f->map_a, &f->map_b, &f->input, &f->hr },
    [SET_B_A] = { &f->map_b, &f->map_a, &f->input, &f->hr },
    [SET_OUT] = { &f->input, out ? &f->out : &f->input, out ? &f->tables : &f->input, &f->hr },
  };
  SrVkBuffer *bufs[N_SETS][SR_VK_N_BINDINGS];
  for (int s = 0; s < N_SETS; s++) {
    bufs[s][SR_VK_B_WEIGHTS] = &vk->weights;
    bufs[s][SR_VK_B_SRC] = spec[s][0];
    bufs[s][SR_VK_B_DST] = spec[s][1];
    bufs[s][SR_VK_B_LISTS] = &f->lists;
    bufs[s][SR_VK_B_AUX] = spec[s][2];
    bufs[s][SR_VK_B_BYTES] = spec[s][3];
    bufs[s][SR_VK_B_DEPTHS] = &f->depths;
    bufs[s][SR_VK_B_PARAMS] = &vk->params;
  }
  return sr_vk_sets_new (vk, N_SETS, bufs, &f->desc_pool, f->sets, error);
}

/* One kernel, then a barrier so the next one sees its writes. */
static void
dispatch (SrVk *vk, SrVkFrame *f, SrVkKernel kernel, int set, const SrVkPush *push,
    uint32_t gx, uint32_t gy, uint32_t gz)
{
  VkCommandBuffer cmd = f->cmd;
  vkCmdBindPipeline (cmd, VK_PIPELINE_BIND_POINT_COMPUTE, vk->pipelines[kernel]);
  vkCmdBindDescriptorSets (cmd, VK_PIPELINE_BIND_POINT_COMPUTE, vk->layout, 0, 1,
      &f->sets[set], 0, NULL);
  vkCmdPushConstants (cmd, vk->layout, VK_SHADER_STAGE_COMPUTE_BIT, 0, sizeof *push, push);
  vkCmdDispatch (cmd, gx, gy, gz);
  sr_vk_barrier (cmd, VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT, VK_ACCESS_SHADER_WRITE_BIT,
      VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT, VK_ACCESS_SHADER_READ_BIT |
      VK_ACCESS_SHADER_WRITE_BIT);
}

/* A conv (or the tail) over tile list `list` (-1: all tiles). */
static void
conv (SrVk *vk, SrVkFrame *f, SrVkKernel kernel, int set, const SrVkPush *base,
    const SrLayer *l, SrVkLayerOffsets off, int list)
{
  SrVkPush p = *base;
  p.list = list;
  p.in_ch = l->in_ch;
  p.out_ch = l->out_ch;
  p.k = l->kernel;
  p.relu = l->act == SR_ACT_RELU;
  p.w_off = off.w;
  p.b_off = off.b;
  gboolean tail = kernel == SR_VK_TAIL || kernel == SR_VK_TAIL16;
  p.n_ocg = div_up (l->out_ch, tail ? SR_VK_TAIL_GROUP : SR_VK_GROUP);
  int bt = div_up (f->tile, SR_VK_BLOCK);
  dispatch (vk, f, kernel, set, &p, bt, bt, f->n_tiles * p.n_ocg);
}

/* A net with exits (docs/gpu-backends.md): the head over all tiles, the predictor and the
 * plan, then block by block over active[j], exit j's tail over exits[j] right after. A ghost
 * block convs map A (the stream) into map B and adds that into map A, where its exit reads;
 * a plain hidden layer convs one map into the other (ping-pong, as record_plain). */
static void
record_exits (SrVk *vk, SrVkFrame *f, const SrVkPush *base)
{
  const SrModel *m = vk->model;
  const gboolean ghost = m->type == SR_ARCH_GHOST_EXIT;
  const int B = m->exits.n_blocks, bt = div_up (f->tile, SR_VK_BLOCK);
  const gboolean h = vk->fp16;
  conv (vk, f, h ? SR_VK_CONV_IN16 : SR_VK_CONV, SET_IN_A, base, sr_exit_head (m),
      vk->layers[0], -1);

  SrVkPush p = *base;
  p.in_ch = m->exits.pred[0].out_ch;
  p.aux = B;
  p.w_off = vk->pred_off;
  int h1 = (f->tile + 1) / 2, h2 = (h1 + 1) / 2;
  p.aux2 = p.in_ch * (h1 * h1 + h2 * h2); /* scratch floats per tile, as compute_sizes () */
  dispatch (vk, f, SR_VK_PREDICT, SET_IN_A, &p, f->tiles_x, f->tiles_y, 1);
  p = *base;
  p.aux = B;
  p.aux2 = sr_exit_reach_tiles (m, f->tile); /* R: see docs/gpu-backends.md */
  dispatch (vk, f, SR_VK_PLAN, SET_IN_A, &p, div_up (f->n_tiles, 64), 1, 1);

  for (int j = 1; j <= B; j++) {
    /* plain: hidden layer j reads map A (odd j) or B and writes the other, which exit j
     * reads; ghost: block j reads the stream in map A, and its add leaves the stream there */
    const int set = ghost || j % 2 ? SET_A_B : SET_B_A;
    conv (vk, f, h ? SR_VK_CONV16 : SR_VK_CONV, set, base, sr_exit_block (m, j),
        vk->layers[j], j - 1);
    int exit_set = set == SET_A_B ? SET_B_A : SET_A_B;
    if (ghost) {
      const int half = m->ghost.channels / 2;
      p = *base;
      p.list = j - 1;
      p.out_ch = half;
      p.aux = vk->shift_off + (j - 1) * half * 2;
      dispatch (vk, f, h ? SR_VK_GHOST_ADD16 : SR_VK_GHOST_ADD, SET_B_A, &p, bt, bt,
          f->n_tiles);
      exit_set = SET_A_B;
    }
    conv (vk, f, h ? SR_VK_TAIL16 : SR_VK_TAIL, exit_set, base, sr_exit_tail (m, j),
        vk->exit_tails[j], B + j - 1);
  }
}

static void
record_plain (SrVk *vk, SrVkFrame *f, const SrVkPush *base)
{
  const SrModel *m = vk->model;
  for (int i = 0; i < m->n_layers; i++) {
    /* layer i reads the input (i = 0), map A (odd i) or map B (even i) */
    int set = i == 0 ? SET_IN_A : i % 2 ? SET_A_B : SET_B_A;
    gboolean last = i + 1 == m->n_layers;
    /* fp16: every map but the input is half */
    SrVkKernel kernel = !vk->fp16 ? (last ? SR_VK_TAIL : SR_VK_CONV)
        : i == 0 ? (last ? SR_VK_TAIL : SR_VK_CONV_IN16) : (last ? SR_VK_TAIL16 : SR_VK_CONV16);
    conv (vk, f, kernel, set, base, &m->layers[i], vk->layers[i], -1);
  }
}

static gboolean
record (SrVk *vk, SrVkFrame *f, GError **error)
{
  if (!sr_vk_cmd_begin (vk, &f->cmd, 0, error))
    return FALSE;
  VkCommandBuffer cmd = f->cmd;
  VkBufferCopy up = { 0, 0, f->lr.size };
  vkCmdCopyBuffer (cmd, f->up.buffer, f->lr.buffer, 1, &up);
  /* the tails OR their bytes in; the plan appends to the lists */
  vkCmdFillBuffer (cmd, f->hr.buffer, 0, VK_WHOLE_SIZE, 0);
  vkCmdFillBuffer (cmd, f->lists.buffer, 0, SR_VK_LIST_BASE * 4, 0);
  sr_vk_barrier (cmd, VK_PIPELINE_STAGE_TRANSFER_BIT, VK_ACCESS_TRANSFER_WRITE_BIT,
      VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT, VK_ACCESS_SHADER_READ_BIT |
      VK_ACCESS_SHADER_WRITE_BIT);

  if (vk->timestamps) {
    vkCmdResetQueryPool (cmd, vk->timestamps, 0, 2);
    vkCmdWriteTimestamp (cmd, VK_PIPELINE_STAGE_TRANSFER_BIT, vk->timestamps, 0);
  }
  SrVkPush base = {
    .W = f->width, .H = f->height, .T = f->tile, .tiles_x = f->tiles_x,
    .s_max = f->s_max, .s_shift = f->s_shift, .in_scale = 1.f / f->s_max,
    .n_tiles = f->n_tiles, .list = -1, .n_ocg = 1,
  };
  dispatch (vk, f, SR_VK_TO_FLOAT, SET_LR, &base, div_up (f->width, SR_VK_BLOCK),
      div_up (f->height, SR_VK_BLOCK), 1);
  if (vk->model->exits.n_blocks)
    record_exits (vk, f, &base);
  else
    record_plain (vk, f, &base);

  if (vk->timestamps)
    vkCmdWriteTimestamp (cmd, VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT, vk->timestamps, 1);
  if (f->out_w)
    dispatch (vk, f, SR_VK_RESAMPLE, SET_OUT, &f->resample, div_up (f->out_words, SR_VK_BLOCK),
        div_up (f->out_h, SR_VK_BLOCK), 1);
  sr_vk_barrier (cmd, VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT, VK_ACCESS_SHADER_WRITE_BIT,
      VK_PIPELINE_STAGE_TRANSFER_BIT, VK_ACCESS_TRANSFER_READ_BIT);
  /* the picture (the network's, or resampled) then the depths */
  VkBufferCopy picture = { 0, 0, f->picture_bytes };
  VkBufferCopy depths = { 0, f->picture_bytes, f->depths.size };
  vkCmdCopyBuffer (cmd, f->out_w ? f->out.buffer : f->hr.buffer, f->down.buffer, 1, &picture);
  vkCmdCopyBuffer (cmd, f->depths.buffer, f->down.buffer, 1, &depths);
  sr_vk_barrier (cmd, VK_PIPELINE_STAGE_TRANSFER_BIT, VK_ACCESS_TRANSFER_WRITE_BIT,
      VK_PIPELINE_STAGE_HOST_BIT, VK_ACCESS_HOST_READ_BIT);
  return sr_vk_check (vkEndCommandBuffer (cmd), "vkEndCommandBuffer", error);
}

gboolean
sr_vk_frame_ensure (SrVk *vk, const SrPlane *src, const SrPlane *dst,
    const SrResamplePlan *plan, GError **error)
{
  const int width = src->width, height = src->height;
  const int out_w = plan ? dst->width : 0, out_h = plan ? dst->height : 0;
  SrVkFrame *old = vk->frame;
  if (old && old->width == width && old->height == height && old->out_w == out_w &&
      old->out_h == out_h && old->s_max == sr_plane_max (src) && old->s_shift == src->shift)
    return TRUE;
  Sizes s;
  compute_sizes (vk->model, vk->fp16, width, height, sr_plane_is_wide (src) ? 2 : 1, plan, &s);
  if (!check_limits (vk, width, height, &s, error))
    return FALSE;
  /* the old frame's command buffer may not be pending: every submit is waited for */
  sr_vk_frame_free (vk, vk->frame);
  vk->frame = NULL;
  SrVkFrame *f = g_new0 (SrVkFrame, 1);
  f->width = width;
  f->height = height;
  f->tile = s.tile;
  f->tiles_x = s.tiles_x;
  f->tiles_y = s.tiles_y;
  f->n_tiles = s.n_tiles;
  f->s_max = sr_plane_max (src);
  f->s_shift = src->shift;
  f->out_w = s.out_w;
  f->out_h = s.out_h;
  f->out_words = s.out_words;
  f->picture_bytes = plan ? s.out : s.hr;
  f->tile_depths = g_new0 (guint8, MAX (s.n_tiles, 1));
  gboolean ok = make_buffers (vk, f, &s, error);
  if (ok && plan) {
    /* the network's picture, as resample.comp reads it from the HR bytes */
    const int scale = vk->model->scale;
    SrPlane hr = { NULL, scale * width, scale * height, (gsize) scale * width, 1, src->bits,
      src->shift };
    sr_vk_resample_setup (plan, &hr, dst, &f->tables, &f->resample);
  }
  if (!ok || !make_sets (vk, f, error) || !record (vk, f, error)) {
    sr_vk_frame_free (vk, f);
    return FALSE;
  }
  vk->frame = f;
  return TRUE;
}
