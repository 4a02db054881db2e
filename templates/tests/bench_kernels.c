#define _POSIX_C_SOURCE 200112L /* clock_gettime in -std=c99 */
/* Time per call of the non-GEMM kernels at DeiT-tiny's shapes (batch 1: N = 197 tokens, C = 192,
 * 3 heads of 64, MLP 768), on the threads OMP_NUM_THREADS allows. Best of 7 timings; "cpu" is CPU
 * time per call divided by the thread count (see bench_gemm.c for why both are shown). */
#include "../prologue.h"
#include "../gemm.c"
#include "../linear.c"
#include "../conv.c"
#include "../norm.c"
#include "../activation.c"
#include "../softmax.c"
#include "../attention.c"
#include "../pool.c"
#include "../layout.c"
#include "lk_test.h"

static double cpu_now(void) {
  struct timespec t;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
  return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

#define TIME(label, gflop, call) TIMEN(label, gflop, 20, call)
#define TIMEN(label, gflop, reps, call)                                                       \
  do {                                                                                        \
    double bw = 1e30, bc = 1e30;                                                              \
    int th = lk_max_threads();                                                                \
    for (int s = 0; s < 7; ++s) {                                                             \
      double w0 = lkt_now(), c0 = cpu_now();                                                  \
      for (int r = 0; r < (reps); ++r) call;                                                  \
      bw = fmin(bw, (lkt_now() - w0) / (reps));                                               \
      bc = fmin(bc, (cpu_now() - c0) / (reps) / th);                                          \
    }                                                                                         \
    printf("%-34s %9.1f us wall %9.1f us cpu", label, bw * 1e6, bc * 1e6);                    \
    if (gflop > 0) printf("   %6.1f GFLOP/s wall", (gflop) / bw);                             \
    printf("\n");                                                                             \
  } while (0)

int main(void) {
  const int N = 197, C = 192, H = 3, D = 64;
  float *qkv = lkt_rand((long)N * 3 * C, 1), *o = lkt_rand((long)N * C, 1);
  float *x = lkt_rand((long)N * 4 * C, 1), *y = lkt_rand((long)N * 4 * C, 1);
  float *img = lkt_rand(3L * 224 * 224, 1), *w = lkt_rand(192L * 768, 1), *pe = lkt_rand(192L * 196, 1);
  float *w1 = lkt_rand(768L * 192, 1), *b1 = lkt_rand(768, 1);
  const long shape[1] = {(long)N * C}, unit[1] = {1};
  printf("bench_kernels: %d threads, VW=%d\n", lk_max_threads(), LK_VW);
  TIME("patch embed conv 3x224x224 k16 s16", 2.0 * 192 * 196 * 768 * 1e-9,
       lk_conv2d(1, 3, 224, 224, 192, 16, 16, 16, 16, 0, 0, 1, img, w, NULL, pe, NULL));
  {
    /* The implicit-GEMM convolutions against the explicit im2col path they replaced: CeiT's stem
     * (3→64, 7×7 stride 2, 224²) and SAG-CIFAR's first reduction (192→192, 3×3, 32²), batch 1
     * and 16. */
    const int bs[2] = {1, 16};
    float *xs = lkt_rand(16L * 3 * 224 * 224, 1), *ws = lkt_rand(64L * 147, 1), *ys = lkt_rand(16L * 64 * 112 * 112, 1);
    float *xg = lkt_rand(16L * 192 * 32 * 32, 1), *wg = lkt_rand(192L * 1728, 1), *yg = lkt_rand(16L * 192 * 32 * 32, 1);
    for (int i = 0; i < 2; ++i) {
      int b = bs[i], reps = b == 1 ? 20 : 3;
      char l[96];
      snprintf(l, sizeof l, "conv stem b%d 3x224 k7 s2 implicit", b);
      TIMEN(l, 2.0 * b * 64 * 112 * 112 * 147 * 1e-9, reps, lk_conv2d(b, 3, 224, 224, 64, 7, 7, 2, 2, 3, 3, 1, xs, ws, NULL, ys, NULL));
      snprintf(l, sizeof l, "conv stem b%d 3x224 k7 s2 im2col", b);
      TIMEN(l, 2.0 * b * 64 * 112 * 112 * 147 * 1e-9, reps,
            lk__conv_explicit(b, 3, 224, 224, 64, 7, 7, 2, 2, 3, 3, 1, 112, 112, xs, ws, NULL, ys, NULL));
      snprintf(l, sizeof l, "conv sag b%d 192x32 k3 implicit", b);
      TIMEN(l, 2.0 * b * 192 * 1024 * 1728 * 1e-9, reps, lk_conv2d(b, 192, 32, 32, 192, 3, 3, 1, 1, 1, 1, 1, xg, wg, NULL, yg, NULL));
      snprintf(l, sizeof l, "conv sag b%d 192x32 k3 im2col", b);
      TIMEN(l, 2.0 * b * 192 * 1024 * 1728 * 1e-9, reps,
            lk__conv_explicit(b, 192, 32, 32, 192, 3, 3, 1, 1, 1, 1, 1, 32, 32, xg, wg, NULL, yg, NULL));
    }
    free(xs); free(ws); free(ys); free(xg); free(wg); free(yg);
  }
  {
    /* CeiT's I2T stem after the convolution: the 3×3 stride-2 max pool of [16, 64, 112, 112], then
     * the 4×4 patches of the pooled [16, 64, 56, 56] laid out as rows (the patch-embedding copy). */
    float *xp = lkt_rand(16L * 64 * 112 * 112, 1), *yp = lkt_rand(16L * 64 * 56 * 56, 1), *zp = lkt_rand(16L * 64 * 56 * 56, 1);
    const long pshape[6] = {16, 64, 14, 4, 14, 4};
    const int pperm[6] = {0, 2, 4, 1, 3, 5};
    TIMEN("maxpool b16 64x112 k3 s2 p1", 0, 5, lk_maxpool2d(16, 64, 112, 112, 3, 3, 2, 2, 1, 1, xp, yp));
    TIMEN("transpose b16 4x4 patches of 64x56", 0, 5, lk_transpose(6, pshape, pperm, yp, zp));
    free(xp); free(yp); free(zp);
  }
  TIME("img2seq [192, 196] -> [196, 192]", 0, lk_img2seq(1, 192, 196, pe, y));
  TIME("layernorm [197, 192]", 0, lk_layernorm(N, C, x, w1, b1, 1e-6f, y));
  TIME("linear fc1 197x192 -> 768 (+bias)", 2.0 * N * C * 768 * 1e-9, lk_linear(N, C, 768, x, w1, b1, y));
  TIME("sdpa 197 tokens, 3 heads x 64", 4.0 * N * N * D * H * 1e-9,
       lk_sdpa(1, N, N, H, H, D, qkv, 3 * C, qkv + C, 3 * C, qkv + 2 * C, 3 * C, o, 0.125f));
  TIME("sdpa 197 tokens, 4 heads x 48", 4.0 * N * N * C * 1e-9, /* LocalViT-tiny */
       lk_sdpa(1, N, N, 4, 4, 48, qkv, 3 * C, qkv + C, 3 * C, qkv + 2 * C, 3 * C, o, 0.144337567f));
  TIME("softmax [3*197, 197]", 0, lk_softmax(3L * N, N, x, y));
  TIME("gelu [197, 768]", 0, lk_gelu((long)N * 768, x, y));
  TIME("add [197, 192] (residual)", 0, lk_add(1, shape, x, unit, y, unit, o));
  return 0;
}
