import LocusIR

/// Why a graph cannot be differentiated: names the op and where it came from.
public struct AutodiffError: Error, CustomStringConvertible {
  public var message: String
  public var description: String { message }
}

/// The training form of a model: its train-mode forward, the loss, and the backward pass, as one
/// graph (DESIGN.md §7). Outputs: `loss` first, then `grad:<parameter>` for every trainable
/// parameter the loss depends on (declaration order), then the BatchNorm batch statistics.
public struct TrainingGraph: Sendable {
  public var graph: Graph
  /// Trainable parameters with a gradient output; the others get a zero gradient.
  public var gradients: [String]
  public var runningStatistics: [RunningStatistics]
  public static let lossOutput = "loss"
  public static let targetsInput = "targets"
  public static func gradientOutput(_ parameter: String) -> String { "grad:\(parameter)" }
}

public enum Autodiff {
  /// Builds the training graph of an inference graph with one output, the logits [classes]: the
  /// loss is softmax cross-entropy against an input `targets` [classes] of soft labels (label
  /// smoothing is applied by whoever makes the targets), averaged over the batch. The train-mode
  /// forward goes through `Pipeline.beforeDifferentiation` as `options` allow.
  public static func trainingGraph(_ graph: Graph, options: FusionOptions = FusionOptions()) throws -> TrainingGraph {
    var notes: [FusionNote] = []
    return try trainingGraph(graph, options: options, notes: &notes)
  }

  /// As `trainingGraph(_:options:)`, collecting the fusions of `Pipeline.beforeDifferentiation` into
  /// `notes`; `observe` sees the graph after each of those passes (for `--dump-ir`).
  public static func trainingGraph(_ graph: Graph, options: FusionOptions, notes: inout [FusionNote],
                                   observe: (String, Graph) -> Void = { _, _ in }) throws -> TrainingGraph {
    guard graph.outputs.count == 1, let logits = graph.outputs.first, graph[logits.value].type.rank == 1 else {
      throw AutodiffError(message: "training needs a model with one output of logits [classes]; \(graph.name) has outputs \(graph.outputs.map { "\($0.name) \(graph[$0.value].type)" }.joined(separator: ", "))")
    }
    var statistics: [RunningStatistics] = []
    var g = try lowerForTraining(eliminateDeadCode(graph), statistics: &statistics)
    g = try Pipeline.run(g, passes: Pipeline.beforeDifferentiation, options: options, notes: &notes, observe: observe)
    let z = g.outputs[0].value
    let targets = g.append(.input(name: TrainingGraph.targetsInput), [], type: g[z].type, scope: "", origin: "loss")
    let loss = try g.add(.training(.crossEntropy), [z, targets], scope: "", origin: "loss")
    let stats = g.outputs.dropFirst()
    var differentiator = Differentiator(graph: g)
    let grads = try differentiator.backward(from: loss)
    g = differentiator.graph
    g.outputs = [(TrainingGraph.lossOutput, loss)]
    var names: [String] = []
    var nodeOf: [String: ValueID] = [:]
    for node in g.nodes { if case .parameter(let name) = node.op { nodeOf[name] = node.id } }
    for p in g.parameters where p.role.isTrainable {
      guard let grad = nodeOf[p.name].flatMap({ grads[$0] }) else { continue }
      g.outputs.append((TrainingGraph.gradientOutput(p.name), grad))
      names.append(p.name)
    }
    g.outputs += stats
    g.training = true
    return TrainingGraph(graph: eliminateDeadCode(g), gradients: names, runningStatistics: statistics)
  }
}

extension ParameterRole {
  /// Running statistics are buffers, updated from batch moments, never by the optimizer.
  public var isTrainable: Bool { self != .runningMean && self != .runningVar }
}

/// Reverse-mode differentiation over a graph in topological order: walks the nodes backwards,
/// asks each node's rule for its operands' gradients, and sums the contributions a value
/// receives from all its readers.
struct Differentiator {
  var graph: Graph
  /// Value → its gradient (a value of the same type), once some reader contributed one.
  var adjoint: [ValueID: ValueID] = [:]
  /// Values whose gradient is wanted: trainable parameters and everything computed from them.
  var needed: Set<ValueID> = []
  /// Values read only by `slice`s along one axis that tile them exactly (a fused qkv projection
  /// split into q, k and v): their gradient is the concat of the slices' gradients, one copy,
  /// instead of a sum of zero-padded ones. Slices in order of their start.
  var tiled: [ValueID: (axis: Int, slices: [ValueID])] = [:]
  /// The gradient of each slice of a tiled value, once its readers have given it.
  var pieces: [ValueID: ValueID] = [:]

  init(graph: Graph) {
    self.graph = graph
    for node in graph.nodes {
      switch node.op {
      case .parameter(let name):
        if graph.parameter(named: name)?.role.isTrainable ?? false { needed.insert(node.id) }
      case .input:
        break
      default:
        if node.operands.contains(where: needed.contains) { needed.insert(node.id) }
      }
    }
    tiled = Self.tiledBySlices(graph)
  }

  /// The values whose every reader is a `slice` along the same axis, the slices covering the axis
  /// end to end without overlap.
  static func tiledBySlices(_ graph: Graph) -> [ValueID: (axis: Int, slices: [ValueID])] {
    var readers: [ValueID: [Node]] = [:]
    for node in graph.nodes { for v in Set(node.operands) { readers[v, default: []].append(node) } }
    var tiled: [ValueID: (axis: Int, slices: [ValueID])] = [:]
    for (v, nodes) in readers where nodes.count > 1 {
      let rank = graph[v].type.rank
      let cuts = nodes.compactMap { n -> (axis: Int, start: Int, length: Int, id: ValueID)? in
        guard case .slice(let axis, let start, let length) = n.op, let a = normalizeAxis(axis, rank: rank) else { return nil }
        return (a, start, length, n.id)
      }.sorted { $0.start < $1.start }
      guard cuts.count == nodes.count, let axis = cuts.first?.axis, cuts.allSatisfy({ $0.axis == axis }) else { continue }
      var end = 0
      for cut in cuts where cut.start == end { end += cut.length }
      guard end == graph[v].type.shape[axis], cuts.map(\.length).reduce(0, +) == end else { continue }
      tiled[v] = (axis, cuts.map(\.id))
    }
    return tiled
  }

  /// The gradients of the (scalar) `loss` with respect to every needed value it depends on.
  mutating func backward(from loss: ValueID) throws -> [ValueID: ValueID] {
    var seeded = false
    for index in stride(from: loss.raw, through: 0, by: -1) {
      let node = graph.nodes[index]
      guard needed.contains(node.id) else { continue }
      if node.id == loss {
        guard case .training(.crossEntropy) = node.op else {
          throw AutodiffError(message: "the loss must be a cross_entropy node, got '\(node.op.mnemonic)'")
        }
        let dz = try emit(.training(.crossEntropyGrad), node.operands, like: node)
        try accumulate(node.operands[0], dz)
        seeded = true
        continue
      }
      if let (axis, slices) = tiled[node.id] {
        if slices.allSatisfy({ pieces[$0] != nil }) {
          let parts = slices.map { pieces[$0]! }
          try accumulate(node.id, try tiledSource(of: parts, axis: axis, type: node.type) ?? emit(.concat(axis: axis), parts, like: node))
        } else {
          for slice in slices { if let piece = pieces[slice] { try accumulate(node.id, try zeroPadded(piece, slice)) } }
        }
      }
      guard let dy = adjoint[node.id] else { continue }
      if case .slice = node.op, let v = node.operands.first, tiled[v] != nil {
        pieces[node.id] = dy  // assembled when the walk reaches v, after all its slices
        continue
      }
      var rule = GradientRule(graph: graph, node: node, dy: dy)
      let contributions = try rule.apply(wanted: node.operands.map(needed.contains))
      graph = rule.graph
      for (operand, grad) in zip(node.operands, contributions) {
        if let grad, needed.contains(operand) { try accumulate(operand, grad) }
      }
    }
    precondition(seeded, "the loss node depends on no trainable parameter")
    return adjoint
  }

  /// The value `parts` tile in order along `axis`, when they are its slices end to end and it has
  /// `type`: their concat would copy it (sdpa_grad's [dq | dk | dv] for a fused qkv).
  private func tiledSource(of parts: [ValueID], axis: Int, type: TensorType) -> ValueID? {
    guard let first = parts.first, let source = graph[first].operands.first, graph[source].type == type else { return nil }
    var end = 0
    for part in parts {
      guard case .slice(let a, let start, let length) = graph[part].op, graph[part].operands == [source],
            normalizeAxis(a, rank: type.rank) == axis, start == end else { return nil }
      end += length
    }
    return end == type.shape[axis] ? source : nil
  }

  /// The gradient of `slice`'s operand from the slice's gradient alone (its rule).
  private mutating func zeroPadded(_ dy: ValueID, _ slice: ValueID) throws -> ValueID {
    var rule = GradientRule(graph: graph, node: graph[slice], dy: dy)
    let grads = try rule.apply(wanted: [true])
    graph = rule.graph
    return grads[0]!
  }

  private mutating func emit(_ op: Op, _ operands: [ValueID], like node: Node) throws -> ValueID {
    try graph.add(op, operands, scope: node.scope, origin: node.origin)
  }

  private mutating func accumulate(_ v: ValueID, _ grad: ValueID) throws {
    guard graph[grad].type == graph[v].type else {
      throw AutodiffError(message: "internal: gradient of \(v) has type \(graph[grad].type), expected \(graph[v].type) (op '\(graph[v].op.mnemonic)' at \(graph[v].origin))")
    }
    if let previous = adjoint[v] {
      adjoint[v] = try graph.add(.binary(.add), [previous, grad], scope: graph[v].scope, origin: graph[v].origin)
    } else {
      adjoint[v] = grad
    }
  }
}
