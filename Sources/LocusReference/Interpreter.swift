import LocusIR

/// Why the reference refused to run. Argument problems are the caller's; `rejected`, `typeMismatch`
/// and `batchedOperand` mean the IR handed over is inconsistent.
public indirect enum ReferenceError: Error, Hashable, Sendable, CustomStringConvertible {
  /// Missing, unknown or wrongly shaped parameters and inputs, all of them, one line each.
  case invalidArguments([String])
  case operandCount(op: String, expected: Int, got: Int)
  case operandShape(op: String, operand: Int, expected: [Int], got: [Int])
  /// The op's shape rule rejects the operand types.
  case rejected(op: String, reason: String)
  /// The declared result type differs from what the shape rule infers.
  case typeMismatch(op: String, declared: TensorType, inferred: TensorType)
  /// A batched operand feeds an unbatched result: the per-sample values cannot be kept apart.
  case batchedOperand(op: String, operand: Int)
  case unsupported(op: String, reason: String)
  /// An error while evaluating one node of a graph.
  case atNode(ValueID, op: String, scope: String, origin: String, ReferenceError)

  public var description: String {
    switch self {
    case .invalidArguments(let problems):
      "invalid arguments:\n" + problems.map { "  - \($0)" }.joined(separator: "\n")
    case .operandCount(let op, let expected, let got): "\(op) takes \(expected) operands, got \(got)"
    case .operandShape(let op, let i, let expected, let got):
      "\(op) operand \(i + 1) has shape \(got), its type says \(expected) (batch axis included)"
    case .rejected(let op, let reason): "\(op): \(reason)"
    case .typeMismatch(let op, let declared, let inferred): "\(op) declares result \(declared), its operands give \(inferred)"
    case .batchedOperand(let op, let i): "\(op) operand \(i + 1) is batched but the result type is not"
    case .unsupported(let op, let reason): "\(op) is not supported by the reference: \(reason)"
    case .atNode(let id, let op, let scope, let origin, let error):
      "\(id) = \(op)" + (scope.isEmpty ? "" : " in \(scope)") + (origin.isEmpty ? "" : " (\(origin))") + ": \(error)"
    }
  }
}

/// Runs IR graphs and single ops on `Tensor`s, one naive loop nest per op.
public enum Interpreter {
  /// The graph's outputs by name. `parameters` is keyed by state-dict name and `inputs` by input
  /// name; their shapes must match the graph (inputs include the batch axis `graph.batch`).
  public static func run(graph: Graph, parameters: [String: Tensor], inputs: [String: Tensor]) throws(ReferenceError) -> [String: Tensor] {
    let values = try evaluate(graph: graph, parameters: parameters, inputs: inputs)
    var outputs: [String: Tensor] = [:]
    for (name, value) in graph.outputs {
      guard outputs[name] == nil else { throw .rejected(op: "output", reason: "the graph names two outputs '\(name)'") }
      guard let tensor = values[value] else { throw .rejected(op: "output", reason: "'\(name)' refers to missing \(value)") }
      outputs[name] = tensor
    }
    return outputs
  }

  /// The value of every node, for per-node comparisons against kernels.
  public static func evaluate(graph: Graph, parameters: [String: Tensor], inputs: [String: Tensor]) throws(ReferenceError) -> [ValueID: Tensor] {
    try validate(graph: graph, parameters: parameters, inputs: inputs)
    var values: [ValueID: Tensor] = [:]
    for node in graph.nodes {
      switch node.op {
      case .input(let name): values[node.id] = inputs[name]
      case .parameter(let name): values[node.id] = parameters[name]
      default:
        let context = { (e: ReferenceError) in
          ReferenceError.atNode(node.id, op: node.op.mnemonic, scope: node.scope, origin: node.origin, e)
        }
        guard node.operands.allSatisfy({ $0 < node.id && $0.raw >= 0 }) else {
          throw context(.rejected(op: node.op.mnemonic, reason: "an operand does not precede the node"))
        }
        do {
          values[node.id] = try apply(
            op: node.op, operands: node.operands.map { values[$0]! }, operandTypes: node.operands.map { graph[$0].type },
            batch: graph.batch, resultType: node.type)
        } catch {
          throw context(error)
        }
      }
    }
    return values
  }

  /// Every missing, unknown or wrongly shaped parameter and input, reported together.
  static func validate(graph: Graph, parameters: [String: Tensor], inputs: [String: Tensor]) throws(ReferenceError) {
    var problems: [String] = []
    var inputNames: Set<String> = [], nodeParameterNames: Set<String> = []
    for node in graph.nodes {
      switch node.op {
      case .input(let name):
        guard inputNames.insert(name).inserted else { break }
        let expected = node.type.fullShape(batch: graph.batch)
        if let given = inputs[name] {
          if given.shape != expected { problems.append("input '\(name)' has shape \(given.shape), expected \(expected) (batch \(graph.batch) first)") }
        } else {
          problems.append("input '\(name)' \(expected) is missing")
        }
      case .parameter(let name):
        guard nodeParameterNames.insert(name).inserted else { break }
        let expected = node.type.fullShape(batch: graph.batch)
        if let given = parameters[name] {
          if given.shape != expected { problems.append("parameter '\(name)' has shape \(given.shape), expected \(expected)") }
        } else {
          problems.append("parameter '\(name)' \(expected) is missing")
        }
      default: break
      }
    }
    for declared in graph.parameters where !nodeParameterNames.contains(declared.name) {
      if let given = parameters[declared.name], given.shape != declared.shape {
        problems.append("parameter '\(declared.name)' has shape \(given.shape), the graph declares \(declared.shape)")
      }
    }
    let known = nodeParameterNames.union(graph.parameters.map(\.name)).union(graph.ignoredStateKeys)
    for name in parameters.keys.sorted() where !known.contains(name) {
      problems.append("parameter '\(name)' is not a parameter of graph '\(graph.name)'")
    }
    for name in inputs.keys.sorted() where !inputNames.contains(name) {
      problems.append("input '\(name)' is not an input of graph '\(graph.name)' (inputs: \(inputNames.sorted()))")
    }
    if !problems.isEmpty { throw .invalidArguments(problems) }
  }

  /// Applies one op. `operands` carry full shapes (batch axis first where `operandTypes` say
  /// batched); `resultType` must be what the op's shape rule infers.
  public static func apply(op: Op, operands: [Tensor], operandTypes: [TensorType], batch: Int, resultType: TensorType) throws(ReferenceError) -> Tensor {
    let name = op.mnemonic
    guard batch >= 1 else { throw .unsupported(op: name, reason: "batch \(batch) must be at least 1") }
    guard operands.count == operandTypes.count else {
      throw .operandCount(op: name, expected: operandTypes.count, got: operands.count)
    }
    for (i, (tensor, type)) in zip(operands, operandTypes).enumerated() where tensor.shape != type.fullShape(batch: batch) {
      throw .operandShape(op: name, operand: i, expected: type.fullShape(batch: batch), got: tensor.shape)
    }
    if let other = (operandTypes + [resultType]).first(where: { $0.dtype != .f32 }) {
      throw .unsupported(op: name, reason: "only f32 values are computed, got \(other)")
    }
    let inferred: TensorType
    do { inferred = try op.inferType(operandTypes) } catch { throw .rejected(op: name, reason: error.message) }
    guard inferred == resultType else { throw .typeMismatch(op: name, declared: resultType, inferred: inferred) }
    if !resultType.batched, !op.reducesBatch, let i = operandTypes.firstIndex(where: \.batched) { throw .batchedOperand(op: name, operand: i) }

    let result = try compute(op, operands, operandTypes, batch: batch, result: resultType)
    precondition(result.shape == resultType.fullShape(batch: batch), "reference \(name) produced \(result.shape) for \(resultType)")
    return result
  }

  /// Runs a per-sample kernel once per sample of the batch (once in all for an unbatched result).
  /// Batched operands are passed one sample at a time, unbatched ones whole: how they broadcast.
  static func perSample(_ operands: [Tensor], _ types: [TensorType], batch: Int, batched: Bool, _ kernel: ([Tensor]) -> Tensor) -> Tensor {
    guard batched else { return kernel(operands) }
    return Tensor.batch((0..<batch).map { b in kernel(zip(operands, types).map { $1.batched ? $0.sample(b) : $0 }) })
  }
}
