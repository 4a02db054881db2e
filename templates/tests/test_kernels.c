#define _POSIX_C_SOURCE 200112L /* clock_gettime in -std=c99 */
/* Every kernel except the GEMM (test_gemm.c) against its naive reference, on random shapes
 * including odd sizes and 1s. All kernel files are compiled together into this one translation
 * unit, exactly as the emitter concatenates them, so a name clash between files fails here. */
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

#ifdef _OPENMP
extern void omp_set_num_threads(int);
#define LKT_SET_THREADS(n) omp_set_num_threads(n)
#else
#define LKT_SET_THREADS(n) ((void)(n))
#endif

static const int sizes[] = {1, 2, 3, 7, 8, 9, 15, 16, 17, 33, 49, 64, 100, 197};
#define PICK() sizes[lkt_int(0, (int)(sizeof sizes / sizeof sizes[0]) - 1)]

static void test_linear(void) {
  for (int t = 0; t < 20; ++t) {
    int rows = PICK(), K = PICK(), N = PICK(), with_bias = t % 2;
    float *x = lkt_rand((long)rows * K, 1), *W = lkt_rand((long)N * K, 1), *b = lkt_rand(N, 1);
    float *y = lkt_rand((long)rows * N, 1), *r = lkt_rand((long)rows * N, 1);
    char what[96];
    lk_linear(rows, K, N, x, W, with_bias ? b : NULL, y);
    lk_linear_naive(rows, K, N, x, W, with_bias ? b : NULL, r);
    snprintf(what, sizeof what, "linear %dx%d->%d bias%d", rows, K, N, with_bias);
    lkt_check(what, y, r, (long)rows * N, 1e-5 * sqrt(K + 1.0));
    free(x); free(W); free(b); free(y); free(r);
  }
  { /* the class-token head: rows = B samples, row stride N·C, output into a wider buffer */
    int B = 3, N = 5, C = 24, O = 10;
    float *x = lkt_rand((long)B * N * C, 1), *W = lkt_rand((long)O * C, 1), *b = lkt_rand(O, 1);
    float *y = lkt_rand((long)B * 2 * O, 1), *r = lkt_rand((long)B * O, 1), *g = lkt_rand((long)B * O, 1), *x0 = lkt_rand((long)B * C, 1);
    lk_linear_strided(B, C, O, x, (long)N * C, W, b, y, 2L * O);
    for (int i = 0; i < B; ++i) memcpy(x0 + i * C, x + (long)i * N * C, C * sizeof(float));
    lk_linear_naive(B, C, O, x0, W, b, r);
    for (int i = 0; i < B; ++i) memcpy(g + i * O, y + i * 2 * O, O * sizeof(float));
    lkt_check("linear_strided class token head", g, r, (long)B * O, 1e-5 * 6);
    free(x); free(W); free(b); free(y); free(r); free(g); free(x0);
  }
}

static void conv_case(int B, int Cin, int Hh, int Ww, int Cout, int kh, int kw, int sh, int sw, int ph, int pw, int groups, int bias, int with_ws) {
  int Ho = (Hh + 2 * ph - kh) / sh + 1, Wo = (Ww + 2 * pw - kw) / sw + 1;
  long ny = (long)B * Cout * Ho * Wo, K = (long)Cin / groups * kh * kw;
  float *x = lkt_rand((long)B * Cin * Hh * Ww, 1), *w = lkt_rand(Cout * K, 1), *b = lkt_rand(Cout, 1);
  float *y = lkt_rand(ny, 1), *r = lkt_rand(ny, 1);
  size_t wsn = lk_conv2d_workspace_floats(B, Cin, Hh, Ww, Cout, kh, kw, sh, sw, ph, pw, groups);
  float *ws = with_ws && wsn ? lkt_rand((long)wsn, 1) : NULL;
  char what[160];
  lk_conv2d(B, Cin, Hh, Ww, Cout, kh, kw, sh, sw, ph, pw, groups, x, w, bias ? b : NULL, y, ws);
  lk_conv2d_naive(B, Cin, Hh, Ww, Cout, kh, kw, sh, sw, ph, pw, groups, x, w, bias ? b : NULL, r);
  snprintf(what, sizeof what, "conv2d b%d %dx%dx%d->%d k%dx%d s%dx%d p%dx%d g%d bias%d ws%d", B, Cin, Hh, Ww, Cout, kh, kw, sh, sw, ph, pw, groups, bias, with_ws);
  lkt_check(what, y, r, ny, 1e-5 * sqrt(K + 1.0));
  if (!lk__conv_is_1x1(kh, kw, sh, sw, ph, pw, groups) && !(groups == Cin && groups == Cout && groups > 1)) {
    /* The explicit (im2col) path too, which lk_conv2d takes only for images too large to pad. */
    float *col = lkt_rand(lk__conv_col_floats(Cin, kh, kw, Ho, Wo), 1);
    for (long i = 0; i < ny; ++i) y[i] = -1.0f;
    lk__conv_explicit(B, Cin, Hh, Ww, Cout, kh, kw, sh, sw, ph, pw, groups, Ho, Wo, x, w, bias ? b : NULL, y, with_ws ? col : NULL);
    snprintf(what, sizeof what, "conv2d explicit b%d %dx%dx%d->%d k%dx%d s%dx%d p%dx%d g%d", B, Cin, Hh, Ww, Cout, kh, kw, sh, sw, ph, pw, groups);
    lkt_check(what, y, r, ny, 1e-5 * sqrt(K + 1.0));
    free(col);
  }
  free(x); free(w); free(b); free(y); free(r); free(ws);
}

static void test_conv(void) {
  conv_case(1, 3, 32, 32, 24, 16, 16, 16, 16, 0, 0, 1, 1, 1); /* patch embedding */
  conv_case(2, 3, 20, 20, 8, 4, 4, 4, 4, 0, 0, 1, 0, 0);
  conv_case(2, 16, 7, 9, 24, 1, 1, 1, 1, 0, 0, 1, 1, 0);      /* pointwise: straight GEMM */
  conv_case(2, 16, 9, 7, 16, 3, 3, 1, 1, 1, 1, 16, 1, 0);     /* depthwise 3×3 */
  conv_case(1, 8, 10, 11, 8, 3, 3, 2, 2, 1, 1, 8, 0, 0);      /* depthwise stride 2 */
  conv_case(1, 12, 8, 8, 12, 5, 5, 1, 1, 2, 2, 12, 1, 0);     /* depthwise 5×5 */
  /* depthwise, padded path's edges: rows of 3 (a tail spilling over several rows), of one whole
   * vector, one vector + 1, odd and single output rows, a 1×3 and a 2×2 kernel, no padding, the
   * localvit_fmnist shape, and a plane too large for the stack copy (the direct path) */
  conv_case(2, 5, 3, 3, 5, 3, 3, 1, 1, 1, 1, 5, 1, 0);
  conv_case(1, 3, 5, LK_VW, 3, 3, 3, 1, 1, 1, 1, 3, 0, 0);
  conv_case(2, 3, 6, 9, 3, 3, 5, 1, 1, 1, 2, 3, 1, 0);
  conv_case(1, 1, 120, 57, 1, 3, 3, 1, 1, 1, 1, 1, 1, 0);
  conv_case(1, 3, 5, 2 * LK_VW + 1, 3, 3, 3, 1, 1, 1, 1, 3, 1, 0);
  conv_case(2, 4, 1, 9, 4, 1, 3, 1, 1, 0, 1, 4, 1, 0);
  conv_case(1, 4, 7, 10, 4, 2, 2, 1, 1, 1, 1, 4, 1, 0);
  conv_case(1, 6, 9, 11, 6, 3, 3, 1, 1, 0, 0, 6, 0, 0);
  conv_case(3, 256, 7, 7, 256, 3, 3, 1, 1, 1, 1, 256, 1, 0);
  conv_case(1, 2, 100, 100, 2, 3, 3, 1, 1, 1, 1, 2, 1, 0);
  conv_case(2, 8, 9, 9, 12, 3, 3, 1, 1, 1, 1, 2, 1, 1);       /* grouped */
  conv_case(1, 3, 17, 13, 5, 3, 2, 2, 3, 2, 1, 1, 1, 1);      /* odd everything */
  conv_case(1, 4, 5, 5, 6, 5, 5, 1, 1, 0, 0, 1, 1, 0);        /* kernel = image */
  conv_case(1, 4, 6, 6, 4, 1, 1, 2, 2, 0, 0, 1, 1, 0);        /* 1×1 strided: im2col path */
  /* im2col in blocks of output rows (lk__conv_block_rows): K = 864 → 7 rows of 40 per block, the
   * last block short; K = 3200 → the 256-column floor, 22 rows of 30 then 8; grouped in blocks;
   * CeiT's stem (7×7 stride 2 on 3 channels) at a reduced size, 16 rows of 56. */
  conv_case(2, 96, 40, 40, 10, 3, 3, 1, 1, 1, 1, 1, 1, 1);
  conv_case(1, 128, 30, 30, 8, 5, 5, 1, 1, 2, 2, 1, 0, 1);
  conv_case(2, 96, 40, 40, 12, 3, 3, 1, 1, 1, 1, 2, 1, 0);
  conv_case(2, 3, 112, 112, 16, 7, 7, 2, 2, 3, 3, 1, 1, 1);
  /* Implicit GEMM (lk__conv_pack_b): stride 2 with rows of 2·NR + 3 outputs (panels that wrap to
   * the next row), stride 1 with rows of exactly NR and of NR + 1, stride 3 (the pixel-by-pixel
   * panel copy), SAG's 3×3 at a reduced width over several K slices, batch 1 and 3 (shares of one
   * image per thread, odd images per thread), groups; and an image too large to pad (the explicit
   * path inside lk_conv2d). */
  conv_case(1, 3, 4 * LK_GEMM_NR + 6, 4 * LK_GEMM_NR + 6, 20, 7, 7, 2, 2, 3, 3, 1, 1, 0);
  conv_case(3, 5, LK_GEMM_NR, LK_GEMM_NR, 7, 3, 3, 1, 1, 1, 1, 1, 0, 0);
  conv_case(1, 5, LK_GEMM_NR + 1, LK_GEMM_NR + 1, 7, 3, 3, 1, 1, 1, 1, 1, 1, 0);
  conv_case(2, 6, 4 * LK_GEMM_NR, 3 * LK_GEMM_NR + 2, 9, 3, 3, 3, 3, 0, 0, 1, 1, 0);
  conv_case(1, 64, 32, 32, 48, 3, 3, 1, 1, 1, 1, 1, 1, 0);
  conv_case(3, 64, 16, 16, 96, 3, 3, 1, 1, 1, 1, 4, 1, 0);
  conv_case(1, 40, 228, 228, 2, 3, 3, 1, 1, 1, 1, 1, 1, 1);
  for (int t = 0; t < 12; ++t) {
    int k = lkt_int(1, 4), s = lkt_int(1, 3), p = lkt_int(0, k - 1), H = lkt_int(k, 12), W = lkt_int(k, 12);
    int dw = t % 3 == 0, C = lkt_int(1, 9);
    conv_case(lkt_int(1, 2), C, H, W, dw ? C : lkt_int(1, 9), k, k, s, s, p, p, dw ? C : 1, t % 2, t % 4 < 2);
  }
}

static void test_norm(void) {
  for (int t = 0; t < 12; ++t) {
    long rows = PICK();
    int C = PICK(), affine = t % 3 != 0;
    float *x = lkt_rand(rows * C, 3), *w = lkt_rand(C, 1), *b = lkt_rand(C, 1), *y = lkt_rand(rows * C, 1), *r = lkt_rand(rows * C, 1);
    char what[96];
    if (t % 2) for (long i = 0; i < rows * C; ++i) x[i] += 100.0f; /* |mean| ≫ std */
    lk_layernorm(rows, C, x, affine ? w : NULL, affine ? b : NULL, 1e-6f, y);
    lk_layernorm_naive(rows, C, x, affine ? w : NULL, affine ? b : NULL, 1e-6f, r);
    snprintf(what, sizeof what, "layernorm %ldx%d affine%d shift%d", rows, C, affine, t % 2 ? 100 : 0);
    /* 1e-5: an output near 0 that is the sum t·w + b of two terms near 1 carries their two
     * roundings (~1.2e-7 absolute), against the check's floor of 1% of max |y| (~0.03). */
    lkt_check(what, y, r, rows * C, 1e-5);
    lk_layernorm(rows, C, x, w, b, 1e-5f, x); /* in place */
    lk_layernorm_naive(rows, C, r, w, b, 1e-5f, r);
    free(x); free(w); free(b); free(y); free(r);
  }
  for (int t = 0; t < 6; ++t) {
    int B = lkt_int(1, 3), C = PICK();
    long HW = PICK() * PICK(), n = (long)B * C * HW;
    float *x = lkt_rand(n, 2), *w = lkt_rand(C, 1), *b = lkt_rand(C, 1), *m = lkt_rand(C, 1), *v = lkt_rand(C, 1);
    float *y = lkt_rand(n, 1), *r = lkt_rand(n, 1);
    char what[96];
    for (int c = 0; c < C; ++c) v[c] = v[c] * v[c] + 0.1f;
    lk_batchnorm_infer(B, C, HW, x, w, b, m, v, 1e-5f, y);
    lk_batchnorm_infer_naive(B, C, HW, x, w, b, m, v, 1e-5f, r);
    snprintf(what, sizeof what, "batchnorm %dx%dx%ld", B, C, HW);
    lkt_check(what, y, r, n, 1e-5);
    free(x); free(w); free(b); free(m); free(v); free(y); free(r);
  }
}

static void test_activations(void) {
  typedef void (*unary)(long, const float *, float *);
  static const struct { const char *name; unary fast, ref; double tol; } acts[] = {
      {"gelu", lk_gelu, lk_gelu_naive, 2e-6},       {"relu", lk_relu, lk_relu_naive, 0},
      {"relu6", lk_relu6, lk_relu6_naive, 0},        {"hswish", lk_hswish, lk_hswish_naive, 0},
      {"hsigmoid", lk_hsigmoid, lk_hsigmoid_naive, 0}, {"sigmoid", lk_sigmoid, lk_sigmoid_naive, 1e-6},
  };
  static const long lens[] = {1, 7, 8, 33, 1000, 100003};
  for (size_t a = 0; a < sizeof acts / sizeof acts[0]; ++a)
    for (size_t l = 0; l < sizeof lens / sizeof lens[0]; ++l) {
      long n = lens[l];
      float *x = lkt_rand(n, 8), *y = lkt_rand(n, 1), *r = lkt_rand(n, 1);
      char what[96];
      if (n > 4) { x[0] = 0.0f; x[1] = -3.0f; x[2] = 3.0f; x[3] = 6.0f; x[4] = -100.0f; }
      acts[a].fast(n, x, y);
      acts[a].ref(n, x, r);
      snprintf(what, sizeof what, "%s n=%ld", acts[a].name, n);
      if (acts[a].tol == 0) lkt_check(what, y, r, n, 1e-7);
      else lkt_check(what, y, r, n, acts[a].tol);
      acts[a].fast(n, x, x); /* in place */
      snprintf(what, sizeof what, "%s in place n=%ld", acts[a].name, n);
      lkt_check_exact(what, x, y, n);
      free(x); free(y); free(r);
    }
}

/* Random broadcast shapes: each axis of a and b is either full or broadcast (stride 0); a or b may
 * have fewer axes (leading axes missing = stride 0), as the emitter describes numpy broadcasting. */
static void test_binary(void) {
  for (int t = 0; t < 60; ++t) {
    int rank = lkt_int(1, LK_MAX_RANK), op = t % 4;
    long shape[LK_MAX_RANK], sa[LK_MAX_RANK], sb[LK_MAX_RANK], total = 1, na = 1, nb = 1;
    char what[96];
    for (int d = rank - 1; d >= 0; --d) {
      int bca = lkt_int(0, 3) == 0, bcb = lkt_int(0, 2) == 0;
      shape[d] = rank > 3 ? lkt_int(1, 6) : lkt_int(1, 40);
      sa[d] = bca ? 0 : na; sb[d] = bcb ? 0 : nb;
      if (!bca) na *= shape[d];
      if (!bcb) nb *= shape[d];
      total *= shape[d];
    }
    {
      float *a = lkt_rand(na, 2), *b = lkt_rand(nb, 2), *y = lkt_rand(total, 1), *r = lkt_rand(total, 1);
      if (op == LK_OP_DIV) for (long i = 0; i < nb; ++i) b[i] = b[i] >= 0 ? b[i] + 0.5f : b[i] - 0.5f;
      lk_binary(op, rank, shape, a, sa, b, sb, y);
      lk_binary_naive(op, rank, shape, a, sa, b, sb, r);
      snprintf(what, sizeof what, "binary op%d rank%d n=%ld", op, rank, total);
      lkt_check_exact(what, y, r, total);
      free(a); free(b); free(y); free(r);
    }
  }
  { /* in-place residual add of an unbatched parameter: x[B, N, C] += pos[N, C] */
    long shape[3] = {2, 197, 192}, sx[3] = {197 * 192, 192, 1}, sp[3] = {0, 192, 1}, n = 2L * 197 * 192;
    float *x = lkt_rand(n, 1), *p = lkt_rand(197 * 192, 1), *r = lkt_rand(n, 1);
    lk_binary_naive(LK_OP_ADD, 3, shape, x, sx, p, sp, r);
    lk_add(3, shape, x, sx, p, sp, x);
    lkt_check_exact("add in place, batch-broadcast parameter", x, r, n);
    free(x); free(p); free(r);
  }
  {
    long n = 100003;
    float *x = lkt_rand(n, 2), *y = lkt_rand(n, 1), *r = lkt_rand(n, 1);
    lk_rsub_scalar(n, x, 1.5f, y);
    for (long i = 0; i < n; ++i) r[i] = 1.5f - x[i];
    lkt_check_exact("rsub_scalar", y, r, n);
    lk_div_scalar(n, x, 3.0f, y);
    for (long i = 0; i < n; ++i) r[i] = x[i] / 3.0f;
    lkt_check_exact("div_scalar", y, r, n);
    free(x); free(y); free(r);
  }
}

/* a·b + c with each operand broadcast at random (stride 0), against the double reference; then
 * squeeze-excite's input gradient in place: dz[B, 49, 256] ← dz·gate[B, 256] + shift[B, 256]. */
static void test_mul_add(void) {
  for (int t = 0; t < 60; ++t) {
    int rank = lkt_int(1, LK_MAX_RANK);
    long shape[LK_MAX_RANK], s[3][LK_MAX_RANK], n[3] = {1, 1, 1}, total = 1;
    char what[96];
    for (int d = rank - 1; d >= 0; --d) {
      shape[d] = rank > 3 ? lkt_int(1, 6) : lkt_int(1, 40);
      for (int k = 0; k < 3; ++k) {
        int broadcast = lkt_int(0, 2) == 0;
        s[k][d] = broadcast ? 0 : n[k];
        if (!broadcast) n[k] *= shape[d];
      }
      total *= shape[d];
    }
    {
      float *a = lkt_rand(n[0], 2), *b = lkt_rand(n[1], 2), *c = lkt_rand(n[2], 2), *y = lkt_rand(total, 1), *r = lkt_rand(total, 1);
      lk_mul_add(rank, shape, a, s[0], b, s[1], c, s[2], y);
      lk_mul_add_naive(rank, shape, a, s[0], b, s[1], c, s[2], r);
      snprintf(what, sizeof what, "mul_add rank%d n=%ld", rank, total);
      lkt_check(what, y, r, total, 1e-5);
      free(a); free(b); free(c); free(y); free(r);
    }
  }
  {
    long shape[3] = {3, 49, 256}, sx[3] = {49 * 256, 256, 1}, sg[3] = {256, 0, 1}, n = 3L * 49 * 256;
    float *x = lkt_rand(n, 1), *g = lkt_rand(3 * 256, 1), *h = lkt_rand(3 * 256, 1), *r = lkt_rand(n, 1);
    lk_mul_add_naive(3, shape, x, sx, g, sg, h, sg, r);
    lk_mul_add(3, shape, x, sx, g, sg, h, sg, x);
    lkt_check("mul_add in place, per-sample channel scale and shift", x, r, n, 1e-5);
    free(x); free(g); free(h); free(r);
  }
}

static void test_softmax(void) {
  for (int t = 0; t < 16; ++t) {
    long rows = PICK();
    int cols = PICK();
    float *x = lkt_rand(rows * cols, 10), *y = lkt_rand(rows * cols, 1), *r = lkt_rand(rows * cols, 1);
    char what[96];
    if (t == 0) for (int c = 0; c < cols; ++c) x[c] = c % 2 ? -INFINITY : x[c]; /* masked entries */
    lk_softmax(rows, cols, x, y);
    lk_softmax_naive(rows, cols, x, r);
    snprintf(what, sizeof what, "softmax %ldx%d", rows, cols);
    lkt_check(what, y, r, rows * cols, 2e-6);
    free(x); free(y); free(r);
  }
}

static void sdpa_case(int B, int Nq, int Nk, int H, int Hk, int D, int fused) {
  /* fused: q, k, v inside one [B, N, (H + 2·Hk)·D] buffer, as a qkv linear writes them. */
  long C = (long)H * D, Ck = (long)Hk * D, rs = fused ? C + 2 * Ck : 0;
  float *qkv = fused ? lkt_rand((long)B * Nq * rs, 1) : NULL;
  float *q = fused ? qkv : lkt_rand((long)B * Nq * C, 1);
  float *k = fused ? qkv + C : lkt_rand((long)B * Nk * Ck, 1), *v = fused ? qkv + C + Ck : lkt_rand((long)B * Nk * Ck, 1);
  long qrs = fused ? rs : C, krs = fused ? rs : Ck;
  float *o = lkt_rand((long)B * Nq * C, 1), *r = lkt_rand((long)B * Nq * C, 1);
  float scale = 1.0f / sqrtf((float)D);
  char what[96];
  lk_sdpa(B, Nq, Nk, H, Hk, D, q, qrs, k, krs, v, krs, o, scale);
  lk_sdpa_naive(B, Nq, Nk, H, Hk, D, q, qrs, k, krs, v, krs, r, scale);
  snprintf(what, sizeof what, "sdpa B%d Nq%d Nk%d H%d Hk%d D%d fused%d", B, Nq, Nk, H, Hk, D, fused);
  lkt_check(what, o, r, (long)B * Nq * C, 2e-5);
  if (fused) free(qkv);
  else { free(q); free(k); free(v); }
  free(o); free(r);
}

static void test_attention(void) {
  sdpa_case(1, 197, 197, 3, 3, 64, 1); /* DeiT-tiny */
  sdpa_case(2, 50, 50, 4, 2, 16, 1);   /* grouped kv heads, fused buffer */
  sdpa_case(2, 17, 33, 6, 1, 7, 0);    /* cross attention, one kv head, odd D */
  sdpa_case(1, 1, 1, 1, 1, 1, 0);
  sdpa_case(3, 130, 9, 2, 2, 32, 0);
  sdpa_case(1, 197, 197, 4, 4, 48, 1); /* LocalViT-tiny */
  sdpa_case(2, 64, 64, 4, 1, 48, 0);   /* SAG: four heads on one kv head, Nk a multiple of NR */
  sdpa_case(2, 1, 197, 3, 3, 64, 0);   /* CeiT's class-token attention: one query */
  sdpa_case(1, 30, 1024, 2, 1, 20, 0); /* score rows 4 KiB apart (padded), D = 20: an edge panel */
  sdpa_case(1, 40, 40, 4, 2, 128, 1);  /* query rows 4 KiB apart (copied) */
  /* Random shapes, then SAG's stage 1 (18 variants, 4 heads on one kv head, D = 48) and an odd
   * one, both over several blocks of 32 locations, the last one partial. */
  static const int fixed[2][6] = {{2, 18, 70, 4, 1, 48}, {1, 3, 33, 2, 2, 5}};
  for (int t = 0; t < 8; ++t) {
    int B = lkt_int(1, 2), T = lkt_int(1, 9), N = PICK(), Hk = lkt_int(1, 3), H = Hk * lkt_int(1, 2), D = PICK();
    if (t >= 6) B = fixed[t - 6][0], T = fixed[t - 6][1], N = fixed[t - 6][2], H = fixed[t - 6][3], Hk = fixed[t - 6][4], D = fixed[t - 6][5];
    long nq = (long)B * N * H * D, nk = (long)B * T * N * Hk * D;
    float *q = lkt_rand(nq, 1), *k = lkt_rand(nk, 1), *v = lkt_rand(nk, 1), *o = lkt_rand(nq, 1), *r = lkt_rand(nq, 1);
    char what[96];
    lk_local_attention(B, T, N, H, Hk, D, q, k, v, o, 0.125f);
    lk_local_attention_naive(B, T, N, H, Hk, D, q, k, v, r, 0.125f);
    snprintf(what, sizeof what, "local_attention B%d T%d N%d H%d Hk%d D%d", B, T, N, H, Hk, D);
    lkt_check(what, o, r, nq, 2e-5);
    free(q); free(k); free(v); free(o); free(r);
  }
}

/* lk_maxpool2d 3×3, stride 2, padding 1 of B×C×H×W with NaN at the given input offsets, exactly
 * against the naive loop. */
static void check_maxpool_nan(int B, int C, int H, int W, const long *nans, int count) {
  const int Ho = (H + 2 - 3) / 2 + 1, Wo = (W + 2 - 3) / 2 + 1;
  const long nx = (long)B * C * H * W, ny = (long)B * C * Ho * Wo;
  float *x = lkt_rand(nx, 1), *y = lkt_rand(ny, 1), *r = lkt_rand(ny, 1);
  char what[96];
  for (int i = 0; i < count; ++i) x[nans[i]] = NAN;
  lk_maxpool2d(B, C, H, W, 3, 3, 2, 2, 1, 1, x, y);
  lk_maxpool2d_naive(B, C, H, W, 3, 3, 2, 2, 1, 1, x, r);
  snprintf(what, sizeof what, "maxpool2d %dx%dx%dx%d 3x3 s2 p1 with NaN", B, C, H, W);
  lkt_check_exact(what, y, r, ny);
  free(x); free(y); free(r);
}

static void test_pool(void) {
  for (int t = 0; t < 20; ++t) { /* the second half with rows wide enough for the vector columns */
    int k = lkt_int(1, 4), s = lkt_int(1, 3), p = lkt_int(0, k / 2), H = lkt_int(k, 15), W = lkt_int(k, t < 10 ? 15 : 70);
    int B = lkt_int(1, 2), C = lkt_int(1, 5);
    int Ho = (H + 2 * p - k) / s + 1, Wo = (W + 2 * p - k) / s + 1;
    long ny = (long)B * C * Ho * Wo;
    float *x = lkt_rand((long)B * C * H * W, 1), *y = lkt_rand(ny, 1), *r = lkt_rand(ny, 1);
    char what[96];
    lk_maxpool2d(B, C, H, W, k, k, s, s, p, p, x, y);
    lk_maxpool2d_naive(B, C, H, W, k, k, s, s, p, p, x, r);
    snprintf(what, sizeof what, "maxpool2d %dx%dx%dx%d k%d s%d p%d", B, C, H, W, k, s, p);
    lkt_check_exact(what, y, r, ny);
    free(x); free(y); free(r);
  }
  /* CeiT's stem pool (3×3, stride 2, padding 1) with NaNs, which propagate: on a 2×3×20×18 image,
   * and at its real size, batch 1 (both threads), with NaNs in vector lanes and at edges. */
  check_maxpool_nan(2, 3, 20, 18, (const long[]){5, 400, 2L * 3 * 20 * 18 - 1}, 3);
  check_maxpool_nan(1, 64, 112, 112, (const long[]){0, 112 * 5 + 17, 112 * 112 + 111, 64L * 112 * 112 / 2 + 40, 64L * 112 * 112 - 1}, 5);
  for (int t = 0; t < 10; ++t) {
    long outer = PICK(), L = PICK(), inner = t < 3 ? 1 : PICK();
    float *x = lkt_rand(outer * L * inner, 1), *y = lkt_rand(outer * inner, 1), *r = lkt_rand(outer * inner, 1);
    char what[96];
    lk_mean_axis(outer, L, inner, x, y);
    lk_mean_axis_naive(outer, L, inner, x, r);
    snprintf(what, sizeof what, "mean_axis %ldx%ldx%ld", outer, L, inner);
    lkt_check(what, y, r, outer * inner, 1e-4); /* relative to the mean, which is small */
    free(x); free(y); free(r);
  }
  {
    float *x = lkt_rand(2L * 5 * 49, 1), *y = lkt_rand(10, 1), *r = lkt_rand(10, 1);
    lk_global_avgpool(2, 5, 49, x, y);
    lk_mean_axis_naive(10, 49, 1, x, r);
    lkt_check("global_avgpool 2x5x7x7", y, r, 10, 1e-5);
    free(x); free(y); free(r);
  }
}

/* Checks lk_transpose's patch layout [B, C, S/P, P, S/P, P] → [B, S/P, S/P, C, P, P] of B images
 * C×S×S against the naive strided copy, exactly. */
static void check_patch_copy(long B, long C, long S, long P) {
  const long n = S / P, total = B * C * S * S;
  const long shape[6] = {B, C, n, P, n, P}, oshape[6] = {B, n, n, C, P, P};
  const long sx[6] = {C * S * S, P * S, P, S * S, S, 1}, ys[6] = {n * n * C * P * P, n * C * P * P, C * P * P, P * P, P, 1};
  const int perm[6] = {0, 2, 4, 1, 3, 5};
  float *x = lkt_rand(total, 1), *y = lkt_rand(total, 1), *r = lkt_rand(total, 1);
  char what[96];
  lk_transpose(6, shape, perm, x, y);
  lk_copy_strided_naive(6, oshape, x, sx, r, ys);
  snprintf(what, sizeof what, "transpose: %ldx%ld patches of %ldx%ldx%ldx%ld", P, P, B, C, S, S);
  lkt_check_exact(what, y, r, total);
  free(x); free(y); free(r);
}

static void test_layout(void) {
  for (int t = 0; t < 30; ++t) {
    int rank = lkt_int(1, LK_MAX_RANK), perm[LK_MAX_RANK];
    long shape[LK_MAX_RANK], total = 1, oshape[LK_MAX_RANK], xs[LK_MAX_RANK], sx[LK_MAX_RANK], ys[LK_MAX_RANK], s = 1;
    char what[96];
    for (int d = 0; d < rank; ++d) { shape[d] = rank > 3 ? lkt_int(1, 7) : lkt_int(1, 50); total *= shape[d]; perm[d] = d; }
    for (int d = rank - 1; d > 0; --d) { int j = lkt_int(0, d), tmp = perm[d]; perm[d] = perm[j]; perm[j] = tmp; }
    {
      float *x = lkt_rand(total, 1), *y = lkt_rand(total, 1), *r = lkt_rand(total, 1);
      lk_transpose(rank, shape, perm, x, y);
      for (int d = rank - 1; d >= 0; --d) { xs[d] = s; s *= shape[d]; }
      s = 1;
      for (int d = rank - 1; d >= 0; --d) { oshape[d] = shape[perm[d]]; sx[d] = xs[perm[d]]; ys[d] = s; s *= oshape[d]; }
      lk_copy_strided_naive(rank, oshape, x, sx, r, ys);
      snprintf(what, sizeof what, "transpose rank%d n=%ld", rank, total);
      lkt_check_exact(what, y, r, total);
      free(x); free(y); free(r);
    }
  }
  /* The patch embedding's copy (patch-embedding pass): [B, C, Ho, P, Wo, P] → [B, Ho, Wo, C, P, P],
   * rows of P floats. ViT's 16×16 patches of a 3×224×224 image, batch 2; CeiT's I2T 4×4 patches of
   * the pooled 64×56×56, rows of 4 floats in runs of 4, at batch 3 so the threads' row ranges start
   * in the middle of a run. */
  check_patch_copy(2, 3, 224, 16);
  check_patch_copy(3, 64, 56, 4);
  {
    int B = 2, N = 197 - 1, C = 40;
    long n = (long)B * N * C;
    float *x = lkt_rand(n, 1), *y = lkt_rand(n, 1), *z = lkt_rand(n, 1);
    lk_seq2img(B, N, C, x, y);
    lk_img2seq(B, C, N, y, z);
    lkt_check_exact("seq2img then img2seq is the identity", z, x, n);
    for (int b = 0; b < B; ++b) /* y[b, c, n] = x[b, n, c] */
      for (int i = 0; i < N; ++i)
        for (int c = 0; c < C; ++c) z[((long)b * N + i) * C + c] = y[((long)b * C + c) * N + i];
    lkt_check_exact("seq2img", z, x, n);
    free(x); free(y); free(z);
  }
  for (int t = 0; t < 12; ++t) {
    long P = lkt_int(1, 6);
    int H = lkt_int(1, 14), W = lkt_int(1, 14), dy = lkt_int(-20, 20), dx = lkt_int(-20, 20);
    int top = lkt_int(0, H), bottom = lkt_int(0, H), left = lkt_int(0, W), right = t % 2 ? 0 : lkt_int(0, W);
    long n = P * H * W, np = P * (H + top + bottom) * (W + left + right);
    float *x = lkt_rand(n, 1), *y = lkt_rand(n, 1), *r = lkt_rand(n, 1), *yp = lkt_rand(np, 1), *rp = lkt_rand(np, 1);
    char what[96];
    lk_roll(P, H, W, dy, dx, x, y);
    lk_roll_naive(P, H, W, dy, dx, x, r);
    snprintf(what, sizeof what, "roll %ldx%dx%d by (%d,%d)", P, H, W, dy, dx);
    lkt_check_exact(what, y, r, n);
    lk_circular_pad(P, H, W, top, bottom, left, right, x, yp);
    lk_circular_pad_naive(P, H, W, top, bottom, left, right, x, rp);
    snprintf(what, sizeof what, "circular_pad %ldx%dx%d t%d b%d l%d r%d", P, H, W, top, bottom, left, right);
    lkt_check_exact(what, yp, rp, np);
    free(x); free(y); free(r); free(yp); free(rp);
  }
  for (int t = 0; t < 16; ++t) {
    /* im2col against its scatter reference (exact), and its rows times the weight as [Co, C·kh·kw]
     * against the direct convolution transposed to tokens. */
    int B = lkt_int(1, 3), C = lkt_int(1, 4), H = lkt_int(1, 12), W = lkt_int(1, 12), kh = lkt_int(1, 4), kw = lkt_int(1, 4);
    int sh = lkt_int(1, 3), sw = lkt_int(1, 3), ph = lkt_int(0, kh / 2), pw = lkt_int(0, kw / 2), Co = lkt_int(1, 9);
    if (t == 0) { B = 2; C = 3; H = W = 32; kh = kw = 3; sh = sw = 1; ph = pw = 1; Co = 24; } /* SAG's embedding */
    if (H + 2 * ph < kh || W + 2 * pw < kw) continue;
    int Ho = (H + 2 * ph - kh) / sh + 1, Wo = (W + 2 * pw - kw) / sw + 1;
    long K = (long)C * kh * kw, rows = (long)B * Ho * Wo, n = rows * K;
    float *x = lkt_rand((long)B * C * H * W, 1), *y = lkt_rand(n, 1), *r = lkt_rand(n, 1);
    float *w = lkt_rand(Co * K, 1), *conv = lkt_rand((long)B * Co * Ho * Wo, 1), *tok = lkt_rand(rows * Co, 1), *ref = lkt_rand(rows * Co, 1);
    char what[128];
    lk_im2col(B, C, H, W, kh, kw, sh, sw, ph, pw, x, y);
    lk_im2col_naive(B, C, H, W, kh, kw, sh, sw, ph, pw, x, r);
    snprintf(what, sizeof what, "im2col b%d %dx%dx%d k%dx%d s%dx%d p%dx%d", B, C, H, W, kh, kw, sh, sw, ph, pw);
    lkt_check_exact(what, y, r, n);
    lk_conv2d_naive(B, C, H, W, Co, kh, kw, sh, sw, ph, pw, 1, x, w, NULL, conv);
    lk_img2seq(B, Co, (long)Ho * Wo, conv, ref);
    for (long i = 0; i < rows; ++i)
      for (int o = 0; o < Co; ++o) {
        double acc = 0.0;
        for (long k = 0; k < K; ++k) acc += (double)y[i * K + k] * w[o * K + k];
        tok[i * Co + o] = (float)acc;
      }
    snprintf(what, sizeof what, "im2col rows x weight = conv2d tokens b%d %dx%dx%d k%dx%d", B, C, H, W, kh, kw);
    lkt_check(what, tok, ref, rows * Co, 1e-5 * sqrt(K + 1.0));
    free(x); free(y); free(r); free(w); free(conv); free(tok); free(ref);
  }
  { /* torch.roll([[0,1,2],[3,4,5]], (1, 1)) = [[5,3,4],[2,0,1]] */
    const float x[6] = {0, 1, 2, 3, 4, 5}, want[6] = {5, 3, 4, 2, 0, 1};
    float y[6];
    lk_roll(1, 2, 3, 1, 1, x, y);
    lkt_check_exact("roll matches torch.roll example", y, want, 6);
  }
  { /* F.pad([[0,1,2]], (1, 2), 'circular') = [[2,0,1,2,0,1]] */
    const float x[3] = {0, 1, 2}, want[6] = {2, 0, 1, 2, 0, 1};
    float y[6];
    lk_circular_pad(1, 1, 3, 0, 0, 1, 2, x, y);
    lkt_check_exact("circular_pad matches F.pad example", y, want, 6);
  }
  { /* concat of [2, 3, 4] and [2, 5, 4] along axis 1 as two row copies */
    float *a = lkt_rand(24, 1), *b = lkt_rand(40, 1), y[64], r[64];
    lk_copy_rows(2, 12, a, 12, y, 32);
    lk_copy_rows(2, 20, b, 20, y + 12, 32);
    for (int o = 0; o < 2; ++o) { memcpy(r + o * 32, a + o * 12, 12 * sizeof(float)); memcpy(r + o * 32 + 12, b + o * 20, 20 * sizeof(float)); }
    lkt_check_exact("concat via copy_rows", y, r, 64);
    free(a); free(b);
  }
}

/* lk_share_next hands out every job exactly once, each thread's own share first: with the other
 * threads kept busy by a slow first job (so the fast thread must finish their shares), and in the
 * plain case where every thread takes only its own share. */
static void test_shares(void) {
  const long sizes[] = {0, 1, 2, 7, 64, 1001};
  for (int s = 0; s < (int)(sizeof sizes / sizeof sizes[0]); ++s) {
    for (int slow = 0; slow < 2; ++slow) {
      long n = sizes[s], wrong = 0, foreign = 0;
      int team = 1;
      int *count = (int *)calloc((size_t)(n > 0 ? n : 1), sizeof(int));
      lk_shares sh = {0};
      char what[96];
      LK_OMP(parallel reduction(+:foreign))
      {
        int from = -1, first = 1;
        long lo, hi;
        lk_split(n, lk_team_size(), lk_thread_id(), &lo, &hi);
        if (lk_thread_id() == 0) team = lk_team_size();
        for (long j; (j = lk_share_next(&sh, n, &from)) >= 0;) {
          if (first && lk_thread_id() != 0 && slow) {
            volatile double x = 0.0;
            for (long i = 0; i < 20000000L; ++i) x += 1e-9; /* thread ≠ 0 stalls on its first job */
          }
          first = 0;
          if (j < lo || j >= hi) ++foreign;
          LK_OMP(atomic)
          count[j]++;
        }
      }
      for (long j = 0; j < n; ++j) wrong += count[j] != 1;
      snprintf(what, sizeof what, "lk_share_next n=%ld%s: every job once", n, slow ? " (one slow thread)" : "");
      lkt_check_true(what, wrong == 0);
      if (slow && team > 1 && n >= 64) { /* thread 0 finished the stalled threads' shares */
        snprintf(what, sizeof what, "lk_share_next n=%ld: jobs taken from a stalled thread's share", n);
        lkt_check_true(what, foreign > 0);
      }
      free(count);
    }
  }
}

/* Kernels that reduce must give bit-identical results on 1 and on all threads. */
static void test_thread_invariance(void) {
  long rows = 1000;
  int C = 192;
  float *x = lkt_rand(rows * 3 * C, 3), *y1 = lkt_rand(rows * C, 1), *y2 = lkt_rand(rows * C, 1);
  lk_layernorm(rows, C, x, NULL, NULL, 1e-6f, y2);
  LKT_SET_THREADS(1);
  lk_layernorm(rows, C, x, NULL, NULL, 1e-6f, y1);
  LKT_SET_THREADS(2);
  lkt_check_exact("layernorm thread-count invariance", y1, y2, rows * C);
  lk_sdpa(1, 197, 197, 3, 3, 64, x, 3L * C, x + C, 3L * C, x + 2 * C, 3L * C, y2, 0.125f);
  LKT_SET_THREADS(1);
  lk_sdpa(1, 197, 197, 3, 3, 64, x, 3L * C, x + C, 3L * C, x + 2 * C, 3L * C, y1, 0.125f);
  LKT_SET_THREADS(2);
  lkt_check_exact("sdpa thread-count invariance", y1, y2, 197L * C);
  /* grouped kv heads (four query heads on one), two images: runs that start inside a head */
  lk_sdpa(2, 197, 197, 4, 1, 48, x, 3L * C, x + C, 3L * C, x + 2 * C, 3L * C, y2, 0.144f);
  LKT_SET_THREADS(1);
  lk_sdpa(2, 197, 197, 4, 1, 48, x, 3L * C, x + C, 3L * C, x + 2 * C, 3L * C, y1, 0.144f);
  LKT_SET_THREADS(2);
  lkt_check_exact("sdpa thread-count invariance, grouped kv", y1, y2, 2L * 197 * C);
  /* five images, 15 (sample, head) groups: threads take whole groups in turn */
  lk_sdpa(5, 197, 197, 3, 3, 64, x, 3L * C, x + C, 3L * C, x + 2 * C, 3L * C, y2, 0.125f);
  LKT_SET_THREADS(1);
  lk_sdpa(5, 197, 197, 3, 3, 64, x, 3L * C, x + C, 3L * C, x + 2 * C, 3L * C, y1, 0.125f);
  LKT_SET_THREADS(2);
  lkt_check_exact("sdpa thread-count invariance, groups taken in turn", y1, y2, 5L * 197 * C);
  lk_gelu(rows * C - 5, x, y2);
  LKT_SET_THREADS(1);
  lk_gelu(rows * C - 5, x, y1);
  LKT_SET_THREADS(2);
  lkt_check_exact("gelu thread-count invariance", y1, y2, rows * C - 5);
  free(x); free(y1); free(y2);
}

int main(void) {
  test_linear();
  test_conv();
  test_norm();
  test_activations();
  test_binary();
  test_mul_add();
  test_softmax();
  test_attention();
  test_pool();
  test_layout();
  test_thread_invariance();
  test_shares();
  return lkt_finish("test_kernels");
}
