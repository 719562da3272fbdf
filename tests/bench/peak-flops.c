/* The machine's fp32 FMA peak, measured: independent FMA chains in the widest vectors
 * the CPU has, on 1..n threads. Built with -mavx512f -mfma (x86-64 only). */
#include "peak-flops.h"

#include <immintrin.h>

#define CHAINS 12

static double
run_avx512 (gint64 usec)
{
  __m512 acc[CHAINS], m = _mm512_set1_ps (0.999999f), a = _mm512_set1_ps (1e-7f);
  for (int i = 0; i < CHAINS; i++)
    acc[i] = _mm512_set1_ps (i);
  guint64 iters = 0;
  gint64 t0 = g_get_monotonic_time (), t1;
  do {
    for (int r = 0; r < 1000; r++)
      for (int i = 0; i < CHAINS; i++)
        acc[i] = _mm512_fmadd_ps (acc[i], m, a);
    iters += 1000;
    t1 = g_get_monotonic_time ();
  } while (t1 - t0 < usec);
  float sink = 0;
  for (int i = 0; i < CHAINS; i++)
    sink += _mm512_reduce_add_ps (acc[i]);
  volatile float keep = sink;
  (void) keep;
  return iters * CHAINS * 16.0 * 2 / ((t1 - t0) * 1e3); /* GFLOP/s */
}

static double
run_avx2 (gint64 usec)
{
  __m256 acc[CHAINS], m = _mm256_set1_ps (0.999999f), a = _mm256_set1_ps (1e-7f);
  for (int i = 0; i < CHAINS; i++)
    acc[i] = _mm256_set1_ps (i);
  guint64 iters = 0;
  gint64 t0 = g_get_monotonic_time (), t1;
  do {
    for (int r = 0; r < 1000; r++)
      for (int i = 0; i < CHAINS; i++)
        acc[i] = _mm256_fmadd_ps (acc[i], m, a);
    iters += 1000;
    t1 = g_get_monotonic_time ();
  } while (t1 - t0 < usec);
  float out[8], sink = 0;
  for (int i = 0; i < CHAINS; i++) {
    _mm256_storeu_ps (out, acc[i]);
    sink += out[0];
  }
  volatile float keep = sink;
  (void) keep;
  return iters * CHAINS * 8.0 * 2 / ((t1 - t0) * 1e3);
}

typedef struct {
  gboolean avx512;
  gint64 usec;
  double gflops;
} Job;

static gpointer
thread_main (gpointer data)
{
  Job *j = data;
  j->gflops = j->avx512 ? run_avx512 (j->usec) : run_avx2 (j->usec);
  return NULL;
}

double
peak_gflops (int threads, gboolean avx512, double seconds)
{
  Job jobs[64];
  GThread *th[64];
  threads = CLAMP (threads, 1, 64);
  for (int i = 0; i < threads; i++) {
    jobs[i] = (Job) { avx512, (gint64) (seconds * 1e6), 0 };
    th[i] = g_thread_new ("peak", thread_main, &jobs[i]);
  }
  double total = 0;
  for (int i = 0; i < threads; i++) {
    g_thread_join (th[i]);
    total += jobs[i].gflops;
  }
  return total;
}
