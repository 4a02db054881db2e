import Foundation
import LocusIR

/// `manifest.json`: what a compiled model is, for tools that load it without the compiler
/// (shapes, parameter table with initialisers, sizes, kernels). The emitter fills the fields it
/// knows; the CLI fills the build fields (`compiler`, `flags`, …) after clang ran.
public struct Manifest: Codable, Hashable, Sendable {
  public struct TensorEntry: Codable, Hashable, Sendable {
    public var name: String
    /// Full shape: inputs and batched outputs carry the batch first; parameters, and outputs computed
    /// over the whole batch (a loss, gradients: DESIGN.md §7), their own shape.
    public var shape: [Int]
    public var dtype: String
    public init(name: String, shape: [Int], dtype: String = "f32") {
      self.name = name
      self.shape = shape
      self.dtype = dtype
    }
  }

  public struct ParameterEntry: Codable, Hashable, Sendable {
    public var name: String
    public var shape: [Int]
    public var role: String
    public var initializer: InitializerEntry
    public init(name: String, shape: [Int], role: String, initializer: InitializerEntry) {
      self.name = name
      self.shape = shape
      self.role = role
      self.initializer = initializer
    }
  }

  /// A small JSON object: `{"kind": "trunc_normal", "std": 0.02}`, `{"kind": "kaiming_uniform",
  /// "fan_in": 48}`. Absent fields are omitted, so each kind shows only its own arguments.
  public struct InitializerEntry: Codable, Hashable, Sendable {
    public var kind: String
    public var value: Float?
    public var std: Float?
    public var low: Float?
    public var high: Float?
    public var fanIn: Int?

    enum CodingKeys: String, CodingKey {
      case kind, value, std, low, high
      case fanIn = "fan_in"
    }

    public init(kind: String, value: Float? = nil, std: Float? = nil, low: Float? = nil, high: Float? = nil, fanIn: Int? = nil) {
      self.kind = kind
      self.value = value
      self.std = std
      self.low = low
      self.high = high
      self.fanIn = fanIn
    }

    public init(_ initializer: Initializer) {
      switch initializer {
      case .zeros: self.init(kind: "zeros")
      case .ones: self.init(kind: "ones")
      case .constant(let v): self.init(kind: "constant", value: v)
      case .normal(let std): self.init(kind: "normal", std: std)
      case .truncNormal(let std): self.init(kind: "trunc_normal", std: std)
      case .uniform(let low, let high): self.init(kind: "uniform", low: low, high: high)
      case .kaimingUniform(let fanIn): self.init(kind: "kaiming_uniform", fanIn: fanIn)
      }
    }
  }

  public var model: String
  public var batch: Int
  public var inputs: [TensorEntry]
  public var outputs: [TensorEntry]
  public var parameters: [ParameterEntry]
  public var ignoredStateKeys: [String]
  public var parameterCount: Int
  public var parameterBytes: Int
  public var arenaBytes: Int
  /// The part of the arena `prepare` fills with constants computed from the weights (folded
  /// BatchNorm): weight bytes in effect, reported apart from the activations.
  public var preparedBytes: Int
  public var forwardFlops: Int
  /// Template files compiled into the model, in the order they appear in the C file.
  public var kernels: [String]
  /// The C files of the compile (`<model>.c`, `<model>.h`).
  public var cFiles: [String]

  // Filled by the CLI after building.
  public var compiler: String?
  public var flags: [String]?
  public var library: String?
  public var buildSeconds: Double?
  public var sourceHash: String?

  enum CodingKeys: String, CodingKey {
    case model, batch, inputs, outputs, parameters, kernels, compiler, flags, library
    case ignoredStateKeys = "ignored_state_keys"
    case parameterCount = "parameter_count"
    case parameterBytes = "parameter_bytes"
    case arenaBytes = "arena_bytes"
    case preparedBytes = "prepared_bytes"
    case forwardFlops = "forward_flops"
    case cFiles = "c_files"
    case buildSeconds = "build_seconds"
    case sourceHash = "source_hash"
  }

  /// The manifest of an emitted model (build fields empty).
  public init(_ m: EmittedModel) {
    let g = m.graph
    model = g.name
    batch = g.batch
    inputs = g.inputs.map { TensorEntry(name: inputName($0), shape: $0.type.fullShape(batch: g.batch), dtype: $0.type.dtype.rawValue) }
    outputs = g.outputs.map { TensorEntry(name: $0.name, shape: g.outputShape($0.value), dtype: g[$0.value].type.dtype.rawValue) }
    parameters = g.parameters.map {
      ParameterEntry(name: $0.name, shape: $0.shape, role: $0.role.rawValue, initializer: InitializerEntry($0.initializer))
    }
    ignoredStateKeys = g.ignoredStateKeys
    parameterCount = g.parameterCount
    parameterBytes = g.parameterCount * MemoryLayout<Float>.size
    arenaBytes = m.plan.arenaBytes
    preparedBytes = m.plan.persistentFloats * MemoryLayout<Float>.size
    forwardFlops = g.forwardFlops
    kernels = m.kernelsUsed
    cFiles = [m.sourceFileName, m.headerFileName]
  }

  /// Pretty-printed JSON with sorted keys: the same manifest is always the same bytes.
  public func json() throws -> Data {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
    return try encoder.encode(self)
  }

  public static func decode(_ data: Data) throws -> Manifest {
    try JSONDecoder().decode(Manifest.self, from: data)
  }
}

/// The name an input node declares.
func inputName(_ node: Node) -> String {
  if case .input(let name) = node.op { return name }
  return node.id.description
}
