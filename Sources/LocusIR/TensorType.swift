// LocusIR owns the graph representation: values, ops, their shape rules and cost, the verifier and
// the text printer. It knows nothing of the spec language before it or of C after it.

/// Element types. Only f32 flows through kernels today; i64 exists for BatchNorm's
/// `num_batches_tracked`, which weights files carry and models ignore.
public enum DType: String, Hashable, Sendable {
  case f32, i64
}

/// The static type of a value: a per-sample shape, plus whether the value carries the implicit
/// leading batch axis. Activations are batched; parameters (and values computed only from them)
/// are not, and broadcast over the batch where they meet activations.
public struct TensorType: Hashable, Sendable, CustomStringConvertible {
  public var shape: [Int]
  public var batched: Bool
  public var dtype: DType

  public init(_ shape: [Int], batched: Bool, dtype: DType = .f32) {
    self.shape = shape
    self.batched = batched
    self.dtype = dtype
  }

  public var rank: Int { shape.count }
  /// Elements per sample (the whole tensor when unbatched).
  public var count: Int { shape.reduce(1, *) }

  /// `f32[B, 197, 192]` for activations, `f32[1, 197, 192]` for parameters.
  public var description: String {
    let dims = (batched ? ["B"] : []) + shape.map(String.init)
    return "\(dtype.rawValue)[\(dims.joined(separator: ", "))]"
  }

  /// The shape including the batch axis, for a given batch size.
  public func fullShape(batch: Int) -> [Int] { batched ? [batch] + shape : shape }
}

/// Why a shape rule rejected its operands. Messages name both shapes; the frontend attaches the
/// source location of the offending call.
public struct ShapeError: Error, Hashable, Sendable, CustomStringConvertible {
  public var message: String
  public var hint: String?
  public init(_ message: String, hint: String? = nil) {
    self.message = message
    self.hint = hint
  }
  public var description: String { message }
}

/// The most elements one tensor may have per sample (64 GiB of f32): a spec can ask for absurd
/// sizes, and they must become errors, not traps or exhausted memory.
public let maxElementsPerSample = 1 << 34

/// The element count of a shape, or nil when it overflows or exceeds `limit`.
public func checkedCount(_ shape: [Int], limit: Int = maxElementsPerSample) -> Int? {
  var n = 1
  for d in shape {
    guard d >= 0 else { return nil }
    let (p, overflow) = n.multipliedReportingOverflow(by: d)
    guard !overflow, p <= limit else { return nil }
    n = p
  }
  return n
}

/// Normalises a possibly negative axis against a rank; nil when out of range.
public func normalizeAxis(_ axis: Int, rank: Int) -> Int? {
  let a = axis < 0 ? axis + rank : axis
  return (0..<rank).contains(a) ? a : nil
}
