import Foundation
import XCTest
import LocusDriver
import LocusIR
import LocusPasses
import LocusReference
import LocusRuntime
import LocusTraining

/// Every differentiable primitive of the spec language, on seeded random shapes, against PyTorch's
/// float64 gradients (`Fixtures/primitives/`, scripts/reference/make_grad_fixtures.py): each case is
/// the graph AutodiffTests builds for one op (input × trainable `scale` → the primitive → flatten →
/// linear head), and one spec holds every case side by side, each reading its slice of one input,
/// the heads' logits summed into one cross-entropy loss with label smoothing 0.1. A case's
/// parameters reach the loss only through its own head, so a wrong rule shows in that case.
///
/// Tolerance: per gradient tensor, max |Locus − PyTorch| <= 1e-4 · max |PyTorch| (index.json's
/// `rtol`; the script checks PyTorch's own float32 run reaches a tenth of it); the loss and the
/// BatchNorm running statistics likewise. Each case reports its worst element.
///
/// Finite differences: AutodiffTests checks the same rules against central differences of the
/// loss through the reference interpreter (one case per primitive); here the interpreter's
/// training graph is also held to the PyTorch fixtures, so a failure tells a gradient rule
/// (interpreter and C fail) from a C kernel (C only).
final class PrimitiveGradientTests: XCTestCase {
  func testPrimitiveGradientsMatchPyTorch() throws {
    let start = Date()
    let fixture = try PrimitiveFixture.load()
    let artifact = try Driver.compileTraining(fixture.request)
    let compiled = Date()
    let model = try Driver.load(artifact)

    // Locus names every parameter as the script does, with the same shapes.
    let shapes = Dictionary(uniqueKeysWithValues: model.parameters.map { ($0.name, $0.shape) })
    XCTAssertEqual(Set(shapes.keys), Set(fixture.parameters.keys), "parameter names (left: Locus, right: the fixtures)")
    for (name, shape) in fixture.parameters where shapes[name] != nil {
      XCTAssertEqual(shapes[name], shape, "\(name): shape (left: Locus, right: the fixtures)")
    }
    XCTAssertEqual(model.inputs.first?.shape, [fixture.batch, fixture.inputSize], "the concatenated input")
    try model.bindWeights(fixture.weights, sourceName: "Fixtures/primitives/*.safetensors")

    let trainer = try Trainer(model: model, optimizer: .sgd(momentum: 0, weightDecay: 0), decays: { _ in false })
    XCTAssertEqual(trainer.classes, fixture.classes)
    let targets = try LabelSmoothing.targets(labels: fixture.labels, classes: fixture.classes, smoothing: fixture.labelSmoothing)
    let pass = try trainer.computeGradients(images: fixture.input, targets: targets)
    let loss = Deviation.of([pass.loss], [Float(fixture.loss)], rtol: fixture.rtol, atol: 0, what: "loss")
    XCTAssertTrue(loss.ok, loss.description)

    var deviations: [[Deviation]] = fixture.cases.map { c in
      c.gradients.map { name, reference in
        Deviation.of(trainer.gradient(name) ?? [], reference, rtol: fixture.rtol, atol: 0, what: "grad \(name)")
      }
    }
    // One step at learning rate 0 moves only the running statistics (SGD without decay or momentum).
    try trainer.step(images: fixture.input, targets: targets, learningRate: 0)
    let store = try XCTUnwrap(model.weights)
    var report: [String] = []
    for (i, c) in fixture.cases.enumerated() {
      for (name, reference) in c.updatedStatistics {
        deviations[i].append(Deviation.of(store.values(named: name) ?? [], reference, rtol: fixture.rtol, atol: 0, what: "\(name) after one step"))
      }
      for d in deviations[i] where !d.ok { XCTFail("case \(c.name) (\(c.primitives.joined(separator: ", "))): \(d.description)") }
      report.append(worstLine(c, deviations[i]))
    }
    print(report.joined(separator: "\n"))
    print(String(format: "primitive gradients: %d cases, loss relative error %.1e; compile %.1f s, total %.1f s", fixture.cases.count,
                 loss.relative, compiled.timeIntervalSince(start), Date().timeIntervalSince(start)))
  }

  /// The reference interpreter runs the same training graph (before the C and its fusions).
  func testReferenceInterpreterGradientsMatchPyTorch() throws {
    let fixture = try PrimitiveFixture.load()
    let (graph, _) = try Driver.graph(fixture.request.unfused)
    let training = try Autodiff.trainingGraph(graph)
    var parameters: [String: LocusReference.Tensor] = [:]
    for p in training.graph.parameters {
      parameters[p.name] = LocusReference.Tensor(shape: p.shape, data: try XCTUnwrap(fixture.weights[p.name]?.floats, p.name))
    }
    let targets = try LabelSmoothing.targets(labels: fixture.labels, classes: fixture.classes, smoothing: fixture.labelSmoothing)
    let outputs = try Interpreter.run(graph: training.graph, parameters: parameters, inputs: [
      "x": LocusReference.Tensor(shape: [fixture.batch, fixture.inputSize], data: fixture.input),
      TrainingGraph.targetsInput: LocusReference.Tensor(shape: [fixture.batch, fixture.classes], data: targets),
    ])
    let loss = Deviation.of(try XCTUnwrap(outputs[TrainingGraph.lossOutput]).data, [Float(fixture.loss)], rtol: fixture.rtol, atol: 0, what: "loss")
    XCTAssertTrue(loss.ok, "reference interpreter: \(loss.description)")
    var report: [String] = []
    for c in fixture.cases {
      var deviations: [Deviation] = []
      for (name, reference) in c.gradients {
        guard let ours = outputs[TrainingGraph.gradientOutput(name)] else { XCTFail("\(c.name): no gradient output for '\(name)'"); continue }
        deviations.append(Deviation.of(ours.data, reference, rtol: fixture.rtol, atol: 0, what: "grad \(name)"))
      }
      for d in deviations where !d.ok { XCTFail("reference interpreter, case \(c.name): \(d.description)") }
      report.append(worstLine(c, deviations))
    }
    print("reference interpreter:\n" + report.joined(separator: "\n"))
  }

  private func worstLine(_ c: PrimitiveFixture.Case, _ deviations: [Deviation]) -> String {
    guard let w = deviations.max(by: { $0.relative < $1.relative }) else { return "\(c.name): nothing compared" }
    let padded = c.name.padding(toLength: 26, withPad: " ", startingAt: 0)
    return String(format: "%@ %2d tensors, worst %.1e (%@; PyTorch float32 %.1e)", padded, deviations.count, w.relative, w.short,
                  c.torchFloat32Error)
  }
}

/// `Fixtures/primitives/`: index.json, the spec and one safetensors file per case.
struct PrimitiveFixture {
  static let folder = "primitives"

  struct Case {
    var name: String
    var primitives: [String]
    /// Trainable parameter → PyTorch's gradient, and running statistic → its value after the pass.
    var gradients: [(String, [Float])]
    var updatedStatistics: [(String, [Float])]
    var torchFloat32Error: Double
  }

  var directory: URL
  var model: String
  var specPath: String
  var batch, classes, inputSize: Int
  var labelSmoothing: Float
  var labels: [Int32]
  var loss: Double
  var rtol: Double
  var cases: [Case] = []
  /// Parameter shapes by name, every case's.
  var parameters: [String: [Int]] = [:]
  var weights: [String: LocusRuntime.Tensor] = [:]
  /// [B, inputSize]: each case's input at its offset.
  var input: [Float]

  static func load() throws -> PrimitiveFixture {
    let root = try XCTUnwrap(Bundle.module.url(forResource: "Fixtures", withExtension: nil))
    return try PrimitiveFixture(directory: root.appendingPathComponent(folder))
  }

  init(directory: URL) throws {
    self.directory = directory
    let index = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(contentsOf: directory.appendingPathComponent("index.json"))) as? [String: Any])
    func number(_ key: String, in object: [String: Any] = index) throws -> Double {
      try XCTUnwrap((object[key] as? NSNumber)?.doubleValue, "index.json: no number '\(key)'")
    }
    model = try XCTUnwrap(index["model"] as? String)
    specPath = directory.appendingPathComponent(try XCTUnwrap(index["spec"] as? String)).path
    batch = Int(try number("batch"))
    classes = Int(try number("classes"))
    inputSize = Int(try number("input_size"))
    labelSmoothing = Float(try number("label_smoothing"))
    labels = try XCTUnwrap(index["labels"] as? [Int]).map { Int32($0) }
    loss = try number("loss")
    rtol = try number("rtol")
    input = [Float](repeating: 0, count: batch * inputSize)
    for entry in try XCTUnwrap(index["cases"] as? [[String: Any]]) {
      let name = try XCTUnwrap(entry["name"] as? String)
      let file = try SafeTensorsFile.read(path: directory.appendingPathComponent("\(name).safetensors").path)
      let offset = Int(try number("input_offset", in: entry))
      let x = try file.floats("input"), size = x.count / batch
      for b in 0..<batch { input.replaceSubrange(b * inputSize + offset ..< b * inputSize + offset + size, with: x[b * size ..< (b + 1) * size]) }
      let shapes = try XCTUnwrap(entry["parameters"] as? [String: [Int]])
      let statistics = Set(try XCTUnwrap(entry["running_statistics"] as? [String]))
      var c = Case(name: name, primitives: entry["primitives"] as? [String] ?? [], gradients: [], updatedStatistics: [],
                   torchFloat32Error: try number("torch_f32_error", in: entry))
      for (parameter, shape) in shapes.sorted(by: { $0.key < $1.key }) {
        parameters[parameter] = shape
        weights[parameter] = try file.tensor(parameter)
        if statistics.contains(parameter) {
          c.updatedStatistics.append((parameter, try file.floats("updated:\(parameter)")))
        } else {
          c.gradients.append((parameter, try file.floats("grad:\(parameter)")))
        }
      }
      cases.append(c)
    }
  }

  var request: CompileRequest { CompileRequest(specPath: specPath, batch: batch, model: model) }
}

extension CompileRequest {
  var unfused: CompileRequest {
    var r = self
    r.fusion = .none
    return r
  }
}
