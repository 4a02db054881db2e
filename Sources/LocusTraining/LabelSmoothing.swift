// Soft targets for cross-entropy with label smoothing, as PyTorch's
// F.cross_entropy(logits, labels, label_smoothing=s) defines them: the loss equals
// −Σ_k t_k · log_softmax(logits)_k with t = (1 − s)·onehot(label) + s/K. Every row sums to 1.
// Legend: B batch, K classes.

public enum LabelSmoothing {
  /// (B, K) targets for `labels` (B). s = 0 gives plain one-hot rows.
  public static func targets(labels: [Int32], classes: Int, smoothing: Float) throws(TrainingError) -> [Float] {
    guard classes > 0 else { throw .invalidArgument("label smoothing needs at least 1 class, got \(classes)") }
    guard smoothing >= 0, smoothing <= 1 else {
      throw .invalidArgument("label smoothing must be in [0, 1] (PyTorch's range), got \(smoothing)")
    }
    if let bad = labels.firstIndex(where: { $0 < 0 || Int($0) >= classes }) {
      throw .invalidArgument("label \(labels[bad]) at batch position \(bad) is outside 0..<\(classes)")
    }
    let off = smoothing / Float(classes)
    let on = (1 - smoothing) + off
    var targets = [Float](repeating: off, count: labels.count * classes)
    for (b, label) in labels.enumerated() { targets[b * classes + Int(label)] = on }
    return targets
  }
}
