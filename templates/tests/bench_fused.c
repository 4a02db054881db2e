#define _POSIX_C_SOURCE 200112L /* clock_gettime in -std=c99 */
/* The fused kernels against the unfused sequences they replace, at DeiT-tiny / LeFF shapes, on the
 * threads OMP_NUM_THREADS allows. GFLOP/s counts the multiply-adds only (2 per MAC): the same work
 * on both sides, so the ratio of times is the speed-up.
 * Timing: the variants of one comparison are timed in alternation (rounds of 10 calls each, 25
 * rounds) and each keeps its best round, so a burst of load from other processes on a shared
 * machine hits all of them alike instead of whichever ran during it. "cpu" is CPU time per call
 * divided by the thread count (see bench_gemm.c); the load average is printed.
 * Buffers are 64-byte aligned, as in the model's arena. Data are scaled like a trained network's
 * (pre-activations ~N(0, 1)), which matters for gelu: a vector with a lane below −2 takes its
 * slower erfc path. */
#include "../prologue.h"
#include "../gemm.c"
#include "../linear.c"
#include "../conv.c"
#include "../activation.c"
#include "../layout.c"
#include "../fused_linear.c"
#include "../token_dwconv.c"
#include "lk_test.h"

static double cpu_now(void) {
  struct timespec t;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
  return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

/* Tensors live in the model's arena, which is 64-byte aligned with aligned offsets (DESIGN.md §4):
 * so do these (an unaligned channels-last row makes half the vector loads split cache lines). */
static float *arena_rand(long n, float scale) {
  float *p = lk_scratch_alloc((size_t)n);
  for (long i = 0; i < n; ++i) p[i] = lkt_unit() * scale;
  return p;
}

/* ---- The cases: one call of variant v ---------------------------------------------------------- */
enum { NT = 197, CT = 192, HT = 768 }; /* DeiT-tiny: tokens, width, MLP width */
static float *x, *w1, *b1, *w2, *b2, *h, *r, *t;        /* fc1 / fc2 */
static float *dx, *dw, *db, *dy, *dimg, *dout;           /* dwconv */
static int dH, dW, dC;

static void fc1(int v, int act) {
  switch (v) {
  case 0: lk_fused_linear(NT, CT, HT, x, w1, b1, act, NULL, h); break;
  case 1:
    lk_linear(NT, CT, HT, x, w1, b1, h);
    if (act == LK_ACT_GELU) lk_gelu((long)NT * HT, h, h);
    else lk_hswish((long)NT * HT, h, h);
    break;
  default: lk_linear(NT, CT, HT, x, w1, b1, h); break;
  }
}
static void fc1_gelu(int v) { fc1(v, LK_ACT_GELU); }
static void fc1_hswish(int v) { fc1(v, LK_ACT_HSWISH); }
static void fc2_residual(int v) {
  static const long shape[1] = {(long)NT * CT}, unit[1] = {1};
  switch (v) {
  case 0: lk_fused_linear(NT, HT, CT, h, w2, b2, LK_ACT_NONE, r, r); break;
  case 1: lk_linear(NT, HT, CT, h, w2, b2, t); lk_add(1, shape, r, unit, t, unit, r); break;
  default: lk_linear(NT, HT, CT, h, w2, b2, t); break;
  }
}
static void dwconv(int v) {
  const long n = (long)dH * dW * dC;
  switch (v) {
  case 0: lk_token_dwconv(1, dH, dW, dC, 3, 3, 1, 1, 1, 1, dx, dw, db, LK_ACT_GELU, dy); break;
  case 1: lk_conv2d(1, dC, dH, dW, dC, 3, 3, 1, 1, 1, 1, dC, dimg, dw, db, dout, NULL); lk_gelu(n, dout, dout); break;
  case 2: lk_token_dwconv(1, dH, dW, dC, 3, 3, 1, 1, 1, 1, dx, dw, db, LK_ACT_NONE, dy); break;
  case 3: lk_conv2d(1, dC, dH, dW, dC, 3, 3, 1, 1, 1, 1, dC, dimg, dw, db, dout, NULL); break;
  default:
    lk_seq2img(1, (long)dH * dW, dC, dx, dimg);
    lk_conv2d(1, dC, dH, dW, dC, 3, 3, 1, 1, 1, 1, dC, dimg, dw, db, dout, NULL);
    lk_gelu(n, dout, dout);
    lk_img2seq(1, dC, (long)dH * dW, dout, dy);
    break;
  }
}

/* fused_linear over the samples of a view (rows 1..rows of each sample's rows + 1 tokens): one
 * lk_fused_linear_strided call against the per-sample loop of lk_fused_linear calls it replaced. */
static int sB, sRows, sK, sN, sAct, sRes;
static float *sx, *sw, *sb, *sy;
static void strided_fl(int v) {
  long xbs = (long)(sRows + 1) * sK, ybs = (long)(sRows + 1) * sN;
  float *res = sRes ? sy + sN : NULL;
  if (v == 0) {
    lk_fused_linear_strided(sB, sRows, sK, sN, sx + sK, xbs, sw, sb, NULL, 0, sAct, res, ybs, sy + sN, ybs);
    return;
  }
  for (int b = 0; b < sB; ++b)
    lk_fused_linear(sRows, sK, sN, sx + sK + b * xbs, sw, sb, sAct, res ? res + b * ybs : NULL, sy + sN + b * ybs);
}

/* Times the nv variants of one case in alternation; prints one line per variant and the speed-up
 * of variant 0 over variant 1. */
static void compare(const char *title, void (*run)(int), int nv, const char *const *labels, double gflop) {
  double bw[8], bc[8];
  int th = lk_max_threads();
  printf("%s\n", title);
  for (int v = 0; v < nv; ++v) { bw[v] = bc[v] = 1e30; run(v); }
  for (int round = 0; round < 25; ++round)
    for (int v = 0; v < nv; ++v) {
      double w0 = lkt_now(), c0 = cpu_now();
      for (int i = 0; i < 10; ++i) run(v);
      bw[v] = fmin(bw[v], (lkt_now() - w0) / 10);
      bc[v] = fmin(bc[v], (cpu_now() - c0) / 10 / th);
    }
  for (int v = 0; v < nv; ++v)
    printf("  %-40s %8.1f us wall %8.1f us cpu %7.1f GFLOP/s\n", labels[v], bw[v] * 1e6, bc[v] * 1e6, gflop / bw[v]);
  printf("  %-40s %8.2fx wall %8.2fx cpu\n", "=> fused speed-up", bw[1] / bw[0], bc[1] / bc[0]);
}

int main(void) {
  char load[64] = "?";
  FILE *f = fopen("/proc/loadavg", "r");
  if (f) { if (!fgets(load, sizeof load, f)) load[0] = 0; fclose(f); }
  printf("bench_fused: %d threads, VW=%d; load average %s", lk_max_threads(), LK_VW, load);

  x = arena_rand((long)NT * HT, 1); w1 = arena_rand((long)HT * CT, (float)(3.0 / sqrt(CT))); b1 = arena_rand(HT, 0.1f);
  w2 = arena_rand((long)CT * HT, (float)(3.0 / sqrt(HT))); b2 = arena_rand(CT, 0.1f);
  h = arena_rand((long)NT * HT, 1); r = arena_rand((long)NT * CT, 1); t = arena_rand((long)NT * CT, 1);
  {
    static const char *const l1[] = {"fused_linear(act = GELU)", "linear + gelu", "(linear alone)"};
    static const char *const l2[] = {"fused_linear(act = HSWISH)", "linear + hswish", "(linear alone)"};
    static const char *const l3[] = {"fused_linear(residual = y)", "linear + add", "(linear alone)"};
    const double gf = 2e-9 * NT * CT * HT;
    compare("fc1: 197x192 -> 768, bias, GELU", fc1_gelu, 3, l1, gf);
    compare("fc1 with a cheap activation (hswish, LocalViT)", fc1_hswish, 3, l2, gf);
    compare("fc2: 197x768 -> 192, bias, + residual in place (r += h.W2^T + b2)", fc2_residual, 3, l3, gf);
  }
  lk_scratch_free(x); lk_scratch_free(w1); lk_scratch_free(b1); lk_scratch_free(w2); lk_scratch_free(b2);
  lk_scratch_free(h); lk_scratch_free(r); lk_scratch_free(t);

  {
    /* LocalViT-T's FFN at batch 16 (expansion, then the projection added in place), and
     * localvit_fmnist's input gradient of its expansion at training batch 64. */
    static const int cfg[][6] = {{16, 196, 192, 768, LK_ACT_HSWISH, 0}, {16, 196, 768, 192, LK_ACT_NONE, 1},
                                 {64, 49, 256, 64, LK_ACT_NONE, 1}};
    static const char *const ls[] = {"lk_fused_linear_strided, one call", "lk_fused_linear per sample"};
    for (int i = 0; i < 3; ++i) {
      char title[128];
      sB = cfg[i][0]; sRows = cfg[i][1]; sK = cfg[i][2]; sN = cfg[i][3]; sAct = cfg[i][4]; sRes = cfg[i][5];
      sx = arena_rand((long)sB * (sRows + 1) * sK, 1); sw = arena_rand((long)sN * sK, (float)(3.0 / sqrt(sK)));
      sb = arena_rand(sN, 0.1f); sy = arena_rand((long)sB * (sRows + 1) * sN, 1);
      snprintf(title, sizeof title, "fused_linear over %d samples of a view: %dx%d -> %d%s", sB, sRows, sK, sN,
               sRes ? ", + residual in place" : "");
      compare(title, strided_fl, 2, ls, 2e-9 * sB * sRows * sK * sN);
      lk_scratch_free(sx); lk_scratch_free(sw); lk_scratch_free(sb); lk_scratch_free(sy);
    }
  }

  {
    static const int cfg[][3] = {{14, 14, 768}, {7, 7, 256}};
    static const char *const ld[] = {"token_dwconv(act = GELU), tokens", "conv2d depthwise NCHW + gelu",
                                     "(token_dwconv, act = NONE)", "(conv2d depthwise NCHW alone)",
                                     "seq2img + conv2d + gelu + img2seq"};
    for (int i = 0; i < 2; ++i) {
      long n;
      char title[96];
      dH = cfg[i][0]; dW = cfg[i][1]; dC = cfg[i][2];
      n = (long)dH * dW * dC;
      dx = arena_rand(n, 1); dw = arena_rand(dC * 9L, 1.0f); db = arena_rand(dC, 0.1f);
      dy = arena_rand(n, 1); dimg = arena_rand(n, 1); dout = arena_rand(n, 1);
      lk_seq2img(1, (long)dH * dW, dC, dx, dimg);
      snprintf(title, sizeof title, "dwconv %dx%dx%d, k3 s1 p1, bias, GELU (LeFF)", dH, dW, dC);
      compare(title, dwconv, 5, ld, 2e-9 * n * 9);
      lk_scratch_free(dx); lk_scratch_free(dw); lk_scratch_free(db); lk_scratch_free(dy);
      lk_scratch_free(dimg); lk_scratch_free(dout);
    }
  }
  return 0;
}
