/// The mask inputs of stochastic depth in a train-mode graph (DESIGN.md §7): `drop_path:<index>:<rate>`,
/// per-sample shape [1]. The name is the whole contract with a trainer (LocusRuntime's
/// `DropPathMasks`, the C library's context): which mask, and with what probability to drop.
public enum DropPath {
  public static let prefix = "drop_path:"

  public static func inputName(index: Int, rate: Float) -> String { "\(prefix)\(index):\(rate)" }

  /// The index and rate of a mask input's name, or nil for any other name.
  public static func parse(_ name: String) -> (index: Int, rate: Float)? {
    guard name.hasPrefix(prefix) else { return nil }
    let parts = name.dropFirst(prefix.count).split(separator: ":")
    guard parts.count == 2, let index = Int(parts[0]), let rate = Float(parts[1]) else { return nil }
    return (index, rate)
  }
}
