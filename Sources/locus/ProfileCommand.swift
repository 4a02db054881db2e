import ArgumentParser
import Foundation
import LocusDriver
import LocusRuntime

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
      (chrome://tracing or ui.perfetto.dev).
      """)

  @OptionGroup var options: CompileOptions
  @Option(help: "Batch size.") var batch: Int = 1
  @Option(help: "Threads (default: all cores).") var threads: Int?
  @Option(help: "Timed runs after the warm-up.") var runs: Int = 20
  @Option(help: "Untimed warm-up runs.") var warmup: Int = 3
  @Option(help: "Weights (safetensors) instead of the seeded initialisation.") var weights: String?
  @Option(help: "Write the last run as a Chrome trace (JSON) here.") var trace: String?
  @Option(help: "Print this many kernels (0: all).") var top: Int = 25

  func validate() throws {
    guard batch >= 1, runs >= 1, warmup >= 0, top >= 0 else { throw ValidationError("--batch and --runs must be at least 1; --warmup and --top at least 0") }
  }

  func run() throws {
    try reportingErrors {
      var request = options.request(batch: batch)
      request.profile = true
      let artifact = try Driver.compile(request)
      printWarnings(artifact)
      let model = try Driver.load(artifact)
      if let threads { try model.setThreads(threads) }
      if let weights {
        try model.bindWeights(try SafeTensorsFile.read(path: weights))
      } else {
        try model.bindWeights(try Driver.initialWeights(for: artifact.graph, seed: 0), sourceName: "the spec's initialisation (seed 0)")
      }
      let counters = try ProfileCounters(libraryPath: artifact.library.path, model: artifact.graph.name)
      let input = benchmarkInput(count: model.inputs[0].numel)
      var wall: [Double] = []
      for i in 0..<(warmup + runs) {
        if i == warmup { counters.reset() }
        let start = ContinuousClock.now
        _ = try model.run(inputs: [input])
        if i >= warmup { wall.append(Driver.seconds(ContinuousClock.now - start) * 1000) }
      }
      let records = counters.records().sorted { $0.seconds > $1.seconds }
      let total = records.reduce(0) { $0 + $1.seconds }
      let r = Double(runs)
      print(String(format: "%@ batch %d: %d kernels, %.3f ms per run in kernels, forward median %.3f ms (%d runs)",
                   artifact.graph.name, batch, records.count, 1000 * total / r, wall.sorted()[wall.count / 2], runs))
      print("    ms/run  share  calls   GFLOP/s     GB/s  op                     node")
      for k in records.prefix(top == 0 ? records.count : top) {
        let perCall = k.seconds / Double(max(k.calls, 1))
        print(String(format: "%10.4f %5.1f%% %6.1f %9.2f %8.2f  %@ %@", 1000 * k.seconds / r, total > 0 ? 100 * k.seconds / total : 0,
                     Double(k.calls) / r, perCall > 0 ? k.flops / perCall / 1e9 : 0, perCall > 0 ? k.bytes / perCall / 1e9 : 0,
                     k.op.padding(toLength: 22, withPad: " ", startingAt: 0), k.name))
      }
      if records.count > top, top > 0 { print("    … \(records.count - top) more (--top 0 lists all)") }
      if let trace {
        do {
          try KernelRecord.chromeTrace(records, model: artifact.graph.name).write(to: URL(fileURLWithPath: trace), options: .atomic)
        } catch {
          throw DriverError.io(path: trace, reason: "cannot write the trace: \(error.localizedDescription)")
        }
        print("trace of the last run → \(trace)")
      }
    }
  }
}
