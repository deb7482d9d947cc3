"""The layer contract every minidl layer follows.

A layer holds its learnable arrays in ``params`` (a dict of name -> array) and,
after ``backward``, the gradient of the loss with respect to each in ``grads``
(same keys, same shapes). ``forward(x)`` returns the output and remembers what
``backward`` needs; ``backward(dy)`` takes dL/dy and returns dL/dx. Gradients
are overwritten, not accumulated, by each ``backward``.

``needs_input_grad`` (default True): when False, a layer with parameters may
skip computing dL/dx and return None from ``backward``. Sequential sets it on
its first layer with parameters when asked not to return the input gradient
(the gradient with respect to the data is never used in training).

``backward_count`` counts the backwards of a layer in a Sequential (None for
one that never was: not counted). Each backward counts once, in ``_saved()``
or, for a layer whose backward does not call it, in Sequential.backward. An
optimizer that finds it unchanged since its last step warns that no backward
has renewed the gradients it is about to use (SGD.step).
"""
import numpy as np

from minidl.errors import BackwardError, SettingError, ShapeError


class Layer:
    """Base class: parameters, train/eval mode, and the forward/backward cache."""

    def __init__(self):
        self.params = {}
        self.grads = {}
        self.training = True
        self.needs_input_grad = True
        self._cache = None
        self.backward_count = None    # backwards so far, once in a Sequential (SGD.step)

    # --- the contract -----------------------------------------------------
    def forward(self, x):
        raise NotImplementedError

    def backward(self, dy):
        raise NotImplementedError

    def __call__(self, x):
        return self.forward(x)

    def train(self):
        self.training = True
        return self

    def eval(self):
        self.training = False
        return self

    def extra_repr(self):
        return ""

    def __repr__(self):
        return f"{type(self).__name__}({self.extra_repr()})"

    def parameters(self):
        """Every parameter as a Param (name, value, grad), for optimizers."""
        return [Param(key, self, key) for key in self.params]

    def state(self):
        """Arrays that are not learned but must be saved (e.g. BN running stats), by
        name: the layer's own arrays, not copies, and arrays, not numbers (for a count,
        np.array(count)). A layer that has some defines set_state too."""
        return {}

    def set_state(self, state):
        """Take back what state() gave (checkpoint.load, astype). Nothing to take back
        here; a layer with state defines its own, which keeps a copy of each array
        (docs/layers.md, "State that is not learned")."""

    def astype(self, dtype):
        """Convert parameters and float state to ``dtype`` (gradcheck uses float64)."""
        if np.dtype(dtype).kind != "f":
            raise SettingError(f"{self!r}: astype needs a float dtype (float32, float64), "
                               f"got {np.dtype(dtype)}")
        check_states(self, "astype")
        for key in self.params:
            self.params[key] = self.params[key].astype(dtype)
            self.grads[key] = np.zeros_like(self.params[key])
        # float state only: a count (BN's num_batches) stays exact (float16 rounded 2049 to
        # 2048 and overflowed at 65,520, with the model left half converted)
        self.set_state({k: v.astype(dtype) if v.dtype.kind == "f" else v
                        for k, v in self.state().items()})
        return self

    # --- helpers for subclasses -------------------------------------------
    def _add_param(self, name, value):
        if not _float_array(value):
            fix = ("convert it with .astype(np.float32)" if isinstance(value, np.ndarray) else
                   "an optimizer updates a parameter in place, which a number cannot be: for "
                   "one number use np.array(0.25, np.float32) (shape ()) or np.full(1, 0.25, "
                   "np.float32)")
            raise SettingError(f"{type(self).__name__}: parameter {name!r} must be a NumPy "
                               f"float array, got {_described(value)}; {fix}")
        self.params[name] = value
        self.grads[name] = np.zeros_like(value)

    def _buffer(self, name, shape, dtype, zeros=False):
        """A scratch array kept between steps, reallocated only when the shape
        or dtype changes. Reusing it avoids fresh page faults every step. Only
        for arrays that stay inside the layer: outputs and dx are always new."""
        buffers = self.__dict__.setdefault("_buffers", {})
        buf = buffers.get(name)
        if buf is None or buf.shape != tuple(shape) or buf.dtype != dtype:
            buf = buffers[name] = (np.zeros if zeros else np.empty)(shape, dtype)
        return buf

    def _save(self, *values):
        """Keep what backward needs; one backward per forward."""
        self._cache, self._taken = values, None

    def forget(self):
        """Drop what the last forward kept for backward (a backward then raises)."""
        self._cache = None

    def _saved(self):
        if self._cache is None:
            raise BackwardError(
                f"{self!r}: backward() called without a forward() before it "
                "(or twice for one forward). Call forward(x) first; each forward "
                "allows exactly one backward. (Writing a layer? Its forward must "
                "call self._save(...) on every path, eval mode included.)")
        values, self._cache = self._cache, None
        self._taken = values          # until _check_dy has accepted dy: a refused dy keeps them
        if self.backward_count is not None:
            self.backward_count += 1
        return values

    def _check_dy(self, dy, shape):
        """dy must have the shape of the output it is the gradient of: a (1, C) or
        (C,) gradient would otherwise broadcast, and give wrong gradients silently."""
        taken, self._taken = getattr(self, "_taken", None), None
        if np.shape(dy) != tuple(shape):
            if taken is not None:     # the forward's values stay: backward may be called again
                self._cache = taken
                if self.backward_count is not None:
                    self.backward_count -= 1          # and this backward did not count
            raise ShapeError(f"{self!r}: backward expected dy of shape {tuple(shape)} (the "
                             f"shape of the forward's output), got {np.shape(dy)}")

    def _check(self, x, ndim, size=None, axis=1, what="features"):
        """Raise ShapeError unless x is a floating array with ``ndim`` dims and
        ``x.shape[axis] == size`` (when size is given)."""
        ndims = (ndim,) if isinstance(ndim, int) else tuple(ndim)
        if not isinstance(x, np.ndarray):
            raise ShapeError(f"{self!r}: expected a NumPy array, got {type(x).__name__}")
        if x.dtype == np.uint8:                                 # images as 0..255 pixels?
            raise ShapeError(f"{self!r}: expected a floating-point array (float32 or "
                             f"float64), got dtype {x.dtype}; images as uint8 must be scaled "
                             "as in training, not only converted: loader.batch(index) gives "
                             "samples as the DataLoader does (divided by 255, standardized)")
        if x.dtype.kind != "f":                                 # float16/32/64
            raise ShapeError(f"{self!r}: expected a floating-point array (float32 or "
                             f"float64), got dtype {x.dtype}; convert with x.astype(np.float32)")
        dtype = next(iter(self.params.values())).dtype if self.params else x.dtype
        if x.dtype != dtype:                                    # no silent up- or downcast
            raise ShapeError(f"{self!r}: expected {dtype} input (the dtype of its parameters), "
                             f"got {x.dtype}", hint=f"; convert with x.astype(np.{dtype}) "
                             f"(a DataLoader gives it with dtype=np.{dtype})",
                             model_hint=f"; a model's layers share one dtype: create this "
                             f"layer's parameters as {x.dtype} (np.zeros(n, np.{x.dtype})), or "
                             f"convert the model with model.astype(np.{x.dtype})")
        if x.ndim not in ndims:
            want = " or ".join(f"{d}-D" for d in ndims)
            hint, model_hint = _ndim_hints(x.shape, ndims, size)
            raise ShapeError(f"{self!r}: expected a {want} input, got shape {x.shape}",
                             hint=hint, model_hint=model_hint)
        if x.shape[0] == 0:
            raise ShapeError(f"{self!r}: got an empty batch (shape {x.shape})")
        if size is not None and x.shape[axis] != size:
            hint = ""
            if x.ndim == 4 and axis == 1 and x.shape[-1] == size:      # (N, H, W, C)?
                hint = "; channels last? minidl's images are (N, C, H, W): x.transpose(0, 3, 1, 2)"
                if size == 1:                                        # one channel: a reshape too
                    hint += f", or DataLoader(..., shape=(1, {x.shape[1]}, {x.shape[2]}))"
            raise ShapeError(f"{self!r}: expected {size} {what} on axis {axis}, "
                             f"got shape {x.shape}", hint=hint)


def _float_array(value):
    """What a parameter must be: a NumPy float array, which an optimizer updates in place."""
    return isinstance(value, np.ndarray) and value.dtype.kind == "f"


def _described(value):
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
        if not _float_array(value):
            return (f"{layer!r}: params[{key!r}] must be a NumPy float array, got "
                    f"{_described(value)} (create it with self._add_param, which says why)")
    return ""


def state_problem(layer):
    """What is wrong with a layer's state(), or "": checkpoints and astype need arrays,
    and a set_state of the layer's own to give them back."""
    if not callable(getattr(layer, "state", None)):
        return f"{layer!r} has no state() (a minidl Layer has one)"
    state = layer.state()
    for key, value in state.items():
        if not isinstance(value, np.ndarray):
            return (f"{layer!r}.state()[{key!r}] is {_described(value)}; state() must give "
                    "NumPy arrays, which checkpoints store and astype converts (np.array(n) "
                    "for a number)")
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


def _ndim_hints(shape, ndims, size):
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


class Param:
    """A named handle on one parameter: ``value`` and ``grad`` are the live arrays
    of the owning layer, so an optimizer can update them in place."""

    __slots__ = ("name", "layer", "key")

    def __init__(self, name, layer, key):
        self.name, self.layer, self.key = name, layer, key

    @property
    def value(self):
        return self.layer.params[self.key]

    @property
    def grad(self):
        return self.layer.grads[self.key]

    def __repr__(self):
        return f"Param({self.name!r}, shape={self.value.shape})"
