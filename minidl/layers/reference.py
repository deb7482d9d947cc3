"""Plain, slow reference versions of the optimized computations.

They follow the definitions literally (loops over output positions; the
paper's step-by-step chain rule for BN) and exist to test the fast code in
conv.py, pool.py and batchnorm.py against. Read these first if the fast versions
look cryptic.
"""
import numpy as np


def conv2d_naive(x, w, b, stride=1, padding=0):
    """y[n, f, i, j] = sum_{c, u, v} x_pad[n, c, i*s + u, j*s + v] * w[f, c, u, v] + b[f]."""
    n, c, h, wd = x.shape
    f, _, kh, kw = w.shape
    xp = np.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)))
    ho, wo = (h + 2 * padding - kh) // stride + 1, (wd + 2 * padding - kw) // stride + 1
    y = np.zeros((n, f, ho, wo), dtype=np.result_type(x, w))
    for i in range(ho):
        for j in range(wo):
            patch = xp[:, :, i * stride:i * stride + kh, j * stride:j * stride + kw]
            y[:, :, i, j] = np.tensordot(patch, w, axes=([1, 2, 3], [1, 2, 3]))
    return y if b is None else y + b[None, :, None, None]


def batchnorm_backward_paper(dy, x, gamma, eps):
    """BN backward for (N, C) input, one line per equation of the paper (section 3):
    returns dx, dgamma, dbeta."""
    m = x.shape[0]
    mu = x.mean(0)
    var = x.var(0)
    x_hat = (x - mu) / np.sqrt(var + eps)
    dx_hat = dy * gamma                                                 # dL/dx_hat
    dvar = np.sum(dx_hat * (x - mu), 0) * -0.5 * (var + eps) ** -1.5    # dL/dsigma2_B
    dmu = (np.sum(dx_hat * -1 / np.sqrt(var + eps), 0)
           + dvar * np.sum(-2 * (x - mu), 0) / m)                       # dL/dmu_B
    dx = dx_hat / np.sqrt(var + eps) + dvar * 2 * (x - mu) / m + dmu / m   # dL/dx_i
    dgamma = np.sum(dy * x_hat, 0)                                      # dL/dgamma
    dbeta = np.sum(dy, 0)                                               # dL/dbeta
    return dx, dgamma, dbeta


def maxpool_naive(x, k, stride):
    """y[n, c, i, j] = max over the k x k window at (i*stride, j*stride)."""
    n, c, h, w = x.shape
    ho, wo = (h - k) // stride + 1, (w - k) // stride + 1
    y = np.empty((n, c, ho, wo), dtype=x.dtype)
    for i in range(ho):
        for j in range(wo):
            y[:, :, i, j] = x[:, :, i * stride:i * stride + k, j * stride:j * stride + k].max((2, 3))
    return y


def maxpool_backward_naive(x, dy, k, stride):
    """dL/dx of maxpool_naive: each dy[n, c, i, j] goes to the first maximum (in
    row-major order) of its window; an element that wins several windows gets the sum."""
    dx = np.zeros_like(x)
    for n, c, i, j in np.ndindex(*dy.shape):
        win = x[n, c, i * stride:i * stride + k, j * stride:j * stride + k]
        u, v = np.unravel_index(np.argmax(win), win.shape)
        dx[n, c, i * stride + u, j * stride + v] += dy[n, c, i, j]
    return dx
