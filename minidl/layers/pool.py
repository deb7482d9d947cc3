"""Max pooling over k x k windows, NCHW.

The gradient of a max flows only to the element that won. With ties (common
after ReLU: a window of zeros) it goes to the first maximum, as in PyTorch,
never to all of them.
"""
import numpy as np

from minidl.errors import ShapeError
from minidl.layers.base import Layer


class MaxPool2D(Layer):
    """Input (N, C, H, W) -> output (N, C, Ho, Wo), Ho = (H - k) // stride + 1.

    stride defaults to kernel_size. When stride == kernel_size the windows tile
    the input and the layer works by a reshape; rows and columns that do not
    fill a whole window are dropped (as PyTorch does) and get zero gradient.
    backward(dy) returns dx of the input's shape. No parameters.
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
        windows = self._windows(x, k, s, ho, wo)              # (N, C, Ho, Wo, k*k)
        arg = windows.argmax(axis=-1)[..., None]              # first maximum in each window
        self._save(arg, x.shape)
        return np.take_along_axis(windows, arg, axis=-1)[..., 0]

    def backward(self, dy):
        arg, x_shape = self._saved()
        k, s = self.kernel_size, self.stride
        n, c, ho, wo = dy.shape
        dwin = np.zeros((n, c, ho, wo, k * k), dtype=dy.dtype)
        np.put_along_axis(dwin, arg, dy[..., None], axis=-1)  # route dy to the winner
        dx = np.zeros(x_shape, dtype=dy.dtype)
        if s == k:   # tiled: undo the reshape of _windows
            dx[:, :, :ho * k, :wo * k] = (dwin.reshape(n, c, ho, wo, k, k)
                                          .transpose(0, 1, 2, 4, 3, 5)
                                          .reshape(n, c, ho * k, wo * k))
        else:        # overlapping windows: add each kernel offset back
            dwin = dwin.reshape(n, c, ho, wo, k, k)
            for i in range(k):
                for j in range(k):
                    dx[:, :, i:i + s * ho:s, j:j + s * wo:s] += dwin[..., i, j]
        return dx

    @staticmethod
    def _windows(x, k, s, ho, wo):
        n, c = x.shape[:2]
        if s == k:   # tiled: (N, C, Ho, k, Wo, k) -> (N, C, Ho, Wo, k*k)
            t = x[:, :, :ho * k, :wo * k].reshape(n, c, ho, k, wo, k)
            return t.transpose(0, 1, 2, 4, 3, 5).reshape(n, c, ho, wo, k * k)
        win = np.lib.stride_tricks.sliding_window_view(x, (k, k), axis=(2, 3))
        return win[:, :, ::s, ::s][:, :, :ho, :wo].reshape(n, c, ho, wo, k * k)

    def extra_repr(self):
        return f"kernel_size={self.kernel_size}, stride={self.stride}"
