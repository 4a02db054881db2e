import LocusIR
import LocusPasses

/// What the C is compiled for. `native` lets the prologue pick the vector width from the
/// compiler's target macros (`-march=native`); the others force one configuration, e.g. to build
/// a library for another machine or to test the portable path.
public enum Target: String, CaseIterable, Hashable, Sendable {
  case native, avx512, avx2, generic

  /// The `LOCUS_TARGET_*` macro prologue.h reads, or nil to let it choose.
  var define: String? {
    switch self {
    case .native: nil
    case .avx512: "LOCUS_TARGET_AVX512"
    case .avx2: "LOCUS_TARGET_AVX2"
    case .generic: "LOCUS_TARGET_GENERIC"
    }
  }
}

public struct EmitOptions: Hashable, Sendable {
  public var target: Target
  /// The name `<m>.c` includes its header by (default `<m>.h`). A C library names the raw headers
  /// `<m>_abi.h` so that `<m>.h` is its public API.
  public var headerFileName: String?
  /// Time every kernel of forward (`locus profile`, DESIGN.md §9). Off: the C has no trace of it.
  public var profile: Bool
  public init(target: Target = .native, headerFileName: String? = nil, profile: Bool = false) {
    self.target = target
    self.headerFileName = headerFileName
    self.profile = profile
  }
}

extension Graph {
  /// Whether values computed from parameters only go to `<m>_prepare` (run once per weight
  /// binding). Not in training graphs: their parameters change after every step, so a transposed
  /// weight is recomputed by each forward-backward call.
  var preparesConstants: Bool { !training }
}

/// The C of one model: `<name>.c` (kernels, prepare and forward) and `<name>.h` (the ABI of DESIGN.md §4),
/// with the memory plan they were laid out with.
public struct EmittedModel: Sendable {
  public var name: String
  public var source: String
  public var header: String
  public var plan: MemoryPlan
  /// Template files copied into `source`, in order (the prologue first).
  public var kernelsUsed: [String]
  /// The graph the C was emitted from (for the manifest).
  public var graph: Graph

  /// `<name>.h` unless `EmitOptions.headerFileName` chose another name.
  public var headerFileName: String
  public var sourceFileName: String { "\(name).c" }
  public var manifest: Manifest { Manifest(self) }
}

public enum CEmitter {
  /// The ABI version the emitted `<m>_abi_version()` returns. 2: `<m>_prepare` (DESIGN.md §6).
  public static let abiVersion = 2

  /// Plans memory (asking the kernel table for each node's scratch) and writes both files.
  /// The same graph and options always give byte-identical text.
  public static func emit(_ graph: Graph, options: EmitOptions = EmitOptions()) throws(CodegenError) -> EmittedModel {
    guard isCIdentifier(graph.name) else { throw .invalidModelName(graph.name) }
    try checkTables(graph)
    let plan = planMemory(
      graph, workspaceFloats: { workspaceFloats(for: $0, in: graph) }, persistent: graph.preparesConstants ? isPrepared : { _ in false }, views: viewRules)
    let bodies = try ForwardEmitter(graph: graph, plan: plan, profile: options.profile).emit()
    // A training library also carries the optimizer kernels its trainer calls (DESIGN.md §7).
    let kernels = try Templates.closure(of: bodies.templates.union(["prologue.h"] + (graph.training ? ["optim.c"] : [])))
    let source = try ModelFile(graph: graph, plan: plan, options: options, kernels: kernels, bodies: bodies).emit()
    let header = HeaderFile(graph: graph).emit()
    return EmittedModel(name: graph.name, source: source, header: header, plan: plan, kernelsUsed: kernels, graph: graph,
                        headerFileName: options.headerFileName ?? "\(graph.name).h")
  }

  /// Whether `node` is computed by `<m>_prepare`, once per weight binding, instead of by every
  /// forward call: it computes something (not an input, parameter or view) and its result is
  /// unbatched, so every operand is unbatched too, and inputs never are: it reads parameters only.
  public static func isPrepared(_ node: Node) -> Bool {
    switch node.op {
    case .input, .parameter: return false
    default: return !node.op.isView && !node.type.batched
    }
  }

  /// Indices (into `graph.parameters`) of the parameters `<m>_forward` reads: through a view or
  /// directly, by a node forward computes, or as an output. The others are read by `<m>_prepare`
  /// only (weights folded into the persistent region) or by nothing, so a host may let their
  /// memory go once prepared (the runtime drops their pages of a mapped weights file).
  /// A training library reports every parameter: its optimizer writes them all.
  public static func parametersReadByForward(_ graph: Graph) -> Set<Int> {
    if graph.training { return Set(graph.parameters.indices) }
    var index: [String: Int] = [:]
    for (i, p) in graph.parameters.enumerated() where index[p.name] == nil { index[p.name] = i }
    let prepares = graph.preparesConstants
    func root(_ v: ValueID) -> Node {
      var node = graph[v]
      while node.op.isView, let first = node.operands.first { node = graph[first] }
      return node
    }
    var read = Set<Int>()
    func mark(_ v: ValueID) {
      if case .parameter(let name) = root(v).op, let i = index[name] { read.insert(i) }
    }
    for node in graph.nodes where !node.op.isView && !(prepares && isPrepared(node)) { node.operands.forEach(mark) }
    graph.outputs.forEach { mark($0.value) }
    return read
  }

  /// The strided views the kernels take (MemoryPlan.Layout): sdpa reads q, k and v with any row
  /// stride, sdpa_grad and the local-attention gradients q, k, v and dO; every kernel that runs
  /// per sample (`KernelEntry.takesSampleViews`) takes any operand or result one sample at a time
  /// (`KernelContext.stridesSamples`); fused_linear's residual and any operand of an elementwise op
  /// (of the result's type: the planner checks) may be the result.
  public static var viewRules: ViewRules {
    func perSample(_ node: Node) -> Bool {
      guard let entry = KernelTable.entries[node.op.mnemonic], !node.op.isView else { return false }
      return entry.takesSampleViews
    }
    return ViewRules(
      readsStridedRows: { node, i in
        switch node.op {
        case .sdpa: i < 3
        case .training(.sdpaGrad), .training(.localAttentionGradQ), .training(.localAttentionGradKV): i < 4
        default: false
        }
      },
      readsSampleStrided: { node, _ in perSample(node) },
      writesSampleStrided: perSample,
      writesOver: { node, i in
        switch node.op {
        case .fusedLinear(let a): return a.hasResidual && i == node.operands.count - 1
        case .binary, .training(.mulAdd): return true
        case .training(.batchNormActGrad): return i == 1  // dx over dz, element by element
        case .training(.normalizeGrad): return i == 1 || i == 3  // over dy or the residual: a row at a time
        case .training(.zeroPad): return i == 1  // over the base: only x's part is then written
        default: return false
        }
      })
  }

  /// Scratch floats `node` needs while it runs (im2col buffers), for `planMemory`.
  public static func workspaceFloats(for node: Node, in graph: Graph) -> Int {
    guard let entry = KernelTable.entries[node.op.mnemonic] else { return 0 }
    return entry.workspace(node, graph)
  }
}

/// The ABI tables need unique names and at most 8 axes per tensor (inputs and outputs with B).
private func checkTables(_ graph: Graph) throws(CodegenError) {
  let tables: [(String, [(String, Int)])] = [
    ("parameter", graph.parameters.map { ($0.name, $0.shape.count) }),
    ("input", graph.inputs.map { (inputName($0), $0.type.rank + 1) }),
    ("output", graph.outputs.map { ($0.name, graph[$0.value].type.rank + 1) }),
  ]
  for (kind, entries) in tables {
    var seen: Set<String> = []
    for (name, rank) in entries {
      guard seen.insert(name).inserted else { throw .duplicateName(kind: kind, name: name) }
      guard rank <= 8 else { throw .rankTooHigh(kind: kind, name: name, rank: rank) }
    }
  }
}

func isCIdentifier(_ s: String) -> Bool {
  guard let first = s.unicodeScalars.first, !("0"..."9").contains(first) else { return false }
  return s.unicodeScalars.allSatisfy { $0.isASCII && ($0 == "_" || $0.properties.isAlphabetic || ("0"..."9").contains($0)) }
}

extension EmittedModel {
  /// The model's own C with each pasted kernel template reduced to its `/* ---- templates/NAME`
  /// marker: what golden tests compare and what a reader reviewing emitter changes wants to see.
  public var sourceWithoutTemplates: String {
    var out: [Substring] = []
    var skipping = false
    for line in source.split(separator: "\n", omittingEmptySubsequences: false) {
      if line.hasPrefix("/* ---- templates/") {
        skipping = true
        out.append(line)
        out.append("/* (template text elided) */")
        continue
      }
      if line.hasPrefix("#pragma GCC") || line.hasPrefix("#include \"") { skipping = false }
      if !skipping { out.append(line) }
    }
    return out.joined(separator: "\n")
  }
}
