import ArgumentParser
import Foundation
import LocusBuild
import LocusDriver
import LocusRuntime

/// `locus bench`: inference latency of a compiled spec, beside the machine's measured FMA peak.
/// The timed runs happen in a child process (`locus bench-run`) that loads only the built library
/// and the weights, so its peak resident memory is the model's, not the compiler's.
struct BenchCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "bench",
    abstract: "Latency (median/min/p90), images/s, GFLOP/s and fraction of the measured FMA peak, peak memory.",
    discussion: """
      FLOPs are 2 × the multiply-adds of convolutions, linear layers and matmuls (the manifest's \
      forward_flops). The peak is measured by a built-in probe (12 independent vector FMA chains per \
      thread, -march=native) with the same thread count. Weights default to the spec's seeded \
      initialisation (seed 0), so a spec alone is enough.
      """)

  @OptionGroup var options: CompileOptions
  @Option(help: "Batch size.") var batch: Int = 1
  @Option(help: "Threads (default: all cores).") var threads: Int?
  @Option(help: "Timed runs after the warm-up.") var runs: Int = 30
  @Option(help: "Untimed warm-up runs.") var warmup: Int = 5
  @Option(help: "Weights (safetensors) instead of the seeded initialisation.") var weights: String?
  @Flag(help: "Print one JSON object.") var json = false

  func validate() throws {
    guard batch >= 1, runs >= 1, warmup >= 0 else { throw ValidationError("--batch and --runs must be at least 1, --warmup at least 0") }
    if let threads, threads < 1 { throw ValidationError("--threads must be at least 1") }
  }

  func run() throws {
    try reportingErrors {
      let artifact = try Driver.compile(options.request(batch: batch))
      printWarnings(artifact)
      let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("locus-bench-\(getpid())")
      try? FileManager.default.createDirectory(at: scratch, withIntermediateDirectories: true)
      defer { try? FileManager.default.removeItem(at: scratch) }
      let weightsPath: String
      if let weights {
        weightsPath = weights
      } else {
        weightsPath = scratch.appendingPathComponent("init.safetensors").path
        try SafeTensorsWriter.write(try Driver.initialWeights(for: artifact.graph, seed: 0), to: weightsPath)
      }
      let cores = ProcessInfo.processInfo.activeProcessorCount
      let t = threads ?? cores
      let child = try runChild([
        "bench-run", "--library", artifact.library.path, "--model", artifact.graph.name, "--weights", weightsPath,
        "--threads", "\(t)", "--runs", "\(runs)", "--warmup", "\(warmup)",
      ])
      let times = child.times.sorted()
      let median = times[times.count / 2], p90 = times[min(times.count - 1, Int((Double(times.count) * 0.9).rounded(.up)) - 1)]
      let flops = Double(artifact.manifest.forwardFlops)
      let gflops = flops / (median / 1000) / 1e9
      let peak = try PeakProbe.measure(threads: t)
      let r = Report(spec: artifact.graph.name, batch: batch, threads: t, median_ms: median, min_ms: times[0], p90_ms: p90,
                     images_per_s: Double(batch) / (median / 1000), gflop_per_forward: flops / 1e9, gflops: gflops,
                     peak_gflops: peak, peak_fraction: gflops / peak, peak_rss_bytes: child.peakRSS, runs: runs,
                     times_ms: child.times, steal_fraction: child.steal)
      if json {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        print(String(decoding: try encoder.encode(r), as: UTF8.self))
      } else {
        print(String(format: "%@ batch %d, %d thread(s), %d runs: median %.3f ms, min %.3f, p90 %.3f; %.1f images/s; %.3f GFLOP per forward → %.1f GFLOP/s = %.1f%% of the measured FMA peak (%.1f GFLOP/s); peak RSS %.1f MiB",
                     r.spec, batch, t, runs, median, r.min_ms, p90, r.images_per_s, r.gflop_per_forward, gflops, 100 * r.peak_fraction, peak,
                     Double(r.peak_rss_bytes) / 1_048_576))
        if let warning = StolenTime.warning(child.steal) { print(warning) }
      }
    }
  }

  struct Report: Encodable {
    var spec: String
    var batch, threads: Int
    var median_ms, min_ms, p90_ms, images_per_s, gflop_per_forward, gflops, peak_gflops, peak_fraction: Double
    var peak_rss_bytes: Int
    var runs: Int
    /// Every timed run in the order it ran, so a caller can pool runs from several invocations
    /// (bench/compare.py interleaves the frameworks in rounds against the machine's drift).
    var times_ms: [Double]
    /// The hypervisor's steal over the timed runs (StolenTime); absent where it cannot be read.
    var steal_fraction: Double?
  }

  /// Runs `locus bench-run` (this executable) and reads its one line: run times (ms), the steal
  /// fraction over them ("-": unknown) and peak RSS (bytes).
  private func runChild(_ arguments: [String]) throws -> (times: [Double], steal: Double?, peakRSS: Int) {
    let executable = Bundle.main.executableURL?.path ?? CommandLine.arguments[0]
    let result: CommandResult
    do { result = try runCommand([executable] + arguments) } catch { throw DriverError.build(error) }
    let fields = result.stdout.split(whereSeparator: \.isWhitespace)
    guard result.status == 0, fields.count >= 5, fields.first == "times", fields[fields.count - 4] == "steal",
      fields[fields.count - 2] == "rss", let rss = Int(fields[fields.count - 1])
    else {
      throw DriverError.usage("the benchmark run failed: \(result.stderr)")
    }
    return (fields.dropFirst().dropLast(4).compactMap { Double($0) }, Double(fields[fields.count - 3]), rss)
  }
}

/// `locus bench-run` (internal): loads a built library and weights, runs it, prints
/// `times <ms>… rss <bytes>` on one line. Used by `locus bench`.
struct BenchRunCommand: ParsableCommand {
  static let configuration = CommandConfiguration(commandName: "bench-run", abstract: "Internal: the timed runs of `locus bench`.", shouldDisplay: false)

  @Option var library: String
  @Option var model: String
  @Option var weights: String
  @Option var threads: Int
  @Option var runs: Int
  @Option var warmup: Int

  func run() throws {
    try reportingErrors {
      // No KMP_BLOCKTIME here: the timed loop runs under the runtime's own setting (ModelLibrary.open:
      // 1 ms unless the user set one), so bench measures what an application gets.
      let model = try CompiledModel(libraryPath: library, modelName: self.model)
      try model.bindWeights(try SafeTensorsFile.read(path: weights))
      try model.setThreads(threads)
      let input = benchmarkInput(count: model.inputs[0].numel)
      let outputs = model.outputs.map { UnsafeMutableBufferPointer<Float>.allocate(capacity: $0.numel) }
      defer { outputs.forEach { $0.deallocate() } }
      var times: [Double] = []
      var stolen: StolenTime?  // from the first timed run on
      try input.withUnsafeBufferPointer { (x) throws(RuntimeError) in
        for i in 0..<(warmup + runs) {
          if i == warmup { stolen = StolenTime() }
          let start = ContinuousClock.now
          try model.run(inputs: [x], outputs: outputs)
          if i >= warmup { times.append(Driver.seconds(ContinuousClock.now - start) * 1000) }
        }
      }
      let steal = stolen?.fraction().map { String($0) } ?? "-"
      print("times " + times.map { String($0) }.joined(separator: " ") + " steal \(steal) rss \(peakResidentBytes())")
    }
  }
}

/// This process's peak resident set. On Linux, VmHWM of /proc/self/status: getrusage's ru_maxrss
/// survives exec, so a child spawned by the compiler would report the compiler's own peak (every
/// model read ~70 MiB that way, whatever its size).
private func peakResidentBytes() -> Int {
  #if os(Linux)
    if let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8),
      let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmHWM:") }),
      let kilobytes = Int(line.dropFirst("VmHWM:".count).trimmingCharacters(in: .whitespaces).split(separator: " ").first ?? "")
    {
      return kilobytes * 1024
    }
  #endif
  var usage = rusage()
  #if os(Linux)
    getrusage(RUSAGE_SELF.rawValue, &usage)
    return usage.ru_maxrss * 1024  // kilobytes on Linux
  #else
    getrusage(RUSAGE_SELF, &usage)
    return usage.ru_maxrss  // bytes on macOS
  #endif
}
