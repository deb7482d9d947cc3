"""Mini-batch stochastic gradient descent, with optional momentum and weight decay.

For each parameter w with gradient g, learning rate lr:
    g = g + weight_decay * w            (L2 penalty; decay_filter skips BN and biases)
    v = momentum * v + g                (velocity; v = g when momentum = 0)
    w = w - lr * v                      (plain / heavy-ball momentum)
    w = w - lr * (g + momentum * v)     (nesterov=True)
These are PyTorch's SGD formulas (with dampening 0); PyTorch decays every
parameter it is given, the default decay_filter is minidl's. Note that BatchNorm's
momentum is the other way round: the weight of the new value (0.1).
"""
import warnings

import numpy as np

from minidl.errors import (BackwardError, SettingError, StaleGradientWarning, check_number,
                           user_stacklevel)
from minidl.layers.base import Param
from minidl.layers.checks import misshapen_grads, unregistered_params


def _checked_momentum(value):
    return check_number("SGD", "momentum", value, lambda v: 0 <= v < 1,
                        "a number in [0, 1) (0: no momentum)")


def decays(param):
    """Weight decay applies to weights, not to biases or BN's gamma and beta."""
    return param.key not in ("b", "gamma", "beta")


class SGD:
    """SGD(model.parameters(), lr, momentum=0.0, nesterov=False, weight_decay=0.0):
    step() applies the update of the module docstring to every parameter, in
    place, from the gradients that the last backward left in the layers' grads.
    lr and momentum may be changed between steps (a schedule changes lr);
    velocity holds one momentum buffer per parameter name."""

    def __init__(self, params, lr, momentum=0.0, nesterov=False, weight_decay=0.0,
                 decay_filter=decays):
        if hasattr(params, "parameters"):
            raise SettingError("SGD: pass model.parameters(), not the model itself")
        if callable(params):
            raise SettingError("SGD: pass model.parameters(), called, not the method itself")
        lr = check_number("SGD", "lr", lr, lambda v: v > 0, "a number > 0")
        momentum = _checked_momentum(momentum)
        weight_decay = check_number("SGD", "weight_decay", weight_decay, lambda v: v >= 0,
                                    "a number >= 0")
        if nesterov and momentum == 0:
            raise SettingError("SGD: nesterov=True needs momentum > 0")
        self.params = list(params)
        if not self.params:       # else every step does nothing, and training learns nothing
            raise SettingError("SGD: no parameters to update (an empty list): pass "
                               "model.parameters() of a model with Dense, Conv2D or BatchNorm "
                               "layers")
        wrong = next((p for p in self.params if not isinstance(p, Param)), None)
        if wrong is not None:     # layer.params gives the names, [W] bare arrays
            raise SettingError(f"SGD: expected the Param objects of model.parameters(), got "
                               f"a {type(wrong).__name__} ({wrong!r:.40})")
        for layer in {id(p.layer): p.layer for p in self.params}.values():
            wrong = unregistered_params(layer) if hasattr(layer, "grads") else ""
            if wrong:             # else a KeyError or a parameter that never moves
                raise SettingError(f"SGD: {wrong}")
        names = [p.name for p in self.params]
        if len(set(names)) != len(names):
            raise SettingError("SGD: parameter names must be unique (momentum buffers and "
                               "checkpoints are keyed by them); pass model.parameters() of one "
                               "Sequential rather than the lists of several layers")
        self.lr, self.nesterov = lr, nesterov
        self.weight_decay, self.decay_filter = weight_decay, decay_filter
        self.velocity = {}                  # filled by the momentum setter, below
        self.momentum = momentum
        self._layers = list({id(p.layer): p.layer for p in self.params}.values())
        self._seen = [None if n is None else 0 for n in self._backward_counts()]   # _check_fresh
        self._steps = 0

    def step(self):
        self._check_fresh()
        self._check_arrays()
        lr, mu = self.lr, self.momentum
        for p in self.params:
            w, g = p.value, p.grad
            if self.weight_decay and self.decay_filter(p):
                g = g + self.weight_decay * w
            if mu:
                v = self.velocity[p.name]
                v *= mu
                v += g                                   # v = mu v + g
                g = g + mu * v if self.nesterov else v
            w -= lr * g                                  # in place: the layer sees it
        self._note_step()

    @property
    def momentum(self):
        return self._momentum

    @momentum.setter
    def momentum(self, value):
        """Checked, and its buffers made (zeros) as soon as it is above 0: also when
        set by hand on an optimizer made without momentum, so that a checkpoint
        holds them from then on, and an optimizer built the same way can load it."""
        self._momentum = _checked_momentum(value)
        if self._momentum:
            for p in self.params:
                self.velocity.setdefault(p.name, np.zeros_like(p.value))

    def _check_arrays(self):
        """Before any parameter moves (a refused step leaves the whole model as it
        was): each gradient has its parameter's shape, else the update would
        broadcast it over the parameter (Sequential.backward checks this too, and
        names the layer; a backward run layer by layer, by hand, comes here
        unchecked); each momentum buffer has its parameter's dtype, else v += g
        would round g."""
        for p in self.params:
            w = p.value
            if getattr(p.grad, "shape", None) != w.shape:
                raise BackwardError(f"SGD.step: {misshapen_grads(p.layer)}")
            v = self.velocity.get(p.name)
            if v is not None and v.dtype != w.dtype:
                raise SettingError(f"SGD.step: {p.name} is {w.dtype} but its momentum buffer "
                                   f"{v.dtype}; create the optimizer after model.astype()")

    def _note_step(self):
        """Bookkeeping for the checks, not the update: each layer's count of backwards
        (_check_fresh), and at the first step each layer marked updated (Trainer.fit
        warns when a new run starts from a model trained already)."""
        if not self._steps:
            for layer in self._layers:
                layer.updated = True
        self._seen, self._steps = self._backward_counts(), self._steps + 1

    def _backward_counts(self):
        """How many backwards each layer has had (None for a layer that was never in
        a Sequential, and for an object that is not a minidl Layer: not checked)."""
        return [getattr(layer, "backward_count", None) for layer in self._layers]

    def _check_fresh(self):
        """Warn of gradients that no backward has made (before the first step) or
        renewed (since the last step). The usual cause is an optimizer made from a
        model that a notebook cell has built again since: it would go on moving
        the old model's weights, silently, and the new model would never learn.
        A warning, not an error: gradients set by hand (to try the update rule
        out) are fine."""
        for layer, seen, now in zip(self._layers, self._seen, self._backward_counts()):
            if seen is not None and now == seen:
                since = "since its last step" if self._steps else "at all"
                if getattr(layer, "_cache", None) is not None:   # a forward awaits its backward
                    warnings.warn(
                        f"SGD.step: {layer!r} ran a forward but no backward {since}: was "
                        "model.backward(loss_fn.backward()) left out? (The loss's backward "
                        "alone gives the gradient of the logits; the model's carries it to "
                        "the weights.) Or was the model built again after the optimizer, in "
                        "a notebook? Then make the optimizer from the model you train",
                        StaleGradientWarning,
                        stacklevel=user_stacklevel())
                    return
                warnings.warn(
                    f"SGD.step: no backward has gone through {layer!r} {since}; was "
                    "the model built again after the optimizer (a notebook cell run again)? "
                    "Then this step moves the old model: make the optimizer from the model "
                    "you train, SGD(model.parameters(), ...). (Gradients set by hand: "
                    "ignore this.)", StaleGradientWarning, stacklevel=user_stacklevel())
                return

    def __repr__(self):
        return (f"SGD(lr={self.lr:g}, momentum={self.momentum:g}, nesterov={self.nesterov}, "
                f"weight_decay={self.weight_decay:g}, {len(self.params)} parameter arrays)")

    def state(self):
        """Momentum buffers, named like the parameters (for checkpoints)."""
        return {f"velocity.{k}": v for k, v in self.velocity.items()}

    def set_state(self, state):
        for k, v in self.velocity.items():
            v[...] = state[f"velocity.{k}"]
