import LocusIR

/// Emission of the ops that only move elements (layout.c). Results are bit-exact copies.
extension KernelTable {
  /// `lk_transpose` over the full shape: the batch axis stays first.
  static func emitTranspose(_ k: inout KernelContext) throws(CodegenError) {
    guard case .transpose(let perm) = k.node.op else { return }
    let x = k.operand(0)
    var shape = x.shape.map(String.init), axes = perm
    if x.batched, k.batch() == "B" {
      shape.insert("B", at: 0)
      axes = [0] + perm.map { $0 + 1 }
    }
    guard shape.count <= 6 else { throw k.unsupported("rank \(shape.count) with the batch; the kernel takes at most 6") }
    if shape.isEmpty { (shape, axes) = (["1"], [0]) }
    k.call("lk_transpose", ["\(shape.count)", KernelContext.longs(shape), KernelContext.ints(axes), try k.arg(0), try k.out()],
           from: "layout.c")
  }

  /// One block copy per operand. With x seen as [outer, chunk] (chunk: its axes from the concat
  /// axis on) and y as [outer, total chunk], operand i lands at column offset Σ earlier chunks.
  /// `stack` is the same with each operand a chunk of one along the new axis. An unbatched operand
  /// of a batched result (a class token) is repeated over the batch with a stride-0 copy. Operands
  /// the memory plan computed straight into their rows (`MemoryPlan.inPlaceOperands`) are not copied.
  static func emitConcat(_ k: inout KernelContext) throws(CodegenError) {
    let y = k.result
    let stacking: Bool, axis: Int
    switch k.node.op {
    case .concat(let a): (stacking, axis) = (false, a)
    case .stack(let a): (stacking, axis) = (true, a)
    default: return
    }
    guard let a = normalizeAxis(axis, rank: y.rank) else { throw k.unsupported("axis \(axis) out of range") }
    let outer = y.shape[..<a].reduce(1, *), total = y.shape[a...].reduce(1, *)
    var column = 0
    let inPlace = k.plan.inPlaceOperands[k.node.id] ?? []
    for i in k.node.operands.indices {
      let x = k.operand(i)
      let shape = squeezedForBatch(x, toRank: stacking ? y.rank - 1 : y.rank)
      let chunk = shape[a...].reduce(1, *)
      if inPlace.contains(i) {
        column += chunk
        continue
      }
      let target = KernelContext.offset(try k.out(), column)
      if x.batched || !y.batched {
        let rows = k.count([outer], batched: x.batched)
        k.call("lk_copy_rows", [rows, "\(chunk)", try k.arg(i), "\(chunk)", target, "\(total)"], from: "layout.c")
      } else {
        let shape3 = KernelContext.longs([k.batch(), "\(outer)", "\(chunk)"])
        k.call("lk_copy_strided", ["3", shape3, try k.arg(i), KernelContext.longs([0, chunk, 1]), target,
                                   KernelContext.longs([y.count, total, 1])], from: "layout.c")
      }
      column += chunk
    }
  }

  /// slice and index: rows of the axes before `axis`, each copying a run from `start`.
  static func emitSlice(_ k: inout KernelContext) throws(CodegenError) {
    let x = k.operand(0)
    let axis: Int, start: Int, length: Int
    switch k.node.op {
    case .slice(let a, let s, let l): (axis, start, length) = (a, s, l)
    case .index(let a, let at): (axis, start, length) = (a, at, 1)
    default: return
    }
    guard let a = normalizeAxis(axis, rank: x.rank) else { throw k.unsupported("axis \(axis) out of range") }
    let (outer, extent, inner) = split(x.shape, at: a)
    let rows = k.count([outer], batched: x.batched)
    let source = KernelContext.offset(try k.arg(0), start * inner)
    k.call("lk_copy_rows", [rows, "\(length * inner)", source, "\(extent * inner)", try k.out(), "\(length * inner)"],
           from: "layout.c")
  }

  /// tokens [N, C] → image [C, h, N/h].
  static func emitSeq2Img(_ k: inout KernelContext) throws(CodegenError) {
    let x = k.operand(0).shape
    k.call("lk_seq2img", [k.batch(), "\(x[0])", "\(x[1])", try k.arg(0), try k.out()], from: "layout.c")
  }

  /// image [C, Hh, Ww] → tokens [Hh·Ww, C].
  static func emitImg2Seq(_ k: inout KernelContext) throws(CodegenError) {
    let x = k.operand(0).shape
    k.call("lk_img2seq", [k.batch(), "\(x[0])", "\(x[1] * x[2])", try k.arg(0), try k.out()], from: "layout.c")
  }

  /// Patch rows of an image: [C, Hh, Ww] → [Ho·Wo, C·kh·kw].
  static func emitIm2Col(_ k: inout KernelContext) throws(CodegenError) {
    guard case .im2col(let kernel, let stride, let padding) = k.node.op else { return }
    let x = k.operand(0).shape
    let geometry = [x[0], x[1], x[2], kernel[0], kernel[1], stride[0], stride[1], padding[0], padding[1]].map { "\($0)" }
    k.call("lk_im2col", [k.batch()] + geometry + [try k.arg(0), try k.out()], from: "layout.c")
  }

  /// Every (sample, channel) plane rolls independently.
  static func emitRoll(_ k: inout KernelContext) throws(CodegenError) {
    guard case .roll(let dy, let dx) = k.node.op else { return }
    let x = k.operand(0).shape
    let planes = k.count([x[0]], batched: k.result.batched)
    k.call("lk_roll", [planes, "\(x[1])", "\(x[2])", "\(dy)", "\(dx)", try k.arg(0), try k.out()], from: "layout.c")
  }

  static func emitCircularPad(_ k: inout KernelContext) throws(CodegenError) {
    guard case .circularPad(let left, let right, let top, let bottom) = k.node.op else { return }
    let x = k.operand(0).shape
    let planes = k.count([x[0]], batched: k.result.batched)
    let args = [planes, "\(x[1])", "\(x[2])", "\(top)", "\(bottom)", "\(left)", "\(right)", try k.arg(0), try k.out()]
    k.call("lk_circular_pad", args, from: "layout.c")
  }
}
