import Foundation
import XCTest

@testable import LocusBuild

final class ToolchainTests: XCTestCase {
  func testDiscoversClangAndOpenMP() throws {
    let toolchain = try sharedToolchain.get()
    XCTAssertTrue(FileManager.default.isExecutableFile(atPath: toolchain.clang))
    XCTAssertTrue(toolchain.clangVersion.contains("clang version"), toolchain.clangVersion)
    let omp = try toolchain.requireOpenMP()
    XCTAssertTrue(FileManager.default.fileExists(atPath: omp.includeDir + "/omp.h"))
    XCTAssertTrue(omp.linkFlags.contains("-Wl,-rpath,\(omp.libDir)"))
  }

  func testLocusCCOverrideWinsAndABadValueIsAnError() throws {
    let clang = try sharedToolchain.get().clang
    XCTAssertEqual(try Toolchain.findClang(environment: ["LOCUS_CC": clang, "PATH": ""]), clang)
    let error = buildError { () throws(BuildError) in
      try Toolchain.findClang(environment: ["LOCUS_CC": "/nonexistent/cc"])
    }
    guard case .toolchainMissing(let missing)? = error else { return XCTFail("got \(String(describing: error))") }
    XCTAssertTrue(missing.searched.contains("LOCUS_CC=/nonexistent/cc"))
    XCTAssertTrue(String(describing: error!).contains("LOCUS_CC"))
  }

  func testOpenMPOverrideWithoutLibompSaysWhatToDo() throws {
    let empty = try makeTemporaryDirectory(self)
    guard case .missing(let missing) = OpenMPSearch.discover(environment: ["LOCUS_OMP_DIR": empty]) else {
      return XCTFail("an empty directory cannot hold libomp")
    }
    XCTAssertEqual(missing.searched, ["LOCUS_OMP_DIR=\(empty)"])
    XCTAssertTrue(missing.remedy.contains("LOCUS_OMP_DIR"))
  }

  func testMissingOpenMPNamesThePackageAndTheOverride() throws {
    let emptyRoot = try makeTemporaryDirectory(self)
    guard case .missing(let missing) = OpenMPSearch.discover(environment: [:], llvmRoot: emptyRoot) else {
      return XCTFail("expected nothing found under \(emptyRoot)")
    }
    let message = BuildError.toolchainMissing(missing).description
    #if os(Linux)
      XCTAssertTrue(message.contains("apt-get install libomp-19-dev"), message)
    #endif
    XCTAssertTrue(message.contains("LOCUS_OMP_DIR") && message.contains("LOCUS_CC"), message)
  }

  func testSearchesNewestLLVMFirstAndNeedsBothLibraryAndHeader() throws {
    let root = try makeTemporaryDirectory(self)
    let fm = FileManager.default
    // llvm-9 and llvm-19 complete, llvm-20 has the library but no header.
    for (version, withHeader) in [(9, true), (19, true), (20, false)] {
      let lib = "\(root)/llvm-\(version)/lib"
      try fm.createDirectory(atPath: "\(lib)/clang/\(version)/include", withIntermediateDirectories: true)
      XCTAssertTrue(fm.createFile(atPath: "\(lib)/\(OpenMPSearch.libraryName)", contents: Data()))
      if withHeader { XCTAssertTrue(fm.createFile(atPath: "\(lib)/clang/\(version)/include/omp.h", contents: Data())) }
    }
    XCTAssertEqual(
      OpenMPSearch.llvmLibDirs(root: root), ["\(root)/llvm-20/lib", "\(root)/llvm-19/lib", "\(root)/llvm-9/lib"])
    XCTAssertEqual(
      OpenMPSearch.discover(environment: [:], llvmRoot: root),
      .found(OpenMPInstall(includeDir: "\(root)/llvm-19/lib/clang/19/include", libDir: "\(root)/llvm-19/lib")))
  }

  func testShellQuoting() {
    XCTAssertEqual(shellQuoted(["clang", "-O3", "-DX=a b", "it's"]), "clang -O3 '-DX=a b' 'it'\\''s'")
  }
}
