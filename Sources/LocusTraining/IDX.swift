import Foundation

// The IDX format of MNIST and Fashion-MNIST (http://yann.lecun.com/exdb/mnist/): a 4-byte magic
// 00 00 <type> <rank>, then `rank` big-endian UInt32 dimensions, then the data in C order.
// Images are magic 0x00000803 (N×28×28 bytes), labels 0x00000801 (N bytes).

struct IDXArray: Equatable {
  var shape: [Int]
  var bytes: [UInt8]
}

enum IDX {
  /// Type byte 0x08: unsigned bytes, the only type the data sets use.
  static let unsignedByte: UInt8 = 0x08

  /// Parses a decompressed IDX file of unsigned bytes with the given rank; `file` names it in messages.
  static func parse(_ data: [UInt8], rank: Int, file: String) throws(TrainingError) -> IDXArray {
    func bad(_ problem: String) -> TrainingError { .malformedData(file: file, problem: problem) }
    let expectedMagic = String(format: "0x%08x", 0x0800 | rank)
    guard data.count >= 4, data[0] == 0, data[1] == 0 else {
      throw bad("not an IDX file (it should start with the magic number \(expectedMagic))")
    }
    guard data[2] == unsignedByte else {
      throw bad(String(format: "IDX element type 0x%02x is not supported (expected 0x08, unsigned bytes)", data[2]))
    }
    guard Int(data[3]) == rank else {
      throw bad(
        "IDX magic \(String(format: "0x%08x", 0x0800 | Int(data[3]))) has rank \(data[3]), expected \(expectedMagic) (rank \(rank))"
      )
    }
    let headerSize = 4 + 4 * rank
    guard data.count >= headerSize else {
      throw bad("truncated IDX header: \(data.count) bytes, the \(rank) dimensions need \(headerSize)")
    }
    var shape: [Int] = []
    var count = 1
    for d in 0..<rank {
      let at = 4 + 4 * d
      let dim = data[at..<(at + 4)].reduce(0) { $0 << 8 | Int($1) }
      shape.append(dim)
      let (product, overflow) = count.multipliedReportingOverflow(by: dim)
      guard !overflow else { throw bad("IDX dimensions \(shape) are too large") }
      count = product
    }
    let available = data.count - headerSize
    guard available == count else {
      let what = available < count ? "truncated" : "too long"
      throw bad("\(what): dimensions \(shape) need \(count) data bytes, the file has \(available)")
    }
    return IDXArray(shape: shape, bytes: Array(data[headerSize...]))
  }
}
