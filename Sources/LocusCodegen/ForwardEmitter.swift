import LocusIR
import LocusPasses

/// The body of `<m>_forward`: one commented block per node in graph order (the calls the kernel
/// table writes for it), then the copies of the output values into the caller's buffers.
struct ForwardEmitter {
  let graph: Graph
  let plan: MemoryPlan

  struct Result {
    /// The body, written at the depth of the function scope.
    var body: CWriter
    var templates: Set<String>
    var uses: Set<KernelContext.Name>
  }

  func emit() throws(CodegenError) -> Result {
    var w = CWriter(depth: 1)
    var templates: Set<String> = []
    var uses: Set<KernelContext.Name> = []
    for node in graph.nodes {
      if case .input = node.op { continue }
      if case .parameter = node.op { continue }
      guard let entry = KernelTable.entries[node.op.mnemonic] else {
        throw .noKernel(op: node.op.mnemonic, node: node.label)
      }
      if !node.type.batched, let i = node.operands.firstIndex(where: { graph[$0].type.batched }) {
        throw .unsupported(op: node.op.mnemonic, node: node.label, reason: "operand \(i + 1) is batched but the result is not")
      }
      w.blank()
      w.comment(describe(node))
      var context = KernelContext(node: node, graph: graph, plan: plan, writer: w)
      try entry.emitNode(&context)
      w = context.w
      templates.formUnion(context.templates)
      uses.formUnion(context.uses)
    }
    w.blank()
    for (i, output) in graph.outputs.enumerated() {
      var context = KernelContext(node: graph[output.value], graph: graph, plan: plan, writer: w)
      try context.copyOutput(i, name: output.name)
      w = context.w
      uses.formUnion(context.uses)
    }
    return Result(body: w, templates: templates, uses: uses)
  }

  /// `%12 = linear(%11, %3, %4) blocks.0.attn.qkv : f32[B, 197, 576]`, as the IR dump writes it.
  func describe(_ node: Node) -> String {
    var s = "\(node.id) = \(node.op.mnemonic)(" + node.operands.map(\.description).joined(separator: ", ") + ")"
    if !node.op.attributeText.isEmpty { s += " {\(node.op.attributeText)}" }
    if !node.scope.isEmpty { s += " \(node.scope)" }
    s += " : \(node.type)"
    if node.op.isView, let root = plan.root[node.id] { s += ", a view of \(root): no code" }
    return s
  }
}

extension KernelContext {
  /// Copies the node's value into `outputs[i]`. Output shapes always carry the batch, so an
  /// unbatched value (computed from parameters only) is repeated for every sample.
  mutating func copyOutput(_ i: Int, name: String) throws(CodegenError) {
    let source = try storage(node.id)
    let full = TensorType(result.shape, batched: true)
    w.comment("output \(i) \"\(sanitize(name))\" = \(node.id) : \(full)")
    uses.insert(.batch)
    let n = result.count
    if result.batched {
      w.call("memcpy", ["outputs[\(i)]", source, "sizeof(float) * B" + (n == 1 ? "" : " * \(n)")])
    } else {
      w.open("for (int b = 0; b < B; b++)")
      w.call("memcpy", ["outputs[\(i)] + (long)b * \(n)", source, "sizeof(float) * \(n)"])
      w.close("for b")
    }
  }
}
