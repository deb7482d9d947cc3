"""2-D convolution (really cross-correlation, as in every DL framework) by im2col.

im2col copies every kh x kw patch of the padded input into a column, so the
whole convolution becomes one matrix product: (F, C*kh*kw) @ (C*kh*kw, Ho*Wo)
per sample. col2im is its adjoint: it adds each column back onto the patch it
came from. Both loop over the kh*kw kernel offsets only, never over pixels.
A plain loop version lives in minidl/layers/reference.py and the tests
compare the two.
"""
import numpy as np

from minidl.errors import ShapeError
from minidl.layers.base import Layer
from minidl.layers.init import init_weight


def _pair(v):
    return (v, v) if isinstance(v, int) else tuple(v)


def im2col(xp, kh, kw, stride, ho, wo):
    """(N, C, Hp, Wp) padded input -> columns (N, C*kh*kw, ho*wo)."""
    n, c = xp.shape[:2]
    cols = np.empty((n, c, kh, kw, ho, wo), dtype=xp.dtype)
    for i in range(kh):
        for j in range(kw):   # one strided copy per kernel offset (i, j)
            cols[:, :, i, j] = xp[:, :, i:i + stride * ho:stride, j:j + stride * wo:stride]
    return cols.reshape(n, c * kh * kw, ho * wo)


def col2im(cols, xp_shape, kh, kw, stride, ho, wo):
    """Adjoint of im2col: (N, C*kh*kw, ho*wo) -> (N, C, Hp, Wp), overlaps summed."""
    n, c = xp_shape[:2]
    cols = cols.reshape(n, c, kh, kw, ho, wo)
    dxp = np.zeros(xp_shape, dtype=cols.dtype)
    for i in range(kh):
        for j in range(kw):
            dxp[:, :, i:i + stride * ho:stride, j:j + stride * wo:stride] += cols[:, :, i, j]
    return dxp


class Conv2D(Layer):
    """y[n, f] = sum_c W[f, c] * x[n, c] + b[f]  (cross-correlation), NCHW.

    Input (N, C_in, H, W) -> output (N, C_out, Ho, Wo) with
    Ho = (H + 2*padding - kh) // stride + 1 (likewise Wo).
    params: "W" (C_out, C_in, kh, kw), "b" (C_out,) unless bias=False.
    backward(dy) returns dx (N, C_in, H, W) and sets grads dW, db.
    """

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0,
                 bias=True, init="he", rng=None, dtype=np.float32):
        super().__init__()
        self.in_channels, self.out_channels = in_channels, out_channels
        self.kernel_size, self.stride, self.padding = _pair(kernel_size), stride, padding
        self.bias = bias
        kh, kw = self.kernel_size
        fan_in, fan_out = in_channels * kh * kw, out_channels * kh * kw
        self._add_param("W", init_weight((out_channels, in_channels, kh, kw),
                                         fan_in, fan_out, init, rng, dtype))
        if bias:
            self._add_param("b", np.zeros(out_channels, dtype))

    def output_hw(self, h, w):
        (kh, kw), s, p = self.kernel_size, self.stride, self.padding
        return (h + 2 * p - kh) // s + 1, (w + 2 * p - kw) // s + 1

    def forward(self, x):
        self._check(x, 4, self.in_channels, what="channels")
        (kh, kw), s, p = self.kernel_size, self.stride, self.padding
        n, _, h, w = x.shape
        ho, wo = self.output_hw(h, w)
        if ho < 1 or wo < 1:
            raise ShapeError(f"{self!r}: kernel {kh}x{kw} is larger than the padded "
                             f"input {h + 2 * p}x{w + 2 * p} (input shape {x.shape})")
        xp = np.pad(x, ((0, 0), (0, 0), (p, p), (p, p))) if p else x
        cols = im2col(xp, kh, kw, s, ho, wo)                  # (N, K, P), K = C*kh*kw
        self._save(cols, xp.shape, x.shape)
        w_mat = self.params["W"].reshape(self.out_channels, -1)
        y = w_mat @ cols                                      # (F, K) @ (N, K, P) -> (N, F, P)
        if self.bias:
            y += self.params["b"][:, None]
        return y.reshape(n, self.out_channels, ho, wo)

    def backward(self, dy):
        cols, xp_shape, x_shape = self._saved()
        (kh, kw), s, p = self.kernel_size, self.stride, self.padding
        n, f, ho, wo = dy.shape
        dy = dy.reshape(n, f, ho * wo)
        w_mat = self.params["W"].reshape(f, -1)
        # dL/dW = sum_n dy[n] cols[n]^T, as one (F, N*P) @ (N*P, K) product
        dw = np.tensordot(dy, cols, axes=([0, 2], [0, 2]))
        self.grads["W"][...] = dw.reshape(self.params["W"].shape)
        if self.bias:
            np.sum(dy, axis=(0, 2), out=self.grads["b"])      # dL/db = sum over n, y, x
        dcols = w_mat.T @ dy                                  # (K, F) @ (N, F, P) -> (N, K, P)
        dxp = col2im(dcols, xp_shape, kh, kw, s, ho, wo)
        return dxp[:, :, p:p + x_shape[2], p:p + x_shape[3]] if p else dxp

    def extra_repr(self):
        return (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
                f"stride={self.stride}, padding={self.padding}, bias={self.bias}")
