/* The library's run-time version (the headers' is in sr-core-version.h). */
#include "sr-core/sr-core.h"

const char *
sr_core_get_version (int *major, int *minor, int *micro)
{
  if (major)
    *major = SR_CORE_MAJOR_VERSION;
  if (minor)
    *minor = SR_CORE_MINOR_VERSION;
  if (micro)
    *micro = SR_CORE_MICRO_VERSION;
  return SR_CORE_VERSION_STRING;
}
