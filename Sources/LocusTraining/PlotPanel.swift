import Foundation

// One panel of the training plot (axes, grid, ticks, legend, lines) and the few SVG elements it is
// drawn with. Coordinates are printed with one decimal: exact enough for a screen, and stable.

struct PlotPanel {
  let title: String
  let xScale: PlotScale
  let yScale: PlotScale
  let yLabel: String
  let plotLeft: Double
  let plotRight: Double
  let plotTop = 100.0
  let plotBottom = 400.0

  init(title: String, left: Double, xScale: PlotScale, yScale: PlotScale, yLabel: String) {
    self.title = title
    self.xScale = xScale
    self.yScale = yScale
    self.yLabel = yLabel
    self.plotLeft = left + 70
    self.plotRight = left + TrainingPlot.width / 2 - 24
  }

  func point(_ x: Double, _ y: Double) -> (Double, Double) {
    (xScale.position(x, from: plotLeft, to: plotRight), yScale.position(y, from: plotBottom, to: plotTop))
  }

  func draw(_ series: [PlotSeries], on svg: inout SVGCanvas, emptyMessage: String?) {
    let centre = (plotLeft + plotRight) / 2
    svg.text(title, x: centre, y: 62, size: 15, weight: "600", anchor: "middle")
    drawAxes(on: &svg)
    drawLegend(series, on: &svg)
    if let emptyMessage {
      svg.text(emptyMessage, x: centre, y: (plotTop + plotBottom) / 2, size: 13, anchor: "middle", color: "#888")
    }
    for s in series {
      for segment in finiteSegments(s.points) where segment.count > 1 {
        svg.polyline(segment.map { point($0.0, $0.1) }, color: s.color, width: s.markers ? 2 : 1.5, dashed: s.dashed)
      }
      // Beyond about 60 points the dots merge into a thick line; the line alone reads better.
      if s.markers && s.points.count <= 60 {
        for p in s.points where p.1.isFinite {
          let (x, y) = point(p.0, p.1)
          svg.circle(x: x, y: y, radius: 3, stroke: s.color, fill: s.color)
        }
      }
    }
  }

  private func drawAxes(on svg: inout SVGCanvas) {
    for tick in yScale.ticks {
      let y = yScale.position(tick, from: plotBottom, to: plotTop)
      svg.line(x1: plotLeft, y1: y, x2: plotRight, y2: y, color: "#e6e6e6")
      svg.line(x1: plotLeft - 5, y1: y, x2: plotLeft, y2: y, color: "#333")
      svg.text(yScale.label(tick), x: plotLeft - 8, y: y + 4, size: 11, anchor: "end")
    }
    for tick in xScale.ticks {
      let x = xScale.position(tick, from: plotLeft, to: plotRight)
      svg.line(x1: x, y1: plotBottom, x2: x, y2: plotBottom + 5, color: "#333")
      svg.text(xScale.label(tick), x: x, y: plotBottom + 19, size: 11, anchor: "middle")
    }
    svg.line(x1: plotLeft, y1: plotBottom, x2: plotRight, y2: plotBottom, color: "#333")
    svg.line(x1: plotLeft, y1: plotTop, x2: plotLeft, y2: plotBottom, color: "#333")
    svg.text("epoch", x: (plotLeft + plotRight) / 2, y: plotBottom + 42, size: 12, anchor: "middle")
    let middle = (plotTop + plotBottom) / 2
    svg.text(yLabel, x: plotLeft - 52, y: middle, size: 12, anchor: "middle", rotate: -90)
  }

  /// Swatches and names in a row under the title, so the legend never hides data.
  private func drawLegend(_ series: [PlotSeries], on svg: inout SVGCanvas) {
    var x = plotLeft
    for s in series {
      svg.polyline([(x, 82), (x + 22, 82)], color: s.color, width: 2.5, dashed: s.dashed)
      svg.text(s.name, x: x + 28, y: 86, size: 12, anchor: "start")
      x += 28 + 6.5 * Double(s.name.count) + 18
    }
  }

  /// Runs of consecutive points with finite coordinates.
  private func finiteSegments(_ points: [(Double, Double)]) -> [[(Double, Double)]] {
    var segments: [[(Double, Double)]] = [[]]
    for p in points {
      if p.0.isFinite && p.1.isFinite {
        segments[segments.count - 1].append(p)
      } else if !segments[segments.count - 1].isEmpty {
        segments.append([])
      }
    }
    return segments
  }
}

/// An SVG document built element by element.
struct SVGCanvas {
  private var lines: [String]
  static let font = "system-ui, -apple-system, 'Segoe UI', Helvetica, Arial, sans-serif"

  init(width: Double, height: Double) {
    lines = [
      "<?xml version=\"1.0\" encoding=\"UTF-8\"?>",
      "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"\(n(width))\" height=\"\(n(height))\" "
        + "viewBox=\"0 0 \(n(width)) \(n(height))\" font-family=\"\(Self.font)\" fill=\"#222\">",
      "<rect width=\"100%\" height=\"100%\" fill=\"#ffffff\"/>",
    ]
  }

  mutating func text(
    _ s: String, x: Double, y: Double, size: Double, weight: String = "normal", anchor: String,
    color: String = "#222", rotate: Double? = nil
  ) {
    let transform = rotate.map { " transform=\"rotate(\(n($0)) \(n(x)) \(n(y)))\"" } ?? ""
    lines.append(
      "<text x=\"\(n(x))\" y=\"\(n(y))\" font-size=\"\(n(size))\" font-weight=\"\(weight)\" "
        + "text-anchor=\"\(anchor)\" fill=\"\(color)\"\(transform)>\(xmlEscaped(s))</text>")
  }

  mutating func line(x1: Double, y1: Double, x2: Double, y2: Double, color: String) {
    lines.append(
      "<line x1=\"\(n(x1))\" y1=\"\(n(y1))\" x2=\"\(n(x2))\" y2=\"\(n(y2))\" stroke=\"\(color)\" stroke-width=\"1\"/>")
  }

  mutating func polyline(_ points: [(Double, Double)], color: String, width: Double, dashed: Bool) {
    let coordinates = points.map { "\(n($0.0)),\(n($0.1))" }.joined(separator: " ")
    let dash = dashed ? " stroke-dasharray=\"6 4\"" : ""
    lines.append(
      "<polyline points=\"\(coordinates)\" fill=\"none\" stroke=\"\(color)\" stroke-width=\"\(n(width))\" "
        + "stroke-linejoin=\"round\" stroke-linecap=\"round\"\(dash)/>")
  }

  mutating func circle(x: Double, y: Double, radius: Double, stroke: String, fill: String) {
    lines.append(
      "<circle cx=\"\(n(x))\" cy=\"\(n(y))\" r=\"\(n(radius))\" fill=\"\(fill)\" stroke=\"\(stroke)\" stroke-width=\"1.5\"/>"
    )
  }

  func finish() -> String { (lines + ["</svg>"]).joined(separator: "\n") + "\n" }

}

/// A coordinate: one decimal, no trailing ".0", never "-0".
private func n(_ x: Double) -> String {
  var s = String(format: "%.1f", x)
  if s.hasSuffix(".0") { s.removeLast(2) }
  return s == "-0" ? "0" : s
}

/// Text for an XML text node or attribute value.
func xmlEscaped(_ s: String) -> String {
  var out = ""
  for c in s {
    switch c {
    case "&": out += "&amp;"
    case "<": out += "&lt;"
    case ">": out += "&gt;"
    case "\"": out += "&quot;"
    case "'": out += "&apos;"
    default: out.append(c)
    }
  }
  return out
}
