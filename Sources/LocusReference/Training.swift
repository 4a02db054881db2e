import Foundation
import LocusIR

/// The training ops (DESIGN.md §7), written from their definitions rather than from the kernels:
/// the gradients here are checked against finite differences of the forward reference. Ops that
/// reduce over the batch see whole batched tensors; the others run per sample.
extension Interpreter {
  static func training(_ op: TrainingOp, _ xs: [Tensor], _ types: [TensorType], batch: Int, result: TensorType) -> Tensor {
    func each(_ kernel: ([Tensor]) -> Tensor) -> Tensor {
      perSample(xs, types, batch: batch, batched: result.batched, kernel)
    }
    switch op {
    case .normalize(let eps):
      return each { rowsOf($0[0]) { normalized($0, eps: eps).y } }
    case .normalizeGrad(let eps):
      // (x, dxhat), or (x, dy, w, residual?): dxhat = dy ⊙ w, then + residual.
      return each { t in
        let c = t[0].shape.last ?? 1
        var dx = Tensor(shape: t[0].shape, data: (0..<t[0].count / c).flatMap { r in
          let rows = r * c..<(r + 1) * c
          let g = t.count > 2 ? zip(t[1].data[rows], t[2].data).map { $0 * $1 } : Array(t[1].data[rows])
          return normalizeGrad(Array(t[0].data[rows]), g, eps: eps)
        })
        if t.count > 3 { dx.data = zip(dx.data, t[3].data).map { $0 + $1 } }
        return dx
      }
    case .normalizeParamGrad(let eps):
      // Over every row of the batch: Σ dy ⊙ x̂ (x̂ per row, in double) and Σ dy.
      let (x, dy) = (xs[0], xs[1]), c = x.shape.last ?? 1
      var sums = [Double](repeating: 0, count: 2 * c)
      for r in 0..<x.count / max(c, 1) {
        let row = r * c..<(r + 1) * c, (_, mean, inv) = normalized(Array(x.data[row]), eps: eps)
        for (j, i) in row.enumerated() {
          sums[j] += Double(dy.data[i]) * (Double(x.data[i]) - mean) * inv
          sums[c + j] += Double(dy.data[i])
        }
      }
      return Tensor(shape: [2, c], data: sums.map(Float.init))
    case .batchNormalize(let eps, let last):
      // x̂·w + b, as the inference graph's batchnorm with the batch's statistics.
      let (w, b) = (xs[1].data, xs[2].data)
      return channelsFirst(last, [xs[0]]) { x in
        channelPlanes(x[0]) { c, v, _ in
          let (_, mean, inv) = normalized(v, eps: eps)
          return v.map { Float((Double($0) - mean) * inv * Double(w[c]) + Double(b[c])) }
        }
      }
    case .batchNormalizeGrad(let eps, let last):
      // The input gradient of x̂·w + b: w times the gradient through x̂.
      let w = xs[2].data
      return channelsFirst(last, [xs[0], xs[1]]) { x in
        channelPlanes(x[0], with: x[1]) { c, v, d in normalizeGrad(v, d.map { $0 * w[c] }, eps: eps) }
      }
    case .batchNormalizeParamGrad(let eps, let last):
      let x = last ? movingLastAxis(xs[0], to: 1) : xs[0], dy = last ? movingLastAxis(xs[1], to: 1) : xs[1]
      let (b, c) = (x.shape[0], x.shape[1]), s = x.count / (b * c)
      var out = Tensor.zeros([2, c])
      for ch in 0..<c {
        let at = (0..<b).flatMap { n in (0..<s).map { (n * c + ch) * s + $0 } }
        let xhat = normalized(at.map { x.data[$0] }, eps: eps).y
        (out.data[ch], out.data[c + ch]) = (Float(zip(at, xhat).reduce(0.0) { $0 + Double(dy.data[$1.0]) * Double($1.1) }),
                                            Float(at.reduce(0.0) { $0 + Double(dy.data[$1]) }))
      }
      return out
    case .batchMoments(let last):
      let moments = channelMoments(xs[0], last: last), c = moments.count
      var out = Tensor.zeros([2, c])
      for (ch, m) in moments.enumerated() { (out.data[ch], out.data[c + ch]) = (Float(m.mean), Float(m.variance)) }
      return out
    case .batchStatistics:
      // The moments, then the mean's rounding error (row 0 + row 2 = the mean in double).
      let moments = channelMoments(xs[0], last: true), c = moments.count
      var out = Tensor.zeros([3, c])
      for (ch, m) in moments.enumerated() {
        (out.data[ch], out.data[c + ch]) = (Float(m.mean), Float(m.variance))
        out.data[2 * c + ch] = Float(m.mean - Double(out.data[ch]))
      }
      return out
    case .batchNormAct(let eps, let act), .batchNormActParamGrad(let eps, let act), .batchNormActGrad(let eps, let act):
      return batchNormAct(op, xs, eps: eps, act: act)
    case .unaryGrad(let f):
      return Tensor(shape: xs[0].shape, data: zip(xs[0].data, xs[1].data).map { Float(activationDerivative(f, Double($0)) * Double($1)) })
    case .sdpaGrad(let heads, let kvHeads):
      return each { sdpaGrad(q: $0[0], k: $0[1], v: $0[2], dout: $0[3], heads: heads, kvHeads: kvHeads) }
    case .localAttentionGradQ(let heads, let kvHeads), .localAttentionGradKV(let heads, let kvHeads):
      let query = if case .localAttentionGradQ = op { true } else { false }
      return each { localAttentionGrad(q: $0[0], k: $0[1], v: $0[2], dout: $0[3], heads: heads, kvHeads: kvHeads, query: query) }
    case .softmaxGrad(let axis):
      return each { t in
        let y = t[0], dy = t[1]
        let a = normalizeAxis(axis, rank: y.rank) ?? 0
        let inner = y.shape[(a + 1)...].reduce(1, *), l = y.shape[a]
        var dx = Tensor.zeros(y.shape)
        for o in 0..<(y.count / (l * inner)) {
          for i in 0..<inner {
            let at = (0..<l).map { (o * l + $0) * inner + i }
            let dot = at.reduce(0.0) { $0 + Double(y.data[$1]) * Double(dy.data[$1]) }
            for j in at { dx.data[j] = Float(Double(y.data[j]) * (Double(dy.data[j]) - dot)) }
          }
        }
        return dx
      }
    case .reduceSum(let axes, let overBatch):
      // Σ x, or Σ x ⊙ y with a second operand (products in double: exact for two floats).
      let x = xs[0], batched = types[0].batched
      let full = axes.map { $0 + (batched ? 1 : 0) } + (overBatch ? [0] : [])
      let keptShape = x.shape.enumerated().filter { !full.contains($0.offset) }.map(\.element)
      var sums = [Double](repeating: 0, count: keptShape.reduce(1, *))
      for (offset, v) in x.data.enumerated() {
        let index = multiIndex(offset, x.shape)
        let kept = index.enumerated().filter { !full.contains($0.offset) }.map(\.element)
        sums[linearOffset(kept, keptShape)] += Double(v) * (xs.count > 1 ? Double(xs[1].data[offset]) : 1)
      }
      return Tensor(shape: keptShape, data: sums.map(Float.init))
    case .mulAdd:
      // a·b + c under `binary`'s broadcasting, in double (one rounding, as the fused kernel's FMA).
      let t = (0..<3).map { squeezed(xs[$0], types[$0], lead: types[$0], toRank: result.rank) }
      let from = types.map { broadcastOffsets(squeezedForBatch($0, toRank: result.rank), to: result.shape) }  // per sample
      return perSample(t, types, batch: batch, batched: result.batched) { s in
        Tensor(shape: result.shape, data: (0..<result.count).map { i in
          Float(Double(s[0].data[from[0][i]]) * Double(s[1].data[from[1][i]]) + Double(s[2].data[from[2][i]]))
        })
      }
    case .expand(let shape):
      return each { t in
        let x = t[0], padded = Array(repeating: 1, count: shape.count - x.rank) + x.shape
        return Tensor(shape: shape) { offset in
          let index = zip(multiIndex(offset, shape), padded).map { $1 == 1 ? 0 : $0 }
          return x.data[linearOffset(index, padded)]
        }
      }
    case .conv2dGradInput(let a, let h, let w):
      return each { t in conv2dGradInput(t[0], weight: t[1], a, height: h, width: w) }
    case .conv2dGradWeight(let a):
      let (dy, x) = (xs[0], xs[1])
      var sum = [Double](repeating: 0, count: result.count)
      for b in 0..<batch {
        for (i, v) in conv2dGradWeight(dy.sample(b), x.sample(b), a).enumerated() { sum[i] += v }
      }
      return Tensor(shape: result.shape, data: sum.map(Float.init))
    case .linearGradWeight:
      let (dy, x) = (xs[0], xs[1])
      let n = dy.shape.last ?? 1, k = x.shape.last ?? 1, rows = dy.count / n
      var dw = [Double](repeating: 0, count: n * k)
      for r in 0..<rows {
        for o in 0..<n where dy.data[r * n + o] != 0 {
          let g = Double(dy.data[r * n + o])
          for i in 0..<k { dw[o * k + i] += g * Double(x.data[r * k + i]) }
        }
      }
      return Tensor(shape: [n, k], data: dw.map(Float.init))
    case .matmulPermuted(let pa, let pb, let po):
      return each { t in transpose(matmul(transpose(t[0], perm: pa), transpose(t[1], perm: pb)), perm: po) }
    case .tokenDWConvGradInput(let a):
      let (c, ho) = (xs[1].shape[0], a.outHeight)
      let conv = Conv2dAttrs(outChannels: c, kernel: a.kernel, stride: a.stride, padding: a.padding, groups: c, hasBias: false)
      return each { t in img2seq(conv2dGradInput(seq2img(t[0], height: ho), weight: t[1], conv, height: a.height, width: a.width)) }
    case .tokenDWConvGradWeight(let a):
      let (dy, x) = (xs[0], xs[1]), c = result.shape[0]
      let conv = Conv2dAttrs(outChannels: c, kernel: a.kernel, stride: a.stride, padding: a.padding, groups: c, hasBias: false)
      var sum = [Double](repeating: 0, count: result.count)
      for b in 0..<batch {
        let image = seq2img(x.sample(b), height: a.height), dyImage = seq2img(dy.sample(b), height: a.outHeight)
        for (i, v) in conv2dGradWeight(dyImage, image, conv).enumerated() { sum[i] += v }
      }
      return Tensor(shape: result.shape, data: sum.map(Float.init))
    case .maxpoolGrad(let k, let s, let p):
      return each { t in maxpoolGrad(t[0], dy: t[1], kernel: k, stride: s, padding: p) }
    case .circularPadGrad(let l, let r, let top, let bottom):
      return each { t in
        let dy = t[0]
        let (c, hp, wp) = (dy.shape[0], dy.shape[1], dy.shape[2])
        let (h, w) = (hp - top - bottom, wp - l - r)
        var dx = [Double](repeating: 0, count: c * h * w)
        for ch in 0..<c {
          for i in 0..<hp {
            for j in 0..<wp {
              // F.pad(mode: 'circular'): padded row i reads row (i − top) mod h.
              let si = ((i - top) % h + h) % h, sj = ((j - l) % w + w) % w
              dx[(ch * h + si) * w + sj] += Double(dy.data[(ch * hp + i) * wp + j])
            }
          }
        }
        return Tensor(shape: [c, h, w], data: dx.map(Float.init))
      }
    case .zeroPad(let axis, let before, _):
      return each { t in
        let x = t[0], a = normalizeAxis(axis, rank: x.rank) ?? 0
        var shape = x.shape
        shape[a] = result.shape[a]
        var y = Tensor.zeros(shape)
        for (offset, v) in x.data.enumerated() {
          var index = multiIndex(offset, x.shape)
          index[a] += before
          y.data[linearOffset(index, shape)] = v
        }
        if t.count > 1 { y.data = zip(t[1].data, y.data).map { $0 + $1 } }
        return y
      }
    case .crossEntropy:
      let k = types[0].shape[0]
      var total = 0.0
      for b in 0..<batch {
        let z = xs[0].data[b * k..<(b + 1) * k].map(Double.init), t = xs[1].data[b * k..<(b + 1) * k].map(Double.init)
        let m = z.max() ?? 0, lse = m + log(z.reduce(0.0) { $0 + exp($1 - m) })
        total += zip(z, t).reduce(0.0) { $0 - $1.1 * ($1.0 - lse) }
      }
      return Tensor(shape: [1], data: [Float(total / Double(batch))])
    case .crossEntropyGrad:
      return each { t in
        let z = t[0].data.map(Double.init)
        let m = z.max() ?? 0, e = z.map { exp($0 - m) }, s = e.reduce(0, +)
        return Tensor(shape: t[0].shape, data: (0..<z.count).map { Float((e[$0] / s - Double(t[1].data[$0])) / Double(batch)) })
      }
    }
  }

  /// Per channel of a batched [B, C, ...] tensor (or [B, ..., C] when `last`), over the batch and
  /// every other axis: the mean and the unbiased variance (NaN for a single value, 0/0).
  static func channelMoments(_ t: Tensor, last: Bool) -> [(mean: Double, variance: Double)] {
    let x = last ? movingLastAxis(t, to: 1) : t, (b, c) = (x.shape[0], x.shape[1]), s = x.count / (b * c)
    return (0..<c).map { ch in
      let values = (0..<b).flatMap { n in (0..<s).map { Double(x.data[(n * c + ch) * s + $0]) } }
      let mean = values.reduce(0, +) / Double(values.count)
      return (mean, values.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Double(values.count - 1))
    }
  }

  /// batch_norm_act and its gradients over tokens [B, ..., C] (element i is channel i mod C), from
  /// the statistics operand: the mean (its two parts added), and the unbiased variance turned back
  /// into the biased one the normalisation uses (0 for a single value per channel).
  static func batchNormAct(_ op: TrainingOp, _ xs: [Tensor], eps: Float, act: UnaryOp) -> Tensor {
    let x = xs[0], c = x.shape.last ?? 1, n = x.count / c
    let forward: Bool
    if case .batchNormAct = op { forward = true } else { forward = false }
    let (m, w, b) = forward ? (xs[1].data, xs[2].data, xs[3].data) : (xs[2].data, xs[3].data, xs[4].data)
    let mean = (0..<c).map { Double(m[$0]) + Double(m[2 * c + $0]) }
    let inv = (0..<c).map { ch in
      1 / ((n > 1 ? Double(m[c + ch]) * Double(n - 1) / Double(n) : 0) + Double(eps)).squareRoot()
    }
    func xhat(_ i: Int) -> Double { (Double(x.data[i]) - mean[i % c]) * inv[i % c] }
    func pre(_ i: Int) -> Double { xhat(i) * Double(w[i % c]) + Double(b[i % c]) }
    if forward { return Tensor(shape: x.shape, data: (0..<x.count).map { Float(activation(act, pre($0))) }) }
    let dy = (0..<x.count).map { Double(xs[1].data[$0]) * activationDerivative(act, pre($0)) }
    if case .batchNormActParamGrad = op {
      var sums = [Double](repeating: 0, count: 2 * c)
      for i in 0..<x.count {
        sums[i % c] += dy[i] * xhat(i)
        sums[c + i % c] += dy[i]
      }
      return Tensor(shape: [2, c], data: sums.map(Float.init))
    }
    let sums = xs[5].data
    return Tensor(shape: x.shape, data: (0..<x.count).map { i in
      let ch = i % c
      return Float(Double(w[ch]) * inv[ch] * (dy[i] - Double(sums[c + ch]) / Double(n) - xhat(i) * Double(sums[ch]) / Double(n)))
    })
  }

  /// d f(x)/dx in PyTorch's conventions at the kinks (relu: 0 at 0; hswish: x/3 + 0.5 on [−3, 3]).
  static func activationDerivative(_ f: UnaryOp, _ x: Double) -> Double {
    switch f {
    case .gelu: 0.5 * (1 + erf(x / 2.0.squareRoot())) + x * exp(-0.5 * x * x) / (2 * Double.pi).squareRoot()
    case .relu: x > 0 ? 1 : 0
    case .relu6: x > 0 && x < 6 ? 1 : 0
    case .hswish: x < -3 ? 0 : (x <= 3 ? x / 3 + 0.5 : 1)
    case .hsigmoid: x > -3 && x < 3 ? 1.0 / 6 : 0
    case .sigmoid: 1 / (1 + exp(-x)) * (1 - 1 / (1 + exp(-x)))
    case .identity: 1
    case .rsqrt: -0.5 * pow(x, -1.5)
    }
  }

  /// (x − mean)/√(var + eps) over one group of values, biased variance, in Double.
  static func normalized(_ x: [Float], eps: Float) -> (y: [Float], mean: Double, invStd: Double) {
    let n = Double(x.count)
    let mean = x.reduce(0.0) { $0 + Double($1) } / n
    let variance = x.reduce(0.0) { $0 + (Double($1) - mean) * (Double($1) - mean) } / n
    let inv = 1 / (variance + Double(eps)).squareRoot()
    return (x.map { Float((Double($0) - mean) * inv) }, mean, inv)
  }

  /// dx = inv·(d − mean(d) − x̂·mean(d ⊙ x̂)), the gradient of `normalized` for one group.
  static func normalizeGrad(_ x: [Float], _ d: [Float], eps: Float) -> [Float] {
    let (_, mean, inv) = normalized(x, eps: eps)
    let n = Double(x.count)
    let xhat = x.map { (Double($0) - mean) * inv }
    let meanD = d.reduce(0.0) { $0 + Double($1) } / n
    let meanDX = zip(d, xhat).reduce(0.0) { $0 + Double($1.0) * $1.1 } / n
    return zip(d, xhat).map { Float(inv * (Double($0) - meanD - $1 * meanDX)) }
  }

  /// Applies `f` to each row of the last axis.
  static func rowsOf(_ x: Tensor, _ f: ([Float]) -> [Float]) -> Tensor {
    let c = x.shape.last ?? 1
    return Tensor(shape: x.shape, data: (0..<x.count / max(c, 1)).flatMap { r in f(Array(x.data[r * c..<(r + 1) * c])) })
  }

  /// Gathers every value of channel c of a batched [B, C, ...] tensor (all samples, all positions),
  /// transforms them, and scatters the result back.
  /// f(channel, x's values, other's values) over each channel's values of [B, C, ...], written back
  /// in place of x's.
  static func channelPlanes(_ x: Tensor, with other: Tensor? = nil, channel f: (Int, [Float], [Float]) -> [Float]) -> Tensor {
    let (b, c) = (x.shape[0], x.shape[1]), s = x.count / (b * c)
    var y = Tensor.zeros(x.shape)
    for ch in 0..<c {
      let at = (0..<b).flatMap { n in (0..<s).map { (n * c + ch) * s + $0 } }
      let out = f(ch, at.map { x.data[$0] }, at.map { other?.data[$0] ?? 0 })
      for (i, j) in at.enumerated() { y.data[j] = out[i] }
    }
    return y
  }

  /// f of batched tensors [B, C, ...]; when `last`, the operands are [B, ..., C] and are moved to
  /// that layout and the result back (BatchNorm over tokens).
  static func channelsFirst(_ last: Bool, _ xs: [Tensor], _ f: ([Tensor]) -> Tensor) -> Tensor {
    guard last, let rank = xs.first?.rank, rank > 2 else { return f(xs) }
    let y = f(xs.map { movingLastAxis($0, to: 1) })
    return transpose(y, perm: [0] + Array(2..<rank) + [1])
  }

  /// x with its last axis moved to position `axis`.
  static func movingLastAxis(_ x: Tensor, to axis: Int) -> Tensor {
    var perm = Array(0..<(x.rank - 1))
    perm.insert(x.rank - 1, at: axis)
    return transpose(x, perm: perm)
  }

  static func conv2dGradInput(_ dy: Tensor, weight w: Tensor, _ a: Conv2dAttrs, height: Int, width: Int) -> Tensor {
    let (co, perGroup, kh, kw) = (w.shape[0], w.shape[1], w.shape[2], w.shape[3])
    let (ho, wo) = (dy.shape[1], dy.shape[2]), outPerGroup = co / a.groups
    var dx = [Double](repeating: 0, count: perGroup * a.groups * height * width)
    forEachTap(a, co: co, perGroup: perGroup, kh: kh, kw: kw, ho: ho, wo: wo, height: height, width: width) { o, c, ky, kx, i, j, row, col in
      let input = (o / outPerGroup) * perGroup + c
      dx[(input * height + row) * width + col] += Double(dy.data[(o * ho + i) * wo + j]) * Double(w.data[((o * perGroup + c) * kh + ky) * kw + kx])
    }
    return Tensor(shape: [perGroup * a.groups, height, width], data: dx.map(Float.init))
  }

  static func conv2dGradWeight(_ dy: Tensor, _ x: Tensor, _ a: Conv2dAttrs) -> [Double] {
    let (height, width) = (x.shape[1], x.shape[2]), co = a.outChannels, perGroup = x.shape[0] / a.groups
    let (kh, kw, ho, wo) = (a.kernel[0], a.kernel[1], dy.shape[1], dy.shape[2]), outPerGroup = co / a.groups
    var dw = [Double](repeating: 0, count: co * perGroup * kh * kw)
    forEachTap(a, co: co, perGroup: perGroup, kh: kh, kw: kw, ho: ho, wo: wo, height: height, width: width) { o, c, ky, kx, i, j, row, col in
      let input = (o / outPerGroup) * perGroup + c
      dw[((o * perGroup + c) * kh + ky) * kw + kx] += Double(dy.data[(o * ho + i) * wo + j]) * Double(x.data[(input * height + row) * width + col])
    }
    return dw
  }

  /// Every (output, input-channel, tap, output position) of a convolution that reads a pixel
  /// inside the image: the same loop nest as `conv2d`, shared by both gradients.
  static func forEachTap(_ a: Conv2dAttrs, co: Int, perGroup: Int, kh: Int, kw: Int, ho: Int, wo: Int, height: Int, width: Int,
                         _ body: (Int, Int, Int, Int, Int, Int, Int, Int) -> Void) {
    for o in 0..<co {
      for c in 0..<perGroup {
        for ky in 0..<kh {
          for kx in 0..<kw {
            for i in 0..<ho {
              let row = i * a.stride[0] - a.padding[0] + ky
              guard (0..<height).contains(row) else { continue }
              for j in 0..<wo {
                let col = j * a.stride[1] - a.padding[1] + kx
                guard (0..<width).contains(col) else { continue }
                body(o, c, ky, kx, i, j, row, col)
              }
            }
          }
        }
      }
    }
  }

  /// Routes each output gradient to the first maximum of its window (scan order row, column), as
  /// PyTorch's max_pool2d backward does.
  static func maxpoolGrad(_ x: Tensor, dy: Tensor, kernel k: [Int], stride s: [Int], padding p: [Int]) -> Tensor {
    let (channels, height, width) = (x.shape[0], x.shape[1], x.shape[2])
    let (ho, wo) = (dy.shape[1], dy.shape[2])
    var dx = [Double](repeating: 0, count: x.count)
    for c in 0..<channels {
      for i in 0..<ho {
        for j in 0..<wo {
          var best = -Float.infinity, at = -1
          for row in (i * s[0] - p[0])..<(i * s[0] - p[0] + k[0]) where (0..<height).contains(row) {
            for col in (j * s[1] - p[1])..<(j * s[1] - p[1] + k[1]) where (0..<width).contains(col) {
              let v = x.data[(c * height + row) * width + col]
              if at < 0 || v > best || v.isNaN { (best, at) = (v, (c * height + row) * width + col) }
            }
          }
          if at >= 0 { dx[at] += Double(dy.data[(c * ho + i) * wo + j]) }
        }
      }
    }
    return Tensor(shape: x.shape, data: dx.map(Float.init))
  }
}

func linearOffset(_ index: [Int], _ shape: [Int]) -> Int {
  zip(index, shape).reduce(0) { $0 * $1.1 + $1.0 }
}
