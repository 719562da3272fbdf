/* sr-core: real-time x2 super-resolution of video planes.
 *
 * A C library with no GStreamer dependency: load a model file (safetensors with the
 * architecture in its metadata), make an engine on a backend, upscale luma planes
 * with the network and chroma planes with bicubic interpolation.
 *
 * Use: `pkg-config --cflags --libs sr-core-1.0`, `#include <sr-core/sr-core.h>`.
 *
 * Conventions for every call below, unless its comment says otherwise:
 * - Ownership: a returned `char *` is the caller's (g_free); a returned `const char *` or
 *   `const` pointer belongs to the object it came from and lives as long as it. Objects
 *   made by `*_new` / `*_load*` are freed by their `*_free`, which accepts NULL.
 * - Errors: calls that can fail take `GError **error` (may be NULL), return FALSE or NULL
 *   and set it in the SR_ERROR domain. A programming error (a NULL object, an error
 *   already set) is reported with a g_critical and the call returns FALSE / NULL / 0
 *   without doing anything (g_return_val_if_fail).
 * - Threads: an SrModel is immutable once loaded and may be shared by any number of
 *   engines and threads. An SrEngine is used by one thread at a time (calls on the same
 *   engine must not overlap); different engines run in parallel. Functions on planes
 *   only (bicubic, metrics) are reentrant.
 */
#ifndef SR_CORE_H
#define SR_CORE_H

#include <glib.h>
#include <sr-core/sr-core-version.h>

G_BEGIN_DECLS

/* Marks the API: the library is built with -fvisibility=hidden and exports only these. */
#if defined(__GNUC__) || defined(__clang__)
#define SR_API __attribute__ ((visibility ("default"))) extern
#else
#define SR_API extern
#endif

/* The version of the library running (which may be newer than SR_CORE_VERSION_STRING, the
 * headers compiled against): "major.minor.micro", static; any argument may be NULL. */
SR_API const char *sr_core_get_version (int *major, int *minor, int *micro);

#define SR_ERROR (sr_error_quark ())
SR_API GQuark sr_error_quark (void);

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
 * plane (the U or V of NV12: 2; of P010: 4). The caller owns `data`: sr-core reads or
 * writes it only during the call it is passed to. */
typedef struct {
  guint8 *data;
  int width;
  int height;
  gsize stride;
  int pixel_stride;
  /* 0 or 8: bytes. 9..16: the samples are 16-bit native-endian words holding `bits`
   * significant bits shifted left by `shift` (I420_10LE: 10 and 0; P010: 10 and 6). The
   * network then runs in fp32 (the CPU backend's fp32 path; the GPU backends' float, with
   * the samples going up and down as 16-bit words). Bicubic and resampling of such planes
   * run on the CPU, also beside a GPU backend. */
  int bits;
  int shift;
} SrPlane;

typedef struct _SrModel SrModel;

/* Loads and validates a model file (every size, offset and value checked: a hostile file
 * gives an error, never a crash). The model owns a copy of what it needs: `data` may be
 * freed after the call. Free the model with sr_model_free, after every engine using it. */
SR_API SrModel *sr_model_load (const char *path, GError **error);
SR_API SrModel *sr_model_load_from_data (const guint8 *data, gsize size, GError **error);
SR_API void sr_model_free (SrModel *model);
SR_API int sr_model_get_scale (const SrModel *model);
/* Multiply-accumulates per input (LR) pixel at full depth. */
SR_API guint64 sr_model_get_macs_per_pixel (const SrModel *model);
/* How far (in LR pixels) one output pixel sees: the halo a tile needs. */
SR_API int sr_model_get_receptive_radius (const SrModel *model);
/* The model's "name" metadata, or "" (owned by the model) */
SR_API const char *sr_model_get_name (const SrModel *model);
/* Blocks at full depth for a model with adaptive exits, else 0. */
SR_API int sr_model_get_max_depth (const SrModel *model);
/* The exit threshold (dB) the model's training recommends ("default_exit_threshold"
 * metadata), or 0. */
SR_API double sr_model_get_default_exit_threshold (const SrModel *model);

/* Path of the default model (newly allocated): $SR_MODEL_PATH if set, else the installed
 * <datadir>/gst-superres/models/superres-x2.safetensors; NULL when neither is set or
 * exists. An uninstalled build finds the source tree's model through `meson devenv`, which
 * sets SR_MODEL_PATH: the library itself never looks into a source tree. */
SR_API char *sr_model_find_default (void);

typedef enum {
  SR_BACKEND_AUTO,
  SR_BACKEND_CPU,
  SR_BACKEND_VULKAN,
  SR_BACKEND_OPENCL,
} SrBackendKind;

/* "auto", "cpu", "vulkan", "opencl" (static), or "unknown". */
SR_API const char *sr_backend_kind_name (SrBackendKind kind);
/* Whether this build has the backend at all (it may still fail to start). */
SR_API gboolean sr_backend_is_built (SrBackendKind kind);

/* How to make an engine. Fill it with sr_engine_config_init (or zero it: all zeros are the
 * defaults) and set the fields wanted: later versions add fields in place of `reserved`,
 * with 0 meaning their default, so such code keeps working. */
typedef struct {
  SrBackendKind backend;
  int n_threads; /* 0: one per processor */
  int tile_size; /* LR tile side of the GPU backends; 0: default (the CPU runs rows) */
  /* GPU backends: the device's index or a substring of its name; NULL: the first GPU.
   * Read during sr_engine_new only. */
  const char *device;
  /*< private >*/
  gpointer reserved[8]; /* must be zero */
} SrEngineConfig;

/* Sets every field to its default: AUTO backend, a thread per processor, default tiles. */
SR_API void sr_engine_config_init (SrEngineConfig *config);

typedef struct _SrEngine SrEngine;

/* Fails with SR_ERROR_UNSUPPORTED when the backend asked for is not built; with
 * SR_ERROR_BACKEND when it is built but cannot start; with SR_ERROR_INVALID for negative
 * sizes or a config whose reserved fields are not zero. AUTO tries Vulkan, OpenCL, then the
 * CPU, and takes a GPU backend only on a hardware GPU (software devices such as lavapipe
 * or PoCL are slower than the CPU backend; name the backend to use them). `config` may be
 * NULL (the defaults) and is not kept. The engine borrows `model`: the model must outlive
 * it. Starting a backend can take a while (GPU pipelines, thread pool): make engines once,
 * not per frame. */
SR_API SrEngine *sr_engine_new (const SrModel *model, const SrEngineConfig *config,
    GError **error);
/* Frees the engine and its backend's threads, buffers and device; not while a call on the
 * engine runs. The model it borrowed is untouched. */
SR_API void sr_engine_free (SrEngine *engine);
SR_API SrBackendKind sr_engine_get_backend (const SrEngine *engine);
/* The device the engine runs on, e.g. "llvmpipe (LLVM 15.0.6, 256 bits)" or "cpu: 2 threads"
 * (owned by the engine). */
SR_API const char *sr_engine_get_device_name (const SrEngine *engine);
/* The arithmetic the network runs in: "fp32" (the GPU backends, the CPU's reference), or the
 * CPU backend's choice among what the model file allows, "bf16", "int16" or "int8" (static
 * string). */
SR_API const char *sr_engine_get_precision (const SrEngine *engine);
/* Under AUTO, why backends before the one chosen failed to start on a device they found
 * (a backend that found no device is not a failure); NULL if none failed. Owned by the
 * engine. */
SR_API const char *sr_engine_get_fallback_note (const SrEngine *engine);

/* When a GPU backend fails on a frame (device lost, allocation, kernel or queue error), the
 * engine replaces it with the CPU backend, which redoes the frame and runs from then on.
 * Returns (once, newly allocated) why, or NULL if that has not happened since the last call.
 * $SR_FAULT_GPU_FRAME=N makes the N-th luma frame (from 0) given to a GPU backend fail, to
 * test this. */
SR_API char *sr_engine_take_failover_note (SrEngine *engine);

/* Adaptive patch exit (models with exits): each tile stops at the depth whose predicted gains,
 * each less `threshold`, sum highest (ties go deeper), in the unit of the model's predictor (dB of PSNR,
 * or squared error in 8-bit levels); 0 (the default) = always full depth.
 * Like every engine call, not to overlap a running upscale: call it between frames. */
SR_API void sr_engine_set_exit_threshold (SrEngine *engine, double threshold);
SR_API double sr_engine_get_exit_threshold (const SrEngine *engine);

#define SR_MAX_DEPTH 32

/* What the last frame cost (sr_engine_get_stats copies it into the caller's struct). */
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

/* The stats of the last successful sr_engine_upscale_luma (all zero before the first). */
SR_API void sr_engine_get_stats (const SrEngine *engine, SrFrameStats *stats);

/* The most working memory (host and device, beyond the frames themselves) an engine
 * allocates for one frame size, by default. The CPU backend holds rings of rows, plus for the
 * ghost-exit net its luma as a float plane (4 bytes per LR pixel): just over 1 GiB at
 * 16384x16384; the GPU backends' buffers grow with the frame too.
 * $SR_MAX_FRAME_MEMORY (MiB), read when the engine is made, sets another bound. */
#define SR_MAX_FRAME_MEMORY (G_GUINT64_CONSTANT (4) << 30)
/* FALSE with SR_ERROR_INVALID, saying how much it would need, when frames of width x height
 * luma pixels need more than the bound on this engine's backend. */
SR_API gboolean sr_engine_check_frame_size (const SrEngine *engine, int width, int height,
    GError **error);

/* Runs the network on a luma plane (8-bit, or wider: SrPlane). dst must be exactly scale x
 * src in both dimensions and the size must pass sr_engine_check_frame_size; src and dst must
 * not overlap.
 * Blocks until dst is written (the CPU backend spreads the work over its threads, the GPU
 * backends wait for the device). */
SR_API gboolean sr_engine_upscale_luma (SrEngine *engine, const SrPlane *src, SrPlane *dst,
    GError **error);

/* The network, then its scale x picture resampled to dst's size as sr_engine_resample does,
 * bit for bit; any size (the element: 1x to 2x the input per axis), scale x being
 * sr_engine_upscale_luma. On a GPU backend both run in one pass on the device and only the
 * resampled picture comes back; elsewhere the engine keeps the scale x picture between the
 * two. The stats are the network's, as sr_engine_upscale_luma's. */
SR_API gboolean sr_engine_upscale_luma_resampled (SrEngine *engine, const SrPlane *src,
    SrPlane *dst, GError **error);

/* Bicubic resampling by 2 (Keys, a = -0.5, sample centres aligned as in PIL/MATLAB,
 * edges clamped). dst may have any size up to 2x src: for a 4:2:0 frame of odd width
 * the chroma of the 2x frame is one sample narrower than 2x the input chroma. */
SR_API gboolean sr_bicubic_x2 (const SrPlane *src, SrPlane *dst, GError **error);
/* The same, bit for bit, on the engine's device (GPU backends), so a frame's chroma does not
 * cost the CPU; on the CPU backend it is sr_bicubic_x2. */
SR_API gboolean sr_engine_bicubic_x2 (SrEngine *engine, const SrPlane *src, SrPlane *dst,
    GError **error);

/* Resamples src to dst's size, any sizes (the element: the network's x2 luma to the size
 * downstream asked, chroma from the input): bicubic (Keys, a = -0.5) with centres aligned,
 * its support widened by the scale when shrinking (antialiased), as PIL's
 * Image.resize(BICUBIC); integer arithmetic, AVX2 where the CPU has it, bit-exact with C.
 * Runs on the calling thread. */
SR_API gboolean sr_resample (const SrPlane *src, SrPlane *dst, GError **error);
/* The same, bit for bit: 8-bit planes on the engine's device (GPU backends: the tables
 * made here, the passes in a kernel), others in row bands on the CPU backend's threads
 * (on the calling thread beside a GPU backend). */
SR_API gboolean sr_engine_resample (SrEngine *engine, const SrPlane *src, SrPlane *dst,
    GError **error);

/* Quality metrics (sr-metrics.c). Planes must have the same size. */
#define SR_PSNR_IDENTICAL 100.0 /* the PSNR reported for identical planes */
SR_API gboolean sr_plane_sse (const SrPlane *a, const SrPlane *b, guint64 *sse,
    GError **error);
/* PSNR in dB of `samples` 8-bit values with squared error sum `sse`, capped at
 * SR_PSNR_IDENTICAL. */
SR_API double sr_psnr_from_sse (guint64 sse, guint64 samples);
/* Mean SSIM (Gaussian 11x11, sigma 1.5); planes of at least 11x11. */
SR_API gboolean sr_plane_ssim (const SrPlane *a, const SrPlane *b, double *ssim,
    GError **error);

G_END_DECLS

#endif
