"""2-D convolution (really cross-correlation, as in every DL framework) by im2col.

im2col copies every kh x kw patch of the padded input into a column, so the
whole convolution becomes one matrix product: (F, C*kh*kw) @ (C*kh*kw, Ho*Wo)
per sample. col2im is its adjoint: it adds each column back onto the patch it
came from. Both loop over the kh*kw kernel offsets only, never over pixels.
A plain loop version lives in minidl/layers/reference.py and the tests
compare the two.

Speed: the columns of all N samples sit side by side in memory, as one
(C*kh*kw, N*Ho*Wo) matrix, so forward, dL/dW and dL/dcols are each ONE large
matrix product instead of N small ones (except a first layer's dL/dW:
_first_layer_grads); im2col still returns the (N, C*kh*kw, Ho*Wo) shape, as a
transposed view of that matrix. Timings: docs/layers.md and benchmarks/README.md.
"""
import numpy as np

from minidl.errors import SettingError, ShapeError, check_dtype, check_int
from minidl.layers.base import Layer
from minidl.layers.im2col_same import col2im_same, im2col_same
from minidl.layers.init import init_weight


def _pair(v):
    """kernel_size 3 -> (3, 3); (3, 5) stays, each checked to be an int >= 1."""
    pair = (v, v) if np.ndim(v) == 0 else tuple(v)
    if len(pair) != 2:
        raise SettingError(f"Conv2D: kernel_size must be an int or a pair (kh, kw), got {v!r}")
    return tuple(check_int("Conv2D", "kernel_size", k) for k in pair)


def im2col(xp, kh, kw, stride, ho, wo, out=None):
    """(N, C, Hp, Wp) padded input -> columns (N, C*kh*kw, ho*wo).

    out: optional scratch array of C*N*kh*kw*ho*wo elements to fill.
    """
    n, c = xp.shape[:2]
    shape = (c, kh, kw, n, ho, wo)
    mat = np.empty(shape, dtype=xp.dtype) if out is None else out.reshape(shape)  # (K, N, P)
    cols = mat.transpose(3, 0, 1, 2, 4, 5)                   # view: (N, C, kh, kw, ho, wo)
    for i in range(kh):
        for j in range(kw):   # one strided copy per kernel offset (i, j)
            cols[:, :, i, j] = xp[:, :, i:i + stride * ho:stride, j:j + stride * wo:stride]
    return mat.reshape(c * kh * kw, n, ho * wo).transpose(1, 0, 2)


def col2im(cols, xp_shape, kh, kw, stride, ho, wo, out=None):
    """Adjoint of im2col: (N, C*kh*kw, ho*wo) -> (N, C, Hp, Wp), overlaps summed.

    out: optional scratch array of N*C*Hp*Wp elements to accumulate in.
    """
    n, c = xp_shape[:2]
    # (N, K, P) -> (N, C, kh, kw, ho, wo); a view when cols is laid out as im2col makes it
    cols = cols.transpose(1, 0, 2).reshape(c, kh, kw, n, ho, wo).transpose(3, 0, 1, 2, 4, 5)
    if out is None:
        acc = np.zeros((c, n, *xp_shape[2:]), dtype=cols.dtype)
    else:
        acc = out.reshape(c, n, *xp_shape[2:])
        acc.fill(0)
    dxp = acc.transpose(1, 0, 2, 3)                          # view: (N, C, Hp, Wp)
    for i in range(kh):
        for j in range(kw):
            dxp[:, :, i:i + stride * ho:stride, j:j + stride * wo:stride] += cols[:, :, i, j]
    return dxp


class Conv2D(Layer):
    """y[n, f] = b[f] + sum_c W[f, c] (*) x[n, c], NCHW, where (*) slides the kernel
    W[f, c] over the image x[n, c] and sums the products at every position
    (cross-correlation: the kernel is not flipped).

    Input (N, C_in, H, W) -> output (N, C_out, Ho, Wo) with
    Ho = (H + 2*padding - kh) // stride + 1 (likewise Wo).
    params: "W" (C_out, C_in, kh, kw), "b" (C_out,) unless bias=False.
    backward(dy) returns dx (N, C_in, H, W), None when needs_input_grad is False,
    and sets grads dW, db.
    """

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0,
                 bias=True, init="he", rng=None, dtype=np.float32):
        super().__init__()
        self.in_channels = check_int("Conv2D", "in_channels", in_channels)
        self.out_channels = check_int("Conv2D", "out_channels", out_channels)
        self.kernel_size = _pair(kernel_size)
        self.stride = check_int("Conv2D", "stride (one int for both axes)", stride)
        self.padding = check_int("Conv2D", "padding (one int for both axes)", padding, 0)
        self.bias = bias
        dtype = check_dtype("Conv2D", dtype)
        kh, kw = self.kernel_size
        fan_in, fan_out = in_channels * kh * kw, out_channels * kh * kw
        self._add_param("W", init_weight((out_channels, in_channels, kh, kw),
                                         fan_in, fan_out, init, rng, dtype, owner="Conv2D"))
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
        k = x.shape[1] * kh * kw
        buf = self._buffer("cols", (k, n * ho * wo), x.dtype)
        if self.same_padding:   # the same columns, faster (im2col_same.py)
            cols = im2col_same(x, kh, out=buf)
        else:
            cols = im2col(self._pad(x), kh, kw, s, ho, wo, out=buf)
        self._save(cols, x.shape)                             # (N, K, P), K = C*kh*kw
        w_mat = self.params["W"].reshape(self.out_channels, -1)
        y = w_mat @ cols.transpose(1, 0, 2).reshape(k, -1)    # (F, K) @ (K, N*P) -> (F, N*P)
        if self.bias:
            y += self.params["b"][:, None]
        return np.ascontiguousarray(y.reshape(-1, n, ho, wo).transpose(1, 0, 2, 3))  # NCHW

    def backward(self, dy):
        """Three ways out. A first layer (needs_input_grad False) wants only dW and
        db: _first_layer_grads. Otherwise dW and dL/dcols are one product each, and
        dcols goes back onto the images by col2im_same (stride 1, "same" padding),
        or by col2im and a crop (any other setting)."""
        cols, x_shape = self._saved()
        self._check_dy(dy, (x_shape[0], self.out_channels, *self.output_hw(*x_shape[2:])))
        (kh, kw), s, p = self.kernel_size, self.stride, self.padding
        n, f, ho, wo = dy.shape
        if not self.needs_input_grad:      # first layer: no dL/dx (_first_layer_grads)
            return self._first_layer_grads(dy.reshape(n, f, ho * wo), cols)
        dy_t = self._buffer("dy", (f, n, ho * wo), dy.dtype)
        dy_t[...] = dy.reshape(n, f, ho * wo).transpose(1, 0, 2)
        dy_mat = dy_t.reshape(f, n * ho * wo)                 # (F, N*P)
        w_mat = self.params["W"].reshape(f, -1)
        cols_mat = cols.transpose(1, 0, 2).reshape(w_mat.shape[1], -1)   # (K, N*P), a view
        # dL/dW = sum_n dy[n] cols[n]^T, as one (F, N*P) @ (N*P, K) product
        np.matmul(dy_mat, cols_mat.T, out=self.grads["W"].reshape(f, -1))
        if self.bias:
            np.sum(dy_mat, axis=1, out=self.grads["b"])       # dL/db = sum over n, y, x
        dcols = np.matmul(w_mat.T, dy_mat, out=self._buffer("dcols", cols_mat.shape, dy.dtype))
        dcols = dcols.reshape(-1, n, ho * wo).transpose(1, 0, 2)   # (K, F) @ (F, N*P) as (N, K, P)
        if self.same_padding:
            return col2im_same(dcols, x_shape, kh)            # a new array
        xp_shape = (*x_shape[:2], x_shape[2] + 2 * p, x_shape[3] + 2 * p)
        dxp = col2im(dcols, xp_shape, kh, kw, s, ho, wo,
                     out=self._buffer("dxp", xp_shape, dy.dtype))
        return dxp[:, :, p:p + x_shape[2], p:p + x_shape[3]].copy()   # new array, never the buffer

    def _first_layer_grads(self, dy, cols):
        """dL/dW and dL/db when no dL/dx is wanted, from dy (N, F, P) as it lies.

        The same sum as backward's one product, taken per sample: N products
        dy[n] @ cols[n]^T, (F, P) @ (P, K), then summed over n. No copy of dy
        into (F, N*P) order is needed, and with a first layer's small
        K = C*kh*kw (9 for one channel, 3x3) OpenBLAS does these short products
        as fast as one long one, or faster (docs/layers.md has the timings).
        """
        per_sample = np.matmul(dy, cols.transpose(0, 2, 1))     # (N, F, K)
        np.sum(per_sample, axis=0, out=self.grads["W"].reshape(per_sample.shape[1:]))
        if self.bias:
            np.sum(dy, axis=(0, 2), out=self.grads["b"])      # dL/db = sum over n, y, x
        return None

    @property
    def same_padding(self):
        """Stride 1 and a k x k kernel with k = 2 * padding + 1: output as large as the input."""
        kh, kw = self.kernel_size
        return self.stride == 1 and kh == kw == 2 * self.padding + 1

    def _pad(self, x):
        """x with `padding` zeros around each image (the border of the reused buffer stays zero)."""
        p = self.padding
        if not p:
            return x
        n, c, h, w = x.shape
        xp = self._buffer("xp", (n, c, h + 2 * p, w + 2 * p), x.dtype, zeros=True)
        xp[:, :, p:p + h, p:p + w] = x
        return xp

    def extra_repr(self):
        return (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
                f"stride={self.stride}, padding={self.padding}, bias={self.bias}")
