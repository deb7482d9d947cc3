"""Max pooling over k x k windows, NCHW.

Like im2col in conv.py, the layer loops over the k*k offsets (i, j) inside a
window, never over pixels: entry (i, j) of every window is one strided slice
of the input, copied into plane number i*k + j. The maximum over the k*k
planes is the output, and the number of the winning plane says where the
gradient goes.

The gradient of a max flows only to the element that won. With ties (common
after ReLU: a window of zeros) it goes to the first maximum in row-major
order, as in PyTorch, never to all of them: the planes are in row-major order
and a later plane wins only if it is strictly larger.
"""
import numpy as np

from minidl.errors import ShapeError, check_int
from minidl.layers.base import Layer


def max_first(planes):
    """Max over the first axis of planes (P, ...), and the index of the first maximum.

    A loop over the P planes with elementwise ufuncs (np.argmax over the first
    axis took 18 times as long for 2x2 windows): a later plane wins only if
    strictly larger.
    """
    m = planes[0].copy()
    arg = np.zeros(m.shape, np.uint8 if len(planes) <= 256 else np.intp)   # uint8: 0..255
    for p in range(1, len(planes)):
        better = planes[p] > m
        np.maximum(m, planes[p], out=m)
        # arg = p where better (arg < p there); p typed like arg keeps the product uint8
        np.maximum(arg, better * arg.dtype.type(p), out=arg)
    return m, arg


class MaxPool2D(Layer):
    """Input (N, C, H, W) -> output (N, C, Ho, Wo), Ho = (H - k) // stride + 1.

    stride defaults to kernel_size (windows that tile the input); a smaller
    stride gives overlapping windows, whose gradients add up. Rows and columns
    that no window covers are dropped (as PyTorch does) and get zero gradient.
    backward(dy) returns dx of the input's shape. No parameters.
    """

    def __init__(self, kernel_size=2, stride=None):
        super().__init__()
        self.kernel_size = check_int("MaxPool2D", "kernel_size (one int: square windows)",
                                     kernel_size)
        self.stride = (self.kernel_size if stride is None else
                       check_int("MaxPool2D", "stride", stride))

    def forward(self, x):
        self._check(x, 4)
        k, s = self.kernel_size, self.stride
        n, c, h, w = x.shape
        if h < k or w < k:
            raise ShapeError(f"{self!r}: window {k}x{k} is larger than the input "
                             f"{h}x{w} (input shape {x.shape})")
        ho, wo = (h - k) // s + 1, (w - k) // s + 1
        planes = self._buffer("planes", (k * k, n, c, ho, wo), x.dtype)   # scratch, reused
        for i in range(k):
            for j in range(k):   # entry (i, j) of every window: one strided slice
                planes[i * k + j] = x[:, :, i:i + s * ho:s, j:j + s * wo:s]
        y, arg = max_first(planes)
        self._save(arg, x.shape)
        return y

    def backward(self, dy):
        arg, x_shape = self._saved()
        self._check_dy(dy, arg.shape)                # arg: the winner of each output
        k, s = self.kernel_size, self.stride
        ho, wo = dy.shape[2:]
        dx = np.zeros(x_shape, dy.dtype)
        for i in range(k):
            for j in range(k):   # dy goes to entry (i, j) of the windows it won
                dx_ij = dx[:, :, i:i + s * ho:s, j:j + s * wo:s]
                if s >= k:       # windows do not overlap: the slices of different (i, j)
                    np.multiply(dy, arg == i * k + j, out=dx_ij)   # are disjoint, so write
                else:            # overlapping windows: an element's gradients add up
                    dx_ij += dy * (arg == i * k + j)
        return dx

    def extra_repr(self):
        return f"kernel_size={self.kernel_size}, stride={self.stride}"
