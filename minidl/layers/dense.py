"""Fully connected layer: y = x W + b."""
import numpy as np

from minidl.errors import check_dtype, check_int
from minidl.layers.base import Layer
from minidl.layers.init import init_weight


class Dense(Layer):
    """y = x @ W + b.

    Input (N, in_features) -> output (N, out_features).
    params: "W" (in_features, out_features), "b" (out_features,) unless bias=False.
    backward(dy) returns dx = dy W^T (None when needs_input_grad is False) and
    sets grads dW = x^T dy, db = sum_n dy.

    With bias=False there is no "b" key: use it before BatchNorm, whose beta
    takes the bias's role (paper section 3.2).
    """

    def __init__(self, in_features, out_features, bias=True, init="he", rng=None,
                 dtype=np.float32):
        super().__init__()
        in_features = check_int("Dense", "in_features", in_features)
        out_features = check_int("Dense", "out_features", out_features)
        dtype = check_dtype("Dense", dtype)
        self.in_features, self.out_features, self.bias = in_features, out_features, bias
        self._add_param("W", init_weight((in_features, out_features), in_features,
                                         out_features, init, rng, dtype, owner="Dense"))
        if bias:
            self._add_param("b", np.zeros(out_features, dtype))

    def forward(self, x):
        self._check(x, 2, self.in_features)
        self._save(x)
        y = x @ self.params["W"]
        if self.bias:
            y += self.params["b"]
        return y

    def backward(self, dy):
        (x,) = self._saved()
        self._check_dy(dy, (len(x), self.out_features))
        np.matmul(x.T, dy, out=self.grads["W"])        # dL/dW = x^T dy
        if self.bias:
            np.sum(dy, axis=0, out=self.grads["b"])    # dL/db = sum over the batch
        if not self.needs_input_grad:                  # first layer: dL/dx is not needed
            return None
        return dy @ self.params["W"].T                 # dL/dx = dy W^T

    def extra_repr(self):
        return f"{self.in_features}, {self.out_features}, bias={self.bias}"
