/// How `locus init` fills a parameter. Mirrors the official implementations' schemes (see the specs).
public enum Initializer: Hashable, Sendable {
  case zeros, ones
  case constant(Float)
  case normal(std: Float)
  /// timm's `trunc_normal_(std=…)`: cut at absolute ±2, which for small std is effectively no cut.
  case truncNormal(std: Float)
  case uniform(low: Float, high: Float)
  /// PyTorch's default for conv/linear weights and biases: U(±1/√fan_in).
  case kaimingUniform(fanIn: Int)
}

/// What a parameter is for: decides weight-decay and initialisation defaults downstream.
public enum ParameterRole: String, Hashable, Sendable {
  case weight, bias, norm, runningMean, runningVar, embedding
}

/// A named parameter tensor, keyed by its official `state_dict` name.
public struct Parameter: Hashable, Sendable {
  public var name: String
  public var shape: [Int]
  public var role: ParameterRole
  public var initializer: Initializer
  public init(name: String, shape: [Int], role: ParameterRole, initializer: Initializer) {
    self.name = name
    self.shape = shape
    self.role = role
    self.initializer = initializer
  }
  public var count: Int { shape.reduce(1, *) }
}

/// Identifies a node, and so its single result. Ids are dense: `graph.nodes[id.raw]`.
public struct ValueID: Hashable, Comparable, Sendable, CustomStringConvertible {
  public let raw: Int
  public init(_ raw: Int) { self.raw = raw }
  public static func < (a: ValueID, b: ValueID) -> Bool { a.raw < b.raw }
  public var description: String { "%\(raw)" }
}

public struct Node: Hashable, Sendable {
  public var id: ValueID
  public var op: Op
  public var operands: [ValueID]
  public var type: TensorType
  /// The parameter scope the node was created in (`blocks.3.attn`): names kernels and dumps.
  public var scope: String
  /// Where in the spec the node came from (`specs/x.locus:12:7`), for diagnostics and dumps.
  public var origin: String

  public init(id: ValueID, op: Op, operands: [ValueID], type: TensorType, scope: String = "", origin: String = "") {
    self.id = id
    self.op = op
    self.operands = operands
    self.type = type
    self.scope = scope
    self.origin = origin
  }
}

/// A model as a graph in topological order: every operand of a node precedes it.
public struct Graph: Hashable, Sendable {
  public var name: String
  public var batch: Int
  public private(set) var nodes: [Node] = []
  /// Every parameter the model declares, in declaration order — also those no output depends on,
  /// because a weights file carries them all.
  public var parameters: [Parameter] = []
  /// State-dict entries a weights file may carry that the model ignores (`num_batches_tracked`).
  public var ignoredStateKeys: [String] = []
  public var outputs: [(name: String, value: ValueID)] = []
  /// A training graph (DESIGN.md §7): its unbatched outputs (loss, gradients) are computed over the
  /// whole batch and keep their own shape, where an inference model repeats them per sample.
  public var training = false

  public init(name: String, batch: Int) {
    self.name = name
    self.batch = batch
  }

  public subscript(id: ValueID) -> Node { nodes[id.raw] }

  public var inputs: [Node] { nodes.filter { if case .input = $0.op { true } else { false } } }

  /// Appends a node after inferring its type from its operands.
  @discardableResult
  public mutating func add(_ op: Op, _ operands: [ValueID], scope: String = "", origin: String = "") throws(ShapeError) -> ValueID {
    let type = try op.inferType(operands.map { nodes[$0.raw].type })
    guard checkedCount(type.shape) != nil else {
      throw ShapeError("'\(op.mnemonic)' would produce \(type), more than \(maxElementsPerSample) elements per sample")
    }
    return append(op, operands, type: type, scope: scope, origin: origin)
  }

  /// Appends a node with a given type (inputs and parameters, whose types are declared).
  @discardableResult
  public mutating func append(_ op: Op, _ operands: [ValueID], type: TensorType, scope: String = "", origin: String = "") -> ValueID {
    let id = ValueID(nodes.count)
    nodes.append(Node(id: id, op: op, operands: operands, type: type, scope: scope, origin: origin))
    return id
  }

  public func parameter(named name: String) -> Parameter? { parameters.first { $0.name == name } }

  /// The full shape of output `v` in the C ABI: batch first, except a training graph's unbatched
  /// outputs.
  public func outputShape(_ v: ValueID) -> [Int] {
    let t = self[v].type
    return t.batched || !training ? [batch] + t.shape : t.shape
  }

  /// The same model with no nodes and no outputs: what a rewriting pass starts from.
  public func emptyCopy() -> Graph {
    var g = Graph(name: name, batch: batch)
    g.training = training
    g.parameters = parameters
    g.ignoredStateKeys = ignoredStateKeys
    return g
  }

  /// Rebuilds the graph keeping only `keep` nodes (in order), renumbering ids densely. Operands of
  /// kept nodes must be kept too.
  public func filtered(_ keep: (Node) -> Bool) -> Graph {
    var out = self
    out.nodes = []
    var map: [ValueID: ValueID] = [:]
    for node in nodes where keep(node) {
      var n = node
      n.id = ValueID(out.nodes.count)
      n.operands = node.operands.map { map[$0]! }
      map[node.id] = n.id
      out.nodes.append(n)
    }
    out.outputs = outputs.map { ($0.name, map[$0.value]!) }
    return out
  }

  public static func == (a: Graph, b: Graph) -> Bool {
    a.name == b.name && a.batch == b.batch && a.training == b.training && a.nodes == b.nodes && a.parameters == b.parameters
      && a.ignoredStateKeys == b.ignoredStateKeys
      && a.outputs.map(\.name) == b.outputs.map(\.name) && a.outputs.map(\.value) == b.outputs.map(\.value)
  }

  public func hash(into h: inout Hasher) {
    h.combine(name)
    h.combine(nodes)
  }
}
