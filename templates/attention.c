/* locus-requires: prologue.h */
/* Attention kernels: scaled dot-product attention over tokens (sdpa) and local attention over the
 * T shifted variants of every token (local_attention). Heads may share K/V heads (grouped-query
 * attention): query head h reads kv head h / (H / Hk). */

/* sdpa: out[b, i, h·D + d] = Σ_j softmax_j(scale · q_{b,i,h} · k_{b,j,g}) · v_{b,j,g}[d],
 * g = h / (H / Hk), for b < B, i < Nq, h < H, d < D, j < Nk, where
 *   q_{b,i,h}[d] = q[(b·Nq + i)·q_rs + h·D + d]     (q_rs ≥ H·D)
 *   k_{b,j,g}[d] = k[(b·Nk + j)·k_rs + g·D + d]     (k_rs ≥ Hk·D)
 *   v_{b,j,g}[d] = v[(b·Nk + j)·v_rs + g·D + d]     (v_rs ≥ Hk·D)
 * and out is dense [B, Nq, H·D]. With a fused qkv buffer [B, N, 3·C] (C = H·D, laid out [q|k|v],
 * heads inside each) pass q = qkv, k = qkv + C, v = qkv + 2·C and all three row strides 3·C.
 * scale is usually 1/√D (scale > 0: the row max is taken before scaling).
 *
 * How: a dedicated kernel rather than two calls of the serial GEMM around a softmax, which ran at
 * 55 GFLOP/s per core for DeiT-tiny (FMA peak ~101): Kᵀ and V were re-packed for every block of
 * 50 queries, each block ended in an edge tile that went through a copy, and the softmax read the
 * score block three times. This kernel: 76 GFLOP/s on one core, 140 on two (B = 1; B = 16: 68
 * and 146), 1.3-1.5× the old path at every model shape (see the commit messages for the table);
 * what is left is the exp (~11%) and the packing (3-8%). The work is the B·H·⌈Nq/MR⌉ tiles of
 * MR queries; each thread takes a contiguous run of them (or, with enough samples, whole (b, kv
 * head) groups in turn) and, per (b, kv head), packs Kᵀ and V once into NR-wide panels (heads
 * that share a kv head reuse them: the run visits h in order).
 * Then, LK_SDPA_TILES query tiles at a time:
 *   1. S = Q·Kᵀ with an MR×NR micro-kernel (Q rows read in place, Kᵀ panels padded with zero
 *      keys up to a multiple of NR), whose store also keeps each row's running max;
 *   2. one pass per row: P = exp(scale·S − scale·max) in place (an exp2 without lk_vexp's
 *      range handling, which these arguments ≤ 0 do not need), and Σ P (padding keys masked);
 *   3. out = (P·V) · (1/Σ) with the same micro-kernel shape over the V panels: the normalisation
 *      is one multiply per output (D per row) instead of one per score (Nk per row).
 * Measured and not kept (1 thread, DeiT-tiny): V read in place instead of packed (its rows are
 * 2.3 KB apart in the qkv buffer) 5% slower; queries packed into MR-wide panels 3-5% slower;
 * LK_SDPA_TILES 1 to 8 and the exp over an MR-row tile instead of row by row: no difference;
 * software prefetch of the next head's q, k, v rows (B = 16): no difference.
 * Each output row is computed by one thread in a fixed order (k ascending in every dot product,
 * the row sum in fixed lanes) that does not depend on which tile, run or thread it falls in, so
 * results do not depend on the thread count.
 *
 * Scratch per thread, allocated per call: Kᵀ and V panels, the score rows and copies of short
 * query tiles, ⌈Nk/NR⌉·NR·D + Nk·⌈D/NR⌉·NR + TILES·MR·(ld + D) floats, ld =
 * lk_unaliased_stride(⌈Nk/NR⌉·NR): 130 KB for DeiT-tiny, 500 KB for SAG's Nk = 1024. If that
 * fails, the thread's outputs are NaN. out must not overlap q, k or v. */
#if defined(LOCUS_TARGET_AVX512)
#  define LK_SDPA_MR 8
#else
#  define LK_SDPA_MR 6
#endif
#define LK_SDPA_NV 2                       /* vectors per tile row: 12 (16) accumulators, as gemm.c */
#define LK_SDPA_NR (LK_SDPA_NV * LK_VW)    /* keys (step 1) or output columns (step 3) per panel */
/* Step 3 sums each output over the keys in chunks of KC, chunk sums added in order. The test's
 * random DeiT-tiny case has outputs near zero (Σ p·v cancels), where one chain of 197 float adds
 * was already the largest error: worst relative error over 20 seeds 2.2e-5 with one chain (the
 * old GEMM path: 2.0e-5; the test allows 2e-5), 2.1e-5 with KC = 64, 1.4e-5 with 32, 1.2e-5
 * with 16. 32 costs ~3% of the kernel against 64 (the 12 chunk sums live on the stack). */
#ifndef LK_SDPA_KC
#  define LK_SDPA_KC 32
#endif
#ifndef LK_SDPA_TILES
#  define LK_SDPA_TILES 4                  /* query tiles per step: a Kᵀ or V panel is reused from
                                              L1 by this many tiles; the scores stay in L1/L2 */
#endif

/* kt[(j/NR)·D·NR + d·NR + j%NR] = k_j[d] for j < round_up(Nk, NR), zero for j ≥ Nk. Full panels
 * are turned around 8×8 in registers (k rows are contiguous in d, as linear's W in gemm.c). */
static void lk__sdpa_pack_kt(int Nk, int D, const float *restrict k, long k_rs, float *restrict kt) {
  for (int j0 = 0; j0 < Nk; j0 += LK_SDPA_NR) {
    int nr = (int)lk_min_l(LK_SDPA_NR, Nk - j0), d0 = 0;
    const float *s = k + (long)j0 * k_rs;
    float *p = kt + (long)j0 * D;
    if (nr == LK_SDPA_NR)
      for (; d0 + 8 <= D; d0 += 8)
        for (int j = 0; j < LK_SDPA_NR; j += 8) lk_transpose8_block(s + (long)j * k_rs + d0, k_rs, p + (long)d0 * LK_SDPA_NR + j, LK_SDPA_NR);
    for (; d0 < D; ++d0)
      for (int j = 0; j < LK_SDPA_NR; ++j) p[(long)d0 * LK_SDPA_NR + j] = j < nr ? s[(long)j * k_rs + d0] : 0.0f;
  }
}

/* vp[(d/NR)·Nk·NR + j·NR + d%NR] = v_j[d] for d < round_up(D, NR), zero for d ≥ D. */
static void lk__sdpa_pack_v(int Nk, int D, const float *restrict v, long v_rs, float *restrict vp) {
  for (int d0 = 0; d0 < D; d0 += LK_SDPA_NR) {
    int nr = (int)lk_min_l(LK_SDPA_NR, D - d0);
    float *p = vp + (long)d0 * Nk;
    for (int j = 0; j < Nk; ++j) {
      const float *s = v + (long)j * v_rs + d0;
      if (nr == LK_SDPA_NR)
        for (int u = 0; u < LK_SDPA_NV; ++u) lk_vstore(p + (long)j * LK_SDPA_NR + u * LK_VW, lk_vload(s + u * LK_VW));
      else
        for (int d = 0; d < LK_SDPA_NR; ++d) p[(long)j * LK_SDPA_NR + d] = d < nr ? s[d] : 0.0f;
    }
  }
}

/* Step 1 on one tile: s[0:MR, 0:nv·VW] = A[0:MR, 0:D] · kp[0:D, 0:nv·VW], A(i, d) = a[i·rsa + d]
 * (all MR rows readable), kp one packed Kᵀ panel whose first `valid` columns are real keys;
 * rmax[i] = max(rmax[i], the row's real scores) lane-wise. nv is a constant after inlining. */
__attribute__((always_inline)) static inline void lk__sdpa_qk_nv(int nv, int D, const float *restrict a, long rsa,
                                                                 const float *restrict kp, float *restrict s, long lds,
                                                                 int valid, lk_vf *restrict rmax) {
  lk_vf acc[LK_SDPA_MR][LK_SDPA_NV];
  for (int i = 0; i < LK_SDPA_MR; ++i)
    for (int u = 0; u < nv; ++u) acc[i][u] = lk_vzero();
  for (int d = 0; d < D; ++d) {
    lk_vf b[LK_SDPA_NV];
    for (int u = 0; u < nv; ++u) b[u] = lk_vload(kp + u * LK_VW);
    for (int i = 0; i < LK_SDPA_MR; ++i) {
      lk_vf ai = lk_vset1(a[i * rsa + d]);
      for (int u = 0; u < nv; ++u) acc[i][u] += ai * b[u];
    }
    kp += LK_SDPA_NR;
  }
  for (int i = 0; i < LK_SDPA_MR; ++i)
    for (int u = 0; u < nv; ++u) lk_vstore(s + i * lds + u * LK_VW, acc[i][u]);
  if (valid == nv * LK_VW) {
    for (int i = 0; i < LK_SDPA_MR; ++i) {
      lk_vf m = acc[i][0];
      for (int u = 1; u < nv; ++u) m = lk_vmax(acc[i][u], m);
      rmax[i] = lk_vmax(m, rmax[i]);
    }
  } else { /* last panel: the zero padding keys must not take part in the max */
    for (int u = 0; u < nv; ++u) {
      lk_vi keep = lk_vbelow(u * LK_VW, valid);
      for (int i = 0; i < LK_SDPA_MR; ++i) rmax[i] = lk_vmax(lk_vselect(keep, acc[i][u], lk_vset1(-INFINITY)), rmax[i]);
    }
  }
}

/* A last panel of at most LK_VW keys takes a tile one vector wide: half the multiply-adds (Nk =
 * 197 is 12 panels of 16 and one of 5). */
static void lk__sdpa_qk_tile(int D, const float *restrict a, long rsa, const float *restrict kp,
                             float *restrict s, long lds, int valid, lk_vf *restrict rmax) {
  if (valid <= LK_VW) lk__sdpa_qk_nv(1, D, a, rsa, kp, s, lds, valid, rmax);
  else lk__sdpa_qk_nv(LK_SDPA_NV, D, a, rsa, kp, s, lds, valid, rmax);
}

/* 2^t for t ≤ 0 (or NaN): what step 2 needs, cheaper than lk_vexp (16 vector operations instead
 * of ~28; step 2 was 16% of the kernel's time with lk_vexp). The caller folds log2(e) into its
 * scale, so there is no ln 2 reduction; t is clamped at −126, where 2^t is ~1e-38, negligible in
 * a row sum that is ≥ 1 (no underflow mask needed), and t ≤ 0 needs no overflow clamp. 2^r on
 * |r| ≤ 1/2: degree 6, fitted for relative error (1.5e-8 with float coefficients, below the
 * float rounding of its evaluation). NaN propagates through the max and the product. */
static inline lk_vf lk__sdpa_exp2(lk_vf t) {
  const float shifter = 12582912.0f; /* 1.5·2^23: adding it rounds to an integer in the low bits */
  t = lk_vmax(t, lk_vset1(-126.0f));
  lk_vf big = t + shifter;
  lk_vf r = t - (big - shifter), r2 = r * r;
  lk_vf q01 = r * 0.693147182f + 1.0f;
  lk_vf q23 = r * 0.0555032864f + 0.240226462f;
  lk_vf q456 = (r * 0.00133999367f + 0.00961848628f) + r2 * 0.000153464571f;
  lk_vf p = q01 + r2 * (q23 + r2 * q456);
  /* 2^n from the integer n in big's low bits: (n + 127) << 23 (n ≥ −126: a normal float). */
  lk_vi two_n = ((lk_vi)big - ((lk_vi)lk_vset1(shifter) - 127)) << 23;
  return p * (lk_vf)two_n;
}

/* Step 2 on one score row: p[j] = exp(scale·s[j] − scale·max) in place for j < Nk; returns 1/Σ p
 * (NaN for a row whose scores are all −inf, as PyTorch). The row has room up to the next
 * multiple of LK_VW, so the tail is a full, masked vector. */
static float lk__sdpa_exp_row(int Nk, float *p, lk_vf rmax, float scale) {
  const float a = scale * 1.44269504088896341f, m = lk_vhmax(rmax) * a; /* exp(x) = 2^(x·log2 e) */
  lk_vf vs = lk_vzero();
  int j = 0;
  if (m == -INFINITY) return NAN;
  for (; j + LK_VW <= Nk; j += LK_VW) {
    lk_vf e = lk__sdpa_exp2(lk_vload(p + j) * a - m);
    vs += e;
    lk_vstore(p + j, e);
  }
  if (j < Nk) {
    lk_vf e = lk_vselect(lk_vbelow(j, Nk), lk__sdpa_exp2(lk_vload(p + j) * a - m), lk_vzero());
    vs += e;
    lk_vstore(p + j, e);
  }
  return 1.0f / lk_vsum(vs);
}

/* Step 3 on one tile: o[0:mr, 0:nr] = inv[i] · Σ_j p[i·ldp + j] · vp[j·NR + c], j < Nk (all MR
 * rows of p readable and finite), nv vectors wide (a constant after inlining). Edge tiles go
 * through a full-size copy. */
__attribute__((always_inline)) static inline void lk__sdpa_pv_nv(int nv, int Nk, const float *restrict p, long ldp,
                                                                 const float *restrict vp, const float *inv,
                                                                 float *restrict o, long ldo, int mr, int nr) {
  lk_vf acc[LK_SDPA_MR][LK_SDPA_NV], sum[LK_SDPA_MR][LK_SDPA_NV];
  for (int i = 0; i < LK_SDPA_MR; ++i)
    for (int u = 0; u < nv; ++u) sum[i][u] = lk_vzero();
  for (int j0 = 0; j0 < Nk; j0 += LK_SDPA_KC) {
    const int j1 = (int)lk_min_l(j0 + LK_SDPA_KC, Nk);
    for (int i = 0; i < LK_SDPA_MR; ++i)
      for (int u = 0; u < nv; ++u) acc[i][u] = lk_vzero();
    for (int j = j0; j < j1; ++j) {
      lk_vf b[LK_SDPA_NV];
      for (int u = 0; u < nv; ++u) b[u] = lk_vload(vp + u * LK_VW);
      for (int i = 0; i < LK_SDPA_MR; ++i) {
        lk_vf pi = lk_vset1(p[i * ldp + j]);
        for (int u = 0; u < nv; ++u) acc[i][u] += pi * b[u];
      }
      vp += LK_SDPA_NR;
    }
    for (int i = 0; i < LK_SDPA_MR; ++i)
      for (int u = 0; u < nv; ++u) sum[i][u] += acc[i][u];
  }
  for (int i = 0; i < LK_SDPA_MR; ++i)
    for (int u = 0; u < nv; ++u) acc[i][u] = sum[i][u] * inv[i];
  if (mr == LK_SDPA_MR && nr == nv * LK_VW) {
    for (int i = 0; i < LK_SDPA_MR; ++i)
      for (int u = 0; u < nv; ++u) lk_vstore(o + i * ldo + u * LK_VW, acc[i][u]);
  } else {
    float t[LK_SDPA_MR * LK_SDPA_NR];
    for (int i = 0; i < LK_SDPA_MR; ++i)
      for (int u = 0; u < nv; ++u) lk_vstore(t + i * LK_SDPA_NR + u * LK_VW, acc[i][u]);
    for (int i = 0; i < mr; ++i) memcpy(o + i * ldo, t + i * LK_SDPA_NR, (size_t)nr * sizeof(float));
  }
}

/* A last panel of at most LK_VW output columns takes a tile one vector wide, as step 1's last
 * keys: LocalViT's D = 48 is a panel of 32 and one of 16, whose padding was a quarter of step 3's
 * multiply-adds. Each output is the same sum either way. */
static void lk__sdpa_pv_tile(int Nk, const float *restrict p, long ldp, const float *restrict vp, const float *inv,
                             float *restrict o, long ldo, int mr, int nr) {
  if (nr <= LK_VW) lk__sdpa_pv_nv(1, Nk, p, ldp, vp, inv, o, ldo, mr, nr);
  else lk__sdpa_pv_nv(LK_SDPA_NV, Nk, p, ldp, vp, inv, o, ldo, mr, nr);
}

void lk_sdpa(int B, int Nq, int Nk, int H, int Hk, int D, const float *q, long q_rs, const float *k,
             long k_rs, const float *v, long v_rs, float *out, float scale) {
  if (B <= 0 || Nq <= 0 || H <= 0 || D <= 0) return;
  const int group = H / Hk, tiles = (int)lk_ceil_div(Nq, LK_SDPA_MR);
  const long ld = (long)H * D, units = (long)B * H * tiles;
  const long nkp = lk_round_up(lk_max_l(Nk, 1), LK_SDPA_NR), dp = lk_round_up(D, LK_SDPA_NR);
  /* Score rows: the MR rows that step 3 reads together would otherwise all map to one L1 set at
   * SAG's Nk = 1024. */
  const long lds = lk_unaliased_stride(nkp);
  const size_t kt_floats = (size_t)lk_round_up(nkp * D, 16), vp_floats = (size_t)lk_round_up((long)Nk * dp, 16);
  const size_t s_floats = (size_t)(LK_SDPA_TILES * LK_SDPA_MR * lds), qt_floats = (size_t)LK_SDPA_TILES * LK_SDPA_MR * D;
  if (Nk <= 0) { /* no keys: an empty sum */
    for (long r = 0; r < (long)B * Nq; ++r) memset(out + r * ld, 0, (size_t)ld * sizeof(float));
    return;
  }
  /* With at least two (sample, kv head) groups per thread, the jobs are whole groups, which each
   * thread takes from its own share first and then from what is left of the other's
   * (lk_share_next), instead of a fixed run of units each: on this shared VM one thread is often
   * slowed for a while, and with fixed halves the call waited for it (DeiT-tiny at batch 16: 48
   * groups). With fewer groups (batch 1) a job is one thread's run of query tiles. Each output
   * row sums in the same order whichever thread computes it. */
  const long groups = (long)B * Hk;
  lk_shares shares = {0};
  LK_OMP(parallel if(units > 1 && 2.0 * B * H * Nq * Nk * D >= LK_GEMM_PAR_MIN))
  {
    long packed = -1; /* packed: b·Hk + g of the panels in kt and vp */
    const int taking = groups >= 2L * lk_team_size();
    int from = -1;
    float *kt = lk_scratch_alloc(kt_floats + vp_floats + s_floats + qt_floats);
    float *vp = kt ? kt + kt_floats : NULL, *s = kt ? vp + vp_floats : NULL, *qt = kt ? s + s_floats : NULL;
    lk_vf rmax[LK_SDPA_TILES * LK_SDPA_MR];
    float inv[LK_SDPA_TILES * LK_SDPA_MR];
    const float *at[LK_SDPA_TILES]; /* each query tile's rows, row stride rs */
    long rs[LK_SDPA_TILES];
    /* Job j: group j (b, g), heads g·group… of sample b with every query tile; or, not taking,
     * run j of the units split into one run per thread. */
    for (long j; (j = lk_share_next(&shares, taking ? groups : lk_team_size(), &from)) >= 0;) {
      long u0, u1;
      if (taking) {
        u0 = j * group * tiles;
        u1 = u0 + (long)group * tiles;
      } else {
        lk_split(units, lk_team_size(), (int)j, &u0, &u1);
      }
      for (long u = u0; u < u1;) {
        const long bh = u / tiles;
        const int t0 = (int)(u % tiles), b = (int)(bh / H), h = (int)(bh % H), g = h / group;
        const int nt = (int)lk_min_l(lk_min_l(LK_SDPA_TILES, tiles - t0), u1 - u);
        const int i0 = t0 * LK_SDPA_MR, m = (int)lk_min_l((long)nt * LK_SDPA_MR, Nq - i0);
        const float *qb = q + ((long)b * Nq + i0) * q_rs + (long)h * D;
        float *ob = out + ((long)b * Nq + i0) * ld + (long)h * D;
        u += nt;
        if (!kt) { /* no scratch (out of memory): fail loudly, with NaN, rather than leave garbage */
          for (int i = 0; i < m; ++i) for (int d = 0; d < D; ++d) ob[(long)i * ld + d] = NAN;
          continue;
        }
        if (packed != (long)b * Hk + g) {
          packed = (long)b * Hk + g;
          lk__sdpa_pack_kt(Nk, D, k + (long)b * Nk * k_rs + (long)g * D, k_rs, kt);
          lk__sdpa_pack_v(Nk, D, v + (long)b * Nk * v_rs + (long)g * D, v_rs, vp);
        }
        /* Queries are read in place, except a last tile with fewer than MR rows, or rows a multiple
         * of 4 KiB apart (one L1 set, see gemm.c): those are copied into qt (zero rows past Nq). */
        for (int t = 0; t < nt; ++t) {
          const int rows = (int)lk_min_l(LK_SDPA_MR, m - t * LK_SDPA_MR);
          at[t] = qb + (long)t * LK_SDPA_MR * q_rs;
          rs[t] = q_rs;
          if (rows < LK_SDPA_MR || q_rs % 1024 == 0) {
            float *c = qt + (long)t * LK_SDPA_MR * D;
            memset(c, 0, (size_t)LK_SDPA_MR * D * sizeof(float));
            for (int i = 0; i < rows; ++i) memcpy(c + (long)i * D, at[t] + i * q_rs, (size_t)D * sizeof(float));
            at[t] = c;
            rs[t] = D;
          }
          for (int i = 0; i < LK_SDPA_MR; ++i) rmax[t * LK_SDPA_MR + i] = lk_vset1(-INFINITY);
        }
        /* Step 1, panel by panel so each Kᵀ panel is reused from L1 by the nt tiles. */
        for (long j0 = 0; j0 < nkp; j0 += LK_SDPA_NR)
          for (int t = 0; t < nt; ++t)
            lk__sdpa_qk_tile(D, at[t], rs[t], kt + j0 * D, s + (long)t * LK_SDPA_MR * lds + j0, lds,
                             (int)lk_min_l(LK_SDPA_NR, Nk - j0), rmax + t * LK_SDPA_MR);
        /* Step 2 (rows past Nq hold zero scores: harmless, finite, and never stored). */
        for (int i = 0; i < nt * LK_SDPA_MR; ++i) inv[i] = lk__sdpa_exp_row(Nk, s + i * lds, rmax[i], scale);
        /* Step 3. */
        for (int d0 = 0; d0 < dp; d0 += LK_SDPA_NR)
          for (int t = 0; t < nt; ++t)
            lk__sdpa_pv_tile(Nk, s + (long)t * LK_SDPA_MR * lds, lds, vp + (long)d0 * Nk, inv + t * LK_SDPA_MR,
                             ob + (long)t * LK_SDPA_MR * ld + d0, ld, (int)lk_min_l(LK_SDPA_MR, m - t * LK_SDPA_MR),
                             (int)lk_min_l(LK_SDPA_NR, D - d0));
      }
    } /* for j */
    lk_scratch_free(kt);
  }
}

/* Reference: the formula in double, one query at a time. */
void lk_sdpa_naive(int B, int Nq, int Nk, int H, int Hk, int D, const float *q, long q_rs, const float *k,
                   long k_rs, const float *v, long v_rs, float *out, float scale) {
  double *p = (double *)malloc((size_t)Nk * sizeof(double));
  for (int b = 0; b < B; ++b)
    for (int i = 0; i < Nq; ++i)
      for (int h = 0; h < H; ++h) {
        int g = h / (H / Hk);
        const float *qi = q + ((long)b * Nq + i) * q_rs + (long)h * D;
        double m = -INFINITY, sum = 0.0;
        for (int j = 0; j < Nk; ++j) {
          const float *kj = k + ((long)b * Nk + j) * k_rs + (long)g * D;
          double dot = 0.0;
          for (int d = 0; d < D; ++d) dot += (double)qi[d] * kj[d];
          p[j] = dot * scale;
          m = p[j] > m ? p[j] : m;
        }
        for (int j = 0; j < Nk; ++j) sum += (p[j] = exp(p[j] - m));
        for (int d = 0; d < D; ++d) {
          double o = 0.0;
          for (int j = 0; j < Nk; ++j) o += p[j] * v[((long)b * Nk + j) * v_rs + (long)g * D + d];
          out[((long)b * Nq + i) * H * D + (long)h * D + d] = (float)(o / sum);
        }
      }
  free(p);
}

/* local_attention: every token attends over its own T variants (shifted copies) only.
 *   q [B, N, H·D], k, v [B, T, N, Hk·D], out [B, N, H·D];
 *   out[b, n, h] = Σ_t softmax_t(scale · q[b, n, h] · k[b, t, n, g]) · v[b, t, n, g], g = h / (H / Hk).
 * T is small (a handful of shifts), so the kernel is dot products vectorised over D (lk_dot_tree),
 * parallel over blocks of LK__LOCAL_BLOCK consecutive locations of a sample. A block walks the
 * variants in its outer loops, so each pass reads one contiguous run of rows per variant: one
 * location at a time read the T rows of a location, N·Hk·D floats apart, as T streams of k and T
 * of v, and SAG's training forward ran at 3.4 GB/s. out must not overlap q, k or v. */
#ifndef LK__LOCAL_BLOCK
#  define LK__LOCAL_BLOCK 32 /* locations per block; a build may force another size */
#endif

/* Rows of k or v a block reads, [b, t, n0 + l] for t < T, l < nl in that order, are short runs
 * (nl rows of Hk·D floats) N rows apart: too short for the hardware prefetchers, and the dot
 * products and axpys waited on memory (one thread read k at ~4 GB/s where it streams 24). So
 * each visit of row (t, l) fetches the row LK__LOCAL_AHEAD visits later: lk__local_ahead gives
 * that row's index in [B·T·N] (−1 past the block's last), lk__local_prefetch fetches its floats. */
#ifndef LK__LOCAL_AHEAD
#  define LK__LOCAL_AHEAD 16
#endif
static inline long lk__local_ahead(int T, int N, long b, long n0, long nl, int t, long l) {
  const long next = t * nl + l + LK__LOCAL_AHEAD;
  return next < T * nl ? (b * T + next / nl) * N + n0 + next % nl : -1;
}
static inline void lk__local_prefetch(const float *row, long width) {
  for (long i = 0; i < width; i += 16) __builtin_prefetch(row + i, 0, 3);
  __builtin_prefetch(row + width - 1, 0, 3);
}

/* The weights of locations n0 .. n0 + nl − 1 of sample b (nl ≤ LK__LOCAL_BLOCK):
 * w[(l·H + h)·T + t] = softmax over t of scale · q·k_t, q and k through their row strides. The
 * forward and the gradient (attention_grad.c) share it, so the gradient's recomputed weights are
 * the forward's bit for bit. With dp (the gradient), also dp[(l·H + h)·T + t] = dO·v_t in the
 * same pass over the variants (a second pass for it cost the gradient ~10 %). */
static void lk__local_weights(int T, int N, int H, int Hk, int D, long b, long n0, long nl, const float *q, long q_rs,
                              const float *k, long k_rs, const float *dout, long do_rs, const float *v, long v_rs,
                              float scale, float *w, float *dp) {
  const int group = H / Hk;
  for (int t = 0; t < T; ++t)
    for (long l = 0; l < nl; ++l) {
      const long row = (b * T + t) * N + n0 + l, first = b * N + n0;
      const long ahead = lk__local_ahead(T, N, b, n0, nl, t, l);
      if (ahead >= 0) {
        lk__local_prefetch(k + ahead * k_rs, (long)Hk * D);
        if (dp) lk__local_prefetch(v + ahead * v_rs, (long)Hk * D);
      }
      for (int h = 0; h < H; ++h) {
        const long kc = (long)(h / group) * D, at = (l * H + h) * T + t;
        w[at] = scale * lk_dot_tree(q + (first + l) * q_rs + (long)h * D, k + row * k_rs + kc, D);
        if (dp) dp[at] = lk_dot_tree(dout + (first + l) * do_rs + (long)h * D, v + row * v_rs + kc, D);
      }
    }
  /* The softmax of each row of T: the max subtracted row by row, then one vectorised exp over the
   * block's nl·H·T weights at once, then each row's sum in t order. libm's expf weight by weight
   * was a third of the forward's time; softmax.c's lk_softmax_row, row by row, spends a padded
   * vector on each row's tail (two exps per 18 weights): forward 5-8 % and gradient ~5 % slower
   * than this at SAG's shape (alternating builds, 1 and 2 threads). */
  const long n = nl * H * T;
  long i = 0;
  for (long r = 0; r < nl * H; ++r) {
    float *wr = w + r * T, m = -INFINITY;
    for (int t = 0; t < T; ++t) m = wr[t] > m ? wr[t] : m;
    for (int t = 0; t < T; ++t) wr[t] = wr[t] - m;
  }
  for (; i + LK_VW <= n; i += LK_VW) lk_vstore(w + i, lk_vexp(lk_vload(w + i)));
  if (i < n) {
    float tail[LK_VW] = {0};
    memcpy(tail, w + i, (size_t)(n - i) * sizeof(float));
    lk_vstore(tail, lk_vexp(lk_vload(tail)));
    memcpy(w + i, tail, (size_t)(n - i) * sizeof(float));
  }
  for (long r = 0; r < nl * H; ++r) {
    float *wr = w + r * T, sum = 0.0f;
    for (int t = 0; t < T; ++t) sum += wr[t];
    for (int t = 0; t < T; ++t) wr[t] = wr[t] / sum;
  }
}

/* y[0:D] = (add ? y : 0) + a·x[0:D], a vector at a time, then a scalar tail. clang's own
 * vectorisation of the plain loop steps 4 vectors at a time, so SAG's D = 48 (three vectors) ran
 * entirely in its scalar remainder. Each element is the same contracted a·x + y as that loop's. */
static inline void lk__local_axpy(int D, float a, const float *restrict x, float *restrict y, int add) {
  const lk_vf va = lk_vset1(a);
  int d = 0;
  for (; d + LK_VW <= D; d += LK_VW) lk_vstore(y + d, (add ? lk_vload(y + d) : lk_vzero()) + va * lk_vload(x + d));
  for (; d < D; ++d) y[d] = (add ? y[d] : 0.0f) + a * x[d];
}

void lk_local_attention(int B, int T, int N, int H, int Hk, int D, const float *q, const float *k,
                        const float *v, float *out, float scale) {
  if (B <= 0 || N <= 0 || H <= 0 || Hk <= 0 || D <= 0) return;
  const long ldq = (long)H * D, ldk = (long)Hk * D, blocks = (N + LK__LOCAL_BLOCK - 1) / LK__LOCAL_BLOCK;
  const long units = (long)B * blocks, wsz = (long)LK__LOCAL_BLOCK * H * (T > 0 ? T : 1);
  const int group = H / Hk;
  LK_OMP(parallel if(units > 1 && (long)B * N * T * ldq >= LK_PAR_MIN))
  {
    float *w = (float *)malloc((size_t)wsz * sizeof(float)); /* the block's weights [l][h][t] */
    LK_OMP(for schedule(static))
    for (long u = 0; u < units; ++u) {
      const long b = u / blocks, n0 = u % blocks * LK__LOCAL_BLOCK, nl = lk_min_l(LK__LOCAL_BLOCK, N - n0);
      const long first = b * N + n0; /* q and out row of the block's first location */
      if (!w) { /* out of memory: NaN rather than garbage */
        for (long i = 0; i < nl * ldq; ++i) out[first * ldq + i] = NAN;
        continue;
      }
      lk__local_weights(T, N, H, Hk, D, b, n0, nl, q, ldq, k, ldk, NULL, 0, NULL, 0, scale, w, NULL);
      memset(out + first * ldq, 0, (size_t)(nl * ldq) * sizeof(float));
      for (int t = 0; t < T; ++t)
        for (long l = 0; l < nl; ++l) {
          const long ahead = lk__local_ahead(T, N, b, n0, nl, t, l);
          if (ahead >= 0) lk__local_prefetch(v + ahead * ldk, ldk);
          for (int h = 0; h < H; ++h) {
            const float *vt = v + ((b * T + t) * N + n0 + l) * ldk + (long)(h / group) * D, pt = w[(l * H + h) * T + t];
            lk__local_axpy(D, pt, vt, out + (first + l) * ldq + (long)h * D, 1);
          }
        }
    }
    free(w);
  }
}

void lk_local_attention_naive(int B, int T, int N, int H, int Hk, int D, const float *q, const float *k,
                              const float *v, float *out, float scale) {
  double *w = (double *)malloc((size_t)T * sizeof(double));
  for (int b = 0; b < B; ++b)
    for (int n = 0; n < N; ++n)
      for (int h = 0; h < H; ++h) {
        int g = h / (H / Hk);
        double m = -INFINITY, sum = 0.0;
        for (int t = 0; t < T; ++t) {
          double dot = 0.0;
          for (int d = 0; d < D; ++d)
            dot += (double)q[((long)b * N + n) * H * D + (long)h * D + d] *
                   k[(((long)b * T + t) * N + n) * Hk * D + (long)g * D + d];
          w[t] = dot * scale;
          m = w[t] > m ? w[t] : m;
        }
        for (int t = 0; t < T; ++t) sum += (w[t] = exp(w[t] - m));
        for (int d = 0; d < D; ++d) {
          double o = 0.0;
          for (int t = 0; t < T; ++t) o += w[t] * v[(((long)b * T + t) * N + n) * Hk * D + (long)g * D + d];
          out[((long)b * N + n) * H * D + (long)h * D + d] = (float)(o / sum);
        }
      }
  free(w);
}
