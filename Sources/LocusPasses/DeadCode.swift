import LocusIR

/// Removes nodes no output depends on. In LocalViT and CeiT the last block's convolutional
/// feed-forward cannot reach the logits (the class token bypasses it; ARCH_NOTES §1, §2), so this
/// pass removes that whole branch. Parameters stay in the table: weights files still carry them.
@Sendable public func eliminateDeadCode(_ graph: Graph) -> Graph {
  var live = Set(graph.outputs.map(\.value))
  for node in graph.nodes.reversed() where live.contains(node.id) {
    live.formUnion(node.operands)
  }
  // Inputs are part of the interface even when unused.
  return graph.filtered { node in
    if case .input = node.op { return true }
    return live.contains(node.id)
  }
}
