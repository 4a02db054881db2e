import LocusIR
import LocusSpec

/// The graph under construction, plus what elaboration tracks beside it: the current parameter
/// scope (`blocks.3.attn`), the parameters created so far, and the model's default initialisers.
struct Builder {
  var graph: Graph
  /// Segments of the parameter scope, innermost last.
  var scope: [String] = []
  /// The node of each parameter already created, by full name (a second use shares it).
  var parameterNodes: [String: ValueID] = [:]
  /// Default weight initialisers per primitive kind (`init linear: …`): "linear", "conv2d", "param".
  var initDefaults: [String: Initializer] = [:]
  /// Elaborating the train-mode graph (`drop_path` is live).
  var training = false
  /// `drop_path` calls that made a mask input so far: the next one's index.
  var dropPaths = 0

  init(name: String, batch: Int) {
    graph = Graph(name: name, batch: batch)
  }

  var scopeName: String { scope.joined(separator: ".") }

  func fullName(_ leaf: String) -> String { scope.isEmpty ? leaf : scopeName + "." + leaf }

  /// The parameter `leaf` under the current scope, created on first use. A later use of the same
  /// name must ask for the same shape: that is how one LayerNorm serves a whole SAG stage.
  mutating func parameter(
    _ leaf: String, shape: [Int], role: ParameterRole, initializer: Initializer, at range: SourceRange
  ) throws(ElaborationError) -> ValueID {
    let name = fullName(leaf)
    if let node = parameterNodes[name] {
      let existing = graph[node].type.shape
      guard existing == shape else {
        throw ElaborationError(
          "parameter '\(name)' already exists with shape \(existing); here it would need \(shape)", at: range,
          hint: "parameters are identified by their scoped name: give this one another scope with '@name'")
      }
      return node
    }
    guard shape.allSatisfy({ $0 >= 1 }), checkedCount(shape) != nil else {
      throw ElaborationError("parameter '\(name)' would have shape \(shape); every size must be at least 1, and the total reasonable", at: range)
    }
    graph.parameters.append(Parameter(name: name, shape: shape, role: role, initializer: initializer))
    let node = graph.append(.parameter(name: name), [], type: LocusIR.TensorType(shape, batched: false), scope: scopeName, origin: "\(range.start)")
    parameterNodes[name] = node
    return node
  }

  /// Adds an operation, turning a shape error into a diagnostic at the call.
  mutating func add(_ op: Op, _ operands: [ValueID], at range: SourceRange) throws(ElaborationError) -> ValueID {
    do {
      return try graph.add(op, operands, scope: scopeName, origin: "\(range.start)")
    } catch {
      throw ElaborationError(error.message, at: range, hint: error.hint)
    }
  }

  func type(_ v: ValueID) -> LocusIR.TensorType { graph[v].type }

  /// The weight initialiser for a primitive kind: the model's default, else PyTorch's.
  func weightInit(_ kind: String, fanIn: Int) -> Initializer {
    initDefaults[kind] ?? .kaimingUniform(fanIn: fanIn)
  }

  /// PyTorch draws biases from U(±1/√fan_in) when the weight has its default init; models that
  /// override the weight init (timm, SAG) zero the biases.
  func biasInit(_ kind: String, fanIn: Int) -> Initializer {
    initDefaults[kind] == nil ? .kaimingUniform(fanIn: fanIn) : .zeros
  }
}
