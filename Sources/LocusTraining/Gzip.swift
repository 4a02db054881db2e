import CZlib

// gzip decompression (RFC 1952) through zlib's inflate. A file may hold several members back to
// back (`cat a.gz b.gz` is valid gzip); like gunzip we decompress them all and concatenate.

enum Gzip {
  static let magic: [UInt8] = [0x1f, 0x8b]

  /// The decompressed contents of a whole gzip file. `file` only names it in messages.
  static func decompress(_ input: [UInt8], file: String) throws(TrainingError) -> [UInt8] {
    func bad(_ problem: String) -> TrainingError { .malformedData(file: file, problem: problem) }
    guard input.count >= 2, Array(input[0..<2]) == magic else {
      throw bad("not a gzip file (it does not start with the bytes 1f 8b)")
    }
    guard input.count <= Int(UInt32.max) else { throw bad("gzip files above 4 GiB are not supported") }

    var stream = z_stream()
    // 15 = the largest window; +16 = expect the gzip wrapper (header and CRC-32 trailer).
    guard inflateInit2_(&stream, 15 + 16, ZLIB_VERSION, Int32(MemoryLayout<z_stream>.size)) == Z_OK else {
      throw bad("zlib could not start decompressing (out of memory?)")
    }
    defer { inflateEnd(&stream) }

    var output: [UInt8] = []
    output.reserveCapacity(sizeHint(input))
    var chunk = [UInt8](repeating: 0, count: 1 << 20)
    var consumed = 0
    while true {
      let (status, produced) = input.withUnsafeBufferPointer { source in
        chunk.withUnsafeMutableBufferPointer { sink in
          stream.next_in = UnsafeMutablePointer(mutating: source.baseAddress! + consumed)
          stream.avail_in = UInt32(source.count - consumed)
          stream.next_out = sink.baseAddress
          stream.avail_out = UInt32(sink.count)
          let status = inflate(&stream, Z_NO_FLUSH)
          consumed = source.count - Int(stream.avail_in)
          return (status, sink.count - Int(stream.avail_out))
        }
      }
      output.append(contentsOf: chunk[0..<produced])
      switch status {
      case Z_OK:
        continue
      case Z_STREAM_END:
        // Another member follows only if the rest starts with the magic; anything else is trailing
        // padding, which gunzip also ignores.
        guard input.count - consumed >= 2, Array(input[consumed..<(consumed + 2)]) == magic else { return output }
        inflateReset(&stream)
      case Z_BUF_ERROR:
        // No progress is possible: the input ended in the middle of a member.
        throw bad("truncated gzip file (\(input.count) bytes end before the compressed stream does)")
      case Z_DATA_ERROR:
        let reason = stream.msg.map { String(cString: $0) } ?? "invalid compressed data"
        throw bad("corrupt gzip data: \(reason)")
      case Z_MEM_ERROR:
        throw bad("out of memory while decompressing")
      default:
        throw bad("zlib inflate failed with status \(status)")
      }
    }
  }

  /// The trailer's ISIZE field: the last member's size modulo 2^32. Only a capacity hint, since it
  /// is wrong for multi-member files and above 4 GiB.
  private static func sizeHint(_ input: [UInt8]) -> Int {
    guard input.count >= 18 else { return 0 }
    let tail = input[(input.count - 4)...]
    return tail.reversed().reduce(0) { $0 << 8 | Int($1) }
  }
}
