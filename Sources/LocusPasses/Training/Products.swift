import LocusIR

/// `products` (training graphs, after broadcast-operands; flag `epilogue`): an elementwise product
/// read only by a sum becomes part of that sum, so the product is never written out.
/// - `reduce_sum(mul(a, b))` → `reduce_sum(a, b)` when a and b both have the product's type: a
///   LayerNorm weight's gradient Σ dy ⊙ x̂, squeeze-excite's gate gradient Σ_tokens dz ⊙ x.
/// - `add(mul(a, b), c)` (either side) → `mul_add(a, b, c)` when the product already has the
///   sum's type (so c is what broadcasts): a LayerNorm's affine part x̂·w + b in the forward, and
///   squeeze-excite's input gradient dz·gate + the pooled gradient / n in the backward.
/// - `normalize_grad(x, mul(dy, w))` → `normalize_grad(x, dy, w)` with w the LayerNorm weight [C],
///   and then `add(that, r)` (either side, r of the sum's type) → `normalize_grad(x, dy, w, r)`:
///   an affine LayerNorm's input gradient and the residual branch's gradient it joins, in one pass.
/// - `add(base, zero_pad(x))` → `zero_pad(x, base)`: a slice's or an index's adjoint joining the
///   gradient of the whole (SAG's variant 0 inside all 18), which in place over base writes only
///   x's part instead of a padded copy and a full add.
/// Each saves a write and a read of the product (or of the sum's operand). sag_tiny_cifar's first
/// LayerNorm sees [B, 18, 1024, 192] (226 MB at batch 16), and these passes run at memory speed.
@Sendable func fuseProducts(_ g: Graph, _ notes: inout [FusionNote]) throws -> Graph {
  var r = Rewriter(g)
  /// The old product node `v`, when it is a `mul` that nothing else reads.
  func soleProduct(_ v: ValueID) -> Node? {
    let m = g[v]
    guard case .binary(.mul) = m.op, r.users[v] == 1 else { return nil }
    return m
  }
  /// dy and w when the product m is dy ⊙ w with w an unbatched [C] along dy's last axis.
  func scaledByChannel(_ m: Node) -> (ValueID, ValueID)? {
    for (a, b) in [(m.operands[0], m.operands[1]), (m.operands[1], m.operands[0])]
    where g[a].type == m.type && g[b].type == TensorType([m.type.shape.last ?? 0], batched: false) {
      return (a, b)
    }
    return nil
  }
  /// The old `zero_pad(x)` node `v`, when nothing else reads it.
  func solePadding(_ v: ValueID) -> Node? {
    guard case .training(.zeroPad) = g[v].op, g[v].operands.count == 1, r.users[v] == 1 else { return nil }
    return g[v]
  }
  /// The new (x, dy, w) normalize_grad that old value `v` became, when nothing else reads it.
  func affineNormGrad(_ v: ValueID) -> (Node, Float)? {
    guard r.users[v] == 1, case .training(.normalizeGrad) = g[v].op, let new = r.map[v] else { return nil }
    guard case .training(.normalizeGrad(let eps)) = r.new[new].op, r.new[new].operands.count == 3 else { return nil }
    return (r.new[new], eps)
  }
  for node in g.nodes {
    switch node.op {
    case .training(.reduceSum(let axes, let batch)) where node.operands.count == 1:
      guard let m = soleProduct(node.operands[0]), m.operands.allSatisfy({ g[$0].type == m.type }) else {
        r.copy(node)
        continue
      }
      try r.replace(node, by: try r.add(.training(.reduceSum(axes: axes, batch: batch)), m.operands.map(r.operand), like: node))
      notes.append(FusionNote(pass: "products", scope: node.scope, what: "reduce_sum reads the product's factors (no mul pass)"))
    case .training(.normalizeGrad(let eps)) where node.operands.count == 2:
      guard let m = soleProduct(node.operands[1]), let (dy, w) = scaledByChannel(m) else {
        r.copy(node)
        continue
      }
      try r.replace(node, by: try r.add(.training(.normalizeGrad(eps: eps)), [node.operands[0], dy, w].map(r.operand), like: node))
      notes.append(FusionNote(pass: "products", scope: node.scope, what: "normalize_grad reads dy and the LayerNorm weight (no mul pass)"))
    case .binary(.add):
      /// The side whose operand `match`es, with what it matched, when the other operand has the
      /// sum's type.
      func side<T>(_ match: (ValueID) -> T?) -> (Int, T)? {
        for i in 0..<2 where g[node.operands[1 - i]].type == node.type {
          if let m = match(node.operands[i]) { return (i, m) }
        }
        return nil
      }
      if let (i, pad) = side(solePadding) {
        try r.replace(node, by: try r.add(pad.op, [r.operand(pad.operands[0]), r.operand(node.operands[1 - i])], like: node))
        notes.append(FusionNote(pass: "products", scope: node.scope, what: "zero_pad then add as an add into the padded part"))
      } else if let (i, (fused, eps)) = side(affineNormGrad) {
        let operands = fused.operands + [r.operand(node.operands[1 - i])]
        try r.replace(node, by: try r.add(.training(.normalizeGrad(eps: eps)), operands, like: node))
        notes.append(FusionNote(pass: "products", scope: node.scope, what: "normalize_grad adds the residual gradient (no add pass)"))
      } else if let i = (0..<2).first(where: { soleProduct(node.operands[$0])?.type == node.type }) {
        let m = g[node.operands[i]]
        let operands = m.operands.map(r.operand) + [r.operand(node.operands[1 - i])]
        try r.replace(node, by: try r.add(.training(.mulAdd), operands, like: node))
        notes.append(FusionNote(pass: "products", scope: node.scope, what: "mul then add as one mul_add"))
      } else {
        r.copy(node)
      }
    default:
      r.copy(node)
    }
  }
  return eliminateDeadCode(r.finish())
}
