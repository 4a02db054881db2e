import ArgumentParser
import Foundation
import LocusDriver
import LocusRuntime
import LocusTraining

/// The data sets `locus train` and `locus eval` read.
enum DataSetName: String, ExpressibleByArgument, CaseIterable {
  case fashionMNIST = "fashion-mnist"
  case cifar10

  func load(_ split: Split, directory: String?) throws(TrainingError) -> Dataset {
    switch self {
    case .fashionMNIST: return try FashionMNIST.load(split, directory: directory ?? FashionMNIST.defaultDirectory)
    case .cifar10:
      guard let directory else {
        throw .invalidArgument("CIFAR-10 has no default location: pass --data-dir with the folder of data_batch_1.bin … test_batch.bin")
      }
      return try CIFAR10.load(split, directory: directory)
    }
  }

  var normalization: Normalization {
    switch self {
    case .fashionMNIST: FashionMNIST.normalization
    case .cifar10: CIFAR10.normalization
    }
  }
}

/// Options shared by train and eval: where the data comes from.
struct DataOptions: ParsableArguments {
  @Option(help: "Data set: fashion-mnist (Debian's dataset-fashion-mnist) or cifar10 (binary version).")
  var data: DataSetName = .fashionMNIST

  @Option(help: "Folder of the data set's files (default for fashion-mnist: /usr/share/datasets/fashion-mnist).")
  var dataDir: String?

  @Option(help: "Use only the first N training images (quick runs, tests).")
  var limitTrain: Int?

  @Option(help: "Use only the first N test images.")
  var limitTest: Int?

  func load(_ split: Split) throws(DriverError) -> Dataset {
    do {
      let set = try data.load(split, directory: dataDir)
      let limit = split == .train ? limitTrain : limitTest
      return limit.map { set.prefix($0) } ?? set
    } catch {
      throw DriverError.usage("\(error)")
    }
  }
}

struct TrainCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "train",
    abstract: "Train a spec on Fashion-MNIST or CIFAR-10 in generated code, evaluating after each epoch.",
    discussion: """
      Writes into --out: checkpoint-<step>.safetensors (weights + optimizer state, atomically, each epoch), \
      weights.safetensors (the inference weights), metrics.csv / metrics.json and curves.svg. --resume continues \
      from the last checkpoint there and ends with the same weights as an uninterrupted run. Recipe: AdamW, \
      cosine learning rate with linear warm-up (per step), label smoothing, clipping by global gradient norm; \
      weight decay only on weights of rank ≥ 2.
      """)

  @OptionGroup var options: CompileOptions
  @OptionGroup var dataOptions: DataOptions

  @Option(help: "Epochs.") var epochs: Int = 3
  @Option(help: "Batch size (the training library is compiled for it; the last partial batch of each epoch is dropped).") var batch: Int = 64
  @Option(help: "Peak learning rate.") var lr: Double = 2e-3
  @Option(help: "Epochs of linear warm-up before the cosine decay.") var warmupEpochs: Double = 1
  @Option(help: "Optimizer: adamw or sgd.") var optimizer: String = "adamw"
  @Option(help: "Weight decay (weights of rank ≥ 2 only).") var weightDecay: Float = 0.05
  @Option(help: "SGD momentum.") var momentum: Float = 0.9
  @Option(help: "Clip the global gradient norm to this; 0 turns clipping off.") var clip: Float = 1
  @Option(help: "Label smoothing.") var labelSmoothing: Float = 0.1
  @Flag(help: "Random crop (zero padding 2) and horizontal flip.") var augment = false
  @Flag(help: "Turn the spec's drop_path (stochastic depth) off; it is on by default, seeded by --seed.") var noDropPath = false
  @Option(help: "Seed of the initial weights, the shuffling and the augmentation.") var seed: UInt64 = 0
  @Option(help: "Start from these weights instead of the spec's initialisation.") var weights: String?
  @Option(help: "Run directory.") var out: String = "runs/default"
  @Flag(help: "Continue from the last checkpoint in --out.") var resume = false
  @Option(help: "Stop after this many epochs of this invocation (the schedule still spans --epochs); continue later with --resume.") var stopAfter: Int?
  @Option(help: "Batch size of the evaluation model.") var evalBatch: Int = 500
  @Option(help: "Threads (default: all cores).") var threads: Int?
  @Option(help: "Benchmark instead of training: time this many steps (after 5 warm-up steps) on random images, print the median.") var benchmarkSteps: Int?
  @Flag(help: "With --benchmark-steps: print one JSON object.") var json = false

  func validate() throws {
    guard epochs >= 1, batch >= 1, evalBatch >= 1 else { throw ValidationError("--epochs, --batch and --eval-batch must be at least 1") }
    guard ["adamw", "sgd"].contains(optimizer) else { throw ValidationError("--optimizer takes adamw or sgd, got '\(optimizer)'") }
    guard lr > 0, lr.isFinite else { throw ValidationError("--lr must be positive") }
  }

  func run() throws {
    try reportingErrors {
      if let benchmarkSteps { return try benchmark(steps: benchmarkSteps) }
      let trainSet = try dataOptions.load(.train), testSet = try dataOptions.load(.test)
      let artifact = try Driver.compileTraining(options.request(batch: batch))
      let evaluation = try Driver.compile(options.request(batch: min(evalBatch, testSet.count)))
      printWarnings(evaluation)
      let evaluator = try Driver.load(evaluation)
      let trainer = try makeTrainer(artifact)
      let imageShape = Array(trainer.model.inputs[0].shape.dropFirst())
      guard imageShape == [trainSet.channels, trainSet.height, trainSet.width] else {
        throw DriverError.usage("\(options.spec) takes images \(imageShape) but \(trainSet.name) has [\(trainSet.channels), \(trainSet.height), \(trainSet.width)]; set the model's image size and channels with --set (e.g. --set image=28 --set in_chans=1)")
      }
      guard trainer.classes == trainSet.classes else {
        throw DriverError.usage("\(options.spec) predicts \(trainer.classes) classes, \(trainSet.name) has \(trainSet.classes); use --set classes=\(trainSet.classes)")
      }
      if let threads { try evaluator.setThreads(threads) }
      var config = TrainingConfig(
        epochs: epochs, learningRate: lr, warmupEpochs: warmupEpochs, optimizer: chosenOptimizer, maxGradNorm: trainer.maxGradNorm,
        labelSmoothing: labelSmoothing, seed: seed, augmentation: augment ? Augmentation(padding: 2, horizontalFlip: true) : .none)
      config.dropPath = !noDropPath
      let loop = TrainingLoop(
        trainer: trainer, evaluator: evaluator,
        train: try .training(trainSet, batchSize: batch, seed: seed, normalization: dataOptions.data.normalization, augmentation: config.augmentation),
        test: try .evaluation(testSet, batchSize: evaluator.batch, normalization: dataOptions.data.normalization),
        config: config, directory: out, title: "\(artifact.inference.name) on \(trainSet.name)")
      let first = resume ? try loop.resume() : try freshRun(loop)
      if first >= epochs {
        printErr("\(out) already holds \(first) epoch(s): nothing to train (raise --epochs to train further)")
      } else if first > 0 {
        printErr("resuming \(out) after epoch \(first) (step \(trainer.step))")
      }
      printErr("training \(artifact.inference.name): \(trainSet.count) images, batch \(batch), \(loop.train.batchesPerEpoch) steps per epoch, \(epochs) epochs, \(config.optimizer), lr \(lr)")
      loop.progress = ProgressBar(epochs: epochs, batchSize: batch)
      let log = try loop.run(from: first, until: stopAfter.map { min(first + $0, epochs) } ?? epochs)
      let best = log.records.max { $0.testAccuracy < $1.testAccuracy }
      print(String(format: "test accuracy %.2f%% after %d epochs (best %.2f%% at epoch %d); run in %@",
                   100 * (log.records.last?.testAccuracy ?? 0), log.records.count, 100 * (best?.testAccuracy ?? 0), best?.epoch ?? 0, out))
    }
  }

  private var chosenOptimizer: Optimizer {
    optimizer == "sgd" ? .sgd(momentum: momentum, weightDecay: weightDecay) : .adamW(weightDecay: weightDecay)
  }

  /// The training library loaded with --weights (or the spec's seeded initialisation) and --threads,
  /// and a trainer with the chosen optimizer and clipping.
  private func makeTrainer(_ artifact: TrainingArtifact) throws -> Trainer {
    let model = try Driver.load(artifact)
    try bindWeights(model, path: weights, orInitialisationOf: artifact.inference, seed: seed, threads: threads)
    let trainer = try Trainer(model: model, optimizer: chosenOptimizer, maxGradNorm: clip > 0 ? clip : nil, decays: artifact.decays)
    trainer.dropPathSeed = noDropPath ? nil : seed
    return trainer
  }

  /// Median time of one training step (forward, backward, clipping, optimizer, running statistics)
  /// on seeded random images: the number to put beside PyTorch's (scripts/reference/bench_train.py
  /// times the same step).
  private func benchmark(steps: Int) throws {
    let artifact = try Driver.compileTraining(options.request(batch: batch))
    let trainer = try makeTrainer(artifact)
    var random = SplitMix64(seed: seed &+ 1)
    let images = (0..<trainer.model.inputs[0].numel).map { _ in Float(random.next() >> 40) / Float(1 << 24) * 2 - 1 }
    let targets = try LabelSmoothing.targets(labels: (0..<batch).map { Int32($0 % trainer.classes) }, classes: trainer.classes, smoothing: labelSmoothing)
    var times: [Double] = []
    for i in 0..<(5 + steps) {
      let start = ContinuousClock.now
      try trainer.step(images: images, targets: targets, learningRate: Float(lr))
      if i >= 5 { times.append(Driver.seconds(ContinuousClock.now - start) * 1000) }
    }
    let sorted = times.sorted()
    let median = sorted[sorted.count / 2], imagesPerSecond = Double(batch) / (median / 1000)
    if json {
      // times_ms: every timed step in order, so a caller can pool several runs (bench_train.py's rounds).
      let all = times.map { "\($0)" }.joined(separator: ", ")
      print("{\"spec\": \"\(artifact.inference.name)\", \"batch\": \(batch), \"median_ms\": \(median), \"min_ms\": \(sorted[0]), \"images_per_s\": \(imagesPerSecond), \"times_ms\": [\(all)]}")
    } else {
      print(String(format: "%@ training step, batch %d: median %.2f ms, min %.2f ms, %.0f images/s (%d steps)",
                   artifact.inference.name, batch, median, sorted[0], imagesPerSecond, steps))
    }
  }

  /// A new run must not mix with an older one's checkpoints.
  private func freshRun(_ loop: TrainingLoop) throws -> Int {
    let existing = try CheckpointStore(directory: out).checkpoints()
    guard existing.isEmpty else {
      throw DriverError.usage("\(out) already holds checkpoints of a run; pass --resume to continue it, or choose another --out")
    }
    return 0
  }
}
