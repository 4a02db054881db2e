import Foundation

// Errors of the build stage. Each case carries what a person needs to act on it: clang's own words,
// the exact command line, and where the generated C was kept; or what to install and which
// environment variable overrides the search. Only the CLI turns these into exit codes.

/// A required tool was not found. `searched` lists every place that was tried, in order.
public struct MissingTool: Sendable, Equatable {
  public var tool: String
  public var searched: [String]
  public var remedy: String

  public init(tool: String, searched: [String], remedy: String) {
    self.tool = tool
    self.searched = searched
    self.remedy = remedy
  }
}

/// clang exited with a non-zero status. The work directory is kept so the C can be inspected.
public struct CompilerFailure: Sendable, Equatable {
  public enum Stage: String, Sendable { case compile, link, archive, merge, symbols }
  public var stage: Stage
  public var command: [String]
  public var exitStatus: Int32
  /// clang's complete stderr, unabridged.
  public var stderr: String
  /// The translation unit that failed to compile; nil when linking or archiving failed.
  public var failedSource: String?
  /// Every generated file kept on disk (sources and headers), so the user can open them.
  public var keptFiles: [String]

  public init(
    stage: Stage, command: [String], exitStatus: Int32, stderr: String, failedSource: String?,
    keptFiles: [String]
  ) {
    self.stage = stage
    self.command = command
    self.exitStatus = exitStatus
    self.stderr = stderr
    self.failedSource = failedSource
    self.keptFiles = keptFiles
  }
}

public enum BuildError: Error, Sendable, Equatable, CustomStringConvertible {
  case toolchainMissing(MissingTool)
  case compilerFailed(CompilerFailure)
  /// A helper command (e.g. `clang --version`) could not be run or failed.
  case toolFailed(command: [String], exitStatus: Int32, stderr: String)
  case io(path: String, action: String, reason: String)
  case invalidRequest(String)

  public var description: String {
    switch self {
    case .toolchainMissing(let missing):
      var lines = ["\(missing.tool) not found. Searched:"]
      lines += missing.searched.map { "  - \($0)" }
      lines.append(missing.remedy)
      return lines.joined(separator: "\n")
    case .compilerFailed(let failure):
      return Self.describe(failure)
    case .toolFailed(let command, let status, let stderr):
      let said = stderr.isEmpty ? "" : "\n\(stderr)"
      return "command failed (exit \(status)): \(shellQuoted(command))\(said)"
    case .io(let path, let action, let reason):
      return "cannot \(action) \(path): \(reason)"
    case .invalidRequest(let why):
      return "invalid build request: \(why)"
    }
  }

  private static func describe(_ f: CompilerFailure) -> String {
    var lines: [String] = []
    switch f.stage {
    case .compile: lines.append("clang failed (exit \(f.exitStatus)) compiling \(f.failedSource ?? "?")")
    case .link: lines.append("clang failed (exit \(f.exitStatus)) linking the shared library")
    case .archive: lines.append("the archiver failed (exit \(f.exitStatus)) creating the static library")
    case .merge: lines.append("clang failed (exit \(f.exitStatus)) linking the objects into one relocatable object (-r)")
    case .symbols: lines.append("objcopy failed (exit \(f.exitStatus)) hiding the library's internal symbols")
    }
    lines.append("generated files kept for inspection:")
    lines += f.keptFiles.map { "  \($0)" }
    lines.append("command: \(shellQuoted(f.command))")
    lines.append("clang said:")
    let said = f.stderr.trimmingCharacters(in: .newlines)
    lines.append(said.isEmpty ? "  (nothing on stderr)" : said)
    return lines.joined(separator: "\n")
  }
}

/// The command as a person would paste it into a POSIX shell.
func shellQuoted(_ argv: [String]) -> String {
  let safe = Set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_./=,+:@%")
  return argv.map { arg in
    if !arg.isEmpty && arg.allSatisfy({ safe.contains($0) }) { return arg }
    return "'" + arg.replacingOccurrences(of: "'", with: "'\\''") + "'"
  }.joined(separator: " ")
}
