import Foundation

// Turns a BuildRequest into a library in the cache: write the sources into a private work directory,
// compile each translation unit (in parallel), link or archive, rename the result into place.

public struct BuiltLibrary: Sendable, Equatable {
  /// Absolute path of the library inside the cache; safe to `dlopen` (unique per content).
  public var path: String
  /// Full SHA-256 hex of the build inputs; `path` carries its first 16 digits.
  public var key: String
  public var kind: OutputKind
  public var wallTime: Duration
  /// True when the library was already in the cache and clang was not run.
  public var cached: Bool
}

public struct Compiler: Sendable {
  public var toolchain: Toolchain
  public var cache: BuildCache

  public init(toolchain: Toolchain, cache: BuildCache) {
    self.toolchain = toolchain
    self.cache = cache
  }

  /// Toolchain discovery plus the cache directory from the environment (LOCUS_CC, LOCUS_OMP_DIR,
  /// LOCUS_CACHE_DIR).
  public static func fromEnvironment(
    _ environment: [String: String] = ProcessInfo.processInfo.environment
  ) throws(BuildError) -> Compiler {
    Compiler(toolchain: try Toolchain.discover(environment: environment), cache: .fromEnvironment(environment))
  }

  /// The cache key the request would build under.
  public func key(for request: BuildRequest) throws(BuildError) -> String {
    try plan(request).key
  }

  public func build(_ request: BuildRequest) throws(BuildError) -> BuiltLibrary {
    let clock = ContinuousClock()
    let start = clock.now
    let plan = try plan(request)
    let destination = cache.entryPath(name: request.name, key: plan.key, kind: request.output)
    if FileManager.default.fileExists(atPath: destination) {
      return BuiltLibrary(
        path: destination, key: plan.key, kind: request.output, wallTime: clock.now - start, cached: true)
    }
    let work = try cache.makeWorkDirectory(name: request.name, key: plan.key)
    do throws(BuildError) {
      let kept = try writeFiles(request.sources + request.headers, into: work)
      let objects = try compileAll(request.sources, in: work, flags: plan.compileFlags, kept: kept)
      let product = "\(work)/lib\(request.name).\(request.output.fileExtension)"
      switch request.output {
      case .sharedLibrary:
        let argv = [toolchain.clang] + plan.linkFlags + objects + ["-o", product]
        try run(argv, in: work, stage: .link, source: nil, kept: kept)
      case .staticLibrary:
        let argv = [try toolchain.requireArchiver(), "rcs", product] + objects
        try run(argv, in: work, stage: .archive, source: nil, kept: kept)
      }
      try cache.install(product, at: destination)
    } catch {
      // A clang failure keeps the work directory: its path is in the error for the user to open.
      if case .compilerFailed = error {} else { try? FileManager.default.removeItem(atPath: work) }
      throw error
    }
    try? FileManager.default.removeItem(atPath: work)
    return BuiltLibrary(
      path: destination, key: plan.key, kind: request.output, wallTime: clock.now - start, cached: false)
  }

  struct Plan {
    var compileFlags: [String]
    var linkFlags: [String]
    var key: String
  }

  func plan(_ request: BuildRequest) throws(BuildError) -> Plan {
    try request.validate()
    let openMP = request.openMP ? try toolchain.requireOpenMP() : nil
    let compileFlags = request.compileFlags(openMP: openMP)
    let linkFlags = request.output == .sharedLibrary ? request.sharedLinkFlags(openMP: openMP) : []
    let key = BuildCache.key(
      request: request, toolchain: toolchain, compileFlags: compileFlags, linkFlags: linkFlags)
    return Plan(compileFlags: compileFlags, linkFlags: linkFlags, key: key)
  }

  func writeFiles(_ files: [SourceFile], into dir: String) throws(BuildError) -> [String] {
    var paths: [String] = []
    for file in files {
      let path = "\(dir)/\(file.name)"
      do {
        try Data(file.text.utf8).write(to: URL(fileURLWithPath: path))
      } catch {
        throw .io(path: path, action: "write", reason: error.localizedDescription)
      }
      paths.append(path)
    }
    return paths
  }

  /// Compiles every translation unit to an object file, several at a time; reports the first
  /// failure in source order so the message does not depend on scheduling.
  func compileAll(
    _ sources: [SourceFile], in work: String, flags: [String], kept: [String]
  ) throws(BuildError) -> [String] {
    let jobs = sources.map { source in
      let input = "\(work)/\(source.name)"
      let object = "\(work)/\(source.name.dropLast(2)).o"
      return (input: input, object: object, argv: [toolchain.clang] + flags + ["-c", input, "-o", object])
    }
    let results = ResultSlots(count: jobs.count)
    DispatchQueue.concurrentPerform(iterations: jobs.count) { i in
      results.set(i, Result { () throws(BuildError) in try runCommand(jobs[i].argv, currentDirectory: work) })
    }
    for (i, job) in jobs.enumerated() {
      let result = try results.get(i).get()
      if result.status != 0 {
        throw .compilerFailed(
          CompilerFailure(
            stage: .compile, command: job.argv, exitStatus: result.status, stderr: result.stderr,
            failedSource: job.input, keptFiles: kept))
      }
    }
    return jobs.map(\.object)
  }

  func run(
    _ argv: [String], in work: String, stage: CompilerFailure.Stage, source: String?, kept: [String]
  ) throws(BuildError) {
    let result = try runCommand(argv, currentDirectory: work)
    guard result.status == 0 else {
      throw .compilerFailed(
        CompilerFailure(
          stage: stage, command: argv, exitStatus: result.status, stderr: result.stderr,
          failedSource: source, keptFiles: kept))
    }
  }
}

/// One slot per parallel job, filled from worker threads and read after they all finished.
private final class ResultSlots: @unchecked Sendable {
  private let lock = NSLock()
  private var slots: [Result<CommandResult, BuildError>?]

  init(count: Int) { slots = Array(repeating: nil, count: count) }

  func set(_ i: Int, _ r: Result<CommandResult, BuildError>) { lock.withLock { slots[i] = r } }

  func get(_ i: Int) -> Result<CommandResult, BuildError> {
    lock.withLock { slots[i] } ?? .failure(.invalidRequest("internal: compile job \(i) produced no result"))
  }
}
