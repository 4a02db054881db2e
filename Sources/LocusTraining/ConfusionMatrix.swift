import Foundation

// Counts of (true class, predicted class) over an evaluation pass. Rows are true classes, columns
// predictions, as in scikit-learn's confusion_matrix. Legend: B batch, K classes.

public struct ConfusionMatrix: Sendable, Equatable {
  /// (K)
  public let classNames: [String]
  /// (K, K): counts[t·K + p] = samples of class t predicted as p.
  public private(set) var counts: [Int]

  public init(classNames: [String]) {
    self.classNames = classNames
    self.counts = Array(repeating: 0, count: classNames.count * classNames.count)
  }

  public var classes: Int { classNames.count }
  public var total: Int { counts.reduce(0, +) }
  public var correct: Int { (0..<classes).reduce(0) { $0 + counts[$1 * classes + $1] } }
  /// Fraction of samples on the diagonal; 0 when empty.
  public var accuracy: Double { total == 0 ? 0 : Double(correct) / Double(total) }

  /// Per class: the fraction of its samples predicted correctly (recall); nil for a class with no samples.
  public var perClassAccuracy: [Double?] {
    (0..<classes).map { t in
      let row = counts[(t * classes)..<((t + 1) * classes)].reduce(0, +)
      return row == 0 ? nil : Double(counts[t * classes + t]) / Double(row)
    }
  }

  public mutating func add(label: Int, predicted: Int) throws(TrainingError) {
    guard (0..<classes).contains(label), (0..<classes).contains(predicted) else {
      throw .invalidArgument(
        "confusion matrix of \(classes) classes: label \(label) / prediction \(predicted) out of range")
    }
    counts[label * classes + predicted] += 1
  }

  /// Adds the first `validCount` samples of a batch: `logits` (B, K), `labels` (B). The prediction
  /// is the first index of the largest logit, like torch.argmax; a NaN logit loses to any number.
  public mutating func add(logits: [Float], labels: [Int32], validCount: Int) throws(TrainingError) {
    guard logits.count == labels.count * classes, (0...labels.count).contains(validCount) else {
      throw .invalidArgument(
        "confusion matrix: \(labels.count) labels need \(labels.count)×\(classes) logits, got \(logits.count) "
          + "(valid count \(validCount))")
    }
    for b in 0..<validCount {
      let row = logits[(b * classes)..<((b + 1) * classes)]
      var best = row.startIndex
      for i in row.indices where row[i] > row[best] || row[best].isNaN { best = i }
      try add(label: Int(labels[b]), predicted: best - b * classes)
    }
  }

  /// The matrix as a table with class names, then each class's accuracy, e.g.
  ///
  ///            predicted
  ///   true        0    1   accuracy
  ///   0 cat      48    2      96.0%
  public func render() -> String {
    let width = max(5, String(counts.max() ?? 0).count + 1)
    let labelWidth = max(8, classNames.enumerated().map { "\($0.offset) \($0.element)".count }.max() ?? 0)
    func pad(_ s: String, _ n: Int, left: Bool = true) -> String {
      let fill = String(repeating: " ", count: max(0, n - s.count))
      return left ? fill + s : s + fill
    }
    var lines = [pad("", labelWidth + 1) + "predicted"]
    lines.append(
      pad("true", labelWidth, left: false) + (0..<classes).map { pad(String($0), width) }.joined() + "   accuracy")
    let recalls = perClassAccuracy
    for t in 0..<classes {
      let cells = (0..<classes).map { pad(String(counts[t * classes + $0]), width) }.joined()
      let recall = recalls[t].map { String(format: "%.1f%%", 100 * $0) } ?? "-"
      lines.append(pad("\(t) \(classNames[t])", labelWidth, left: false) + cells + pad(recall, 11))
    }
    lines.append(String(format: "accuracy %.2f%% (%d/%d)", 100 * accuracy, correct, total))
    return lines.joined(separator: "\n")
  }
}
