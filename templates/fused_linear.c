/* locus-requires: prologue.h gemm.c */
/* fused_linear: y[rows, N] = act(x[rows, K] · W[N, K]ᵀ + bias[N]) + residual[rows, N]
 * (nn.Linear, then an activation, then a residual add: what the `epilogues` fusion pass makes of
 * linear → activation → add; DESIGN.md §6).
 *
 * One GEMM (lk_gemm_ex2, W read transposed) whose store applies the bias, the activation and the
 * residual to each register tile on its last K slice, while the tile is still in registers: y is
 * written once (once per 256-long K slice when K > 256, as a plain linear), and there is no
 * separate pass over y for the activation or the add. */

/* bias and residual may be NULL; act is an LK_ACT_* code (LK_ACT_NONE: none). The residual is
 * added after the activation. y may equal residual (in-place residual add, x += ...); y must not
 * overlap x or W, and residual must not otherwise overlap y. */
void lk_fused_linear(int rows, int K, int N, const float *x, const float *W, const float *bias, int act,
                     const float *residual, float *y) {
  lk_gemm_ex2(1, rows, N, K, x, 0, K, 1, W, 0, 1, K, y, 0, N, 0.0f, NULL, bias, act, residual, 0, N);
}

/* Per sample b < batch, each operand at its own sample stride:
 *   y_b[rows, N] = act((x_b ⊙ s_b) · Wᵀ + bias) + residual_b,
 * x_b = x + b·xbs, residual_b = residual + b·rbs, y_b = y + b·ybs (rows dense within a sample),
 * s_b = scale + b·scale_bs ([K]; scale_bs 0: one scale for all), or no scale when scale is NULL.
 * - Samples that are views (a token buffer's rows 1..196 of 197, beside the class token): one
 *   parallel region, and W packed once per block for all the samples a thread takes
 *   (lk__gemm_rect), where a C loop of lk_fused_linear calls packed it once per sample.
 * - The input scale (a squeeze-excite gate, or any x ⊙ s read only by this projection; the
 *   `channel-scale` pass) is folded into W while the GEMM packs it (one multiply per weight per
 *   sample, in a pass the GEMM makes anyway), so the scaled activations are never written: the
 *   separate x ⊙ s pass read and wrote x once more. Rounds as x·(s·w) instead of (x·s)·w.
 * Dense samples without a per-sample scale are one GEMM over batch·rows rows. */
void lk_fused_linear_strided(int batch, int rows, int K, int N, const float *x, long xbs, const float *W,
                             const float *bias, const float *scale, long scale_bs, int act, const float *residual,
                             long rbs, float *y, long ybs) {
  if (!scale) scale_bs = 0;
  if (xbs == (long)rows * K && ybs == (long)rows * N && (!residual || rbs == ybs) && scale_bs == 0) {
    rows *= batch;
    batch = 1;
  }
  lk__gemm_nested(1, 0, 0, 0, 0, batch, rows, N, K, x, xbs, K, 1, W, 0, 1, K, y, ybs, N, 0.0f, NULL, bias, act,
                  residual, rbs, N, scale, scale_bs);
}

/* Reference: dot products in double, the activation in double (libm), the residual added in
 * double, one rounding. Each element reads its residual before writing y, so y == residual works. */
void lk_fused_linear_naive(int rows, int K, int N, const float *x, const float *W, const float *bias, int act,
                           const float *residual, float *y) {
  for (int r = 0; r < rows; ++r) {
    for (int n = 0; n < N; ++n) {
      double s = bias ? bias[n] : 0.0;
      for (int k = 0; k < K; ++k) s += (double)x[(long)r * K + k] * W[(long)n * K + k];
      s = lk_apply_act_ref(act, s);
      if (residual) s += residual[(long)r * N + n];
      y[(long)r * N + n] = (float)s;
    }
  }
}

void lk_fused_linear_strided_naive(int batch, int rows, int K, int N, const float *x, long xbs, const float *W,
                                   const float *bias, const float *scale, long scale_bs, int act,
                                   const float *residual, long rbs, float *y, long ybs) {
  for (int b = 0; b < batch; ++b)
    for (int r = 0; r < rows; ++r)
      for (int n = 0; n < N; ++n) {
        const float *xr = x + b * xbs + (long)r * K, *s = scale ? scale + b * scale_bs : NULL;
        long o = (long)r * N + n;
        double acc = bias ? bias[n] : 0.0;
        for (int k = 0; k < K; ++k) acc += (double)(s ? xr[k] * s[k] : xr[k]) * W[(long)n * K + k];
        acc = lk_apply_act_ref(act, acc);
        if (residual) acc += residual[b * rbs + o];
        y[b * ybs + o] = (float)acc;
      }
}
