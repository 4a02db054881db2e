import LocusIR

/// Small multi-op graphs shaped like the bundled models, for the tests that need a whole forward
/// pass: determinism, warnings, the golden files and the sanitizer run.
enum TinyModels {
  /// A one-block ViT: patch embedding, class token, position embedding, pre-norm attention and MLP
  /// with residuals, head on the class token. Legend: N = 10 tokens, C = 12 channels, H = 3 heads.
  static func vit(batch: Int) throws -> Graph {
    var g = Graph(name: "tiny_vit", batch: batch)
    let c = 12
    let pixels = g.input("pixels", [3, 12, 12])
    let patch = Conv2dAttrs(outChannels: c, kernel: [4, 4], stride: [4, 4], padding: [0, 0], groups: 1, hasBias: true)
    let embedded = try g.add(.conv2d(patch), [pixels, g.param("patch_embed.proj.weight", [c, 3, 4, 4]),
                                                g.param("patch_embed.proj.bias", [c], role: .bias)], scope: "patch_embed.proj")
    var x = try g.add(.img2seq, [embedded])                                              // [9, C]
    x = try g.add(.concat(axis: 0), [g.param("cls_token", [1, 1, c], role: .embedding), x])  // [N, C]
    x = try g.add(.binary(.add), [x, g.param("pos_embed", [1, 10, c], role: .embedding)])

    let h1 = try layerNorm(&g, x, "blocks.0.norm1", c)
    let qkv = try linear(&g, h1, "blocks.0.attn.qkv", c, 3 * c)
    let q = try g.add(.slice(axis: -1, start: 0, length: c), [qkv])
    let k = try g.add(.slice(axis: -1, start: c, length: c), [qkv])
    let v = try g.add(.slice(axis: -1, start: 2 * c, length: c), [qkv])
    let attention = try g.add(.sdpa(heads: 3, kvHeads: 3), [q, k, v], scope: "blocks.0.attn")
    x = try g.add(.binary(.add), [x, linear(&g, attention, "blocks.0.attn.proj", c, c)])

    let h2 = try layerNorm(&g, x, "blocks.0.norm2", c)
    let hidden = try g.add(.unary(.gelu), [linear(&g, h2, "blocks.0.mlp.fc1", c, 2 * c)])
    x = try g.add(.binary(.add), [x, linear(&g, hidden, "blocks.0.mlp.fc2", 2 * c, c)])

    let cls = try g.add(.index(axis: 0, at: 0), [layerNorm(&g, x, "norm", c)])
    g.output("logits", try linear(&g, cls, "head", c, 5))
    return g
  }

  /// A small CNN with a shift-attention stage: conv/batchnorm/relu stem, max pooling, depthwise
  /// conv with hard-swish, rolls stacked into T = 3 variants for local attention, global pooling.
  static func cnn(batch: Int) throws -> Graph {
    var g = Graph(name: "tiny_cnn", batch: batch)
    let pixels = g.input("pixels", [3, 11, 11])
    let stem = Conv2dAttrs(outChannels: 8, kernel: [3, 3], stride: [1, 1], padding: [1, 1], groups: 1, hasBias: false)
    var x = try g.add(.conv2d(stem), [pixels, g.param("stem.weight", [8, 3, 3, 3])], scope: "stem")
    let bn = ["weight", "bias", "running_mean", "running_var"].map { g.param("bn.\($0)", [8], role: .norm) }
    x = try g.add(.unary(.relu), [g.add(.batchnorm(eps: 1e-5), [x] + bn, scope: "bn")])
    x = try g.add(.maxpool(kernel: [3, 3], stride: [2, 2], padding: [1, 1]), [x])    // [8, 6, 6]
    let dw = Conv2dAttrs(outChannels: 8, kernel: [3, 3], stride: [1, 1], padding: [1, 1], groups: 8, hasBias: true)
    x = try g.add(.conv2d(dw), [x, g.param("dw.weight", [8, 1, 3, 3]), g.param("dw.bias", [8], role: .bias)], scope: "dw")
    x = try g.add(.unary(.hswish), [x])

    let tokens = try g.add(.img2seq, [x])                                             // [36, 8]
    let shifted = try [g.add(.roll(dy: 1, dx: 0), [x]), g.add(.roll(dy: 0, dx: -1), [x])].map { try g.add(.img2seq, [$0]) }
    let variants = try g.add(.stack(axis: 0), [tokens] + shifted)                     // [T, 36, 8]
    let local = try g.add(.localAttention(heads: 2, kvHeads: 2), [tokens, variants, variants], scope: "shift_attn")
    x = try g.add(.seq2img(height: 6), [g.add(.binary(.add), [tokens, local])])       // [8, 6, 6]
    x = try g.add(.circularPad(left: 1, right: 1, top: 1, bottom: 1), [x])            // [8, 8, 8]
    g.output("features", try g.add(.softmax(axis: 0), [g.add(.gap, [x])]))
    return g
  }

  /// The fused ops together, as the fusion passes leave a Locally-SAG / LeFF block: patch tokens,
  /// a query projection, shifted local attention over one-sided circular pads of the image, a
  /// projection with the residual in its epilogue, a depth-wise conv of the tokens with GELU, and
  /// a projection whose weight is folded from BatchNorm-like statistics by prepare. Legend:
  /// N = 16 tokens (a 4×4 grid), C = 8 channels, H = 2 heads, Hk = 1, T = 3 variants.
  static func fused(batch: Int) throws -> Graph {
    var g = Graph(name: "tiny_fused", batch: batch)
    let c = 8
    let pixels = g.input("pixels", [3, 8, 8])
    let patch = Conv2dAttrs(outChannels: c, kernel: [2, 2], stride: [2, 2], padding: [0, 0], groups: 1, hasBias: true)
    let embedded = try g.add(.conv2d(patch), [pixels, g.param("patch.weight", [c, 3, 2, 2]), g.param("patch.bias", [c], role: .bias)])
    let tokens = try g.add(.img2seq, [embedded])                                          // [N, C]
    let q = try fusedLinear(&g, tokens, "attn.q", c, c)

    let shifts: [Shift] = [.pad(left: 1, right: 0, top: 0, bottom: 0), .pad(left: 0, right: 0, top: 1, bottom: 0)]
    let attrs = ShiftedAttentionAttrs(shifts: shifts, kernel: [2, 2], stride: [2, 2], padding: [0, 0], heads: 2, kvHeads: 1, eps: 1e-6)
    var operands = [pixels, q]
    for t in 0..<attrs.variants {
      operands += [g.param("attn.embed.\(t).weight", [c, 3, 2, 2]), g.param("attn.embed.\(t).bias", [c], role: .bias)]
    }
    operands += [g.param("attn.pos", [attrs.variants, 16, c], role: .embedding),
                 g.param("attn.norm.weight", [c], role: .norm), g.param("attn.norm.bias", [c], role: .norm),
                 g.param("attn.kv.weight", [8, c]), g.param("attn.kv.bias", [8], role: .bias)]
    let attended = try g.add(.shiftedLocalAttention(attrs), operands, scope: "attn")      // [N, C]
    let x = try fusedLinear(&g, attended, "attn.proj", c, c, residual: tokens)

    let dw = TokenConvAttrs(height: 4, width: 4, kernel: [3, 3], stride: [1, 1], padding: [1, 1], hasBias: true, activation: .gelu)
    let h = try g.add(.tokenDWConv(dw), [x, g.param("leff.dw.weight", [c, 1, 3, 3]), g.param("leff.dw.bias", [c], role: .bias)], scope: "leff.dw")
    // BatchNorm folded into the next projection's columns: computed once, by prepare.
    let variance = try g.add(.scalar(.add, 1e-5, scalarFirst: false), [g.param("leff.bn.running_var", [c], role: .norm)])
    let scale = try g.add(.binary(.mul), [g.add(.unary(.rsqrt), [variance]), g.param("leff.bn.weight", [c], role: .norm)])
    let weight = try g.add(.binary(.mul), [g.param("leff.fc.weight", [c, c]), g.add(.reshape([1, c]), [scale])])
    let projection = FusedLinearAttrs(hasBias: true, activation: .relu, hasResidual: true)
    let y = try g.add(.fusedLinear(projection), [h, weight, g.param("leff.fc.bias", [c], role: .bias), x], scope: "leff.fc")
    g.output("logits", try fusedLinear(&g, g.add(.mean(axis: 0), [y]), "head", c, 5))
    return g
  }

  private static func fusedLinear(_ g: inout Graph, _ x: ValueID, _ scope: String, _ k: Int, _ n: Int, residual: ValueID? = nil) throws -> ValueID {
    let attrs = FusedLinearAttrs(hasBias: true, hasResidual: residual != nil)
    let operands = [x, g.param("\(scope).weight", [n, k]), g.param("\(scope).bias", [n], role: .bias)] + (residual.map { [$0] } ?? [])
    return try g.add(.fusedLinear(attrs), operands, scope: scope)
  }

  private static func linear(_ g: inout Graph, _ x: ValueID, _ scope: String, _ k: Int, _ n: Int) throws -> ValueID {
    try g.add(.linear(hasBias: true), [x, g.param("\(scope).weight", [n, k]), g.param("\(scope).bias", [n], role: .bias)], scope: scope)
  }

  private static func layerNorm(_ g: inout Graph, _ x: ValueID, _ scope: String, _ c: Int) throws -> ValueID {
    try g.add(.layernorm(eps: 1e-6), [x, g.param("\(scope).weight", [c], role: .norm), g.param("\(scope).bias", [c], role: .norm)], scope: scope)
  }
}
