import Foundation

// NumPy's .npy format (numpy/lib/format.py): magic "\x93NUMPY", version major/minor, header length
// (2 bytes LE in v1.0, 4 bytes in v2.0/3.0), then a Python dict literal such as
// {'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), } padded with spaces and '\n', then the
// raw data. Locus reads little-endian float32 in C order, converts float64 and integer labels
// (int32/int64, e.g. class indices), and rejects the rest.

public struct NpyArray: Sendable, Equatable {
  public var shape: [Int]
  public var values: [Float]

  public init(shape: [Int], values: [Float]) {
    self.shape = shape
    self.values = values
  }
}

public enum Npy {
  static let magic: [UInt8] = [0x93] + Array("NUMPY".utf8)

  public static func read(path: String) throws(RuntimeError) -> NpyArray {
    let data: Data
    do {
      data = try Data(contentsOf: URL(fileURLWithPath: path), options: .alwaysMapped)
    } catch {
      throw .io(path: path, action: "read", reason: error.localizedDescription)
    }
    return try decode(data, path: path)
  }

  /// `path` only names the data in messages.
  public static func decode(_ data: Data, path: String) throws(RuntimeError) -> NpyArray {
    func bad(_ problem: String) -> RuntimeError { .malformedFile(file: path, problem: problem) }
    let bytes = [UInt8](data.prefix(12))
    guard bytes.count >= 10, Array(bytes[0..<6]) == magic else { throw bad("not a .npy file (bad magic)") }
    let major = bytes[6]
    let lengthSize: Int
    switch major {
    case 1: lengthSize = 2
    case 2, 3: lengthSize = 4
    default: throw bad(".npy version \(major).\(bytes[7]) is not supported (1.0, 2.0, 3.0 are)")
    }
    guard bytes.count >= 8 + lengthSize else { throw bad("truncated .npy header") }
    let headerLength = bytes[8..<(8 + lengthSize)].reversed().reduce(0) { $0 << 8 | Int($1) }
    let dataStart = 8 + lengthSize + headerLength
    guard dataStart <= data.count else { throw bad("truncated .npy header") }
    let headerText = String(decoding: data[(data.startIndex + 8 + lengthSize)..<(data.startIndex + dataStart)], as: UTF8.self)
    let header: NpyHeader
    do {
      header = try NpyHeader.parse(headerText)
    } catch {
      throw bad("cannot parse the .npy header \(headerText.trimmingCharacters(in: .whitespacesAndNewlines)): \(error.reason)")
    }
    guard !header.fortranOrder else {
      throw bad("array is stored in Fortran order; save np.ascontiguousarray(a) instead")
    }
    let elementSize: Int
    switch header.descr {
    case "<f4", "<i4": elementSize = 4
    case "<f8", "<i8": elementSize = 8
    default:
      throw bad("dtype '\(header.descr)' is not supported: expected little-endian float32 ('<f4') or float64 ('<f8'), or integer labels ('<i4', '<i8')")
    }
    guard let count = elementCount(header.shape), case let (needed, false) = count.multipliedReportingOverflow(by: elementSize)
    else { throw bad("shape \(formatShape(header.shape)) is too large") }
    let available = data.count - dataStart
    guard available == needed else {
      throw bad("shape \(formatShape(header.shape)) of '\(header.descr)' needs \(needed) data bytes, file has \(available)")
    }
    let values = data.withUnsafeBytes { raw in
      (0..<count).map { i -> Float in
        let offset = dataStart + i * elementSize
        let bits32 = { UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: offset, as: UInt32.self)) }
        let bits64 = { UInt64(littleEndian: raw.loadUnaligned(fromByteOffset: offset, as: UInt64.self)) }
        switch header.descr {
        case "<f4": return Float(bitPattern: bits32())
        case "<i4": return Float(Int32(bitPattern: bits32()))  // class labels: exact below 2²⁴
        case "<i8": return Float(Int64(bitPattern: bits64()))
        default: return Float(Double(bitPattern: bits64()))
        }
      }
    }
    return NpyArray(shape: header.shape, values: values)
  }

  /// Version 1.0 (2.0 only if the header would not fit), float32, C order. Like NumPy, the header is
  /// padded so the data starts on a 64-byte boundary.
  public static func encode(_ array: NpyArray) throws(RuntimeError) -> Data {
    guard let count = elementCount(array.shape), count == array.values.count else {
      throw .invalidArgument("array of shape \(formatShape(array.shape)) cannot hold \(array.values.count) values")
    }
    let shape = array.shape.count == 1 ? "(\(array.shape[0]),)" : "(" + array.shape.map(String.init).joined(separator: ", ") + ")"
    var header = Array("{'descr': '<f4', 'fortran_order': False, 'shape': \(shape), }".utf8)
    let lengthSize = header.count + 1 + 10 > 65535 ? 4 : 2
    let prefix = 8 + lengthSize
    header += Array(repeating: UInt8(ascii: " "), count: (64 - (prefix + header.count + 1) % 64) % 64)
    header.append(UInt8(ascii: "\n"))

    var out = Data(magic)
    out.append(contentsOf: [lengthSize == 2 ? 1 : 2, 0])
    if lengthSize == 2 {
      withUnsafeBytes(of: UInt16(header.count).littleEndian) { out.append(contentsOf: $0) }
    } else {
      withUnsafeBytes(of: UInt32(header.count).littleEndian) { out.append(contentsOf: $0) }
    }
    out.append(contentsOf: header)
    appendLittleEndian(.float32(array.values), to: &out)
    return out
  }

  public static func write(_ array: NpyArray, to path: String) throws(RuntimeError) {
    let data = try encode(array)
    do {
      try data.write(to: URL(fileURLWithPath: path), options: .atomic)
    } catch {
      throw .io(path: path, action: "write", reason: error.localizedDescription)
    }
  }
}
