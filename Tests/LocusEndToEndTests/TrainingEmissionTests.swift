import Foundation
import LocusCodegen
import LocusFrontend
import LocusIR
import LocusPasses
import LocusSpec
import XCTest

/// Every bundled spec at its real size differentiates into a training graph that verifies and
/// emits C (TrainingFixtureTests runs the tiny sizes against PyTorch; this proves the full models,
/// their shapes and memory plans, go through without building them with clang).
final class TrainingEmissionTests: XCTestCase {
  func testEveryBundledSpecEmitsATrainingLibrary() throws {
    let specs = try FileManager.default.contentsOfDirectory(atPath: repositoryRoot().appendingPathComponent("specs").path)
      .filter { $0.hasSuffix(".locus") }.sorted()
    XCTAssertEqual(specs.count, 9)
    for file in specs {
      let url = repositoryRoot().appendingPathComponent("specs/\(file)")
      let source = SourceFile(name: "specs/\(file)", text: try String(contentsOf: url, encoding: .utf8))
      let graph = try Frontend.compile(source, batch: 2).graph
      var training = try Autodiff.trainingGraph(graph)
      training.graph.name += "_train"
      try training.graph.verify()
      let emitted = try CEmitter.emit(training.graph)
      let trainable = graph.parameters.filter(\.role.isTrainable).count
      // Every trainable parameter has a gradient output, except the ones the loss cannot reach.
      XCTAssertGreaterThan(training.gradients.count, trainable * 3 / 4, file)
      XCTAssertEqual(emitted.graph.outputs.first?.name, "loss", file)
      XCTAssertTrue(emitted.source.contains("\(training.graph.name)_adamw_step"), file)
      XCTAssertTrue(emitted.header.contains("\(training.graph.name)_sgd_step"), file)
      print("\(file): \(training.gradients.count)/\(trainable) gradients, \(training.graph.nodes.count) nodes, arena \(emitted.plan.arenaFloats * 4 / 1_048_576) MiB at batch 2, \(graph.forwardFlops / 1_000_000) MFLOP forward")
    }
  }
}
