#define _POSIX_C_SOURCE 200112L /* clock_gettime in -std=c99 */
/* Locally-SAG stage 1, block 0: the fused lk_shifted_local_attention against the unfused sequence of
 * fast kernels (shifted_unfused.h: shifted image, conv, copy to tokens, + pos, layernorm, two
 * linears, local attention), ms per call, on the threads OMP_NUM_THREADS allows, and the bytes of
 * the largest temporary each needs: fused = per-thread scratch × threads, unfused = its biggest
 * buffer (E [B, T, N, C]; the total of its buffers in parentheses).
 *   CIFAR:    B 1 and 16, Ci 3, 32×32, conv 3×3 s1 p1, C 192, T 18 rolls, H 4, Hk 1, D 48
 *             (+ one call of the double-precision naive reference at B = 1)
 *   ImageNet: B 1, Ci 3, 224×224, conv 9×9 s7 p1 (32×32 tokens), C 192, T 10 one-sided circular
 *             pads, H 4, Hk 4, D 48
 * Best of 5 timings. "cpu" is CPU time per call divided by the thread count: on a shared machine
 * wall time measures the neighbours too. GFLOP/s is nominal: the products of the definition,
 * 2·B·T·N·(Kc + 2·Hk·D)·C (the fused kernel does fewer: it folds the K projection into the
 * queries). */
#include "../prologue.h"
#include "../gemm.c"
#include "../conv.c"
#include "../norm.c"
#include "../activation.c"
#include "../softmax.c"
#include "../attention.c"
#include "../layout.c"
#include "../linear.c"
#include "../shifted_attention.c"
#include "lk_test.h"
#include "shifted_unfused.h"

static double cpu_now(void) {
  struct timespec t;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
  return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static double load_avg(void) {
  double l = -1.0;
  FILE *f = fopen("/proc/loadavg", "r");
  if (f) { if (fscanf(f, "%lf", &l) != 1) l = -1.0; fclose(f); }
  return l;
}

static void bench_case(const char *label, int B, int Hh, int Ww, int T, int mode, const int *shifts, int K, int S,
                       int P, int H, int Hk, int D, int naive) {
  const int Ci = 3, C = 192;
  int th = lk_max_threads(), N, reps;
  float *cw[18], *cb[18], *pos, *lnw = lkt_rand(C, 1), *lnb = lkt_rand(C, 1);
  float *wkv = lkt_rand(2L * Hk * D * C, 0.07f), *bkv = lkt_rand(2L * Hk * D, 0.1f), *img, *q, *o, *o2;
  size_t scratch = lk_shifted_local_attention_scratch_floats(T, Ci, K, K, C, H, Hk, D) * sizeof(float);
  double gflop, bf = 1e30, bu = 1e30, cf = 1e30, cu = 1e30, scale = 1.0 / sqrt((double)D);
  static const char *paths[3] = {"v-only", "k folded into q", "k projected"};
  sla_unfused u;
  if (sla_unfused_init(&u, B, Ci, Hh, Ww, T, mode, shifts, C, K, K, S, S, P, P, H, Hk, D)) {
    printf("%s: invalid shape\n", label);
    return;
  }
  N = u.N;
  for (int t = 0; t < T; ++t) {
    cw[t] = lkt_rand((long)C * Ci * K * K, 1.0f / (float)K);
    cb[t] = lkt_rand(C, 0.1f);
  }
  pos = lkt_rand((long)T * N * C, 0.02f);
  img = lkt_rand((long)B * Ci * Hh * Ww, 1);
  q = lkt_rand((long)B * N * H * D, 1);
  o = lkt_rand((long)B * N * H * D, 1);
  o2 = lkt_rand((long)B * N * H * D, 1);
  gflop = 2.0 * B * T * N * (Ci * K * K + 2.0 * Hk * D) * C * 1e-9;
  reps = (int)(2.0 / gflop) + 1; /* ~25 ms of the fused kernel per timing */
#define FUSED()                                                                                                     \
  lk_shifted_local_attention(B, Ci, Hh, Ww, T, mode, shifts, C, K, K, S, S, P, P, H, Hk, D, img, q,                 \
                             (const float *const *)cw, (const float *const *)cb, pos, lnw, lnb, 1e-6f, wkv, bkv,    \
                             (float)scale, o)
#define UNFUSED()                                                                                                   \
  sla_unfused_run(&u, img, q, (const float *const *)cw, (const float *const *)cb, pos, lnw, lnb, 1e-6f, wkv, bkv,   \
                  (float)scale, o2)
  FUSED();
  UNFUSED();
  for (int s = 0; s < 5; ++s) {
    double t0 = lkt_now(), c0 = cpu_now();
    for (int r = 0; r < reps; ++r) FUSED();
    bf = fmin(bf, (lkt_now() - t0) / reps);
    cf = fmin(cf, (cpu_now() - c0) / reps / th);
    t0 = lkt_now();
    c0 = cpu_now();
    for (int r = 0; r < reps; ++r) UNFUSED();
    bu = fmin(bu, (lkt_now() - t0) / reps);
    cu = fmin(cu, (cpu_now() - c0) / reps / th);
  }
  printf("%s B=%-2d fused   %8.2f ms wall %8.2f ms cpu %6.1f GFLOP/s  largest temporary %9zu B (%d x %zu per-thread "
         "scratch; %s)\n", label, B, bf * 1e3, cf * 1e3, gflop / bf, scratch * th, th, scratch,
         paths[lk__sla_path(T, H, Hk, D)]);
  printf("%s B=%-2d unfused %8.2f ms wall %8.2f ms cpu %6.1f GFLOP/s  largest temporary %9zu B (all temporaries "
         "%zu B)\n", label, B, bu * 1e3, cu * 1e3, gflop / bu, sla_unfused_largest(&u), sla_unfused_total(&u));
  if (naive) {
    double t0 = lkt_now();
    lk_shifted_local_attention_naive(B, Ci, Hh, Ww, T, mode, shifts, C, K, K, S, S, P, P, H, Hk, D, img, q,
                                     (const float *const *)cw, (const float *const *)cb, pos, lnw, lnb, 1e-6f, wkv,
                                     bkv, (float)scale, o2);
    printf("%s B=%-2d naive   %8.2f ms wall (double-precision reference, one call, one thread)\n", label, B,
           (lkt_now() - t0) * 1e3);
  }
  sla_unfused_free(&u);
  for (int t = 0; t < T; ++t) { free(cw[t]); free(cb[t]); }
  free(pos); free(lnw); free(lnb); free(wkv); free(bkv); free(img); free(q); free(o); free(o2);
}

int main(void) {
  static const int rolls[18][2] = {{0, 0},  {1, 0},  {0, 1},   {-1, 0}, {0, -1}, {2, 0},
                                   {0, 2},  {-2, 0}, {0, -2},  {1, 1},  {1, 2},  {1, -1},
                                   {-1, 1}, {-1, 2}, {-1, -1}, {2, 1},  {2, 2},  {2, -1}};
  static const int pads[10][4] = {{0, 0, 0, 0}, {1, 0, 0, 0}, {2, 0, 0, 0}, {3, 0, 0, 0}, {0, 0, 1, 0},
                                  {0, 0, 2, 0}, {0, 0, 3, 0}, {1, 0, 1, 0}, {2, 0, 2, 0}, {3, 0, 3, 0}};
  int rs[18 * 4];
  for (int t = 0; t < 18; ++t) { rs[4 * t] = rolls[t][0]; rs[4 * t + 1] = rolls[t][1]; rs[4 * t + 2] = rs[4 * t + 3] = 0; }
  printf("bench_shifted: %d threads, VW=%d, tile %d tokens, load average %.2f\n", lk_max_threads(), LK_VW,
         LK_SLA_PANELS * LK_SLA_NR, load_avg());
  bench_case("CIFAR stage-1   ", 1, 32, 32, 18, LK_SHIFT_ROLL, rs, 3, 1, 1, 4, 1, 48, 1);
  bench_case("CIFAR stage-1   ", 16, 32, 32, 18, LK_SHIFT_ROLL, rs, 3, 1, 1, 4, 1, 48, 0);
  bench_case("ImageNet stage-1", 1, 224, 224, 10, LK_SHIFT_PAD, &pads[0][0], 9, 7, 1, 4, 4, 48, 0);
  return 0;
}
