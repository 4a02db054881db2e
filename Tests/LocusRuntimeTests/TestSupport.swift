import Foundation
import XCTest

@testable import LocusRuntime

/// A fresh directory under the system temp dir, removed when the test ends.
func makeTemporaryDirectory(_ test: XCTestCase) throws -> String {
  let path = NSTemporaryDirectory() + "locus-runtime-tests-\(UUID().uuidString)"
  try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
  test.addTeardownBlock { try? FileManager.default.removeItem(atPath: path) }
  return path
}

/// The error a throwing expression threw, typed.
func runtimeError<T>(_ body: () throws(RuntimeError) -> T) -> RuntimeError? {
  do {
    _ = try body()
    return nil
  } catch {
    return error
  }
}

/// Builds a shared library straight with clang: LocusRuntimeTests may depend only on LocusRuntime,
/// so the loader's end-to-end tests cannot go through LocusBuild.
func compileSharedLibrary(_ source: String, flags: [String] = [], in dir: String) throws -> String {
  let clang = ProcessInfo.processInfo.environment["LOCUS_CC"] ?? "/opt/swift/usr/bin/clang"
  let src = dir + "/fixture-\(UUID().uuidString).c"
  let lib = src.replacingOccurrences(of: ".c", with: ".so")
  try source.write(toFile: src, atomically: true, encoding: .utf8)
  let process = Process()
  process.executableURL = URL(fileURLWithPath: clang)
  process.arguments = ["-O1", "-fPIC", "-shared"] + flags + [src, "-o", lib]
  let err = Pipe()
  process.standardError = err
  try process.run()
  let message = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
  process.waitUntilExit()
  guard process.terminationStatus == 0 else {
    throw NSError(domain: "clang", code: Int(process.terminationStatus), userInfo: [NSLocalizedDescriptionKey: message])
  }
  return lib
}

/// Little-endian bytes of an array of fixed-width values.
func littleEndianBytes<T: FixedWidthInteger>(_ values: [T]) -> [UInt8] {
  values.flatMap { v in withUnsafeBytes(of: v.littleEndian) { Array($0) } }
}

/// A safetensors file assembled by hand from a header string and raw data.
func rawSafeTensors(header: String, data: [UInt8]) -> Data {
  var out = Data(littleEndianBytes([UInt64(header.utf8.count)]))
  out.append(contentsOf: Array(header.utf8))
  out.append(contentsOf: data)
  return out
}
