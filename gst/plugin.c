/* Registers the gst-superres elements. */
#include "gstqualitymeter.h"
#include "gstsuperres.h"

static gboolean
plugin_init (GstPlugin *plugin)
{
  return GST_ELEMENT_REGISTER (superres, plugin) && GST_ELEMENT_REGISTER (qualitymeter, plugin);
}

GST_PLUGIN_DEFINE (GST_VERSION_MAJOR, GST_VERSION_MINOR, superres,
    "Real-time video super-resolution", plugin_init, PACKAGE_VERSION, "LGPL", GST_PACKAGE_NAME,
    GST_PACKAGE_ORIGIN)
