/* The compute pipelines (one per shader, all sharing one descriptor set layout and one
 * push-constant range) and the weight buffer, both made once in create(). */
#include "sr-vk.h"

#include <string.h>

/* glslc -mfmt=c writes a bare initializer list: wrap it. */
static const uint32_t to_float_spv[] =
#include "to_float.spv.h"
;
static const uint32_t conv_spv[] =
#include "conv.spv.h"
;
static const uint32_t tail_spv[] =
#include "tail.spv.h"
;
static const uint32_t ghost_add_spv[] =
#include "ghost_add.spv.h"
;
static const uint32_t predict_spv[] =
#include "predict.spv.h"
;
static const uint32_t plan_spv[] =
#include "plan.spv.h"
;
static const uint32_t bicubic_spv[] =
#include "bicubic.spv.h"
;
static const uint32_t resample_spv[] =
#include "resample.spv.h"
;
static const uint32_t conv_in16_spv[] =
#include "conv_in16.spv.h"
;
static const uint32_t conv16_spv[] =
#include "conv16.spv.h"
;
static const uint32_t tail16_spv[] =
#include "tail16.spv.h"
;
static const uint32_t ghost_add16_spv[] =
#include "ghost_add16.spv.h"
;

static const struct {
  const char *name;
  const uint32_t *code;
  gsize size;
} shaders[SR_VK_N_PIPELINES] = {
  [SR_VK_TO_FLOAT] = { "to_float", to_float_spv, sizeof to_float_spv },
  [SR_VK_CONV] = { "conv", conv_spv, sizeof conv_spv },
  [SR_VK_TAIL] = { "tail", tail_spv, sizeof tail_spv },
  [SR_VK_GHOST_ADD] = { "ghost_add", ghost_add_spv, sizeof ghost_add_spv },
  [SR_VK_PREDICT] = { "predict", predict_spv, sizeof predict_spv },
  [SR_VK_PLAN] = { "plan", plan_spv, sizeof plan_spv },
  [SR_VK_BICUBIC] = { "bicubic", bicubic_spv, sizeof bicubic_spv },
  [SR_VK_RESAMPLE] = { "resample", resample_spv, sizeof resample_spv },
  [SR_VK_CONV_IN16] = { "conv_in16", conv_in16_spv, sizeof conv_in16_spv },
  [SR_VK_CONV16] = { "conv16", conv16_spv, sizeof conv16_spv },
  [SR_VK_TAIL16] = { "tail16", tail16_spv, sizeof tail16_spv },
  [SR_VK_GHOST_ADD16] = { "ghost_add16", ghost_add16_spv, sizeof ghost_add16_spv },
};

static gboolean
make_pipeline (SrVk *vk, SrVkKernel kernel, GError **error)
{
  VkDevice device = vk->dev.device;
  VkShaderModuleCreateInfo smci = {
    .sType = VK_STRUCTURE_TYPE_SHADER_MODULE_CREATE_INFO,
    .codeSize = shaders[kernel].size,
    .pCode = shaders[kernel].code,
  };
  VkShaderModule module;
  if (!sr_vk_check (vkCreateShaderModule (device, &smci, NULL, &module),
          "vkCreateShaderModule", error))
    return FALSE;
  VkComputePipelineCreateInfo cpci = {
    .sType = VK_STRUCTURE_TYPE_COMPUTE_PIPELINE_CREATE_INFO,
    .stage = {
      .sType = VK_STRUCTURE_TYPE_PIPELINE_SHADER_STAGE_CREATE_INFO,
      .stage = VK_SHADER_STAGE_COMPUTE_BIT,
      .module = module,
      .pName = "main",
    },
    .layout = vk->layout,
  };
  VkResult res = vkCreateComputePipelines (device, VK_NULL_HANDLE, 1, &cpci, NULL,
      &vk->pipelines[kernel]);
  vkDestroyShaderModule (device, module, NULL);
  if (res != VK_SUCCESS) {
    vk->pipelines[kernel] = VK_NULL_HANDLE;
    g_set_error (error, SR_ERROR, SR_ERROR_BACKEND, "vulkan: vkCreateComputePipelines (%s) "
        "failed: %s", shaders[kernel].name, sr_vk_result_name (res));
    return FALSE;
  }
  return TRUE;
}

gboolean
sr_vk_pipelines_new (SrVk *vk, GError **error)
{
  VkDevice device = vk->dev.device;
  VkDescriptorSetLayoutBinding bindings[SR_VK_N_BINDINGS];
  for (int i = 0; i < SR_VK_N_BINDINGS; i++)
    bindings[i] = (VkDescriptorSetLayoutBinding) {
      .binding = i,
      .descriptorType = VK_DESCRIPTOR_TYPE_STORAGE_BUFFER,
      .descriptorCount = 1,
      .stageFlags = VK_SHADER_STAGE_COMPUTE_BIT,
    };
  VkDescriptorSetLayoutCreateInfo dslci = {
    .sType = VK_STRUCTURE_TYPE_DESCRIPTOR_SET_LAYOUT_CREATE_INFO,
    .bindingCount = SR_VK_N_BINDINGS,
    .pBindings = bindings,
  };
  if (!sr_vk_check (vkCreateDescriptorSetLayout (device, &dslci, NULL, &vk->set_layout),
          "vkCreateDescriptorSetLayout", error)) {
    vk->set_layout = VK_NULL_HANDLE;
    return FALSE;
  }
  VkPushConstantRange range = { VK_SHADER_STAGE_COMPUTE_BIT, 0, sizeof (SrVkPush) };
  VkPipelineLayoutCreateInfo plci = {
    .sType = VK_STRUCTURE_TYPE_PIPELINE_LAYOUT_CREATE_INFO,
    .setLayoutCount = 1,
    .pSetLayouts = &vk->set_layout,
    .pushConstantRangeCount = 1,
    .pPushConstantRanges = &range,
  };
  if (!sr_vk_check (vkCreatePipelineLayout (device, &plci, NULL, &vk->layout),
          "vkCreatePipelineLayout", error)) {
    vk->layout = VK_NULL_HANDLE;
    return FALSE;
  }
  for (int i = 0; i < SR_VK_N_PIPELINES; i++)
    if ((vk->fp16 || i < SR_VK_CONV_IN16) && !make_pipeline (vk, i, error))
      return FALSE;
  return TRUE;
}

void
sr_vk_pipelines_free (SrVk *vk)
{
  VkDevice device = vk->dev.device;
  for (int i = 0; i < SR_VK_N_PIPELINES; i++)
    if (vk->pipelines[i])
      vkDestroyPipeline (device, vk->pipelines[i], NULL);
  if (vk->layout)
    vkDestroyPipelineLayout (device, vk->layout, NULL);
  if (vk->set_layout)
    vkDestroyDescriptorSetLayout (device, vk->set_layout, NULL);
  memset (vk->pipelines, 0, sizeof vk->pipelines);
  vk->layout = VK_NULL_HANDLE;
  vk->set_layout = VK_NULL_HANDLE;
}

gboolean
sr_vk_cmd_begin (SrVk *vk, VkCommandBuffer *cmd, VkCommandBufferUsageFlags flags,
    GError **error)
{
  VkCommandBufferAllocateInfo cbai = {
    .sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_ALLOCATE_INFO,
    .commandPool = vk->pool,
    .level = VK_COMMAND_BUFFER_LEVEL_PRIMARY,
    .commandBufferCount = 1,
  };
  if (!sr_vk_check (vkAllocateCommandBuffers (vk->dev.device, &cbai, cmd),
          "vkAllocateCommandBuffers", error)) {
    *cmd = VK_NULL_HANDLE;
    return FALSE;
  }
  VkCommandBufferBeginInfo begin = {
    .sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_BEGIN_INFO,
    .flags = flags,
  };
  return sr_vk_check (vkBeginCommandBuffer (*cmd, &begin), "vkBeginCommandBuffer", error);
}

gboolean
sr_vk_submit_wait (SrVk *vk, VkCommandBuffer cmd, GError **error)
{
  VkSubmitInfo submit = {
    .sType = VK_STRUCTURE_TYPE_SUBMIT_INFO,
    .commandBufferCount = 1,
    .pCommandBuffers = &cmd,
  };
  VkDevice device = vk->dev.device;
  return sr_vk_check (vkResetFences (device, 1, &vk->fence), "vkResetFences", error) &&
      sr_vk_check (vkQueueSubmit (vk->dev.queue, 1, &submit, vk->fence), "vkQueueSubmit",
          error) &&
      sr_vk_check (vkWaitForFences (device, 1, &vk->fence, VK_TRUE, UINT64_MAX),
          "vkWaitForFences", error);
}

void
sr_vk_barrier (VkCommandBuffer cmd, VkPipelineStageFlags from, VkAccessFlags src_access,
    VkPipelineStageFlags to, VkAccessFlags dst_access)
{
  VkMemoryBarrier mb = {
    .sType = VK_STRUCTURE_TYPE_MEMORY_BARRIER,
    .srcAccessMask = src_access,
    .dstAccessMask = dst_access,
  };
  vkCmdPipelineBarrier (cmd, from, to, 0, 1, &mb, 0, NULL, 0, NULL);
}

gboolean
sr_vk_copy_now (SrVk *vk, SrVkBuffer *src, SrVkBuffer *dst, GError **error)
{
  VkCommandBuffer cmd;
  gboolean ok = sr_vk_cmd_begin (vk, &cmd, VK_COMMAND_BUFFER_USAGE_ONE_TIME_SUBMIT_BIT, error);
  if (ok) {
    VkBufferCopy region = { 0, 0, src ? MIN (src->size, dst->size) : 0 };
    if (src)
      vkCmdCopyBuffer (cmd, src->buffer, dst->buffer, 1, &region);
    else
      vkCmdFillBuffer (cmd, dst->buffer, 0, VK_WHOLE_SIZE, 0);
    ok = sr_vk_check (vkEndCommandBuffer (cmd), "vkEndCommandBuffer", error) &&
        sr_vk_submit_wait (vk, cmd, error);
  }
  if (!ok)
    vkDeviceWaitIdle (vk->dev.device); /* the buffer may still be pending */
  if (cmd)
    vkFreeCommandBuffers (vk->dev.device, vk->pool, 1, &cmd);
  return ok;
}

gboolean
sr_vk_sets_new (SrVk *vk, guint n, SrVkBuffer *(*bufs)[SR_VK_N_BINDINGS],
    VkDescriptorPool *pool, VkDescriptorSet *sets, GError **error)
{
  VkDevice device = vk->dev.device;
  VkDescriptorPoolSize size = { VK_DESCRIPTOR_TYPE_STORAGE_BUFFER, n * SR_VK_N_BINDINGS };
  VkDescriptorPoolCreateInfo dpci = {
    .sType = VK_STRUCTURE_TYPE_DESCRIPTOR_POOL_CREATE_INFO,
    .maxSets = n,
    .poolSizeCount = 1,
    .pPoolSizes = &size,
  };
  if (!sr_vk_check (vkCreateDescriptorPool (device, &dpci, NULL, pool),
          "vkCreateDescriptorPool", error)) {
    *pool = VK_NULL_HANDLE;
    return FALSE;
  }
  VkDescriptorSetLayout *layouts = g_new (VkDescriptorSetLayout, n);
  for (guint i = 0; i < n; i++)
    layouts[i] = vk->set_layout;
  VkDescriptorSetAllocateInfo dsai = {
    .sType = VK_STRUCTURE_TYPE_DESCRIPTOR_SET_ALLOCATE_INFO,
    .descriptorPool = *pool,
    .descriptorSetCount = n,
    .pSetLayouts = layouts,
  };
  VkResult res = vkAllocateDescriptorSets (device, &dsai, sets);
  g_free (layouts);
  if (!sr_vk_check (res, "vkAllocateDescriptorSets", error))
    return FALSE;
  VkDescriptorBufferInfo *infos = g_new (VkDescriptorBufferInfo, n * SR_VK_N_BINDINGS);
  VkWriteDescriptorSet *writes = g_new (VkWriteDescriptorSet, n * SR_VK_N_BINDINGS);
  for (guint s = 0; s < n; s++)
    for (guint b = 0; b < SR_VK_N_BINDINGS; b++) {
      guint i = s * SR_VK_N_BINDINGS + b;
      infos[i] = (VkDescriptorBufferInfo) { bufs[s][b]->buffer, 0, VK_WHOLE_SIZE };
      writes[i] = (VkWriteDescriptorSet) {
        .sType = VK_STRUCTURE_TYPE_WRITE_DESCRIPTOR_SET,
        .dstSet = sets[s],
        .dstBinding = b,
        .descriptorCount = 1,
        .descriptorType = VK_DESCRIPTOR_TYPE_STORAGE_BUFFER,
        .pBufferInfo = &infos[i],
      };
    }
  vkUpdateDescriptorSets (device, n * SR_VK_N_BINDINGS, writes, 0, NULL);
  g_free (infos);
  g_free (writes);
  return TRUE;
}

/* Appends a layer's weights then biases; returns their offsets. */
static SrVkLayerOffsets
pack_layer (GArray *floats, const SrLayer *l)
{
  gsize n_w = (gsize) l->out_ch * l->in_ch * MAX (l->kernel * l->kernel, 1);
  SrVkLayerOffsets off = { floats->len, floats->len + n_w };
  g_array_append_vals (floats, l->weight, n_w);
  g_array_append_vals (floats, l->bias, l->out_ch);
  return off;
}

gboolean
sr_vk_weights_upload (SrVk *vk, GError **error)
{
  const SrModel *m = vk->model;
  GArray *floats = g_array_new (FALSE, FALSE, sizeof (float));
  /* the last layer: the plain net's, or the ghost net's shared tail */
  const SrLayer *last;
  int n_last;
  if (m->type == SR_ARCH_PLAIN) {
    vk->layers = g_new0 (SrVkLayerOffsets, m->n_layers);
    for (int i = 0; i < m->n_layers; i++)
      vk->layers[i] = pack_layer (floats, &m->layers[i]);
    last = &m->layers[m->n_layers - 1];
    n_last = m->n_layers - 1;
  } else {
    const SrGhostExit *g = &m->ghost;
    vk->layers = g_new0 (SrVkLayerOffsets, g->n_blocks + 2);
    vk->layers[0] = pack_layer (floats, &g->head);
    for (int b = 0; b < g->n_blocks; b++)
      vk->layers[b + 1] = pack_layer (floats, &g->blocks[b]);
    vk->layers[g->n_blocks + 1] = pack_layer (floats, &g->tail);
    last = &g->tail;
    n_last = g->n_blocks + 1;
  }
  const int B = m->exits.n_blocks;
  if (B) {
    /* the exit tails but the last layer (plain exits before the last) */
    vk->exit_tails = g_new0 (SrVkLayerOffsets, B + 1);
    for (int d = 1; d <= B; d++) {
      const SrLayer *t = sr_exit_tail (m, d);
      vk->exit_tails[d] = t == last ? vk->layers[n_last] : pack_layer (floats, t);
    }
    /* predict.comp finds the parts from the width and the block count */
    vk->pred_off = floats->len;
    for (int i = 0; i < 3; i++)
      pack_layer (floats, &m->exits.pred[i]);
  }
  if (m->type == SR_ARCH_GHOST_EXIT) {
    const SrGhostExit *g = &m->ghost;
    vk->shift_off = floats->len;
    for (int i = 0; i < g->n_blocks * (g->channels / 2); i++)
      for (int k = 0; k < 2; k++) {
        float v = g->shifts[i][k];
        g_array_append_val (floats, v);
      }
  }
  VkDeviceSize bytes = (VkDeviceSize) floats->len * sizeof (float);
  SrVkBuffer staging;
  gboolean ok = sr_vk_buffer_new (&vk->dev, &staging, bytes, VK_BUFFER_USAGE_TRANSFER_SRC_BIT,
      TRUE, error);
  if (ok) {
    memcpy (staging.map, floats->data, bytes);
    ok = sr_vk_buffer_new (&vk->dev, &vk->weights, bytes, VK_BUFFER_USAGE_STORAGE_BUFFER_BIT |
        VK_BUFFER_USAGE_TRANSFER_DST_BIT, FALSE, error) &&
        sr_vk_copy_now (vk, &staging, &vk->weights, error);
    sr_vk_buffer_free (&vk->dev, &staging);
  }
  g_array_free (floats, TRUE);
  return ok;
}
