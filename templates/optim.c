/* locus-requires: prologue.h */
/* Training: the optimiser updates, applied to each parameter tensor after the backward pass, and
 * the sum of squares behind global-norm gradient clipping (the caller adds the tensors' sums,
 * takes the root and passes min(1, max_norm/(norm + 1e-6)) as gscale).
 *
 * The steps follow torch.optim's single-tensor CPU code operation by operation, in float, with
 * the scalars PyTorch computes in double (bias corrections, 1 − β, 1 − lr·wd) computed in double
 * from the decimal hyperparameters (lk__optim_decimal) and rounded once, so a model trained here
 * tracks the same model trained in PyTorch to float rounding, step after step. Where PyTorch's vectorised kernel fuses a multiply-add (lerp,
 * add with alpha) the expression here is one a·b + c that clang contracts on FMA targets
 * (-ffp-contract=on, PyTorch's AVX2 kernels use FMA there too); where PyTorch rounds between
 * operations (addcmul, mul_ then add_) they are separate statements, which are never
 * contracted. Elementwise, vectorised with a padded last vector: every element gets the same
 * arithmetic whatever the thread split. */

/* Square root of a vector, correctly rounded like sqrtf. libm's sqrtf keeps errno semantics that
 * stop clang from vectorising a loop around it; the elementwise builtin is the plain instruction. */
#ifdef __has_builtin
#  if __has_builtin(__builtin_elementwise_sqrt)
#    define LK__OPTIM_VSQRT 1
#  endif
#endif
static inline lk_vf lk__optim_vsqrt(lk_vf v) {
#ifdef LK__OPTIM_VSQRT
  return __builtin_elementwise_sqrt(v);
#else
  for (int i = 0; i < LK_VW; ++i) v[i] = sqrtf(v[i]);
  return v;
#endif
}

/* ---- Σ x² ----------------------------------------------------------------------------------------- */

#define LK__SS_BLOCKS 64
#define LK__SS_MIN_BLOCK 16384
typedef double lk__optim_vd8 __attribute__((vector_size(64))); /* local accumulators only */

/* Σ x[lo:hi)², 8 double lanes (squares of floats are exact in double), then the lanes in order. */
static double lk__optim_ss_block(const float *x, long lo, long hi) {
  lk__optim_vd8 acc = {0};
  double s = 0.0;
  long i = lo;
  for (; i + 8 <= hi; i += 8) {
    lk_v8 v;
    lk__optim_vd8 d;
    memcpy(&v, x + i, sizeof v);
    d = __builtin_convertvector(v, lk__optim_vd8);
    acc += d * d;
  }
  for (int k = 0; k < 8; ++k) s += acc[k];
  for (; i < hi; ++i) s += (double)x[i] * x[i];
  return s;
}

/* Σ x[0:n)² in double. Fixed blocks (their number depends on n only), added in order: the same
 * result on any number of threads. */
double lk_sum_squares(long n, const float *x) {
  double part[LK__SS_BLOCKS], s = 0.0;
  long nb = lk_max_l(1, lk_min_l(LK__SS_BLOCKS, n / LK__SS_MIN_BLOCK));
  if (n <= 0) return 0.0;
  LK_OMP(parallel for schedule(static) if(n >= LK_PAR_MIN))
  for (long b = 0; b < nb; ++b) {
    long lo, hi;
    lk_split(n, (int)nb, (int)b, &lo, &hi);
    part[b] = lk__optim_ss_block(x, lo, hi);
  }
  for (long b = 0; b < nb; ++b) s += part[b];
  return s;
}

/* ---- AdamW ---------------------------------------------------------------------------------------- */

/* The double a float hyperparameter stands for: the shortest decimal (≤ 9 significant digits)
 * that rounds to f, as a double, for 0 < f < 1. PyTorch keeps lr, betas and weight decay as
 * Python doubles (0.999, not 0.999f) and computes 1 − β, β^step and lr/bc in double; from the
 * float, 1 − 0.999f = 0.00099998713 would be 1.3e-5 off 1 − 0.999 (the subtraction amplifies
 * the float's representation error 1000×), far more than float rounding. Other values are
 * returned as they are. Candidates are checked by rounding back to f, so a wrong one is never
 * taken. */
static double lk__optim_decimal(float f) {
  if (!(f > 0.0f && f < 1.0f)) return f;
  for (int digits = 1; digits <= 9; ++digits) {
    int e = (int)floor(log10((double)f)); /* f = d.ddd·10^e, e in [−45, −1] */
    double scale = pow(10.0, digits - 1 - e), d;
    if (scale > 1e22) break; /* 10^k is exact in double only up to 10^22 */
    d = nearbyint((double)f * scale) / scale;
    if ((float)d == f) return d;
  }
  return f;
}

typedef struct {
  float gscale, decay, w1, beta2, w2, bc2s, eps, nstep;
  int small; /* lerp weight w1 < 0.5: PyTorch's lerp takes its other branch otherwise */
} lk__adamw_k;

/* One vector of parameters, in PyTorch's order (torch/optim/adamw.py, _single_tensor_adamw):
 *   g = grad·gscale               (clip_grad_norm_'s grad.mul_(clip_coef))
 *   p = p·(1 − lr·wd)             param.mul_(1 - lr * weight_decay)
 *   m = lerp(m, g, 1 − β1)        exp_avg.lerp_(grad, 1 - beta1): fma(w, g − m, m)
 *   v = v·β2; v = v + (1 − β2)·g·g  exp_avg_sq.mul_(beta2).addcmul_(grad, grad, value=1 - beta2)
 *   den = √v / √bc2 + eps         (exp_avg_sq.sqrt() / bias_correction2_sqrt).add_(eps)
 *   p = p + (−lr/bc1)·m / den     param.addcdiv_(exp_avg, denom, value=-step_size) */
static inline void lk__adamw_vec(float *p, const float *grad, float *m, float *v, const lk__adamw_k *k) {
  lk_vf g = lk_vload(grad) * k->gscale, pv = lk_vload(p) * k->decay, mv = lk_vload(m), vv = lk_vload(v), t, den;
  if (k->small) mv = mv + k->w1 * (g - mv);
  else mv = g + (k->w1 - 1.0f) * (g - mv);
  vv = vv * k->beta2;
  t = k->w2 * g * g;
  vv = vv + t;
  den = lk__optim_vsqrt(vv) / k->bc2s;
  den = den + k->eps;
  t = k->nstep * mv / den;
  pv = pv + t;
  lk_vstore(p, pv);
  lk_vstore(m, mv);
  lk_vstore(v, vv);
}

/* torch.optim.AdamW (amsgrad off, maximize off) on n elements: p, m (exp_avg), v (exp_avg_sq)
 * updated in place, grad read. step ≥ 1 is the step count after this update (PyTorch's state
 * step). Weight decay is decoupled: p·(1 − lr·wd) before the Adam update. */
void lk_adamw_step(long n, float *p, const float *grad, float *m, float *v, float lr, float beta1, float beta2,
                   float eps, float wd, long step, float gscale) {
  lk__adamw_k k;
  double lrd = lk__optim_decimal(lr), wdd = lk__optim_decimal(wd);
  double b1 = lk__optim_decimal(beta1), b2 = lk__optim_decimal(beta2);
  double bc1 = 1.0 - pow(b1, (double)step), bc2 = 1.0 - pow(b2, (double)step);
  long nv = lk_ceil_div(n, LK_VW);
  k.gscale = gscale;
  k.decay = (float)(1.0 - lrd * wdd);
  k.w1 = (float)(1.0 - b1);
  k.small = fabsf(k.w1) < 0.5f;
  k.beta2 = beta2; /* exp_avg_sq.mul_(beta2): PyTorch rounds β2 to float here */
  k.w2 = (float)(1.0 - b2);
  k.bc2s = (float)sqrt(bc2);
  k.eps = eps; /* .add_(eps): likewise */
  k.nstep = (float)(-(lrd / bc1));
  LK_OMP(parallel for schedule(static) if(n >= LK_PAR_MIN))
  for (long i = 0; i < nv; ++i) {
    long at = i * LK_VW;
    if (at + LK_VW <= n) {
      lk__adamw_vec(p + at, grad + at, m + at, v + at, &k);
    } else {
      float tp[LK_VW] = {0}, tg[LK_VW] = {0}, tm[LK_VW] = {0}, tv[LK_VW] = {0};
      size_t bytes = (size_t)(n - at) * sizeof(float);
      memcpy(tp, p + at, bytes); memcpy(tg, grad + at, bytes); memcpy(tm, m + at, bytes); memcpy(tv, v + at, bytes);
      lk__adamw_vec(tp, tg, tm, tv, &k);
      memcpy(p + at, tp, bytes); memcpy(m + at, tm, bytes); memcpy(v + at, tv, bytes);
    }
  }
}

/* ---- SGD ------------------------------------------------------------------------------------------- */

typedef struct { float gscale, wd, momentum, nlr; int first, use_buf; } lk__sgd_k;

/* One vector, in PyTorch's order (torch/optim/sgd.py, _single_tensor_sgd):
 *   g = grad·gscale
 *   g = g + wd·p                  grad.add(param, alpha=weight_decay)   (only when wd ≠ 0)
 *   buf = g (first step) or buf·μ, then + g   buf.mul_(momentum).add_(grad, alpha=1 - 0)
 *   p = p + (−lr)·buf             param.add_(grad, alpha=-lr) */
static inline void lk__sgd_vec(float *p, const float *grad, float *buf, const lk__sgd_k *k) {
  lk_vf g = lk_vload(grad) * k->gscale, pv = lk_vload(p);
  if (k->wd != 0.0f) g = g + k->wd * pv;
  if (k->use_buf) {
    if (!k->first) {
      lk_vf b = lk_vload(buf) * k->momentum;
      g = b + g;
    }
    lk_vstore(buf, g);
  }
  pv = pv + k->nlr * g;
  lk_vstore(p, pv);
}

/* torch.optim.SGD (dampening 0, nesterov off, maximize off) on n elements. buf is the momentum
 * buffer, written on step 1 (PyTorch clones the gradient into it), unused (may be NULL) when
 * momentum == 0. */
void lk_sgd_step(long n, float *p, const float *grad, float *buf, float lr, float momentum, float wd, long step,
                 float gscale) {
  lk__sgd_k k;
  long nv = lk_ceil_div(n, LK_VW);
  k.gscale = gscale; k.wd = wd; k.momentum = momentum; k.nlr = -lr;
  k.first = step <= 1; k.use_buf = momentum != 0.0f;
  LK_OMP(parallel for schedule(static) if(n >= LK_PAR_MIN))
  for (long i = 0; i < nv; ++i) {
    long at = i * LK_VW;
    if (at + LK_VW <= n) {
      lk__sgd_vec(p + at, grad + at, k.use_buf ? buf + at : NULL, &k);
    } else {
      float tp[LK_VW] = {0}, tg[LK_VW] = {0}, tb[LK_VW] = {0};
      size_t bytes = (size_t)(n - at) * sizeof(float);
      memcpy(tp, p + at, bytes); memcpy(tg, grad + at, bytes);
      if (k.use_buf) memcpy(tb, buf + at, bytes);
      lk__sgd_vec(tp, tg, tb, &k);
      memcpy(p + at, tp, bytes);
      if (k.use_buf) memcpy(buf + at, tb, bytes);
    }
  }
}

/* ---- References: the textbook formulas in double ---------------------------------------------------- */

double lk_sum_squares_naive(long n, const float *x) {
  double s = 0.0;
  for (long i = 0; i < n; ++i) s += (double)x[i] * x[i];
  return s;
}

/* The hyperparameters mean their decimals here too (lk__optim_decimal): the definition is PyTorch's. */
void lk_adamw_step_naive(long n, float *p, const float *grad, float *m, float *v, float lr, float beta1, float beta2,
                         float eps, float wd, long step, float gscale) {
  double lrd = lk__optim_decimal(lr), wdd = lk__optim_decimal(wd);
  double b1 = lk__optim_decimal(beta1), b2 = lk__optim_decimal(beta2);
  double bc1 = 1.0 - pow(b1, (double)step), bc2 = 1.0 - pow(b2, (double)step);
  for (long i = 0; i < n; ++i) {
    double g = (double)grad[i] * gscale, pp = p[i] * (1.0 - lrd * wdd);
    double mm = b1 * m[i] + (1.0 - b1) * g, vv = b2 * v[i] + (1.0 - b2) * g * g;
    pp -= lrd * (mm / bc1) / (sqrt(vv / bc2) + eps);
    p[i] = (float)pp;
    m[i] = (float)mm;
    v[i] = (float)vv;
  }
}

void lk_sgd_step_naive(long n, float *p, const float *grad, float *buf, float lr, float momentum, float wd, long step,
                       float gscale) {
  for (long i = 0; i < n; ++i) {
    double g = (double)grad[i] * gscale + (double)wd * p[i];
    if (momentum != 0.0f) {
      g = step <= 1 ? g : momentum * (double)buf[i] + g;
      buf[i] = (float)g;
    }
    p[i] = (float)(p[i] - (double)lr * g);
  }
}
