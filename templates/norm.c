/* locus-requires: prologue.h */
/* Normalisations: layernorm over the last axis of tokens, batchnorm (inference) over channels. */

/* y[rows, C] = (x − mean) / sqrt(var + eps) · w + b per row (biased variance, as PyTorch).
 * Corrected two-pass algorithm: m = Σx/C in float is off by the rounding of a large sum; the second
 * pass sums the deviations d = x − m (small numbers, accurate) and their squares, and the true mean
 * is m + δ with δ = Σd/C, var = Σd²/C − δ². Output uses (x − m) − δ, never rounding the mean to a
 * float, so rows with |mean| ≫ std lose nothing (E[x²] − E[x]² would lose everything).
 * w and b may be NULL (no affine). y may equal x. */
void lk_layernorm(long rows, int C, const float *x, const float *w, const float *b, float eps, float *y) {
  LK_OMP(parallel for schedule(static) if(rows * C >= LK_PAR_MIN))
  for (long r = 0; r < rows; ++r) {
    const float *xr = x + r * C;
    float *yr = y + r * C;
    float m = lk_sum(xr, C) / (float)C, s1, s2, delta, var, rstd;
    lk_dev_sums(xr, C, m, &s1, &s2);
    delta = s1 / (float)C;
    var = s2 / (float)C - delta * delta;
    rstd = 1.0f / sqrtf((var > 0.0f ? var : 0.0f) + eps);
    /* One loop per affine case: with `if (w)` inside, clang if-converts to masked loads, which
     * on AMD take a microcode assist per vector when the pointer is NULL (40× slower). */
    if (w && b) for (int c = 0; c < C; ++c) yr[c] = (xr[c] - m - delta) * rstd * w[c] + b[c];
    else if (w) for (int c = 0; c < C; ++c) yr[c] = (xr[c] - m - delta) * rstd * w[c];
    else if (b) for (int c = 0; c < C; ++c) yr[c] = (xr[c] - m - delta) * rstd + b[c];
    else for (int c = 0; c < C; ++c) yr[c] = (xr[c] - m - delta) * rstd;
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
