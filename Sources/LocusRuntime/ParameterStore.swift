#if canImport(Glibc)
  import Glibc
#elseif canImport(Darwin)
  import Darwin
#endif

// Memory the generated C reads: the weights (one allocation, every parameter starting on a 64-byte
// boundary so the kernels' vector loads of a row start aligned) and the activation arena.

/// Zero-initialised memory aligned to 64 bytes (a cache line, and the widest AVX-512 load).
final class AlignedBuffer {
  static let alignment = 64
  let pointer: UnsafeMutableRawPointer
  let byteCount: Int

  init(byteCount: Int) throws(RuntimeError) {
    var raw: UnsafeMutableRawPointer?
    // Never allocate 0 bytes: the ABI wants a valid pointer even for an empty arena.
    let size = max(byteCount, Self.alignment)
    guard posix_memalign(&raw, Self.alignment, size) == 0, let raw else {
      throw .invalidArgument("cannot allocate \(byteCount) bytes (64-byte aligned)")
    }
    memset(raw, 0, size)
    self.pointer = raw
    self.byteCount = byteCount
  }

  /// Zero-filled room for `count` floats.
  convenience init(zeroedFloats count: Int) throws(RuntimeError) {
    try self.init(byteCount: count * MemoryLayout<Float>.stride)
  }

  var floats: UnsafeMutablePointer<Float> { pointer.assumingMemoryBound(to: Float.self) }

  deinit { free(pointer) }
}

/// A parameter of a model: its full name (`blocks.0.attn.qkv.weight`) and exact PyTorch shape.
public struct ParameterSpec: Sendable, Hashable {
  public var name: String
  public var shape: [Int]

  public init(name: String, shape: [Int]) {
    self.name = name
    self.shape = shape
  }
}

/// Bound weights, in the model's parameter order: `pointer(i)` is what `<m>_forward` gets as params[i].
public final class ParameterStore {
  public let specs: [ParameterSpec]
  private let buffer: AlignedBuffer
  /// Offset of each parameter, in floats, a multiple of 16 (64 bytes).
  private let offsets: [Int]
  private let counts: [Int]

  /// Zero-filled storage for `specs`.
  public init(specs: [ParameterSpec]) throws(RuntimeError) {
    var offsets: [Int] = []
    var counts: [Int] = []
    var total = 0
    for spec in specs {
      guard let count = elementCount(spec.shape) else {
        throw .invalidArgument("parameter '\(spec.name)' has an invalid shape \(formatShape(spec.shape))")
      }
      offsets.append(total)
      counts.append(count)
      total += (count + 15) / 16 * 16
    }
    self.specs = specs
    self.offsets = offsets
    self.counts = counts
    self.buffer = try AlignedBuffer(byteCount: total * MemoryLayout<Float>.stride)
  }

  public var count: Int { specs.count }

  public func pointer(_ i: Int) -> UnsafeMutablePointer<Float> {
    buffer.pointer.assumingMemoryBound(to: Float.self) + offsets[i]
  }

  public func values(_ i: Int) -> UnsafeMutableBufferPointer<Float> {
    UnsafeMutableBufferPointer(start: pointer(i), count: counts[i])
  }

  /// A copy of one parameter's values, or nil for an unknown name.
  public func values(named name: String) -> [Float]? {
    specs.firstIndex { $0.name == name }.map { Array(values($0)) }
  }
}
