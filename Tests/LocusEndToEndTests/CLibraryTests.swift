import Foundation
import LocusDriver
import LocusRuntime
import LocusTraining
import XCTest

/// `locus compile --emit c-library` as a C programmer uses it: a tiny LocalViT's library, linked
/// via pkg-config into Tests/LocusEndToEndTests/CPrograms/clib_check.c, against `locus run` and
/// the Swift Trainer on the same weights and batch.
final class CLibraryTests: XCTestCase {
  static let spec = "specs/localvit_fmnist.locus"
  static let tiny = [("dim", "16"), ("depth", "1"), ("reduction", "16")]
  static var tinyFlags: [String] { tiny.flatMap { ["--set", "\($0.0)=\($0.1)"] } }
  static let batch = 3, trainBatch = 4, model = "localvit_fmnist"

  /// One library, weights and check program for every test of the class (built on first use).
  struct Setup {
    var scratch: URL
    var library: URL
    var weights: URL
    var check: String
    var openMPLibDir: String
  }
  nonisolated(unsafe) static var shared: Setup?

  func setup() throws -> Setup {
    if let s = Self.shared { return s }
    let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("locus-clib-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: scratch, withIntermediateDirectories: true)
    let library = scratch.appendingPathComponent("lib")
    let r = try runLocus(["compile", Self.spec] + Self.tinyFlags + ["--batch", "\(Self.batch)", "--train-batch", "\(Self.trainBatch)",
                          "--emit", "c-library", "-o", library.path])
    XCTAssertEqual(r.status, 0, r.stderr)
    let (graph, _) = try Driver.graph(request(batch: Self.batch))
    let weights = scratch.appendingPathComponent("w.safetensors")
    try SafeTensorsWriter.write(try Driver.initialWeights(for: graph, seed: 1), to: weights.path)
    let manifest = try JSONSerialization.jsonObject(with: Data(contentsOf: library.appendingPathComponent("manifest.json"))) as? [String: Any]
    let s = Setup(scratch: scratch, library: library, weights: weights,
                  check: try CLibrarySupport.checkProgram(model: Self.model, library: library, into: scratch),
                  openMPLibDir: try XCTUnwrap(manifest?["openmp_lib_dir"] as? String))
    Self.shared = s
    return s
  }

  override class func tearDown() {
    if let s = shared { try? FileManager.default.removeItem(at: s.scratch) }
    shared = nil
  }

  func request(batch: Int) -> CompileRequest {
    CompileRequest(specPath: repositoryRoot().appendingPathComponent(Self.spec).path, batch: batch, overrides: Self.tiny)
  }

  /// Seeded images in [-1, 1).
  func images(_ count: Int, seed: UInt64) -> [Float] {
    var state = seed
    return (0..<count).map { _ in
      state = state &* 6364136223846793005 &+ 1442695040888963407
      return Float(state >> 40) / Float(1 << 23) - 1
    }
  }

  func testLayoutAndExports() throws {
    let s = try setup()
    for file in ["include/\(Self.model).h", "lib/lib\(Self.model).a", "lib/pkgconfig/\(Self.model).pc", "manifest.json",
                 "src/\(Self.model).c", "src/\(Self.model)_train.c", "src/\(Self.model)_context.c"] {
      XCTAssertTrue(FileManager.default.fileExists(atPath: s.library.appendingPathComponent(file).path), file)
    }
    // The archive defines exactly the functions of the header: no kernel, no raw ABI.
    let nm = try CLibrarySupport.run(["/opt/swift/usr/bin/llvm-nm", "--defined-only", "--extern-only", s.library.appendingPathComponent("lib/lib\(Self.model).a").path])
    let defined = Set(nm.stdout.split(separator: "\n").compactMap { $0.split(separator: " ").last.map(String.init) }.filter { !$0.hasSuffix(".o:") && !$0.isEmpty })
    let header = try String(contentsOf: s.library.appendingPathComponent("include/\(Self.model).h"), encoding: .utf8)
    XCTAssertFalse(defined.isEmpty)
    for name in defined {
      XCTAssertTrue(name.hasPrefix("\(Self.model)_model_") || name == "\(Self.model)_optimizer_defaults", "unexpected export \(name)")
      XCTAssertTrue(header.contains("\(name)("), "\(name) is exported but not declared")
    }
    // Every generated C file compiles without a warning under -Wall -Wextra.
    let src = s.library.appendingPathComponent("src")
    for file in ["\(Self.model).c", "\(Self.model)_train.c", "\(Self.model)_context.c"] {
      let r = try CLibrarySupport.run([CLibrarySupport.clang, "-std=c11", "-Wall", "-Wextra", "-Werror", "-O1", "-march=native", "-fopenmp",
                                       "-I", s.library.appendingPathComponent("include").path, "-c", src.appendingPathComponent(file).path, "-o", "/dev/null"])
      XCTAssertEqual(r.status, 0, "\(file): \(r.stderr)")
    }
    // The context also under GCC (the archive is clang's, but src/ is for anyone to build).
    if FileManager.default.isExecutableFile(atPath: "/usr/bin/gcc") {
      let r = try CLibrarySupport.run(["/usr/bin/gcc", "-std=c11", "-Wall", "-Wextra", "-Werror", "-O2", "-I", s.library.appendingPathComponent("include").path,
                                       "-c", src.appendingPathComponent("\(Self.model)_context.c").path, "-o", "/dev/null"])
      XCTAssertEqual(r.status, 0, "gcc: \(r.stderr)")
    }
  }

  /// predict over 5 images (batch 3: one full chunk, one padded) against `locus run` compiled at
  /// batch 5. Tolerance 1e-5 of the largest logit: the same kernels, at another GEMM height.
  func testPredictMatchesLocusRun() throws {
    let s = try setup()
    let x = images(5 * 784, seed: 3)
    try writeRawFloats(x, to: s.scratch.appendingPathComponent("x.bin"))
    try Npy.write(NpyArray(shape: [5, 1, 28, 28], values: x), to: s.scratch.appendingPathComponent("x.npy").path)
    let c = try CLibrarySupport.run([s.check, "predict", s.weights.path, s.scratch.appendingPathComponent("x.bin").path, "5", s.scratch.appendingPathComponent("y.bin").path])
    XCTAssertEqual(c.status, 0, c.stderr)
    let r = try runLocus(["run", Self.spec] + Self.tinyFlags + ["--weights", s.weights.path, "--input", s.scratch.appendingPathComponent("x.npy").path,
                          "--output", s.scratch.appendingPathComponent("y.npy").path])
    XCTAssertEqual(r.status, 0, r.stderr)
    let expected = try Npy.read(path: s.scratch.appendingPathComponent("y.npy").path).values
    let scale = expected.map(abs).max() ?? 1
    assertWithin(try readRawFloats(s.scratch.appendingPathComponent("y.bin")), expected, tolerance: 1e-5 * scale, "logits")
  }

  /// Two AdamW steps (lr 0.01, weight decay 0.05, clipping at 1, label smoothing 0.1) in C and in
  /// the Swift Trainer on the same weights and batch: the same generated training C and the same
  /// float operations around it, so the loss, the norm, every gradient of step 1 and every weight
  /// after step 2 are bit-identical (tolerance 0).
  func testTrainingStepsMatchTheSwiftTrainer() throws {
    let s = try setup()
    let x = images(Self.trainBatch * 784, seed: 5), labels: [Int32] = [1, 3, 9, 0]
    try writeRawFloats(x, to: s.scratch.appendingPathComponent("tx.bin"))
    try writeRawFloats(labels.map(Float.init), to: s.scratch.appendingPathComponent("ty.bin"))
    let out = s.scratch.appendingPathComponent("train")
    try FileManager.default.createDirectory(at: out, withIntermediateDirectories: true)
    let c = try CLibrarySupport.run([s.check, "train", s.weights.path, s.scratch.appendingPathComponent("tx.bin").path,
                                     s.scratch.appendingPathComponent("ty.bin").path, "0.01", "0.05", "1", "0.1", out.path])
    XCTAssertEqual(c.status, 0, c.stderr)
    XCTAssertTrue(c.stdout.contains("checkpoint resume: identical"), c.stdout)

    let artifact = try Driver.compileTraining(request(batch: Self.trainBatch))
    let model = try Driver.load(artifact)
    try model.bindWeights(try SafeTensorsFile.read(path: s.weights.path))
    let trainer = try Trainer(model: model, optimizer: .adamW(weightDecay: 0.05), maxGradNorm: 1, decays: artifact.decays)
    let targets = try LabelSmoothing.targets(labels: labels, classes: 10, smoothing: 0.1)
    let (graph, _) = try Driver.graph(request(batch: Self.batch))
    var lines: [String] = []
    var gradients: [Float] = []
    for step in 1...2 {
      let r = try trainer.step(images: x, targets: targets, learningRate: 0.01)
      lines.append(String(format: "step %d loss %.9g norm %.9g", step, Double(r.loss), Double(r.gradientNorm)))
      if step == 1 {
        for p in graph.parameters where trainer.trainableParameters.contains(p.name) { gradients += try XCTUnwrap(trainer.gradient(p.name)) }
      }
    }
    XCTAssertEqual(c.stdout.split(separator: "\n").prefix(2).map(String.init), lines)
    assertWithin(try readRawFloats(out.appendingPathComponent("grads.bin")), gradients, tolerance: 0, "gradients of step 1")
    let saved = try SafeTensorsFile.read(path: out.appendingPathComponent("weights.safetensors").path)
    let store = try XCTUnwrap(model.weights)
    XCTAssertEqual(Set(saved.names), Set(store.specs.map(\.name)))
    for spec in store.specs {
      assertWithin(try saved.floats(spec.name), try XCTUnwrap(store.values(named: spec.name)), tolerance: 0, "\(spec.name) after 2 steps")
    }
  }

  /// Missing tensor, wrong shape, wrong dtype, truncated file, not a safetensors file: a nonzero
  /// return and a message naming the file and the problem.
  func testBadWeightFilesNameTheProblem() throws {
    let s = try setup()
    let good = try SafeTensorsFile.read(path: s.weights.path)
    var tensors: [String: Tensor] = [:]
    for name in good.names { tensors[name] = try good.tensor(name) }
    let victim = "blocks.0.attn.qkv.weight"
    func file(_ name: String, _ edit: (inout [String: Tensor]) -> Void) throws -> String {
      var t = tensors
      edit(&t)
      let path = s.scratch.appendingPathComponent(name).path
      try SafeTensorsWriter.write(t, to: path)
      return path
    }
    let truncated = s.scratch.appendingPathComponent("truncated.safetensors")
    let bytes = try Data(contentsOf: s.weights)
    try bytes.prefix(bytes.count - 100).write(to: truncated)
    let garbage = s.scratch.appendingPathComponent("garbage.safetensors")
    try Data("this is not a safetensors file at all".utf8).write(to: garbage)
    let cases: [(String, String)] = [
      (try file("missing.safetensors") { $0[victim] = nil }, "tensor '\(victim)' is missing"),
      (try file("shape.safetensors") { $0[victim] = Tensor(shape: [16, 48], floats: Array(repeating: 0, count: 768)) },
       "tensor '\(victim)' has shape [16, 48], the model expects [48, 16]"),
      (try file("dtype.safetensors") { $0[victim] = Tensor(shape: [48, 16], int64s: Array(repeating: 0, count: 768)) },
       "tensor '\(victim)' is I64; this library reads F32, F64, F16 or BF16"),
      (truncated.path, "the file is truncated: tensor '"),
      (garbage.path, "not a safetensors file"),
      (s.scratch.appendingPathComponent("nowhere.safetensors").path, "cannot open: No such file or directory"),
    ]
    for (path, message) in cases {
      let r = try CLibrarySupport.run([s.check, "load", path])
      XCTAssertEqual(r.status, 0, "\(path) loaded: \(r.stdout) \(r.stderr)")
      XCTAssertTrue(r.stdout.hasPrefix("rc -1: \(path): ") && r.stdout.contains(message), "\(path): \(r.stdout)")
    }
  }

  /// Weights stored as F16, BF16 and F64 (PyTorch's half-precision and double checkpoints) load
  /// into the C library converted to F32 exactly as LocusRuntime's loader converts them: the
  /// logits equal, bit for bit, those of an F32 file written from what the Swift loader read. The
  /// F16 file holds values below the smallest normal half (subnormals) and −0; F64 holds the
  /// original floats exactly, so its logits are the original model's.
  func testHalfBFloatAndDoubleWeightsLoad() throws {
    let s = try setup()
    let good = try SafeTensorsFile.read(path: s.weights.path)
    let x = images(Self.batch * 784, seed: 11)
    try writeRawFloats(x, to: s.scratch.appendingPathComponent("hx.bin"))
    func predict(_ weights: String) throws -> [Float] {
      let out = s.scratch.appendingPathComponent("hy.bin")
      let r = try CLibrarySupport.run([s.check, "predict", weights, s.scratch.appendingPathComponent("hx.bin").path, "\(Self.batch)", out.path])
      XCTAssertEqual(r.status, 0, r.stderr)
      return try readRawFloats(out)
    }
    // Round toward zero into binary16 (|v| < 65504): normal halves keep the top 10 mantissa bits,
    // smaller values become subnormals v / 2^-24.
    func half(_ v: Float) -> [UInt8] {
      let b = v.bitPattern, sign = UInt16(truncatingIfNeeded: b >> 16) & 0x8000
      let h = abs(v) >= 0x1p-14 ? sign | UInt16(Int((b >> 23) & 0xff) - 112) << 10 | UInt16((b >> 13) & 0x3ff)
        : sign | UInt16(abs(v) * 0x1p24)
      return [UInt8(h & 0xff), UInt8(h >> 8)]
    }
    let encodings: [(String, Int, (Float) -> [UInt8])] = [
      ("F16", 2, half),
      ("BF16", 2, { v in let h = UInt16(v.bitPattern >> 16); return [UInt8(h & 0xff), UInt8(h >> 8)] }),
      ("F64", 8, { v in withUnsafeBytes(of: Double(v).bitPattern.littleEndian) { Array($0) } }),
    ]
    for (dtype, size, encode) in encodings {
      var header: [String] = [], data: [UInt8] = []
      for name in good.names {
        let t = try good.tensor(name)
        let shape = "[" + t.shape.map(String.init).joined(separator: ",") + "]"
        let (stored, bytes): (String, [UInt8])
        if var values = t.floats {
          if dtype == "F16", values.count >= 4 { values[0] = -0.0; values[1] = 3e-6; values[2] = -1e-7; values[3] = 6e-5 }
          (stored, bytes) = (dtype, values.flatMap(encode))
          XCTAssertEqual(bytes.count, values.count * size)
        } else {  // BatchNorm's num_batches_tracked stays I64 (the library ignores it)
          (stored, bytes) = ("I64", try good.int64s(name).flatMap { v in withUnsafeBytes(of: v.littleEndian) { Array($0) } })
        }
        header.append(#""\#(name)":{"dtype":"\#(stored)","shape":\#(shape),"data_offsets":[\#(data.count),\#(data.count + bytes.count)]}"#)
        data += bytes
      }
      var json = "{" + header.joined(separator: ",") + "}"
      json += String(repeating: " ", count: (8 - json.utf8.count % 8) % 8)
      var file = Data(withUnsafeBytes(of: UInt64(json.utf8.count).littleEndian) { Array($0) })
      file.append(contentsOf: Array(json.utf8) + data)
      let converted = s.scratch.appendingPathComponent("w-\(dtype).safetensors"), reference = s.scratch.appendingPathComponent("w-\(dtype)-f32.safetensors")
      try file.write(to: converted)
      let read = try SafeTensorsFile.read(path: converted.path)
      var tensors: [String: Tensor] = [:]
      for name in read.names { tensors[name] = try read.tensor(name) }
      try SafeTensorsWriter.write(tensors, to: reference.path)
      let (got, want) = (try predict(converted.path), try predict(reference.path))
      XCTAssertEqual(got.count, want.count)
      assertWithin(got, want, tolerance: 0, "logits from \(dtype) weights")
      if dtype == "F64" {  // every float is a double exactly: the original model
        assertWithin(got, try predict(s.weights.path), tolerance: 0, "logits from F64 weights against the F32 original")
      } else {
        XCTAssertNotEqual(want, try predict(s.weights.path), "\(dtype): the conversion changed no weight, so the test shows nothing")
      }
    }
  }

  /// The context built from src/ under AddressSanitizer and UndefinedBehaviorSanitizer: argument
  /// errors give messages, every truncation and many header corruptions of a weights file load
  /// or fail cleanly, and a training run (with checkpoint resume) is clean.
  func testUnderSanitizers() throws {
    let s = try setup()
    let check = try CLibrarySupport.sanitizedCheckProgram(model: Self.model, library: s.library, into: s.scratch, openMPLibDir: s.openMPLibDir)
    try writeRawFloats(images(Self.trainBatch * 784, seed: 5), to: s.scratch.appendingPathComponent("ax.bin"))
    try writeRawFloats([1, 3, 9, 0], to: s.scratch.appendingPathComponent("ay.bin"))
    let env = ["ASAN_OPTIONS": "detect_leaks=1", "OMP_NUM_THREADS": "2"]
    let errors = try CLibrarySupport.run([check, "errors", s.scratch.appendingPathComponent("ax.bin").path], environment: env)
    XCTAssertEqual(errors.status, 0, errors.stderr)
    for expected in ["label: -1 train_step: label 10 at batch position 3 is outside 0..<10",
                     "kind: -1 train_step: optimizer kind 7 is neither 0 (AdamW) nor 1 (SGD)",
                     "null: -1 train_step: the optimizer settings are NULL", "n: -1 predict: n must be at least 1, got 0",
                     "gradient: -1 gradient: the model has no parameter 'no.such.tensor'",
                     "missing file: -1 /nonexistent/w.safetensors: cannot open", "save: -1 /nonexistent/dir/w.safetensors: cannot create",
                     "param: NULL"] {
      XCTAssertTrue(errors.stdout.contains(expected), "missing '\(expected)' in:\n\(errors.stdout)")
    }
    let corrupt = try CLibrarySupport.run([check, "corrupt", s.weights.path, s.scratch.path], environment: env)
    XCTAssertEqual(corrupt.status, 0, corrupt.stderr)
    XCTAssertTrue(corrupt.stdout.contains("truncations refused"), corrupt.stdout)
    let out = s.scratch.appendingPathComponent("asan-train")
    try FileManager.default.createDirectory(at: out, withIntermediateDirectories: true)
    let train = try CLibrarySupport.run([check, "train", s.weights.path, s.scratch.appendingPathComponent("ax.bin").path,
                                         s.scratch.appendingPathComponent("ay.bin").path, "0.01", "0.05", "1", "0.1", out.path], environment: env)
    XCTAssertEqual(train.status, 0, train.stderr)
    XCTAssertTrue(train.stdout.contains("checkpoint resume: identical"), train.stdout)
  }

  /// The drop-path masks against the definition, computed here in Swift.
  func testDropPathMasks() throws {
    let s = try setup()
    func splitmix(_ x: UInt64) -> UInt64 {
      var z = x &+ 0x9E37_79B9_7F4A_7C15
      z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
      z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
      return z ^ (z >> 31)
    }
    for (seed, step, index, rate) in [(UInt64(0), 1, 0, Float(0.1)), (7, 3, 2, 0.25), (123_456_789_012, 1000, 11, 0.5)] {
      let n = 64
      let r = try CLibrarySupport.run([s.check, "mask", "\(seed)", "\(step)", "\(index)", "\(rate)", "\(n)"])
      XCTAssertEqual(r.status, 0, r.stderr)
      let keep = 1 - rate
      let expected: [Float] = (0..<n).map { b in
        let h = splitmix(splitmix(splitmix(seed) ^ UInt64(step)) ^ ((UInt64(index) << 32) | UInt64(b)))
        let u = Float(h >> 40) * (1 / Float(16_777_216))
        return u < keep ? 1 / keep : 0
      }
      XCTAssertEqual(r.stdout.split(separator: "\n").compactMap { Float(String($0)) }, expected, "seed \(seed) step \(step) index \(index)")
      XCTAssertTrue(expected.contains(0) && expected.contains(1 / keep), "both outcomes occur in 64 draws")
    }
  }

  /// A second model's library (a tiny DeiT without a training part) links into one program with
  /// the LocalViT's: no duplicate symbols, and each model works.
  func testTwoModelsLinkIntoOneProgram() throws {
    let s = try setup()
    let deit = s.scratch.appendingPathComponent("deit")
    let r = try runLocus(["compile", "specs/deit_tiny.locus", "--set", "dim=32", "--set", "depth=1", "--set", "heads=2", "--set", "image=28",
                          "--set", "patch=7", "--set", "classes=10", "--train-batch", "0", "--emit", "c-library", "-o", deit.path])
    XCTAssertEqual(r.status, 0, r.stderr)
    // A context without a training part compiles without a warning too.
    let context = try CLibrarySupport.run([CLibrarySupport.clang, "-std=c11", "-Wall", "-Wextra", "-Werror", "-O1", "-I", deit.appendingPathComponent("include").path,
                                           "-c", deit.appendingPathComponent("src/deit_tiny_context.c").path, "-o", "/dev/null"])
    XCTAssertEqual(context.status, 0, context.stderr)
    let program = """
      #include <stdio.h>
      #include "deit_tiny.h"
      #include "localvit_fmnist.h"

      int main(void) {
        localvit_fmnist_model *a = NULL;
        deit_tiny_model *b = NULL;
        float x[3 * 28 * 28] = {0}, y[10];
        int64_t label = 0;
        deit_tiny_optimizer o;
        deit_tiny_optimizer_defaults(&o);
        if (localvit_fmnist_model_create(&a) || deit_tiny_model_create(&b)) return 1;
        if (localvit_fmnist_model_predict(a, 1, x, y) || deit_tiny_model_predict(b, 1, x, y)) return 2;
        if (deit_tiny_model_train_batch() != 0 || deit_tiny_model_train_step(b, &o, x, &label, NULL, NULL) == 0) return 3;
        printf("%s\\n", deit_tiny_model_error(b));
        localvit_fmnist_model_destroy(a);
        deit_tiny_model_destroy(b);
        return 0;
      }

      """
    let source = s.scratch.appendingPathComponent("two.c")
    try program.write(to: source, atomically: true, encoding: .utf8)
    let binary = s.scratch.appendingPathComponent("two").path
    try CLibrarySupport.build([source.path], output: binary, link: try CLibrarySupport.pkgConfig(["localvit_fmnist", "deit_tiny"], roots: [s.library, deit]))
    let run = try CLibrarySupport.run([binary])
    XCTAssertEqual(run.status, 0, run.stderr)
    XCTAssertTrue(run.stdout.contains("this library has no training part (it was compiled with --train-batch 0)"), run.stdout)
    // And from C++.
    let cpp = s.scratch.appendingPathComponent("two.cpp")
    try program.replacingOccurrences(of: "localvit_fmnist_model *a = NULL;", with: "localvit_fmnist_model *a = nullptr;").write(to: cpp, atomically: true, encoding: .utf8)
    let link = try CLibrarySupport.pkgConfig(["localvit_fmnist", "deit_tiny"], roots: [s.library, deit])
    let cxx = try CLibrarySupport.run(["/opt/swift/usr/bin/clang++", "-Wall", "-Wextra", "-Werror", cpp.path] + link + ["-o", binary + "-cpp"])
    XCTAssertEqual(cxx.status, 0, cxx.stderr)
    XCTAssertEqual(try CLibrarySupport.run([binary + "-cpp"]).status, 0)
  }

  /// A failing compile writes nothing, and --training does not combine with --emit c-library.
  func testFailuresWriteNothing() throws {
    let s = try setup()
    let target = s.scratch.appendingPathComponent("never")
    let r = try runLocus(["compile", Self.spec, "--set", "dim=15", "--emit", "c-library", "-o", target.path])
    XCTAssertNotEqual(r.status, 0)
    XCTAssertFalse(FileManager.default.fileExists(atPath: target.path), "output after a failed compile")
    let both = try runLocus(["compile", Self.spec, "--training", "--emit", "c-library", "-o", target.path])
    XCTAssertNotEqual(both.status, 0)
    XCTAssertTrue(both.stderr.contains("--training, --dump-ir and --report apply to --emit library"), both.stderr)
  }
}
