/* locus-requires: prologue.h */
/* Training: the loss at the end of the graph, softmax cross-entropy with soft targets (one-hot
 * labels, label smoothing and mixup all arrive as a target distribution), and its gradient,
 * which starts the backward pass.
 *
 * Rows (samples) are independent: the gradient splits rows over the threads. The loss is one
 * number: each row's loss is computed in double, rows are added in double within fixed blocks
 * (their bounds depend on B only), and the blocks in order, so the result does not depend on the
 * thread count. */

#define LK__CE_BLOCKS 64

/* double vector of LK_VW lanes: local accumulators only (never passed to a function, whose ABI
 * for a vector wider than the target's registers would change). */
typedef double lk__ce_vd __attribute__((vector_size(LK_VW * 8)));

/* Row max, then Σ_k exp(z_k − max) with exps from lk_vexp (≤ 1 ulp, exactly 1 at the max) summed
 * in double lanes; the exps are stored to e when e is not NULL. The tail goes through a padded
 * vector (−inf lanes give 0), so every element sees the same arithmetic. */
static double lk__ce_sumexp(int K, const float *z, float *m_out, float *e) {
  lk_vf vm = lk_vset1(-INFINITY);
  lk__ce_vd acc = {0};
  float m;
  double s = 0.0;
  int k = 0;
  for (; k + LK_VW <= K; k += LK_VW) vm = lk_vmax(lk_vload(z + k), vm);
  m = lk_vhmax(vm);
  for (; k < K; ++k) m = z[k] > m ? z[k] : m;
  if (m == -INFINITY) m = 0.0f; /* an all −inf row gives NaN below, as PyTorch */
  for (k = 0; k < K; k += LK_VW) {
    lk_vf ev;
    if (k + LK_VW <= K) {
      ev = lk_vexp(lk_vload(z + k) - m);
      if (e) lk_vstore(e + k, ev);
    } else {
      float t[LK_VW];
      for (int i = 0; i < LK_VW; ++i) t[i] = k + i < K ? z[k + i] - m : -INFINITY;
      ev = lk_vexp(lk_vload(t));
      if (e) {
        lk_vstore(t, ev);
        memcpy(e + k, t, (size_t)(K - k) * sizeof(float));
      }
    }
    acc += __builtin_convertvector(ev, lk__ce_vd);
  }
  for (int i = 0; i < LK_VW; ++i) s += acc[i];
  *m_out = m;
  return s;
}

/* Loss of one row: Σ_k t_k·(lse − z_k) = log(s)·Σ_k t_k + Σ_k t_k·(m − z_k), lse = m + log s,
 * in double (m − z_k is exact in double). */
static double lk__ce_row(int K, const float *z, const float *t) {
  float m;
  double ls = log(lk__ce_sumexp(K, z, &m, NULL)), st = 0.0, sd = 0.0;
  lk__ce_vd at = {0}, ad = {0}, md;
  int k = 0;
  for (int i = 0; i < LK_VW; ++i) md[i] = m;
  for (; k + LK_VW <= K; k += LK_VW) {
    lk__ce_vd tv = __builtin_convertvector(lk_vload(t + k), lk__ce_vd);
    lk__ce_vd zv = __builtin_convertvector(lk_vload(z + k), lk__ce_vd);
    at += tv;
    ad += tv * (md - zv);
  }
  for (int i = 0; i < LK_VW; ++i) { st += at[i]; sd += ad[i]; }
  for (; k < K; ++k) {
    st += t[k];
    sd += t[k] * ((double)m - z[k]);
  }
  return ls * st + sd;
}

/* loss[0] = (1/B) Σ_b Σ_k −t_bk · log_softmax(z_b)_k for logits, targets [B, K] (nn.CrossEntropyLoss
 * with probability targets, reduction 'mean'). Targets need not sum to 1. */
void lk_cross_entropy(int B, int K, const float *logits, const float *targets, float *loss) {
  double part[LK__CE_BLOCKS], total = 0.0;
  int nb = B < LK__CE_BLOCKS ? B : LK__CE_BLOCKS;
  if (B <= 0) { loss[0] = NAN; return; } /* mean over no samples, as PyTorch */
  LK_OMP(parallel for schedule(static) if((long)B * K >= LK_PAR_MIN))
  for (int blk = 0; blk < nb; ++blk) {
    long lo, hi;
    double s = 0.0;
    lk_split(B, nb, blk, &lo, &hi);
    for (long b = lo; b < hi; ++b) s += lk__ce_row(K, logits + b * K, targets + b * K);
    part[blk] = s;
  }
  for (int blk = 0; blk < nb; ++blk) total += part[blk];
  loss[0] = (float)(total / B);
}

/* dlogits = (softmax(z) − t)/B, the gradient of lk_cross_entropy when Σ_k t_bk = 1 (PyTorch
 * computes softmax·Σt − t, the same for normalised targets). One row per task; dlogits may equal
 * logits. */
void lk_cross_entropy_grad(int B, int K, const float *logits, const float *targets, float *dlogits) {
  LK_OMP(parallel for schedule(static) if((long)B * K >= LK_PAR_MIN))
  for (long b = 0; b < B; ++b) {
    const float *t = targets + b * K;
    float *d = dlogits + b * K, m;
    float inv = (float)(1.0 / lk__ce_sumexp(K, logits + b * K, &m, d)), fb = (float)B;
    for (int k = 0; k < K; ++k) d[k] = (d[k] * inv - t[k]) / fb;
  }
}

/* References: libm in double. */
void lk_cross_entropy_naive(int B, int K, const float *logits, const float *targets, float *loss) {
  double total = 0.0;
  for (int b = 0; b < B; ++b) {
    const float *z = logits + (long)b * K, *t = targets + (long)b * K;
    double m = -INFINITY, s = 0.0, lse;
    for (int k = 0; k < K; ++k) m = z[k] > m ? z[k] : m;
    for (int k = 0; k < K; ++k) s += exp(z[k] - m);
    lse = m + log(s);
    for (int k = 0; k < K; ++k) total += -(double)t[k] * (z[k] - lse);
  }
  loss[0] = (float)(total / B);
}

void lk_cross_entropy_grad_naive(int B, int K, const float *logits, const float *targets, float *dlogits) {
  for (int b = 0; b < B; ++b) {
    const float *z = logits + (long)b * K, *t = targets + (long)b * K;
    double m = -INFINITY, s = 0.0;
    for (int k = 0; k < K; ++k) m = z[k] > m ? z[k] : m;
    for (int k = 0; k < K; ++k) s += exp(z[k] - m);
    for (int k = 0; k < K; ++k) dlogits[(long)b * K + k] = (float)((exp(z[k] - m) / s - t[k]) / B);
  }
}
