// Tokens of the spec language, and the tables the lexer and parser read them through.

public enum Keyword: String, Sendable, Hashable, CaseIterable {
  case block, model, const, input, param, `init`, `repeat`, `in`, `if`, `else`, `return`, output
  case `true`, `false`, f32

  /// Spelling → keyword, for the lexer.
  static let bySpelling = Dictionary(uniqueKeysWithValues: allCases.map { ($0.rawValue, $0) })
}

/// Punctuation and operators; the raw value is the spelling.
public enum Symbol: String, Sendable, Hashable, CaseIterable {
  case pipe = "|>"
  case equalEqual = "=="
  case notEqual = "!="
  case lessEqual = "<="
  case greaterEqual = ">="
  case andAnd = "&&"
  case orOr = "||"
  case plus = "+"
  case minus = "-"
  case star = "*"
  case slash = "/"
  case percent = "%"
  case less = "<"
  case greater = ">"
  case bang = "!"
  case question = "?"
  case colon = ":"
  case at = "@"
  case dot = "."
  case comma = ","
  case semicolon = ";"
  case equal = "="
  case leftParen = "("
  case rightParen = ")"
  case leftBracket = "["
  case rightBracket = "]"
  case leftBrace = "{"
  case rightBrace = "}"

  /// Symbols after which a line break does not end the statement: the binary operators, `|>`,
  /// `,` and the two halves of the conditional `? :` (so `cond ?` / `a :` may wrap too).
  /// `=` is deliberately absent: `x =` at the end of a line is reported as a missing expression
  /// there, instead of silently swallowing the next statement.
  static let continuesLine: Set<Symbol> = [
    .pipe, .equalEqual, .notEqual, .lessEqual, .greaterEqual, .andAnd, .orOr,
    .plus, .minus, .star, .slash, .percent, .less, .greater, .question, .colon, .comma,
  ]

  /// The symbols by their first scalar, longest spelling first, so `|>` wins over `|` and `==`
  /// over `=`.
  static let byFirstScalar: [Unicode.Scalar: [Symbol]] = Dictionary(
    grouping: allCases.sorted {
      $0.rawValue.unicodeScalars.count > $1.rawValue.unicodeScalars.count
    },
    by: { $0.rawValue.unicodeScalars.first ?? " " })
}

public enum TokenKind: Hashable, Sendable {
  case identifier, integer, float, string
  case keyword(Keyword)
  case symbol(Symbol)
  /// A line break that ends a statement (consecutive breaks and continued lines already folded).
  case newline
  case endOfFile
  /// Text the lexer could not read; the token carries the diagnostic, which the parser reports
  /// when it reaches the token (so that a bad token costs one error, not a cascade).
  case invalid
}

/// The decoded value of a literal token.
public enum TokenLiteral: Hashable, Sendable {
  case none
  case integer(Int)
  case float(Double)
  case string(String)
}

public struct Token: Hashable, Sendable, CustomStringConvertible {
  public var kind: TokenKind
  /// The spelling in the source (escapes undecoded, quotes included for strings).
  public var text: String
  public var range: SourceRange
  /// True for the first token on its source line; error recovery uses it to find statements.
  public var startsLine: Bool
  public var literal: TokenLiteral = .none
  /// Set on `.invalid` tokens: what the lexer found wrong. Boxed, so that the tokens the
  /// parser copies around stay small.
  public var diagnostic: Diagnostic? {
    get { lexicalError?.diagnostic }
    set { lexicalError = newValue.map(LexicalError.init) }
  }
  private var lexicalError: LexicalError?

  init(
    kind: TokenKind, text: String, range: SourceRange, startsLine: Bool,
    literal: TokenLiteral = .none
  ) {
    self.kind = kind
    self.text = text
    self.range = range
    self.startsLine = startsLine
    self.literal = literal
  }

  /// How messages name the token: `'conv2d'`, `end of line`, `end of file`.
  public var description: String {
    switch kind {
    case .newline: return "end of line"
    case .endOfFile: return "end of file"
    default: return "'\(text)'"
    }
  }

  func isSymbol(_ symbol: Symbol) -> Bool { kind == .symbol(symbol) }
  func isKeyword(_ keyword: Keyword) -> Bool { kind == .keyword(keyword) }

  /// Newline or `;`: the end of a statement.
  var isTerminator: Bool { kind == .newline || kind == .symbol(.semicolon) }
}

/// A reference box for the diagnostic of an invalid token.
final class LexicalError: Hashable, Sendable {
  let diagnostic: Diagnostic

  init(_ diagnostic: Diagnostic) { self.diagnostic = diagnostic }

  static func == (lhs: LexicalError, rhs: LexicalError) -> Bool { lhs.diagnostic == rhs.diagnostic }
  func hash(into hasher: inout Hasher) { hasher.combine(diagnostic) }
}
