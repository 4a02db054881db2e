import Foundation
import XCTest

@testable import LocusTraining

#if canImport(FoundationXML)
  import FoundationXML
#endif

/// Parses XML and collects element names and the text of <text> elements; `error` is set if the
/// document is not well-formed.
final class SVGReader: NSObject, XMLParserDelegate {
  var elements: [String] = []
  var texts: [String] = []
  var attributes: [[String: String]] = []
  private var inText = false

  static func read(_ svg: String) -> (reader: SVGReader, ok: Bool, error: String?) {
    let reader = SVGReader()
    let parser = XMLParser(data: Data(svg.utf8))
    parser.delegate = reader
    let ok = parser.parse()
    return (reader, ok, parser.parserError.map { "\($0)" })
  }

  func parser(
    _ parser: XMLParser, didStartElement name: String, namespaceURI: String?, qualifiedName: String?,
    attributes: [String: String] = [:]
  ) {
    elements.append(name)
    self.attributes.append(attributes)
    if name == "text" {
      texts.append("")
      inText = true
    }
  }

  func parser(_ parser: XMLParser, foundCharacters string: String) {
    if inText { texts[texts.count - 1] += string }
  }

  func parser(_ parser: XMLParser, didEndElement name: String, namespaceURI: String?, qualifiedName: String?) {
    if name == "text" { inText = false }
  }
}

final class TrainingPlotTests: XCTestCase {
  func stepLosses(epochs: Int, batches: Int) -> [StepLoss] {
    (1...epochs).flatMap { e in
      (0..<batches).map { b in
        StepLoss(epoch: e, batch: b, batchesPerEpoch: batches, loss: 2 / Double(e) + 0.1 * sin(Double(b)))
      }
    }
  }

  func testSVGIsWellFormedWithBothPanelsTicksAndLegend() throws {
    let plot = TrainingPlot(
      title: "localvit_fmnist <Fashion-MNIST> & friends", records: sampleRecords,
      stepLosses: stepLosses(epochs: 3, batches: 50))
    let svg = plot.svg()
    let (reader, ok, error) = SVGReader.read(svg)
    XCTAssertTrue(ok, error ?? "")
    XCTAssertEqual(reader.elements.first, "svg")
    XCTAssertEqual(reader.texts.first, "localvit_fmnist <Fashion-MNIST> & friends")  // escaped, read back
    for label in [
      "Loss", "Test accuracy", "epoch", "cross-entropy", "accuracy (%)", "train (epoch)", "test",
      "train (steps, smoothed)", "test accuracy", "best 90.12% (epoch 3)",
    ] {
      XCTAssertTrue(reader.texts.contains(label), "missing text '\(label)' in \(reader.texts)")
    }
    // Epoch ticks 0…3 appear once per panel.
    for tick in ["0", "1", "2", "3"] { XCTAssertEqual(reader.texts.filter { $0 == tick }.count, 2, tick) }
    // Lines: step curve, train, test (one polyline each) + accuracy, and 4 legend swatches.
    XCTAssertEqual(reader.elements.filter { $0 == "polyline" }.count, 4 + 4)
    XCTAssertEqual(plot.svg(), svg)  // deterministic
  }

  func testEmptyAndDivergedLogsStillGiveValidSVG() throws {
    let empty = SVGReader.read(TrainingPlot(title: "run", records: []).svg())
    XCTAssertTrue(empty.ok, empty.error ?? "")
    XCTAssertTrue(empty.reader.texts.contains("no epochs yet"))

    var diverged = sampleRecords
    diverged[1].trainLoss = .nan
    let svg = TrainingPlot(title: "nan", records: diverged, stepLosses: [StepLoss(epoch: 0.5, loss: .infinity)]).svg()
    let parsed = SVGReader.read(svg)
    XCTAssertTrue(parsed.ok, parsed.error ?? "")
    // Non-finite values leave gaps; they never reach a coordinate.
    let values = parsed.reader.attributes.flatMap(\.values).map { $0.lowercased() }
    XCTAssertFalse(values.contains { $0.contains("nan") || $0.contains("inf") }, "\(values)")
  }

  func testWritesTheFileAtomically() throws {
    let dir = try makeTemporaryDirectory(self)
    let path = dir + "/training.svg"
    try TrainingPlot(title: "run", records: sampleRecords).write(to: path)
    XCTAssertTrue(SVGReader.read(try String(contentsOfFile: path, encoding: .utf8)).ok)
    XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir), ["training.svg"])
  }

  func testSmoothingIsADebiasedMovingAverageAndThinsLongRuns() {
    let plot = TrainingPlot(
      title: "", records: [], stepLosses: [StepLoss(epoch: 0.5, loss: 2), StepLoss(epoch: 1, loss: 1)], smoothing: 0.5)
    let s = plot.smoothedStepLosses()
    XCTAssertEqual(s.map(\.1), [2, (0.25 * 2 + 0.5 * 1) / 0.75])  // first point unbiased: the loss itself
    let long = TrainingPlot(title: "", records: [], stepLosses: stepLosses(epochs: 10, batches: 1000))
    XCTAssertEqual(long.smoothedStepLosses().count, TrainingPlot.maxStepPoints)
  }

  func testNiceTicks() {
    let loss = PlotScale(covering: [0.27, 2.31])
    XCTAssertEqual(loss.ticks, [0, 0.5, 1, 1.5, 2, 2.5])
    XCTAssertEqual(loss.ticks.map(loss.label), ["0.0", "0.5", "1.0", "1.5", "2.0", "2.5"])
    let accuracy = PlotScale(covering: [84.12, 99.7], ceiling: 100)
    XCTAssertEqual(accuracy.upper, 100)
    XCTAssertEqual(accuracy.lower, 80)
    XCTAssertEqual(accuracy.step, 5)
    let epochs = PlotScale(covering: [0, 3], targetTicks: 6, integerSteps: true)
    XCTAssertEqual(epochs.ticks, [0, 1, 2, 3])
    let flat = PlotScale(covering: [0.9, 0.9])
    XCTAssertTrue(flat.lower < 0.9 && flat.upper > 0.9)
    XCTAssertEqual(PlotScale(covering: []).ticks.first, 0)
  }
}
