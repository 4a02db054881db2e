import Foundation
import XCTest

@testable import LocusRuntime

#if canImport(Glibc)
  import Glibc
#elseif canImport(Darwin)
  import Darwin
#endif

/// A hand-written library implementing the ABI of DESIGN.md §4 for a model `toy`:
/// y[B, 2] = x[B, 3] · fc.weightᵀ[3, 2] + fc.bias[2], with B = 2. `toy_prepare` lays the weight out
/// transposed, with the bias, in the arena's persistent region (floats 0..<8); `toy_forward` reads
/// only that copy, so a forward after rebinding shows whether prepare ran again. Floats 8..<12
/// stage the result.
let toyModelSource = """
  #include <stddef.h>
  #include <stdint.h>
  typedef struct { const char *name; int rank; int64_t shape[8]; int64_t numel; } locus_tensor_info;
  #ifndef TOY_ABI
  #define TOY_ABI 2
  #endif
  #ifndef TOY_BIAS_NUMEL
  #define TOY_BIAS_NUMEL 2
  #endif
  #ifndef TOY_PREPARE_STATUS
  #define TOY_PREPARE_STATUS 0
  #endif
  static const locus_tensor_info params[] = {
    {"fc.weight", 2, {2, 3}, 6},
    {"fc.bias", 1, {2}, TOY_BIAS_NUMEL},
  };
  static const locus_tensor_info inputs[] = {{"x", 2, {2, 3}, 6}};
  static const locus_tensor_info outputs[] = {{"y", 2, {2, 2}, 4}};
  static int threads = 0, prepares = 0;

  int toy_abi_version(void) { return TOY_ABI; }
  int toy_batch(void) { return 2; }
  int toy_num_params(void) { return 2; }
  const locus_tensor_info *toy_param_info(int i) { return &params[i]; }
  int toy_num_inputs(void) { return 1; }
  const locus_tensor_info *toy_input_info(int i) { return &inputs[i]; }
  int toy_num_outputs(void) { return 1; }
  const locus_tensor_info *toy_output_info(int i) { return &outputs[i]; }
  size_t toy_arena_bytes(void) { return 12 * sizeof(float); }
  void toy_set_num_threads(int n) { threads = n; }
  int toy_test_threads(void) { return threads; }
  int toy_test_prepares(void) { return prepares; }

  #ifndef TOY_NO_PREPARE
  int toy_prepare(const float *const *p, float *arena) {
    prepares++;
    for (int o = 0; o < 2; o++) {
      for (int k = 0; k < 3; k++) arena[k * 2 + o] = p[0][o * 3 + k];
      arena[6 + o] = p[1][o];
    }
    return TOY_PREPARE_STATUS;
  }
  #endif

  #ifndef TOY_NO_FORWARD
  int toy_forward(const float *const *p, const float *const *in, float *const *out, float *arena) {
    if ((uintptr_t)arena % 64 || (uintptr_t)p[0] % 64 || (uintptr_t)p[1] % 64) return 7;
    const float *wt = arena, *bias = arena + 6, *x = in[0];
    for (int b = 0; b < 2; b++)
      for (int o = 0; o < 2; o++) {
        float s = bias[o];
        for (int k = 0; k < 3; k++) s += x[b * 3 + k] * wt[k * 2 + o];
        arena[8 + b * 2 + o] = s;
      }
    for (int i = 0; i < 4; i++) out[0][i] = arena[8 + i];
    return 0;
  }
  #endif
  """

final class CompiledModelTests: XCTestCase {
  let weights: [String: Tensor] = [
    "fc.weight": Tensor(shape: [2, 3], floats: [1, 2, 3, -1, 0, 1]),
    "fc.bias": Tensor(shape: [2], floats: [0.5, -0.5]),
  ]
  let x: [Float] = [1, 1, 1, 2, 0, -1]
  let expected: [Float] = [6.5, -0.5, -0.5, -3.5]

  func toyLibrary(flags: [String] = []) throws -> String {
    try compileSharedLibrary(toyModelSource, flags: flags, in: try makeTemporaryDirectory(self))
  }

  func loadToy() throws -> CompiledModel {
    try CompiledModel(libraryPath: try toyLibrary(), modelName: "toy")
  }

  /// What loading the toy library built with `flags` throws.
  func loadError(flags: [String]) throws -> RuntimeError? {
    let lib = try toyLibrary(flags: flags)
    return runtimeError { () throws(RuntimeError) in try CompiledModel(libraryPath: lib, modelName: "toy") }
  }

  func testReadsTheTablesAndRunsEndToEnd() throws {
    let model = try loadToy()
    XCTAssertEqual(model.batch, 2)
    XCTAssertEqual(model.parameterSpecs, [ParameterSpec(name: "fc.weight", shape: [2, 3]), ParameterSpec(name: "fc.bias", shape: [2])])
    XCTAssertEqual(model.inputs, [TensorInfo(name: "x", shape: [2, 3], numel: 6)])
    XCTAssertEqual(model.outputs, [TensorInfo(name: "y", shape: [2, 2], numel: 4)])
    XCTAssertEqual(model.arenaBytes, 48)
    let dir = try makeTemporaryDirectory(self)
    try SafeTensorsWriter.write(weights, to: dir + "/toy.safetensors")
    try model.bindWeights(try SafeTensorsFile.read(path: dir + "/toy.safetensors"))
    XCTAssertEqual(try model.run(inputs: [x]), [expected])
  }

  func testNonAllocatingRunWritesIntoCallerBuffers() throws {
    let model = try loadToy()
    try model.bindWeights(weights, sourceName: "memory")
    var y = [Float](repeating: .nan, count: 4)
    try x.withUnsafeBufferPointer { xb in
      try y.withUnsafeMutableBufferPointer { yb in try model.run(inputs: [xb], outputs: [yb]) }
    }
    XCTAssertEqual(y, expected)
  }

  func testSizeAndCountErrorsSayWhatWasExpected() throws {
    let model = try loadToy()
    try model.bindWeights(weights, sourceName: "memory")
    XCTAssertEqual(
      runtimeError { () throws(RuntimeError) in try model.run(inputs: [[1, 2, 3]]) }?.description,
      "toy: input 0 'x' expects [2, 3] = 6 floats, got 3")
    XCTAssertEqual(
      runtimeError { () throws(RuntimeError) in try model.run(inputs: [x, x]) }?.description,
      "toy takes 1 input(s), got 2")
  }

  func testRunningWithoutWeightsIsAnError() throws {
    let model = try loadToy()
    guard case .weightsNotBound? = runtimeError({ () throws(RuntimeError) in try model.run(inputs: [x]) }) else {
      return XCTFail("expected weightsNotBound")
    }
  }

  func testAFailedBindingKeepsThePreviousWeights() throws {
    let model = try loadToy()
    try model.bindWeights(weights, sourceName: "good")
    var bad = weights
    bad["fc.bias"] = Tensor(shape: [3], floats: [0, 0, 0])
    guard case .weightMismatch? = runtimeError({ () throws(RuntimeError) in try model.bindWeights(bad, sourceName: "bad") }) else {
      return XCTFail("expected weightMismatch")
    }
    XCTAssertEqual(try model.run(inputs: [x]), [expected])
  }

  /// prepare runs once per binding, never per forward, and rebinding prepares the new weights
  /// (the toy's forward reads only the prepared copy of the weights).
  func testPrepareRunsOncePerBinding() throws {
    let model = try loadToy()
    let prepares = try testSymbol(model, "toy_test_prepares")
    XCTAssertEqual(prepares(), 0)
    try model.bindWeights(weights, sourceName: "first")
    XCTAssertEqual(prepares(), 1)
    XCTAssertEqual(try model.run(inputs: [x]), [expected])
    XCTAssertEqual(try model.run(inputs: [x]), [expected])
    XCTAssertEqual(prepares(), 1, "forward must not prepare again")

    var doubled = weights
    doubled["fc.weight"] = Tensor(shape: [2, 3], floats: [2, 4, 6, -2, 0, 2])
    try model.bindWeights(doubled, sourceName: "second")
    XCTAssertEqual(prepares(), 2)
    XCTAssertEqual(try model.run(inputs: [x]), [[12.5, -0.5, -1.5, -6.5]])
  }

  func testAFailedPrepareLeavesNoWeightsBound() throws {
    let model = try CompiledModel(libraryPath: try toyLibrary(flags: ["-DTOY_PREPARE_STATUS=3"]), modelName: "toy")
    let error = runtimeError { () throws(RuntimeError) in try model.bindWeights(weights, sourceName: "memory") }
    XCTAssertEqual(error, .prepareFailed(model: "toy", status: 3))
    XCTAssertEqual(error?.description, "toy_prepare returned 3; bind the weights again before running")
    XCTAssertNil(model.weights)
    guard case .weightsNotBound? = runtimeError({ () throws(RuntimeError) in try model.run(inputs: [x]) }) else {
      return XCTFail("expected weightsNotBound")
    }
  }

  func testMissingSymbolNamesIt() throws {
    for missing in ["forward", "prepare"] {
      let error = try loadError(flags: ["-DTOY_NO_\(missing.uppercased())"])
      guard case .missingSymbol(_, let symbol)? = error else { return XCTFail("got \(String(describing: error))") }
      XCTAssertEqual(symbol, "toy_\(missing)")
    }
    let lib = try toyLibrary()
    let wrongName = runtimeError { () throws(RuntimeError) in try CompiledModel(libraryPath: lib, modelName: "deit_tiny") }
    XCTAssertEqual(
      wrongName?.description,
      "\(lib) does not export 'deit_tiny_abi_version': is it a Locus model library, and is the model name right?")
  }

  func testRejectsOtherABIVersionsAndInconsistentTables() throws {
    guard case .abiMismatch(_, _, 3, 2)? = try loadError(flags: ["-DTOY_ABI=3"]) else {
      return XCTFail("expected abiMismatch")
    }
    // A version 1 library has no prepare: the version is reported, not the missing symbol.
    guard case .abiMismatch(_, _, 1, 2)? = try loadError(flags: ["-DTOY_ABI=1", "-DTOY_NO_PREPARE"]) else {
      return XCTFail("expected abiMismatch")
    }
    let error = try loadError(flags: ["-DTOY_BIAS_NUMEL=3"])
    XCTAssertTrue(error?.description.hasSuffix("parameter 1: 'fc.bias' has shape [2] but numel 3") == true, "\(String(describing: error))")
  }

  func testUnloadableLibrary() throws {
    let error = runtimeError { () throws(RuntimeError) in try CompiledModel(libraryPath: "/nonexistent/libx.so", modelName: "x") }
    guard case .libraryLoad(let path, let reason)? = error else { return XCTFail("got \(String(describing: error))") }
    XCTAssertEqual(path, "/nonexistent/libx.so")
    XCTAssertFalse(reason.isEmpty)
  }

  func testSetThreadsReachesTheLibraryAndSetsKMPBlocktime() throws {
    let model = try loadToy()
    try model.setThreads(3)
    XCTAssertEqual(try testSymbol(model, "toy_test_threads")(), 3)
    XCTAssertNotNil(runtimeError { () throws(RuntimeError) in try model.setThreads(0) })
    XCTAssertNotNil(getenv("KMP_BLOCKTIME"), "set before loading unless the user chose a value")
  }
}

/// One of the toy's `int toy_test_*(void)` probes, from the library the model loaded.
func testSymbol(_ model: CompiledModel, _ name: String) throws -> @convention(c) () -> Int32 {
  let handle = try XCTUnwrap(dlopen(model.libraryPath, RTLD_NOW | RTLD_LOCAL))
  return unsafeBitCast(try XCTUnwrap(dlsym(handle, name)), to: (@convention(c) () -> Int32).self)
}
