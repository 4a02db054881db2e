import LocusIR
import LocusReference
import XCTest

final class LayoutTests: XCTestCase {
  /// An unbatched `cls_token [1, 1, C]` drops a leading 1 and is prepended to every sample's tokens.
  func testConcatBroadcastsUnbatchedClassToken() throws {
    let tokens = Tensor([2, 2, 3], [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12])
    let cls = Tensor([1, 1, 3], [-1, -2, -3])
    let y = try apply(.concat(axis: 0), .unbatched(cls), .batched(tokens))
    XCTAssertEqual(y, Tensor([2, 3, 3], [-1, -2, -3, 1, 2, 3, 4, 5, 6, -1, -2, -3, 7, 8, 9, 10, 11, 12]))
  }

  func testConcatOnLastAxisOfThreeParts() throws {
    let a = Tensor([1, 2, 1], [1, 2]), b = Tensor([1, 2, 2], [3, 4, 5, 6]), c = Tensor([1, 2, 1], [7, 8])
    let y = try apply(.concat(axis: -1), .batched(a), .batched(b), .batched(c))
    XCTAssertEqual(y, Tensor([1, 2, 4], [1, 3, 4, 7, 2, 5, 6, 8]))
  }

  func testStackAddsAnAxis() throws {
    let a = Tensor([2, 2], [1, 2, 3, 4]), b = Tensor([2, 2], [5, 6, 7, 8])
    XCTAssertEqual(try apply(.stack(axis: 0), .batched(a), .batched(b)), Tensor([2, 2, 2], [1, 2, 5, 6, 3, 4, 7, 8]))
    XCTAssertEqual(try apply(.stack(axis: -1), .batched(a), .batched(b)), Tensor([2, 2, 2], [1, 5, 2, 6, 3, 7, 4, 8]))
    // An unbatched [1, 2] operand meets per-sample [2] values as [2].
    let p = Tensor([1, 2], [9, 9])
    XCTAssertEqual(try apply(.stack(axis: 0), .batched(a), .unbatched(p)), Tensor([2, 2, 2], [1, 2, 9, 9, 3, 4, 9, 9]))
  }

  func testSliceAndIndex() throws {
    let x = Tensor([1, 2, 4], [0, 1, 2, 3, 4, 5, 6, 7])
    XCTAssertEqual(try apply(.slice(axis: 1, start: 1, length: 2), .batched(x)), Tensor([1, 2, 2], [1, 2, 5, 6]))
    XCTAssertEqual(try apply(.slice(axis: 0, start: 1, length: 1), .batched(x)), Tensor([1, 1, 4], [4, 5, 6, 7]))
    XCTAssertEqual(try apply(.index(axis: -1, at: 3), .batched(x)), Tensor([1, 2], [3, 7]))
    XCTAssertEqual(try apply(.index(axis: 0, at: 0), .batched(x)), Tensor([1, 4], [0, 1, 2, 3]))
  }

  /// Result axis k is the input's axis perm[k]: y[b, k, i, j] = x[b, i, j, k].
  func testTransposeAndReshape() throws {
    var rng = Seeded(5)
    let x = rng.tensor([2, 2, 3, 4])
    let y = try apply(.transpose([2, 0, 1]), .batched(x))
    XCTAssertEqual(y.shape, [2, 4, 2, 3])
    for b in 0..<2 { for i in 0..<2 { for j in 0..<3 { for k in 0..<4 { XCTAssertEqual(y[b, k, i, j], x[b, i, j, k]) } } } }
    let r = try apply(.reshape([6, 4]), .batched(x))
    XCTAssertEqual(r, Tensor(shape: [2, 6, 4], data: x.data))
  }
}
