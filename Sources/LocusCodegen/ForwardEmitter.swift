import LocusIR
import LocusPasses

/// The bodies of `<m>_prepare` and `<m>_forward`: one commented block per node in graph order
/// (the calls the kernel table writes for it). The nodes the memory plan keeps in the persistent
/// region (computed from parameters only, DESIGN.md §6) go to prepare, which runs once per
/// weight binding; every other node, then the copies of the outputs into the caller's buffers,
/// go to forward.
struct ForwardEmitter {
  let graph: Graph
  let plan: MemoryPlan
  /// Wrap each kernel of forward in LK_PROF_BEGIN/END (ProfileFile.swift).
  var profile = false

  /// One function body, written at the depth of the function scope, with the function arguments
  /// and names it mentions (unused ones are marked `(void)`, -Wunused-parameter).
  struct Body {
    var code = CWriter(depth: 1)
    var uses: Set<KernelContext.Name> = []
  }

  struct Result {
    var prepare: Body
    var forward: Body
    var templates: Set<String>
    /// The timed kernels of forward, in order (empty unless profiling).
    var profiled: [Node] = []
  }

  func emit() throws(CodegenError) -> Result {
    var prepare = Body(), forward = Body()
    var templates: Set<String> = []
    var profiled: [Node] = []
    for node in graph.nodes {
      if case .input = node.op { continue }
      if case .parameter = node.op { continue }
      guard let entry = KernelTable.entries[node.op.mnemonic] else {
        throw .noKernel(op: node.op.mnemonic, node: node.label)
      }
      if !node.type.batched, !node.op.reducesBatch, let i = node.operands.firstIndex(where: { graph[$0].type.batched }) {
        throw .unsupported(op: node.op.mnemonic, node: node.label, reason: "operand \(i + 1) is batched but the result is not")
      }
      let prepared = plan.persistent.contains(plan.root[node.id] ?? node.id)
      var body = prepared ? prepare : forward
      body.code.blank()
      body.code.comment(describe(node))
      let timed = profile && !prepared && !isView(node)
      if timed { body.code.line("LK_PROF_BEGIN(\(profiled.count));") }
      var context = KernelContext(node: node, graph: graph, plan: plan, writer: body.code)
      if !isView(node) { try entry.emitNode(&context) }
      body.code = context.w
      if timed {
        body.code.line("LK_PROF_END(\(profiled.count));")
        profiled.append(node)
      }
      body.uses.formUnion(context.uses)
      templates.formUnion(context.templates)
      if prepared { prepare = body } else { forward = body }
    }
    forward.code.blank()
    for (i, output) in graph.outputs.enumerated() {
      var context = KernelContext(node: graph[output.value], graph: graph, plan: plan, writer: forward.code)
      try context.copyOutput(i, name: output.name)
      forward.code = context.w
      forward.uses.formUnion(context.uses)
    }
    return Result(prepare: prepare, forward: forward, templates: templates, profiled: profiled)
  }

  /// `%12 = linear(%11, %3, %4) blocks.0.attn.qkv : f32[B, 197, 576]`, as the IR dump writes it.
  func describe(_ node: Node) -> String {
    var s = "\(node.id) = \(node.op.mnemonic)(" + node.operands.map(\.description).joined(separator: ", ") + ")"
    if !node.op.attributeText.isEmpty { s += " {\(node.op.attributeText)}" }
    if !node.scope.isEmpty { s += " \(node.scope)" }
    s += " : \(node.type)"
    if isView(node), let root = plan.root[node.id] { s += ", a view of \(root): no code" }
    if plan.placed.contains(node.id), let root = plan.root[node.id] {
      s += plan.layout[node.id].map { ", written into \(root) from row \($0.offset / $0.rowStride)" } ?? ", written over \(root)"
    }
    if !isView(node), plan.inPlaceOperands[node.id]?.count == node.operands.count {
      s += ", its operands computed in place: no code"
    }
    return s
  }

  /// Values that share their root's bytes and need no code: reshapes, slices the plan made
  /// views, concats made in place (not the values placed into a root's rows: those are computed).
  func isView(_ node: Node) -> Bool { plan.root[node.id] != nil && !plan.placed.contains(node.id) }
}

extension KernelContext {
  /// Copies the node's value into `outputs[i]`. A training graph's unbatched outputs (the loss,
  /// gradients) have their own shape; an inference model's outputs always carry the batch, an
  /// unbatched value (computed from parameters only) repeated for every sample.
  mutating func copyOutput(_ i: Int, name: String) throws(CodegenError) {
    let source = try storage(node.id)
    if !result.batched, graph.training {
      w.comment("output \(i) \"\(sanitize(name))\" = \(node.id) : \(result)")
      w.call("memcpy", ["outputs[\(i)]", source, "sizeof(float) * \(result.count)"])
      return
    }
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
