import ArgumentParser
import LocusDriver
import LocusRuntime

struct InitCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "init", abstract: "Write seeded initial weights (the architecture's own init scheme) as safetensors.")

  @OptionGroup var options: CompileOptions

  @Option(help: "Random seed.")
  var seed: UInt64 = 0

  @Option(name: .shortAndLong, help: "The safetensors file to write.")
  var output: String

  func run() throws {
    try reportingErrors {
      let (graph, _) = try Driver.graph(options.request(batch: 1))
      let tensors = try Driver.initialWeights(for: graph, seed: seed)
      do throws(RuntimeError) {
        try SafeTensorsWriter.write(tensors, metadata: ["format": "pt", "locus.model": graph.name, "locus.seed": String(seed)], to: output)
      } catch {
        throw DriverError.runtime(error)
      }
      print("\(graph.name): \(tensors.count) tensors, \(graph.parameterCount) floats, seed \(seed) → \(output)")
    }
  }
}
