import ArgumentParser
import Foundation
import LocusDriver
import LocusIR
import LocusPasses

/// What `locus compile` writes.
enum EmitKind: String, ExpressibleByArgument, CaseIterable {
  /// `<m>.c`, `<m>.h` (the raw ABI, DESIGN.md §4), `lib<m>.so`, manifest.json.
  case library
  /// include/<m>.h (the context API), lib/lib<m>.a, lib/pkgconfig/<m>.pc, src/, manifest.json (DESIGN.md §8).
  case cLibrary = "c-library"
  /// A SwiftPM package: the C library as an .artifactbundle binary target plus a typed Swift API.
  case swiftPackage = "swift-package"
  /// The C of c-library (include/, src/) without building it: what generated/ holds.
  case cSources = "c-sources"
}

struct CompileCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "compile",
    abstract: "Compile a spec into C, a header, a shared library and manifest.json (or --emit c-library / swift-package).")

  @OptionGroup var options: CompileOptions

  @Option(help: "The batch size the model is compiled for.")
  var batch: Int = 1

  @Option(help: ArgumentHelp("What to write: library (C, raw header, shared library), c-library (static library with a context API, header, pkg-config file) or swift-package (a SwiftPM package with a typed API over that library); c-sources writes c-library's C without building it.", valueName: "kind"))
  var emit: EmitKind = .library

  @Option(help: "With --emit c-library/swift-package: the batch of its training part (0 leaves training out).")
  var trainBatch: Int = 32

  @Option(help: "With --emit swift-package: the package, product and module name (default: the output folder's name when it is a capitalised Swift identifier, else the model name in UpperCamelCase).")
  var packageName: String?

  @Option(name: .shortAndLong, help: "Output folder (default: out/<model>).")
  var output: String?

  @Flag(help: "Compile the training library (<model>_train: forward, loss and backward, optimizer steps; DESIGN.md §7).")
  var training = false

  @Flag(help: "Print the IR after every pass.")
  var dumpIR = false

  @Flag(help: "List every fusion applied, per block, and the arena before and after fusion.")
  var report = false

  @Flag(help: "Compile per-kernel timing into forward (<m>_profile_count/_record/_reset; what `locus profile` reads).")
  var profile = false

  func validate() throws {
    guard batch >= 1 else { throw ValidationError("--batch must be at least 1, got \(batch)") }
    guard trainBatch >= 0 else { throw ValidationError("--train-batch must be 0 (no training part) or more, got \(trainBatch)") }
    if profile, emit != .library || training { throw ValidationError("--profile applies to the inference library (--emit library, no --training)") }
    if emit != .library, training || dumpIR || report {
      throw ValidationError("--emit \(emit.rawValue) always holds the training part (--train-batch); --training, --dump-ir and --report apply to --emit library")
    }
    if packageName != nil, emit != .swiftPackage { throw ValidationError("--package-name applies to --emit swift-package") }
  }

  func run() throws {
    if emit != .library { return try writeCLibrary() }
    try reportingErrors {
      var request = options.request(batch: batch)
      request.profile = profile
      let observe = { (pass: String, graph: Graph) in
        if dumpIR { print("// after \(pass)\n\(graph.dump())") }
      }
      let artifact = training ? try Driver.compileTraining(request, observe: observe).compiled
        : try Driver.compile(request, observe: observe)
      printWarnings(artifact)
      if report { try printReport(artifact) }
      let directory = output ?? "out/\(artifact.graph.name)"
      try Driver.write(artifact, to: directory)
      let m = artifact.manifest
      print("""
        \(m.model): batch \(m.batch), \(m.parameterCount) parameters (\(mib(m.parameterBytes)) MiB), \
        arena \(mib(m.arenaBytes)) MiB, \(String(format: "%.2f", Double(m.forwardFlops) / 1e9)) GFLOP per forward, \
        \(artifact.library.cached ? "library from cache" : String(format: "built in %.1f s", m.buildSeconds ?? 0)) → \(directory)/
        """)
    }
  }
}

extension CompileCommand {
  func writeCLibrary() throws {
    try reportingErrors {
      if emit == .cSources {
        let sources = try Driver.emitCLibrary(CLibraryRequest(compile: options.request(batch: batch), trainBatch: trainBatch))
        for w in sources.warnings { printErr("\(w)") }
        let directory = output ?? "out/\(sources.name)"
        try Driver.replaceFolder(directory, with: sources.files.map { ($0.path, Data($0.text.utf8)) })
        print("\(sources.name): \(sources.files.count) C files → \(directory)/")
        return
      }
      let artifact = try Driver.compileCLibrary(CLibraryRequest(compile: options.request(batch: batch), trainBatch: trainBatch))
      for w in artifact.warnings { printErr("\(w)") }
      let m = artifact.manifest
      if emit == .swiftPackage {
        let name = packageName ?? Driver.packageName(forOutput: output ?? artifact.name, model: artifact.name)
        let directory = output ?? "out/\(name)"
        try Driver.writeSwiftPackage(artifact, name: name, to: directory)
        print("\(m.model): Swift package \(name) (import \(name)), inference batch \(m.batch), \(m.trainBatch > 0 ? "training batch \(m.trainBatch)" : "no training part"), \(m.parameterCount) parameters → \(directory)/")
        return
      }
      let directory = output ?? "out/\(artifact.name)"
      try Driver.write(artifact, to: directory)
      print("""
        \(m.model): C library, inference batch \(m.batch), \(m.trainBatch > 0 ? "training batch \(m.trainBatch)" : "no training part"), \
        \(m.parameterCount) parameters, \(m.functions.count) functions, \
        \(artifact.library.cached ? "library from cache" : String(format: "built in %.1f s", m.buildSeconds)) → \(directory)/
        """)
    }
  }

  /// Fusions grouped by the block they happened in, then the arena with and without them.
  func printReport(_ artifact: CompiledArtifact) throws {
    var blocks: [String] = []
    var byBlock: [String: [FusionNote]] = [:]
    for note in artifact.fusions {
      if byBlock[note.scope] == nil { blocks.append(note.scope) }
      byBlock[note.scope, default: []].append(note)
    }
    print("fusions applied (\(artifact.fusions.count)):")
    for block in blocks {
      print("  \(block.isEmpty ? "(model)" : block)")
      for note in byBlock[block] ?? [] { print("    \(note.pass): \(note.what)") }
    }
    // The arena holds activations and, at its start, the constants `prepare` computes from the
    // weights (folded BatchNorm): those are weight bytes, so they are reported as such.
    let before = try Driver.unfusedPlan(options.request(batch: batch), training: training), after = artifact.emitted.plan
    let bytes = MemoryLayout<Float>.size
    func activations(_ p: MemoryPlan) -> Int { (p.arenaFloats - p.persistentFloats) * bytes }
    print("activation arena: \(activations(before)) bytes unfused (-O0) → \(activations(after)) bytes fused")
    print("weights: \(artifact.manifest.parameterBytes) bytes of parameters + \(before.persistentFloats * bytes) → \(after.persistentFloats * bytes) bytes of prepared constants (folded weights)")
  }
}

func mib(_ bytes: Int) -> String { String(format: "%.2f", Double(bytes) / 1_048_576) }
