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
    guard graph.outputs.count == 1, let logits = graph.outputs.first, graph[logits.value].type.rank == 1 else {
      throw AutodiffError(message: "training needs a model with one output of logits [classes]; \(graph.name) has outputs \(graph.outputs.map { "\($0.name) \(graph[$0.value].type)" }.joined(separator: ", "))")
    }
    var statistics: [RunningStatistics] = []
    var g = try lowerForTraining(eliminateDeadCode(graph), statistics: &statistics)
    g = try Pipeline.run(g, passes: Pipeline.beforeDifferentiation, options: options)
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
      guard let dy = adjoint[node.id] else { continue }
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
