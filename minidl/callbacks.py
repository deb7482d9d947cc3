"""Callbacks: code the Trainer runs at fixed points of training, and the one
that records the paper's Figure 1.

    model = mlp(784, [100, 100, 100], 10, activation="sigmoid", batchnorm=True)
    xb, _ = test.batch(np.arange(1000))      # the first 1000 test images, as the loader
    recorder = LayerInputRecorder(index=8, x=xb)   # gives them; layer 8: the last Sigmoid
    Trainer(model, ..., callbacks=[recorder]).fit(epochs=1)
    recorder.steps, recorder.values   # step numbers; 15th, 50th, 85th percentiles at each

A plain function of the trainer works as a callback too: it runs after every
step.
"""
import numbers
from collections.abc import Iterable

import numpy as np

from minidl.errors import SettingError, ShapeError, at_layer, check_int, check_number


class Callback:
    """Override any of these; each receives the Trainer (and on_eval the record
    it just appended to trainer.history). Setting trainer.stop = True ends
    training after the current step."""

    def on_train_begin(self, trainer):
        pass

    def on_step_end(self, trainer):
        pass

    def on_eval(self, trainer, record):
        pass

    def on_train_end(self, trainer):
        pass


class LayerInputRecorder(Callback):
    """At the start, every ``every`` steps and at the end of training (not after
    a divergence: the weights may be NaN), the percentiles of one unit of
    ``model.layers[index]``'s input over a fixed batch x, computed in eval mode
    (no state changes). One recorder per run.

    With index pointing at the last hidden Sigmoid, this is the input to that
    sigmoid: after BN where BN is used. This is the paper's Figure 1(b, c). In
    eval mode BN normalizes with its population (running) statistics: at step 0
    these are their initial 0 and 1, so the BN net's first point is its input
    un-normalized, and plot.figure1 leaves it out.
    """

    def __init__(self, index, x, unit=0, every=100, percentiles=(15, 50, 85)):
        # checked here, not at the first recording (whether index and unit exist
        # depends on the model: record() says)
        owner = "LayerInputRecorder"
        for name, value in (("index", index), ("unit", unit)):
            if isinstance(value, bool) or not isinstance(value, numbers.Integral):
                raise SettingError(f"{owner}: {name} must be an int (negative counts from the "
                                   f"end), got {value!r}")
        if isinstance(x, np.ndarray) and (x.ndim == 0 or len(x) == 0):  # else: the model says
            raise SettingError(f"{owner}: x must be a batch of one or more samples, got an "
                               f"array of shape {x.shape}")
        every = check_int(owner, "every", every)
        if isinstance(percentiles, (str, bytes)) or not isinstance(percentiles, Iterable):
            raise SettingError(f"{owner}: percentiles must be a sequence of numbers in 0..100, "
                               f"such as (15, 50, 85), got {percentiles!r}")
        percentiles = tuple(percentiles)     # a generator would be used up by the checks
        if not percentiles:
            raise SettingError(f"{owner}: percentiles must name at least one percentile, "
                               "such as (15, 50, 85), got none")
        for q in percentiles:
            check_number(owner, "percentiles", q, lambda v: 0 <= v <= 100, "numbers in 0..100")
        self.percentiles = percentiles
        self.index, self.x, self.unit, self.every = int(index), x, int(unit), every   # for JSON
        self.steps, self.values = [], []
        self._trainer = None          # the run recorded: another one at step 0 is refused

    def record(self, trainer):
        h = layer_input(trainer.model, self.x, self.index)
        if not -h.shape[1] <= self.unit < h.shape[1]:
            raise SettingError(f"LayerInputRecorder: unit {self.unit} does not exist; the "
                               f"input to layer {self.index} has {h.shape[1]} units")
        self.steps.append(trainer.step)
        self.values.append(np.percentile(h[:, self.unit], self.percentiles).tolist())

    def on_train_begin(self, trainer):
        if self.steps and trainer.step == 0 and trainer is not self._trainer:
            raise SettingError(f"LayerInputRecorder: this recorder holds another run's "
                               f"recording (steps 0 to {self.steps[-1]}), and a new run "
                               "starts at step 0; make a new recorder for each run (a cell run "
                               "again reuses the old one: the steps would go back, and the "
                               "curves over themselves)")
        while self.steps and self.steps[-1] > trainer.step:   # resumed from a checkpoint:
            self.steps.pop()                                  # what came after it is redone
            self.values.pop()
        self._trainer = trainer
        if not self.steps or self.steps[-1] != trainer.step:
            self.record(trainer)

    def on_step_end(self, trainer):
        if trainer.step % self.every == 0:
            self.record(trainer)

    def on_train_end(self, trainer):
        if trainer.history.diverged:            # the weights may be NaN: nothing to draw
            return
        if not self.steps or self.steps[-1] != trainer.step:   # the last step, also when
            self.record(trainer)                # every does not divide the run's steps


def layer_input(model, x, index):
    """The input that model.layers[index] receives for x, computed in eval mode."""
    n = len(model.layers)
    if not (isinstance(index, numbers.Integral) and -n <= index < n):   # else: the output
        raise SettingError(f"layer_input: index must be the index of a layer, 0 to {n - 1} "
                           f"(or -{n} to -1) for this model, got {index!r}")
    with model.inference():
        for i, layer in enumerate(model.layers[:index]):
            try:
                x = layer.forward(x)
            except ShapeError as e:
                raise at_layer(e, i) from None
    return x
