import LocusBuild
import LocusCodegen
import LocusIR
import LocusPasses
import LocusRuntime

/// A compiled training library (DESIGN.md §7): the spec's graph differentiated, emitted and built
/// under the name `<model>_train`.
public struct TrainingArtifact: Sendable {
  public var training: TrainingGraph
  public var emitted: EmittedModel
  public var library: BuiltLibrary
  public var manifest: Manifest
  /// The inference graph it was derived from (before any fusion).
  public var inference: Graph
  /// The fusions the passes applied before and after differentiation, for `--report`.
  public var fusions: [FusionNote] = []

  /// The library as the files `locus compile` writes (`Driver.write`).
  public var compiled: CompiledArtifact {
    CompiledArtifact(graph: training.graph, emitted: emitted, library: library, warnings: [], manifest: manifest, fusions: fusions)
  }

  /// Weight decay applies to weights of rank ≥ 2 only: not to biases, norms, position embeddings
  /// and class tokens (timm's `param_groups_weight_decay` with the models' `no_weight_decay`).
  public func decays(_ name: String) -> Bool { Driver.decays(name, in: inference) }
}

extension Driver {
  /// The training library of a spec at `request.batch`. Differentiation starts from the unfused
  /// graph in train mode, after the layout passes whose ops have gradient rules
  /// (`Pipeline.beforeDifferentiation`); `request.fusion` chooses those and the fusions run over
  /// the training graph (`Pipeline.training`).
  /// `observe` sees the graph after every pass (for `--dump-ir`).
  public static func compileTraining(_ request: CompileRequest, observe: (String, Graph) -> Void = { _, _ in })
    throws(DriverError) -> TrainingArtifact {
    var notes: [FusionNote] = []
    let (training, inference) = try trainingGraph(request, notes: &notes, observe: observe)
    let (emitted, library, manifest) = try build(training.graph, target: request.target, profile: request.profile)
    return TrainingArtifact(training: training, emitted: emitted, library: library, manifest: manifest, inference: inference,
                            fusions: notes)
  }

  /// Weight decay applies to weights of rank ≥ 2 of `graph` only (`TrainingArtifact.decays`).
  public static func decays(_ name: String, in graph: Graph) -> Bool {
    guard let p = graph.parameter(named: name) else { return false }
    return p.role == .weight && p.shape.count >= 2
  }

  /// The training graph of `compileTraining`, not yet emitted, and the unfused inference graph.
  static func trainingGraph(_ request: CompileRequest) throws(DriverError) -> (TrainingGraph, Graph) {
    var notes: [FusionNote] = []
    return try trainingGraph(request, notes: &notes)
  }

  /// As `trainingGraph(_:)`, collecting the fusions applied into `notes`.
  static func trainingGraph(_ request: CompileRequest, notes: inout [FusionNote], observe: (String, Graph) -> Void = { _, _ in })
    throws(DriverError) -> (TrainingGraph, Graph) {
    var plain = request
    plain.fusion = .none
    plain.trainMode = true
    let (inference, _) = try graph(plain)
    var training: TrainingGraph
    do {
      training = try Autodiff.trainingGraph(inference, options: request.fusion, notes: &notes, observe: observe)
      training.graph.name = inference.name + "_train"
      training.graph = try Pipeline.run(training.graph, passes: Pipeline.training, options: request.fusion, notes: &notes,
                                        observe: observe)
    } catch let error as InternalCompilerError {
      throw .internalError(error)
    } catch {
      throw .usage("cannot train \(inference.name): \(error)")
    }
    return (training, inference)
  }

  /// Loads a training library with `weights` bound, ready for a `Trainer`.
  public static func load(_ artifact: TrainingArtifact) throws(DriverError) -> CompiledModel {
    do {
      return try CompiledModel(libraryPath: artifact.library.path, modelName: artifact.training.graph.name)
    } catch {
      throw .runtime(error)
    }
  }
}
