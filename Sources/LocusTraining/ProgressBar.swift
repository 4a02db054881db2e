import Foundation

#if canImport(Glibc)
  import Glibc
#elseif canImport(Darwin)
  import Darwin
#endif

// The one-line progress display of an epoch:
//
//   epoch 2/5 [========>           ] 412/937 loss 0.512 1830 img/s ETA 0:41
//
// On a terminal the line is redrawn in place (\r, then erase to the end of the line) at most ten
// times a second, so printing never slows a fast step down. Into a pipe or a log file, where \r
// would pile up, a plain line is printed every `logEvery` of the epoch and at its end.
// Formatting is pure (ProgressSnapshot) so that it is tested without a terminal.

/// Everything one progress line shows.
public struct ProgressSnapshot: Sendable, Equatable {
  /// From 1.
  public var epoch: Int
  public var epochs: Int
  /// Batches finished in this epoch.
  public var done: Int
  public var total: Int
  /// The running mean training loss of the epoch; nil before the first batch.
  public var loss: Double?
  public var imagesPerSecond: Double?
  /// Time since the epoch started.
  public var elapsed: Double

  public init(
    epoch: Int, epochs: Int, done: Int, total: Int, loss: Double?, imagesPerSecond: Double?, elapsed: Double
  ) {
    self.epoch = epoch
    self.epochs = epochs
    self.done = done
    self.total = total
    self.loss = loss
    self.imagesPerSecond = imagesPerSecond
    self.elapsed = elapsed
  }

  /// Remaining time at the epoch's pace so far; nil until a batch is done.
  public var etaSeconds: Double? {
    guard done > 0, total >= done else { return nil }
    return elapsed / Double(done) * Double(total - done)
  }

  /// The line, without \r or a newline. A finished epoch shows its duration instead of an ETA.
  public func formatted(barWidth: Int = 20) -> String {
    var parts = ["epoch \(epoch)/\(epochs)", Self.bar(done: done, total: total, width: barWidth), "\(done)/\(total)"]
    if let loss { parts.append(String(format: "loss %.3f", loss)) }
    if let imagesPerSecond, imagesPerSecond.isFinite { parts.append(String(format: "%.0f img/s", imagesPerSecond)) }
    if done >= total {
      parts.append("in \(Self.duration(elapsed))")
    } else if let eta = etaSeconds {
      parts.append("ETA \(Self.duration(eta))")
    }
    return parts.joined(separator: " ")
  }

  /// `[=====>    ]`: `width` cells between the brackets; full without the arrow when done.
  public static func bar(done: Int, total: Int, width: Int) -> String {
    let fraction = total > 0 ? min(max(Double(done) / Double(total), 0), 1) : 1
    let filled = Int((fraction * Double(width)).rounded(.down))
    if filled >= width { return "[" + String(repeating: "=", count: width) + "]" }
    return "[" + String(repeating: "=", count: filled) + ">" + String(repeating: " ", count: width - filled - 1) + "]"
  }

  /// m:ss below an hour, h:mm:ss above; "?" for a time that is not a finite number.
  public static func duration(_ seconds: Double) -> String {
    guard seconds.isFinite, seconds < 1e9 else { return "?" }
    let s = Int(max(seconds, 0).rounded())
    if s < 3600 { return String(format: "%d:%02d", s / 60, s % 60) }
    return String(format: "%d:%02d:%02d", s / 3600, s / 60 % 60, s % 60)
  }
}

/// Draws ProgressSnapshots for one epoch after another. Not thread-safe: call it from the loop.
public final class ProgressBar {
  public let epochs: Int
  public let batchSize: Int
  public let interactive: Bool
  /// In non-interactive mode, a line each time this fraction of the epoch is crossed.
  public let logEvery: Double
  private let output: (String) -> Void
  private let clock: () -> Double
  private var epoch = 0
  private var total = 0
  private var start = 0.0
  private var lastDraw = -Double.infinity
  /// Non-interactive: how many `logEvery` intervals have been logged (Int.max once the end is).
  private var lastLoggedStep = 0

  /// `output` receives the text to write (with its \r or newline); `clock` gives seconds on a
  /// monotonic scale. Both default to the real stderr and clock.
  public init(
    epochs: Int, batchSize: Int, interactive: Bool = ProgressBar.stderrIsTerminal, logEvery: Double = 0.1,
    output: @escaping (String) -> Void = ProgressBar.writeToStandardError,
    clock: @escaping () -> Double = { ProcessInfo.processInfo.systemUptime }
  ) {
    self.epochs = epochs
    self.batchSize = batchSize
    self.interactive = interactive
    self.logEvery = logEvery
    self.output = output
    self.clock = clock
  }

  public static var stderrIsTerminal: Bool { isatty(STDERR_FILENO) == 1 }

  public static func writeToStandardError(_ text: String) {
    FileHandle.standardError.write(Data(text.utf8))
  }

  public func startEpoch(_ epoch: Int, batches: Int) {
    self.epoch = epoch
    self.total = batches
    start = clock()
    lastDraw = -Double.infinity
    lastLoggedStep = 0
  }

  /// After each batch: `done` batches finished, `loss` the running mean to show.
  public func update(done: Int, loss: Double) {
    let now = clock()
    let snapshot = makeSnapshot(done: done, loss: loss, now: now)
    if interactive {
      guard now - lastDraw >= 0.1 || done >= total else { return }
      lastDraw = now
      output("\r" + snapshot.formatted() + "\u{1B}[K")
    } else {
      let interval = max(1, Int((Double(total) * logEvery).rounded(.up)))
      let step = done / interval
      guard step > lastLoggedStep || done >= total else { return }
      lastLoggedStep = done >= total ? Int.max : step
      output(snapshot.formatted() + "\n")
    }
  }

  /// Ends the epoch's line: the final state (drawn if it was not), then `summary` on a line of its own.
  public func finishEpoch(loss: Double, summary: String? = nil) {
    if !interactive, lastLoggedStep != Int.max { update(done: total, loss: loss) }
    if interactive {
      output("\r" + makeSnapshot(done: total, loss: loss, now: clock()).formatted() + "\u{1B}[K\n")
    }
    if let summary { output(summary + "\n") }
  }

  private func makeSnapshot(done: Int, loss: Double, now: Double) -> ProgressSnapshot {
    let elapsed = now - start
    let speed = elapsed > 0 ? Double(done * batchSize) / elapsed : nil
    return ProgressSnapshot(
      epoch: epoch, epochs: epochs, done: done, total: total, loss: loss, imagesPerSecond: speed, elapsed: elapsed)
  }
}
