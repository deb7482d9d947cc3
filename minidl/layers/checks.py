"""The checks behind the layer contract's clear errors: what is wrong with a layer
a student wrote (a parameter set without _add_param, a state() that a checkpoint
cannot store, an __init__ that skipped super().__init__()), and the usual fix for
an input with the wrong number of dimensions. Kept apart from base.py, so that the
contract itself reads in one go; base.py, Sequential, SGD, gradcheck, checkpoints
and the Trainer call these.
"""
import numpy as np

from minidl.errors import SettingError


def float_array(value):
    """What a parameter must be: a NumPy float array, which an optimizer updates in place."""
    return isinstance(value, np.ndarray) and value.dtype.kind == "f"


def described(value):
    """What a parameter was, for an error: 'an array of dtype int64', 'a NumPy scalar
    of type float32', 'a float'."""
    if isinstance(value, np.ndarray):
        return f"an array of dtype {value.dtype}"
    if isinstance(value, np.generic):
        return f"a NumPy scalar of type {type(value).__name__}"
    name = type(value).__name__
    return f"{'an' if name[0] in 'aeiou' else 'a'} {name}"


def unregistered_params(layer):
    """What is wrong with a layer whose params were set without _add_param (no
    gradient array beside a parameter, or a parameter that is not a float
    array), or ""."""
    for key, value in layer.params.items():
        if key not in layer.grads:
            return (f"{layer!r} has params[{key!r}] but no grads[{key!r}]: create each "
                    f"parameter in __init__ with self._add_param({key!r}, value), which makes "
                    "both (backward then writes the gradient into that grads array)")
        if not float_array(value):
            return (f"{layer!r}: params[{key!r}] must be a NumPy float array, got "
                    f"{described(value)} (create it with self._add_param, which says why)")
    return ""


def state_problem(layer):
    """What is wrong with a layer's state(), or "": checkpoints and astype need arrays,
    and a set_state of the layer's own to give them back."""
    if not callable(getattr(layer, "state", None)):
        return f"{layer!r} has no state() (a minidl Layer has one)"
    state = layer.state()
    for key, value in state.items():
        if not isinstance(value, np.ndarray):
            return (f"{layer!r}.state()[{key!r}] is {described(value)}; state() must give "
                    "NumPy arrays, which checkpoints store and astype converts (np.array(n) "
                    "for a number)")
    from minidl.layers.base import Layer     # here: base.py imports this module
    if state and getattr(type(layer), "set_state", None) in (None, Layer.set_state):
        return (f"{layer!r} gives {', '.join(map(repr, state))} in state() but has no "
                "set_state to take them back: checkpoint.load and astype would leave them as "
                "they are. Define set_state(self, state) (docs/layers.md, \"State that is not "
                "learned\")")
    return ""


def check_states(model, owner):
    """SettingError naming the first layer of `model` (a Sequential, or one layer)
    whose state() a checkpoint or astype cannot handle (state_problem)."""
    for i, layer in enumerate(getattr(model, "layers", [model])):
        problem = state_problem(layer)
        if problem:
            where = f"layer {i}: " if hasattr(model, "layers") else ""
            raise SettingError(f"{owner}: {where}{problem}")


def skipped_init(layer):
    """What is wrong with a layer whose __init__ did not call super().__init__()
    (it has no params, and fails later with an AttributeError), or ""."""
    if hasattr(layer, "params"):
        return ""
    return (f"{type(layer).__name__}(): its __init__ did not call super().__init__(), which "
            "sets up params, grads and the training flag (call it first)")


def ndim_hints(shape, ndims, size):
    """The usual fix for an input x with the wrong number of dimensions: (hint if x
    is the user's data, hint if x is the output of the layer before)."""
    got = len(shape)
    if ndims == (2,) and got > 2:
        linear = ""
        if shape[-1] == size and np.prod(shape[1:]) != size:     # PyTorch's Linear habit?
            linear = (f"; or, for {size} features at each position, x.reshape(-1, {size}) and "
                      "the output reshaped back (unlike PyTorch's Linear, Dense does not act "
                      "on the last axis alone)")
        return ("; put a Flatten() before this layer, or flatten the data: "
                "x.reshape(len(x), -1) or DataLoader(..., shape=(784,)) for MNIST" + linear,
                "; put a Flatten() before this layer")
    if got == 1 and 2 in ndims and (size is None or shape[0] == size):   # Flatten's too
        return "; for one sample, add the batch axis: x[None]", ""
    if got == 1 and ndims == (2,) and size == 1:
        return "; for N samples of one feature, x[:, None] gives (N, 1)", ""
    if ndims == (4,) and got == 3:
        return ("; images are (N, C, H, W): x[:, None] adds the channel axis to a batch of "
                "grayscale images, x[None] the batch axis to one image", "")
    if ndims == (4,) and got == 2:
        return ("; images are (N, C, H, W): reshape flat ones, for MNIST x.reshape(-1, 1, 28, 28) "
                "or DataLoader(..., shape=(1, 28, 28))",
                "; this layer takes images (N, C, H, W): is it in the right place?")
    return "", ""


def repeated_layer(layers):
    """(j, i, layer) for the first layer object that stands at two positions j < i of
    `layers`, or None: its backward has room for one saved forward only."""
    first = {}                   # id -> the position where it was first seen
    for i, layer in enumerate(layers):
        j = first.setdefault(id(layer), i)
        if j != i:
            return j, i, layer
    return None
