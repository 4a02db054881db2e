import Foundation
import LocusRuntime
import XCTest

@testable import LocusTraining

final class CheckpointStoreTests: XCTestCase {
  func tensors(scale: Float) -> [String: Tensor] {
    [
      "fc.weight": Tensor(shape: [2, 3], floats: [1, 2, 3, 4, 5, 6].map { $0 * scale }),
      "fc.bias": Tensor(shape: [2], floats: [-1, 0.5]),
      "bn.num_batches_tracked": Tensor(shape: [], int64s: [7]),
      "adam.m.fc.weight": Tensor(shape: [2, 3], floats: [Float](repeating: 0.25, count: 6)),
    ]
  }

  func metadata(step: Int) -> CheckpointMetadata {
    CheckpointMetadata(
      epoch: step / 100, step: step, seed: UInt64.max - 1, optimizerState: ["adam.m.fc.weight"],
      config: ["model": "localvit_fmnist", "lr": "0.001", "note": "quotes \" and \\ and é"])
  }

  func testRoundTripOfTensorsAndMetadata() throws {
    let store = CheckpointStore(directory: try makeTemporaryDirectory(self) + "/run/checkpoints")
    XCTAssertNil(try store.latest())  // no directory yet: nothing to resume
    let path = try store.save(tensors(scale: 1), metadata: metadata(step: 300))
    XCTAssertTrue(path.hasSuffix("/run/checkpoints/checkpoint-00000300.safetensors"))
    let loaded = try XCTUnwrap(try store.latest())
    XCTAssertEqual(loaded.path, path)
    XCTAssertEqual(loaded.tensors, tensors(scale: 1))
    XCTAssertEqual(loaded.metadata, metadata(step: 300))
    XCTAssertEqual(Set(loaded.parameters.keys), ["fc.weight", "fc.bias", "bn.num_batches_tracked"])
    // Any safetensors reader sees the bookkeeping as plain strings.
    let raw = try SafeTensorsFile.read(path: path)
    XCTAssertEqual(raw.metadata["epoch"], "3")
    XCTAssertEqual(raw.metadata["optimizer_state"], "[\"adam.m.fc.weight\"]")
  }

  func testLatestIsTheHighestStepAndOldOnesArePruned() throws {
    let dir = try makeTemporaryDirectory(self)
    let store = CheckpointStore(directory: dir, keep: 2)
    for step in [100, 900, 1000] { try store.save(tensors(scale: Float(step)), metadata: metadata(step: step)) }
    XCTAssertEqual(try store.checkpoints().map(\.step), [900, 1000])
    XCTAssertEqual(try store.latest()?.metadata.step, 1000)
    XCTAssertEqual(try store.latest()?.tensors["fc.weight"], tensors(scale: 1000)["fc.weight"])
    // Files of another prefix, or that merely look alike, are not checkpoints of this store.
    try Data().write(to: URL(fileURLWithPath: dir + "/checkpoint-abc.safetensors"))
    try Data().write(to: URL(fileURLWithPath: dir + "/best-00009999.safetensors"))
    XCTAssertEqual(try store.checkpoints().map(\.step), [900, 1000])
  }

  /// A save that fails before its rename (here: the temporary name is taken by a directory) leaves
  /// the previous checkpoint byte for byte, and no file under the new name.
  func testAFailedSaveLeavesThePreviousCheckpointIntact() throws {
    let dir = try makeTemporaryDirectory(self)
    let store = CheckpointStore(directory: dir, keep: 0)
    let old = try store.save(tensors(scale: 1), metadata: metadata(step: 100))
    let oldBytes = try Data(contentsOf: URL(fileURLWithPath: old))
    // Overwriting the same step is the hardest case: the target exists.
    let blocker = AtomicFile.temporaryPath(for: old)
    try FileManager.default.createDirectory(atPath: blocker, withIntermediateDirectories: false)
    let error = trainingError { () throws(TrainingError) in
      try store.save(tensors(scale: 2), metadata: metadata(step: 100))
    }
    guard case .io(let path, "create", _)? = error else { return XCTFail(String(describing: error)) }
    XCTAssertEqual(path, blocker)
    XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: old)), oldBytes)
    XCTAssertEqual(try store.latest()?.tensors, tensors(scale: 1))
  }

  /// Readers polling the file while it is replaced over and over only ever see one of the two
  /// complete versions.
  func testReadersSeeTheOldOrTheNewFileNeverAMix() throws {
    let dir = try makeTemporaryDirectory(self)
    let path = dir + "/checkpoint-00000001.safetensors"
    let versions = [
      try SafeTensorsWriter.encode(["w": Tensor(shape: [50_000], floats: [Float](repeating: 1, count: 50_000))]),
      try SafeTensorsWriter.encode(["w": Tensor(shape: [80_000], floats: [Float](repeating: 2, count: 80_000))]),
    ]
    try AtomicFile.write(versions[0], to: path)
    let done = DispatchSemaphore(value: 0)
    let writer = Thread {
      for i in 1...60 { try? AtomicFile.write(versions[i % 2], to: path) }
      done.signal()
    }
    writer.start()
    var reads = 0
    var finished = false
    while !finished {
      finished = done.wait(timeout: .now()) == .success
      let seen = try Data(contentsOf: URL(fileURLWithPath: path))
      XCTAssertTrue(seen == versions[0] || seen == versions[1], "read \(seen.count) bytes: a partial file")
      reads += 1
    }
    XCTAssertGreaterThan(reads, 1)
    XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir), ["checkpoint-00000001.safetensors"])
  }

  func testRemovesTemporariesOfDeadProcessesOnly() throws {
    let dir = try makeTemporaryDirectory(self)
    let store = CheckpointStore(directory: dir)
    // pid_max is at most 2^22 on Linux and 99,998 on macOS: this process cannot exist.
    let dead = dir + "/checkpoint-00000050.safetensors.tmp-999999999"
    let alive = dir + "/checkpoint-00000050.safetensors.tmp-1"  // init: runs, so the file is kept
    for path in [dead, alive] { try Data([1, 2, 3]).write(to: URL(fileURLWithPath: path)) }
    try store.save(tensors(scale: 1), metadata: metadata(step: 100))
    XCTAssertFalse(FileManager.default.fileExists(atPath: dead))
    XCTAssertTrue(FileManager.default.fileExists(atPath: alive))
  }

  func testRejectsFilesThatAreNotTrainingCheckpoints() throws {
    let dir = try makeTemporaryDirectory(self)
    let weights = dir + "/checkpoint-00000001.safetensors"
    try SafeTensorsWriter.write(["w": Tensor(shape: [1], floats: [1])], to: weights)
    let error = trainingError { () throws(TrainingError) in try CheckpointStore(directory: dir).latest() }
    guard case .malformedCheckpoint(weights, let problem)? = error else { return XCTFail(String(describing: error)) }
    XCTAssertTrue(problem.contains("no \"format\": \"locus-training-checkpoint\""), problem)

    var fields = CheckpointMetadataCoding.encode(metadata(step: 5))
    fields["step"] = "-3"
    try SafeTensorsWriter.write(["w": Tensor(shape: [1], floats: [1])], metadata: fields, to: weights)
    XCTAssertEqual(
      trainingError { () throws(TrainingError) in try CheckpointStore.load(path: weights) },
      .malformedCheckpoint(file: weights, problem: "\"epoch\" and \"step\" must be integers ≥ 0, got 0 and -3"))

    try Data([1, 2, 3]).write(to: URL(fileURLWithPath: weights))
    guard case .runtime? = trainingError({ () throws(TrainingError) in try CheckpointStore.load(path: weights) }) else {
      return XCTFail("a broken file must be reported by the safetensors reader")
    }
    XCTAssertEqual(
      trainingError { () throws(TrainingError) in
        try CheckpointStore(directory: dir).save(
          ["w": Tensor(shape: [1], floats: [1])],
          metadata: CheckpointMetadata(epoch: 1, step: 1, seed: 0, optimizerState: ["v"]))
      },
      .invalidArgument("optimizer state 'v' is listed in the checkpoint metadata but is not a tensor"))
  }
}
