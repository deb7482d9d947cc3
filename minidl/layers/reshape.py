"""Flatten: (N, C, H, W) -> (N, C*H*W), the bridge from convolutions to Dense."""
import math

from minidl.layers.base import Layer


class Flatten(Layer):
    """Input (N, d1, d2, ...) -> output (N, d1*d2*...); backward reshapes back."""

    def forward(self, x):
        self._check(x, range(2, 6))
        self._save(x.shape)
        return x.reshape(x.shape[0], -1)

    def backward(self, dy):
        (shape,) = self._saved()
        self._check_dy(dy, (shape[0], math.prod(shape[1:])))
        return dy.reshape(shape)
