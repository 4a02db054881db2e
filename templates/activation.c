/* locus-requires: prologue.h */
/* Elementwise kernels: activations, rsqrt, binary arithmetic with broadcasting, scalar variants.
 * All take the total element count (batch included) and allow in-place use (y == x). */

/* ---- Activations ---------------------------------------------------------------------------------
 * Each is a function of one vector. The last partial vector goes through a padded copy, so every
 * element sees the same arithmetic wherever a thread's range starts: results do not depend on the
 * thread count. */
#define LK__UNARY(name)                                                          \
  void lk_##name(long n, const float *x, float *y) {                             \
    long nv = lk_ceil_div(n, LK_VW);                                             \
    LK_OMP(parallel for schedule(static) if(n >= LK_PAR_MIN))                    \
    for (long i = 0; i < nv; ++i) {                                              \
      long at = i * LK_VW;                                                       \
      if (at + LK_VW <= n) {                                                     \
        lk_vstore(y + at, lk_v##name(lk_vload(x + at)));                         \
      } else {                                                                   \
        float t[LK_VW] = {0};                                                    \
        memcpy(t, x + at, (size_t)(n - at) * sizeof(float));                     \
        lk_vstore(t, lk_v##name(lk_vload(t)));                                   \
        memcpy(y + at, t, (size_t)(n - at) * sizeof(float));                     \
      }                                                                          \
    }                                                                            \
  }

/* The vector forms (lk_vgelu, lk_vrelu, ...) live in prologue.h, shared with the fused kernels'
 * epilogues. */
LK__UNARY(gelu)
LK__UNARY(relu)
LK__UNARY(relu6)
LK__UNARY(hswish)
LK__UNARY(hsigmoid)
LK__UNARY(sigmoid)

/* rsqrt(x) = 1/√x (IEEE sqrt, then a division: ≤ 1 ulp from the correctly rounded value; x = 0
 * gives +inf, x < 0 NaN). Folding BatchNorm (scale = w · rsqrt(var + eps)) runs it once, in the
 * model's prepare step, on C elements: a plain loop is enough. */
void lk_rsqrt(long n, const float *x, float *y) {
  LK_OMP(parallel for schedule(static) if(n >= LK_PAR_MIN))
  for (long i = 0; i < n; ++i) y[i] = 1.0f / sqrtf(x[i]);
}

/* References: libm, double where it matters. */
void lk_gelu_naive(long n, const float *x, float *y) {
  /* erfc form: in double, 1 + erf(x/√2) would still cancel below x ≈ −8. */
  for (long i = 0; i < n; ++i) y[i] = (float)(0.5 * x[i] * erfc(-x[i] / sqrt(2.0)));
}
void lk_relu_naive(long n, const float *x, float *y) {
  for (long i = 0; i < n; ++i) y[i] = x[i] > 0.0f ? x[i] : (x[i] != x[i] ? x[i] : 0.0f);
}
void lk_relu6_naive(long n, const float *x, float *y) {
  for (long i = 0; i < n; ++i) y[i] = x[i] > 6.0f ? 6.0f : x[i] > 0.0f ? x[i] : 0.0f;
}
void lk_hswish_naive(long n, const float *x, float *y) {
  for (long i = 0; i < n; ++i) {
    float r = x[i] + 3.0f > 6.0f ? 6.0f : x[i] + 3.0f > 0.0f ? x[i] + 3.0f : 0.0f;
    y[i] = x[i] * r / 6.0f;
  }
}
void lk_hsigmoid_naive(long n, const float *x, float *y) {
  for (long i = 0; i < n; ++i) y[i] = (x[i] + 3.0f > 6.0f ? 6.0f : x[i] + 3.0f > 0.0f ? x[i] + 3.0f : 0.0f) / 6.0f;
}
void lk_sigmoid_naive(long n, const float *x, float *y) {
  for (long i = 0; i < n; ++i) y[i] = (float)(1.0 / (1.0 + exp(-(double)x[i])));
}
void lk_rsqrt_naive(long n, const float *x, float *y) {
  for (long i = 0; i < n; ++i) y[i] = (float)(1.0 / sqrt((double)x[i]));
}

/* ---- Binary arithmetic with broadcasting ----------------------------------------------------------
 * y is dense with shape[0:rank] (rank ≤ LK_MAX_RANK, batch axis included); operand element at
 * multi-index i is a[Σ_d i_d·sa[d]] and b[Σ_d i_d·sb[d]]. Broadcast axes have stride 0, so numpy
 * broadcasting, an unbatched parameter added to a batch (stride 0 on the batch axis) and a
 * per-channel scale [C,1,1] are all just strides. The emitter writes the three arrays as constants:
 *     static const long shp[] = {B, 197, 192}, sa[] = {37824, 192, 1}, sb[] = {0, 192, 1};
 *     lk_add(3, shp, x, sa, pos_embed, sb, y);
 * y may equal a or b when that operand has y's own dense strides (in-place residual add). */

/* Drops size-1 axes and merges neighbours that are contiguous in every operand, so the common
 * cases become one long inner axis (same shape: stride 1/1; bias over channels: 1/0). s[k] are
 * operand k's strides; st[k] receives its merged ones. */
static int lk__ew_collapse(int rank, const long *shape, int nops, const long *const *s, long *n, long (*st)[LK_MAX_RANK]) {
  int r = 0;
  for (int d = 0; d < rank; ++d) {
    int merge = r > 0;
    if (shape[d] == 1) continue;
    for (int k = 0; k < nops && merge; ++k) merge = st[k][r - 1] == s[k][d] * shape[d];
    if (merge) n[r - 1] *= shape[d];
    else n[r++] = shape[d];
    for (int k = 0; k < nops; ++k) st[k][r - 1] = s[k][d];
  }
  if (r == 0) {
    n[0] = 1;
    for (int k = 0; k < nops; ++k) st[k][0] = 0;
    r = 1;
  }
  return r;
}

/* One contiguous run of y: the common stride patterns get their own loop so the compiler
 * vectorises them. */
#define LK__RUN(OP)                                                                              \
  if (ia == 1 && ib == 1) for (long i = 0; i < len; ++i) y[i] = a[i] OP b[i];                    \
  else if (ia == 1 && ib == 0) { float s = b[0]; for (long i = 0; i < len; ++i) y[i] = a[i] OP s; } \
  else if (ia == 0 && ib == 1) { float s = a[0]; for (long i = 0; i < len; ++i) y[i] = s OP b[i]; } \
  else for (long i = 0; i < len; ++i) y[i] = a[i * ia] OP b[i * ib];
/* a·b + c (one rounding where the compiler contracts it into an FMA, the default here). */
#define LK__RUN_MUL_ADD(A, B, C) for (long i = 0; i < len; ++i) y[i] = (A) * (B) + (C);

static void lk__ew_run(int op, long len, const float *const *x, const long *inc, float *y) {
  const float *a = x[0], *b = x[1], *c = x[2];
  const long ia = inc[0], ib = inc[1], ic = inc[2];
  switch (op) {
  case LK_OP_ADD: LK__RUN(+) break;
  case LK_OP_SUB: LK__RUN(-) break;
  case LK_OP_MUL: LK__RUN(*) break;
  case LK_OP_DIV: LK__RUN(/) break;
  default: /* LK_OP_MUL_ADD */
    if (ia == 1 && ib == 1 && ic == 1) LK__RUN_MUL_ADD(a[i], b[i], c[i])
    else if (ia == 1 && ib == 0 && ic == 0) { float s = b[0], t = c[0]; LK__RUN_MUL_ADD(a[i], s, t) }
    else if (ia == 1 && ib == 1 && ic == 0) { float t = c[0]; LK__RUN_MUL_ADD(a[i], b[i], t) }
    else if (ia == 1 && ib == 0 && ic == 1) { float s = b[0]; LK__RUN_MUL_ADD(a[i], s, c[i]) }
    else LK__RUN_MUL_ADD(a[i * ia], b[i * ib], c[i * ic])
    break;
  }
}

/* y = op(x[0], ..., x[nops − 1]) over shape[0:rank], operand k read through strides s[k]. */
static void lk__elementwise(int op, int nops, int rank, const long *shape, const float *const *x, const long *const *s,
                            float *y) {
  long n[LK_MAX_RANK], st[3][LK_MAX_RANK], total = 1;
  int r = lk__ew_collapse(rank, shape, nops, s, n, st);
  for (int d = 0; d < r; ++d) total *= n[d];
  if (total == 0) return;
  {
    const long inner = n[r - 1];
    LK_OMP(parallel if(total >= LK_PAR_MIN))
    {
      long lo, hi, idx[LK_MAX_RANK], row, col, off[3] = {0, 0, 0}, inc[3] = {0, 0, 0};
      const float *at[3] = {NULL, NULL, NULL};
      lk_split(total, lk_team_size(), lk_thread_id(), &lo, &hi);
      for (int k = 0; k < nops; ++k) inc[k] = st[k][r - 1];
      /* Walk this thread's range of y in runs that stay inside one inner row. The outer
       * multi-index is found by division once, then stepped like an odometer: per run, divisions
       * cost more than a short run (49 pixels of a 7×7 channel) itself. */
      row = lo / inner;
      col = lo % inner;
      for (int d = r - 2; d >= 0; --d) {
        idx[d] = row % n[d];
        for (int k = 0; k < nops; ++k) off[k] += idx[d] * st[k][d];
        row /= n[d];
      }
      for (long pos = lo; pos < hi; col = 0) {
        long len = lk_min_l(inner - col, hi - pos);
        for (int k = 0; k < nops; ++k) at[k] = x[k] + off[k] + col * inc[k];
        lk__ew_run(op, len, at, inc, y + pos);
        pos += len;
        for (int d = r - 2; d >= 0; --d) {
          int wrap = ++idx[d] == n[d];
          for (int k = 0; k < nops; ++k) off[k] += (wrap ? 1 - n[d] : 1) * st[k][d];
          if (!wrap) break;
          idx[d] = 0;
        }
      }
    }
  }
}

void lk_binary(int op, int rank, const long *shape, const float *a, const long *sa, const float *b,
               const long *sb, float *y) {
  lk__elementwise(op, 2, rank, shape, (const float *const[]){a, b}, (const long *const[]){sa, sb}, y);
}

void lk_add(int rank, const long *shape, const float *a, const long *sa, const float *b, const long *sb, float *y) {
  lk_binary(LK_OP_ADD, rank, shape, a, sa, b, sb, y);
}
void lk_sub(int rank, const long *shape, const float *a, const long *sa, const float *b, const long *sb, float *y) {
  lk_binary(LK_OP_SUB, rank, shape, a, sa, b, sb, y);
}
void lk_mul(int rank, const long *shape, const float *a, const long *sa, const float *b, const long *sb, float *y) {
  lk_binary(LK_OP_MUL, rank, shape, a, sa, b, sb, y);
}
void lk_div(int rank, const long *shape, const float *a, const long *sa, const float *b, const long *sb, float *y) {
  lk_binary(LK_OP_DIV, rank, shape, a, sa, b, sb, y);
}

/* y = a·b + c with broadcasting (training's mul_add: a LayerNorm's affine part, squeeze-excite's
 * input gradient), in one pass instead of a product pass and a sum pass. y may equal an operand
 * that has y's own dense strides. */
void lk_mul_add(int rank, const long *shape, const float *a, const long *sa, const float *b, const long *sb,
                const float *c, const long *sc, float *y) {
  lk__elementwise(LK_OP_MUL_ADD, 3, rank, shape, (const float *const[]){a, b, c}, (const long *const[]){sa, sb, sc}, y);
}

/* References: every element's operand offsets from its multi-index. */
static long lk__ew_offset(int rank, const long *shape, const long *s, long i) {
  long off = 0;
  for (int d = rank - 1; d >= 0; --d) {
    off += i % shape[d] * s[d];
    i /= shape[d];
  }
  return off;
}

void lk_binary_naive(int op, int rank, const long *shape, const float *a, const long *sa, const float *b,
                     const long *sb, float *y) {
  long total = 1;
  for (int d = 0; d < rank; ++d) total *= shape[d];
  for (long i = 0; i < total; ++i) {
    const float u = a[lk__ew_offset(rank, shape, sa, i)], v = b[lk__ew_offset(rank, shape, sb, i)];
    switch (op) {
    case LK_OP_ADD: y[i] = u + v; break;
    case LK_OP_SUB: y[i] = u - v; break;
    case LK_OP_MUL: y[i] = u * v; break;
    default: y[i] = u / v; break;
    }
  }
}

/* In double: the product of two floats is exact there. */
void lk_mul_add_naive(int rank, const long *shape, const float *a, const long *sa, const float *b, const long *sb,
                      const float *c, const long *sc, float *y) {
  long total = 1;
  for (int d = 0; d < rank; ++d) total *= shape[d];
  for (long i = 0; i < total; ++i)
    y[i] = (float)((double)a[lk__ew_offset(rank, shape, sa, i)] * b[lk__ew_offset(rank, shape, sb, i)] +
                   c[lk__ew_offset(rank, shape, sc, i)]);
}

/* ---- Scalar variants: y[n] = x ∘ s or s ∘ x (a float constant on either side in the spec). ------ */
#define LK__SCALAR(name, EXPR)                                                   \
  void lk_##name(long n, const float *x, float s, float *y) {                    \
    LK_OMP(parallel for schedule(static) if(n >= LK_PAR_MIN))                    \
    for (long i = 0; i < n; ++i) y[i] = EXPR;                                    \
  }
LK__SCALAR(add_scalar, x[i] + s)
LK__SCALAR(sub_scalar, x[i] - s)
LK__SCALAR(rsub_scalar, s - x[i])
LK__SCALAR(mul_scalar, x[i] * s)
LK__SCALAR(div_scalar, x[i] / s)
LK__SCALAR(rdiv_scalar, s / x[i])
