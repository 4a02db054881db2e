// Host tensors as they cross the runtime's boundary (files in, files out). Values are dense,
// row-major (C order); `shape` is the exact PyTorch shape, no implicit batch axis.

public struct Tensor: Sendable, Equatable {
  public enum Values: Sendable, Equatable {
    case float32([Float])
    /// Kept as integers: BatchNorm's `num_batches_tracked` is I64 in every PyTorch checkpoint.
    case int64([Int64])
  }

  public var shape: [Int]
  public var values: Values

  public init(shape: [Int], floats: [Float]) {
    self.shape = shape
    self.values = .float32(floats)
  }

  public init(shape: [Int], int64s: [Int64]) {
    self.shape = shape
    self.values = .int64(int64s)
  }

  public var dtype: DType {
    switch values {
    case .float32: return .f32
    case .int64: return .i64
    }
  }

  public var count: Int {
    switch values {
    case .float32(let v): return v.count
    case .int64(let v): return v.count
    }
  }

  /// The values as floats (nil for an integer tensor).
  public var floats: [Float]? {
    if case .float32(let v) = values { return v }
    return nil
  }
}

/// The safetensors dtype names. All are recognised so that file sizes can be validated; reading
/// converts F64, F16 and BF16 to Float, and keeps I64 as Int64.
public enum DType: String, Sendable, CaseIterable {
  case bool = "BOOL"
  case u8 = "U8", i8 = "I8", f8e5m2 = "F8_E5M2", f8e4m3 = "F8_E4M3"
  case i16 = "I16", u16 = "U16", f16 = "F16", bf16 = "BF16"
  case i32 = "I32", u32 = "U32", f32 = "F32"
  case i64 = "I64", u64 = "U64", f64 = "F64"

  public var byteSize: Int {
    switch self {
    case .bool, .u8, .i8, .f8e5m2, .f8e4m3: return 1
    case .i16, .u16, .f16, .bf16: return 2
    case .i32, .u32, .f32: return 4
    case .i64, .u64, .f64: return 8
    }
  }

  public var isReadableAsFloat: Bool { self == .f32 || self == .f64 || self == .f16 || self == .bf16 }
}

/// Product of the dimensions, or nil on a negative dimension or overflow.
func elementCount(_ shape: [Int]) -> Int? {
  var n = 1
  for d in shape {
    guard d >= 0 else { return nil }
    let (p, overflow) = n.multipliedReportingOverflow(by: d)
    guard !overflow else { return nil }
    n = p
  }
  return n
}

/// IEEE 754 binary16 → binary32. Written out rather than using `Float16`, which is unavailable on
/// macOS/x86_64.
func floatFromHalf(_ h: UInt16) -> Float {
  let sign = UInt32(h >> 15) << 31
  let exponent = UInt32(h >> 10) & 0x1f
  let mantissa = UInt32(h) & 0x3ff
  if exponent == 0x1f {  // inf / NaN: keep the payload
    return Float(bitPattern: sign | 0x7f80_0000 | (mantissa << 13))
  }
  if exponent == 0 {  // zero or subnormal: mantissa · 2^-24, exact in Float
    let magnitude = Float(mantissa) * 0x1p-24
    return sign == 0 ? magnitude : -magnitude
  }
  return Float(bitPattern: sign | ((exponent + 112) << 23) | (mantissa << 13))
}

/// bfloat16 is the top half of a binary32.
func floatFromBFloat16(_ b: UInt16) -> Float {
  Float(bitPattern: UInt32(b) << 16)
}
