import LocusIR

/// `batchnorm-activation` (a train-mode forward, before differentiation; flag `bn-fold`, the
/// training side of BatchNorm folding): each BatchNorm over tokens becomes one
/// `batch_norm_act(x, statistics, w, b)`, which normalises with the batch statistics computed once
/// (`batch_statistics`: the running statistics' `batch_moments` plus the mean's rounding error)
/// and applies the activation that is its only reader. Its gradient
/// rule gives two kernels, the parameter sums and then the input gradient, both recomputing the
/// pre-activation from x. Per BatchNorm → activation pair that is 8 passes over the tensor
/// instead of 16: one statistics pass in the forward instead of two, the activation and its
/// gradient in the same passes, and no pre-activation tensor kept from the forward to the backward.
/// Channels-first BatchNorm (a convolutional stem) keeps the separate ops.
@Sendable func fuseBatchNormActivations(_ g: Graph, _ notes: inout [FusionNote]) throws -> Graph {
  var r = Rewriter(g)
  var moments: [ValueID: ValueID] = [:]  // old x → the new batch_statistics of it
  var fused: [ValueID: ValueID] = [:]    // old activation → the new batch_norm_act standing for it
  for node in g.nodes {
    if let y = fused[node.id] {
      try r.replace(node, by: y)
      continue
    }
    switch node.op {
    case .training(.batchMoments(channelsLast: true)):
      // The statistics with the mean's rounding error; the moments are their first two rows.
      let stats = try r.add(.training(.batchStatistics), [r.operand(node.operands[0])], like: node)
      try r.replace(node, by: try r.add(.slice(axis: 0, start: 0, length: 2), [stats], like: node))
      moments[node.operands[0]] = stats
    case .training(.batchNormalize(let eps, channelsLast: true)):
      guard let m = moments[node.operands[0]] else {  // lowerForTraining puts the moments first
        r.copy(node)
        continue
      }
      var act = UnaryOp.identity, result = node
      if let reader = r.soleUser(of: node.id), case .unary(let f) = reader.op, epilogueActivations.contains(f) {
        (act, result) = (f, reader)
      }
      let y = try r.add(.training(.batchNormAct(eps: eps, act: act)),
                        [r.operand(node.operands[0]), m, r.operand(node.operands[1]), r.operand(node.operands[2])], like: node)
      if result.id == node.id {
        try r.replace(node, by: y)
      } else {
        fused[result.id] = y
      }
      let what = act == .identity ? "" : " and \(act.rawValue)"
      notes.append(FusionNote(pass: "batchnorm-activation", scope: node.scope,
                              what: "batch_normalize\(what) in one pass from the batch moments"))
    default:
      r.copy(node)
    }
  }
  return eliminateDeadCode(r.finish())
}
