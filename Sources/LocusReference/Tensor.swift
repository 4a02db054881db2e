// LocusReference owns the naive interpreter of the IR: the independent reference every generated
// kernel is tested against. It favours obvious correctness over speed; every reduction accumulates
// in Double so the reference is more accurate than the f32 kernels it judges.

/// A dense row-major f32 tensor. `shape` is the full shape: a batched value carries the batch axis
/// first (`[B, N, C]`), an unbatched one (a parameter, or a value computed only from parameters)
/// does not.
public struct Tensor: Hashable, Sendable, CustomStringConvertible {
  public var shape: [Int]
  public var data: [Float]

  public init(shape: [Int], data: [Float]) {
    precondition(shape.allSatisfy { $0 >= 0 }, "negative extent in shape \(shape)")
    precondition(shape.reduce(1, *) == data.count, "shape \(shape) holds \(shape.reduce(1, *)) elements, data has \(data.count)")
    self.shape = shape
    self.data = data
  }

  public init(shape: [Int], repeating value: Float) {
    self.init(shape: shape, data: Array(repeating: value, count: shape.reduce(1, *)))
  }

  /// Fills element `i` (row-major order) with `element(i)`.
  public init(shape: [Int], element: (Int) -> Float) {
    self.init(shape: shape, data: (0..<shape.reduce(1, *)).map(element))
  }

  public static func zeros(_ shape: [Int]) -> Tensor { Tensor(shape: shape, repeating: 0) }

  public var rank: Int { shape.count }
  public var count: Int { data.count }

  /// Row-major strides: `strides[i]` elements separate neighbours along axis `i`.
  public var strides: [Int] { rowMajorStrides(shape) }

  /// The element at a full multi-index (one index per axis).
  public subscript(_ index: Int...) -> Float {
    get { data[offset(of: index)] }
    set { data[offset(of: index)] = newValue }
  }

  /// The row-major position of a full multi-index.
  public func offset(of index: [Int]) -> Int {
    precondition(index.count == rank, "index \(index) does not match shape \(shape)")
    var at = 0
    for (i, extent) in zip(index, shape) {
      precondition((0..<extent).contains(i), "index \(index) is outside shape \(shape)")
      at = at * extent + i
    }
    return at
  }

  /// The multi-index of a row-major position.
  public func index(ofOffset offset: Int) -> [Int] { multiIndex(offset, shape) }

  /// The same elements under another shape with as many elements (row-major order is kept).
  public func reshaped(_ newShape: [Int]) -> Tensor { Tensor(shape: newShape, data: data) }

  /// Sample `b` of a batched tensor: the per-sample tensor without the batch axis.
  public func sample(_ b: Int) -> Tensor {
    let n = shape.dropFirst().reduce(1, *)
    return Tensor(shape: Array(shape.dropFirst()), data: Array(data[b * n..<(b + 1) * n]))
  }

  /// Stacks equally shaped samples along a new leading batch axis.
  public static func batch(_ samples: [Tensor]) -> Tensor {
    precondition(!samples.isEmpty && samples.allSatisfy { $0.shape == samples[0].shape }, "samples differ in shape")
    return Tensor(shape: [samples.count] + samples[0].shape, data: samples.flatMap(\.data))
  }

  public var description: String {
    let head = data.prefix(8).map { "\($0)" }.joined(separator: ", ")
    return "Tensor\(shape)[\(head)\(data.count > 8 ? ", …" : "")]"
  }
}

func rowMajorStrides(_ shape: [Int]) -> [Int] {
  var strides = Array(repeating: 1, count: shape.count)
  for i in shape.indices.dropLast().reversed() { strides[i] = strides[i + 1] * shape[i + 1] }
  return strides
}

func multiIndex(_ offset: Int, _ shape: [Int]) -> [Int] {
  var index = Array(repeating: 0, count: shape.count)
  var rest = offset
  for i in shape.indices.reversed() where shape[i] > 0 {
    index[i] = rest % shape[i]
    rest /= shape[i]
  }
  return index
}
