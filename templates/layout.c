/* locus-requires: prologue.h */
/* Data movement: strided copies (transpose, concat, slice, split, stack are all one of these),
 * token/image layout changes, and the circular shifts of shift-based models (roll, circular pad).
 * Pure copies: results are bit-exact. */

#define LK_TILE 16 /* transpose tile: 16×16 floats = 1 KiB read and written per tile, both in L1 */

/* Drops size-1 axes and merges neighbours that are contiguous in both x and y. */
static int lk__layout_collapse(int rank, const long *shape, const long *sx, const long *sy, long *n, long *a, long *c) {
  int r = 0;
  for (int d = 0; d < rank; ++d) {
    if (shape[d] == 1) continue;
    if (r > 0 && a[r - 1] == sx[d] * shape[d] && c[r - 1] == sy[d] * shape[d]) {
      n[r - 1] *= shape[d]; a[r - 1] = sx[d]; c[r - 1] = sy[d];
    } else {
      n[r] = shape[d]; a[r] = sx[d]; c[r] = sy[d];
      ++r;
    }
  }
  if (r == 0) { n[0] = 1; a[0] = 1; c[0] = 1; r = 1; }
  return r;
}

/* n ≤ 64 contiguous floats, inline: a memcpy call per 16-float row cost more than the copy. */
static inline void lk__layout_short_copy(long n, const float *restrict x, float *restrict y) {
  long i = 0;
  for (; i + LK_VW <= n; i += LK_VW) lk_vstore(y + i, lk_vload(x + i));
  for (; i < n; ++i) y[i] = x[i];
}

/* y(i) = x(i) for every multi-index i < shape[0:rank], where x(i) = x[Σ i_d·sx[d]] and
 * y(i) = y[Σ i_d·sy[d]] (rank ≤ LK_MAX_RANK). Transposes are the case sx = permuted strides of x,
 * sy = dense strides of y. When y's innermost axis is contiguous but x is contiguous along another
 * axis, the copy goes in LK_TILE² tiles so both sides are read and written a cache line at a time.
 * x and y must not overlap. */
void lk_copy_strided(int rank, const long *shape, const float *x, const long *sx, float *y, const long *sy) {
  long n[LK_MAX_RANK], a[LK_MAX_RANK], c[LK_MAX_RANK], total = 1;
  int r = lk__layout_collapse(rank, shape, sx, sy, n, a, c), last, t = -1;
  for (int d = 0; d < r; ++d) total *= n[d];
  if (total == 0) return;
  last = r - 1;
  if (c[last] == 1 && a[last] != 1)
    for (int d = 0; d < last; ++d) if (a[d] == 1) t = d;
  if (t < 0) {
    /* Rows along the last axis. Each thread finds its first row's offsets by division, then runs
     * along the next-to-last axis with fixed strides and steps an odometer over the other axes only
     * at the end of each run: rows can be short (a patch embedding's are 16 floats, CeiT's 4×4
     * patches 4), and the divisions, or the odometer, per row cost more than the copy (CeiT-T's
     * 4×4 patches of [16, 64, 56, 56], 2 threads: 4.7–5.3 → 1.6–2.5 ms). */
    long rows = total / n[last];
    const long len = n[last], ax = a[last], cx = c[last];
    const int contiguous = ax == 1 && cx == 1;
    LK_OMP(parallel if(total >= LK_PAR_MIN))
    {
      long r0, r1, idx[LK_MAX_RANK], ox = 0, oy = 0, rest;
      const int inner = last - 1; /* the axis the runs go along (none when the copy is one row) */
      const long ni = inner >= 0 ? n[inner] : 1, si = inner >= 0 ? a[inner] : 0, ti = inner >= 0 ? c[inner] : 0;
      lk_split(rows, lk_team_size(), lk_thread_id(), &r0, &r1);
      rest = r0;
      for (int d = last - 1; d >= 0; --d) {
        idx[d] = rest % n[d]; ox += idx[d] * a[d]; oy += idx[d] * c[d]; rest /= n[d];
      }
      for (long row = r0; row < r1;) {
        const long k0 = inner >= 0 ? idx[inner] : 0, run = lk_min_l(ni - k0, r1 - row);
        const float *xs = x + ox;
        float *ys = y + oy;
        /* Rows of a constant length become one move each; through lk__layout_short_copy's run-time
         * length (even with a 4-float step added to it) CeiT's copy took 3.3–4.5 ms, not 1.1–1.5. */
        if (contiguous && len == 4)
          for (long k = 0; k < run; ++k) memcpy(ys + k * ti, xs + k * si, 4 * sizeof(float));
        else if (contiguous && len == LK_VW)
          for (long k = 0; k < run; ++k) lk_vstore(ys + k * ti, lk_vload(xs + k * si));
        else if (contiguous && len > 64)
          for (long k = 0; k < run; ++k) memcpy(ys + k * ti, xs + k * si, (size_t)len * sizeof(float));
        else if (contiguous)
          for (long k = 0; k < run; ++k) lk__layout_short_copy(len, xs + k * si, ys + k * ti);
        else
          for (long k = 0; k < run; ++k)
            for (long i = 0; i < len; ++i) ys[k * ti + i * cx] = xs[k * si + i * ax];
        row += run;
        if (inner < 0) break;
        /* Onto the run's last row, then one step of the odometer (the inner axis first). */
        ox += (run - 1) * si; oy += (run - 1) * ti; idx[inner] = k0 + run - 1;
        for (int d = inner; d >= 0; --d) {
          ox += a[d]; oy += c[d];
          if (++idx[d] < n[d]) break;
          ox -= n[d] * a[d]; oy -= n[d] * c[d]; idx[d] = 0;
        }
      }
    }
  } else {
    /* Tiles of the (t, last) plane; the remaining axes index the planes. */
    long bt = lk_ceil_div(n[t], LK_TILE), bl = lk_ceil_div(n[last], LK_TILE);
    long planes = total / (n[t] * n[last]), tasks = planes * bt * bl;
    LK_OMP(parallel for schedule(static) if(total >= LK_PAR_MIN))
    for (long task = 0; task < tasks; ++task) {
      long plane = task / (bt * bl), it0 = task / bl % bt * LK_TILE, il0 = task % bl * LK_TILE;
      long ox = 0, oy = 0, rest = plane;
      long nt = lk_min_l(LK_TILE, n[t] - it0), nl = lk_min_l(LK_TILE, n[last] - il0);
      for (int d = last - 1; d >= 0; --d) {
        if (d == t) continue;
        ox += rest % n[d] * a[d]; oy += rest % n[d] * c[d]; rest /= n[d];
      }
      ox += it0 + il0 * a[last];
      oy += it0 * c[t] + il0;
      for (long i = 0; i < nt; ++i)
        for (long l = 0; l < nl; ++l) y[oy + i * c[t] + l] = x[ox + i + l * a[last]];
    }
  }
}

/* Transpose: x dense with shape[0:rank]; y dense with shape[perm[0]], …, shape[perm[rank−1]]
 * and y[i_0, …] = x at index i_d on axis perm[d] (torch.permute). */
void lk_transpose(int rank, const long *shape, const int *perm, const float *x, float *y) {
  long xs[LK_MAX_RANK], ys[LK_MAX_RANK], oshape[LK_MAX_RANK], sx[LK_MAX_RANK], s = 1;
  for (int d = rank - 1; d >= 0; --d) { xs[d] = s; s *= shape[d]; }
  s = 1;
  for (int d = rank - 1; d >= 0; --d) { oshape[d] = shape[perm[d]]; sx[d] = xs[perm[d]]; ys[d] = s; s *= oshape[d]; }
  lk_copy_strided(rank, oshape, x, sx, y, ys);
}

/* rows × n block copy: y[r·ldy + i] = x[r·ldx + i]. Concat along an axis is one call per operand
 * (x viewed as [outer, len_i·inner] into y at column offset off_i·inner, ldy = total·inner); slice,
 * split, index and the class-token ops are the same with the offset on the x side. */
void lk_copy_rows(long rows, long n, const float *x, long ldx, float *y, long ldy) {
  LK_OMP(parallel for schedule(static) if(rows * n >= LK_PAR_MIN))
  for (long r = 0; r < rows; ++r) memcpy(y + r * ldy, x + r * ldx, (size_t)n * sizeof(float));
}

/* seq2img: tokens x [B, N, C] → image y [B, C, N] (= [B, C, Hh, Ww] with N = Hh·Ww). */
void lk_seq2img(int B, long N, long C, const float *x, float *y) {
  const long shape[3] = {B, C, N}, sx[3] = {N * C, 1, C}, sy[3] = {C * N, N, 1};
  lk_copy_strided(3, shape, x, sx, y, sy);
}

/* img2seq: image x [B, C, HW] → tokens y [B, HW, C]. */
void lk_img2seq(int B, long C, long HW, const float *x, float *y) {
  const long shape[3] = {B, HW, C}, sx[3] = {C * HW, 1, HW}, sy[3] = {HW * C, C, 1};
  lk_copy_strided(3, shape, x, sx, y, sy);
}

/* y[p, i, j] = x[p, (i − oy) mod Hh, (j − ox) mod Ww] for planes p < P, i < Ho, j < Wo: every row is
 * at most a few contiguous runs, copied with memcpy. Roll and circular padding are both this. */
static long lk__layout_mod(long a, long m) { long r = a % m; return r < 0 ? r + m : r; }

static void lk__layout_wrap(long P, int Hh, int Ww, int Ho, int Wo, long oy, long ox, const float *x, float *y) {
  long rows = P * Ho;
  LK_OMP(parallel for schedule(static) if(rows * Wo >= LK_PAR_MIN))
  for (long r = 0; r < rows; ++r) {
    long p = r / Ho, i = r % Ho;
    const float *xr = x + (p * Hh + lk__layout_mod(i - oy, Hh)) * Ww;
    float *yr = y + r * Wo;
    for (long j = 0; j < Wo;) {
      long src = lk__layout_mod(j - ox, Ww), len = lk_min_l(Ww - src, Wo - j);
      memcpy(yr + j, xr + src, (size_t)len * sizeof(float));
      j += len;
    }
  }
}

/* roll over the last two axes, torch.roll(x, (dy, dx), dims=(−2, −1)) semantics: content moves
 * toward higher indices for positive shifts, y[i, j] = x[(i − dy) mod Hh, (j − dx) mod Ww].
 * x, y [P, Hh, Ww] with P = B·C. Any shift, negative or larger than the axis. */
void lk_roll(long P, int Hh, int Ww, int dy, int dx, const float *x, float *y) {
  lk__layout_wrap(P, Hh, Ww, Hh, Ww, dy, dx, x, y);
}

/* Circular padding, F.pad(x, (left, right, top, bottom), mode='circular'): x [P, Hh, Ww] →
 * y [P, Hh + top + bottom, Ww + left + right], y[i, j] = x[(i − top) mod Hh, (j − left) mod Ww].
 * One-sided padding is a zero on the other side; a negative pad crops, as in PyTorch. */
void lk_circular_pad(long P, int Hh, int Ww, int top, int bottom, int left, int right, const float *x, float *y) {
  lk__layout_wrap(P, Hh, Ww, Hh + top + bottom, Ww + left + right, top, left, x, y);
}

/* im2col, F.unfold(x, (kh, kw), padding=(ph, pw), stride=(sh, sw)).transpose(1, 2): image
 * x [B, C, Hh, Ww] → patch rows y [B, Ho·Wo, C·kh·kw], row oh·Wo + ow holding the window at
 * (oh·sh − ph, ow·sw − pw) in column order (c, ky, kx), zeros outside the image. A convolution
 * weight [Co, C, kh, kw] read as [Co, C·kh·kw] then multiplies these rows straight into tokens
 * (the patch-embedding pass uses it where C·kh·kw is small, as for a 3-channel image). A thread
 * fills one output row oh (Wo patch rows, in L1/L2) a column at a time: each column is a run of
 * an image row with zeros at the padded ends, without a bounds test per element. */
void lk_im2col(int B, int C, int Hh, int Ww, int kh, int kw, int sh, int sw, int ph, int pw, const float *x,
               float *y) {
  int Ho = (Hh + 2 * ph - kh) / sh + 1, Wo = (Ww + 2 * pw - kw) / sw + 1;
  long K = (long)C * kh * kw, rows = (long)B * Ho;
  LK_OMP(parallel for schedule(static) if(rows * Wo * K >= LK_PAR_MIN))
  for (long r = 0; r < rows; ++r) {
    long b = r / Ho;
    int oh = (int)(r % Ho);
    const float *xb = x + b * C * Hh * Ww;
    float *yr = y + r * Wo * K; /* Wo patch rows of K columns */
    for (int c = 0; c < C; ++c)
      for (int ky = 0; ky < kh; ++ky) {
        int iy = oh * sh - ph + ky;
        const float *src = xb + ((long)c * Hh + (iy >= 0 && iy < Hh ? iy : 0)) * Ww;
        for (int kx = 0; kx < kw; ++kx) {
          float *dst = yr + ((long)c * kh + ky) * kw + kx; /* column (c, ky, kx), stride K */
          /* Windows ow in [lo, hi) read pixel ow·sw − pw + kx inside the row; the others are 0. */
          int lo = 0, hi = 0;
          if (iy >= 0 && iy < Hh) {
            lo = lk_min_l(Wo, kx >= pw ? 0 : (pw - kx + sw - 1) / sw);
            hi = lk_min_l(Wo, Ww - 1 + pw - kx < 0 ? 0 : (Ww - 1 + pw - kx) / sw + 1);
            if (hi < lo) hi = lo;
          }
          for (int ow = 0; ow < lo; ++ow) dst[ow * K] = 0.0f;
          for (int ow = lo; ow < hi; ++ow) dst[ow * K] = src[ow * sw - pw + kx];
          for (int ow = hi; ow < Wo; ++ow) dst[ow * K] = 0.0f;
        }
      }
  }
}

/* References. */
void lk_copy_strided_naive(int rank, const long *shape, const float *x, const long *sx, float *y, const long *sy) {
  long total = 1;
  for (int d = 0; d < rank; ++d) total *= shape[d];
  for (long i = 0; i < total; ++i) {
    long rest = i, ox = 0, oy = 0;
    for (int d = rank - 1; d >= 0; --d) { ox += rest % shape[d] * sx[d]; oy += rest % shape[d] * sy[d]; rest /= shape[d]; }
    y[oy] = x[ox];
  }
}

void lk_roll_naive(long P, int Hh, int Ww, int dy, int dx, const float *x, float *y) {
  for (long p = 0; p < P; ++p)
    for (int i = 0; i < Hh; ++i)
      for (int j = 0; j < Ww; ++j)
        y[(p * Hh + lk__layout_mod(i + dy, Hh)) * Ww + lk__layout_mod(j + dx, Ww)] = x[(p * Hh + i) * Ww + j];
}

void lk_circular_pad_naive(long P, int Hh, int Ww, int top, int bottom, int left, int right, const float *x, float *y) {
  int Ho = Hh + top + bottom, Wo = Ww + left + right;
  for (long p = 0; p < P; ++p)
    for (int i = 0; i < Ho; ++i)
      for (int j = 0; j < Wo; ++j) {
        /* Padding copies the opposite edge: above row 0 come the last rows, and so on. */
        int si = i - top, sj = j - left;
        while (si < 0) si += Hh;
        while (si >= Hh) si -= Hh;
        while (sj < 0) sj += Ww;
        while (sj >= Ww) sj -= Ww;
        y[(p * Ho + i) * Wo + j] = x[(p * Hh + si) * Ww + sj];
      }
}

void lk_im2col_naive(int B, int C, int Hh, int Ww, int kh, int kw, int sh, int sw, int ph, int pw, const float *x,
                     float *y) {
  int Ho = (Hh + 2 * ph - kh) / sh + 1, Wo = (Ww + 2 * pw - kw) / sw + 1;
  long K = (long)C * kh * kw;
  for (long i = 0; i < (long)B * Ho * Wo * K; ++i) y[i] = 0.0f;
  for (int b = 0; b < B; ++b)
    for (int c = 0; c < C; ++c)
      for (int iy = 0; iy < Hh; ++iy)
        for (int ix = 0; ix < Ww; ++ix)
          /* Scatter: every window (oh, ow) that covers pixel (iy, ix) gets it at (c, ky, kx). */
          for (int ky = 0; ky < kh; ++ky)
            for (int kx = 0; kx < kw; ++kx) {
              int ty = iy + ph - ky, tx = ix + pw - kx;
              if (ty < 0 || tx < 0 || ty % sh || tx % sw || ty / sh >= Ho || tx / sw >= Wo) continue;
              long row = ((long)b * Ho + ty / sh) * Wo + tx / sw;
              y[row * K + ((long)c * kh + ky) * kw + kx] = x[(((long)b * C + c) * Hh + iy) * Ww + ix];
            }
}
