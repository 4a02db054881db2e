import LocusIR
import LocusSpec

/// The entry point of the frontend: spec text → IR graph, or every diagnostic found.
public enum Frontend {
  /// Parses the prelude and `source`, picks the model (the only one, or `model`), applies the
  /// constant overrides (`--set name=value`) and elaborates it at batch size `batch`.
  /// `training` elaborates the train-mode graph: `drop_path` becomes a multiply by a per-sample
  /// mask input (DESIGN.md §7); otherwise it is the identity and leaves no trace in the graph.
  /// Returns the graph and any warnings.
  public static func compile(
    _ source: SourceFile, batch: Int = 1, overrides: [(name: String, value: String)] = [], model: String? = nil,
    training: Bool = false
  ) throws(SpecError) -> (graph: Graph, warnings: [Diagnostic]) {
    let (preludeFile, preludeDiagnostics) = Parser.parse(Prelude.source)
    let (file, diagnostics) = Parser.parse(source)
    var engine = DiagnosticEngine()
    engine.append(contentsOf: preludeDiagnostics + diagnostics)
    try engine.checked()

    var blocks: [String: BlockDecl] = [:]
    for block in preludeFile.blocks { blocks[block.name.name] = block }
    var userBlocks: Set<String> = []
    for block in file.blocks {
      let name = block.name.name
      if Primitives.table[name] != nil || Builtins.names.contains(name) {
        engine.error("block '\(name)' has the name of a primitive", at: block.name.range, hint: "rename the block")
      } else if userBlocks.contains(name) {
        engine.error("block '\(name)' is defined twice", at: block.name.range)
      }
      userBlocks.insert(name)
      blocks[name] = block  // a spec's own block may replace a prelude block of the same name
    }
    let models = file.models.filter { model == nil || $0.name.name == model }
    let whole = source.range(from: 0, to: 0)
    guard models.count == 1 else {
      let message = models.isEmpty
        ? (model.map { "the spec has no model named '\($0)'" } ?? "the spec defines no model")
        : "the spec defines \(models.count) models; choose one"
      engine.error(message, at: models.count > 1 ? models[1].name.range : whole,
                   hint: "a spec file holds one 'model name { … }'; its blocks may come before it")
      throw SpecError(engine.diagnostics)
    }
    try engine.checked()
    guard batch >= 1 else {
      engine.error("the batch size must be at least 1, got \(batch)", at: models[0].name.range)
      throw SpecError(engine.diagnostics)
    }

    let elaborator = Elaborator(name: models[0].name.name, batch: batch, blocks: blocks, overrides: parse(overrides))
    elaborator.builder.training = training
    var env = Environment()
    elaborator.run(models[0].body, &env)
    engine.append(contentsOf: elaborator.diagnostics.diagnostics)
    for name in elaborator.overrides.keys.sorted() {
      engine.error("--set \(name): model '\(models[0].name.name)' has no constant '\(name)'", at: models[0].name.range,
                   hint: suggestion(for: name, among: constants(of: models[0])) ?? "its constants are: \(constants(of: models[0]).joined(separator: ", "))")
    }
    if !engine.hasErrors, elaborator.builder.graph.outputs.isEmpty {
      engine.error("model '\(models[0].name.name)' has no output", at: models[0].name.range, hint: "add 'output logits = …'")
    }
    try engine.checked()
    return (elaborator.builder.graph, engine.diagnostics)
  }

  private static func parse(_ overrides: [(name: String, value: String)]) -> [String: Value] {
    var out: [String: Value] = [:]
    for (name, text) in overrides {
      if let i = Int(text) { out[name] = .int(i) }
      else if let d = Double(text) { out[name] = .float(d) }
      else if text == "true" || text == "false" { out[name] = .bool(text == "true") }
      else if Primitives.table[text] != nil { out[name] = .function(text) }
      else { out[name] = .string(text) }
    }
    return out
  }

  private static func constants(of model: ModelDecl) -> [String] {
    model.body.statements.flatMap { stmt -> [String] in
      if case .constants(let bindings) = stmt.kind { return bindings.map(\.name.name) }
      return []
    }
  }
}
