/* locus-requires: prologue.h gemm.c conv.c layout.c */
/* Training: the backward kernels of the forward ops (activations, softmax, the normalisations
 * without affine, reductions for broadcast operands, conv2d, linear's weight, max pooling,
 * circular padding, slices), plus the two forward normalisations whose gradients live here.
 * The emitter's backward pass chains these with the forward kernels: an affine norm's
 * gradient is lk_normalize_grad after the elementwise products, a bias gradient is
 * lk_reduce_sum, a linear's input gradient is an ordinary lk_gemm with W read in place.
 *
 * Every kernel is deterministic and independent of the thread count: each output element is
 * produced by one thread in a fixed order, or (lk_reduce_sum with few outputs) from partial sums
 * over blocks fixed by the shapes alone, combined in block order. The gradients whose terms
 * cancel (normalisations, softmax) and the batch statistics are computed in double and rounded
 * once per output. */

/* ---- Small helpers -------------------------------------------------------------------------------- */

static long lk__grad_mod(long a, long m) { long r = a % m; return r < 0 ? r + m : r; }

/* Double-lane helpers for the gradients that cancel: a norm's gradient subtracts two nearly equal
 * terms (dx̂ − mean(dx̂) and x̂·mean(dx̂ ⊙ x̂); for two values per group they agree to 1 − eps/var),
 * and so does softmax's dy − Σ dy·y. Statistics and the elementwise formula run in double, on
 * LK_VW-wide double vectors, each sum in fixed lanes then the lanes in order, the scalar tail
 * last. The vectors are never passed or returned by value (hence the macro): wider than the
 * target's registers, that would change the calling convention. The rows are L1-resident, so
 * the wider arithmetic costs little next to the memory traffic. */
typedef double lk__grad_vd __attribute__((vector_size(LK_VW * 8)));
#define lk__grad_vdload(p) __builtin_convertvector(lk_vload(p), lk__grad_vd)
static inline double lk__grad_vdsum(const lk__grad_vd *v) {
  double s = 0.0;
  for (int i = 0; i < LK_VW; ++i) s += (*v)[i];
  return s;
}

/* Σ x[0:n) in double. */
static double lk__grad_dsum(const float *x, long n) {
  lk__grad_vd a = {0};
  long i = 0;
  double s;
  for (; i + LK_VW <= n; i += LK_VW) a += lk__grad_vdload(x + i);
  s = lk__grad_vdsum(&a);
  for (; i < n; ++i) s += x[i];
  return s;
}

/* Σ (x − mean)² in double. */
static double lk__grad_dsq(const float *x, long n, double mean) {
  lk__grad_vd a = {0};
  long i = 0;
  double s;
  for (; i + LK_VW <= n; i += LK_VW) {
    lk__grad_vd d = lk__grad_vdload(x + i) - mean;
    a += d * d;
  }
  s = lk__grad_vdsum(&a);
  for (; i < n; ++i) s += (x[i] - mean) * (x[i] - mean);
  return s;
}

/* *sg += Σ g, *sgx += Σ (x − mean)·g, in double. */
static void lk__grad_dgx(const float *x, const float *g, long n, double mean, double *sg, double *sgx) {
  lk__grad_vd a = {0}, b = {0};
  long i = 0;
  double s1, s2;
  for (; i + LK_VW <= n; i += LK_VW) {
    lk__grad_vd gv = lk__grad_vdload(g + i);
    a += gv;
    b += (lk__grad_vdload(x + i) - mean) * gv;
  }
  s1 = lk__grad_vdsum(&a);
  s2 = lk__grad_vdsum(&b);
  for (; i < n; ++i) {
    s1 += g[i];
    s2 += (x[i] - mean) * g[i];
  }
  *sg += s1;
  *sgx += s2;
}

/* n < LK_VW floats from p, zero-padded to a vector; and the first n lanes of v stored to p: a
 * row's last partial vector, computed with the same vector arithmetic as the rest. */
static inline lk_vf lk__grad_load_part(const float *p, long n) {
  float t[LK_VW] = {0};
  memcpy(t, p, (size_t)n * sizeof(float));
  return lk_vload(t);
}
static inline void lk__grad_store_part(float *p, long n, lk_vf v) {
  float t[LK_VW];
  lk_vstore(t, v);
  memcpy(p, t, (size_t)n * sizeof(float));
}

/* y = (x − mean)·scale + shift, rounded once (scale = rstd·w: x̂·w + b). y may equal x. */
static void lk__grad_dnorm(const float *x, long n, double mean, double scale, double shift, float *y) {
  long i = 0;
  for (; i + LK_VW <= n; i += LK_VW)
    lk_vstore(y + i, __builtin_convertvector((lk__grad_vdload(x + i) - mean) * scale + shift, lk_vf));
  for (; i < n; ++i) y[i] = (float)((x[i] - mean) * scale + shift);
}

/* dx = scale·(g − a − (x − mean)·rstd·b), rounded once (a = mean(g), b = mean(g ⊙ x̂); scale =
 * rstd, or rstd·w for a BatchNorm's weight w, whose dx̂ = w·g). dx may equal g. */
static void lk__grad_dnorm_grad(const float *x, const float *g, long n, double mean, double rstd, double a,
                                double b, double scale, float *dx) {
  double rb = rstd * b;
  long i = 0;
  for (; i + LK_VW <= n; i += LK_VW) {
    lk__grad_vd xh = lk__grad_vdload(x + i) - mean;
    lk_vstore(dx + i, __builtin_convertvector((lk__grad_vdload(g + i) - a - xh * rb) * scale, lk_vf));
  }
  for (; i < n; ++i) dx[i] = (float)((g[i] - a - (x[i] - mean) * rb) * scale);
}

/* ---- Activations -----------------------------------------------------------------------------------
 * dy ⊙ f'(x) for one vector. The derivatives follow PyTorch's backward formulas (relu: x > 0;
 * relu6: 0 < x < 6; hardswish: 0 below −3, x/3 + 1/2 up to 3, then 1; hardsigmoid: 1/6 strictly
 * inside (−3, 3); sigmoid: s·(1 − s), evaluated without cancellation). Masks select dy or 0, so
 * an infinite dy outside the active range gives 0, not NaN. */
static inline lk_vf lk__grad_vact(int act, lk_vf x, lk_vf dy) {
  switch (act) {
  case LK_ACT_GELU: {
    /* Φ(x) + x·φ(x), Φ as in lk_vgelu: from erfc when a lane is below −2 (1 + erf cancels). */
    lk_vf cdf = lk_vany(x < -2.0f) ? 0.5f * lk_verfc(x * -0.707106781186547524f)
                                   : 0.5f * (1.0f + lk_verf(x * 0.707106781186547524f));
    lk_vf pdf = lk_vexp(x * x * -0.5f) * 0.398942280401432678f;
    return dy * (cdf + x * pdf);
  }
  case LK_ACT_RELU: return lk_vselect(x > 0.0f, dy, lk_vzero());
  case LK_ACT_RELU6: return lk_vselect((x > 0.0f) & (x < 6.0f), dy, lk_vzero());
  case LK_ACT_HSWISH: {
    /* x/3 + 1/2 as (x + 3/2)·(1/3): no vector division (it cost as much as the rest of a
     * BatchNorm pass), and the sum is exact near its zero at −3/2, where x/3 + 1/2 cancels. */
    lk_vf mid = dy * ((x + 1.5f) * (1.0f / 3.0f));
    return lk_vselect(x < -3.0f, lk_vzero(), lk_vselect(x <= 3.0f, mid, dy));
  }
  case LK_ACT_HSIGMOID: return lk_vselect((x > -3.0f) & (x < 3.0f), dy * (1.0f / 6.0f), lk_vzero());
  case LK_ACT_SIGMOID: {
    /* s(1 − s) = t/(1 + t)² with t = e^−|x| (even in x): no 1 − s cancelling for |x| ≫ 1. */
    lk_vf t = lk_vexp(lk_vselect(x < 0.0f, x, -x)), u = 1.0f + t;
    return dy * (t / (u * u));
  }
  default: return dy;
  }
}

/* dx[0:n] = dy ⊙ act'(x), act an LK_ACT_* code (LK_ACT_NONE and unknown codes: dx = dy). The last
 * partial vector goes through a padded copy, so every element sees the vector arithmetic
 * wherever a thread's range starts (as activation.c). dx may equal dy or x. */
void lk_unary_grad(int act, long n, const float *x, const float *dy, float *dx) {
  long nv = lk_ceil_div(n, LK_VW);
  LK_OMP(parallel for schedule(static) if(n >= LK_PAR_MIN))
  for (long i = 0; i < nv; ++i) {
    long at = i * LK_VW;
    if (at + LK_VW <= n) {
      lk_vstore(dx + at, lk__grad_vact(act, lk_vload(x + at), lk_vload(dy + at)));
    } else {
      lk__grad_store_part(dx + at, n - at, lk__grad_vact(act, lk__grad_load_part(x + at, n - at), lk__grad_load_part(dy + at, n - at)));
    }
  }
}

/* ---- Softmax ------------------------------------------------------------------------------------- */

/* Softmax over the last axis of [rows, L], from its output y: dx = y ⊙ (dy − Σ_j dy_j·y_j).
 * One row per task; the dot product and dy − s in double (where one output dominates, dy_j − s
 * cancels), each dx rounded once. dx may equal dy. */
void lk_softmax_grad(long rows, long L, const float *y, const float *dy, float *dx) {
  LK_OMP(parallel for schedule(static) if(rows * L >= LK_PAR_MIN))
  for (long r = 0; r < rows; ++r) {
    const float *yr = y + r * L, *gr = dy + r * L;
    float *xr = dx + r * L;
    lk__grad_vd a = {0};
    double s;
    long j = 0;
    for (; j + LK_VW <= L; j += LK_VW) a += lk__grad_vdload(yr + j) * lk__grad_vdload(gr + j);
    s = lk__grad_vdsum(&a);
    for (; j < L; ++j) s += (double)yr[j] * gr[j];
    for (j = 0; j + LK_VW <= L; j += LK_VW)
      lk_vstore(xr + j, __builtin_convertvector(lk__grad_vdload(yr + j) * (lk__grad_vdload(gr + j) - s), lk_vf));
    for (; j < L; ++j) xr[j] = (float)(yr[j] * (gr[j] - s));
  }
}

/* ---- Normalisation over the last axis (LayerNorm without affine) --------------------------------- */

/* Row statistics as lk_layernorm computes them: first-pass mean m, correction delta (the mean
 * of x − m), and 1/sqrt(var + eps) with the biased variance. x̂ = (x − m − delta)·rstd. */
static void lk__grad_row_stats(const float *x, long C, float eps, float *m, float *delta, float *rstd) {
  float s1, s2, var;
  *m = lk_sum(x, C) / (float)C;
  lk_dev_sums(x, C, *m, &s1, &s2);
  *delta = s1 / (float)C;
  var = s2 / (float)C - *delta * *delta;
  *rstd = 1.0f / sqrtf((var > 0.0f ? var : 0.0f) + eps);
}

/* y[rows, C] = (x − mean)/sqrt(var + eps) per row, biased variance: the forward of the affine-free
 * LayerNorm whose gradient is below (same arithmetic as lk_layernorm with w = b = NULL, so the
 * two agree bit for bit). y may equal x. */
void lk_normalize(long rows, long C, const float *x, float eps, float *y) {
  LK_OMP(parallel for schedule(static) if(rows * C >= LK_PAR_MIN))
  for (long r = 0; r < rows; ++r) {
    const float *xr = x + r * C;
    float *yr = y + r * C, m, delta, rstd;
    lk__grad_row_stats(xr, C, eps, &m, &delta, &rstd);
    for (long c = 0; c < C; ++c) yr[c] = (xr[c] - m - delta) * rstd;
  }
}

/* Statistics of a group of n = nb·len values, nb blocks of len contiguous floats, block k at
 * x + k·bs (a row: one block; a BatchNorm channel: B planes), in double: mean, then the biased
 * variance from the deviations (two-pass, exact even when |mean| ≫ std). */
static void lk__grad_group_stats(const float *x, long nb, long bs, long len, double *mean, double *var) {
  double n = (double)nb * (double)len, s = 0.0, q = 0.0;
  for (long k = 0; k < nb; ++k) s += lk__grad_dsum(x + k * bs, len);
  s /= n;
  for (long k = 0; k < nb; ++k) q += lk__grad_dsq(x + k * bs, len, s);
  *mean = s;
  *var = q / n;
}

/* dx = w·rstd·(g − mean(g) − x̂·mean(g ⊙ x̂)) over one group (blocks as above), statistics
 * recomputed from x (two passes over data that is in cache, cheaper than storing them). */
static void lk__grad_group_norm_grad(const float *x, const float *g, long nb, long bs, long len, float eps, double w,
                                     float *dx) {
  double mean, var, rstd, n = (double)nb * (double)len, sg = 0.0, sgx = 0.0, a, b;
  lk__grad_group_stats(x, nb, bs, len, &mean, &var);
  rstd = 1.0 / sqrt(var + eps);
  for (long k = 0; k < nb; ++k) lk__grad_dgx(x + k * bs, g + k * bs, len, mean, &sg, &sgx);
  a = sg / n;
  b = sgx * rstd / n;
  for (long k = 0; k < nb; ++k) lk__grad_dnorm_grad(x + k * bs, g + k * bs, len, mean, rstd, a, b, w * rstd, dx + k * bs);
}

/* dx = rstd·(dx̂ − mean(dx̂) − x̂·mean(dx̂ ⊙ x̂)) per row of [rows, C], in double (see the helpers):
 * accurate even for a handful of channels, where the two terms agree to 1 − eps/var. An affine
 * LayerNorm's input gradient is this applied to dx̂ = dy ⊙ w. dx may equal dxhat. */
void lk_normalize_grad(long rows, long C, const float *x, const float *dxhat, float eps, float *dx) {
  LK_OMP(parallel for schedule(static) if(rows * C >= LK_PAR_MIN))
  for (long r = 0; r < rows; ++r) lk__grad_group_norm_grad(x + r * C, dxhat + r * C, 1, 0, C, eps, 1.0, dx + r * C);
}

/* An affine LayerNorm's input gradient in one pass: dx = normalize_grad(x, dy ⊙ w) (+ res), the
 * `mul` that formed dx̂ = dy ⊙ w and the `add` of the residual branch's gradient folded in (the
 * products pass makes it). Each row's dx̂ goes to a per-thread buffer of C floats (in L1), so the
 * result is the unfused sequence's bit for bit: dx̂ rounded to float, dx rounded, then + res.
 * w [C]; res [rows, C] or NULL; dx may equal dy or res. Out of memory gives NaN rows. */
void lk_layernorm_grad(long rows, long C, const float *x, const float *dy, const float *w, const float *res, float eps,
                       float *dx) {
  LK_OMP(parallel if(rows * C >= LK_PAR_MIN))
  {
    float *g = lk_scratch_alloc((size_t)C);
    LK_OMP(for schedule(static))
    for (long r = 0; r < rows; ++r) {
      const float *dyr = dy + r * C, *rr = res ? res + r * C : NULL;
      float *dxr = dx + r * C;
      if (!g) {
        for (long c = 0; c < C; ++c) dxr[c] = NAN;
        continue;
      }
      for (long c = 0; c < C; ++c) g[c] = dyr[c] * w[c];
      if (!rr) {
        lk__grad_group_norm_grad(x + r * C, g, 1, 0, C, eps, 1.0, dxr);
        continue;
      }
      lk__grad_group_norm_grad(x + r * C, g, 1, 0, C, eps, 1.0, g);
      for (long c = 0; c < C; ++c) dxr[c] = g[c] + rr[c];
    }
    lk_scratch_free(g);
  }
}

/* ---- Batch normalisation (training mode) ----------------------------------------------------------
 * x [B, C, S], statistics per channel over B and S (n = B·S elements), biased variance, in
 * double, then the affine part: y = x̂·w + b. One channel per task: its B planes of S contiguous
 * floats, each plane summed in fixed double lanes, the planes in order. (S = 1, BatchNorm1d on
 * [B, C], reads a channel with stride C: a thread's consecutive channels share those cache lines.)
 * The gradients of w and b come from lk_batch_normalize_param_grad, the input's from
 * lk_batch_normalize_grad: each recomputes the statistics, cheaper than storing x̂. w and b may be
 * NULL (1 and 0). */

/* y = (x − mean_c)/sqrt(var_c + eps)·w_c + b_c, each y rounded once. y may equal x. */
void lk_batch_normalize(int B, long C, long S, const float *x, const float *w, const float *b, float eps, float *y) {
  LK_OMP(parallel for schedule(static) if((long)B * C * S >= LK_PAR_MIN))
  for (long c = 0; c < C; ++c) {
    double mean, var, scale;
    lk__grad_group_stats(x + c * S, B, C * S, S, &mean, &var);
    scale = (w ? w[c] : 1.0) / sqrt(var + eps);
    for (int k = 0; k < B; ++k)
      lk__grad_dnorm(x + ((long)k * C + c) * S, S, mean, scale, b ? b[c] : 0.0, y + ((long)k * C + c) * S);
  }
}

/* dx = w_c·rstd_c·(dy − mean_c(dy) − x̂·mean_c(dy ⊙ x̂)), the means over B and S. dx may equal dy. */
void lk_batch_normalize_grad(int B, long C, long S, const float *x, const float *dy, const float *w, float eps, float *dx) {
  LK_OMP(parallel for schedule(static) if((long)B * C * S >= LK_PAR_MIN))
  for (long c = 0; c < C; ++c) lk__grad_group_norm_grad(x + c * S, dy + c * S, B, C * S, S, eps, w ? w[c] : 1.0, dx + c * S);
}

/* out[0:C) = Σ dy ⊙ x̂ (the weight's gradient), out[C:2C) = Σ dy (the bias's), per channel over
 * B and S. */
void lk_batch_normalize_param_grad(int B, long C, long S, const float *x, const float *dy, float eps, float *out) {
  LK_OMP(parallel for schedule(static) if((long)B * C * S >= LK_PAR_MIN))
  for (long c = 0; c < C; ++c) {
    double mean, var, sg = 0.0, sgx = 0.0;
    lk__grad_group_stats(x + c * S, B, C * S, S, &mean, &var);
    for (int k = 0; k < B; ++k) lk__grad_dgx(x + ((long)k * C + c) * S, dy + ((long)k * C + c) * S, S, mean, &sg, &sgx);
    out[c] = (float)(sgx / sqrt(var + eps));
    out[C + c] = (float)sg;
  }
}

/* out[0:C) = mean per channel, out[C:2C) = unbiased variance Σ(x − mean)²/(n − 1), n = B·S: what
 * PyTorch's BatchNorm feeds into running_var. n = 1 has no unbiased variance: NaN (PyTorch
 * refuses to train BatchNorm on one value per channel). */
void lk_batch_moments(int B, long C, long S, const float *x, float *out) {
  double n = (double)B * (double)S;
  LK_OMP(parallel for schedule(static) if((long)B * C * S >= LK_PAR_MIN))
  for (long c = 0; c < C; ++c) {
    double mean, var;
    lk__grad_group_stats(x + c * S, B, C * S, S, &mean, &var);
    out[c] = (float)mean;
    out[C + c] = n > 1.0 ? (float)(var * n / (n - 1.0)) : NAN;
  }
}

/* ---- Batch normalisation over tokens (channels last) -------------------------------------------
 * x [rows, C], rows = B·N tokens (the `token-layout` form of a feed-forward's BatchNorm): the same
 * statistics per channel, over the rows, read in order as whole rows. (Walking one channel strip
 * down all the rows instead reads 64 bytes every C floats: with C a power of two the strip falls
 * into a few cache sets and missed L2 on every pass, 7 GB/s.)
 *
 * Sums are taken about a pivot p_c = x[0, c] (d = x − p is exact in float for values near p), in
 * double, over blocks of LK__BNCL_ROWS rows (fixed by the shape, each block's sums in registers),
 * and the blocks' partials are added in block order, so the result does not depend on the thread
 * count. One pass gives s1 = Σd, s2 = Σd² (mean = p + s1/n, var = s2/n − (s1/n)², which only
 * cancels when |mean − p| ≫ std, which a value of the channel itself does not allow) and, for the
 * gradients, Σg and Σg·d. The elementwise pass runs in float on (x − p) − (mean − p), so a large
 * mean costs no precision; each output is within a few float roundings of its terms' scale
 * (where the terms cancel, as for a channel of two values, that is all the result is). */
#define LK__BNCL_ROWS 64

/* Channels [c, c + NV·LK_VW) of block [r0, r1): s1, s2 (with G also Σg, Σg·d) in NV double
 * vectors each, in registers through the block's rows, then stored to part[k·C + c]. NV and G are
 * constants where this is inlined: NV = 1 with G (4 double vectors), 2 without. */
__attribute__((always_inline)) static inline long lk__grad_cl_chunks(const int NV, const int G, long c, long r0, long r1,
                                                                    long C, const float *x, const float *g,
                                                                    double *part) {
  for (; c + NV * LK_VW <= C; c += NV * LK_VW) {
    const lk__grad_vd zero = {0};
    lk__grad_vd s1[2], s2[2], sg[2], sgx[2];
    lk_vf pv[2];
    for (int v = 0; v < NV; ++v) {
      s1[v] = s2[v] = sg[v] = sgx[v] = zero;
      pv[v] = lk_vload(x + c + v * LK_VW);
    }
    for (long r = r0; r < r1; ++r)
      for (int v = 0; v < NV; ++v) {
        lk__grad_vd d = __builtin_convertvector(lk_vload(x + r * C + c + v * LK_VW) - pv[v], lk__grad_vd);
        s1[v] += d;
        s2[v] += d * d;
        if (G) {
          lk__grad_vd gv = lk__grad_vdload(g + r * C + c + v * LK_VW);
          sg[v] += gv;
          sgx[v] += gv * d;
        }
      }
    for (int v = 0; v < NV; ++v) {
      long at = c + v * LK_VW;
      memcpy(part + at, &s1[v], sizeof s1[v]);
      memcpy(part + C + at, &s2[v], sizeof s2[v]);
      if (G) {
        memcpy(part + 2 * C + at, &sg[v], sizeof sg[v]);
        memcpy(part + 3 * C + at, &sgx[v], sizeof sgx[v]);
      }
    }
  }
  return c;
}

/* part[k·C + c] = the sums of block [r0, r1): s1, s2 (and Σg, Σg·d when g). */
static void lk__grad_cl_block(long r0, long r1, long C, const float *x, const float *g, double *part) {
  long c = g ? lk__grad_cl_chunks(1, 1, 0, r0, r1, C, x, g, part) : lk__grad_cl_chunks(2, 0, 0, r0, r1, C, x, g, part);
  if (!g) c = lk__grad_cl_chunks(1, 0, c, r0, r1, C, x, g, part);
  for (; c < C; ++c) {
    double s1 = 0.0, s2 = 0.0, sg = 0.0, sgx = 0.0;
    for (long r = r0; r < r1; ++r) {
      double d = x[r * C + c] - x[c];
      s1 += d;
      s2 += d * d;
      if (g) {
        sg += g[r * C + c];
        sgx += g[r * C + c] * d;
      }
    }
    part[c] = s1;
    part[C + c] = s2;
    if (g) {
      part[2 * C + c] = sg;
      part[3 * C + c] = sgx;
    }
  }
}

/* Per-channel results of the sums (lk__grad_cl_stats), in one scratch allocation. */
typedef struct {
  double *part, *sums;          /* block partials [blocks][k][C]; their sums [k][C] */
  float *dm, *rstd, *a, *rb;    /* mean − p; 1/sqrt(var + eps); with g: mean(g), rstd·mean(g ⊙ x̂) */
  float *scale, *shift;         /* the factors of the elementwise pass */
  double *sgx;                  /* with g: Σ g·(x − mean) */
} lk__grad_cl_work;

/* Allocates the work area for k = 2 or 4 sums; 0 when out of memory. */
static int lk__grad_cl_alloc(long rows, long C, int k, lk__grad_cl_work *w) {
  long blocks = lk_ceil_div(rows, LK__BNCL_ROWS);
  float *f = lk_scratch_alloc((size_t)(2 * (blocks * k + k + 1) * C + 6 * C));
  if (!f) return 0;
  w->part = (double *)(void *)f;
  w->sums = w->part + blocks * k * C;
  w->sgx = w->sums + k * C;
  w->dm = (float *)(void *)(w->sgx + C);
  w->rstd = w->dm + C;
  w->a = w->rstd + C;
  w->rb = w->a + C;
  w->scale = w->rb + C;
  w->shift = w->scale + C;
  return 1;
}

/* The per-channel sums over all rows (with g when k = 4), then the statistics. */
static void lk__grad_cl_stats(long rows, long C, const float *x, const float *g, float eps, lk__grad_cl_work *w) {
  long blocks = lk_ceil_div(rows, LK__BNCL_ROWS), k = g ? 4 : 2;
  double n = (double)rows;
  LK_OMP(parallel for schedule(static) if(rows * C >= LK_PAR_MIN))
  for (long b = 0; b < blocks; ++b)
    lk__grad_cl_block(b * LK__BNCL_ROWS, lk_min_l(rows, (b + 1) * LK__BNCL_ROWS), C, x, g, w->part + b * k * C);
  /* Block by block, each adding a contiguous row of partials (the same order per channel as
   * channel by channel, whose stride of k·C doubles made every load a cache-set conflict). */
  for (long i = 0; i < k * C; ++i) w->sums[i] = 0.0;
  for (long b = 0; b < blocks; ++b)
    for (long i = 0; i < k * C; ++i) w->sums[i] += w->part[b * k * C + i];
  for (long c = 0; c < C; ++c) {
    double d = w->sums[c] / n, var = w->sums[C + c] / n - d * d, rstd = 1.0 / sqrt((var > 0.0 ? var : 0.0) + eps);
    w->dm[c] = (float)d;
    w->rstd[c] = (float)rstd;
    if (g) {
      double sg = w->sums[2 * C + c];
      w->sgx[c] = w->sums[3 * C + c] - d * sg; /* Σ g·(x − p) − (mean − p)·Σ g */
      w->a[c] = (float)(sg / n);
      w->rb[c] = (float)(w->sgx[c] * rstd * rstd / n);
    }
  }
}

/* The elementwise pass: y = ((x − p) − dm)·scale + shift, or with g, y = (g − a − ((x − p) − dm)·rb)·scale. */
static void lk__grad_cl_apply(long rows, long C, const float *x, const float *g, const lk__grad_cl_work *w, float *y) {
  LK_OMP(parallel for schedule(static) if(rows * C >= LK_PAR_MIN))
  for (long r = 0; r < rows; ++r) {
    const float *xr = x + r * C, *gr = g ? g + r * C : NULL;
    float *yr = y + r * C;
    long c = 0;
    for (; c + LK_VW <= C; c += LK_VW) {
      lk_vf xh = lk_vload(xr + c) - lk_vload(x + c) - lk_vload(w->dm + c);
      lk_vf v = gr ? lk_vload(gr + c) - lk_vload(w->a + c) - xh * lk_vload(w->rb + c) : xh;
      lk_vstore(yr + c, v * lk_vload(w->scale + c) + (gr ? lk_vzero() : lk_vload(w->shift + c)));
    }
    for (; c < C; ++c) {
      float xh = xr[c] - x[c] - w->dm[c];
      yr[c] = gr ? (gr[c] - w->a[c] - xh * w->rb[c]) * w->scale[c] : xh * w->scale[c] + w->shift[c];
    }
  }
}

/* y = (x − mean_c)/sqrt(var_c + eps)·w_c + b_c over the rows. y may equal x. Out of memory (here
 * and below): the channels-first kernel with B = rows and S = 1, which reads [rows, C] alike,
 * one channel strip at a time. */
void lk_batch_normalize_cl(long rows, long C, const float *x, const float *w, const float *b, float eps, float *y) {
  lk__grad_cl_work k;
  if (rows <= 0 || C <= 0) return;
  if (!lk__grad_cl_alloc(rows, C, 2, &k)) {
    lk_batch_normalize((int)rows, C, 1, x, w, b, eps, y);
    return;
  }
  lk__grad_cl_stats(rows, C, x, NULL, eps, &k);
  for (long c = 0; c < C; ++c) {
    k.scale[c] = k.rstd[c] * (w ? w[c] : 1.0f);
    k.shift[c] = b ? b[c] : 0.0f;
  }
  lk__grad_cl_apply(rows, C, x, NULL, &k, y);
  lk_scratch_free((float *)(void *)k.part);
}

/* dx = w_c·rstd_c·(dy − mean_c(dy) − x̂·mean_c(dy ⊙ x̂)) over the rows (as lk_batch_normalize_grad).
 * dx may equal dy. */
void lk_batch_normalize_grad_cl(long rows, long C, const float *x, const float *dy, const float *w, float eps, float *dx) {
  lk__grad_cl_work k;
  if (rows <= 0 || C <= 0) return;
  if (!lk__grad_cl_alloc(rows, C, 4, &k)) {
    lk_batch_normalize_grad((int)rows, C, 1, x, dy, w, eps, dx);
    return;
  }
  lk__grad_cl_stats(rows, C, x, dy, eps, &k);
  for (long c = 0; c < C; ++c) k.scale[c] = k.rstd[c] * (w ? w[c] : 1.0f);
  lk__grad_cl_apply(rows, C, x, dy, &k, dx);
  lk_scratch_free((float *)(void *)k.part);
}

/* out[0:C) = Σ dy ⊙ x̂, out[C:2C) = Σ dy per channel over the rows (as lk_batch_normalize_param_grad). */
void lk_batch_normalize_param_grad_cl(long rows, long C, const float *x, const float *dy, float eps, float *out) {
  lk__grad_cl_work k;
  if (rows <= 0 || C <= 0) return;
  if (!lk__grad_cl_alloc(rows, C, 4, &k)) {
    lk_batch_normalize_param_grad((int)rows, C, 1, x, dy, eps, out);
    return;
  }
  lk__grad_cl_stats(rows, C, x, dy, eps, &k);
  for (long c = 0; c < C; ++c) {
    out[c] = (float)(k.sgx[c] * k.rstd[c]);
    out[C + c] = (float)k.sums[2 * C + c];
  }
  lk_scratch_free((float *)(void *)k.part);
}

/* out[0:C) = mean per channel over the rows, out[C:2C) = unbiased variance (NaN for one row);
 * with lo, also lo[c] = the mean's rounding error, mean − out[c] rounded to float. */
static void lk__grad_cl_moments(long rows, long C, const float *x, float *out, float *lo) {
  double n = (double)rows;
  lk__grad_cl_work k;
  int scratch = lk__grad_cl_alloc(rows, C, 2, &k);
  if (scratch) lk__grad_cl_stats(rows, C, x, NULL, 0.0f, &k);
  for (long c = 0; c < C; ++c) {
    double mean, var;
    if (scratch) { /* sums about the pivot x[c] */
      double d = k.sums[c] / n;
      mean = x[c] + d;
      var = k.sums[C + c] / n - d * d;
    } else { /* out of memory: the channel's strip, two passes (as lk_batch_moments) */
      lk__grad_group_stats(x + c, rows, C, 1, &mean, &var);
    }
    out[c] = (float)mean;
    out[C + c] = n > 1.0 ? (float)((var < 0.0 ? 0.0 : var) * n / (n - 1.0)) : NAN; /* NaN data stays NaN */
    if (lo) lo[c] = (float)(mean - (double)out[c]);
  }
  if (scratch) lk_scratch_free((float *)(void *)k.part);
}

/* out [2, C] = mean, unbiased variance per channel over the rows, as lk_batch_moments. */
void lk_batch_moments_cl(long rows, long C, const float *x, float *out) {
  if (rows > 0 && C > 0) lk__grad_cl_moments(rows, C, x, out, NULL);
}

/* out [3, C]: the moments as lk_batch_moments_cl (the running statistics' rows), then the mean's
 * rounding error, so that (x − out[c]) − out[2C + c] is x − mean to float precision even where
 * |mean| ≫ std: the statistics batch_norm_act normalises with. */
void lk_batch_statistics_cl(long rows, long C, const float *x, float *out) {
  if (rows > 0 && C > 0) lk__grad_cl_moments(rows, C, x, out, out + 2 * C);
}

/* ---- BatchNorm over tokens from the batch's statistics, with its activation -----------------------
 * x [rows, C]; m [3, C] holds the batch mean, unbiased variance and the mean's rounding error over
 * the rows, as lk_batch_statistics_cl gives them (computed once per step, for the running
 * statistics too: the normalisation turns the variance back into the biased one, 0 for a single
 * row, and subtracts the mean in two parts, x − mean = (x − m[c]) − m[2C + c]). The forward is
 * one pass, y = act(x̂·w + b); the backward recomputes the pre-activation x̂·w + b from x in each
 * of its two passes, so it is never stored:
 * - lk_batch_norm_act_param_grad_cl: out[0:C) = Σ dy·x̂, out[C:2C) = Σ dy with dy = dz ⊙ act'(·),
 *   in float over blocks of LK__BNCL_ROWS rows, the blocks added in double in block order (the
 *   thread count does not change the result);
 * - lk_batch_norm_act_grad_cl: dx = w·rstd·(dy − Σdy/n − x̂·Σ(dy·x̂)/n), from those sums.
 * act is an LK_ACT_* code (LK_ACT_NONE: none); w and b may be NULL (1 and 0). ws is the
 * workspace, lk_batch_norm_act_workspace_floats(rows, C, kind) floats with Cp = C rounded up to
 * whole vectors: kind 0, the forward, 5·Cp; 1, the sums, 2·blocks·Cp + 5·Cp (blocks =
 * ⌈rows / LK__BNCL_ROWS⌉); 2, the input gradient, 7·Cp. NULL: the kernel allocates it for the call
 * (out of memory: the output is NaN). The emitter sizes it from the arena with the widest vector
 * (16) and 64-row blocks, which the #if below holds it to. The per-channel factors are
 * zero-padded to Cp, so a row's last partial vector computes on zeros. */

#if LK__BNCL_ROWS != 64 || LK_VW > 16
#error "Kernels+Training.swift's batchNormActWorkspace assumes 64-row blocks and vectors of at most 16 floats"
#endif

long lk_batch_norm_act_workspace_floats(long rows, long C, int kind) {
  long Cp = lk_ceil_div(C, LK_VW) * LK_VW;
  return kind == 0 ? 5 * Cp : kind == 1 ? 2 * lk_ceil_div(rows, LK__BNCL_ROWS) * Cp + 5 * Cp : 7 * Cp;
}

/* ws, or a scratch block of the kind's size when ws is NULL (*own set, freed by the caller); NULL
 * when out of memory, after filling y[0:n) with NaN. */
static float *lk__bna_ws(float *ws, long rows, long C, int kind, float **own, float *y, long n) {
  *own = NULL;
  if (ws) return ws;
  *own = lk_scratch_alloc((size_t)lk_batch_norm_act_workspace_floats(rows, C, kind));
  if (!*own)
    for (long i = 0; i < n; ++i) y[i] = NAN;
  return *own;
}

typedef struct {
  float *mu, *lo, *scale, *shift, *rstd; /* mean and its rounding error; rstd·w; b; rstd = 1/sqrt(biased var + eps) */
} lk__bna_factors;

static lk__bna_factors lk__bna_prepare(long rows, long C, const float *m, const float *w, const float *b, float eps,
                                       float *ws) {
  long Cp = lk_ceil_div(C, LK_VW) * LK_VW;
  double n = (double)rows;
  lk__bna_factors f = {ws, ws + Cp, ws + 2 * Cp, ws + 3 * Cp, ws + 4 * Cp};
  for (long c = 0; c < Cp; ++c) {
    double var = c < C && rows > 1 ? (double)m[C + c] * (n - 1.0) / n : 0.0, r = 1.0 / sqrt((var < 0.0 ? 0.0 : var) + eps);
    f.mu[c] = c < C ? m[c] : 0.0f;
    f.lo[c] = c < C ? m[2 * C + c] : 0.0f;
    f.rstd[c] = c < C ? (float)r : 0.0f;
    f.scale[c] = c < C ? (float)(r * (w ? w[c] : 1.0)) : 0.0f;
    f.shift[c] = c < C && b ? b[c] : 0.0f;
  }
  return f;
}

/* The activation as a compile-time constant in the loops: each kernel's body is an always-inline
 * function of `act`, called once per LK_ACT_* code, so lk_vact's and lk__grad_vact's switches
 * fold away (with a variable code they stay in the innermost loop). */
#define LK__BNA_DISPATCH(act, body, ...)                \
  switch (act) {                                        \
  case LK_ACT_GELU: body(LK_ACT_GELU, __VA_ARGS__); break;       \
  case LK_ACT_RELU: body(LK_ACT_RELU, __VA_ARGS__); break;       \
  case LK_ACT_RELU6: body(LK_ACT_RELU6, __VA_ARGS__); break;     \
  case LK_ACT_HSWISH: body(LK_ACT_HSWISH, __VA_ARGS__); break;   \
  case LK_ACT_HSIGMOID: body(LK_ACT_HSIGMOID, __VA_ARGS__); break; \
  case LK_ACT_SIGMOID: body(LK_ACT_SIGMOID, __VA_ARGS__); break; \
  default: body(LK_ACT_NONE, __VA_ARGS__); break;                \
  }

/* x − mean of one vector of channels [c, c + LK_VW): (x − m[c]) − (the mean's rounding error);
 * and the pre-activation (x − mean)·rstd·w + b from it, the same arithmetic in all three kernels. */
static inline lk_vf lk__bna_dev(const lk__bna_factors *f, lk_vf xv, long c) {
  return xv - lk_vload(f->mu + c) - lk_vload(f->lo + c);
}
static inline lk_vf lk__bna_pre(const lk__bna_factors *f, lk_vf d, long c) {
  return d * lk_vload(f->scale + c) + lk_vload(f->shift + c);
}

__attribute__((always_inline)) static inline void lk__bna_forward(const int act, long rows, long C, const float *x,
                                                                  const lk__bna_factors *f, float *y) {
  long Cv = C / LK_VW * LK_VW;
  LK_OMP(parallel for schedule(static) if(rows * C >= LK_PAR_MIN))
  for (long r = 0; r < rows; ++r) {
    const float *xr = x + r * C;
    float *yr = y + r * C;
    for (long c = 0; c < Cv; c += LK_VW) lk_vstore(yr + c, lk_vact(act, lk__bna_pre(f, lk__bna_dev(f, lk_vload(xr + c), c), c)));
    if (Cv < C)
      lk__grad_store_part(yr + Cv, C - Cv, lk_vact(act, lk__bna_pre(f, lk__bna_dev(f, lk__grad_load_part(xr + Cv, C - Cv), Cv), Cv)));
  }
}

void lk_batch_norm_act_cl(long rows, long C, const float *x, const float *m, const float *w, const float *b, float eps,
                          int act, float *ws, float *y) {
  lk__bna_factors f;
  float *own;
  if (rows <= 0 || C <= 0 || !(ws = lk__bna_ws(ws, rows, C, 0, &own, y, rows * C))) return;
  f = lk__bna_prepare(rows, C, m, w, b, eps, ws);
  LK__BNA_DISPATCH(act, lk__bna_forward, rows, C, x, &f, y)
  lk_scratch_free(own);
}

/* Adds dy and dy·(x − mean) of one vector of channels [c, c + LK_VW) to the block's float sums
 * sg[c...] and sgd[c...] (L1-resident: 2·Cp floats). */
__attribute__((always_inline)) static inline void lk__bna_add(const int act, lk_vf xv, lk_vf gv, long c, const lk__bna_factors *f,
                                                              float *sg, float *sgd) {
  lk_vf d = lk__bna_dev(f, xv, c), g = lk__grad_vact(act, lk__bna_pre(f, d, c), gv);
  lk_vstore(sg + c, lk_vload(sg + c) + g);
  lk_vstore(sgd + c, lk_vload(sgd + c) + g * d);
}

/* Each block of LK__BNCL_ROWS rows sums in float into its own part rows, reading whole rows in
 * order; the blocks' sums are then added in double, in block order. (Double lanes throughout
 * cost ~1.4× the time here, the kernel being bound by its vector arithmetic: a block's float sum
 * of 64 terms is within ~64 ulp of its terms' magnitude, the same as the kernels' float passes.) */
__attribute__((always_inline)) static inline void lk__bna_param_grad(const int act, long rows, long C, const float *x,
                                                                     const float *dz, const lk__bna_factors *f, float *part) {
  long Cp = lk_ceil_div(C, LK_VW) * LK_VW, Cv = C / LK_VW * LK_VW, blocks = lk_ceil_div(rows, LK__BNCL_ROWS);
  LK_OMP(parallel for schedule(static) if(rows * C >= LK_PAR_MIN))
  for (long k = 0; k < blocks; ++k) {
    float *sg = part + 2 * k * Cp, *sgd = sg + Cp;
    for (long c = 0; c < 2 * Cp; ++c) sg[c] = 0.0f;
    for (long r = k * LK__BNCL_ROWS; r < lk_min_l(rows, (k + 1) * LK__BNCL_ROWS); ++r) {
      const float *xr = x + r * C, *gr = dz + r * C;
      for (long c = 0; c < Cv; c += LK_VW) lk__bna_add(act, lk_vload(xr + c), lk_vload(gr + c), c, f, sg, sgd);
      if (Cv < C) lk__bna_add(act, lk__grad_load_part(xr + Cv, C - Cv), lk__grad_load_part(gr + Cv, C - Cv), Cv, f, sg, sgd);
    }
  }
}

void lk_batch_norm_act_param_grad_cl(long rows, long C, const float *x, const float *dz, const float *m, const float *w,
                                     const float *b, float eps, int act, float *ws, float *out) {
  long Cp = lk_ceil_div(C, LK_VW) * LK_VW, blocks = lk_ceil_div(rows, LK__BNCL_ROWS);
  float *part, *own; /* part [blocks][2][Cp]: Σ dy, Σ dy·(x − mean) */
  lk__bna_factors f;
  if (rows <= 0 || C <= 0 || !(part = lk__bna_ws(ws, rows, C, 1, &own, out, 2 * C))) return;
  f = lk__bna_prepare(rows, C, m, w, b, eps, part + 2 * blocks * Cp);
  LK__BNA_DISPATCH(act, lk__bna_param_grad, rows, C, x, dz, &f, part)
  for (long c = 0; c < C; ++c) {
    double sg = 0.0, sgd = 0.0;
    for (long k = 0; k < blocks; ++k) {
      sg += part[(2 * k) * Cp + c];
      sgd += part[(2 * k + 1) * Cp + c];
    }
    out[c] = (float)(sgd * f.rstd[c]);
    out[C + c] = (float)sg;
  }
  lk_scratch_free(own);
}

/* dx = (dy − a − (x − mean)·rb)·scale for one vector of channels [c, c + LK_VW). */
__attribute__((always_inline)) static inline lk_vf lk__bna_dx(const int act, const lk__bna_factors *f, lk_vf xv, lk_vf gv,
                                                              const float *a, const float *rb, long c) {
  lk_vf d = lk__bna_dev(f, xv, c), g = lk__grad_vact(act, lk__bna_pre(f, d, c), gv);
  return (g - lk_vload(a + c) - d * lk_vload(rb + c)) * lk_vload(f->scale + c);
}

__attribute__((always_inline)) static inline void lk__bna_grad(const int act, long rows, long C, const float *x, const float *dz,
                                                               const lk__bna_factors *f, const float *a, const float *rb,
                                                               float *dx) {
  long Cv = C / LK_VW * LK_VW;
  LK_OMP(parallel for schedule(static) if(rows * C >= LK_PAR_MIN))
  for (long r = 0; r < rows; ++r) {
    const float *xr = x + r * C, *gr = dz + r * C;
    float *dr = dx + r * C;
    for (long c = 0; c < Cv; c += LK_VW) lk_vstore(dr + c, lk__bna_dx(act, f, lk_vload(xr + c), lk_vload(gr + c), a, rb, c));
    if (Cv < C)
      lk__grad_store_part(dr + Cv, C - Cv, lk__bna_dx(act, f, lk__grad_load_part(xr + Cv, C - Cv), lk__grad_load_part(gr + Cv, C - Cv), a, rb, Cv));
  }
}

/* dx may equal dz. */
void lk_batch_norm_act_grad_cl(long rows, long C, const float *x, const float *dz, const float *m, const float *w,
                               const float *b, const float *sums, float eps, int act, float *ws, float *dx) {
  long Cp = lk_ceil_div(C, LK_VW) * LK_VW;
  lk__bna_factors f;
  float *a, *rb, *own; /* Σdy/n; rstd·Σ(dy·x̂)/n, so that x̂·Σ(dy·x̂)/n = (x − mean)·rb */
  if (rows <= 0 || C <= 0 || !(ws = lk__bna_ws(ws, rows, C, 2, &own, dx, rows * C))) return;
  f = lk__bna_prepare(rows, C, m, w, b, eps, ws);
  a = ws + 5 * Cp;
  rb = ws + 6 * Cp;
  for (long c = 0; c < Cp; ++c) {
    a[c] = c < C ? (float)(sums[C + c] / (double)rows) : 0.0f;
    rb[c] = c < C ? (float)((double)sums[c] * f.rstd[c] / (double)rows) : 0.0f;
  }
  LK__BNA_DISPATCH(act, lk__bna_grad, rows, C, x, dz, &f, a, rb, dx)
  lk_scratch_free(own);
}

/* ---- Sum over axes (gradients of broadcast operands) ---------------------------------------------
 * After dropping size-1 axes and merging neighbours with the same flag, the innermost axis is
 * either kept (bias gradient [rows, C] → [C]: rows of C are added as vectors) or reduced
 * ([B, C, S] → [C]: contiguous runs of S go through lk_sum). Output tasks are chunks of
 * LK__RED_CH outputs (innermost kept) or single outputs (innermost reduced). When there are fewer
 * than LK__RED_TASKS of them and the tensor is large, the reduced index range is cut into
 * blocks (their number depends only on the shape) whose partial sums are added in block order:
 * [16·197, 192] → [192] is one chunk × 64 blocks of ~49 rows. A chunk spans up to 512 columns, so
 * a task streams whole rows of a bias gradient: with 64-column chunks, three tasks each read a
 * third of every 768-byte row, at different times, and sag_tiny_cifar's [294912, 192] → [192]
 * (226 MB, beyond L3) took 32-33 ms instead of 8-9.5 (bench_train). */
#define LK__RED_CH 512
#define LK__RED_TASKS 64
#define LK__RED_MIN_BLOCK 8192 /* elements of x per block, at least */

/* Blocks the reduced range of `total` elements (`reduced` indices) is cut into when only `tasks`
 * output tasks exist: enough tasks for the threads, blocks of at least LK__RED_MIN_BLOCK. Depends on
 * the shape alone; lk_layernorm_param_grad uses it too, so its sums are the unfused ones'. */
static long lk__reduce_blocks(long tasks, long total, long reduced) {
  long n = tasks < LK__RED_TASKS ? lk_min_l(lk_min_l(lk_ceil_div(LK__RED_TASKS, tasks), total / LK__RED_MIN_BLOCK), reduced) : 1;
  return n < 1 ? 1 : n;
}

/* y[o] = the blocks' partial sums part[b·nout + o] added in block order, in float. Called inside a
 * parallel region by each of its threads (the loop is shared among them). */
static void lk__reduce_add_blocks(const float *part, long nblk, long nout, float *y) {
  LK_OMP(for schedule(static))
  for (long o = 0; o < nout; ++o) {
    float acc = part[o];
    for (long b = 1; b < nblk; ++b) acc += part[b * nout + o];
    y[o] = acc;
  }
}

/* Row-major walk over some axes: the offset in x of the multi-index (sizes, strides). */
typedef struct { int n; long size[8], stride[8], idx[8], off; } lk__grad_odo;

static void lk__grad_odo_set(lk__grad_odo *o, long lin) {
  o->off = 0;
  for (int d = o->n - 1; d >= 0; --d) {
    o->idx[d] = lin % o->size[d];
    lin /= o->size[d];
    o->off += o->idx[d] * o->stride[d];
  }
}
static void lk__grad_odo_next(lk__grad_odo *o) {
  for (int d = o->n - 1; d >= 0; --d) {
    o->off += o->stride[d];
    if (++o->idx[d] < o->size[d]) return;
    o->off -= o->stride[d] * o->size[d];
    o->idx[d] = 0;
  }
}

/* y = x (x ⊙ x2 when x2 is not NULL, both of shape[0:rank] and dense) summed over the axes d with
 * reduce[d] != 0; y holds the kept axes in order, dense. rank ≤ 8, batch axis included. An empty
 * reduced range gives 0. */
static void lk__reduce_sum(int rank, const long *shape, const unsigned char *reduce, const float *x, const float *x2,
                           float *y) {
  long sz[8], st[8], total = 1, nout = 1, s = 1;
  int red[8], m = 0, inner_kept;
  lk__grad_odo kept, rdc; /* kept: outer kept axes (innermost kept excluded when inner_kept) */
  long Kin, chunks, otasks, Rtot = 1, Sin, nblk = 1, ntasks;
  float *part = NULL;
  for (int d = 0; d < rank; ++d) {
    total *= shape[d];
    if (!reduce[d]) nout *= shape[d];
  }
  if (total == 0) {
    for (long o = 0; o < nout; ++o) y[o] = 0.0f;
    return;
  }
  for (int d = 0; d < rank; ++d) {
    int r = reduce[d] != 0;
    if (shape[d] == 1) continue;
    if (m > 0 && red[m - 1] == r) sz[m - 1] *= shape[d];
    else { sz[m] = shape[d]; red[m] = r; ++m; }
  }
  if (m == 0) { sz[0] = 1; red[0] = 0; m = 1; }
  for (int d = m - 1; d >= 0; --d) { st[d] = s; s *= sz[d]; }
  inner_kept = !red[m - 1];
  kept.n = rdc.n = 0;
  for (int d = 0; d < m; ++d) {
    if (red[d]) {
      Rtot *= sz[d];
      if (inner_kept || d < m - 1) { rdc.size[rdc.n] = sz[d]; rdc.stride[rdc.n] = st[d]; ++rdc.n; }
    } else if (!inner_kept || d < m - 1) {
      kept.size[kept.n] = sz[d]; kept.stride[kept.n] = st[d]; ++kept.n;
    }
  }
  Kin = inner_kept ? sz[m - 1] : 1;
  Sin = inner_kept ? 1 : sz[m - 1]; /* contiguous run of reduced elements */
  chunks = lk_ceil_div(Kin, LK__RED_CH);
  otasks = inner_kept ? nout / Kin * chunks : nout;
  nblk = lk__reduce_blocks(otasks, total, Rtot);
  if (nblk > 1) {
    part = lk_scratch_alloc((size_t)(nblk * nout));
    if (!part) nblk = 1; /* out of memory: one block, straight into y (same math, slower) */
  }
  ntasks = otasks * nblk;

  LK_OMP(parallel if(total >= LK_PAR_MIN))
  {
    LK_OMP(for schedule(static))
    for (long t = 0; t < ntasks; ++t) {
      long ot = t / nblk, b = t % nblk, lo, hi;
      float *dst = nblk > 1 ? part + b * nout : y;
      lk__grad_odo ko = kept, ro = rdc;
      lk_split(Rtot, (int)nblk, (int)b, &lo, &hi);
      if (inner_kept) {
        long orow = ot / chunks, j0 = ot % chunks * LK__RED_CH, n = lk_min_l(LK__RED_CH, Kin - j0);
        float acc[LK__RED_CH];
        lk__grad_odo_set(&ko, orow);
        for (long i = 0; i < n; ++i) acc[i] = 0.0f;
        if (lo < hi) lk__grad_odo_set(&ro, lo);
        for (long r = lo; r < hi; ++r) {
          const long at = ko.off + j0 + ro.off;
          const float *xr = x + at, *x2r = x2 ? x2 + at : NULL;
          if (x2r) for (long i = 0; i < n; ++i) acc[i] += xr[i] * x2r[i];
          else for (long i = 0; i < n; ++i) acc[i] += xr[i];
          lk__grad_odo_next(&ro);
        }
        for (long i = 0; i < n; ++i) dst[orow * Kin + j0 + i] = acc[i];
      } else {
        float acc = 0.0f;
        lk__grad_odo_set(&ko, ot);
        if (lo < hi) lk__grad_odo_set(&ro, lo / Sin);
        for (long r = lo; r < hi;) {
          long s0 = r % Sin, len = lk_min_l(Sin - s0, hi - r);
          const long at = ko.off + ro.off + s0;
          acc += x2 ? lk_dot(x + at, x2 + at, len) : lk_sum(x + at, len);
          r += len;
          if (s0 + len == Sin) lk__grad_odo_next(&ro);
        }
        dst[ot] = acc;
      }
    }
    if (nblk > 1) lk__reduce_add_blocks(part, nblk, nout, y);
  }
  lk_scratch_free(part);
}

void lk_reduce_sum(int rank, const long *shape, const unsigned char *reduce, const float *x, float *y) {
  lk__reduce_sum(rank, shape, reduce, x, NULL, y);
}

/* Σ a ⊙ b over the reduced axes without the product's pass (a LayerNorm weight's gradient,
 * squeeze-excite's gate gradient): reduce_sum(mul(a, b)) fused by `product-sums`. */
void lk_reduce_sum_product(int rank, const long *shape, const unsigned char *reduce, const float *a, const float *b,
                           float *y) {
  lk__reduce_sum(rank, shape, reduce, a, b, y);
}

/* An affine LayerNorm's weight and bias gradients from x instead of a stored x̂ (made by the
 * `layernorm-training` pass): out[0:C) = Σ dy ⊙ x̂, out[C:2C) = Σ dy over the rows of [rows, C].
 * Each row's x̂ is lk_normalize's, recomputed from the row's statistics while the row is in L1,
 * and the sums are lk_reduce_sum's: the same blocks of rows, each summed in float in row order,
 * the blocks added in order. So the result is reduce_sum(dy ⊙ normalize(x)) and reduce_sum(dy) bit
 * for bit, in one pass over x and dy instead of a forward pass writing x̂ and two passes reading
 * x̂ and dy back (sag_tiny_cifar's first LayerNorm: 226 MB each at batch 16). */
void lk_layernorm_param_grad(long rows, long C, const float *x, const float *dy, float eps, float *out) {
  long nblk = lk__reduce_blocks(lk_ceil_div(C, LK__RED_CH), rows * C, rows);
  float *part = NULL;
  if (rows <= 0 || C <= 0) {
    for (long c = 0; c < 2 * C; ++c) out[c] = 0.0f;
    return;
  }
  if (nblk > 1 && !(part = lk_scratch_alloc((size_t)(nblk * 2 * C)))) nblk = 1; /* out of memory: one block */
  LK_OMP(parallel if(rows * C >= LK_PAR_MIN))
  {
    LK_OMP(for schedule(static))
    for (long b = 0; b < nblk; ++b) {
      long lo, hi;
      float *sw = nblk > 1 ? part + b * 2 * C : out, *sb = sw + C;
      lk_split(rows, (int)nblk, (int)b, &lo, &hi);
      for (long c = 0; c < C; ++c) sw[c] = sb[c] = 0.0f;
      for (long r = lo; r < hi; ++r) {
        const float *xr = x + r * C, *gr = dy + r * C;
        float m, delta, rstd;
        lk__grad_row_stats(xr, C, eps, &m, &delta, &rstd);
        for (long c = 0; c < C; ++c) {
          const float xh = (xr[c] - m - delta) * rstd; /* its own statement: rounded as lk_normalize stores it */
          sw[c] += gr[c] * xh;
          sb[c] += gr[c];
        }
      }
    }
    if (nblk > 1) lk__reduce_add_blocks(part, nblk, 2 * C, out);
  }
  lk_scratch_free(part);
}

/* ---- conv2d ---------------------------------------------------------------------------------------
 * Same geometry as lk_conv2d: x [B, Cin, Hh, Ww], w [Cout, Cin/G, kh, kw], dy [B, Cout, Ho, Wo],
 * Ho = (Hh + 2·ph − kh)/sh + 1, likewise Wo; zero padding, no dilation. Paths as in conv.c:
 * - grad input: 1×1/stride 1/no padding/G = 1 is one batched GEMM dx_b = wᵀ·dy_b; depthwise is a
 *   direct scatter per plane; otherwise col_b = w_gᵀ·dy_{b,g} per group (GEMM) then col2im, each
 *   input pixel accumulating its taps in the fixed order (ki, kj, oh).
 * - grad weight: depthwise is a direct dot product per (channel, tap), added over planes in
 *   double; otherwise one GEMM per group with K = B·Ho·Wo, dw_g = dy_g·col_gᵀ, after re-laying
 *   dy as [Cout, B·HoWo] and x as im2col [Cin·kh·kw, B·HoWo] (the batch sum is inside K, so C is
 *   written once per K slice instead of once per image; B = 1 reads dy, and a 1×1 x, in place).
 * Scratch (the im2col buffers) is allocated per call; out of memory gives NaN outputs. */

/* Output columns [*lo, *hi) whose input column ow·sw − pw + kj lies inside [0, Ww). */
static void lk__grad_valid_cols(int Ww, int Wo, int sw, int pw, int kj, int *lo, int *hi) {
  long l = kj >= pw ? 0 : (pw - kj + sw - 1) / sw;
  long h = Ww - 1 + pw - kj < 0 ? 0 : (Ww - 1 + pw - kj) / sw + 1;
  *lo = (int)lk_min_l(l, Wo);
  *hi = (int)lk_max_l(lk_min_l(h, Wo), *lo);
}

#ifndef LK__GRAD_COL_FLOATS
#  define LK__GRAD_COL_FLOATS (2L << 20) /* 8 MiB of im2col columns per chunk of images: in L3 */
#endif
#define LK__DW_CH 256 /* output columns per accumulator chunk of the depthwise weight gradient */

static int lk__grad_conv_depthwise(int Cin, int Cout, int groups) {
  return groups == Cin && groups == Cout && groups > 1;
}

/* Scatter-adds the taps of one input plane: d[ih, iw] += scale_t · src_t[oh, ow] for every tap t =
 * (ki, kj) and output pixel that reads (ih, iw); src_t = src + t·tstride (tstride 0: one source
 * shared by all taps, scaled by wt[t]; wt NULL: scale 1). Taps ki-major, then oh: fixed order. */
static void lk__grad_scatter_plane(int Hh, int Ww, int kh, int kw, int sh, int sw, int ph, int pw, int Ho,
                                   int Wo, const float *src, long tstride, const float *wt, float *d) {
  memset(d, 0, (size_t)Hh * Ww * sizeof(float));
  for (int ki = 0; ki < kh; ++ki)
    for (int kj = 0; kj < kw; ++kj) {
      const float *st = src + (long)(ki * kw + kj) * tstride;
      float wv = wt ? wt[ki * kw + kj] : 1.0f;
      int lo, hi;
      lk__grad_valid_cols(Ww, Wo, sw, pw, kj, &lo, &hi);
      for (int oh = 0; oh < Ho; ++oh) {
        int ih = oh * sh - ph + ki;
        const float *sr = st + (long)oh * Wo;
        float *dr;
        if (ih < 0 || ih >= Hh) continue;
        dr = d + (long)ih * Ww;
        if (sw == 1) {
          float *ds = dr + (lo - pw + kj); /* ≥ 0: lo is the first valid column */
          const float *ss = sr + lo;
          if (wt) for (int o = 0; o < hi - lo; ++o) ds[o] += wv * ss[o];
          else for (int o = 0; o < hi - lo; ++o) ds[o] += ss[o];
        } else {
          for (int ow = lo; ow < hi; ++ow) dr[(long)ow * sw - pw + kj] += wv * sr[ow];
        }
      }
    }
}

/* col[((c·kh + ki)·kw + kj)·B + b][oh·Wo + ow] = x[b, c, oh·sh − ph + ki, ow·sw − pw + kj] or 0:
 * im2col with the batch inside each row, so that a GEMM's K can run over (b, oh, ow). With
 * kh = kw = sh = sw = 1 and no padding it re-lays [B, C, HW] as [C, B, HW]. */
static void lk__grad_im2col_t(int B, int C, int Hh, int Ww, int kh, int kw, int sh, int sw, int ph, int pw,
                              int Ho, int Wo, const float *restrict x, float *restrict col) {
  long rows = (long)C * kh * kw * B;
  LK_OMP(parallel for schedule(static) if(rows * Ho * Wo >= LK_PAR_MIN))
  for (long r = 0; r < rows; ++r) {
    int b = (int)(r % B), kj = (int)(r / B % kw), ki = (int)(r / B / kw % kh);
    long c = r / B / ((long)kh * kw);
    const float *xc = x + ((long)b * C + c) * Hh * Ww;
    float *d = col + r * Ho * Wo;
    int lo, hi;
    lk__grad_valid_cols(Ww, Wo, sw, pw, kj, &lo, &hi);
    for (int oh = 0; oh < Ho; ++oh, d += Wo) {
      int ih = oh * sh - ph + ki;
      const float *xr;
      if (ih < 0 || ih >= Hh) { memset(d, 0, (size_t)Wo * sizeof(float)); continue; }
      xr = xc + (long)ih * Ww;
      for (int ow = 0; ow < lo; ++ow) d[ow] = 0.0f;
      if (sw == 1) memcpy(d + lo, xr + (lo - pw + kj), (size_t)(hi - lo) * sizeof(float));
      else for (int ow = lo; ow < hi; ++ow) d[ow] = xr[(long)ow * sw - pw + kj];
      for (int ow = hi; ow < Wo; ++ow) d[ow] = 0.0f;
    }
  }
}

/* Depthwise weight gradient of channel c at stride 1 through conv.c's padded copies (pad: room
 * for one, LK__DW_PAD_FLOATS + LK_VW floats):
 * dwc[ki·kw + kj] = Σ_b Σ_{oh, ow} dy[b, c, oh, ow] · pad_b[(oh + ki)·row + ow + kj], pad_b the
 * zero-padded plane x[b, c]. Per image the products are added in one float vector per tap (all the
 * image's rows and column vectors), whose lanes are then added into a double, as are the images.
 * Lanes past Wo are masked to zero on both sides (an inf there must not make a NaN); padding taps
 * inside the row are multiplied, not skipped (an inf dy next to the border gives NaN, where
 * skipping would give ±inf). Inlined with kh, kw constant for 3×3: the accumulators stay in
 * registers. */
__attribute__((always_inline)) static inline void lk__dw_grad_weight_k(int B, int C, int Hh, int Ww, int kh, int kw,
                                                                       int ph, int pw, int Ho, int Wo, long c,
                                                                       const float *dy, const float *x, float *pad,
                                                                       float *dwc) {
  long row = lk__dw_row(Ww, kw, pw), HWi = (long)Hh * Ww, HWo = (long)Ho * Wo;
  double s[LK__DW_MAX_TAPS];
  for (int t = 0; t < kh * kw; ++t) s[t] = 0.0;
  for (int b = 0; b < B; ++b) {
    const float *g = dy + ((long)b * C + c) * HWo;
    lk_vf acc[LK__DW_MAX_TAPS];
    for (int t = 0; t < kh * kw; ++t) acc[t] = lk_vzero();
    lk__dw_pad(Hh, Ww, ph, pw, row, x + ((long)b * C + c) * HWi, pad);
    for (int o = 0; o < Wo; o += LK_VW) {
      lk_vi keep = lk_vbelow(o, Wo);
      for (int oh = 0; oh < Ho; ++oh) {
        lk_vf gv;
        if (o + LK_VW <= Wo) {
          gv = lk_vload(g + (long)oh * Wo + o);
        } else {
          float tail[LK_VW] = {0};
          memcpy(tail, g + (long)oh * Wo + o, (size_t)(Wo - o) * sizeof(float));
          gv = lk_vload(tail);
        }
        for (int ki = 0; ki < kh; ++ki) {
          const float *pr = pad + (oh + ki) * row + o;
          if (o + LK_VW <= Wo) {
            for (int kj = 0; kj < kw; ++kj) acc[ki * kw + kj] += gv * lk_vload(pr + kj);
          } else {
            for (int kj = 0; kj < kw; ++kj) acc[ki * kw + kj] += gv * lk_vselect(keep, lk_vload(pr + kj), lk_vzero());
          }
        }
      }
    }
    for (int t = 0; t < kh * kw; ++t)
      for (int i = 0; i < LK_VW; ++i) s[t] += acc[t][i];
  }
  for (int t = 0; t < kh * kw; ++t) dwc[t] = (float)s[t];
}

static void lk__dw_grad_weight_channel(int B, int C, int Hh, int Ww, int kh, int kw, int ph, int pw, int Ho, int Wo,
                                       long c, const float *dy, const float *x, float *dwc) {
  float pad[LK__DW_PAD_FLOATS + LK_VW];
  if (kh == 3 && kw == 3) lk__dw_grad_weight_k(B, C, Hh, Ww, 3, 3, ph, pw, Ho, Wo, c, dy, x, pad, dwc);
  else lk__dw_grad_weight_k(B, C, Hh, Ww, kh, kw, ph, pw, Ho, Wo, c, dy, x, pad, dwc);
}

/* dx [B, Cin, Hh, Ww] = ∂(Σ dy ⊙ conv2d(x, w))/∂x. dx must not overlap dy or w. */
void lk_conv2d_grad_input(int B, int Cin, int Hh, int Ww, int Cout, int kh, int kw, int sh, int sw, int ph, int pw,
                          int groups, const float *dy, const float *w, float *dx) {
  int Ho = (Hh + 2 * ph - kh) / sh + 1, Wo = (Ww + 2 * pw - kw) / sw + 1;
  long HWi = (long)Hh * Ww, HWo = (long)Ho * Wo, planes = (long)B * Cin;
  if (B <= 0 || HWi <= 0) return;
  if (Ho <= 0 || Wo <= 0 || Cout <= 0) {
    memset(dx, 0, (size_t)(planes * HWi) * sizeof(float));
    return;
  }
  if (kh == 1 && kw == 1 && sh == 1 && sw == 1 && ph == 0 && pw == 0 && groups == 1) {
    /* dx_b[Cin, HW] = wᵀ[Cin, Cout] · dy_b[Cout, HW] */
    lk_gemm_ex(B, Cin, (int)HWi, Cout, w, 0, 1, Cin, dy, Cout * HWi, HWi, 1, dx, Cin * HWi, HWi, 0.0f, NULL, NULL);
    return;
  }
  if (lk__grad_conv_depthwise(Cin, Cout, groups) && sh == 1 && sw == 1 && ph < kh && pw < kw &&
      lk__dw_fits(Ho, Wo, kh, kw, kh - 1 - ph, kw - 1 - pw)) {
    /* Stride 1: dx[ih, iw] = Σ w[ki, kj]·dy[ih + ph − ki, iw + pw − kj], a convolution of dy padded
     * by kh − 1 − ph rows and kw − 1 − pw columns with the taps flipped (conv.c's padded path). */
    int qh = kh - 1 - ph, qw = kw - 1 - pw, taps = kh * kw;
    LK_OMP(parallel for schedule(static) if(planes * HWo * kh * kw >= LK_PAR_MIN))
    for (long p = 0; p < planes; ++p) {
      float pad[LK__DW_PAD_FLOATS + LK_VW], flipped[LK__DW_MAX_TAPS];
      const float *wc = w + (p % Cin) * taps;
      for (int t = 0; t < taps; ++t) flipped[t] = wc[taps - 1 - t];
      long row = lk__dw_row(Wo, kw, qw);
      lk__dw_pad(Ho, Wo, qh, qw, row, dy + p * HWo, pad);
      lk__dw_plane(Hh, Ww, kh, kw, row, pad, flipped, 0.0f, dx + p * HWi);
    }
    return;
  }
  if (groups == 1 && sh == 1 && sw == 1 && ph < kh && pw < kw && lk__conv_implicit_ok(Cout, Ho, Wo, kh - 1 - ph, kw - 1 - pw)) {
    /* Stride 1: dx is the forward convolution of dy, padded by kh − 1 − ph rows and kw − 1 − pw
     * columns, with the weights' channel axes swapped and taps flipped, wt[ci, co, ki, kj] =
     * w[co, ci, kh − 1 − ki, kw − 1 − kj]: conv.c's implicit GEMM, which packs dy's pixels as it
     * goes. The im2col path below writes Cin·kh·kw columns per pixel (7 MB per image for SAG's
     * 192-channel 3×3 reduce convolution on 32×32) and scatters them back. That shape at batch 16,
     * 2 threads, old and new alternating, 11 calls each: faster in 4 of 4 pairs at 10 % hypervisor
     * steal (medians 130-186 → 86-115 ms) and in 5 of 5 at 59 % (272-770 → 193-349 ms). */
    long nw = (long)Cin * Cout * kh * kw, taps = (long)kh * kw;
    float *wt = lk_scratch_alloc((size_t)nw);
    if (!wt) {
      for (long i = 0; i < planes * HWi; ++i) dx[i] = NAN;
      return;
    }
    for (long ci = 0; ci < Cin; ++ci)
      for (long co = 0; co < Cout; ++co)
        for (long t = 0; t < taps; ++t) wt[(ci * Cout + co) * taps + t] = w[(co * Cin + ci) * taps + taps - 1 - t];
    lk_conv2d(B, Cout, Ho, Wo, Cin, kh, kw, 1, 1, kh - 1 - ph, kw - 1 - pw, 1, dy, wt, NULL, dx, NULL);
    lk_scratch_free(wt);
    return;
  }
  if (lk__grad_conv_depthwise(Cin, Cout, groups)) {
    LK_OMP(parallel for schedule(static) if(planes * HWo * kh * kw >= LK_PAR_MIN))
    for (long p = 0; p < planes; ++p)
      lk__grad_scatter_plane(Hh, Ww, kh, kw, sh, sw, ph, pw, Ho, Wo, dy + p * HWo, 0,
                             w + (p % Cin) * kh * kw, dx + p * HWi);
    return;
  }
  {
    int G = groups, cog = Cout / G;
    long kg = (long)Cin / G * kh * kw, taps = (long)kh * kw, per_image = (long)Cin * taps * HWo;
    /* Images in chunks whose columns stay near LK__GRAD_COL_FLOATS (at least one image, and a
     * multiple of two so both threads get whole images): a 3×3 convolution of 192 channels over
     * 32×32 at batch 16 would otherwise write and re-read 113 MB of columns per call. Each image's
     * columns and scatter are the same whatever the chunk. */
    long chunk = lk_max_l(1, lk_min_l(B, LK__GRAD_COL_FLOATS / lk_max_l(per_image, 1)));
    float *col;
    if (chunk > 1 && chunk < B) chunk -= chunk % 2;
    col = lk_scratch_alloc((size_t)(chunk * per_image));
    if (!col) {
      for (long i = 0; i < planes * HWi; ++i) dx[i] = NAN;
      return;
    }
    for (long b0 = 0; b0 < B; b0 += chunk) {
      int nb = (int)lk_min_l(chunk, B - b0);
      long cplanes = (long)nb * Cin;
      const float *dyc = dy + b0 * Cout * HWo;
      float *dxc = dx + b0 * Cin * HWi;
      /* col_b[Cin·kh·kw, HWo], group g's rows: w_g[cog, kg]ᵀ · dy_{b,g}[cog, HWo] */
      for (int g = 0; g < G; ++g)
        lk_gemm_ex(nb, (int)kg, (int)HWo, cog, w + g * cog * kg, 0, 1, kg, dyc + g * cog * HWo, Cout * HWo, HWo, 1,
                   col + g * kg * HWo, per_image, HWo, 0.0f, NULL, NULL);
      LK_OMP(parallel for schedule(static) if(cplanes * taps * HWo >= LK_PAR_MIN))
      for (long p = 0; p < cplanes; ++p)
        lk__grad_scatter_plane(Hh, Ww, kh, kw, sh, sw, ph, pw, Ho, Wo, col + p * taps * HWo, HWo, NULL, dxc + p * HWi);
    }
    lk_scratch_free(col);
  }
}

/* dw [Cout, Cin/G, kh, kw] = Σ_b ∂(Σ dy_b ⊙ conv2d(x_b, w))/∂w. dw must not overlap dy or x. */
void lk_conv2d_grad_weight(int B, int Cin, int Hh, int Ww, int Cout, int kh, int kw, int sh, int sw, int ph, int pw,
                           int groups, const float *dy, const float *x, float *dw) {
  int Ho = (Hh + 2 * ph - kh) / sh + 1, Wo = (Ww + 2 * pw - kw) / sw + 1;
  int G = groups, cog = Cout / G;
  long HWi = (long)Hh * Ww, HWo = (long)Ho * Wo, taps = (long)kh * kw, kg = (long)Cin / G * taps;
  if (Cout <= 0 || kg <= 0) return;
  if (B <= 0 || Ho <= 0 || Wo <= 0) {
    memset(dw, 0, (size_t)(Cout * kg) * sizeof(float));
    return;
  }
  if (lk__grad_conv_depthwise(Cin, Cout, groups) && sh == 1 && sw == 1 && lk__dw_fits(Hh, Ww, kh, kw, ph, pw)) {
    LK_OMP(parallel for schedule(static) if((long)B * Cin * HWo * taps >= LK_PAR_MIN))
    for (long c = 0; c < Cin; ++c) lk__dw_grad_weight_channel(B, Cin, Hh, Ww, kh, kw, ph, pw, Ho, Wo, c, dy, x, dw + c * taps);
    return;
  }
  if (lk__grad_conv_depthwise(Cin, Cout, groups)) {
    /* dw[c, ki, kj] = Σ_b Σ_oh Σ_ow dy·x: per (b, tap), the products are added down the output
     * rows into a float vector along ow (vectorised, where a 14-long row dot would be all scalar
     * tail), chunks of LK__DW_CH columns; each chunk's lanes are then added in order, in double,
     * and so are the images. */
    LK_OMP(parallel for schedule(static) if((long)B * Cin * HWo * taps >= LK_PAR_MIN))
    for (long c = 0; c < Cin; ++c) {
      for (int ki = 0; ki < kh; ++ki)
        for (int kj = 0; kj < kw; ++kj) {
          int lo, hi;
          double s = 0.0;
          lk__grad_valid_cols(Ww, Wo, sw, pw, kj, &lo, &hi);
          for (int b = 0; b < B; ++b) {
            const float *xp = x + ((long)b * Cin + c) * HWi, *gp = dy + ((long)b * Cin + c) * HWo;
            for (int o0 = lo; o0 < hi; o0 += LK__DW_CH) {
              int len = (int)lk_min_l(LK__DW_CH, hi - o0);
              float acc[LK__DW_CH];
              double t = 0.0;
              for (int o = 0; o < len; ++o) acc[o] = 0.0f;
              for (int oh = 0; oh < Ho; ++oh) {
                int ih = oh * sh - ph + ki;
                const float *gr = gp + (long)oh * Wo + o0, *xr;
                if (ih < 0 || ih >= Hh) continue;
                xr = xp + (long)ih * Ww + ((long)o0 * sw - pw + kj); /* ≥ 0: o0 ≥ lo */
                if (sw == 1) for (int o = 0; o < len; ++o) acc[o] += gr[o] * xr[o];
                else for (int o = 0; o < len; ++o) acc[o] += gr[o] * xr[(long)o * sw];
              }
              for (int o = 0; o < len; ++o) t += acc[o];
              s += t;
            }
          }
          dw[c * taps + ki * kw + kj] = (float)s;
        }
    }
    return;
  }
  {
    int is1x1 = kh == 1 && kw == 1 && sh == 1 && sw == 1 && ph == 0 && pw == 0;
    /* Images in chunks whose re-laid operands stay near LK__GRAD_COL_FLOATS (as the input
     * gradient), the chunks' products added in order with beta = 1. */
    long per_image = ((long)Cin * taps + Cout) * HWo;
    long chunk = lk_max_l(1, lk_min_l(B, LK__GRAD_COL_FLOATS / lk_max_l(per_image, 1)));
    int copy_x = !(is1x1 && chunk == 1), copy_dy = chunk > 1;
    /* With many more columns of dw than rows (a 3×3 convolution: kg = 9·Cin), the product is
     * computed transposed, dwᵀ_g[kg, cog] = col_g · dyt_gᵀ, into scratch, then turned around: the
     * GEMM then reads the large col in place as its A rows and packs only dy (cog × K) as its B,
     * where dw = dy · colᵀ packed all of col through transposes once per image. Each element is
     * the same sum of the same products in the same order, so dw is bit for bit unchanged. SAG's
     * reduce convolution (192 → 192, 3×3, 32×32, batch 16; a harness timing the 16 per-image GEMMs
     * both ways in one process, 2 threads, medians of 9): faster in 8 of 8 runs, 92-125 → 84-109 ms;
     * the whole kernel, old and new alternating at 10 % steal: medians 100-170 → 85-115 ms (3 of 4
     * pairs faster, one even). */
    int swap = kg >= 2L * cog;
    size_t ncol = copy_x ? (size_t)(Cin * taps * chunk * HWo) : 0, ndy = copy_dy ? (size_t)(Cout * chunk * HWo) : 0;
    size_t ndwt = swap ? (size_t)(Cout * kg) : 0;
    float *ws = ncol + ndy + ndwt ? lk_scratch_alloc(ncol + ndy + ndwt) : NULL, *dwt = ws ? ws + ncol + ndy : NULL;
    if (ncol + ndy + ndwt && !ws) {
      for (long i = 0; i < Cout * kg; ++i) dw[i] = NAN;
      return;
    }
    for (long b0 = 0; b0 < B; b0 += chunk) {
      int nb = (int)lk_min_l(chunk, B - b0);
      long bh = (long)nb * HWo;
      const float *col = x + b0 * Cin * HWi, *dyt = dy + b0 * Cout * HWo;
      if (copy_x) {
        lk__grad_im2col_t(nb, Cin, Hh, Ww, kh, kw, sh, sw, ph, pw, Ho, Wo, col, ws);
        col = ws;
      }
      if (copy_dy) {
        lk__grad_im2col_t(nb, Cout, Ho, Wo, 1, 1, 1, 1, 0, 0, Ho, Wo, dyt, ws + ncol);
        dyt = ws + ncol;
      }
      /* Per group: dw_g[cog, kg] (+)= dyt_g[cog, nb·HWo] · col_g[kg, nb·HWo]ᵀ (K = nb·HWo, both
       * operands with contiguous K: A read in place, B packed through the 8×8 transposes). Beyond
       * 2³¹ − 1 K is cut into pieces, accumulated with beta = 1. */
      for (long k0 = 0; k0 < bh; k0 += 1L << 30) {
        int kk = (int)lk_min_l(1L << 30, bh - k0);
        float beta = b0 > 0 || k0 > 0 ? 1.0f : 0.0f;
        if (swap)
          lk_gemm_ex(G, (int)kg, cog, kk, col + k0, kg * bh, bh, 1, dyt + k0, (long)cog * bh, 1, bh, dwt,
                     (long)cog * kg, cog, beta, NULL, NULL);
        else
          lk_gemm_ex(G, cog, (int)kg, kk, dyt + k0, (long)cog * bh, bh, 1, col + k0, kg * bh, 1, bh, dw,
                     (long)cog * kg, kg, beta, NULL, NULL);
      }
    }
    if (swap) { /* dw_g[co, j] = dwᵀ_g[j, co] */
      const long shape[3] = {G, cog, kg}, st[3] = {kg * cog, 1, cog}, sd[3] = {cog * kg, kg, 1};
      lk_copy_strided(3, shape, dwt, st, dw, sd);
    }
    lk_scratch_free(ws);
  }
}

/* ---- Linear ----------------------------------------------------------------------------------------- */

/* dw[N, K] = dy[rows, N]ᵀ · x[rows, K] (rows = batch × tokens): the weight gradient of
 * y = x·Wᵀ. One GEMM with M = N, N = K and the long rows axis as its reduction: A = dyᵀ (packed
 * from dy's rows, MR contiguous floats per k) and B = x row-major (contiguous NR-float copies).
 * rows = 0 gives dw = 0. dw must not overlap dy or x. */
void lk_linear_grad_weight(long rows, int K, int N, const float *dy, const float *x, float *dw) {
  long r0 = 0;
  do { /* one call unless rows exceeds the GEMM's int K */
    int kk = (int)lk_min_l(1L << 30, rows - r0);
    lk_gemm_ex(1, N, K, kk, dy + r0 * N, 0, 1, N, x + r0 * K, 0, K, 1, dw, 0, K, r0 > 0 ? 1.0f : 0.0f, NULL, NULL);
    r0 += kk;
  } while (r0 < rows);
}

/* ---- Max pooling ---------------------------------------------------------------------------------- */

/* dx [B, C, Hh, Ww]: dy [B, C, Ho, Wo] routed to each window's argmax, geometry as lk_maxpool2d
 * (padding −inf, floor mode). Argmax: the first maximum in scan order (ki, then kj), as
 * PyTorch's indices; a window of −inf goes to its first valid element, as PyTorch's; a NaN
 * takes the window (the first NaN, where lk_maxpool2d stops). Overlapping windows add their
 * gradients in (oh, ow) order. One plane per task. */
void lk_maxpool2d_grad(int B, int C, int Hh, int Ww, int kh, int kw, int sh, int sw, int ph, int pw,
                       const float *x, const float *dy, float *dx) {
  int Ho = (Hh + 2 * ph - kh) / sh + 1, Wo = (Ww + 2 * pw - kw) / sw + 1;
  long planes = (long)B * C, HWi = (long)Hh * Ww;
  if (Ho <= 0 || Wo <= 0) {
    if (planes * HWi > 0) memset(dx, 0, (size_t)(planes * HWi) * sizeof(float));
    return;
  }
  LK_OMP(parallel for schedule(static) if(planes * Ho * Wo * kh * kw >= LK_PAR_MIN))
  for (long p = 0; p < planes; ++p) {
    const float *xp = x + p * HWi, *gp = dy + p * Ho * Wo;
    float *dp = dx + p * HWi;
    memset(dp, 0, (size_t)HWi * sizeof(float));
    for (int oh = 0; oh < Ho; ++oh)
      for (int ow = 0; ow < Wo; ++ow) {
        long arg;
        lk_maxpool_window(xp, Hh, Ww, oh, ow, kh, kw, sh, sw, ph, pw, &arg);
        if (arg >= 0) dp[arg] += gp[(long)oh * Wo + ow];
      }
  }
}

/* ---- Layout ---------------------------------------------------------------------------------------- */

/* Gradient of lk_circular_pad (F.pad mode 'circular', pads given here in F.pad's order left,
 * right, top, bottom): dy [P, Hh + t + b, Ww + l + r] → dx [P, Hh, Ww], each pixel the sum of
 * the dy elements that were copies of it, dy[i, j] feeding dx[(i − t) mod Hh, (j − l) mod Ww]
 * (negative pads crop, as in the forward). Per plane, dy rows in order, each row as runs of
 * contiguous columns: every dx element adds its copies in (i, j) order. */
void lk_circular_pad_grad(long P, int Hh, int Ww, int l, int r, int t, int b, const float *dy, float *dx) {
  long Ho = (long)Hh + t + b, Wo = (long)Ww + l + r, HW = (long)Hh * Ww;
  if (P <= 0 || HW <= 0) return;
  LK_OMP(parallel for schedule(static) if(P * lk_max_l(Ho * Wo, HW) >= LK_PAR_MIN))
  for (long p = 0; p < P; ++p) {
    float *d = dx + p * HW;
    memset(d, 0, (size_t)HW * sizeof(float));
    if (Ho <= 0 || Wo <= 0) continue;
    for (long i = 0; i < Ho; ++i) {
      float *dr = d + lk__grad_mod(i - t, Hh) * Ww;
      const float *gr = dy + (p * Ho + i) * Wo;
      for (long j = 0; j < Wo;) {
        long src = lk__grad_mod(j - l, Ww), len = lk_min_l(Ww - src, Wo - j);
        for (long k = 0; k < len; ++k) dr[src + k] += gr[j + k];
        j += len;
      }
    }
  }
}

/* Gradient of a slice along one axis: x viewed as [outer, L, inner] → y [outer, before + L +
 * after, inner], x in the middle, zeros around. before, after ≥ 0; y must not overlap x. */
void lk_zero_pad(long outer, long L, long inner, long before, long after, const float *x, float *y) {
  long Lo = before + L + after;
  LK_OMP(parallel for schedule(static) if(outer * Lo * inner >= LK_PAR_MIN))
  for (long o = 0; o < outer; ++o) {
    float *yo = y + o * Lo * inner;
    if (before > 0) memset(yo, 0, (size_t)(before * inner) * sizeof(float));
    if (L > 0) memcpy(yo + before * inner, x + o * L * inner, (size_t)(L * inner) * sizeof(float));
    if (after > 0) memset(yo + (before + L) * inner, 0, (size_t)(after * inner) * sizeof(float));
  }
}

/* y = base + zero_pad(x): base with x added into its part [before, before + L) of the padded axis.
 * y may equal base (the usual case, made by the products pass): then only that part is read and
 * written. Otherwise y must not overlap base or x. */
void lk_zero_pad_add(long outer, long L, long inner, long before, long after, const float *x, const float *base,
                     float *y) {
  long Lo = before + L + after;
  LK_OMP(parallel for schedule(static) if(outer * (y == base ? L : Lo) * inner >= LK_PAR_MIN))
  for (long o = 0; o < outer; ++o) {
    const float *xo = x + o * L * inner;
    float *yo = y + o * Lo * inner + before * inner;
    if (y != base) memcpy(y + o * Lo * inner, base + o * Lo * inner, (size_t)(Lo * inner) * sizeof(float));
    for (long i = 0; i < L * inner; ++i) yo[i] += xo[i];
  }
}

/* ---- Naive references: the definitions, double accumulation ------------------------------------------ */

static double lk__grad_act_deriv_ref(int act, double x) {
  switch (act) {
  case LK_ACT_GELU: return 0.5 * erfc(-x / sqrt(2.0)) + x * exp(-0.5 * x * x) / sqrt(2.0 * 3.14159265358979323846);
  case LK_ACT_RELU: return x > 0.0 ? 1.0 : 0.0;
  case LK_ACT_RELU6: return x > 0.0 && x < 6.0 ? 1.0 : 0.0;
  case LK_ACT_HSWISH: return x < -3.0 ? 0.0 : x <= 3.0 ? x / 3.0 + 0.5 : 1.0;
  case LK_ACT_HSIGMOID: return x > -3.0 && x < 3.0 ? 1.0 / 6.0 : 0.0;
  case LK_ACT_SIGMOID: { double s = 1.0 / (1.0 + exp(-x)); return s * (1.0 - s); }
  default: return 1.0;
  }
}

void lk_unary_grad_naive(int act, long n, const float *x, const float *dy, float *dx) {
  for (long i = 0; i < n; ++i) {
    double d = lk__grad_act_deriv_ref(act, x[i]);
    dx[i] = d == 0.0 ? 0.0f : (float)(dy[i] * d);
  }
}

void lk_softmax_grad_naive(long rows, long L, const float *y, const float *dy, float *dx) {
  for (long r = 0; r < rows; ++r) {
    double s = 0.0;
    for (long j = 0; j < L; ++j) s += (double)dy[r * L + j] * y[r * L + j];
    for (long j = 0; j < L; ++j) dx[r * L + j] = (float)(y[r * L + j] * (dy[r * L + j] - s));
  }
}

/* Mean and biased variance of n values at x[i·stride_in_blocks...]: blocks of len contiguous
 * floats, nblocks of them, block k at x + k·bstride. */
static void lk__grad_moments_ref(const float *x, long nblocks, long bstride, long len, double *mean, double *var) {
  double m = 0.0, v = 0.0, n = (double)nblocks * (double)len;
  for (long k = 0; k < nblocks; ++k)
    for (long i = 0; i < len; ++i) m += x[k * bstride + i];
  m /= n;
  for (long k = 0; k < nblocks; ++k)
    for (long i = 0; i < len; ++i) v += (x[k * bstride + i] - m) * (x[k * bstride + i] - m);
  *mean = m;
  *var = v / n;
}

void lk_normalize_naive(long rows, long C, const float *x, float eps, float *y) {
  for (long r = 0; r < rows; ++r) {
    double m, v;
    lk__grad_moments_ref(x + r * C, 1, 0, C, &m, &v);
    for (long c = 0; c < C; ++c) y[r * C + c] = (float)((x[r * C + c] - m) / sqrt(v + eps));
  }
}

/* The norm gradient over one group of n values (blocks as above). */
static void lk__grad_norm_grad_ref(const float *x, const float *g, float *dx, long nblocks, long bstride,
                                   long len, float eps) {
  double m, v, rstd, a = 0.0, b = 0.0, n = (double)nblocks * (double)len;
  lk__grad_moments_ref(x, nblocks, bstride, len, &m, &v);
  rstd = 1.0 / sqrt(v + eps);
  for (long k = 0; k < nblocks; ++k)
    for (long i = 0; i < len; ++i) {
      a += g[k * bstride + i];
      b += g[k * bstride + i] * (x[k * bstride + i] - m) * rstd;
    }
  a /= n;
  b /= n;
  for (long k = 0; k < nblocks; ++k)
    for (long i = 0; i < len; ++i) {
      long at = k * bstride + i;
      dx[at] = (float)(rstd * (g[at] - a - (x[at] - m) * rstd * b));
    }
}

void lk_normalize_grad_naive(long rows, long C, const float *x, const float *dxhat, float eps, float *dx) {
  for (long r = 0; r < rows; ++r) lk__grad_norm_grad_ref(x + r * C, dxhat + r * C, dx + r * C, 1, 0, C, eps);
}

void lk_layernorm_grad_naive(long rows, long C, const float *x, const float *dy, const float *w, const float *res,
                             float eps, float *dx) {
  float *g = (float *)malloc((size_t)(rows * C) * sizeof(float));
  if (!g) return;
  for (long i = 0; i < rows * C; ++i) g[i] = dy[i] * w[i % C];
  lk_normalize_grad_naive(rows, C, x, g, eps, dx);
  if (res)
    for (long i = 0; i < rows * C; ++i) dx[i] += res[i];
  free(g);
}

void lk_layernorm_param_grad_naive(long rows, long C, const float *x, const float *dy, float eps, float *out) {
  double *s = (double *)calloc((size_t)(2 * C > 0 ? 2 * C : 1), sizeof(double));
  for (long r = 0; r < rows; ++r) {
    const float *xr = x + r * C, *gr = dy + r * C;
    double m = 0.0, v = 0.0;
    for (long c = 0; c < C; ++c) m += xr[c];
    m /= (double)C;
    for (long c = 0; c < C; ++c) v += (xr[c] - m) * (xr[c] - m);
    v /= (double)C;
    for (long c = 0; c < C; ++c) {
      s[c] += gr[c] * (xr[c] - m) / sqrt(v + eps);
      s[C + c] += gr[c];
    }
  }
  for (long c = 0; c < 2 * C; ++c) out[c] = (float)s[c];
  free(s);
}
void lk_batch_normalize_naive(int B, long C, long S, const float *x, const float *w, const float *b, float eps, float *y) {
  for (long c = 0; c < C; ++c) {
    double m, v;
    lk__grad_moments_ref(x + c * S, B, C * S, S, &m, &v);
    for (int k = 0; k < B; ++k)
      for (long i = 0; i < S; ++i) {
        long at = ((long)k * C + c) * S + i;
        y[at] = (float)((x[at] - m) / sqrt(v + eps) * (w ? w[c] : 1.0) + (b ? b[c] : 0.0));
      }
  }
}

void lk_batch_normalize_grad_naive(int B, long C, long S, const float *x, const float *dy, const float *w, float eps, float *dx) {
  for (long c = 0; c < C; ++c) {
    lk__grad_norm_grad_ref(x + c * S, dy + c * S, dx + c * S, B, C * S, S, eps);
    for (int k = 0; k < B && w; ++k) /* dx̂ = w·dy, and the gradient is linear in dx̂ */
      for (long i = 0; i < S; ++i) dx[((long)k * C + c) * S + i] = (float)((double)dx[((long)k * C + c) * S + i] * w[c]);
  }
}

void lk_batch_normalize_param_grad_naive(int B, long C, long S, const float *x, const float *dy, float eps, float *out) {
  for (long c = 0; c < C; ++c) {
    double m, v, sw = 0.0, sb = 0.0;
    lk__grad_moments_ref(x + c * S, B, C * S, S, &m, &v);
    for (int k = 0; k < B; ++k)
      for (long i = 0; i < S; ++i) {
        long at = ((long)k * C + c) * S + i;
        sw += dy[at] * (x[at] - m) / sqrt(v + eps);
        sb += dy[at];
      }
    out[c] = (float)sw;
    out[C + c] = (float)sb;
  }
}

void lk_batch_moments_naive(int B, long C, long S, const float *x, float *out) {
  double n = (double)B * (double)S;
  for (long c = 0; c < C; ++c) {
    double m, v;
    lk__grad_moments_ref(x + c * S, B, C * S, S, &m, &v);
    out[c] = (float)m;
    out[C + c] = n > 1.0 ? (float)(v * n / (n - 1.0)) : NAN;
  }
}

/* batch_norm_act and its gradients from their definitions, in double (x [rows, C], m [3, C] as above). */
static void lk__bna_ref_stats(long rows, long C, const float *m, float eps, long c, double *mean, double *rstd) {
  double var = rows > 1 ? (double)m[C + c] * (rows - 1.0) / rows : 0.0;
  *mean = (double)m[c] + m[2 * C + c];
  *rstd = 1.0 / sqrt(var + eps);
}

/* x̂ of element (r, c), and dy = dz ⊙ act'(x̂·w + b) there. */
static double lk__bna_ref_dy(const float *x, const float *dz, const float *w, const float *b, int act, long C, long r, long c,
                             double mean, double rstd, double *xh) {
  *xh = (x[r * C + c] - mean) * rstd;
  return dz[r * C + c] * lk__grad_act_deriv_ref(act, *xh * (w ? w[c] : 1.0) + (b ? b[c] : 0.0));
}

void lk_batch_norm_act_naive(long rows, long C, const float *x, const float *m, const float *w, const float *b, float eps,
                             int act, float *y) {
  for (long c = 0; c < C; ++c) {
    double mean, rstd;
    lk__bna_ref_stats(rows, C, m, eps, c, &mean, &rstd);
    for (long r = 0; r < rows; ++r)
      y[r * C + c] = (float)lk_apply_act_ref(act, (x[r * C + c] - mean) * rstd * (w ? w[c] : 1.0) + (b ? b[c] : 0.0));
  }
}

void lk_batch_norm_act_param_grad_naive(long rows, long C, const float *x, const float *dz, const float *m, const float *w,
                                        const float *b, float eps, int act, float *out) {
  for (long c = 0; c < C; ++c) {
    double mean, rstd, sw = 0.0, sb = 0.0;
    lk__bna_ref_stats(rows, C, m, eps, c, &mean, &rstd);
    for (long r = 0; r < rows; ++r) {
      double xh, dy = lk__bna_ref_dy(x, dz, w, b, act, C, r, c, mean, rstd, &xh);
      sw += dy * xh;
      sb += dy;
    }
    out[c] = (float)sw;
    out[C + c] = (float)sb;
  }
}

void lk_batch_norm_act_grad_naive(long rows, long C, const float *x, const float *dz, const float *m, const float *w,
                                  const float *b, const float *sums, float eps, int act, float *dx) {
  for (long c = 0; c < C; ++c) {
    double mean, rstd, wc = w ? w[c] : 1.0;
    lk__bna_ref_stats(rows, C, m, eps, c, &mean, &rstd);
    for (long r = 0; r < rows; ++r) {
      double xh, dy = lk__bna_ref_dy(x, dz, w, b, act, C, r, c, mean, rstd, &xh);
      dx[r * C + c] = (float)(wc * rstd * (dy - sums[C + c] / (double)rows - xh * sums[c] / (double)rows));
    }
  }
}

/* x2 may be NULL (plain sums), as in lk__reduce_sum. */
static void lk__reduce_sum_naive(int rank, const long *shape, const unsigned char *reduce, const float *x, const float *x2,
                                 float *y) {
  long total = 1, nout = 1;
  double *acc;
  for (int d = 0; d < rank; ++d) {
    total *= shape[d];
    if (!reduce[d]) nout *= shape[d];
  }
  acc = (double *)calloc((size_t)(nout > 0 ? nout : 1), sizeof(double));
  if (!acc) return;
  for (long i = 0; i < total; ++i) {
    long rest = i, o = 0, scale = 1;
    for (int d = rank - 1; d >= 0; --d) {
      long id = rest % shape[d];
      rest /= shape[d];
      if (!reduce[d]) { o += id * scale; scale *= shape[d]; }
    }
    acc[o] += x2 ? (double)x[i] * x2[i] : x[i];
  }
  for (long o = 0; o < nout; ++o) y[o] = (float)acc[o];
  free(acc);
}
void lk_reduce_sum_naive(int rank, const long *shape, const unsigned char *reduce, const float *x, float *y) {
  lk__reduce_sum_naive(rank, shape, reduce, x, NULL, y);
}
void lk_reduce_sum_product_naive(int rank, const long *shape, const unsigned char *reduce, const float *a, const float *b,
                                 float *y) {
  lk__reduce_sum_naive(rank, shape, reduce, a, b, y);
}

void lk_conv2d_grad_input_naive(int B, int Cin, int Hh, int Ww, int Cout, int kh, int kw, int sh, int sw, int ph,
                                int pw, int groups, const float *dy, const float *w, float *dx) {
  int Ho = (Hh + 2 * ph - kh) / sh + 1, Wo = (Ww + 2 * pw - kw) / sw + 1, cig = Cin / groups, cog = Cout / groups;
  for (int b = 0; b < B; ++b)
    for (int ci = 0; ci < Cin; ++ci)
      for (int ih = 0; ih < Hh; ++ih)
        for (int iw = 0; iw < Ww; ++iw) {
          double s = 0.0;
          int g = ci / cig;
          for (int co = g * cog; co < (g + 1) * cog; ++co)
            for (int ki = 0; ki < kh; ++ki)
              for (int kj = 0; kj < kw; ++kj) {
                int oh = ih + ph - ki, ow = iw + pw - kj;
                if (oh < 0 || ow < 0 || oh % sh || ow % sw || oh / sh >= Ho || ow / sw >= Wo) continue;
                s += (double)dy[(((long)b * Cout + co) * Ho + oh / sh) * Wo + ow / sw] *
                     w[(((long)co * cig + ci % cig) * kh + ki) * kw + kj];
              }
          dx[(((long)b * Cin + ci) * Hh + ih) * Ww + iw] = (float)s;
        }
}

void lk_conv2d_grad_weight_naive(int B, int Cin, int Hh, int Ww, int Cout, int kh, int kw, int sh, int sw, int ph,
                                 int pw, int groups, const float *dy, const float *x, float *dw) {
  int Ho = (Hh + 2 * ph - kh) / sh + 1, Wo = (Ww + 2 * pw - kw) / sw + 1, cig = Cin / groups, cog = Cout / groups;
  for (int co = 0; co < Cout; ++co)
    for (int ci = 0; ci < cig; ++ci)
      for (int ki = 0; ki < kh; ++ki)
        for (int kj = 0; kj < kw; ++kj) {
          double s = 0.0;
          int c = co / cog * cig + ci;
          for (int b = 0; b < B; ++b)
            for (int oh = 0; oh < Ho; ++oh)
              for (int ow = 0; ow < Wo; ++ow) {
                int ih = oh * sh - ph + ki, iw = ow * sw - pw + kj;
                if (ih < 0 || ih >= Hh || iw < 0 || iw >= Ww) continue;
                s += (double)dy[(((long)b * Cout + co) * Ho + oh) * Wo + ow] * x[(((long)b * Cin + c) * Hh + ih) * Ww + iw];
              }
          dw[(((long)co * cig + ci) * kh + ki) * kw + kj] = (float)s;
        }
}

void lk_linear_grad_weight_naive(long rows, int K, int N, const float *dy, const float *x, float *dw) {
  for (int n = 0; n < N; ++n)
    for (int k = 0; k < K; ++k) {
      double s = 0.0;
      for (long r = 0; r < rows; ++r) s += (double)dy[r * N + n] * x[r * K + k];
      dw[(long)n * K + k] = (float)s;
    }
}

void lk_maxpool2d_grad_naive(int B, int C, int Hh, int Ww, int kh, int kw, int sh, int sw, int ph, int pw,
                             const float *x, const float *dy, float *dx) {
  int Ho = (Hh + 2 * ph - kh) / sh + 1, Wo = (Ww + 2 * pw - kw) / sw + 1;
  long planes = (long)B * C;
  double *acc = (double *)calloc((size_t)(planes * Hh * Ww > 0 ? planes * Hh * Ww : 1), sizeof(double));
  if (!acc) return;
  for (long p = 0; p < planes; ++p)
    for (int oh = 0; oh < Ho; ++oh)
      for (int ow = 0; ow < Wo; ++ow) {
        long arg = -1;
        float m = -INFINITY;
        int nan = 0;
        for (int ki = 0; ki < kh && !nan; ++ki)
          for (int kj = 0; kj < kw && !nan; ++kj) {
            int ih = oh * sh - ph + ki, iw = ow * sw - pw + kj;
            long at = (p * Hh + ih) * Ww + iw;
            if (ih < 0 || ih >= Hh || iw < 0 || iw >= Ww) continue;
            if (arg < 0) arg = at;
            if (x[at] != x[at]) { arg = at; nan = 1; }
            else if (x[at] > m) { m = x[at]; arg = at; }
          }
        if (arg >= 0) acc[arg] += dy[(p * Ho + oh) * Wo + ow];
      }
  for (long i = 0; i < planes * Hh * Ww; ++i) dx[i] = (float)acc[i];
  free(acc);
}

void lk_circular_pad_grad_naive(long P, int Hh, int Ww, int l, int r, int t, int b, const float *dy, float *dx) {
  long Ho = (long)Hh + t + b, Wo = (long)Ww + l + r;
  for (long p = 0; p < P; ++p)
    for (long i = 0; i < Hh; ++i)
      for (long j = 0; j < Ww; ++j) {
        double s = 0.0;
        for (long oi = 0; oi < Ho; ++oi)
          for (long oj = 0; oj < Wo; ++oj)
            if (lk__grad_mod(oi - t, Hh) == i && lk__grad_mod(oj - l, Ww) == j) s += dy[(p * Ho + oi) * Wo + oj];
        dx[(p * Hh + i) * Ww + j] = (float)s;
      }
}

void lk_zero_pad_naive(long outer, long L, long inner, long before, long after, const float *x, float *y) {
  long Lo = before + L + after;
  for (long o = 0; o < outer; ++o)
    for (long l = 0; l < Lo; ++l)
      for (long i = 0; i < inner; ++i)
        y[(o * Lo + l) * inner + i] = l >= before && l < before + L ? x[(o * L + l - before) * inner + i] : 0.0f;
}

void lk_zero_pad_add_naive(long outer, long L, long inner, long before, long after, const float *x, const float *base,
                           float *y) {
  long n = outer * (before + L + after) * inner;
  float *p = (float *)malloc((size_t)n * sizeof(float));
  if (!p) return;
  lk_zero_pad_naive(outer, L, inner, before, after, x, p);
  for (long i = 0; i < n; ++i) y[i] = base[i] + p[i];
  free(p);
}
