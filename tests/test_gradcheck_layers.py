"""Every layer's backward against central finite differences, in float64,
for the input and every parameter, on several shapes."""
import re
import warnings

import numpy as np
import pytest
from conftest import random_bn

from minidl.errors import BackwardError, SettingError, ShapeError
from minidl.gradcheck import gradcheck, gradcheck_layers
from minidl.layers import BatchNorm, Conv2D, Dense, Flatten, Layer, MaxPool2D, ReLU, Sigmoid, Tanh
from minidl.model import Sequential
from minidl.models import cnn, mlp

TOL = 1e-7


def check(layer, x_shape, seed=0):
    """gradcheck on a random x: every error below TOL, and no warning."""
    x = np.random.default_rng(seed).standard_normal(x_shape)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        errors = gradcheck(layer, x, seed=seed + 1)
    expected = {"x"} | set(p.name for p in layer.parameters())
    assert set(errors) == expected
    assert max(errors.values()) < TOL, errors
    return errors


@pytest.mark.parametrize("shape,bias", [((2, 5, 3), True), ((32, 7, 4), False), ((1, 3, 9), True),
                                        ((4, 5, 5), True)])   # square: a missing .T fits too
def test_dense(shape, bias):
    n, i, o = shape
    check(Dense(i, o, bias=bias, rng=0), (n, i))


@pytest.mark.parametrize("cfg", [
    # (N, C, H, W, F, k, stride, padding)
    (2, 1, 5, 5, 2, 3, 1, 0),
    (2, 3, 7, 5, 4, 3, 2, 1),      # stride 2, padding 1, non-square
    (3, 2, 6, 9, 3, (2, 3), 1, 1),  # non-square kernel
    (1, 2, 4, 4, 2, 4, 1, 0),      # kernel as large as the input
    (2, 3, 6, 5, 2, 3, 1, 1),      # stride 1, "same" padding: im2col_same.py
    (2, 2, 4, 3, 3, 5, 1, 2),      # the same, 5x5 kernel wider than the image
    (2, 3, 3, 4, 2, 1, 1, 0),      # the same, 1x1 kernel
    (2, 2, 7, 6, 3, 3, 2, 0),      # stride 2, no padding: the last column no window reads
    (2, 3, 9, 7, 2, (2, 3), 2, 0),  # stride 2: the last row no window reads, dx 0 there
])
def test_conv2d(cfg):
    n, c, h, w, f, k, s, p = cfg
    check(Conv2D(c, f, k, stride=s, padding=p, rng=1), (n, c, h, w))


def test_conv2d_without_bias():
    errors = check(Conv2D(2, 3, 3, padding=1, bias=False, rng=2), (2, 2, 5, 4))
    assert "b" not in errors


@pytest.mark.parametrize("k,s,shape", [(2, None, (2, 3, 6, 4)), (2, None, (2, 2, 7, 5)),
                                       (3, 2, (2, 2, 7, 8)), (3, 1, (1, 2, 5, 5)),
                                       (2, 3, (2, 2, 8, 7))])     # stride > k: gaps
def test_maxpool(k, s, shape):
    check(MaxPool2D(k, s), shape)


def test_maxpool_ties_route_to_one_element():
    """After ReLU, windows of zeros are common: the gradient must go to one
    element per window, not to every tied maximum."""
    pool = MaxPool2D(2)
    x = np.zeros((1, 1, 4, 4))
    pool.forward(x)
    dx = pool.backward(np.ones((1, 1, 2, 2)))
    assert dx.sum() == 4 and dx.max() == 1


@pytest.mark.parametrize("layer", [ReLU, Sigmoid, Tanh, Flatten])
@pytest.mark.parametrize("shape", [(2, 7), (3, 2, 4, 5)])
def test_parameterless(layer, shape):
    check(layer(), shape)


@pytest.mark.parametrize("shape", [(2, 3), (32, 10), (7, 1), (2, 3, 4, 5), (3, 2, 1, 1), (1, 4, 3, 2)])
def test_batchnorm_train(shape):
    bn = random_bn(BatchNorm(shape[1]))
    if np.prod(shape) // shape[1] == 2:    # x_hat = +-1 whatever x: a weak check, named
        with pytest.warns(UserWarning, match="gets 2 values per feature"):
            errors = gradcheck(bn, np.random.default_rng(0).standard_normal(shape), seed=1)
        assert max(errors.values()) < 1e-5     # rounding decides: 1e-8 here, 5e-6 elsewhere
    else:
        check(bn, shape)


@pytest.mark.parametrize("shape", [(3, 4), (1, 5), (2, 3, 4, 5), (3, 2, 1, 6)])
def test_batchnorm_eval(shape):
    """Statistics of their own per channel: with one value for all, a mix-up of the
    channels' statistics gave the same gradients."""
    bn = random_bn(BatchNorm(shape[1]))
    stats = np.random.default_rng(shape[1])
    bn.running_mean[:] = stats.normal(0, 1, shape[1])
    bn.running_var[:] = stats.uniform(0.5, 3, shape[1])
    check(bn.eval(), shape)


@pytest.mark.parametrize("activation", ["relu", "sigmoid"])
@pytest.mark.parametrize("batchnorm", [True, False])
def test_whole_mlp(activation, batchnorm):
    check(random_bn(mlp(6, [5, 4], 3, activation=activation, batchnorm=batchnorm, seed=3)),
          (5, 6))


def test_whole_cnn():
    model = cnn(in_channels=2, num_classes=3, batchnorm=True, image_size=8, channels=(3, 4), seed=0)
    check(random_bn(model), (3, 2, 8, 8))


def test_wrong_batchnorm_backward_is_caught():
    """The check can fail: a BN backward that forgets the mean terms is flagged."""
    class BrokenBatchNorm(BatchNorm):
        def backward(self, dy):
            x_hat, inv_std, axes, shape, m, training = self._saved()
            self.grads["beta"][...] = dy.sum(axis=axes)
            self.grads["gamma"][...] = (dy * x_hat).sum(axis=axes)
            return dy * (self.params["gamma"] * inv_std).reshape(shape)   # treats stats as constants

    x = np.random.default_rng(0).standard_normal((8, 4))
    errors = gradcheck(random_bn(BrokenBatchNorm(4)), x)
    assert errors["x"] > 1e-2
    assert errors["gamma"] < TOL and errors["beta"] < TOL


def test_wrong_dense_backward_is_caught():
    class BrokenDense(Dense):
        def backward(self, dy):
            dx = super().backward(dy)
            self.grads["W"] *= 1.01
            return dx

    x = np.random.default_rng(0).standard_normal((2, 4))   # no ties: no kink warning
    with pytest.warns(UserWarning, match=r"'W' is 1.01 times the numeric one"):
        errors = gradcheck(BrokenDense(4, 3, rng=0), x)
    assert errors["W"] > 1e-3


@pytest.mark.parametrize("where", ["x", "b"])
def test_a_gradient_of_the_wrong_shape_is_refused_not_broadcast(where):
    """With one sample, dx[0] (4,) broadcasts against x (1, 4) and would pass."""
    class WrongShape(Dense):
        def backward(self, dy):
            dx = super().backward(dy)
            if where == "b":
                self.grads["b"] = self.grads["b"][None, :]
            return dx[0] if where == "x" else dx

    with pytest.raises(ShapeError, match=rf"gradient of '{where}' has shape .*must match"):
        gradcheck(WrongShape(4, 3, rng=0), np.ones((1, 4)))


class Dropout(ReLU):
    """A student's Dropout: a new random mask at every training forward."""
    def __init__(self, seed=0, p=0.5):
        super().__init__()
        self.rng, self.p = np.random.default_rng(seed), p

    def forward(self, x):
        if not self.training:
            return x                                   # forgets self._save: a classic
        mask = self.rng.random(x.shape) >= self.p
        self._save(mask)
        return x * mask / (1 - self.p)

    def backward(self, dy):
        (mask,) = self._saved()
        return dy * mask / (1 - self.p)


def test_a_random_forward_is_named_not_reported_as_a_wrong_backward():
    """A correct Dropout used to get an error of 1.0 on x, with no hint why."""
    with pytest.raises(SettingError, match=r"Dropout\(\) drew random numbers in its forward "
                                           r"\(a random mask, as in Dropout\?\)"):
        gradcheck(Dropout(), np.ones((4, 5)))
    for seed in range(20):   # at a rate of 0.05 two forwards often drew the same mask
        with pytest.raises(SettingError, match=r"drew random numbers in its forward"):
            gradcheck(Dropout(seed, p=0.05), np.ones((3, 4)))
    with pytest.raises(BackwardError, match=r"must call self._save\(...\) on every path"):
        gradcheck(Dropout().eval(), np.ones((4, 5)))

    class GlobalDropout(Dropout):          # NumPy's global generator, or a RandomState
        def forward(self, x):
            mask = (self.rng.random(x.shape) if isinstance(self.rng, np.random.RandomState)
                    else np.random.random(x.shape)) >= 0.01
            self._save(mask)
            return x * mask / 0.99
    drop = GlobalDropout()
    for rng in (None, np.random.RandomState(0)):
        drop.rng = rng
        with pytest.raises(SettingError, match=r"drew random numbers in its forward"):
            gradcheck(drop, np.ones((2, 2)))       # masks of a rate of 0.01: mostly equal


def test_a_forward_that_saves_nothing_does_not_hand_backward_an_older_forwards_values():
    """In eval mode the Dropout above saves nothing: its backward took the mask of the
    training forward before, and gave wrong gradients with no error."""
    layer = Dropout()
    layer.forward(np.ones((4, 5)))
    with pytest.raises(BackwardError, match=r"must call self._save\(...\) on every path"):
        gradcheck(layer.eval(), np.ones((4, 5)))
    model, ones = Sequential(Dense(5, 5, rng=0), Dropout()), np.ones((4, 5), np.float32)
    model.forward(ones)
    model.eval().forward(ones)
    with pytest.raises(BackwardError, match=r"must call self._save\(...\) on every path"):
        model.backward(ones)


def test_a_parameter_named_x_is_refused():
    """Its entry replaced the input's: a wrong dL/dx passed the check."""
    class Scale(Layer):
        def __init__(self):
            super().__init__()
            self._add_param("x", np.array(2.0))

        def forward(self, a):
            self._save(a)
            return a * self.params["x"]

        def backward(self, dy):
            (a,) = self._saved()
            self.grads["x"][...] = (dy * a).sum()
            return dy * 3.0                           # wrong: the scale is 2
    with pytest.raises(SettingError, match=r"a parameter named 'x', the name gradcheck gives "
                                           r"the input; rename the parameter"):
        gradcheck(Scale(), np.ones((3, 4)))


def test_a_backward_that_returns_nothing_is_named():
    class Forgets(ReLU):
        def backward(self, dy):
            super().backward(dy)                        # no return
    with pytest.raises(ShapeError, match=r"backward returned None .*a missing `return dx`"):
        gradcheck(Forgets(), np.ones((4, 5)))


def test_gradcheck_layers_points_at_the_wrong_layer_not_the_one_below():
    """A whole-model check puts a broken activation's error on the Dense below it
    (and the activation has no tensor of its own); a layer-by-layer check does not."""

    class Leaky(ReLU):                                  # forgets the slope 0.1 below 0
        def forward(self, x):
            self._save(x > 0)
            return np.where(x > 0, x, 0.1 * x)

        def backward(self, dy):
            (positive,) = self._saved()
            return dy * positive

    model = random_bn(Sequential(Dense(5, 4, bias=False, rng=0), BatchNorm(4), Leaky(),
                                 Dense(4, 3, rng=1)))
    x = np.random.default_rng(0).standard_normal((6, 5))
    assert gradcheck(model, x)["0.W"] > 1e-3           # blames the first Dense
    errors = gradcheck_layers(model, x)
    assert list(errors) == [f"{i}: {layer!r}" for i, layer in enumerate(model.layers)]
    wrong = {name for name, errs in errors.items() if max(errs.values()) > 1e-6}
    assert wrong == {"2: Leaky()"}
    assert model.layers[0].params["W"].dtype == np.float32   # the model is left alone


def test_gradcheck_layers_names_the_layer_a_setting_error_comes_from():
    """A random layer (a Dropout in training mode) was refused without saying which."""

    class Noisy(Layer):
        def forward(self, x):
            return x + np.random.default_rng().normal(size=x.shape)

        def backward(self, dy):
            return dy

    model = Sequential(Dense(4, 3, rng=0), Noisy(), Tanh())
    with pytest.raises(SettingError, match=r"^layer 1 of the Sequential: gradcheck: Noisy\(\) "
                                           r"gave different outputs"):
        gradcheck_layers(model, np.ones((5, 4)))


@pytest.mark.filterwarnings("ignore:.*zero on both sides")   # the ReLU's dx: all inputs < 0
def test_gradcheck_layers_passes_a_pooling_whose_windows_all_tie():
    """After a ReLU of negative inputs every window is four zeros, like most of an
    MNIST image's background; noise of std 1e-3 still failed 1 window in 1,000."""
    for seed in range(3):
        errors = gradcheck_layers(Sequential(ReLU(), MaxPool2D(2)), -np.ones((2, 2, 28, 28)),
                                  seed=seed)
        assert max(max(e.values()) for e in errors.values()) < 1e-6, errors


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_gradcheck_layers_passes_a_correct_cnn(seed):
    """The ReLU's exact zeros tie whole pooling windows; checked on them as they
    are, a correct MaxPool2D showed errors of 3e-2 to 1e-1."""
    model = random_bn(cnn(batchnorm=True, image_size=8, channels=(2, 3), seed=seed))
    x = np.random.default_rng(seed).standard_normal((2, 1, 8, 8))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        errors = gradcheck_layers(model, x)
    assert max(max(e.values()) for e in errors.values()) < 1e-6, errors


def test_a_long_check_shows_its_progress(monkeypatch, capsys):
    """The paper's MLP has 100,000 weights: its check runs for a minute."""
    import minidl.gradcheck as gc
    bars, real_tqdm = [], gc.tqdm

    def tqdm(**options):                  # records how the bar was asked for
        bars.append(options)
        return real_tqdm(**{**options, "disable": True})
    monkeypatch.setattr(gc, "tqdm", tqdm)
    errors = gradcheck(Dense(3, 2, rng=0), np.ones((2, 3)))
    assert bars[-1]["total"] == 14 and bars[-1]["disable"] is True      # small: no bar
    monkeypatch.setattr(gc, "PROGRESS_FROM", 10)
    assert gradcheck(Dense(3, 2, rng=0), np.ones((2, 3))) == errors
    assert bars[-1]["disable"] is None        # tqdm shows it on a terminal, not in logs


def test_sum_loss_makes_bn_check_vacuous():
    """Why we use a random upstream gradient: with L = sum(y), dL/dx of BN is
    zero on both sides and gradcheck says so."""
    x = np.random.default_rng(0).standard_normal((8, 4))
    with pytest.warns(UserWarning, match="cannot tell a right backward from a wrong one"):
        gradcheck(random_bn(BatchNorm(4)), x, upstream=np.ones((8, 4)))


@pytest.mark.parametrize("shape, beta, offset", [((128, 32), 2.0, 0.0), ((64, 16), 0.5, 10.0),
                                                  ((16, 8, 6, 6), 1.0, 0.0)])
def test_sum_loss_warning_at_realistic_sizes(shape, beta, offset):
    """The numeric side of a zero gradient is rounding noise that grows with the
    loss, sum(|y * r|) * 2.2e-16 / eps: about 1e-6 here, which a fixed limit of
    1e-7 took for a real gradient, so these correct layers got errors of about 1
    for x and gamma and no warning."""
    rng = np.random.default_rng(0)
    bn = random_bn(BatchNorm(shape[1]))
    bn.params["beta"][...] = beta
    x = rng.standard_normal(shape) + offset
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        errors = gradcheck(bn, x, upstream=np.ones(shape))
    zero = {m for w in caught for m in re.findall(r"gradient of '(\w+)' is zero on both sides",
                                                  str(w.message))}
    assert zero == {"x", "gamma"} and min(errors["x"], errors["gamma"]) > 0.99
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        errors = gradcheck(bn, x)                       # a random upstream: a real check
    assert not [w for w in caught if "zero on both sides" in str(w.message)]
    assert max(errors.values()) < 1e-7


def test_a_bias_before_bn_is_zero_on_both_sides_for_any_upstream():
    """BN's mean subtraction cancels the bias: its gradient is 0 whatever the
    upstream gradient, and the warning says so instead of only advising a random one."""
    model = Sequential(Dense(4, 3, rng=0), random_bn(BatchNorm(3)))
    with pytest.warns(UserWarning, match=r"gradient of '0.b' is zero on both sides; .*upstream "
                                         r"gradient was random.* as a bias's just before a "
                                         r"BatchNorm"):
        errors = gradcheck(model, np.random.default_rng(0).standard_normal((8, 4)))
    assert errors["0.b"] > 0.99 and errors["0.W"] < 1e-7


def test_gradcheck_leaves_state_unchanged():
    bn = random_bn(BatchNorm(3))
    bn.running_mean[:] = [1, 2, 3]
    before = {k: np.copy(v) for k, v in bn.state().items()}
    gradcheck(bn, np.random.default_rng(0).standard_normal((4, 3)))
    for k, v in bn.state().items():
        np.testing.assert_array_equal(v, before[k])
        assert v.dtype == before[k].dtype
    assert bn.params["gamma"].dtype == np.float32
    assert bn.training


@pytest.mark.filterwarnings("ignore::minidl.errors.StaleGradientWarning")  # set by hand
def test_gradcheck_of_a_model_keeps_its_layer_objects():
    """An optimizer built before a check must still update the model after it."""
    from minidl.optim import SGD
    model = random_bn(mlp(4, [3], 2, batchnorm=True, seed=0))
    layers, params = list(model.layers), model.parameters()
    opt = SGD(params, lr=0.1)
    gradcheck(model, np.random.default_rng(0).standard_normal((5, 4)))
    assert all(a is b for a, b in zip(layers, model.layers))
    assert params[0].value is model.layers[0].params["W"]
    params[0].grad[...] = 1.0
    before = model.layers[0].params["W"].copy()
    opt.step()
    assert not np.array_equal(model.layers[0].params["W"], before)


def test_gradients_are_what_gradcheck_compares_and_locate_a_wrong_entry():
    """gradients() returns both sides per tensor, shaped like the tensor; a bug in
    one channel of a convolution's weight gradient shows in that channel only."""
    from minidl.gradcheck import gradients, rel_error

    class OneChannelWrong(Conv2D):
        def backward(self, dy):
            dx = super().backward(dy)
            self.grads["W"][2] *= 1.5                     # output channel 2 only
            return dx

    x = np.random.default_rng(0).standard_normal((2, 3, 5, 5))
    conv = OneChannelWrong(3, 4, 3, padding=1, rng=1)
    analytic, numeric = gradients(conv, x, seed=2)
    errors = gradcheck(conv, x, seed=2)
    assert set(analytic) == set(numeric) == set(errors) == {"x", "W", "b"}
    for name, value in [("x", x), ("W", conv.params["W"]), ("b", conv.params["b"])]:
        assert analytic[name].shape == numeric[name].shape == value.shape
        assert analytic[name].dtype == numeric[name].dtype == np.float64
        assert errors[name] == rel_error(analytic[name], numeric[name])
    assert errors["x"] < 1e-8 and errors["b"] < 1e-8 and errors["W"] > 1e-2
    off = np.abs(analytic["W"] - numeric["W"]) > 1e-6
    assert off[2].any() and not np.delete(off, 2, axis=0).any()
