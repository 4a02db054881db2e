/// Fills the drop-path mask inputs of a training library (`drop_path:<index>:<rate>`, per-sample
/// shape [1]; LocusIR's `DropPath`): per sample, 1/keep with probability keep = 1 − rate, else 0,
/// as timm's `drop_path` with `scale_by_keep`. The draw is a counter-based hash of (seed, step,
/// mask index, sample), so a step's masks do not depend on the steps before it: a resumed run
/// draws what an uninterrupted one would, and the C library's context draws the same numbers.
public struct DropPathMasks: Sendable {
  public struct Mask: Sendable {
    public var input: Int
    public var index: Int
    public var rate: Float
  }
  public let masks: [Mask]

  /// The mask inputs among `inputs` (names), by position.
  public init(inputs: [String]) {
    masks = inputs.enumerated().compactMap { i, name in
      Self.parse(name).map { Mask(input: i, index: $0.index, rate: $0.rate) }
    }
  }

  /// The index and rate of a mask input's name (written by LocusIR's `DropPath.inputName`), or nil
  /// for any other name.
  static func parse(_ name: String) -> (index: Int, rate: Float)? {
    let prefix = "drop_path:"
    guard name.hasPrefix(prefix) else { return nil }
    let parts = name.dropFirst(prefix.count).split(separator: ":")
    guard parts.count == 2, let index = Int(parts[0]), let rate = Float(parts[1]) else { return nil }
    return (index, rate)
  }

  /// The mask of one drop path for `batch` samples at step `step` (counting from 1); all ones
  /// when `seed` is nil (drop-path off, as in `model.eval()` or `locus grad` unless asked).
  public static func values(seed: UInt64?, step: Int, index: Int, rate: Float, batch: Int) -> [Float] {
    guard let seed else { return Array(repeating: 1, count: batch) }
    let keep: Float = 1 - rate
    let stream = splitmix64(splitmix64(seed) ^ UInt64(truncatingIfNeeded: step))
    return (0..<batch).map { b in
      let h = splitmix64(stream ^ (UInt64(truncatingIfNeeded: index) << 32 | UInt64(truncatingIfNeeded: b)))
      let u = Float(h >> 40) * (1 / 16_777_216)
      return u < keep ? 1 / keep : 0
    }
  }

  /// One SplitMix64 step from state x: the generator's increment, then its finaliser.
  static func splitmix64(_ x: UInt64) -> UInt64 { SplitMix64.mix(x &+ 0x9E37_79B9_7F4A_7C15) }
}
