/* locus-requires: prologue.h attention.c */
/* Training: the gradient of sdpa (attention.c) with respect to q, k and v, in one kernel.
 *
 * With S = scale · q·kᵀ and P = softmax(S) per (sample, head) and dO the gradient of the output:
 *   dV = Pᵀ·dO,  dP = dO·Vᵀ,  dS = scale · P ⊙ (dP − rowsum(P ⊙ dP)),  dQ = dS·K,  dK = dSᵀ·Q.
 * Operands as lk_sdpa's: q_{b,i,h} = q[(b·Nq + i)·q_rs + h·D ...], k and v with their own row
 * strides, kv head g = h / (H / Hk); dout is [B, Nq, H·D] with row stride do_rs. The gradients are
 * written through row strides too (dq [B, Nq, H·D], dk and dv [B, Nk, Hk·D]): a training graph
 * passes three column ranges of one [B, N, H·D + 2·Hk·D] buffer, the gradient of the fused qkv
 * projection's output, so no concat follows.
 *
 * Why one kernel: the lowering to matmuls ran each (sample, head) product as its own small GEMM
 * (localvit_fmnist: 128 products of 50×50×32 per call at ~45 GFLOP/s), kept the probabilities
 * P [B, H, Nq, Nk] alive from the forward to the backward, copied q, k and v out of the qkv buffer,
 * and copied the three gradients back into one (the concat). Here P is recomputed from q and k
 * (one more Nq×Nk×D product, a fifth of the backward's FLOPs) instead of stored, so the forward is
 * the inference kernel lk_sdpa and nothing of size Nq·Nk outlives a call.
 *
 * How: one task per (sample, kv head), which owns that kv head's dK and dV (accumulated in scratch
 * over the heads of its group and all query tiles, then stored), so tasks never write the same
 * element and each sum runs in a fixed order: results do not depend on the thread count. Per task
 * Kᵀ and Vᵀ are packed once ([D, Nkp], keys zero-padded to a multiple of the vector width) and K
 * once more as rows padded to Dp columns; then per head, LK_SDPA_GRAD_MQ queries at a time (their
 * rows copied, zero-padded to a multiple of 4; MQ below):
 *   1. S = Q·Kᵀ, P = softmax(scale·S) row by row (lk_softmax_row's arithmetic on whole padded
 *      vectors), zero in the padding;
 *   2. dP = dO·Vᵀ, then dS in place;
 *   3. dQ = dS·K stored; dV += Pᵀ·dO_tile and dK += dSᵀ·Q_tile.
 * All five products are one register-blocked routine (8 or 4 rows × 2 or 3 vectors, A read by scalar
 * broadcast through any two strides, so Pᵀ and dSᵀ are never transposed in memory).
 * Scratch per thread: 2·D·Ld + 3·Nkp·Dp + 2·MQ·(Ld + Dp) floats, Ld = lk_unaliased_stride(Nkp)
 * (localvit_fmnist: 90 KB; SAG's Nk = 1024, D = 48: 1.1 MB). If that fails, the task's gradients
 * are NaN. */
/* Queries per tile. Short rows take 64: fewer passes over the dK and dV accumulators, and the
 * 64·Nk floats of S and dP are small. Long rows take 16, so S and dP (16·Nk floats each) stay in
 * L2 beside the packed K and V. bench_train, 2 threads, alternating builds: localvit_fmnist's
 * 50 keys 47-55 GFLOP/s with 32, 52-59 with 64, 37-42 with 16; SAG's 1024 keys 86-93 with 32,
 * 93-94 with 64, 103-109 with 16. A build may force one size (rounded up to a multiple of 4,
 * which the row blocks need). */
#ifdef LK_SDPA_GRAD_MQ
#  define LK__SDPA_GRAD_MQ(Nk) lk_round_up(LK_SDPA_GRAD_MQ, 4)
#else
#  define LK__SDPA_GRAD_MQ(Nk) ((Nk) > 256 ? 16L : 64L)
#endif

/* Rows per register block: 8 where there are 32 vector registers (AVX-512: 8×3 accumulators, 3 B
 * vectors and a broadcast), else 4 (16 registers: 4×3 + 3 + 1). Eight rows halve the passes over
 * the packed K and V (196 KB at SAG's 1024 keys, from L2) per query tile. A harness timing
 * lk_sdpa_grad on [8, 1024, 4 heads/1, D 48], 2 threads, best of 8, builds alternating: the 8-row
 * build was faster in 7 of 9 pairs (e.g. 149 / 168, 144 / 163, 97 / 110 ms), the same within
 * noise on 1 thread; each element sums in the same order, so the results are unchanged. */
#if LK_VW >= 16
#  define LK__AG_ROWS 8
#else
#  define LK__AG_ROWS 4
#endif

/* C[0:R, 0:nv·VW] (+)= Σ_{k<K} A[i·ars + k·acs] · B[k·ldb + 0:nv·VW], nv = 1, 2 or 3, R = 4 or
 * LK__AG_ROWS (a constant after inlining, so the accumulators stay in registers). The
 * accumulators c[R][nv] are independent FMA chains: 8 with 4×2 keep both FMA ports busy through
 * a 4-cycle latency, 12 with 4×3 do so with fewer broadcasts per FMA, and 8 rows read each B
 * vector for twice the FMAs. */
__attribute__((always_inline)) static inline void lk__ag_block(const int R, int nv, int K, const float *restrict A, long ars,
                                                               long acs, const float *restrict B, long ldb, float *restrict C,
                                                               long ldc, int accumulate) {
  lk_vf c[LK__AG_ROWS][3];
  for (int i = 0; i < R; ++i)
    for (int u = 0; u < 3; ++u) c[i][u] = lk_vzero();
  if (nv == 3) {
    for (int k = 0; k < K; ++k) {
      const lk_vf b0 = lk_vload(B + k * ldb), b1 = lk_vload(B + k * ldb + LK_VW), b2 = lk_vload(B + k * ldb + 2 * LK_VW);
      for (int i = 0; i < R; ++i) {
        const lk_vf a = lk_vset1(A[i * ars + k * acs]);
        c[i][0] += a * b0;
        c[i][1] += a * b1;
        c[i][2] += a * b2;
      }
    }
  } else if (nv == 2) {
    for (int k = 0; k < K; ++k) {
      const lk_vf b0 = lk_vload(B + k * ldb), b1 = lk_vload(B + k * ldb + LK_VW);
      for (int i = 0; i < R; ++i) {
        const lk_vf a = lk_vset1(A[i * ars + k * acs]);
        c[i][0] += a * b0;
        c[i][1] += a * b1;
      }
    }
  } else {
    for (int k = 0; k < K; ++k) {
      const lk_vf b0 = lk_vload(B + k * ldb);
      for (int i = 0; i < R; ++i) c[i][0] += lk_vset1(A[i * ars + k * acs]) * b0;
    }
  }
  for (int i = 0; i < R; ++i)
    for (int u = 0; u < nv; ++u) {
      float *p = C + i * ldc + u * LK_VW;
      lk_vstore(p, accumulate ? lk_vload(p) + c[i][u] : c[i][u]);
    }
}

/* C[M, N] (+)= A·B for M a multiple of 4 and N a multiple of LK_VW (the callers pad both). Rows go
 * LK__AG_ROWS at a time, a last block of 4 when M is not a multiple of it. Columns go three
 * vectors at a time when they divide by three (SAG's D = 48: one block instead of a two-vector
 * block and a one-vector one, whose 4 chains ran at half the FMA rate), else two. */
static void lk__ag_mm(int M, int N, int K, const float *A, long ars, long acs, const float *B, long ldb,
                      float *C, long ldc, int accumulate) {
  const int step = N % (3 * LK_VW) == 0 ? 3 : 2;
  int i = 0;
  for (; i + LK__AG_ROWS <= M; i += LK__AG_ROWS)
    for (int n = 0; n < N; n += step * LK_VW)
      lk__ag_block(LK__AG_ROWS, (int)lk_min_l(step, (N - n) / LK_VW), K, A + i * ars, ars, acs, B + n, ldb, C + i * ldc + n,
                   ldc, accumulate);
  for (; i < M; i += 4)
    for (int n = 0; n < N; n += step * LK_VW)
      lk__ag_block(4, (int)lk_min_l(step, (N - n) / LK_VW), K, A + i * ars, ars, acs, B + n, ldb, C + i * ldc + n, ldc,
                   accumulate);
}

/* dst[d·ld + j] = src[j·rs + d] for j < n, d < D; columns n..ld−1 are zero. 8×8 blocks turn
 * around in registers (element copies were ~15% of the kernel at localvit_fmnist's 50 keys). */
static void lk__ag_pack_t(int n, int D, const float *src, long rs, float *dst, long ld) {
  const int n8 = n / 8 * 8, d8 = D / 8 * 8;
  for (int j = 0; j < n8; j += 8)
    for (int d = 0; d < d8; d += 8) lk_transpose8_block(src + (long)j * rs + d, rs, dst + (long)d * ld + j, ld);
  for (int d = 0; d < D; ++d) {
    float *row = dst + (long)d * ld;
    for (int j = d < d8 ? n8 : 0; j < n; ++j) row[j] = src[(long)j * rs + d];
    for (long j = n; j < ld; ++j) row[j] = 0.0f;
  }
}

/* dst[i·ld + d] = src[i·rs + d] for i < n, d < D; zero up to ld columns and `rows` rows. */
static void lk__ag_pack_rows(int n, int rows, int D, const float *src, long rs, float *dst, long ld) {
  for (int i = 0; i < rows; ++i) {
    float *row = dst + (long)i * ld;
    if (i < n) memcpy(row, src + (long)i * rs, (size_t)D * sizeof(float));
    for (long d = i < n ? D : 0; d < ld; ++d) row[d] = 0.0f;
  }
}

/* Rows [0, m) of s [·, Nkp] become softmax(scale·s) over their first Nk columns, zero after them;
 * rows [m, mp) become zero. lk_softmax_row's arithmetic (max, exp, lane sums, 1/Σ) on whole
 * vectors: the padding lanes enter the exp as −inf (giving 0), so there is no scalar tail. With 50
 * keys lk_softmax_row's tail and scalar scaling made this a quarter of the kernel's time. */
static void lk__ag_softmax_rows(int m, int mp, int Nk, long nkp, long lds, float *s, float scale) {
  const lk_vf ninf = lk_vset1(-INFINITY);
  lk_vi lane;
  for (int i = 0; i < LK_VW; ++i) lane[i] = i;
  for (int i = 0; i < mp; ++i) {
    float *row = s + (long)i * lds;
    lk_vf vm = ninf, vs = lk_vzero(), inv;
    float mx;
    if (i >= m) {
      memset(row, 0, (size_t)nkp * sizeof(float));
      continue;
    }
    for (long c = 0; c < nkp; c += LK_VW) vm = lk_vmax(lk_vselect(lane + (int)c < Nk, lk_vload(row + c), ninf), vm);
    mx = lk_vhmax(vm) * scale; /* scale > 0 */
    if (mx == -INFINITY) mx = 0.0f; /* an all −inf row gives NaN, as PyTorch does */
    for (long c = 0; c < nkp; c += LK_VW) {
      lk_vf e = lk_vexp(lk_vselect(lane + (int)c < Nk, lk_vload(row + c) * scale - mx, ninf));
      vs += e;
      lk_vstore(row + c, e);
    }
    inv = lk_vset1(1.0f / lk_vsum(vs));
    for (long c = 0; c < nkp; c += LK_VW) lk_vstore(row + c, lk_vload(row + c) * inv);
  }
}

/* dp[i, j] ← scale · p[i, j] · (dp[i, j] − Σ_j p[i, j]·dp[i, j]) for i < mp (zero where p is). */
static void lk__ag_dscores(int mp, long nkp, long lds, const float *p, float *dp, float scale) {
  for (int i = 0; i < mp; ++i) {
    const float *pr = p + (long)i * lds;
    float *dr = dp + (long)i * lds;
    lk_vf acc = lk_vzero();
    for (long j = 0; j < nkp; j += LK_VW) acc += lk_vload(pr + j) * lk_vload(dr + j);
    const float dot = lk_vsum(acc);
    for (long j = 0; j < nkp; j += LK_VW) lk_vstore(dr + j, lk_vload(pr + j) * (lk_vload(dr + j) - dot) * scale);
  }
}

void lk_sdpa_grad(int B, int Nq, int Nk, int H, int Hk, int D, const float *q, long q_rs, const float *k, long k_rs,
                  const float *v, long v_rs, const float *dout, long do_rs, float *dq, long dq_rs, float *dk,
                  long dk_rs, float *dv, long dv_rs, float scale) {
  if (B <= 0 || H <= 0 || Hk <= 0 || D <= 0) return;
  if (Nk <= 0) { /* no keys: the output is an empty sum, constant in q */
    for (long r = 0; r < (long)B * Nq; ++r) memset(dq + r * dq_rs, 0, (size_t)H * D * sizeof(float));
    return;
  }
  const int group = H / Hk;
  const long units = (long)B * Hk, nkp = lk_round_up(Nk, LK_VW), dp = lk_round_up(D, LK_VW);
  /* Row stride of Kᵀ, Vᵀ, S and dS: dV += Pᵀ·dO and dK += dSᵀ·Q broadcast one element from each of
   * up to 16 rows of S or dS, and S = Q·Kᵀ reads up to 48 rows of Kᵀ, which at SAG's 1024 keys
   * were 4 KiB apart. Padded, a harness on [16, 1024, 4 heads/1, D 48] (2 threads, old and new
   * alternating) was faster in 6 of 6 pairs, medians 282 → 273 ms, bit for bit the same. */
  const long lds = lk_unaliased_stride(nkp);
  const long mq = LK__SDPA_GRAD_MQ(Nk);
  const int nk4 = (int)lk_round_up(Nk, 4); /* rows of dK and dV computed: keys up to a multiple of 4 */
  const size_t floats = (size_t)(2 * D * lds + 3 * nkp * dp + 2 * mq * (lds + dp) + 16 * 8);
  lk_shares shares = {0};
  LK_OMP(parallel if(units > 1 && 10.0 * B * H * Nq * Nk * D >= LK_GEMM_PAR_MIN))
  {
    float *kt = lk_scratch_alloc(floats), *vt = NULL, *kp = NULL, *dka = NULL, *dva = NULL;
    float *s = NULL, *ds = NULL, *qt = NULL, *ot = NULL;
    if (kt) { /* each array starts on a cache line (16 floats) */
      vt = kt + lk_round_up(D * lds, 16), kp = vt + lk_round_up(D * lds, 16);
      dka = kp + lk_round_up(nkp * dp, 16), dva = dka + lk_round_up(nkp * dp, 16);
      s = dva + lk_round_up(nkp * dp, 16), ds = s + lk_round_up(mq * lds, 16);
      qt = ds + lk_round_up(mq * lds, 16), ot = qt + lk_round_up(mq * dp, 16);
    }
    /* Each thread's share of the units first, then what is left of the other's (lk_share_next):
     * on this shared VM one thread is often slowed for a while, and with fixed halves the call
     * waited for it. A unit computes the same sums whichever thread takes it. */
    int from = -1;
    for (long u; (u = lk_share_next(&shares, units, &from)) >= 0;) {
      const int b = (int)(u / Hk), g = (int)(u % Hk);
      const float *kb = k + (long)b * Nk * k_rs + (long)g * D, *vb = v + (long)b * Nk * v_rs + (long)g * D;
      float *dkb = dk + (long)b * Nk * dk_rs + (long)g * D, *dvb = dv + (long)b * Nk * dv_rs + (long)g * D;
      if (!kt) { /* out of memory: fail loudly with NaN rather than leave garbage */
        for (int h = g * group; h < (g + 1) * group; ++h)
          for (int i = 0; i < Nq; ++i)
            for (int d = 0; d < D; ++d) dq[((long)b * Nq + i) * dq_rs + (long)h * D + d] = NAN;
        for (int j = 0; j < Nk; ++j)
          for (int d = 0; d < D; ++d) dkb[(long)j * dk_rs + d] = dvb[(long)j * dv_rs + d] = NAN;
        continue;
      }
      lk__ag_pack_t(Nk, D, kb, k_rs, kt, lds);
      lk__ag_pack_t(Nk, D, vb, v_rs, vt, lds);
      lk__ag_pack_rows(Nk, Nk, D, kb, k_rs, kp, dp); /* dQ = dS·K reads Nk rows */
      memset(dka, 0, (size_t)(2 * lk_round_up(nkp * dp, 16)) * sizeof(float)); /* dka and dva */
      for (int h = g * group; h < (g + 1) * group; ++h)
        for (int i0 = 0; i0 < Nq; i0 += (int)mq) {
          const int m = (int)lk_min_l(mq, Nq - i0), mp = (int)lk_round_up(m, 4);
          const float *qb = q + ((long)b * Nq + i0) * q_rs + (long)h * D;
          lk__ag_pack_rows(m, mp, D, qb, q_rs, qt, dp);
          lk__ag_pack_rows(m, mp, D, dout + ((long)b * Nq + i0) * do_rs + (long)h * D, do_rs, ot, dp);
          /* 1. P. */
          lk__ag_mm(mp, (int)nkp, D, qt, dp, 1, kt, lds, s, lds, 0);
          lk__ag_softmax_rows(m, mp, Nk, nkp, lds, s, scale);
          /* 2. dS. */
          lk__ag_mm(mp, (int)nkp, D, ot, dp, 1, vt, lds, ds, lds, 0);
          lk__ag_dscores(mp, nkp, lds, s, ds, scale);
          /* 3. dV += Pᵀ·dO and dK += dSᵀ·Q over this tile's queries; dQ = dS·K (into ot, whose
           * dO rows are used up). */
          lk__ag_mm(nk4, (int)dp, mp, s, 1, lds, ot, dp, dva, dp, 1);
          lk__ag_mm(nk4, (int)dp, mp, ds, 1, lds, qt, dp, dka, dp, 1);
          lk__ag_mm(mp, (int)dp, Nk, ds, lds, 1, kp, dp, ot, dp, 0);
          for (int i = 0; i < m; ++i)
            memcpy(dq + ((long)b * Nq + i0 + i) * dq_rs + (long)h * D, ot + (long)i * dp, (size_t)D * sizeof(float));
        }
      for (int j = 0; j < Nk; ++j) {
        memcpy(dkb + (long)j * dk_rs, dka + (long)j * dp, (size_t)D * sizeof(float));
        memcpy(dvb + (long)j * dv_rs, dva + (long)j * dp, (size_t)D * sizeof(float));
      }
    }
    lk_scratch_free(kt);
  }
}

/* Reference: the formulas in double, one (sample, head, query) at a time. */
void lk_sdpa_grad_naive(int B, int Nq, int Nk, int H, int Hk, int D, const float *q, long q_rs, const float *k,
                        long k_rs, const float *v, long v_rs, const float *dout, long do_rs, float *dq, long dq_rs,
                        float *dk, long dk_rs, float *dv, long dv_rs, float scale) {
  double *p = (double *)malloc((size_t)(Nk > 0 ? Nk : 1) * 2 * sizeof(double)), *dpr = p + (Nk > 0 ? Nk : 1);
  double *gk = (double *)calloc((size_t)(Nk > 0 ? Nk : 1) * D * 2, sizeof(double)), *gv = gk + (long)(Nk > 0 ? Nk : 1) * D;
  for (int b = 0; b < B; ++b)
    for (int g = 0; g < Hk; ++g) {
      memset(gk, 0, (size_t)(Nk > 0 ? Nk : 1) * D * 2 * sizeof(double));
      for (int h = g * (H / Hk); h < (g + 1) * (H / Hk); ++h)
        for (int i = 0; i < Nq; ++i) {
          const float *qi = q + ((long)b * Nq + i) * q_rs + (long)h * D, *oi = dout + ((long)b * Nq + i) * do_rs + (long)h * D;
          double m = -INFINITY, sum = 0.0, dot = 0.0;
          for (int j = 0; j < Nk; ++j) {
            const float *kj = k + ((long)b * Nk + j) * k_rs + (long)g * D, *vj = v + ((long)b * Nk + j) * v_rs + (long)g * D;
            double sj = 0.0, dj = 0.0;
            for (int d = 0; d < D; ++d) { sj += (double)qi[d] * kj[d]; dj += (double)oi[d] * vj[d]; }
            p[j] = sj * scale;
            dpr[j] = dj;
            m = p[j] > m ? p[j] : m;
          }
          for (int j = 0; j < Nk; ++j) sum += (p[j] = exp(p[j] - m));
          for (int j = 0; j < Nk; ++j) dot += (p[j] /= sum) * dpr[j];
          for (int d = 0; d < D; ++d) {
            double acc = 0.0;
            for (int j = 0; j < Nk; ++j) {
              const double dsj = scale * p[j] * (dpr[j] - dot);
              acc += dsj * k[((long)b * Nk + j) * k_rs + (long)g * D + d];
              gk[(long)j * D + d] += dsj * qi[d];
              gv[(long)j * D + d] += p[j] * oi[d];
            }
            dq[((long)b * Nq + i) * dq_rs + (long)h * D + d] = (float)acc;
          }
        }
      for (int j = 0; j < Nk; ++j)
        for (int d = 0; d < D; ++d) {
          dk[((long)b * Nk + j) * dk_rs + (long)g * D + d] = (float)gk[(long)j * D + d];
          dv[((long)b * Nk + j) * dv_rs + (long)g * D + d] = (float)gv[(long)j * D + d];
        }
    }
  free(p);
  free(gk);
}

/* ---- local_attention ------------------------------------------------------------------------- */

/* The gradient of local_attention (attention.c's lk_local_attention): at each location n of a
 * sample, query head h attends over the T variants' keys at that same location, of its kv head
 * g = h / (H / Hk):
 *   s_t = scale·q·k_t,  p = softmax(s),  o = Σ_t p_t·v_t,
 *   dp_t = dO·v_t,  ds_t = p_t·(dp_t − Σ_u p_u·dp_u),
 *   dq = scale·Σ_t ds_t·k_t,  dk_t = scale·Σ_h ds_t·q,  dv_t = Σ_h p_t·dO  (h over g's heads).
 * q, dout and dq are [B, N, H·D], k, v, dk and dv [B, T, N, Hk·D], rows of each `rs` floats apart
 * (a training graph's k and v are the two column ranges of one K/V projection, and dk and dv those
 * of its gradient, so no concat copies them). dq may be NULL (the K/V gradient only), or dk and
 * dv (the query's only): the training graph runs one call for each, and each recomputes P, T dot
 * products per head, instead of keeping it from the forward.
 *
 * Why a kernel: the lowering to matmuls ran six products of T = 18 variants per location at 7-11
 * GFLOP/s, and the concat of dk and dv copied the [T, N, 2·Hk·D] gradient (SAG's stage 1: 73 ms
 * of products, 28 ms of concat per batch-16 step).
 *
 * How: one task per block of LK__LOCAL_BLOCK consecutive locations of a sample, as
 * lk_local_attention, whose weights (lk__local_weights) it recomputes bit for bit; every pass
 * walks the variants in its outer loop, so it reads (or writes) one contiguous run of rows per
 * variant. One location per task read the T rows of a location, 4·N·Hk·D floats apart, as T
 * separate streams per array, more than the prefetchers follow: SAG's two calls ran at 3-4 GB/s.
 * Every sum has a fixed order, so results do not depend on the thread count. In the batch-16
 * step's profile (2-7 % steal, two runs minutes apart) SAG's attention block went from 135 to
 * 128 ms: its six products, softmaxes, scales and the concat took 109 ms, the forward kernel and
 * these two calls take 98 (25 + 31 + 42). At 5-7 GB/s they are still well below the memory's
 * speed. The vectorised softmax and axpys and the row prefetch (lk__local_prefetch, attention.c)
 * took SAG's [16, 18, 1024, 4 heads on 1 × 48] from 52-53 to 46-47 ms on one thread and 26-29 to
 * 24-26 ms on two (old and new builds alternating in one process); the forward 28 → 23.5 and
 * 14-16.5 → 12-13 ms. In cache (one sample of 64 locations) a (location, head, variant) still
 * costs ~60 cycles of the forward: the next step is a kernel over several heads or locations at
 * once rather than one D-long dot product and axpy at a time. */
void lk_local_attention_grad(int B, int T, int N, int H, int Hk, int D, const float *q, long q_rs, const float *k,
                             long k_rs, const float *v, long v_rs, const float *dout, long do_rs, float *dq, long dq_rs,
                             float *dk, long dk_rs, float *dv, long dv_rs, float scale) {
  if (B <= 0 || N <= 0 || H <= 0 || Hk <= 0 || D <= 0) return;
  if (T <= 0) { /* no variants: the output is an empty sum, constant in q */
    for (long r = 0; dq && r < (long)B * N; ++r) memset(dq + r * dq_rs, 0, (size_t)H * D * sizeof(float));
    return;
  }
  const int group = H / Hk;
  const long blocks = (N + LK__LOCAL_BLOCK - 1) / LK__LOCAL_BLOCK, units = (long)B * blocks;
  const long wsz = (long)LK__LOCAL_BLOCK * H * T;
  LK_OMP(parallel if(units > 1 && (long)B * N * T * H * D >= LK_PAR_MIN))
  {
    /* p, then ds (scaled), of the block's locations: [l][h][t] */
    float *pw = (float *)malloc((size_t)(2 * wsz) * sizeof(float)), *dw = pw ? pw + wsz : NULL;
    LK_OMP(for schedule(static))
    for (long u = 0; u < units; ++u) {
      const long b = u / blocks, n0 = u % blocks * LK__LOCAL_BLOCK, nl = lk_min_l(LK__LOCAL_BLOCK, N - n0);
      const long first = b * N + n0; /* q, dout and dq row of the block's first location */
      if (!pw) { /* out of memory: NaN rather than garbage */
        for (long l = 0; dq && l < nl; ++l)
          for (long c = 0; c < (long)H * D; ++c) dq[(first + l) * dq_rs + c] = NAN;
        for (int t = 0; dk && t < T; ++t)
          for (long l = 0; l < nl; ++l)
            for (long c = 0; c < (long)Hk * D; ++c) dk[((b * T + t) * N + n0 + l) * dk_rs + c] = dv[((b * T + t) * N + n0 + l) * dv_rs + c] = NAN;
        continue;
      }
      /* 1. p as the forward weighs v, and dP; then ds = scale·p·(dP − Σ p·dP). */
      lk__local_weights(T, N, H, Hk, D, b, n0, nl, q, q_rs, k, k_rs, dout, do_rs, v, v_rs, scale, pw, dw);
      for (long r = 0; r < nl * H; ++r) {
        const float *pr = pw + r * T;
        float *dr = dw + r * T, dot = 0.0f;
        for (int t = 0; t < T; ++t) dot += pr[t] * dr[t];
        for (int t = 0; t < T; ++t) dr[t] = scale * pr[t] * (dr[t] - dot);
      }
      /* 2. dq = Σ_t ds_t·k_t, or dk_t and dv_t summed over the group's heads, variant by variant. */
      if (dq)
        for (long l = 0; l < nl; ++l) memset(dq + (first + l) * dq_rs, 0, (size_t)H * D * sizeof(float));
      for (int t = 0; t < T; ++t)
        for (long l = 0; l < nl; ++l) {
          const long row = (b * T + t) * N + n0 + l;
          for (int g = 0; g < Hk; ++g) {
            const float *kt = k + row * k_rs + (long)g * D;
            float *dkt = dk ? dk + row * dk_rs + (long)g * D : NULL, *dvt = dk ? dv + row * dv_rs + (long)g * D : NULL;
            for (int h = g * group; h < (g + 1) * group; ++h) {
              const float c = dw[(l * H + h) * T + t], e = pw[(l * H + h) * T + t];
              if (dq) {
                lk__local_axpy(D, c, kt, dq + (first + l) * dq_rs + (long)h * D, 1);
              }
              if (dk) {
                const float *qh = q + (first + l) * q_rs + (long)h * D, *oh = dout + (first + l) * do_rs + (long)h * D;
                const int add = h > g * group; /* the group's first head starts the sums */
                lk__local_axpy(D, c, qh, dkt, add);
                lk__local_axpy(D, e, oh, dvt, add);
              }
            }
          }
        }
    }
    free(pw);
  }
}

/* Reference: the formulas in double, one (location, head) at a time; dense rows (rs = the row's
 * width). dq, or dk and dv, may be NULL as for lk_local_attention_grad. */
void lk_local_attention_grad_naive(int B, int T, int N, int H, int Hk, int D, const float *q, const float *k,
                                   const float *v, const float *dout, float *dq, float *dk, float *dv, float scale) {
  const long C = (long)H * D, Ck = (long)Hk * D;
  double *w = (double *)malloc((size_t)(2 * (T > 0 ? T : 1)) * sizeof(double)), *dw = w + (T > 0 ? T : 1);
  double *gk = (double *)calloc((size_t)(2 * (T > 0 ? T : 1) * (D > 0 ? D : 1)), sizeof(double)), *gv = gk + (long)(T > 0 ? T : 1) * D;
  for (int b = 0; b < B; ++b)
    for (int n = 0; n < N; ++n)
      for (int g = 0; g < Hk; ++g) {
        memset(gk, 0, (size_t)(2 * (T > 0 ? T : 1) * (D > 0 ? D : 1)) * sizeof(double));
        for (int h = g * (H / Hk); h < (g + 1) * (H / Hk); ++h) {
          const float *qh = q + ((long)b * N + n) * C + (long)h * D, *oh = dout + ((long)b * N + n) * C + (long)h * D;
          double m = -INFINITY, sum = 0.0, dot = 0.0;
          for (int t = 0; t < T; ++t) {
            const float *kt = k + (((long)b * T + t) * N + n) * Ck + (long)g * D, *vt = v + (((long)b * T + t) * N + n) * Ck + (long)g * D;
            double s = 0.0, o = 0.0;
            for (int d = 0; d < D; ++d) { s += (double)qh[d] * kt[d]; o += (double)oh[d] * vt[d]; }
            w[t] = s * scale;
            dw[t] = o;
            m = w[t] > m ? w[t] : m;
          }
          for (int t = 0; t < T; ++t) sum += (w[t] = exp(w[t] - m));
          for (int t = 0; t < T; ++t) dot += (w[t] /= sum) * dw[t];
          for (int d = 0; d < D; ++d) {
            double acc = 0.0;
            for (int t = 0; t < T; ++t) {
              const double ds = scale * w[t] * (dw[t] - dot);
              acc += ds * k[(((long)b * T + t) * N + n) * Ck + (long)g * D + d];
              gk[(long)t * D + d] += ds * qh[d];
              gv[(long)t * D + d] += w[t] * oh[d];
            }
            if (dq) dq[((long)b * N + n) * C + (long)h * D + d] = (float)acc;
          }
        }
        for (int t = 0; dk && t < T; ++t)
          for (int d = 0; d < D; ++d) {
            dk[(((long)b * T + t) * N + n) * Ck + (long)g * D + d] = (float)gk[(long)t * D + d];
            dv[(((long)b * T + t) * N + n) * Ck + (long)g * D + d] = (float)gv[(long)t * D + d];
          }
      }
  free(w);
  free(gk);
}
