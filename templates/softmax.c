/* locus-requires: prologue.h */
/* softmax over the last axis: y[rows, cols] = exp(x − max) / Σ exp(x − max), per row.
 * Subtracting the row max keeps exp from overflowing; exp is lk_vexp (vectorised). Every row is
 * handled by one thread in a fixed order, so results are independent of the thread count. */

/* Softmax of one row of scale·x (scale > 0; attention folds 1/√D in here), on the calling
 * thread: other kernels call it inside their own parallel regions. y may equal x. */
void lk_softmax_row(int cols, const float *x, float scale, float *y) {
  lk_vf vm = lk_vset1(-INFINITY), vs = lk_vzero();
  float m = -INFINITY, s, inv;
  int c = 0;
  for (; c + LK_VW <= cols; c += LK_VW) vm = lk_vmax(lk_vload(x + c), vm);
  m = lk_vhmax(vm);
  for (; c < cols; ++c) m = x[c] > m ? x[c] : m;
  m *= scale; /* scale > 0, so max(scale·x) = scale·max(x) */
  if (m == -INFINITY) m = 0.0f; /* an all −inf row gives NaN below, as PyTorch does */
  for (c = 0; c + LK_VW <= cols; c += LK_VW) {
    lk_vf e = lk_vexp(lk_vload(x + c) * scale - m);
    vs += e;
    lk_vstore(y + c, e);
  }
  if (c < cols) { /* tail through a padded vector: the same exp as the body */
    float t[LK_VW];
    for (int i = 0; i < LK_VW; ++i) t[i] = c + i < cols ? x[c + i] * scale - m : -INFINITY;
    lk_vf e = lk_vexp(lk_vload(t));
    vs += e;
    lk_vstore(t, e);
    memcpy(y + c, t, (size_t)(cols - c) * sizeof(float));
  }
  s = lk_vsum(vs);
  inv = 1.0f / s;
  for (c = 0; c < cols; ++c) y[c] *= inv;
}

void lk_softmax(long rows, int cols, const float *x, float *y) {
  LK_OMP(parallel for schedule(static) if(rows * cols >= LK_PAR_MIN))
  for (long r = 0; r < rows; ++r) lk_softmax_row(cols, x + r * cols, 1.0f, y + r * cols);
}

/* Reference: libm exp in double. */
void lk_softmax_naive(long rows, int cols, const float *x, float *y) {
  for (long r = 0; r < rows; ++r) {
    const float *xr = x + r * cols;
    double m = -INFINITY, s = 0.0;
    for (int c = 0; c < cols; ++c) m = xr[c] > m ? xr[c] : m;
    for (int c = 0; c < cols; ++c) s += exp(xr[c] - m);
    for (int c = 0; c < cols; ++c) y[r * cols + c] = (float)(exp(xr[c] - m) / s);
  }
}
