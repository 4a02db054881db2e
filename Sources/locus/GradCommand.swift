import ArgumentParser
import Foundation
import LocusDriver
import LocusRuntime
import LocusTraining

struct GradCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "grad",
    abstract: "One forward and backward pass in train mode: write the loss and every parameter's gradient.",
    discussion: """
      The loss is softmax cross-entropy (mean over the batch) with optional label smoothing; BatchNorm \
      uses the batch's statistics. The output safetensors file holds each trainable parameter's gradient \
      under the parameter's own name (zeros where the loss does not depend on it) and the loss as 'loss'.
      """)

  @OptionGroup var options: CompileOptions

  @Option(help: "Weights (safetensors, official state_dict names).")
  var weights: String

  @Option(help: "Input images, float32 .npy of shape [B, C, H, W].")
  var input: String

  @Option(help: "Class labels, integer (or float) .npy of shape [B].")
  var labels: String

  @Option(help: "Label smoothing in [0, 1].")
  var labelSmoothing: Float = 0

  @Option(help: "Turn the spec's drop_path on with masks drawn from this seed (as training step 1 of `train --seed`); off by default.")
  var dropPathSeed: UInt64?

  @Option(help: "Where to write the gradients (safetensors).")
  var output: String

  func run() throws {
    try reportingErrors {
      let x = try readNpy(input)
      let y = try readNpy(labels)
      let batch = try Driver.batch(of: x, path: input)
      guard y.shape == [batch], let labels = exactLabels(y.values) else {
        throw DriverError.usage("\(self.labels): expected \(batch) integer class labels (shape [\(batch)]), got shape \(y.shape)")
      }
      let artifact = try Driver.compileTraining(options.request(batch: batch))
      try Driver.checkInput(x, path: input, manifest: artifact.manifest)
      let model = try Driver.load(artifact)
      try model.bindWeights(try SafeTensorsFile.read(path: weights))
      let trainer = try Trainer(model: model, optimizer: .sgd(momentum: 0), decays: artifact.decays)
      trainer.dropPathSeed = dropPathSeed
      let targets = try LabelSmoothing.targets(labels: labels, classes: trainer.classes, smoothing: labelSmoothing)
      let result = try trainer.computeGradients(images: x.values, targets: targets)
      var tensors: [String: Tensor] = ["loss": Tensor(shape: [1], floats: [result.loss])]
      for name in trainer.trainableParameters {
        tensors[name] = Tensor(shape: model.parameters.first { $0.name == name }?.shape ?? [], floats: trainer.gradient(name) ?? [])
      }
      try SafeTensorsWriter.write(tensors, metadata: ["loss": "\(result.loss)", "gradient_norm": "\(result.gradientNorm)"], to: output)
      print("loss \(result.loss)  gradient norm \(result.gradientNorm)  (\(tensors.count - 1) gradients → \(output))")
    }
  }
}

func readNpy(_ path: String) throws(DriverError) -> NpyArray {
  do throws(RuntimeError) { return try Npy.read(path: path) } catch { throw DriverError.runtime(error) }
}

/// Labels as Int32 when every value is a whole number (int .npy files arrive as exact floats).
func exactLabels(_ values: [Float]) -> [Int32]? {
  values.allSatisfy { $0 == $0.rounded() && abs($0) < 16_777_216 } ? values.map { Int32($0) } : nil
}
