"""Where a training step spends its time: the forward and the backward of each
layer, the loss and the optimizer step, timed call by call.

    with Profiler(model, loss_fn, optimizer) as prof:
        trainer.fit(epochs=1)                 # or any training loop of your own
    print(prof.table())

Inside the block the methods of the objects given are wrapped with a
time.perf_counter timer, on the instances (the classes are not changed); the
block's end unwraps them, after an error too. Only training-mode calls are
timed, so evaluation's forward passes do not mix in, and a step is one
training-mode forward of the model (model.forward(x) or model(x)). The table
gives the median call of each, which a burst of load from other programs
hardly moves, and its share of the median step, which also counts what
nothing here times (data loading, the training loop itself, callbacks): the
row "other". A deep copy of the model made inside the block (model.summary(),
gradcheck) runs untimed; a shallow one, copy.copy(layer), would share the
wrappers: don't.

The first steps of a run are slower (memory is allocated anew, caches are
cold; with images, in a loop of your own, a whole first epoch can be:
minidl/heap.py), so the first `skip` steps are not timed.
"""
import copy
import statistics
import time

import numpy as np

from minidl.errors import SettingError, check_int
from minidl.layers.checks import repeated_layer

clock = time.perf_counter     # seconds; a name of its own, so that tests can stand in for it
_NONE = object()              # "the instance had no such attribute of its own"


class _Timed:
    """Stands in for the method obj.name: calls it, and gives the profiler its time."""

    def __init__(self, profiler, key, obj, name):
        self.profiler, self.key, self.obj = profiler, key, obj
        self.method = getattr(obj, name)          # the bound method it stands in for
        self.name = name

    def __call__(self, *args, **kwargs):
        t0 = clock()
        out = self.method(*args, **kwargs)
        self.profiler.record(self.key, clock() - t0)
        return out

    def __deepcopy__(self, memo):
        """A deep copy of a profiled layer (model.summary(), gradcheck copy the
        model) gets its own method, untimed: a copy of this wrapper would time it
        into a copy of the profiler, and stay after the block's end."""
        return getattr(type(self.obj), self.name).__get__(copy.deepcopy(self.obj, memo))


class _StepStart(_Timed):
    """The model's forward: in training mode a step starts. It times nothing
    itself (its layers are timed); it shares _Timed's set-up and copying."""

    def __call__(self, *args, **kwargs):
        if self.obj.training:
            self.profiler.step_starts.append(clock())
        return self.method(*args, **kwargs)


class Profiler:
    """Per-call times of a model's layers (and of a loss and an optimizer, if
    given) inside a `with` block; table() reports them."""

    def __init__(self, model, loss_fn=None, optimizer=None, skip=10):
        if not hasattr(model, "layers"):
            raise SettingError(f"Profiler: model must be a Sequential (it times each of its "
                               f"layers), got {type(model).__name__}")
        self.model, self.loss_fn, self.optimizer = model, loss_fn, optimizer
        self.skip = check_int("Profiler", "skip", skip, 0)
        self._check_targets()
        self.calls = {}              # key -> seconds of each timed call
        self.step_starts = []        # clock() at each training-mode forward of the model
        self._wrapped = []           # (object, method name, what its instance had before)

    def _check_targets(self):
        for _, obj, name in self.targets():
            if not callable(getattr(obj, name, None)):
                raise SettingError(f"Profiler: {obj!r} has no method {name}() to time")
            if isinstance(vars(obj).get(name), _Timed):
                raise SettingError(f"Profiler: {obj!r} is already being profiled (a Profiler "
                                   "block inside another one for the same model?)")
        twice = repeated_layer(self.model.layers)
        if twice:                    # its calls could not be told apart by position
            j, i, layer = twice
            raise SettingError(f"Profiler: layers {j} and {i} of the model are the same "
                               f"object ({layer!r}); it times each layer by its position: "
                               "use a new layer for each place")

    def targets(self):
        """(key, object, method name) of everything timed; a key names a table row."""
        out = [("step", self.model, "forward")]
        for i, layer in enumerate(self.model.layers):
            out += [((i, "forward"), layer, "forward"), ((i, "backward"), layer, "backward")]
        if self.loss_fn is not None:
            out += [(("loss", "forward"), self.loss_fn, "forward"),
                    (("loss", "backward"), self.loss_fn, "backward")]
        if self.optimizer is not None:
            out.append((("optimizer", "step"), self.optimizer, "step"))
        return out

    def __enter__(self):
        """Each block is a profile of its own: what an earlier one timed is dropped."""
        self._check_targets()                     # the model may have changed since
        self.calls, self.step_starts = {}, []
        for key, obj, name in self.targets():
            wrapper = _StepStart if key == "step" else _Timed
            self._wrapped.append((obj, name, vars(obj).get(name, _NONE)))
            setattr(obj, name, wrapper(self, key, obj, name))
        return self

    def __exit__(self, *exc):
        for obj, name, before in self._wrapped:
            if before is _NONE:
                del vars(obj)[name]               # the class's method shows through again
            else:
                setattr(obj, name, before)        # one the user had set on the instance
        self._wrapped = []
        return False

    def record(self, key, seconds):
        if self.model.training and len(self.step_starts) > self.skip:   # not evaluation
            self.calls.setdefault(key, []).append(seconds)

    def steps(self):
        """How many steps were timed (those after the first `skip`)."""
        return max(0, len(self.step_starts) - self.skip)

    def step_seconds(self):
        """Median time from one step's start to the next one's."""
        gaps = np.diff(self.step_starts[self.skip:])
        if len(gaps) == 0:
            raise SettingError(f"Profiler: {self.steps()} step(s) timed, after skipping "
                               f"{self.skip}; the step's time needs two or more (train "
                               "longer, or give a smaller skip=)")
        return float(np.median(gaps))

    def median(self, key):
        """The median call of one key in seconds, or None if it was never timed
        (the layers before the first one with parameters run no backward)."""
        times = self.calls.get(key)
        return statistics.median(times) if times else None

    def rows(self):
        """(name, forward seconds, backward seconds) per layer, then the loss and
        the optimizer step; None where nothing was timed."""
        out = [(f"{i}: {layer!r}", self.median((i, "forward")), self.median((i, "backward")))
               for i, layer in enumerate(self.model.layers)]
        if self.loss_fn is not None:
            out.append((f"loss: {self.loss_fn!r}", self.median(("loss", "forward")),
                        self.median(("loss", "backward"))))
        if self.optimizer is not None:
            out.append((f"{type(self.optimizer).__name__}.step",
                        self.median(("optimizer", "step")), None))
        return out

    def table(self, extra=(), step=None):
        """The rows sorted by time, in microseconds, with each one's share of the
        median step. extra: more (name, forward, backward) rows timed elsewhere;
        step: the step's seconds as measured elsewhere (then no first line)."""
        lines = []
        if step is None:
            step = self.step_seconds()
            lines.append(f"median step {1e6 * step:.0f} us over {self.steps()} steps (the "
                         f"first {self.skip} not timed); times are the median call, in us")
        rows = sorted([*self.rows(), *extra], key=lambda r: -((r[1] or 0) + (r[2] or 0)))
        width = max(len(r[0]) for r in rows) + 2

        def us(seconds):
            return f"{'-':>9}" if seconds is None else f"{1e6 * seconds:9.1f}"

        lines += [f"{'layer':<{width}}{'fwd us':>9}{'bwd us':>9}{'total':>9}{'share':>8}",
                  "-" * (width + 35)]
        for name, fwd, bwd in rows:
            total = (fwd or 0) + (bwd or 0)
            lines.append(f"{name:<{width}}{us(fwd)}{us(bwd)}{us(total)}{total / step:8.1%}")
        other = step - sum((fwd or 0) + (bwd or 0) for _, fwd, bwd in rows)
        lines += ["-" * (width + 35),
                  f"{'other (the rest; medians need not add up)':<{width}}{'':>18}"
                  f"{us(other)}{other / step:8.1%}"]
        return "\n".join(lines)
