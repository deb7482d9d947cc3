"""Weight initialization.

- "he": N(0, 2/fan_in), keeps the variance of ReLU activations constant
  across layers (He et al., 2015). The default for ReLU networks.
- "xavier": N(0, 2/(fan_in + fan_out)) (Glorot & Bengio, 2010), suited to
  sigmoid and tanh, which are roughly linear around zero.
- a float s: N(0, s^2), a plain small Gaussian, as in the BN paper's MNIST
  experiment.
"""
import numpy as np

from minidl.errors import SettingError


def as_rng(rng):
    """A numpy Generator from a Generator, an int seed, or None (fresh entropy)."""
    return rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)


def init_weight(shape, fan_in, fan_out, init="he", rng=None, dtype=np.float32):
    if init == "he":
        std = np.sqrt(2.0 / fan_in)
    elif init == "xavier":
        std = np.sqrt(2.0 / (fan_in + fan_out))
    elif isinstance(init, (int, float)) and not isinstance(init, bool) and init > 0:
        std = float(init)
    else:
        raise SettingError(f"init must be 'he', 'xavier' or a positive std (float), got {init!r}")
    return (as_rng(rng).standard_normal(shape) * std).astype(dtype)
