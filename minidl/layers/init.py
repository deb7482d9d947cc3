"""Weight initialization.

- "he": N(0, 2/fan_in), keeps the variance of ReLU activations constant
  across layers (He et al., 2015). The default for ReLU networks.
- "xavier": N(0, 2/(fan_in + fan_out)) (Glorot & Bengio, 2010), derived for
  activations with slope 1 around zero, as tanh. The sigmoid's slope there is
  1/4, so with it the gradients still shrink about 4x per layer going down.
- a number s > 0: N(0, s^2), a plain small Gaussian, as in the BN paper's MNIST
  experiment.
"""
import numpy as np

from minidl.errors import SettingError, check_number


def as_rng(rng, owner="as_rng", name="rng"):
    """A numpy Generator from a Generator, an int seed >= 0, or None (fresh entropy).
    owner and name ("mlp", "seed") say whose setting it is in the error."""
    if isinstance(rng, np.random.Generator):
        return rng
    try:
        return np.random.default_rng(rng)
    except (TypeError, ValueError):      # 0.5, "a", -1: NumPy's message names SeedSequence
        raise SettingError(f"{owner}: {name} must be None, an int >= 0 or a "
                           f"np.random.Generator, got {rng!r}") from None


def init_weight(shape, fan_in, fan_out, init="he", rng=None, dtype=np.float32,
                owner="init_weight"):
    """Weights of the given shape drawn as init says, in dtype; owner ("Dense")
    names the layer in the error on a bad init or rng."""
    if isinstance(init, (np.ndarray, list, tuple)):   # init == "he" would compare elementwise
        raise SettingError(f"{owner}: init must be 'he', 'xavier' or a std > 0, got a "
                           f"{type(init).__name__}; to set the weights themselves, build the "
                           "layer and assign layer.params['W'][...] = array")
    if init == "he":
        std = np.sqrt(2.0 / fan_in)
    elif init == "xavier":
        std = np.sqrt(2.0 / (fan_in + fan_out))
    else:   # a std: any real number > 0, np.float32(0.1) as well as 0.1
        std = check_number(owner, "init", init, lambda v: v > 0, "'he', 'xavier' or a std > 0")
    return (as_rng(rng, owner).standard_normal(shape) * std).astype(dtype)
