/* The Vulkan backend's shared state. One file per job: sr-vk-device.c (instance, device
 * choice, buffers, errors), sr-vk-pipelines.c (shaders, layouts, weights),
 * sr-vk-frame.c (per frame size: buffers, descriptor sets, the recorded command buffer),
 * sr-vk-planes.c (bicubic x2 and resampling of planes on the device),
 * sr-vk-backend.c (the SrBackendOps vtable, upload/download, stats). */
#ifndef SR_VK_H
#define SR_VK_H

#include "../sr-backend.h"
#include "../sr-plane-private.h"

#include <vulkan/vulkan.h>

/* ---- device (sr-vk-device.c) ---- */

typedef struct {
  VkInstance instance;
  VkPhysicalDevice phys;
  VkPhysicalDeviceProperties props;
  VkPhysicalDeviceMemoryProperties mem;
  VkDeviceSize max_alloc;      /* maxMemoryAllocationSize (Vulkan 1.1) */
  VkDevice device;
  VkQueue queue;
  uint32_t queue_family;
  uint32_t timestamp_bits;     /* of the queue family; 0: no timestamps */
  gboolean storage16;          /* storageBuffer16BitAccess enabled (fp16 feature maps) */
} SrVkDevice;

typedef struct {
  VkBuffer buffer;
  VkDeviceMemory memory;
  VkDeviceSize size;
  void *map;                   /* host-visible buffers stay mapped */
} SrVkBuffer;

/* Picks a device (see docs/gpu-backends.md: `want` is an index or a name substring; NULL:
 * the first hardware GPU, else, when not automatic, the first device) and opens it, with
 * 16-bit storage when asked for and supported. */
gboolean sr_vk_device_open (SrVkDevice *dev, const char *want, gboolean automatic,
    gboolean want_storage16, GError **error);
void sr_vk_device_close (SrVkDevice *dev);
const char *sr_vk_result_name (VkResult result);
/* FALSE with an SR_ERROR_BACKEND naming the call when result is not VK_SUCCESS. */
gboolean sr_vk_check (VkResult result, const char *call, GError **error);
/* host: HOST_VISIBLE | HOST_COHERENT and mapped, else DEVICE_LOCAL preferred. */
gboolean sr_vk_buffer_new (SrVkDevice *dev, SrVkBuffer *buf, VkDeviceSize size,
    VkBufferUsageFlags usage, gboolean host, GError **error);
void sr_vk_buffer_free (SrVkDevice *dev, SrVkBuffer *buf);
/* Bytes of the heap behind the memory type a buffer of this kind would get. */
VkDeviceSize sr_vk_heap_size (const SrVkDevice *dev, gboolean host);

/* ---- pipelines and weights (sr-vk-pipelines.c) ---- */

typedef enum {
  SR_VK_TO_FLOAT,
  SR_VK_CONV,
  SR_VK_TAIL,
  SR_VK_GHOST_ADD,
  SR_VK_PREDICT,
  SR_VK_PLAN,
  SR_VK_BICUBIC,
  SR_VK_RESAMPLE,
  /* fp16 feature maps: made only when used */
  SR_VK_CONV_IN16,   /* fp32 input -> fp16 maps */
  SR_VK_CONV16,
  SR_VK_TAIL16,
  SR_VK_GHOST_ADD16,
  SR_VK_N_PIPELINES,
} SrVkKernel;

/* The descriptor set every kernel sees (each uses some of the bindings). */
typedef enum {
  SR_VK_B_WEIGHTS,  /* all weights, biases and shifts */
  SR_VK_B_SRC,      /* float maps read */
  SR_VK_B_DST,      /* float maps written */
  SR_VK_B_LISTS,    /* tile-list counts and lists */
  SR_VK_B_AUX,      /* the anchor (tail), predictor scratch (predict) */
  SR_VK_B_BYTES,    /* LR bytes (to_float), HR bytes (tail) */
  SR_VK_B_DEPTHS,   /* per-tile depth */
  SR_VK_B_PARAMS,   /* per-frame parameters written by the host (the threshold) */
  SR_VK_N_BINDINGS,
} SrVkBinding;

/* Mirrors `Push` in shaders/common.glsl. */
typedef struct {
  gint32 W, H, T, tiles_x, n_tiles, list, in_ch, out_ch, k, relu, w_off, b_off, n_ocg, aux,
      aux2;
  gint32 s_max, s_shift;     /* the luma's samples: largest value, shift in their word */
  float in_scale;            /* to_float's factor: the CPU's 1 / s_max */
} SrVkPush;

#define SR_VK_LIST_BASE 64  /* uints before the first list: the counts (2 per block) */
#define SR_VK_GROUP 16      /* output channels per conv work-group */
#define SR_VK_TAIL_GROUP 4  /* per tail work-group: the scale^2 sub-pixels */
#define SR_VK_BLOCK 8       /* work-group side in pixels */

typedef struct {
  gint32 w, b;              /* offsets in floats in the weight buffer */
} SrVkLayerOffsets;

typedef struct _SrVkFrame SrVkFrame;
typedef struct _SrVkPlaneJob SrVkPlaneJob;

#define SR_VK_PLANE_JOBS 4   /* plane kernel jobs kept: luma and chroma sizes of a frame */

typedef struct {
  const SrModel *model;
  SrVkDevice dev;
  VkDescriptorSetLayout set_layout;
  VkPipelineLayout layout;
  VkPipeline pipelines[SR_VK_N_PIPELINES];
  gboolean fp16;             /* feature maps stored as fp16 (SR_VULKAN_PRECISION=fp16) */
  SrVkBuffer weights;
  SrVkLayerOffsets *layers;  /* plain: per layer; ghost: head, blocks..., tail */
  SrVkLayerOffsets *exit_tails; /* with exits: exit d's tail (sr_exit_tail) at [d], 1..B */
  gint32 pred_off;           /* with exits: the predictor's packed weights */
  gint32 shift_off;          /* ghost: (dy, dx) per block and intrinsic channel */
  SrVkBuffer params;         /* host-visible: the threshold */
  VkCommandPool pool;
  VkFence fence;
  VkQueryPool timestamps;    /* two: the network's start and end; NULL when unsupported */
  SrVkFrame *frame;          /* buffers and commands for the current frame size */
  SrVkPlaneJob *plane_jobs[SR_VK_PLANE_JOBS]; /* the same for plane kernels (sr-vk-planes.c) */
  guint64 plane_jobs_run;
  char *name;
} SrVk;

gboolean sr_vk_pipelines_new (SrVk *vk, GError **error);
void sr_vk_pipelines_free (SrVk *vk);
/* Packs every layer into one buffer and uploads it (once, in create()). */
gboolean sr_vk_weights_upload (SrVk *vk, GError **error);
/* Records and runs a one-off copy of `src` into `dst` (src NULL: zero dst), waiting for it. */
gboolean sr_vk_copy_now (SrVk *vk, SrVkBuffer *src, SrVkBuffer *dst, GError **error);
/* A pool with n sets of the common layout, bufs[i] giving set i's buffer per binding. */
gboolean sr_vk_sets_new (SrVk *vk, guint n, SrVkBuffer *(*bufs)[SR_VK_N_BINDINGS],
    VkDescriptorPool *pool, VkDescriptorSet *sets, GError **error);
/* A primary command buffer from the pool, begun (flags: VkCommandBufferUsageFlags). */
gboolean sr_vk_cmd_begin (SrVk *vk, VkCommandBuffer *cmd, VkCommandBufferUsageFlags flags,
    GError **error);
/* Submits cmd and waits for it. */
gboolean sr_vk_submit_wait (SrVk *vk, VkCommandBuffer cmd, GError **error);
void sr_vk_barrier (VkCommandBuffer cmd, VkPipelineStageFlags from, VkAccessFlags src_access,
    VkPipelineStageFlags to, VkAccessFlags dst_access);

/* ---- per frame size (sr-vk-frame.c) ---- */

struct _SrVkFrame {
  int width, height;         /* LR */
  int s_max, s_shift;        /* the luma's samples (sr_plane_max 255: bytes; more: words) */
  int out_w, out_h;          /* the size resampled to after the network; 0: none (2x) */
  int out_words;             /* words (4 bytes) per row of the resampled output */
  int tile, tiles_x, tiles_y, n_tiles;
  SrVkBuffer input, map_a, map_b, lists, depths, scratch, lr, hr;
  SrVkBuffer out, tables;    /* resampling: the output bytes; the tables (host-visible) */
  SrVkBuffer up, down;       /* host-visible staging: LR bytes; the picture then depths */
  VkDeviceSize picture_bytes; /* the HR or resampled bytes that come down */
  SrVkPush resample;
  VkDescriptorPool desc_pool;
  VkDescriptorSet sets[5];   /* one per use of the buffers (sr-vk-frame.c) */
  VkCommandBuffer cmd;       /* recorded once for this size, submitted every frame */
  guint8 *tile_depths;       /* the last frame's depths, for the stats */
};

/* Makes vk->frame fit src's size and samples and, with a plan (8-bit), resample to dst's
 * size (checking the device's limits before allocating anything); keeps the current one
 * when they are unchanged. */
gboolean sr_vk_frame_ensure (SrVk *vk, const SrPlane *src, const SrPlane *dst,
    const SrResamplePlan *plan, GError **error);
/* Device and staging bytes a frame of that size takes. */
guint64 sr_vk_frame_bytes (SrVk *vk, int width, int height);
void sr_vk_frame_free (SrVk *vk, SrVkFrame *frame);

/* ---- host side of planes (sr-vk-backend.c) ---- */

/* Packed rows of in_stride bytes into dst, touching only its pixels. */

/* ---- plane kernels: bicubic x2 and resampling (sr-vk-planes.c) ---- */

gboolean sr_vk_bicubic_x2 (SrVk *vk, const SrPlane *src, SrPlane *dst, GError **error);
gboolean sr_vk_resample (SrVk *vk, const SrPlane *src, SrPlane *dst,
    const SrResamplePlan *plan, GError **error);
void sr_vk_plane_jobs_free (SrVk *vk);
/* resample.comp's inputs: the tables (host-visible, mapped, of sr_vk_resample_table_bytes)
 * and the push constants, for src (its size and samples only) to dst. */
guint64 sr_vk_resample_table_bytes (const SrResamplePlan *plan);
void sr_vk_resample_setup (const SrResamplePlan *plan, const SrPlane *src, const SrPlane *dst,
    SrVkBuffer *tables, SrVkPush *push);

#endif
