/* Vulkan instance and device choice, buffers, and VkResult errors. */
#include "sr-vk.h"

#include <string.h>

const char *
sr_vk_result_name (VkResult result)
{
  switch (result) {
#define R(x) case x: return #x
    R (VK_SUCCESS);
    R (VK_NOT_READY);
    R (VK_TIMEOUT);
    R (VK_INCOMPLETE);
    R (VK_ERROR_OUT_OF_HOST_MEMORY);
    R (VK_ERROR_OUT_OF_DEVICE_MEMORY);
    R (VK_ERROR_INITIALIZATION_FAILED);
    R (VK_ERROR_DEVICE_LOST);
    R (VK_ERROR_MEMORY_MAP_FAILED);
    R (VK_ERROR_LAYER_NOT_PRESENT);
    R (VK_ERROR_EXTENSION_NOT_PRESENT);
    R (VK_ERROR_FEATURE_NOT_PRESENT);
    R (VK_ERROR_INCOMPATIBLE_DRIVER);
    R (VK_ERROR_TOO_MANY_OBJECTS);
    R (VK_ERROR_FORMAT_NOT_SUPPORTED);
    R (VK_ERROR_FRAGMENTED_POOL);
    R (VK_ERROR_OUT_OF_POOL_MEMORY);
    R (VK_ERROR_INVALID_SHADER_NV);
#undef R
    default: return "unknown VkResult";
  }
}

gboolean
sr_vk_check (VkResult result, const char *call, GError **error)
{
  if (result == VK_SUCCESS)
    return TRUE;
  g_set_error (error, SR_ERROR, SR_ERROR_BACKEND, "vulkan: %s failed: %s (%d)", call,
      sr_vk_result_name (result), result);
  return FALSE;
}

static gboolean
is_software (const VkPhysicalDeviceProperties *p)
{
  return p->deviceType == VK_PHYSICAL_DEVICE_TYPE_CPU;
}

/* The first queue family with compute, or -1; its timestamp bits in *bits. */
static int
compute_family (VkPhysicalDevice phys, uint32_t *bits)
{
  uint32_t n = 0;
  vkGetPhysicalDeviceQueueFamilyProperties (phys, &n, NULL);
  VkQueueFamilyProperties *q = g_new0 (VkQueueFamilyProperties, MAX (n, 1));
  vkGetPhysicalDeviceQueueFamilyProperties (phys, &n, q);
  int found = -1;
  for (uint32_t i = 0; i < n && found < 0; i++)
    if (q[i].queueFlags & VK_QUEUE_COMPUTE_BIT) {
      found = i;
      if (bits)
        *bits = q[i].timestampValidBits;
    }
  g_free (q);
  return found;
}

/* Whether `s` is a whole non-negative decimal number (a device index). */
static gboolean
parse_index (const char *s, guint64 *index)
{
  return s[0] && g_ascii_string_to_unsigned (s, 10, 0, G_MAXINT, index, NULL);
}

/* Chooses among the usable devices (Vulkan 1.1 with a compute queue). */
static int
choose (const VkPhysicalDeviceProperties *props, const gboolean *usable, uint32_t n,
    const char *want, gboolean automatic, GError **error)
{
  GString *list = g_string_new (NULL);
  for (uint32_t i = 0; i < n; i++)
    g_string_append_printf (list, "%s%u: %s%s", i ? ", " : "", i, props[i].deviceName,
        usable[i] ? "" : " (no Vulkan 1.1 compute)");
  int chosen = -1;
  if (want) {
    guint64 index;
    if (parse_index (want, &index)) {
      if (index < n)
        chosen = index;
    } else {
      g_autofree char *needle = g_utf8_casefold (want, -1);
      for (uint32_t i = 0; i < n && chosen < 0; i++) {
        g_autofree char *name = g_utf8_casefold (props[i].deviceName, -1);
        if (strstr (name, needle))
          chosen = i;
      }
    }
    if (chosen < 0)
      g_set_error (error, SR_ERROR, SR_ERROR_NO_DEVICE,
          "vulkan: no device matches \"%s\" (devices: %s)", want, list->str);
    else if (!usable[chosen]) {
      g_set_error (error, SR_ERROR, SR_ERROR_NO_DEVICE, "vulkan: device \"%s\" (%s) has no "
          "Vulkan 1.1 compute queue", want, props[chosen].deviceName);
      chosen = -1;
    } else if (automatic && is_software (&props[chosen])) {
      g_set_error (error, SR_ERROR, SR_ERROR_NO_DEVICE, "vulkan: device \"%s\" (%s) is a "
          "software device, taken only when the backend is named", want,
          props[chosen].deviceName);
      chosen = -1;
    }
  } else {
    for (uint32_t i = 0; i < n && chosen < 0; i++)
      if (usable[i] && !is_software (&props[i]))
        chosen = i;
    for (uint32_t i = 0; i < n && chosen < 0 && !automatic; i++)
      if (usable[i])
        chosen = i;
    if (chosen < 0) {
      gboolean any = FALSE;
      for (uint32_t i = 0; i < n; i++)
        any |= usable[i];
      if (any)
        g_set_error (error, SR_ERROR, SR_ERROR_NO_DEVICE, "vulkan: only a software device (%s) "
            "is present, slower than the cpu backend; use backend=vulkan to run on it",
            list->str);
      else
        g_set_error (error, SR_ERROR, SR_ERROR_NO_DEVICE, "vulkan: no usable device (%s)",
            n ? list->str : "none");
    }
  }
  g_string_free (list, TRUE);
  return chosen;
}

gboolean
sr_vk_device_open (SrVkDevice *dev, const char *want, gboolean automatic,
    gboolean want_storage16, GError **error)
{
  VkApplicationInfo app = {
    .sType = VK_STRUCTURE_TYPE_APPLICATION_INFO,
    .pApplicationName = "sr-core",
    .pEngineName = "gst-superres",
    .apiVersion = VK_API_VERSION_1_1,
  };
  VkInstanceCreateInfo ici = {
    .sType = VK_STRUCTURE_TYPE_INSTANCE_CREATE_INFO,
    .pApplicationInfo = &app,
  };
  VkResult res = vkCreateInstance (&ici, NULL, &dev->instance);
  if (res != VK_SUCCESS) {
    dev->instance = VK_NULL_HANDLE;
    g_set_error (error, SR_ERROR, SR_ERROR_NO_DEVICE, "vulkan: no usable driver "
        "(vkCreateInstance: %s)", sr_vk_result_name (res));
    return FALSE;
  }
  uint32_t n = 0;
  if (!sr_vk_check (vkEnumeratePhysicalDevices (dev->instance, &n, NULL),
          "vkEnumeratePhysicalDevices", error))
    return FALSE;
  if (n == 0) {
    g_set_error (error, SR_ERROR, SR_ERROR_NO_DEVICE, "vulkan: no device");
    return FALSE;
  }
  VkPhysicalDevice *phys = g_new0 (VkPhysicalDevice, n);
  VkPhysicalDeviceProperties *props = g_new0 (VkPhysicalDeviceProperties, n);
  gboolean *usable = g_new0 (gboolean, n);
  res = vkEnumeratePhysicalDevices (dev->instance, &n, phys);
  if (res == VK_INCOMPLETE)
    res = VK_SUCCESS;
  int chosen = -1;
  if (sr_vk_check (res, "vkEnumeratePhysicalDevices", error)) {
    for (uint32_t i = 0; i < n; i++) {
      vkGetPhysicalDeviceProperties (phys[i], &props[i]);
      usable[i] = props[i].apiVersion >= VK_API_VERSION_1_1 && compute_family (phys[i], NULL) >= 0;
    }
    chosen = choose (props, usable, n, want, automatic, error);
  }
  if (chosen >= 0) {
    dev->phys = phys[chosen];
    dev->props = props[chosen];
  }
  g_free (phys);
  g_free (props);
  g_free (usable);
  if (chosen < 0)
    return FALSE;

  vkGetPhysicalDeviceMemoryProperties (dev->phys, &dev->mem);
  VkPhysicalDeviceMaintenance3Properties m3 = {
    .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_MAINTENANCE_3_PROPERTIES,
  };
  VkPhysicalDeviceProperties2 p2 = {
    .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_PROPERTIES_2,
    .pNext = &m3,
  };
  vkGetPhysicalDeviceProperties2 (dev->phys, &p2);
  dev->max_alloc = m3.maxMemoryAllocationSize ? m3.maxMemoryAllocationSize : G_MAXUINT32;

  dev->queue_family = compute_family (dev->phys, &dev->timestamp_bits);
  float priority = 1.f;
  VkDeviceQueueCreateInfo qci = {
    .sType = VK_STRUCTURE_TYPE_DEVICE_QUEUE_CREATE_INFO,
    .queueFamilyIndex = dev->queue_family,
    .queueCount = 1,
    .pQueuePriorities = &priority,
  };
  VkPhysicalDevice16BitStorageFeatures storage16 = {
    .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_16BIT_STORAGE_FEATURES,
  };
  VkPhysicalDeviceFeatures2 features = {
    .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_FEATURES_2,
    .pNext = &storage16,
  };
  vkGetPhysicalDeviceFeatures2 (dev->phys, &features);
  dev->storage16 = want_storage16 && storage16.storageBuffer16BitAccess;
  VkPhysicalDevice16BitStorageFeatures enable16 = {
    .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_16BIT_STORAGE_FEATURES,
    .storageBuffer16BitAccess = VK_TRUE,
  };
  VkDeviceCreateInfo dci = {
    .sType = VK_STRUCTURE_TYPE_DEVICE_CREATE_INFO,
    .pNext = dev->storage16 ? &enable16 : NULL,
    .queueCreateInfoCount = 1,
    .pQueueCreateInfos = &qci,
  };
  if (!sr_vk_check (vkCreateDevice (dev->phys, &dci, NULL, &dev->device), "vkCreateDevice",
          error)) {
    dev->device = VK_NULL_HANDLE;
    return FALSE;
  }
  vkGetDeviceQueue (dev->device, dev->queue_family, 0, &dev->queue);
  return TRUE;
}

void
sr_vk_device_close (SrVkDevice *dev)
{
  if (dev->device)
    vkDestroyDevice (dev->device, NULL);
  if (dev->instance)
    vkDestroyInstance (dev->instance, NULL);
  dev->device = VK_NULL_HANDLE;
  dev->instance = VK_NULL_HANDLE;
}

/* The first memory type in `bits` with all of `flags`, or -1. */
static int
memory_type (const SrVkDevice *dev, uint32_t bits, VkMemoryPropertyFlags flags)
{
  for (uint32_t i = 0; i < dev->mem.memoryTypeCount; i++)
    if ((bits & (1u << i)) && (dev->mem.memoryTypes[i].propertyFlags & flags) == flags)
      return i;
  return -1;
}

static VkMemoryPropertyFlags
wanted_flags (gboolean host)
{
  return host ? VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT | VK_MEMORY_PROPERTY_HOST_COHERENT_BIT
      : VK_MEMORY_PROPERTY_DEVICE_LOCAL_BIT;
}

VkDeviceSize
sr_vk_heap_size (const SrVkDevice *dev, gboolean host)
{
  int type = memory_type (dev, ~0u, wanted_flags (host));
  if (type < 0)
    type = 0;
  return dev->mem.memoryHeaps[dev->mem.memoryTypes[type].heapIndex].size;
}

gboolean
sr_vk_buffer_new (SrVkDevice *dev, SrVkBuffer *buf, VkDeviceSize size,
    VkBufferUsageFlags usage, gboolean host, GError **error)
{
  memset (buf, 0, sizeof *buf);
  VkBufferCreateInfo bci = {
    .sType = VK_STRUCTURE_TYPE_BUFFER_CREATE_INFO,
    .size = size,
    .usage = usage,
    .sharingMode = VK_SHARING_MODE_EXCLUSIVE,
  };
  if (!sr_vk_check (vkCreateBuffer (dev->device, &bci, NULL, &buf->buffer), "vkCreateBuffer",
          error)) {
    buf->buffer = VK_NULL_HANDLE;
    return FALSE;
  }
  buf->size = size;
  VkMemoryRequirements req;
  vkGetBufferMemoryRequirements (dev->device, buf->buffer, &req);
  int type = memory_type (dev, req.memoryTypeBits, wanted_flags (host));
  if (type < 0 && !host)
    type = memory_type (dev, req.memoryTypeBits, 0);
  if (type < 0) {
    g_set_error (error, SR_ERROR, SR_ERROR_BACKEND, "vulkan: no %s memory type for a buffer",
        host ? "host-visible coherent" : "device");
    sr_vk_buffer_free (dev, buf);
    return FALSE;
  }
  VkMemoryAllocateInfo mai = {
    .sType = VK_STRUCTURE_TYPE_MEMORY_ALLOCATE_INFO,
    .allocationSize = req.size,
    .memoryTypeIndex = type,
  };
  VkResult res = vkAllocateMemory (dev->device, &mai, NULL, &buf->memory);
  if (res != VK_SUCCESS)
    buf->memory = VK_NULL_HANDLE;
  if (!sr_vk_check (res, "vkAllocateMemory", error) ||
      !sr_vk_check (vkBindBufferMemory (dev->device, buf->buffer, buf->memory, 0),
          "vkBindBufferMemory", error) ||
      (host && !sr_vk_check (vkMapMemory (dev->device, buf->memory, 0, VK_WHOLE_SIZE, 0,
          &buf->map), "vkMapMemory", error))) {
    sr_vk_buffer_free (dev, buf);
    return FALSE;
  }
  return TRUE;
}

void
sr_vk_buffer_free (SrVkDevice *dev, SrVkBuffer *buf)
{
  if (buf->buffer)
    vkDestroyBuffer (dev->device, buf->buffer, NULL);
  if (buf->memory)
    vkFreeMemory (dev->device, buf->memory, NULL); /* unmaps too */
  memset (buf, 0, sizeof *buf);
}
