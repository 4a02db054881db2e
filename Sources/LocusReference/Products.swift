import Foundation
import LocusIR

/// Kernels built on dot products: projections, matrix products and attention. Every dot product,
/// attention score and softmax runs in Double; results are rounded to f32 once.
extension Interpreter {
  /// `nn.Linear`: y = x Wᵀ + b over the last axis. x: [..., K]; weight: [Nout, K]; bias: [Nout].
  static func linear(_ x: Tensor, weight w: Tensor, bias: Tensor?) -> Tensor {
    let (nOut, k) = (w.shape[0], w.shape[1])
    let rows = x.count / k
    let (xs, ws) = (x.data, w.data)
    var y = Tensor.zeros(Array(x.shape.dropLast()) + [nOut])
    for r in 0..<rows {
      for o in 0..<nOut {
        var sum = Double(bias?.data[o] ?? 0)
        for i in 0..<k { sum += Double(xs[r * k + i]) * Double(ws[o * k + i]) }
        y.data[r * nOut + o] = Float(sum)
      }
    }
    return y
  }

  /// `torch.matmul` of a: [..., M, K] and b: [..., K, N] → [..., M, N]; the leading axes broadcast
  /// as numpy (a missing or size-1 axis repeats).
  static func matmul(_ a: Tensor, _ b: Tensor) -> Tensor {
    let (m, k, n) = (a.shape[a.rank - 2], a.shape[a.rank - 1], b.shape[b.rank - 1])
    let leadA = Array(a.shape.dropLast(2)), leadB = Array(b.shape.dropLast(2))
    let lead = broadcastShape(leadA, leadB)
    let matricesA = broadcastOffsets(leadA, to: lead), matricesB = broadcastOffsets(leadB, to: lead)
    let (aData, bData) = (a.data, b.data)
    var y = Tensor.zeros(lead + [m, n])
    for (l, (ma, mb)) in zip(matricesA, matricesB).enumerated() {
      let (baseA, baseB, baseY) = (ma * m * k, mb * k * n, l * m * n)
      for i in 0..<m {
        for j in 0..<n {
          var sum = 0.0
          for p in 0..<k { sum += Double(aData[baseA + i * k + p]) * Double(bData[baseB + p * n + j]) }
          y.data[baseY + i * n + j] = Float(sum)
        }
      }
    }
    return y
  }

  /// Scaled dot-product attention with grouped heads, softmax(q kᵀ · D^-½) v per head.
  /// q: [Nq, H·D]; k, v: [Nk, Hk·D]. Head h is columns h·D ..< (h+1)·D; query head h reads kv head
  /// h / (H/Hk) (Hk = H: multi-head, Hk = 1: multi-query).
  static func sdpa(q: Tensor, k: Tensor, v: Tensor, heads: Int, kvHeads: Int) -> Tensor {
    let (nq, nk, width, kvWidth) = (q.shape[0], k.shape[0], q.shape[1], k.shape[1])
    let d = width / heads
    let (qs, ks, vs) = (q.data, k.data, v.data)
    let scale = 1 / Double(d).squareRoot()
    var y = Tensor.zeros(q.shape)
    for h in 0..<heads {
      let (qc, kc) = (h * d, (h / (heads / kvHeads)) * d)  // first column of the query / kv head
      for i in 0..<nq {
        let scores = (0..<nk).map { j in
          scale * dot(qs, from: i * width + qc, ks, from: j * kvWidth + kc, count: d)
        }
        let p = softmaxDouble(scores)
        for e in 0..<d {
          var sum = 0.0
          for j in 0..<nk { sum += p[j] * Double(vs[j * kvWidth + kc + e]) }
          y.data[i * width + qc + e] = Float(sum)
        }
      }
    }
    return y
  }

  /// The gradients of `sdpa` from the output's gradient dO, as [dq | dk | dv] along the last axis
  /// ([N, H·D + 2·Hk·D], Nq = Nk): with P = softmax(q kᵀ · D^-½) per head and query,
  /// dV += Pᵀ dO, dP = dO vᵀ, dS = P ⊙ (dP − Σ_j P dP) · D^-½, dQ = dS k, dK += dSᵀ q.
  static func sdpaGrad(q: Tensor, k: Tensor, v: Tensor, dout: Tensor, heads: Int, kvHeads: Int) -> Tensor {
    let (n, nk, width, kvWidth) = (q.shape[0], k.shape[0], q.shape[1], k.shape[1])
    let (d, all) = (width / heads, width + 2 * kvWidth)
    let scale = 1 / Double(d).squareRoot()
    var dq = [Double](repeating: 0, count: n * width), dk = [Double](repeating: 0, count: nk * kvWidth)
    var dv = dk
    for h in 0..<heads {
      let (qc, kc) = (h * d, (h / (heads / kvHeads)) * d)
      for i in 0..<n {
        let p = softmaxDouble((0..<nk).map { j in scale * dot(q.data, from: i * width + qc, k.data, from: j * kvWidth + kc, count: d) })
        let dp = (0..<nk).map { j in dot(dout.data, from: i * width + qc, v.data, from: j * kvWidth + kc, count: d) }
        let rowDot = zip(p, dp).reduce(0.0) { $0 + $1.0 * $1.1 }
        for j in 0..<nk {
          let ds = scale * p[j] * (dp[j] - rowDot)
          for e in 0..<d {
            dq[i * width + qc + e] += ds * Double(k.data[j * kvWidth + kc + e])
            dk[j * kvWidth + kc + e] += ds * Double(q.data[i * width + qc + e])
            dv[j * kvWidth + kc + e] += p[j] * Double(dout.data[i * width + qc + e])
          }
        }
      }
    }
    var y = Tensor.zeros([n, all])
    for i in 0..<n {
      for c in 0..<width { y.data[i * all + c] = Float(dq[i * width + c]) }
      for c in 0..<kvWidth {
        y.data[i * all + width + c] = Float(dk[i * kvWidth + c])
        y.data[i * all + width + kvWidth + c] = Float(dv[i * kvWidth + c])
      }
    }
    return y
  }

  /// Attention over the T shifted variants at each location: for token n and head h,
  /// softmax over t of q[n, h]·k[t, n, g] · D^-½, then Σ_t p_t v[t, n, g], with g = h / (H/Hk).
  /// q: [N, H·D]; k, v: [T, N, Hk·D].
  static func localAttention(q: Tensor, k: Tensor, v: Tensor, heads: Int, kvHeads: Int) -> Tensor {
    let (variants, tokens, kvWidth) = (k.shape[0], k.shape[1], k.shape[2])
    let (width, d) = (q.shape[1], q.shape[1] / heads)
    let scale = 1 / Double(d).squareRoot()
    var y = Tensor.zeros(q.shape)
    for n in 0..<tokens {
      for h in 0..<heads {
        let (qc, kc) = (h * d, (h / (heads / kvHeads)) * d)
        let row = { (t: Int) in (t * tokens + n) * kvWidth + kc }  // kv head g of variant t at token n
        let p = softmaxDouble((0..<variants).map { t in
          scale * dot(q.data, from: n * width + qc, k.data, from: row(t), count: d)
        })
        for e in 0..<d {
          var sum = 0.0
          for t in 0..<variants { sum += p[t] * Double(v.data[row(t) + e]) }
          y.data[n * width + qc + e] = Float(sum)
        }
      }
    }
    return y
  }

  /// The gradients of `localAttention` from the output's gradient dO: dq [N, H·D] when `query`,
  /// else [dk | dv] along the last axis ([T, N, 2·Hk·D]). With p = softmax over t of the scores
  /// per token and head: dp_t = dO·v_t, ds_t = p_t (dp_t − Σ_u p_u dp_u) · D^-½, dq = Σ_t ds_t k_t,
  /// dk_t += ds_t q, dv_t += p_t dO (over the query heads of each kv head).
  static func localAttentionGrad(q: Tensor, k: Tensor, v: Tensor, dout: Tensor, heads: Int, kvHeads: Int, query: Bool) -> Tensor {
    let (variants, tokens, kvWidth) = (k.shape[0], k.shape[1], k.shape[2])
    let (width, d) = (q.shape[1], q.shape[1] / heads)
    let scale = 1 / Double(d).squareRoot()
    var dq = [Double](repeating: 0, count: tokens * width), dk = [Double](repeating: 0, count: variants * tokens * kvWidth)
    var dv = dk
    for n in 0..<tokens {
      for h in 0..<heads {
        let (qc, kc) = (h * d, (h / (heads / kvHeads)) * d)
        let row = { (t: Int) in (t * tokens + n) * kvWidth + kc }
        let p = softmaxDouble((0..<variants).map { t in scale * dot(q.data, from: n * width + qc, k.data, from: row(t), count: d) })
        let dp = (0..<variants).map { t in dot(dout.data, from: n * width + qc, v.data, from: row(t), count: d) }
        let rowDot = zip(p, dp).reduce(0.0) { $0 + $1.0 * $1.1 }
        for t in 0..<variants {
          let ds = scale * p[t] * (dp[t] - rowDot)
          for e in 0..<d {
            dq[n * width + qc + e] += ds * Double(k.data[row(t) + e])
            dk[row(t) + e] += ds * Double(q.data[n * width + qc + e])
            dv[row(t) + e] += p[t] * Double(dout.data[n * width + qc + e])
          }
        }
      }
    }
    if query { return Tensor(shape: q.shape, data: dq.map { Float($0) }) }
    var y = Tensor.zeros([variants, tokens, 2 * kvWidth])
    for r in 0..<(variants * tokens) {
      for c in 0..<kvWidth {
        y.data[r * 2 * kvWidth + c] = Float(dk[r * kvWidth + c])
        y.data[r * 2 * kvWidth + kvWidth + c] = Float(dv[r * kvWidth + c])
      }
    }
    return y
  }
}

/// Σ a[i] b[j] over `count` consecutive elements from offsets i and j, in Double.
func dot(_ a: [Float], from i: Int, _ b: [Float], from j: Int, count: Int) -> Double {
  var sum = 0.0
  for e in 0..<count { sum += Double(a[i + e]) * Double(b[j + e]) }
  return sum
}
