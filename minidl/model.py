"""Sequential: a chain of layers, run forward in order and backward in reverse."""
import contextlib
from copy import deepcopy

import numpy as np

from minidl.errors import BackwardError, SettingError, ShapeError, a_class, at_layer
from minidl.layers.base import Layer, Param
from minidl.layers.checks import (aliases, check_states, misshapen_grads, not_an_output,
                                  repeated_layer, skipped_init, stray_grads,
                                  unregistered_params)


class Sequential:
    """y = layers[-1](...layers[1](layers[0](x))).

    backward(dy) runs each layer's backward in reverse order and returns dL/dx.
    parameters() names each parameter "<layer index>.<key>" ("0.W", "1.gamma").

    input_grad (default True): set it to False when dL/dx is not needed (in
    training, x is the data): the first layer with parameters then skips
    computing it, the layers before that one are not run backward at all, and
    backward returns None. gradcheck turns it back on while it checks.

    Each layer's backward_count goes up by one with every backward (Layer._saved
    counts it, or Sequential._layer_backward for a layer without _saved): an
    optimizer warns when it steps on gradients that no backward has renewed
    (SGD.step), as one of a model built again in a notebook would.
    """

    def __init__(self, *layers):
        for i, layer in enumerate(layers):
            _check_layer(i, layer)
        twice = repeated_layer(layers)
        if twice:
            first, i, layer = twice
            raise SettingError(
                f"Sequential: arguments {first} and {i} are the same {layer!r} object; "
                f"each place needs a layer of its own ({type(layer).__name__}(...) "
                "twice): a layer keeps what its forward saw for its backward, and "
                "shared weights would be updated twice")
        self.layers = list(layers)
        for layer in self.layers:          # from now on its backwards are counted
            if getattr(layer, "backward_count", None) is None:
                layer.backward_count = 0
        self.training = True
        self.input_grad = True
        self._inputs = None           # (shape, dtype) of each layer's input in the last forward
        self._out_shape = None        # and of its output: what backward checks against
        self._went_back = False       # True once that forward's backward has run

    def forward(self, x):
        self._inputs = self._out_shape = None    # until this forward has gone through
        self._went_back = False
        inputs = []
        for i, layer in enumerate(self.layers):
            try:
                layer.forget()     # a forward that saves nothing leaves no older forward's values
                y = layer.forward(x)
                _check_output(layer, x, y)
            except Exception as e:
                self.forget()                # half a forward: nothing to go back through
                if isinstance(e, ShapeError):    # say where in the model it happened
                    raise at_layer(e, i) from None
                raise
            inputs.append((x.shape, x.dtype))    # x passed the layer's checks: an array
            x = y
        self._inputs, self._out_shape = inputs, x.shape
        return x

    def forget(self):
        """Drop what the last forward kept in every layer (a backward then raises)."""
        for layer in self.layers:
            layer.forget()

    def __call__(self, x):                # a forward set on the instance (profiler) runs too
        return self.forward(x)

    def __len__(self):
        return len(self.layers)

    def __getitem__(self, i):
        """model[i] is layers[i]; model[a:b] a Sequential of those layers (the same
        objects, as in PyTorch: training one trains the other)."""
        if isinstance(i, slice):
            return Sequential(*self.layers[i])
        return self.layers[i]

    def backward(self, dy):
        # input_grad False: dL/dx of the model is not wanted. The first layer
        # with parameters then need not compute its dL/dx, and the layers before
        # it (Flatten, say) have no parameters and only that gradient to give,
        # so backward stops at that layer and drops what they kept for it.
        first = next((i for i, layer in enumerate(self.layers) if layer.params),
                     len(self.layers))
        self._check_backward(dy, first)
        if first < len(self.layers):
            before = self.layers[first].needs_input_grad
            self.layers[first].needs_input_grad = self.input_grad
        start = 0 if self.input_grad else first
        try:
            for layer in self.layers[:start]:
                layer.forget()
            for i in reversed(range(start, len(self.layers))):
                dy = self._layer_backward(i, dy)
            self._out_shape, self._went_back = None, True
        finally:
            if first < len(self.layers):    # the layer, used on its own, is as it was
                self.layers[first].needs_input_grad = before
        return dy if self.input_grad else None

    def _layer_backward(self, i, dy):
        """Layer i's backward, counted (for the optimizer: SGD.step), its gradients'
        names and shapes and its dL/dx checked."""
        layer = self.layers[i]
        if layer.backward_count is None:   # put into self.layers after __init__:
            layer.backward_count = 0       # counted from now on
        counted = layer.backward_count
        dx = layer.backward(dy)
        if layer.backward_count == counted:   # no _saved() in its backward: count here
            layer.backward_count += 1
        if layer.grads.keys() != layer.params.keys():   # grads["w"] for params["W"]: unused
            problem = stray_grads(layer) or unregistered_params(layer)
        else:                                 # a wrong shape would broadcast in SGD.step
            problem = misshapen_grads(layer)
        if problem:
            raise BackwardError(f"layer {i} of the Sequential: {problem}")
        if layer.needs_input_grad:            # False: it skipped dL/dx on purpose
            self._check_dx(i, dx)
        return dx

    def _check_backward(self, dy, first):
        """A backward needs a forward before it (one per forward), and a dy of the
        output's shape and of the dtype of the parameters (of the first layer with
        parameters, `first`)."""
        shape = self._out_shape
        if shape is None and self._went_back:
            raise BackwardError(
                "model.backward(dy) called twice for one forward: the first took what the "
                "layers kept for it, and each forward allows one backward. Call "
                "model.forward(x) again before the next backward.")
        if shape is None:
            raise BackwardError(
                "model.backward(dy): no forward to go back through. Call model.forward(x) "
                "first; each forward allows one backward. A forward inside `with "
                "model.inference():` (or evaluate()) keeps nothing, and leaving that block "
                "drops what the training forward before it kept: evaluate after the step's "
                "backward, not between its forward and backward.")
        if np.shape(dy) != shape:                        # else dy would broadcast, silently
            raise ShapeError(f"backward: expected dy of shape {shape} (the shape of the "
                             f"last forward's output), got {np.shape(dy)}" + (
                                 "; one number is the loss itself: pass its gradient, "
                                 "model.backward(loss_fn.backward())" if np.ndim(dy) == 0
                                 else ""))
        if first < len(self.layers):
            dtype = next(iter(self.layers[first].params.values())).dtype
            if getattr(dy, "dtype", None) != dtype:   # as forward: no silent up- or downcast
                raise ShapeError(f"backward: expected a {dtype} gradient (the dtype of the "
                                 f"parameters), got {getattr(dy, 'dtype', type(dy).__name__)}")

    def _check_dx(self, i, dx):
        """A layer's dL/dx must look like its input: name the layer if not (a
        student's new layer that forgot `return dx`, or summed over the batch)."""
        shape, dtype = self._inputs[i]
        if getattr(dx, "shape", None) != shape or dx.dtype != dtype:
            got = ("None (a missing `return dx`?)" if dx is None else
                   f"shape {getattr(dx, 'shape', None)} and dtype {getattr(dx, 'dtype', type(dx))}")
            raise ShapeError(f"layer {i} of the Sequential: {self.layers[i]!r}: backward "
                             f"returned {got}; dL/dx must have the shape {shape} and dtype "
                             f"{dtype} of the layer's input")

    def train(self):
        self.training = True
        for layer in self.layers:
            layer.train()
        return self

    def eval(self):
        self.training = False
        for layer in self.layers:
            layer.eval()
        return self

    def parameters(self):
        return [Param(f"{i}.{key}", layer, key)
                for i, layer in enumerate(self.layers) for key in layer.params]

    def state(self):
        """Non-learned arrays (BN running statistics), named like parameters."""
        return {f"{i}.{k}": v for i, layer in enumerate(self.layers)
                for k, v in layer.state().items()}

    def set_state(self, state):
        for i, layer in enumerate(self.layers):
            own = {k.split(".", 1)[1]: v for k, v in state.items() if k.split(".")[0] == str(i)}
            if own:
                layer.set_state(own)

    def astype(self, dtype):
        """Every layer converted to dtype, in place; returns the model itself (not a
        copy, unlike NumPy's astype: copy.deepcopy(model).astype(...) keeps both)."""
        check_states(self, "astype", also=aliases)   # every layer before any is converted
        for layer in self.layers:
            layer.astype(dtype)
        return self

    @contextlib.contextmanager
    def inference(self):
        """Eval mode for the block, then each layer's previous mode again (a BN
        layer kept in eval mode stays so); forward passes inside keep nothing for
        backward, so a stray backward() still raises.

            with model.inference():
                logits = model.forward(x)
        """
        modes = [(layer, layer.training) for layer in self.layers]
        was_training = self.training
        self.eval()
        try:
            yield self
        finally:
            for layer, training in modes:
                layer.forget()
                if training:
                    layer.train()
            self._inputs = self._out_shape = None
            self.training = was_training

    def num_parameters(self):
        return sum(p.value.size for p in self.parameters())

    def summary(self, input_shape):
        """A table of layer, output shape and parameter count, for an input of
        shape (N, *input_shape) (an int n means (n,)). Runs one forward pass in eval
        mode on zeros, on a copy: the model's state (a forward waiting for its
        backward, say) is untouched."""
        input_shape = _sample_shape(input_shape)
        rows, refused = self._trace(input_shape)
        if refused:
            i, e = refused
            said = e.said + (e.model_hint if i else "")   # given a shape, not data: no data hint
            raise ShapeError(f"summary({input_shape}): layer {i} failed on its input (2 "
                             f"samples): {said}{self._shape_hint(input_shape)}")
        width = max(len(r[0]) for r in rows) + 2
        lines = [f"{'layer':<{width}}{'output shape':<20}{'params':>10}", "-" * (width + 30)]
        lines += [f"{a:<{width}}{b:<20}{c:>10}" for a, b, c in rows]
        lines += ["-" * (width + 30), f"total parameters: {self.num_parameters():,}"]
        return "\n".join(lines)

    def _trace(self, input_shape):
        """summary's forward pass: (rows, None), or (rows so far, (i, error)) when
        layer i refuses its input."""
        dtype = self.parameters()[0].value.dtype if self.parameters() else np.float32
        x = np.zeros((2, *input_shape), dtype)
        rows = [("input", str((None, *input_shape)), "")]
        model = deepcopy(self)
        with model.inference():
            for i, layer in enumerate(model.layers):
                try:
                    y = layer.forward(x)
                    _check_output(layer, x, y)
                    x = y
                except ShapeError as e:
                    return rows, (i, e)
                n = sum(v.size for v in layer.params.values())
                rows.append((f"{i}: {layer!r}", str((None, *x.shape[1:])), f"{n:,}" if n else ""))
        return rows, None

    def _shape_hint(self, input_shape):
        """A hint when input_shape works without its first axis (the batch axis), for
        an (H, W) image with a channel axis in front, or flattened (an MLP)."""
        if len(input_shape) < 2:
            return ""
        tries = [(input_shape[1:], f"If {input_shape[0]} is the batch size, leave it out "
                                   "(input_shape is one sample's shape)")]
        if len(input_shape) == 2:          # (H, W): an image without its channel axis?
            channels = next((layer.in_channels for layer in self.layers
                             if hasattr(layer, "in_channels")), 1)   # the first convolution's
            tries.append(((channels, *input_shape), f"Images are (C, H, W), here C = {channels}"
                          + (" (grayscale)" if channels == 1 else "")))
        if len(input_shape) == 3:          # (H, W, C): channels last?
            h, w, c = input_shape
            tries.append(((c, h, w), "Images are (C, H, W), channels first (channels-last "
                                     "data: x.transpose(0, 3, 1, 2))"))
        tries.append(((int(np.prod(input_shape)),), "This model takes flat samples"))
        for works, why in tries:
            try:
                if self._trace(works)[1] is None:
                    return f". {why}: summary({works})"
            except Exception:              # a layer's own complaint: no hint from this try
                pass
        return ""

    def __repr__(self):
        inner = "".join(f"\n  ({i}) {layer!r}" for i, layer in enumerate(self.layers))
        return f"Sequential({inner}\n)"


def _check_output(layer, x, y):
    """A layer's output is an array of its input's dtype; else the next layer would
    be blamed (or, for the last one, the loss or Python)."""
    if not isinstance(y, np.ndarray):
        raise not_an_output(layer, y)
    if y.dtype != x.dtype:
        default = (f" (NumPy's default: np.ones(n) is float64; write "
                   f"np.ones(n, np.{x.dtype}))" if y.dtype == np.float64 else "")
        raise ShapeError(f"{layer!r} returned {y.dtype} for a {x.dtype} input: a parameter "
                         f"or constant of it is {y.dtype}, or it converts{default}")


def _sample_shape(input_shape):
    """summary()'s input_shape as a tuple of ints >= 1; an int n is (n,). A batch
    axis written as -1, None or 0 (as in reshape or Keras) gets its own advice."""
    def ints(dims):
        return dims and all(isinstance(d, (int, np.integer)) and not isinstance(d, bool)
                            and d >= 1 for d in dims)

    shape = (input_shape,) if np.ndim(input_shape) == 0 else tuple(input_shape)
    if ints(shape):
        return tuple(int(d) for d in shape)
    hint = ""
    if ints(shape[1:]) and (shape[0] is None or shape[0] in (-1, 0)):
        hint = f": leave out the batch axis, summary({tuple(int(d) for d in shape[1:])})"
    raise ShapeError(f"summary({input_shape!r}): input_shape must be one sample's shape, "
                     f"a tuple of ints >= 1 such as (784,) or (1, 28, 28){hint}")


def _check_layer(i, layer):
    """Refuse, by name, what students pass instead of a layer; otherwise the
    first forward fails deep inside with "missing 1 required positional argument"."""
    if isinstance(layer, Layer):
        hint = skipped_init(layer)
        if not hint:
            return
    elif isinstance(layer, type) and issubclass(layer, Layer):
        hint = a_class(layer, "forward", "backward")
    elif isinstance(layer, (list, tuple)):
        hint = f"a {type(layer).__name__}: pass the layers one by one, Sequential(*layers)"
    elif isinstance(layer, Sequential):
        hint = ("a Sequential, which cannot be nested: chain its layers instead, "
                "Sequential(*first.layers, *second.layers)")
    else:
        hint = (f"{layer!r} of type {type(layer).__name__}, not a minidl layer (an instance "
                "of a subclass of minidl.layers.Layer; see docs/layers.md)")
    raise SettingError(f"Sequential: argument {i} is {hint}")
