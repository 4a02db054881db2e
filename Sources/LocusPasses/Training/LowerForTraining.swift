import LocusIR

/// What a training graph computes besides the loss and the gradients: the batch statistics each
/// train-mode BatchNorm feeds into its running statistics (momentum update done by the caller).
public struct RunningStatistics: Hashable, Sendable {
  /// The graph output holding [2, C]: batch mean, then unbiased batch variance.
  public var output: String
  public var mean: String
  public var variance: String
  public init(output: String, mean: String, variance: String) {
    self.output = output
    self.mean = mean
    self.variance = variance
  }
}

/// Rewrites an inference graph into its train-mode forward (DESIGN.md §7):
/// - `batchnorm` uses the batch's statistics: batch_normalize(x, w, b), and its batch moments
///   become an output for the running-statistics update;
/// - `layernorm` becomes normalize(x)·w + b, so the affine part needs no rule of its own;
/// - self-attention (`sdpa` with as many queries as keys) stays: its rule is one `sdpa_grad`
///   kernel that recomputes the probabilities, so none are stored between the passes;
/// - `local_attention` stays too: its rule is two kernels (`local_attention_grad_q`, `_kv`) that
///   recompute the T weights per location;
/// - other `sdpa`s (CeiT's class-token attention) become matmul/softmax primitives that every
///   rule covers.
/// Ops with no train-mode form (the fused ops) are left for autodiff to reject by name.
func lowerForTraining(_ graph: Graph, statistics: inout [RunningStatistics]) throws -> Graph {
  var r = Rewriter(graph)
  for node in graph.nodes {
    let x = node.operands.first.map(r.operand)
    switch node.op {
    case .batchnorm(let eps):
      let affine = [r.operand(node.operands[1]), r.operand(node.operands[2])]
      // The moments first: `batchnorm-activation` normalises with them.
      let moments = try r.add(.training(.batchMoments(channelsLast: false)), [x!], like: node)
      r.map[node.id] = try r.add(.training(.batchNormalize(eps: eps, channelsLast: false)), [x!] + affine, like: node)
      let (mean, variance) = (parameterName(graph, node.operands[3]), parameterName(graph, node.operands[4]))
      let output = "running_stats:\(mean)"
      r.extraOutputs.append((output, moments))
      statistics.append(RunningStatistics(output: output, mean: mean, variance: variance))
    case .layernorm(let eps):
      let xhat = try r.add(.training(.normalize(eps: eps)), [x!], like: node)
      let scaled = try r.add(.binary(.mul), [xhat, r.operand(node.operands[1])], like: node)
      r.map[node.id] = try r.add(.binary(.add), [scaled, r.operand(node.operands[2])], like: node)
    case .sdpa where keepsSelfAttention(graph, node):
      r.copy(node)
    case .sdpa(let heads, let kvHeads):
      r.map[node.id] = try attention(&r, node, heads: heads, kvHeads: kvHeads)
    default:
      r.copy(node)
    }
  }
  return r.finish()
}

/// Self-attention over per-sample tokens, which `sdpa_grad` differentiates: as many queries as
/// keys, and q, k and v all batched (a learned, unbatched key or query set goes to the matmuls).
func keepsSelfAttention(_ graph: Graph, _ node: Node) -> Bool {
  let (q, k) = (graph[node.operands[0]].type, graph[node.operands[1]].type)
  return q.shape[0] == k.shape[0] && node.operands.allSatisfy { graph[$0].type.batched }
}

private func parameterName(_ graph: Graph, _ v: ValueID) -> String {
  if case .parameter(let name) = graph[v].op { return name }
  return "%\(v.raw)"
}

/// softmax(q·kᵀ·D^-½)·v with grouped heads, as matmuls over [groups of heads, …] so that query head
/// h = g·G + i reads kv head g (G = H/Hk query heads per kv head): q [Nq, H·D] → [Hk, G, Nq, D];
/// k, v [Nk, Hk·D] → [Hk, 1, Nk, D].
private func attention(_ r: inout Rewriter, _ node: Node, heads: Int, kvHeads: Int) throws -> ValueID {
  let (q, k, v) = (r.operand(node.operands[0]), r.operand(node.operands[1]), r.operand(node.operands[2]))
  let width = node.type.shape[1], d = width / heads, groups = heads / kvHeads
  func add(_ op: Op, _ xs: [ValueID]) throws -> ValueID { try r.add(op, xs, like: node) }
  let (nq, nk) = (node.type.shape[0], r.new[k].type.shape[0])
  let qh = try add(.transpose([1, 2, 0, 3]), [try add(.reshape([nq, kvHeads, groups, d]), [q])])   // [Hk, G, Nq, D]
  let kt = try add(.transpose([1, 2, 3, 0]), [try add(.reshape([nk, kvHeads, 1, d]), [k])])        // [Hk, 1, D, Nk]
  let vh = try add(.transpose([1, 2, 0, 3]), [try add(.reshape([nk, kvHeads, 1, d]), [v])])        // [Hk, 1, Nk, D]
  let scores = try add(.scalar(.mul, 1 / Float(d).squareRoot(), scalarFirst: false), [try add(.matmul, [qh, kt])])
  let out = try add(.matmul, [try add(.softmax(axis: -1), [scores]), vh])
  return try add(.reshape(node.type.shape), [try add(.transpose([2, 0, 1, 3]), [out])])   // [Nq, Hk, G, D]
}
