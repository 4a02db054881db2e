/* locus-requires: prologue.h */
/* Normalisations: layernorm over the last axis of tokens, batchnorm (inference) over channels. */

/* Σ (x − m)² in the fixed lane order of lk_sum. */
static float lk__norm_sum_sq_dev(const float *x, int n, float m) {
  lk_vf s0 = lk_vzero(), s1 = lk_vzero();
  int i = 0;
  for (; i + 2 * LK_VW <= n; i += 2 * LK_VW) {
    lk_vf d0 = lk_vload(x + i) - m, d1 = lk_vload(x + i + LK_VW) - m;
    s0 += d0 * d0;
    s1 += d1 * d1;
  }
  float s = lk_vsum(s0 + s1);
  for (; i < n; ++i) s += (x[i] - m) * (x[i] - m);
  return s;
}

/* y[rows, C] = (x − mean) / sqrt(var + eps) · w + b per row (biased variance, as PyTorch).
 * Two passes over the row (mean, then squared deviations), which stays accurate when
 * |mean| ≫ std, unlike E[x²] − E[x]². w and b may be NULL (no affine). y may equal x. */
void lk_layernorm(long rows, int C, const float *x, const float *w, const float *b, float eps, float *y) {
  LK_OMP(parallel for schedule(static) if(rows * C >= LK_PAR_MIN))
  for (long r = 0; r < rows; ++r) {
    const float *xr = x + r * C;
    float *yr = y + r * C;
    float mean = lk_sum(xr, C) / (float)C;
    float rstd = 1.0f / sqrtf(lk__norm_sum_sq_dev(xr, C, mean) / (float)C + eps);
    for (int c = 0; c < C; ++c) {
      float v = (xr[c] - mean) * rstd;
      if (w) v *= w[c];
      if (b) v += b[c];
      yr[c] = v;
    }
  }
}

/* Reference: double precision, straight from the definition. */
void lk_layernorm_naive(long rows, int C, const float *x, const float *w, const float *b, float eps, float *y) {
  for (long r = 0; r < rows; ++r) {
    double m = 0.0, v = 0.0;
    for (int c = 0; c < C; ++c) m += x[r * C + c];
    m /= C;
    for (int c = 0; c < C; ++c) v += (x[r * C + c] - m) * (x[r * C + c] - m);
    v /= C;
    for (int c = 0; c < C; ++c)
      y[r * C + c] = (float)((x[r * C + c] - m) / sqrt(v + eps) * (w ? w[c] : 1.0) + (b ? b[c] : 0.0));
  }
}

/* Batchnorm at inference, channels first: x, y [B, C, HW] (HW = every axis after C, flattened).
 * y = (x − mean[c]) / sqrt(var[c] + eps) · w[c] + b[c], folded into one scale and shift per
 * channel. y may equal x. */
void lk_batchnorm_infer(int B, int C, long HW, const float *x, const float *w, const float *b,
                        const float *mean, const float *var, float eps, float *y) {
  long planes = (long)B * C;
  LK_OMP(parallel for schedule(static) if(planes * HW >= LK_PAR_MIN))
  for (long p = 0; p < planes; ++p) {
    int c = (int)(p % C);
    float scale = w[c] / sqrtf(var[c] + eps), shift = b[c] - mean[c] * scale;
    const float *xp = x + p * HW;
    float *yp = y + p * HW;
    for (long i = 0; i < HW; ++i) yp[i] = xp[i] * scale + shift;
  }
}

void lk_batchnorm_infer_naive(int B, int C, long HW, const float *x, const float *w, const float *b,
                              const float *mean, const float *var, float eps, float *y) {
  for (int n = 0; n < B; ++n)
    for (int c = 0; c < C; ++c)
      for (long i = 0; i < HW; ++i) {
        long at = ((long)n * C + c) * HW + i;
        y[at] = (float)((x[at] - (double)mean[c]) / sqrt((double)var[c] + eps) * w[c] + b[c]);
      }
}
