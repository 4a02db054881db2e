// The header of a .npy file is a Python dict literal written by `repr`. This parses exactly the
// subset NumPy writes: string keys; values that are strings, True/False, or tuples of integers.

struct NpyHeader: Equatable {
  var descr: String
  var fortranOrder: Bool
  var shape: [Int]

  struct ParseError: Error {
    var reason: String
  }

  enum Value: Equatable {
    case string(String)
    case bool(Bool)
    case tuple([Int])
  }

  static func parse(_ text: String) throws(ParseError) -> NpyHeader {
    var parser = Parser(chars: Array(text.unicodeScalars))
    let dict = try parser.dict()
    guard case .string(let descr)? = dict["descr"] else { throw ParseError(reason: "'descr' must be a string") }
    guard case .bool(let fortran)? = dict["fortran_order"] else {
      throw ParseError(reason: "'fortran_order' must be True or False")
    }
    guard case .tuple(let shape)? = dict["shape"] else { throw ParseError(reason: "'shape' must be a tuple of integers") }
    return NpyHeader(descr: descr, fortranOrder: fortran, shape: shape)
  }

  struct Parser {
    var chars: [Unicode.Scalar]
    var i = 0

    mutating func skipSpace() {
      while i < chars.count, chars[i].properties.isWhitespace { i += 1 }
    }

    mutating func expect(_ c: Unicode.Scalar) throws(ParseError) {
      skipSpace()
      guard i < chars.count, chars[i] == c else { throw ParseError(reason: "expected '\(c)' at offset \(i)") }
      i += 1
    }

    /// Consumes `c` if it is next.
    mutating func accept(_ c: Unicode.Scalar) -> Bool {
      skipSpace()
      guard i < chars.count, chars[i] == c else { return false }
      i += 1
      return true
    }

    mutating func dict() throws(ParseError) -> [String: Value] {
      try expect("{")
      var result: [String: Value] = [:]
      while !accept("}") {
        let key = try string()
        try expect(":")
        result[key] = try value()
        if !accept(",") {
          try expect("}")
          break
        }
      }
      return result
    }

    mutating func value() throws(ParseError) -> Value {
      skipSpace()
      guard i < chars.count else { throw ParseError(reason: "unexpected end of header") }
      switch chars[i] {
      case "'", "\"": return .string(try string())
      case "(": return .tuple(try tuple())
      default:
        let word = identifier()
        if word == "True" { return .bool(true) }
        if word == "False" { return .bool(false) }
        throw ParseError(reason: "unsupported value at offset \(i) (structured dtypes are not supported)")
      }
    }

    mutating func string() throws(ParseError) -> String {
      skipSpace()
      guard i < chars.count, chars[i] == "'" || chars[i] == "\"" else {
        throw ParseError(reason: "expected a quoted string at offset \(i)")
      }
      let quote = chars[i]
      i += 1
      var out = String.UnicodeScalarView()
      while i < chars.count, chars[i] != quote {
        if chars[i] == "\\", i + 1 < chars.count { i += 1 }
        out.append(chars[i])
        i += 1
      }
      guard i < chars.count else { throw ParseError(reason: "unterminated string") }
      i += 1
      return String(out)
    }

    mutating func tuple() throws(ParseError) -> [Int] {
      try expect("(")
      var result: [Int] = []
      while !accept(")") {
        result.append(try integer())
        if !accept(",") {
          try expect(")")
          break
        }
      }
      return result
    }

    mutating func integer() throws(ParseError) -> Int {
      skipSpace()
      let start = i
      while i < chars.count, ("0"..."9").contains(chars[i]) { i += 1 }
      guard let n = Int(String(String.UnicodeScalarView(chars[start..<i]))) else {
        throw ParseError(reason: "expected a non-negative integer at offset \(start)")
      }
      if i < chars.count, chars[i] == "L" { i += 1 }  // Python 2 long suffix, in old files
      return n
    }

    mutating func identifier() -> String {
      let start = i
      while i < chars.count, chars[i].properties.isAlphabetic || chars[i] == "_" { i += 1 }
      return String(String.UnicodeScalarView(chars[start..<i]))
    }
  }
}
