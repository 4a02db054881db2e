import Foundation
import XCTest

@testable import LocusRuntime

final class NpyTests: XCTestCase {
  // Written by NumPy 2.4: np.save(f, np.arange(6, dtype=np.float32).reshape(2, 3) * 0.5)
  let numpyF32 =
    "k05VTVBZAQB2AHsnZGVzY3InOiAnPGY0JywgJ2ZvcnRyYW5fb3JkZXInOiBGYWxzZSwgJ3NoYXBlJzogKDIsIDMpLCB9ICAgICAgICAgICAgICAg"
    + "ICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgIAoAAAAAAAAAPwAAgD8AAMA/AAAAQAAAIEA="
  // np.array([1.5, -2.25, 1e-3], dtype=np.float64)
  let numpyF64 =
    "k05VTVBZAQB2AHsnZGVzY3InOiAnPGY4JywgJ2ZvcnRyYW5fb3JkZXInOiBGYWxzZSwgJ3NoYXBlJzogKDMsKSwgfSAgICAgICAgICAgICAgICAg"
    + "ICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgIAoAAAAAAAD4PwAAAAAAAALA/Knx0k1iUD8="
  // np.asfortranarray(np.ones((2, 2), dtype=np.float32))
  let numpyFortran =
    "k05VTVBZAQB2AHsnZGVzY3InOiAnPGY0JywgJ2ZvcnRyYW5fb3JkZXInOiBUcnVlLCAnc2hhcGUnOiAoMiwgMiksIH0gICAgICAgICAgICAgICAg"
    + "ICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgIAoAAIA/AACAPwAAgD8AAIA/"
  // np.array(3.0, dtype=np.float32): a 0-d array
  let numpyScalar =
    "k05VTVBZAQB2AHsnZGVzY3InOiAnPGY0JywgJ2ZvcnRyYW5fb3JkZXInOiBGYWxzZSwgJ3NoYXBlJzogKCksIH0gICAgICAgICAgICAgICAgICAg"
    + "ICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgIAoAAEBA"

  func data(_ base64: String) throws -> Data { try XCTUnwrap(Data(base64Encoded: base64)) }

  func testReadsWhatNumPyWrites() throws {
    XCTAssertEqual(try Npy.decode(data(numpyF32), path: "a.npy"), NpyArray(shape: [2, 3], values: [0, 0.5, 1, 1.5, 2, 2.5]))
    XCTAssertEqual(try Npy.decode(data(numpyF64), path: "b.npy"), NpyArray(shape: [3], values: [1.5, -2.25, Float(1e-3)]))
    XCTAssertEqual(try Npy.decode(data(numpyScalar), path: "s.npy"), NpyArray(shape: [], values: [3]))
  }

  func testWritesExactlyWhatNumPyWrites() throws {
    XCTAssertEqual(try Npy.encode(NpyArray(shape: [2, 3], values: [0, 0.5, 1, 1.5, 2, 2.5])), try data(numpyF32))
    XCTAssertEqual(try Npy.encode(NpyArray(shape: [], values: [3])), try data(numpyScalar))
  }

  func testRoundTripThroughAFile() throws {
    let dir = try makeTemporaryDirectory(self)
    let array = NpyArray(shape: [2, 3, 4, 5], values: (0..<120).map { Float($0) * 0.1 })
    try Npy.write(array, to: dir + "/x.npy")
    XCTAssertEqual(try Npy.read(path: dir + "/x.npy"), array)
  }

  func testRejectsFortranOrderAndOtherDtypesClearly() throws {
    let fortranData = try data(numpyFortran)
    let fortran = runtimeError { () throws(RuntimeError) in try Npy.decode(fortranData, path: "f.npy") }
    XCTAssertEqual(fortran?.description, "f.npy: array is stored in Fortran order; save np.ascontiguousarray(a) instead")
    let int16 = try npyFile(header: "{'descr': '<i2', 'fortran_order': False, 'shape': (2,), }", data: [0, 0, 0, 0])
    XCTAssertEqual(
      runtimeError { () throws(RuntimeError) in try Npy.decode(int16, path: "i.npy") }?.description,
      "i.npy: dtype '<i2' is not supported: expected little-endian float32 ('<f4') or float64 ('<f8'), or integer labels ('<i4', '<i8')")
    let bigEndian = try npyFile(header: "{'descr': '>f4', 'fortran_order': False, 'shape': (1,), }", data: [0, 0, 0, 0])
    XCTAssertNotNil(runtimeError { () throws(RuntimeError) in try Npy.decode(bigEndian, path: "be.npy") })
  }

  /// Class labels arrive as int64 (numpy's default) or int32 and are read as exact floats.
  func testReadsIntegerLabels() throws {
    let labels: [Int64] = [3, 0, 9, -1]
    let i8 = try npyFile(header: "{'descr': '<i8', 'fortran_order': False, 'shape': (4,), }",
                         data: labels.flatMap { withUnsafeBytes(of: $0.littleEndian) { Array($0) } })
    XCTAssertEqual(try Npy.decode(i8, path: "y.npy"), NpyArray(shape: [4], values: [3, 0, 9, -1]))
    let i4 = try npyFile(header: "{'descr': '<i4', 'fortran_order': False, 'shape': (2,), }",
                         data: [Int32(7), 2].flatMap { withUnsafeBytes(of: $0.littleEndian) { Array($0) } })
    XCTAssertEqual(try Npy.decode(i4, path: "y.npy"), NpyArray(shape: [2], values: [7, 2]))
  }

  func testRejectsTruncatedDataAndBadMagic() throws {
    let short = try data(numpyF32).dropLast(4)
    XCTAssertEqual(
      runtimeError { () throws(RuntimeError) in try Npy.decode(Data(short), path: "t.npy") }?.description,
      "t.npy: shape [2, 3] of '<f4' needs 24 data bytes, file has 20")
    XCTAssertEqual(
      runtimeError { () throws(RuntimeError) in try Npy.decode(Data("hello world".utf8), path: "x.npy") }?.description,
      "x.npy: not a .npy file (bad magic)")
  }

  func testParsesHeaderVariants() throws {
    XCTAssertEqual(
      try NpyHeader.parse("{\"descr\": \"<f4\", \"shape\": (3L, 4L), 'fortran_order': False}"),
      NpyHeader(descr: "<f4", fortranOrder: false, shape: [3, 4]))
    XCTAssertEqual(
      try NpyHeader.parse("{'descr':'<f8','fortran_order':True,'shape':(7,),}   \n"),
      NpyHeader(descr: "<f8", fortranOrder: true, shape: [7]))
    XCTAssertThrowsError(try NpyHeader.parse("{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (1,)}"))
    XCTAssertThrowsError(try NpyHeader.parse("{'descr': '<f4', 'shape': (1,)}"))
  }

  func testReadsVersion2Headers() throws {
    let header = Array("{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }\n".utf8)
    var file = Data(Npy.magic + [2, 0])
    file.append(contentsOf: littleEndianBytes([UInt32(header.count)]))
    file.append(contentsOf: header)
    file.append(contentsOf: littleEndianBytes([Float(1).bitPattern, Float(-1).bitPattern]))
    XCTAssertEqual(try Npy.decode(file, path: "v2.npy"), NpyArray(shape: [2], values: [1, -1]))
  }

  private func npyFile(header: String, data: [UInt8]) throws -> Data {
    var file = Data(Npy.magic + [1, 0])
    file.append(contentsOf: littleEndianBytes([UInt16(header.utf8.count)]))
    file.append(contentsOf: Array(header.utf8))
    file.append(contentsOf: data)
    return file
  }
}
