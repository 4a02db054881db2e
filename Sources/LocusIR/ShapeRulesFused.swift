/// Shape rules of the fused ops the passes create (DESIGN.md §6).
extension Op {
  func fusedLinearType(_ a: FusedLinearAttrs, _ ops: [TensorType]) throws(ShapeError) -> TensorType {
    var y = try linearType(a.hasBias, Array(ops.prefix(a.hasBias ? 3 : 2)))
    if let i = a.scaleOperand {
      let k = ops[0].shape.last ?? 1
      guard ops[i].shape == [k] else {
        throw ShapeError("fused_linear input scale \(ops[i]) must be one value per input channel, [\(k)]")
      }
      y.batched = y.batched || ops[i].batched
    }
    guard a.hasResidual else { return y }
    let r = ops[ops.count - 1]
    guard r.shape == y.shape else {
      throw ShapeError("fused_linear residual \(r) does not match its result \(y)")
    }
    return TensorType(y.shape, batched: y.batched || r.batched)
  }

  func tokenDWConvType(_ a: TokenConvAttrs, _ ops: [TensorType]) throws(ShapeError) -> TensorType {
    let x = ops[0]
    try expectRank(x, 2, "token_dwconv", "tokens [N, C]")
    guard x.shape[0] == a.height * a.width else {
      throw ShapeError("token_dwconv reads \(x) as a \(a.height)×\(a.width) image, which needs \(a.height * a.width) tokens")
    }
    let c = x.shape[1]
    try expectShape(ops[1], [c, 1, a.kernel[0], a.kernel[1]], "token_dwconv weight")
    if a.hasBias { try expectShape(ops[2], [c], "token_dwconv bias") }
    guard a.outHeight >= 1, a.outWidth >= 1, a.stride.allSatisfy({ $0 >= 1 }) else {
      throw ShapeError("token_dwconv kernel \(a.kernel) does not fit the \(a.height)×\(a.width) image")
    }
    return TensorType([a.outHeight * a.outWidth, c], batched: x.batched)
  }

  func shiftedAttentionType(_ a: ShiftedAttentionAttrs, _ ops: [TensorType]) throws(ShapeError) -> TensorType {
    let image = ops[0], q = ops[1]
    try expectRank(image, 3, "shifted_local_attention image", "[C, H, W]")
    try expectRank(q, 2, "shifted_local_attention query", "tokens [N, C]")
    let t = a.variants
    let pos = ops[2 + 2 * t], wkv = ops[5 + 2 * t]
    guard pos.rank == 3, pos.shape[0] == t, pos.shape[1] == q.shape[0] else {
      throw ShapeError("shifted_local_attention positions \(pos) must be [\(t), \(q.shape[0]), C]")
    }
    let c = pos.shape[2]
    for i in 0..<t {
      try expectShape(ops[2 + 2 * i], [c, image.shape[0], a.kernel[0], a.kernel[1]], "variant \(i) conv weight")
      try expectShape(ops[3 + 2 * i], [c], "variant \(i) conv bias")
    }
    try expectShape(ops[3 + 2 * t], [c], "layernorm weight")
    try expectShape(ops[4 + 2 * t], [c], "layernorm bias")
    guard a.heads >= 1, a.kvHeads >= 1, q.shape[1] % a.heads == 0, a.heads % a.kvHeads == 0 else {
      throw ShapeError("shifted_local_attention heads \(a.heads)/\(a.kvHeads) do not divide the query \(q)")
    }
    let kvWidth = 2 * a.kvHeads * (q.shape[1] / a.heads)
    try expectShape(wkv, [kvWidth, c], "K/V weight")
    try expectShape(ops[6 + 2 * t], [kvWidth], "K/V bias")
    return TensorType(q.shape, batched: image.batched || q.batched)
  }
}
