// LocusPasses owns the graph → graph transformations, listed once in order, and memory planning.
import LocusIR

/// One fusion applied by a pass, for `locus compile --report`.
public struct FusionNote: Hashable, Sendable, CustomStringConvertible {
  public var pass: String
  /// The parameter scope of the fused nodes (`blocks.3.conv`): the block the fusion happened in.
  public var scope: String
  public var what: String
  public init(pass: String, scope: String, what: String) {
    self.pass = pass
    self.scope = scope
    self.what = what
  }
  public var description: String { "\(pass): \(scope.isEmpty ? "(model)" : scope): \(what)" }
}

/// A named graph → graph function. Fusions carry the flag that disables them
/// (`--disable-fusion=NAME`); passes without one always run. The pipeline verifies the IR after each.
public struct Pass: Sendable {
  public let name: String
  public let flag: String?
  public let run: @Sendable (Graph, inout [FusionNote]) throws -> Graph
  public init(_ name: String, flag: String? = nil, _ run: @escaping @Sendable (Graph, inout [FusionNote]) throws -> Graph) {
    self.name = name
    self.flag = flag
    self.run = run
  }
}

/// Which fusions run: all of them (the default), none (`-O0`), or all but some.
public struct FusionOptions: Hashable, Sendable {
  public var enabled: Bool
  public var disabled: Set<String>
  public init(enabled: Bool = true, disabled: Set<String> = []) {
    self.enabled = enabled
    self.disabled = disabled
  }
  public static let none = FusionOptions(enabled: false)
  public func allows(_ flag: String?) -> Bool {
    guard let flag else { return true }
    return enabled && !disabled.contains(flag)
  }
}

/// Thrown when a pass breaks an IR invariant: a compiler bug, reported as such (not a user error).
public struct InternalCompilerError: Error, CustomStringConvertible {
  public var pass: String
  public var underlying: VerificationError
  public var description: String {
    "internal compiler error after pass '\(pass)': \(underlying)\nplease report this with the spec that triggered it"
  }
}

public enum Pipeline {
  /// Every inference pass, in order (DESIGN.md §6).
  public static let inference: [Pass] = [
    Pass("dead-code-elimination") { g, _ in eliminateDeadCode(g) },
    Pass("sink-row-selection", flag: "dead-ffn", sinkRowSelection),
    Pass("dead-code-elimination") { g, _ in eliminateDeadCode(g) },
    Pass("shifted-attention", flag: "sag", fuseShiftedAttention),
    Pass("token-layout", flag: "leff", convertToTokenLayout),
    Pass("fold-batchnorm", flag: "bn-fold", foldBatchNorm),
    Pass("patch-embedding", flag: "patch", embedPatchesAsLinear),
    Pass("epilogues", flag: "epilogue", fuseEpilogues),
    Pass("channel-scale", flag: "se", fuseChannelScales),
    Pass("dead-code-elimination") { g, _ in eliminateDeadCode(g) },
  ]

  /// The passes over a train-mode forward before it is differentiated (DESIGN.md §7): layout
  /// changes and fusions whose ops all have gradient rules (`batch_statistics` needs none: its
  /// readers' rules differentiate through it).
  public static let beforeDifferentiation: [Pass] = [
    Pass("token-layout", flag: "leff") { g, notes in try convertToTokenLayout(g, &notes, training: true) },
    Pass("batchnorm-activation", flag: "bn-fold", fuseBatchNormActivations),
    Pass("patch-embedding", flag: "patch", embedPatchesAsLinear),
  ]

  /// The passes over a training graph (DESIGN.md §7), after `Autodiff.trainingGraph`. Epilogues
  /// fuse only where the value they absorb has no other reader, so a pre-activation the backward
  /// pass needs is never fused away; bias and residual adds of the forward and backward
  /// projections run in the GEMM's store.
  public static let training: [Pass] = [
    Pass("dead-code-elimination") { g, _ in eliminateDeadCode(g) },
    Pass("matmul-views", foldTransposesIntoMatmuls),
    Pass("broadcast-operands", readBroadcastOperands),
    Pass("epilogues", flag: "epilogue", fuseEpilogues),
    Pass("products", flag: "epilogue", fuseProducts),
    Pass("layernorm-training", flag: "epilogue", fuseLayerNormTraining),
    Pass("dead-code-elimination") { g, _ in eliminateDeadCode(g) },
  ]

  /// The fusion flags a user can name in `--disable-fusion`.
  public static var fusionFlags: [String] { inference.compactMap(\.flag) }

  /// Runs the passes `options` allows over `graph`, verifying the input and the result of every
  /// pass. `observe` sees each intermediate graph (for `--dump-ir`); `notes` collects the fusions.
  public static func run(
    _ graph: Graph, passes: [Pass] = inference, options: FusionOptions = FusionOptions(),
    notes: inout [FusionNote], observe: (String, Graph) -> Void = { _, _ in }
  ) throws -> Graph {
    try verified(graph, after: "frontend")
    observe("frontend", graph)
    var g = graph
    for pass in passes where options.allows(pass.flag) {
      g = try pass.run(g, &notes)
      try verified(g, after: pass.name)
      observe(pass.name, g)
    }
    return g
  }

  /// `run` without collecting notes.
  public static func run(
    _ graph: Graph, passes: [Pass] = inference, options: FusionOptions = FusionOptions(),
    observe: (String, Graph) -> Void = { _, _ in }
  ) throws -> Graph {
    var notes: [FusionNote] = []
    return try run(graph, passes: passes, options: options, notes: &notes, observe: observe)
  }

  private static func verified(_ g: Graph, after pass: String) throws {
    do { try g.verify() } catch { throw InternalCompilerError(pass: pass, underlying: error) }
  }
}
