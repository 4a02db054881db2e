import Foundation

/// The share of the machine's CPU time that the hypervisor gave to other guests ("steal") over
/// a stretch of timed runs, from the aggregate "cpu" line of /proc/stat. On a shared VM a vCPU can
/// be descheduled for milliseconds at a time: the development VM showed 16 % steal while the FMA
/// probe ran, and training steps 5–10× slower than usual in its worst phases. A timing taken then
/// measures the neighbours rather than the kernels; `locus bench` and `locus profile` print the
/// steal so a reader can tell. nil where /proc/stat is missing (not Linux) or has no steal column.
public struct StolenTime: Sendable {
  private let start: [UInt64]?

  public init() { start = StolenTime.now() }

  /// Steal over all ticks since init, or nil (see fraction(from:to:)).
  public func fraction() -> Double? {
    guard let start else { return nil }
    return StolenTime.fraction(from: start, to: StolenTime.now())
  }

  /// This machine's counters now, or nil.
  private static func now() -> [UInt64]? { ticks(procStat: try? String(contentsOfFile: "/proc/stat", encoding: .utf8)) }

  /// Above this share, bench and profile say their timings are unreliable.
  public static let warningLevel = 0.05

  /// Fewer ticks than this between two readings (USER_HZ is 100: 0.2 s of CPU time over all
  /// cores) say too little: one steal tick of ten would read as 10 %.
  public static let minimumTicks: UInt64 = 20

  /// A sentence for the text output, or nil when steal was negligible or unknown.
  public static func warning(_ fraction: Double?) -> String? {
    guard let fraction, fraction > warningLevel else { return nil }
    return String(format: "note: the hypervisor gave %.0f%% of this machine's CPU time to other guests during the runs (steal in /proc/stat): these timings are unreliable; run again when it is quieter.", 100 * fraction)
  }

  /// The first eight counters (user, nice, system, idle, iowait, irq, softirq, steal) of the
  /// aggregate "cpu" line of a /proc/stat text, or nil.
  public static func ticks(procStat text: String?) -> [UInt64]? {
    guard let line = text?.split(separator: "\n").first, line.hasPrefix("cpu ") else { return nil }
    let ticks = line.split(separator: " ").dropFirst().prefix(8).compactMap { UInt64($0) }
    return ticks.count == 8 ? ticks : nil
  }

  /// Steal ticks over all ticks between two readings; nil when either is missing, the counters
  /// went backwards, or fewer than minimumTicks passed.
  public static func fraction(from start: [UInt64], to end: [UInt64]?) -> Double? {
    guard let end, end.count == start.count, zip(end, start).allSatisfy({ $0 >= $1 }) else { return nil }
    let delta = zip(end, start).map { $0 - $1 }
    let total = delta.reduce(0, +)
    return total >= minimumTicks ? Double(delta[7]) / Double(total) : nil
  }
}
