/* A plain x2 net built in the test: layers of any odd k x k (random weights from a fixed
 * seed), written as a model file in memory, and its whole-frame reference computed here,
 * independently of sr-core: a direct convolution over the whole frame per layer ("same"
 * zero padding of k/2, ReLU after every layer but the last), the tail's 4 channels pixel
 * shuffled (channel 2 dy + dx to HR pixel (2 y + dy, 2 x + dx)) plus the LR pixel as the
 * nearest anchor (models/train/net.py), rounded to 8 bits as the engine does
 * ((r + a / 255) * 255 + 0.5, clamped to [0, 255], truncated). */
#ifndef SR_TEST_NET_H
#define SR_TEST_NET_H

#include <glib.h>
#include <math.h>
#include <string.h>

#define TEST_NET_MAX_LAYERS 8

typedef struct {
  int n;
  int k[TEST_NET_MAX_LAYERS], in[TEST_NET_MAX_LAYERS], out[TEST_NET_MAX_LAYERS];
  float *w[TEST_NET_MAX_LAYERS], *b[TEST_NET_MAX_LAYERS];
} TestNet;

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
    net->w[i] = g_new (float, size);
    net->b[i] = g_new (float, channels[i + 1]);
    for (int j = 0; j < size; j++)
      net->w[i][j] = g_rand_double_range (rand, -a, a);
    for (int j = 0; j < channels[i + 1]; j++)
      net->b[i][j] = g_rand_double_range (rand, i + 1 == n ? -0.02 : -0.05, 0.1);
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
  g_string_append (arch, "]}");
  GString *header = g_string_new (NULL);
  g_string_append_printf (header, "{\"__metadata__\":{\"format\":\"gst-superres\","
      "\"version\":\"1\",\"name\":\"test-kxk\",\"arch\":\"%s\"", arch->str);
  if (precision)
    g_string_append_printf (header, ",\"precision\":\"%s\"", precision);
  if (act_max)
    g_string_append_printf (header, ",\"act_max\":\"%s\"", act_max);
  g_string_append (header, "}");
  gsize offset = 0;
  for (int i = 0; i < net->n; i++) {
    const gsize wb = sizeof (float) * net->out[i] * net->in[i] * net->k[i] * net->k[i];
    const gsize bb = sizeof (float) * net->out[i];
    g_string_append_printf (header, ",\"l%d.weight\":{\"dtype\":\"F32\",\"shape\":[%d,%d,%d,%d],"
        "\"data_offsets\":[%" G_GSIZE_FORMAT ",%" G_GSIZE_FORMAT "]}", i, net->out[i],
        net->in[i], net->k[i], net->k[i], offset, offset + wb);
    offset += wb;
    g_string_append_printf (header, ",\"l%d.bias\":{\"dtype\":\"F32\",\"shape\":[%d],"
        "\"data_offsets\":[%" G_GSIZE_FORMAT ",%" G_GSIZE_FORMAT "]}", i, net->out[i], offset,
        offset + bb);
    offset += bb;
  }
  g_string_append (header, "}");
  while (header->len % 8)
    g_string_append_c (header, ' ');
  GByteArray *out = g_byte_array_new ();
  guint64 len = GUINT64_TO_LE ((guint64) header->len);
  g_byte_array_append (out, (const guint8 *) &len, 8);
  g_byte_array_append (out, (const guint8 *) header->str, header->len);
  for (int i = 0; i < net->n; i++) { /* little-endian floats (x86, the tests' hosts) */
    g_byte_array_append (out, (const guint8 *) net->w[i],
        sizeof (float) * net->out[i] * net->in[i] * net->k[i] * net->k[i]);
    g_byte_array_append (out, (const guint8 *) net->b[i], sizeof (float) * net->out[i]);
  }
  g_string_free (arch, TRUE);
  g_string_free (header, TRUE);
  return g_byte_array_free_to_bytes (out);
}

/* The whole-frame reference of an 8-bit w x h luma (packed), into a packed 2w x 2h plane. */
static inline void
test_net_reference (const TestNet *net, const guint8 *lr, int w, int h, guint8 *hr)
{
  const gsize area = (gsize) w * h;
  double *map = g_new (double, area);
  for (gsize i = 0; i < area; i++)
    map[i] = lr[i] / 255.0;
  for (int l = 0; l < net->n; l++) {
    const int k = net->k[l], r = k / 2, C = net->in[l];
    double *next = g_new (double, area * net->out[l]);
    for (int oc = 0; oc < net->out[l]; oc++)
      for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
          double s = net->b[l][oc];
          for (int ic = 0; ic < C; ic++)
            for (int ky = 0; ky < k; ky++) {
              const int yy = y + ky - r;
              if (yy < 0 || yy >= h)
                continue;
              for (int kx = 0; kx < k; kx++) {
                const int xx = x + kx - r;
                if (xx >= 0 && xx < w)
                  s += net->w[l][((gsize) (oc * C + ic) * k + ky) * k + kx] *
                      map[ic * area + (gsize) yy * w + xx];
              }
            }
          next[oc * area + (gsize) y * w + x] = l + 1 < net->n && s < 0 ? 0 : s;
        }
    g_free (map);
    map = next;
  }
  for (int y = 0; y < h; y++)
    for (int x = 0; x < w; x++)
      for (int c = 0; c < 4; c++) {
        double u = (map[c * area + (gsize) y * w + x] + lr[(gsize) y * w + x] / 255.0) * 255 + 0.5;
        u = CLAMP (u, 0, 255);
        hr[(gsize) (2 * y + c / 2) * 2 * w + 2 * x + c % 2] = (guint8) u;
      }
  g_free (map);
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
