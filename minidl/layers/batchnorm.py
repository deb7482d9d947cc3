"""Batch Normalization (Ioffe & Szegedy, 2015, arXiv:1502.03167).

Training (Algorithm 1), per feature k over the m values of a mini-batch B:
    mu_B      = 1/m sum_i x_i                       (mini-batch mean)
    sigma2_B  = 1/m sum_i (x_i - mu_B)^2            (mini-batch variance, biased)
    x_hat_i   = (x_i - mu_B) / sqrt(sigma2_B + eps) (normalize)
    y_i       = gamma * x_hat_i + beta              (scale and shift)
gamma and beta are learned; gamma = sqrt(Var[x] + eps), beta = E[x] restores
the identity at inference (in training only for a batch whose statistics are
those values: gamma and beta are learned, not set per batch), which plain
whitening cannot.

Inference (Algorithm 2) uses population statistics instead: E[x] and the
unbiased Var[x] = m/(m-1) * E_B[sigma2_B] (Bessel's correction), here kept as
running averages updated after every training batch.

Convolutions (section 3.2): one gamma/beta pair per feature map, statistics
over the batch and all spatial positions, so m = N*H*W.
"""
import numpy as np

from minidl.errors import ShapeError, check_dtype, check_int, check_number
from minidl.layers.base import Layer


def channel_sum(a):
    """sum over every axis but the feature axis 1: (N, C) or (N, C, H, W) -> (C,)."""
    if a.ndim == 2:
        return a.sum(axis=0)
    # einsum: faster here than a.sum(axis=(0, 2, 3)) (docs/batchnorm.md times both)
    return np.einsum("ncp->c", a.reshape(a.shape[0], a.shape[1], -1))


def channel_dot(a, b):
    """channel_sum(a * b). For images without the temporary a * b: one dot
    product of length H*W per (n, c) by matmul, faster than einsum there. For
    (N, C), the product and its sum (in a training step no slower than einsum:
    benchmarks/README.md, "Kept after all")."""
    if a.ndim == 2:
        return (a * b).sum(axis=0)
    a3, b3 = (v.reshape(v.shape[0], v.shape[1], 1, -1) for v in (a, b))
    return np.matmul(a3, b3.swapaxes(2, 3)).sum(axis=(0, 2, 3))


def per_feature(v, x):
    """The per-feature vector v (C,) shaped to broadcast against x: (C,) for
    (N, C), (1, C, H, W) for images. For images v is repeated over the H*W
    positions: NumPy broadcasts that block over the batch 1.5 to 2 times as
    fast as a (1, C, 1, 1) array over the batch and the positions."""
    if x.ndim == 2:
        return v
    return np.repeat(v, x.shape[2] * x.shape[3]).reshape(1, *x.shape[1:])


class BatchNorm(Layer):
    """Input (N, C) or (N, C, H, W) -> output of the same shape.

    params: "gamma" (C,) starting at ones, "beta" (C,) starting at zeros.
    state:  running_mean (zeros), running_var (ones), num_batches.
    momentum: running = (1 - momentum) * running + momentum * batch_stat, the
              batch_stat being mu_B, and m/(m-1) sigma2_B for the variance;
              momentum=None gives the exact average over all batches seen since
              num_batches was 0 (Algorithm 2's E_B, when set after training with
              num_batches = 0: docs/batchnorm.md).
    backward(dy) returns dx and sets grads dgamma, dbeta (compact form).
    """

    def __init__(self, num_features, eps=1e-5, momentum=0.1, dtype=np.float32):
        super().__init__()
        self.num_features = check_int("BatchNorm", "num_features", num_features)
        self.eps = check_number("BatchNorm", "eps", eps, lambda v: v > 0, "a number > 0")
        self.momentum = None if momentum is None else check_number(
            "BatchNorm", "momentum", momentum, lambda v: 0 < v <= 1, "in (0, 1] or None")
        dtype = check_dtype("BatchNorm", dtype)
        self._add_param("gamma", np.ones(num_features, dtype))
        self._add_param("beta", np.zeros(num_features, dtype))
        self.running_mean = np.zeros(num_features, dtype)
        self.running_var = np.ones(num_features, dtype)
        self.num_batches = 0

    def forward(self, x):
        self._check(x, (2, 4), self.num_features,
                    what="channels" if np.ndim(x) == 4 else "features")
        # axes and shape are not used below, only saved: subclasses that rewrite
        # backward use them (docs/exercises.md, docs/gradcheck.md)
        axes = (0,) if x.ndim == 2 else (0, 2, 3)              # the summed axes
        shape = (1, -1) if x.ndim == 2 else (1, -1, 1, 1)      # v.reshape(shape) broadcasts
        m = x.size // self.num_features                        # values per feature
        xc = self._buffer("x_hat", x.shape, x.dtype)          # holds x - mu, then x_hat
        if self.training:
            if m == 1:   # often an epoch's last batch: len(x) % batch_size == 1
                raise ShapeError(f"{self!r}: training mode needs more than one value "
                                 f"per feature to estimate a variance, got shape {x.shape}; "
                                 "use a batch of 2 or more, or call eval(). A DataLoader's "
                                 "last batch has one sample when len(x) % batch_size == 1: "
                                 "DataLoader(..., drop_last=True) leaves it out")
            mu = channel_sum(x) / m                            # mu_B
            np.subtract(x, per_feature(mu, x), out=xc)        # x_i - mu_B
            var = channel_dot(xc, xc) / m                      # sigma2_B (biased)
            self._update_running(mu, var, m)
        else:
            mu, var = self.running_mean, self.running_var      # estimates of E[x], Var[x]
            np.subtract(x, per_feature(mu, x), out=xc)
        inv_std = (1.0 / np.sqrt(var + self.eps)).astype(x.dtype)   # 1/sqrt(sigma2 + eps)
        x_hat = np.multiply(xc, per_feature(inv_std, x), out=xc)  # normalize
        self._save(x_hat, inv_std, axes, shape, m, self.training)
        y = x_hat * per_feature(self.params["gamma"], x)      # scale and shift
        y += per_feature(self.params["beta"], x)
        return y

    def backward(self, dy):
        x_hat, inv_std, axes, shape, m, training = self._saved()
        self._check_dy(dy, x_hat.shape)
        gamma = self.params["gamma"]
        dbeta = channel_sum(dy)                                # dL/dbeta  = sum dy
        dgamma = channel_dot(dy, x_hat)                        # dL/dgamma = sum dy * x_hat
        self.grads["beta"][...] = dbeta
        self.grads["gamma"][...] = dgamma
        scale = per_feature(gamma * inv_std, dy)
        if not training:                                       # statistics are constants
            return dy * scale
        # Compact form of the paper's chain rule (section 3, the six equations
        # after Algorithm 1; derivation: docs/batchnorm.md, section 4):
        # dx = gamma/sqrt(var+eps) * (dy - mean(dy) - x_hat * mean(dy * x_hat)),
        # computed in place in one array, one term at a time
        dx = x_hat * per_feature(-dgamma / m, dy)              # - x_hat * mean(dy * x_hat)
        dx += dy
        dx -= per_feature(dbeta / m, dy)                       # - mean(dy)
        dx *= scale
        return dx

    def _update_running(self, mu, var, m):
        """running = (1 - f) * running + f * batch, f = momentum or 1/num_batches."""
        self.num_batches += 1
        f = 1.0 / self.num_batches if self.momentum is None else self.momentum
        unbiased = var * (m / (m - 1))                         # Bessel: m/(m-1) sigma2_B
        if f == 1:   # momentum=None's first batch, or momentum=1: the batch replaces all, NaN too
            self.running_mean[...], self.running_var[...] = mu, unbiased
            return
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
