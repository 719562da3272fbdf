/* What the OpenCL backend's files share. */
#ifndef SR_OPENCL_H
#define SR_OPENCL_H

#include "../sr-model-private.h"

#include <CL/cl.h>

/* A device with its context and the SR kernels built for it. Shared by every engine on
 * the device and kept while the process lives: the program is built once per device and
 * process, and engines only borrow it. */
typedef struct {
  cl_platform_id platform;
  cl_device_id device;
  char *name;           /* "device name (platform name)" */
  cl_context context;
  cl_program program;
  gboolean fp16;        /* the program stores feature maps as fp16 */
} SrClDevice;

/* The device `wanted` names (index or case-insensitive name substring; NULL: the first
 * GPU, or when not automatic the first device), its program built (with fp16 feature maps
 * if asked). NULL with SR_ERROR_NO_DEVICE or SR_ERROR_BACKEND saying why (no ICD, no such
 * device, build log). */
SrClDevice *sr_cl_device_get (const char *wanted, gboolean automatic, gboolean fp16,
    GError **error);

/* Sets SR_ERROR_BACKEND "opencl: <what> failed: <code name>" and returns FALSE unless
 * status is CL_SUCCESS. */
gboolean sr_cl_check (cl_int status, const char *what, GError **error);

#endif
