import LocusIR

/// A fusion pass built a node whose type differs from the value it replaces: a compiler bug.
struct RewriteError: Error, CustomStringConvertible {
  var description: String
  init(_ description: String) { self.description = description }
}

extension Rewriter {
  /// Inference BatchNorm as a per-channel affine y = x·s + t, from the parameters of `node` (old
  /// ids): s = γ · rsqrt(σ² + ε), t = β − μ·s. Both [C], unbatched: `prepare` computes them once.
  mutating func batchNormAffine(_ node: Node) throws -> (scale: ValueID, shift: ValueID) {
    guard case .batchnorm(let eps) = node.op else { throw RewriteError("\(node.id) is not a batchnorm") }
    let (gamma, beta, mean, variance) = (operand(node.operands[1]), operand(node.operands[2]),
                                         operand(node.operands[3]), operand(node.operands[4]))
    let shifted = try add(.scalar(.add, eps, scalarFirst: false), [variance], like: node)
    let scale = try add(.binary(.mul), [gamma, add(.unary(.rsqrt), [shifted], like: node)], like: node)
    let shift = try add(.binary(.sub), [beta, add(.binary(.mul), [mean, scale], like: node)], like: node)
    return (scale, shift)
  }

  /// Replaces old `node` by `value`, which must have the same type.
  mutating func replace(_ node: Node, by value: ValueID) throws {
    guard new[value].type == node.type else {
      throw RewriteError("\(node.id) \(node.op.mnemonic) \(node.type) would be replaced by \(new[value].op.mnemonic) \(new[value].type)")
    }
    map[node.id] = value
  }
}
