import ArgumentParser
import Foundation
import LocusDriver
import LocusRuntime
import LocusTraining

/// `locus profile`: time per kernel of a forward pass, from a build with profiling compiled in.
struct ProfileCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "profile",
    abstract: "Time per kernel (with FLOPs, bytes, GFLOP/s, GB/s, share) sorted by time, and a Chrome trace.",
    discussion: """
      Compiles the spec with --profile (every kernel of forward between two clock reads; normal builds \
      carry none of it), runs --warmup then --runs forward passes on the seeded initialisation (or \
      --weights), and prints one row per kernel: time per run, share of the kernels' total, calls per \
      run, GFLOP/s (2 × multiply-adds of conv/linear/matmul) and GB/s of compulsory traffic (operands \
      read once, result written once: a floor). --trace writes the last run as a Chrome trace \
      (chrome://tracing or ui.perfetto.dev). --train profiles the training library instead: one \
      training step (forward and backward in the library, then AdamW with clipping in Swift, which the \
      table leaves out but the step time includes) on seeded random images.
      """)

  @OptionGroup var options: CompileOptions
  @Option(help: "Batch size.") var batch: Int = 1
  @Option(help: "Threads (default: all cores).") var threads: Int?
  @Option(help: "Timed runs after the warm-up.") var runs: Int = 20
  @Option(help: "Untimed warm-up runs.") var warmup: Int = 3
  @Option(help: "Weights (safetensors) instead of the seeded initialisation.") var weights: String?
  @Option(help: "Write the last run as a Chrome trace (JSON) here.") var trace: String?
  @Option(help: "Print this many kernels (0: all).") var top: Int = 25
  @Flag(help: "Profile a training step of the training library instead of a forward pass.") var train = false

  func validate() throws {
    guard batch >= 1, runs >= 1, warmup >= 0, top >= 0 else { throw ValidationError("--batch and --runs must be at least 1; --warmup and --top at least 0") }
  }

  func run() throws {
    try reportingErrors {
      var request = options.request(batch: batch)
      request.profile = true
      let (name, counters, timings) = train ? try profileTraining(request) : try profileForward(request)
      let wall = timings.wall
      let records = counters.records().sorted { $0.seconds > $1.seconds }
      let total = records.reduce(0) { $0 + $1.seconds }
      let r = Double(runs)
      print(String(format: "%@ batch %d: %d kernels, %.3f ms per run in kernels, %@ median %.3f ms (%d runs)",
                   name, batch, records.count, 1000 * total / r, train ? "training step" : "forward", wall.sorted()[wall.count / 2], runs))
      print("    ms/run  share  calls   GFLOP/s     GB/s  op                     node")
      for k in records.prefix(top == 0 ? records.count : top) {
        // Every argument a Double: an integer 0 from a ternary would go to String(format:) as an
        // Int and shift the C varargs that follow (the names printed "(null)").
        let perCall = k.seconds / Double(max(k.calls, 1))
        let share = total > 0 ? 100 * k.seconds / total : 0.0
        let gflops = perCall > 0 ? k.flops / perCall / 1e9 : 0.0, gbs = perCall > 0 ? k.bytes / perCall / 1e9 : 0.0
        let numbers = String(format: "%10.4f %5.1f%% %6.1f %9.2f %8.2f", 1000 * k.seconds / r, share, Double(k.calls) / r, gflops, gbs)
        print("\(numbers)  \(k.op.padding(toLength: 22, withPad: " ", startingAt: 0)) \(k.name)")
      }
      if records.count > top, top > 0 { print("    … \(records.count - top) more (--top 0 lists all)") }
      if let warning = StolenTime.warning(timings.steal) { print(warning) }
      if let trace {
        do {
          try KernelRecord.chromeTrace(records, model: name).write(to: URL(fileURLWithPath: trace), options: .atomic)
        } catch {
          throw DriverError.io(path: trace, reason: "cannot write the trace: \(error.localizedDescription)")
        }
        print("trace of the last run → \(trace)")
      }
    }
  }

  /// Forward passes of the inference library on the seeded initialisation (or --weights).
  private func profileForward(_ request: CompileRequest) throws -> (String, ProfileCounters, Timings) {
    let artifact = try Driver.compile(request)
    printWarnings(artifact)
    let model = try Driver.load(artifact)
    try bindWeights(model, path: weights, orInitialisationOf: artifact.graph, seed: 0, threads: threads)
    let counters = try ProfileCounters(libraryPath: artifact.library.path, model: artifact.graph.name)
    let input = benchmarkInput(count: model.inputs[0].numel)
    return (artifact.graph.name, counters, try timed(counters) { _ = try model.run(inputs: [input]) })
  }

  /// Training steps (AdamW, clipping at norm 1, drop-path off) on seeded random images with
  /// labels 0, 1, 2, … as one-hot targets.
  private func profileTraining(_ request: CompileRequest) throws -> (String, ProfileCounters, Timings) {
    let artifact = try Driver.compileTraining(request)
    let model = try Driver.load(artifact)
    try bindWeights(model, path: weights, orInitialisationOf: artifact.inference, seed: 0, threads: threads)
    let trainer = try Trainer(model: model, optimizer: .adamW(), maxGradNorm: 1, decays: artifact.decays)
    let images = benchmarkInput(count: model.inputs[0].numel)
    let targets = try LabelSmoothing.targets(labels: (0..<batch).map { Int32($0 % trainer.classes) }, classes: trainer.classes, smoothing: 0)
    let name = artifact.training.graph.name
    let counters = try ProfileCounters(libraryPath: artifact.library.path, model: name)
    return (name, counters, try timed(counters) { try trainer.step(images: images, targets: targets, learningRate: 1e-4) })
  }

  /// Wall times (ms) of the timed runs, and the hypervisor's steal over them.
  struct Timings {
    var wall: [Double] = []
    var steal: Double?
  }

  /// --runs calls of `body` after --warmup untimed ones; the counters hold the timed runs.
  private func timed(_ counters: ProfileCounters, _ body: () throws -> Void) throws -> Timings {
    var timings = Timings(), stolen: StolenTime?
    for i in 0..<(warmup + runs) {
      if i == warmup { counters.reset(); stolen = StolenTime() }
      let start = ContinuousClock.now
      try body()
      if i >= warmup { timings.wall.append(Driver.seconds(ContinuousClock.now - start) * 1000) }
    }
    timings.steal = stolen?.fraction()
    return timings
  }
}
