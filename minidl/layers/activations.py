"""Elementwise nonlinearities: ReLU, Sigmoid, Tanh.

Each takes an array of 1 to 5 dimensions and returns the same shape and dtype;
backward(dy) returns dy * g'(x). None has parameters.
"""
import numpy as np

from minidl.layers.base import Layer


class _Elementwise(Layer):
    def _check_any(self, x):
        self._check(x, range(1, 6))


class ReLU(_Elementwise):
    """y = max(0, x);  dy/dx = 1 where x > 0, else 0."""

    def forward(self, x):
        self._check_any(x)
        mask = x > 0
        self._save(mask)
        # max against zeros of one sample's shape, never written to: NumPy's maximum
        # has no fast loop for a scalar 0 (benchmarks/README.md has the timings)
        zeros = self._buffer("zeros", x.shape[1:], x.dtype, zeros=True)
        return np.maximum(x, zeros)   # not x * mask: -inf * 0 is NaN, -1 * 0 is -0.0

    def backward(self, dy):
        (mask,) = self._saved()
        self._check_dy(dy, mask.shape)
        return np.multiply(dy, mask, dtype=dy.dtype)


class Sigmoid(_Elementwise):
    """y = 1 / (1 + exp(-x));  dy/dx = y (1 - y).

    Computed as (1 + tanh(x/2)) / 2, the same function without exp(-x), which
    overflows for x below about -88 in float32: 1 / (1 + inf) = 0 is still right,
    but NumPy warns in the middle of training. The price: for very negative x the
    sum 1 + tanh(x/2) cancels, so in float32 y is a multiple of 2^-25 (3e-8):
    2.6% off at x = -15, stuck at 3e-8 from about -17.3 to -20 (up to 15 times
    the true value), and exactly 0 below -20 (docs/layers.md prints these).
    Such units are saturated: their gradient y(1 - y) is below 3.1e-7 there.
    In float64 the same happens further out: y is a multiple of 2^-54 (5.6e-17),
    3% off at x = -35 and exactly 0 below about -38 (true value 3.2e-17).
    """

    def forward(self, x):
        self._check_any(x)
        y = np.tanh(x * 0.5)
        y += 1
        y *= 0.5
        self._save(y)
        return y

    def backward(self, dy):
        (y,) = self._saved()
        self._check_dy(dy, y.shape)
        return dy * y * (1 - y)


class Tanh(_Elementwise):
    """y = tanh(x);  dy/dx = 1 - y^2."""

    def forward(self, x):
        self._check_any(x)
        y = np.tanh(x)
        self._save(y)
        return y

    def backward(self, dy):
        (y,) = self._saved()
        self._check_dy(dy, y.shape)
        return dy * (1 - y * y)
