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
or, for a layer whose backward does not call it, in Sequential._layer_backward. An
optimizer that finds it unchanged since its last step warns that no backward
has renewed the gradients it is about to use (SGD.step). An optimizer's first
step sets ``updated`` on the layers it updates: Trainer.fit warns when a new
run starts from a model trained already.
"""
import numpy as np

from minidl.errors import BackwardError, SettingError, ShapeError
from minidl.layers.checks import (aliases, check_states, described, float_array, ndim_hints,
                                  skipped_init)


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
        """Convert parameters and float state to ``dtype`` (gradcheck uses float64),
        in place, and return the layer itself (as PyTorch's module.double() does,
        not as NumPy's astype): copy.deepcopy(layer).astype(...) keeps both."""
        if np.dtype(dtype).kind != "f":
            raise SettingError(f"{self!r}: astype needs a float dtype (float32, float64), "
                               f"got {np.dtype(dtype)}")
        check_states(self, "astype", also=aliases)
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
        if "params" not in vars(self):        # before super().__init__(): say so
            raise SettingError(skipped_init(self))
        if not float_array(value):
            fix = ("convert it with .astype(np.float32)" if isinstance(value, np.ndarray) else
                   "an optimizer updates a parameter in place, which a number cannot be: for "
                   "one number use np.array(0.25, np.float32) (shape ()) or np.full(1, 0.25, "
                   "np.float32)")
            raise SettingError(f"{type(self).__name__}: parameter {name!r} must be a NumPy "
                               f"float array, got {described(value)}; {fix}")
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
            hint, model_hint = ndim_hints(x.shape, ndims, size)
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
