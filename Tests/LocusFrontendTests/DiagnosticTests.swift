import XCTest
import LocusSpec
@testable import LocusFrontend

/// Semantic errors: each malformed spec must produce exactly this text (location, source line,
/// caret, hint, notes). Syntax errors are covered by LocusSpecTests.
final class DiagnosticTests: XCTestCase {
  struct Case {
    var name: String
    var source: String
    var expected: String
    init(_ name: String, source: String, expected: String) {
      self.name = name
      self.source = source
      self.expected = expected
    }
  }

  static let cases: [Case] = [
    Case(
      "unknown block",
      source: #"""
      model m {
        input x: f32[3, 8, 8]
        output y = atention(x, heads: 2) @attn
      }
      """#,
      expected: #"""
      bad.locus:3:14: error: unknown block or primitive 'atention'
        output y = atention(x, heads: 2) @attn
                   ^~~~~~~~
      hint: did you mean 'attention'?
      """#),
    Case(
      "wrong argument name",
      source: #"""
      model m {
        input x: f32[3, 8, 8]
        output y = conv2d(x, out: 4, kernal: 3) @c
      }
      """#,
      expected: #"""
      bad.locus:3:32: error: 'conv2d' has no argument 'kernal'
        output y = conv2d(x, out: 4, kernal: 3) @c
                                     ^~~~~~~~~
      hint: its arguments are: x, out, kernel, stride, padding, groups, bias, weight
      """#),
    Case(
      "missing argument",
      source: #"""
      model m {
        input x: f32[3, 8, 8]
        output y = conv2d(x, kernel: 3) @c
      }
      """#,
      expected: #"""
      bad.locus:3:14: error: 'conv2d' is missing its argument 'out'
        output y = conv2d(x, kernel: 3) @c
                   ^~~~~~~~~~~~~~~~~~~~~~~
      hint: pass it as 'out: …'
      """#),
    Case(
      "shape mismatch in add",
      source: #"""
      model m {
        input x: f32[3, 8, 8]
        h = conv2d(x, out: 4, kernel: 3) @c
        output y = h + x
      }
      """#,
      expected: #"""
      bad.locus:4:14: error: shapes f32[B, 4, 6, 6] and f32[B, 3, 8, 8] do not broadcast
        output y = h + x
                   ^~~~~
      hint: axes are aligned from the right and must be equal or 1
      """#),
    Case(
      "seq2img on non-square tokens",
      source: #"""
      model m {
        input x: f32[10, 4]
        output y = seq2img(x)
      }
      """#,
      expected: #"""
      bad.locus:3:14: error: seq2img: 10 tokens do not form a square image
        output y = seq2img(x)
                   ^~~~~~~~~~
      hint: pass the height with 'h:', or split off the class token first
      """#),
    Case(
      "inexact division",
      source: #"""
      model m {
        const dim = 30, heads = 4
        input x: f32[3, 8, 8]
        output y = conv2d(x, out: dim / heads, kernel: 1) @c
      }
      """#,
      expected: #"""
      bad.locus:4:29: error: 30 / 4 is not a whole number
        output y = conv2d(x, out: dim / heads, kernel: 1) @c
                                  ^~~~~~~~~~~
      hint: integer division must be exact, since sizes derive from it; check the constants (or use % for a remainder)
      """#),
    Case(
      "output defined twice",
      source: #"""
      model m {
        input x: f32[3, 8, 8]
        output y = relu(x)
        output y = relu(x)
      }
      """#,
      expected: #"""
      bad.locus:4:10: error: output 'y' is defined twice
        output y = relu(x)
               ^
      """#),
    Case(
      "error inside a block names the call",
      source: #"""
      block proj(x) {
        return linear(x, out: 8, bias: 1) @fc
      }
      model m {
        input x: f32[4, 16]
        output y = proj(x) @p
      }
      """#,
      expected: #"""
      bad.locus:2:28: error: argument 'bias' of 'linear' must be true or false, got an integer
        return linear(x, out: 8, bias: 1) @fc
                                 ^~~~~~~
      bad.locus:6:14: note: in block 'proj', called here
        output y = proj(x) @p
                   ^~~~~~~~~~
      """#),
    Case(
      "shared parameter with another shape",
      source: #"""
      model m {
        input x: f32[4, 16]
        a = layernorm(x) @norm
        b = layernorm(linear(x, out: 8) @fc) @norm
        output y = b
      }
      """#,
      expected: #"""
      bad.locus:4:7: error: parameter 'norm.weight' already exists with shape [16]; here it would need [8]
        b = layernorm(linear(x, out: 8) @fc) @norm
            ^~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~
      hint: parameters are identified by their scoped name: give this one another scope with '@name'
      """#),
    Case(
      "no output",
      source: #"""
      model m {
        input x: f32[4, 16]
        h = relu(x)
      }
      """#,
      expected: #"""
      bad.locus:1:7: error: model 'm' has no output
      model m {
            ^
      hint: add 'output logits = …'
      """#),
    Case(
      "wrong tuple arity",
      source: #"""
      model m {
        input x: f32[4, 16]
        a, b, c = split(x, parts: 2, axis: -1)
        output y = a
      }
      """#,
      expected: #"""
      bad.locus:3:13: error: 3 names on the left, but the right side gives 2 values
        a, b, c = split(x, parts: 2, axis: -1)
                  ^~~~~~~~~~~~~~~~~~~~~~~~~~~~
      """#),
    Case(
      "output independent of inputs",
      source: #"""
      model m {
        input x: f32[4, 16]
        param p: f32[4, 16]
        output y = relu(p)
      }
      """#,
      expected: #"""
      bad.locus:4:14: error: output 'y' does not depend on any input
        output y = relu(p)
                   ^~~~~~~
      """#),
    Case(
      "return in a model",
      source: #"""
      model m {
        input x: f32[4, 16]
        return x
      }
      """#,
      expected: #"""
      bad.locus:3:3: error: 'return' can only be used inside a 'block'
        return x
        ^~~~~~
      hint: a model names its results with 'output name = ...'
      """#),
    Case(
      "non-constant condition",
      source: #"""
      model m {
        input x: f32[4, 16]
        if x { y = x }
        output y = x
      }
      """#,
      expected: #"""
      bad.locus:3:6: error: a condition must be true or false, known when compiling; got a tensor
        if x { y = x }
           ^
      """#),
    Case(
      "two independent errors reported together",
      source: #"""
      model m {
        input x: f32[4, 16]
        a = lineer(x, out: 3) @a
        b = relu(x, slope: 2)
        output y = x + 1
      }
      """#,
      expected: #"""
      bad.locus:3:7: error: unknown block or primitive 'lineer'
        a = lineer(x, out: 3) @a
            ^~~~~~
      hint: did you mean 'linear'?
      bad.locus:4:15: error: 'relu' has no argument 'slope'
        b = relu(x, slope: 2)
                    ^~~~~~~~
      hint: its arguments are: x
      """#),
    Case(
      "missing block argument",
      source: #"""
      block gate(x, hidden) {
        return x
      }
      model m {
        input x: f32[4, 16]
        output y = gate(x)
      }
      """#,
      expected: #"""
      bad.locus:6:14: error: block 'gate' is missing its argument 'hidden'
        output y = gate(x)
                   ^~~~~~~
      hint: pass it as 'hidden: …'
      """#),
    Case(
      "index out of range",
      source: #"""
      model m {
        const shifts = [[1, 0]]
        input x: f32[3, 8, 8]
        output y = roll(x, dy: shifts[1][0])
      }
      """#,
      expected: #"""
      bad.locus:4:26: error: index 1 is outside a list of 1 element
        output y = roll(x, dy: shifts[1][0])
                               ^~~~~~~~~
      """#),
  ]

  func testEachMalformedSpecGetsItsExactDiagnostics() {
    for c in Self.cases {
      do {
        _ = try Frontend.compile(SourceFile(name: "bad.locus", text: c.source))
        XCTFail("\(c.name): compiled, but should have failed with:\n\(c.expected)")
      } catch {
        XCTAssertEqual("\(error)", c.expected, "\(c.name)")
      }
    }
  }

  func testUnknownOverrideNamesTheConstantsThereAre() throws {
    let source = SourceFile(name: "m.locus", text: "model m {\n  const dim = 4, depth = 2\n  input x: f32[dim]\n  output y = relu(x)\n}\n")
    XCTAssertThrowsError(try Frontend.compile(source, overrides: [("dpth", "3")])) { error in
      XCTAssertEqual("\(error)", """
        m.locus:1:7: error: --set dpth: model 'm' has no constant 'dpth'
        model m {
              ^
        hint: did you mean 'depth'?
        """)
    }
    let graph = try Frontend.compile(source, overrides: [("dim", "6")]).graph
    XCTAssertEqual(graph.inputs.first?.type.shape, [6])
  }
}
