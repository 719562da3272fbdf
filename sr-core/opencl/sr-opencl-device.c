/* OpenCL devices: listing, choosing by the `device` setting, and building the kernels once
 * per device (the build is slow on some drivers; engines on one device share it). */
#include "sr-opencl.h"

#include <gio/gio.h>
#include <string.h>

#define SR_CL_MAX_DEVICES 64

/* Devices with their built program, kept while the process lives (building again costs
 * seconds); engines borrow them. */
static GMutex cache_lock;
static GPtrArray *cache; /* SrClDevice * */

static const char *
status_name (cl_int status)
{
  switch (status) {
    case CL_DEVICE_NOT_FOUND: return "CL_DEVICE_NOT_FOUND";
    case CL_DEVICE_NOT_AVAILABLE: return "CL_DEVICE_NOT_AVAILABLE";
    case CL_MEM_OBJECT_ALLOCATION_FAILURE: return "CL_MEM_OBJECT_ALLOCATION_FAILURE";
    case CL_OUT_OF_RESOURCES: return "CL_OUT_OF_RESOURCES";
    case CL_OUT_OF_HOST_MEMORY: return "CL_OUT_OF_HOST_MEMORY";
    case CL_BUILD_PROGRAM_FAILURE: return "CL_BUILD_PROGRAM_FAILURE";
    case CL_INVALID_VALUE: return "CL_INVALID_VALUE";
    case CL_INVALID_BUFFER_SIZE: return "CL_INVALID_BUFFER_SIZE";
    case CL_INVALID_KERNEL_ARGS: return "CL_INVALID_KERNEL_ARGS";
    case CL_INVALID_WORK_GROUP_SIZE: return "CL_INVALID_WORK_GROUP_SIZE";
    case CL_INVALID_WORK_ITEM_SIZE: return "CL_INVALID_WORK_ITEM_SIZE";
    case CL_INVALID_GLOBAL_WORK_SIZE: return "CL_INVALID_GLOBAL_WORK_SIZE";
    case CL_INVALID_ARG_SIZE: return "CL_INVALID_ARG_SIZE";
    case CL_INVALID_ARG_VALUE: return "CL_INVALID_ARG_VALUE";
    case -1001: return "CL_PLATFORM_NOT_FOUND_KHR (no OpenCL driver installed)";
  }
  return "an OpenCL error";
}

gboolean
sr_cl_check (cl_int status, const char *what, GError **error)
{
  if (status == CL_SUCCESS)
    return TRUE;
  g_set_error (error, SR_ERROR, SR_ERROR_BACKEND, "opencl: %s failed: %s (%d)", what,
      status_name (status), status);
  return FALSE;
}

static char *
info_string (cl_device_id device, cl_platform_id platform, cl_uint param)
{
  size_t size = 0;
  if (device)
    clGetDeviceInfo (device, param, 0, NULL, &size);
  else
    clGetPlatformInfo (platform, param, 0, NULL, &size);
  char *s = g_malloc0 (size + 1);
  if (device)
    clGetDeviceInfo (device, param, size, s, NULL);
  else
    clGetPlatformInfo (platform, param, size, s, NULL);
  return g_strstrip (s);
}

typedef struct {
  cl_platform_id platform;
  cl_device_id device;
  char *name;
  gboolean software;
} Listed;

/* Every device of every platform, in platform order. */
static int
list_devices (Listed *out, GError **error)
{
  cl_platform_id platforms[16];
  cl_uint n_platforms = 0;
  cl_int status = clGetPlatformIDs (16, platforms, &n_platforms);
  if (status != CL_SUCCESS || n_platforms == 0) {
    g_set_error (error, SR_ERROR, SR_ERROR_NO_DEVICE, "opencl: no OpenCL platform (is an ICD "
        "such as pocl-opencl-icd or the GPU vendor's installed?): %s", status_name (status));
    return -1;
  }
  int n = 0;
  for (cl_uint p = 0; p < MIN (n_platforms, 16u); p++) {
    cl_device_id devices[SR_CL_MAX_DEVICES];
    cl_uint n_devices = 0;
    if (clGetDeviceIDs (platforms[p], CL_DEVICE_TYPE_ALL, SR_CL_MAX_DEVICES - n, devices,
            &n_devices) != CL_SUCCESS)
      continue;
    g_autofree char *platform_name = info_string (NULL, platforms[p], CL_PLATFORM_NAME);
    for (cl_uint d = 0; d < n_devices && n < SR_CL_MAX_DEVICES; d++) {
      cl_device_type type = 0;
      clGetDeviceInfo (devices[d], CL_DEVICE_TYPE, sizeof type, &type, NULL);
      g_autofree char *device_name = info_string (devices[d], NULL, CL_DEVICE_NAME);
      out[n] = (Listed) { platforms[p], devices[d],
        g_strdup_printf ("%s (%s)", device_name, platform_name),
        (type & CL_DEVICE_TYPE_GPU) == 0 };
      n++;
    }
  }
  return n;
}

/* Index or name substring; NULL: the first hardware GPU, else (named backend) the first. */
static int
choose (const Listed *list, int n, const char *wanted, gboolean automatic, GError **error)
{
  g_autoptr (GString) names = g_string_new (NULL);
  for (int i = 0; i < n; i++)
    g_string_append_printf (names, "%s%d: %s", i ? ", " : "", i, list[i].name);
  int chosen = -1;
  if (wanted && *wanted) {
    char *end;
    gint64 index = g_ascii_strtoll (wanted, &end, 10);
    g_autofree char *needle = g_utf8_casefold (wanted, -1);
    for (int i = 0; i < n && chosen < 0; i++) {
      g_autofree char *hay = g_utf8_casefold (list[i].name, -1);
      if ((*end == '\0' && index == i) || (*end != '\0' && strstr (hay, needle)))
        chosen = i;
    }
    if (chosen < 0) {
      g_set_error (error, SR_ERROR, SR_ERROR_NO_DEVICE, "opencl: no device matches \"%s\" "
          "(devices: %s)", wanted, n ? names->str : "none");
      return -1;
    }
  } else {
    for (int i = 0; i < n && chosen < 0; i++)
      if (!list[i].software)
        chosen = i;
    if (chosen < 0 && !automatic && n > 0)
      chosen = 0;
    if (chosen < 0) {
      g_set_error (error, SR_ERROR, SR_ERROR_NO_DEVICE, "opencl: no GPU device%s (devices: %s)",
          n ? "; software devices are used only with backend=opencl" : "",
          n ? names->str : "none");
      return -1;
    }
  }
  if (automatic && list[chosen].software) {
    g_set_error (error, SR_ERROR, SR_ERROR_NO_DEVICE, "opencl: %s is not a GPU (slower than the "
        "cpu backend; use backend=opencl to run on it)", list[chosen].name);
    return -1;
  }
  return chosen;
}

static gboolean
build (SrClDevice *dev, GError **error)
{
  cl_int status;
  dev->context = clCreateContext (NULL, 1, &dev->device, NULL, NULL, &status);
  if (!sr_cl_check (status, "clCreateContext", error))
    return FALSE;
  /* $SR_OPENCL_KERNELS: a kernel file to use instead of the built-in one (for kernel work
   * without rebuilding, and for the test of a failing build) */
  const char *override = g_getenv ("SR_OPENCL_KERNELS");
  g_autoptr (GBytes) source = NULL;
  if (override) {
    char *text;
    gsize len;
    if (!g_file_get_contents (override, &text, &len, error))
      return FALSE;
    source = g_bytes_new_take (text, len);
  } else {
    source = g_resources_lookup_data ("/org/gst-superres/opencl/sr-kernels.cl",
        G_RESOURCE_LOOKUP_FLAGS_NONE, error);
  }
  if (!source)
    return FALSE;
  gsize length;
  const char *text = g_bytes_get_data (source, &length);
  dev->program = clCreateProgramWithSource (dev->context, 1, &text, &length, &status);
  if (!sr_cl_check (status, "clCreateProgramWithSource", error))
    return FALSE;
  status = clBuildProgram (dev->program, 1, &dev->device,
      dev->fp16 ? "-cl-std=CL1.2 -DSR_FEATURE_HALF" : "-cl-std=CL1.2", NULL, NULL);
  if (status != CL_SUCCESS) {
    size_t size = 0;
    clGetProgramBuildInfo (dev->program, dev->device, CL_PROGRAM_BUILD_LOG, 0, NULL, &size);
    g_autofree char *log = g_malloc0 (size + 1);
    clGetProgramBuildInfo (dev->program, dev->device, CL_PROGRAM_BUILD_LOG, size, log, NULL);
    g_set_error (error, SR_ERROR, SR_ERROR_BACKEND, "opencl: building the kernels for %s "
        "failed (%s):\n%s", dev->name, status_name (status), log);
    return FALSE;
  }
  return TRUE;
}

static void
clear_device (SrClDevice *dev)
{
  if (dev->program)
    clReleaseProgram (dev->program);
  if (dev->context)
    clReleaseContext (dev->context);
  g_free (dev->name);
}

SrClDevice *
sr_cl_device_get (const char *wanted, gboolean automatic, gboolean fp16, GError **error)
{
  Listed list[SR_CL_MAX_DEVICES];
  int n = list_devices (list, error);
  if (n < 0)
    return NULL;
  int chosen = choose (list, n, wanted, automatic, error);
  SrClDevice *result = NULL;
  if (chosen >= 0) {
    g_mutex_lock (&cache_lock);
    if (!cache)
      cache = g_ptr_array_new ();
    for (guint i = 0; i < cache->len && !result; i++) {
      SrClDevice *c = cache->pdata[i];
      if (c->device == list[chosen].device && c->fp16 == fp16)
        result = c;
    }
    if (!result) {
      SrClDevice *c = g_new0 (SrClDevice, 1);
      c->platform = list[chosen].platform;
      c->device = list[chosen].device;
      c->name = g_strdup (list[chosen].name);
      c->fp16 = fp16;
      if (build (c, error)) {
        g_ptr_array_add (cache, c);
        result = c;
      } else {
        clear_device (c);
        g_free (c);
      }
    }
    g_mutex_unlock (&cache_lock);
  }
  for (int i = 0; i < n; i++)
    g_free (list[i].name);
  return result;
}
