/* A plain x2 net built in the test: layers of any odd k x k (random weights from a fixed
 * seed), optionally with adaptive exits (a 3x3 tail after each hidden layer but the last, and
 * the exit predictor), written as a model file in memory, and its whole-frame reference at
 * any depth computed here,
 * independently of sr-core: a direct convolution over the whole frame per layer ("same"
 * zero padding of k/2, ReLU after every layer but the last), the tail's 4 channels pixel
 * shuffled (channel 2 dy + dx to HR pixel (2 y + dy, 2 x + dx)) plus the LR pixel as the
 * nearest anchor (models/train/net.py), rounded to 8 bits as the engine does
 * ((r + a / 255) * 255 + 0.5, clamped to [0, 255], truncated). */
#ifndef SR_TEST_NET_H
#define SR_TEST_NET_H

#include <glib.h>
#include <math.h>
#include <sr-core/sr-core.h>
#include <string.h>

#define TEST_NET_MAX_LAYERS 8

#define TEST_NET_PREDICTOR_WIDTH 8

typedef struct {
  int n;
  int k[TEST_NET_MAX_LAYERS], in[TEST_NET_MAX_LAYERS], out[TEST_NET_MAX_LAYERS];
  float *w[TEST_NET_MAX_LAYERS], *b[TEST_NET_MAX_LAYERS];
  int exit_tile;              /* 0: no exits */
  /* exit d's tail (3x3, out[d] -> 4) at [d], d = 1..n - 3; the predictor's three layers */
  float *ew[TEST_NET_MAX_LAYERS], *eb[TEST_NET_MAX_LAYERS];
  float *pw[3], *pb[3];
} TestNet;

static inline float *
test_net_random (GRand *rand, int count, double lo, double hi)
{
  float *v = g_new (float, count);
  for (int i = 0; i < count; i++)
    v[i] = g_rand_double_range (rand, lo, hi);
  return v;
}

/* n layers: layer i is kernels[i] x kernels[i], channels[i] -> channels[i + 1]
 * (channels[0] = 1, channels[n] = 4). Weights uniform in +-gain / sqrt(fan-in), the tail's
 * smaller so that the residuals stay within a few tens of levels. */
static inline void
test_net_init (TestNet *net, int n, const int *kernels, const int *channels, guint32 seed)
{
  g_assert_cmpint (n, <=, TEST_NET_MAX_LAYERS);
  g_assert_cmpint (channels[0], ==, 1);
  g_assert_cmpint (channels[n], ==, 4);
  GRand *rand = g_rand_new_with_seed (seed);
  net->n = n;
  for (int i = 0; i < n; i++) {
    const int k = kernels[i], fan_in = channels[i] * k * k, size = channels[i + 1] * fan_in;
    const double a = (i + 1 == n ? 0.3 : 1.6) / sqrt (fan_in);
    net->k[i] = k;
    net->in[i] = channels[i];
    net->out[i] = channels[i + 1];
    net->w[i] = test_net_random (rand, size, -a, a);
    net->b[i] = test_net_random (rand, channels[i + 1], i + 1 == n ? -0.02 : -0.05, 0.1);
  }
  net->exit_tile = 0;
  g_rand_free (rand);
}

/* Exits on `tile` x `tile` LR tiles: random tails like the last layer's, and a random
 * predictor whose gains spread over about +-1 from tile to tile. */
static inline void
test_net_add_exits (TestNet *net, int tile, guint32 seed)
{
  GRand *rand = g_rand_new_with_seed (seed);
  const int W = TEST_NET_PREDICTOR_WIDTH;
  net->exit_tile = tile;
  for (int d = 1; d < net->n - 2; d++) {
    const double a = 0.3 / sqrt (net->out[d] * 9);
    net->ew[d] = test_net_random (rand, 4 * net->out[d] * 9, -a, a);
    net->eb[d] = test_net_random (rand, 4, -0.02, 0.02);
  }
  const int pin[3] = { 1, W, W }, pout[3] = { W, W, MAX (net->n - 3, 1) };
  for (int i = 0; i < 3; i++) {
    const int taps = i < 2 ? 9 : 1;
    const double a = 3.0 / sqrt (pin[i] * taps);
    net->pw[i] = test_net_random (rand, pout[i] * pin[i] * taps, -a, a);
    net->pb[i] = test_net_random (rand, pout[i], -0.5, 0.5);
  }
  g_rand_free (rand);
}

static inline void
test_net_clear (TestNet *net)
{
  for (int i = 0; i < net->n; i++) {
    g_free (net->w[i]);
    g_free (net->b[i]);
  }
  for (int d = 1; net->exit_tile && d < net->n - 2; d++) {
    g_free (net->ew[d]);
    g_free (net->eb[d]);
  }
  for (int i = 0; net->exit_tile && i < 3; i++) {
    g_free (net->pw[i]);
    g_free (net->pb[i]);
  }
}

/* One tensor's entry in a safetensors header, at `offset` (advanced by its bytes). */
static inline void
test_net_tensor_entry (GString *header, const char *name, const int *shape, int rank,
    gsize *offset)
{
  gsize bytes = sizeof (float);
  g_string_append_printf (header, ",\"%s\":{\"dtype\":\"F32\",\"shape\":[", name);
  for (int i = 0; i < rank; i++) {
    g_string_append_printf (header, "%s%d", i ? "," : "", shape[i]);
    bytes *= shape[i];
  }
  g_string_append_printf (header, "],\"data_offsets\":[%" G_GSIZE_FORMAT ",%" G_GSIZE_FORMAT
      "]}", *offset, *offset + bytes);
  *offset += bytes;
}

/* The net as a model file (safetensors with the gst-superres metadata). `precision` and
 * `act_max` (NULL: left out) as an export would write them. */
static inline GBytes *
test_net_to_bytes (const TestNet *net, const char *precision, const char *act_max)
{
  GString *arch = g_string_new ("{\\\"scale\\\":2,\\\"anchor\\\":\\\"nearest\\\",\\\"layers\\\":[");
  for (int i = 0; i < net->n; i++)
    g_string_append_printf (arch, "%s{\\\"name\\\":\\\"l%d\\\",\\\"in\\\":%d,\\\"out\\\":%d,"
        "\\\"kernel\\\":%d,\\\"act\\\":\\\"%s\\\"}", i ? "," : "", i, net->in[i], net->out[i],
        net->k[i], i + 1 < net->n ? "relu" : "none");
  g_string_append (arch, "]");
  if (net->exit_tile)
    g_string_append_printf (arch, ",\\\"exits\\\":{\\\"tile\\\":%d,"
        "\\\"predictor_width\\\":%d,\\\"gain\\\":\\\"mse\\\"}", net->exit_tile,
        TEST_NET_PREDICTOR_WIDTH);
  g_string_append (arch, "}");
  GString *header = g_string_new (NULL);
  g_string_append_printf (header, "{\"__metadata__\":{\"format\":\"gst-superres\","
      "\"version\":\"1\",\"name\":\"test-kxk\",\"arch\":\"%s\"", arch->str);
  if (precision)
    g_string_append_printf (header, ",\"precision\":\"%s\"", precision);
  if (act_max)
    g_string_append_printf (header, ",\"act_max\":\"%s\"", act_max);
  g_string_append (header, "}");
  /* the tensors in the order of the data below */
  GPtrArray *data = g_ptr_array_new ();
  GArray *sizes = g_array_new (FALSE, FALSE, sizeof (gsize));
  gsize offset = 0;
#define TEST_NET_TENSOR(values, rank, ...) \
  do { \
    const int shape_[] = { __VA_ARGS__ }; \
    const gsize before_ = offset; \
    test_net_tensor_entry (header, name, shape_, rank, &offset); \
    gsize bytes_ = offset - before_; \
    g_ptr_array_add (data, values); \
    g_array_append_val (sizes, bytes_); \
  } while (0)
  char name[64];
  for (int i = 0; i < net->n; i++) {
    g_snprintf (name, sizeof name, "l%d.weight", i);
    TEST_NET_TENSOR (net->w[i], 4, net->out[i], net->in[i], net->k[i], net->k[i]);
    g_snprintf (name, sizeof name, "l%d.bias", i);
    TEST_NET_TENSOR (net->b[i], 1, net->out[i]);
  }
  for (int d = 1; net->exit_tile && d < net->n - 2; d++) {
    g_snprintf (name, sizeof name, "exits.%d.weight", d);
    TEST_NET_TENSOR (net->ew[d], 4, 4, net->out[d], 3, 3);
    g_snprintf (name, sizeof name, "exits.%d.bias", d);
    TEST_NET_TENSOR (net->eb[d], 1, 4);
  }
  const int W = TEST_NET_PREDICTOR_WIDTH, fc_out = MAX (net->n - 3, 1);
  const char *pred_names[3] = { "predictor.conv1", "predictor.conv2", "predictor.fc" };
  for (int i = 0; net->exit_tile && i < 3; i++) {
    g_snprintf (name, sizeof name, "%s.weight", pred_names[i]);
    if (i < 2)
      TEST_NET_TENSOR (net->pw[i], 4, W, i ? W : 1, 3, 3);
    else
      TEST_NET_TENSOR (net->pw[i], 2, fc_out, W);
    g_snprintf (name, sizeof name, "%s.bias", pred_names[i]);
    TEST_NET_TENSOR (net->pb[i], 1, i < 2 ? W : fc_out);
  }
#undef TEST_NET_TENSOR
  g_string_append (header, "}");
  while (header->len % 8)
    g_string_append_c (header, ' ');
  GByteArray *out = g_byte_array_new ();
  guint64 len = GUINT64_TO_LE ((guint64) header->len);
  g_byte_array_append (out, (const guint8 *) &len, 8);
  g_byte_array_append (out, (const guint8 *) header->str, header->len);
  for (guint i = 0; i < data->len; i++) /* little-endian floats (x86, the tests' hosts) */
    g_byte_array_append (out, data->pdata[i], g_array_index (sizes, gsize, i));
  g_ptr_array_free (data, TRUE);
  g_array_free (sizes, TRUE);
  g_string_free (arch, TRUE);
  g_string_free (header, TRUE);
  return g_byte_array_free_to_bytes (out);
}

/* The net as a loaded model (asserting it loads). */
static inline SrModel *
test_net_load (const TestNet *net, const char *precision, const char *act_max)
{
  GBytes *bytes = test_net_to_bytes (net, precision, act_max);
  gsize size;
  const guint8 *data = g_bytes_get_data (bytes, &size);
  GError *error = NULL;
  SrModel *model = sr_model_load_from_data (data, size, &error);
  g_assert_no_error (error);
  g_bytes_unref (bytes);
  return model;
}

/* The plain net with exits of /engine/plain-exits and /backends/x/plain-exits-match-cpu:
 * 3x3, TEST_EXIT_NET_B hidden layers of 8 channels, exit tiles of 8. */
#define TEST_EXIT_NET_B 3
static inline void
test_net_init_exit_net (TestNet *net)
{
  const int kernels[] = { 3, 3, 3, 3, 3 }, channels[] = { 1, 8, 8, 8, 8, 4 };
  test_net_init (net, G_N_ELEMENTS (kernels), kernels, channels, 99);
  test_net_add_exits (net, 8, 5);
}

/* A "same" k x k conv of an [in][h][w] map (doubles), ReLU unless `linear`. */
static inline double *
test_net_conv (const double *map, int w, int h, int k, int in, int out, const float *weight,
    const float *bias, gboolean linear)
{
  const gsize area = (gsize) w * h;
  const int r = k / 2;
  double *next = g_new (double, area * out);
  for (int oc = 0; oc < out; oc++)
    for (int y = 0; y < h; y++)
      for (int x = 0; x < w; x++) {
        double s = bias[oc];
        for (int ic = 0; ic < in; ic++)
          for (int ky = 0; ky < k; ky++) {
            const int yy = y + ky - r;
            if (yy < 0 || yy >= h)
              continue;
            for (int kx = 0; kx < k; kx++) {
              const int xx = x + kx - r;
              if (xx >= 0 && xx < w)
                s += weight[((gsize) (oc * in + ic) * k + ky) * k + kx] *
                    map[ic * area + (gsize) yy * w + xx];
            }
          }
        next[oc * area + (gsize) y * w + x] = !linear && s < 0 ? 0 : s;
      }
  return next;
}

/* The whole-frame reference of an 8-bit w x h luma (packed) at `depth` hidden layers (1..n - 2,
 * n - 2 being full depth; below it, that exit's tail), into a packed 2w x 2h plane. */
static inline void
test_net_reference_at (const TestNet *net, const guint8 *lr, int w, int h, int depth,
    guint8 *hr)
{
  const gsize area = (gsize) w * h;
  double *map = g_new (double, area);
  for (gsize i = 0; i < area; i++)
    map[i] = lr[i] / 255.0;
  for (int l = 0; l <= depth; l++) {
    double *next = test_net_conv (map, w, h, net->k[l], net->in[l], net->out[l], net->w[l],
        net->b[l], FALSE);
    g_free (map);
    map = next;
  }
  const int last = net->n - 1, full = depth == net->n - 2;
  double *res = full ? test_net_conv (map, w, h, net->k[last], net->in[last], 4,
      net->w[last], net->b[last], TRUE) : test_net_conv (map, w, h, 3, net->out[depth], 4,
      net->ew[depth], net->eb[depth], TRUE);
  g_free (map);
  for (int y = 0; y < h; y++)
    for (int x = 0; x < w; x++)
      for (int c = 0; c < 4; c++) {
        double u = (res[c * area + (gsize) y * w + x] + lr[(gsize) y * w + x] / 255.0) * 255 + 0.5;
        u = CLAMP (u, 0, 255);
        hr[(gsize) (2 * y + c / 2) * 2 * w + 2 * x + c % 2] = (guint8) u;
      }
  g_free (res);
}

/* The whole-frame reference at full depth. */
static inline void
test_net_reference (const TestNet *net, const guint8 *lr, int w, int h, guint8 *hr)
{
  test_net_reference_at (net, lr, w, h, net->n - 2, hr);
}

/* A deterministic test picture: smooth gradients, a few edges and noise. */
static inline void
test_net_picture (guint8 *p, int w, int h, guint32 seed)
{
  GRand *rand = g_rand_new_with_seed (seed);
  for (int y = 0; y < h; y++)
    for (int x = 0; x < w; x++) {
      double v = 128 + 80 * sin (x * 0.21 + y * 0.05) * cos (y * 0.17) +
          ((x / 9 + y / 7) % 3 == 0 ? 40 : -20) + g_rand_double_range (rand, -12, 12);
      p[(gsize) y * w + x] = (guint8) CLAMP (v, 0, 255);
    }
  g_rand_free (rand);
}

#endif
