#define _POSIX_C_SOURCE 200112L /* clock_gettime in -std=c99 */
/* The fused kernels of the fusion passes (DESIGN.md §6) against their naive references: the
 * activation codes, lk_rsqrt, lk_gemm_ex2's epilogue, lk_fused_linear (every activation, with and
 * without bias and residual, residual aliased with y, K across several 256-long slices) and
 * lk_token_dwconv (odd C, 7×7 / 14×14 / 32×32 grids, stride 1 and 2, kernels 3 and 5, batch 1 and
 * 3, every activation, with and without bias), plus a cross-check of token_dwconv against the
 * unfused seq2img → conv2d(groups = C) → activation → img2seq, and thread-count invariance. */
#include "../prologue.h"
#include "../gemm.c"
#include "../linear.c"
#include "../conv.c"
#include "../activation.c"
#include "../layout.c"
#include "../fused_linear.c"
#include "../token_dwconv.c"
#include "lk_test.h"

#ifdef _OPENMP
extern void omp_set_num_threads(int);
#define LKT_SET_THREADS(n) omp_set_num_threads(n)
#else
#define LKT_SET_THREADS(n) ((void)(n))
#endif

static const char *const act_names[] = {"none", "gelu", "relu", "relu6", "hswish", "hsigmoid", "sigmoid"};
#define NACT 7

/* Worst-case error budget of an activation on top of the pre-activation's: gelu's erf/erfc
 * approximations ≤ 1.5e-5 relative, sigmoid's exp ~1e-6; the others are exact up to rounding. */
static double act_tol(int act) { return act == LK_ACT_GELU ? 2e-5 : 2e-6; }

/* lk_apply_act, lk_vact and the elementwise kernels are one implementation; against libm. */
static void test_act_codes(void) {
  typedef void (*unary)(long, const float *, float *);
  static const unary kernels[NACT] = {NULL, lk_gelu, lk_relu, lk_relu6, lk_hswish, lk_hsigmoid, lk_sigmoid};
  const long n = 4099;
  float *x = lkt_rand(n, 8), *y = lkt_rand(n, 1), *r = lkt_rand(n, 1), *s = lkt_rand(n, 1);
  x[0] = 0.0f; x[1] = -3.0f; x[2] = 3.0f; x[3] = 6.0f; x[4] = -100.0f; x[5] = -9.0f; x[6] = 40.0f;
  for (int a = 0; a < NACT; ++a) {
    char what[96];
    for (long i = 0; i < n; ++i) {
      s[i] = lk_apply_act(a, x[i]);
      r[i] = (float)lk_apply_act_ref(a, x[i]);
    }
    snprintf(what, sizeof what, "lk_apply_act %s vs libm", act_names[a]);
    lkt_check(what, s, r, n, act_tol(a) * 0.1 + 1e-7);
    if (kernels[a]) {
      /* A vector of equal lanes takes the same path as the scalar form: compare on splats. */
      for (long i = 0; i < n; ++i) y[i] = x[i / LK_VW];
      kernels[a](n, y, y);
      for (long i = 0; i < n; ++i) r[i] = lk_apply_act(a, x[i / LK_VW]);
      snprintf(what, sizeof what, "lk_%s == lk_apply_act on splats", act_names[a]);
      lkt_check_exact(what, y, r, n);
    }
  }
  {
    /* h-swish and h-sigmoid divide by 6 without a divide (lk_vdiv6): bit-equal to the division,
     * as PyTorch computes them, over a sweep of x in ±12 and of the products near 0 and large. */
    long m = 0, bad = 0;
    for (long i = -120000; i <= 120000; ++i) {
      float xs[3] = {(float)i * 1e-4f, (float)i * 1.7e-30f, (float)i * 3.3e25f};
      for (int j = 0; j < 3; ++j, ++m) {
        volatile float six = 6.0f; /* a true division, not folded into a multiply */
        float t = fminf(fmaxf(xs[j] + 3.0f, 0.0f), 6.0f);
        float p = xs[j] * t;
        if (fabsf(p / six) < 0x1p-126f) continue; /* subnormal quotients may differ */
        bad += lk_apply_act(LK_ACT_HSWISH, xs[j]) != p / six;
        bad += lk_apply_act(LK_ACT_HSIGMOID, xs[j]) != t / six;
      }
    }
    if (bad) { printf("FAIL hswish/hsigmoid as a division by 6: %ld of %ld values differ\n", bad, 2 * m); ++lkt_failed; }
    else ++lkt_passed;
  }
  {
    float v = lk_apply_act(LK_ACT_NONE, 1.25f), u = lk_apply_act(99, 1.25f);
    lkt_check_exact("act none and unknown codes are the identity", &u, &v, 1);
  }
  free(x); free(y); free(r); free(s);
}

static void test_rsqrt(void) {
  static const long lens[] = {1, 7, 192, 100003};
  for (size_t l = 0; l < sizeof lens / sizeof lens[0]; ++l) {
    long n = lens[l];
    float *x = lkt_rand(n, 1), *y = lkt_rand(n, 1), *r = lkt_rand(n, 1);
    char what[64];
    for (long i = 0; i < n; ++i) x[i] = x[i] * x[i] * 100.0f + 1e-5f; /* variance + eps */
    lk_rsqrt(n, x, y);
    lk_rsqrt_naive(n, x, r);
    snprintf(what, sizeof what, "rsqrt n=%ld", n);
    lkt_check(what, y, r, n, 1.2e-7);
    lk_rsqrt(n, x, x); /* in place */
    snprintf(what, sizeof what, "rsqrt in place n=%ld", n);
    lkt_check_exact(what, x, y, n);
    free(x); free(y); free(r);
  }
}

/* res: 0 none, 1 separate buffer, 2 aliased with y (in place). Also checks that the aliased call
 * is bit-identical to the separate one (the partial sums must not clobber the residual). */
static void fused_linear_case(int rows, int K, int N, int act, int bias, int res) {
  long ny = (long)rows * N;
  /* Weights scaled so the pre-activations are ~N(0, 1), as in a trained network: the activations'
   * interesting ranges (gelu's erfc path, relu6's clamp) are all visited. */
  float *x = lkt_rand((long)rows * K, 1), *W = lkt_rand((long)N * K, (float)(3.0 / sqrt(K + 1.0)));
  float *b = lkt_rand(N, 1), *R = lkt_rand(ny, 2), *y = lkt_rand(ny, 1), *ref = lkt_rand(ny, 1);
  const float *bp = bias ? b : NULL;
  char what[128];
  lk_fused_linear_naive(rows, K, N, x, W, bp, act, res ? R : NULL, ref);
  lk_fused_linear(rows, K, N, x, W, bp, act, res ? R : NULL, y);
  snprintf(what, sizeof what, "fused_linear %dx%d->%d %s bias%d res%d", rows, K, N, act_names[act], bias, res ? 1 : 0);
  lkt_check(what, y, ref, ny, 1e-5 * sqrt(K + 1.0) + act_tol(act));
  if (res == 2) {
    float *z = lkt_copy(R, ny);
    lk_fused_linear(rows, K, N, x, W, bp, act, z, z);
    snprintf(what, sizeof what, "fused_linear %dx%d->%d %s bias%d y==residual", rows, K, N, act_names[act], bias);
    lkt_check_exact(what, z, y, ny);
    lk_fused_linear_naive(rows, K, N, x, W, bp, act, R, R); /* the reference in place, too */
    snprintf(what, sizeof what, "fused_linear_naive %dx%d->%d y==residual", rows, K, N);
    lkt_check_exact(what, R, ref, ny);
    free(z);
  }
  free(x); free(W); free(b); free(R); free(y); free(ref);
}

static void test_fused_linear(void) {
  /* DeiT/LeFF shapes, K on both sides of the 256-long slice, odd N and rows, edge tiles. */
  static const int shapes[][3] = {
      {197, 192, 768}, {197, 768, 192}, {49, 256, 1024}, {196, 384, 96}, {1, 1, 1},   {7, 13, 13},
      {17, 257, 33},   {100, 512, 17},  {3, 600, 40},    {64, 64, 64},   {33, 1, 9},  {13, 300, 192},
      {6, 16, 16},     {5, 20, 5},
  };
  const int ns = (int)(sizeof shapes / sizeof shapes[0]);
  int t = 0;
  for (int s = 0; s < ns; ++s)
    for (int a = 0; a < NACT; ++a, ++t) {
      const int *p = shapes[s];
      /* Large shapes: every activation once, residual and bias rotating; small ones: all. */
      if (p[0] * p[1] * p[2] > 2000000 && a != LK_ACT_GELU && a != LK_ACT_NONE && a != (s % 5) + 2) continue;
      fused_linear_case(p[0], p[1], p[2], a, (t / 3) % 2, t % 3);
      if (p[0] * p[1] * p[2] <= 200000) fused_linear_case(p[0], p[1], p[2], a, 1 - (t / 3) % 2, (t + 1) % 3);
    }
  /* The two bench shapes, in the combinations the fusion pass emits. */
  fused_linear_case(197, 192, 768, LK_ACT_GELU, 1, 0);
  fused_linear_case(197, 768, 192, LK_ACT_NONE, 1, 2);
  fused_linear_case(197, 768, 192, LK_ACT_HSWISH, 1, 2);
  fused_linear_case(3 * 197, 768, 192, LK_ACT_GELU, 0, 2);
  fused_linear_case(0, 16, 16, LK_ACT_GELU, 1, 1); /* nothing to do */
  fused_linear_case(5, 0, 7, LK_ACT_SIGMOID, 1, 2); /* K = 0: act(bias) + residual */
}

/* lk_fused_linear_strided on dense samples: per-sample (scale_bs = K) or shared (0) input-channel scales, the
 * residual separate or in place (res 2), against the naive reference that scales x first. The
 * scales are the h-sigmoid gates of a squeeze-excite block, in [0, 1], some exactly 0. */
static void fused_linear_scaled_case(int batch, int rows, int K, int N, int act, int bias, int res, int shared) {
  long ny = (long)batch * rows * N;
  float *x = lkt_rand((long)batch * rows * K, 1), *W = lkt_rand((long)N * K, (float)(3.0 / sqrt(K + 1.0)));
  float *b = lkt_rand(N, 1), *s = lkt_rand((long)batch * K, 1), *R = lkt_rand(ny, 2), *y = lkt_rand(ny, 1);
  float *ref = lkt_rand(ny, 1);
  long sbs = shared ? 0 : K;
  char what[160];
  for (long i = 0; i < (long)batch * K; ++i) s[i] = s[i] < -0.8f ? 0.0f : 0.5f + 0.5f * s[i];
  if (res == 2) memcpy(y, R, (size_t)ny * sizeof(float));
  lk_fused_linear_strided_naive(batch, rows, K, N, x, (long)rows * K, W, bias ? b : NULL, s, sbs, act, res ? R : NULL,
                                (long)rows * N, ref, (long)rows * N);
  lk_fused_linear_strided(batch, rows, K, N, x, (long)rows * K, W, bias ? b : NULL, s, sbs, act,
                          res == 1 ? R : res == 2 ? y : NULL, (long)rows * N, y, (long)rows * N);
  snprintf(what, sizeof what, "fused_linear_strided (dense, scaled) b%d %dx%d->%d %s bias%d res%d %s", batch, rows,
           K, N, act_names[act], bias,
           res, shared ? "shared scale" : "per-sample scale");
  lkt_check(what, y, ref, ny, 1e-5 * sqrt(K + 1.0) + act_tol(act));
  free(x); free(W); free(b); free(s); free(R); free(y); free(ref);
}

static void test_fused_linear_scaled(void) {
  /* LocalViT's 1×1 convolution after the squeeze-excite gate (196 tokens, 768 → 192), K across the
   * 256-long slices, edge tiles, and one row. */
  fused_linear_scaled_case(1, 196, 768, 192, LK_ACT_NONE, 1, 2, 0);
  fused_linear_scaled_case(3, 196, 768, 192, LK_ACT_NONE, 1, 2, 0);
  fused_linear_scaled_case(3, 49, 256, 64, LK_ACT_HSWISH, 0, 1, 0);
  fused_linear_scaled_case(2, 17, 300, 33, LK_ACT_GELU, 1, 0, 0);
  fused_linear_scaled_case(4, 7, 13, 13, LK_ACT_RELU, 1, 1, 1);
  fused_linear_scaled_case(5, 1, 40, 9, LK_ACT_SIGMOID, 0, 2, 0);
  fused_linear_scaled_case(2, 5, 600, 20, LK_ACT_NONE, 1, 2, 1);
  fused_linear_scaled_case(0, 5, 6, 7, LK_ACT_NONE, 1, 0, 0); /* nothing to do */
}

/* lk_fused_linear_strided on the layout the emitter gives it: each sample's rows are rows 1..rows
 * of a [rows + 1]-row token buffer (the class token is row 0), x and y both such views, the
 * residual in place (y) or separate, with or without a per-sample scale. Odd batches split samples
 * between the threads, even ones give each thread a run of whole samples that share W's packing;
 * K > 256 with the residual in place takes the one-sample stash. Row 0 of y must stay untouched. */
static void fused_linear_strided_case(int batch, int rows, int K, int N, int act, int res, int scaled) {
  long xbs = (long)(rows + 1) * K, ybs = (long)(rows + 1) * N, ny = (long)batch * ybs;
  float *x = lkt_rand((long)batch * xbs, 1), *W = lkt_rand((long)N * K, (float)(3.0 / sqrt(K + 1.0)));
  float *b = lkt_rand(N, 1), *s = lkt_rand((long)batch * K, 1), *R = lkt_rand(ny, 2), *y = lkt_rand(ny, 1);
  float *ref = lkt_copy(y, ny);
  char what[160];
  for (long i = 0; i < (long)batch * K; ++i) s[i] = 0.5f + 0.5f * s[i];
  if (res == 2) memcpy(ref, R, (size_t)ny * sizeof(float)), memcpy(y, R, (size_t)ny * sizeof(float));
  lk_fused_linear_strided_naive(batch, rows, K, N, x + K, xbs, W, b, scaled ? s : NULL, K, act,
                                res == 1 ? R + N : res == 2 ? ref + N : NULL, ybs, ref + N, ybs);
  lk_fused_linear_strided(batch, rows, K, N, x + K, xbs, W, b, scaled ? s : NULL, K, act,
                          res == 1 ? R + N : res == 2 ? y + N : NULL, ybs, y + N, ybs);
  snprintf(what, sizeof what, "fused_linear_strided b%d %dx%d->%d %s res%d scale%d", batch, rows, K, N, act_names[act],
           res, scaled);
  lkt_check(what, y, ref, ny, 1e-5 * sqrt(K + 1.0) + act_tol(act));
  free(x); free(W); free(b); free(s); free(R); free(y); free(ref);
}

static void test_fused_linear_strided(void) {
  fused_linear_strided_case(4, 196, 192, 768, LK_ACT_HSWISH, 0, 0); /* LocalViT's expansion */
  fused_linear_strided_case(3, 196, 768, 192, LK_ACT_NONE, 2, 1);   /* its projection, in place */
  fused_linear_strided_case(6, 49, 256, 64, LK_ACT_NONE, 2, 0);     /* fmnist's backward, in place */
  fused_linear_strided_case(5, 49, 600, 40, LK_ACT_GELU, 1, 0);     /* K slices, separate residual */
  fused_linear_strided_case(2, 7, 300, 70, LK_ACT_RELU, 2, 1);      /* K slices, in place: stash */
  fused_linear_strided_case(1, 1, 9, 5, LK_ACT_SIGMOID, 0, 1);
  fused_linear_strided_case(0, 5, 6, 7, LK_ACT_NONE, 1, 0); /* nothing to do */
}

/* The general entry point: batches (with a shared operand), bias_m, beta, transposed A. */
static void test_gemm_ex2(void) {
  for (int t = 0; t < 24; ++t) {
    int batch = lkt_int(1, 3), M = lkt_int(1, 70), N = lkt_int(1, 70), K = t % 3 == 0 ? lkt_int(257, 700) : lkt_int(1, 200);
    int act = t % NACT, alias = t % 2, ta = t % 4 == 3;
    float beta = t % 5 == 1 ? 0.5f : 0.0f;
    long rsc = N + t % 3, bsc = (long)M * rsc, nc = bsc * batch;
    long rsa = ta ? 1 : K, csa = ta ? M : 1;
    long bsb = t % 6 == 1 ? 0 : (long)K * N; /* a shared B: each thread packs it once for its run of products */
    float *A = lkt_rand((long)M * K, 1), *B = lkt_rand((long)K * N * batch, (float)(3.0 / sqrt(K + 1.0)));
    float *bm = t % 4 < 2 ? lkt_rand(M, 1) : NULL, *bn = t % 3 ? lkt_rand(N, 1) : NULL;
    float *C = lkt_rand(nc, 1), *Cr = lkt_copy(C, nc);
    float *R = alias ? C : lkt_rand(nc, 1), *Rr = alias ? Cr : lkt_copy(R, nc);
    char what[128];
    lk_gemm_ex2(batch, M, N, K, A, 0, rsa, csa, B, bsb, N, 1, C, bsc, rsc, beta, bm, bn, act, R, bsc, rsc);
    lk_gemm_ex2_naive(batch, M, N, K, A, 0, rsa, csa, B, bsb, N, 1, Cr, bsc, rsc, beta, bm, bn, act, Rr, bsc, rsc);
    snprintf(what, sizeof what, "gemm_ex2 b%d %dx%dx%d %s beta%g bias%d%d alias%d At%d", batch, M, N, K,
             act_names[act], beta, bm != NULL, bn != NULL, alias, ta);
    lkt_check(what, C, Cr, nc, 2e-5 * sqrt(K + 1.0) + act_tol(act));
    free(A); free(B); free(bm); free(bn); free(C); free(Cr);
    if (!alias) { free(R); free(Rr); }
  }
}

static void tdw_case(int B, int Hh, int Ww, int C, int k, int s, int p, int act, int bias) {
  int Ho = (Hh + 2 * p - k) / s + 1, Wo = (Ww + 2 * p - k) / s + 1;
  long nx = (long)B * Hh * Ww * C, ny = (long)B * Ho * Wo * C;
  float *x = lkt_rand(nx, 1), *w = lkt_rand((long)C * k * k, (float)(3.0 / k)), *b = lkt_rand(C, 0.5f);
  float *y = lkt_rand(ny, 1), *r = lkt_rand(ny, 1);
  char what[128];
  lk_token_dwconv(B, Hh, Ww, C, k, k, s, s, p, p, x, w, bias ? b : NULL, act, y);
  lk_token_dwconv_naive(B, Hh, Ww, C, k, k, s, s, p, p, x, w, bias ? b : NULL, act, r);
  snprintf(what, sizeof what, "token_dwconv b%d %dx%dx%d k%d s%d p%d %s bias%d", B, Hh, Ww, C, k, s, p, act_names[act], bias);
  lkt_check(what, y, r, ny, 1e-5 * sqrt(k * k + 1.0) + act_tol(act));
  free(x); free(w); free(b); free(y); free(r);
}

static void test_token_dwconv(void) {
  /* {B, Hh, Ww, C, k, s, p} */
  static const int cfg[][7] = {
      {1, 14, 14, 768, 3, 1, 1}, {1, 7, 7, 256, 3, 1, 1},  {3, 7, 7, 13, 3, 1, 1},   {1, 32, 32, 192, 3, 1, 1},
      {3, 14, 14, 192, 5, 1, 2}, {1, 14, 14, 13, 3, 2, 1}, {3, 32, 32, 13, 5, 2, 2}, {1, 7, 7, 768, 5, 2, 2},
      {1, 32, 32, 24, 3, 2, 1},  {3, 14, 14, 40, 3, 1, 0}, {1, 7, 7, 192, 5, 1, 0},  {1, 5, 9, 9, 3, 1, 1},
      {2, 1, 1, 17, 3, 1, 1},    {1, 3, 17, 8, 5, 1, 2},   {1, 9, 4, 20, 3, 2, 0},   {1, 6, 6, 1, 5, 2, 4},
      {1, 4, 11, 4, 1, 1, 0},    {2, 12, 10, 33, 7, 1, 3},
  };
  const int n = (int)(sizeof cfg / sizeof cfg[0]);
  for (int i = 0; i < n; ++i) {
    const int *c = cfg[i];
    /* Every activation on every shape, bias alternating, except the largest (a few acts). */
    for (int a = 0; a < NACT; ++a) {
      if ((long)c[0] * c[1] * c[2] * c[3] > 200000 && a % 3 != i % 3) continue;
      tdw_case(c[0], c[1], c[2], c[3], c[4], c[5], c[6], a, (a + i) % 2);
    }
  }
  for (int t = 0; t < 12; ++t) { /* random */
    int k = lkt_int(1, 5), s = lkt_int(1, 2), p = lkt_int(0, k), H = lkt_int(1, 16), W = lkt_int(1, 16);
    if (H + 2 * p < k) H = k;
    if (W + 2 * p < k) W = k;
    tdw_case(lkt_int(1, 3), H, W, lkt_int(1, 50), k, s, p, t % NACT, t % 2);
  }
}

/* The unfused sequence the token-layout pass replaces gives the same numbers (up to rounding):
 * checks the layouts (x channels-last, w in PyTorch's [C, 1, kh, kw]) against lk_conv2d. */
static void test_token_dwconv_vs_conv2d(void) {
  static const int cfg[][7] = {{2, 14, 14, 24, 3, 1, 1}, {1, 9, 7, 13, 5, 2, 2}, {1, 7, 7, 16, 3, 2, 0}};
  for (int i = 0; i < 3; ++i) {
    const int *c = cfg[i];
    int B = c[0], Hh = c[1], Ww = c[2], C = c[3], k = c[4], s = c[5], p = c[6];
    int Ho = (Hh + 2 * p - k) / s + 1, Wo = (Ww + 2 * p - k) / s + 1;
    long nx = (long)B * Hh * Ww * C, ny = (long)B * Ho * Wo * C;
    float *x = lkt_rand(nx, 1), *w = lkt_rand((long)C * k * k, 1), *b = lkt_rand(C, 1);
    float *img = lkt_rand(nx, 1), *oimg = lkt_rand(ny, 1), *y = lkt_rand(ny, 1), *r = lkt_rand(ny, 1);
    char what[96];
    lk_token_dwconv(B, Hh, Ww, C, k, k, s, s, p, p, x, w, b, LK_ACT_HSWISH, y);
    lk_seq2img(B, (long)Hh * Ww, C, x, img);
    lk_conv2d(B, C, Hh, Ww, C, k, k, s, s, p, p, C, img, w, b, oimg, NULL);
    lk_hswish(ny, oimg, oimg);
    lk_img2seq(B, C, (long)Ho * Wo, oimg, r);
    snprintf(what, sizeof what, "token_dwconv == seq2img+conv2d+hswish+img2seq #%d", i);
    lkt_check(what, y, r, ny, 1e-5 * sqrt(k * k + 1.0));
    free(x); free(w); free(b); free(img); free(oimg); free(y); free(r);
  }
  { /* fused_linear == linear + gelu + add */
    int rows = 50, K = 300, N = 40;
    long ny = (long)rows * N;
    float *x = lkt_rand((long)rows * K, 1), *W = lkt_rand((long)N * K, 0.1f), *b = lkt_rand(N, 1);
    float *R = lkt_rand(ny, 1), *y = lkt_rand(ny, 1), *r = lkt_rand(ny, 1);
    long shape[1] = {ny}, unit[1] = {1};
    lk_fused_linear(rows, K, N, x, W, b, LK_ACT_GELU, R, y);
    lk_linear(rows, K, N, x, W, b, r);
    lk_gelu(ny, r, r);
    lk_add(1, shape, r, unit, R, unit, r);
    lkt_check("fused_linear == linear+gelu+add", y, r, ny, 1e-6);
    free(x); free(W); free(b); free(R); free(y); free(r);
  }
}

/* Bit-identical results on 1 and on 2 threads. */
static void test_thread_invariance(void) {
  const int rows = 197, K = 768, N = 192;
  float *x = lkt_rand((long)rows * K, 1), *W = lkt_rand((long)N * K, 0.1f), *b = lkt_rand(N, 1);
  float *R = lkt_rand((long)rows * N, 1), *y1 = lkt_copy(R, (long)rows * N), *y2 = lkt_copy(R, (long)rows * N);
  float *t = lkt_rand(3L * 14 * 14 * 192, 1), *w = lkt_rand(192L * 9, 1), *z1 = lkt_rand(3L * 14 * 14 * 192, 1);
  float *z2 = lkt_rand(3L * 14 * 14 * 192, 1), *gate = lkt_rand(2L * K, 1);
  float *u1 = lkt_rand(2L * 98 * N, 1), *u2 = lkt_rand(2L * 98 * N, 1);
  lk_fused_linear(rows, K, N, x, W, b, LK_ACT_GELU, y2, y2);
  lk_fused_linear_strided(2, 98, K, N, x, 98L * K, W, b, gate, K, LK_ACT_NONE, NULL, 0, u2, 98L * N);
  lk_token_dwconv(3, 14, 14, 192, 3, 3, 1, 1, 1, 1, t, w, b, LK_ACT_GELU, z2);
  LKT_SET_THREADS(1);
  lk_fused_linear(rows, K, N, x, W, b, LK_ACT_GELU, y1, y1);
  lk_fused_linear_strided(2, 98, K, N, x, 98L * K, W, b, gate, K, LK_ACT_NONE, NULL, 0, u1, 98L * N);
  lk_token_dwconv(3, 14, 14, 192, 3, 3, 1, 1, 1, 1, t, w, b, LK_ACT_GELU, z1);
  LKT_SET_THREADS(2);
  lkt_check_exact("fused_linear thread-count invariance", y1, y2, (long)rows * N);
  lkt_check_exact("token_dwconv thread-count invariance", z1, z2, 3L * 14 * 14 * 192);
  lkt_check_exact("fused_linear_scaled thread-count invariance", u1, u2, 2L * 98 * N);
  free(gate); free(u1); free(u2);
  free(x); free(W); free(b); free(R); free(y1); free(y2); free(t); free(w); free(z1); free(z2);
}

int main(void) {
  test_act_codes();
  test_rsqrt();
  test_gemm_ex2();
  test_fused_linear();
  test_fused_linear_scaled();
  test_fused_linear_strided();
  test_token_dwconv();
  test_token_dwconv_vs_conv2d();
  test_thread_invariance();
  return lkt_finish("test_fused");
}
