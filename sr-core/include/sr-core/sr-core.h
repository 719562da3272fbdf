/* sr-core: real-time x2 super-resolution of video planes.
 *
 * A C library with no GStreamer dependency: load a model file (safetensors with the
 * architecture in its metadata), make an engine on a backend, upscale 8-bit luma planes
 * with the network and chroma planes with bicubic interpolation.
 */
#ifndef SR_CORE_H
#define SR_CORE_H

#include <glib.h>

G_BEGIN_DECLS

#define SR_ERROR (sr_error_quark ())
GQuark sr_error_quark (void);

typedef enum {
  SR_ERROR_IO,          /* the model file cannot be read */
  SR_ERROR_FORMAT,      /* the model file is malformed or inconsistent */
  SR_ERROR_UNSUPPORTED, /* valid, but asks for something this build cannot do */
  SR_ERROR_BACKEND,     /* the backend could not start or run */
  SR_ERROR_INVALID,     /* a bad argument (plane sizes, strides) */
  SR_ERROR_NO_DEVICE,   /* no device for the backend: no driver, none matching `device`,
                         * or (under AUTO) only software ones */
} SrError;

/* A plane of 8-bit samples, or of more (10-bit video) in 16-bit words. stride and
 * pixel_stride are in bytes; pixel_stride > 1 addresses one component of an interleaved
 * plane (the U or V of NV12: 2; of P010: 4). */
typedef struct {
  guint8 *data;
  int width;
  int height;
  gsize stride;
  int pixel_stride;
  /* 0 or 8: bytes. 9..16: the samples are 16-bit native-endian words holding `bits`
   * significant bits shifted left by `shift` (I420_10LE: 10 and 0; P010: 10 and 6). The
   * network then runs in fp32 on the CPU backend; the GPU backends take 8 bits only. */
  int bits;
  int shift;
} SrPlane;

typedef struct _SrModel SrModel;

SrModel *sr_model_load (const char *path, GError **error);
SrModel *sr_model_load_from_data (const guint8 *data, gsize size, GError **error);
void sr_model_free (SrModel *model);
int sr_model_get_scale (const SrModel *model);
/* Multiply-accumulates per input (LR) pixel at full depth. */
guint64 sr_model_get_macs_per_pixel (const SrModel *model);
/* How far (in LR pixels) one output pixel sees: the halo a tile needs. */
int sr_model_get_receptive_radius (const SrModel *model);
/* The model's "name" metadata, or "" */
const char *sr_model_get_name (const SrModel *model);
/* Blocks at full depth for a model with adaptive exits, else 0. */
int sr_model_get_max_depth (const SrModel *model);
/* The exit threshold (dB) the model's training recommends ("default_exit_threshold"
 * metadata), or 0. */
double sr_model_get_default_exit_threshold (const SrModel *model);

/* Path of the default model: $SR_MODEL_PATH if set, else the installed model, else the
 * one in the source tree (running uninstalled). Returns NULL when none exists. */
char *sr_model_find_default (void);

typedef enum {
  SR_BACKEND_AUTO,
  SR_BACKEND_CPU,
  SR_BACKEND_VULKAN,
  SR_BACKEND_OPENCL,
} SrBackendKind;

const char *sr_backend_kind_name (SrBackendKind kind);
/* Whether this build has the backend at all (it may still fail to start). */
gboolean sr_backend_is_built (SrBackendKind kind);

typedef struct {
  SrBackendKind backend;
  int n_threads; /* 0: one per processor */
  int tile_size; /* LR tile side; 0: default */
  /* GPU backends: the device's index or a substring of its name; NULL: the first GPU */
  const char *device;
} SrEngineConfig;

typedef struct _SrEngine SrEngine;

/* Fails with SR_ERROR_UNSUPPORTED when the backend asked for is not built; with
 * SR_ERROR_BACKEND when it is built but cannot start. AUTO tries Vulkan, OpenCL, then the
 * CPU, and takes a GPU backend only on a hardware GPU (software devices such as lavapipe
 * or PoCL are slower than the CPU backend; name the backend to use them). */
SrEngine *sr_engine_new (const SrModel *model, const SrEngineConfig *config, GError **error);
void sr_engine_free (SrEngine *engine);
SrBackendKind sr_engine_get_backend (const SrEngine *engine);
/* The device the engine runs on, e.g. "llvmpipe (LLVM 15.0.6, 256 bits)" or "cpu: 2 threads". */
const char *sr_engine_get_device_name (const SrEngine *engine);
/* The arithmetic the network runs in: "fp32" (the GPU backends, the CPU's reference), or the
 * CPU backend's choice among what the model file allows, "bf16", "int16" or "int8". */
const char *sr_engine_get_precision (const SrEngine *engine);
/* Under AUTO, why backends before the one chosen failed to start on a device they found
 * (a backend that found no device is not a failure); NULL if none failed. */
const char *sr_engine_get_fallback_note (const SrEngine *engine);

/* Adaptive patch exit (models with exits): each tile stops at the deepest block whose
 * predicted PSNR gain is at least `threshold_db`; 0 (the default) = always full depth.
 * Not thread-safe against a running upscale: call it between frames. */
void sr_engine_set_exit_threshold (SrEngine *engine, double threshold_db);
double sr_engine_get_exit_threshold (const SrEngine *engine);

#define SR_MAX_DEPTH 32

/* What the last frame cost. */
typedef struct {
  int n_tiles;
  int max_depth;                      /* blocks at full depth; 0 for nets without exits */
  int tiles_at_depth[SR_MAX_DEPTH + 1];
  double mean_depth;                  /* area-weighted */
  double macs_per_pixel;              /* spent, per LR pixel: every conv computed (rings around
                                       * early-exiting tiles included) + the predictor */
  double macs_per_pixel_full;         /* the same frame at full depth */
  double seconds;                     /* wall time of sr_engine_upscale_luma */
  double device_seconds;              /* GPU backends: the network's time on the device
                                       * (timestamps, transfers excluded); 0 on the CPU */
  /* the depth of every exit tile, row-major; NULL for nets without exits. Owned by the
   * engine, valid until its next upscale. */
  int tiles_x, tiles_y, tile_size;
  const guint8 *tile_depths;
} SrFrameStats;

void sr_engine_get_stats (const SrEngine *engine, SrFrameStats *stats);

/* dst must be exactly scale x src in both dimensions. */
gboolean sr_engine_upscale_luma (SrEngine *engine, const SrPlane *src, SrPlane *dst,
    GError **error);

/* Bicubic resampling by 2 (Keys, a = -0.5, sample centres aligned as in PIL/MATLAB,
 * edges clamped). dst may have any size up to 2x src: for a 4:2:0 frame of odd width
 * the chroma of the 2x frame is one sample narrower than 2x the input chroma. */
gboolean sr_bicubic_x2 (const SrPlane *src, SrPlane *dst, GError **error);
/* The same, bit for bit, on the engine's device (GPU backends), so a frame's chroma does not
 * cost the CPU; on the CPU backend it is sr_bicubic_x2. */
gboolean sr_engine_bicubic_x2 (SrEngine *engine, const SrPlane *src, SrPlane *dst,
    GError **error);

/* Resamples src to dst's size, any sizes (the element: the network's x2 luma to the size
 * downstream asked, chroma from the input): bicubic (Keys, a = -0.5) with centres aligned,
 * its support widened by the scale when shrinking (antialiased), as PIL's
 * Image.resize(BICUBIC); integer arithmetic, AVX2 where the CPU has it, bit-exact with C.
 * Runs on the calling thread. */
gboolean sr_resample (const SrPlane *src, SrPlane *dst, GError **error);
/* The same, bit for bit, in row bands on the CPU backend's threads (other backends: on the
 * calling thread). */
gboolean sr_engine_resample (SrEngine *engine, const SrPlane *src, SrPlane *dst,
    GError **error);

/* Quality metrics (sr-metrics.c). Planes must have the same size. */
#define SR_PSNR_IDENTICAL 100.0 /* the PSNR reported for identical planes */
gboolean sr_plane_sse (const SrPlane *a, const SrPlane *b, guint64 *sse, GError **error);
/* PSNR in dB of `samples` 8-bit values with squared error sum `sse`, capped at
 * SR_PSNR_IDENTICAL. */
double sr_psnr_from_sse (guint64 sse, guint64 samples);
/* Mean SSIM (Gaussian 11x11, sigma 1.5); planes of at least 11x11. */
gboolean sr_plane_ssim (const SrPlane *a, const SrPlane *b, double *ssim, GError **error);

G_END_DECLS

#endif
