"""im2col and col2im for the most common convolution: stride 1 and "same"
padding, a k x k kernel (k odd) with p = (k - 1) // 2 zeros around the image,
so that the output is as large as the input. They build the same matrix as
im2col and col2im in conv.py, in the same memory layout, with the same bits
(col2im_same sums in the same order), faster: each kernel offset's copy moves
rows of H*W values instead of Ho rows of Wo values, and there is no padded
copy of the input (benchmarks/README.md has the timings).

Number the pixels of each image row by row, q = r*W + c. The patch entry at
kernel offset (i, j) of output pixel q is input pixel (r + i - p, c + j - p),
that is q + d with d = (i - p)*W + (j - p): the same shift for every pixel.
So each kernel offset is ONE copy of the flattened images shifted by d (rows
of about H*W values), where conv.py's im2col copies Ho short rows of Wo
values. The shift gets right every entry but those that read the padding:
  * column c + j - p outside the image: the shift wraps onto the row above or
    below. The |j - p| wrapped columns are set to zero after the copy;
  * row r + i - p outside the image (and the column inside): q + d falls off
    the start or the end of the flattened image; those entries are set to zero.
Kernel offset (1, 0) of a 3x3 kernel (padding 1) reads each pixel's left
neighbour, d = -1:

    image     flattened, shifted by d = -1   as rows      column 0 zeroed
    a b c     0 a b c d e f g h              0 a b        0 a b
    d e f                                    c d e        0 d e
    g h i                                    f g h        0 g h
"""
import numpy as np

from minidl.errors import SettingError


def _half(k):
    """The padding p of a k x k kernel centred on each pixel: k = 2p + 1."""
    if k % 2 == 0:
        raise SettingError(f"im2col_same / col2im_same: kernel size {k} is even; 'same' "
                           "padding needs an odd k = 2 * padding + 1")
    return (k - 1) // 2


def _inside(d, hw):
    """The q in [lo, hi) whose q + d is in [0, hw): inside the flattened image."""
    return min(hw, max(0, -d)), max(0, min(hw, hw - d))


def _wrapped(dj, w):
    """The output columns c whose c + dj is left or right of the image."""
    return slice(0, -dj) if dj < 0 else slice(max(0, w - dj), w)


def im2col_same(x, k, out=None):
    """(N, C, H, W) input -> columns (N, C*k*k, H*W): conv.py's im2col of x padded
    by (k - 1) // 2 on every side, with stride 1.

    out: optional scratch array of N*C*k*k*H*W elements to fill.
    """
    n, c, h, w = x.shape
    p, hw = _half(k), h * w
    mat = np.empty((c, k, k, n, hw), x.dtype) if out is None else out.reshape(c, k, k, n, hw)
    grid = mat.reshape(c, k, k, n, h, w)                   # the same memory, pixels as (r, c)
    flat = x.reshape(n, c, hw).transpose(1, 0, 2)          # view: (C, N, H*W)
    for i in range(k):
        for j in range(k):
            d = (i - p) * w + (j - p)                      # entry (i, j) of pixel q: q + d
            lo, hi = _inside(d, hw)
            mat[:, i, j, :, lo:hi] = flat[:, :, lo + d:hi + d]
            mat[:, i, j, :, :lo] = 0                       # above the image: padding
            mat[:, i, j, :, hi:] = 0                       # below the image: padding
            grid[:, i, j, :, :, _wrapped(j - p, w)] = 0    # wrapped around an edge: padding
    return mat.reshape(c * k * k, n, hw).transpose(1, 0, 2)


def col2im_same(cols, x_shape, k):
    """Adjoint of im2col_same: columns (N, C*k*k, H*W) -> a new dx (N, C, H, W),
    each pixel's gradient the sum over its copies.

    cols is used as scratch: its wrapped-column entries are set to zero (those
    above or below the image are left as they are: they are never read).
    """
    n, c, h, w = x_shape
    p, hw = _half(k), h * w
    mat = cols.transpose(1, 0, 2).reshape(c, k, k, n, hw)  # a view: zeroed in place below
    grid = mat.reshape(c, k, k, n, h, w)
    dx = np.zeros(x_shape, cols.dtype)
    flat = dx.reshape(n, c, hw).transpose(1, 0, 2)         # view: (C, N, H*W)
    for i in range(k):
        for j in range(k):
            d = (i - p) * w + (j - p)
            lo, hi = _inside(d, hw)
            grid[:, i, j, :, :, _wrapped(j - p, w)] = 0    # read the padding, not a pixel
            flat[:, :, lo + d:hi + d] += mat[:, i, j, :, lo:hi]
    return dx
