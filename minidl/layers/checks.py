"""The checks behind the layer contract's clear errors: what is wrong with a layer
a student wrote (a parameter set without _add_param, a state() that a checkpoint
cannot store, an __init__ that skipped super().__init__()), and the usual fix for
an input with the wrong number of dimensions. Kept apart from base.py, so that the
contract itself reads in one go; base.py, Sequential, SGD, gradcheck, checkpoints,
the Trainer and the Profiler call these.
"""
import numpy as np

from minidl.errors import SettingError, ShapeError


def float_array(value):
    """What a parameter must be: a NumPy float array, which an optimizer updates in place."""
    return isinstance(value, np.ndarray) and value.dtype.kind == "f"


def foreign_params(model, optimizer):
    """Whether the optimizer updates parameters that are not the model's (it was made
    for another model, or before the model was built again). Only Param objects
    (those with a .layer) are judged."""
    owned = {(id(p.layer), p.key) for p in model.parameters()}
    return any((id(p.layer), p.key) not in owned
               for p in getattr(optimizer, "params", []) if hasattr(p, "layer"))


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


def stray_grads(layer):
    """The gradients a backward wrote under names that are no parameter's
    (self.grads["w"] for params["W"]), as a sentence, or "": no optimizer reads them."""
    stray = [key for key in layer.grads if key not in layer.params]
    if not stray:
        return ""
    return (f"{layer!r}: backward wrote grads[{stray[0]!r}], but the layer has no parameter "
            f"{stray[0]!r} (its parameters: {', '.join(map(repr, layer.params)) or 'none'}); "
            "a misspelt name? Write each gradient into the grads entry of its parameter's name")


def misshapen_grads(layer):
    """The first gradient that is not an array of its parameter's shape, as a
    sentence, or "": SGD's update would broadcast it over the parameter, silently
    (a grads["W"] of shape (out,) moves every row of W by the same step)."""
    grads = layer.grads
    for key, value in layer.params.items():
        if getattr(grads[key], "shape", None) != value.shape:
            grad = grads[key]
            got = f"shape {grad.shape}" if isinstance(grad, np.ndarray) else described(grad)
            return (f"{layer!r}: backward left grads[{key!r}] with {got}, but params[{key!r}] "
                    f"has shape {value.shape}; each gradient has its parameter's shape (a sum "
                    "over the batch axis only, for a bias or BN's gamma and beta)")
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


def check_states(model, owner, also=None):
    """SettingError naming the first layer of `model` (a Sequential, or one layer)
    whose state() a checkpoint or astype cannot handle (state_problem), or, with
    also=aliases, that has another problem `also` finds."""
    for i, layer in enumerate(getattr(model, "layers", [model])):
        problem = state_problem(layer) or (also(layer) if also else "")
        if problem:
            where = f"layer {i}: " if hasattr(model, "layers") else ""
            raise SettingError(f"{owner}: {where}{problem}")


def skipped_init(layer):
    """What is wrong with a layer whose __init__ did not call super().__init__()
    (it fails later with an AttributeError), or "". Setting params and grads by
    hand, as some courses' frameworks do, still misses the rest."""
    missing = [name for name in ("params", "grads", "training", "needs_input_grad")
               if not hasattr(layer, name)]
    if not missing:
        return ""
    return (f"{type(layer).__name__}(): its __init__ did not call super().__init__(), which "
            f"sets up params, grads, the training flag and more ({', '.join(missing)} "
            "missing here); call it first, then add parameters with self._add_param(name, "
            "array)")


def aliases(layer):
    """What is wrong with a layer that keeps a parameter or gradient array, or a view
    of one, under a name of its own (self.W = self.params["W"], self.WT =
    self.params["W"].T), or "". astype gives the layer new arrays, and that name
    would go on holding the old one: a float64 copy for gradcheck whose forward
    uses float32 weights, or a model whose weights never move after model.astype()."""
    own = {f'{d}["{k}"]': a for d in ("params", "grads") for k, a in getattr(layer, d, {}).items()}
    found = [f"self.{name} {'is' if v is a else 'is a view of'} self.{key}"
             for name, v in vars(layer).items() if isinstance(v, np.ndarray)
             for key, a in own.items() if np.may_share_memory(v, a)]
    if not found:
        return ""
    return (f"{type(layer).__name__}: {', '.join(found)}; astype (model.astype, or "
            "gradcheck's float64 copy) gives the layer new arrays, and such a name would go "
            "on holding the old one. Write self.params[...] and self.grads[...] where the "
            "layer uses them")


def not_an_output(layer, y, owner=""):
    """The ShapeError for a forward that returned y, not an array (the callers check
    isinstance(y, np.ndarray) first: Sequential.forward does it for every layer)."""
    got = ("None (a missing `return y`?)" if y is None else described(y) +
           (" (return the output alone; keep what backward needs with self._save)"
            if isinstance(y, tuple) else ""))
    return ShapeError(f"{owner}{layer!r}: forward returned {got}; it must return the output, "
                      "a NumPy array")


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
