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

  /// Buffers from `hugeMinimum` bytes on are placed on 2 MiB boundaries and asked for transparent
  /// huge pages: a training arena is 100 MiB or more that every step streams through, and with
  /// 4 KiB pages each kernel's pass over a few MiB of it misses the TLB on every page
  /// (localvit_fmnist b64: steps 1-17 % faster, alternating runs). Smaller buffers (the weights of
  /// the bundled models, batch-1 arenas) keep 4 KiB pages: huge ones would round their resident
  /// size up (localvit_tiny at batch 1: 62 → 67 MiB).
  static let hugePage = 2 << 20
  static let hugeMinimum = 32 << 20

  init(byteCount: Int) throws(RuntimeError) {
    var raw: UnsafeMutableRawPointer?
    // Never allocate 0 bytes: the ABI wants a valid pointer even for an empty arena.
    var size = max(byteCount, Self.alignment)
    let huge = size >= Self.hugeMinimum
    if huge { size = (size + Self.hugePage - 1) / Self.hugePage * Self.hugePage }
    guard posix_memalign(&raw, huge ? Self.hugePage : Self.alignment, size) == 0, let raw else {
      throw .invalidArgument("cannot allocate \(byteCount) bytes (\(huge ? "2 MiB" : "64-byte") aligned)")
    }
    #if os(Linux)
      // Advice only: where THP is off (or unsupported) this fails and nothing changes.
      if huge { _ = madvise(raw, size, MADV_HUGEPAGE) }
    #endif
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
///
/// Parameters are copies in one 64-byte-aligned allocation, except those a binding borrows: float32
/// tensors of a mapped weights file that forward never reads (weights `<m>_prepare` folds into the
/// arena), whose pointers point into the file's private map, so they cost no memory once
/// prepared (`CompiledModel.bindWeights`). Writing into a borrowed parameter changes nothing the
/// model computes (as for any parameter after prepare) and may be undone when the same file is
/// bound again (its pages are dropped and read back from the file). Training libraries borrow
/// nothing: their optimizer writes every parameter.
public final class ParameterStore {
  public let specs: [ParameterSpec]
  private let buffer: AlignedBuffer
  private let pointers: [UnsafeMutablePointer<Float>]
  private let counts: [Int]
  private let borrowed: Set<Int>
  /// Keeps the map that borrowed parameters point into alive.
  private let file: SafeTensorsFile?

  /// Zero-filled storage for `specs`.
  public convenience init(specs: [ParameterSpec]) throws(RuntimeError) {
    try self.init(specs: specs, borrowing: [:], from: nil)
  }

  /// Storage for `specs`, parameter i at `borrowing[i]` (inside `file`) where given, else a
  /// zero-filled copy starting on a 64-byte boundary.
  init(specs: [ParameterSpec], borrowing: [Int: UnsafePointer<Float>], from file: SafeTensorsFile?) throws(RuntimeError) {
    var offsets: [Int] = []
    var counts: [Int] = []
    var total = 0
    for (i, spec) in specs.enumerated() {
      guard let count = elementCount(spec.shape) else {
        throw .invalidArgument("parameter '\(spec.name)' has an invalid shape \(formatShape(spec.shape))")
      }
      offsets.append(total)
      counts.append(count)
      if borrowing[i] == nil { total += (count + 15) / 16 * 16 }
    }
    let buffer = try AlignedBuffer(byteCount: total * MemoryLayout<Float>.stride)
    self.specs = specs
    self.counts = counts
    self.buffer = buffer
    self.pointers = specs.indices.map { i in
      borrowing[i].map { UnsafeMutablePointer(mutating: $0) } ?? buffer.floats + offsets[i]
    }
    self.borrowed = Set(borrowing.keys)
    self.file = file
  }

  public var count: Int { specs.count }

  /// Whether parameter i points into a mapped weights file (see the type's comment).
  public func isBorrowed(_ i: Int) -> Bool { borrowed.contains(i) }

  public func pointer(_ i: Int) -> UnsafeMutablePointer<Float> { pointers[i] }

  public func values(_ i: Int) -> UnsafeMutableBufferPointer<Float> {
    UnsafeMutableBufferPointer(start: pointer(i), count: counts[i])
  }

  /// A copy of one parameter's values, or nil for an unknown name.
  public func values(named name: String) -> [Float]? {
    specs.firstIndex { $0.name == name }.map { Array(values($0)) }
  }
}
