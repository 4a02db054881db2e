import ArgumentParser
import Foundation
import LocusDriver
import LocusPasses
import LocusRuntime

/// The main job of `make`: compile every bundled spec and print one line each.
struct SummaryCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "summary",
    abstract: "Compile specs and print parameters, FLOPs, arena, build time and latency for each.")

  @Argument(help: "Spec files.")
  var specs: [String]

  @Option(help: "Batch size for the latency measurement.")
  var batch: Int = 1

  @Option(help: "Timed runs per model (after 2 warm-up runs); the median is printed.")
  var runs: Int = 10

  @Option(name: .customShort("O", allowingJoined: true), help: "0: no fusion; 1 (default): all fusions.")
  var optimization: Int = 1

  func run() throws {
    try reportingErrors {
      print("model                   params     GFLOP/img  arena MiB  build s   batch-\(batch) median ms   (arena: activations; folded weights not included)")
      for spec in specs {
        let fusion = optimization > 0 ? FusionOptions() : .none
        let artifact = try Driver.compile(CompileRequest(specPath: spec, batch: batch, fusion: fusion))
        let model = try Driver.load(artifact)
        let m = artifact.manifest
        let ms = try measure(model, artifact)
        let build = artifact.library.cached ? "cached" : String(format: "%.1f", m.buildSeconds ?? 0)
        print(
          m.model.padding(toLength: 22, withPad: " ", startingAt: 0)
            + String(format: "%10d  %9.3f  %9.2f  %7@  %10.2f", m.parameterCount, Double(m.forwardFlops) / 1e9 / Double(batch),
                     Double(m.arenaBytes - m.preparedBytes) / 1_048_576, build as NSString, ms))
      }
    }
  }

  private func measure(_ model: CompiledModel, _ artifact: CompiledArtifact) throws -> Double {
    let weights = try Driver.initialWeights(for: artifact.graph, seed: 0)
    do throws(RuntimeError) {
      try model.bindWeights(weights, sourceName: "seeded init")
      let input = benchmarkInput(count: artifact.manifest.inputs[0].shape.reduce(1, *))
      var times: [Double] = []
      for i in 0..<(runs + 2) {
        let start = ContinuousClock.now
        _ = try model.run(inputs: [input])
        if i >= 2 { times.append(Driver.seconds(ContinuousClock.now - start) * 1000) }
      }
      return times.sorted()[times.count / 2]
    } catch {
      throw DriverError.runtime(error)
    }
  }
}
