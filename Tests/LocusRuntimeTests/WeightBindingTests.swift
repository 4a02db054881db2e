import Foundation
import XCTest

@testable import LocusRuntime

final class WeightBindingTests: XCTestCase {
  let parameters = [
    ParameterSpec(name: "blocks.0.attn.qkv.weight", shape: [576, 64]),
    ParameterSpec(name: "head.weight", shape: [10, 4]),
    ParameterSpec(name: "head.bias", shape: [10]),
    ParameterSpec(name: "bn.running_mean", shape: [3]),
  ]

  func testReportsEveryProblemAtOnce() throws {
    let tensors: [String: Tensor] = [
      "blocks.0.attn.qkv.weight": Tensor(shape: [576, 192], floats: Array(repeating: 0, count: 576 * 192)),
      "head.weight": Tensor(shape: [10, 4], floats: Array(repeating: 0, count: 40)),
      "bn.running_mean": Tensor(shape: [3], int64s: [1, 2, 3]),
      "foo": Tensor(shape: [1], floats: [0]),
      "bn.num_batches_tracked": Tensor(shape: [], int64s: [7]),
    ]
    let file = try SafeTensorsFile(bytes: try SafeTensorsWriter.encode(tensors), path: "w.safetensors")
    XCTAssertEqual(
      WeightBinding.problems(file, parameters: parameters),
      [
        .shapeMismatch(name: "blocks.0.attn.qkv.weight", found: [576, 192], expected: [576, 64]),
        .missing(name: "head.bias", shape: [10]),
        .notFloat(name: "bn.running_mean", dtype: "I64"),
        .unexpected(name: "foo"),
      ])
    let error = runtimeError { () throws(RuntimeError) in
      try WeightBinding.bind(file, to: parameters, model: "localvit_tiny")
    }
    XCTAssertEqual(
      error?.description,
      """
      w.safetensors does not match the parameters of localvit_tiny (4 problems):
        tensor 'blocks.0.attn.qkv.weight' has shape [576, 192], the model expects [576, 64]
        missing tensor 'head.bias' (the model expects [10])
        tensor 'bn.running_mean' has dtype I64, the model expects a float tensor (F32, F64, F16 or BF16)
        unexpected tensor 'foo' (not a parameter of localvit_tiny)
      """)
  }

  func testBindsInParameterOrderWithAlignedStorage() throws {
    let values: [String: [Float]] = [
      "blocks.0.attn.qkv.weight": (0..<(576 * 64)).map { Float($0) },
      "head.weight": (0..<40).map { -Float($0) },
      "head.bias": Array(repeating: 0.5, count: 10),
      "bn.running_mean": [1, 2, 3],
    ]
    var tensors = Dictionary(uniqueKeysWithValues: parameters.map { ($0.name, Tensor(shape: $0.shape, floats: values[$0.name]!)) })
    tensors["bn.num_batches_tracked"] = Tensor(shape: [], int64s: [3])
    let file = try SafeTensorsFile(bytes: try SafeTensorsWriter.encode(tensors), path: "ok.safetensors")
    let store = try WeightBinding.bind(file, to: parameters, model: "m")
    XCTAssertEqual(store.specs, parameters)
    for (i, spec) in parameters.enumerated() {
      XCTAssertEqual(Array(store.values(i)), values[spec.name], spec.name)
      XCTAssertEqual(Int(bitPattern: store.pointer(i)) % 64, 0, "\(spec.name) starts on a 64-byte boundary")
    }
    XCTAssertEqual(store.values(named: "head.bias"), values["head.bias"])
  }

  func testBindsTensorsHeldInMemory() throws {
    let tensors = try Initializer(seed: 1).initialize(parameters.map { ParameterInit(name: $0.name, shape: $0.shape, kind: .ones) })
    let store = try WeightBinding.bind(tensors, sourceName: "init", to: parameters, model: "m")
    XCTAssertEqual(Array(store.values(2)), Array(repeating: 1, count: 10))
  }
}
