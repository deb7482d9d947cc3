"""What gradcheck checks besides the numbers: that the layer keeps the layer
contract (README, "The layer contract"; docs/layers.md), so that a slip is
named for what it is and never shows up as a wrong gradient, nor hides one.

Each check raises an error that names the slip: something that is not a layer,
or a parameter without its grads array (check_layer); a parameter, or a view
of one, kept under another name (float64_copy); a non-finite x, parameter or
statistic, a parameter named "x" (check_values); a forward that writes into
its input, returns no array, keeps a float32 array for its backward or is
random (checked_forward); a backward that writes into dy or x, adds to a
gradient or leaves one unset, returns a gradient of another shape, or sets
other parameter gradients when it skips dL/dx, as a first layer does in
training (checked_backward). gradcheck.py calls them before it compares the
gradients; what it warns of besides the numbers is in gradcheck_hints.py.
"""
import copy
import pickle

import numpy as np

from minidl.errors import BackwardError, SettingError, ShapeError, a_class
from minidl.layers.base import Layer
from minidl.layers.checks import (aliases, check_states, not_an_output, skipped_init, stray_grads,
                                  unregistered_params)
from minidl.losses import SoftmaxCrossEntropy
from minidl.model import Sequential


def check_layer(layer):
    """Refuse, by name, what is not a layer or a model (the class Dense, a loss),
    and a layer with a parameter but no grads array beside it (set by hand, not
    with _add_param): otherwise the first call on it fails with a message about
    astype, or astype quietly makes the missing array."""
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


def float64_copy(layer):
    """A deep copy of layer in float64: the caller's layer is never touched. Views of
    parameters are refused first, as astype refuses them: deepcopy would cut them loose."""
    check_states(layer, "gradcheck", also=aliases)
    probe = copy.deepcopy(layer)
    probe.astype(np.float64)
    return probe


def eval_copy(layer):
    """A float64 deep copy of layer, in eval mode."""
    probe = float64_copy(layer)
    probe.eval()
    return probe


def input_grad_flag(layer):
    """The switch of dL/dx: a Sequential's input_grad, a layer's needs_input_grad."""
    return "input_grad" if isinstance(layer, Sequential) else "needs_input_grad"


def named_tensors(layer):
    return {p.name: p for p in layer.parameters()}


def arrays_of(layer):
    """{name: array} of the parameters (named as parameters() names them) and of the
    state (BN's running statistics: "running_var of layer 1, BatchNorm(3, ...)")."""
    arrays = {f"parameter {name!r}": p.value for name, p in named_tensors(layer).items()}
    for i, part in enumerate(getattr(layer, "layers", [layer])):
        where = f"layer {i}, {part!r}" if isinstance(layer, Sequential) else repr(part)
        arrays.update({f"{key} of {where}": np.asarray(v) for key, v in part.state().items()})
    return arrays


def check_values(layer, x):
    """Finite differences need a finite x, finite parameters and statistics, and
    no parameter named "x", the name gradcheck gives the input."""
    if not np.all(np.isfinite(x)):    # every difference would be NaN, every error too
        raise SettingError(f"gradcheck: x holds {x.size - np.isfinite(x).sum()} NaN or infinite "
                         "values; finite differences need a finite input")
    for name, value in arrays_of(layer).items():
        if value.dtype.kind == "f" and not np.all(np.isfinite(value)):
            raise SettingError(f"gradcheck: {name} holds {value.size - np.isfinite(value).sum()} "
                               "NaN or infinite values (from a run that diverged?); finite "
                               "differences need finite parameters and statistics")
    if "x" in getattr(layer, "params", {}):  # its entry would replace dL/dx's
        raise SettingError(f"gradcheck: {layer!r} has a parameter named 'x', the name "
                           "gradcheck gives the input; rename the parameter")


def checked_forward(layer, x):
    """layer.forward(x), checked: an array, float64, the same at every call, x left
    as it was, and nothing float32 kept for the backward."""
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
    return y


def checked_backward(layer, x, r):
    """The analytic gradients {"x": dL/dx, name: dL/dparam} from layer.backward(r),
    checked: every gradient set (not added to), of its tensor's shape and float64,
    x and dy left as they were, and the same parameter gradients without dL/dx."""
    x_given, r_given = x.copy(), r.copy()
    params = named_tensors(layer)
    before_backward = copy.deepcopy(layer)   # as this backward finds it: for more backwards
    for p in params.values():   # NaN shows a backward that adds to a gradient or skips it
        p.grad[...] = np.nan
    dx = layer.backward(r)
    _unchanged(r, r_given, f"the backward of {layer!r} wrote into dy, the gradient it was "
               "given (dy *= ...): the caller may still need it. Compute dx into a new array "
               "(dx = dy * ...)")
    _unchanged(x, x_given, f"the backward of {layer!r} wrote into x, the input its forward "
               "kept: in a model that array is the output of the layer before, which may "
               "have kept it for its own backward. Work on a copy")
    unset = [name for name, p in params.items() if np.isnan(p.grad).any()]
    if unset:
        raise BackwardError(f"gradcheck: after backward, the gradient of {', '.join(unset)} "
                            "still holds NaN, which gradcheck put there before: backward must "
                            "set every gradient (self.grads[name][...] = g), not add to it "
                            "(+= would make it grow step by step in training) nor leave it out"
                            + _what_backward_did(before_backward, x, r, unset) +
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
    _same_without_input_grad(before_backward, x, r, analytic)
    return analytic


def _generator_states(layer):
    """The states of NumPy's global generator and of the generators that layer (or a
    model's layers) keeps as attributes (not those inside a list or dict): a forward
    that changes one draws numbers."""
    kept = [v for part in getattr(layer, "layers", [layer]) for v in vars(part).values()]
    return ([pickle.dumps(np.random.get_state())] +
            [pickle.dumps(g.bit_generator.state) for g in kept
             if isinstance(g, np.random.Generator)] +
            [pickle.dumps(g.get_state()) for g in kept if isinstance(g, np.random.RandomState)])


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


def _backward_from(before_backward, x, r, fill, input_grad=True):
    """A copy of `before_backward` (the layer as the first backward found it), its forward on
    x, every gradient set to `fill`, and its backward of r, with the input gradient
    on or off; returns the copy's parameters {name: Param} after it."""
    layer = copy.deepcopy(before_backward)
    setattr(layer, input_grad_flag(layer), input_grad)
    layer.forget()
    layer.forward(x)
    params = named_tensors(layer)
    for p in params.values():
        p.grad[...] = fill
    layer.backward(r)
    return params


def _same_without_input_grad(before_backward, x, r, analytic):
    """BackwardError unless a backward that skips dL/dx (needs_input_grad False, as the
    first layer with parameters gets in training) sets the same parameter gradients
    as the one that computes it, and writes into neither x nor dy: a bug on that
    path alone would pass every other check and leave a first layer untrained. Runs
    on a fresh copy, so that nothing the first backward left behind helps it."""
    from minidl.gradcheck import rel_error     # here: gradcheck.py imports this module
    flag = input_grad_flag(before_backward)
    if not named_tensors(before_backward):
        return
    x_in, r_in = x.copy(), r.copy()
    try:
        params = _backward_from(before_backward, x_in, r_in, np.nan, input_grad=False)
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
                    "put there)" + _what_backward_did(before_backward, x, r, [name],
                                                      input_grad=False))
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


def _what_backward_did(before_backward, x, r, names, input_grad=True):
    """What a backward that left gradcheck's NaN in the gradients `names` did to each,
    found by two more backwards on copies, with every gradient set to 0 and to 1
    first: the two results differ by 1 where it adds to the gradient, and stay 0 and
    1 where it leaves it alone. Nothing for the others (or if those backwards fail)."""
    try:
        zero, one = (_backward_from(before_backward, x, r, fill, input_grad) for fill in (0.0, 1.0))
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
