#define _POSIX_C_SOURCE 200112L /* clock_gettime in -std=c99 */
/* GEMM throughput in GFLOP/s (2·M·N·K per call) at 1024³ and at the transformer's shapes, on 1 and
 * on 2 threads, and as a fraction of the FMA peak that `locus bench` measures (fma_probe.c, run
 * here on 1 and 2 threads first). Each number is the best of 7 timings of ~0.1 s of calls.
 *   wall: what a caller sees.
 *   cpu:  FLOPs per (CPU seconds the process got / threads): the rate the kernel reaches when its
 *         threads have their cores to themselves. On a shared machine (other jobs on the same
 *         cores) wall time mostly measures the neighbours and cpu still measures the kernel; on an
 *         idle machine the two agree. cpu is optimistic by whatever time threads spent asleep
 *         (waiting for a slower thread, or being woken at the start of the parallel region).
 * The load average is printed so a reader can tell which situation a run was in. The % is wall
 * against the FMA probe run between the same shape's timings (best of those 7 runs), not against
 * the peak measured once at the start: this VM has slow phases of seconds to minutes, and a shape
 * timed in one against a peak measured in another read 76 % one minute and 109 % the next. */
#include "../prologue.h"
#include "../gemm.c"
#include "../fma_probe.c"
#include "lk_test.h"

#ifdef _OPENMP
extern void omp_set_num_threads(int);
#else
static void omp_set_num_threads(int n) { (void)n; }
#endif

static double cpu_now(void) {
  struct timespec t;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
  return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

/* mode 0: A [M,K] and B [K,N] row-major; 1: B is a weight W[N,K] read transposed (linear); 2: A is
 * read transposed from dy [K,M] (a weight gradient dyᵀ·x: linear_grad_weight, K = the rows). */
static long probe_iterations[3]; /* per thread count: ~0.05 s of the probe (set by peak) */

static void bench(int M, int N, int K, int mode, int threads, double *wall_gf, double *cpu_gf, double *peak_gf) {
  float *A = lkt_rand((long)M * K, 1.0f), *B = lkt_rand((long)K * N, 1.0f), *C = lkt_rand((long)M * N, 1.0f);
  long rsa = mode == 2 ? 1 : K, csa = mode == 2 ? M : 1, rsb = mode == 1 ? 1 : N, csb = mode == 1 ? K : 1;
  double flops = 2.0 * M * N * K, best_w = 1e30, best_c = 1e30, best_p = 0.0;
  int reps = (int)(1e10 / flops) + 1; /* ~0.1 s at 100 GFLOP/s */
  lk_gemm(M, N, K, A, rsa, csa, B, rsb, csb, C, N, 0.0f);
  for (int s = 0; s < 7; ++s) {
    double w0 = lkt_now(), c0 = cpu_now();
    for (int r = 0; r < reps; ++r) lk_gemm(M, N, K, A, rsa, csa, B, rsb, csb, C, N, 0.0f);
    best_w = fmin(best_w, (lkt_now() - w0) / reps);
    best_c = fmin(best_c, (cpu_now() - c0) / reps / threads);
    best_p = fmax(best_p, locus_fma_probe(threads, probe_iterations[threads]));
  }
  *peak_gf = best_p * 1e-9;
  *wall_gf = flops / best_w * 1e-9;
  *cpu_gf = flops / best_c * 1e-9;
  free(A); free(B); free(C);
}

/* GFLOP/s of the FMA probe on `threads` threads: the best of 5 runs of ~0.2 s, as `locus bench`. */
static double peak(int threads) {
  long iterations = 1L << 20;
  for (;;) { /* calibrate to ~0.05 s, then run 4× as long */
    double t0 = lkt_now();
    locus_fma_probe(threads, iterations);
    if (lkt_now() - t0 > 0.05 || iterations > 1L << 30) break;
    iterations *= 4;
  }
  probe_iterations[threads] = iterations;
  double best = 0.0;
  for (int r = 0; r < 5; ++r) best = fmax(best, locus_fma_probe(threads, 4 * iterations));
  return best * 1e-9;
}

int main(int argc, char **argv) {
  static int shapes[][4] = {
      {1024, 1024, 1024, 0}, {1024, 1024, 1024, 1}, {197, 576, 192, 1}, {197, 768, 192, 1},
      {3152, 768, 192, 1},   {197, 192, 768, 1},    {197, 197, 64, 1},  {197, 64, 197, 0},
      /* SAG stage 1 per 1/16 of a batch-16 step: K/V projection, its input gradient, the MLP */
      {18432, 96, 192, 1},   {18432, 192, 96, 0},   {18432, 768, 192, 1}, {18432, 192, 768, 1},
      /* and their weight gradients */
      {96, 192, 18432, 2},   {768, 192, 18432, 2},  {192, 768, 18432, 2}};
  char load[64] = "?";
  FILE *f = fopen("/proc/loadavg", "r");
  if (f) { if (!fgets(load, sizeof load, f)) load[0] = 0; fclose(f); }
  printf("bench_gemm: VW=%d MR=%d NR=%d KC=%d MC=%d NC=%d; load average %s", LK_VW, LK_GEMM_MR, LK_GEMM_NR,
         LK_GEMM_KC, LK_GEMM_MC, LK_GEMM_NC, load);
  double peaks[3] = {0.0, peak(1), peak(2)};
  printf("FMA peak (fma_probe.c, best of 5): 1 thread %.1f, 2 threads %.1f GFLOP/s; %% = wall / the probe run between that shape's timings\n", peaks[1],
         peaks[2]);
  printf("%6s %6s %6s  %-11s %25s %25s\n", "M", "N", "K", "B", "1 thread wall/cpu (%)", "2 threads wall/cpu (%)");
  /* `bench_gemm M N K MODE` (bench's mode) measures that one shape instead of the list. */
  size_t count = sizeof shapes / sizeof shapes[0];
  if (argc == 5) {
    for (int i = 0; i < 4; ++i) shapes[0][i] = atoi(argv[i + 1]);
    count = 1;
  }
  for (size_t s = 0; s < count; ++s) {
    const int *p = shapes[s];
    printf("%6d %6d %6d  %-11s", p[0], p[1], p[2], p[3] == 2 ? "dy^T·x" : p[3] ? "W[N,K]^T" : "row-major");
    for (int t = 1; t <= 2; ++t) {
      double w, c, pk;
      omp_set_num_threads(t);
      bench(p[0], p[1], p[2], p[3], t, &w, &c, &pk);
      printf("     %6.1f / %5.1f (%3.0f %%)", w, c, 100.0 * w / pk);
      fflush(stdout);
    }
    printf("\n");
  }
  return 0;
}
