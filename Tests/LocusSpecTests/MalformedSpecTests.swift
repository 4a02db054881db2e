// Malformed specs and the exact diagnostics they produce, as a user sees them: location,
// message, source line, caret, hint, notes. Each case is one file; several hold more than one
// error, all reported together (at most one per statement).
import XCTest

@testable import LocusSpec

final class MalformedSpecTests: XCTestCase {
  struct Case {
    let title: String
    let source: String
    let expected: String
    let line: UInt

    init(_ title: String, source: String, expected: String, line: UInt = #line) {
      self.title = title
      self.source = source
      self.expected = expected
      self.line = line
    }
  }

  func testEveryMalformedSpecRendersExactly() {
    for testCase in Self.cases {
      let rendered = Spec.rendered(testCase.source, name: "specs/x.locus")
      XCTAssertEqual(rendered, testCase.expected, testCase.title, line: testCase.line)
    }
  }

  func testEveryCaseFails() {
    for testCase in Self.cases {
      XCTAssertThrowsError(
        try Parser.parseOrThrow(Spec.source(testCase.source)), testCase.title, line: testCase.line)
    }
  }

  static let cases: [Case] = [
    Case(
      "unclosed call: the next statement is still parsed",
      source: """
        model m {
          input pixels: f32[3, 224, 224]
          x = conv2d(pixels, out: 64
          y = gelu(x)
          output z = y
        }
        """,
      expected: """
        specs/x.locus:3:29: error: expected ')' to close the call to 'conv2d'
          x = conv2d(pixels, out: 64
                                    ^
        hint: add ')' after the last argument
        """),
    Case(
      "unclosed call over several lines notes the '('",
      source: """
        model m {
          x = conv2d(pixels,
                     out: 64,
                     kernel: 3
          y = 1
        }
        """,
      expected: """
        specs/x.locus:4:23: error: expected ')' to close the call to 'conv2d'
                     kernel: 3
                              ^
        hint: add ')' after the last argument
        specs/x.locus:2:13: note: '(' opened here
          x = conv2d(pixels,
                    ^
        """),
    Case(
      "missing ',' at the end of a line inside a call",
      source: """
        model m {
          x = conv2d(pixels, out: 64
                     kernel: 3)
        }
        """,
      expected: """
        specs/x.locus:2:29: error: expected ',' or ')' after an argument
          x = conv2d(pixels, out: 64
                                    ^
        hint: add ',' at the end of the line
        """),
    Case(
      "two arguments without a comma",
      source: """
        model m {
          x = f(a b)
        }
        """,
      expected: """
        specs/x.locus:2:11: error: expected ',' or ')' after an argument
          x = f(a b)
                  ^
        """),
    Case(
      "missing ':' after an input name",
      source: """
        model m {
          input pixels f32[3, 224, 224]
        }
        """,
      expected: """
        specs/x.locus:2:16: error: expected ':' after the name of input 'pixels'
          input pixels f32[3, 224, 224]
                       ^~~
        hint: declare its shape, e.g. 'input pixels: f32[3, 224, 224]'
        """),
    Case(
      "missing operand at the end of a line",
      source: """
        model m {
          x = a +
        }
        """,
      expected: """
        specs/x.locus:2:10: error: expected an expression after '+'
          x = a +
                 ^
        """),
    Case(
      "repeat without a body",
      source: """
        model m {
          repeat 3
          x = 1
        }
        """,
      expected: """
        specs/x.locus:2:11: error: 'repeat' needs a body in braces
          repeat 3
                  ^
        hint: write 'repeat i in n { ... }'
        """),
    Case(
      "model nested in a block",
      source: """
        block b(x) {
          model inner {
          }
          return x
        }
        """,
      expected: """
        specs/x.locus:2:3: error: a 'model' cannot be nested inside a 'block'
          model inner {
          ^~~~~
        hint: move it to the top level of the file
        """),
    Case(
      "unknown character",
      source: """
        model m {
          x = a $ b
        }
        """,
      expected: """
        specs/x.locus:2:9: error: unknown character '$'
          x = a $ b
                ^
        """),
    Case(
      "unterminated string",
      source: """
        model m {
          s = "abc
        }
        """,
      expected: """
        specs/x.locus:2:7: error: unterminated string
          s = "abc
              ^~~~
        hint: add '"' at the end of the string
        """),
    Case(
      "missing '='",
      source: """
        model m {
          x gelu(y)
        }
        """,
      expected: """
        specs/x.locus:2:5: error: missing '=' in assignment
          x gelu(y)
            ^~~~
        hint: an assignment has the form 'name = expression'
        """),
    Case(
      "'{' never closed at the end of the file",
      source: """
        model m {
          x = 1
        """,
      expected: """
        specs/x.locus:1:9: error: this '{' is never closed
        model m {
                ^
        hint: add '}' at the end of the body of model 'm'
        specs/x.locus:2:8: note: the file ends here
          x = 1
               ^
        """),
    Case(
      "'{' never closed before the next declaration",
      source: """
        block a(x) {
          return x

        model m {
          y = a(1)
        }
        """,
      expected: """
        specs/x.locus:1:12: error: this '{' is never closed
        block a(x) {
                   ^
        hint: add '}' at the end of the body of block 'a'
        specs/x.locus:4:1: note: the next declaration starts here
        model m {
        ^~~~~
        """),
    Case(
      "malformed numbers",
      source: """
        model m {
          x = 12abc
          y = 1e
        }
        """,
      expected: """
        specs/x.locus:2:7: error: malformed number '12abc'
          x = 12abc
              ^~~~~
        hint: a name cannot start with a digit
        specs/x.locus:3:7: error: malformed number '1e'
          y = 1e
              ^~
        hint: an exponent needs digits, e.g. '1e-6'
        """),
    Case(
      "chained comparison",
      source: """
        model m {
          x = a < b < c
        }
        """,
      expected: """
        specs/x.locus:2:13: error: comparisons cannot be chained
          x = a < b < c
                    ^
        hint: combine two comparisons with '&&', e.g. 'a < b && b < c'
        """),
    Case(
      "conditional without ':'",
      source: """
        model m {
          x = a ? b
        }
        """,
      expected: """
        specs/x.locus:2:12: error: expected ':' after the first branch of the conditional
          x = a ? b
                   ^
        hint: a conditional has the form 'condition ? a : b'
        """),
    Case(
      "pipe without a function",
      source: """
        model m {
          x = a |>
        }
        """,
      expected: """
        specs/x.locus:2:11: error: expected a function after '|>'
          x = a |>
                  ^
        hint: e.g. 'x |> gelu' or 'x |> linear(out: 10)'
        """),
    Case(
      "scope on a name",
      source: """
        model m {
          x = y @blocks.{i}
        }
        """,
      expected: """
        specs/x.locus:2:9: error: a scope can only be attached to a call
          x = y @blocks.{i}
                ^
        hint: a scope names the parameters a call creates, e.g. 'linear(x, out: 10) @fc'
        """),
    Case(
      "'else' on its own line",
      source: """
        model m {
          if x {
            y = 1
          }
          else {
            y = 2
          }
        }
        """,
      expected: """
        specs/x.locus:5:3: error: 'else' must be on the same line as the '}' that closes the 'if'
          else {
          ^~~~
        hint: write '} else {'
        """),
    Case(
      "keyword as a name, and as a value",
      source: """
        model m {
          const in = 3
          x = block(y)
        }
        """,
      expected: """
        specs/x.locus:2:9: error: 'in' is a keyword and cannot be used as a name
          const in = 3
                ^~
        hint: choose another name
        specs/x.locus:3:7: error: expected an expression after '='
          x = block(y)
              ^~~~~
        hint: 'block' is a keyword and cannot be used as a value
        """),
    Case(
      "initialiser without parentheses",
      source: """
        model m {
          param cls: f32[1, 1, 192] = zeros
        }
        """,
      expected: """
        specs/x.locus:2:36: error: expected '(' after the initialiser 'zeros'
          param cls: f32[1, 1, 192] = zeros
                                           ^
        hint: an initialiser is a call: write 'zeros()'
        """),
    Case(
      "statements in the wrong kind of declaration",
      source: """
        block b(x) {
          output y = x
        }
        model m {
          return 1
        }
        """,
      expected: """
        specs/x.locus:2:3: error: 'output' can only be used inside a 'model'
          output y = x
          ^~~~~~
        hint: a block hands its results back with 'return'
        specs/x.locus:5:3: error: 'return' can only be used inside a 'block'
          return 1
          ^~~~~~
        hint: a model names its results with 'output name = ...'
        """),
    Case(
      "stray text and '}' at the top level",
      source: """
        const x = 3
        model m {
        }
        }
        """,
      expected: """
        specs/x.locus:1:1: error: expected 'block' or 'model' at the top level of the file
        const x = 3
        ^~~~~
        hint: statements belong inside the body of a 'model' or a 'block'
        specs/x.locus:4:1: error: unexpected '}' with no matching '{'
        }
        ^
        hint: remove it, or add the missing '{'
        """),
    Case(
      "unclosed list and parenthesis",
      source: """
        model m {
          x = [1, 2
          y = 3
          z = (a + b
        }
        """,
      expected: """
        specs/x.locus:2:12: error: expected ']' to close the list
          x = [1, 2
                   ^
        hint: add ']' after the last element
        specs/x.locus:4:13: error: expected ')' to close the parenthesis
          z = (a + b
                    ^
        hint: add ')' after the expression
        """),
    Case(
      "double unary operator and bad escape",
      source: """
        model m {
          x = - -y
          z = "a\\tb"
        }
        """,
      expected: """
        specs/x.locus:2:9: error: expected an expression after '-'
          x = - -y
                ^
        hint: put the operand in parentheses, e.g. '-(-x)'
        specs/x.locus:3:9: error: unknown escape sequence '\\t' in a string
          z = "a\\tb"
                ^~
        hint: the escapes are \\", \\\\ and \\n
        """),
    Case(
      "block parameters not closed before the body",
      source: """
        block mlp(x, hidden {
          return x
        }
        """,
      expected: """
        specs/x.locus:1:20: error: expected ')' to close the parameters of block 'mlp'
        block mlp(x, hidden {
                           ^
        hint: add ')' after the last parameter
        """),
    Case(
      "tensor types",
      source: """
        model m {
          input x: f32[]
          input y: [3]
        }
        """,
      expected: """
        specs/x.locus:2:16: error: a tensor type needs at least one dimension
          input x: f32[]
                       ^
        hint: e.g. 'f32[192]'
        specs/x.locus:3:12: error: expected a tensor type such as 'f32[3, 224, 224]' after ':'
          input y: [3]
                   ^
        """),
    Case(
      "tab-indented line and '&'",
      source: """
        model m {
        \tx = f(a &b)
        }
        """,
      expected: """
        specs/x.locus:2:10: error: unknown character '&'
        \tx = f(a &b)
        \t        ^
        hint: did you mean '&&'?
        """),
    Case(
      "a model with parameters",
      source: """
        model m(x) {
          x = 1
        }
        """,
      expected: """
        specs/x.locus:1:8: error: expected '{' to start the body of model 'm'
        model m(x) {
               ^
        hint: a model takes no parameters: declare its inputs with 'input' inside the body
        """),
    Case(
      "scopes: two on one call, float segment, missing segment",
      source: """
        model m {
          x = f(a) @s @t
          y = f(x) @layers.1e5
          z = f(x) @a.
        }
        """,
      expected: """
        specs/x.locus:2:15: error: this call already has the scope '@s'
          x = f(a) @s @t
                      ^
        hint: join the segments into one path, e.g. '@a.b'
        specs/x.locus:3:20: error: '1e5' is not a valid scope segment
          y = f(x) @layers.1e5
                           ^~~
        hint: scope segments are names, integers or '{expr}'
        specs/x.locus:4:15: error: expected a name, an integer or '{expr}' after '.' in the scope
          z = f(x) @a.
                      ^
        hint: e.g. '@attn', '@blocks.{i}' or '@layers.0.norm1'
        """),
    Case(
      "repeat, if and else headers",
      source: """
        model m {
          repeat in 3 { }
          repeat { }
          if { }
          if a { } else x
        }
        """,
      expected: """
        specs/x.locus:2:10: error: expected a loop variable before 'in'
          repeat in 3 { }
                 ^~
        hint: write 'repeat i in n { ... }'
        specs/x.locus:3:10: error: expected a count after 'repeat'
          repeat { }
                 ^
        hint: write 'repeat n { ... }' or 'repeat i in n { ... }'
        specs/x.locus:4:6: error: expected a condition after 'if'
          if { }
             ^
        hint: write 'if condition { ... }'
        specs/x.locus:5:17: error: 'else' needs a body in braces or another 'if'
          if a { } else x
                        ^
        hint: write 'else { ... }' or 'else if condition { ... }'
        """),
    Case(
      "one error per statement, all statements checked",
      source: """
        model vit {
          const dim = 192,
          input pixels: f32[3, 224 224]
          x = conv2d(pixels, out: dim kernel: 16)
          x = x |>
          repeat i in 12 {
            x = x + attention(x, heads: 3 @attn
            x = x + mlp(x, hidden: 4 * dim) @mlp
          } @blocks.{i
          output logits = linear(x out: 1000)
        }
        """,
      expected: """
        specs/x.locus:2:19: error: expected a name after ',' in 'const'
          const dim = 192,
                          ^
        specs/x.locus:3:28: error: expected ',' or ']' after a dimension
          input pixels: f32[3, 224 224]
                                   ^~~
        specs/x.locus:4:31: error: expected ',' or ')' after an argument
          x = conv2d(pixels, out: dim kernel: 16)
                                      ^~~~~~
        specs/x.locus:5:11: error: expected a function after '|>'
          x = x |>
                  ^
        hint: e.g. 'x |> gelu' or 'x |> linear(out: 10)'
        specs/x.locus:7:35: error: a scope can only be attached to a call
            x = x + attention(x, heads: 3 @attn
                                          ^
        hint: if it belongs to the enclosing call, close the arguments with ')' before it
        specs/x.locus:9:15: error: expected '}' to close the '{' in the scope
          } @blocks.{i
                      ^
        hint: add '}' after the expression
        specs/x.locus:10:28: error: expected ',' or ')' after an argument
          output logits = linear(x out: 1000)
                                   ^~~
        """),
    Case(
      "argument label without a value, extra token, tuple in parentheses",
      source: """
        model m {
          y = f(x, out:)
          z = 1 2
          w = (a, b)
        }
        """,
      expected: """
        specs/x.locus:2:16: error: expected a value after 'out:'
          y = f(x, out:)
                       ^
        specs/x.locus:3:9: error: unexpected '2' at the end of the statement
          z = 1 2
                ^
        hint: each statement ends at a newline or ';'
        specs/x.locus:4:9: error: expected ')' after the expression
          w = (a, b)
                ^
        hint: parentheses hold one expression; a list is written '[a, b]'
        """),
  ]
}
