import LocusBuild
import LocusCodegen
import LocusIR
import LocusSpec

/// What `locus compile --emit c-library` builds (DESIGN.md §8): the fused inference model at
/// `compile.batch`, the training library at `trainBatch` (none when 0) and the context layer, in
/// one static library whose only exports are the functions of the public header `<m>.h`.
public struct CLibraryRequest: Sendable {
  public var compile: CompileRequest
  public var trainBatch: Int

  public init(compile: CompileRequest, trainBatch: Int = 32) {
    self.compile = compile
    self.trainBatch = trainBatch
  }
}

/// The generated C of a C library: what `emitCLibrary` returns and `compileCLibrary` builds.
public struct CLibrarySources: Sendable {
  public var name: String
  /// The fused inference graph.
  public var graph: Graph
  public var inference: EmittedModel
  public var training: EmittedModel?
  public var context: ContextSources
  public var warnings: [Diagnostic]

  /// Relative path → text, as `--emit c-library` lays them out: include/<m>.h and src/.
  public var files: [(path: String, text: String)] {
    var files = [("include/\(context.headerFileName)", context.header),
                 ("src/\(inference.sourceFileName)", inference.source), ("src/\(inference.headerFileName)", inference.header)]
    if let training { files += [("src/\(training.sourceFileName)", training.source), ("src/\(training.headerFileName)", training.header)] }
    return files + [("src/\(context.contextFileName)", context.context)]
  }
}

public struct CLibraryArtifact: Sendable {
  public var name: String
  public var inference: EmittedModel
  public var training: EmittedModel?
  public var context: ContextSources
  /// `lib<m>.a` in the build cache.
  public var library: BuiltLibrary
  /// Where libomp lives: the pkg-config file links it from there (with an rpath).
  public var openMP: OpenMPInstall
  public var warnings: [Diagnostic]
  public var manifest: CLibraryManifest

  /// The generated C, as `src/` holds it: name and text.
  public var sources: [(name: String, text: String)] {
    var files = [(inference.sourceFileName, inference.source), (inference.headerFileName, inference.header)]
    if let training { files += [(training.sourceFileName, training.source), (training.headerFileName, training.header)] }
    return files + [(context.contextFileName, context.context)]
  }
}

extension Driver {
  /// The C of a C library without building it (`--emit c-sources`, and `generated/`): the same
  /// text `compileCLibrary` compiles, byte for byte.
  public static func emitCLibrary(_ request: CLibraryRequest) throws(DriverError) -> CLibrarySources {
    guard request.trainBatch >= 0 else { throw .usage("--train-batch must be 0 (no training part) or more, got \(request.trainBatch)") }
    let (graph, warnings) = try self.graph(request.compile)
    let m = graph.name
    let inference = try emit(graph, target: request.compile.target, header: "\(m)_abi.h")
    var training: EmittedModel?
    var decayRule = graph
    if request.trainBatch > 0 {
      var trainRequest = request.compile
      trainRequest.batch = request.trainBatch
      let (trainingGraph, unfused) = try self.trainingGraph(trainRequest)
      guard Set(trainingGraph.graph.parameters.map(\.name)) == Set(graph.parameters.map(\.name)) else {
        throw .usage("\(m): the training library's parameters differ from the inference model's; build with --train-batch 0")
      }
      training = try emit(trainingGraph.graph, target: request.compile.target, header: "\(m)_train_abi.h")
      decayRule = unfused
    }
    let context: ContextSources
    do {
      context = try ContextEmitter.emit(inference: graph, hasTraining: training != nil,
                                        decays: graph.parameters.map { decays($0.name, in: decayRule) })
    } catch {
      throw .codegen(error)
    }
    return CLibrarySources(name: m, graph: graph, inference: inference, training: training, context: context, warnings: warnings)
  }

  public static func compileCLibrary(_ request: CLibraryRequest) throws(DriverError) -> CLibraryArtifact {
    let emitted = try emitCLibrary(request)
    let (m, graph, inference, training, context, warnings) = (emitted.name, emitted.graph, emitted.inference, emitted.training, emitted.context, emitted.warnings)
    let compiler: Compiler
    let openMP: OpenMPInstall
    let library: BuiltLibrary
    let models = [inference] + (training.map { [$0] } ?? [])
    let buildRequest = BuildRequest(
      name: m,
      sources: models.map { LocusBuild.SourceFile(name: $0.sourceFileName, text: $0.source) }
        + [LocusBuild.SourceFile(name: context.contextFileName, text: context.context)],
      headers: models.map { LocusBuild.SourceFile(name: $0.headerFileName, text: $0.header) }
        + [LocusBuild.SourceFile(name: context.headerFileName, text: context.header)],
      output: .staticLibrary)
    do {
      compiler = try Compiler.fromEnvironment()
      openMP = try compiler.toolchain.requireOpenMP()
      library = try compiler.buildMergedArchive(buildRequest, exports: context.exports)
    } catch {
      throw .build(error)
    }
    let manifest = CLibraryManifest(
      model: m, batch: graph.batch, trainBatch: request.trainBatch, image: inference.manifest.inputs[0].shape.dropFirst().map { $0 },
      classes: inference.manifest.outputs[0].shape.last ?? 0, parameterCount: graph.parameterCount,
      arenaBytes: inference.plan.arenaBytes, trainArenaBytes: training?.plan.arenaBytes ?? 0, functions: context.exports,
      compiler: "\(compiler.toolchain.clang) (\(compiler.toolchain.clangVersion))",
      flags: buildRequest.optimization + ["-fPIC", "-fopenmp"], openMPLibDir: openMP.libDir,
      buildSeconds: library.cached ? 0 : seconds(library.wallTime), sourceHash: library.key)
    return CLibraryArtifact(name: m, inference: inference, training: training, context: context, library: library,
                            openMP: openMP, warnings: warnings, manifest: manifest)
  }

  private static func emit(_ graph: Graph, target: Target, header: String) throws(DriverError) -> EmittedModel {
    do {
      return try CEmitter.emit(graph, options: EmitOptions(target: target, headerFileName: header))
    } catch {
      throw .codegen(error)
    }
  }
}
