/* locus-requires: prologue.h */
/* GEMM: C[M,N] = A[M,K] · B[K,N] + beta·C (+ bias), float32; lk_gemm_ex2 adds an epilogue
 * C = act(A·B + beta·C + bias) + R applied in the store (fused_linear.c).
 *
 * A and B take any row/column strides (BLIS-style), so transposed operands cost nothing:
 * linear's x·Wᵀ with W[N,K] is B = W with rsb = 1, csb = K. C is row-major with row stride rsc.
 *
 * Structure (Goto/BLIS): C is cut into MR×NR register tiles. For each KC-long slice of K a block of B
 * (KC × NC) is packed into NR-wide column panels, so the micro-kernel streams B with unit stride from
 * L1 whatever B's strides were; the micro-kernel walks MR rows of A (from L2) against one panel,
 * broadcasting one A value and doing NR/LK_VW vector FMAs per row per k. A is read in place when its
 * rows are contiguous (csa == 1, the common case: activations) or its columns are (rsa == 1: a weight
 * gradient's dyᵀ), otherwise packed into MR-tall panels.
 *
 * Why these tile sizes (accumulators must stay in registers, and need ≥ 2 FMA pipes × 4-5 cycles of
 * latency = 8-10 independent chains):
 *   AVX2, 16 ymm:    6×16 → 12 accumulators + 2 B vectors + 1 broadcast = 15 registers.
 *   AVX-512, 32 zmm: 8×32 → 16 accumulators + 2 B + 1 = 19 registers (6×32 and 12×32 also fit;
 *                    not measured here: the development machine has no AVX-512).
 *   generic 4-wide:  6×8  → 12 accumulators, as AVX2 at half width (16 xmm / 32 NEON registers).
 * KC = 256: a packed B panel KC×NR is 16 KiB (AVX2), half of L1, leaving room for the A rows.
 * MC = 192 rows × KC of A is 192 KiB: well inside a 512 KiB-1 MiB L2.
 *
 * Threads: the C matrix of each batch element is cut into a tm × tn grid of rectangles (chosen by a
 * cost model that counts micro-tiles and packing), and rectangles are dealt out to threads in
 * contiguous runs. Every thread packs only what its rectangles need into its own scratch, so there
 * is no barrier inside the call. Every C element is summed in the same order (k ascending within a
 * KC slice, slices added in order) whatever the grid, so results do not depend on the thread count.
 */

#if defined(LOCUS_TARGET_AVX512)
#  ifndef LK_GEMM_MR
#    define LK_GEMM_MR 8
#  endif
#else
#  ifndef LK_GEMM_MR
#    define LK_GEMM_MR 6
#  endif
#endif
#ifndef LK_GEMM_NV
#  define LK_GEMM_NV 2 /* vectors per row of a register tile */
#endif
#define LK_GEMM_NR (LK_GEMM_NV * LK_VW)
#ifndef LK_GEMM_KC
#  define LK_GEMM_KC 256
#endif
#ifndef LK_GEMM_MC
#  define LK_GEMM_MC (32 * LK_GEMM_MR)
#endif
#ifndef LK_GEMM_NC
#  define LK_GEMM_NC 1024
#endif

/* One matrix product; the batched entry points make one per batch element. */
typedef struct lk__gemm_args {
  int M, N, K;
  const float *A; long rsa, csa;
  const float *B; long rsb, csb;
  float *C; long rsc;
  float beta;
  const float *bias_m; /* [M] added to every row i, or NULL */
  const float *bias_n; /* [N] added to every column j, or NULL */
  int act;             /* LK_ACT_*, applied after beta and the biases */
  const float *R;      /* residual R(i,j) = R[i*rsr + j] added after act, or NULL; may equal C */
  long rsr;
  const float *scale_k; /* [K]: B(k,j) read as scale_k[k]·B(k,j) (applied while packing B), or NULL */
  /* B packed by the caller instead of read through B, rsb, csb (conv.c's implicit im2col, where
   * B(k,j) is a pixel of the input image): pack_b(g, k0, kc, j0, nc, bp) writes B[k0:k0+kc,
   * j0:j0+nc] in lk__gemm_pack_b's layout. NULL: B is a strided matrix. */
  void (*pack_b)(const struct lk__gemm_args *g, int k0, int kc, int j0, int nc, float *bp);
  const void *pack_ctx; /* for pack_b */
} lk__gemm_args;

/* What the micro-kernel does with its tile. The tile's result r = A·B over one KC slice; then
 *   first slice:  r += bias_n, r += bias_m, r = beta·P + r     (only when beta ≠ 0: P not read)
 *   later slices: r = P + r
 *   last slice:   r = act(r), r = r + R
 * and r is stored to the tile's destination. P is C on the first slice, then the earlier slices'
 * sum, which is C itself, except when the residual is C (in-place residual add) and K has
 * several slices: then the partial sums go to a per-thread stash, so R is still intact when the
 * last slice reads it (see lk__gemm_rect). */
typedef struct {
  int first, last;
  float beta;
  const float *bias_m; /* already offset to the tile's first row, or NULL */
  const float *bias_n; /* already offset to the tile's first column, or NULL */
  const float *part; long rsp; /* C (first slice, for beta) or the earlier slices' sum */
  int act;                     /* last slice */
  const float *res; long rsr;  /* residual tile, or NULL (last slice) */
} lk__gemm_epi;

/* The last slice's activation and residual on a tile, out of line so the plain store below stays
 * small enough to be inlined into the micro-kernel (inlining the activations' code costs plain
 * GEMMs 1-2%). One switch per tile, then a straight loop over its MR·NV vectors, which are
 * independent chains the core overlaps. res may alias the destination: read before the store. */
__attribute__((noinline)) static void lk__gemm_finish(lk_vf acc[LK_GEMM_MR][LK_GEMM_NV], const lk__gemm_epi *e) {
  lk_vact_n(e->act, &acc[0][0], LK_GEMM_MR * LK_GEMM_NV);
  if (e->res)
    for (int i = 0; i < LK_GEMM_MR; ++i)
      for (int v = 0; v < LK_GEMM_NV; ++v) acc[i][v] = acc[i][v] + lk_vload(e->res + i * e->rsr + v * LK_VW);
}

/* Stores a full MR×NR accumulator tile into c (row stride rsc), with the epilogue. c may equal
 * e->part or e->res: every element is read before it is written, and only at its own position. */
__attribute__((always_inline)) static inline void lk__gemm_store(lk_vf acc[LK_GEMM_MR][LK_GEMM_NV], float *c, long rsc,
                                  const lk__gemm_epi *e) {
  if (e->first) {
    if (e->bias_n)
      for (int v = 0; v < LK_GEMM_NV; ++v) {
        lk_vf b = lk_vload(e->bias_n + v * LK_VW);
        for (int i = 0; i < LK_GEMM_MR; ++i) acc[i][v] = acc[i][v] + b;
      }
    if (e->bias_m)
      for (int i = 0; i < LK_GEMM_MR; ++i)
        for (int v = 0; v < LK_GEMM_NV; ++v) acc[i][v] = acc[i][v] + e->bias_m[i];
    if (e->beta != 0.0f)
      for (int i = 0; i < LK_GEMM_MR; ++i)
        for (int v = 0; v < LK_GEMM_NV; ++v) acc[i][v] = e->beta * lk_vload(e->part + i * e->rsp + v * LK_VW) + acc[i][v];
  } else {
    for (int i = 0; i < LK_GEMM_MR; ++i)
      for (int v = 0; v < LK_GEMM_NV; ++v) acc[i][v] = lk_vload(e->part + i * e->rsp + v * LK_VW) + acc[i][v];
  }
  if (e->last && (e->act != LK_ACT_NONE || e->res)) {
    /* Through a copy: acc's own address never escapes, so it stays in registers elsewhere. */
    lk_vf t[LK_GEMM_MR][LK_GEMM_NV];
    memcpy(t, acc, sizeof t);
    lk__gemm_finish(t, e);
    memcpy(acc, t, sizeof t);
  }
  for (int i = 0; i < LK_GEMM_MR; ++i)
    for (int v = 0; v < LK_GEMM_NV; ++v) lk_vstore(c + i * rsc + v * LK_VW, acc[i][v]);
}

/* One register tile: C[0:mr, 0:nr] (+)= A[0:MR, 0:kc] · Bp[0:kc, 0:NR], through the epilogue.
 * A(i, k) is a[k·ks + i] when ks > 0 (an MR-tall packed panel, ks = MR, or a column-major A read
 * in place, ks = its column stride), else a[i·rsa + k] (MR rows read in place). All MR rows must
 * be readable. bp is a packed NR-wide panel. c is not restrict: it may be the epilogue's partial
 * sums or residual. next (rows read in place only, or NULL): the next tile's MR rows, fetched into
 * L1 a line per row every 16 k while this tile computes. Rows read in place come from L2 or
 * beyond for every tile, and the broadcasts stall on them: with the prefetch, bench_gemm (best /
 * median of 6 alternating runs, 1 thread) 18432×96×192 went from 86 / 84 to 112 / 111 GFLOP/s
 * (SAG's K/V projection: its A block feeds only three panels, so a third of its tiles read A
 * from L3), 18432×192×768 from 89 / 84 to 102 / 96; the rest within noise. */
static void lk__gemm_tile(int kc, const float *restrict a, long rsa, long ks, const float *next,
                          const float *restrict bp, float *c, long rsc, int mr, int nr,
                          const lk__gemm_epi *e) {
  lk_vf acc[LK_GEMM_MR][LK_GEMM_NV];
  for (int i = 0; i < LK_GEMM_MR; ++i)
    for (int v = 0; v < LK_GEMM_NV; ++v) acc[i][v] = lk_vzero();
  /* Start fetching the C tile now so its misses overlap the k loop instead of stalling the
   * stores (+8% at 1024², +5% for 3152×768×192); likewise the residual on the last slice. */
  for (int i = 0; i < mr; ++i) {
    __builtin_prefetch(c + i * rsc, 1);
    __builtin_prefetch(c + i * rsc + LK_GEMM_NR - 1, 1);
  }
  if (e->last && e->res && e->res != c)
    for (int i = 0; i < mr; ++i) {
      __builtin_prefetch(e->res + i * e->rsr, 0);
      __builtin_prefetch(e->res + i * e->rsr + LK_GEMM_NR - 1, 0);
    }

  if (ks > 0) {
    for (int k = 0; k < kc; ++k) {
      lk_vf b[LK_GEMM_NV];
      for (int v = 0; v < LK_GEMM_NV; ++v) b[v] = lk_vload(bp + v * LK_VW);
      for (int i = 0; i < LK_GEMM_MR; ++i) {
        lk_vf ai = lk_vset1(a[i]);
        for (int v = 0; v < LK_GEMM_NV; ++v) acc[i][v] += ai * b[v];
      }
      a += ks;
      bp += LK_GEMM_NR;
    }
  } else {
    for (int k = 0; k < kc; ++k) {
      lk_vf b[LK_GEMM_NV];
      if (next && (k & 15) == 0)
        for (int i = 0; i < LK_GEMM_MR; ++i) __builtin_prefetch(next + i * rsa + k, 0, 3);
      for (int v = 0; v < LK_GEMM_NV; ++v) b[v] = lk_vload(bp + v * LK_VW);
      for (int i = 0; i < LK_GEMM_MR; ++i) {
        lk_vf ai = lk_vset1(a[i * rsa + k]);
        for (int v = 0; v < LK_GEMM_NV; ++v) acc[i][v] += ai * b[v];
      }
      bp += LK_GEMM_NR;
    }
  }

  if (mr == LK_GEMM_MR && nr == LK_GEMM_NR) {
    lk__gemm_store(acc, c, rsc, e);
  } else {
    /* Edge tile: run the same store on full-size copies (C, partial sums, residual, biases, zero
     * padded), so edge elements round exactly like interior ones, then copy the valid part back. */
    float t[LK_GEMM_MR * LK_GEMM_NR], tp[LK_GEMM_MR * LK_GEMM_NR], tr[LK_GEMM_MR * LK_GEMM_NR];
    float bm[LK_GEMM_MR], bn[LK_GEMM_NR];
    lk__gemm_epi pe = *e;
    if (!e->first || e->beta != 0.0f) {
      memset(tp, 0, sizeof tp);
      for (int i = 0; i < mr; ++i) memcpy(tp + i * LK_GEMM_NR, e->part + i * e->rsp, (size_t)nr * sizeof(float));
      pe.part = tp; pe.rsp = LK_GEMM_NR;
    }
    if (e->last && e->res) {
      memset(tr, 0, sizeof tr);
      for (int i = 0; i < mr; ++i) memcpy(tr + i * LK_GEMM_NR, e->res + i * e->rsr, (size_t)nr * sizeof(float));
      pe.res = tr; pe.rsr = LK_GEMM_NR;
    }
    if (e->bias_m) { memset(bm, 0, sizeof bm); memcpy(bm, e->bias_m, (size_t)mr * sizeof(float)); pe.bias_m = bm; }
    if (e->bias_n) { memset(bn, 0, sizeof bn); memcpy(bn, e->bias_n, (size_t)nr * sizeof(float)); pe.bias_n = bn; }
    lk__gemm_store(acc, t, LK_GEMM_NR, &pe);
    for (int i = 0; i < mr; ++i) memcpy(c + i * rsc, t + i * LK_GEMM_NR, (size_t)nr * sizeof(float));
  }
}

/* Packs B[0:kc, 0:nc] into NR-wide panels: bp[(j/NR)*kc*NR + k*NR + (j%NR)], zero past nc; with
 * sk (not NULL), row k scaled by sk[k] (a per-input-channel scale folded into the weights:
 * fused_linear's squeeze-excite input, fused_linear.c). */
static void lk__gemm_pack_b(int kc, int nc, const float *restrict B, long rsb, long csb,
                            const float *restrict sk, float *restrict bp) {
  for (int j0 = 0; j0 < nc; j0 += LK_GEMM_NR) {
    int nr = (int)lk_min_l(LK_GEMM_NR, nc - j0);
    const float *b = B + j0 * csb;
    float *d = bp + (long)j0 * kc;
    if (nr == LK_GEMM_NR && csb == 1) {
      /* Row-major B (matmul, attention's V): each k is one contiguous NR-float copy. */
      for (int k = 0; k < kc; ++k)
        for (int v = 0; v < LK_GEMM_NV; ++v) lk_vstore(d + k * LK_GEMM_NR + v * LK_VW, lk_vload(b + k * rsb + v * LK_VW));
    } else if (nr == LK_GEMM_NR && rsb == 1) {
      /* Transposed B (linear's W[N,K], attention's Kᵀ): NR columns, each contiguous in k, turned
       * around 8×8 at a time in registers (element copies made packing ~9% of a 197-row linear;
       * the shuffle sequence lowers well for SSE, AVX2 and AVX-512 alike). */
      int k0 = 0;
      for (; k0 + 8 <= kc; k0 += 8)
        for (int j = 0; j < LK_GEMM_NR; j += 8) lk_transpose8_block(b + j * csb + k0, csb, d + k0 * LK_GEMM_NR + j, LK_GEMM_NR);
      for (; k0 < kc; ++k0)
        for (int j = 0; j < LK_GEMM_NR; ++j) d[k0 * LK_GEMM_NR + j] = b[j * csb + k0];
    } else {
      for (int k = 0; k < kc; ++k) {
        for (int j = 0; j < nr; ++j) d[k * LK_GEMM_NR + j] = b[k * rsb + j * csb];
        for (int j = nr; j < LK_GEMM_NR; ++j) d[k * LK_GEMM_NR + j] = 0.0f;
      }
    }
    /* A second pass over the panel just written (in L1) keeps the three copy paths unchanged. */
    if (sk)
      for (int k = 0; k < kc; ++k) {
        lk_vf s = lk_vset1(sk[k]);
        for (int v = 0; v < LK_GEMM_NV; ++v) lk_vstore(d + k * LK_GEMM_NR + v * LK_VW, s * lk_vload(d + k * LK_GEMM_NR + v * LK_VW));
      }
  }
}

/* Packs A[0:mc, 0:kc] into MR-tall panels: ap[(i/MR)*kc*MR + k*MR + (i%MR)], zero past mc. */
static void lk__gemm_pack_a(int mc, int kc, const float *restrict A, long rsa, long csa,
                            float *restrict ap) {
  for (int i0 = 0; i0 < mc; i0 += LK_GEMM_MR) {
    int mr = (int)lk_min_l(LK_GEMM_MR, mc - i0);
    const float *a = A + i0 * rsa;
    float *d = ap + (long)i0 * kc;
    for (int k = 0; k < kc; ++k) {
      for (int i = 0; i < mr; ++i) d[k * LK_GEMM_MR + i] = a[i * rsa + k * csa];
      for (int i = mr; i < LK_GEMM_MR; ++i) d[k * LK_GEMM_MR + i] = 0.0f;
    }
  }
}

/* How the micro-kernel reads A. In place when its rows are contiguous (activations), or its
 * columns are (a weight gradient's A = dyᵀ: MR consecutive floats of one row of dy per k, what
 * packing would copy), unless those rows or columns are a multiple of 4 KiB apart: then they all
 * fall into the same L1 set (64 sets × 64 B) and evict each other (1024² was 8% slower in place
 * than packed). Otherwise packed. Reading dyᵀ in place made linear_grad_weight's packing (as much
 * work as its products at N = 64: each A element feeds only N/VW vector FMAs) disappear. */
enum { LK__GEMM_A_ROWS, LK__GEMM_A_COLUMNS, LK__GEMM_A_PACKED };
static int lk__gemm_a_mode(const lk__gemm_args *g) {
  if (g->csa == 1 && (g->rsa % 1024 != 0 || g->M <= 1)) return LK__GEMM_A_ROWS;
  if (g->rsa == 1 && g->csa % 1024 != 0) return LK__GEMM_A_COLUMNS;
  return LK__GEMM_A_PACKED;
}
static int lk__gemm_packs_a(const lk__gemm_args *g) { return lk__gemm_a_mode(g) == LK__GEMM_A_PACKED; }

/* Whether the partial sums of the K slices go to a per-thread stash instead of C: when C is also
 * the residual, which must survive until the last slice adds it. */
static int lk__gemm_stashes(const lk__gemm_args *g) {
  return g->R != NULL && g->R == g->C && g->K > LK_GEMM_KC;
}

/* Scratch one thread needs for rectangles of at most mmax × nmax: packed B (kb rows of K: one KC
 * slice, or all of K for lk__gemm_bcache), packed A block, and the stash (a rectangle's rows × one
 * NC block of columns) when lk__gemm_stashes. Returns the total in floats, and where the A part
 * and the stash start. */
static size_t lk__gemm_scratch_layout(const lk__gemm_args *g, long mmax, long nmax, long kb, size_t *a_at,
                                      size_t *stash_at) {
  long kc = lk_min_l(LK_GEMM_KC, g->K);
  long nc = lk_round_up(lk_min_l(LK_GEMM_NC, nmax), LK_GEMM_NR);
  long mc = !lk__gemm_packs_a(g) ? LK_GEMM_MR : lk_round_up(lk_min_l(LK_GEMM_MC, mmax), LK_GEMM_MR);
  long stash = lk__gemm_stashes(g) ? lk_round_up(mmax, LK_GEMM_MR) * nc : 0;
  /* Each part rounded to 16 floats (64 bytes) so the A part starts cache-line aligned. */
  *a_at = (size_t)lk_round_up(kb * nc, 16);
  *stash_at = *a_at + (size_t)lk_round_up(kc * mc, 16);
  return *stash_at + (size_t)stash;
}

static size_t lk__gemm_scratch_floats(const lk__gemm_args *g, long mmax, long nmax) {
  size_t a_at, stash_at;
  return lk__gemm_scratch_layout(g, mmax, nmax, lk_min_l(LK_GEMM_KC, g->K), &a_at, &stash_at);
}

/* Rows of a matrix from which lk__gemm_block walks each row of tiles across all the column panels
 * (the A tile stays in L1, B's packed block streams from L2) instead of each panel down all the row
 * tiles (the panel stays in L1, A streams). Measured, not derived (session 19's Zen 4 VM, 2
 * threads, both orders alternating in one process, best of 15): rows first is faster from 2048
 * rows on (2048×768×192 +8 %, 3152×768×192 +8 %, 18432×768×192 +7 %, 2048³ +3-5 %, 3136×256×64
 * +3 %) and slower below (197×768×192 −8 %, 1024×768×192 −20 %, 1800×768×192 −10 %), though on one
 * thread it was faster at every size tried (900-2048 rows: +4-13 %). Either order gives every C
 * element the same sums. */
#ifndef LK_GEMM_ROWS_FIRST_M
#  define LK_GEMM_ROWS_FIRST_M 2048
#endif

/* One register tile of lk__gemm_block: rows [ir, ir + MR) of its row block ic (mc rows, the first
 * mfull of them full tiles read in place when A is not packed), column panel jr of its nc columns.
 * With prefetch, a tile reading A's rows in place fetches the next tile's rows into L1 meanwhile. */
static void lk__gemm_block_tile(const lk__gemm_args *g, int mode, int last, int m0, int ic, int mc, int mfull,
                                int ir, int jc, int nc, int jr, int pc, int kc, const float *a, int prefetch,
                                const float *bp, const float *ap, float *stash, long nc0) {
  const int mr = (int)lk_min_l(LK_GEMM_MR, mc - ir), nr = (int)lk_min_l(LK_GEMM_NR, nc - jr);
  const float *next = prefetch && mode == LK__GEMM_A_ROWS && ir + LK_GEMM_MR < mfull ? a + (ir + LK_GEMM_MR) * g->rsa : NULL;
  lk__gemm_epi e;
  float *c = g->C + (long)(ic + ir) * g->rsc + jc + jr, *dst = c;
  long rsd = g->rsc;
  const float *bpan = bp + (long)jr * kc;
  e.first = pc == 0;
  e.last = last;
  e.beta = g->beta;
  e.bias_m = g->bias_m ? g->bias_m + ic + ir : NULL;
  e.bias_n = g->bias_n ? g->bias_n + jc + jr : NULL;
  e.part = c; e.rsp = g->rsc;
  e.act = g->act;
  e.res = g->R ? g->R + (long)(ic + ir) * g->rsr + jc + jr : NULL; e.rsr = g->rsr;
  if (lk__gemm_stashes(g)) {
    float *s = stash + (long)(ic + ir - m0) * nc0 + jr;
    if (pc > 0) { e.part = s; e.rsp = nc0; }
    if (!last) { dst = s; rsd = nc0; }
  }
  if (mode == LK__GEMM_A_PACKED) lk__gemm_tile(kc, ap + (long)ir * kc, 0, LK_GEMM_MR, NULL, bpan, dst, rsd, mr, nr, &e);
  else if (ir < mfull)
    lk__gemm_tile(kc, a + ir * g->rsa, g->rsa, mode == LK__GEMM_A_COLUMNS ? g->csa : 0, next, bpan, dst, rsd, mr, nr, &e);
  else lk__gemm_tile(kc, ap, 0, LK_GEMM_MR, NULL, bpan, dst, rsd, mr, nr, &e);
}

/* Slice [pc, pc + kc) of K into C[m0:m1, jc:jc + nc] of one matrix, B's block already packed at
 * bp: the MC row blocks, NR column panels and MR-row register tiles, in the order
 * LK_GEMM_ROWS_FIRST_M picks. ap: room for a packed A block; stash: the rectangle's rows × nc0
 * partial sums (used when lk__gemm_stashes). */
static void lk__gemm_block(const lk__gemm_args *g, int m0, int m1, int jc, int nc, int pc, int kc,
                           const float *bp, float *ap, float *stash, long nc0) {
  const int mode = lk__gemm_a_mode(g), last = pc + kc >= g->K, rows_first = g->M >= LK_GEMM_ROWS_FIRST_M;
  for (int ic = m0; ic < m1; ic += LK_GEMM_MC) {
    int mc = (int)lk_min_l(LK_GEMM_MC, m1 - ic);
    int mfull = mc - mc % LK_GEMM_MR; /* rows read in place when A is not packed */
    const float *a = g->A + ic * g->rsa + pc * g->csa;
    if (mode == LK__GEMM_A_PACKED) lk__gemm_pack_a(mc, kc, a, g->rsa, g->csa, ap);
    else if (mfull < mc) lk__gemm_pack_a(mc - mfull, kc, a + mfull * g->rsa, g->rsa, g->csa, ap);
    /* The next rows are prefetched during the row's last panel when rows go first, during every
     * tile of the panel otherwise. */
    if (rows_first)
      for (int ir = 0; ir < mc; ir += LK_GEMM_MR)
        for (int jr = 0; jr < nc; jr += LK_GEMM_NR)
          lk__gemm_block_tile(g, mode, last, m0, ic, mc, mfull, ir, jc, nc, jr, pc, kc, a, jr + LK_GEMM_NR >= nc, bp,
                              ap, stash, nc0);
    else
      for (int jr = 0; jr < nc; jr += LK_GEMM_NR)
        for (int ir = 0; ir < mc; ir += LK_GEMM_MR)
          lk__gemm_block_tile(g, mode, last, m0, ic, mc, mfull, ir, jc, nc, jr, pc, kc, a, 1, bp, ap, stash, nc0);
  } /* for ic */
}

/* A thread's packed B kept across the rectangles it takes in one call (lk__gemm_nested's dynamic
 * mode): every K slice of columns [n0, n1) of B, slice pc at bp + pc·nc0 (nc0 = the columns
 * rounded up to NR, at most the caller's column maximum). A rectangle with the same B (pointer,
 * scale, columns) skips packing. Within one call B is read-only, so the key is enough. ap and stash
 * sit after the room for the largest rectangle's B, so no rectangle's packing overwrites them. */
typedef struct {
  float *bp, *ap, *stash;
  int valid, n0, n1;
  const float *B, *scale_k;
} lk__gemm_bcache;

/* C[m0:m1, n0:n1] of `count` matrices that share B, with the scratch of one thread: matrix i reads
 * A at g->A + i·bsa and writes C at g->C + i·bsc (residual at g->R + i·bsr). Each block of B is
 * packed once and used for all of them: a fused_linear over the samples of a strided view (rows
 * 1..196 of each sample's 197 tokens) packed its 768 × 192 weights once per sample before, as much
 * work as a third of the products. Each C element still sums its K slices in the same order.
 * count > 1 needs !lk__gemm_stashes (the stash holds one matrix's partial sums). With bc (not NULL;
 * then n1 − n0 ≤ NC), B's packing is kept in bc and reused by the thread's next rectangle of the
 * same B; ws is unused. */
static void lk__gemm_rect_cached(const lk__gemm_args *g, long count, long bsa, long bsc, long bsr, int m0, int m1,
                                 int n0, int n1, float *ws, lk__gemm_bcache *bc) {
  const int pack_a = lk__gemm_packs_a(g);
  const long kc0 = lk_min_l(LK_GEMM_KC, g->K), nc0 = lk_round_up(lk_min_l(LK_GEMM_NC, n1 - n0), LK_GEMM_NR);
  const long mc0 = !pack_a ? LK_GEMM_MR : lk_round_up(lk_min_l(LK_GEMM_MC, m1 - m0), LK_GEMM_MR);
  const int hit = bc && bc->valid && bc->B == g->B && bc->scale_k == g->scale_k && bc->n0 == n0 && bc->n1 == n1;
  float *bp = bc ? bc->bp : ws;
  float *ap = bc ? bc->ap : ws + lk_round_up(kc0 * nc0, 16);
  float *stash = bc ? bc->stash : ap + lk_round_up(kc0 * mc0, 16); /* [m1 − m0, nc0], used when stashes */
  for (int jc = n0; jc < n1; jc += LK_GEMM_NC) {
    int nc = (int)lk_min_l(LK_GEMM_NC, n1 - jc);
    for (int pc = 0; pc < g->K; pc += LK_GEMM_KC) {
      int kc = (int)lk_min_l(LK_GEMM_KC, g->K - pc);
      float *bpk = bc ? bp + (long)pc * nc0 : bp;
      if (hit) {
        /* this thread packed the same block for its previous rectangle */
      } else if (g->pack_b) {
        g->pack_b(g, pc, kc, jc, nc, bpk);
      } else {
        lk__gemm_pack_b(kc, nc, g->B + pc * g->rsb + jc * g->csb, g->rsb, g->csb, g->scale_k ? g->scale_k + pc : NULL, bpk);
      }
      for (long i = 0; i < count; ++i) {
        lk__gemm_args gi = *g;
        gi.A += i * bsa; gi.C += i * bsc;
        if (gi.R) gi.R += i * bsr;
        lk__gemm_block(&gi, m0, m1, jc, nc, pc, kc, bpk, ap, stash, nc0);
      }
    } /* for pc */
  } /* for jc */
  if (bc) { bc->valid = 1; bc->B = g->B; bc->scale_k = g->scale_k; bc->n0 = n0; bc->n1 = n1; }
}

static void lk__gemm_rect(const lk__gemm_args *g, long count, long bsa, long bsc, long bsr, int m0, int m1, int n0,
                          int n1, float *ws) {
  lk__gemm_rect_cached(g, count, bsa, bsc, bsr, m0, m1, n0, n1, ws, NULL);
}

/* Reference arithmetic for a rectangle (double accumulation); also the fallback when scratch
 * cannot be allocated. */
static void lk__gemm_rect_naive(const lk__gemm_args *g, int m0, int m1, int n0, int n1) {
  for (int i = m0; i < m1; ++i) {
    for (int j = n0; j < n1; ++j) {
      double s = 0.0;
      for (int k = 0; k < g->K; ++k)
        s += (double)g->A[i * g->rsa + k * g->csa] * g->B[k * g->rsb + j * g->csb] * (g->scale_k ? g->scale_k[k] : 1.0f);
      if (g->bias_m) s += g->bias_m[i];
      if (g->bias_n) s += g->bias_n[j];
      float *c = g->C + (long)i * g->rsc + j;
      if (g->beta != 0.0f) s += g->beta * (double)*c;
      s = lk_apply_act_ref(g->act, s);
      if (g->R) s += g->R[(long)i * g->rsr + j];
      *c = (float)s;
    }
  }
}

/* The epilogue of lk__gemm_store on one element: s is C(i, j)'s product, which gets the biases,
 * beta·C, the activation and the residual, in that order. Not for a stashed residual (C is read
 * as the beta term). */
static inline float lk__gemm_epilogue1(const lk__gemm_args *g, float s, int i, int j) {
  const float *c = g->C + (long)i * g->rsc + j;
  if (g->bias_n) s = s + g->bias_n[j];
  if (g->bias_m) s = s + g->bias_m[i];
  if (g->beta != 0.0f) s = g->beta * *c + s;
  s = lk_apply_act(g->act, s);
  return g->R ? s + g->R[(long)i * g->rsr + j] : s;
}

/* Degenerate K: C = act(beta·C + biases) + R. */
static void lk__gemm_rect_k0(const lk__gemm_args *g, int m0, int m1, int n0, int n1) {
  for (int i = m0; i < m1; ++i)
    for (int j = n0; j < n1; ++j) g->C[(long)i * g->rsc + j] = lk__gemm_epilogue1(g, 0.0f, i, j);
}

/* Picks the tm × tn grid (tm·tn = parts) that minimises the busiest thread's estimated cycles:
 * micro-tiles × cycles per tile, plus about one cycle per packed element and half a cycle per
 * element of A read in place. Without that last term, a narrow product (N = 64, 2 panels) was
 * split by columns: each thread streamed all of A, twice the traffic of a split by rows. With it
 * (bench_gemm-style harness, 2 threads, alternating builds): 3136×64×256 117-130 → 140-158
 * GFLOP/s, 3200×64×64 108-112 → 135-154, 3152×192×768 120 → 141-142, 16384×192×192 116-121 →
 * 135-139; batch-1 shapes (M = 197) unchanged within noise. */
static void lk__gemm_grid(int M, int N, int K, int parts, int pack_a, int *tm, int *tn) {
  long mt = lk_ceil_div(M, LK_GEMM_MR), nt = lk_ceil_div(N, LK_GEMM_NR);
  double tile = (double)LK_GEMM_MR * LK_GEMM_NR * K / (2.0 * LK_VW), best = -1.0;
  for (int a = 1; a <= parts; ++a) {
    if (parts % a) continue;
    long mi = lk_ceil_div(mt, a), ni = lk_ceil_div(nt, parts / a);
    double cost = (double)mi * ni * tile + (double)K * (ni * LK_GEMM_NR + mi * LK_GEMM_MR * (pack_a ? 1.0 : 0.5));
    if (best < 0.0 || cost < best) { best = cost; *tm = a; *tn = parts / a; }
  }
}

static int lk__gemm_gcd(int a, int b) { while (b) { int t = a % b; a = b; b = t; } return a; }

/* Shares each of `products` matrices is cut into so that products · shares divide evenly among
 * `threads` (threads / gcd(products, threads)): at batch 1 on 2 threads, halves. */
static int lk__gemm_shares(long products, int threads) {
  return threads / lk__gemm_gcd((int)(products % threads), threads);
}

/* Rectangle r (of tm·tn) of a matrix, in tile units so only the last rectangle has edge tiles. */
static void lk__gemm_rect_bounds(int M, int N, int tm, int tn, int r, int *m0, int *m1, int *n0, int *n1) {
  long lo, hi, mt = lk_ceil_div(M, LK_GEMM_MR), nt = lk_ceil_div(N, LK_GEMM_NR);
  lk_split(mt, tm, r / tn, &lo, &hi);
  *m0 = (int)lk_min_l(lo * LK_GEMM_MR, M);
  *m1 = (int)lk_min_l(hi * LK_GEMM_MR, M);
  lk_split(nt, tn, r % tn, &lo, &hi);
  *n0 = (int)lk_min_l(lo * LK_GEMM_NR, N);
  *n1 = (int)lk_min_l(hi * LK_GEMM_NR, N);
}

/* Dynamic mode (lk__gemm_nested): when one thread's whole packed B fits this many floats (1 MiB,
 * half of L2; every weight of the bundled models: 768 × 192 is 147k), the products are cut into
 * about LK_GEMM_JOBS jobs per thread, which each thread takes from its own share first and then
 * from the other's (lk_share_next), and each thread keeps its packed B across its jobs
 * (lk__gemm_bcache). Only for grids split by rows (tn = 1), whose
 * rectangles all read the same columns of B. With a static split, the call lasts as long as
 * its slower thread, and on this shared 2-vCPU VM one thread is often slowed by a neighbour:
 * timing each thread's end in 3152×768×192 calls (DeiT's fc1 at batch 16) showed one thread idle
 * for 8-24 % of the call on average. Which thread computes a rectangle does not change its sums. */
#ifndef LK_GEMM_BCACHE
#  define LK_GEMM_BCACHE (256L * 1024)
#endif
#ifndef LK_GEMM_JOBS
#  define LK_GEMM_JOBS 8
#endif
/* Fewest multiply-adds per job (~30 µs): claiming smaller jobs one by one from a shared counter
 * cost more than the balance gained (64 products of 49×64×256 sharing B: 580 → 740 µs per call),
 * so such calls keep the static split, whose runs of products pack B once. */
#ifndef LK_GEMM_JOB_MIN
#  define LK_GEMM_JOB_MIN 4194304.0
#endif
/* Fewest floats of A and C (all products) for the dynamic mode: 8 MiB, twice this machine's two
 * L2s. Smaller operands stay in the L2 of the thread that wrote them in the previous kernel, and
 * the static split, which gives each thread the same rows kernel after kernel, keeps them there:
 * localvit_fmnist's training step (3200-row activations of 64-256 channels) was ~8 % slower in
 * calm profile pairs with its GEMMs dynamic. */
#ifndef LK_GEMM_DYN_FLOATS
#  define LK_GEMM_DYN_FLOATS 2097152.0
#endif

/* The dynamic mode's finer grid: rows cut further, to about LK_GEMM_JOBS rectangles per thread of
 * at least 8 tiles and LK_GEMM_JOB_MIN multiply-adds each (so a rectangle's tiles amortise
 * streaming the packed B from L2). Grids split by columns (batch-1 shapes: M = 197) stay as they
 * are: cutting their columns further made 197×768×192 slower in 6 of 8 alternating runs. */
static void lk__gemm_refine(int M, long products, int threads, double fmas, int *tm) {
  long want = (long)threads * LK_GEMM_JOBS, jobs = products * *tm;
  long most = lk_min_l(lk_ceil_div(M, LK_GEMM_MR) / 8, (long)(fmas / LK_GEMM_JOB_MIN / products));
  if (jobs < want) *tm = (int)lk_max_l(*tm, lk_min_l(*tm * lk_ceil_div(want, jobs), most));
}

/* What one call's jobs share: job j is rectangle j % per of product j / per (product p = o·batch +
 * b), over a tm × tn grid numbered along the rows. */
typedef struct {
  lk__gemm_args g; /* product (0, 0) */
  long osa, osb, osc, osr, bsa, bsb, bsc, bsr, bss;
  int batch, per, tm, tn;
} lk__gemm_plan;

/* Job j, and with run > 1 the run − 1 whole products after it (a shared B: packed once). */
static void lk__gemm_job(const lk__gemm_plan *q, long j, long run, float *ws, lk__gemm_bcache *bc) {
  lk__gemm_args g = q->g;
  long p = j / q->per, o = p / q->batch, b = p % q->batch;
  int r = (int)(j % q->per), m0, m1, n0, n1;
  g.A += o * q->osa + b * q->bsa; g.B += o * q->osb + b * q->bsb; g.C += o * q->osc + b * q->bsc;
  if (g.R) g.R += o * q->osr + b * q->bsr;
  if (g.scale_k) g.scale_k += b * q->bss;
  lk__gemm_rect_bounds(g.M, g.N, q->tm, q->tn, r, &m0, &m1, &n0, &n1);
  if (m0 >= m1 || n0 >= n1) return;
  if (g.K > 0 && ws) {
    lk__gemm_rect_cached(&g, run, q->bsa, q->bsc, q->bsr, m0, m1, n0, n1, ws, bc);
    return;
  }
  for (long i = 0; i < run; ++i) { /* degenerate K, or out of memory */
    lk__gemm_args gi = g;
    gi.A += i * q->bsa; gi.C += i * q->bsc;
    if (gi.R) gi.R += i * q->bsr;
    if (g.K <= 0) lk__gemm_rect_k0(&gi, m0, m1, n0, n1);
    else lk__gemm_rect_naive(&gi, m0, m1, n0, n1);
  }
}

/* Single-row products (M = 1: a class token's head, squeeze-excite's two layers at batch 1) skip
 * the packing: each element of B is used once, so packing it (a copy as large as the product) and
 * running MR-row tiles on one real row cost several times the arithmetic. Instead, when B's
 * columns are contiguous (linear's W[N,K]) and A's row is, each output is lk_dot's sum, four
 * columns at a time for independent chains; when B's rows are, a 64-column chunk accumulates
 * a(k)·B[k, :] over k in order. Any other layout, or a per-k scale, takes the tiled path. Tasks are
 * (product, chunk of LK_GEMV_COLS columns); each output is summed by one task in one order, so
 * results do not depend on the thread count. The epilogue is lk__gemm_epilogue1, element by element.
 * Both builds in one process, 2 threads, alternating, median of 41 calls with W evicted first (as a
 * forward reaches it): the head 1 × 1000 × 192 173 → 66 µs, squeeze-excite's 1 × 192 × 768 89 → 29
 * µs and 1 × 768 × 192 101 → 38 µs; W in cache: 57 → 13 and 38 → 6 µs. */
#define LK_GEMV_COLS 64
static int lk__gemv_applies(int M, int K, long csa, long rsb, long csb, const float *scale_k) {
  return M == 1 && K > 0 && scale_k == NULL && ((rsb == 1 && csa == 1) || csb == 1);
}

/* Columns [j0, j1) of one product g (its A, B, C and R already offset). */
static void lk__gemv_cols(const lk__gemm_args *g, int j0, int j1) {
  const int K = g->K;
  float out[LK_GEMV_COLS];
  if (g->rsb == 1 && g->csa == 1) {
    int j = j0;
    for (; j + 4 <= j1; j += 4) {
      const float *b0 = g->B + (long)j * g->csb, *b1 = b0 + g->csb, *b2 = b1 + g->csb, *b3 = b2 + g->csb;
      lk_vf s0 = lk_vzero(), s1 = lk_vzero(), s2 = lk_vzero(), s3 = lk_vzero();
      int k = 0;
      for (; k + LK_VW <= K; k += LK_VW) {
        lk_vf a = lk_vload(g->A + k);
        s0 += a * lk_vload(b0 + k); s1 += a * lk_vload(b1 + k);
        s2 += a * lk_vload(b2 + k); s3 += a * lk_vload(b3 + k);
      }
      float r0 = lk_vsum(s0), r1 = lk_vsum(s1), r2 = lk_vsum(s2), r3 = lk_vsum(s3);
      for (; k < K; ++k) { /* lk_dot's tail, so every column rounds as lk_dot would */
        r0 += g->A[k] * b0[k]; r1 += g->A[k] * b1[k]; r2 += g->A[k] * b2[k]; r3 += g->A[k] * b3[k];
      }
      out[j - j0] = r0; out[j - j0 + 1] = r1; out[j - j0 + 2] = r2; out[j - j0 + 3] = r3;
    }
    for (; j < j1; ++j) out[j - j0] = lk_dot(g->A, g->B + (long)j * g->csb, K);
  } else {
    for (int j = j0; j < j1; ++j) out[j - j0] = 0.0f;
    for (int k = 0; k < K; ++k) {
      const float ak = g->A[(long)k * g->csa], *b = g->B + (long)k * g->rsb;
      for (int j = j0; j < j1; ++j) out[j - j0] += ak * b[j];
    }
  }
  for (int j = j0; j < j1; ++j) g->C[j] = lk__gemm_epilogue1(g, out[j - j0], 0, j);
}

/* The single-row products of lk__gemm_nested (same arguments, M = 1). */
static void lk__gemv(const lk__gemm_args *g0, int outer, long osa, long osb, long osc, long osr, int batch, long bsa,
                     long bsb, long bsc, long bsr) {
  const long chunks = lk_ceil_div(g0->N, LK_GEMV_COLS), tasks = (long)outer * batch * chunks;
  LK_OMP(parallel for schedule(static) if((double)outer * batch * g0->N * g0->K >= LK_PAR_MIN))
  for (long t = 0; t < tasks; ++t) {
    const long p = t / chunks, o = p / batch, b = p % batch;
    const int j0 = (int)(t % chunks * LK_GEMV_COLS), j1 = (int)lk_min_l(j0 + LK_GEMV_COLS, g0->N);
    lk__gemm_args g = *g0;
    g.A += o * osa + b * bsa; g.B += o * osb + b * bsb; g.C += o * osc + b * bsc;
    if (g.R) g.R += o * osr + b * bsr;
    lk__gemv_cols(&g, j0, j1);
  }
}

/* Full form with epilogue; every other entry point is a wrapper.
 * For b < batch: C_b[M,N] = act(beta·C_b + A_b[M,K]·B_b[K,N] + bias_m[i] + bias_n[j]) + R_b, where
 *   A_b(i,k) = A[b*bsa + i*rsa + k*csa], B_b(k,j) = B[b*bsb + k*rsb + j*csb],
 *   C_b(i,j) = C[b*bsc + i*rsc + j], R_b(i,j) = R[b*bsr + i*rsr + j].
 * A batch stride of 0 shares an operand (conv's weights). beta == 0 means C is not read (it may
 * hold garbage). bias_m[M] / bias_n[N] may be NULL. act is an LK_ACT_* code (LK_ACT_NONE: none).
 * R may be NULL, or equal C with the same strides (bsr == bsc, rsr == rsc: in-place residual add);
 * any other overlap of R with C is not allowed. C must not overlap A or B. Any M, N ≥ 0, K ≥ 0.
 * The epilogue runs in the store of each register tile, on its last K slice, while the tile is
 * in registers: C is written once per K slice, as without an epilogue. Scratch: allocated per
 * thread per call, (KC·NC' + KC·MR) floats, NC' = min(1024, thread's columns), or KC·MC' instead
 * of KC·MR when A is packed; plus, when R == C and K > KC, the thread's rows × NC' for the
 * partial sums (which may not overwrite R before the last slice). In the dynamic mode below, the
 * B part holds all of K: K·NC' floats (at most LK_GEMM_BCACHE). */
/* lk_gemm_ex2 over a two-level batch: product (o, b) for o < outer, b < batch reads its operands
 * at o·os? + b·bs?. One parallel region covers all outer · batch products (a C loop over the
 * outer level would open one region per iteration, each too small to split). */
static void lk__gemm_nested(int outer, long osa, long osb, long osc, long osr, int batch, int M, int N, int K,
                            const float *A, long bsa, long rsa, long csa, const float *B, long bsb, long rsb,
                            long csb, float *C, long bsc, long rsc, float beta, const float *bias_m,
                            const float *bias_n, int act, const float *R, long bsr, long rsr, const float *scale_k,
                            long bss) {
  if (outer <= 0 || batch <= 0 || M <= 0 || N <= 0) return;
  /* Designated initializers: every field not named (pack_b, pack_ctx) is zero. */
  lk__gemm_plan q = {.g = {.M = M, .N = N, .K = K, .A = A, .rsa = rsa, .csa = csa, .B = B, .rsb = rsb, .csb = csb,
                           .C = C, .rsc = rsc, .beta = beta, .bias_m = bias_m, .bias_n = bias_n, .act = act,
                           .R = R, .rsr = rsr, .scale_k = scale_k},
                     .osa = osa, .osb = osb, .osc = osc, .osr = osr, .bsa = bsa, .bsb = bsb, .bsc = bsc,
                     .bsr = bsr, .bss = bss, .batch = batch, .tm = 1, .tn = 1};
  if (lk__gemv_applies(M, K, csa, rsb, csb, scale_k)) {
    lk__gemv(&q.g, outer, osa, osb, osc, osr, batch, bsa, bsb, bsc, bsr);
    return;
  }

  /* Threads per matrix: enough that jobs = batch · per divide evenly among the threads. Small
   * problems stay on the calling thread (see LK_GEMM_PAR_MIN). */
  long products = (long)outer * batch;
  double fmas = (double)products * M * N * (K > 0 ? K : 1);
  int threads = fmas < LK_GEMM_PAR_MIN ? 1 : lk_max_threads(), pack_a = lk__gemm_packs_a(&q.g);
  lk__gemm_grid(M, N, K, lk__gemm_shares(products, threads), pack_a, &q.tm, &q.tn);
  /* Dynamic when the whole packed B of the widest rectangle fits (one NC block of columns). */
  long nmax = lk_ceil_div(lk_ceil_div(N, LK_GEMM_NR), q.tn) * LK_GEMM_NR;
  const int dynamic = threads > 1 && K > 0 && q.tn == 1 && nmax <= LK_GEMM_NC && (long)K * nmax <= LK_GEMM_BCACHE &&
                      fmas / (double)(products * q.tm) >= LK_GEMM_JOB_MIN &&
                      (double)products * M * ((double)K + N) >= LK_GEMM_DYN_FLOATS;
  if (dynamic) lk__gemm_refine(M, products, threads, fmas, &q.tm);
  q.per = q.tm * q.tn;
  long jobs = products * q.per;
  long mmax = lk_ceil_div(lk_ceil_div(M, LK_GEMM_MR), q.tm) * LK_GEMM_MR; /* refining cuts rows only */
  size_t a_at, stash_at;
  size_t scratch = lk__gemm_scratch_layout(&q.g, mmax, nmax, dynamic ? K : lk_min_l(LK_GEMM_KC, K), &a_at, &stash_at);
  /* Products of one outer index that read the same B (and the same scale) pack it once per block
   * (lk__gemm_rect), unless the partial sums go to the one-matrix stash. */
  const int shared_b = bsb == 0 && (scale_k == NULL || bss == 0) && !lk__gemm_stashes(&q.g);
  lk_shares shares = {0};

  LK_OMP(parallel num_threads(threads) if(threads > 1))
  {
    float *ws = K > 0 ? lk_scratch_alloc(scratch) : NULL;
    if (dynamic) {
      lk__gemm_bcache bc = {.bp = ws, .ap = ws ? ws + a_at : NULL, .stash = ws ? ws + stash_at : NULL};
      int from = -1;
      for (long j; (j = lk_share_next(&shares, jobs, &from)) >= 0;) lk__gemm_job(&q, j, 1, ws, ws ? &bc : NULL);
    } else {
      long j0, j1;
      lk_split(jobs, lk_team_size(), lk_thread_id(), &j0, &j1);
      /* One matrix per job, or with a shared B and whole matrices per job, the run of them up to
       * the thread's last job or the next outer index. */
      for (long j = j0, run; j < j1; j += run) {
        run = shared_b && q.per == 1 ? lk_min_l(j1 - j, batch - j % batch) : 1;
        lk__gemm_job(&q, j, run, ws, NULL);
      }
    }
    lk_scratch_free(ws);
  }
}

void lk_gemm_ex2(int batch, int M, int N, int K, const float *A, long bsa, long rsa, long csa,
                 const float *B, long bsb, long rsb, long csb, float *C, long bsc, long rsc, float beta,
                 const float *bias_m, const float *bias_n, int act, const float *R, long bsr, long rsr) {
  lk__gemm_nested(1, 0, 0, 0, 0, batch, M, N, K, A, bsa, rsa, csa, B, bsb, rsb, csb, C, bsc, rsc, beta, bias_m, bias_n,
                  act, R, bsr, rsr, NULL, 0);
}

/* lk_gemm_ex2 without the activation and residual: C_b = beta·C_b + A_b·B_b + bias_m + bias_n. */
void lk_gemm_ex(int batch, int M, int N, int K, const float *A, long bsa, long rsa, long csa,
                const float *B, long bsb, long rsb, long csb, float *C, long bsc, long rsc, float beta,
                const float *bias_m, const float *bias_n) {
  lk_gemm_ex2(batch, M, N, K, A, bsa, rsa, csa, B, bsb, rsb, csb, C, bsc, rsc, beta, bias_m, bias_n,
              LK_ACT_NONE, NULL, 0, 0);
}

/* C[M,N] = A[M,K]·B[K,N] + beta·C. A(i,k) = A[i*rsa + k*csa], B(k,j) = B[k*rsb + j*csb],
 * C(i,j) = C[i*rsc + j]. */
void lk_gemm(int M, int N, int K, const float *A, long rsa, long csa, const float *B, long rsb,
             long csb, float *C, long rsc, float beta) {
  lk_gemm_ex(1, M, N, K, A, 0, rsa, csa, B, 0, rsb, csb, C, 0, rsc, beta, NULL, NULL);
}

/* Products of at most this many multiply-adds run as direct loops in lk_gemm_batched2. SAG's local
 * attention over its 18 variants is 16384 products of 4×18×48 per call (one per sample and token):
 * packing and blocking each cost more than its arithmetic, and the call ran at ~10 GFLOP/s. */
#define LK_GEMM_TINY 4096

/* C = A·B + beta·C for M·N·K ≤ LK_GEMM_TINY, K ≥ 1 (no epilogue): row by row, c += a(i, k)·B[k, :]
 * when B's rows are contiguous (a vector loop over j), dot products when A's rows and B's columns
 * are, else lk__gemm_rect_naive. Each sum runs over k in order. */
static void lk__gemm_tiny(const lk__gemm_args *g) {
  const int M = g->M, N = g->N, K = g->K;
  if (g->csb != 1 && !(g->rsb == 1 && g->csa == 1)) {
    lk__gemm_rect_naive(g, 0, M, 0, N);
    return;
  }
  for (int i = 0; i < M; ++i) {
    const float *a = g->A + i * g->rsa;
    float *c = g->C + i * g->rsc, acc[LK_GEMM_TINY];
    if (g->csb == 1) {
      for (int j = 0; j < N; ++j) acc[j] = 0.0f;
      for (int k = 0; k < K; ++k) {
        const float aik = a[k * g->csa], *b = g->B + k * g->rsb;
        for (int j = 0; j < N; ++j) acc[j] += aik * b[j];
      }
    } else {
      for (int j = 0; j < N; ++j) acc[j] = lk_dot(a, g->B + j * g->csb, K);
    }
    for (int j = 0; j < N; ++j) c[j] = g->beta == 0.0f ? acc[j] : acc[j] + g->beta * c[j];
  }
}

/* outer · batch independent products, operand (o, b) at A + o*osa + b*bsa (B, C likewise): two
 * leading axes that do not flatten into one stride (attention's heads read in place by
 * matmul_permuted, inside the batch of samples). Tiny products (LK_GEMM_TINY) run as direct
 * loops, one product per task. */
void lk_gemm_batched2(int outer, long osa, long osb, long osc, int batch, int M, int N, int K, const float *A,
                      long bsa, long rsa, long csa, const float *B, long bsb, long rsb, long csb, float *C, long bsc,
                      long rsc, float beta) {
  if (outer > 0 && batch > 0 && M > 0 && N > 0 && K > 0 && (long)M * N * K <= LK_GEMM_TINY) {
    long products = (long)outer * batch;
    LK_OMP(parallel for schedule(static) if((double)products * M * N * K >= LK_GEMM_PAR_MIN))
    for (long p = 0; p < products; ++p) {
      long o = p / batch, b = p % batch;
      lk__gemm_args g = {.M = M, .N = N, .K = K, .A = A + o * osa + b * bsa, .rsa = rsa, .csa = csa,
                         .B = B + o * osb + b * bsb, .rsb = rsb, .csb = csb, .C = C + o * osc + b * bsc, .rsc = rsc,
                         .beta = beta, .act = LK_ACT_NONE};
      lk__gemm_tiny(&g);
    }
    return;
  }
  lk__gemm_nested(outer, osa, osb, osc, 0, batch, M, N, K, A, bsa, rsa, csa, B, bsb, rsb, csb, C, bsc, rsc, beta, NULL,
                  NULL, LK_ACT_NONE, NULL, 0, 0, NULL, 0);
}

/* batch independent products, operand b at A + b*bsa, B + b*bsb, C + b*bsc (matmul's leading
 * axes flattened; attention-style batched products). */
void lk_gemm_batched(int batch, int M, int N, int K, const float *A, long bsa, long rsa, long csa,
                     const float *B, long bsb, long rsb, long csb, float *C, long bsc, long rsc,
                     float beta) {
  lk_gemm_ex(batch, M, N, K, A, bsa, rsa, csa, B, bsb, rsb, csb, C, bsc, rsc, beta, NULL, NULL);
}

/* Single-threaded GEMM for use inside another kernel's parallel region (attention). ws must hold
 * lk_gemm_serial_workspace_floats(M, N, K) floats and be 64-byte aligned. */
size_t lk_gemm_serial_workspace_floats(int M, int N, int K) {
  lk__gemm_args g = {.K = K, .csa = 0}; /* csa 0: size for a packed A, whatever the strides turn out to be */
  return lk__gemm_scratch_floats(&g, lk_round_up(M, LK_GEMM_MR), lk_round_up(N, LK_GEMM_NR));
}

void lk_gemm_serial(int M, int N, int K, const float *A, long rsa, long csa, const float *B,
                    long rsb, long csb, float *C, long rsc, float beta, float *ws) {
  lk__gemm_args g = {.M = M, .N = N, .K = K, .A = A, .rsa = rsa, .csa = csa, .B = B, .rsb = rsb, .csb = csb,
                     .C = C, .rsc = rsc, .beta = beta, .act = LK_ACT_NONE};
  if (M <= 0 || N <= 0) return;
  if (K <= 0) lk__gemm_rect_k0(&g, 0, M, 0, N);
  else lk__gemm_rect(&g, 1, 0, 0, 0, 0, M, 0, N, ws);
}

/* ---- Naive references (double accumulation), same signatures ---------------------------------- */

void lk_gemm_ex2_naive(int batch, int M, int N, int K, const float *A, long bsa, long rsa, long csa,
                       const float *B, long bsb, long rsb, long csb, float *C, long bsc, long rsc,
                       float beta, const float *bias_m, const float *bias_n, int act, const float *R,
                       long bsr, long rsr) {
  for (int b = 0; b < batch; ++b) {
    lk__gemm_args g = {.M = M, .N = N, .K = K, .A = A + b * bsa, .rsa = rsa, .csa = csa, .B = B + b * bsb,
                       .rsb = rsb, .csb = csb, .C = C + b * bsc, .rsc = rsc, .beta = beta, .bias_m = bias_m,
                       .bias_n = bias_n, .act = act, .R = R ? R + b * bsr : NULL, .rsr = rsr};
    lk__gemm_rect_naive(&g, 0, M, 0, N);
  }
}

void lk_gemm_ex_naive(int batch, int M, int N, int K, const float *A, long bsa, long rsa, long csa,
                      const float *B, long bsb, long rsb, long csb, float *C, long bsc, long rsc,
                      float beta, const float *bias_m, const float *bias_n) {
  lk_gemm_ex2_naive(batch, M, N, K, A, bsa, rsa, csa, B, bsb, rsb, csb, C, bsc, rsc, beta, bias_m, bias_n,
                    LK_ACT_NONE, NULL, 0, 0);
}

void lk_gemm_naive(int M, int N, int K, const float *A, long rsa, long csa, const float *B,
                   long rsb, long csb, float *C, long rsc, float beta) {
  lk_gemm_ex_naive(1, M, N, K, A, 0, rsa, csa, B, 0, rsb, csb, C, 0, rsc, beta, NULL, NULL);
}
