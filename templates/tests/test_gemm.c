#define _POSIX_C_SOURCE 200112L /* clock_gettime in -std=c99 */
/* GEMM against its naive reference: random shapes (odd sizes, 1s, sizes around the tile and cache
 * blocks), every stride pattern (row-major, transposed, general), beta, biases, batches. */
#include "../prologue.h"
#include "../gemm.c"
#include "lk_test.h"

/* One random case. Layout codes: 0 row-major, 1 column-major (transposed), 2 padded rows,
 * 3 general strides (neither unit). */
static void strides(int code, int rows, int cols, long *rs, long *cs, long *size) {
  switch (code) {
  case 0: *rs = cols; *cs = 1; break;
  case 1: *rs = 1; *cs = rows; break;
  case 2: *rs = cols + 3; *cs = 1; break;
  default: *rs = 2; *cs = 2L * rows + 1; break;
  }
  *size = (rows - 1) * *rs + (cols - 1) * *cs + 1;
}

static void run_case(int batch, int M, int N, int K, int la, int lb, float beta, int bias) {
  long rsa, csa, sa, rsb, csb, sb, rsc = N + (lkt_next() % 2) * 5;
  char what[160];
  strides(la, M, K, &rsa, &csa, &sa);
  strides(lb, K, N, &rsb, &csb, &sb);
  long bsa = lkt_next() % 3 == 0 ? 0 : sa, bsb = sb, bsc = (M - 1) * rsc + N;
  float *A = lkt_rand(bsa * (batch - 1) + sa, 1.0f), *B = lkt_rand(bsb * (batch - 1) + sb, 1.0f);
  float *C = lkt_rand(bsc * batch, 1.0f);
  float *R = lkt_copy(C, bsc * batch);
  float *bm = bias & 1 ? lkt_rand(M, 1.0f) : NULL, *bn = bias & 2 ? lkt_rand(N, 1.0f) : NULL;
  if (beta == 0.0f) for (long i = 0; i < bsc * batch; ++i) C[i] = NAN; /* beta = 0 must not read C */
  lk_gemm_ex(batch, M, N, K, A, bsa, rsa, csa, B, bsb, rsb, csb, C, bsc, rsc, beta, bm, bn);
  lk_gemm_ex_naive(batch, M, N, K, A, bsa, rsa, csa, B, bsb, rsb, csb, R, bsc, rsc, beta, bm, bn);
  /* Compare only the elements C owns (the padding between rows must be left alone: it is R's
   * untouched copy for beta != 0, and NaN vs the original value otherwise). */
  for (int b = 0; b < batch; ++b)
    for (int i = 0; i < M; ++i)
      for (long j = N; j < rsc && i < M - 1; ++j) C[b * bsc + i * rsc + j] = R[b * bsc + i * rsc + j] = 0.0f;
  snprintf(what, sizeof what, "gemm b%d %dx%dx%d A%d B%d beta%g bias%d", batch, M, N, K, la, lb, beta, bias);
  /* K products of values in [-1,1]: error grows like sqrt(K)·eps relative to the result scale. */
  lkt_check(what, C, R, bsc * batch, 2e-5 * sqrt((double)K + 1.0));
  free(A); free(B); free(C); free(R); free(bm); free(bn);
}

static void check_serial(int M, int N, int K) {
  float *A = lkt_rand((long)M * K, 1.0f), *B = lkt_rand((long)N * K, 1.0f);
  float *C = lkt_rand((long)M * N, 1.0f), *R = lkt_copy(C, (long)M * N);
  float *ws = lk_scratch_alloc(lk_gemm_serial_workspace_floats(M, N, K));
  char what[96];
  lk_gemm_serial(M, N, K, A, K, 1, B, 1, K, C, N, 0.5f, ws);
  lk_gemm_naive(M, N, K, A, K, 1, B, 1, K, R, N, 0.5f);
  snprintf(what, sizeof what, "gemm_serial %dx%dx%d", M, N, K);
  lkt_check(what, C, R, (long)M * N, 2e-5 * sqrt((double)K + 1.0));
  lk_scratch_free(ws); free(A); free(B); free(C); free(R);
}

/* The result must not depend on the thread count: compare 1 thread against the default. */
static void check_thread_invariance(int M, int N, int K) {
  float *A = lkt_rand((long)M * K, 1.0f), *B = lkt_rand((long)N * K, 1.0f);
  float *C1 = lkt_rand((long)M * N, 1.0f), *C2 = lkt_rand((long)M * N, 1.0f);
  char what[96];
  lk_gemm(M, N, K, A, K, 1, B, 1, K, C2, N, 0.0f);
#ifdef _OPENMP
  {
    extern void omp_set_num_threads(int);
    int t = omp_get_max_threads();
    omp_set_num_threads(1);
    lk_gemm(M, N, K, A, K, 1, B, 1, K, C1, N, 0.0f);
    omp_set_num_threads(t);
  }
#else
  lk_gemm(M, N, K, A, K, 1, B, 1, K, C1, N, 0.0f);
#endif
  snprintf(what, sizeof what, "gemm thread-count invariance %dx%dx%d", M, N, K);
  lkt_check_exact(what, C1, C2, (long)M * N);
  free(A); free(B); free(C1); free(C2);
}

/* The dynamic mode's reuse of a thread's packed B (lk__gemm_bcache): products sharing B (bsb = 0)
 * and row rectangles of one product, K over several 256-long slices, bias, GELU and the residual
 * in place (its partial sums in the stash), against the naive reference and bit for bit against
 * 1 thread (which runs the static split). */
static void check_shared_b(int batch, int M, int N, int K) {
  long bsa = (long)M * K, bsc = (long)M * N;
  float *A = lkt_rand(bsa * batch, 1.0f), *B = lkt_rand((long)N * K, 1.0f), *bn = lkt_rand(N, 1.0f);
  float *C = lkt_rand(bsc * batch, 1.0f), *R = lkt_copy(C, bsc * batch), *C1 = lkt_copy(C, bsc * batch);
  char what[96];
  lk_gemm_ex2(batch, M, N, K, A, bsa, K, 1, B, 0, 1, K, C, bsc, N, 0.0f, NULL, bn, LK_ACT_GELU, C, bsc, N);
  lk_gemm_ex2_naive(batch, M, N, K, A, bsa, K, 1, B, 0, 1, K, R, bsc, N, 0.0f, NULL, bn, LK_ACT_GELU, R, bsc, N);
  snprintf(what, sizeof what, "gemm shared B b%d %dx%dx%d gelu, residual in place", batch, M, N, K);
  lkt_check(what, C, R, bsc * batch, 2e-5 * sqrt((double)K + 1.0));
#ifdef _OPENMP
  {
    extern void omp_set_num_threads(int);
    int t = omp_get_max_threads();
    omp_set_num_threads(1);
    lk_gemm_ex2(batch, M, N, K, A, bsa, K, 1, B, 0, 1, K, C1, bsc, N, 0.0f, NULL, bn, LK_ACT_GELU, C1, bsc, N);
    omp_set_num_threads(t);
  }
#else
  lk_gemm_ex2(batch, M, N, K, A, bsa, K, 1, B, 0, 1, K, C1, bsc, N, 0.0f, NULL, bn, LK_ACT_GELU, C1, bsc, N);
#endif
  snprintf(what, sizeof what, "gemm shared B b%d %dx%dx%d thread-count invariance", batch, M, N, K);
  lkt_check_exact(what, C1, C, bsc * batch);
  free(A); free(B); free(bn); free(C); free(R); free(C1);
}

/* lk_gemm_batched2 over attention's layout read in place: samples (outer) × heads (batch) of
 * q [N, H·D] · kᵀ with k [N, H·D], heads interleaved in each row, against one naive GEMM per
 * product, and thread-count invariant. */
static void check_batched2(int S, int H, int N, int D) {
  long row = (long)H * D, per = (long)N * row;
  float *q = lkt_rand(S * per, 1.0f), *k = lkt_rand(S * per, 1.0f);
  float *C = lkt_rand((long)S * H * N * N, 1.0f), *R = lkt_rand((long)S * H * N * N, 1.0f), *C1 = lkt_copy(C, (long)S * H * N * N);
  char what[96];
  lk_gemm_batched2(S, per, per, (long)H * N * N, H, N, N, D, q, D, row, 1, k, D, 1, row, C, (long)N * N, N, 0.0f);
  for (int s = 0; s < S; ++s)
    for (int h = 0; h < H; ++h)
      lk_gemm_naive(N, N, D, q + s * per + h * D, row, 1, k + s * per + h * D, 1, row, R + ((long)s * H + h) * N * N, N, 0.0f);
  snprintf(what, sizeof what, "gemm_batched2 %dx%d heads %dx%dx%d", S, H, N, N, D);
  lkt_check(what, C, R, (long)S * H * N * N, 2e-5 * sqrt((double)D + 1.0));
#ifdef _OPENMP
  {
    extern void omp_set_num_threads(int);
    int t = omp_get_max_threads();
    omp_set_num_threads(1);
    lk_gemm_batched2(S, per, per, (long)H * N * N, H, N, N, D, q, D, row, 1, k, D, 1, row, C1, (long)N * N, N, 0.0f);
    omp_set_num_threads(t);
    snprintf(what, sizeof what, "gemm_batched2 thread-count invariance %dx%d", S, H);
    lkt_check_exact(what, C1, C, (long)S * H * N * N);
  }
#endif
  free(q); free(k); free(C); free(R); free(C1);
}

/* lk_gemm_batched2 on SAG's local attention, the two forward products as matmul_permuted emits
 * them (samples × tokens, H query heads sharing one key/value head, T variants, head width D):
 * scores s = q·kᵀ with k's variants N·D apart (B's columns contiguous), then o = p·v (B's rows
 * contiguous), each against one naive GEMM per product, with beta 0 and 1, and thread-count
 * invariant. Both take the direct path for tiny products (M·N·K ≤ 4096). */
static void check_batched2_local(int S, int N, int H, int T, int D, float beta) {
  long nq = (long)S * N * H * D, nkv = (long)S * T * N * D, ns = (long)S * N * H * T;
  float *q = lkt_rand(nq, 1.0f), *k = lkt_rand(nkv, 1.0f), *v = lkt_rand(nkv, 1.0f), *p = lkt_rand(ns, 1.0f);
  float *s = lkt_rand(ns, 1.0f), *sr = lkt_copy(s, ns), *s1 = lkt_copy(s, ns);
  float *o = lkt_rand(nq, 1.0f), *orf = lkt_copy(o, nq), *o1 = lkt_copy(o, nq);
  char what[96];
  lk_gemm_batched2(S, (long)N * H * D, (long)T * N * D, (long)N * H * T, N, H, T, D, q, (long)H * D, D, 1, k, D, 1,
                   (long)N * D, s, (long)H * T, T, beta);
  lk_gemm_batched2(S, (long)N * H * T, (long)T * N * D, (long)N * H * D, N, H, D, T, p, (long)H * T, T, 1, v, D,
                   (long)N * D, 1, o, (long)H * D, D, beta);
  for (int b = 0; b < S; ++b)
    for (int n = 0; n < N; ++n) {
      long at = (long)b * N + n;
      lk_gemm_naive(H, T, D, q + at * H * D, D, 1, k + (long)b * T * N * D + (long)n * D, 1, (long)N * D, sr + at * H * T, T, beta);
      lk_gemm_naive(H, D, T, p + at * H * T, T, 1, v + (long)b * T * N * D + (long)n * D, (long)N * D, 1, orf + at * H * D, D, beta);
    }
  snprintf(what, sizeof what, "gemm_batched2 local scores %dx%d H%d T%d D%d beta %g", S, N, H, T, D, beta);
  lkt_check(what, s, sr, ns, 2e-5 * sqrt((double)D + 1.0));
  snprintf(what, sizeof what, "gemm_batched2 local values %dx%d H%d T%d D%d beta %g", S, N, H, T, D, beta);
  lkt_check(what, o, orf, nq, 2e-5 * sqrt((double)T + 1.0));
#ifdef _OPENMP
  {
    extern void omp_set_num_threads(int);
    int t = omp_get_max_threads();
    omp_set_num_threads(1);
    lk_gemm_batched2(S, (long)N * H * D, (long)T * N * D, (long)N * H * T, N, H, T, D, q, (long)H * D, D, 1, k, D, 1,
                     (long)N * D, s1, (long)H * T, T, beta);
    lk_gemm_batched2(S, (long)N * H * T, (long)T * N * D, (long)N * H * D, N, H, D, T, p, (long)H * T, T, 1, v, D,
                     (long)N * D, 1, o1, (long)H * D, D, beta);
    omp_set_num_threads(t);
    lkt_check_exact("gemm_batched2 local thread-count invariance (scores)", s1, s, ns);
    lkt_check_exact("gemm_batched2 local thread-count invariance (values)", o1, o, nq);
  }
#endif
  free(q); free(k); free(v); free(p); free(s); free(sr); free(s1); free(o); free(orf); free(o1);
}

/* lk_gemm_batched2 on tiny products (the direct path) with A column-major (csa = M) and B read
 * every other float (rsb = 2, csb = 2·K): neither B's rows nor the dot form are contiguous, so the
 * strided fallback runs; against one naive GEMM per product. */
static void check_batched2_strided(int outer, int batch, int M, int N, int K, float beta) {
  long sa = (long)M * K, sb = 2L * K * N, sc = (long)M * N, n = (long)outer * batch;
  float *A = lkt_rand(n * sa, 1.0f), *B = lkt_rand(n * sb, 1.0f), *C = lkt_rand(n * sc, 1.0f), *R = lkt_copy(C, n * sc);
  char what[96];
  lk_gemm_batched2(outer, batch * sa, batch * sb, batch * sc, batch, M, N, K, A, sa, 1, M, B, sb, 2, 2L * K, C, sc, N, beta);
  for (long p = 0; p < n; ++p) lk_gemm_naive(M, N, K, A + p * sa, 1, M, B + p * sb, 2, 2L * K, R + p * sc, N, beta);
  snprintf(what, sizeof what, "gemm_batched2 tiny strided %dx%d of %dx%dx%d beta %g", outer, batch, M, N, K, beta);
  lkt_check(what, C, R, n * sc, 2e-5 * sqrt((double)K + 1.0));
  free(A); free(B); free(C); free(R);
}

int main(void) {
  static const int edge[] = {1, 2, 5, 6, 7, 15, 16, 17, 31, 33, 49, 64, 197, 255, 257, 300, 513};
  const int ne = (int)(sizeof edge / sizeof edge[0]);
  const float betas[] = {0.0f, 1.0f, -0.5f};
  for (int t = 0; t < 300; ++t) {
    int M = edge[lkt_int(0, ne - 1)], N = edge[lkt_int(0, ne - 1)], K = edge[lkt_int(0, ne - 1)];
    if ((long)M * N * K > 4000000L) K = lkt_int(1, 9);
    run_case(lkt_int(1, 3) == 1 ? lkt_int(2, 5) : 1, M, N, K, lkt_int(0, 3), lkt_int(0, 3), betas[lkt_int(0, 2)], lkt_int(0, 3));
  }
  /* Model shapes and blocking boundaries (KC = 256, MC, NC). */
  run_case(1, 197, 576, 192, 0, 1, 0.0f, 2);
  run_case(1, 197, 192, 768, 0, 1, 1.0f, 2);
  run_case(1, 3152, 96, 300, 0, 0, 0.0f, 1);
  run_case(1, 200, 1100, 520, 1, 3, -0.5f, 3);
  run_case(3, 197, 197, 64, 0, 1, 0.0f, 0);
  run_case(1, 1, 1000, 192, 0, 1, 0.0f, 2);
  run_case(1, 7, 3, 0, 0, 0, 0.5f, 3); /* K = 0: C = beta·C + bias */
  run_case(1, 50, 40, 1024, 0, 0, 0.0f, 0); /* rows 4 KiB apart: A gets packed */
  check_serial(197, 197, 64);
  check_serial(50, 64, 197);
  check_serial(20, 33, 1024); /* packed A inside the serial workspace */
  check_batched2(3, 2, 50, 32);
  check_batched2(5, 3, 7, 5);
  check_batched2(1, 1, 197, 64);
  check_batched2_local(2, 256, 4, 18, 48, 0.0f); /* SAG-tiny: 4 heads over one K/V head, 18 variants */
  check_batched2_local(3, 37, 2, 5, 7, 1.0f);
  check_batched2_local(1, 9, 3, 1, 16, -0.5f);
  check_batched2_strided(2, 3, 4, 18, 48, 0.0f);
  check_batched2_strided(3, 2, 5, 7, 3, 1.0f);
  check_thread_invariance(197, 576, 192);
  check_thread_invariance(301, 77, 600);
  check_thread_invariance(1000, 96, 600); /* dynamic: rows cut into 8-tile rectangles, B reused */
  check_thread_invariance(197, 768, 192); /* dynamic: columns cut further */
  check_shared_b(5, 70, 40, 600);
  check_shared_b(1, 700, 50, 300);
  check_shared_b(3, 130, 200, 64);
  /* Single-row products (lk__gemv): W read transposed (dot products, 4 columns at a time and a
   * tail), B row-major with A's row strided (axpy rows), the epilogue in place, a general B (the
   * tiled path), and thread-count invariance. */
  run_case(1, 1, 1000, 192, 0, 1, 0.0f, 3);
  run_case(3, 1, 67, 37, 0, 1, 1.0f, 2);
  run_case(2, 1, 300, 77, 3, 0, -0.5f, 3);
  run_case(1, 1, 5, 3, 0, 3, 1.0f, 1);
  check_shared_b(4, 1, 301, 200);
  check_thread_invariance(1, 1000, 192);
  return lkt_finish("test_gemm");
}
