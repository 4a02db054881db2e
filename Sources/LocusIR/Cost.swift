/// Static cost of a node: floating-point operations for a whole batch. Only the multiply-adds of
/// convolutions, projections, matmuls and attention count (2 per MAC), the convention the
/// benchmarks' "fraction of peak" uses; elementwise work is bandwidth, not FLOPs.
extension Graph {
  public func flops(of node: Node) -> Int {
    let b = node.type.batched ? batch : 1
    let out = node.type.count * b
    switch node.op {
    case .conv2d(let a):
      let ci = nodes[node.operands[0].raw].type.shape[0]
      return 2 * out * (ci / a.groups) * a.kernel[0] * a.kernel[1]
    case .linear, .fusedLinear:
      return 2 * out * (nodes[node.operands[0].raw].type.shape.last ?? 1)
    case .tokenDWConv(let a):
      return 2 * out * a.kernel[0] * a.kernel[1]
    case .shiftedLocalAttention(let a):
      // Per variant and location: the embedding conv, the K/V projection, then scores and sum.
      let image = nodes[node.operands[0].raw].type, pos = nodes[node.operands[2 + 2 * a.variants].raw].type
      let (n, c) = (pos.shape[1], pos.shape[2])
      let kv = nodes[node.operands[5 + 2 * a.variants].raw].type.shape[0]
      let perVariant = n * c * image.shape[0] * a.kernel[0] * a.kernel[1] + n * kv * c + 2 * node.type.count
      return 2 * b * a.variants * perVariant
    case .matmul:
      let a = nodes[node.operands[0].raw].type
      return 2 * out * a.shape[a.rank - 1]
    case .sdpa:
      let q = nodes[node.operands[0].raw].type, k = nodes[node.operands[1].raw].type
      return 2 * 2 * b * q.shape[0] * k.shape[0] * q.shape[1]  // scores + weighted sum
    case .training(.sdpaGrad):
      // Scores recomputed, then dP, dV, dQ and dK: five products of the forward's size each.
      let q = nodes[node.operands[0].raw].type, k = nodes[node.operands[1].raw].type
      return 5 * 2 * b * q.shape[0] * k.shape[0] * q.shape[1]
    case .localAttention:
      let k = nodes[node.operands[1].raw].type
      return 2 * 2 * out * k.shape[0]
    case .training(.localAttentionGradQ), .training(.localAttentionGradKV):
      // Per location, head and variant: the score and dP recomputed, then dq (3 products of D),
      // or dk and dv (4).
      let (q, k) = (nodes[node.operands[0].raw].type, nodes[node.operands[1].raw].type)
      let products = if case .training(.localAttentionGradQ) = node.op { 3 } else { 4 }
      return products * 2 * q.count * b * k.shape[0]
    case .training(.conv2dGradInput(let a, _, _)):
      let dy = nodes[node.operands[0].raw].type
      return 2 * dy.count * b * (node.type.shape[0] / a.groups) * a.kernel[0] * a.kernel[1]
    case .training(.conv2dGradWeight):
      let dy = nodes[node.operands[0].raw].type
      let rows = dy.count / dy.shape[0] * (dy.batched ? batch : 1)
      return 2 * rows * node.type.count
    case .training(.tokenDWConvGradInput(let a)):
      let dy = nodes[node.operands[0].raw].type
      return 2 * dy.count * b * a.kernel[0] * a.kernel[1]
    case .training(.tokenDWConvGradWeight(let a)):
      let dy = nodes[node.operands[0].raw].type
      return 2 * dy.count * (dy.batched ? batch : 1) * a.kernel[0] * a.kernel[1]
    case .training(.matmulPermuted(let pa, _, _)):
      let a = nodes[node.operands[0].raw].type
      return 2 * out * a.shape[pa[a.rank - 1]]
    case .training(.linearGradWeight):
      let dy = nodes[node.operands[0].raw].type
      let rows = dy.count / (dy.shape.last ?? 1) * (dy.batched ? batch : 1)
      return 2 * rows * node.type.count
    default:
      return 0
    }
  }

  /// FLOPs of one forward pass over the whole batch.
  public var forwardFlops: Int { nodes.reduce(0) { $0 + flops(of: $1) } }

  public var parameterCount: Int { parameters.reduce(0) { $0 + $1.count } }
}
