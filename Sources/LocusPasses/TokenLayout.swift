import LocusIR

/// `token-layout` (flag `leff`): tokens [N, C] already are a channels-last image of height × width,
/// so the image region after a `seq2img` (LocalViT's locality feed-forward, CeiT's LeFF) is
/// computed on the tokens themselves, and no transpose runs:
///
/// | image op (on [C, Hh, Ww]) | token op (on [Hh·Ww, C]) |
/// |---|---|
/// | `conv2d` 1×1, stride 1, no padding, groups 1 | `fused_linear(x, reshape(W, [Co, Ci]), b?)` |
/// | depth-wise `conv2d` (groups = Ci = Co) | `token_dwconv` (height, width, kernel, stride, padding) |
/// | `batchnorm` | `x · s + t`, s and t [C] from the parameters (`batchNormAffine`) |
/// | unary, scalar | the same op |
/// | `gap` | `mean(axis 0)` |
/// | image ⊕ image, image ⊕ [C, 1, 1] | token ⊕ token, token ⊕ [C] (broadcast on the last axis) |
/// | `img2seq` | the tokens themselves |
///
/// Any other reader of such an image (a general convolution, a pooling, an output) reads a
/// `seq2img` of the tokens, made once, where first needed.
///
/// In a train-mode forward (`training`, before differentiation, DESIGN.md §7) the 1×1 convolution
/// becomes a plain `linear` (the epilogues pass fuses it later, where the backward pass allows),
/// and BatchNorm, already lowered to `batch_normalize` with its `batch_moments`, keeps those ops
/// with the channels last.
@Sendable func convertToTokenLayout(_ g: Graph, _ notes: inout [FusionNote]) throws -> Graph {
  try convertToTokenLayout(g, &notes, training: false)
}

func convertToTokenLayout(_ g: Graph, _ notes: inout [FusionNote], training: Bool) throws -> Graph {
  guard g.nodes.contains(where: { if case .seq2img = $0.op { true } else { false } }) else { return g }
  var r = Rewriter(g)
  var tokens: [ValueID: TokenImage] = [:]  // old image value → the same image as new tokens
  func note(_ node: Node, _ what: String) { notes.append(FusionNote(pass: "token-layout", scope: node.scope, what: what)) }

  for node in g.nodes {
    if let image = try tokenImage(of: node, g, &r, tokens, training: training) {
      tokens[node.id] = image
      if let what = image.note { note(node, what) }
      continue
    }
    let x = node.operands.first.flatMap { tokens[$0] }
    switch node.op {
    case .gap where x != nil:
      try r.replace(node, by: r.add(.mean(axis: 0), [x!.value], like: node))
      note(node, "gap → mean over the tokens")
    case .training(.batchMoments(channelsLast: false)) where x != nil:
      try r.replace(node, by: r.add(.training(.batchMoments(channelsLast: true)), [x!.value], like: node))
    case .img2seq where x != nil:
      try r.replace(node, by: x!.value)
      note(node, "img2seq removed: the tokens are the image")
    default:
      for v in node.operands where r.map[v] == nil {  // an image read as an image: materialise it once
        r.map[v] = try r.add(.seq2img(height: tokens[v]!.height), [tokens[v]!.value], like: g[v])
      }
      r.copy(node)
    }
  }
  for (_, v) in g.outputs where r.map[v] == nil {
    r.map[v] = try r.add(.seq2img(height: tokens[v]!.height), [tokens[v]!.value], like: g[v])
  }
  return eliminateDeadCode(r.finish())
}

/// An image [C, height, width] held as tokens [height·width, C] (a new value).
struct TokenImage {
  var value: ValueID
  var height: Int, width: Int
  /// What the conversion fused, for the report (nil for ops that carry over unchanged).
  var note: String? = nil
}

/// The token form of `node` when it is an image op the table converts and its image operands have
/// token forms; nil otherwise.
private func tokenImage(of node: Node, _ g: Graph, _ r: inout Rewriter, _ tokens: [ValueID: TokenImage], training: Bool) throws -> TokenImage? {
  if case .seq2img(let h) = node.op {
    return TokenImage(value: r.operand(node.operands[0]), height: h, width: node.type.shape[2])
  }
  if case .binary(let f) = node.op { return try tokenBinary(f, node, g, &r, tokens) }
  guard let x = node.operands.first.flatMap({ tokens[$0] }) else { return nil }
  let weights = node.operands.dropFirst().map { r.operand($0) }
  func same(_ value: ValueID, _ note: String? = nil) -> TokenImage {
    TokenImage(value: value, height: x.height, width: x.width, note: note)
  }
  switch node.op {
  case .conv2d(let a) where a.kernel == [1, 1] && a.stride == [1, 1] && a.padding == [0, 0] && a.groups == 1:
    let ci = g[node.operands[0]].type.shape[0]
    let w = try r.add(.reshape([a.outChannels, ci]), [weights[0]], like: node)  // a view of [Co, Ci, 1, 1]
    let op: Op = training ? .linear(hasBias: a.hasBias) : .fusedLinear(FusedLinearAttrs(hasBias: a.hasBias))
    let y = try r.add(op, [x.value, w] + weights.dropFirst(), like: node)
    return same(y, "conv2d 1×1 → \(op.mnemonic) on the tokens")
  case .conv2d(let a) where a.groups == g[node.operands[0]].type.shape[0] && a.outChannels == a.groups:
    let attrs = TokenConvAttrs(height: x.height, width: x.width, kernel: a.kernel, stride: a.stride, padding: a.padding, hasBias: a.hasBias)
    let y = try r.add(.tokenDWConv(attrs), [x.value] + weights, like: node)
    return TokenImage(value: y, height: attrs.outHeight, width: attrs.outWidth, note: "depth-wise conv2d → token_dwconv")
  case .batchnorm:
    let (s, t) = try r.batchNormAffine(node)
    let y = try r.add(.binary(.add), [r.add(.binary(.mul), [x.value, s], like: node), t], like: node)
    return same(y, "batchnorm → per-channel affine on the last axis")
  case .training(.batchNormalize(let eps, channelsLast: false)):
    let y = try r.add(.training(.batchNormalize(eps: eps, channelsLast: true)), [x.value] + weights, like: node)
    return same(y, "batch_normalize over the channels last")
  case .unary, .scalar:
    return same(try r.add(node.op, [x.value], like: node))
  default:
    return nil
  }
}

/// image ⊕ image (same size) → token ⊕ token; image ⊕ [C, 1, 1] → token ⊕ [C] (SE gating: [C]
/// broadcasts on the tokens' last axis). nil for any other elementwise op.
private func tokenBinary(_ f: BinaryOp, _ node: Node, _ g: Graph, _ r: inout Rewriter, _ tokens: [ValueID: TokenImage]) throws -> TokenImage? {
  let (a, b) = (node.operands[0], node.operands[1])
  if let ta = tokens[a], let tb = tokens[b] {
    guard (ta.height, ta.width) == (tb.height, tb.width), g[a].type.shape == g[b].type.shape else { return nil }
    let y = try r.add(node.op, [ta.value, tb.value], like: node)
    return TokenImage(value: y, height: ta.height, width: ta.width, note: "image \(f.rawValue) image → token \(f.rawValue)")
  }
  guard let (image, x) = tokens[a].map({ (a, $0) }) ?? tokens[b].map({ (b, $0) }) else { return nil }
  let other = image == a ? b : a
  guard g[image].type.shape == node.type.shape,
        squeezedForBatch(g[other].type, toRank: 3) == [node.type.shape[0], 1, 1] else { return nil }
  let channels = try perChannel(other, g, &r, like: node)
  let y = try r.add(node.op, image == a ? [x.value, channels] : [channels, x.value], like: node)
  return TokenImage(value: y, height: x.height, width: x.width, note: "image \(f.rawValue) [C, 1, 1] → token \(f.rawValue) [C]")
}

/// A value [C, 1, 1] as [C]: the vector it was reshaped from, or a view of it.
private func perChannel(_ v: ValueID, _ g: Graph, _ r: inout Rewriter, like node: Node) throws -> ValueID {
  let c = squeezedForBatch(g[v].type, toRank: 3)[0]
  if case .reshape = g[v].op, let source = g[v].operands.first,
     g[source].type.shape == [c], g[source].type.batched == g[v].type.batched {
    return r.operand(source)
  }
  return try r.add(.reshape([c]), [r.operand(v)], like: node)
}
