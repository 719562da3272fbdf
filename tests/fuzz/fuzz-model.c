/* libFuzzer harness: the model loader on arbitrary bytes (docs/reliability.md). Any input
 * must give a model or an error, never a crash, a leak or undefined behaviour. Seeds: the
 * shipped models (the .safetensors files in models/). */
#include <sr-core/sr-core.h>
#include <stdint.h>

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  GError *error = NULL;
  SrModel *model = sr_model_load_from_data (data, size, &error);
  if ((model == NULL) == (error == NULL))
    __builtin_trap (); /* exactly one of a model and an error */
  if (model) {
    /* what the element asks of a loaded model */
    (void) sr_model_get_macs_per_pixel (model);
    (void) sr_model_get_receptive_radius (model);
    (void) sr_model_get_max_depth (model);
    sr_model_free (model);
  }
  g_clear_error (&error);
  return 0;
}
