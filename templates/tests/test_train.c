#define _POSIX_C_SOURCE 200112L /* clock_gettime in -std=c99 */
/* The training kernels (grad.c, loss.c, optim.c), three ways:
 * 1. fast against the naive reference on odd shapes (sizes 1, 2, 3, 7, ..., 197, ragged vector
 *    tails, odd conv geometries), and bit-exact in place where a kernel allows it;
 * 2. every gradient kernel against central finite differences of its forward function, computed
 *    here in double precision: f(v) = Σ dy ⊙ forward(v), ∂f/∂v_i ≈ (f(v + h·e_i) − f(v − h·e_i))/2h
 *    (the forwards are written out below in double, independent of the kernels), plus the
 *    adjoint identity <pad(x), dy> = <x, pad_grad(dy)> against layout.c's own lk_circular_pad;
 * 3. thread-count invariance (bit-exact, 1 thread against all) of every kernel that reduces.
 * The channels-last kernels (BatchNorm over tokens, token_dwconv's gradients) are also checked
 * against the channels-first references on transposed copies.
 * The optimisers are also checked against a scalar float mirror of PyTorch's operation order
 * (bit-exact) and a hand-computed first AdamW step.
 *
 * Error measure: lk_test.h's |got − ref| / (|ref| + 1%·max|ref|), worst element reported
 * (LKT_VERBOSE=1 prints every check). Tolerances (each stated at its check):
 *   fast vs naive: exact where the kernel only selects or copies (relu', zero_pad, routing);
 *     2e-6 elementwise and for short float sums (maxpool, circular pad); 1e-5 for gelu' (the
 *     forward's rational erf, abs error 3.6e-7) and the row/channel reductions (softmax, norms,
 *     batch statistics, cross-entropy); 1e-5·√K for sums of K products in float (the GEMM-shaped
 *     gradients, reduce_sum); 1e-5 for optimiser state after 5-6 steps (a few ulp of max|p|);
 *   finite differences: 1e-5 (·√K for sums of K products) for linear and piecewise-linear maps,
 *     exact up to rounding; 3e-5 for smooth nonlinear ones (O(h²) truncation + the kernel's
 *     float rounding), h chosen per check (1e-3 .. 1e-5; norms: 1e-3 of the group's std). */
#include "../prologue.h"
#include "../gemm.c"
#include "../conv.c"
#include "../norm.c"
#include "../softmax.c"
#include "../pool.c"
#include "../layout.c"
#include "../token_dwconv.c"
/* Columns of the general conv gradients in chunks of a few images even at these small shapes
 * (the default is 8 MiB): the chunked loops run, with remainders, beside single-chunk cases. */
#define LK__GRAD_COL_FLOATS 4096L
#include "../grad.c"
#include "../loss.c"
#include "../optim.c"
#include "../attention.c"
#include "../attention_grad.c"
#include "lk_test.h"

#ifdef _OPENMP
extern void omp_set_num_threads(int);
#define LKT_SET_THREADS(n) omp_set_num_threads(n)
#else
#define LKT_SET_THREADS(n) ((void)(n))
#endif

static const int sizes[] = {1, 2, 3, 7, 8, 9, 15, 16, 17, 33, 49, 64, 100, 197};
#define PICK() sizes[lkt_int(0, (int)(sizeof sizes / sizeof sizes[0]) - 1)]

/* FD tolerances (see the header comment). */
#define FD_TOL_LINEAR 1e-5
#define FD_TOL_SMOOTH 3e-5

/* ---- Finite differences ------------------------------------------------------------------------- */

typedef double (*fd_fn)(const double *v, const void *ctx);

/* out[i] = (f(v + h_i e_i) − f(v − h_i e_i)) / 2h_i for i < n, h_i = hv[i] or h when hv is NULL;
 * v is restored. */
static void fd_grad_h(fd_fn f, const void *ctx, double *v, long n, double h, const double *hv, float *out) {
  for (long i = 0; i < n; ++i) {
    double save = v[i], fp, fm;
    if (hv) h = hv[i];
    v[i] = save + h;
    fp = f(v, ctx);
    v[i] = save - h;
    fm = f(v, ctx);
    v[i] = save;
    out[i] = (float)((fp - fm) / (2.0 * h));
  }
}
static void fd_grad(fd_fn f, const void *ctx, double *v, long n, double h, float *out) { fd_grad_h(f, ctx, v, n, h, NULL, out); }

/* Per-element steps for a normalisation: h = 1e-3·sqrt(var + eps) of the element's group (nb
 * blocks of len at x + k·bs, group g at x + g·gs, ng groups): the function curves on the scale
 * of the group's spread (for two close values, sqrt(eps)), and a fixed h is either too coarse
 * there or lost in rounding where the gradient is tiny. */
static double *norm_steps(const float *x, long ng, long gs, long nb, long bs, long len, double eps, long n) {
  double *h = (double *)malloc((size_t)n * sizeof(double));
  for (long g = 0; g < ng; ++g) {
    double m = 0.0, v = 0.0, cnt = (double)nb * (double)len;
    for (long k = 0; k < nb; ++k)
      for (long i = 0; i < len; ++i) m += x[g * gs + k * bs + i];
    m /= cnt;
    for (long k = 0; k < nb; ++k)
      for (long i = 0; i < len; ++i) v += (x[g * gs + k * bs + i] - m) * (x[g * gs + k * bs + i] - m);
    v /= cnt;
    for (long k = 0; k < nb; ++k)
      for (long i = 0; i < len; ++i) h[g * gs + k * bs + i] = 1e-3 * sqrt(v + eps);
  }
  return h;
}

/* A check that is not an array comparison: counted, printed when it fails (or with LKT_VERBOSE). */
static void check_true(const char *what, int ok, const char *detail) {
  if (ok) {
    ++lkt_passed;
    if (getenv("LKT_VERBOSE")) printf("ok   %-48s %s\n", what, detail);
  } else {
    ++lkt_failed;
    printf("FAIL %-48s %s\n", what, detail);
  }
}

static double *to_double(const float *x, long n) {
  double *d = (double *)malloc((size_t)(n > 0 ? n : 1) * sizeof(double));
  for (long i = 0; i < n; ++i) d[i] = x[i];
  return d;
}

/* Thread-count invariance: run `call` on 1 thread into `one`, on 2 into `all`, compare. */
#define SAME_ON_1_AND_2(what, one, all, n, call_one, call_all) \
  do {                                                        \
    LKT_SET_THREADS(1);                                       \
    call_one;                                                 \
    LKT_SET_THREADS(2);                                       \
    call_all;                                                 \
    lkt_check_exact(what, one, all, n);                       \
  } while (0)

/* ---- Activations ------------------------------------------------------------------------------ */

/* FD of f(x) = Σ dy ⊙ act(x): a sum of independent terms, so perturbing x_i changes only term i,
 * and the difference is taken on that term alone (the same numbers as fd_grad, n times cheaper). */
static void unary_fd(int act, const float *x, const float *dy, long n, double h, float *out) {
  for (long i = 0; i < n; ++i)
    out[i] = (float)(dy[i] * (lk_apply_act_ref(act, x[i] + h) - lk_apply_act_ref(act, x[i] - h)) / (2.0 * h));
}

static void test_unary_grad(void) {
  static const struct { int act; const char *name; double tol; } acts[] = {
      {LK_ACT_NONE, "identity", 0}, {LK_ACT_GELU, "gelu", 1e-5}, {LK_ACT_RELU, "relu", 0},
      {LK_ACT_RELU6, "relu6", 0}, {LK_ACT_HSWISH, "hswish", 2e-6}, {LK_ACT_HSIGMOID, "hsigmoid", 2e-6},
      {LK_ACT_SIGMOID, "sigmoid", 2e-6},
  };
  static const double kinks[] = {0.0, 6.0, -3.0, 3.0};
  static const long lens[] = {1, 7, 8, 33, 1000, 100003};
  for (size_t a = 0; a < sizeof acts / sizeof acts[0]; ++a) {
    int act = acts[a].act;
    for (size_t l = 0; l < sizeof lens / sizeof lens[0]; ++l) {
      long n = lens[l];
      float *x = lkt_rand(n, 8), *dy = lkt_rand(n, 2), *dx = lkt_rand(n, 1), *r = lkt_rand(n, 1);
      char what[96];
      if (n > 6) { x[0] = 0.0f; x[1] = -3.0f; x[2] = 3.0f; x[3] = 6.0f; x[4] = -100.0f; x[5] = 100.0f; x[6] = -2.0f; }
      lk_unary_grad(act, n, x, dy, dx);
      lk_unary_grad_naive(act, n, x, dy, r);
      snprintf(what, sizeof what, "unary_grad %s n=%ld vs naive", acts[a].name, n);
      if (acts[a].tol == 0) lkt_check_exact(what, dx, r, n); /* identity, relu, relu6: dy or 0 */
      else lkt_check(what, dx, r, n, acts[a].tol);
      /* in place over dy */
      {
        float *g = lkt_copy(dy, n);
        lk_unary_grad(act, n, x, g, g);
        snprintf(what, sizeof what, "unary_grad %s in place n=%ld", acts[a].name, n);
        lkt_check_exact(what, g, dx, n);
        free(g);
      }
      /* finite differences, away from the kinks of the piecewise functions (h = 1e-5) */
      if (n <= 1000) {
        for (long i = 0; i < n; ++i)
          for (size_t k = 0; k < sizeof kinks / sizeof kinks[0]; ++k)
            if (fabs(x[i] - kinks[k]) < 1e-3) x[i] = (float)(kinks[k] + 0.01);
        lk_unary_grad(act, n, x, dy, dx);
        unary_fd(act, x, dy, n, 1e-5, r);
        snprintf(what, sizeof what, "unary_grad %s n=%ld vs finite diff", acts[a].name, n);
        lkt_check(what, dx, r, n, act == LK_ACT_GELU || act == LK_ACT_SIGMOID ? FD_TOL_SMOOTH : FD_TOL_LINEAR);
      }
      free(x); free(dy); free(dx); free(r);
    }
  }
  { /* PyTorch's conventions at the kinks (dy = 1) */
    const float x[8] = {0, 6, -3, 3, 0, 6, -3, 3}, dy[8] = {1, 1, 1, 1, 1, 1, 1, 1};
    const float relu[8] = {0, 1, 0, 1, 0, 1, 0, 1}, relu6[8] = {0, 0, 0, 1, 0, 0, 0, 1};
    const float hswish[8] = {0.5f, 1, -0.5f, 1.5f, 0.5f, 1, -0.5f, 1.5f}, hsig[8] = {1.0f / 6, 0, 0, 0, 1.0f / 6, 0, 0, 0};
    float g[8];
    lk_unary_grad(LK_ACT_RELU, 8, x, dy, g);
    lkt_check_exact("relu' at 0 is 0 (PyTorch)", g, relu, 8);
    lk_unary_grad(LK_ACT_RELU6, 8, x, dy, g);
    lkt_check_exact("relu6' at 0 and 6 is 0 (PyTorch)", g, relu6, 8);
    lk_unary_grad(LK_ACT_HSWISH, 8, x, dy, g);
    lkt_check_exact("hswish' at -3 is -0.5, at 3 is 1.5 (PyTorch)", g, hswish, 8);
    lk_unary_grad(LK_ACT_HSIGMOID, 8, x, dy, g);
    lkt_check_exact("hsigmoid' at +-3 is 0 (PyTorch)", g, hsig, 8);
  }
}

/* ---- Softmax -------------------------------------------------------------------------------------- */

typedef struct { long rows, L; const float *dy; } softmax_ctx;
static double softmax_f(const double *x, const void *c) {
  const softmax_ctx *s = (const softmax_ctx *)c;
  double f = 0.0;
  for (long r = 0; r < s->rows; ++r) {
    const double *xr = x + r * s->L;
    double m = -INFINITY, z = 0.0, d = 0.0;
    for (long j = 0; j < s->L; ++j) m = fmax(m, xr[j]);
    for (long j = 0; j < s->L; ++j) z += exp(xr[j] - m);
    for (long j = 0; j < s->L; ++j) d += s->dy[r * s->L + j] * exp(xr[j] - m);
    f += d / z;
  }
  return f;
}

static void test_softmax_grad(void) {
  for (int t = 0; t < 16; ++t) {
    long rows = t < 12 ? PICK() : lkt_int(1, 4), L = t < 12 ? PICK() : PICK() * 7;
    long n = rows * L;
    float *x = lkt_rand(n, 4), *y = lkt_rand(n, 1), *dy = lkt_rand(n, 1), *dx = lkt_rand(n, 1), *r = lkt_rand(n, 1);
    char what[96];
    lk_softmax_naive(rows, (int)L, x, y);
    lk_softmax_grad(rows, L, y, dy, dx);
    lk_softmax_grad_naive(rows, L, y, dy, r);
    snprintf(what, sizeof what, "softmax_grad %ldx%ld vs naive", rows, L);
    lkt_check(what, dx, r, n, 1e-5);
    {
      float *g = lkt_copy(dy, n);
      lk_softmax_grad(rows, L, y, g, g);
      snprintf(what, sizeof what, "softmax_grad %ldx%ld in place", rows, L);
      lkt_check_exact(what, g, dx, n);
      free(g);
    }
    if (n <= 2000) { /* FD of Σ dy ⊙ softmax(x), h = 1e-4 */
      softmax_ctx c = {rows, L, dy};
      double *xd = to_double(x, n);
      fd_grad(softmax_f, &c, xd, n, 1e-4, r);
      snprintf(what, sizeof what, "softmax_grad %ldx%ld vs finite diff", rows, L);
      lkt_check(what, dx, r, n, FD_TOL_SMOOTH);
      free(xd);
    }
    free(x); free(y); free(dy); free(dx); free(r);
  }
}

/* ---- LayerNorm without affine --------------------------------------------------------------------- */

typedef struct { long rows, C; double eps; const float *g; } norm_ctx;
static double normalize_f(const double *x, const void *c) {
  const norm_ctx *s = (const norm_ctx *)c;
  double f = 0.0;
  for (long r = 0; r < s->rows; ++r) {
    const double *xr = x + r * s->C;
    double m = 0.0, v = 0.0;
    for (long i = 0; i < s->C; ++i) m += xr[i];
    m /= (double)s->C;
    for (long i = 0; i < s->C; ++i) v += (xr[i] - m) * (xr[i] - m);
    v /= (double)s->C;
    for (long i = 0; i < s->C; ++i) f += s->g[r * s->C + i] * (xr[i] - m) / sqrt(v + s->eps);
  }
  return f;
}

static void test_normalize(void) {
  for (int t = 0; t < 16; ++t) {
    long rows = PICK(), C = t < 4 ? lkt_int(1, 3) : PICK(), n = rows * C;
    int shift = t % 3 == 2;
    float eps = t % 2 ? 1e-5f : 1e-6f;
    float *x = lkt_rand(n, 3), *g = lkt_rand(n, 1), *y = lkt_rand(n, 1), *r = lkt_rand(n, 1);
    char what[128];
    if (shift) for (long i = 0; i < n; ++i) x[i] += 100.0f; /* |mean| ≫ std */
    lk_normalize(rows, C, x, eps, y);
    lk_normalize_naive(rows, C, x, eps, r);
    snprintf(what, sizeof what, "normalize %ldx%ld shift%d vs naive", rows, C, shift);
    lkt_check(what, y, r, n, 5e-6);
    lk_layernorm(rows, (int)C, x, NULL, NULL, eps, r);
    snprintf(what, sizeof what, "normalize %ldx%ld == layernorm without affine", rows, C);
    lkt_check_exact(what, y, r, n);
    lk_normalize_grad(rows, C, x, g, eps, y);
    lk_normalize_grad_naive(rows, C, x, g, eps, r);
    snprintf(what, sizeof what, "normalize_grad %ldx%ld shift%d vs naive", rows, C, shift);
    lkt_check(what, y, r, n, 1e-5);
    {
      float *gg = lkt_copy(g, n);
      lk_normalize_grad(rows, C, x, gg, eps, gg);
      snprintf(what, sizeof what, "normalize_grad %ldx%ld in place", rows, C);
      lkt_check_exact(what, gg, y, n);
      free(gg);
    }
    {
      /* The affine form with the residual folded in: the unfused sequence (mul by w, normalize_grad,
       * add res) bit for bit, against the naive reference within tolerance, in place over dy and
       * over res, and the same on 1 and 2 threads. */
      float *w = lkt_rand(C, 1), *res = lkt_rand(n, 1), *dxh = lkt_rand(n, 1), *want = lkt_rand(n, 1), *got = lkt_rand(n, 1);
      for (long i = 0; i < n; ++i) dxh[i] = g[i] * w[i % C];
      lk_normalize_grad(rows, C, x, dxh, eps, want);
      lk_layernorm_grad(rows, C, x, g, w, NULL, eps, got);
      snprintf(what, sizeof what, "layernorm_grad %ldx%ld == mul + normalize_grad", rows, C);
      lkt_check_exact(what, got, want, n);
      for (long i = 0; i < n; ++i) want[i] += res[i];
      lk_layernorm_grad(rows, C, x, g, w, res, eps, got);
      snprintf(what, sizeof what, "layernorm_grad %ldx%ld + res == mul + normalize_grad + add", rows, C);
      lkt_check_exact(what, got, want, n);
      lk_layernorm_grad_naive(rows, C, x, g, w, res, eps, dxh);
      snprintf(what, sizeof what, "layernorm_grad %ldx%ld shift%d + res vs naive", rows, C, shift);
      lkt_check(what, got, dxh, n, 1e-5);
      {
        float *rr = lkt_copy(res, n), *gg = lkt_copy(g, n);
        lk_layernorm_grad(rows, C, x, g, w, rr, eps, rr);
        snprintf(what, sizeof what, "layernorm_grad %ldx%ld in place over res", rows, C);
        lkt_check_exact(what, rr, got, n);
        lk_layernorm_grad(rows, C, x, gg, w, res, eps, gg);
        snprintf(what, sizeof what, "layernorm_grad %ldx%ld in place over dy", rows, C);
        lkt_check_exact(what, gg, got, n);
        SAME_ON_1_AND_2("layernorm_grad thread-count invariance", rr, gg, n,
                        lk_layernorm_grad(rows, C, x, g, w, res, eps, rr), lk_layernorm_grad(rows, C, x, g, w, res, eps, gg));
        free(rr); free(gg);
      }
      free(w); free(res); free(dxh); free(want); free(got);
    }
    if (n <= 3000) { /* FD of Σ dx̂ ⊙ normalize(x), h = 1e-3·row std (norm_steps) */
      norm_ctx c = {rows, C, eps, g};
      double *xd = to_double(x, n), *h = norm_steps(x, rows, C, 1, 0, C, eps, n);
      fd_grad_h(normalize_f, &c, xd, n, 0, h, r);
      free(h);
      snprintf(what, sizeof what, "normalize_grad %ldx%ld shift%d vs finite diff", rows, C, shift);
      lkt_check(what, y, r, n, FD_TOL_SMOOTH);
      free(xd);
    }
    free(x); free(g); free(y); free(r);
  }
}

/* ---- BatchNorm (training mode) ----------------------------------------------------------------- */

typedef struct { int B; long C, S; double eps; const float *g; } bn_ctx;
static double bn_f(const double *x, const void *c) {
  const bn_ctx *s = (const bn_ctx *)c;
  double f = 0.0, n = (double)s->B * (double)s->S;
  for (long ch = 0; ch < s->C; ++ch) {
    double m = 0.0, v = 0.0;
    for (int b = 0; b < s->B; ++b)
      for (long i = 0; i < s->S; ++i) m += x[((long)b * s->C + ch) * s->S + i];
    m /= n;
    for (int b = 0; b < s->B; ++b)
      for (long i = 0; i < s->S; ++i) {
        double d = x[((long)b * s->C + ch) * s->S + i] - m;
        v += d * d;
      }
    v /= n;
    for (int b = 0; b < s->B; ++b)
      for (long i = 0; i < s->S; ++i) {
        long at = ((long)b * s->C + ch) * s->S + i;
        f += s->g[at] * (x[at] - m) / sqrt(v + s->eps);
      }
  }
  return f;
}

static void test_batchnorm(void) {
  static const long Ss[] = {1, 2, 7, 9, 49, 196};
  for (int t = 0; t < 18; ++t) {
    long S = Ss[t % 6], C = t < 12 ? lkt_int(1, 9) : PICK();
    int B = lkt_int(S == 1 ? 2 : 1, 4), shift = t % 4 == 3; /* at least 2 values per channel */
    long n = (long)B * C * S;
    float eps = 1e-5f;
    float *x = lkt_rand(n, 2), *g = lkt_rand(n, 1), *y = lkt_rand(n, 1), *r = lkt_rand(n, 1);
    float *mo = lkt_rand(2 * C, 1), *mr = lkt_rand(2 * C, 1);
    float *wt = t % 3 ? lkt_rand(C, 1) : NULL, *bs = t % 3 ? lkt_rand(C, 1) : NULL; /* affine, or none */
    char what[128];
    if (shift) for (long i = 0; i < n; ++i) x[i] += 50.0f;
    lk_batch_normalize(B, C, S, x, wt, bs, eps, y);
    lk_batch_normalize_naive(B, C, S, x, wt, bs, eps, r);
    snprintf(what, sizeof what, "batch_normalize %dx%ldx%ld shift%d vs naive", B, C, S, shift);
    lkt_check(what, y, r, n, 1e-5);
    lk_batch_moments(B, C, S, x, mo);
    lk_batch_moments_naive(B, C, S, x, mr);
    snprintf(what, sizeof what, "batch_moments mean %dx%ldx%ld shift%d vs naive", B, C, S, shift);
    lkt_check(what, mo, mr, C, 2e-6);
    snprintf(what, sizeof what, "batch_moments unbiased var %dx%ldx%ld vs naive", B, C, S);
    lkt_check(what, mo + C, mr + C, C, 1e-5);
    lk_batch_normalize_param_grad(B, C, S, x, g, eps, mo);
    lk_batch_normalize_param_grad_naive(B, C, S, x, g, eps, mr);
    snprintf(what, sizeof what, "batch_normalize_param_grad %dx%ldx%ld shift%d vs naive", B, C, S, shift);
    lkt_check(what, mo, mr, 2 * C, 1e-5 * sqrt((double)B * S + 1.0));
    lk_batch_normalize_grad(B, C, S, x, g, wt, eps, y);
    lk_batch_normalize_grad_naive(B, C, S, x, g, wt, eps, r);
    snprintf(what, sizeof what, "batch_normalize_grad %dx%ldx%ld shift%d vs naive", B, C, S, shift);
    lkt_check(what, y, r, n, 1e-5);
    {
      float *gg = lkt_copy(g, n);
      lk_batch_normalize_grad(B, C, S, x, gg, wt, eps, gg);
      snprintf(what, sizeof what, "batch_normalize_grad %dx%ldx%ld in place", B, C, S);
      lkt_check_exact(what, gg, y, n);
      free(gg);
    }
    if (n <= 1500) { /* FD of Σ dy ⊙ (x̂·w + b) = Σ (dy·w) ⊙ x̂ + const, h = 1e-3·channel std (norm_steps) */
      float *gw = lkt_copy(g, n);
      bn_ctx c = {B, C, S, eps, gw};
      double *xd = to_double(x, n), *h = norm_steps(x, C, S, B, C * S, S, eps, n);
      for (long i = 0; i < n && wt; ++i) gw[i] *= wt[(i / S) % C];
      fd_grad_h(bn_f, &c, xd, n, 0, h, r);
      free(h);
      free(gw);
      snprintf(what, sizeof what, "batch_normalize_grad %dx%ldx%ld vs finite diff", B, C, S);
      lkt_check(what, y, r, n, FD_TOL_SMOOTH);
      free(xd);
    }
    free(x); free(g); free(y); free(r); free(mo); free(mr); free(wt); free(bs);
  }
  { /* n = 1 per channel: no unbiased variance */
    float x[3] = {1, 2, 3}, out[6];
    lk_batch_moments(1, 3, 1, x, out);
    check_true("batch_moments, one value per channel", out[0] == 1.0f && out[2] == 3.0f && out[3] != out[3],
               "mean = x, unbiased variance NaN");
  }
}

/* ---- Sum over axes -------------------------------------------------------------------------------- */

/* Checks lk_reduce_sum, and lk_reduce_sum_product with a second operand, against the double
 * references (and on 1 vs 2 threads when `invariance`). */
static void reduce_case(int rank, const long *shape, const unsigned char *red, int invariance) {
  long total = 1, nout = 1;
  char what[160];
  int at = 0;
  for (int d = 0; d < rank; ++d) { total *= shape[d]; if (!red[d]) nout *= shape[d]; }
  for (int product = 0; product < 2; ++product) {
    float *x = lkt_rand(total, 1), *x2 = lkt_rand(total, 2), *y = lkt_rand(nout, 1), *r = lkt_rand(nout, 1);
    at = snprintf(what, sizeof what, "reduce_sum%s [", product ? "_product" : "");
    for (int d = 0; d < rank && at < 120; ++d) at += snprintf(what + at, sizeof what - (size_t)at, "%s%ld%s", d ? "," : "", shape[d], red[d] ? "r" : "");
    snprintf(what + at, sizeof what - (size_t)at, "]");
    if (product) {
      lk_reduce_sum_product(rank, shape, red, x, x2, y);
      lk_reduce_sum_product_naive(rank, shape, red, x, x2, r);
    } else {
      lk_reduce_sum(rank, shape, red, x, y);
      lk_reduce_sum_naive(rank, shape, red, x, r);
    }
    /* float sums of up to total/nout terms in blocks: 1e-5·√(terms) */
    lkt_check(what, y, r, nout, 1e-5 * sqrt((double)total / (nout > 0 ? nout : 1) + 1.0));
    if (invariance) {
      float *y1 = lkt_rand(nout, 1);
      snprintf(what + at, sizeof what - (size_t)at, "] thread-count invariance");
      if (product)
        SAME_ON_1_AND_2(what, y1, y, nout, lk_reduce_sum_product(rank, shape, red, x, x2, y1),
                        lk_reduce_sum_product(rank, shape, red, x, x2, y));
      else
        SAME_ON_1_AND_2(what, y1, y, nout, lk_reduce_sum(rank, shape, red, x, y1), lk_reduce_sum(rank, shape, red, x, y));
      free(y1);
    }
    free(x); free(x2); free(y); free(r);
  }
}

/* lk_layernorm_param_grad: the unfused lk_normalize + lk_reduce_sum_product + lk_reduce_sum bit for
 * bit (the same x̂ and the same blocks of rows), the double reference within the float sums'
 * tolerance, and the same on 1 and 2 threads. Shapes cover one block (few rows), the 64 blocks of
 * a large input, C over the 512-column chunks (fewer blocks), a channel count off the vector
 * width, one channel, and rows far from zero mean. */
static void test_layernorm_param_grad(void) {
  static const long cases[][2] = {{1, 5}, {3, 17}, {50, 7}, {3000, 192}, {97, 600}, {4100, 24}, {130, 1}};
  for (size_t t = 0; t < sizeof cases / sizeof cases[0]; ++t) {
    long rows = cases[t][0], C = cases[t][1], n = rows * C, shape[2] = {rows, C};
    const unsigned char red[2] = {1, 0};
    float eps = t % 2 ? 1e-6f : 1e-5f;
    float *x = lkt_rand(n, 2), *dy = lkt_rand(n, 1), *xh = lkt_rand(n, 1), *want = lkt_rand(2 * C, 1);
    float *got = lkt_rand(2 * C, 1), *ref = lkt_rand(2 * C, 1);
    char what[128];
    if (t % 3 == 1) for (long i = 0; i < n; ++i) x[i] += 50.0f;
    lk_normalize(rows, C, x, eps, xh);
    lk_reduce_sum_product(2, shape, red, dy, xh, want);
    lk_reduce_sum(2, shape, red, dy, want + C);
    lk_layernorm_param_grad(rows, C, x, dy, eps, got);
    snprintf(what, sizeof what, "layernorm_param_grad %ldx%ld == normalize + reduce_sums", rows, C);
    if (C > 1) lkt_check_exact(what, got, want, 2 * C);
    else lkt_check(what, got, want, 2, 1e-5 * sqrt((double)rows)); /* [rows, 1] → lk_reduce_sum runs lk_sum's lanes */
    lk_layernorm_param_grad_naive(rows, C, x, dy, eps, ref);
    snprintf(what, sizeof what, "layernorm_param_grad %ldx%ld vs naive", rows, C);
    lkt_check(what, got, ref, 2 * C, 1e-5 * sqrt((double)rows + 1.0)); /* float sums of `rows` terms */
    snprintf(what, sizeof what, "layernorm_param_grad %ldx%ld thread-count invariance", rows, C);
    SAME_ON_1_AND_2(what, want, got, 2 * C, lk_layernorm_param_grad(rows, C, x, dy, eps, want),
                    lk_layernorm_param_grad(rows, C, x, dy, eps, got));
    free(x); free(dy); free(xh); free(want); free(got); free(ref);
  }
}

/* FD of a bias broadcast: f(bias) = Σ dy ⊙ (z + bias[c]) over [rows, C]: ∂f/∂bias = Σ_rows dy. */
typedef struct { long rows, C; const float *dy, *z; } bias_ctx;
static double bias_f(const double *bias, const void *c) {
  const bias_ctx *s = (const bias_ctx *)c;
  double f = 0.0;
  for (long r = 0; r < s->rows; ++r)
    for (long i = 0; i < s->C; ++i) f += s->dy[r * s->C + i] * (s->z[r * s->C + i] + bias[i]);
  return f;
}

static void test_reduce_sum(void) {
  for (int t = 0; t < 60; ++t) {
    int rank = lkt_int(1, 8);
    long shape[8];
    unsigned char red[8];
    for (int d = 0; d < rank; ++d) {
      shape[d] = rank > 4 ? lkt_int(1, 5) : rank > 2 ? lkt_int(1, 20) : lkt_int(1, 300);
      red[d] = (unsigned char)(lkt_int(0, 1));
    }
    reduce_case(rank, shape, red, 0);
  }
  { /* bias gradients: [B·N, C] → [C] (LocalViT-tiny: 16·197 tokens × 192) */
    long s1[2] = {16 * 197, 192};
    unsigned char r1[2] = {1, 0};
    long s2[3] = {16, 197, 192};
    unsigned char r2[3] = {1, 1, 0};
    long s3[3] = {16, 192, 196}; /* conv bias: keep axis 1 of [B, C, S] */
    unsigned char r3[3] = {1, 0, 1};
    long s4[1] = {300007}; /* everything */
    unsigned char r4[1] = {1};
    long s5[2] = {100003, 3}, s6[2] = {3, 100003}, s7[3] = {7, 5, 9999}, s8[2] = {5, 100000};
    unsigned char r5[2] = {1, 0}, r6[2] = {0, 1}, r7[3] = {0, 1, 0}, r8[2] = {1, 0};
    long s9[4] = {2, 1, 3, 1}, s10[3] = {4, 0, 3}, s11[2] = {3, 4};
    unsigned char r9[4] = {1, 1, 0, 0}, r10[3] = {0, 1, 0}, r11[2] = {0, 0};
    reduce_case(2, s1, r1, 1);
    reduce_case(3, s2, r2, 1);
    reduce_case(3, s3, r3, 1);
    reduce_case(1, s4, r4, 1);
    reduce_case(2, s5, r5, 1);
    reduce_case(2, s6, r6, 1);
    reduce_case(3, s7, r7, 1);
    reduce_case(2, s8, r8, 1);
    reduce_case(4, s9, r9, 0);  /* size-1 axes */
    {
      long se[3] = {8, 49, 256}, ln[4] = {2, 18, 64, 192}; /* squeeze-excite's gate, SAG's LayerNorm weight */
      unsigned char rse[3] = {0, 1, 0}, rln[4] = {1, 1, 1, 0};
      reduce_case(3, se, rse, 1);
      reduce_case(4, ln, rln, 1);
    }
    reduce_case(2, s11, r11, 0); /* nothing reduced: a copy */
    {
      float y[12];
      for (int i = 0; i < 12; ++i) y[i] = 1.0f;
      lk_reduce_sum(3, s10, r10, NULL, y); /* empty reduced axis: zeros */
      check_true("reduce_sum over an empty axis", y[0] == 0.0f && y[11] == 0.0f, "zeros");
    }
  }
  { /* FD: the bias gradient */
    long rows = 37, C = 19;
    unsigned char r[2] = {1, 0};
    long shape[2] = {37, 19};
    float *dy = lkt_rand(rows * C, 1), *z = lkt_rand(rows * C, 1), *b = lkt_rand(C, 1), *g = lkt_rand(C, 1), *ref = lkt_rand(C, 1);
    bias_ctx c = {rows, C, dy, z};
    double *bd = to_double(b, C);
    lk_reduce_sum(2, shape, r, dy, g);
    fd_grad(bias_f, &c, bd, C, 1e-3, ref);
    lkt_check("reduce_sum (bias grad 37x19) vs finite diff", g, ref, C, FD_TOL_LINEAR);
    free(dy); free(z); free(b); free(g); free(ref); free(bd);
  }
}

/* ---- conv2d -------------------------------------------------------------------------------------- */

typedef struct { int B, Cin, Hh, Ww, Cout, kh, kw, sh, sw, ph, pw, G; const float *dy; const double *x, *w; int wrt_w; } conv_ctx;
/* Σ dy ⊙ conv2d(x, w) in double; v is x (wrt_w = 0) or w. */
static double conv_f(const double *v, const void *c) {
  const conv_ctx *s = (const conv_ctx *)c;
  const double *x = s->wrt_w ? s->x : v, *w = s->wrt_w ? v : s->w;
  int Ho = (s->Hh + 2 * s->ph - s->kh) / s->sh + 1, Wo = (s->Ww + 2 * s->pw - s->kw) / s->sw + 1;
  int cig = s->Cin / s->G, cog = s->Cout / s->G;
  double f = 0.0;
  for (int b = 0; b < s->B; ++b)
    for (int co = 0; co < s->Cout; ++co)
      for (int oh = 0; oh < Ho; ++oh)
        for (int ow = 0; ow < Wo; ++ow) {
          double y = 0.0;
          for (int ci = 0; ci < cig; ++ci)
            for (int ki = 0; ki < s->kh; ++ki)
              for (int kj = 0; kj < s->kw; ++kj) {
                int ih = oh * s->sh - s->ph + ki, iw = ow * s->sw - s->pw + kj;
                if (ih < 0 || ih >= s->Hh || iw < 0 || iw >= s->Ww) continue;
                y += x[(((long)b * s->Cin + co / cog * cig + ci) * s->Hh + ih) * s->Ww + iw] *
                     w[(((long)co * cig + ci) * s->kh + ki) * s->kw + kj];
              }
          f += s->dy[(((long)b * s->Cout + co) * Ho + oh) * Wo + ow] * y;
        }
  return f;
}

static void conv_grad_case(int B, int Cin, int Hh, int Ww, int Cout, int kh, int kw, int sh, int sw, int ph, int pw, int G) {
  int Ho = (Hh + 2 * ph - kh) / sh + 1, Wo = (Ww + 2 * pw - kw) / sw + 1;
  long nx = (long)B * Cin * Hh * Ww, nw = (long)Cout * (Cin / G) * kh * kw, ny = (long)B * Cout * Ho * Wo;
  long Kin = (long)(Cout / G) * kh * kw, Kw = (long)B * Ho * Wo; /* terms per dx / dw element */
  float *x = lkt_rand(nx, 1), *w = lkt_rand(nw, 1), *dy = lkt_rand(ny, 1);
  float *dx = lkt_rand(nx, 1), *rx = lkt_rand(nx, 1), *dw = lkt_rand(nw, 1), *rw = lkt_rand(nw, 1);
  char geo[96], what[160];
  snprintf(geo, sizeof geo, "b%d %dx%dx%d->%d k%dx%d s%dx%d p%dx%d g%d", B, Cin, Hh, Ww, Cout, kh, kw, sh, sw, ph, pw, G);
  lk_conv2d_grad_input(B, Cin, Hh, Ww, Cout, kh, kw, sh, sw, ph, pw, G, dy, w, dx);
  lk_conv2d_grad_input_naive(B, Cin, Hh, Ww, Cout, kh, kw, sh, sw, ph, pw, G, dy, w, rx);
  snprintf(what, sizeof what, "conv2d_grad_input %s vs naive", geo);
  lkt_check(what, dx, rx, nx, 1e-5 * sqrt(Kin + 1.0));
  lk_conv2d_grad_weight(B, Cin, Hh, Ww, Cout, kh, kw, sh, sw, ph, pw, G, dy, x, dw);
  lk_conv2d_grad_weight_naive(B, Cin, Hh, Ww, Cout, kh, kw, sh, sw, ph, pw, G, dy, x, rw);
  snprintf(what, sizeof what, "conv2d_grad_weight %s vs naive", geo);
  lkt_check(what, dw, rw, nw, 1e-5 * sqrt(Kw + 1.0));
  if ((nx + nw) * ny * (Cin / G) * kh * kw < 60000000L) { /* FD, h = 1e-3 (f is linear in x and in w) */
    conv_ctx c = {B, Cin, Hh, Ww, Cout, kh, kw, sh, sw, ph, pw, G, dy, NULL, NULL, 0};
    double *xd = to_double(x, nx), *wd = to_double(w, nw);
    c.x = xd; c.w = wd;
    fd_grad(conv_f, &c, xd, nx, 1e-3, rx);
    snprintf(what, sizeof what, "conv2d_grad_input %s vs finite diff", geo);
    lkt_check(what, dx, rx, nx, FD_TOL_LINEAR * sqrt(Kin + 1.0));
    c.wrt_w = 1;
    fd_grad(conv_f, &c, wd, nw, 1e-3, rw);
    snprintf(what, sizeof what, "conv2d_grad_weight %s vs finite diff", geo);
    lkt_check(what, dw, rw, nw, FD_TOL_LINEAR * sqrt(Kw + 1.0));
    free(xd); free(wd);
  }
  free(x); free(w); free(dy); free(dx); free(rx); free(dw); free(rw);
}

static void test_conv_grad(void) {
  conv_grad_case(2, 3, 32, 32, 24, 16, 16, 16, 16, 0, 0, 1); /* patch embedding */
  conv_grad_case(2, 3, 20, 20, 8, 4, 4, 4, 4, 0, 0, 1);
  conv_grad_case(2, 16, 7, 9, 24, 1, 1, 1, 1, 0, 0, 1);      /* pointwise: straight GEMMs */
  conv_grad_case(1, 5, 6, 7, 3, 1, 1, 1, 1, 0, 0, 1);        /* pointwise, B = 1: dy and x read in place */
  conv_grad_case(2, 16, 9, 7, 16, 3, 3, 1, 1, 1, 1, 16);     /* depthwise 3×3 */
  conv_grad_case(1, 8, 10, 11, 8, 3, 3, 2, 2, 1, 1, 8);      /* depthwise stride 2 */
  conv_grad_case(2, 12, 8, 8, 12, 5, 5, 1, 1, 2, 2, 12);     /* depthwise 5×5 */
  conv_grad_case(2, 5, 3, 3, 5, 3, 3, 1, 1, 1, 1, 5);        /* depthwise, padded path: rows of 3 */
  conv_grad_case(1, 3, 5, LK_VW, 3, 3, 3, 1, 1, 1, 1, 3);    /* ... rows of one vector, odd Ho */
  conv_grad_case(2, 3, 6, 9, 3, 3, 5, 1, 1, 1, 2, 3);        /* ... 3×5, ph ≠ pw */
  conv_grad_case(1, 1, 120, 57, 1, 3, 3, 1, 1, 1, 1, 1);     /* ... a copy just under the stack buffer */
  conv_grad_case(2, 3, 5, 2 * LK_VW + 1, 3, 3, 3, 1, 1, 1, 1, 3); /* ... two vectors + 1 */
  conv_grad_case(2, 4, 1, 9, 4, 1, 3, 1, 1, 0, 1, 4);        /* ... 1×3 on one row */
  conv_grad_case(1, 4, 7, 10, 4, 2, 2, 1, 1, 1, 1, 4);       /* ... 2×2, output larger than input */
  conv_grad_case(2, 6, 9, 11, 6, 3, 3, 1, 1, 0, 0, 6);       /* ... no padding */
  conv_grad_case(3, 32, 7, 7, 32, 3, 3, 1, 1, 1, 1, 32);     /* ... localvit_fmnist's 7×7 grid */
  conv_grad_case(1, 2, 100, 100, 2, 3, 3, 1, 1, 1, 1, 2);    /* too large for the stack copy: direct path */
  conv_grad_case(1, 4, 9, 9, 4, 9, 9, 1, 1, 4, 4, 4);        /* depthwise 9×9, padding 4 */
  conv_grad_case(2, 8, 9, 9, 12, 3, 3, 1, 1, 1, 1, 2);       /* grouped */
  conv_grad_case(2, 8, 9, 9, 8, 3, 3, 2, 1, 1, 0, 4);        /* grouped, cig = cog = 2 */
  conv_grad_case(1, 3, 17, 13, 5, 3, 2, 2, 3, 2, 1, 1);      /* odd everything */
  conv_grad_case(2, 4, 5, 5, 6, 5, 5, 1, 1, 0, 0, 1);        /* kernel = image */
  conv_grad_case(2, 4, 6, 6, 4, 1, 1, 2, 2, 0, 0, 1);        /* 1×1 strided: im2col path */
  conv_grad_case(1, 2, 7, 8, 3, 3, 3, 3, 3, 0, 0, 1);        /* pixels no window reads */
  conv_grad_case(2, 6, 12, 12, 6, 3, 3, 1, 1, 1, 1, 6);
  conv_grad_case(1, 3, 5, 300, 3, 3, 3, 1, 1, 1, 1, 3);      /* depthwise, rows wider than a 256-column chunk */
  conv_grad_case(1, 2, 4, 600, 2, 3, 3, 1, 2, 1, 1, 2);      /* ... with stride 2 */
  conv_grad_case(16, 4, 14, 14, 8, 1, 1, 1, 1, 0, 0, 1);     /* batch inside K */
  conv_grad_case(5, 4, 6, 6, 6, 3, 3, 1, 1, 1, 1, 1);        /* image chunks of 2, 2, 1 (LK__GRAD_COL_FLOATS) */
  for (int t = 0; t < 14; ++t) {
    int k = lkt_int(1, 4), s = lkt_int(1, 3), p = lkt_int(0, k - 1), H = lkt_int(k, 12), W = lkt_int(k, 12);
    int dw = t % 3 == 0, C = lkt_int(1, 9), B = lkt_int(1, 3);
    if (dw && C == 1) C = 2;
    conv_grad_case(B, C, H, W, dw ? C : lkt_int(1, 9), k, k, s, s, p, p, dw ? C : 1);
  }
  { /* thread-count invariance: im2col GEMM path, depthwise direct path */
    int B = 3, Cin = 6, H = 13, W = 11, Cout = 10;
    float *x = lkt_rand((long)B * Cin * H * W, 1), *w = lkt_rand((long)Cout * Cin * 9, 1), *dy = lkt_rand((long)B * Cout * H * W, 1);
    float *a = lkt_rand((long)B * Cin * H * W, 1), *b = lkt_rand((long)B * Cin * H * W, 1);
    SAME_ON_1_AND_2("conv2d_grad_input thread-count invariance", a, b, (long)B * Cin * H * W,
                    lk_conv2d_grad_input(B, Cin, H, W, Cout, 3, 3, 1, 1, 1, 1, 1, dy, w, a),
                    lk_conv2d_grad_input(B, Cin, H, W, Cout, 3, 3, 1, 1, 1, 1, 1, dy, w, b));
    SAME_ON_1_AND_2("conv2d_grad_weight thread-count invariance", a, b, (long)Cout * Cin * 9,
                    lk_conv2d_grad_weight(B, Cin, H, W, Cout, 3, 3, 1, 1, 1, 1, 1, dy, x, a),
                    lk_conv2d_grad_weight(B, Cin, H, W, Cout, 3, 3, 1, 1, 1, 1, 1, dy, x, b));
    SAME_ON_1_AND_2("conv2d_grad_weight depthwise thread-count invariance", a, b, (long)Cin * 9,
                    lk_conv2d_grad_weight(B, Cin, H, W, Cin, 3, 3, 1, 1, 1, 1, Cin, dy, x, a),
                    lk_conv2d_grad_weight(B, Cin, H, W, Cin, 3, 3, 1, 1, 1, 1, Cin, dy, x, b));
    free(x); free(w); free(dy); free(a); free(b);
  }
}

/* ---- Channels last: BatchNorm over tokens, token_dwconv's gradients -------------------------------
 * Checked against their naive references and against the channels-first references (themselves
 * checked by finite differences above) on transposed copies. */

/* y[b, c, p] = x[b, p, c] (to channels first), or back when back != 0. */
static float *transposed(const float *x, int B, long P, long C, int back) {
  float *y = lkt_rand((long)B * P * C, 1);
  for (int b = 0; b < B; ++b)
    for (long p = 0; p < P; ++p)
      for (long c = 0; c < C; ++c) {
        long cl = ((long)b * P + p) * C + c, cf = ((long)b * C + c) * P + p;
        if (back) y[cl] = x[cf];
        else y[cf] = x[cl];
      }
  return y;
}

static void batchnorm_cl_case(int B, long S, long C, int shift, int affine) {
  long n = (long)B * S * C, rows = (long)B * S;
  float *w = affine ? lkt_rand(C, 1) : NULL, *b = affine ? lkt_rand(C, 1) : NULL;
  float eps = 1e-5f, *x = lkt_rand(n, 2), *g = lkt_rand(n, 1), *y = lkt_rand(n, 1), *mo = lkt_rand(2 * C, 1), *mr = lkt_rand(2 * C, 1);
  float *xf, *gf, *rf, *r;
  char what[128];
  if (shift) for (long i = 0; i < n; ++i) x[i] += 50.0f;
  xf = transposed(x, B, S, C, 0);
  gf = transposed(g, B, S, C, 0);
  rf = lkt_rand(n, 1);
  lk_batch_normalize_cl(rows, C, x, w, b, eps, y);
  lk_batch_normalize_naive(B, C, S, xf, w, b, eps, rf);
  r = transposed(rf, B, S, C, 1);
  snprintf(what, sizeof what, "batch_normalize_cl %dx%ldx%ld shift%d vs channels-first naive", B, S, C, shift);
  lkt_check(what, y, r, n, 1e-5);
  free(r);
  lk_batch_normalize_param_grad_cl(rows, C, x, g, eps, mo);
  lk_batch_normalize_param_grad_naive(B, C, S, xf, gf, eps, mr);
  snprintf(what, sizeof what, "batch_normalize_param_grad_cl %dx%ldx%ld shift%d vs channels-first naive", B, S, C, shift);
  lkt_check(what, mo, mr, 2 * C, 1e-5 * sqrt((double)rows + 1.0));
  lk_batch_normalize_grad_cl(rows, C, x, g, w, eps, y);
  lk_batch_normalize_grad_naive(B, C, S, xf, gf, w, eps, rf);
  r = transposed(rf, B, S, C, 1);
  { /* The elementwise pass is float: dx = w·rstd·(dy − a − x̂·b) has error ~1e-7 of its terms, and
     * where they cancel (a channel of two values) that is the whole result. So the error is
     * measured against ref + the terms' scale, max|dy|·max_c |w_c|·rstd_c. */
    double scale = 0.0, gmax = 0.0, worst = 0.0;
    long at = 0;
    lk_batch_moments_naive(B, C, S, xf, mr);
    for (long c = 0; c < C; ++c) {
      double biased = rows > 1 ? mr[C + c] * (rows - 1.0) / rows : 0.0;
      scale = fmax(scale, fabs(w ? w[c] : 1.0) / sqrt(biased + eps));
    }
    for (long i = 0; i < n; ++i) gmax = fmax(gmax, fabs(g[i]));
    scale *= gmax;
    for (long i = 0; i < n; ++i) {
      double e = fabs((double)y[i] - r[i]) / (fabs(r[i]) + 1e-2 * scale);
      if (!(e <= worst)) { worst = e; at = i; }
    }
    snprintf(what, sizeof what, "batch_normalize_grad_cl %dx%ldx%ld shift%d vs channels-first naive", B, S, C, shift);
    check_true(what, worst <= 1e-5, "worst error relative to |ref| + 1% of the terms' scale within 1e-5");
    if (getenv("LKT_VERBOSE") || worst > 1e-5) printf("     worst %.3g at [%ld]: got %.9g want %.9g\n", worst, at, (double)y[at], (double)r[at]);
  }
  {
    float *gg = lkt_copy(g, n);
    lk_batch_normalize_grad_cl(rows, C, x, gg, w, eps, gg);
    snprintf(what, sizeof what, "batch_normalize_grad_cl %dx%ldx%ld in place", B, S, C);
    lkt_check_exact(what, gg, y, n);
    free(gg);
  }
  lk_batch_moments_cl(rows, C, x, mo);
  lk_batch_moments_naive(B, C, S, xf, mr);
  snprintf(what, sizeof what, "batch_moments_cl mean %dx%ldx%ld shift%d vs channels-first naive", B, S, C, shift);
  lkt_check(what, mo, mr, C, 2e-6);
  snprintf(what, sizeof what, "batch_moments_cl unbiased var %dx%ldx%ld vs channels-first naive", B, S, C);
  lkt_check(what, mo + C, mr + C, C, 1e-5);
  free(x); free(g); free(y); free(mo); free(mr); free(xf); free(gf); free(rf); free(r); free(w); free(b);
}

static void token_dwconv_grad_case(int B, int C, int Hh, int Ww, int kh, int kw, int sh, int sw, int ph, int pw) {
  int Ho = (Hh + 2 * ph - kh) / sh + 1, Wo = (Ww + 2 * pw - kw) / sw + 1;
  long P = (long)Hh * Ww, Q = (long)Ho * Wo, nx = (long)B * P * C, ny = (long)B * Q * C, nw = (long)C * kh * kw;
  float *x = lkt_rand(nx, 1), *w = lkt_rand(nw, 1), *dy = lkt_rand(ny, 1);
  float *dx = lkt_rand(nx, 1), *rx = lkt_rand(nx, 1), *dw = lkt_rand(nw, 1), *rw = lkt_rand(nw, 1);
  float *xf = transposed(x, B, P, C, 0), *dyf = transposed(dy, B, Q, C, 0), *rxf = lkt_rand(nx, 1), *back;
  char geo[96], what[160];
  snprintf(geo, sizeof geo, "b%d %dx%dx%d k%dx%d s%dx%d p%dx%d", B, Hh, Ww, C, kh, kw, sh, sw, ph, pw);
  lk_token_dwconv_grad_input(B, Hh, Ww, C, kh, kw, sh, sw, ph, pw, dy, w, dx);
  lk_token_dwconv_grad_input_naive(B, Hh, Ww, C, kh, kw, sh, sw, ph, pw, dy, w, rx);
  snprintf(what, sizeof what, "token_dwconv_grad_input %s vs naive", geo);
  lkt_check(what, dx, rx, nx, 1e-5 * sqrt(kh * kw + 1.0));
  lk_conv2d_grad_input_naive(B, C, Hh, Ww, C, kh, kw, sh, sw, ph, pw, C, dyf, w, rxf);
  back = transposed(rxf, B, P, C, 1);
  snprintf(what, sizeof what, "token_dwconv_grad_input %s vs conv2d_grad_input", geo);
  lkt_check(what, dx, back, nx, 1e-5 * sqrt(kh * kw + 1.0));
  free(back);
  lk_token_dwconv_grad_weight(B, Hh, Ww, C, kh, kw, sh, sw, ph, pw, dy, x, dw);
  lk_token_dwconv_grad_weight_naive(B, Hh, Ww, C, kh, kw, sh, sw, ph, pw, dy, x, rw);
  snprintf(what, sizeof what, "token_dwconv_grad_weight %s vs naive", geo);
  lkt_check(what, dw, rw, nw, 1e-5 * sqrt((double)B * Q + 1.0));
  lk_conv2d_grad_weight_naive(B, C, Hh, Ww, C, kh, kw, sh, sw, ph, pw, C, dyf, xf, rw);
  snprintf(what, sizeof what, "token_dwconv_grad_weight %s vs conv2d_grad_weight", geo);
  lkt_check(what, dw, rw, nw, 1e-5 * sqrt((double)B * Q + 1.0));
  free(x); free(w); free(dy); free(dx); free(rx); free(dw); free(rw); free(xf); free(dyf); free(rxf);
}

static void test_channels_last(void) {
  static const long Ss[] = {1, 2, 7, 49, 196};
  for (int t = 0; t < 15; ++t) {
    long S = Ss[t % 5], C = t < 5 ? lkt_int(1, 9) : t < 10 ? PICK() : 16 * lkt_int(1, 4) + lkt_int(0, 1) * lkt_int(1, 15);
    batchnorm_cl_case(lkt_int(S == 1 ? 2 : 1, 4), S, C, t % 4 == 3, t % 3 != 0);
  }
  batchnorm_cl_case(8, 49, 256, 1, 1); /* localvit_fmnist's expanded feed-forward, 8 of 64 images */
  token_dwconv_grad_case(3, 32, 7, 7, 3, 3, 1, 1, 1, 1); /* localvit_fmnist: the flipped forward */
  token_dwconv_grad_case(2, 12, 8, 8, 5, 5, 1, 1, 2, 2);
  token_dwconv_grad_case(2, 3 * LK_VW + 3, 5, 6, 3, 3, 1, 1, 1, 1); /* vector blocks + scalar tail */
  token_dwconv_grad_case(1, 8, 10, 11, 3, 3, 2, 2, 1, 1); /* stride 2: scattered */
  token_dwconv_grad_case(2, 5, 6, 9, 3, 5, 1, 1, 1, 2);   /* 3×5, ph ≠ pw */
  token_dwconv_grad_case(2, 6, 9, 11, 3, 3, 1, 1, 0, 0);  /* no padding */
  token_dwconv_grad_case(1, 4, 7, 10, 2, 2, 1, 1, 1, 1);  /* output larger than the input */
  token_dwconv_grad_case(1, 4, 5, 5, 3, 3, 1, 1, 3, 3);   /* ph ≥ kh: scattered */
  token_dwconv_grad_case(1, 2, 7, 8, 3, 3, 3, 3, 0, 0);   /* pixels no window reads */
  for (int t = 0; t < 10; ++t) {
    int k = lkt_int(1, 5), s = lkt_int(1, 3), p = lkt_int(0, k - 1);
    token_dwconv_grad_case(lkt_int(1, 3), lkt_int(1, 40), lkt_int(k, 12), lkt_int(k, 12), k, k, s, s, p, p);
  }
  {
    int B = 3, C = 40, H = 7, W = 9;
    long nx = (long)B * H * W * C;
    float *x = lkt_rand(nx, 2), *g = lkt_rand(nx, 1), *w = lkt_rand((long)C * 9, 1), *a = lkt_rand(nx, 1), *b = lkt_rand(nx, 1);
    SAME_ON_1_AND_2("batch_normalize_cl thread-count invariance", a, b, nx,
                    lk_batch_normalize_cl(nx / C, C, x, w, g, 1e-5f, a), lk_batch_normalize_cl(nx / C, C, x, w, g, 1e-5f, b));
    SAME_ON_1_AND_2("batch_normalize_grad_cl thread-count invariance", a, b, nx,
                    lk_batch_normalize_grad_cl(nx / C, C, x, g, w, 1e-5f, a), lk_batch_normalize_grad_cl(nx / C, C, x, g, w, 1e-5f, b));
    SAME_ON_1_AND_2("batch_normalize_param_grad_cl thread-count invariance", a, b, 2 * C,
                    lk_batch_normalize_param_grad_cl(nx / C, C, x, g, 1e-5f, a), lk_batch_normalize_param_grad_cl(nx / C, C, x, g, 1e-5f, b));
    SAME_ON_1_AND_2("token_dwconv_grad_input thread-count invariance", a, b, nx,
                    lk_token_dwconv_grad_input(B, H, W, C, 3, 3, 1, 1, 1, 1, g, w, a),
                    lk_token_dwconv_grad_input(B, H, W, C, 3, 3, 1, 1, 1, 1, g, w, b));
    SAME_ON_1_AND_2("token_dwconv_grad_input stride 2 thread-count invariance", a, b, nx,
                    lk_token_dwconv_grad_input(B, H, W, C, 3, 3, 2, 2, 1, 1, g, w, a),
                    lk_token_dwconv_grad_input(B, H, W, C, 3, 3, 2, 2, 1, 1, g, w, b));
    SAME_ON_1_AND_2("token_dwconv_grad_weight thread-count invariance", a, b, (long)C * 9,
                    lk_token_dwconv_grad_weight(B, H, W, C, 3, 3, 1, 1, 1, 1, g, x, a),
                    lk_token_dwconv_grad_weight(B, H, W, C, 3, 3, 1, 1, 1, 1, g, x, b));
    free(x); free(g); free(w); free(a); free(b);
  }
}

/* ---- BatchNorm over tokens from the moments, with its activation ----------------------------------
 * lk_batch_statistics_cl against lk_batch_moments_cl and a double mean; lk_batch_norm_act_cl and
 * its two gradients, given those statistics: against their naive references; against the separate kernels they replace (lk_batch_normalize_cl
 * then the activation, lk_unary_grad then lk_batch_normalize_{param_,}grad_cl), themselves checked
 * above; the input, weight and bias gradients (the statistics' dependence on x included) against
 * finite differences of Σ dz ⊙ act(BN(x)) in double; in place; thread-count invariance. */

static long bna_ws_floats(long rows, long C) { /* the largest of the three kinds */
  return lk_max_l(lk_batch_norm_act_workspace_floats(rows, C, 1), lk_batch_norm_act_workspace_floats(rows, C, 2));
}

typedef struct { long rows, C; int act; const float *dz; double eps; } bna_ctx;

/* v = [x (rows·C) | w (C) | b (C)]: Σ dz ⊙ act((x − mean)/sqrt(var + eps)·w + b), statistics of v. */
static double bna_fd_f(const double *v, const void *p) {
  const bna_ctx *k = (const bna_ctx *)p;
  const double *w = v + k->rows * k->C, *b = w + k->C;
  double s = 0.0;
  for (long c = 0; c < k->C; ++c) {
    double m = 0.0, var = 0.0, rstd;
    for (long r = 0; r < k->rows; ++r) m += v[r * k->C + c];
    m /= (double)k->rows;
    for (long r = 0; r < k->rows; ++r) var += (v[r * k->C + c] - m) * (v[r * k->C + c] - m);
    rstd = 1.0 / sqrt(var / (double)k->rows + k->eps);
    for (long r = 0; r < k->rows; ++r) s += k->dz[r * k->C + c] * lk_apply_act_ref(k->act, (v[r * k->C + c] - m) * rstd * w[c] + b[c]);
  }
  return s;
}

/* dx against ref, relative to |ref| + 1% of the terms' scale max|dz|·max|w|·rstd (the float
 * elementwise pass cancels, as for lk_batch_normalize_grad_cl above). */
static void bna_check_dx(const char *what, const float *got, const float *ref, long n, const float *dz, const float *w,
                         const float *m, long rows, long C, float eps, double tol) {
  double scale = 0.0, gmax = 0.0, worst = 0.0;
  long at = 0;
  char detail[128];
  for (long c = 0; c < C; ++c) {
    double biased = rows > 1 ? m[C + c] * (rows - 1.0) / rows : 0.0;
    scale = fmax(scale, fabs(w ? w[c] : 1.0) / sqrt(biased + eps));
  }
  for (long i = 0; i < n; ++i) gmax = fmax(gmax, fabs(dz[i]));
  scale *= gmax;
  for (long i = 0; i < n; ++i) {
    double e = fabs((double)got[i] - ref[i]) / (fabs(ref[i]) + 1e-2 * scale);
    if (!(e <= worst)) { worst = e; at = i; }
  }
  snprintf(detail, sizeof detail, "worst error relative to |ref| + 1%% of the terms' scale %.3g (tol %.0e)", worst, tol);
  check_true(what, worst <= tol, detail);
  if (getenv("LKT_VERBOSE") || worst > tol) printf("     worst %.3g at [%ld]: got %.9g want %.9g\n", worst, at, (double)got[at], (double)ref[at]);
}

static void bna_case(long rows, long C, int act, const char *name, int shift, int affine) {
  long n = rows * C;
  float eps = 1e-5f, *x = lkt_rand(n, 2), *dz = lkt_rand(n, 1), *w = affine ? lkt_rand(C, 1) : NULL, *b = affine ? lkt_rand(C, 1) : NULL;
  float *m = lkt_rand(3 * C, 1), *ws = lkt_rand(bna_ws_floats(rows, C), 1), *y = lkt_rand(n, 1), *r = lkt_rand(n, 1);
  float *sums = lkt_rand(2 * C, 1), *rsums = lkt_rand(2 * C, 1), *dx = lkt_rand(n, 1);
  char geo[64], what[160];
  snprintf(geo, sizeof geo, "%s %ldx%ld shift%d%s", name, rows, C, shift, affine ? "" : " no affine");
  if (shift) for (long i = 0; i < n; ++i) x[i] += 50.0f;
  lk_batch_statistics_cl(rows, C, x, m);
  { /* the statistics: the moments rows as lk_batch_moments_cl's, and mean = m[c] + m[2C + c] to double precision */
    double worst = 0.0;
    float *mo = lkt_rand(2 * C, 1);
    lk_batch_moments_cl(rows, C, x, mo);
    snprintf(what, sizeof what, "batch_statistics_cl %s moments", geo);
    lkt_check_exact(what, m, mo, rows > 1 ? 2 * C : C); /* one row: the variance is NaN in both */
    free(mo);
    for (long c = 0; c < C; ++c) {
      double mean = 0.0, var = 0.0;
      for (long i = 0; i < rows; ++i) mean += x[i * C + c];
      mean /= (double)rows;
      for (long i = 0; i < rows; ++i) var += (x[i * C + c] - mean) * (x[i * C + c] - mean);
      worst = fmax(worst, fabs((double)m[c] + m[2 * C + c] - mean) / (fabs(mean) + sqrt(var / rows) + 1e-30));
    }
    snprintf(what, sizeof what, "batch_statistics_cl %s mean in two floats", geo);
    check_true(what, worst <= 1e-12, "|m[c] + m[2C + c] − mean| within 1e-12 of |mean| + std");
  }
  lk_batch_norm_act_cl(rows, C, x, m, w, b, eps, act, ws, y);
  lk_batch_norm_act_naive(rows, C, x, m, w, b, eps, act, r);
  snprintf(what, sizeof what, "batch_norm_act_cl %s vs naive", geo);
  lkt_check(what, y, r, n, 1e-5);
  lk_batch_norm_act_param_grad_cl(rows, C, x, dz, m, w, b, eps, act, ws, sums);
  lk_batch_norm_act_param_grad_naive(rows, C, x, dz, m, w, b, eps, act, rsums);
  snprintf(what, sizeof what, "batch_norm_act_param_grad_cl %s vs naive", geo);
  lkt_check(what, sums, rsums, 2 * C, 1e-5 * sqrt((double)rows + 1.0));
  lk_batch_norm_act_grad_cl(rows, C, x, dz, m, w, b, sums, eps, act, ws, dx);
  lk_batch_norm_act_grad_naive(rows, C, x, dz, m, w, b, sums, eps, act, r);
  snprintf(what, sizeof what, "batch_norm_act_grad_cl %s vs naive", geo);
  bna_check_dx(what, dx, r, n, dz, w, m, rows, C, eps, 1e-5);
  { /* NULL workspace: allocated for the call, the same results */
    float *y2 = lkt_rand(n, 1), *s2 = lkt_rand(2 * C, 1), *d2 = lkt_rand(n, 1);
    lk_batch_norm_act_cl(rows, C, x, m, w, b, eps, act, NULL, y2);
    lk_batch_norm_act_param_grad_cl(rows, C, x, dz, m, w, b, eps, act, NULL, s2);
    lk_batch_norm_act_grad_cl(rows, C, x, dz, m, w, b, sums, eps, act, NULL, d2);
    snprintf(what, sizeof what, "batch_norm_act_cl %s without workspace", geo);
    lkt_check_exact(what, y2, y, n);
    snprintf(what, sizeof what, "batch_norm_act_param_grad_cl %s without workspace", geo);
    lkt_check_exact(what, s2, sums, 2 * C);
    snprintf(what, sizeof what, "batch_norm_act_grad_cl %s without workspace", geo);
    lkt_check_exact(what, d2, dx, n);
    free(y2); free(s2); free(d2);
  }
  {
    float *g = lkt_copy(dz, n);
    lk_batch_norm_act_grad_cl(rows, C, x, g, m, w, b, sums, eps, act, ws, g);
    snprintf(what, sizeof what, "batch_norm_act_grad_cl %s in place", geo);
    lkt_check_exact(what, g, dx, n);
    free(g);
  }
  if (rows > 1) { /* the separate kernels: normalise, activate; act', then the BatchNorm gradients */
    float *pre = lkt_rand(n, 1), *gy = lkt_rand(n, 1), *ps = lkt_rand(2 * C, 1);
    lk_batch_normalize_cl(rows, C, x, w, b, eps, pre);
    for (long i = 0; i < n; ++i) r[i] = (float)lk_apply_act_ref(act, pre[i]);
    snprintf(what, sizeof what, "batch_norm_act_cl %s vs batch_normalize_cl + act", geo);
    lkt_check(what, y, r, n, 1e-5);
    lk_unary_grad(act, n, pre, dz, gy);
    lk_batch_normalize_param_grad_cl(rows, C, x, gy, eps, ps);
    snprintf(what, sizeof what, "batch_norm_act_param_grad_cl %s vs unary_grad + param_grad", geo);
    lkt_check(what, sums, ps, 2 * C, 1e-5 * sqrt((double)rows + 1.0));
    lk_batch_normalize_grad_cl(rows, C, x, gy, w, eps, r);
    snprintf(what, sizeof what, "batch_norm_act_grad_cl %s vs unary_grad + batch_normalize_grad", geo);
    /* 3e-5: the sums reach this kernel rounded to float (an operand of the op), where
     * lk_batch_normalize_grad_cl keeps them in double; the naive check above shares them. */
    bna_check_dx(what, dx, r, n, dz, w, m, rows, C, eps, 3e-5);
    free(pre); free(gy); free(ps);
  }
  if (rows > 1 && n <= 400 && affine && (act == LK_ACT_NONE || act == LK_ACT_GELU || act == LK_ACT_SIGMOID)) {
    /* finite differences of the whole map (smooth activations: no kinks for a step to cross) */
    bna_ctx k = {rows, C, act, dz, eps};
    double *v = (double *)malloc((size_t)(n + 2 * C) * sizeof(double)), *hv = (double *)malloc((size_t)(n + 2 * C) * sizeof(double));
    double *hx = norm_steps(x, C, 1, rows, C, 1, eps, n);
    float *fd = lkt_rand(n + 2 * C, 1);
    for (long i = 0; i < n; ++i) { v[i] = x[i]; hv[i] = hx[i]; }
    for (long c = 0; c < C; ++c) { v[n + c] = w[c]; v[n + C + c] = b[c]; hv[n + c] = hv[n + C + c] = 1e-4; }
    fd_grad_h(bna_fd_f, &k, v, n + 2 * C, 0.0, hv, fd);
    snprintf(what, sizeof what, "batch_norm_act_grad_cl %s vs finite diff", geo);
    bna_check_dx(what, dx, fd, n, dz, w, m, rows, C, eps, FD_TOL_SMOOTH);
    snprintf(what, sizeof what, "batch_norm_act_param_grad_cl %s vs finite diff", geo);
    lkt_check(what, sums, fd + n, 2 * C, FD_TOL_SMOOTH);
    free(v); free(hv); free(hx); free(fd);
  }
  free(x); free(dz); free(w); free(b); free(m); free(ws); free(y); free(r); free(sums); free(rsums); free(dx);
}

static void test_batch_norm_act(void) {
  static const struct { int act; const char *name; } acts[] = {
      {LK_ACT_NONE, "identity"}, {LK_ACT_GELU, "gelu"}, {LK_ACT_RELU, "relu"}, {LK_ACT_RELU6, "relu6"},
      {LK_ACT_HSWISH, "hswish"}, {LK_ACT_HSIGMOID, "hsigmoid"}, {LK_ACT_SIGMOID, "sigmoid"},
  };
  static const long rowss[] = {2, 7, 49, 65, 130};
  for (size_t a = 0; a < sizeof acts / sizeof acts[0]; ++a)
    for (int t = 0; t < 5; ++t) {
      long C = t < 2 ? lkt_int(1, 5) : t < 4 ? LK_VW * lkt_int(1, 3) + lkt_int(0, LK_VW - 1) : 2 * LK_VW;
      bna_case(rowss[t], C, acts[a].act, acts[a].name, t == 3, t != 1);
    }
  bna_case(1, 6, LK_ACT_HSWISH, "hswish", 0, 1);     /* one row: variance 0 (the moments say NaN) */
  bna_case(8 * 49, 256, LK_ACT_HSWISH, "hswish", 1, 1); /* localvit_fmnist's expanded feed-forward, 8 of 64 images */
  {
    long rows = 3 * 63, C = 40, n = rows * C;
    float *x = lkt_rand(n, 2), *g = lkt_rand(n, 1), *w = lkt_rand(C, 1), *m = lkt_rand(3 * C, 1), *s = lkt_rand(2 * C, 1);
    float *ws = lkt_rand(bna_ws_floats(rows, C), 1), *a = lkt_rand(n, 1), *b = lkt_rand(n, 1);
    lk_batch_statistics_cl(rows, C, x, m);
    lk_batch_norm_act_param_grad_cl(rows, C, x, g, m, w, w, 1e-5f, LK_ACT_GELU, ws, s);
    SAME_ON_1_AND_2("batch_norm_act_cl thread-count invariance", a, b, n,
                    lk_batch_norm_act_cl(rows, C, x, m, w, w, 1e-5f, LK_ACT_GELU, ws, a),
                    lk_batch_norm_act_cl(rows, C, x, m, w, w, 1e-5f, LK_ACT_GELU, ws, b));
    SAME_ON_1_AND_2("batch_norm_act_param_grad_cl thread-count invariance", a, b, 2 * C,
                    lk_batch_norm_act_param_grad_cl(rows, C, x, g, m, w, w, 1e-5f, LK_ACT_GELU, ws, a),
                    lk_batch_norm_act_param_grad_cl(rows, C, x, g, m, w, w, 1e-5f, LK_ACT_GELU, ws, b));
    SAME_ON_1_AND_2("batch_norm_act_grad_cl thread-count invariance", a, b, n,
                    lk_batch_norm_act_grad_cl(rows, C, x, g, m, w, w, s, 1e-5f, LK_ACT_GELU, ws, a),
                    lk_batch_norm_act_grad_cl(rows, C, x, g, m, w, w, s, 1e-5f, LK_ACT_GELU, ws, b));
    free(x); free(g); free(w); free(m); free(s); free(ws); free(a); free(b);
  }
}

/* ---- Linear ---------------------------------------------------------------------------------------- */

typedef struct { long rows; int K, N; const float *dy, *x; } linear_ctx;
static double linear_f(const double *W, const void *c) {
  const linear_ctx *s = (const linear_ctx *)c;
  double f = 0.0;
  for (long r = 0; r < s->rows; ++r)
    for (int n = 0; n < s->N; ++n) {
      double y = 0.0;
      for (int k = 0; k < s->K; ++k) y += s->x[r * s->K + k] * W[(long)n * s->K + k];
      f += s->dy[r * s->N + n] * y;
    }
  return f;
}

static void linear_grad_case(long rows, int K, int N, int fd) {
  float *dy = lkt_rand(rows * N, 1), *x = lkt_rand(rows * K, 1), *dw = lkt_rand((long)N * K, 1), *r = lkt_rand((long)N * K, 1);
  char what[128];
  lk_linear_grad_weight(rows, K, N, dy, x, dw);
  lk_linear_grad_weight_naive(rows, K, N, dy, x, r);
  snprintf(what, sizeof what, "linear_grad_weight rows%ld K%d N%d vs naive", rows, K, N);
  lkt_check(what, dw, r, (long)N * K, 1e-5 * sqrt(rows + 1.0));
  if (fd) { /* FD of Σ dy ⊙ x·Wᵀ, h = 1e-3 */
    linear_ctx c = {rows, K, N, dy, x};
    float *W = lkt_rand((long)N * K, 1);
    double *Wd = to_double(W, (long)N * K);
    fd_grad(linear_f, &c, Wd, (long)N * K, 1e-3, r);
    snprintf(what, sizeof what, "linear_grad_weight rows%ld K%d N%d vs finite diff", rows, K, N);
    lkt_check(what, dw, r, (long)N * K, FD_TOL_LINEAR * sqrt(rows + 1.0));
    free(W); free(Wd);
  }
  free(dy); free(x); free(dw); free(r);
}

static void test_linear_grad(void) {
  for (int t = 0; t < 16; ++t) {
    long rows = PICK();
    int K = PICK(), N = PICK();
    linear_grad_case(rows, K, N, rows * K * N * (long)K * N < 30000000L);
  }
  linear_grad_case(0, 5, 7, 0);            /* no rows: dw = 0 */
  linear_grad_case(2 * 197, 192, 576, 0);   /* qkv at batch 2 */
  linear_grad_case(3 * 197, 768, 192, 0);   /* fc2 */
  linear_grad_case(1000, 33, 17, 1);
  { /* thread-count invariance at a training shape */
    long rows = 4 * 197;
    int K = 192, N = 576;
    float *dy = lkt_rand(rows * N, 1), *x = lkt_rand(rows * K, 1), *a = lkt_rand((long)N * K, 1), *b = lkt_rand((long)N * K, 1);
    SAME_ON_1_AND_2("linear_grad_weight thread-count invariance", a, b, (long)N * K,
                    lk_linear_grad_weight(rows, K, N, dy, x, a), lk_linear_grad_weight(rows, K, N, dy, x, b));
    free(dy); free(x); free(a); free(b);
  }
}

/* ---- Max pooling ----------------------------------------------------------------------------------- */

typedef struct { int B, C, Hh, Ww, kh, kw, sh, sw, ph, pw; const float *dy; } pool_ctx;
static double pool_f(const double *x, const void *c) {
  const pool_ctx *s = (const pool_ctx *)c;
  int Ho = (s->Hh + 2 * s->ph - s->kh) / s->sh + 1, Wo = (s->Ww + 2 * s->pw - s->kw) / s->sw + 1;
  double f = 0.0;
  for (long p = 0; p < (long)s->B * s->C; ++p)
    for (int oh = 0; oh < Ho; ++oh)
      for (int ow = 0; ow < Wo; ++ow) {
        double m = -INFINITY;
        for (int ki = 0; ki < s->kh; ++ki)
          for (int kj = 0; kj < s->kw; ++kj) {
            int ih = oh * s->sh - s->ph + ki, iw = ow * s->sw - s->pw + kj;
            if (ih >= 0 && ih < s->Hh && iw >= 0 && iw < s->Ww) m = fmax(m, x[(p * s->Hh + ih) * s->Ww + iw]);
          }
        f += s->dy[(p * Ho + oh) * Wo + ow] * m;
      }
  return f;
}

static void test_maxpool_grad(void) {
  for (int t = 0; t < 16; ++t) {
    int k = lkt_int(1, 4), s = lkt_int(1, 3), p = lkt_int(0, k / 2), H = lkt_int(k, 13), W = lkt_int(k, 13), B = lkt_int(1, 2), C = lkt_int(1, 4);
    int Ho = (H + 2 * p - k) / s + 1, Wo = (W + 2 * p - k) / s + 1, ties = t % 4 == 3;
    long nx = (long)B * C * H * W, ny = (long)B * C * Ho * Wo;
    float *x = lkt_rand(nx, 1), *dy = lkt_rand(ny, 1), *dx = lkt_rand(nx, 1), *r = lkt_rand(nx, 1);
    char what[128];
    if (ties) for (long i = 0; i < nx; ++i) x[i] = (float)lkt_int(0, 2); /* many equal maxima */
    else { /* distinct values 1/64 apart (shuffled), so ±h never changes an argmax */
      for (long i = 0; i < nx; ++i) x[i] = (float)i / 64.0f;
      for (long i = nx - 1; i > 0; --i) { long j = lkt_int(0, (int)i); float tmp = x[i]; x[i] = x[j]; x[j] = tmp; }
    }
    lk_maxpool2d_grad(B, C, H, W, k, k, s, s, p, p, x, dy, dx);
    lk_maxpool2d_grad_naive(B, C, H, W, k, k, s, s, p, p, x, dy, r);
    snprintf(what, sizeof what, "maxpool2d_grad %dx%dx%dx%d k%d s%d p%d ties%d vs naive", B, C, H, W, k, s, p, ties);
    if (s >= k) lkt_check_exact(what, dx, r, nx); /* windows do not overlap: pure routing */
    else lkt_check(what, dx, r, nx, 2e-6);         /* overlapping windows: float sums of ≤ k² terms */
    if (!ties) { /* FD, h = 1e-4 */
      pool_ctx c = {B, C, H, W, k, k, s, s, p, p, dy};
      double *xd = to_double(x, nx);
      fd_grad(pool_f, &c, xd, nx, 1e-4, r);
      snprintf(what, sizeof what, "maxpool2d_grad %dx%dx%dx%d k%d s%d p%d vs finite diff", B, C, H, W, k, s, p);
      lkt_check(what, dx, r, nx, FD_TOL_LINEAR);
      free(xd);
    }
    free(x); free(dy); free(dx); free(r);
  }
  { /* ties go to the first maximum in scan order; a −inf window to its first valid element */
    const float x[4] = {1, 1, 1, 1}, dy[1] = {1}, want[4] = {1, 0, 0, 0};
    const float xi[4] = {-INFINITY, -INFINITY, -INFINITY, -INFINITY}, dy4[4] = {1, 2, 3, 4}, want_i[4] = {1, 2, 3, 4};
    float dx[4];
    lk_maxpool2d_grad(1, 1, 2, 2, 2, 2, 2, 2, 0, 0, x, dy, dx);
    lkt_check_exact("maxpool2d_grad tie -> first in scan order", dx, want, 4);
    /* 2×2 of −inf, k2 s1 p1: output (oh, ow)'s first valid input is (max(oh-1,0), max(ow-1,0)) */
    {
      const float dy9[9] = {1, 2, 3, 4, 5, 6, 7, 8, 9}, want9[4] = {1 + 2 + 4 + 5, 3 + 6, 7 + 8, 9};
      lk_maxpool2d_grad(1, 1, 2, 2, 2, 2, 1, 1, 1, 1, xi, dy9, dx);
      lkt_check_exact("maxpool2d_grad all -inf windows -> first valid", dx, want9, 4);
    }
    lk_maxpool2d_grad(1, 1, 2, 2, 1, 1, 1, 1, 0, 0, xi, dy4, dx);
    lkt_check_exact("maxpool2d_grad 1x1 identity", dx, want_i, 4);
  }
  { /* thread-count invariance, overlapping windows */
    int B = 2, C = 5, H = 31, W = 29, Ho = (H + 2 - 3) / 2 + 1, Wo = (W + 2 - 3) / 2 + 1;
    long nx = (long)B * C * H * W, ny = (long)B * C * Ho * Wo;
    float *x = lkt_rand(nx, 1), *dy = lkt_rand(ny, 1), *a = lkt_rand(nx, 1), *b = lkt_rand(nx, 1);
    SAME_ON_1_AND_2("maxpool2d_grad thread-count invariance", a, b, nx,
                    lk_maxpool2d_grad(B, C, H, W, 3, 3, 2, 2, 1, 1, x, dy, a), lk_maxpool2d_grad(B, C, H, W, 3, 3, 2, 2, 1, 1, x, dy, b));
    free(x); free(dy); free(a); free(b);
  }
}

/* ---- Circular padding, slices --------------------------------------------------------------------- */

typedef struct { long P; int Hh, Ww, l, r, t, b; const float *dy; } cpad_ctx;
static double cpad_f(const double *x, const void *c) {
  const cpad_ctx *s = (const cpad_ctx *)c;
  long Ho = (long)s->Hh + s->t + s->b, Wo = (long)s->Ww + s->l + s->r;
  double f = 0.0;
  for (long p = 0; p < s->P; ++p)
    for (long i = 0; i < Ho; ++i)
      for (long j = 0; j < Wo; ++j) {
        long si = ((i - s->t) % s->Hh + s->Hh) % s->Hh, sj = ((j - s->l) % s->Ww + s->Ww) % s->Ww;
        f += s->dy[(p * Ho + i) * Wo + j] * x[(p * s->Hh + si) * s->Ww + sj];
      }
  return f;
}

typedef struct { long outer, L, inner, before, after; const float *ds; } slice_ctx;
/* Σ ds ⊙ y[:, before:before+L, :] */
static double slice_f(const double *y, const void *c) {
  const slice_ctx *s = (const slice_ctx *)c;
  long Lo = s->before + s->L + s->after;
  double f = 0.0;
  for (long o = 0; o < s->outer; ++o)
    for (long l = 0; l < s->L; ++l)
      for (long i = 0; i < s->inner; ++i) f += s->ds[(o * s->L + l) * s->inner + i] * y[(o * Lo + s->before + l) * s->inner + i];
  return f;
}

static void test_layout_grads(void) {
  for (int t = 0; t < 16; ++t) {
    long P = lkt_int(1, 5);
    int H = lkt_int(1, 12), W = lkt_int(1, 12);
    int l = lkt_int(0, W), r = t % 2 ? 0 : lkt_int(0, W), top = lkt_int(0, H), bot = t % 3 ? 0 : lkt_int(0, H);
    long n = P * H * W, Ho, Wo, np;
    if (t == 15) { l = -1; top = -1; if (W < 3) W = 3; if (H < 3) H = 3; n = P * H * W; } /* cropping */
    Ho = H + top + bot; Wo = W + l + r; np = P * Ho * Wo;
    {
      float *dy = lkt_rand(np, 1), *dx = lkt_rand(n, 1), *ref = lkt_rand(n, 1), *x = lkt_rand(n, 1), *px = lkt_rand(np, 1);
      char what[128];
      double lhs = 0.0, rhs = 0.0, mag = 0.0;
      lk_circular_pad_grad(P, H, W, l, r, top, bot, dy, dx);
      lk_circular_pad_grad_naive(P, H, W, l, r, top, bot, dy, ref);
      snprintf(what, sizeof what, "circular_pad_grad %ldx%dx%d l%d r%d t%d b%d vs naive", P, H, W, l, r, top, bot);
      /* each dx element sums up to ⌈Ho/H⌉·⌈Wo/W⌉ float terms: the tolerance grows with them */
      lkt_check(what, dx, ref, n, 1e-6 * (1.0 + (double)lk_ceil_div(lk_max_l(Ho, 1), H) * (double)lk_ceil_div(lk_max_l(Wo, 1), W)));
      {
        cpad_ctx c = {P, H, W, l, r, top, bot, dy};
        double *xd = to_double(x, n);
        fd_grad(cpad_f, &c, xd, n, 1e-3, ref);
        snprintf(what, sizeof what, "circular_pad_grad %ldx%dx%d l%d r%d t%d b%d vs finite diff", P, H, W, l, r, top, bot);
        lkt_check(what, dx, ref, n, FD_TOL_LINEAR);
        free(xd);
      }
      /* adjoint of layout.c's forward (whose pad order is top, bottom, left, right) */
      lk_circular_pad(P, H, W, top, bot, l, r, x, px);
      for (long i = 0; i < np; ++i) lhs += (double)px[i] * dy[i], mag += fabs((double)px[i] * dy[i]);
      for (long i = 0; i < n; ++i) rhs += (double)x[i] * dx[i];
      {
        /* The two sums cancel (random signs), so their difference is judged against the size of
         * their terms: dx's float rounding, as in the naive comparison above, times Σ|terms|. */
        const double err = fabs(lhs - rhs) / (mag + 1e-30),
                     tol = 1e-6 * (1.0 + (double)lk_ceil_div(lk_max_l(Ho, 1), H) * (double)lk_ceil_div(lk_max_l(Wo, 1), W));
        char detail[96];
        snprintf(what, sizeof what, "circular_pad_grad is lk_circular_pad's adjoint (t%d b%d l%d r%d)", top, bot, l, r);
        snprintf(detail, sizeof detail, "|<pad x, dy> - <x, dx>| / sum|terms| = %.3g (tol %.1g)", err, tol);
        check_true(what, err <= tol, detail);
      }
      free(dy); free(dx); free(ref); free(x); free(px);
    }
  }
  {
    long P = 64, H = 14, W = 14;
    float *dy = lkt_rand(P * 17 * 15, 1), *a = lkt_rand(P * H * W, 1), *b = lkt_rand(P * H * W, 1);
    SAME_ON_1_AND_2("circular_pad_grad thread-count invariance", a, b, P * H * W,
                    lk_circular_pad_grad(P, (int)H, (int)W, 1, 0, 3, 0, dy, a), lk_circular_pad_grad(P, (int)H, (int)W, 1, 0, 3, 0, dy, b));
    free(dy); free(a); free(b);
  }
  for (int t = 0; t < 10; ++t) {
    long outer = lkt_int(1, 5), L = lkt_int(0, 9), inner = t < 3 ? 1 : PICK(), before = lkt_int(0, 3), after = lkt_int(0, 3);
    long Lo = before + L + after, n = outer * L * inner, ny = outer * Lo * inner;
    float *x = lkt_rand(n, 1), *y = lkt_rand(ny, 1), *r = lkt_rand(ny, 1), *yy = lkt_rand(ny, 1);
    char what[128];
    slice_ctx c = {outer, L, inner, before, after, x};
    double *yd = to_double(yy, ny);
    lk_zero_pad(outer, L, inner, before, after, x, y);
    lk_zero_pad_naive(outer, L, inner, before, after, x, r);
    snprintf(what, sizeof what, "zero_pad %ldx%ldx%ld +%ld+%ld vs naive", outer, L, inner, before, after);
    lkt_check_exact(what, y, r, ny);
    fd_grad(slice_f, &c, yd, ny, 1e-3, r);
    snprintf(what, sizeof what, "zero_pad %ldx%ldx%ld +%ld+%ld vs finite diff of the slice", outer, L, inner, before, after);
    lkt_check(what, y, r, ny, FD_TOL_LINEAR);
    {
      /* With a base: base + the padded x, into a new buffer and in place over base, against the
       * unfused add (zero_pad, then base + it) and the naive reference; tolerance 0 (the same
       * single rounding; only a −0 base element may come back as +0 unfused). */
      float *base = lkt_rand(ny, 1), *want = lkt_rand(ny, 1), *got = lkt_rand(ny, 1), *inplace = lkt_copy(base, ny);
      for (long i = 0; i < ny; ++i) want[i] = base[i] + y[i];
      lk_zero_pad_add(outer, L, inner, before, after, x, base, got);
      snprintf(what, sizeof what, "zero_pad_add %ldx%ldx%ld +%ld+%ld == zero_pad + add", outer, L, inner, before, after);
      lkt_check(what, got, want, ny, 0.0);
      lk_zero_pad_add(outer, L, inner, before, after, x, inplace, inplace);
      snprintf(what, sizeof what, "zero_pad_add %ldx%ldx%ld in place over base", outer, L, inner);
      lkt_check(what, inplace, want, ny, 0.0);
      lk_zero_pad_add_naive(outer, L, inner, before, after, x, base, got);
      snprintf(what, sizeof what, "zero_pad_add %ldx%ldx%ld vs naive", outer, L, inner);
      lkt_check(what, inplace, got, ny, 0.0);
      free(base); free(want); free(got); free(inplace);
    }
    free(x); free(y); free(r); free(yy); free(yd);
  }
}

/* ---- Cross-entropy ---------------------------------------------------------------------------------- */

typedef struct { int B, K; const float *t; } ce_ctx;
static double ce_f(const double *z, const void *c) {
  const ce_ctx *s = (const ce_ctx *)c;
  double f = 0.0;
  for (int b = 0; b < s->B; ++b) {
    const double *zb = z + (long)b * s->K;
    double m = -INFINITY, e = 0.0;
    for (int k = 0; k < s->K; ++k) m = fmax(m, zb[k]);
    for (int k = 0; k < s->K; ++k) e += exp(zb[k] - m);
    for (int k = 0; k < s->K; ++k) f -= s->t[(long)b * s->K + k] * (zb[k] - m - log(e));
  }
  return f / s->B;
}

static void test_cross_entropy(void) {
  static const int Bs[] = {1, 3, 16, 67}, Ks[] = {1, 2, 10, 100, 1000, 17};
  for (size_t bi = 0; bi < sizeof Bs / sizeof Bs[0]; ++bi)
    for (size_t ki = 0; ki < sizeof Ks / sizeof Ks[0]; ++ki) {
      int B = Bs[bi], K = Ks[ki], mode = (int)((bi + ki) % 3);
      long n = (long)B * K;
      float scale = mode == 2 ? 30.0f : 3.0f; /* mode 2: confident, large logits */
      float *z = lkt_rand(n, scale), *t = lkt_rand(n, 1), *d = lkt_rand(n, 1), *r = lkt_rand(n, 1), loss, lref;
      char what[128];
      for (int b = 0; b < B; ++b) {
        float *tb = t + (long)b * K;
        if (mode == 1) { /* a random distribution */
          double s = 0.0;
          for (int k = 0; k < K; ++k) { tb[k] = tb[k] * tb[k] + 0.01f; s += tb[k]; }
          for (int k = 0; k < K; ++k) tb[k] = (float)(tb[k] / s);
        } else { /* label 0.1-smoothed one-hot, the label also the largest logit in mode 2 */
          int label = lkt_int(0, K - 1);
          for (int k = 0; k < K; ++k) tb[k] = 0.1f / (float)K + (k == label ? 0.9f : 0.0f);
          if (mode == 2) z[(long)b * K + label] = 40.0f;
        }
      }
      lk_cross_entropy(B, K, z, t, &loss);
      lk_cross_entropy_naive(B, K, z, t, &lref);
      snprintf(what, sizeof what, "cross_entropy B%d K%d mode%d vs naive", B, K, mode);
      lkt_check(what, &loss, &lref, 1, 2e-6);
      lk_cross_entropy_grad(B, K, z, t, d);
      lk_cross_entropy_grad_naive(B, K, z, t, r);
      snprintf(what, sizeof what, "cross_entropy_grad B%d K%d mode%d vs naive", B, K, mode);
      lkt_check(what, d, r, n, 1e-5);
      {
        float *zz = lkt_copy(z, n);
        lk_cross_entropy_grad(B, K, zz, t, zz);
        snprintf(what, sizeof what, "cross_entropy_grad B%d K%d in place", B, K);
        lkt_check_exact(what, zz, d, n);
        free(zz);
      }
      if (n <= 2000) { /* FD of the loss, h = 1e-4 (targets sum to 1 up to float rounding) */
        ce_ctx c = {B, K, t};
        double *zd = to_double(z, n);
        fd_grad(ce_f, &c, zd, n, 1e-4, r);
        snprintf(what, sizeof what, "cross_entropy_grad B%d K%d mode%d vs finite diff", B, K, mode);
        lkt_check(what, d, r, n, FD_TOL_SMOOTH);
        free(zd);
      }
      free(z); free(t); free(d); free(r);
    }
  { /* the loss of a uniform prediction is log K; thread-count invariance at a training shape */
    int B = 256, K = 1000;
    float *z = lkt_rand((long)B * K, 0), *t = lkt_rand((long)B * K, 1), l1, l2, want = (float)log(1000.0);
    for (long i = 0; i < (long)B * K; ++i) t[i] = i % K == i / K % K ? 1.0f : 0.0f;
    lk_cross_entropy(B, K, z, t, &l1);
    lkt_check("cross_entropy of uniform logits = log K", &l1, &want, 1, 1e-7);
    for (long i = 0; i < (long)B * K; ++i) z[i] = lkt_unit() * 5.0f;
    SAME_ON_1_AND_2("cross_entropy thread-count invariance", &l1, &l2, 1, lk_cross_entropy(B, K, z, t, &l1), lk_cross_entropy(B, K, z, t, &l2));
    free(z); free(t);
  }
}

/* ---- Optimisers ------------------------------------------------------------------------------------- */

/* PyTorch's operation order written as scalar float code, one rounding per operation, FMA where
 * PyTorch's vectorised kernels use one (on FMA targets): the kernels must match this bit for bit. */
static float mirror_fma(float a, float b, float c) {
#if defined(__FMA__)
  return fmaf(a, b, c);
#else
  volatile float p = a * b; /* no FMA on this target: PyTorch's a·b + c rounds twice */
  return p + c;
#endif
}

/* The hyperparameters are the Python doubles (0.9, 0.999, ...), as in PyTorch; they reach the
 * float kernels as PyTorch passes them: cast to float where a tensor op takes them as a scalar. */
static void adamw_mirror(long n, float *p, const float *grad, float *m, float *v, double lr, double beta1, double beta2,
                         double eps, double wd, long step, float gscale) {
  double bc1 = 1.0 - pow(beta1, (double)step), bc2 = 1.0 - pow(beta2, (double)step);
  float decay = (float)(1.0 - lr * wd), w1 = (float)(1.0 - beta1), w2 = (float)(1.0 - beta2), b2 = (float)beta2;
  float bc2s = (float)sqrt(bc2), nstep = (float)(-(lr / bc1)), epsf = (float)eps;
  for (long i = 0; i < n; ++i) {
    volatile float g = grad[i] * gscale, pp = p[i] * decay, mm, vv, t, den;
    mm = mirror_fma(w1, g - m[i], m[i]);
    vv = v[i] * b2;
    t = w2 * g;
    t = t * g;
    vv = vv + t;
    den = sqrtf(vv);
    den = den / bc2s;
    den = den + epsf;
    t = nstep * mm;
    t = t / den;
    pp = pp + t;
    p[i] = pp; m[i] = mm; v[i] = vv;
  }
}

static void sgd_mirror(long n, float *p, const float *grad, float *buf, double lr, double momentum, double wd, long step,
                       float gscale) {
  float nlr = (float)-lr, mu = (float)momentum, wdf = (float)wd; /* all three reach tensor ops as float */
  for (long i = 0; i < n; ++i) {
    volatile float g = grad[i] * gscale, b;
    if (wd != 0.0) g = mirror_fma(wdf, p[i], g);
    if (momentum != 0.0) {
      if (step > 1) { b = buf[i] * mu; g = b + g; }
      buf[i] = g;
    }
    p[i] = mirror_fma(nlr, g, p[i]);
  }
}

static void test_optim(void) {
  static const long lens[] = {1, 7, 8, 33, 1000, 100003};
  for (size_t li = 0; li < sizeof lens / sizeof lens[0]; ++li) {
    long n = lens[li];
    float *x = lkt_rand(n, 3);
    double s = lk_sum_squares(n, x), r = lk_sum_squares_naive(n, x);
    char what[64], detail[96];
    snprintf(what, sizeof what, "sum_squares n=%ld vs naive", n);
    snprintf(detail, sizeof detail, "rel err %.3g (tol 1e-11): %.17g vs %.17g", fabs(s - r) / r, s, r);
    check_true(what, fabs(s - r) <= 1e-11 * r, detail); /* two orders of n double adds: ≤ n·2^-53 ≈ 1e-11 */
    free(x);
  }
  {
    long n = 1000003;
    float *x = lkt_rand(n, 1);
    double a, b;
    LKT_SET_THREADS(1);
    a = lk_sum_squares(n, x);
    LKT_SET_THREADS(2);
    b = lk_sum_squares(n, x);
    check_true("sum_squares thread-count invariance", memcmp(&a, &b, sizeof a) == 0, "exact");
    free(x);
  }
  for (size_t li = 0; li < sizeof lens / sizeof lens[0]; ++li) {
    long n = lens[li];
    float *p = lkt_rand(n, 0.5f), *m = lkt_rand(n, 0), *v = lkt_rand(n, 0);
    float *pr = lkt_copy(p, n), *mr = lkt_copy(m, n), *vr = lkt_copy(v, n);
    float *pm = lkt_copy(p, n), *mm = lkt_copy(m, n), *vm = lkt_copy(v, n);
    double lr = li % 2 ? 1e-2 : 3e-4, wd = li % 2 ? 0.05 : 0.0, b1 = li % 3 ? 0.9 : 0.95, b2 = li % 3 ? 0.999 : 0.98;
    float gscale = li % 3 ? 0.7f : 1.0f;
    char what[128];
    for (long step = 1; step <= 6; ++step) {
      float *g = lkt_rand(n, step == 3 ? 1e-4f : 1.0f); /* a step with tiny gradients: eps matters */
      lk_adamw_step(n, p, g, m, v, (float)lr, (float)b1, (float)b2, 1e-8f, (float)wd, step, gscale);
      lk_adamw_step_naive(n, pr, g, mr, vr, (float)lr, (float)b1, (float)b2, 1e-8f, (float)wd, step, gscale);
      adamw_mirror(n, pm, g, mm, vm, lr, b1, b2, 1e-8, wd, step, gscale);
      free(g);
    }
    snprintf(what, sizeof what, "adamw 6 steps n=%ld wd%g p vs naive", n, (double)wd);
    lkt_check(what, p, pr, n, 1e-5); /* float vs double over 6 steps: a few ulp of max|p| */
    snprintf(what, sizeof what, "adamw 6 steps n=%ld m vs naive", n);
    lkt_check(what, m, mr, n, 1e-5);
    snprintf(what, sizeof what, "adamw 6 steps n=%ld v vs naive", n);
    lkt_check(what, v, vr, n, 1e-5);
    snprintf(what, sizeof what, "adamw 6 steps n=%ld p == PyTorch-order mirror", n);
    lkt_check_exact(what, p, pm, n);
    snprintf(what, sizeof what, "adamw 6 steps n=%ld m, v == PyTorch-order mirror", n);
    lkt_check_exact(what, m, mm, n);
    lkt_check_exact(what, v, vm, n);
    free(p); free(m); free(v); free(pr); free(mr); free(vr); free(pm); free(mm); free(vm);
  }
  { /* the float hyperparameters stand for their decimals: 1 − 0.999f must act as 1 − 0.999 */
    static const double dec[] = {0.9, 0.999, 0.95, 0.98, 0.9999, 1e-3, 3e-4, 5e-2, 1e-8, 0.1, 0.12345679, 2e-40};
    int ok = 1;
    char detail[128] = "all exact";
    for (size_t i = 0; i < sizeof dec / sizeof dec[0]; ++i) {
      double got = lk__optim_decimal((float)dec[i]);
      if (got != dec[i] && !(dec[i] < 1e-38 && got == (float)dec[i])) { /* denormals: kept as the float */
        ok = 0;
        snprintf(detail, sizeof detail, "%.17g gives %.17g", dec[i], got);
      }
    }
    check_true("adamw hyperparameters read as their decimals", ok, detail);
  }
  { /* first step from zero state, by hand: p1 = p0·(1 − lr·wd) − lr·g/(|g| + eps) */
    const float p0[4] = {1.0f, -2.0f, 0.5f, 0.0f}, g[4] = {0.3f, -0.02f, 1e-9f, 4.0f};
    float p[4], m[4] = {0}, v[4] = {0}, want[4];
    memcpy(p, p0, sizeof p);
    for (int i = 0; i < 4; ++i) want[i] = (float)(p0[i] * (1.0 - 1e-3 * 0.1) - 1e-3 * g[i] / (fabs((double)g[i]) + 1e-8));
    lk_adamw_step(4, p, g, m, v, 1e-3f, 0.9f, 0.999f, 1e-8f, 0.1f, 1, 1.0f);
    lkt_check("adamw first step by hand", p, want, 4, 1e-6);
  }
  for (size_t li = 0; li < sizeof lens / sizeof lens[0]; ++li) {
    long n = lens[li];
    for (int mom = 0; mom < 2; ++mom) {
      float *p = lkt_rand(n, 1), *b = lkt_rand(n, 1), *pr = lkt_copy(p, n), *br = lkt_copy(b, n), *pm = lkt_copy(p, n), *bm = lkt_copy(b, n);
      double momentum = mom ? 0.9 : 0.0, wd = li % 2 ? 5e-4 : 0.0;
      float gscale = li % 3 ? 0.5f : 1.0f;
      char what[128];
      for (long step = 1; step <= 5; ++step) {
        float *g = lkt_rand(n, 1);
        lk_sgd_step(n, p, g, mom ? b : NULL, 0.1f, (float)momentum, (float)wd, step, gscale);
        lk_sgd_step_naive(n, pr, g, br, 0.1f, (float)momentum, (float)wd, step, gscale);
        sgd_mirror(n, pm, g, bm, 0.1, momentum, wd, step, gscale);
        free(g);
      }
      snprintf(what, sizeof what, "sgd 5 steps n=%ld momentum%g wd%g p vs naive", n, (double)momentum, (double)wd);
      lkt_check(what, p, pr, n, 1e-5); /* a few ulp of max|p| */
      snprintf(what, sizeof what, "sgd 5 steps n=%ld momentum%g p == PyTorch-order mirror", n, (double)momentum);
      lkt_check_exact(what, p, pm, n);
      if (mom) {
        snprintf(what, sizeof what, "sgd 5 steps n=%ld momentum buffer vs naive", n);
        lkt_check(what, b, br, n, 1e-5);
        lkt_check_exact("sgd momentum buffer == PyTorch-order mirror", b, bm, n);
      }
      free(p); free(b); free(pr); free(br); free(pm); free(bm);
    }
  }
}

/* ---- Attention ---------------------------------------------------------------------------------- */

/* Σ dO ⊙ sdpa(q, k, v) in double, with q, k, v packed in one vector [q | k | v] of dense
 * [B, Nq, H·D], [B, Nk, Hk·D] and [B, Nk, Hk·D]: the forward the gradient is differentiated from. */
typedef struct { int B, Nq, Nk, H, Hk, D; double scale; const float *dout; } sdpa_ctx;
static double sdpa_f(const double *x, const void *c) {
  const sdpa_ctx *s = (const sdpa_ctx *)c;
  const int C = s->H * s->D, Ck = s->Hk * s->D;
  const double *q = x, *k = q + (long)s->B * s->Nq * C, *v = k + (long)s->B * s->Nk * Ck;
  double f = 0.0, *p = (double *)malloc((size_t)(s->Nk > 0 ? s->Nk : 1) * sizeof(double));
  for (int b = 0; b < s->B; ++b)
    for (int h = 0; h < s->H; ++h)
      for (int i = 0; i < s->Nq; ++i) {
        const int g = h / (s->H / s->Hk);
        double m = -INFINITY, sum = 0.0;
        for (int j = 0; j < s->Nk; ++j) {
          double d = 0.0;
          for (int e = 0; e < s->D; ++e)
            d += q[((long)b * s->Nq + i) * C + h * s->D + e] * k[((long)b * s->Nk + j) * Ck + g * s->D + e];
          p[j] = d * s->scale;
          m = p[j] > m ? p[j] : m;
        }
        for (int j = 0; j < s->Nk; ++j) sum += (p[j] = exp(p[j] - m));
        for (int e = 0; e < s->D; ++e) {
          double o = 0.0;
          for (int j = 0; j < s->Nk; ++j) o += p[j] / sum * v[((long)b * s->Nk + j) * Ck + g * s->D + e];
          f += s->dout[((long)b * s->Nq + i) * C + h * s->D + e] * o;
        }
      }
  free(p);
  return f;
}

/* ---- local_attention's gradient ------------------------------------------------------------------ */

/* f = Σ dO ⊙ local_attention(q, k, v) in double, x = [q | k | v] dense. */
typedef struct { int B, T, N, H, Hk, D; double scale; const float *dout; } la_ctx;
static double la_f(const double *x, const void *c) {
  const la_ctx *s = (const la_ctx *)c;
  const long C = (long)s->H * s->D, Ck = (long)s->Hk * s->D;
  const double *q = x, *k = q + (long)s->B * s->N * C, *v = k + (long)s->B * s->T * s->N * Ck;
  double f = 0.0, *w = (double *)malloc((size_t)s->T * sizeof(double));
  for (int b = 0; b < s->B; ++b)
    for (int n = 0; n < s->N; ++n)
      for (int h = 0; h < s->H; ++h) {
        const int g = h / (s->H / s->Hk);
        double m = -INFINITY, sum = 0.0;
        for (int t = 0; t < s->T; ++t) {
          double d = 0.0;
          for (int e = 0; e < s->D; ++e)
            d += q[((long)b * s->N + n) * C + h * s->D + e] * k[(((long)b * s->T + t) * s->N + n) * Ck + g * s->D + e];
          w[t] = d * s->scale;
          m = w[t] > m ? w[t] : m;
        }
        for (int t = 0; t < s->T; ++t) sum += (w[t] = exp(w[t] - m));
        for (int e = 0; e < s->D; ++e) {
          double o = 0.0;
          for (int t = 0; t < s->T; ++t) o += w[t] / sum * v[(((long)b * s->T + t) * s->N + n) * Ck + g * s->D + e];
          f += s->dout[((long)b * s->N + n) * C + h * s->D + e] * o;
        }
      }
  free(w);
  return f;
}

/* lk_local_attention_grad as a training graph calls it, gathered densely into g = [dq | dk | dv]:
 * q and dO in rows `pad` floats longer than dense, k and v the column ranges of one [·, 2·Ck + pad]
 * K/V buffer, dq in padded rows and dk, dv the column ranges of one [·, 2·Ck + pad] buffer. One
 * call for dq and one for dk and dv (as the graph runs them), or one call for all three. */
static void la_grad_call(int B, int T, int N, int H, int Hk, int D, int pad, int one_call, const float *x,
                         const float *dout, float scale, float *g) {
  const long C = (long)H * D, Ck = (long)Hk * D, nq = (long)B * N, nk = (long)B * T * N;
  const long rq = C + pad, rk = 2 * Ck + pad;
  float *qi = lkt_rand(nq * rq, 9), *kv = lkt_rand(nk * rk, 9), *oi = lkt_rand(nq * rq, 9);
  float *dq = lkt_rand(nq * rq, 9), *dkv = lkt_rand(nk * rk, 9);
  for (long r = 0; r < nq; ++r) {
    memcpy(qi + r * rq, x + r * C, (size_t)C * sizeof(float));
    memcpy(oi + r * rq, dout + r * C, (size_t)C * sizeof(float));
  }
  for (long r = 0; r < nk; ++r) {
    memcpy(kv + r * rk, x + nq * C + r * Ck, (size_t)Ck * sizeof(float));
    memcpy(kv + r * rk + Ck, x + nq * C + nk * Ck + r * Ck, (size_t)Ck * sizeof(float));
  }
  if (one_call) {
    lk_local_attention_grad(B, T, N, H, Hk, D, qi, rq, kv, rk, kv + Ck, rk, oi, rq, dq, rq, dkv, rk, dkv + Ck, rk, scale);
  } else {
    lk_local_attention_grad(B, T, N, H, Hk, D, qi, rq, kv, rk, kv + Ck, rk, oi, rq, dq, rq, NULL, 0, NULL, 0, scale);
    lk_local_attention_grad(B, T, N, H, Hk, D, qi, rq, kv, rk, kv + Ck, rk, oi, rq, NULL, 0, dkv, rk, dkv + Ck, rk, scale);
  }
  for (long r = 0; r < nq; ++r) memcpy(g + r * C, dq + r * rq, (size_t)C * sizeof(float));
  for (long r = 0; r < nk; ++r) {
    memcpy(g + nq * C + r * Ck, dkv + r * rk, (size_t)Ck * sizeof(float));
    memcpy(g + nq * C + nk * Ck + r * Ck, dkv + r * rk + Ck, (size_t)Ck * sizeof(float));
  }
  free(qi); free(kv); free(oi); free(dq); free(dkv);
}

static void test_local_attention_grad(void) {
  /* B, T, N, H, Hk, D: SAG's stage 1 (18 variants, 4 query heads on one kv head, D = 48) on few
   * locations, grouped heads, as many kv heads as heads, D not a multiple of the vector width, one
   * variant, many variants, and locations in more than one block of 32 (the last one partial). */
  static const int shapes[][6] = {{2, 18, 5, 4, 1, 48}, {2, 5, 7, 4, 2, 12}, {1, 3, 4, 2, 2, 5},
                                  {2, 1, 3, 2, 1, 16}, {1, 70, 2, 2, 1, 8}, {2, 3, 37, 2, 1, 8}};
  for (int t = 0; t < (int)(sizeof shapes / sizeof shapes[0]); ++t) {
    const int B = shapes[t][0], T = shapes[t][1], N = shapes[t][2], H = shapes[t][3], Hk = shapes[t][4], D = shapes[t][5];
    const long C = (long)H * D, Ck = (long)Hk * D, nq = (long)B * N, nk = (long)B * T * N, n = nq * C + 2 * nk * Ck;
    const float scale = 1.0f / sqrtf((float)D);
    float *x = lkt_rand(n, 1.5f), *dout = lkt_rand(nq * C, 1), *got = lkt_rand(n, 1), *ref = lkt_rand(n, 1);
    char what[96];
    la_grad_call(B, T, N, H, Hk, D, t % 2 ? 3 : 0, 0, x, dout, scale, got);
    lk_local_attention_grad_naive(B, T, N, H, Hk, D, x, x + nq * C, x + nq * C + nk * Ck, dout, ref, ref + nq * C,
                                  ref + nq * C + nk * Ck, scale);
    snprintf(what, sizeof what, "local_attention_grad B%d T%d N%d H%d/%d D%d vs naive", B, T, N, H, Hk, D);
    /* Sums of T products of sums of D products, in float. */
    lkt_check(what, got, ref, n, 1e-5 * sqrt((double)(T + D)));
    {
      float *all = lkt_rand(n, 1);
      la_grad_call(B, T, N, H, Hk, D, 1, 1, x, dout, scale, all);
      snprintf(what, sizeof what, "local_attention_grad B%d T%d N%d H%d/%d D%d: one call = two", B, T, N, H, Hk, D);
      lkt_check(what, all, got, n, 0.0);
      free(all);
    }
    if (n <= 4000) { /* FD of Σ dO ⊙ local_attention(q, k, v), h = 1e-3 */
      la_ctx c = {B, T, N, H, Hk, D, scale, dout};
      double *xd = to_double(x, n);
      float *fd = lkt_rand(n, 1);
      fd_grad(la_f, &c, xd, n, 1e-3, fd);
      snprintf(what, sizeof what, "local_attention_grad B%d T%d N%d H%d/%d D%d vs finite diff", B, T, N, H, Hk, D);
      lkt_check(what, got, fd, n, FD_TOL_SMOOTH);
      free(xd); free(fd);
    }
    if (t == 0) {
      float *one = lkt_rand(n, 1);
      SAME_ON_1_AND_2("local_attention_grad thread-count invariance", one, got, n,
                      la_grad_call(B, T, N, H, Hk, D, 0, 0, x, dout, scale, one),
                      la_grad_call(B, T, N, H, Hk, D, 0, 0, x, dout, scale, got));
      free(one);
    }
    free(x); free(dout); free(got); free(ref);
  }
}

/* Calls the kernel `fn` with q, k, v read from one [B, N, C + 2·Ck] qkv buffer (row stride
 * pad ≥ C + 2·Ck) when fused, else from separate buffers with rows `pad` floats longer than dense;
 * the gradients go to the same layout. Gathers the result densely into g = [dq | dk | dv]. */
typedef void (*sdpa_grad_fn)(int, int, int, int, int, int, const float *, long, const float *, long, const float *,
                             long, const float *, long, float *, long, float *, long, float *, long, float);
static void sdpa_grad_call(sdpa_grad_fn fn, int B, int Nq, int Nk, int H, int Hk, int D, int fused, int pad,
                           const float *x, const float *dout, float scale, float *g) {
  const long C = (long)H * D, Ck = (long)Hk * D, nq = (long)B * Nq, nk = (long)B * Nk;
  const long rq = fused ? C + 2 * Ck + pad : C + pad, rk = fused ? rq : Ck + pad;
  float *in = lkt_rand(fused ? nq * rq : nq * rq + 2 * nk * rk, 9), *out = lkt_rand(fused ? nq * rq : nq * rq + 2 * nk * rk, 9);
  float *qi = in, *ki = fused ? in + C : in + nq * rq, *vi = fused ? in + C + Ck : ki + nk * rk;
  float *qo = out, *ko = fused ? out + C : out + nq * rq, *vo = fused ? out + C + Ck : ko + nk * rk;
  for (long r = 0; r < nq; ++r) memcpy(qi + r * rq, x + r * C, (size_t)C * sizeof(float));
  for (long r = 0; r < nk; ++r) {
    memcpy(ki + r * rk, x + nq * C + r * Ck, (size_t)Ck * sizeof(float));
    memcpy(vi + r * rk, x + nq * C + nk * Ck + r * Ck, (size_t)Ck * sizeof(float));
  }
  fn(B, Nq, Nk, H, Hk, D, qi, rq, ki, rk, vi, rk, dout, C, qo, rq, ko, rk, vo, rk, scale);
  for (long r = 0; r < nq; ++r) memcpy(g + r * C, qo + r * rq, (size_t)C * sizeof(float));
  for (long r = 0; r < nk; ++r) {
    memcpy(g + nq * C + r * Ck, ko + r * rk, (size_t)Ck * sizeof(float));
    memcpy(g + nq * C + nk * Ck + r * Ck, vo + r * rk, (size_t)Ck * sizeof(float));
  }
  free(in); free(out);
}

static void test_sdpa_grad(void) {
  /* B, Nq, Nk, H, Hk, D: localvit_fmnist's shape, grouped heads, D not a multiple of the vector
   * width, query tiles with tails (64 queries per tile up to 256 keys, 16 beyond), one key,
   * Nq ≠ Nk, DeiT-tiny's shape, SAG's (D = 48: three-vector blocks on AVX-512), D = 96, and keys
   * a multiple of 256 (rows of Kᵀ, S and dS one cache line longer: lk__ag_stride). */
  static const int shapes[][6] = {{2, 50, 50, 2, 2, 32}, {3, 17, 17, 4, 2, 24}, {2, 40, 33, 3, 3, 16}, {1, 65, 65, 2, 1, 8},
                                  {2, 5, 1, 2, 2, 7}, {2, 1, 9, 2, 1, 5}, {1, 197, 197, 3, 3, 64},
                                  {1, 290, 290, 2, 1, 12}, {1, 300, 300, 4, 1, 48}, {2, 33, 33, 2, 2, 96},
                                  {1, 256, 256, 2, 1, 16}, {2, 21, 512, 2, 1, 24}};
  for (int t = 0; t < (int)(sizeof shapes / sizeof shapes[0]); ++t) {
    const int B = shapes[t][0], Nq = shapes[t][1], Nk = shapes[t][2], H = shapes[t][3], Hk = shapes[t][4], D = shapes[t][5];
    const long C = (long)H * D, Ck = (long)Hk * D, n = (long)B * (Nq * C + 2 * Nk * Ck);
    const float scale = 1.0f / sqrtf((float)D);
    const int fused = Nq == Nk, pad = t % 2 ? 3 : 0;
    float *x = lkt_rand(n, 1.5f), *dout = lkt_rand((long)B * Nq * C, 1), *got = lkt_rand(n, 1), *ref = lkt_rand(n, 1);
    char what[96];
    sdpa_grad_call(lk_sdpa_grad, B, Nq, Nk, H, Hk, D, fused, pad, x, dout, scale, got);
    sdpa_grad_call(lk_sdpa_grad_naive, B, Nq, Nk, H, Hk, D, fused, pad, x, dout, scale, ref);
    snprintf(what, sizeof what, "sdpa_grad B%d Nq%d Nk%d H%d/%d D%d%s vs naive", B, Nq, Nk, H, Hk, D, fused ? " qkv" : "");
    /* Sums of Nk products of sums of D products, in float. */
    lkt_check(what, got, ref, n, 1e-5 * sqrt((double)(Nk + D)));
    if (n <= 3000) { /* FD of Σ dO ⊙ sdpa(q, k, v), h = 1e-3 */
      sdpa_ctx c = {B, Nq, Nk, H, Hk, D, scale, dout};
      double *xd = to_double(x, n);
      float *fd = lkt_rand(n, 1);
      fd_grad(sdpa_f, &c, xd, n, 1e-3, fd);
      snprintf(what, sizeof what, "sdpa_grad B%d Nq%d Nk%d H%d/%d D%d vs finite diff", B, Nq, Nk, H, Hk, D);
      lkt_check(what, got, fd, n, FD_TOL_SMOOTH);
      free(xd); free(fd);
    }
    if (t == 0) {
      float *one = lkt_rand(n, 1);
      SAME_ON_1_AND_2("sdpa_grad thread-count invariance", one, got, n,
                      sdpa_grad_call(lk_sdpa_grad, B, Nq, Nk, H, Hk, D, fused, pad, x, dout, scale, one),
                      sdpa_grad_call(lk_sdpa_grad, B, Nq, Nk, H, Hk, D, fused, pad, x, dout, scale, got));
      free(one);
    }
    free(x); free(dout); free(got); free(ref);
  }
}

/* ---- Thread-count invariance of the row and channel reductions ---------------------------------- */

static void test_thread_invariance(void) {
  int B = 4;
  long C = 96, S = 49, n = (long)B * C * S;
  float *x = lkt_rand(n, 2), *g = lkt_rand(n, 1), *a = lkt_rand(n, 1), *b = lkt_rand(n, 1);
  SAME_ON_1_AND_2("batch_normalize thread-count invariance", a, b, n,
                  lk_batch_normalize(B, C, S, x, g, x, 1e-5f, a), lk_batch_normalize(B, C, S, x, g, x, 1e-5f, b));
  SAME_ON_1_AND_2("batch_normalize_grad thread-count invariance", a, b, n,
                  lk_batch_normalize_grad(B, C, S, x, g, x, 1e-5f, a), lk_batch_normalize_grad(B, C, S, x, g, x, 1e-5f, b));
  SAME_ON_1_AND_2("batch_normalize_param_grad thread-count invariance", a, b, 2 * C,
                  lk_batch_normalize_param_grad(B, C, S, x, g, 1e-5f, a), lk_batch_normalize_param_grad(B, C, S, x, g, 1e-5f, b));
  SAME_ON_1_AND_2("batch_moments thread-count invariance", a, b, 2 * C,
                  lk_batch_moments(B, C, S, x, a), lk_batch_moments(B, C, S, x, b));
  SAME_ON_1_AND_2("normalize_grad thread-count invariance", a, b, n,
                  lk_normalize_grad(B * S, C, x, g, 1e-6f, a), lk_normalize_grad(B * S, C, x, g, 1e-6f, b));
  SAME_ON_1_AND_2("softmax_grad thread-count invariance", a, b, n,
                  lk_softmax_grad(B * S, C, x, g, a), lk_softmax_grad(B * S, C, x, g, b));
  SAME_ON_1_AND_2("unary_grad gelu thread-count invariance", a, b, n - 3,
                  lk_unary_grad(LK_ACT_GELU, n - 3, x, g, a), lk_unary_grad(LK_ACT_GELU, n - 3, x, g, b));
  SAME_ON_1_AND_2("cross_entropy_grad thread-count invariance", a, b, n,
                  lk_cross_entropy_grad(B * 7, (int)(C * S / 7), x, g, a), lk_cross_entropy_grad(B * 7, (int)(C * S / 7), x, g, b));
  free(x); free(g); free(a); free(b);
}

int main(void) {
  test_unary_grad();
  test_softmax_grad();
  test_normalize();
  test_batchnorm();
  test_reduce_sum();
  test_layernorm_param_grad();
  test_conv_grad();
  test_channels_last();
  test_batch_norm_act();
  test_linear_grad();
  test_maxpool_grad();
  test_layout_grads();
  test_cross_entropy();
  test_optim();
  test_sdpa_grad();
  test_local_attention_grad();
  test_thread_invariance();
  return lkt_finish("test_train");
}
