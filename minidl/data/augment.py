"""Data augmentation: random transformations of training images, per batch.

A transform is a function (xb, rng) -> batch of the same shape, applied by
DataLoader(augment=...) to images scaled to [0, 1] (before standardization).
"""
import numpy as np

from ..errors import SettingError, ShapeError, check_int


def random_shift(max_shift=2):
    """Move each image by a random whole number of pixels, up to max_shift in
    each direction, filling the uncovered border with 0 (MNIST's background).

    Works on (N, H, W) or (N, C, H, W); one offset per image, drawn from rng.
    """
    max_shift = check_int("random_shift", "max_shift", max_shift)

    def shift(xb, rng):
        if xb.ndim not in (3, 4):
            raise ShapeError(f"random_shift needs image batches (N, H, W) or (N, C, H, W), "
                             f"got shape {xb.shape}; give the DataLoader images, and "
                             "shape=(784,) to flatten them after the shift")
        n, h, w = xb.shape[0], xb.shape[-2], xb.shape[-1]
        s = max_shift
        if s >= min(h, w):    # some images would come out blank: nothing left to learn from
            raise SettingError(f"random_shift: max_shift {s} can move a {h}x{w} image out of "
                               f"view entirely; use at most {min(h, w) - 1}")
        padded = np.pad(xb.reshape(n, -1, h, w), ((0, 0), (0, 0), (s, s), (s, s)))
        # every h x w crop of the padded image: a view (N, C, 2s+1, 2s+1, H, W)
        crops = np.lib.stride_tricks.sliding_window_view(padded, (h, w), axis=(2, 3))
        dy, dx = rng.integers(0, 2 * s + 1, size=(2, n))
        return crops[np.arange(n), :, dy, dx].reshape(xb.shape)   # crop (dy, dx) of image i
    return shift
