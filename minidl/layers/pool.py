"""Max pooling over k x k windows, NCHW.

The gradient of a max flows only to the element that won. With ties (common
after ReLU: a window of zeros) it goes to the first maximum in row-major
order, as in PyTorch, never to all of them.
"""
import numpy as np

from minidl.errors import ShapeError
from minidl.layers.base import Layer


def max_last(t):
    """Max over the last axis (size k) of t, and the index of the first maximum.

    A loop over the k entries with elementwise ufuncs (np.max or argmax over a
    short axis is slow in NumPy): a later entry wins only if strictly larger.
    """
    m = t[..., 0].copy()
    arg = np.zeros(m.shape, np.uint8)
    for j in range(1, t.shape[-1]):
        better = t[..., j] > m
        np.maximum(m, t[..., j], out=m)
        np.maximum(arg, better * np.uint8(j), out=arg)     # arg = j where better (arg < j)
    return m, arg


def route_last(dm, arg, out):
    """Adjoint of max_last: out[..., j] = dm where arg == j, else 0."""
    for j in range(out.shape[-1]):
        np.multiply(dm, arg == j, out=out[..., j])


class MaxPool2D(Layer):
    """Input (N, C, H, W) -> output (N, C, Ho, Wo), Ho = (H - k) // stride + 1.

    stride defaults to kernel_size. When stride == kernel_size the windows tile
    the input: the max over each k x k window is taken in two steps, first over
    the k columns of each window row, then over the k rows; rows and columns
    that do not fill a whole window are dropped (as PyTorch does) and get zero
    gradient. backward(dy) returns dx of the input's shape. No parameters.
    """

    def __init__(self, kernel_size=2, stride=None):
        super().__init__()
        self.kernel_size = kernel_size
        self.stride = kernel_size if stride is None else stride

    def forward(self, x):
        self._check(x, 4)
        k, s = self.kernel_size, self.stride
        n, c, h, w = x.shape
        if h < k or w < k:
            raise ShapeError(f"{self!r}: window {k}x{k} is larger than the input "
                             f"{h}x{w} (input shape {x.shape})")
        ho, wo = (h - k) // s + 1, (w - k) // s + 1
        if s != k:
            return self._forward_overlapping(x, k, s, ho, wo)
        x = x[:, :, :ho * k, :wo * k].reshape(n, c, ho * k, wo, k)       # (.., row, window, col)
        rows, col_arg = max_last(x)                                      # max over columns
        y, row_arg = max_last(rows.reshape(n, c, ho, k, wo).swapaxes(3, 4))  # then over rows
        self._save(row_arg, col_arg, (n, c, h, w))
        return y

    def backward(self, dy):
        if self.stride != self.kernel_size:
            return self._backward_overlapping(dy)
        row_arg, col_arg, (n, c, h, w) = self._saved()
        k, (ho, wo) = self.kernel_size, dy.shape[2:]
        drows = self._buffer("drows", (n, c, ho, k, wo), dy.dtype)     # scratch, reused
        route_last(dy, row_arg, drows.swapaxes(3, 4))                    # dy to the winning row
        dx = np.empty((n, c, ho * k, wo * k), dy.dtype)
        route_last(drows.reshape(n, c, ho * k, wo), col_arg, dx.reshape(n, c, ho * k, wo, k))
        if (h, w) != (ho * k, wo * k):                                   # dropped edges: zero
            dx = np.pad(dx, ((0, 0), (0, 0), (0, h - ho * k), (0, w - wo * k)))
        return dx

    # Overlapping windows (stride != kernel_size): a view of all windows, argmax.
    def _forward_overlapping(self, x, k, s, ho, wo):
        n, c = x.shape[:2]
        win = np.lib.stride_tricks.sliding_window_view(x, (k, k), axis=(2, 3))
        windows = win[:, :, ::s, ::s][:, :, :ho, :wo].reshape(n, c, ho, wo, k * k)
        arg = windows.argmax(axis=-1)[..., None]              # first maximum in each window
        self._save(arg, x.shape)
        return np.take_along_axis(windows, arg, axis=-1)[..., 0]

    def _backward_overlapping(self, dy):
        arg, x_shape = self._saved()
        k, s = self.kernel_size, self.stride
        n, c, ho, wo = dy.shape
        dwin = np.zeros((n, c, ho, wo, k * k), dtype=dy.dtype)
        np.put_along_axis(dwin, arg, dy[..., None], axis=-1)  # route dy to the winner
        dwin = dwin.reshape(n, c, ho, wo, k, k)
        dx = np.zeros(x_shape, dtype=dy.dtype)
        for i in range(k):                                    # add each kernel offset back
            for j in range(k):
                dx[:, :, i:i + s * ho:s, j:j + s * wo:s] += dwin[..., i, j]
        return dx

    def extra_repr(self):
        return f"kernel_size={self.kernel_size}, stride={self.stride}"
