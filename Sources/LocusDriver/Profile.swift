import Foundation

/// One kernel of a forward pass as a `--profile` build counted it (ProfileFile.swift's records).
public struct KernelRecord: Sendable, Encodable {
  public var name: String
  public var op: String
  public var flops: Double
  public var bytes: Double
  public var calls: Int
  public var seconds: Double
  public var lastStart: Double
  public var lastEnd: Double
}

/// Reads and resets the counters of a library compiled with `CompileRequest.profile`.
public struct ProfileCounters {
  typealias Count = @convention(c) () -> Int32
  typealias Record = @convention(c) (Int32, UnsafeMutablePointer<UnsafePointer<CChar>?>, UnsafeMutablePointer<UnsafePointer<CChar>?>,
                                     UnsafeMutablePointer<Double>, UnsafeMutablePointer<Double>, UnsafeMutablePointer<Int>,
                                     UnsafeMutablePointer<Double>, UnsafeMutablePointer<Double>, UnsafeMutablePointer<Double>) -> Int32
  typealias Reset = @convention(c) () -> Void
  let count: Count
  let record: Record
  let resetCounters: Reset

  /// The counters of model `model` in the library at `path` (loaded again by dlopen: the same
  /// handle as the running model's).
  public init(libraryPath path: String, model: String) throws(DriverError) {
    guard let handle = dlopen(path, RTLD_NOW | RTLD_LOCAL),
          let count = dlsym(handle, "\(model)_profile_count"), let record = dlsym(handle, "\(model)_profile_record"),
          let reset = dlsym(handle, "\(model)_profile_reset")
    else {
      throw .usage("\(path) has no profiling counters (\(model)_profile_*): compile it with --profile")
    }
    self.count = unsafeBitCast(count, to: Count.self)
    self.record = unsafeBitCast(record, to: Record.self)
    resetCounters = unsafeBitCast(reset, to: Reset.self)
  }

  public func reset() { resetCounters() }

  public func records() -> [KernelRecord] {
    (0..<count()).compactMap { i in
      var name: UnsafePointer<CChar>?, op: UnsafePointer<CChar>?
      var flops = 0.0, bytes = 0.0, seconds = 0.0, start = 0.0, end = 0.0
      var calls = 0
      guard record(i, &name, &op, &flops, &bytes, &calls, &seconds, &start, &end) == 0, let name, let op else { return nil }
      return KernelRecord(name: String(cString: name), op: String(cString: op), flops: flops, bytes: bytes, calls: calls,
                          seconds: seconds, lastStart: start, lastEnd: end)
    }
  }
}

extension KernelRecord {
  /// The Chrome trace (chrome://tracing, Perfetto) of one forward pass: each kernel's last call as
  /// a complete event, in microseconds from the first kernel's start.
  public static func chromeTrace(_ records: [KernelRecord], model: String) throws -> Data {
    struct Event: Encodable {
      var name: String, cat: String, ph = "X"
      var ts: Double, dur: Double
      var pid = 1, tid = 1
      var args: [String: Double]
    }
    struct Trace: Encodable {
      var traceEvents: [Event]
      var displayTimeUnit = "ms"
      var otherData: [String: String]
    }
    let t0 = records.filter { $0.calls > 0 }.map(\.lastStart).min() ?? 0
    let events = records.filter { $0.calls > 0 }.map {
      Event(name: $0.name, cat: $0.op, ts: ($0.lastStart - t0) * 1e6, dur: ($0.lastEnd - $0.lastStart) * 1e6,
            args: ["gflop": $0.flops / 1e9, "mbytes": $0.bytes / 1e6])
    }
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.sortedKeys]
    return try encoder.encode(Trace(traceEvents: events, otherData: ["model": model, "generator": "locus profile"]))
  }
}
