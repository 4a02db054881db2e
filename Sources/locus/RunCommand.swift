import ArgumentParser
import Foundation
import LocusDriver
import LocusRuntime

struct RunCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "run",
    abstract: "Compile (or reuse the cached build), load weights, run one batch from .npy, write .npy.",
    discussion: "The batch size is the leading dimension of the input, shape [B, C, H, W] (float32).")

  @OptionGroup var options: CompileOptions

  @Option(help: "Weights (safetensors, official state_dict names).")
  var weights: String

  @Option(help: "Input images, float32 .npy of shape [B, C, H, W].")
  var input: String

  @Option(help: "Where to write the output, float32 .npy of shape [B, classes].")
  var output: String

  @Option(help: "Threads (default: all cores).")
  var threads: Int?

  func run() throws {
    try reportingErrors {
      let x: NpyArray
      do throws(RuntimeError) { x = try Npy.read(path: input) } catch { throw DriverError.runtime(error) }
      let artifact = try Driver.compile(options.request(batch: try Driver.batch(of: x, path: input)))
      printWarnings(artifact)
      try Driver.checkInput(x, path: input, for: artifact)
      let model = try Driver.load(artifact)
      do throws(RuntimeError) {
        if let threads { try model.setThreads(threads) }
        try model.bindWeights(try SafeTensorsFile.read(path: weights))
        let outputs = try model.run(inputs: [x.values])
        try Npy.write(NpyArray(shape: artifact.manifest.outputs[0].shape, values: outputs[0]), to: output)
      } catch {
        throw DriverError.runtime(error)
      }
    }
  }
}
