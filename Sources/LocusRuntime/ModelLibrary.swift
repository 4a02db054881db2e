#if canImport(Glibc)
  import Glibc
#elseif canImport(Darwin)
  import Darwin
#endif

// The C ABI of a built model (DESIGN.md §4), seen from Swift: dlopen, the exported symbols, and the
// tensor tables. LocusRuntime has no C target, so `locus_tensor_info` is read by byte offset:
//
//   typedef struct { const char *name; int rank; int64_t shape[8]; int64_t numel; } locus_tensor_info;
//   offset 0: name (8 bytes) | 8: rank (4) + 4 padding | 16: shape[8] (64) | 80: numel (8); size 88
//
// valid on every LP64 platform Locus targets (Linux and macOS, x86_64 and arm64).

/// Name and full shape of one parameter, input or output (inputs and outputs include the batch B).
public struct TensorInfo: Sendable, Hashable {
  public var name: String
  public var shape: [Int]
  public var numel: Int
}

struct ModelSymbols {
  typealias IntFn = @convention(c) () -> Int32
  typealias InfoFn = @convention(c) (Int32) -> UnsafeRawPointer?
  typealias SizeFn = @convention(c) () -> Int
  typealias SetThreadsFn = @convention(c) (Int32) -> Void
  typealias ReadFn = @convention(c) (Int32) -> Int32
  typealias ForwardFn =
    @convention(c) (
      UnsafePointer<UnsafePointer<Float>?>?, UnsafePointer<UnsafePointer<Float>?>?,
      UnsafePointer<UnsafeMutablePointer<Float>?>?, UnsafeMutablePointer<Float>?
    ) -> Int32
  typealias PrepareFn = @convention(c) (UnsafePointer<UnsafePointer<Float>?>?, UnsafeMutablePointer<Float>?) -> Int32

  /// 2: `<m>_prepare(params, arena)` computes the parameter-only values once per weight binding.
  static let supportedABIVersion = 2
  static let maxRank = 8

  var batch: IntFn
  var numParams: IntFn
  var paramInfo: InfoFn
  var numInputs: IntFn
  var inputInfo: InfoFn
  var numOutputs: IntFn
  var outputInfo: InfoFn
  var arenaBytes: SizeFn
  var setNumThreads: SetThreadsFn
  var prepare: PrepareFn
  var forward: ForwardFn
  /// `<m>_param_read_by_forward`, absent from libraries built before it existed (then every
  /// parameter counts as read).
  var paramReadByForward: ReadFn?

  /// Loads the library. The handle is never closed: libomp's worker threads outlive each forward
  /// call, and unloading a library they may still reference is a known source of crashes.
  static func open(path: String) throws(RuntimeError) -> UnsafeMutableRawPointer {
    // libomp spins idle workers for KMP_BLOCKTIME (200 ms) after each parallel region, stealing CPU
    // from the Swift side between calls. 0 is no better: one forward runs hundreds of kernels, each
    // its own parallel region, and waking sleeping workers for every one of them doubled DeiT-T's
    // batch-1 latency here (41.8 ms at 0, 25.4 ms at 1, 29.1 ms at 200). 1 ms spans the gaps between
    // kernels and frees the core within a millisecond of a forward. libomp reads the variable when it
    // initialises, so set it before the library is loaded; overwrite = 0 keeps a value the user chose.
    setenv("KMP_BLOCKTIME", "1", 0)
    guard let handle = dlopen(path, RTLD_NOW | RTLD_LOCAL) else {
      let reason = dlerror().map { String(cString: $0) } ?? "dlopen failed"
      throw .libraryLoad(path: path, reason: reason)
    }
    return handle
  }

  /// Resolves `<m>_*`, checking the ABI version first: a library of another version may lack
  /// symbols this one needs, and the version is what its user must be told about.
  static func resolve(handle: UnsafeMutableRawPointer, model m: String, library: String) throws(RuntimeError) -> ModelSymbols {
    func sym<T>(_ suffix: String, _: T.Type) throws(RuntimeError) -> T {
      let name = "\(m)_\(suffix)"
      guard let p = dlsym(handle, name) else { throw .missingSymbol(library: library, symbol: name) }
      return unsafeBitCast(p, to: T.self)
    }
    let abiVersion = try sym("abi_version", IntFn.self)
    let version = Int(abiVersion())
    guard version == supportedABIVersion else {
      throw .abiMismatch(library: library, model: m, found: version, supported: supportedABIVersion)
    }
    return ModelSymbols(
      batch: try sym("batch", IntFn.self),
      numParams: try sym("num_params", IntFn.self), paramInfo: try sym("param_info", InfoFn.self),
      numInputs: try sym("num_inputs", IntFn.self), inputInfo: try sym("input_info", InfoFn.self),
      numOutputs: try sym("num_outputs", IntFn.self), outputInfo: try sym("output_info", InfoFn.self),
      arenaBytes: try sym("arena_bytes", SizeFn.self), setNumThreads: try sym("set_num_threads", SetThreadsFn.self),
      prepare: try sym("prepare", PrepareFn.self), forward: try sym("forward", ForwardFn.self),
      paramReadByForward: dlsym(handle, "\(m)_param_read_by_forward").map { unsafeBitCast($0, to: ReadFn.self) })
  }

  /// Reads and checks one table (params, inputs or outputs).
  static func table(count: IntFn, info: InfoFn, role: String, library: String) throws(RuntimeError) -> [TensorInfo] {
    let n = Int(count())
    guard n >= 0 else { throw .invalidModelTable(library: library, problem: "negative number of \(role)s: \(n)") }
    var result: [TensorInfo] = []
    for i in 0..<n {
      func bad(_ what: String) -> RuntimeError { .invalidModelTable(library: library, problem: "\(role) \(i): \(what)") }
      guard let p = info(Int32(i)) else { throw bad("info pointer is NULL") }
      guard let namePtr = p.load(fromByteOffset: 0, as: UnsafePointer<CChar>?.self) else { throw bad("name is NULL") }
      let name = String(cString: namePtr)
      let rank = Int(p.load(fromByteOffset: 8, as: Int32.self))
      guard (0...maxRank).contains(rank) else { throw bad("'\(name)' has rank \(rank), the ABI allows 0...\(maxRank)") }
      let shape = (0..<rank).map { Int(p.load(fromByteOffset: 16 + 8 * $0, as: Int64.self)) }
      let numel = Int(p.load(fromByteOffset: 80, as: Int64.self))
      guard let product = elementCount(shape), product == numel else {
        throw bad("'\(name)' has shape \(formatShape(shape)) but numel \(numel)")
      }
      result.append(TensorInfo(name: name, shape: shape, numel: numel))
    }
    let duplicates = Dictionary(grouping: result.map(\.name), by: { $0 }).filter { $0.value.count > 1 }.keys.sorted()
    guard duplicates.isEmpty else {
      throw .invalidModelTable(library: library, problem: "duplicate \(role) names: \(duplicates.joined(separator: ", "))")
    }
    return result
  }
}
