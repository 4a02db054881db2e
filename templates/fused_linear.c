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
