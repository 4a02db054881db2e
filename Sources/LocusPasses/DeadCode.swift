import LocusIR

/// Removes nodes no output depends on. After `sink-row-selection` this removes the last
/// LocalViT/CeiT feed-forward, which cannot reach the logits (ARCH_NOTES §1, §2). Parameters stay
/// in the table: weights files still carry them.
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
