import Foundation

// Deterministic random numbers for `locus init`, written out so results never depend on the
// platform's generator. Each parameter gets its own stream derived from (seed, parameter name):
// adding, removing or reordering parameters leaves every other tensor's values unchanged.
//
//   stream seed = mix(seed ^ mix(FNV-1a-64(UTF-8 name)))     mix = SplitMix64's finaliser
//   generator   = xoshiro256** seeded with four SplitMix64 outputs (as its authors recommend)

/// SplitMix64 (Steele, Lea & Flood 2014). Used to expand one 64-bit seed into generator state.
public struct SplitMix64: RandomNumberGenerator, Sendable {
  public var state: UInt64

  public init(seed: UInt64) { state = seed }

  public mutating func next() -> UInt64 {
    state &+= 0x9E37_79B9_7F4A_7C15
    return Self.mix(state)
  }

  /// The finaliser: a bijection on UInt64 with good avalanche.
  public static func mix(_ x: UInt64) -> UInt64 {
    var z = x
    z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
    z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
    return z ^ (z >> 31)
  }
}

/// xoshiro256** 1.0 (Blackman & Vigna 2018): 256-bit state, period 2^256 − 1, passes BigCrush.
public struct Xoshiro256StarStar: RandomNumberGenerator, Sendable {
  private var s: (UInt64, UInt64, UInt64, UInt64)

  public init(seed: UInt64) {
    var sm = SplitMix64(seed: seed)
    s = (sm.next(), sm.next(), sm.next(), sm.next())
  }

  /// The stream of one named parameter.
  public init(seed: UInt64, name: String) {
    self.init(seed: SplitMix64.mix(seed ^ SplitMix64.mix(fnv1a64(name))))
  }

  public mutating func next() -> UInt64 {
    let result = rotl(s.1 &* 5, 7) &* 9
    let t = s.1 << 17
    s.2 ^= s.0
    s.3 ^= s.1
    s.1 ^= s.2
    s.0 ^= s.3
    s.2 ^= t
    s.3 = rotl(s.3, 45)
    return result
  }

  /// Uniform in [0, 1) with 53 random bits (every value a multiple of 2^-53).
  public mutating func nextUnit() -> Double {
    Double(next() >> 11) * 0x1p-53
  }

  private func rotl(_ x: UInt64, _ k: UInt64) -> UInt64 { (x << k) | (x >> (64 - k)) }
}

/// Standard normal samples by Box–Muller in Double, using both values of each pair.
struct GaussianStream {
  var rng: Xoshiro256StarStar
  private var spare: Double?

  init(rng: Xoshiro256StarStar) { self.rng = rng }

  mutating func next() -> Double {
    if let z = spare {
      spare = nil
      return z
    }
    let u1 = 1 - rng.nextUnit()  // in (0, 1]: log(u1) is finite
    let u2 = rng.nextUnit()
    let r = (-2 * log(u1)).squareRoot()
    spare = r * sin(2 * Double.pi * u2)
    return r * cos(2 * Double.pi * u2)
  }
}

/// FNV-1a, 64-bit: a fixed, documented string hash (Swift's `Hasher` is randomly seeded per process).
func fnv1a64(_ s: String) -> UInt64 {
  var h: UInt64 = 0xcbf2_9ce4_8422_2325
  for byte in s.utf8 {
    h ^= UInt64(byte)
    h = h &* 0x100_0000_01b3
  }
  return h
}

/// Inverse error function: Giles' single-precision approximation ("Approximating the erfinv
/// function", 2010) polished by two Newton steps on erf(x) − y, which brings it to double accuracy.
func erfinv(_ y: Double) -> Double {
  if y <= -1 { return y == -1 ? -.infinity : .nan }
  if y >= 1 { return y == 1 ? .infinity : .nan }
  let w = -log((1 - y) * (1 + y))
  let p = w < 5 ? horner(erfinvCentral, w - 2.5) : horner(erfinvTail, w.squareRoot() - 3)
  var x = p * y
  for _ in 0..<2 {
    x -= (erf(x) - y) / (2 / Double.pi.squareRoot() * exp(-x * x))
  }
  return x
}

/// Giles' coefficients, highest degree first; the central branch covers |y| ≲ 0.9966.
private let erfinvCentral: [Double] = [
  2.81022636e-08, 3.43273939e-07, -3.5233877e-06, -4.39150654e-06, 0.00021858087, -0.00125372503,
  -0.00417768164, 0.246640727, 1.50140941,
]
private let erfinvTail: [Double] = [
  -0.000200214257, 0.000100950558, 0.00134934322, -0.00367342844, 0.00573950773, -0.0076224613,
  0.00943887047, 1.00167406, 2.83297682,
]

private func horner(_ coefficients: [Double], _ x: Double) -> Double {
  coefficients.reduce(0) { $0 * x + $1 }
}
