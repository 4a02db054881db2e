/* The machine's FMA peak: the denominator of every "% of peak" Locus prints (`locus bench`, which
 * builds this file alone, and the kernel benchmarks in tests/, which include it). Never part of a
 * model. Every thread runs 12 independent chains of vector FMAs at the widest width the compiler
 * targets (-march=native: zmm with AVX-512, ymm with AVX2), enough in flight to cover 2 pipes ×
 * 4-5 cycles of latency, on register-resident data. FLOPs count 2 per lane per FMA. */
#ifndef _POSIX_C_SOURCE
#  define _POSIX_C_SOURCE 199309L /* clock_gettime */
#endif
#include <time.h>
#if defined(__AVX512F__)
#  define LK__PROBE_LANES 16
#elif defined(__AVX__)
#  define LK__PROBE_LANES 8
#else
#  define LK__PROBE_LANES 4
#endif
typedef float lk__probe_vf __attribute__((vector_size(LK__PROBE_LANES * 4)));
/* clang targeting a CPU that prefers 256-bit vectors (Intel's AVX-512 server cores) splits
 * vectors that no call passes or returns into 256-bit halves: without this the probe ran ymm
 * FMAs and read half the peak (144 against ~275 GFLOP/s on the session-11 machine, whose GEMMs
 * reached 230). The kernels' vectors pass through inline helpers (lk_vload, ...) and keep the
 * full width. */
#if defined(__clang__) && defined(__AVX512F__)
#  define LK__PROBE_FULL_WIDTH __attribute__((min_vector_width(512)))
#else
#  define LK__PROBE_FULL_WIDTH
#endif

/* FLOP/s over `threads` threads, each running `iterations` rounds of 12 FMAs: the sum of every
 * thread's own rate over its own CPU time, so a thread the OS parks for a while (another process
 * on its core) lowers nothing; a wall-clock rate once read half the peak that way. */
LK__PROBE_FULL_WIDTH double locus_fma_probe(int threads, long iterations) {
  double flops = 0.0;
  float sink = 0.0f;
#ifdef _OPENMP
#  pragma omp parallel num_threads(threads) reduction(+ : sink, flops)
#else
  (void)threads;
#endif
  {
    struct timespec t0, t1;
    lk__probe_vf a[12], m = {0}, c = {0};
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t0);
    for (int j = 0; j < LK__PROBE_LANES; ++j) { m[j] = 0.999999f; c[j] = 1e-6f * (float)(j + 1); }
    for (int k = 0; k < 12; ++k) a[k] = c * (float)(k + 1);
    /* One expression each: contracted to one FMA under clang's default -ffp-contract=on. */
    for (long i = 0; i < iterations; ++i)
      for (int k = 0; k < 12; ++k) a[k] = a[k] * m + c;
    for (int k = 0; k < 12; ++k) for (int j = 0; j < LK__PROBE_LANES; ++j) sink += a[k][j];
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t1);
    double seconds = (double)(t1.tv_sec - t0.tv_sec) + 1e-9 * (double)(t1.tv_nsec - t0.tv_nsec);
    flops += 2.0 * 12 * LK__PROBE_LANES * (double)iterations / seconds;
  }
  return sink == 12345.0f ? 0.0 : flops;
}
