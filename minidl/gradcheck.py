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
1e-6 or less for a near-zero one, which no check can tell from right). A
gradient whose shape differs from its tensor's is refused (ShapeError), not
broadcast.

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
which layer is wrong. What the check refuses before it compares anything (a
layer that writes into its input, keeps a float32 array, adds to a gradient,
...) is in gradcheck_contract.py; what it warns of besides the numbers (a
weight outside params, a gamma of ones, ...) in gradcheck_hints.py.
"""
import copy
import inspect
import warnings

import numpy as np
from tqdm.auto import tqdm

from minidl import gradcheck_contract as contract
from minidl.errors import (BackwardError, SettingError, ShapeError, at_layer, check_int,
                           check_number, given, user_stacklevel)
from minidl.gradcheck_hints import hints
from minidl.layers import BatchNorm, Conv2D, Dense, Flatten, Sigmoid, Tanh
from minidl.layers.base import Layer
from minidl.model import Sequential

PROGRESS_FROM = 20_000     # entries from which gradients() shows a progress bar
LARGE_ERROR = 1e-4         # an error from which gradcheck looks for a cause: a factor, a kink


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
    and the central difference divides that by eps. The layer's slips of the
    contract (gradcheck_contract.py) raise errors on the way."""
    contract.check_layer(layer)
    eps = check_number("gradcheck", "eps", eps, lambda v: v > 0, "a number > 0 (1e-6 works)")
    seed = check_int("gradcheck", "seed", seed, 0)
    layer = contract.float64_copy(layer)
    for part in [layer] + list(getattr(layer, "layers", [])):
        setattr(part, contract.input_grad_flag(part), True)       # we check dL/dx too
    x = np.array(x, dtype=np.float64)
    contract.check_values(layer, x)
    rng = np.random.default_rng((seed, 1))   # not default_rng(seed): x may come from that
    y = contract.checked_forward(layer, x)
    if upstream is not None and np.shape(upstream) != y.shape:   # else it fails deep in backward
        raise ShapeError(f"gradcheck: upstream (dL/dy) has shape {np.shape(upstream)}, but the "
                         f"output has shape {y.shape}; they must match")
    r = rng.standard_normal(y.shape) if upstream is None else np.array(upstream, np.float64)

    def loss():
        return float(np.sum(layer.forward(x) * r))

    analytic = contract.checked_backward(layer, x, r)       # {"x": dL/dx, name: dL/dparam}
    values = {"x": x, **{name: p.value for name, p in contract.named_tensors(layer).items()}}
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
    (a sign, a 1/N or a 2 left out), or a square weight's is the numeric one
    transposed, when a gradient is zero on both sides (the check proves nothing),
    when an error exceeds LARGE_ERROR on an x with ties (checked again on x plus
    noise: a kink, or a wrong backward), when
    the layer keeps float arrays outside params (weights it never checks) or a
    copy of a parameter (stale after a step), when a numeric gradient is zero in
    every entry but the analytic one is not (the output does not read that
    parameter, or in a model a later layer cancels it), when
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
    for hint in hints(layer, x):     # what the numbers cannot show
        warnings.warn(hint, stacklevel=user_stacklevel())
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
        elif name != "x" and np.max(np.abs(numeric[name])) < floor <= np.max(
                np.abs(analytic[name])) / 10:       # zero but for rounding, the analytic not
            later = ("In a model, a later layer may cancel it (a bias just before a "
                     "BatchNorm, whose mean subtraction removes it): its gradient is then "
                     "zero, and a nonzero analytic one comes from a wrong backward of a later "
                     "layer; gradcheck_layers(model, x) checks each layer on its own. "
                     "Otherwise: " if isinstance(layer, Sequential) else "")
            warnings.warn(f"gradcheck: the numeric gradient of {name!r} is zero in every entry "
                          "(but for rounding), the analytic one is not: the output does not "
                          f"depend on this parameter at all. {later}Does the forward read a "
                          "copy of it, or another array, instead of self.params?",
                          stacklevel=user_stacklevel())
        errors[name] = rel_error(analytic[name], numeric[name])
    # the gradients a constant factor is looked for in: at an x with ties, those of the
    # check off the ties if the error stays there (a bug), none if it goes (a kink, where
    # the numeric side is half a slope and no factor)
    judged = analytic, numeric
    worst = max(errors.values())
    if worst > LARGE_ERROR and _may_have_kinks(layer) and _has_ties(np.asarray(x, np.float64)):
        said, off_ties = _off_ties(layer, x, seed, eps, upstream, worst)
        warnings.warn(said, stacklevel=user_stacklevel())
        judged = off_ties or ({}, {})
    factors = {name: _constant_factor(judged[0][name], judged[1][name])
               for name, error in errors.items() if error > LARGE_ERROR and name in judged[0]}
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
    for name in _transposed(*judged, errors, said=factors):
        warnings.warn(f"gradcheck: the gradient of {name!r} is the numeric one transposed: a "
                      "product in the wrong order (dy.T @ x where x.T @ dy is meant)?",
                      stacklevel=user_stacklevel())
    return errors


def _may_have_kinks(layer):
    """False if every part computes a forward that minidl knows to be smooth; a new
    layer may have a kink (a leaky ReLU does), and ReLU and MaxPool2D do. A subclass
    that rewrites only backward keeps its forward; one that rewrites forward (a
    HardTanh derived from Tanh) may have added a kink."""
    smooth = {cls.forward for cls in (Dense, Conv2D, BatchNorm, Sigmoid, Tanh, Flatten)}
    return not all(type(part).forward in smooth for part in getattr(layer, "layers", [layer]))


def _constant_factor(analytic, numeric):
    """c if analytic = c * numeric in every entry (to 1e-6, relative over the
    tensor), c not within 1e-3 of 1, and at least two entries clearly nonzero,
    else None (c is the least-squares factor). With one nonzero entry any
    gradient is a multiple of the numeric one: no hint then."""
    analytic, numeric = np.ravel(analytic), np.ravel(numeric)
    big = np.abs(numeric) > 1e-6 * np.max(np.abs(numeric), initial=0)
    if np.count_nonzero(big) < 2:
        return None
    c = float(analytic @ numeric) / float(numeric @ numeric)
    if c == 0 or abs(c - 1) < 1e-3 or rel_error(analytic, c * numeric) > 1e-6:
        return None
    return c


def _transposed(analytic, numeric, errors, said):
    """The names of the square 2-D parameter gradients with a large error that are
    the numeric ones transposed (a non-square one has the wrong shape, refused
    before), except those the factor hint has named already."""
    return [name for name, error in errors.items() if error > LARGE_ERROR and name != "x"
            and name in analytic and name not in said and np.ndim(analytic[name]) == 2
            and len(set(np.shape(analytic[name]))) == 1
            and rel_error(analytic[name].T, numeric[name]) < LARGE_ERROR]


def _has_ties(x):
    """Repeated values or exact zeros: where ReLU and max pooling have kinks."""
    return np.unique(x).size < x.size or not x.all()


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
    if not all(np.isfinite(list(errors.values()))):   # log or sqrt of a noisy x below 0
        return ties + ". Check again on x plus small noise, within the layer's domain", None
    wrong = [name for name, error in errors.items() if error > LARGE_ERROR]
    if wrong:
        return (f"{ties}; but on x plus noise (std 0.1), where nothing ties, the error of "
                f"{', '.join(wrong)} is still {max(errors.values()):.0e}: not a kink, a wrong "
                "backward" + (" (gradcheck_layers(model, x) names the layer)"
                              if isinstance(layer, Sequential) else ""), (analytic, numeric))
    return (f"{ties}; on x plus noise (std 0.1), where nothing ties, every error is below "
            f"{LARGE_ERROR:g} (at most {max(errors.values()):.0e}): a kink at the ties, not a "
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
