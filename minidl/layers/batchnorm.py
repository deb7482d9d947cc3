"""Batch Normalization (Ioffe & Szegedy, 2015, arXiv:1502.03167).

Training (Algorithm 1), per feature k over the m values of a mini-batch B:
    mu_B      = 1/m sum_i x_i                       (mini-batch mean)
    sigma2_B  = 1/m sum_i (x_i - mu_B)^2            (mini-batch variance, biased)
    x_hat_i   = (x_i - mu_B) / sqrt(sigma2_B + eps) (normalize)
    y_i       = gamma * x_hat_i + beta              (scale and shift)
gamma and beta are learned; gamma = sqrt(Var[x]), beta = E[x] restores the
identity, which plain whitening cannot.

Inference (Algorithm 2) uses population statistics instead: E[x] and the
unbiased Var[x] = m/(m-1) * E_B[sigma2_B] (Bessel's correction), here kept as
running averages updated after every training batch.

Convolutions (section 3.2): one gamma/beta pair per feature map, statistics
over the batch and all spatial positions, so m = N*H*W.
"""
import numpy as np

from minidl.errors import ShapeError
from minidl.layers.base import Layer


class BatchNorm(Layer):
    """Input (N, C) or (N, C, H, W) -> output of the same shape.

    params: "gamma" (C,) starting at ones, "beta" (C,) starting at zeros.
    state:  running_mean (zeros), running_var (ones), num_batches.
    momentum: running = (1 - momentum) * running + momentum * batch_stat;
              momentum=None gives the exact average over all batches seen.
    backward(dy) returns dx and sets grads dgamma, dbeta (compact form).
    """

    def __init__(self, num_features, eps=1e-5, momentum=0.1, dtype=np.float32):
        super().__init__()
        self.num_features, self.eps, self.momentum = num_features, eps, momentum
        self._add_param("gamma", np.ones(num_features, dtype))
        self._add_param("beta", np.zeros(num_features, dtype))
        self.running_mean = np.zeros(num_features, dtype)
        self.running_var = np.ones(num_features, dtype)
        self.num_batches = 0

    def forward(self, x):
        self._check(x, (2, 4), self.num_features)
        axes = (0,) if x.ndim == 2 else (0, 2, 3)
        shape = (1, -1) if x.ndim == 2 else (1, -1, 1, 1)   # broadcast per feature
        m = x.size // self.num_features                        # values per feature
        if self.training:
            if m == 1:
                raise ShapeError(f"{self!r}: training mode needs more than one value "
                                 f"per feature to estimate a variance, got shape {x.shape}; "
                                 "use a batch of 2 or more, or call eval()")
            mu = x.mean(axis=axes)                             # mu_B
            xc = x - mu.reshape(shape)                         # x_i - mu_B
            var = np.mean(xc * xc, axis=axes)                  # sigma2_B (biased)
            self._update_running(mu, var, m)
        else:
            mu, var = self.running_mean, self.running_var      # E[x], Var[x]
            xc = x - mu.reshape(shape)
        inv_std = (1.0 / np.sqrt(var + self.eps)).astype(x.dtype)   # 1/sqrt(sigma2 + eps)
        x_hat = xc * inv_std.reshape(shape)                    # normalize
        self._save(x_hat, inv_std, axes, shape, m, self.training)
        return self.params["gamma"].reshape(shape) * x_hat + self.params["beta"].reshape(shape)

    def backward(self, dy):
        x_hat, inv_std, axes, shape, m, training = self._saved()
        gamma = self.params["gamma"]
        dbeta = dy.sum(axis=axes)                              # dL/dbeta  = sum dy
        dgamma = (dy * x_hat).sum(axis=axes)                   # dL/dgamma = sum dy * x_hat
        self.grads["beta"][...] = dbeta
        self.grads["gamma"][...] = dgamma
        scale = (gamma * inv_std).reshape(shape)
        if not training:                                       # statistics are constants
            return dy * scale
        # Compact form of the paper's chain rule (derivation: docs/batchnorm.md):
        # dx = gamma/sqrt(var+eps) * (dy - mean(dy) - x_hat * mean(dy * x_hat))
        return scale * (dy - (dbeta / m).reshape(shape) - x_hat * (dgamma / m).reshape(shape))

    def _update_running(self, mu, var, m):
        """running = (1 - f) * running + f * batch, f = momentum or 1/num_batches."""
        self.num_batches += 1
        f = 1.0 / self.num_batches if self.momentum is None else self.momentum
        unbiased = var * (m / (m - 1))                         # Bessel: m/(m-1) sigma2_B
        self.running_mean *= 1 - f
        self.running_mean += f * mu
        self.running_var *= 1 - f
        self.running_var += f * unbiased

    def state(self):
        return {"running_mean": self.running_mean, "running_var": self.running_var,
                "num_batches": np.array(self.num_batches)}

    def set_state(self, state):
        self.running_mean = np.array(state["running_mean"], dtype=self.params["gamma"].dtype)
        self.running_var = np.array(state["running_var"], dtype=self.params["gamma"].dtype)
        self.num_batches = int(state["num_batches"])

    def extra_repr(self):
        return f"{self.num_features}, eps={self.eps}, momentum={self.momentum}"
