import LocusIR
import LocusPasses

/// What one emission function sees while it writes the call(s) for one node: the node and its
/// operands, C expressions for their storage, the shared writer, and the record of which
/// template files the calls need.
struct KernelContext {
  let node: Node
  let graph: Graph
  let plan: MemoryPlan
  var w: CWriter
  var templates: Set<String> = []
  /// Which of the forward function's names the emitted code mentions: it declares `B` only
  /// when used, and marks unused arguments `(void)` (-Wunused-parameter).
  enum Name: Hashable { case batch, params, inputs, arena }
  var uses: Set<Name> = []
  /// The loop variable while the node runs one sample at a time (see `perSample`), else nil.
  private(set) var sample: String?
  var runsPerSample: Bool { sample != nil }

  init(node: Node, graph: Graph, plan: MemoryPlan, writer: CWriter) {
    self.node = node
    self.graph = graph
    self.plan = plan
    self.w = writer
  }

  var op: String { node.op.mnemonic }
  func operand(_ i: Int) -> TensorType { graph[node.operands[i]].type }
  var result: TensorType { node.type }

  func unsupported(_ reason: String) -> CodegenError { .unsupported(op: op, node: node.label, reason: reason) }

  // MARK: - Storage

  /// Storage of a value: `params[3]`, `inputs[0]` or `arena + 1024`.
  /// A strided view (MemoryPlan.Layout) points into its root: `arena + 1024 + 64`, folded.
  mutating func storage(_ v: ValueID) throws(CodegenError) -> String {
    KernelContext.offset(try rootStorage(v), plan.layout[v]?.offset ?? 0)
  }

  private mutating func rootStorage(_ v: ValueID) throws(CodegenError) -> String {
    switch plan.storage[v] {
    case .input(let i):
      uses.insert(.inputs)
      return "inputs[\(i)]"
    case .parameter(let i):
      uses.insert(.params)
      return "params[\(i)]"
    case .arena(let offset):
      uses.insert(.arena)
      return offset == 0 ? "arena" : "arena + \(offset)"
    case nil: throw .noStorage(node: graph[v].label)
    }
  }

  /// Operand `i`, offset to the current sample when the node runs per sample.
  mutating func arg(_ i: Int) throws(CodegenError) -> String {
    try at(storage(node.operands[i]), node.operands[i])
  }

  /// Floats between the rows of rank-2 operand `i` (its columns unless it is a column view).
  func rowStride(_ i: Int) -> Int {
    plan.layout[node.operands[i]]?.rowStride ?? (operand(i).shape.last ?? 1)
  }

  /// Operand `i` when it exists, else `NULL` (optional biases).
  mutating func optionalArg(_ i: Int) throws(CodegenError) -> String {
    i < node.operands.count ? try arg(i) : "NULL"
  }

  /// The result buffer, offset to the current sample when the node runs per sample.
  mutating func out() throws(CodegenError) -> String {
    guard case .arena = plan.storage[node.id] else { throw .noStorage(node: node.label) }
    return at(try storage(node.id), node.id)
  }

  /// The node's scratch slice of the arena (`NULL` when the plan gave it none).
  mutating func workspace() -> String {
    guard let ws = plan.workspace[node.id], ws.floats > 0 else { return "NULL" }
    uses.insert(.arena)
    return ws.offset == 0 ? "arena" : "arena + \(ws.offset)"
  }

  private mutating func at(_ base: String, _ v: ValueID) -> String {
    let t = graph[v].type
    guard let b = sample, t.batched else { return base }
    return "\(base) + (long)\(b) * \(plan.layout[v]?.sampleStride ?? t.count)"
  }

  /// Floats between consecutive samples of a batched value: its size, or more for a view (a row
  /// slice of a token buffer). For kernels that take per-sample strides (`KernelEntry.foldsSampleStrides`).
  func sampleStride(_ v: ValueID) -> Int {
    plan.layout[v]?.sampleStride ?? graph[v].type.count
  }

  /// Whether an operand or the result is a view whose samples sit further apart than the kernels
  /// assume (a row slice of a token buffer): the node then runs one sample at a time.
  var stridesSamples: Bool {
    guard graph.batch > 1 else { return false }
    return (node.operands + [node.id]).contains { v in
      graph[v].type.batched && plan.layout[v].map { $0.stridesSamples(graph[v].type) } ?? false
    }
  }

  // MARK: - Sizes

  /// How many samples one call covers: `B` for a batched result (unless running per sample), else 1.
  mutating func batch() -> String {
    guard result.batched, sample == nil else { return "1" }
    uses.insert(.batch)
    return "B"
  }

  /// The batch count of a batched operand, also when the result is not batched (ops that sum
  /// over the batch: DESIGN.md §7). Such ops never run one sample at a time.
  mutating func operandBatch() -> String {
    uses.insert(.batch)
    return "B"
  }

  /// `B * 197` style product: the batch count (when batched) times the given per-sample extents.
  mutating func count(_ extents: [Int], batched: Bool) -> String {
    let b = batched ? batch() : "1"
    let factors = (b == "1" ? [] : [b]) + extents.filter { $0 != 1 }.map(String.init)
    return factors.isEmpty ? "1" : factors.joined(separator: " * ")
  }

  /// Elements of the whole result (all samples of this call).
  mutating func resultCount() -> String { count(result.shape, batched: result.batched) }

  // MARK: - C expressions

  /// `(const long[]){B, 197, 192}`: a C99 compound literal, how shape and stride arrays are passed
  /// to the strided kernels (a rank-0 shape becomes one axis of extent 1).
  static func longs(_ xs: [String]) -> String { "(const long[]){" + (xs.isEmpty ? ["1"] : xs).joined(separator: ", ") + "}" }
  static func longs(_ xs: [Int]) -> String { longs(xs.map(String.init)) }
  static func ints(_ xs: [Int]) -> String { "(const int[]){" + xs.map(String.init).joined(separator: ", ") + "}" }

  /// `base + by`, folding constants into an arena offset (`arena + 1024` + 64 = `arena + 1088`).
  static func offset(_ base: String, _ by: Int) -> String {
    guard by != 0 else { return base }
    if base == "arena" { return "arena + \(by)" }
    if base.hasPrefix("arena + "), let k = Int(base.dropFirst("arena + ".count)) { return "arena + \(k + by)" }
    return "\(base) + \(by)"
  }

  // MARK: - Writing

  /// `fn(args);`, wrapped at 100 columns; records the template the function comes from.
  mutating func call(_ fn: String, _ args: [String], from template: String) {
    templates.insert(template)
    w.call(fn, args)
  }

  /// A kernel that returns a status: `if (fn(args) != 0) return -1;`, so the function it is in
  /// fails with -1 (the runtime reports a non-zero status; DESIGN.md §4).
  mutating func checkedCall(_ fn: String, _ args: [String], from template: String) {
    templates.insert(template)
    w.call(fn, args, onFailure: "return -1;")
  }

  /// Runs `body` once for the whole batch, or — when `loop` — inside
  /// `for (int b = 0; b < B; b++)`, with every batched pointer offset to sample b and a batch
  /// count of 1 (see `BatchRule`).
  mutating func perSample(_ loop: Bool, _ body: (inout KernelContext) throws(CodegenError) -> Void) throws(CodegenError) {
    guard loop else { return try body(&self) }
    uses.insert(.batch)
    w.open("for (int b = 0; b < B; b++)")
    sample = "b"
    try body(&self)
    sample = nil
    w.closeDroppingEmpty("for b")
  }
}

/// A C float literal that reads back as exactly `x` (`1e-06f`, `0.5f`, `INFINITY`).
func cFloat(_ x: Float) -> String {
  if x.isNaN { return "NAN" }
  if x.isInfinite { return x < 0 ? "-INFINITY" : "INFINITY" }
  let s = x.description
  return (s.contains(".") || s.contains("e") ? s : s + ".0") + "f"
}
