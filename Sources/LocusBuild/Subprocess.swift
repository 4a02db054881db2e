import Foundation

// Running clang and friends. stdout and stderr are drained concurrently: a compiler that writes a
// lot of warnings would otherwise fill the stderr pipe and block while we wait on stdout.

public struct CommandResult: Sendable {
  public var status: Int32
  public var stdout: String
  public var stderr: String
}

/// Runs `argv[0]` (an absolute path) with the remaining arguments and waits for it.
/// Throws only when the process cannot be started; a non-zero exit is returned, not thrown.
public func runCommand(_ argv: [String], currentDirectory: String? = nil) throws(BuildError) -> CommandResult {
  guard let executable = argv.first else { throw .invalidRequest("empty command line") }
  let process = Process()
  process.executableURL = URL(fileURLWithPath: executable)
  process.arguments = Array(argv.dropFirst())
  if let dir = currentDirectory { process.currentDirectoryURL = URL(fileURLWithPath: dir) }
  let outPipe = Pipe()
  let errPipe = Pipe()
  process.standardOutput = outPipe
  process.standardError = errPipe
  process.standardInput = FileHandle.nullDevice
  do {
    try process.run()
  } catch {
    throw .toolFailed(command: argv, exitStatus: -1, stderr: "could not start: \(error.localizedDescription)")
  }
  let errData = DataBox()
  let group = DispatchGroup()
  DispatchQueue.global().async(group: group) {
    errData.set(errPipe.fileHandleForReading.readDataToEndOfFile())
  }
  let outData = outPipe.fileHandleForReading.readDataToEndOfFile()
  group.wait()
  process.waitUntilExit()
  return CommandResult(
    status: process.terminationStatus,
    stdout: String(decoding: outData, as: UTF8.self),
    stderr: String(decoding: errData.get(), as: UTF8.self))
}

/// Finds an executable by name on `PATH`, as a shell would.
func findOnPath(_ name: String, environment: [String: String]) -> String? {
  let dirs = (environment["PATH"] ?? "").split(separator: ":").map(String.init)
  for dir in dirs where !dir.isEmpty {
    let candidate = (dir as NSString).appendingPathComponent(name)
    if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
  }
  return nil
}

/// A value written by one thread and read by another after a join.
final class DataBox: @unchecked Sendable {
  private let lock = NSLock()
  private var data = Data()
  func set(_ d: Data) { lock.withLock { data = d } }
  func get() -> Data { lock.withLock { data } }
}
