import Foundation
import LocalViTFMNIST

// Usage: FashionApp [--weights W.safetensors] [--data-dir DIR] [--limit N] [--threads T]
// Classifies the Fashion-MNIST test images with the generated LocalViTFMNIST model and prints the
// top-1 accuracy in `locus eval`'s words, then a few predictions.

func option(_ name: String, _ fallback: String) -> String {
  let args = CommandLine.arguments
  guard let i = args.firstIndex(of: name), i + 1 < args.count else { return fallback }
  return args[i + 1]
}

do {
  let weights = option("--weights", "../../runs/fmnist/weights.safetensors")
  let data = try TestSet(directory: option("--data-dir", "/usr/share/datasets/fashion-mnist"))
  let limit = min(Int(option("--limit", "\(data.count)")) ?? 0, data.count)
  guard limit >= 1 else { throw AppError("--limit takes a number of images ≥ 1, got '\(option("--limit", ""))'") }
  guard data.labels.allSatisfy({ Int($0) < LocalViTFMNIST.classes }) else {
    throw AppError("the test labels go beyond the model's \(LocalViTFMNIST.classes) classes")
  }
  let model = try LocalViTFMNIST(weights: URL(fileURLWithPath: weights))
  model.threads = Int(option("--threads", "0")) ?? 0
  print("LocalViTFMNIST: \(LocalViTFMNIST.parameterCount) parameters, input \(LocalViTFMNIST.inputShape), "
    + "\(LocalViTFMNIST.flopsPerImage) FLOP per image, weights \(weights)")

  let start = Date()
  var correct = 0, predictions: [Int] = []
  for from in stride(from: 0, to: limit, by: 500) {
    let range = from..<min(from + 500, limit)
    let classes = try model.classify(data.batch(range))
    correct += zip(classes, data.labels[range]).filter { $0 == Int($1) }.count
    predictions += classes
  }
  let seconds = Date().timeIntervalSince(start)
  print(String(format: "top-1 accuracy %.2f%% (%d/%d), %.0f images/s", 100 * Double(correct) / Double(limit), correct, limit, Double(limit) / seconds))
  for i in 0..<min(8, limit) {
    let name = { (k: Int) in k < TestSet.classNames.count ? TestSet.classNames[k] : "class \(k)" }
    let truth = name(Int(data.labels[i])), guess = name(predictions[i])
    print("  image \(i): \(guess)\(guess == truth ? "" : " (is \(truth))")")
  }
} catch {
  FileHandle.standardError.write(Data("FashionApp: error: \(error)\n".utf8))
  exit(1)
}
