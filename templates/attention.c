/* locus-requires: prologue.h gemm.c softmax.c */
/* Attention kernels: scaled dot-product attention over tokens (sdpa) and local attention over the
 * T shifted variants of every token (local_attention). Heads may share K/V heads (grouped-query
 * attention): query head h reads kv head h / (H / Hk). */

/* Queries per task: enough tasks for every thread, blocks big enough that re-packing one head's
 * Kᵀ and V per task (Nk·D floats each) stays small next to the task's 4·rows·Nk·D flops. */
#define LK_SDPA_ROWS 64

/* sdpa: out[b, i, h·D + d] = Σ_j softmax_j(scale · q_{b,i,h} · k_{b,j,g}) · v_{b,j,g}[d],
 * g = h / (H / Hk), for b < B, i < Nq, h < H, d < D, j < Nk, where
 *   q_{b,i,h}[d] = q[(b·Nq + i)·q_rs + h·D + d]     (q_rs ≥ H·D)
 *   k_{b,j,g}[d] = k[(b·Nk + j)·k_rs + g·D + d]     (k_rs ≥ Hk·D)
 *   v_{b,j,g}[d] = v[(b·Nk + j)·v_rs + g·D + d]     (v_rs ≥ Hk·D)
 * and out is dense [B, Nq, H·D]. With a fused qkv buffer [B, N, 3·C] (C = H·D, laid out [q|k|v],
 * heads inside each) pass q = qkv, k = qkv + C, v = qkv + 2·C and all three row strides 3·C.
 * scale is usually 1/√D.
 *
 * Work is split into tasks (b, h, block of ≤ LK_SDPA_ROWS queries); a task computes its score
 * block S = Q·Kᵀ with the serial GEMM (Kᵀ is a transposed operand, packed by the GEMM), takes a
 * softmax per row and writes S·V into out. Scratch per thread: the score block plus the GEMM's
 * packing buffers, at most 64·Nk + 256·(max(Nk, D) + 70) floats (150 KB for DeiT-tiny),
 * allocated per call (if that fails, out is filled with NaN). out must not overlap q, k or v. */
void lk_sdpa(int B, int Nq, int Nk, int H, int Hk, int D, const float *q, long q_rs, const float *k,
             long k_rs, const float *v, long v_rs, float *out, float scale) {
  if (B <= 0 || Nq <= 0 || H <= 0 || D <= 0) return;
  int group = H / Hk;
  long blocks = lk_ceil_div(Nq, LK_SDPA_ROWS), tasks = (long)B * H * blocks, ld = (long)H * D;
  int rows = (int)lk_ceil_div(Nq, blocks); /* blocks of nearly equal size */
  size_t ws_qk = lk_gemm_serial_workspace_floats(rows, Nk, D);
  size_t ws_pv = lk_gemm_serial_workspace_floats(rows, D, Nk);
  size_t s_floats = (size_t)lk_round_up((long)rows * Nk, 16);
  LK_OMP(parallel if(tasks > 1 && 2.0 * B * H * Nq * Nk * D >= LK_GEMM_PAR_MIN))
  {
    long t0, t1;
    float *s = lk_scratch_alloc(s_floats + (ws_qk > ws_pv ? ws_qk : ws_pv));
    lk_split(tasks, lk_team_size(), lk_thread_id(), &t0, &t1);
    for (long t = t0; t < t1; ++t) {
      int blk = (int)(t % blocks), h = (int)(t / blocks % H), b = (int)(t / blocks / H), g = h / group;
      long i0, i1;
      lk_split(Nq, (int)blocks, blk, &i0, &i1);
      {
        int m = (int)(i1 - i0);
        const float *qb = q + ((long)b * Nq + i0) * q_rs + (long)h * D;
        const float *kb = k + (long)b * Nk * k_rs + (long)g * D;
        const float *vb = v + (long)b * Nk * v_rs + (long)g * D;
        float *ob = out + ((long)b * Nq + i0) * ld + (long)h * D;
        if (!s) { /* no scratch (out of memory): fail loudly, with NaN, rather than leave garbage */
          for (int i = 0; i < m; ++i) for (int d = 0; d < D; ++d) ob[(long)i * ld + d] = NAN;
          continue;
        }
        lk_gemm_serial(m, Nk, D, qb, q_rs, 1, kb, 1, k_rs, s, Nk, 0.0f, s + s_floats);
        for (int i = 0; i < m; ++i) lk_softmax_row(Nk, s + (long)i * Nk, scale, s + (long)i * Nk);
        lk_gemm_serial(m, D, Nk, s, Nk, 1, vb, v_rs, 1, ob, ld, 0.0f, s + s_floats);
      }
    }
    lk_scratch_free(s);
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
 * T is small (a handful of shifts), so the kernel is dot products vectorised over D, parallel over
 * the B·N token positions. out must not overlap q, k or v. */
static float lk__attn_dot(const float *a, const float *b, int n) {
  lk_vf s = lk_vzero();
  int i = 0;
  for (; i + LK_VW <= n; i += LK_VW) s += lk_vload(a + i) * lk_vload(b + i);
  float r = lk_vsum(s);
  for (; i < n; ++i) r += a[i] * b[i];
  return r;
}

void lk_local_attention(int B, int T, int N, int H, int Hk, int D, const float *q, const float *k,
                        const float *v, float *out, float scale) {
  long pos = (long)B * N, ldq = (long)H * D, ldk = (long)Hk * D;
  int group = H / Hk;
  LK_OMP(parallel for schedule(static) if(pos * T * ldq >= LK_PAR_MIN))
  for (long p = 0; p < pos; ++p) {
    long b = p / N, n = p % N;
    float w[64], *wp = T <= 64 ? w : (float *)malloc((size_t)T * sizeof(float));
    if (!wp) { /* out of memory: NaN rather than garbage */
      for (long i = 0; i < ldq; ++i) out[p * ldq + i] = NAN;
      continue;
    }
    for (int h = 0; h < H; ++h) {
      const float *qh = q + p * ldq + (long)h * D;
      float *oh = out + p * ldq + (long)h * D;
      long kv = (long)(h / group) * D; /* offset of the kv head inside a row */
      float m = -INFINITY, sum = 0.0f;
      for (int t = 0; t < T; ++t) {
        wp[t] = scale * lk__attn_dot(qh, k + ((b * T + t) * N + n) * ldk + kv, D);
        m = wp[t] > m ? wp[t] : m;
      }
      for (int t = 0; t < T; ++t) sum += (wp[t] = expf(wp[t] - m));
      for (int d = 0; d < D; ++d) oh[d] = 0.0f;
      for (int t = 0; t < T; ++t) {
        const float *vt = v + ((b * T + t) * N + n) * ldk + kv;
        float pt = wp[t] / sum;
        for (int d = 0; d < D; ++d) oh[d] += pt * vt[d];
      }
    }
    if (wp != w) free(wp);
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
