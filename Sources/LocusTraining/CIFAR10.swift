// CIFAR-10 (Krizhevsky 2009), binary version: data_batch_1.bin … data_batch_5.bin (training) and
// test_batch.bin, each a run of 3073-byte records: 1 label byte, then 1024 red, 1024 green and 1024
// blue bytes of a 32×32 image in row-major order, which is already the C×H×W layout we keep.
// No Debian package ships it, so there is no default directory.

public enum CIFAR10 {
  public static let classNames = [
    "airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck",
  ]
  /// Per-channel mean and standard deviation of the training pixels (x/255).
  public static let normalization = Normalization(mean: [0.4914, 0.4822, 0.4465], std: [0.2470, 0.2435, 0.2616])
  static let hint =
    "download the binary version (cifar-10-binary.tar.gz) from https://www.cs.toronto.edu/~kriz/cifar.html, "
    + "extract it and pass --data-dir with the cifar-10-batches-bin directory"
  static let side = 32
  static let recordSize = 1 + 3 * 32 * 32
  /// The archive extracts into this folder; pointing at its parent works too.
  static let archiveFolder = "cifar-10-batches-bin"

  static func fileNames(_ split: Split) -> [String] {
    split == .train ? (1...5).map { "data_batch_\($0).bin" } : ["test_batch.bin"]
  }

  public static func load(_ split: Split, directory: String) throws(TrainingError) -> Dataset {
    try DataFiles.requireDirectory(directory, dataset: "CIFAR-10", hint: hint)
    let nested = DataFiles.join(directory, archiveFolder)
    let root =
      !DataFiles.exists(DataFiles.join(directory, fileNames(split)[0])) && DataFiles.exists(nested) ? nested : directory
    var images: [UInt8] = []
    var labels: [UInt8] = []
    for name in fileNames(split) {
      let path = DataFiles.join(root, name)
      guard DataFiles.exists(path) else {
        throw .missingData(dataset: "CIFAR-10", path: path, isDirectory: false, hint: hint)
      }
      try appendRecords(of: DataFiles.read(path), file: path, images: &images, labels: &labels)
    }
    do {
      return try Dataset(
        name: "cifar10", images: images, labels: labels, channels: 3, height: side, width: side, classNames: classNames)
    } catch {
      throw .malformedData(file: root, problem: error.description)
    }
  }

  /// Splits one batch file into its labels and images, checking the record size and every label.
  static func appendRecords(
    of bytes: [UInt8], file: String, images: inout [UInt8], labels: inout [UInt8]
  ) throws(TrainingError) {
    guard !bytes.isEmpty, bytes.count % recordSize == 0 else {
      throw .malformedData(
        file: file,
        problem: "\(bytes.count) bytes is not a whole number of \(recordSize)-byte records (1 label + 3×32×32 pixels); "
          + "is this the binary version of CIFAR-10 (not the Python or MATLAB one)?")
    }
    let records = bytes.count / recordSize
    images.reserveCapacity(images.count + records * (recordSize - 1))
    for r in 0..<records {
      let start = r * recordSize
      let label = bytes[start]
      guard Int(label) < classNames.count else {
        throw .malformedData(file: file, problem: "record \(r) has label \(label), CIFAR-10 has 10 classes (0…9)")
      }
      labels.append(label)
      images.append(contentsOf: bytes[(start + 1)..<(start + recordSize)])
    }
  }
}
