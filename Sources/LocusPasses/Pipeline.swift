// LocusPasses owns the graph → graph transformations, listed once in order, and memory planning.
import LocusIR

/// A named graph → graph function. The pipeline verifies the IR after each one.
public struct Pass: Sendable {
  public let name: String
  public let run: @Sendable (Graph) throws -> Graph
  public init(_ name: String, _ run: @escaping @Sendable (Graph) throws -> Graph) {
    self.name = name
    self.run = run
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
  /// The inference pipeline, in order.
  public static let inference: [Pass] = [
    Pass("dead-code-elimination", eliminateDeadCode),
  ]

  /// Runs `passes` over `graph`, verifying the input and the result of every pass. `observe` sees
  /// each intermediate graph (for `--dump-ir` after every pass).
  public static func run(
    _ graph: Graph, passes: [Pass] = inference, observe: (String, Graph) -> Void = { _, _ in }
  ) throws -> Graph {
    try verified(graph, after: "frontend")
    observe("frontend", graph)
    var g = graph
    for pass in passes {
      g = try pass.run(g)
      try verified(g, after: pass.name)
      observe(pass.name, g)
    }
    return g
  }

  private static func verified(_ g: Graph, after pass: String) throws {
    do { try g.verify() } catch { throw InternalCompilerError(pass: pass, underlying: error) }
  }
}
