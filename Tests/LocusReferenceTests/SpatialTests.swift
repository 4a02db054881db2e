import LocusIR
import LocusReference
import XCTest

final class SpatialTests: XCTestCase {
  // One sample of one channel: [[1, 2, 3], [4, 5, 6], [7, 8, 9]].
  let image = Tensor([1, 1, 3, 3], [1, 2, 3, 4, 5, 6, 7, 8, 9])
  // One sample of one channel: [[0, 1, 2], [3, 4, 5]].
  let small = Tensor([1, 1, 2, 3], [0, 1, 2, 3, 4, 5])

  func conv(_ out: Int, kernel: [Int], stride: [Int] = [1, 1], padding: [Int] = [0, 0], groups: Int = 1, bias: Bool) -> Op {
    .conv2d(Conv2dAttrs(outChannels: out, kernel: kernel, stride: stride, padding: padding, groups: groups, hasBias: bias))
  }

  /// Cross-correlation (no kernel flip), as `nn.Conv2d`: the weight at (ky, kx) meets x[i+ky, j+kx].
  func testConvIsCrossCorrelation() throws {
    let w = Tensor([1, 1, 2, 2], [1, 10, 100, 1000])
    let y = try apply(conv(1, kernel: [2, 2], bias: true), .batched(image), .unbatched(w), .unbatched(Tensor([1], [0.5])))
    assertClose(y, Tensor([1, 1, 2, 2], [5421.5, 6532.5, 8754.5, 9865.5]), .exact, "2×2 conv")
  }

  /// A 3×3 box filter with zero padding 1, then the same with stride 2 (every other output).
  func testConvZeroPaddingAndStride() throws {
    let ones = Tensor(shape: [1, 1, 3, 3], repeating: 1)
    let y = try apply(conv(1, kernel: [3, 3], padding: [1, 1], bias: false), .batched(image), .unbatched(ones))
    assertClose(y, Tensor([1, 1, 3, 3], [12, 21, 16, 27, 45, 33, 24, 39, 28]), .exact, "padded box filter")
    let strided = try apply(conv(1, kernel: [3, 3], stride: [2, 2], padding: [1, 1], bias: false), .batched(image), .unbatched(ones))
    assertClose(strided, Tensor([1, 1, 2, 2], [12, 16, 24, 28]), .exact, "strided box filter")
  }

  /// Groups 2 over 4 input channels: output 0 reads inputs 0–1, output 1 reads inputs 2–3.
  func testConvGroupsByHand() throws {
    let x = Tensor([1, 4, 1, 1], [1, 2, 3, 4])
    let w = Tensor([2, 2, 1, 1], [1, 10, 100, 1000])
    let y = try apply(conv(2, kernel: [1, 1], groups: 2, bias: false), .batched(x), .unbatched(w))
    assertClose(y, Tensor([1, 2, 1, 1], [21, 4300]), .exact, "grouped 1×1 conv")
  }

  /// A grouped conv equals the concatenation of ungrouped convs, one per group (rectangular kernel,
  /// per-axis stride and padding, batch 2).
  func testGroupedConvEqualsConvPerGroup() throws {
    var rng = Seeded(7)
    let x = rng.tensor([2, 4, 5, 6]), w = rng.tensor([6, 2, 3, 2]), b = rng.tensor([6])
    let grouped = conv(6, kernel: [3, 2], stride: [2, 1], padding: [1, 0], groups: 2, bias: true)
    let y = try apply(grouped, .batched(x), .unbatched(w), .unbatched(b))
    var parts: [Tensor] = []
    for g in 0..<2 {
      let xg = try apply(.slice(axis: 0, start: 2 * g, length: 2), .batched(x))
      let wg = try apply(.slice(axis: 0, start: 3 * g, length: 3), .unbatched(w))
      let bg = try apply(.slice(axis: 0, start: 3 * g, length: 3), .unbatched(b))
      let single = conv(3, kernel: [3, 2], stride: [2, 1], padding: [1, 0], bias: true)
      parts.append(try apply(single, .batched(xg), .unbatched(wg), .unbatched(bg)))
    }
    let expected = try apply(.concat(axis: 0), .batched(parts[0]), .batched(parts[1]))
    // Same products summed in the same order: identical.
    assertClose(y, expected, .exact, "grouped conv vs per-group convs")
  }

  /// Padding is −inf: with all-negative inputs a zero pad would win every window.
  func testMaxpoolPaddingNeverWins() throws {
    let negative = Tensor(shape: image.shape) { -image.data[$0] }
    let y = try apply(.maxpool(kernel: [3, 3], stride: [2, 2], padding: [1, 1]), .batched(negative))
    assertClose(y, Tensor([1, 1, 2, 2], [-1, -2, -4, -5]), .exact, "maxpool 3/2/1")
    let plain = try apply(.maxpool(kernel: [2, 2], stride: [1, 1], padding: [0, 0]), .batched(image))
    assertClose(plain, Tensor([1, 1, 2, 2], [5, 6, 8, 9]), .exact, "maxpool 2/1/0")
  }

  /// `torch.roll(torch.arange(4), 1)` is [3, 0, 1, 2]: elements move towards higher indices.
  func testRollDirectionMatchesTorchRoll() throws {
    let line = try apply(.roll(dy: 0, dx: 1), .batched(Tensor([1, 1, 1, 4], [0, 1, 2, 3])))
    XCTAssertEqual(line.data, [3, 0, 1, 2])
    let column = try apply(.roll(dy: 1, dx: 0), .batched(Tensor([1, 1, 3, 1], [0, 1, 2])))
    XCTAssertEqual(column.data, [2, 0, 1])
    XCTAssertEqual(try apply(.roll(dy: -1, dx: 0), .batched(Tensor([1, 1, 3, 1], [0, 1, 2]))).data, [1, 2, 0])
    // torch.roll(x, (1, 1), (1, 2)) of [[0, 1, 2], [3, 4, 5]]: rows swap, then columns shift right.
    XCTAssertEqual(try apply(.roll(dy: 1, dx: 1), .batched(small)).data, [5, 3, 4, 2, 0, 1])
    XCTAssertEqual(try apply(.roll(dy: 0, dx: -1), .batched(small)).data, [1, 2, 0, 4, 5, 3])
    XCTAssertEqual(try apply(.roll(dy: -3, dx: 3), .batched(small)).data, [3, 4, 5, 0, 1, 2])
  }

  /// `F.pad(x, (l, r, t, b), mode='circular')` with one side at a time.
  func testCircularPadOneSided() throws {
    func pad(_ l: Int, _ r: Int, _ t: Int, _ b: Int) throws -> Tensor {
      try apply(.circularPad(left: l, right: r, top: t, bottom: b), .batched(small))
    }
    XCTAssertEqual(try pad(1, 0, 0, 0), Tensor([1, 1, 2, 4], [2, 0, 1, 2, 5, 3, 4, 5]))
    XCTAssertEqual(try pad(0, 2, 0, 0), Tensor([1, 1, 2, 5], [0, 1, 2, 0, 1, 3, 4, 5, 3, 4]))
    XCTAssertEqual(try pad(0, 0, 1, 0), Tensor([1, 1, 3, 3], [3, 4, 5, 0, 1, 2, 3, 4, 5]))
    XCTAssertEqual(try pad(0, 0, 0, 2), Tensor([1, 1, 4, 3], [0, 1, 2, 3, 4, 5, 0, 1, 2, 3, 4, 5]))
    XCTAssertEqual(try pad(3, 0, 2, 0), Tensor([1, 1, 4, 6], [
      0, 1, 2, 0, 1, 2, 3, 4, 5, 3, 4, 5, 0, 1, 2, 0, 1, 2, 3, 4, 5, 3, 4, 5,
    ]))
  }

  /// Locally-SAG's ImageNet variants: a one-sided left/top pad by k, cropped back to the original
  /// size at the top-left, is a roll by k (shift right/down with wrap).
  func testCircularPadThenCropIsRoll() throws {
    var rng = Seeded(3)
    let x = rng.tensor([2, 3, 4, 5])
    let padded = try apply(.circularPad(left: 2, right: 0, top: 1, bottom: 0), .batched(x))
    let rows = try apply(.slice(axis: 1, start: 0, length: 4), .batched(padded))
    let cropped = try apply(.slice(axis: 2, start: 0, length: 5), .batched(rows))
    assertClose(cropped, try apply(.roll(dy: 1, dx: 2), .batched(x)), .exact, "pad + crop vs roll")
  }

  /// Token n = (row n / w, column n % w): tokens [n, 10 + n] become two channels of a 2×3 image.
  func testSeq2ImgAndImg2SeqByHand() throws {
    let tokens = Tensor([1, 6, 2], [0, 10, 1, 11, 2, 12, 3, 13, 4, 14, 5, 15])
    let image = try apply(.seq2img(height: 2), .batched(tokens))
    XCTAssertEqual(image, Tensor([1, 2, 2, 3], [0, 1, 2, 3, 4, 5, 10, 11, 12, 13, 14, 15]))
    XCTAssertEqual(try apply(.img2seq, .batched(image)), tokens)
  }

  /// seq2img is `x.transpose(-1, -2).reshape(C, H, W)`; img2seq inverts it.
  func testSeq2ImgMatchesTransposeReshapeAndRoundTrips() throws {
    var rng = Seeded(11)
    let tokens = rng.tensor([3, 12, 5])
    let image = try apply(.seq2img(height: 3), .batched(tokens))
    let transposed = try apply(.transpose([1, 0]), .batched(tokens))
    XCTAssertEqual(image, try apply(.reshape([5, 3, 4]), .batched(transposed)))
    XCTAssertEqual(try apply(.img2seq, .batched(image)), tokens)
    let other = rng.tensor([3, 5, 2, 6])
    XCTAssertEqual(try apply(.seq2img(height: 2), .batched(try apply(.img2seq, .batched(other)))), other)
  }
}
