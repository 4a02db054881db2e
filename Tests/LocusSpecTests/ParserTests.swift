// Whole files and statements: the sample of DESIGN.md, then each statement form.
import XCTest

@testable import LocusSpec

final class ParserTests: XCTestCase {
  /// DESIGN.md section 1, with its `...` filled in.
  static let sample = """
    block mlp(x, hidden, out = 0, act = gelu) {          # x: [N, C]
      o = out == 0 ? channels(x) : out
      h = act(linear(x, out: hidden) @fc1)
      return linear(h, out: o) @fc2
    }

    model deit_tiny {
      const dim = 192, depth = 12, heads = 3, image = 224, patch = 16, classes = 1000
      input pixels: f32[3, image, image]
      init linear: trunc_normal(std: 0.02), param: trunc_normal(std: 0.02)
      param cls_token: f32[1, 1, dim]
      x = conv2d(pixels, out: dim, kernel: patch, stride: patch) @patch_embed.proj |> img2seq
      x = concat_cls(cls_token |> index(axis: 0, at: 0), x)
      repeat i in depth {
        x = x + attention(layernorm(x, eps: 1e-6) @norm1, heads: heads) @attn
        x = x + mlp(layernorm(x, eps: 1e-6) @norm2, hidden: 4 * dim) @mlp
      } @blocks.{i}
      output logits = linear(index(layernorm(x) @norm, axis: 0, at: 0), out: classes) @head
    }
    """

  func testDesignSample() {
    let file = Spec.parseClean(Self.sample)
    XCTAssertEqual(file.blocks.map(\.name.name), ["mlp"])
    XCTAssertEqual(file.models.map(\.name.name), ["deit_tiny"])
    let block = file.blocks[0]
    XCTAssertEqual(
      block.description,
      "(block mlp (x hidden out=0 act=gelu) {"
        + "(= o (? (== out 0) (channels x) out)) "
        + "(= h (act (linear x out:hidden @fc1))) "
        + "(return (linear h out:o @fc2))})")
    XCTAssertEqual(
      file.models[0].body.statements.map(\.description),
      [
        "(const (dim 192) (depth 12) (heads 3) (image 224) (patch 16) (classes 1000))",
        "(input pixels f32[3 image image])",
        "(init (linear (trunc_normal std:0.02)) (param (trunc_normal std:0.02)))",
        "(param cls_token f32[1 1 dim])",
        "(= x (img2seq (conv2d pixels out:dim kernel:patch stride:patch @patch_embed.proj)))",
        "(= x (concat_cls (index cls_token axis:0 at:0) x))",
        "(repeat i in depth {"
          + "(= x (+ x (attention (layernorm x eps:1e-06 @norm1) heads:heads @attn))) "
          + "(= x (+ x (mlp (layernorm x eps:1e-06 @norm2) hidden:(* 4 dim) @mlp)))"
          + "} @blocks.{i})",
        "(output logits (linear (index (layernorm x @norm) axis:0 at:0) out:classes @head))",
      ])
  }

  func testRangesPointAtTheSource() {
    let file = Spec.parseClean(Self.sample)
    let model = file.models[0]
    XCTAssertEqual(model.range.line, 7)
    XCTAssertEqual(model.range.end.line, 19)
    let repeatLoop = model.body.statements[6]
    XCTAssertEqual(repeatLoop.range.text.prefix(18), "repeat i in depth ")
    XCTAssertTrue(repeatLoop.range.text.hasSuffix("} @blocks.{i}"))
    guard case .repeatLoop(let loop) = repeatLoop.kind, let scope = loop.scope else {
      return XCTFail("expected a repeat with a scope")
    }
    XCTAssertEqual(scope.range.text, "@blocks.{i}")
    XCTAssertEqual(scope.segments.map(\.range.text), ["blocks", "{i}"])
    guard case .assignment(_, let value) = model.body.statements[4].kind else {
      return XCTFail("expected an assignment")
    }
    // The desugared pipe spans its source and its target.
    XCTAssertEqual(
      value.range.text,
      "conv2d(pixels, out: dim, kernel: patch, stride: patch) @patch_embed.proj |> img2seq")
    XCTAssertEqual(
      file.blocks[0].parameters.map(\.range.text), ["x", "hidden", "out = 0", "act = gelu"])
  }

  func testConstantsInputsAndParameters() {
    XCTAssertEqual(
      Spec.statements(
        """
        const a = 1
        const b = 2, c = [1, 2, 3], d = "name", e = true, f = false, g = 0.5
        input x: f32[3, h * 2, w]
        param gamma: f32[dim]
        param pos_embed: f32[1, tokens + 1, dim] = trunc_normal(std: 0.02)
        param bias: f32[dim] = zeros()
        """),
      [
        "(const (a 1))",
        #"(const (b 2) (c [1 2 3]) (d "name") (e true) (f false) (g 0.5))"#,
        "(input x f32[3 (* h 2) w])",
        "(param gamma f32[dim])",
        "(param pos_embed f32[1 (+ tokens 1) dim] (trunc_normal std:0.02))",
        "(param bias f32[dim] (zeros))",
      ])
  }

  func testInitStatement() {
    XCTAssertEqual(
      Spec.statements(
        "init linear: trunc_normal(std: 0.02), conv2d: kaiming_uniform(),\n  param: zeros()"),
      ["(init (linear (trunc_normal std:0.02)) (conv2d (kaiming_uniform)) (param (zeros)))"])
  }

  func testAssignmentsAndTuples() {
    XCTAssertEqual(
      Spec.statements("x = 1; y = x\nq, k, v = split(x, parts: 3)\ncls, p = split_cls(x)"),
      ["(= x 1)", "(= y x)", "(= (q k v) (split x parts:3))", "(= (cls p) (split_cls x))"])
  }

  func testRepeatForms() {
    XCTAssertEqual(
      Spec.statements(
        """
        repeat 3 { x = gelu(x) }
        repeat i in depth / 2 {
          x = stage_block(x) @b
        } @stage.{i + 1}.blocks
        repeat j in n {
        }
        """),
      [
        "(repeat 3 {(= x (gelu x))})",
        "(repeat i in (/ depth 2) {(= x (stage_block x @b))} @stage.{(+ i 1)}.blocks)",
        "(repeat j in n {})",
      ])
  }

  func testIfElseIfElse() {
    XCTAssertEqual(
      Spec.statements(
        """
        if se > 0 {
          h = se(h) @se
        } else if kind == "relu" {
          h = relu(h)
        } else if !fast && deep {
          h = h
        } else {
          h = gelu(h)
        }
        if debug { y = 1 }
        """),
      [
        "(if (> se 0) {(= h (se h @se))} elif (== kind \"relu\") {(= h (relu h))} "
          + "elif (&& (! fast) deep) {(= h h)} else {(= h (gelu h))})",
        "(if debug {(= y 1)})",
      ])
  }

  func testReturnAndOutput() {
    let file = Spec.parseClean(
      "block pair(x) { return x, gelu(x) }\nmodel m {\n  output y = pair(1)\n}\n")
    XCTAssertEqual(
      file.description, "(block pair (x) {(return x (gelu x))})\n(model m {(output y (pair 1))})")
  }

  func testEmptyFileAndEmptyBodies() {
    XCTAssertEqual(Spec.parseClean("").declarations.count, 0)
    XCTAssertEqual(Spec.parseClean("# only a comment\n\n").declarations.count, 0)
    XCTAssertEqual(
      Spec.parseClean("block id(x) {\n}\nmodel m {}\n").description,
      "(block id (x) {})\n(model m {})")
  }

  func testLineBreaksInsideBracketsAreIgnored() {
    XCTAssertEqual(
      Spec.statements(
        """
        x = conv2d(
          pixels,        # the image
          out: 64,
          kernel: [3,
                   3]
        ) @stem
        """),
      ["(= x (conv2d pixels out:64 kernel:[3 3] @stem))"])
  }

  func testRecoveryKeepsTheGoodStatementsAndDeclarations() {
    let text = """
      block broken(x, {
        return x
      }
      model m {
        a = 1
        b = (2 + 1
        c = 3; d = = 4; e = 5
        repeat 2 {
          f = g(
        }
        h = 6
      }
      """
    let (file, diagnostics) = Parser.parse(Spec.source(text))
    XCTAssertEqual(diagnostics.count, 4)
    XCTAssertEqual(file.description, "(model m {(= a 1) (= c 3) (= e 5) (repeat 2 {}) (= h 6)})")
  }

  func testParseOrThrow() {
    XCTAssertNoThrow(try Parser.parseOrThrow(Spec.source("model m {}")))
    XCTAssertThrowsError(try Parser.parseOrThrow(Spec.source("model m { x = }"))) { error in
      XCTAssertEqual((error as? SpecError)?.diagnostics.count, 1)
      XCTAssertEqual(
        "\(error)",
        "x.locus:1:15: error: expected an expression after '='\nmodel m { x = }\n              ^")
    }
  }
}
