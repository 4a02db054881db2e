// Fashion-MNIST (Xiao, Rasul & Vollgraf 2017): 28×28 grey images of 10 kinds of clothing, 60,000
// for training and 10,000 for testing, as the four gzip IDX files that Debian's
// `dataset-fashion-mnist` installs. Uncompressed copies (the same names without .gz) are accepted.

public enum FashionMNIST {
  public static let defaultDirectory = "/usr/share/datasets/fashion-mnist"
  public static let classNames = [
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
  ]
  /// Mean and standard deviation of the training pixels (x/255), as used by the usual torchvision recipes.
  public static let normalization = Normalization(mean: [0.2860], std: [0.3530])
  static let hint = "install it with `sudo apt-get install dataset-fashion-mnist` or pass --data-dir"
  static let side = 28

  /// File names inside the directory, without the .gz suffix.
  static func fileNames(_ split: Split) -> (images: String, labels: String) {
    let prefix = split == .train ? "train" : "t10k"
    return ("\(prefix)-images-idx3-ubyte", "\(prefix)-labels-idx1-ubyte")
  }

  public static func load(_ split: Split, directory: String = defaultDirectory) throws(TrainingError) -> Dataset {
    try DataFiles.requireDirectory(directory, dataset: "Fashion-MNIST", hint: hint)
    let names = fileNames(split)
    let images = try readIDX(directory: directory, name: names.images, rank: 3)
    let labels = try readIDX(directory: directory, name: names.labels, rank: 1)
    let imagesFile = DataFiles.join(directory, names.images)
    guard images.shape[1] == side, images.shape[2] == side else {
      throw .malformedData(
        file: imagesFile, problem: "images are \(images.shape[1])×\(images.shape[2]), expected 28×28")
    }
    guard images.shape[0] == labels.shape[0] else {
      throw .malformedData(
        file: imagesFile, problem: "\(images.shape[0]) images but \(labels.shape[0]) labels in \(names.labels)")
    }
    do {
      return try Dataset(
        name: "fashion-mnist", images: images.bytes, labels: labels.bytes, channels: 1, height: side, width: side,
        classNames: classNames)
    } catch {
      throw .malformedData(file: DataFiles.join(directory, names.labels), problem: error.description)
    }
  }

  /// Reads `name.gz`, or `name` when only the uncompressed file is there.
  static func readIDX(directory: String, name: String, rank: Int) throws(TrainingError) -> IDXArray {
    let gzipped = DataFiles.join(directory, name + ".gz")
    let plain = DataFiles.join(directory, name)
    if DataFiles.exists(gzipped) {
      return try IDX.parse(Gzip.decompress(DataFiles.read(gzipped), file: gzipped), rank: rank, file: gzipped)
    }
    if DataFiles.exists(plain) {
      return try IDX.parse(DataFiles.read(plain), rank: rank, file: plain)
    }
    throw .missingData(dataset: "Fashion-MNIST", path: gzipped, isDirectory: false, hint: hint)
  }
}
