/* Model file loading and validation.
 *
 * The file is safetensors: an 8-byte little-endian header length, a JSON header, raw
 * little-endian tensors. "__metadata__" carries format, version and the architecture
 * ("arch", itself JSON). Every length, offset, dtype and shape is checked against the
 * architecture before anything is used, so a corrupt file gives an error naming the
 * problem, never a crash. */
#include "sr-model-private.h"

#include <errno.h>
#include <fcntl.h>
#include <glib/gstdio.h>
#include <json-glib/json-glib.h>
#include <math.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define SR_FORMAT_NAME "gst-superres"
#define SR_FORMAT_VERSION "1"
#define SR_MAX_HEADER (16 * 1024 * 1024)
/* The shipped models are 0.1-0.3 MB; this leaves room for much larger nets while a path such
 * as /dev/zero or a huge file is refused before anything is read. */
#define SR_MAX_MODEL_FILE (64 * 1024 * 1024)
/* json-glib parses by recursion: deeper nesting than any model needs (the header 3 levels,
 * the ghost arch's shifts 4) is refused before parsing, so a hostile file cannot overflow
 * the stack. */
#define SR_MAX_JSON_DEPTH 8

G_DEFINE_QUARK (sr-error-quark, sr_error)

static gboolean
fail (GError **error, const char *fmt, ...) G_GNUC_PRINTF (2, 3);

static gboolean
fail (GError **error, const char *fmt, ...)
{
  va_list args;
  va_start (args, fmt);
  char *msg = g_strdup_vprintf (fmt, args);
  va_end (args);
  g_set_error_literal (error, SR_ERROR, SR_ERROR_FORMAT, msg);
  g_free (msg);
  return FALSE;
}

/* Every layer of the model with tensors, in file order; returns the count. */
static int
model_layers (SrModel *model, SrLayer **out)
{
  int n = 0;
  if (model->type == SR_ARCH_PLAIN) {
    for (int i = 0; i < model->n_layers; i++)
      out[n++] = &model->layers[i];
  } else {
    SrGhostExit *g = &model->ghost;
    out[n++] = &g->head;
    for (int i = 0; i < g->n_blocks && g->blocks; i++)
      out[n++] = &g->blocks[i];
    out[n++] = &g->tail;
  }
  SrExits *e = &model->exits;
  for (int d = 1; d < e->n_blocks && e->tails; d++)
    out[n++] = &e->tails[d - 1];
  for (int i = 0; i < 3 && e->n_blocks; i++)
    out[n++] = &e->pred[i];
  return n;
}

void
sr_model_free (SrModel *model)
{
  if (!model)
    return;
  SrLayer *layers[2 * SR_MAX_LAYERS + SR_MAX_BLOCKS + 8];
  int n = model_layers (model, layers);
  for (int i = 0; i < n; i++) {
    g_free (layers[i]->name);
    g_free (layers[i]->weight);
    g_free (layers[i]->bias);
  }
  g_free (model->layers);
  g_free (model->ghost.blocks);
  g_free (model->ghost.shifts);
  g_free (model->exits.tails);
  g_free (model->act_max);
  g_free (model->name);
  g_free (model);
}

/* An integer member within [lo, hi]. */
static gboolean
get_int (JsonObject *obj, const char *what, const char *member, gint64 lo, gint64 hi,
    gint64 *out, GError **error)
{
  JsonNode *node = json_object_get_member (obj, member);
  if (!node || !JSON_NODE_HOLDS_VALUE (node) || json_node_get_value_type (node) != G_TYPE_INT64)
    return fail (error, "%s: \"%s\" is missing or not an integer", what, member);
  *out = json_node_get_int (node);
  if (*out < lo || *out > hi)
    return fail (error, "%s: \"%s\" = %" G_GINT64_FORMAT " is outside [%" G_GINT64_FORMAT
        ", %" G_GINT64_FORMAT "]", what, member, *out, lo, hi);
  return TRUE;
}

static const char *
get_string (JsonObject *obj, const char *member)
{
  JsonNode *node = json_object_get_member (obj, member);
  if (!node || !JSON_NODE_HOLDS_VALUE (node) || json_node_get_value_type (node) != G_TYPE_STRING)
    return NULL;
  return json_node_get_string (node);
}

/* The deepest nesting of arrays and objects in JSON text (strings skipped), stopping as
 * soon as it passes `limit`. */
static int
json_depth (const char *text, gsize len, int limit)
{
  int depth = 0, deepest = 0;
  gboolean in_string = FALSE;
  for (gsize i = 0; i < len && text[i] && deepest <= limit; i++) {
    char c = text[i];
    if (in_string) {
      if (c == '\\')
        i++;
      else if (c == '"')
        in_string = FALSE;
    } else if (c == '"') {
      in_string = TRUE;
    } else if (c == '[' || c == '{') {
      depth++;
      deepest = MAX (deepest, depth);
    } else if (c == ']' || c == '}') {
      depth--;
    }
  }
  return deepest;
}

/* Parses JSON text (len -1: NUL-terminated) from the model file, refusing nesting deeper
 * than SR_MAX_JSON_DEPTH first; `what` names it in errors. */
static gboolean
parse_json (JsonParser *parser, const char *text, gssize len, const char *what, GError **error)
{
  gsize n = len < 0 ? strlen (text) : (gsize) len;
  if (json_depth (text, n, SR_MAX_JSON_DEPTH) > SR_MAX_JSON_DEPTH)
    return fail (error, "%s nests arrays or objects deeper than %d levels", what,
        SR_MAX_JSON_DEPTH);
  g_autoptr (GError) json_error = NULL;
  if (!json_parser_load_from_data (parser, text, n, &json_error))
    return fail (error, "%s is not valid JSON: %s", what, json_error->message);
  return TRUE;
}

static gboolean
parse_layer (JsonNode *node, int index, SrLayer *layer, GError **error)
{
  char what[32];
  g_snprintf (what, sizeof what, "arch layer %d", index);
  if (!JSON_NODE_HOLDS_OBJECT (node))
    return fail (error, "%s is not an object", what);
  JsonObject *obj = json_node_get_object (node);
  const char *name = get_string (obj, "name");
  const char *act = get_string (obj, "act");
  gint64 in_ch, out_ch, kernel;
  if (!name || !*name || strlen (name) > 64)
    return fail (error, "%s has no valid \"name\"", what);
  if (!get_int (obj, what, "in", 1, SR_MAX_CHANNELS, &in_ch, error) ||
      !get_int (obj, what, "out", 1, SR_MAX_CHANNELS, &out_ch, error) ||
      !get_int (obj, what, "kernel", 1, SR_MAX_KERNEL, &kernel, error))
    return FALSE;
  if (kernel % 2 == 0)
    return fail (error, "%s (%s): kernel %d is even; only odd kernels keep the grid", what,
        name, (int) kernel);
  if (!act)
    return fail (error, "%s (%s): \"act\" is missing", what, name);
  if (strcmp (act, "relu") == 0)
    layer->act = SR_ACT_RELU;
  else if (strcmp (act, "none") == 0)
    layer->act = SR_ACT_NONE;
  else
    return fail (error, "%s (%s): unknown activation \"%s\"", what, name, act);
  layer->name = g_strdup (name);
  layer->stride = 1;
  layer->in_ch = in_ch;
  layer->out_ch = out_ch;
  layer->kernel = kernel;
  return TRUE;
}

static void
init_layer (SrLayer *l, const char *name, int in_ch, int out_ch, int kernel, int stride,
    SrActivation act)
{
  l->name = g_strdup (name);
  l->in_ch = in_ch;
  l->out_ch = out_ch;
  l->kernel = kernel;
  l->stride = stride;
  l->act = act;
}

/* The exit tile and the predictor of a net with exits after blocks 1..B (`tile_member` of
 * `obj`, and its "predictor_width"). */
static gboolean
parse_exits (SrModel *model, JsonObject *obj, const char *what, const char *tile_member,
    int blocks, GError **error)
{
  SrExits *e = &model->exits;
  gint64 tile = 0, width = 0;
  if (!get_int (obj, what, tile_member, 8, 256, &tile, error) ||
      !get_int (obj, what, "predictor_width", 1, 64, &width, error))
    return FALSE;
  e->n_blocks = blocks;
  e->tile = tile;
  init_layer (&e->pred[0], "predictor.conv1", 1, width, 3, 2, SR_ACT_RELU);
  init_layer (&e->pred[1], "predictor.conv2", width, width, 3, 2, SR_ACT_RELU);
  init_layer (&e->pred[2], "predictor.fc", width, MAX (blocks - 1, 1), 0, 1, SR_ACT_NONE);
  return TRUE;
}

/* A plain net's "exits" (docs/architecture.md, "The model file"): exit d < B reads hidden
 * layer d's output through its own 3x3 tail "exits.<d>"; exit B is the last layer. */
static gboolean
parse_plain_exits (SrModel *model, JsonObject *arch, GError **error)
{
  JsonNode *node = json_object_get_member (arch, "exits");
  if (!node)
    return TRUE;
  if (!JSON_NODE_HOLDS_OBJECT (node))
    return fail (error, "arch: \"exits\" is not an object");
  JsonObject *exits = json_node_get_object (node);
  const int B = model->n_layers - 2;
  if (B < 1)
    return fail (error, "arch: exits need at least one hidden layer");
  /* a depth per hidden layer: the stats (SR_MAX_DEPTH) and the GPU plan's lists take so many */
  if (B > SR_MAX_BLOCKS)
    return fail (error, "arch: exits take at most %d hidden layers, not %d", SR_MAX_BLOCKS, B);
  const char *gain = get_string (exits, "gain");
  if (json_object_has_member (exits, "gain") &&
      (!gain || (strcmp (gain, "mse") != 0 && strcmp (gain, "db") != 0)))
    return fail (error, "arch: exits \"gain\" must be \"mse\" or \"db\"");
  if (!parse_exits (model, exits, "arch exits", "tile", B, error))
    return FALSE;
  model->exits.tails = g_new0 (SrLayer, MAX (B - 1, 1));
  for (int d = 1; d < B; d++) {
    char name[32];
    g_snprintf (name, sizeof name, "exits.%d", d);
    init_layer (&model->exits.tails[d - 1], name, model->layers[d].out_ch,
        model->scale * model->scale, 3, 1, SR_ACT_NONE);
  }
  return TRUE;
}

static gboolean
parse_ghost_arch (SrModel *model, JsonObject *arch, GError **error)
{
  SrGhostExit *g = &model->ghost;
  gint64 channels = 0, blocks = 0;
  if (!get_int (arch, "arch", "channels", 2, SR_MAX_CHANNELS, &channels, error) ||
      !get_int (arch, "arch", "blocks", 1, SR_MAX_BLOCKS, &blocks, error) ||
      !parse_exits (model, arch, "arch", "exit_tile", blocks, error))
    return FALSE;
  if (channels % 2)
    return fail (error, "arch: ghost channels must be even, got %d", (int) channels);
  g->channels = channels;
  const int half = channels / 2;

  JsonNode *shifts = json_object_get_member (arch, "shifts");
  if (!shifts || !JSON_NODE_HOLDS_ARRAY (shifts) ||
      json_array_get_length (json_node_get_array (shifts)) != (guint) blocks)
    return fail (error, "arch: \"shifts\" must list one array per block (%d)", (int) blocks);
  g->shifts = g_malloc0 (sizeof (gint8[2]) * blocks * half);
  JsonArray *per_block = json_node_get_array (shifts);
  for (int b = 0; b < blocks; b++) {
    JsonNode *node = json_array_get_element (per_block, b);
    JsonArray *list = JSON_NODE_HOLDS_ARRAY (node) ? json_node_get_array (node) : NULL;
    if (!list || json_array_get_length (list) != (guint) half)
      return fail (error, "arch: shifts of block %d must have %d (dy, dx) pairs", b, half);
    for (int c = 0; c < half; c++) {
      JsonNode *pair = json_array_get_element (list, c);
      JsonArray *xy = JSON_NODE_HOLDS_ARRAY (pair) ? json_node_get_array (pair) : NULL;
      for (int k = 0; k < 2; k++) {
        JsonNode *v = xy && json_array_get_length (xy) == 2 ? json_array_get_element (xy, k) : NULL;
        if (!v || !JSON_NODE_HOLDS_VALUE (v) || json_node_get_value_type (v) != G_TYPE_INT64 ||
            json_node_get_int (v) < -1 || json_node_get_int (v) > 1)
          return fail (error, "arch: shift %d of block %d is not a (dy, dx) pair in -1..1", c, b);
        g->shifts[b * half + c][k] = json_node_get_int (v);
      }
    }
  }

  init_layer (&g->head, "head", 1, channels, 3, 1, SR_ACT_RELU);
  g->blocks = g_new0 (SrLayer, blocks);
  g->n_blocks = blocks;
  for (int b = 0; b < blocks; b++) {
    char name[32];
    g_snprintf (name, sizeof name, "blocks.%d.conv", b);
    init_layer (&g->blocks[b], name, channels, half, 3, 1, SR_ACT_RELU);
  }
  init_layer (&g->tail, "tail", channels, model->scale * model->scale, 3, 1, SR_ACT_NONE);
  model->max_channels = channels;
  return TRUE;
}

static gboolean
parse_arch (SrModel *model, const char *arch_json, GError **error)
{
  g_autoptr (JsonParser) parser = json_parser_new ();
  if (!parse_json (parser, arch_json, -1, "metadata \"arch\"", error))
    return FALSE;
  JsonNode *root = json_parser_get_root (parser);
  if (!root || !JSON_NODE_HOLDS_OBJECT (root))
    return fail (error, "metadata \"arch\" is not a JSON object");
  JsonObject *arch = json_node_get_object (root);

  gint64 scale;
  if (!get_int (arch, "arch", "scale", 1, 8, &scale, error))
    return FALSE;
  if (scale != 2) {
    g_set_error (error, SR_ERROR, SR_ERROR_UNSUPPORTED, "scale %d is not supported (only 2)",
        (int) scale);
    return FALSE;
  }
  model->scale = scale;
  const char *anchor = get_string (arch, "anchor");
  if (!anchor || strcmp (anchor, "nearest") != 0)
    return fail (error, "arch: \"anchor\" must be \"nearest\"");
  const char *type = get_string (arch, "type");
  if (type && strcmp (type, "ghost-exit") == 0) {
    model->type = SR_ARCH_GHOST_EXIT;
    return parse_ghost_arch (model, arch, error);
  }
  if (type && strcmp (type, "plain") != 0)
    return fail (error, "arch: unknown type \"%s\"", type);
  model->type = SR_ARCH_PLAIN;

  JsonNode *layers = json_object_get_member (arch, "layers");
  if (!layers || !JSON_NODE_HOLDS_ARRAY (layers))
    return fail (error, "arch: \"layers\" is missing or not an array");
  JsonArray *array = json_node_get_array (layers);
  guint n = json_array_get_length (array);
  if (n < 1 || n > SR_MAX_LAYERS)
    return fail (error, "arch: %u layers, expected 1..%d", n, SR_MAX_LAYERS);
  model->layers = g_new0 (SrLayer, n);
  model->n_layers = n;
  for (guint i = 0; i < n; i++) {
    SrLayer *l = &model->layers[i];
    if (!parse_layer (json_array_get_element (array, i), i, l, error))
      return FALSE;
    int want_in = i == 0 ? 1 : model->layers[i - 1].out_ch;
    if (l->in_ch != want_in)
      return fail (error, "layer %s takes %d channels but receives %d", l->name, l->in_ch,
          want_in);
    for (guint j = 0; j < i; j++)
      if (strcmp (model->layers[j].name, l->name) == 0)
        return fail (error, "layer name %s is used twice", l->name);
    model->max_channels = MAX (model->max_channels, l->out_ch);
  }
  SrLayer *last = &model->layers[n - 1];
  if (last->out_ch != model->scale * model->scale || last->act != SR_ACT_NONE)
    return fail (error, "last layer %s must have %d outputs and no activation", last->name,
        model->scale * model->scale);
  return parse_plain_exits (model, arch, error);
}

/* Copy tensor `name` out of the data area after checking dtype, shape and offsets. */
static gboolean
read_tensor (JsonObject *header, const char *name, const gint64 *shape, int rank,
    const guint8 *data, gsize data_size, float **out, GError **error)
{
  JsonNode *node = json_object_get_member (header, name);
  if (!node || !JSON_NODE_HOLDS_OBJECT (node))
    return fail (error, "tensor %s is missing", name);
  JsonObject *t = json_node_get_object (node);
  const char *dtype = get_string (t, "dtype");
  if (!dtype || strcmp (dtype, "F32") != 0)
    return fail (error, "tensor %s has dtype %s, expected F32", name, dtype ? dtype : "(none)");

  JsonNode *shape_node = json_object_get_member (t, "shape");
  if (!shape_node || !JSON_NODE_HOLDS_ARRAY (shape_node))
    return fail (error, "tensor %s has no shape", name);
  JsonArray *shape_arr = json_node_get_array (shape_node);
  gboolean same = json_array_get_length (shape_arr) == (guint) rank;
  gsize count = 1;
  for (int i = 0; i < rank && same; i++) {
    JsonNode *d = json_array_get_element (shape_arr, i);
    same = JSON_NODE_HOLDS_VALUE (d) && json_node_get_value_type (d) == G_TYPE_INT64 &&
        json_node_get_int (d) == shape[i];
    count *= shape[i];
  }
  if (!same) {
    g_autoptr (JsonGenerator) gen = json_generator_new ();
    json_generator_set_root (gen, shape_node);
    g_autofree char *got = json_generator_to_data (gen, NULL);
    GString *want = g_string_new ("[");
    for (int i = 0; i < rank; i++)
      g_string_append_printf (want, "%s%" G_GINT64_FORMAT, i ? "," : "", shape[i]);
    g_string_append_c (want, ']');
    fail (error, "tensor %s has shape %s, the architecture needs %s", name, got, want->str);
    g_string_free (want, TRUE);
    return FALSE;
  }

  JsonNode *off_node = json_object_get_member (t, "data_offsets");
  JsonArray *off = off_node && JSON_NODE_HOLDS_ARRAY (off_node) ? json_node_get_array (off_node)
      : NULL;
  if (!off || json_array_get_length (off) != 2)
    return fail (error, "tensor %s has no data_offsets pair", name);
  JsonNode *b = json_array_get_element (off, 0), *e = json_array_get_element (off, 1);
  if (!JSON_NODE_HOLDS_VALUE (b) || json_node_get_value_type (b) != G_TYPE_INT64 ||
      !JSON_NODE_HOLDS_VALUE (e) || json_node_get_value_type (e) != G_TYPE_INT64)
    return fail (error, "tensor %s: data_offsets are not integers", name);
  gint64 begin = json_node_get_int (b), end = json_node_get_int (e);
  if (begin < 0 || end < begin || (guint64) end > data_size)
    return fail (error, "tensor %s: data_offsets [%" G_GINT64_FORMAT ", %" G_GINT64_FORMAT
        "] fall outside the %" G_GSIZE_FORMAT " data bytes (truncated file?)", name, begin, end,
        data_size);
  if ((guint64) (end - begin) != count * sizeof (float))
    return fail (error, "tensor %s: %" G_GINT64_FORMAT " bytes for %" G_GSIZE_FORMAT
        " F32 values", name, end - begin, count);

  float *values = g_new (float, count);
  memcpy (values, data + begin, count * sizeof (float));
#if G_BYTE_ORDER == G_BIG_ENDIAN
  for (gsize i = 0; i < count; i++) {
    guint32 v;
    memcpy (&v, &values[i], 4);
    v = GUINT32_SWAP_LE_BE (v);
    memcpy (&values[i], &v, 4);
  }
#endif
  for (gsize i = 0; i < count; i++)
    if (!isfinite (values[i])) {
      g_free (values);
      return fail (error, "tensor %s holds a non-finite value at %" G_GSIZE_FORMAT, name, i);
    }
  *out = values;
  return TRUE;
}

static gboolean
load_tensors (SrModel *model, JsonObject *header, const guint8 *data, gsize data_size,
    GError **error)
{
  SrLayer *layers[2 * SR_MAX_LAYERS + SR_MAX_BLOCKS + 8];
  int n = model_layers (model, layers);
  guint expected = 1; /* __metadata__ */
  for (int i = 0; i < n; i++) {
    SrLayer *l = layers[i];
    gint64 wshape[4] = { l->out_ch, l->in_ch, l->kernel, l->kernel };
    gint64 bshape[1] = { l->out_ch };
    g_autofree char *wname = g_strconcat (l->name, ".weight", NULL);
    g_autofree char *bname = g_strconcat (l->name, ".bias", NULL);
    if (!read_tensor (header, wname, wshape, l->kernel ? 4 : 2, data, data_size, &l->weight,
            error) ||
        !read_tensor (header, bname, bshape, 1, data, data_size, &l->bias, error))
      return FALSE;
    expected += 2;
  }
  if (json_object_get_size (header) != expected)
    return fail (error, "the file has %u entries, the architecture explains %u",
        json_object_get_size (header), expected);
  return TRUE;
}

static const char *const precision_names[SR_N_PRECISIONS] = { "fp32", "bf16", "int16", "int8" };

int
sr_precision_from_name (const char *name)
{
  for (int i = 0; name && i < SR_N_PRECISIONS; i++)
    if (strcmp (name, precision_names[i]) == 0)
      return i;
  return -1;
}

const char *
sr_precision_name (SrPrecision precision)
{
  return precision < SR_N_PRECISIONS ? precision_names[precision] : "?";
}

/* "precision": the precisions the export found keep quality on the CPU's low-precision paths
 * (models/train/choose_precision.py), comma-separated: fp32 (also when absent), bf16, int16,
 * int8 (plain nets only); the integer ones need the calibrated maxima in "act_max". */
static gboolean
parse_precision (SrModel *model, const char *precision, const char *text, GError **error)
{
  model->precisions = 1 << SR_PRECISION_FP32;
  g_auto (GStrv) list = g_strsplit (precision ? precision : "fp32", ",", 8);
  for (int i = 0; list[i]; i++) {
    int found = sr_precision_from_name (g_strstrip (list[i]));
    if (found < 0)
      return fail (error, "metadata precision \"%s\" lists something other than fp32, bf16, "
          "int16, int8", precision);
    model->precisions |= 1u << found;
  }
  if (model->precisions == 1u << SR_PRECISION_FP32)
    return TRUE;
  if (!(model->precisions & ((1u << SR_PRECISION_INT16) | (1u << SR_PRECISION_INT8))))
    return TRUE;
  /* the ghost net's CPU path has int16 (sr-cpu-net.c), not int8 */
  if (model->type != SR_ARCH_PLAIN && (model->precisions & (1u << SR_PRECISION_INT8)))
    return fail (error, "metadata precision %s: int8 is for plain nets only", precision);
  if (!text)
    return fail (error, "metadata precision %s needs act_max", precision);
  g_autoptr (JsonParser) parser = json_parser_new ();
  if (!parse_json (parser, text, -1, "metadata act_max", error))
    return FALSE;
  if (!JSON_NODE_HOLDS_ARRAY (json_parser_get_root (parser)))
    return fail (error, "metadata act_max is not a JSON array");
  JsonArray *a = json_node_get_array (json_parser_get_root (parser));
  /* plain: each layer's input; ghost-exit: the luma, then the residual stream after the
   * head and after each block */
  const gboolean ghost = model->type == SR_ARCH_GHOST_EXIT;
  const int n = ghost ? model->ghost.n_blocks + 2 : model->n_layers;
  if ((int) json_array_get_length (a) != n)
    return fail (error, "metadata act_max has %u entries, expected %d (one per %s)",
        json_array_get_length (a), n, ghost ? "depth and the luma" : "layer");
  model->act_max = g_new (float, n);
  for (int i = 0; i < n; i++) {
    JsonNode *n = json_array_get_element (a, i);
    double v = JSON_NODE_HOLDS_VALUE (n) && json_node_get_value_type (n) != G_TYPE_STRING ?
        json_node_get_double (n) : -1;
    if (!(v > 1e-6 && v < 1e6))
      return fail (error, "metadata act_max[%d] is not a positive maximum", i);
    model->act_max[i] = v;
  }
  return TRUE;
}

SrModel *
sr_model_load_from_data (const guint8 *data, gsize size, GError **error)
{
  g_return_val_if_fail (data != NULL || size == 0, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);
  if (size < 8) {
    fail (error, "%" G_GSIZE_FORMAT " bytes is too short for a safetensors file", size);
    return NULL;
  }
  guint64 header_len = 0;
  for (int i = 7; i >= 0; i--)
    header_len = (header_len << 8) | data[i];
  if (header_len < 2 || header_len > SR_MAX_HEADER || header_len > size - 8) {
    fail (error, "header length %" G_GUINT64_FORMAT " does not fit in the %" G_GSIZE_FORMAT
        "-byte file (truncated or not safetensors)", header_len, size);
    return NULL;
  }

  g_autoptr (JsonParser) parser = json_parser_new ();
  if (!parse_json (parser, (const char *) data + 8, header_len, "the header", error))
    return NULL;
  JsonNode *root = json_parser_get_root (parser);
  if (!root || !JSON_NODE_HOLDS_OBJECT (root)) {
    fail (error, "the header is not a JSON object");
    return NULL;
  }
  JsonObject *header = json_node_get_object (root);
  JsonNode *meta_node = json_object_get_member (header, "__metadata__");
  if (!meta_node || !JSON_NODE_HOLDS_OBJECT (meta_node)) {
    fail (error, "no __metadata__: not a gst-superres model");
    return NULL;
  }
  JsonObject *meta = json_node_get_object (meta_node);
  const char *format = get_string (meta, "format");
  const char *version = get_string (meta, "version");
  const char *arch = get_string (meta, "arch");
  const char *name = get_string (meta, "name");
  if (!format || strcmp (format, SR_FORMAT_NAME) != 0) {
    fail (error, "metadata format is \"%s\", expected \"" SR_FORMAT_NAME "\"",
        format ? format : "(none)");
    return NULL;
  }
  if (!version || strcmp (version, SR_FORMAT_VERSION) != 0) {
    g_set_error (error, SR_ERROR, SR_ERROR_UNSUPPORTED,
        "model format version %s is not supported (this build reads " SR_FORMAT_VERSION ")",
        version ? version : "(none)");
    return NULL;
  }
  if (!arch) {
    fail (error, "metadata has no \"arch\"");
    return NULL;
  }

  SrModel *model = g_new0 (SrModel, 1);
  model->name = g_strdup (name ? name : "");
  const char *threshold = get_string (meta, "default_exit_threshold");
  if (threshold) {
    char *end;
    model->default_exit_threshold = g_ascii_strtod (threshold, &end);
    if (*end || !(model->default_exit_threshold >= 0 && model->default_exit_threshold < 100)) {
      fail (error, "metadata default_exit_threshold \"%s\" is not a number in [0, 100)",
          threshold);
      sr_model_free (model);
      return NULL;
    }
  }
  if (!parse_arch (model, arch, error) ||
      !load_tensors (model, header, data + 8 + header_len, size - 8 - header_len, error) ||
      !parse_precision (model, get_string (meta, "precision"),
          get_string (meta, "act_max"), error)) {
    sr_model_free (model);
    return NULL;
  }
  return model;
}

/* The whole model file, read only if it is a regular file of at most SR_MAX_MODEL_FILE
 * bytes (checked before reading): /dev/zero would be read without end, and opening a FIFO
 * without O_NONBLOCK waits for a writer forever. */
static guint8 *
read_model_file (const char *path, gsize *size, GError **error)
{
  int fd = g_open (path, O_RDONLY | O_NONBLOCK | O_CLOEXEC, 0);
  if (fd < 0) {
    int err = errno;
    g_set_error (error, SR_ERROR, SR_ERROR_IO, "cannot read model %s: %s", path,
        g_strerror (err));
    return NULL;
  }
  struct stat st;
  guint8 *data = NULL;
  gsize got = 0;
  if (fstat (fd, &st) != 0 || !S_ISREG (st.st_mode)) {
    g_set_error (error, SR_ERROR, SR_ERROR_IO, "model %s is not a regular file", path);
  } else if (st.st_size > SR_MAX_MODEL_FILE) {
    g_set_error (error, SR_ERROR, SR_ERROR_IO, "model %s has %" G_GINT64_FORMAT
        " bytes, more than the %d MiB a model file may have", path, (gint64) st.st_size,
        SR_MAX_MODEL_FILE >> 20);
  } else {
    data = g_malloc (MAX (st.st_size, 1));
    while (got < (gsize) st.st_size) {
      gssize n = read (fd, data + got, st.st_size - got);
      if (n < 0 && errno == EINTR)
        continue;
      if (n <= 0) {
        if (n < 0) {
          int err = errno;
          g_set_error (error, SR_ERROR, SR_ERROR_IO, "cannot read model %s: %s", path,
              g_strerror (err));
          g_clear_pointer (&data, g_free);
        }
        break; /* a file shrunk since fstat is parsed as it is (and found truncated) */
      }
      got += n;
    }
  }
  close (fd);
  *size = got;
  return data;
}

SrModel *
sr_model_load (const char *path, GError **error)
{
  g_return_val_if_fail (path != NULL, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);
  gsize size;
  g_autofree guint8 *contents = read_model_file (path, &size, error);
  if (!contents)
    return NULL;
  GError *format_error = NULL;
  SrModel *model = sr_model_load_from_data (contents, size, &format_error);
  if (!model) {
    g_propagate_prefixed_error (error, format_error, "model %s: ", path);
    return NULL;
  }
  return model;
}

int
sr_model_get_scale (const SrModel *model)
{
  g_return_val_if_fail (model != NULL, 0);
  return model->scale;
}

const char *
sr_model_get_name (const SrModel *model)
{
  g_return_val_if_fail (model != NULL, NULL);
  return model->name;
}

guint64
sr_layer_macs (const SrLayer *l)
{
  return (guint64) l->in_ch * l->out_ch * l->kernel * l->kernel;
}

const SrLayer *
sr_exit_head (const SrModel *model)
{
  return model->type == SR_ARCH_GHOST_EXIT ? &model->ghost.head : &model->layers[0];
}

const SrLayer *
sr_exit_block (const SrModel *model, int j)
{
  return model->type == SR_ARCH_GHOST_EXIT ? &model->ghost.blocks[j - 1] : &model->layers[j];
}

const SrLayer *
sr_exit_tail (const SrModel *model, int depth)
{
  if (model->type == SR_ARCH_GHOST_EXIT)
    return &model->ghost.tail;
  return depth < model->exits.n_blocks ? &model->exits.tails[depth - 1] :
      &model->layers[model->n_layers - 1];
}

guint64
sr_exit_trunk_macs (const SrModel *model, int depth)
{
  guint64 macs = sr_layer_macs (sr_exit_head (model));
  for (int j = 1; j <= depth; j++)
    macs += sr_layer_macs (sr_exit_block (model, j));
  return macs;
}

guint64
sr_exit_macs_per_pixel (const SrModel *model, int depth)
{
  return sr_exit_trunk_macs (model, depth) + sr_layer_macs (sr_exit_tail (model, depth));
}

int
sr_model_get_max_depth (const SrModel *model)
{
  g_return_val_if_fail (model != NULL, 0);
  return model->exits.n_blocks;
}

double
sr_model_get_default_exit_threshold (const SrModel *model)
{
  g_return_val_if_fail (model != NULL, 0.0);
  return model->default_exit_threshold;
}

guint64
sr_model_get_macs_per_pixel (const SrModel *model)
{
  g_return_val_if_fail (model != NULL, 0);
  if (model->exits.n_blocks)
    return sr_exit_macs_per_pixel (model, model->exits.n_blocks);
  guint64 macs = 0;
  for (int i = 0; i < model->n_layers; i++) {
    const SrLayer *l = &model->layers[i];
    macs += sr_layer_macs (l);
  }
  return macs;
}

int
sr_model_get_receptive_radius (const SrModel *model)
{
  g_return_val_if_fail (model != NULL, 0);
  if (model->type == SR_ARCH_GHOST_EXIT)
    return 2 * model->ghost.n_blocks + 2; /* head 1, each block conv 1 + shift 1, tail 1 */
  int r = 0;
  for (int i = 0; i < model->n_layers; i++)
    r += model->layers[i].kernel / 2;
  return r;
}

char *
sr_model_find_default (void)
{
  const char *env = g_getenv ("SR_MODEL_PATH");
  if (env && *env)
    return g_strdup (env);
  char *path = g_build_filename (SR_MODEL_INSTALL_DIR, SR_DEFAULT_MODEL_FILE, NULL);
  if (g_file_test (path, G_FILE_TEST_IS_REGULAR))
    return path;
  g_free (path);
  return NULL;
}
