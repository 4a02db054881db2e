import Foundation
import LocusRuntime

/// The settings of one training run (what `locus train` takes), saved beside its checkpoints.
public struct TrainingConfig: Sendable, Equatable {
  public var epochs: Int
  public var learningRate: Double
  public var warmupEpochs: Double
  public var optimizer: Optimizer
  public var maxGradNorm: Float?
  public var labelSmoothing: Float
  public var seed: UInt64
  public var augmentation: Augmentation
  /// Whether the spec's drop_path masks are drawn (seeded by `seed`) or all 1.
  public var dropPath = true

  public init(epochs: Int, learningRate: Double, warmupEpochs: Double, optimizer: Optimizer, maxGradNorm: Float?,
              labelSmoothing: Float, seed: UInt64, augmentation: Augmentation) {
    self.epochs = epochs
    self.learningRate = learningRate
    self.warmupEpochs = warmupEpochs
    self.optimizer = optimizer
    self.maxGradNorm = maxGradNorm
    self.labelSmoothing = labelSmoothing
    self.seed = seed
    self.augmentation = augmentation
  }

  /// Key/value form stored in each checkpoint: a resume must use the same settings.
  public var summary: [String: String] {
    ["epochs": "\(epochs)", "learning_rate": "\(learningRate)", "warmup_epochs": "\(warmupEpochs)",
     "optimizer": "\(optimizer)", "max_grad_norm": maxGradNorm.map { "\($0)" } ?? "none",
     "label_smoothing": "\(labelSmoothing)", "seed": "\(seed)",
     "augmentation": "pad \(augmentation.padding) flip \(augmentation.horizontalFlip)", "drop_path": "\(dropPath)"]
  }
}

/// Epochs of training with an evaluation after each: drives a `Trainer` over a `Batcher`, copies the
/// weights into the inference model to evaluate, and writes checkpoints (each epoch, atomically),
/// metrics (CSV/JSON) and the loss/accuracy plot into `directory`. A run resumed from its last
/// checkpoint replays the same batches with the same optimizer state, so it ends with the same
/// weights as an uninterrupted one.
public final class TrainingLoop {
  public let trainer: Trainer
  public let evaluator: CompiledModel
  public let train: Batcher
  public let test: Batcher
  public let config: TrainingConfig
  public let directory: String
  public let title: String
  public var progress: ProgressBar?
  /// Called after each epoch with its record (for the CLI's summary line).
  public var onEpoch: (EpochRecord) -> Void = { _ in }

  private let store: CheckpointStore
  private var log = MetricsLog()
  private var stepLosses: [StepLoss] = []

  public init(trainer: Trainer, evaluator: CompiledModel, train: Batcher, test: Batcher, config: TrainingConfig,
              directory: String, title: String) {
    self.trainer = trainer
    self.evaluator = evaluator
    self.train = train
    self.test = test
    self.config = config
    self.directory = directory
    self.title = title
    store = CheckpointStore(directory: directory)
  }

  public var schedule: LearningRateSchedule {
    get throws(TrainingError) {
      let perEpoch = train.batchesPerEpoch
      let warmup = Int((config.warmupEpochs * Double(perEpoch)).rounded())
      return try .cosine(base: config.learningRate, warmupSteps: min(warmup, perEpoch * config.epochs), totalSteps: perEpoch * config.epochs)
    }
  }

  /// The epoch to start from: 0, or after the last checkpoint when resuming (its weights, optimizer
  /// state and step are restored, and the metrics log is cut to the epochs it covers).
  public func resume() throws(TrainingError) -> Int {
    guard let checkpoint = try store.latest() else { return 0 }
    // Checkpoints from before a setting existed ran with its default.
    let saved = checkpoint.metadata.config.merging(["drop_path": "true"]) { old, _ in old }
    for (key, value) in config.summary where key != "epochs" && saved[key] != value {
      throw .invalidArgument("cannot resume \(checkpoint.path): it was trained with \(key) = \(saved[key] ?? "?"), this run asks for \(value); start a new --out directory or use the same settings")
    }
    do {
      try trainer.model.bindWeights(checkpoint.parameters, sourceName: checkpoint.path)
      try trainer.restore(state: checkpoint.tensors, step: checkpoint.metadata.step)
    } catch {
      throw .runtime(error)
    }
    let metrics = DataFiles.join(directory, MetricsLog.jsonName)
    if FileManager.default.fileExists(atPath: metrics) {
      log = try MetricsLog.load(path: metrics).upTo(epoch: checkpoint.metadata.epoch)
    }
    return checkpoint.metadata.epoch
  }

  /// Trains epochs `first ..< end` (end defaults to all of them); returns the metrics of every
  /// epoch so far.
  public func run(from first: Int, until end: Int? = nil) throws(TrainingError) -> MetricsLog {
    let schedule = try schedule
    for epoch in first..<max(first, min(end ?? config.epochs, config.epochs)) {
      let batches = train.epoch(epoch)
      progress?.startEpoch(epoch + 1, batches: batches.count)
      let start = Date()
      var total = 0.0
      var rate = 0.0
      for (done, batch) in batches.enumerated() {
        rate = schedule.rate(atStep: trainer.step)
        let targets = try LabelSmoothing.targets(labels: batch.labels, classes: trainer.classes, smoothing: config.labelSmoothing)
        let result: Trainer.StepResult
        do {
          result = try trainer.step(images: batch.images, targets: targets, learningRate: Float(rate))
        } catch {
          throw .runtime(error)
        }
        guard result.loss.isFinite else {
          throw .invalidArgument("training diverged at epoch \(epoch + 1), batch \(done + 1): the loss is \(result.loss); lower --lr or keep gradient clipping on")
        }
        total += Double(result.loss)
        stepLosses.append(StepLoss(epoch: epoch + 1, batch: done, batchesPerEpoch: batches.count, loss: Double(result.loss)))
        progress?.update(done: done + 1, loss: total / Double(done + 1))
      }
      let seconds = Date().timeIntervalSince(start)
      let weights = currentWeights()
      let evaluation = try evaluate(weights)
      let record = EpochRecord(
        epoch: epoch + 1, step: trainer.step, trainLoss: total / Double(max(batches.count, 1)), testLoss: evaluation.loss,
        testAccuracy: evaluation.matrix.accuracy, learningRate: rate,
        imagesPerSecond: Double(batches.count * train.batchSize) / max(seconds, 1e-9), seconds: seconds)
      log.records.append(record)
      try saveCheckpoint(epoch: epoch, weights: weights)
      try log.write(toDirectory: directory)
      try TrainingPlot(title: title, records: log.records, stepLosses: stepLosses).write(to: DataFiles.join(directory, "curves.svg"))
      progress?.finishEpoch(loss: record.trainLoss, summary: String(format: "epoch %d/%d: train loss %.4f, test loss %.4f, test accuracy %.2f%%, %.0f images/s",
                                                                   epoch + 1, config.epochs, record.trainLoss, evaluation.loss, 100 * record.testAccuracy, record.imagesPerSecond))
      onEpoch(record)
    }
    return log
  }

  /// Top-1 accuracy, mean cross-entropy (no smoothing) and the confusion matrix on the test set,
  /// with the trainer's current weights.
  public func evaluate() throws(TrainingError) -> (loss: Double, matrix: ConfusionMatrix) {
    try evaluate(currentWeights())
  }

  private func evaluate(_ weights: [String: Tensor]) throws(TrainingError) -> (loss: Double, matrix: ConfusionMatrix) {
    do {
      try evaluator.bindWeights(weights, sourceName: "the weights being trained")
    } catch {
      throw .runtime(error)
    }
    return try Self.evaluate(evaluator, on: test)
  }

  public static func evaluate(_ model: CompiledModel, on test: Batcher) throws(TrainingError) -> (loss: Double, matrix: ConfusionMatrix) {
    var matrix = ConfusionMatrix(classNames: test.dataset.classNames)
    var loss = 0.0
    let classes = model.outputs[0].shape.last ?? 1
    for batch in test.epoch(0) {
      let logits: [Float]
      do {
        logits = try model.run(inputs: [batch.images])[0]
      } catch {
        throw .runtime(error)
      }
      try matrix.add(logits: logits, labels: batch.labels, validCount: batch.validCount)
      for b in 0..<batch.validCount {
        let row = logits[b * classes..<(b + 1) * classes].map(Double.init)
        let m = row.max() ?? 0
        loss += m + Foundation.log(row.reduce(0) { $0 + exp($1 - m) }) - row[Int(batch.labels[b])]
      }
    }
    return (loss / Double(max(matrix.total, 1)), matrix)
  }

  /// The trained parameters (and running statistics) by name.
  public func currentWeights() -> [String: Tensor] {
    var out: [String: Tensor] = [:]
    guard let store = trainer.model.weights else { return out }
    for (i, spec) in store.specs.enumerated() { out[spec.name] = Tensor(shape: spec.shape, floats: Array(store.values(i))) }
    return out
  }

  /// `epoch` just finished (0-based); the checkpoint records epoch + 1 epochs done.
  private func saveCheckpoint(epoch: Int, weights: [String: Tensor]) throws(TrainingError) {
    let state = trainer.optimizerState()
    let tensors = weights.merging(state) { a, _ in a }
    let metadata = CheckpointMetadata(epoch: epoch + 1, step: trainer.step, seed: config.seed, optimizerState: state.keys.sorted(), config: config.summary)
    try store.save(tensors, metadata: metadata)
    // The inference weights alone, for `locus run`/`eval` and apps: rewritten atomically each epoch.
    do {
      try SafeTensorsWriter.write(weights, metadata: ["epoch": "\(epoch + 1)", "step": "\(trainer.step)"],
                                  to: DataFiles.join(directory, "weights.safetensors"))
    } catch {
      throw .runtime(error)
    }
  }
}
