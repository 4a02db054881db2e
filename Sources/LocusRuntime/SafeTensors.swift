import Foundation

#if canImport(Glibc)
  import Glibc
#elseif canImport(Darwin)
  import Darwin
#endif

// Reading safetensors (https://github.com/huggingface/safetensors): an 8-byte little-endian header
// length n, n bytes of JSON {name: {dtype, shape, data_offsets: [begin, end]}, "__metadata__": {…}},
// then the data section that the offsets index. The file is memory-mapped; float32 tensors are
// copied out with pread, others converted straight from the map into the caller's buffer, and a
// binding hands the map's pages back afterwards (`releaseAllPages`), so a process holds one copy of
// its weights, not the map and the copy together (peak RSS −23 MiB for localvit_tiny).

public struct SafeTensorsFile: Sendable {
  public struct Entry: Sendable, Equatable {
    public var dtype: DType
    public var shape: [Int]
    /// Byte range inside the data section (not the file).
    public var dataOffsets: Range<Int>
  }

  /// The path as given, used in every message.
  public let path: String
  public let metadata: [String: String]
  public let entries: [String: Entry]
  private let bytes: Data
  private let dataStart: Int
  /// Whether `bytes` is a private mapping of the file made by `read(path:)`: only then may its pages
  /// be dropped, since the kernel reads them back from the file if they are touched again.
  private let isFileMapping: Bool
  /// The mapped file, open as long as the map (closed by `bytes`' deallocator): float32 tensors are
  /// copied out with pread, which leaves no pages mapped in this process (copies through the map
  /// left them resident here even after MADV_DONTNEED on this kernel), and only the tensors a
  /// store borrows are read through the map.
  private let descriptor: Int32

  /// The Python library refuses headers above 100 MB; so do we, before allocating anything.
  static let maxHeaderBytes = 100_000_000

  public var names: [String] { entries.keys.sorted() }

  public static func read(path: String) throws(RuntimeError) -> SafeTensorsFile {
    let fd = open(path, O_RDONLY | O_CLOEXEC)
    guard fd >= 0 else { throw .io(path: path, action: "read", reason: String(cString: strerror(errno))) }
    var status = stat()
    func fail(_ action: String, _ reason: String) -> RuntimeError {
      close(fd)
      return .io(path: path, action: action, reason: reason)
    }
    guard fstat(fd, &status) == 0 else { throw fail("read", String(cString: strerror(errno))) }
    guard (status.st_mode & S_IFMT) == S_IFREG else { throw fail("read", "not a regular file") }
    // An empty file cannot be mapped; the parser reports it as too short.
    guard status.st_size > 0 else {
      close(fd)
      return try SafeTensorsFile(bytes: Data(), path: path)
    }
    // Writable but private: a write into a borrowed parameter (ParameterStore) copies its page
    // instead of faulting; the file never changes.
    guard let base = mmap(nil, Int(status.st_size), PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0), base != MAP_FAILED else {
      throw fail("map", String(cString: strerror(errno)))
    }
    let data = Data(bytesNoCopy: base, count: Int(status.st_size), deallocator: .custom { pointer, count in
      munmap(pointer, count)
      close(fd)
    })
    return try SafeTensorsFile(bytes: data, path: path, descriptor: fd)
  }

  /// The tensor's values in place, when it is float32 on a little-endian host, 4-byte aligned, and
  /// the file is a map made by `read(path:)` (which lives as long as this value or a copy of it).
  func borrowableFloats(_ name: String) -> UnsafePointer<Float>? {
    #if _endian(little)
      guard isFileMapping, let entry = entries[name], entry.dtype == .f32, !entry.dataOffsets.isEmpty else { return nil }
      let start = dataStart + entry.dataOffsets.lowerBound
      return bytes.withUnsafeBytes { file -> UnsafePointer<Float>? in
        guard let base = file.baseAddress, Int(bitPattern: base + start) % MemoryLayout<Float>.alignment == 0 else { return nil }
        return (base + start).assumingMemoryBound(to: Float.self)
      }
    #else
      return nil
    #endif
  }

  /// Drops the map's resident pages (a no-op unless the file was mapped by `read(path:)`); what a
  /// binding does after its copies. The values stay readable: the kernel maps them in again from
  /// the file on the next access, except pages written since (borrowed parameters a caller wrote
  /// into), which go back to the file's values.
  public func releaseAllPages() {
    guard isFileMapping else { return }
    bytes.withUnsafeBytes { file in
      if let base = file.baseAddress { _ = madvise(UnsafeMutableRawPointer(mutating: base), file.count, MADV_DONTNEED) }
    }
  }

  /// Parses and validates an in-memory file; `path` only names it in messages.
  public init(bytes: Data, path: String) throws(RuntimeError) {
    try self.init(bytes: bytes, path: path, descriptor: -1)
  }

  private init(bytes: Data, path: String, descriptor: Int32) throws(RuntimeError) {
    self.path = path
    self.bytes = bytes
    self.isFileMapping = descriptor >= 0
    self.descriptor = descriptor
    let fileSize = bytes.count
    guard fileSize >= 8 else {
      throw .malformedFile(file: path, problem: "file is \(fileSize) bytes, shorter than the 8-byte header length")
    }
    let headerLength = bytes.withUnsafeBytes { UInt64(littleEndian: $0.loadUnaligned(as: UInt64.self)) }
    guard headerLength <= UInt64(Self.maxHeaderBytes), 8 + Int(headerLength) <= fileSize else {
      throw .malformedFile(
        file: path, problem: "header length \(headerLength) exceeds the file size \(fileSize) (or 100 MB)")
    }
    let dataStart = 8 + Int(headerLength)
    self.dataStart = dataStart
    let headerBytes = bytes.withUnsafeBytes { Data($0[8..<dataStart]) }
    let json: Any
    do {
      json = try JSONSerialization.jsonObject(with: headerBytes)
    } catch {
      throw .malformedFile(file: path, problem: "header is not valid JSON")
    }
    guard let object = json as? [String: Any] else {
      throw .malformedFile(file: path, problem: "header is not a JSON object")
    }
    var metadata: [String: String] = [:]
    var entries: [String: Entry] = [:]
    for (name, value) in object {
      if name == "__metadata__" {
        guard let dict = value as? [String: Any], let strings = dict as? [String: String] else {
          throw .malformedFile(file: path, problem: "__metadata__ must map strings to strings")
        }
        metadata = strings
      } else {
        entries[name] = try Self.parseEntry(name: name, value, file: path)
      }
    }
    try Self.checkBounds(entries, dataSize: fileSize - dataStart, dataStart: dataStart, file: path)
    self.metadata = metadata
    self.entries = entries
  }

  private static func parseEntry(name: String, _ value: Any, file: String) throws(RuntimeError) -> Entry {
    func bad(_ what: String) -> RuntimeError { .malformedFile(file: file, problem: "tensor '\(name)': \(what)") }
    guard let dict = value as? [String: Any] else { throw bad("entry is not a JSON object") }
    guard let dtypeName = dict["dtype"] as? String else { throw bad("missing \"dtype\"") }
    guard let dtype = DType(rawValue: dtypeName) else { throw bad("unknown dtype \"\(dtypeName)\"") }
    guard let shape = naturalNumbers(dict["shape"]) else { throw bad("\"shape\" must be a list of integers ≥ 0") }
    guard let offsets = naturalNumbers(dict["data_offsets"]), offsets.count == 2, offsets[0] <= offsets[1] else {
      throw bad("\"data_offsets\" must be [begin, end] with 0 ≤ begin ≤ end")
    }
    guard let count = elementCount(shape), case let (bytes, false) = count.multipliedReportingOverflow(by: dtype.byteSize)
    else { throw bad("shape \(formatShape(shape)) is too large") }
    guard bytes == offsets[1] - offsets[0] else {
      throw bad(
        "shape \(formatShape(shape)) of \(dtypeName) needs \(bytes) bytes, data_offsets [\(offsets[0]), \(offsets[1])] "
          + "hold \(offsets[1] - offsets[0])")
    }
    return Entry(dtype: dtype, shape: shape, dataOffsets: offsets[0]..<offsets[1])
  }

  /// Every tensor must lie inside the data section, and no two may share bytes.
  private static func checkBounds(
    _ entries: [String: Entry], dataSize: Int, dataStart: Int, file: String
  ) throws(RuntimeError) {
    let ordered = entries.sorted { ($0.value.dataOffsets.lowerBound, $0.key) < ($1.value.dataOffsets.lowerBound, $1.key) }
    var previous: (name: String, end: Int)?
    for (name, entry) in ordered {
      let range = entry.dataOffsets
      guard range.upperBound <= dataSize else {
        throw .truncated(
          file: file, tensor: name, needs: (dataStart + range.lowerBound)..<(dataStart + range.upperBound),
          fileSize: dataStart + dataSize)
      }
      if let previous, range.lowerBound < previous.end, !range.isEmpty {
        throw .malformedFile(file: file, problem: "tensors '\(previous.name)' and '\(name)' overlap in the data section")
      }
      if !range.isEmpty { previous = (name, range.upperBound) }
    }
  }

  public func entry(_ name: String) throws(RuntimeError) -> Entry {
    guard let entry = entries[name] else { throw .tensorNotFound(file: path, tensor: name) }
    return entry
  }

  /// Converts a float tensor (F32, F64, F16, BF16) into `destination`, which must hold exactly
  /// the tensor's element count.
  public func copyFloats(_ name: String, into destination: UnsafeMutableBufferPointer<Float>) throws(RuntimeError) {
    let entry = try entry(name)
    guard entry.dtype.isReadableAsFloat else {
      throw .wrongDType(file: path, tensor: name, found: entry.dtype.rawValue, wanted: "F32, F64, F16 or BF16")
    }
    let count = entry.dataOffsets.count / entry.dtype.byteSize
    guard destination.count == count else {
      throw .invalidArgument("\(path): tensor '\(name)' has \(count) elements, the buffer holds \(destination.count)")
    }
    let start = dataStart + entry.dataOffsets.lowerBound
    #if _endian(little)
      if isFileMapping, entry.dtype == .f32, let out = destination.baseAddress {
        var done = 0
        while done < entry.dataOffsets.count {
          let n = pread(descriptor, UnsafeMutableRawPointer(out) + done, entry.dataOffsets.count - done, off_t(start + done))
          guard n > 0 else { break }  // the map below still holds the bytes: fall back to it
          done += n
        }
        if done == entry.dataOffsets.count { return }
      }
    #endif
    bytes.withUnsafeBytes { file in
      let src = UnsafeRawBufferPointer(rebasing: file[start..<(start + entry.dataOffsets.count)])
      convertToFloat(src, dtype: entry.dtype, into: destination)
    }
  }

  public func floats(_ name: String) throws(RuntimeError) -> [Float] {
    let entry = try entry(name)
    var result = [Float](repeating: 0, count: entry.dataOffsets.count / entry.dtype.byteSize)
    try result.withUnsafeMutableBufferPointer { (buffer) throws(RuntimeError) in try copyFloats(name, into: buffer) }
    return result
  }

  public func int64s(_ name: String) throws(RuntimeError) -> [Int64] {
    let entry = try entry(name)
    guard entry.dtype == .i64 else { throw .wrongDType(file: path, tensor: name, found: entry.dtype.rawValue, wanted: "I64") }
    let start = dataStart + entry.dataOffsets.lowerBound
    return bytes.withUnsafeBytes { file in
      (0..<(entry.dataOffsets.count / 8)).map { Int64(littleEndian: file.loadUnaligned(fromByteOffset: start + 8 * $0, as: Int64.self)) }
    }
  }

  /// The tensor as floats, or as Int64 for I64; other integer dtypes are rejected.
  public func tensor(_ name: String) throws(RuntimeError) -> Tensor {
    let entry = try entry(name)
    if entry.dtype == .i64 { return Tensor(shape: entry.shape, int64s: try int64s(name)) }
    return Tensor(shape: entry.shape, floats: try floats(name))
  }
}

/// Little-endian source bytes of `dtype` → Float. The F32 path is a plain copy on little-endian hosts.
private func convertToFloat(_ src: UnsafeRawBufferPointer, dtype: DType, into dst: UnsafeMutableBufferPointer<Float>) {
  switch dtype {
  case .f32:
    #if _endian(little)
      if let base = src.baseAddress, let out = dst.baseAddress { memcpy(out, base, src.count) }
    #else
      for i in dst.indices { dst[i] = Float(bitPattern: UInt32(littleEndian: src.loadUnaligned(fromByteOffset: 4 * i, as: UInt32.self))) }
    #endif
  case .f64:
    for i in dst.indices {
      dst[i] = Float(Double(bitPattern: UInt64(littleEndian: src.loadUnaligned(fromByteOffset: 8 * i, as: UInt64.self))))
    }
  case .f16:
    for i in dst.indices { dst[i] = floatFromHalf(UInt16(littleEndian: src.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self))) }
  case .bf16:
    for i in dst.indices { dst[i] = floatFromBFloat16(UInt16(littleEndian: src.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self))) }
  default:
    break  // callers check isReadableAsFloat first
  }
}

/// A JSON list of non-negative integers. (No `is Bool` test: an NSNumber holding 1 casts to Bool
/// on some platforms, which would reject every shape containing a 1.)
private func naturalNumbers(_ value: Any?) -> [Int]? {
  guard let list = value as? [Any] else { return nil }
  var result: [Int] = []
  for item in list {
    guard let n = item as? Int, n >= 0 else { return nil }
    result.append(n)
  }
  return result
}
