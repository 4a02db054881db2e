import LocusIR
import LocusPasses

/// `<model>.c`: banner, the prologue and the kernel templates the graph needs, the tensor tables,
/// the ABI functions of DESIGN.md §4, the prepare and forward functions. One translation unit.
struct ModelFile {
  let graph: Graph
  let plan: MemoryPlan
  let options: EmitOptions
  /// Template files in order, the prologue first.
  let kernels: [String]
  let bodies: ForwardEmitter.Result

  func emit() throws(CodegenError) -> String {
    var w = CWriter()
    let m = graph.name
    w.comment(banner(for: graph) + "\n\n" + Self.legend)
    if let define = options.target.define {
      w.blank()
      w.comment("Target chosen at compile time (locus --target \(options.target.rawValue)); prologue.h reads it.")
      w.line("#define \(define) 1")
    }
    try writeKernelLibrary(&w)
    w.blank()
    w.comment("After the prologue, which defines locus_tensor_info for the header too.")
    w.line("#include \"\(options.headerFileName ?? m + ".h")\"")
    w.blank()
    w.line("#ifdef _OPENMP")
    w.comment("Declared here, as the prologue does for the other omp_ functions (libomp's omp.h is not\n-Wpedantic clean in C99).")
    w.line("void omp_set_num_threads(int n);")
    w.line("#endif")
    writeTables(&w)
    writeABI(&w)
    writePrepare(&w)
    if options.profile { ProfileFile(graph: graph, nodes: bodies.profiled).write(&w) }
    writeForward(&w)
    if graph.training { writeOptimizer(&w) }
    return w.text
  }

  /// A training library exports optim.c's updates under its prefix (the kernels themselves are
  /// hidden), for the trainer to call on each parameter after `<m>_forward` (DESIGN.md §7).
  private func writeOptimizer(_ w: inout CWriter) {
    let m = graph.name
    for (comment, signature, call) in OptimizerABI.functions(m) {
      w.blank()
      w.comment(comment)
      w.open(signature)
      w.line(call)
      w.close(signature.components(separatedBy: "(")[0].components(separatedBy: " ").last ?? m)
    }
  }

  static let legend = """
    Shapes in comments: B batch, N tokens, C channels, H heads, D head dim, T shift variants,
    Hh/Ww image height/width, K reduction length. f32[B, 197, 192] is a batched activation;
    parameters have no B. Storage: params[i] and inputs[i] are the caller's tensors, every other
    value lives in `arena` at the offset (in floats) its pointer shows.
    """

  /// The prologue and the kernel files, as one unit of code that is not ours to warn about: the
  /// prologue is a header of static inline helpers (pasted here instead of included, clang would
  /// report every helper this model does not call), and a forced target wider than the
  /// compiler's -march passes vectors between those helpers in memory (-Wpsabi), which is
  /// harmless inside one file. Kernels get hidden visibility: only the model-prefixed ABI is
  /// exported, so several models, each with its own copy of the kernels, load into one process.
  private func writeKernelLibrary(_ w: inout CWriter) throws(CodegenError) {
    w.blank()
    w.comment("The kernel library (templates/). Helpers this model does not call are not warnings here, and\nkernels are hidden: the library exports only the \(graph.name)_ functions below.")
    w.line("#pragma GCC diagnostic push")
    w.line("#pragma GCC diagnostic ignored \"-Wunused-function\"")
    if options.target.define != nil { w.line("#pragma GCC diagnostic ignored \"-Wpsabi\"") }
    try writeTemplate("prologue.h", &w)
    w.blank()
    w.line("#pragma GCC visibility push(hidden)")
    for file in kernels where file != "prologue.h" { try writeTemplate(file, &w) }
    w.blank()
    w.line("#pragma GCC visibility pop")
    w.line("#pragma GCC diagnostic pop")
  }

  private func writeTemplate(_ name: String, _ w: inout CWriter) throws(CodegenError) {
    w.blank()
    w.comment("---- templates/\(name) " + String(repeating: "-", count: max(4, 76 - name.count)))
    w.verbatim(try Templates.fill(Templates.text(name), named: name, holes: [:]))
  }

  // MARK: - Tables

  private func writeTables(_ w: inout CWriter) {
    let b = graph.batch
    let params = graph.parameters.map { ($0.name, $0.shape) }
    let inputs = graph.inputs.map { (inputName($0), $0.type.fullShape(batch: b)) }
    let outputs = graph.outputs.map { ($0.name, graph.outputShape($0.value)) }
    table("params", "Parameters in manifest order: params[i] of the forward function is entry i.", params, &w)
    table("inputs", "Inputs (batch first).", inputs, &w)
    table("outputs", graph.training ? "Outputs (batch first, unless computed over the whole batch)." : "Outputs (batch first).", outputs, &w)
  }

  private func table(_ what: String, _ doc: String, _ rows: [(String, [Int])], _ w: inout CWriter) {
    guard !rows.isEmpty else { return }
    w.blank()
    w.comment(doc)
    w.open("static const locus_tensor_info \(graph.name)_\(what)_[\(rows.count)] =")
    for (i, (name, shape)) in rows.enumerated() {
      let dims = shape.isEmpty ? "0" : shape.map(String.init).joined(separator: ", ")
      w.line("{\(cString(name)), \(shape.count), {\(dims)}, \(shape.reduce(1, *))}, /* \(i) */")
    }
    w.close(terminator: ";")
  }

  // MARK: - ABI

  private func writeABI(_ w: inout CWriter) {
    let m = graph.name
    w.blank()
    w.line("int \(m)_abi_version(void) { return \(CEmitter.abiVersion); }")
    w.line("int \(m)_batch(void) { return \(graph.batch); }")
    for (what, count) in [("param", graph.parameters.count), ("input", graph.inputs.count), ("output", graph.outputs.count)] {
      w.blank()
      w.line("int \(m)_num_\(what)s(void) { return \(count); }")
      w.scope("const locus_tensor_info *\(m)_\(what)_info(int i)") { w in
        if count == 0 {
          w.line("(void)i;")
          w.line("return NULL;")
        } else {
          w.line("return i >= 0 && i < \(count) ? &\(m)_\(what)s_[i] : NULL;")
        }
      }
    }
    let read = CEmitter.parametersReadByForward(graph)
    let count = graph.parameters.count
    w.blank()
    w.comment("1 where forward reads parameter i; 0 where only prepare does (folded) or nothing does.")
    if count == 0 {
      w.scope("int \(m)_param_read_by_forward(int i)") { w in
        w.line("(void)i;")
        w.line("return 0;")
      }
    } else {
      w.open("static const unsigned char \(m)_param_read_[\(count)] =")
      for start in stride(from: 0, to: count, by: 32) {
        w.line((start..<min(start + 32, count)).map { read.contains($0) ? "1," : "0," }.joined(separator: " "))
      }
      w.close(terminator: ";")
      w.line("int \(m)_param_read_by_forward(int i) { return i >= 0 && i < \(count) ? \(m)_param_read_[i] : 0; }")
    }
    w.blank()
    w.line("size_t \(m)_arena_bytes(void) { return \(plan.arenaBytes); }")
    w.blank()
    w.scope("void \(m)_set_num_threads(int n)") { w in
      w.line("#ifdef _OPENMP")
      w.line("if (n > 0) omp_set_num_threads(n);")
      w.line("#else")
      w.line("(void)n;")
      w.line("#endif")
    }
  }

  private func writePrepare(_ w: inout CWriter) {
    let m = graph.name
    let region = plan.persistentFloats
    w.blank()
    w.comment(region == 0
      ? "This model computes nothing from its parameters alone: nothing to prepare. Returns 0."
      : "The values that depend on the parameters only, computed once per weight binding, in graph order,\ninto the persistent region at the start of the arena (\(region) floats), which forward reads.\nReturns 0, or -1 when a kernel reports a failure.")
    writeFunction("int \(m)_prepare(const float *const *params, float *arena)", closing: m + "_prepare",
                  arguments: [("params", .params, "nothing to prepare"), ("arena", .arena, "nothing to prepare")],
                  body: bodies.prepare, &w)
  }

  private func writeForward(_ w: inout CWriter) {
    let m = graph.name
    w.blank()
    w.comment("The nodes of the graph in order, except the prepared ones; each block names its IR node.\nReturns 0, or -1 when a kernel reports a failure (its output is then NaN).")
    let arguments: [(String, KernelContext.Name, String)] = [
      ("params", .params, "this model reads no params"), ("inputs", .inputs, "this model reads no inputs"),
      ("arena", .arena, "this model reads no arena"),
    ]
    writeFunction("int \(m)_forward(const float *const *params, const float *const *inputs, float *const *outputs,\n    float *arena)",
                  closing: m + "_forward", arguments: arguments, body: bodies.forward, &w)
  }

  /// `signature {`, the batch constant when the body uses it, `(void)` for the arguments it does
  /// not read (with why), the body, `return 0;`.
  private func writeFunction(
    _ signature: String, closing: String, arguments: [(String, KernelContext.Name, String)], body: ForwardEmitter.Body,
    _ w: inout CWriter
  ) {
    w.open(signature)
    if body.uses.contains(.batch) { w.line("const int B = \(graph.batch); /* the batch the model is compiled for */") }
    for (name, use, why) in arguments where !body.uses.contains(use) { w.line("(void)\(name); /* \(why) */") }
    if !body.code.text.isEmpty {
      w.blank()
      w.append(body.code)
    }
    w.line("return 0;")
    w.close(closing)
  }
}
