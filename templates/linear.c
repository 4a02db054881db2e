/* locus-requires: prologue.h gemm.c */
/* linear: y[rows, N] = x[rows, K] · W[N, K]ᵀ + bias[N] (PyTorch nn.Linear; W as in the state_dict).
 *
 * A GEMM with B = W read transposed (rsb = 1, csb = K: the packing transposes it for free) and the
 * bias added in the GEMM's store, so y is written once. rows = B·N tokens (any leading axes
 * flattened). */

/* Row strides ldx ≥ K and ldy ≥ N let x be a strided view (the class token of every sample:
 * rows = B, ldx = N·C) and y a slice of a wider buffer (q|k|v or concat targets).
 * bias may be NULL. y must not overlap x or W. */
void lk_linear_strided(int rows, int K, int N, const float *x, long ldx, const float *W,
                       const float *bias, float *y, long ldy) {
  lk_gemm_ex(1, rows, N, K, x, 0, ldx, 1, W, 0, 1, K, y, 0, ldy, 0.0f, NULL, bias);
}

void lk_linear(int rows, int K, int N, const float *x, const float *W, const float *bias, float *y) {
  lk_linear_strided(rows, K, N, x, K, W, bias, y, N);
}

/* Reference: the dot products written out, accumulated in double. */
void lk_linear_naive(int rows, int K, int N, const float *x, const float *W, const float *bias, float *y) {
  for (int r = 0; r < rows; ++r) {
    for (int n = 0; n < N; ++n) {
      double s = bias ? bias[n] : 0.0;
      for (int k = 0; k < K; ++k) s += (double)x[(long)r * K + k] * W[(long)n * K + k];
      y[(long)r * N + n] = (float)s;
    }
  }
}
