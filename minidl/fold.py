"""Folding BatchNorm into the layer before it, for inference.

At inference BN uses fixed population statistics, so per feature k it is an
affine map (paper section 3.1, Algorithm 2, last line); merging that map into
the layer before it is a step of its own, not the paper's:
    y = gamma/sqrt(Var[x] + eps) * x + (beta - gamma E[x]/sqrt(Var[x] + eps))
      =            s             * x +               t
Its input x = u W (+ b) is affine in u too, and two affine maps make one:
    y = u (W s) + (s b + t)
so Dense -> BatchNorm becomes one Dense with weights W s (column k of W times
s_k) and bias s b + t; for Conv2D -> BatchNorm, filter k is multiplied by s_k.
The folded model computes the same function in eval mode, with one pass over
the activations less per BN layer. It cannot be trained as a BN model: the
batch statistics, and with them BN's effect on training, are gone.
"""
import copy

import numpy as np

from minidl.layers import BatchNorm, Conv2D, Dense
from minidl.model import Sequential


def fold_batchnorm(model):
    """A new Sequential, in eval mode, in which every Dense or Conv2D followed by
    a BatchNorm is one layer with a bias. In eval mode it gives the outputs of
    ``model`` to rounding. ``model`` itself is left as it was."""
    layers, i = [], 0
    while i < len(model.layers):
        layer = _fresh_copy(model.layers[i])
        after = model.layers[i + 1] if i + 1 < len(model.layers) else None
        if isinstance(layer, (Dense, Conv2D)) and isinstance(after, BatchNorm):
            _fold(layer, after)
            i += 1                                     # the BatchNorm is inside it now
        layers.append(layer)
        i += 1
    return Sequential(*layers).eval()


def _fresh_copy(layer):
    """A deep copy without what the original kept from its last forward (a backward
    of the copy must not run on it) and without its scratch buffers (megabytes)."""
    layer = copy.deepcopy(layer)
    layer.forget()
    layer.__dict__.pop("_buffers", None)
    return layer


def _fold(layer, bn):
    """Give `layer` (a copy) the weights and bias of layer -> bn in eval mode."""
    dtype = layer.params["W"].dtype
    s = bn.params["gamma"].astype(np.float64) / np.sqrt(bn.running_var.astype(np.float64)
                                                        + bn.eps)
    t = bn.params["beta"] - s * bn.running_mean                   # y = s x + t
    b = layer.params["b"] if layer.bias else 0.0
    w = layer.params["W"].astype(np.float64)
    # feature k is column k of a Dense's W (in, out), filter k of a Conv2D's W (F, C, kh, kw)
    w = w * s if isinstance(layer, Dense) else w * s[:, None, None, None]
    layer.params["W"] = w.astype(dtype)
    layer.params["b"] = (s * b + t).astype(dtype)                 # y = u (W s) + (s b + t)
    layer.grads = {k: np.zeros_like(v) for k, v in layer.params.items()}
    layer.bias = True
