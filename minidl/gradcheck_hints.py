"""What gradcheck warns of besides the numbers: what a comparison of the gradients
cannot show. (Its warnings about the numbers themselves, a constant factor, a
gradient zero on both sides, a kink, are in gradcheck.py.)

A check at one point compares numbers. It cannot see a weight the layer keeps
outside params (nothing trains it), a copy of a parameter (equal at the check,
stale after the first step), a factor of 1 that would hide a backward that
forgets it (a new BatchNorm's gamma), nor a BatchNorm that gets 2 values per
feature, whose true dL/dx is about 0. hints() names each one it finds; the
layer's slips that are errors are in gradcheck_contract.py.
"""
import warnings

import numpy as np

from minidl.gradcheck_contract import eval_copy, float64_copy
from minidl.layers import BatchNorm
from minidl.model import Sequential


def hints(layer, x):
    """What gradcheck warns of besides the numbers, one message each."""
    outside = _unregistered(layer, x)
    if outside:
        yield (f"gradcheck: {', '.join(outside)}: float arrays that are not in "
               "params, so neither gradcheck nor an optimizer (nor a checkpoint) sees "
               "them. If they are learned, register each in __init__ with "
               "self._add_param(name, value) and use self.params[name] (an attribute "
               "that only points at a params array is left behind by astype, which "
               "replaces that array); if they are statistics to save (as BN's running "
               "mean), return them from state(), the arrays themselves and not copies; "
               "a constant that is neither can have a name that starts with _ "
               "(self._kernel)")
    copies = _param_copies(layer)
    if copies:
        yield (f"gradcheck: {', '.join(copies)}: an array that holds a parameter's "
               "values. If forward or backward reads it instead of self.params, it "
               "goes stale at the first optimizer step (and after astype), which "
               "change the params array only: gradcheck, run before any step, agrees, "
               "and training goes wrong with no error. Read self.params[name] where "
               "it is used")
    ones = _all_ones(layer)
    if ones:
        yield (f"gradcheck: {', '.join(ones)}: every entry is 1 (as a new BatchNorm's "
               "gamma, and its running_var in eval mode), and a backward that leaves "
               "out such a factor, or applies it twice, gives the same numbers: the "
               "check cannot see it. Give it other values before the check, e.g. "
               "p[...] = np.random.default_rng(0).uniform(0.5, 2, p.shape) for p = "
               f"{_reached(layer, ones[0])}" + (" (and the same for the others named)"
                                                 if len(ones) > 1 else ""))
    for bn in _two_per_feature(layer, x):
        yield (f"gradcheck: {bn} gets 2 values per feature in training mode: then "
               "x_hat is +1 or -1 (up to eps) whatever x is, so the true dL/dx is almost "
               "zero (unless two values nearly tie) and its error measures rounding: a "
               "correct backward may read 1e-3 or more. Check with 3 or more values "
               "per feature (a larger batch; for images N*H*W counts)")


def _unregistered(layer, x):
    """Public float arrays of the layer (or of a Sequential's layers) that are neither
    params nor state: weights (self.W) or statistics kept outside them, which no
    optimizer, gradcheck or checkpoint sees. What the layer keeps for its backward
    (self.x = x) is not one. Two tests on copies in eval mode tell them apart:
    forwards on x and on other values change a cache of the input, not a weight;
    and a cache kept in training mode only is not read by the eval forward, so
    changing it does not change the output, while changing a weight does."""
    x = np.array(x, dtype=np.float64)
    inputs = (x, -x, x + np.random.default_rng(0).standard_normal(x.shape))
    probe = eval_copy(layer)
    # on -x and the noisy x, a correct log or sqrt layer warns: not the student's bug
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            first, second = _plain_arrays(probe, x), _plain_arrays(probe, inputs[2])
        except Exception:   # an eval forward that needs a training forward first: no hint
            return []
        parts = getattr(probe, "layers", [probe])
        return [f"{parts[i]!r}.{name}" for (i, name), value in first.items()
                if (i, name) in second
                and np.array_equal(second[(i, name)], value, equal_nan=True)
                and any(_read_in_eval(layer, xi, i, name) for xi in inputs)]


def _param_copies(layer):
    """Attributes that hold a copy of a parameter's values, or of its transpose
    ("Lin().W32 (a copy of params['W'])"), made in __init__ and read by the forward
    or backward instead of params. Each step and astype
    change params, not the copy, which goes stale: at the check it is still equal,
    so the gradients agree, and training is wrong with no error. Parameters whose
    entries are all equal (a bias of zeros) are left out: any constant matches them."""
    found = []
    for part in getattr(layer, "layers", [layer]):
        known = [*part.params.values(), *part.grads.values()]
        for name, value in vars(part).items():
            if not isinstance(value, np.ndarray) or any(
                    np.may_share_memory(value, v) for v in known):   # views: refused already
                continue
            for key, p in part.params.items():
                if p.size > 1 and np.ptp(p) > 0 and any(
                        value.shape == q.shape and np.array_equal(value, q) for q in (p, p.T)):
                    found.append(f"{part!r}.{name} (a copy of params[{key!r}]"
                                 f"{', transposed' if value.shape != p.shape else ''})")
    return found


def _read_in_eval(layer, x, i, name):
    """Whether the eval-mode output on x changes when array `name` of part i does. (On
    one x it may not: a PReLU's slope is not read where x > 0; hence several x.)"""
    probe = eval_copy(layer)
    part = getattr(probe, "layers", [probe])[i]
    try:
        before = np.array(probe.forward(x))
        value = getattr(part, name)
        noise = np.random.default_rng(1).standard_normal(value.shape) + 1
        setattr(part, name, (value + noise).astype(value.dtype))
        return not np.array_equal(np.array(probe.forward(x)), before, equal_nan=True)
    except Exception:       # the forward failed on other values: it reads them
        return True


def _plain_arrays(probe, x):
    """After probe.forward(x): {(i, name): copy} of the public float arrays of part i
    (probe itself, or a Sequential's layer i) that are outside its params and state."""
    probe.forward(x)
    found = {}
    for i, part in enumerate(getattr(probe, "layers", [probe])):
        known = {id(v) for v in [*part.params.values(), *part.state().values()]}
        found.update({(i, name): v.copy() for name, v in vars(part).items()
                      if not name.startswith("_") and isinstance(v, np.ndarray)
                      and v.dtype.kind == "f" and id(v) not in known})
    return found


def _all_ones(layer):
    """Names of the parameters, and in eval mode statistics, whose entries are all 1."""
    found = []
    for i, part in enumerate(getattr(layer, "layers", [layer])):
        prefix = f"{i}." if isinstance(layer, Sequential) else ""    # as parameters() names
        arrays = {**part.params, **({} if part.training else part.state())}
        for name, v in arrays.items():
            v = np.asarray(v)                       # state() has num_batches, an int
            if v.dtype.kind == "f" and v.size and np.all(v == 1):
                found.append(prefix + name)
    return found


def _reached(layer, name):
    """How code reaches the array _all_ones names: layer.params['gamma'], or
    model.layers[1].state()['running_var'] for "1.running_var" in a model."""
    i, _, key = name.rpartition(".")
    owner, part = (f"model.layers[{i}]", layer.layers[int(i)]) if i else ("layer", layer)
    return f"{owner}.params[{key!r}]" if key in part.params else f"{owner}.state()[{key!r}]"


def _two_per_feature(layer, x):
    """The BatchNorm layers that get 2 values per feature in training mode, named as
    "layer i, BatchNorm(...)" in a Sequential: a forward through a float64 copy,
    part by part, looking at each BN layer's input."""
    probe = float64_copy(layer)
    h, found = np.array(x, np.float64), []
    try:
        for i, part in enumerate(getattr(probe, "layers", [probe])):
            if isinstance(part, BatchNorm) and part.training and h.size == 2 * part.num_features:
                found.append(f"layer {i}, {part!r}" if isinstance(probe, Sequential)
                             else repr(part))
            h = part.forward(h)
    except Exception:       # a model this walk cannot run part by part: no hint, no crash
        pass
    return found
