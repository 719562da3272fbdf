#ifndef PEAK_FLOPS_H
#define PEAK_FLOPS_H
#include <glib.h>
/* Measured fp32 FMA GFLOP/s over `threads` threads running for `seconds`. */
double peak_gflops (int threads, gboolean avx512, double seconds);
#endif
