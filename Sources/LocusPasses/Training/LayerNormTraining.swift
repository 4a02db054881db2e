import LocusIR

/// `layernorm-training` (training graphs, after `products`; flag `epilogue`): lowering put an
/// affine LayerNorm into the forward as normalize(x)·w + b so that every rule had what it needs;
/// where x̂ = normalize(x) is read only by that affine part and by the weight's gradient, this puts
/// the LayerNorm back together and takes both parameter gradients from x:
/// - `mul_add(x̂, w, b)` → `layernorm(x, w, b)`: one forward pass, x̂ never written;
/// - `reduce_sum(dy, x̂)` → row 0 of `normalize_param_grad(x, dy)`, and `reduce_sum(dy)` with the
///   same axes (the bias gradient) → its row 1: one backward pass over x and dy for both.
/// The input gradient already reads x (`normalize_grad`). Where x̂ has any other reader it is kept.
/// sag_tiny_cifar's first LayerNorm sees [B, 18, 1024, 192]: x̂ was 226 MB at batch 16, written
/// once and read twice, and the bias gradient read dy once more.
@Sendable func fuseLayerNormTraining(_ g: Graph, _ notes: inout [FusionNote]) throws -> Graph {
  var readers: [ValueID: [Node]] = [:]
  for node in g.nodes { for o in Set(node.operands) { readers[o, default: []].append(node) } }
  let outputs = Set(g.outputs.map(\.value))

  /// Whether a sum over `axes` and the batch leaves only the channels of a rank-`rank` value.
  func everyRow(_ axes: [Int], rank: Int) -> Bool { axes.sorted() == Array(0..<(rank - 1)) }

  /// The weight-gradient sum `reduce_sum(dy, x̂)` over every row, as dy.
  func weightSum(_ node: Node, of xhat: ValueID) -> ValueID? {
    guard case .training(.reduceSum(let axes, batch: true)) = node.op, node.operands.count == 2,
      everyRow(axes, rank: g[xhat].type.rank) else { return nil }
    let (a, b) = (node.operands[0], node.operands[1])
    let dy = a == xhat ? b : b == xhat ? a : nil
    return dy.flatMap { g[$0].type == g[xhat].type ? $0 : nil }
  }

  // The normalize nodes to reassemble (every reader is the one affine part or a weight sum), and
  // what each of their readers becomes.
  var fused: [ValueID: (x: ValueID, eps: Float)] = [:]  // x̂ → its input
  var affine: [ValueID: ValueID] = [:]  // mul_add node → the x̂ it reads
  var weightSums: [ValueID: (xhat: ValueID, dy: ValueID)] = [:]  // reduce_sum(dy, x̂) node → its x̂ and dy
  var gradient: [ValueID: ValueID] = [:]  // dy → x̂ whose weight sum reads it
  for node in g.nodes {
    guard case .training(.normalize(let eps)) = node.op, !outputs.contains(node.id) else { continue }
    let users = readers[node.id] ?? [], c = TensorType([node.type.shape.last ?? 1], batched: false)
    let parts = users.filter { u in
      guard case .training(.mulAdd) = u.op, u.operands.filter({ $0 == node.id }).count == 1 else { return false }
      return u.operands.allSatisfy { $0 == node.id || g[$0].type == c } && u.operands[2] != node.id
    }
    let sums = users.compactMap { u in weightSum(u, of: node.id).map { (u.id, $0) } }
    guard parts.count == 1, parts.count + sums.count == users.count else { continue }
    fused[node.id] = (node.operands[0], eps)
    affine[parts[0].id] = node.id
    for (sum, dy) in sums {
      weightSums[sum] = (node.id, dy)
      gradient[dy] = node.id
    }
  }

  var r = Rewriter(g)
  var paramGrads: [ValueID: ValueID] = [:]  // dy → the new normalize_param_grad
  func sums(_ dy: ValueID, _ xhat: ValueID, like node: Node) throws -> ValueID {
    if let pg = paramGrads[dy] { return pg }
    let (x, eps) = fused[xhat]!
    let pg = try r.add(.training(.normalizeParamGrad(eps: eps)), [r.operand(x), r.operand(dy)], like: node)
    paramGrads[dy] = pg
    notes.append(FusionNote(pass: "layernorm-training", scope: node.scope, what: "weight and bias gradients in one pass from x"))
    return pg
  }
  for node in g.nodes {
    if let xhat = affine[node.id] {
      let w = node.operands[0] == xhat ? node.operands[1] : node.operands[0]
      let (x, eps) = fused[xhat]!
      r.map[node.id] = try r.add(.layernorm(eps: eps), [x, w, node.operands[2]].map(r.operand), like: node)
      notes.append(FusionNote(pass: "layernorm-training", scope: node.scope, what: "layernorm in one pass (x̂ not stored)"))
    } else if let (xhat, dy) = weightSums[node.id] {
      r.map[node.id] = try r.add(.index(axis: 0, at: 0), [try sums(dy, xhat, like: node)], like: node)
    } else if case .training(.reduceSum(let axes, batch: true)) = node.op, node.operands.count == 1,
      let xhat = gradient[node.operands[0]], everyRow(axes, rank: g[xhat].type.rank) {
      // The bias gradient: Σ dy over the same rows.
      r.map[node.id] = try r.add(.index(axis: 0, at: 1), [try sums(node.operands[0], xhat, like: node)], like: node)
    } else {
      r.copy(node)
    }
  }
  return eliminateDeadCode(r.finish())
}
