import Foundation

// The training curves as a standalone SVG, written by hand: two panels side by side, the loss
// (per epoch, optionally per step smoothed, and the test loss) and the test accuracy, each with
// ticks, grid, axis labels and a legend. The text depends only on the inputs (fixed formatting,
// no dates), so the same log gives the same file.

/// One training step's loss, placed on the epoch axis: step i of n in epoch e sits at e − 1 + (i+1)/n.
public struct StepLoss: Sendable, Equatable {
  public var epoch: Double
  public var loss: Double

  public init(epoch: Double, loss: Double) {
    self.epoch = epoch
    self.loss = loss
  }

  /// Batch `batch` (from 0) of `batchesPerEpoch` in epoch `epoch` (from 1).
  public init(epoch: Int, batch: Int, batchesPerEpoch: Int, loss: Double) {
    self.init(epoch: Double(epoch - 1) + Double(batch + 1) / Double(max(batchesPerEpoch, 1)), loss: loss)
  }
}

public struct TrainingPlot: Sendable {
  public var title: String
  public var records: [EpochRecord]
  public var stepLosses: [StepLoss]
  /// Weight of the running average of the step losses (TensorBoard's smoothing), 0…<1.
  public var smoothing: Double

  public init(title: String, records: [EpochRecord], stepLosses: [StepLoss] = [], smoothing: Double = 0.9) {
    self.title = title
    self.records = records
    self.stepLosses = stepLosses
    self.smoothing = smoothing
  }

  static let width = 1000.0
  static let height = 460.0
  /// More step points than this are thinned out evenly: a browser gains nothing from 100,000 of them.
  static let maxStepPoints = 1500

  static let trainColor = "#1f77b4"
  static let stepColor = "#9ecae9"
  static let testColor = "#ff7f0e"
  static let accuracyColor = "#2ca02c"

  public func svg() -> String {
    var svg = SVGCanvas(width: Self.width, height: Self.height)
    svg.text(title, x: Self.width / 2, y: 30, size: 18, weight: "600", anchor: "middle")
    lossPanel(&svg, left: 0)
    accuracyPanel(&svg, left: Self.width / 2)
    return svg.finish()
  }

  public func write(to path: String) throws(TrainingError) {
    try AtomicFile.write(Data(svg().utf8), to: path)
  }

  private var epochScale: PlotScale {
    let last = max(records.map(\.epoch).max() ?? 1, Int((stepLosses.map(\.epoch).max() ?? 1).rounded(.up)))
    return PlotScale(covering: [0, Double(last)], targetTicks: 6, integerSteps: true)
  }

  private func lossPanel(_ svg: inout SVGCanvas, left: Double) {
    let smoothed = smoothedStepLosses()
    var series: [PlotSeries] = []
    if !smoothed.isEmpty {
      series.append(
        PlotSeries(name: "train (steps, smoothed)", color: Self.stepColor, points: smoothed, markers: false))
    }
    series.append(
      PlotSeries(
        name: "train (epoch)", color: Self.trainColor, points: records.map { (Double($0.epoch), $0.trainLoss) }))
    let tests = records.compactMap { r in r.testLoss.map { (Double(r.epoch), $0) } }
    if !tests.isEmpty { series.append(PlotSeries(name: "test", color: Self.testColor, points: tests, dashed: true)) }
    let yScale = PlotScale(covering: series.flatMap { $0.points.map(\.1) })
    let panel = PlotPanel(title: "Loss", left: left, xScale: epochScale, yScale: yScale, yLabel: "cross-entropy")
    panel.draw(series, on: &svg, emptyMessage: records.isEmpty && smoothed.isEmpty ? "no epochs yet" : nil)
  }

  private func accuracyPanel(_ svg: inout SVGCanvas, left: Double) {
    let points = records.map { (Double($0.epoch), 100 * $0.testAccuracy) }
    let yScale = PlotScale(covering: points.map(\.1), ceiling: 100)
    let panel = PlotPanel(
      title: "Test accuracy", left: left, xScale: epochScale, yScale: yScale, yLabel: "accuracy (%)")
    let series = [PlotSeries(name: "test accuracy", color: Self.accuracyColor, points: points)]
    panel.draw(series, on: &svg, emptyMessage: records.isEmpty ? "no epochs yet" : nil)
    // The best epoch, marked and labelled: the number people look for first.
    guard let best = records.filter({ $0.testAccuracy.isFinite }).max(by: { $0.testAccuracy < $1.testAccuracy }) else {
      return
    }
    let (x, y) = panel.point(Double(best.epoch), 100 * best.testAccuracy)
    svg.circle(x: x, y: y, radius: 6, stroke: Self.accuracyColor, fill: "none")
    let label = String(format: "best %.2f%% (epoch %d)", 100 * best.testAccuracy, best.epoch)
    let anchor = x > panel.plotRight - 120 ? "end" : "start"
    svg.text(
      label, x: x + (anchor == "end" ? -10 : 10), y: y + (y < panel.plotTop + 20 ? 18 : -10), size: 12, anchor: anchor)
  }

  /// Debiased exponential moving average (as TensorBoard), skipping non-finite losses, thinned out.
  func smoothedStepLosses() -> [(Double, Double)] {
    let beta = min(max(smoothing, 0), 0.999)
    var average = 0.0
    var weight = 0.0
    var out: [(Double, Double)] = []
    for s in stepLosses where s.loss.isFinite {
      average = beta * average + (1 - beta) * s.loss
      weight = beta * weight + (1 - beta)
      out.append((s.epoch, average / weight))
    }
    guard out.count > Self.maxStepPoints else { return out }
    let stride = Double(out.count - 1) / Double(Self.maxStepPoints - 1)
    return (0..<Self.maxStepPoints).map { out[Int((Double($0) * stride).rounded())] }
  }
}

/// One line of a panel: (x, y) points, non-finite y values leaving a gap.
struct PlotSeries {
  var name: String
  var color: String
  var points: [(Double, Double)]
  var markers = true
  var dashed = false
}
