import LocusIR
import LocusRuntime

extension Driver {
  /// Seeded initial weights following the model's own scheme (the spec's `init` rules), plus a
  /// zero `num_batches_tracked` per BatchNorm so PyTorch's `load_state_dict` accepts the file.
  public static func initialWeights(for graph: Graph, seed: UInt64) throws(DriverError) -> [String: Tensor] {
    let specs = graph.parameters.map { ParameterInit(name: $0.name, shape: $0.shape, kind: initKind($0)) }
    var tensors: [String: Tensor]
    do {
      tensors = try Initializer(seed: seed).initialize(specs)
    } catch {
      throw .runtime(error)
    }
    for key in graph.ignoredStateKeys { tensors[key] = Tensor(shape: [], int64s: [0]) }
    return tensors
  }

  static func initKind(_ p: Parameter) -> InitKind {
    switch p.initializer {
    case .zeros: .zeros
    case .ones: .ones
    case .constant(let v): .constant(v)
    case .normal(let std): .normal(std: Double(std))
    case .truncNormal(let std): .truncNormal(std: Double(std))
    case .uniform(let low, let high): .uniform(low: Double(low), high: Double(high))
    // PyTorch's defaults: weights kaiming_uniform(a=√5), biases U(±1/√fan_in); both bounds are
    // 1/√fan_in, drawn from the weight's fan-in.
    case .kaimingUniform(let fanIn): p.role == .bias ? .pytorchBias(fanIn: fanIn) : .kaimingUniform(fanIn: fanIn)
    }
  }
}
