import Foundation
import XCTest

@testable import LocusRuntime

final class SafeTensorsTests: XCTestCase {
  let weights: [String: Tensor] = [
    "b.weight": Tensor(shape: [2, 3], floats: [1, -2, 3.5, 0, .pi, -1e-8]),
    "a.bias": Tensor(shape: [2], floats: [0.25, -0.5]),
    "bn.num_batches_tracked": Tensor(shape: [], int64s: [12345]),
  ]

  func testRoundTripKeepsValuesShapesDtypesAndMetadata() throws {
    let data = try SafeTensorsWriter.encode(weights, metadata: ["format": "pt", "note": "say \"hi\"\n"])
    let file = try SafeTensorsFile(bytes: data, path: "mem.safetensors")
    XCTAssertEqual(file.names, ["a.bias", "b.weight", "bn.num_batches_tracked"])
    XCTAssertEqual(file.metadata, ["format": "pt", "note": "say \"hi\"\n"])
    for (name, tensor) in weights { XCTAssertEqual(try file.tensor(name), tensor, name) }
    XCTAssertEqual(try file.entry("bn.num_batches_tracked").dtype, .i64)
  }

  func testOutputIsDeterministicAndLaidOutLikeTheReferenceLibrary() throws {
    let data = try SafeTensorsWriter.encode(weights)
    XCTAssertEqual(data, try SafeTensorsWriter.encode(weights))
    let headerLength = Int(data.withUnsafeBytes { UInt64(littleEndian: $0.loadUnaligned(as: UInt64.self)) })
    XCTAssertEqual(headerLength % 8, 0, "header padded to keep the data 8-byte aligned")
    let header = String(decoding: data[8..<(8 + headerLength)], as: UTF8.self)
    // I64 (8-byte alignment) first, then F32 sorted by name.
    XCTAssertEqual(
      header.trimmingCharacters(in: .whitespaces),
      #"{"bn.num_batches_tracked":{"dtype":"I64","shape":[],"data_offsets":[0,8]},"#
        + #""a.bias":{"dtype":"F32","shape":[2],"data_offsets":[8,16]},"#
        + #""b.weight":{"dtype":"F32","shape":[2,3],"data_offsets":[16,40]}}"#)
    XCTAssertEqual(data.count, 8 + headerLength + 40)
  }

  func testWritesAtomicallyToDisk() throws {
    let dir = try makeTemporaryDirectory(self)
    try SafeTensorsWriter.write(weights, to: dir + "/w.safetensors")
    XCTAssertEqual(try SafeTensorsFile.read(path: dir + "/w.safetensors").floats("a.bias"), [0.25, -0.5])
    XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir), ["w.safetensors"])
  }

  func testConvertsF64F16AndBF16ToFloat() throws {
    let f64 = [1.5, -2.25].map { $0.bitPattern }
    // binary16: 1.0 = 0x3C00, -2.0 = 0xC000, smallest subnormal 2^-24 = 0x0001, +inf = 0x7C00
    let f16: [UInt16] = [0x3C00, 0xC000, 0x0001, 0x7C00]
    // bfloat16: 1.0 = 0x3F80, -3.0 = 0xC040
    let bf16: [UInt16] = [0x3F80, 0xC040]
    let header =
      #"{"d":{"dtype":"F64","shape":[2],"data_offsets":[0,16]},"h":{"dtype":"F16","shape":[2,2],"data_offsets":[16,24]},"#
      + #""b":{"dtype":"BF16","shape":[2],"data_offsets":[24,28]}}"#
    let file = try SafeTensorsFile(
      bytes: rawSafeTensors(header: header, data: littleEndianBytes(f64) + littleEndianBytes(f16) + littleEndianBytes(bf16)),
      path: "mixed.safetensors")
    XCTAssertEqual(try file.floats("d"), [1.5, -2.25])
    XCTAssertEqual(try file.floats("h"), [1, -2, 0x1p-24, .infinity])
    XCTAssertEqual(try file.floats("b"), [1, -3])
  }

  func testHalfConversionMatchesFloat16ForEveryBitPattern() throws {
    #if arch(x86_64) || arch(arm64)
      for bits in UInt16.min...UInt16.max {
        let expected = Float(Float16(bitPattern: bits))
        let got = floatFromHalf(bits)
        XCTAssertTrue(got == expected || (got.isNaN && expected.isNaN), "0x\(String(bits, radix: 16))")
      }
    #endif
  }

  func testErrorsNameTheFileAndTheTensor() {
    let cases: [(Data, String)] = [
      (Data([1, 2, 3]), "short.safetensors: file is 3 bytes"),
      (rawSafeTensors(header: "{not json", data: []), "bad.safetensors: header is not valid JSON"),
      (Data(littleEndianBytes([UInt64(1 << 40)])), "header length 1099511627776 exceeds"),
      (rawSafeTensors(header: #"{"w":{"dtype":"F32","shape":[2,2],"data_offsets":[0,16]}}"#, data: [0, 0, 0, 0]),
        "t.safetensors: truncated file: tensor 'w' needs bytes 65..81, file has 69"),
      (rawSafeTensors(header: #"{"w":{"dtype":"F32","shape":[2,2],"data_offsets":[0,12]}}"#, data: Array(repeating: 0, count: 12)),
        "tensor 'w': shape [2, 2] of F32 needs 16 bytes"),
      (rawSafeTensors(header: #"{"w":{"dtype":"Q4","shape":[1],"data_offsets":[0,1]}}"#, data: [0]),
        "tensor 'w': unknown dtype \"Q4\""),
      (rawSafeTensors(header: #"{"w":{"dtype":"F32","shape":[2.5],"data_offsets":[0,4]}}"#, data: [0, 0, 0, 0]),
        "tensor 'w': \"shape\" must be a list of integers"),
      (rawSafeTensors(
        header: #"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}"#,
        data: Array(repeating: 0, count: 8)),
        "tensors 'a' and 'b' overlap"),
      (rawSafeTensors(header: #"{"__metadata__":{"n":1}}"#, data: []), "__metadata__ must map strings to strings"),
    ]
    let names = ["short", "bad", "huge", "t", "size", "dtype", "shape", "overlap", "meta"]
    for ((data, expected), name) in zip(cases, names) {
      let error = runtimeError { () throws(RuntimeError) in try SafeTensorsFile(bytes: data, path: "\(name).safetensors") }
      let message = error.map(String.init(describing:)) ?? "no error"
      XCTAssertTrue(message.contains(expected), "\(name): \(message)")
      XCTAssertTrue(message.hasPrefix("\(name).safetensors"), "\(name): \(message)")
    }
  }

  func testMissingTensorAndWrongDType() throws {
    let file = try SafeTensorsFile(bytes: try SafeTensorsWriter.encode(weights), path: "w.safetensors")
    XCTAssertEqual(
      runtimeError { () throws(RuntimeError) in try file.floats("head.bias") }?.description,
      "w.safetensors: missing tensor 'head.bias'")
    XCTAssertEqual(
      runtimeError { () throws(RuntimeError) in try file.floats("bn.num_batches_tracked") }?.description,
      "w.safetensors: tensor 'bn.num_batches_tracked' has dtype I64, expected F32, F64, F16 or BF16")
  }

  func testWriterRejectsInconsistentTensors() {
    let error = runtimeError { () throws(RuntimeError) in
      try SafeTensorsWriter.encode(["x": Tensor(shape: [2, 2], floats: [1, 2, 3])])
    }
    XCTAssertEqual(error?.description, "tensor 'x' has shape [2, 2] but 3 values")
  }
}
