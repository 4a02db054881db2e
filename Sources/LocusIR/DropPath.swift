/// The mask inputs of stochastic depth in a train-mode graph (DESIGN.md §7): `drop_path:<index>:<rate>`,
/// per-sample shape [1]. The name is the whole contract with a trainer (LocusRuntime's
/// `DropPathMasks`, the C library's context): which mask, and with what probability to drop.
public enum DropPath {
  public static let prefix = "drop_path:"

  /// LocusRuntime's `DropPathMasks` reads the name back (the runtime does not depend on LocusIR;
  /// DropPathTests checks that the two agree).
  public static func inputName(index: Int, rate: Float) -> String { "\(prefix)\(index):\(rate)" }
}
