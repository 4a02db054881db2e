import Foundation
import LocusBuild
import LocusCodegen
import LocusIR
import LocusReference
import XCTest

/// Builds a C driver together with an emitted model under AddressSanitizer and
/// UndefinedBehaviorSanitizer, runs it on arguments written by Swift, and compares what it
/// writes with the reference. Catches out-of-bounds offsets, arena overlaps that corrupt live
/// values, and UB in the glue code that a plain run may survive.
final class SanitizerTests: XCTestCase {
  /// Reads params.bin and inputs.bin (the tensors back to back, in table order), prepares and runs
  /// the forward pass twice on an arena filled with garbage (a run must not depend on arena
  /// contents left by another), then runs forward once more without preparing (forward must
  /// leave the persistent region intact), and writes outputs.bin. The arena is exactly
  /// arena_bytes long, so ASan sees any overrun. MODEL stands for the model name.
  static let driver = """
    #define _POSIX_C_SOURCE 200112L
    #include <stdio.h>
    #include <stdlib.h>
    #include <string.h>
    #include "MODEL.h"

    static float **read_tensors(const char *path, int n, const locus_tensor_info *(*info)(int)) {
      FILE *f = fopen(path, "rb");
      float **t = (float **)calloc((size_t)n + 1, sizeof *t);
      for (int i = 0; i < n; i++) {
        size_t count = (size_t)info(i)->numel;
        t[i] = (float *)malloc(count * sizeof(float));
        if (!f || fread(t[i], sizeof(float), count, f) != count) { fprintf(stderr, "short read: %s\\n", path); exit(2); }
      }
      fclose(f);
      return t;
    }

    int main(void) {
      int np = MODEL_num_params(), ni = MODEL_num_inputs(), no = MODEL_num_outputs();
      float **params = read_tensors("params.bin", np, MODEL_param_info);
      float **inputs = read_tensors("inputs.bin", ni, MODEL_input_info);
      float **outputs = (float **)calloc((size_t)no + 1, sizeof *outputs);
      void *arena = NULL;
      FILE *f;
      if (posix_memalign(&arena, 64, MODEL_arena_bytes() ? MODEL_arena_bytes() : 64) != 0) return 3;
      for (int i = 0; i < no; i++) outputs[i] = (float *)malloc((size_t)MODEL_output_info(i)->numel * sizeof(float));
      for (int run = 0; run < 3; run++) {
        if (run < 2) {
          memset(arena, run ? 0x7f : 0xff, MODEL_arena_bytes()); /* NaN, then large garbage */
          if (MODEL_prepare((const float *const *)params, (float *)arena) != 0) return 5;
        }
        if (MODEL_forward((const float *const *)params, (const float *const *)inputs, outputs, (float *)arena) != 0) return 4;
      }
      f = fopen("outputs.bin", "wb");
      for (int i = 0; i < no; i++) fwrite(outputs[i], sizeof(float), (size_t)MODEL_output_info(i)->numel, f);
      fclose(f);
      for (int i = 0; i < np; i++) free(params[i]);
      for (int i = 0; i < ni; i++) free(inputs[i]);
      for (int i = 0; i < no; i++) free(outputs[i]);
      free(params); free(inputs); free(outputs); free(arena);
      return 0;
    }

    """

  func testTinyModelsUnderAddressAndUndefinedBehaviorSanitizers() throws {
    try runUnderSanitizers(TinyModels.vit(batch: 2))
    try runUnderSanitizers(TinyModels.cnn(batch: 3))
    try runUnderSanitizers(TinyModels.fused(batch: 2))
  }

  func runUnderSanitizers(_ graph: Graph, file: StaticString = #filePath, line: UInt = #line) throws {
    let model = try CEmitter.emit(graph)
    let dir = try temporaryDirectory("sanitize")
    try model.source.write(toFile: "\(dir)/\(model.sourceFileName)", atomically: true, encoding: .utf8)
    try model.header.write(toFile: "\(dir)/\(model.headerFileName)", atomically: true, encoding: .utf8)
    try Self.driver.replacingOccurrences(of: "MODEL", with: model.name).write(toFile: "\(dir)/driver.c", atomically: true, encoding: .utf8)

    let args = Arguments(for: graph, seed: 5)
    try writeFloats(graph.parameters.map { args.parameters[$0.name]!.data }, to: "\(dir)/params.bin")
    try writeFloats(graph.inputs.map { node -> [Float] in
      guard case .input(let name) = node.op else { return [] }
      return args.inputs[name]!.data
    }, to: "\(dir)/inputs.bin")
    let reference = try Interpreter.run(graph: graph, parameters: args.parameters, inputs: args.inputs)
    let expected = graph.outputs.map { reference[$0.name]! }  // the tiny models' outputs are batched

    let toolchain = try Toolchain.discover()
    let sanitize = ["-fsanitize=address,undefined", "-fno-sanitize-recover=all", "-fno-omit-frame-pointer", "-g", "-O1"]
    let openMP = try toolchain.requireOpenMP()
    // Serial first (no OpenMP: the plain C paths), then with OpenMP (every kernel's thread split).
    for (label, flags) in [("serial", [String]()), ("openmp", openMP.compileFlags + openMP.linkFlags)] {
      let what = "\(model.name) \(label)"
      let exe = "\(dir)/driver-\(label)"
      let compile = try runTool([toolchain.clang, "-std=c99", "-Wall", "-Wextra", "-Werror"] + sanitize + flags
        + ["\(dir)/driver.c", "\(dir)/\(model.sourceFileName)", "-lm", "-o", exe])
      if compile.status != 0, compile.output.contains("libclang_rt") || compile.output.contains("asan") {
        throw XCTSkip("sanitizer runtime not available for \(toolchain.clang): \(compile.output.prefix(400))")
      }
      XCTAssertEqual(compile.status, 0, "\(what): build failed:\n\(compile.output)", file: file, line: line)
      guard compile.status == 0 else { continue }
      var environment = ProcessInfo.processInfo.environment
      environment["ASAN_OPTIONS"] = "detect_leaks=1"
      environment["UBSAN_OPTIONS"] = "print_stacktrace=1"
      environment["OMP_NUM_THREADS"] = "2"
      let result = try runTool([exe], environment: environment, directory: dir)
      XCTAssertEqual(result.status, 0, "\(what): run under sanitizers failed:\n\(result.output)", file: file, line: line)
      guard result.status == 0 else { continue }
      var got = try readFloats("\(dir)/outputs.bin")[...]
      for want in expected {
        let comparison = Tensor(shape: want.shape, data: Array(got.prefix(want.count))).compared(to: want, tolerance: tolerance(for: want))
        got = got.dropFirst(want.count)
        XCTAssertTrue(comparison.passed, "\(what): \(comparison)", file: file, line: line)
      }
    }
  }
}

func writeFloats(_ tensors: [[Float]], to path: String) throws {
  try Array(tensors.joined()).withUnsafeBufferPointer { Data(buffer: $0) }.write(to: URL(fileURLWithPath: path))
}

func readFloats(_ path: String) throws -> [Float] {
  let data = try Data(contentsOf: URL(fileURLWithPath: path))
  return data.withUnsafeBytes { Array($0.bindMemory(to: Float.self)) }
}
