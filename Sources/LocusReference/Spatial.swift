import LocusIR

/// Kernels over images [C, Hh, Ww] (channels first, as PyTorch) and the image ↔ token conversions.
extension Interpreter {
  /// `nn.Conv2d` (zero padding, no dilation). x: [Ci, Hh, Ww]; weight: [Co, Ci/g, kh, kw];
  /// bias: [Co]. Output channel o belongs to group o / (Co/g) and reads only that group's inputs.
  static func conv2d(_ x: Tensor, weight w: Tensor, bias: Tensor?, _ a: Conv2dAttrs) -> Tensor {
    let (height, width) = (x.shape[1], x.shape[2])
    let (co, perGroup, kh, kw) = (w.shape[0], w.shape[1], w.shape[2], w.shape[3])
    let (sy, sx, py, px) = (a.stride[0], a.stride[1], a.padding[0], a.padding[1])
    let ho = (height + 2 * py - kh) / sy + 1, wo = (width + 2 * px - kw) / sx + 1
    let outPerGroup = co / a.groups
    let (xs, ws) = (x.data, w.data)
    var y = Tensor.zeros([co, ho, wo])
    for o in 0..<co {
      let firstInput = (o / outPerGroup) * perGroup
      for i in 0..<ho {
        for j in 0..<wo {
          var sum = Double(bias?.data[o] ?? 0)
          for c in 0..<perGroup {
            for ky in 0..<kh {
              let row = i * sy - py + ky
              guard (0..<height).contains(row) else { continue }  // zero padding
              for kx in 0..<kw {
                let col = j * sx - px + kx
                guard (0..<width).contains(col) else { continue }
                let xv = xs[((firstInput + c) * height + row) * width + col]
                let wv = ws[((o * perGroup + c) * kh + ky) * kw + kx]
                sum += Double(xv) * Double(wv)
              }
            }
          }
          y.data[(o * ho + i) * wo + j] = Float(sum)
        }
      }
    }
    return y
  }

  /// `nn.MaxPool2d` (no dilation, floor mode): padding counts as −inf, so it never wins.
  /// NaN propagates, as in PyTorch.
  static func maxpool(_ x: Tensor, kernel k: [Int], stride s: [Int], padding p: [Int]) -> Tensor {
    let (channels, height, width) = (x.shape[0], x.shape[1], x.shape[2])
    let ho = (height + 2 * p[0] - k[0]) / s[0] + 1, wo = (width + 2 * p[1] - k[1]) / s[1] + 1
    var y = Tensor.zeros([channels, ho, wo])
    for c in 0..<channels {
      for i in 0..<ho {
        for j in 0..<wo {
          var best = -Float.infinity
          for row in (i * s[0] - p[0])..<(i * s[0] - p[0] + k[0]) where (0..<height).contains(row) {
            for col in (j * s[1] - p[1])..<(j * s[1] - p[1] + k[1]) where (0..<width).contains(col) {
              let v = x.data[(c * height + row) * width + col]
              if v > best || v.isNaN { best = v }  // once NaN, nothing compares greater
            }
          }
          y.data[(c * ho + i) * wo + j] = best
        }
      }
    }
    return y
  }

  /// `torch.roll(x, shifts: (dy, dx), dims: (H, W))`: element (r, c) moves to
  /// ((r + dy) mod Hh, (c + dx) mod Ww), so the output at (r, c) reads (r − dy, c − dx), wrapping.
  static func roll(_ x: Tensor, dy: Int, dx: Int) -> Tensor {
    let (height, width) = (x.shape[1], x.shape[2])
    return remapImage(x, height: height, width: width) { r, c in (wrap(r - dy, height), wrap(c - dx, width)) }
  }

  /// `F.pad(x, (left, right, top, bottom), mode: "circular")`: [C, Hh, Ww] → [C, Hh+t+b, Ww+l+r].
  /// Output (r, c) reads input ((r − top) mod Hh, (c − left) mod Ww): the left pad repeats the
  /// last columns, the right pad the first ones.
  static func circularPad(_ x: Tensor, left: Int, right: Int, top: Int, bottom: Int) -> Tensor {
    let (height, width) = (x.shape[1], x.shape[2])
    return remapImage(x, height: height + top + bottom, width: width + left + right) { r, c in
      (wrap(r - top, height), wrap(c - left, width))
    }
  }

  /// An image [C, height, width] whose pixel (r, c) copies x's pixel `source(r, c)` in every channel.
  static func remapImage(_ x: Tensor, height: Int, width: Int, source: (Int, Int) -> (Int, Int)) -> Tensor {
    let (channels, inHeight, inWidth) = (x.shape[0], x.shape[1], x.shape[2])
    var y = Tensor.zeros([channels, height, width])
    for c in 0..<channels {
      for r in 0..<height {
        for col in 0..<width {
          let (sr, sc) = source(r, col)
          y.data[(c * height + r) * width + col] = x.data[(c * inHeight + sr) * inWidth + sc]
        }
      }
    }
    return y
  }

  /// Tokens [N, C] → image [C, h, N/h]: `x.transpose(-1, -2).reshape(C, h, N/h)`; token n is
  /// pixel (n / w, n % w).
  static func seq2img(_ x: Tensor, height: Int) -> Tensor {
    let (tokens, channels) = (x.shape[0], x.shape[1])
    let width = tokens / height
    var y = Tensor.zeros([channels, height, width])
    for n in 0..<tokens {
      for c in 0..<channels { y.data[(c * height + n / width) * width + n % width] = x.data[n * channels + c] }
    }
    return y
  }

  /// Image [C, Hh, Ww] → tokens [Hh·Ww, C]: `x.flatten(2).transpose(1, 2)`; pixel (r, c) is token
  /// r·Ww + c.
  static func img2seq(_ x: Tensor) -> Tensor {
    let (channels, pixels) = (x.shape[0], x.shape[1] * x.shape[2])
    var y = Tensor.zeros([pixels, channels])
    for c in 0..<channels {
      for n in 0..<pixels { y.data[n * channels + c] = x.data[c * pixels + n] }
    }
    return y
  }

  /// Image [C, Hh, Ww] → patch rows [Ho·Wo, C·kh·kw]: row oh·Wo + ow holds the window at
  /// (oh·sh − ph, ow·sw − pw), column (c·kh + ky)·kw + kx, zero outside the image
  /// (`F.unfold(x, k, padding=p, stride=s).transpose(1, 2)`). A weight [Co, C, kh, kw] reshaped
  /// to [Co, C·kh·kw] multiplies these rows into the convolution's tokens.
  static func im2col(_ x: Tensor, kernel k: [Int], stride s: [Int], padding p: [Int]) -> Tensor {
    let (channels, hh, ww) = (x.shape[0], x.shape[1], x.shape[2])
    let ho = (hh + 2 * p[0] - k[0]) / s[0] + 1, wo = (ww + 2 * p[1] - k[1]) / s[1] + 1
    let columns = channels * k[0] * k[1]
    var y = Tensor.zeros([ho * wo, columns])
    for oh in 0..<ho {
      for ow in 0..<wo {
        for c in 0..<channels {
          for ky in 0..<k[0] {
            for kx in 0..<k[1] {
              let (iy, ix) = (oh * s[0] - p[0] + ky, ow * s[1] - p[1] + kx)
              guard (0..<hh).contains(iy), (0..<ww).contains(ix) else { continue }
              y.data[(oh * wo + ow) * columns + (c * k[0] + ky) * k[1] + kx] = x.data[(c * hh + iy) * ww + ix]
            }
          }
        }
      }
    }
    return y
  }
}

/// `i mod n` in 0..<n, also for negative i.
func wrap(_ i: Int, _ n: Int) -> Int { ((i % n) + n) % n }
