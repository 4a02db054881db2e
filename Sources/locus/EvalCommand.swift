import ArgumentParser
import Foundation
import LocusDriver
import LocusRuntime
import LocusTraining

struct EvalCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "eval",
    abstract: "Top-1 accuracy and the confusion matrix of a spec with given weights on a test set.")

  @OptionGroup var options: CompileOptions
  @OptionGroup var dataOptions: DataOptions

  @Option(help: "Weights (safetensors), e.g. runs/NAME/weights.safetensors from locus train.")
  var weights: String

  @Option(help: "Batch size of the compiled model.")
  var batch: Int = 500

  @Option(help: "Threads (default: all cores).")
  var threads: Int?

  func run() throws {
    try reportingErrors {
      let testSet = try dataOptions.load(.test)
      let artifact = try Driver.compile(options.request(batch: min(batch, testSet.count)))
      printWarnings(artifact)
      let model = try Driver.load(artifact)
      if let threads { try model.setThreads(threads) }
      try model.bindWeights(try SafeTensorsFile.read(path: weights))
      let test = try Batcher.evaluation(testSet, batchSize: model.batch, normalization: dataOptions.data.normalization)
      let (loss, matrix) = try TrainingLoop.evaluate(model, on: test)
      print(matrix.render())
      print(String(format: "top-1 accuracy %.2f%% (%d/%d), mean cross-entropy %.4f", 100 * matrix.accuracy, matrix.correct, matrix.total, loss))
    }
  }
}
