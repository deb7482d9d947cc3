"""gradcheck's own behaviour on misuse and on inputs it cannot judge: what it
refuses (a class, a loss, eps <= 0, an upstream gradient of another shape) and
when it warns that a large error may come from a kink, not from the backward,
or that a layer keeps weights where no check or optimizer sees them."""
import re
import warnings

import numpy as np
import pytest
from conftest import random_bn

from minidl import Sequential, SoftmaxCrossEntropy
from minidl.errors import BackwardError, SettingError, ShapeError
from minidl.gradcheck import gradcheck, gradcheck_layers, gradients, rel_error
from minidl.layers import BatchNorm, Conv2D, Dense, Flatten, Layer, MaxPool2D, ReLU, Tanh
from minidl.models import cnn

KINK = (r"x, which has repeated values or exact zeros, where a layer with kinks .*; on x plus "
        r"noise \(std 0\.1\), where nothing ties, every error is below 0\.0001 \(at most "
        r"\de-1\d\): a kink at the ties, not a wrong backward\. .*gradcheck_layers\(model, x\)")


def small_cnn():
    return Sequential(Conv2D(1, 2, 3, padding=1, rng=0), ReLU(), MaxPool2D(2), Flatten(),
                      Dense(32, 3, rng=1))


def blob():
    """A dark image with a bright square, like an MNIST digit's background."""
    x = np.zeros((2, 1, 8, 8))
    x[:, :, 3:5, 3:5] = 1
    return x


@pytest.mark.parametrize("layer, x", [
    (ReLU(), np.zeros((2, 3))),                          # every input at the kink: error 1.0
    (ReLU(), np.arange(-3.0, 3.0).reshape(2, 3)),        # one input at 0, no repeats
    (MaxPool2D(2), np.zeros((1, 1, 4, 4))),              # tied maxima
    (small_cnn(), blob()),                               # errors 0.55 (x) and 0.63 (b)
])
def test_a_large_error_on_an_input_with_ties_warns_of_kinks(layer, x):
    """These layers are correct; gradcheck used to report their large errors silently."""
    with pytest.warns(UserWarning, match=KINK):
        errors = gradcheck(layer, x)
    assert max(errors.values()) > 1e-2


class Linear(Layer):
    """y = x @ W, a student's own layer (so gradcheck cannot know it is smooth), with
    a 1/N in dL/dW that does not belong there."""

    def __init__(self):
        super().__init__()
        self._add_param("W", np.random.default_rng(0).standard_normal((5, 3)))

    def forward(self, x):
        self._save(x)
        return x @ self.params["W"]

    def backward(self, dy):
        (x,) = self._saved()
        self.grads["W"][...] = x.T @ dy / len(x)
        return dy @ self.params["W"].T


def test_a_bug_on_an_input_with_ties_is_not_called_a_kink():
    """An exact zero in x (an MNIST background, np.arange) made gradcheck blame a
    kink, say that a correct backward gets such errors, and drop the 1/N hint, for a
    layer with no kink at all. It now checks again off the ties."""
    x = np.random.default_rng(1).standard_normal((4, 5))
    x[0, 0] = 0.0
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        errors = gradcheck(Linear(), x)
    said = " | ".join(str(w.message) for w in caught)
    assert errors["W"] > 0.5 and errors["x"] < 1e-7
    assert re.search(r"exact zeros.*; but on x plus noise \(std 0\.1\), where nothing ties, the "
                     r"error of W is still \de-01: not a kink, a wrong backward$",
                     said.split(" | ")[0])
    assert "the gradient of 'W' is 0.25 times the numeric one" in said


def test_a_bug_whose_check_off_the_ties_leaves_the_domain_is_not_called_a_kink():
    """The noise took x = 0.05 below 0, every error there was NaN, and NaN > 1e-4 is
    False: the wrong backward was called "a kink, not a wrong backward"."""
    class LogTimesTwo(Log):                       # log x, defined for x > 0 only
        def backward(self, dy):
            return 2 * super().backward(dy)      # 2 times too large
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        gradcheck(LogTimesTwo(), np.full((3, 4), 0.05))
    said = [str(w.message) for w in caught]
    assert any("Check again on x plus small noise, within the layer's domain" in m for m in said)
    assert not any("not a wrong backward" in m for m in said)


def test_the_suggested_noise_clears_the_kink_warning():
    x = blob()
    noisy = x + np.random.default_rng(0).normal(0, 0.1, x.shape)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert max(gradcheck(small_cnn(), noisy).values()) < 1e-7
        errors = gradcheck_layers(small_cnn(), x)
    assert max(max(e.values()) for e in errors.values()) < 1e-7


@pytest.mark.parametrize("layer, shape", [
    (ReLU(), (4, 5)), (MaxPool2D(2), (2, 3, 6, 6)), (Dense(5, 3, rng=0), (4, 5)),
    (small_cnn(), (2, 1, 8, 8)), (cnn(batchnorm=True, image_size=8, channels=(2, 3), seed=0),
                                  (2, 1, 8, 8)),
])
def test_a_correct_layer_on_a_random_input_gives_no_warning(layer, shape):
    random_bn(layer)                               # gamma away from 1, else gradcheck warns
    x = np.random.default_rng(0).standard_normal(shape)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert max(gradcheck(layer, x).values()) < 1e-7


@pytest.mark.parametrize("check", [gradcheck, gradients])
@pytest.mark.parametrize("bad, says", [
    (Dense, r"got the class Dense, not an instance \(write Dense\(\.\.\.\)\)"),
    (np.ndarray, r"got the class ndarray$"),                  # no advice to write ndarray(...)
    (SoftmaxCrossEntropy(), r"got SoftmaxCrossEntropy\(\), a loss\. To check a loss, .*"
                            r"numeric_grad\(lambda: loss\.forward\(z, t\), z\).*tests/test_losses"),
    (np.ones((2, 3)), r"got an object of type ndarray \(the call is gradcheck\(layer, x\)\)"),
])
def test_what_is_not_a_layer_is_named(check, bad, says):
    """These used to fail on astype: "missing 1 required positional argument",
    "'SoftmaxCrossEntropy' object has no attribute 'astype'"."""
    with pytest.raises(SettingError, match=r"gradcheck: expected a minidl layer or Sequential "
                                           r"to check, " + says):
        check(bad, np.ones((2, 3)))


@pytest.mark.parametrize("model, got", [
    (Dense(3, 2, rng=0), r"Dense\(3, 2, bias=True\)"), ([Dense(3, 2, rng=0)], "a list")])
def test_gradcheck_layers_needs_a_sequential(model, got):
    """Used to be "'Dense' object has no attribute 'layers'"."""
    with pytest.raises(SettingError, match=r"gradcheck_layers: expected a Sequential, whose "
                                           rf"layers it checks one by one, got {got}; "
                                           r"gradcheck\(layer, x\) checks a single layer"):
        gradcheck_layers(model, np.ones((2, 3)))


@pytest.mark.parametrize("check", [gradcheck, gradients,
                                   lambda layer, x, seed: gradcheck_layers(Sequential(layer), x,
                                                                           seed=seed)])
def test_seed_must_be_an_int(check):
    """seed=1.5 used to fail in NumPy's words, without naming gradcheck's seed."""
    with pytest.raises(SettingError, match=r"gradcheck(_layers)?: seed must be an int >= 0, "
                                           "got 1.5"):
        check(ReLU(), np.ones((2, 3)), seed=1.5)


@pytest.mark.parametrize("check", [gradcheck, gradients,
                                   lambda layer, x, eps: gradcheck_layers(Sequential(layer), x,
                                                                          eps=eps)])
@pytest.mark.parametrize("eps", [0, -1e-6])
def test_eps_must_be_positive(check, eps):
    """eps=0 divided by zero; a negative eps passed silently."""
    with pytest.raises(SettingError, match=rf"gradcheck: eps must be a number > 0 .*got {eps}"):
        check(ReLU(), np.ones((2, 3)), eps=eps)


@pytest.mark.parametrize("check", [gradcheck, gradients])
@pytest.mark.parametrize("shape", [(2, 3), (2,)])      # (2,) would broadcast against (4, 2)
def test_an_upstream_gradient_of_another_shape_is_refused(check, shape):
    """Used to fail inside Dense.backward, in np.matmul."""
    with pytest.raises(ShapeError, match=rf"gradcheck: upstream \(dL/dy\) has shape "
                                         rf"{re.escape(str(shape))}, but the output has shape "
                                         r"\(4, 2\); they must match"):
        check(Dense(3, 2, rng=0), np.ones((4, 3)), upstream=np.ones(shape))


def test_an_input_with_nan_is_refused():
    """Every difference, and so every error, came out NaN, with no word why."""
    x = np.random.default_rng(0).standard_normal((3, 4))
    x[1, 2] = np.nan
    with pytest.raises(SettingError, match=r"x holds 1 NaN or infinite values"):
        gradcheck(Dense(4, 2, rng=0), x)


def test_the_kink_warning_stays_silent_for_layers_without_kinks():
    """A real bug in a Dense, checked on np.ones, was told it might be a kink:
    an invitation to dismiss it. Dense (and its subclasses) has no kink."""
    class BrokenDense(Dense):
        def backward(self, dy):
            dx = super().backward(dy)
            self.grads["W"] *= 1.01
            return dx
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        errors = gradcheck(BrokenDense(4, 3, rng=0), np.ones((2, 4)))
    assert errors["W"] > 1e-3
    said = [str(w.message) for w in caught]          # the bug named, no kink blamed
    assert len(said) == 1 and "'W' is 1.01 times the numeric one" in said[0]


def test_a_subclass_that_rewrites_forward_may_have_kinks():
    """A correct HardTanh derived from Tanh, checked at its corners, got an error of
    0.1 and no word of kinks: the check went by the class it derives from."""
    class HardTanh(Tanh):
        def forward(self, x):
            self._check_any(x)
            inside = np.abs(x) < 1
            self._save(inside)
            return np.clip(x, -1, 1)

        def backward(self, dy):
            (inside,) = self._saved()
            return dy * inside
    with pytest.warns(UserWarning, match=KINK):
        gradcheck(HardTanh(), np.array([[1.0, -1.0, 0.5, 1.0]]))


class Scale(Layer):
    """y = x * s with s meant to be learned, but kept as self.s, not in params."""

    def __init__(self, n):
        super().__init__()
        self.s = np.ones(n, np.float32)

    def forward(self, x):
        self._check(x, 2, len(self.s))
        self._save(x)
        return x * self.s

    def backward(self, dy):
        (x,) = self._saved()
        self._check_dy(dy, x.shape)
        return dy * self.s


@pytest.mark.parametrize("layer, features", [(Scale(3), 3),
                                             (Sequential(Dense(4, 3, rng=0), Scale(3)), 4)])
def test_a_weight_kept_outside_params_is_named(layer, features):
    """gradcheck passed such a layer in silence: it checked only x, and SGD never
    trained s."""
    x = np.random.default_rng(0).standard_normal((5, features))
    with pytest.warns(UserWarning, match=r"gradcheck: Scale\(\)\.s: float arrays that are not "
                                         r"in params, .* self\._add_param\(name, value\)"):
        errors = gradcheck(layer, x)
    assert "s" not in errors and max(errors.values()) < 1e-7



class Rescale(Layer):
    """y = a * x, with a backward that sets, adds to (+=) or forgets dL/da."""

    def __init__(self, n, how):
        super().__init__()
        self._add_param("a", np.linspace(0.5, 2, n))    # not all ones: gradcheck would warn
        self.how = how

    def forward(self, x):
        self._save(x)
        return x * self.params["a"]

    def backward(self, dy):
        (x,) = self._saved()
        if self.how == "set":
            self.grads["a"][...] = (dy * x).sum(axis=0)
        elif self.how == "add":                     # PyTorch's habit: accumulate
            self.grads["a"] += (dy * x).sum(axis=0)
        elif self.how == "partly":                  # sets its first entry only
            self.grads["a"][:1] = (dy * x).sum(axis=0)[:1]
        return dy * self.params["a"]


@pytest.mark.parametrize("how", ["add", "forget"])
def test_a_backward_that_adds_to_a_gradient_or_skips_it_is_named(how):
    """A += passed with errors of 1e-10 (gradcheck's gradients start at zero), and then
    trained with a gradient that grew every step."""
    x = np.random.default_rng(0).standard_normal((4, 3))
    assert max(gradcheck(Rescale(3, "set"), x).values()) < 1e-6
    for check in (gradcheck, gradcheck_layers):
        layer = Rescale(3, how) if check is gradcheck else Sequential(Dense(3, 3, rng=0),
                                                                     Rescale(3, how))
        did = (r"adds to the gradient of '.*a' \(\+=\) instead of setting it" if how == "add"
               else r"leaves the gradient of '.*a' as it was \(never sets it\)")
        with pytest.raises(BackwardError, match=r"the gradient of .*a still holds NaN.* not "
                                                r"add to it \(\+=.*; backward " + did + "$"):
            check(layer, x)


class FirstLayerDense(Layer):
    """y = x W, with a bug on the path a first layer takes in training only."""

    def __init__(self, bug):
        super().__init__()
        self.bug = bug
        self._add_param("W", np.random.default_rng(0).standard_normal((3, 2)).astype(np.float32))

    def forward(self, x):
        self._save(x)
        return x @ self.params["W"]

    def backward(self, dy):
        (x,) = self._saved()
        if not self.needs_input_grad and self.bug == "early return":
            return None                                # before setting dW
        scale = 1 / len(x) if not self.needs_input_grad and self.bug == "mean" else 1
        self.grads["W"][...] = scale * (x.T @ dy)
        if not self.needs_input_grad:
            return None if self.bug != "raises" else dy[None] @ self.params["W"].T[7]
        return dy @ self.params["W"].T


@pytest.mark.parametrize("bug,says", [
    ("early return", r"needs_input_grad = False, backward did not set the gradient of 'W' "
                     r"\(it still holds the NaN gradcheck put there\); backward leaves the "
                     r"gradient of 'W' as it was \(never sets it\)\. In training"),
    ("mean", r"needs_input_grad = False, backward set the gradient of 'W' to other values "
             r"than with dL/dx \(relative difference 6e-01\)"),    # a quarter of it
    ("raises", r"needs_input_grad = False, as the first layer .* backward raised IndexError")])
def test_a_bug_on_the_first_layers_path_is_named(bug, says):
    """gradcheck computes dL/dx, so it took the other path only: a first layer whose
    backward returned before setting dW passed with 1e-10 and never trained."""
    x = np.random.default_rng(1).standard_normal((4, 3))
    assert max(gradcheck(FirstLayerDense(bug=None), x).values()) < 1e-8
    with pytest.raises(BackwardError, match=says):
        gradcheck(FirstLayerDense(bug), x)
    with pytest.raises(BackwardError, match=says.replace("needs_input_grad", "input_grad")
                       .replace("'W'", "'0.W'")):
        gradcheck(Sequential(FirstLayerDense(bug), Tanh(), Dense(2, 2, rng=0)), x)
    with pytest.raises(BackwardError, match=r"layer 0 of the Sequential: .*needs_input_grad"):
        gradcheck_layers(Sequential(FirstLayerDense(bug), Tanh()), x)


class Scaled(Dense):
    """A Dense whose dx has the wrong sign and whose dW is off by a factor."""

    def __init__(self, factor):
        super().__init__(3, 2, rng=0)
        self.factor = factor

    def backward(self, dy):
        dx = super().backward(dy)
        self.grads["W"] *= self.factor
        return None if dx is None else -dx


@pytest.mark.parametrize("factor, says", [(0.25, "0.25 times"), (2.0, "2 times"),
                                          (1.0, None)])
def test_a_gradient_off_by_a_constant_factor_is_named_as_such(factor, says):
    """A student's most common slip: a sign, a 1/N, a 2. The error alone (1.0, 0.6, 0.33)
    looks like any wrong formula."""
    x = np.random.default_rng(0).standard_normal((4, 3))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        errors = gradcheck(Scaled(factor), x)
    said = [str(w.message) for w in caught]
    assert errors["x"] == pytest.approx(1.0) and errors["b"] < 1e-8
    assert any("gradient of 'x' is -1 times the numeric one in every entry" in m for m in said)
    assert any(f"gradient of 'W' is {says} the numeric one" in m for m in said) == bool(says)
    assert not any("gradient of 'b'" in m for m in said)
    class DoubledTanh(Tanh):
        def backward(self, dy):
            return 2 * super().backward(dy)               # the factor is in the Tanh

    doubled = Sequential(Dense(3, 3, rng=0), DoubledTanh(), Dense(3, 2, rng=1))
    with pytest.warns(UserWarning, match=r"the gradients of x, 0.W, 0.b are each 2 times the "
                                         r"numeric ones.*in the dL/dx of a layer above them.*"
                                         r"gradcheck_layers\(model, x\)"):
        gradcheck(doubled, x)
    wrong = Sequential(Dense(3, 3, rng=0), Square())            # 2x dy, not 2x * dy
    wrong.layers[1].backward = lambda dy: 2 * dy
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert gradcheck(wrong, x)["x"] > 0.1
    assert not [w for w in caught if "times the numeric" in str(w.message)]


class FirstLayerTraps(Dense):
    """A Dense whose first-layer path (needs_input_grad False) has a trap of its own."""

    def __init__(self, trap):
        super().__init__(3, 2, rng=0)
        self.trap = trap

    def backward(self, dy):
        if self.needs_input_grad:
            dx = super().backward(dy)
            self._last_dW = self.grads["W"].copy()     # kept for the other path: stale there
            return dx
        (x,) = self._saved()
        if self.trap == "stale":
            self.grads["W"][...] = getattr(self, "_last_dW", 0.0)
        else:                                          # "writes into x"
            np.multiply(x, 1.0, out=x)
            x *= 2
            self.grads["W"][...] = x.T @ dy / 2
        self.grads["b"][...] = dy.sum(axis=0)
        return None


@pytest.mark.parametrize("trap, says", [
    ("stale", r"needs_input_grad = False, backward set the gradient of 'W' to other values"),
    ("writes into x", r"needs_input_grad = False, .* backward wrote into x, the input its "
                      r"forward kept")])
def test_the_first_layers_path_runs_on_a_copy_the_other_backward_never_touched(trap, says):
    """Run on the same layer right after the other backward, it found that backward's
    dW (a stale buffer passed, and trained on garbage); and a write into x there went
    unseen and spoilt the numeric side instead."""
    x = np.random.default_rng(0).standard_normal((4, 3))
    with pytest.raises(BackwardError, match=says):
        gradcheck(FirstLayerTraps(trap), x)


class OneSlope(Layer):
    """A leaky ReLU with one learned slope, whose backward binds a new (NumPy scalar)
    gradient instead of writing into the array: SGD trains it all the same."""

    def __init__(self):
        super().__init__()
        self._add_param("a", np.array(0.25))

    def forward(self, x):
        self._save(x)
        return np.where(x > 0, x, self.params["a"] * x)

    def backward(self, dy):
        (x,) = self._saved()
        self.grads["a"] = (dy * x * (x <= 0)).sum()
        return dy * np.where(x > 0, 1.0, self.params["a"])


def test_a_gradient_bound_anew_is_checked_not_blamed_on_the_first_layers_path():
    """gradcheck filled the layer's NaN into the bound scalar and reported that its own
    TypeError was raised by backward with needs_input_grad False."""
    x = np.random.default_rng(0).standard_normal((4, 3))
    assert max(gradcheck(OneSlope(), x).values()) < 1e-8


def test_every_gradient_left_nan_gets_its_own_diagnosis():
    x = np.random.default_rng(0).standard_normal((4, 3))
    model = Sequential(Rescale(3, "forget"), Rescale(3, "add"))
    with pytest.raises(BackwardError, match=r"0.a, 1.a still holds NaN.*; backward leaves the "
                                            r"gradient of '0.a' as it was \(never sets it\); "
                                            r"backward adds to the gradient of '1.a' \(\+=\)"):
        gradcheck(model, x)


def test_a_bias_before_bn_is_no_false_alarm_on_the_first_layers_path():
    """Its true gradient is 0, so both paths give rounding, which Conv2D's first-layer
    path (another order of the sums) changes: 'set other values' blamed minidl's own
    Conv2D for exercise 3's model."""
    x = np.random.default_rng(0).standard_normal((2, 1, 5, 5))
    for seed in range(3):
        model = Sequential(Conv2D(1, 3, 3, padding=1, rng=seed), random_bn(BatchNorm(3)))
        with pytest.warns(UserWarning, match="'0.b' is zero on both sides"):
            errors = gradcheck(model, x + seed)
        assert max(e for name, e in errors.items() if name != "0.b") < 1e-8


class GreaterEqualReLU(Layer):
    """A student's ReLU with >=: right everywhere but at 0, where the check straddles."""

    def forward(self, x):
        mask = x >= 0
        self._save(mask)
        return x * mask

    def backward(self, dy):
        (mask,) = self._saved()
        return dy * mask


@pytest.mark.parametrize("case", ["kink", "one entry", "large eps"])
def test_no_constant_factor_is_claimed_where_none_is(case):
    """At a kink the numeric side is half a slope; one nonzero entry is a multiple of
    anything; a large eps makes every entry a little off, evenly. None is a factor
    left out, and the warning said so."""
    if case == "kink":
        layer, x, eps = GreaterEqualReLU(), np.array([[0.0, -1.0, -2.0, -3.0]]), 1e-6
    elif case == "one entry":                          # one sample, one-hot: dW has one entry
        class SquaredBug(Dense):
            def backward(self, dy):
                dx = super().backward(dy)
                self.grads["W"] += 0.3 * self.grads["W"] ** 2     # not a factor
                return dx
        layer, x, eps = SquaredBug(4, 1, rng=0), np.array([[0.0, 0.0, 1.0, 0.0]]), 1e-6
    else:                      # exp's central difference is exp(x) (1 + eps^2/6 + ...)
        class Exp(Layer):
            def forward(self, x):
                y = np.exp(x)
                self._save(y)
                return y

            def backward(self, dy):
                (y,) = self._saved()
                return y * dy
        layer, x, eps = Exp(), np.random.default_rng(0).standard_normal((3, 4)), 0.05
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        errors = gradcheck(layer, x, eps=eps)
    assert max(errors.values()) > 1e-4                  # large enough to be looked at
    assert not [w for w in caught if "times the numeric" in str(w.message)]


def test_a_dx_in_a_scratch_buffer_of_the_forward_is_checked_as_it_was_returned():
    """The numeric side's forwards overwrote such a dx before the comparison: 0.7 for a
    correct backward. In a model it is used before the next forward, so it is right."""
    class Exp(Layer):
        def forward(self, x):
            y = self._buffer("y", x.shape, x.dtype)
            np.exp(x, out=y)
            self._save(y)
            return y

        def backward(self, dy):
            (y,) = self._saved()
            y *= dy                                    # dL/dx = exp(x) dy, into the buffer
            return y

    x = np.random.default_rng(2).standard_normal((3, 4))
    assert gradcheck(Exp(), x)["x"] < 1e-8


def test_a_gradient_set_in_part_gets_no_diagnosis_it_does_not_fit():
    """Neither "adds to it" nor "never sets it" describes a backward that sets one entry."""
    x = np.random.default_rng(0).standard_normal((4, 3))
    with pytest.raises(BackwardError, match=r"still holds NaN.*nor leave it out$"):
        gradcheck(Rescale(3, "partly"), x)


class Square(Layer):
    """y = x**2, keeping its input as self.x: the most common student pattern."""

    def forward(self, x):
        self.x = x
        return x ** 2

    def backward(self, dy):
        return 2 * self.x * dy


def test_an_input_kept_for_the_backward_is_not_taken_for_a_weight():
    """After one forward, gradcheck warned that Square().x was a float array 'not in
    params', to be registered if learned."""
    x = np.random.default_rng(0).standard_normal((4, 3))
    layer = Square()
    layer.forward(x)
    for checked in (layer, Sequential(Dense(3, 3, rng=0).astype(np.float64), layer)):
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            assert max(gradcheck(checked, x).values()) < 1e-6


class SquareCachedInTraining(Square):
    """Keeps its input only in training mode, as a layer that never runs backward in
    eval mode may."""

    def forward(self, x):
        if self.training:
            self.x = x
        return x ** 2


def test_an_input_kept_in_training_mode_only_is_not_taken_for_a_weight():
    """gradcheck saw self.x unchanged by forwards in eval mode and named it."""
    x = np.random.default_rng(0).standard_normal((4, 3))
    layer = SquareCachedInTraining()
    layer.forward(x)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert max(gradcheck(layer, x).values()) < 1e-6
        assert max(gradcheck(Sequential(Dense(3, 3, rng=0).astype(np.float64), layer),
                             x).values()) < 1e-6


class LastBatchCenter(Layer):
    """y = x - mean of the last training batch, kept outside state(): a BatchNorm whose
    author forgot the momentum. The value comes back when x comes back, as a cache
    would; but the eval forward reads it."""

    def forward(self, x):
        if self.training:
            self.mean = x.mean(axis=0)
            return x - self.mean
        return x - getattr(self, "mean", 0.0)

    def backward(self, dy):
        return dy - dy.mean(axis=0) if self.training else dy


class UnregisteredSlope(Layer):
    """A PReLU whose slope is kept outside params: on an x > 0 it is not read."""

    def __init__(self, n):
        super().__init__()
        self.alpha = np.full(n, 0.25)

    def forward(self, x):
        self.x = x
        return np.where(x > 0, x, self.alpha * x)

    def backward(self, dy):
        return np.where(self.x > 0, dy, self.alpha * dy)


def test_a_weight_this_x_does_not_reach_is_named_all_the_same():
    """A first version looked whether changing the array changed the output on x
    alone: a slope used only for negative inputs went unnamed for an x > 0."""
    x = np.abs(np.random.default_rng(0).standard_normal((4, 3))) + 0.1
    with pytest.warns(UserWarning, match=r"UnregisteredSlope\(\)\.alpha: float arrays"):
        gradcheck(UnregisteredSlope(3), x)


class CopiedScale(Layer):
    """y = x * s, but the forward reads a copy of s made at construction."""

    def __init__(self, n):
        super().__init__()
        self._add_param("s", np.full(n, 2.0))
        self._frozen = np.full(n, 2.0)

    def forward(self, x):
        self._save(x)
        return x * self._frozen

    def backward(self, dy):
        (x,) = self._saved()
        self.grads["s"][...] = (dy * x).sum(axis=0)
        return dy * self._frozen


class MeanlessBatchNorm(BatchNorm):
    """A student's BN backward that leaves out the terms of the mean and variance
    (the eval-mode formula, used in training)."""

    def backward(self, dy):
        x_hat, inv_std = self._saved()[:2]
        self.grads["beta"][...] = dy.sum(axis=0)
        self.grads["gamma"][...] = (dy * x_hat).sum(axis=0)
        return dy * self.params["gamma"] * inv_std


def test_a_parameter_the_output_does_not_depend_on_is_named():
    """A numeric gradient of zeros against a nonzero analytic one: the forward does
    not read the parameter (a copy of it instead)."""
    x = np.random.default_rng(0).standard_normal((4, 3))
    with pytest.warns(UserWarning, match=r"numeric gradient of 's' is zero in every entry "
                                         r"\(but for rounding\), the analytic one is not"
                                         r".* at all\. Does the forward read a copy"):
        gradcheck(CopiedScale(3), x)


def test_in_a_model_a_zero_numeric_gradient_may_be_a_later_layers_fault():
    """A bias before a wrong BatchNorm: the bias's true gradient is zero (BN's mean
    subtraction cancels it), and the nonzero analytic one is the BN's error. The
    warning used to point at the Dense layer, which was right, and only there."""
    x = np.random.default_rng(0).standard_normal((6, 5))
    model = Sequential(Dense(5, 4, rng=0), MeanlessBatchNorm(4), ReLU(),
                       Dense(4, 3, rng=1)).astype(np.float64)
    with pytest.warns(UserWarning) as said:
        errors = gradcheck(model, x)
    said = [str(w.message) for w in said]
    assert any("numeric gradient of '0.b' is zero in every entry" in m and "a later layer may "
               "cancel it" in m and "gradcheck_layers(model, x)" in m for m in said), said
    assert errors["0.b"] > 0.5
    assert not any("a later layer" in m for m in said if "'0.b'" not in m)


class TransposedDense(Dense):
    """dW = dy.T @ x: for a square W of the right shape, but transposed."""

    def backward(self, dy):
        (x,) = self._saved()
        self.grads["W"][...] = dy.T @ x
        self.grads["b"][...] = dy.sum(axis=0)
        return dy @ self.params["W"].T


def test_a_weight_gradient_that_is_the_numeric_one_transposed_is_named():
    """A student's transposed dW of a square layer: the error alone (about 1) does
    not say what is wrong, and the shape check cannot see it."""
    x = np.random.default_rng(0).standard_normal((5, 4))
    with pytest.warns(UserWarning) as said:
        errors = gradcheck(TransposedDense(4, 4, rng=0).astype(np.float64), x)
    said = [str(w.message) for w in said]
    assert errors["W"] > 0.1 and errors["b"] < 1e-7
    assert said == ["gradcheck: the gradient of 'W' is the numeric one transposed: a product "
                    "in the wrong order (dy.T @ x where x.T @ dy is meant)?"]
    model = Sequential(Dense(3, 4, rng=1), TransposedDense(4, 4, rng=0)).astype(np.float64)
    with pytest.warns(UserWarning, match=r"gradient of '1\.W' is the numeric one transposed"):
        gradcheck(model, x[:, :3])
    with warnings.catch_warnings():
        warnings.simplefilter("error")                  # no such warning for a right one
        gradcheck(Dense(4, 4, rng=0).astype(np.float64), x)
    with warnings.catch_warnings(record=True) as said:  # a transposed dx: not the W advice
        warnings.simplefilter("always")
        errors = gradcheck(TransposedDx(4, 4, rng=0).astype(np.float64), x[:4])
    assert errors["x"] > 0.1 and not any("transposed" in str(w.message) for w in said)


class TransposedDx(Dense):
    """dx = (dy @ W.T).T: for a square batch, the numeric dx transposed."""

    def backward(self, dy):
        (x,) = self._saved()
        self.grads["W"][...] = x.T @ dy
        self.grads["b"][...] = dy.sum(axis=0)
        return (dy @ self.params["W"].T).T


class MeanOfTraining(Layer):
    """Its eval forward needs a training forward first: gradcheck's copy in eval mode
    of a fresh layer cannot run."""

    def forward(self, x):
        if self.training:
            self.mu = x.mean(axis=0)
        return x - self.mu

    def backward(self, dy):
        return dy - dy.mean(axis=0)


def test_a_layer_whose_eval_forward_cannot_run_yet_is_checked_without_the_hint():
    """gradcheck crashed with an AttributeError after computing the check, in the
    eval-mode forward it runs only to decide a warning."""
    x = np.random.default_rng(0).standard_normal((5, 3))
    assert max(gradcheck(MeanOfTraining(), x).values()) < 1e-6


def test_a_statistic_of_the_last_batch_is_named_though_it_follows_the_input():
    x = np.random.default_rng(0).standard_normal((6, 3))
    layer = LastBatchCenter()
    layer.forward(x)
    with pytest.warns(UserWarning, match=r"LastBatchCenter\(\)\.mean: float arrays"):
        gradcheck(layer.eval(), x)


class RunningMean(Layer):
    """y = x - mean, with a running mean kept outside state(): no checkpoint saves it."""

    def __init__(self, n):
        super().__init__()
        self.running_mean = np.zeros(n)

    def forward(self, x):
        if self.training:
            self.running_mean = 0.9 * self.running_mean + 0.1 * x.mean(axis=0)
        self._save(x)
        return x - x.mean(axis=0) if self.training else x - self.running_mean

    def backward(self, dy):
        self._saved()
        return dy - dy.mean(axis=0) if self.training else dy

    def astype(self, dtype):                  # an override that forgets `return self`
        self.running_mean = self.running_mean.astype(dtype)


def test_statistics_outside_state_are_named_and_caches_are_not():
    """A first version took every array a forward changes for a cache: a running mean
    updated in training mode went unnamed. And a layer's astype without `return self`
    made the scan fail with an AttributeError."""
    x = np.random.default_rng(0).standard_normal((6, 3))
    with pytest.warns(UserWarning, match=r"RunningMean\(\)\.running_mean: .* if they are "
                                         r"statistics to save .* return them from state\(\)"):
        gradcheck(RunningMean(3), x)
    with pytest.warns(UserWarning, match=r"Scale\(\)\.s, Scale\(\)\.s: float arrays"):
        gradcheck(Sequential(Scale(3), Scale(3)), x)     # two layers of one repr: both named


class ForgetsGamma(BatchNorm):
    """dx without its factor gamma: right only where gamma is 1."""

    def backward(self, dy):
        gamma = self.params["gamma"].copy()
        self.params["gamma"][...] = 1
        try:
            return super().backward(dy)
        finally:                                    # dgamma and dbeta do not use gamma
            self.params["gamma"][...] = gamma


def test_a_factor_of_one_is_named_as_hiding_bugs():
    """A new BN's gamma is all ones, where a backward that forgets it is right: the
    check passed such a bug with errors of 1e-10, silently."""
    x = np.random.default_rng(1).standard_normal((7, 4))
    with pytest.warns(UserWarning, match=r"gradcheck: gamma: every entry is 1 .* leaves out "
                                         r"such a factor") as caught:
        assert max(gradcheck(ForgetsGamma(4), x).values()) < 1e-7      # the bug passes
    assert caught[0].filename == __file__                             # the caller's line
    bn = ForgetsGamma(4)
    bn.params["gamma"][:] = np.random.default_rng(0).uniform(0.5, 2, 4)
    with warnings.catch_warnings():
        warnings.simplefilter("error")                                # no warning now
        assert gradcheck(bn, x)["x"] > 1e-2                           # and it is caught
    fresh = BatchNorm(4)
    fresh.params["gamma"][:] = 2.0
    with pytest.warns(UserWarning, match=r"gradcheck: running_var: every entry is 1.* for p = "
                                         r"layer\.state\(\)\['running_var'\]$"):
        gradcheck(fresh.eval(), x)                                    # eval reads running_var
    model = Sequential(Dense(4, 3, bias=False, rng=0), BatchNorm(3))
    with pytest.warns(UserWarning, match=r"gradcheck: 1\.gamma: every entry.* for p = "
                                         r"model\.layers\[1\]\.params\['gamma'\]$"):
        gradcheck(model, x)                                           # named as parameters()
    model = Sequential(Dense(4, 3, bias=False, rng=0), BatchNorm(3), BatchNorm(3))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        gradcheck_layers(model, x)
    said = [str(w.message) for w in caught if "every entry is 1" in str(w.message)]
    start = "of the Sequential: gradcheck: gamma: every entry is 1"
    assert [m.split(" ", 2)[:2] for m in said] == [["layer", "1"], ["layer", "2"]]
    assert all(m.split(" ", 2)[2].startswith(start) for m in said)


@pytest.mark.filterwarnings("ignore:.*every entry is 1")
def test_two_values_per_feature_are_named_as_a_weak_check():
    """With m = 2, x_hat is +-1 whatever x: a correct BN read 3e-3, with no hint why."""
    x = 100 * np.random.default_rng(1).standard_normal((2, 3))
    with pytest.warns(UserWarning, match=r"BatchNorm\(3, .*\) gets 2 values per feature in "
                                         r"training mode: then x_hat is \+1 or -1"):
        errors = gradcheck(BatchNorm(3), x)
    assert errors["x"] > 1e-4                        # large, for a correct backward
    model = Sequential(Dense(3, 3, bias=False, rng=0), BatchNorm(3))
    with pytest.warns(UserWarning, match=r"gradcheck: layer 1, BatchNorm\(3, .*\) gets 2 values"):
        gradcheck(model, x)
    images = np.random.default_rng(1).standard_normal((2, 3, 2, 2))   # m = N*H*W = 8
    with warnings.catch_warnings():
        warnings.filterwarnings("error", message=".*values per feature")
        gradcheck(BatchNorm(3), images)
        gradcheck(BatchNorm(3).eval(), x)           # eval mode: the statistics are constants


class InPlaceReLU(ReLU):
    def forward(self, x):
        self._save(x > 0)
        return np.maximum(x, 0, out=x)              # writes into its input


class InPlaceTanh(Tanh):
    def backward(self, dy):
        (y,) = self._saved()
        dy *= 1 - y * y                             # writes into dy
        return dy


class CentringDense(Dense):
    def forward(self, x):
        self._save_x = x
        return super().forward(x)

    def backward(self, dy):
        self._save_x -= self._save_x.mean(axis=0)   # writes into the input it kept
        return super().backward(dy)


@pytest.mark.parametrize("layer, says", [
    (InPlaceReLU(), r"the forward of InPlaceReLU\(\) wrote into its input x .* Write the "
                    r"result into a new array"),
    (InPlaceTanh(), r"the backward of InPlaceTanh\(\) wrote into dy, the gradient it was "
                    r"given"),
    (CentringDense(3, 2, rng=0), r"the backward of CentringDense\(3, 2, bias=True\) wrote into "
                                 r"x, the input its forward kept"),
])
def test_a_layer_that_writes_into_what_it_is_given_is_named(layer, says):
    """Such layers got errors of 1e-1 to 1 (or, writing into a kept input, passed), as
    the numeric side then starts from a changed x or dy; the caller's arrays are kept."""
    x = np.random.default_rng(0).standard_normal((4, 3))
    x_given = x.copy()
    upstream = np.random.default_rng(1).standard_normal((4, 2 if "Dense" in says else 3))
    upstream_given = upstream.copy()
    with pytest.raises(BackwardError, match=says):
        gradcheck(layer, x, upstream=upstream)
    np.testing.assert_array_equal(x, x_given)
    np.testing.assert_array_equal(upstream, upstream_given)
    with pytest.raises(BackwardError, match="layer 1 of the Sequential: gradcheck: the "):
        gradcheck_layers(Sequential(Dense(3, 3, rng=1), layer), x)    # named by its index


class Float32Inside(Tanh):
    """Computes in a float32 buffer whatever the input's dtype."""

    def forward(self, x):
        y = self._buffer("y", x.shape, np.float32)
        np.tanh(x, out=y, casting="same_kind")
        self._save(y.copy())
        return y.copy()


class Float32Gradient(Tanh):
    def backward(self, dy):
        return super().backward(dy).astype(np.float32)


@pytest.mark.parametrize("layer, what", [(Float32Inside(), "output"),
                                         (Float32Gradient(), "dL/dx")])
def test_a_layer_that_computes_in_float32_is_named(layer, what):
    """It got an error of 1e-2 with no hint, as if its backward were wrong."""
    with pytest.raises(ShapeError, match=rf"returned float32 \({what}\) for a float64 input: "
                                         r"an array or constant it creates is float32"):
        gradcheck(layer, np.random.default_rng(0).standard_normal((4, 3)))


def test_numeric_grad_of_a_function_that_is_not_one_number_is_named():
    """It failed with 'setting an array element with a sequence', for the recipe
    that gradcheck's own message gives for checking a loss."""
    from minidl.gradcheck import numeric_grad
    z = np.arange(12.0).reshape(3, 4)
    with pytest.raises(SettingError, match=r"f\(\) must return one number \(a loss\), got an "
                                           r"array of shape \(3,\) \(per-sample losses"):
        numeric_grad(lambda: (z ** 2).sum(axis=1), z)
    assert np.array_equal(z, np.arange(12.0).reshape(3, 4))     # left as it was
    np.testing.assert_allclose(numeric_grad(lambda: float((z ** 2).sum()), z), 2 * z, atol=1e-6)


def test_numeric_grad_nudges_a_view_and_refuses_what_it_cannot_nudge():
    """A transposed z came back as zeros (its flat copy was nudged, never z), an
    int array as nonsense, and an f(x) in the style of CS231n's checker as a bare
    TypeError."""
    from minidl.gradcheck import numeric_grad
    z = np.random.default_rng(0).standard_normal((3, 4)).T     # not contiguous
    t = np.array([0, 1, 2, 0])
    loss = SoftmaxCrossEntropy()
    numeric = numeric_grad(lambda: loss.forward(z, t), z)
    loss.forward(z, t)
    assert rel_error(numeric, loss.backward()) < 1e-8
    numeric = numeric_grad(lambda: float((z[:, 1] ** 2).sum()), z[:, 1])    # a column
    np.testing.assert_allclose(numeric, 2 * z[:, 1], atol=1e-6)
    for v, got in [(np.arange(4), "int64 values"), ([1.0, 2.0], r"a list, \[1.0, 2.0\]"),
                   (np.ones(3)[::-1].view(), None)]:
        if got is None:
            v.flags.writeable, got = False, "a read-only float64 array"
        with pytest.raises(SettingError, match=r"v must be the writable float array that f "
                                               r"reads .*got " + got):
            numeric_grad(lambda: 0.0, v)
    with pytest.raises(SettingError, match=r"f takes no argument; it reads v itself, e\.g\. "
                                           r"lambda: loss\.forward\(v, t\) \(this f wants \['x'\]\)"):
        numeric_grad(lambda x: float((x ** 2).sum()), z)


class NoReturn(Tanh):
    def forward(self, x):
        super().forward(x)                                   # the `return` left out


class WithCache(Tanh):
    def forward(self, x):
        return super().forward(x), x                         # (y, cache), another framework's habit


@pytest.mark.parametrize("layer, says", [(NoReturn, r"None \(a missing `return y`\?\)"),
                                         (WithCache, r"a tuple \(return the output alone; keep")])
def test_a_forward_that_returns_no_array_is_named(layer, says):
    """The next layer was blamed ("Dense(3, 2): expected a NumPy array, got NoneType"),
    the last gave a bare AttributeError, and gradcheck a TypeError from np.isnan."""
    x = np.random.default_rng(0).standard_normal((4, 3))
    for at, model in ((1, Sequential(Dense(3, 3, rng=0), layer(), Dense(3, 2, rng=1))),
                      (1, Sequential(Dense(3, 3, rng=0), layer()))):
        with pytest.raises(ShapeError, match=rf"^layer {at} of the Sequential: {layer.__name__}"
                                             rf"\(\): forward returned {says}"):
            model.forward(x.astype(np.float32))
        with pytest.raises(ShapeError, match=rf"layer {at} .*: {layer.__name__}\(\): forward "
                                             rf"returned {says}"):
            model.summary((3,))
    with pytest.raises(ShapeError, match=rf"^gradcheck: {layer.__name__}\(\): forward returned "
                                         rf"{says}"):
        gradcheck(layer(), x)


class AliasedDense(Dense):
    """Keeps its weight and gradient under names of its own, as some courses' code does."""

    def __init__(self):
        super().__init__(3, 2, bias=False, rng=0)
        self.W, self.dW = self.params["W"], self.grads["W"]

    def forward(self, x):
        self._save(x)
        return x @ self.W

    def backward(self, dy):
        x, = self._saved()
        self.dW[...] = x.T @ dy
        return dy @ self.W.T


def test_a_parameter_kept_under_another_name_is_named_before_astype_loses_it():
    """gradcheck said "never sets 'W'" of a backward that visibly did, and after
    model.astype(np.float64) the forward went on with the old float32 weights, which
    no optimizer step moved again, silently."""
    x = np.random.default_rng(0).standard_normal((4, 3))
    says = (r"AliasedDense: self.W is self.params\[\"W\"\], self.dW is self.grads\[\"W\"\]; "
            r"astype \(model.astype, or gradcheck's float64 copy\) gives the layer new arrays")
    with pytest.raises(SettingError, match=r"^gradcheck: " + says):   # not "astype", not called
        gradcheck(AliasedDense(), x)
    model = Sequential(Dense(3, 3, rng=0), Tanh(), AliasedDense())
    with pytest.raises(SettingError, match=r"^astype: layer 2: " + says):
        model.astype(np.float64)
    assert {p.value.dtype for p in model.parameters()} == {np.dtype(np.float32)}   # none changed


class ViewDense(Dense):
    def __init__(self):
        super().__init__(3, 2, bias=False, rng=0)
        self.WT = self.params["W"].T                        # a view: follows steps, not astype


class CopyDense(Dense):
    def __init__(self):
        super().__init__(3, 2, bias=False, rng=0)
        self._W = self.params["W"].copy()                   # a copy: stale at the first step

    def backward(self, dy):
        x, = self._saved()
        self.grads["W"][...] = x.T @ dy
        return dy @ self._W.T


def test_a_view_or_a_copy_of_a_parameter_is_named():
    """Both passed gradcheck with errors of 1e-10 and then trained wrongly, silently:
    the view kept the float32 weights after model.astype(np.float64), the copy its
    initial values after every step (gradcheck_layers then gave 0.9 with no hint)."""
    x = np.random.default_rng(0).standard_normal((4, 3))
    view = r"ViewDense: self.WT is a view of self.params\[\"W\"\]; astype"
    with pytest.raises(SettingError, match=r"^gradcheck: " + view):
        gradcheck(ViewDense(), x)
    with pytest.raises(SettingError, match=r"^astype: layer 1: " + view):
        Sequential(Tanh(), ViewDense()).astype(np.float64)
    with pytest.warns(UserWarning, match=r"CopyDense\(.*\)\._W \(a copy of params\['W'\]\): .*"
                                         r"goes stale at the first optimizer step"):
        assert max(gradcheck(CopyDense(), x).values()) < 1e-8
    with warnings.catch_warnings():                          # a bias of zeros and a zeros
        warnings.simplefilter("error")                       # constant are not copies
        layer = Dense(3, 2, rng=0)
        layer.offset = np.zeros(2)
        gradcheck(layer, x)


def test_non_finite_parameters_or_statistics_are_refused():
    """A model from a diverged run gave a NumPy warning from deep inside and NaN errors."""
    x = np.random.default_rng(0).standard_normal((4, 3))
    layer = Dense(3, 2, rng=0)
    layer.params["W"][0, 0] = np.nan
    with pytest.raises(SettingError, match=r"^gradcheck: parameter 'W' holds 1 NaN or infinite"):
        gradcheck(layer, x)
    model = Sequential(Dense(3, 3, rng=0), BatchNorm(3)).eval()
    model.layers[1].running_var[1] = np.inf
    with pytest.raises(SettingError, match=r"^gradcheck: running_var of layer 1, BatchNorm\(3, "):
        gradcheck(model, x)


class LayerNormKept(Layer):
    """A layer norm whose forward keeps a float32 1/std, in a dict or as attributes."""

    def __init__(self, where):
        super().__init__()
        self.where = where

    def forward(self, x):
        x_hat = x - x.mean(1, keepdims=True)
        inv_std = (1 / np.sqrt(x.var(1, keepdims=True) + 1e-5)).astype(np.float32)
        if self.where == "dict":
            self._save({"x_hat": x_hat, "inv_std": inv_std})
        else:
            self.x_hat, self.inv_std = x_hat, inv_std
            self._save()
        return x_hat * inv_std

    def backward(self, dy):
        kept = self._saved()
        x_hat, inv_std = ((kept[0]["x_hat"], kept[0]["inv_std"]) if self.where == "dict"
                          else (self.x_hat, self.inv_std))
        y = x_hat * inv_std
        return inv_std * (dy - dy.mean(1, keepdims=True) - y * (dy * y).mean(1, keepdims=True))


@pytest.mark.parametrize("where", ["dict", "attributes"])
def test_a_float32_array_kept_anywhere_by_the_forward_is_named(where):
    """Kept in a dict or as attributes, it gave x an error of 1e-2, silently: a right
    backward that looked wrong. Only self._save's flat tuple was looked at."""
    x = np.random.default_rng(1).standard_normal((4, 5))
    with pytest.raises(ShapeError, match=r"LayerNormKept\(\) kept float32 \(an array for its "
                                         r"backward\) for a float64 input"):
        gradcheck(LayerNormKept(where), x)


class DenseMeanW(Dense):
    def backward(self, dy):
        dx = super().backward(dy)
        self.grads["W"] /= len(dy)                       # the same 1/N slip in two layers
        return dx


def test_one_slip_in_two_layers_is_not_blamed_on_a_layer_above():
    """0.W and 2.W both off by 1/N were said to come from "the dL/dx of a layer above
    them", which 2.W does not have; a slip above would reach x, which is right here."""
    x = np.random.default_rng(0).standard_normal((4, 3))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        gradcheck(Sequential(DenseMeanW(3, 4, rng=0), Tanh(), DenseMeanW(4, 2, rng=1)), x)
    said = [str(w.message) for w in caught]
    assert not any("layer above" in m for m in said)
    assert sum("0.25 times the numeric one in every entry" in m for m in said) == 2


class HandMadeInit(Layer):
    def __init__(self):
        self.params, self.grads = {}, {}                 # no super().__init__()

    def forward(self, x):
        return x

    def backward(self, dy):
        return dy


class EarlyParam(Layer):
    def __init__(self):
        self._add_param("W", np.ones(3, np.float32))     # before super().__init__()
        super().__init__()


def test_an_init_that_skips_super_is_named_even_with_params_set_by_hand():
    """With params and grads set by hand the check passed, and the first use failed
    with "'HandMadeInit' object has no attribute 'needs_input_grad'"."""
    with pytest.raises(SettingError, match=r"argument 0 is HandMadeInit\(\): its __init__ did "
                                           r"not call super\(\).__init__\(\), .*\(training, "
                                           r"needs_input_grad missing here\)"):
        Sequential(HandMadeInit())
    with pytest.raises(SettingError, match=r"^EarlyParam\(\): its __init__ did not call super"):
        EarlyParam()


class Float32Inside(Layer):
    """Right formulas; a 1/std made float32 as BatchNorm's code does with x.dtype."""

    def forward(self, x):
        inv = (1 / np.sqrt(x.var(axis=0) + 1e-5)).astype(np.float32)
        y = (x - x.mean(axis=0)) * inv
        self._save(y, inv)
        return y

    def backward(self, dy):
        y, inv = self._saved()
        return inv * (dy - dy.mean(axis=0) - y * (dy * y).mean(axis=0))


def test_a_float32_array_kept_for_backward_is_named():
    """Its output is float64 (promoted), so only errors of 1e-2 showed, like a wrong formula."""
    x = np.random.default_rng(0).standard_normal((6, 3))
    with pytest.raises(ShapeError, match=r"^gradcheck: Float32Inside\(\) kept float32 \(an array "
                                         r"for its backward\) for a float64 input"):
        gradcheck(Float32Inside(), x)

    class OwnList(Float32Inside):     # kept as a list of its own, not through self._save
        def forward(self, x):
            y = super().forward(x)
            self._cache = list(self._cache)
            return y

        def _saved(self):
            return self._cache
    with pytest.raises(ShapeError, match=r"OwnList\(\) kept float32"):
        gradcheck(OwnList(), x)

    class Float32Mask(ReLU):          # 0 and 1 are exact in float32: a correct layer
        def forward(self, x):
            mask = (x > 0).astype(np.float32)
            self._save(mask)
            return x * mask

        def backward(self, dy):
            (mask,) = self._saved()
            return dy * mask
    assert gradcheck(Float32Mask(), x)["x"] < 1e-8

    class OwnCache(Layer):            # keeps x itself, not through self._save
        def forward(self, x):
            self._cache = x
            return x * x

        def backward(self, dy):
            return 2 * self._cache * dy
    assert gradcheck(OwnCache(), x)["x"] < 1e-8      # was "truth value ... is ambiguous"


class MisspeltGrad(Dense):
    def backward(self, dy):
        x, = self._saved()
        self.grads["w"] = x.T @ dy                       # "w" for "W": a new entry
        self.grads["b"][...] = dy.sum(axis=0)
        return dy @ self.params["W"].T


def test_a_gradient_under_a_misspelt_name_is_named():
    """In training W never moved, and nothing said why."""
    model = Sequential(MisspeltGrad(3, 2, rng=0))
    model.forward(np.ones((4, 3), np.float32))
    with pytest.raises(BackwardError, match=r"^layer 0 of the Sequential: MisspeltGrad\(.*\): "
                                            r"backward wrote grads\['w'\], but the layer has no "
                                            r"parameter 'w' \(its parameters: 'W', 'b'\)"):
        model.backward(np.ones((4, 2), np.float32))
    with pytest.raises(BackwardError, match=r"gradient of W still holds NaN.*; MisspeltGrad\(.*"
                                            r"backward wrote grads\['w'\]"):
        gradcheck(MisspeltGrad(3, 2, rng=0), np.ones((4, 3)))

    class NewGrads(MisspeltGrad):      # as many names as parameters, one of them wrong
        def backward(self, dy):
            x, = self._saved()
            self.grads = {"w": x.T @ dy, "b": dy.sum(axis=0)}
            return dy @ self.params["W"].T
    model = Sequential(NewGrads(3, 2, rng=0))
    model.forward(np.ones((4, 3), np.float32))
    with pytest.raises(BackwardError, match=r"backward wrote grads\['w'\], but the layer has no"):
        model.backward(np.ones((4, 2), np.float32))


class SummedGrad(Dense):
    def backward(self, dy):
        x, = self._saved()
        self.grads["W"] = (x.T @ dy).sum(axis=0)         # (out,): summed once too often
        self.grads["b"] = dy.sum(axis=0)
        return dy @ self.params["W"].T


class Rebound(Dense):
    def backward(self, dy):
        x, = self._saved()
        self.grads["W"] = x.T @ dy                        # new arrays, not written into
        self.grads["b"] = dy.sum(axis=0)
        return dy @ self.params["W"].T


class NumberGrad(Rebound):
    def backward(self, dy):
        dx = super().backward(dy)
        self.grads["b"] = float(dy.sum())                 # one number for the whole bias
        return dx


def test_a_gradient_of_the_wrong_shape_is_named_in_training():
    """SGD's update broadcast a grads["W"] of shape (out,) over every row of W, and
    the model trained on, wrongly, with nothing said (gradcheck named it, training
    did not)."""
    x, y = np.ones((4, 3), np.float32), np.array([0, 1, 0, 1])
    for layer, said in ((SummedGrad(3, 2, rng=0), r"grads\['W'\] with shape \(2,\), but "
                                                   r"params\['W'\] has shape \(3, 2\)"),
                        (NumberGrad(3, 2, rng=0), r"grads\['b'\] with a float, but "
                                                   r"params\['b'\] has shape \(2,\)")):
        model, loss = Sequential(Dense(3, 3, rng=1), layer), SoftmaxCrossEntropy()
        loss.forward(model.forward(x), y)
        with pytest.raises(BackwardError, match=r"^layer 1 of the Sequential: "
                                                + type(layer).__name__ + r"\(.*" + said):
            model.backward(loss.backward())
    model = Sequential(Dense(3, 3, rng=1), Rebound(3, 2, rng=0))
    loss.forward(model.forward(x), y)
    model.backward(loss.backward())                   # new arrays of the right shapes: fine
    assert model.layers[1].grads["b"].shape == (2,)


class Log(Layer):
    def forward(self, x):
        self._save(x)
        return np.log(x)

    def backward(self, dy):
        x, = self._saved()
        return dy / x


def test_a_correct_layer_defined_for_positive_inputs_checks_without_warnings():
    """gradcheck's own probes on -x made NumPy warn "invalid value encountered in log",
    and sent the student looking for a bug in a correct layer."""
    x = np.random.default_rng(5).uniform(0.2, 0.5, (4, 3))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert gradcheck(Log(), x)["x"] < 1e-7
    assert [str(w.message) for w in caught] == []


class RunningShift(Layer):
    """Subtracts the mean of the inputs seen so far: state that its forward updates."""

    def __init__(self):
        super().__init__()
        self.seen = 0.0

    def forward(self, x):
        self.seen = self.seen + x.mean()
        return x - self.seen

    def backward(self, dy):
        return dy


def test_a_forward_that_changes_its_own_state_is_not_blamed_on_randomness():
    with pytest.raises(SettingError, match=r"RunningShift\(\) gave different outputs for the "
                                           r"same input: its forward changes something that it "
                                           r"reads .* check it in eval mode, or with .*\(or what "
                                           r"it changes reset\) before every forward$"):
        gradcheck(RunningShift(), np.ones((2, 3)))
