import Foundation
import LocusBuild
import LocusCodegen
import LocusFrontend
import LocusIR
import LocusPasses
import LocusRuntime
import LocusSpec

/// What to compile: a spec file and the options every command shares.
public struct CompileRequest: Sendable {
  public var specPath: String
  public var batch: Int
  public var overrides: [(name: String, value: String)]
  public var model: String?
  public var target: Target
  /// Which fusions run (`-O0` none, default all, `--disable-fusion` some).
  public var fusion: FusionOptions
  /// Elaborate the train-mode graph (live `drop_path`); `compileTraining` sets it.
  public var trainMode = false
  /// Time every kernel of forward (`locus profile`); off, the C carries nothing of it.
  public var profile = false

  public init(specPath: String, batch: Int = 1, overrides: [(name: String, value: String)] = [], model: String? = nil,
              target: Target = .native, fusion: FusionOptions = FusionOptions()) {
    self.specPath = specPath
    self.batch = batch
    self.overrides = overrides
    self.model = model
    self.target = target
    self.fusion = fusion
  }
}

/// A compiled model: the optimised graph, its C, the built library and the manifest.
public struct CompiledArtifact: Sendable {
  public var graph: Graph
  public var emitted: EmittedModel
  public var library: BuiltLibrary
  public var warnings: [Diagnostic]
  public var manifest: Manifest
  /// The fusions the passes applied, for `--report`.
  public var fusions: [FusionNote]
}

public enum Driver {
  /// Parses and elaborates the spec, then runs the pass pipeline. `observe` sees the graph after
  /// every pass (for `--dump-ir`).
  public static func graph(_ request: CompileRequest, observe: (String, Graph) -> Void = { _, _ in }) throws(DriverError) -> (Graph, [Diagnostic]) {
    var notes: [FusionNote] = []
    return try graph(request, notes: &notes, observe: observe)
  }

  /// As `graph`, collecting the fusions applied into `notes`.
  public static func graph(_ request: CompileRequest, notes: inout [FusionNote], observe: (String, Graph) -> Void = { _, _ in }) throws(DriverError) -> (Graph, [Diagnostic]) {
    let text: String
    do {
      text = try String(contentsOfFile: request.specPath, encoding: .utf8)
    } catch {
      throw .io(path: request.specPath, reason: "cannot read the spec (\(error.localizedDescription))")
    }
    let source = LocusSpec.SourceFile(name: request.specPath, text: text)
    let frontend: (graph: Graph, warnings: [Diagnostic])
    do {
      frontend = try Frontend.compile(source, batch: request.batch, overrides: request.overrides, model: request.model, training: request.trainMode)
    } catch {
      throw .spec(error)
    }
    do {
      return (try Pipeline.run(frontend.graph, options: request.fusion, notes: &notes, observe: observe), frontend.warnings)
    } catch let error as InternalCompilerError {
      throw .internalError(error)
    } catch {
      throw .usage("\(error)")
    }
  }

  /// The whole pipeline: graph, C, and a library built (or found in the cache) by clang.
  public static func compile(_ request: CompileRequest, observe: (String, Graph) -> Void = { _, _ in }) throws(DriverError) -> CompiledArtifact {
    var fusions: [FusionNote] = []
    let (graph, warnings) = try self.graph(request, notes: &fusions, observe: observe)
    let (emitted, library, manifest) = try build(graph, target: request.target, profile: request.profile)
    return CompiledArtifact(graph: graph, emitted: emitted, library: library, warnings: warnings, manifest: manifest, fusions: fusions)
  }

  /// Emits the C of `graph` and builds it (or finds it in the cache).
  static func build(_ graph: Graph, target: Target, profile: Bool = false) throws(DriverError) -> (EmittedModel, BuiltLibrary, Manifest) {
    let emitted: EmittedModel
    do {
      emitted = try CEmitter.emit(graph, options: EmitOptions(target: target, profile: profile))
    } catch {
      throw .codegen(error)
    }
    let compiler: Compiler
    do {
      compiler = try Compiler.fromEnvironment()
    } catch {
      throw .build(error)
    }
    let buildRequest = BuildRequest(
      name: graph.name,
      sources: [LocusBuild.SourceFile(name: emitted.sourceFileName, text: emitted.source)],
      headers: [LocusBuild.SourceFile(name: emitted.headerFileName, text: emitted.header)])
    let library: BuiltLibrary
    do {
      library = try compiler.build(buildRequest)
    } catch {
      throw .build(error)
    }
    var manifest = emitted.manifest
    manifest.compiler = "\(compiler.toolchain.clang) (\(compiler.toolchain.clangVersion))"
    manifest.flags = buildRequest.optimization + (buildRequest.openMP ? ["-fopenmp"] : [])
    manifest.library = "lib\(graph.name).so"
    manifest.buildSeconds = library.cached ? 0 : seconds(library.wallTime)
    manifest.sourceHash = library.key
    return (emitted, library, manifest)
  }

  /// The memory plan the model would have without any fusion: the "before" of `--report`.
  /// With `training`, the training library's (`compileTraining` without fusions).
  public static func unfusedPlan(_ request: CompileRequest, training: Bool = false) throws(DriverError) -> MemoryPlan {
    var plain = request
    plain.fusion = .none
    let graph = training ? try trainingGraph(plain).0.graph : try self.graph(plain).0
    do {
      return try CEmitter.emit(graph, options: EmitOptions(target: request.target)).plan
    } catch {
      throw .codegen(error)
    }
  }

  /// Loads a built model (from its content-addressed cache path, so a rebuilt library never
  /// aliases an old one in the same process).
  public static func load(_ artifact: CompiledArtifact) throws(DriverError) -> CompiledModel {
    do {
      return try CompiledModel(libraryPath: artifact.library.path, modelName: artifact.graph.name)
    } catch {
      throw .runtime(error)
    }
  }

  public static func seconds(_ d: Duration) -> Double {
    Double(d.components.seconds) + Double(d.components.attoseconds) * 1e-18
  }
}
