"""Numerical gradient checking.

For a layer f and a fixed random upstream gradient r, take the scalar loss
    L(x, theta) = sum(f(x; theta) * r).
Then dL/dy = r, so backward(r) must return dL/dx and fill dL/dtheta. Each is
compared with central finite differences
    dL/dv ~ (L(v + eps) - L(v - eps)) / (2 eps)
in float64, one element at a time. The error per tensor is
    |analytic - numeric| / (|analytic| + |numeric|)   (norms over the tensor),
about 1e-10 for a correct backward. A wrong one gives orders of magnitude
more: 1e-2 or more for a wrong formula, and still about 1e-3 when a single
typical entry of a 288-entry Conv2D weight gradient is 5% off (the error is
that entry's share of the tensor's norm: 4e-3 or so for its largest entry,
1e-6 or less for a near-zero one, which no check can tell from right). A gradient whose shape
differs from its tensor's is refused (ShapeError), not broadcast.

Why a random r: with L = sum(y), BatchNorm's dL/dx is identically zero (the
output of BN sums to m*beta per feature whatever x is): analytic and numeric
are both rounding noise, for a right backward and a wrong one alike, so the
check proves nothing. gradcheck warns when a gradient is zero on both sides:
analytic below 1e-10, numeric below max(1e-7, ten times the rounding noise
of the differences, 2.2e-16 * sum(|f(x) * r|) / eps).

At a kink (ReLU at 0, tied maxima of a max pooling) finite differences
average two slopes and a correct backward gets a large error. When an error
is large, x has repeated values or exact zeros, where kinks are likely, and
the layer checked is not one known to be smooth, gradcheck checks again on x
plus noise, where nothing ties, and warns of a kink (small errors there) or
of a wrong backward (still large).

gradients() returns the two gradients themselves, to find which entries of a
wrong one are off. gradcheck_layers() checks a model layer by layer, to find
which layer is wrong.
"""
import copy
import inspect
import pickle
import warnings

import numpy as np
from tqdm.auto import tqdm

from minidl.errors import (BackwardError, SettingError, ShapeError, a_class, at_layer, check_int,
                           check_number, given, user_stacklevel)
from minidl.layers import BatchNorm, Conv2D, Dense, Flatten, Sigmoid, Tanh
from minidl.layers.base import Layer
from minidl.layers.checks import (aliases, check_states, not_an_output, skipped_init, stray_grads,
                                  unregistered_params)
from minidl.losses import SoftmaxCrossEntropy
from minidl.model import Sequential

PROGRESS_FROM = 20_000     # entries from which gradients() shows a progress bar
KINK_FROM = 1e-4           # errors from which gradcheck looks for ties in x


def _check_layer(layer):
    """Refuse, by name, what is not a layer or a model (the class Dense, a loss):
    otherwise the first call on it fails with a message about astype."""
    for part in getattr(layer, "layers", [layer]):
        if isinstance(part, Layer) and not skipped_init(part):
            wrong = unregistered_params(part)   # else astype of the float64 copy would
            if wrong:                           # quietly make the missing grads array
                raise SettingError(f"gradcheck: {wrong}")
    if isinstance(layer, Sequential):
        return
    if isinstance(layer, Layer):
        got = skipped_init(layer)
        if not got:
            return
    elif isinstance(layer, type):
        got = a_class(layer, "forward", "backward")
    elif isinstance(layer, SoftmaxCrossEntropy):
        got = (f"{layer!r}, a loss. To check a loss, compare loss.backward() after "
               "loss.forward(z, t) with numeric_grad(lambda: loss.forward(z, t), z) on "
               "float64 logits z, as tests/test_losses.py does")
    else:
        got = f"an object of type {type(layer).__name__} (the call is gradcheck(layer, x))"
    raise SettingError(f"gradcheck: expected a minidl layer or Sequential to check, got {got}")


def _may_have_kinks(layer):
    """False if every part computes a forward that minidl knows to be smooth; a new
    layer may have a kink (a leaky ReLU does), and ReLU and MaxPool2D do. A subclass
    that rewrites only backward keeps its forward; one that rewrites forward (a
    HardTanh derived from Tanh) may have added a kink."""
    smooth = {cls.forward for cls in (Dense, Conv2D, BatchNorm, Sigmoid, Tanh, Flatten)}
    return not all(type(part).forward in smooth for part in getattr(layer, "layers", [layer]))


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
    probe = _eval_copy(layer)
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
                    np.may_share_memory(value, v) for v in known):   # aliases() says those
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
    probe = _eval_copy(layer)
    part = getattr(probe, "layers", [probe])[i]
    try:
        before = np.array(probe.forward(x))
        value = getattr(part, name)
        noise = np.random.default_rng(1).standard_normal(value.shape) + 1
        setattr(part, name, (value + noise).astype(value.dtype))
        return not np.array_equal(np.array(probe.forward(x)), before, equal_nan=True)
    except Exception:       # the forward failed on other values: it reads them
        return True


def _generator_states(layer):
    """The states of NumPy's global generator and of the generators that layer (or a
    model's layers) keeps as attributes (not those inside a list or dict): a forward
    that changes one draws numbers."""
    kept = [v for part in getattr(layer, "layers", [layer]) for v in vars(part).values()]
    return ([pickle.dumps(np.random.get_state())] +
            [pickle.dumps(g.bit_generator.state) for g in kept
             if isinstance(g, np.random.Generator)] +
            [pickle.dumps(g.get_state()) for g in kept if isinstance(g, np.random.RandomState)])


def _float64_copy(layer):
    """A deep copy of layer in float64: the caller's layer is never touched. Views of
    parameters are refused first, as astype refuses them: deepcopy would cut them loose."""
    check_states(layer, "astype", also=aliases)
    probe = copy.deepcopy(layer)
    probe.astype(np.float64)
    return probe


def _eval_copy(layer):
    """A float64 deep copy of layer, in eval mode."""
    probe = _float64_copy(layer)
    probe.eval()
    return probe


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


def _two_per_feature(layer, x):
    """The BatchNorm layers that get 2 values per feature in training mode, named as
    "layer i, BatchNorm(...)" in a Sequential: a forward through a float64 copy,
    part by part, looking at each BN layer's input."""
    probe = _float64_copy(layer)
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


def _unchanged(array, given, message):
    """BackwardError(message) unless array still equals its copy `given`."""
    if not np.array_equal(array, given, equal_nan=True):
        raise BackwardError(f"gradcheck: {message}")


def _float64(layer, value, what, did="returned"):
    """A float64 input must give a float64 output and dL/dx: a layer that computes
    in float32 inside gets errors of 1e-2, as if its backward were wrong."""
    dtype = getattr(value, "dtype", None)
    if dtype is not None and dtype != np.float64:
        raise ShapeError(f"gradcheck: {layer!r} {did} {dtype} ({what}) for a float64 input: "
                         f"an array or constant it creates is {dtype}, and finite differences "
                         "need float64 throughout (in float32 they have 3 correct digits at "
                         "best). Create arrays with the input's dtype: np.empty(shape, x.dtype)")


def _attributes(layer):
    """{part index: its attributes}, a shallow copy: what a forward replaces shows up
    as another object under the same name (_float64_kept)."""
    return {i: dict(vars(part)) for i, part in enumerate(getattr(layer, "layers", [layer]))}


def _arrays_in(value):
    """The arrays in what a forward kept: value itself, or inside tuples, lists and
    dicts (self._save(x_hat, inv_std), self._save({"x_hat": ...}))."""
    if isinstance(value, np.ndarray):
        yield value
    elif isinstance(value, (tuple, list, dict)):
        for item in value.values() if isinstance(value, dict) else value:
            yield from _arrays_in(item)


def _float64_kept(layer, before):
    """What the forward kept for backward must be float64 too: a float32 constant
    (a 1/std cast to float32) promoted back in the output still rounds the
    gradient to 3e-2 errors, and the output's dtype does not show it. Looks in
    self._save's tuple and in every attribute the forward set (self.inv_std = ...);
    before: _attributes(layer) just before that forward."""
    for i, part in enumerate(getattr(layer, "layers", [layer])):
        new = [v for name, v in vars(part).items() if before[i].get(name) is not v]
        for value in _arrays_in(new + [getattr(part, "_cache", None)]):
            if value.dtype.kind == "f" and not np.array_equal(value, np.round(value)):
                _float64(part, value, "an array for its backward", did="kept")   # not a 0/1 mask


def _input_grad_flag(layer):
    """The switch of dL/dx: a Sequential's input_grad, a layer's needs_input_grad."""
    return "input_grad" if isinstance(layer, Sequential) else "needs_input_grad"


def _backward_from(unused, x, r, fill, input_grad=True):
    """A copy of `unused` (the layer as the first backward found it), its forward on
    x, every gradient set to `fill`, and its backward of r, with the input gradient
    on or off; returns the copy's parameters {name: Param} after it."""
    layer = copy.deepcopy(unused)
    setattr(layer, _input_grad_flag(layer), input_grad)
    layer.forget()
    layer.forward(x)
    params = _named_tensors(layer)
    for p in params.values():
        p.grad[...] = fill
    layer.backward(r)
    return params


def _same_without_input_grad(unused, x, r, analytic):
    """BackwardError unless a backward that skips dL/dx (needs_input_grad False, as the
    first layer with parameters gets in training) sets the same parameter gradients
    as the one that computes it, and writes into neither x nor dy: a bug on that
    path alone would pass every other check and leave a first layer untrained. Runs
    on a fresh copy, so that nothing the first backward left behind helps it."""
    flag = _input_grad_flag(unused)
    if not _named_tensors(unused):
        return
    x_in, r_in = x.copy(), r.copy()
    try:
        params = _backward_from(unused, x_in, r_in, np.nan, input_grad=False)
    except Exception as e:
        raise BackwardError(f"gradcheck: with {flag} = False, as the first layer with "
                            f"parameters gets in training, backward raised {e!r}") from e
    for before, now, what in ((x, x_in, "x, the input its forward kept"),
                              (r, r_in, "dy, the gradient it was given")):
        _unchanged(now, before, f"with {flag} = False, as the first layer with parameters gets "
                   f"in training, backward wrote into {what}: in training that is the data "
                   "batch or the layer above's gradient. Work on a copy")
    # entries far below the largest gradient are rounding (a bias before BatchNorm: its
    # true gradient is 0), which another order of the same sums changes
    scale = max(float(np.max(np.abs(g), initial=0)) for g in analytic.values())
    for name, p in params.items():
        if np.isnan(p.grad).any():
            what = (f"did not set the gradient of {name!r} (it still holds the NaN gradcheck "
                    "put there)" + _what_backward_did(unused, x, r, [name], input_grad=False))
        elif not np.allclose(p.grad, analytic[name], rtol=1e-8, atol=1e-12 * scale):
            what = (f"set the gradient of {name!r} to other values than with dL/dx (relative "
                    f"difference {rel_error(p.grad, analytic[name]):.0e})")
        else:
            continue
        raise BackwardError(
            f"gradcheck: with {flag} = False, backward {what}. In training the first layer "
            "with parameters skips dL/dx (Trainer.fit sets model.input_grad = False, which "
            "turns that layer's needs_input_grad off), so this path must set every parameter "
            "gradient as the other one does; return None only after setting them "
            "(docs/layers.md)")


def _what_backward_did(unused, x, r, names, input_grad=True):
    """What a backward that left gradcheck's NaN in the gradients `names` did to each,
    found by two more backwards on copies, with every gradient set to 0 and to 1
    first: the two results differ by 1 where it adds to the gradient, and stay 0 and
    1 where it leaves it alone. Nothing for the others (or if those backwards fail)."""
    try:
        zero, one = (_backward_from(unused, x, r, fill, input_grad) for fill in (0.0, 1.0))
    except Exception:        # the error gradcheck raises says enough without this
        return ""
    said = ""
    for name in names:
        before, after = zero[name].grad, one[name].grad
        if np.all(before == 0) and np.all(after == 1):
            said += f"; backward leaves the gradient of {name!r} as it was (never sets it)"
        elif np.allclose(after - before, 1):
            said += f"; backward adds to the gradient of {name!r} (+=) instead of setting it"
    return said


def _constant_factor(analytic, numeric):
    """c if analytic = c * numeric in every entry (to 1e-6, relative), c not within
    1e-3 of 1, and at least two entries clearly nonzero, else None (c is the
    least-squares factor). One entry is always some multiple of another number."""
    analytic, numeric = np.ravel(analytic), np.ravel(numeric)
    big = np.abs(numeric) > 1e-6 * np.max(np.abs(numeric), initial=0)
    if np.count_nonzero(big) < 2:
        return None
    c = float(analytic @ numeric) / float(numeric @ numeric)
    if c == 0 or abs(c - 1) < 1e-3 or rel_error(analytic, c * numeric) > 1e-6:
        return None
    return c


def _has_ties(x):
    """Repeated values or exact zeros: where ReLU and max pooling have kinks."""
    return np.unique(x).size < x.size or not x.all()


def _arrays_of(layer):
    """{name: array} of the parameters (named as parameters() names them) and of the
    state (BN's running statistics: "running_var of layer 1, BatchNorm(3, ...)")."""
    arrays = {f"parameter {name!r}": p.value for name, p in _named_tensors(layer).items()}
    for i, part in enumerate(getattr(layer, "layers", [layer])):
        where = f"layer {i}, {part!r}" if isinstance(layer, Sequential) else repr(part)
        arrays.update({f"{key} of {where}": np.asarray(v) for key, v in part.state().items()})
    return arrays


def _named_tensors(layer):
    return {p.name: p for p in layer.parameters()}


def rel_error(a, b):
    den = np.linalg.norm(a) + np.linalg.norm(b)
    return 0.0 if den == 0 else float(np.linalg.norm(a - b) / den)


def numeric_grad(f, v, eps=1e-6, bar=None):
    """Central differences of the scalar function f() w.r.t. array v, in place:
    f takes no argument and reads v, e.g. numeric_grad(lambda: loss.forward(z, t), z).
    v is a float array (float64 for more than a few correct digits), any view.
    bar: an optional tqdm progress bar, advanced by one per entry."""
    _check_nudgeable(f, v)
    grad = np.zeros_like(v)
    for i, k in enumerate(np.ndindex(v.shape)):    # v[k], not a flat copy: views too
        old = v[k]
        v[k] = old + eps
        plus = f()
        if i == 0 and np.ndim(plus) != 0:     # else "setting an array element with a sequence"
            v[k] = old
            raise SettingError(f"numeric_grad: f() must return one number (a loss), got an "
                               f"array of shape {np.shape(plus)}" +
                               (" (per-sample losses? return their mean)"
                                if np.size(plus) > 1 else ""))
        v[k] = old - eps
        minus = f()
        v[k] = old
        grad[k] = (plus - minus) / (2 * eps)
        if bar is not None:
            bar.update()
    return grad


def _check_nudgeable(f, v):
    """Refuse, by name, what would give a wrong gradient or a bare TypeError: an array
    whose entries cannot take v + eps, and an f that wants an argument."""
    if not isinstance(v, np.ndarray):
        got = f"a {type(v).__name__}, {given(v)}"
    elif v.dtype.kind != "f":
        got = f"{v.dtype} values"
    elif not v.flags.writeable:
        got = f"a read-only {v.dtype} array"
    else:
        got = None
    if got:
        raise SettingError(f"numeric_grad(f, v): v must be the writable float array that f "
                           f"reads (float64: docs/gradcheck.md, section 1), got {got}")
    try:
        wanted = [p.name for p in inspect.signature(f).parameters.values()
                  if p.default is p.empty and p.kind in (p.POSITIONAL_ONLY,
                                                         p.POSITIONAL_OR_KEYWORD)]
    except (TypeError, ValueError):           # no signature to read: let f() say
        wanted = []
    if wanted:
        raise SettingError(f"numeric_grad(f, v): f takes no argument; it reads v itself, "
                           f"e.g. lambda: loss.forward(v, t) (this f wants {wanted})")


def gradients(layer, x, seed=0, eps=1e-6, upstream=None):
    """The analytic and the numeric gradients that gradcheck compares.

    Returns two dicts {"x": ..., "<param name>": ...} of float64 arrays, each
    shaped like its tensor: what layer.backward(r) gave, and the central
    differences of L = sum(f(x) * r). When gradcheck says a tensor is wrong,
    put the two side by side to see which of its entries are off.
    Runs on a deep copy, as gradcheck does, and raises as it does (a
    BackwardError for a backward that skips dL/dx and sets other gradients).
    """
    return _gradients(layer, x, seed, eps, upstream)[:2]


def _gradients(layer, x, seed, eps, upstream):
    """gradients(), and the rounding noise of the numeric side: each L is a sum
    of terms f(x) * r that float64 rounds by up to 2.2e-16 * sum(|f(x) * r|),
    and the central difference divides that by eps."""
    _check_layer(layer)
    eps = check_number("gradcheck", "eps", eps, lambda v: v > 0, "a number > 0 (1e-6 works)")
    seed = check_int("gradcheck", "seed", seed, 0)
    layer = _float64_copy(layer)
    for part in [layer] + list(getattr(layer, "layers", [])):
        setattr(part, _input_grad_flag(part), True)       # we check dL/dx too
    x = np.array(x, dtype=np.float64)
    if not np.all(np.isfinite(x)):    # every difference would be NaN, every error too
        raise SettingError(f"gradcheck: x holds {x.size - np.isfinite(x).sum()} NaN or infinite "
                         "values; finite differences need a finite input")
    for name, value in _arrays_of(layer).items():
        if value.dtype.kind == "f" and not np.all(np.isfinite(value)):
            raise SettingError(f"gradcheck: {name} holds {value.size - np.isfinite(value).sum()} "
                               "NaN or infinite values (from a run that diverged?); finite "
                               "differences need finite parameters and statistics")
    rng = np.random.default_rng((seed, 1))   # not default_rng(seed): x may come from that
    if "x" in getattr(layer, "params", {}):  # its entry would replace dL/dx's below
        raise SettingError(f"gradcheck: {layer!r} has a parameter named 'x', the name "
                           "gradcheck gives the input; rename the parameter")
    x_given = x.copy()                       # a layer must not write into what it is given
    layer.forget()          # a forward that saves nothing leaves no older forward's values
    attributes = _attributes(layer)
    y = layer.forward(x)
    if not isinstance(y, np.ndarray):
        raise not_an_output(layer, y, "gradcheck: ")
    _unchanged(x, x_given, f"the forward of {layer!r} wrote into its input x (x *= ..., "
               "out=x): the layer before may have kept that array for its own backward (as "
               "Sigmoid keeps its output) and would compute a wrong gradient from it. Write "
               "the result into a new array (docs/layers.md, trap 4)")
    _float64(layer, y, "output")
    _float64_kept(layer, attributes)
    before = _generator_states(layer)     # two masks of a low rate on a small x can be equal
    same = np.array_equal(layer.forward(x), y, equal_nan=True)
    drew = _generator_states(layer) != before
    if drew or not same:
        why = ("drew random numbers in its forward (a random mask, as in Dropout?)" if drew
               else "gave different outputs for the same input: its forward changes "
               "something that it reads (a running statistic it updates and uses?), or draws "
               "random numbers from a generator that gradcheck does not see (one made in "
               "forward, or at module level)")
        raise SettingError(f"gradcheck: {layer!r} {why}. Finite differences need the same "
                           "function at every call: check it in eval mode, or with its random "
                           "generator reseeded (or what it changes reset) before every forward")
    if upstream is not None and np.shape(upstream) != y.shape:   # else it fails deep in backward
        raise ShapeError(f"gradcheck: upstream (dL/dy) has shape {np.shape(upstream)}, but the "
                         f"output has shape {y.shape}; they must match")
    r = rng.standard_normal(y.shape) if upstream is None else np.array(upstream, np.float64)
    r_given = r.copy()

    def loss():
        return float(np.sum(layer.forward(x) * r))

    params = _named_tensors(layer)
    unused = copy.deepcopy(layer)      # for more backwards below, as this one finds the layer
    for p in params.values():   # NaN shows a backward that adds to a gradient or skips it
        p.grad[...] = np.nan
    dx = layer.backward(r)
    _unchanged(r, r_given, f"the backward of {layer!r} wrote into dy, the gradient it was "
               "given (dy *= ...): the caller may still need it. Compute dx into a new array "
               "(dx = dy * ...)")
    _unchanged(x, x_given, f"the backward of {layer!r} wrote into x, the input its forward "
               "kept: in a model that array is the output of the layer before, which may "
               "have kept it for its own backward. Work on a copy")
    kept = [name for name, p in params.items() if np.isnan(p.grad).any()]
    if kept:
        raise BackwardError(f"gradcheck: after backward, the gradient of {', '.join(kept)} "
                            "still holds NaN, which gradcheck put there before: backward must "
                            "set every gradient (self.grads[name][...] = g), not add to it "
                            "(+= would make it grow step by step in training) nor leave it out"
                            + _what_backward_did(unused, x, r, kept) +
                            "".join(f"; {said}" for said in map(
                                stray_grads, getattr(layer, "layers", [layer])) if said))
    if dx is None:
        raise ShapeError(f"gradcheck: {layer!r}.backward returned None instead of dL/dx "
                         "(a missing `return dx`?)")
    _float64(layer, dx, "dL/dx")
    # a copy: a dx that is a scratch buffer of the forward would change under the forwards below
    analytic = {"x": np.array(dx), **{name: p.grad.copy() for name, p in params.items()}}
    values = {"x": x, **{name: p.value for name, p in params.items()}}
    for name, grad in analytic.items():     # broadcasting would hide a wrong shape below
        if np.shape(grad) != values[name].shape:
            raise ShapeError(f"gradcheck: the gradient of {name!r} has shape {np.shape(grad)}, "
                             f"but {name!r} has shape {values[name].shape}; they must match")
    _same_without_input_grad(unused, x, r, analytic)
    entries = sum(value.size for value in values.values())   # two forwards each
    with tqdm(total=entries, desc="gradcheck", unit="entry", leave=False,   # a whole model:
              disable=None if entries >= PROGRESS_FROM else True) as bar:   # None: on a terminal
        numeric = {name: numeric_grad(loss, value, eps, bar) for name, value in values.items()}
    noise = np.finfo(np.float64).eps * float(np.sum(np.abs(y * r))) / eps
    return analytic, numeric, noise


def gradcheck(layer, x, seed=0, eps=1e-6, upstream=None):
    """Compare layer's analytic gradients with finite differences.

    layer: a Layer or Sequential; x: input array (converted to float64).
    Returns {"x": err, "<param name>": err, ...}, the relative error per tensor.
    The check runs on a deep copy, so the layer is left exactly as it was
    found: same objects, parameters, dtype, BN running statistics and mode.
    gradients() gives the two gradients themselves.
    Warns when a gradient is a constant times the numeric one, entry by entry
    (a sign, a 1/N or a 2 left out), when a gradient is zero on both sides (the
    check proves nothing),
    when an error exceeds KINK_FROM on an x with ties (checked again on x plus
    noise: a kink, or a wrong backward), when
    the layer keeps float arrays outside params (weights it never checks), when
    every entry of a parameter (or, in eval mode, a statistic) is 1 (a factor
    of 1 hides a backward that forgets it), and when a BatchNorm in training
    mode gets 2 values per feature (x_hat is +-1: a correct layer may fail).
    Raises BackwardError when the layer writes into x or dy, or its backward
    adds to a gradient or leaves one unset, or sets other parameter gradients
    when it skips dL/dx (needs_input_grad False, as in training); ShapeError
    when forward returns no array, when a float64 input gives a float32
    output or dx or the forward keeps a float32 array (not whole numbers) for
    backward, or backward returns None or a gradient of another shape;
    SettingError for a random or state-changing forward, a non-finite x or
    parameter or statistic, a parameter named "x", a layer that skipped
    super().__init__() or keeps a parameter (or a view of one) under another
    name (astype would leave it behind).
    """
    analytic, numeric, noise = _gradients(layer, x, seed, eps, upstream)
    unregistered = _unregistered(layer, x)
    if unregistered:
        warnings.warn(f"gradcheck: {', '.join(unregistered)}: float arrays that are not in "
                      "params, so neither gradcheck nor an optimizer (nor a checkpoint) sees "
                      "them. If they are learned, register each in __init__ with "
                      "self._add_param(name, value) and use self.params[name] (an attribute "
                      "that only points at a params array is left behind by astype, which "
                      "replaces that array); if they are statistics to save (as BN's running "
                      "mean), return them from state(), the arrays themselves and not copies; "
                      "a constant that is neither can have a name that starts with _ "
                      "(self._kernel)", stacklevel=user_stacklevel())
    copies = _param_copies(layer)
    if copies:
        warnings.warn(f"gradcheck: {', '.join(copies)}: an array that holds a parameter's "
                      "values. If forward or backward reads it instead of self.params, it "
                      "goes stale at the first optimizer step (and after astype), which "
                      "change the params array only: gradcheck, run before any step, agrees, "
                      "and training goes wrong with no error. Read self.params[name] where "
                      "it is used", stacklevel=user_stacklevel())
    ones = _all_ones(layer)
    if ones:
        warnings.warn(f"gradcheck: {', '.join(ones)}: every entry is 1 (as a new BatchNorm's "
                      "gamma, and its running_var in eval mode), and a backward that leaves "
                      "out such a factor, or applies it twice, gives the same numbers: the "
                      "check cannot see it. Give it other values before the check, e.g. "
                      "p[...] = np.random.default_rng(0).uniform(0.5, 2, p.shape) for p = "
                      "layer.params['gamma'] (any layer's)", stacklevel=user_stacklevel())
    for bn in _two_per_feature(layer, x):
        warnings.warn(f"gradcheck: {bn} gets 2 values per feature in training mode: then "
                      "x_hat is +1 or -1 (up to eps) whatever x is, so the true dL/dx is almost "
                      "zero (unless two values nearly tie) and its error measures rounding: a "
                      "correct backward may read 1e-3 or more. Check with 3 or more values "
                      "per feature (a larger batch; for images N*H*W counts)",
                      stacklevel=user_stacklevel())
    errors = {}
    floor = max(1e-7, 10 * noise)   # a numeric gradient below this may be rounding alone
    for name in analytic:
        if np.max(np.abs(analytic[name])) < 1e-10 and np.max(np.abs(numeric[name])) < floor:
            always = ("a gradient that is zero for every upstream has nothing to check, as a "
                      "bias's just before a BatchNorm, whose mean subtraction cancels it")
            why = (f"(with the upstream given, try the default, a random one; {always})"
                   if upstream is not None else
                   f"(the upstream gradient was random, so this one is zero at this x for every "
                   f"upstream; {always}, or the dL/dx of a ReLU whose inputs are all negative; "
                   f"if it should not be zero, check at another x)")
            warnings.warn(f"gradcheck: the gradient of {name!r} is zero on both sides; "
                          f"this check cannot tell a right backward from a wrong one {why}",
                          stacklevel=user_stacklevel())
        elif name != "x" and not np.any(numeric[name]):
            warnings.warn(f"gradcheck: the numeric gradient of {name!r} is zero in every entry, "
                          "the analytic one is not: the output does not depend on this "
                          "parameter at all. Does the forward read a copy of it, or another "
                          "array, instead of self.params?", stacklevel=user_stacklevel())
        errors[name] = rel_error(analytic[name], numeric[name])
    worst = max(errors.values())
    if worst > KINK_FROM and _may_have_kinks(layer) and _has_ties(np.asarray(x, np.float64)):
        kink, off_ties = _off_ties(layer, x, seed, eps, upstream, worst)
        analytic, numeric = off_ties or ({}, {})    # at a kink the numeric side is off
        warnings.warn(kink, stacklevel=user_stacklevel())
    factors = {name: _constant_factor(analytic[name], numeric[name])
               for name, error in errors.items() if error > KINK_FROM and name in analytic}
    factors = {name: c for name, c in factors.items() if c is not None}
    why = ("a constant factor left out or put in twice (a sign, a mean instead of a sum (1/N), "
           "the 2 of a square, the 1/(k*k) of an average) rather than a wrong formula")
    if (isinstance(layer, Sequential) and len(factors) > 1 and "x" in factors   # reaches x
            and np.allclose(list(factors.values()), next(iter(factors.values())), rtol=1e-6)):
        warnings.warn(f"gradcheck: the gradients of {', '.join(factors)} are each "
                      f"{next(iter(factors.values())):.4g} times the numeric ones in every entry: "
                      f"most likely {why}, in the dL/dx of a layer above them, which every "
                      "gradient below it takes up; gradcheck_layers(model, x) checks each layer "
                      "alone and names it", stacklevel=user_stacklevel())
    else:
        for name, c in factors.items():
            warnings.warn(f"gradcheck: the gradient of {name!r} is {c:.4g} times the numeric one "
                          f"in every entry: most likely {why}", stacklevel=user_stacklevel())
    return errors


def _off_ties(layer, x, seed, eps, upstream, worst):
    """At an x with ties a kink and a wrong backward look alike, so check again on x
    plus noise of std 0.1, which moves every entry off a tie by far more than eps.
    Returns what to say, and the gradients there if they are wrong too (for the
    factor hint), else None."""
    ties = (f"gradcheck: an error of {worst:.0e} at this x, which has repeated values or "
            "exact zeros, where a layer with kinks (ReLU at 0, tied maxima of a max pooling) "
            "gets large errors even with a correct backward, as finite differences straddle "
            "the kink")
    noisy = np.asarray(x, np.float64) + np.random.default_rng((seed, 3)).normal(0, 0.1, np.shape(x))
    try:
        with np.errstate(all="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            analytic, numeric, _ = _gradients(layer, noisy, seed, eps, upstream)
    except Exception:       # e.g. a layer defined for x > 0 only: say what is known
        return ties + ". Check again on x plus small noise", None
    errors = {name: rel_error(analytic[name], numeric[name]) for name in analytic}
    wrong = [name for name, error in errors.items() if error > KINK_FROM]
    if wrong:
        return (f"{ties}; but on x plus noise (std 0.1), where nothing ties, the error of "
                f"{', '.join(wrong)} is still {max(errors.values()):.0e}: not a kink, a wrong "
                "backward" + (" (gradcheck_layers(model, x) names the layer)"
                              if isinstance(layer, Sequential) else ""), (analytic, numeric))
    return (f"{ties}; on x plus noise (std 0.1), where nothing ties, every error is below "
            f"{KINK_FROM:g} (at most {max(errors.values()):.0e}): a kink at the ties, not a "
            "wrong backward. Check at an input without ties (gradcheck_layers(model, x) adds "
            "such noise to each layer's input)"), None


def gradcheck_layers(model, x, seed=0, eps=1e-6):
    """gradcheck of each layer of a Sequential, on the input that layer gets.

    A check of the whole model shows a wrong backward in every tensor below it
    (dL/dW of the Dense under a broken activation is wrong too, as it is
    computed from the wrong dL/dy), and an activation has no tensor of its own.
    Here each layer is checked alone, so only a wrong one has a large error.
    Each gets its input in the model plus noise of std 0.1: finite differences
    fail on ties at a kink, such as the exact zeros a ReLU passes on to a max
    pooling (most windows of an MNIST image's background), and the noise breaks
    them by far more than eps. Any input point will do for checking a backward.
    Returns {"<index>: <layer>": {"x": err, ...}}. Runs on a copy of the model.
    """
    if not isinstance(model, Sequential):
        what = repr(model) if isinstance(model, Layer) else f"a {type(model).__name__}"
        raise SettingError(f"gradcheck_layers: expected a Sequential, whose layers it checks "
                           f"one by one, got {what}; gradcheck(layer, x) checks a single layer")
    model = copy.deepcopy(model)
    rng = np.random.default_rng((check_int("gradcheck_layers", "seed", seed, 0), 2))
    h = np.array(x, dtype=np.float64)
    errors = {}
    for i, layer in enumerate(model.layers):
        noisy = h + rng.normal(0, 0.1, h.shape)      # no ties, no input at a kink
        with warnings.catch_warnings(record=True) as caught:   # said again below, with i
            warnings.simplefilter("always")
            try:
                errors[f"{i}: {layer!r}"] = gradcheck(layer, noisy, seed, eps)
            except ShapeError as e:
                raise at_layer(e, i) from None
            except (BackwardError, SettingError) as e:    # a Dropout in training mode, say
                raise type(e)(f"layer {i} of the Sequential: {e}") from None
        for w in caught:                                       # two BN layers warn alike
            warnings.warn(f"layer {i} of the Sequential: {w.message}", w.category,
                          stacklevel=user_stacklevel())
        h = layer.astype(np.float64).forward(h)     # the next layer's input
        layer.forget()
    return errors
