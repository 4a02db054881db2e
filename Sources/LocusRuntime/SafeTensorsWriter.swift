import Foundation

// Writing safetensors. Output is deterministic and laid out like the reference Python library:
// tensors sorted by dtype alignment (largest first, so I64 before F32) and then by name; the header
// lists "__metadata__" first and the tensors in data order, and is padded with spaces to a multiple
// of 8 bytes so the data section stays aligned.

public enum SafeTensorsWriter {
  public static func encode(_ tensors: [String: Tensor], metadata: [String: String]? = nil) throws(RuntimeError) -> Data {
    for (name, tensor) in tensors {
      guard !name.isEmpty, name != "__metadata__" else {
        throw .invalidArgument("cannot write a tensor named '\(name)' to safetensors")
      }
      guard let count = elementCount(tensor.shape), count == tensor.count else {
        throw .invalidArgument(
          "tensor '\(name)' has shape \(formatShape(tensor.shape)) but \(tensor.count) values")
      }
    }
    let ordered = tensors.sorted { a, b in
      a.value.dtype.byteSize != b.value.dtype.byteSize
        ? a.value.dtype.byteSize > b.value.dtype.byteSize : a.key < b.key
    }
    var fields: [String] = []
    if let metadata {
      let pairs = metadata.sorted { $0.key < $1.key }.map { "\(jsonString($0.key)):\(jsonString($0.value))" }
      fields.append("\"__metadata__\":{\(pairs.joined(separator: ","))}")
    }
    var offset = 0
    for (name, tensor) in ordered {
      let size = tensor.count * tensor.dtype.byteSize
      let shape = tensor.shape.map(String.init).joined(separator: ",")
      fields.append(
        "\(jsonString(name)):{\"dtype\":\"\(tensor.dtype.rawValue)\",\"shape\":[\(shape)],"
          + "\"data_offsets\":[\(offset),\(offset + size)]}")
      offset += size
    }
    var header = Array("{\(fields.joined(separator: ","))}".utf8)
    header += Array(repeating: UInt8(ascii: " "), count: (8 - header.count % 8) % 8)

    var out = Data(capacity: 8 + header.count + offset)
    withUnsafeBytes(of: UInt64(header.count).littleEndian) { out.append(contentsOf: $0) }
    out.append(contentsOf: header)
    for (_, tensor) in ordered { appendLittleEndian(tensor.values, to: &out) }
    return out
  }

  /// Writes atomically (temporary file + rename): a crash never leaves half a checkpoint behind.
  public static func write(
    _ tensors: [String: Tensor], metadata: [String: String]? = nil, to path: String
  ) throws(RuntimeError) {
    let data = try encode(tensors, metadata: metadata)
    do {
      try data.write(to: URL(fileURLWithPath: path), options: .atomic)
    } catch {
      throw .io(path: path, action: "write", reason: error.localizedDescription)
    }
  }
}

func appendLittleEndian(_ values: Tensor.Values, to out: inout Data) {
  switch values {
  case .float32(let v):
    #if _endian(little)
      v.withUnsafeBytes { out.append(contentsOf: $0) }
    #else
      for x in v { withUnsafeBytes(of: x.bitPattern.littleEndian) { out.append(contentsOf: $0) } }
    #endif
  case .int64(let v):
    for x in v { withUnsafeBytes(of: x.littleEndian) { out.append(contentsOf: $0) } }
  }
}

/// A JSON string literal: quotes, backslashes and control characters escaped; other text as UTF-8.
func jsonString(_ s: String) -> String {
  var out = "\""
  for scalar in s.unicodeScalars {
    switch scalar {
    case "\"": out += "\\\""
    case "\\": out += "\\\\"
    case "\n": out += "\\n"
    case "\t": out += "\\t"
    case "\r": out += "\\r"
    case _ where scalar.value < 0x20: out += String(format: "\\u%04x", scalar.value)
    default: out.unicodeScalars.append(scalar)
    }
  }
  return out + "\""
}
