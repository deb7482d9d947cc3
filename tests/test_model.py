import re
import warnings

import numpy as np
import pytest

from minidl import Sequential, checkpoint
from minidl.errors import (BackwardError, LabelError, MinidlError, SettingError, ShapeError,
                           StaleGradientWarning)
from minidl.losses import SoftmaxCrossEntropy
from minidl.layers import BatchNorm, Conv2D, Dense, Flatten, MaxPool2D, ReLU, Sigmoid, Tanh
from minidl.layers.base import Layer
from minidl.layers.reference import conv2d_naive, maxpool_naive
from minidl.models import cnn, mlp
from minidl.optim import SGD

rng = np.random.default_rng(0)


def test_parameter_names_are_stable():
    model = mlp(4, [3], 2, batchnorm=True, seed=0)
    assert [p.name for p in model.parameters()] == ["0.W", "1.gamma", "1.beta", "3.W", "3.b"]
    assert model.num_parameters() == 4 * 3 + 3 + 3 + 3 * 2 + 2


def test_summary_lists_shapes_and_counts_without_changing_state():
    model = cnn(batchnorm=True, seed=0)
    text = model.summary((1, 28, 28))
    assert "(None, 16, 28, 28)" in text and "(None, 32, 7, 7)" in text and "(None, 10)" in text
    assert f"total parameters: {model.num_parameters():,}" in text
    assert model.training and model.layers[1].num_batches == 0


@pytest.mark.parametrize("model, shape, layer", [
    (mlp(784, [5], 3), (64, 784), 0), (cnn(seed=0), (64, 1, 28, 28), 0),
    (Sequential(Flatten(), Dense(784, 5, rng=0)), (64, 784), 1)])   # Flatten takes any shape
def test_summary_given_the_batch_axis_says_to_leave_it_out(model, shape, layer):
    """summary((64, 784)) used to fail on "got shape (2, 64, 784)", a 2 the user never gave."""
    with pytest.raises(ShapeError, match=rf"summary\({re.escape(str(shape))}\): layer {layer} "
                                         rf".*If {shape[0]} is the batch size, leave it out "
                                         r"\(input_shape is one sample's shape\): summary\("
                                         rf"{re.escape(str(shape[1:]))}\)$"):
        model.summary(shape)


def test_summary_of_channels_last_images_says_how_forward_does():
    """forward said "channels last? x.transpose(0, 3, 1, 2)"; summary((28, 28, 1)) said
    only that the channels were on the wrong axis."""
    with pytest.raises(ShapeError, match=r"Images are \(C, H, W\), channels first "
                                         r"\(channels-last data: x\.transpose\(0, 3, 1, 2\)\): "
                                         r"summary\(\(1, 28, 28\)\)$"):
        cnn(seed=0).summary((28, 28, 1))
    one = Sequential(Flatten(), Dense(784, 5, rng=0))
    with pytest.raises(ShapeError, match=r"Flatten\(\): expected a 2-D or 3-D or 4-D or 5-D "
                                         r"input, got shape \(784,\); for one sample, add "
                                         r"the batch axis: x\[None\]"):
        one.forward(np.zeros(784, np.float32))


@pytest.mark.parametrize("shape, hint", [
    ((-1, 784), True), ((None, 784), True), ((0, 784), True), ((784.0,), False),
    (("784",), False), ((), False), ((True,), False), ((-1, "x"), False)])
def test_summary_refuses_what_is_not_a_sample_shape(shape, hint):
    """(-1, 784) used to fail in NumPy's words ("negative dimensions are not allowed"),
    (784.0,) with "'float' object cannot be interpreted as an integer"."""
    with pytest.raises(ShapeError, match=rf"^summary\({re.escape(repr(shape))}\): input_shape "
                                         r"must be one sample's shape, a tuple of ints >= 1") as e:
        mlp(784, [5], 3).summary(shape)
    assert str(e.value).endswith(": leave out the batch axis, summary((784,))") == hint


@pytest.mark.parametrize("model, shape, says", [
    (Sequential(Dense(6, 5, rng=0), Dense(4, 3, rng=0)), 6, r"layer 1 .*got shape \(2, 5\)"),
    (mlp(784, [5], 3), 100, r"layer 0 .*expected 784 features"),
    (mlp(784, [5], 3), (2, 100), r"layer 0 .*got shape \(2, 2, 100\)")])
def test_summary_of_a_wrong_shape_gives_no_batch_axis_hint(model, shape, says):
    with pytest.raises(ShapeError, match=says) as e:
        model.summary(shape)
    assert "batch size" not in str(e.value)


@pytest.mark.parametrize("model, shape, hint", [
    (mlp(784, [5], 3), (4, 28, 28), r"put a Flatten\(\) before this layer, or flatten the data: "
                                    r"x\.reshape\(len\(x\), -1\)"),
    (Sequential(Conv2D(1, 2, 3, rng=0), Dense(1352, 3, rng=0)), (4, 1, 28, 28),   # not the data:
     r"layer 1 of the Sequential: Dense\(1352, 3.*got shape \(4, 2, 26, 26\); put a Flatten\(\) "
     r"before this layer$"),
    (Sequential(Dense(784, 784, rng=0), Conv2D(1, 2, 3, rng=0)), (4, 784),
     r"layer 1 .*got shape \(4, 784\); this layer takes images \(N, C, H, W\): is it in the "
     r"right place\?$"),
    (mlp(784, [5], 3), (784,), r"for one sample, add the batch axis: x\[None\]"),
    (Sequential(Dense(7, 2, rng=0)), (2, 7, 7),       # PyTorch's Linear acts on the last axis
     r"put a Flatten\(\) before this layer, or flatten the data: .*; or, for 7 features at "
     r"each position, x\.reshape\(-1, 7\) and the output reshaped back \(unlike PyTorch's "
     r"Linear, Dense does not act on the last axis alone\)$"),
    (Sequential(Dense(7, 2, rng=0)), (2, 1, 7), r"put a Flatten\(\) before this layer, or "
                                                r"flatten the data: .*for MNIST$"),
    (Sequential(Conv2D(1, 2, 3, padding=1, rng=0), Dense(28, 3, rng=0)), (4, 1, 28, 28),
     r"layer 1 of the Sequential: .*; put a Flatten\(\) before this layer$"),   # not the data
    (Sequential(Dense(1, 3, rng=0)), (5,), r"for N samples of one feature, x\[:, None\] gives"),
    (cnn(seed=0), (4, 28, 28), r"x\[:, None\] adds the channel axis"),
    (Sequential(MaxPool2D(2)), (4, 28, 28), r"x\[:, None\] adds the channel axis"),
    (cnn(seed=0), (4, 784), r"x\.reshape\(-1, 1, 28, 28\) or DataLoader\(\.\.\., "
                            r"shape=\(1, 28, 28\)\)")])
def test_a_wrong_number_of_dimensions_names_the_usual_fix(model, shape, hint):
    """Images into an MLP, one sample without its batch axis, MNIST without its
    channel axis: the message says what to write, not only the shape it wanted."""
    with pytest.raises(ShapeError, match=hint):
        model.forward(np.zeros(shape, np.float32))


@pytest.mark.parametrize("model, shape, says", [
    (cnn(seed=0), (28, 28), r"Images are \(C, H, W\), here C = 1 \(grayscale\): "
                            r"summary\(\(1, 28, 28\)\)$"),
    (Sequential(Conv2D(3, 4, 3, padding=1, rng=0), ReLU(), Flatten(), Dense(4 * 29 * 29, 5)),
     (29, 29), r"here C = 3: summary\(\(3, 29, 29\)\)$"),     # had no hint: tried C = 1
    (mlp(784, [5], 3), (28, 28), r"This model takes flat samples: summary\(\(784,\)\)$"),
    (mlp(784, [5], 3), (1, 28, 28), r"This model takes flat samples: summary\(\(784,\)\)$")])
def test_summary_of_an_image_shape_names_the_shape_the_model_takes(model, shape, says):
    with pytest.raises(ShapeError, match=says):
        model.summary(shape)


def test_shape_errors_raised_as_valueerrors_are_and_hints_survive_nesting():
    """A student's own layer may raise ShapeError("...", x.shape) as it would a
    ValueError; a Sequential inside a layer keeps the hints of the inner error."""
    from minidl.errors import at_layer
    e = ShapeError("bad shape", (2, 3))
    assert e.args == ("bad shape", (2, 3)) and isinstance(e, ValueError)
    assert str(at_layer(e, 1)) == "layer 1 of the Sequential: ('bad shape', (2, 3))"   # kept
    inner = ShapeError("Dense: got (4, 2, 3, 3)", hint="; data hint", model_hint="; model hint")
    assert str(at_layer(inner, 0)) == ("layer 0 of the Sequential: Dense: got (4, 2, 3, 3); "
                                       "data hint")
    outer = at_layer(at_layer(inner, 0), 2)          # past layer 0: the model hint only
    assert str(outer) == ("layer 2 of the Sequential: layer 0 of the Sequential: Dense: got "
                          "(4, 2, 3, 3); model hint")


def test_summary_leaves_out_the_hints_about_data():
    """summary() is given a shape, not data x: a hint about x would mislead there;
    the one about the model (a missing Flatten) stays."""
    for model, shape in [(mlp(784, [5], 3), (28, 28)), (cnn(seed=0), (28, 28)),
                         (mlp(784, [5], 3), (64, 784))]:
        with pytest.raises(ShapeError, match=r"expected a [24]-D input") as e:
            model.summary(shape)
        assert "x.reshape" not in str(e.value) and "x[" not in str(e.value)
        assert str(e.value).endswith(f"summary({shape[1:]})") == (shape == (64, 784))
    with pytest.raises(ShapeError, match=r"layer 1 failed on its input .*put a Flatten\(\) before "
                                         r"this layer$"):
        Sequential(Conv2D(1, 2, 3, rng=0), Dense(1352, 3, rng=0)).summary((1, 28, 28))


def test_layer_input_and_gradcheck_layers_say_which_layer_and_give_the_model_hint():
    from minidl.callbacks import layer_input
    from minidl.gradcheck import gradcheck_layers
    model = Sequential(Conv2D(1, 2, 3, rng=0), Dense(1352, 3, rng=0), ReLU())     # no Flatten
    x = np.zeros((2, 1, 28, 28), np.float32)
    says = r"layer 1 of the Sequential: Dense\(1352, 3.*; put a Flatten\(\) before this layer$"
    with pytest.raises(ShapeError, match=says):
        layer_input(model, x, -1)
    with pytest.raises(ShapeError, match=says):
        gradcheck_layers(model, x.astype(np.float64))


def test_summary_between_forward_and_backward_changes_nothing():
    model = mlp(6, [5], 3, batchnorm=True, seed=0)
    x = np.random.default_rng(0).standard_normal((2, 6)).astype(np.float32)
    dy = np.ones((2, 3), np.float32)
    model.forward(x)
    expected = model.backward(dy)
    model.forward(x)
    model.summary((6,))               # the same batch size: the same scratch buffers
    np.testing.assert_array_equal(model.backward(dy), expected)


def test_repr_shows_configuration():
    assert repr(Conv2D(1, 8, 3, padding=1)) == \
        "Conv2D(1, 8, kernel_size=(3, 3), stride=1, padding=1, bias=True)"
    assert "BatchNorm(100, eps=1e-05, momentum=0.1)" in repr(mlp(784, [100], 10, batchnorm=True))


def test_train_eval_reach_every_layer():
    model = mlp(4, [3, 3], 2, batchnorm=True)
    model.eval()
    assert not any(layer.training for layer in model.layers)
    model.train()
    assert all(layer.training for layer in model.layers)


def test_float32_end_to_end_and_float64_stays_float64():
    for model, shape in ((mlp(10, [8], 3, batchnorm=True), (4, 10)),
                         (cnn(batchnorm=True, image_size=8, seed=0), (2, 1, 8, 8))):
        x = rng.standard_normal(shape).astype(np.float32)
        y = model.forward(x)
        assert y.dtype == np.float32
        assert model.backward(np.ones_like(y)).dtype == np.float32
        assert all(p.grad.dtype == np.float32 for p in model.parameters())
        model.astype(np.float64)
        assert model.forward(x.astype(np.float64)).dtype == np.float64


@pytest.mark.parametrize("cfg", [(2, 3, 7, 5, 4, 3, 2, 1), (3, 1, 28, 28, 16, 3, 1, 1),
                                 (1, 2, 5, 6, 2, (2, 3), 1, 0)])
def test_conv_matches_naive_loops(cfg):
    n, c, h, w, f, k, s, p = cfg
    conv = Conv2D(c, f, k, stride=s, padding=p, rng=0, dtype=np.float64)
    conv.params["b"][:] = rng.standard_normal(f)
    x = rng.standard_normal((n, c, h, w))
    np.testing.assert_allclose(conv.forward(x),
                               conv2d_naive(x, conv.params["W"], conv.params["b"], s, p), rtol=1e-10)


@pytest.mark.parametrize("k,s,shape", [(2, 2, (2, 3, 8, 6)), (2, 2, (1, 2, 7, 9)), (3, 2, (2, 2, 9, 7))])
def test_maxpool_matches_naive_loops(k, s, shape):
    x = rng.standard_normal(shape)
    np.testing.assert_array_equal(MaxPool2D(k, s).forward(x), maxpool_naive(x, k, s))


@pytest.mark.parametrize("layer,x,match", [
    (Dense(4, 3), np.zeros((2, 5), np.float32), "expected 4 features"),
    (Dense(4, 3), np.zeros((2, 4), np.int64), "floating-point"),
    (Dense(4, 3), np.zeros((0, 4), np.float32), "empty batch"),
    (Conv2D(3, 2, 3), np.zeros((2, 1, 5, 5), np.float32), "expected 3 channels"),
    (Conv2D(1, 2, 3), np.zeros((2, 5, 5), np.float32), "4-D"),
    (Conv2D(1, 2, 5), np.zeros((1, 1, 3, 3), np.float32), "larger than the padded input"),
    (MaxPool2D(4), np.zeros((1, 1, 3, 3), np.float32), "larger than the input"),
    (BatchNorm(3), np.zeros((4, 2), np.float32), "expected 3 features"),
    (Flatten(), [1, 2], "NumPy array"),
])
def test_bad_input_names_the_layer_and_the_expectation(layer, x, match):
    with pytest.raises(ShapeError, match=match) as info:
        layer.forward(x)
    assert type(layer).__name__ in str(info.value)


def test_sequential_error_gives_the_layer_index():
    model = Sequential(Dense(4, 3), ReLU(), Dense(5, 2))
    with pytest.raises(ShapeError, match=r"layer 2 of the Sequential: Dense\(5, 2"):
        model.forward(np.zeros((2, 4), np.float32))


def test_backward_without_forward_and_twice():
    layer = Dense(3, 2)
    with pytest.raises(BackwardError, match="without a forward"):
        layer.backward(np.ones((1, 2), np.float32))
    layer.forward(np.ones((1, 3), np.float32))
    layer.backward(np.ones((1, 2), np.float32))
    with pytest.raises(BackwardError):
        layer.backward(np.ones((1, 2), np.float32))


def test_a_models_second_backward_names_the_model_not_its_last_layer():
    """The last layer's own message would send a student to look at their layer
    ("Writing a layer? Its forward must call self._save...")."""
    model = Sequential(Dense(5, 3, rng=0), Tanh())
    y = model.forward(np.ones((2, 5), np.float32))
    model.backward(np.ones_like(y))
    with pytest.raises(BackwardError, match=r"model.backward\(dy\) called twice for one forward"):
        model.backward(np.ones_like(y))
    model.forward(np.ones((2, 5), np.float32))                # a new forward: fine again
    assert model.backward(np.ones_like(y)).shape == (2, 5)


class _Scaled(Layer):
    """y = x * s, with s given as it is (a float32 array, a NumPy scalar, a float)."""

    def __init__(self, s, register=True):
        super().__init__()
        if register:
            self._add_param("s", s)
        else:
            self.params["s"] = s          # without _add_param: no grads["s"]

    def forward(self, x):
        self._save(x)
        return x * self.params["s"]

    def backward(self, dy):
        (x,) = self._saved()
        self.grads["s"][...] = np.sum(dy * x)
        return dy * self.params["s"]


@pytest.mark.parametrize("value, got", [
    (np.float32(0.25), "a NumPy scalar of type float32"),   # checked wrongly, never trained
    (0.25, "a float"),                                      # failed in astype
    (np.arange(3), "an array of dtype int64"),
])
def test_a_parameter_that_cannot_be_updated_in_place_is_refused(value, got):
    with pytest.raises(SettingError, match=f"parameter 's' must be a NumPy float array, got {got}"):
        _Scaled(value)


def test_a_zero_d_parameter_trains():
    layer = _Scaled(np.array(0.25, np.float32))
    model = Sequential(Dense(3, 2, rng=0), layer)
    opt = SGD(model.parameters(), lr=0.1)
    y = model.forward(np.ones((4, 3), np.float32))
    model.backward(np.ones_like(y))
    opt.step()
    assert layer.params["s"].shape == () and layer.params["s"] != np.float32(0.25)


def test_a_parameter_without_a_gradient_array_is_refused_by_sgd_and_gradcheck():
    """It used to fail at the first step with a bare KeyError: 's', and gradcheck's
    float64 copy quietly made the grads array."""
    from minidl.gradcheck import gradcheck
    layer = _Scaled(np.full(2, 1.5, np.float32), register=False)
    model = Sequential(Dense(3, 2, rng=0), layer)
    match = r"has params\['s'\] but no grads\['s'\]: .*self._add_param\('s', value\)"
    with pytest.raises(SettingError, match="SGD: .*" + match):
        SGD(model.parameters(), lr=0.1)
    for checked, x in ((layer, np.ones((4, 2))), (model, np.ones((4, 3)))):
        with pytest.raises(SettingError, match="gradcheck: .*" + match):
            gradcheck(checked, x)
    layer.params["s"] = 1.5                                   # not an array at all
    layer.grads["s"] = np.zeros(())
    with pytest.raises(SettingError, match=r"params\['s'\] must be a NumPy float array, got a fl"):
        SGD(model.parameters(), lr=0.1)


def test_backward_does_not_modify_upstream_gradient():
    model = cnn(batchnorm=True, image_size=8, seed=0)
    x = rng.standard_normal((3, 1, 8, 8)).astype(np.float32)
    y = model.forward(x)
    dy = rng.standard_normal(y.shape).astype(np.float32)
    keep = dy.copy()
    model.backward(dy)
    np.testing.assert_array_equal(dy, keep)


@pytest.mark.filterwarnings("ignore::minidl.errors.StaleGradientWarning")  # set by hand
def test_sgd_step_matches_the_formula():
    model = Sequential(Dense(3, 2, rng=0, dtype=np.float64))
    p = model.parameters()[0]
    w0 = p.value.copy()
    opt = SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=0.01)
    g1, g2 = rng.standard_normal((3, 2)), rng.standard_normal((3, 2))
    p.grad[...] = g1
    opt.step()
    v1 = g1 + 0.01 * w0
    np.testing.assert_allclose(p.value, w0 - 0.1 * v1)
    w1 = p.value.copy()
    p.grad[...] = g2
    opt.step()
    np.testing.assert_allclose(p.value, w1 - 0.1 * (0.9 * v1 + g2 + 0.01 * w1))


@pytest.mark.filterwarnings("ignore::minidl.errors.StaleGradientWarning")  # set by hand
def test_momentum_switched_on_by_hand_starts_from_zero_velocity():
    """A lab's experiment: opt.momentum = 0.9 on an optimizer made without momentum
    crashed with a bare KeyError: '0.W'. The buffers start at zero, as at construction,
    and checkpoints then hold them."""
    model = Sequential(Dense(3, 2, rng=0, dtype=np.float64))
    p = model.parameters()[0]
    opt = SGD(model.parameters(), lr=0.1)
    g1, g2 = rng.standard_normal((3, 2)), rng.standard_normal((3, 2))
    p.grad[...] = g1
    opt.step()
    w1 = p.value.copy()
    opt.momentum = 0.9
    p.grad[...] = g2
    opt.step()                                             # v = 0.9 * 0 + g2
    np.testing.assert_allclose(p.value, w1 - 0.1 * g2)
    w2 = p.value.copy()
    opt.step()                                             # v = 0.9 * g2 + g2
    np.testing.assert_allclose(p.value, w2 - 0.1 * 1.9 * g2)
    assert set(opt.state()) == {"velocity.0.W", "velocity.0.b"}


def test_momentum_set_by_hand_is_checked_and_its_run_resumes_from_a_checkpoint(tmp_path):
    """Buffers made only at the first step left a checkpoint that an optimizer built the
    same way could not load ("unexpected entries"), and opt.momentum = 1.5 went
    unchecked."""
    def build():
        model = Sequential(Dense(3, 2, rng=0))
        opt = SGD(model.parameters(), lr=0.1)
        opt.momentum = 0.9
        return model, opt
    model, opt = build()
    assert set(opt.state()) == {"velocity.0.W", "velocity.0.b"}       # at once, zeros
    assert not any(v.any() for v in opt.state().values())
    model.forward(np.ones((4, 3), np.float32))
    model.backward(np.ones((4, 2), np.float32))
    opt.step()
    checkpoint.save(model, tmp_path / "run.npz", opt)
    model2, opt2 = build()
    checkpoint.load(model2, tmp_path / "run.npz", opt2)
    for k, v in opt.state().items():
        np.testing.assert_array_equal(opt2.state()[k], v)
    for bad in (1.5, -0.1, float("nan")):
        with pytest.raises(SettingError, match=r"SGD: momentum must be a number in \[0, 1\)"):
            opt.momentum = bad
    assert opt.momentum == 0.9


@pytest.mark.filterwarnings("ignore::minidl.errors.StaleGradientWarning")  # set by hand
def test_momentum_changed_between_steps_keeps_the_velocity():
    """0.9 then 0.5: the next step is v = 0.5 v + g with the velocity built so far (a
    setter that reset the buffers would go unnoticed by a switch from 0 alone)."""
    model = Sequential(Dense(3, 2, rng=0, dtype=np.float64))
    p = model.parameters()[0]
    opt = SGD(model.parameters(), lr=0.1, momentum=0.9)
    g1, g2 = rng.standard_normal((3, 2)), rng.standard_normal((3, 2))
    p.grad[...] = g1
    opt.step()                                             # v = g1
    w1 = p.value.copy()
    opt.momentum = 0.5
    p.grad[...] = g2
    opt.step()
    np.testing.assert_allclose(p.value, w1 - 0.1 * (0.5 * g1 + g2))


@pytest.mark.filterwarnings("ignore::minidl.errors.StaleGradientWarning")  # set by hand
def test_weight_decay_follows_the_decay_filter_given():
    """decay_filter chooses which parameters decay: none, or every one (biases too),
    instead of the default's weights only."""
    for decay_filter, decayed in ((lambda p: False, set()), (lambda p: True, {"W", "b"}),
                                  (None, {"W"})):
        model = Sequential(Dense(3, 2, rng=0, dtype=np.float64))
        params = model.parameters()
        for q in params:
            q.value[...] = 1.0
            q.grad[...] = 0.0                              # only the decay can move them
        kwargs = {} if decay_filter is None else {"decay_filter": decay_filter}
        SGD(params, lr=0.1, weight_decay=0.5, **kwargs).step()
        moved = {q.key for q in params if not np.allclose(q.value, 1.0)}
        assert moved == decayed
        for q in params:
            assert np.allclose(q.value, 1 - 0.05 if q.key in decayed else 1.0)


@pytest.mark.filterwarnings("ignore::minidl.errors.StaleGradientWarning")  # set by hand
def test_nesterov_step_matches_the_formula():
    """Without PyTorch at hand (as in CI), the Nesterov update by hand, two steps:
    v = mu v + g, w -= lr (g + mu v), with g including the weight decay."""
    model = Sequential(Dense(3, 2, rng=0, dtype=np.float64))
    p = model.parameters()[0]
    w0 = p.value.copy()
    opt = SGD(model.parameters(), lr=0.1, momentum=0.9, nesterov=True, weight_decay=0.01)
    g1, g2 = rng.standard_normal((3, 2)), rng.standard_normal((3, 2))
    p.grad[...] = g1
    opt.step()
    d1 = g1 + 0.01 * w0
    w1 = w0 - 0.1 * (d1 + 0.9 * d1)
    np.testing.assert_allclose(p.value, w1)
    p.grad[...] = g2
    opt.step()
    d2 = g2 + 0.01 * w1
    v2 = 0.9 * d1 + d2
    np.testing.assert_allclose(p.value, w1 - 0.1 * (d2 + 0.9 * v2))


@pytest.mark.filterwarnings("ignore::minidl.errors.StaleGradientWarning")  # set by hand
def test_sgd_matches_pytorch():
    torch = pytest.importorskip("torch")
    w = rng.standard_normal((4, 3))
    grads = [rng.standard_normal((4, 3)) for _ in range(4)]
    for nesterov in (False, True):
        model = Sequential(Dense(4, 3, bias=False, dtype=np.float64))
        model.layers[0].params["W"][...] = w
        opt = SGD(model.parameters(), lr=0.05, momentum=0.9, nesterov=nesterov, weight_decay=1e-3)
        tw = torch.tensor(w, requires_grad=True)
        topt = torch.optim.SGD([tw], lr=0.05, momentum=0.9, nesterov=nesterov, weight_decay=1e-3)
        for g in grads:
            model.layers[0].grads["W"][...] = g
            opt.step()
            tw.grad = torch.tensor(g)
            topt.step()
        np.testing.assert_allclose(model.layers[0].params["W"], tw.detach().numpy(), rtol=1e-12)


@pytest.mark.filterwarnings("ignore::minidl.errors.StaleGradientWarning")  # set by hand
def test_weight_decay_skips_bn_and_biases():
    """Every parameter non-zero: a bias and beta start at 0, where a decay that
    wrongly reached them changed nothing either."""
    model = mlp(3, [2], 2, batchnorm=True, seed=0)
    for p in model.parameters():
        p.value[...] += 0.5
        p.grad[...] = 0
    before = {p.name: p.value.copy() for p in model.parameters()}
    SGD(model.parameters(), lr=1.0, weight_decay=0.5).step()
    for p in model.parameters():
        expected = before[p.name] * (1 - 1.0 * 0.5) if p.key == "W" else before[p.name]
        np.testing.assert_array_equal(p.value, expected.astype(np.float32), err_msg=p.name)
    assert {p.key for p in model.parameters()} == {"W", "b", "gamma", "beta"}


def test_mixed_dtypes_are_an_error_not_a_silent_cast():
    with pytest.raises(ShapeError, match=r"expected float32 input.*got float64"):
        Dense(4, 3).forward(np.zeros((2, 4)))                     # x / 255 gives float64
    with pytest.raises(ShapeError, match=r"expected float64 input.*got float32"):
        BatchNorm(3, dtype=np.float64).forward(np.zeros((2, 3), np.float32))
    ReLU().forward(np.zeros((2, 3)))                               # no parameters: any float
    model = mlp(4, [3], 2, seed=0)
    model.forward(np.zeros((2, 4), np.float32))
    with pytest.raises(ShapeError, match=r"backward: expected a float32 gradient.*got float64"):
        model.backward(np.ones((2, 2)))                           # a float64 loss gradient
    assert model.backward(np.ones((2, 2), np.float32)).dtype == np.float32   # nothing used up


@pytest.mark.parametrize("dy_shape", [(2,), (1, 2), (3, 2), (4, 2, 1)])
def test_a_gradient_of_another_shape_is_an_error_not_a_broadcast(dy_shape):
    """A (C,) or (1, C) dL/dy from a hand-written loss used to be broadcast over the
    batch, and the weight gradients came out several times too large."""
    model = mlp(4, [3], 2, seed=0)
    model.forward(np.ones((4, 4), np.float32))
    got = re.escape(str(dy_shape))
    with pytest.raises(ShapeError, match=rf"expected dy of shape \(4, 2\).*got {got}"):
        model.backward(np.ones(dy_shape, np.float32))
    assert model.backward(np.ones((4, 2), np.float32)).shape == (4, 4)   # nothing used up


def test_the_loss_itself_given_to_backward_is_told_to_pass_its_gradient():
    model, loss = mlp(4, [3], 2, seed=0), SoftmaxCrossEntropy()
    value = loss.forward(model.forward(np.ones((4, 4), np.float32)), np.array([0, 1, 0, 1]))
    with pytest.raises(ShapeError, match=r"got \(\); one number is the loss itself: pass its "
                                         r"gradient, model\.backward\(loss_fn\.backward\(\)\)"):
        model.backward(value)


@pytest.mark.parametrize("mistake, got", [
    (lambda dx: None, r"None \(a missing `return dx`\?\)"),
    (lambda dx: dx.sum(axis=0), r"shape \(3,\) and dtype float32"),
    (lambda dx: dx.astype(np.float64), r"shape \(4, 3\) and dtype float64"),
])
def test_a_layer_whose_backward_returns_a_wrong_dx_is_named(mistake, got):
    """A student's layer that forgot `return dx`, summed over the batch or went to
    float64 used to fail in the next layer down, with NumPy's words and no layer."""
    class Student(ReLU):
        def backward(self, dy):
            return mistake(super().backward(dy))
    model = Sequential(Dense(5, 3, rng=0), Student(), Dense(3, 2, rng=1))
    model.forward(np.ones((4, 5), np.float32))
    with pytest.raises(ShapeError, match=r"layer 1 of the Sequential: Student\(\): backward "
                                         rf"returned {got}; dL/dx must have the shape "
                                         r"\(4, 3\) and dtype float32"):
        model.backward(np.ones((4, 2), np.float32))


def test_a_sequential_is_indexed_like_its_list_of_layers():
    model = mlp(4, [3], 2, batchnorm=True)
    assert len(model) == 4 and model[1] is model.layers[1] and model[-1] is model.layers[3]


def test_a_forward_that_fails_leaves_no_half_record_behind():
    """Recording each layer's input must not come before the layer's own check
    (a list got AttributeError instead of the layer's message), and a forward that
    fails part way must leave nothing to go back through: not an IndexError, nor
    a mix of this forward's caches and the one's before."""
    model = mlp(4, [3], 2, seed=0)
    model.forward(np.ones((2, 4), np.float32))
    with pytest.raises(ShapeError, match=r"layer 0 of the Sequential: .* expected a NumPy array"):
        model.forward([[1.0, 2.0, 3.0, 4.0]])
    with pytest.raises(BackwardError):
        model.backward(np.ones((2, 2), np.float32))
    bad = Sequential(Dense(4, 3, rng=0), Dense(5, 2, rng=1))   # 3 features into 5
    with pytest.raises(ShapeError, match=r"layer 1 of the Sequential: Dense\(5, 2"):
        bad.forward(np.ones((2, 4), np.float32))
    with pytest.raises(BackwardError):                  # the layers' own contract, not IndexError
        bad.backward(np.ones((2, 2), np.float32))


def test_backward_leaves_the_first_layers_own_flag_as_it_was():
    """input_grad=False made Sequential.backward set needs_input_grad = False on the
    first layer and leave it so: that layer alone then returned None for dL/dx."""
    model = mlp(4, [3], 2, seed=0)
    model.input_grad = False
    model.forward(np.ones((4, 4), np.float32))
    assert model.backward(np.ones((4, 2), np.float32)) is None
    first = model.layers[0]
    assert first.needs_input_grad
    first.forward(np.ones((4, 4), np.float32))
    assert first.backward(np.ones((4, 3), np.float32)).shape == (4, 4)


def test_shorthands_and_impossible_model_settings():
    """An int where a list of sizes is expected, and settings that used to fail far
    from their cause (an int32 model asked for int32 input; Dense blamed for an image
    that the poolings shrink to nothing)."""
    assert "total parameters: 79,510" in mlp(784, 100, 10).summary(784)
    assert str(mlp(784, 100, 10)) == str(mlp(784, [100], 10))
    with pytest.raises(SettingError, match=r"astype needs a float dtype .* got int32"):
        mlp(4, [3], 2).astype(np.int32)
    with pytest.raises(SettingError, match=r"cnn: image_size 3 is too small for 2 poolings"):
        cnn(image_size=3)
    assert cnn(image_size=4).forward(np.zeros((2, 1, 4, 4), np.float32)).shape == (2, 10)


def test_conv_dx_is_a_new_array_not_a_reused_buffer():
    conv = Conv2D(1, 2, 3, rng=0)                                  # padding 0, one channel
    x = rng.standard_normal((2, 1, 6, 6)).astype(np.float32)
    conv.forward(x)
    dx1 = conv.backward(np.ones((2, 2, 4, 4), np.float32))
    keep = dx1.copy()
    conv.forward(x)
    conv.backward(np.full((2, 2, 4, 4), 5.0, np.float32))
    np.testing.assert_array_equal(dx1, keep)


def test_sgd_refuses_duplicate_parameter_names():
    a, b = Dense(3, 3), Dense(3, 3)
    with pytest.raises(ValueError, match="unique"):
        SGD(a.parameters() + b.parameters(), lr=0.1, momentum=0.9)


def test_inference_block_restores_mode_and_keeps_nothing_for_backward():
    model = mlp(4, [3], 2, batchnorm=True, seed=0)
    with pytest.raises(RuntimeError):
        with model.inference():
            assert not any(layer.training for layer in model.layers)
            model.forward(np.ones((2, 4), np.float32))
            raise RuntimeError("stop")
    assert model.training and all(layer.training for layer in model.layers)
    with pytest.raises(BackwardError):
        model.backward(np.ones((2, 2), np.float32))


def test_evaluating_between_forward_and_backward_is_named_as_the_cause():
    """inference() drops what the training forward kept; the backward after it used
    to fail in a layer's words ("Writing a layer? Its forward must call self._save")."""
    model, loss = mlp(4, [3], 2, seed=0), SoftmaxCrossEntropy()
    x, y = np.ones((2, 4), np.float32), np.array([0, 1])
    loss.forward(model.forward(x), y)
    with model.inference():
        model.forward(x)
    with pytest.raises(BackwardError, match=r"^model.backward\(dy\): no forward to go back "
                                            r"through.*evaluate after the step's backward"):
        model.backward(loss.backward())


def test_inference_gives_each_layer_back_its_own_mode():
    """A BN layer kept in eval mode (frozen statistics for fine-tuning) used to come
    out of inference(), and so of evaluate(), in training mode."""
    model = mlp(4, [3, 3], 2, batchnorm=True, seed=0)
    model[1].eval()
    modes = [layer.training for layer in model.layers]
    with model.inference():
        assert not any(layer.training for layer in model.layers)
    assert [layer.training for layer in model.layers] == modes and model.training
    model.eval()
    with model.inference():
        pass
    assert not model.training and not any(layer.training for layer in model.layers)


@pytest.mark.parametrize("build, match", [
    (lambda: Conv2D(1, 4, 3, stride=0), r"Conv2D: stride \(one int for both axes\) must be an int >= 1, got 0"),
    (lambda: Conv2D(1, 4, 3, stride=(2, 1)), r"stride .* must be an int >= 1, got \(2, 1\)"),
    (lambda: Conv2D(1, 4, 3, padding=-1), r"padding .* must be an int >= 0, got -1"),
    (lambda: Conv2D(1, 4, (3, 0)), r"kernel_size must be an int >= 1, got 0"),
    (lambda: Conv2D(1, 4, (3, 3, 3)), r"kernel_size must be an int or a pair"),
    (lambda: Conv2D(0, 4, 3), r"in_channels must be an int >= 1, got 0"),
    (lambda: MaxPool2D(0), r"MaxPool2D: kernel_size .* must be an int >= 1, got 0"),
    (lambda: MaxPool2D((2, 2)), r"kernel_size \(one int: square windows\) .* got \(2, 2\)"),
    (lambda: MaxPool2D(2, stride=0), r"MaxPool2D: stride must be an int >= 1, got 0"),
    (lambda: Dense(0, 3), r"Dense: in_features must be an int >= 1, got 0"),
    (lambda: Dense(3, 2.5), r"Dense: out_features must be an int >= 1, got 2.5"),
    (lambda: BatchNorm(0), r"BatchNorm: num_features must be an int >= 1, got 0"),
    (lambda: BatchNorm(3, eps=0), r"BatchNorm: eps must be a number > 0, got 0"),
    (lambda: BatchNorm(3, eps="1e-5"), r"BatchNorm: eps must be a number > 0, got '1e-5'"),
    (lambda: BatchNorm(3, momentum=1.5), r"momentum must be in \(0, 1\] or None, got 1.5"),
    (lambda: SGD([], lr=float("nan")), r"SGD: lr must be a number > 0, got nan"),
    (lambda: SGD([], lr=None), r"SGD: lr must be a number > 0, got None"),
    (lambda: SGD([], lr=0.1, momentum=None), r"SGD: momentum must be a number in \[0, 1\)"),
    (lambda: SGD([], lr=0.1, weight_decay=-0.1), r"SGD: weight_decay must be a number >= 0"),
    (lambda: SGD(Sequential(ReLU()).parameters(), lr=0.1),       # trained, silently, nothing
     r"SGD: no parameters to update \(an empty list\): pass model.parameters\(\) of a model "
     r"with Dense, Conv2D or BatchNorm layers"),
    (lambda: SGD(mlp(4, [3], 2), lr=0.1), r"SGD: pass model.parameters\(\), not the model"),
])
def test_impossible_settings_are_refused_when_the_object_is_built(build, match):
    """Not at the first forward, with a ZeroDivisionError from deep inside."""
    with pytest.raises(SettingError, match=match):
        build()


def test_every_setting_error_is_a_minidl_error_and_a_value_error():
    from minidl.data import DataLoader
    from minidl.optim import cosine
    for bad in (lambda: SGD([], lr=0), lambda: cosine(0.1, 0), lambda: mlp(4, [3], 2, activation="elu"),
                lambda: DataLoader(np.zeros((4, 2)), np.zeros(4), batch_size=0)):
        with pytest.raises(SettingError) as info:
            bad()
        assert isinstance(info.value, MinidlError) and isinstance(info.value, ValueError)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_relu_is_max_0_x_for_every_float(dtype):
    """Not x * (x > 0), which gives NaN for -inf and -0.0 for negative x."""
    x = np.array([[-np.inf, -1.0, -0.0, 0.0, 2.0, np.inf, np.nan]], dtype)
    relu = ReLU()
    y = relu.forward(x)
    assert y.dtype == dtype
    np.testing.assert_array_equal(y, [[0, 0, 0, 0, 2, np.inf, np.nan]])
    assert not np.signbit(y[0, :4]).any()                  # +0.0: prints as 0., not -0.
    dx = relu.backward(np.full_like(x, 3))
    np.testing.assert_array_equal(dx, [[0, 0, 0, 0, 3, 3, 0]])


def test_relu_keeps_giving_max_0_x_as_shapes_and_dtypes_change():
    """ReLU compares with a zeros block of one sample's shape that it keeps between
    calls: a new shape or dtype must get a new block, and a caller writing to the
    output must not reach it."""
    relu = ReLU()
    for shape, dtype in [((5, 3, 4, 4), np.float32), ((2, 3, 4, 4), np.float32),
                         ((5, 7), np.float64), ((5, 7), np.float32), ((4, 7), np.float64),
                         ((6,), np.float32),
                         ((2, 1, 3, 2, 2), np.float64), ((5, 3, 4, 4), np.float32)]:
        x = rng.standard_normal(shape).astype(dtype)
        y = relu.forward(x)
        assert y.dtype == dtype and y.shape == shape
        np.testing.assert_array_equal(y, np.maximum(x, 0))
        y += 100                                           # the caller's array, not the layer's
        np.testing.assert_array_equal(relu.forward(x), np.maximum(x, 0))


def test_sgd_refuses_momentum_buffers_of_another_dtype_than_the_weights():
    """After model.astype(float64), float32 buffers would round every update. A
    refused step moves no parameter."""
    model = mlp(4, [3], 2, seed=0)
    opt = SGD(model.parameters(), lr=0.1, momentum=0.9)
    model.astype(np.float64)
    model.forward(np.ones((2, 4)))                 # nonzero gradients: an update shows
    model.backward(np.ones((2, 2)))
    before = [p.value.copy() for p in model.parameters()]
    with pytest.raises(SettingError, match=r"0\.W is float64 but its momentum buffer float32"):
        opt.step()
    assert all(np.array_equal(a, p.value) for a, p in zip(before, model.parameters()))
    opt = SGD(model.parameters(), lr=0.1, momentum=0.9)           # made after astype: fine
    opt.velocity["2.b"] = opt.velocity["2.b"].astype(np.float32)  # the last buffer only
    with pytest.raises(SettingError, match=r"2\.b is float64 but its momentum buffer"):
        opt.step()
    # no parameter moved, not even those before 2.b in the list
    assert all(np.array_equal(a, p.value) for a, p in zip(before, model.parameters()))
    opt.velocity["2.b"] = opt.velocity["2.b"].astype(np.float64)
    opt.step()
    assert not np.array_equal(before[-1], model.parameters()[-1].value)


@pytest.mark.parametrize("momentum", [0.0, 0.9])
def test_sgd_step_refuses_a_misshapen_gradient_before_moving_any_parameter(momentum):
    """A training loop of one's own, layer by layer, with no Sequential to check the
    gradients: a student's grads["W"] of shape (out,) would be broadcast over every
    row of W, silently. SGD.step names it, and moves no parameter, not even those
    before it in the list."""
    model = Sequential(Dense(4, 3, rng=0), ReLU(), Dense(3, 2, rng=1))
    opt = SGD(model.parameters(), lr=0.1, momentum=momentum)
    x = np.random.default_rng(0).standard_normal((5, 4)).astype(np.float32)
    model.forward(x)
    dy = np.ones((5, 2), np.float32)
    for layer in reversed(model.layers):                       # no Sequential.backward
        dy = layer.backward(dy)
    second = model.layers[2]
    second.grads["W"] = second.grads["W"].sum(axis=0)          # (2,) for a (3, 2) weight
    before = [p.value.copy() for p in model.parameters()]
    with pytest.raises(BackwardError, match=r"SGD\.step: Dense\(3, 2, bias=True\): backward "
                                            r"left grads\['W'\] with shape \(2,\), but "
                                            r"params\['W'\] has shape \(3, 2\)"):
        opt.step()
    assert all(np.array_equal(a, p.value) for a, p in zip(before, model.parameters()))
    assert all(not v.any() for v in opt.velocity.values())
    second.grads["W"] = np.ones((3, 2), np.float32)           # mended: the step goes through
    opt.step()
    assert not np.array_equal(second.params["W"], before[2])


@pytest.mark.parametrize("bad, says", [
    (ReLU, r"argument 1 is the class ReLU, not an instance \(write ReLU\(\.\.\.\)\)"),
    ([ReLU()], r"argument 1 is a list: pass the layers one by one, Sequential\(\*layers\)"),
    (Sequential(ReLU()), r"argument 1 is a Sequential, which cannot be nested"),
    (np.tanh, r"argument 1 is <ufunc 'tanh'> of type ufunc, not a minidl layer"),
])
def test_sequential_names_what_is_not_a_layer(bad, says):
    """Students pass the class, a list of layers, a block built as a Sequential or
    a NumPy function; each used to fail only at the first forward, deep inside
    (a missing positional argument 'self', 'list' has no attribute 'forget')."""
    with pytest.raises(SettingError, match=says):
        Sequential(Dense(4, 3, rng=0), bad)


def test_a_std_init_may_be_any_real_number():
    """np.float32(0.1), from a config array, used to be refused as not a float."""
    w = Dense(4, 3, init=0.1, rng=0).params["W"]
    for std in (np.float32(0.1), np.float64(0.1)):
        np.testing.assert_allclose(Dense(4, 3, init=std, rng=0).params["W"], w, rtol=1e-6)
    assert Conv2D(1, 2, 3, init=np.float32(0.05), rng=0).params["W"].dtype == np.float32
    assert str(mlp(4, [3], 2, init=np.float32(0.1), seed=0)) == str(mlp(4, [3], 2, init=0.1))
    for bad in ("foo", -0.1, np.inf, True):
        with pytest.raises(SettingError, match=r"Dense: init must be 'he', 'xavier' or a std "
                                               rf"> 0, got {re.escape(repr(bad))}"):
            Dense(4, 3, init=bad)


def test_an_array_init_is_refused_with_how_to_set_weights():
    """init=W used to fail in NumPy's words: the truth value of an array is ambiguous."""
    for init in (np.ones((2, 1, 3, 3)), [[1, 2], [3]]):    # a ragged list as well
        with pytest.raises(SettingError, match=r"Conv2D: init .* got a (ndarray|list); .* "
                                               r"assign layer.params\['W'\]\[...\]"):
            Conv2D(1, 2, 3, init=init)


@pytest.mark.parametrize("build, says", [
    (lambda: Dense(4, 3, dtype=np.int64), "Dense: dtype .* got int64"),
    (lambda: Dense(4, 3, dtype="foo"), "Dense: dtype .* got 'foo'"),
    (lambda: Conv2D(1, 2, 3, dtype=np.int32), "Conv2D: dtype .* got int32"),
    (lambda: BatchNorm(3, dtype=np.int64), "BatchNorm: dtype .* got int64"),
    (lambda: mlp(4, [3], 2, dtype="int32"), "mlp: dtype .* got int32"),
    (lambda: cnn(dtype="int32"), "cnn: dtype .* got int32"),
])
def test_a_non_float_dtype_is_refused_when_the_layer_is_built(build, says):
    """Int weights used to be built, and every forward then refused its input: a
    float x was told to become int64, an int x to become float32."""
    with pytest.raises(SettingError, match=says.replace(".*", r"must be a float dtype such as "
                                                              r"float32 \(the default\) or "
                                                              r"float64,")):
        build()


@pytest.mark.parametrize("build", [mlp, cnn])
def test_a_batchnorm_setting_that_is_not_a_bool_is_refused(build):
    """batchnorm="False" is a true string: it built a BN net without a word."""
    args = (4, [3], 2) if build is mlp else ()
    with pytest.raises(SettingError, match=rf"{build.__name__}: batchnorm must be True or "
                                           r"False, got 'False'"):
        build(*args, batchnorm="False")
    assert len(build(*args, batchnorm=np.bool_(True)).layers) > len(build(*args).layers)


def test_cnn_sizes_and_seeds_that_are_not_what_the_builders_take():
    """These failed deep inside: "unsupported operand type(s) for //", "'int'
    object is not iterable", and NumPy's SeedSequence errors."""
    with pytest.raises(SettingError, match=r"cnn: image_size \(the side of a square image, "
                                           r"H = W\) must be an int >= 1, got \(28, 28\)"):
        cnn(image_size=(28, 28))
    one_block = cnn(channels=16, seed=0)           # like mlp's hidden: 16 is [16]
    assert str(one_block) == str(cnn(channels=[16], seed=0))
    assert one_block.forward(np.zeros((2, 1, 28, 28), np.float32)).shape == (2, 10)
    np.testing.assert_array_equal(Dense(3, 2, rng=np.int64(3)).params["W"],
                                  Dense(3, 2, rng=3).params["W"])
    accepts = r"must be None, an int >= 0 or a np.random.Generator, got "
    with pytest.raises(SettingError, match=r"mlp: seed " + accepts + r"0\.5"):
        mlp(4, [3], 2, seed=0.5)
    with pytest.raises(SettingError, match=r"Dense: rng " + accepts + r"'a'"):
        Dense(3, 2, rng="a")
    with pytest.raises(SettingError, match=r"Conv2D: rng " + accepts + r"-1"):
        Conv2D(1, 2, 3, rng=-1)
    # widths are the builder's own arguments: named by it, not by the Dense or Conv2D inside
    with pytest.raises(SettingError, match=r"^mlp: hidden \(the widths of the hidden layers\) "
                                           r"must be an int >= 1, got '100'"):
        mlp(784, "100", 10)
    with pytest.raises(SettingError, match=r"^cnn: channels \(of each conv block\) must be an "
                                           r"int >= 1, got 8\.5"):
        cnn(channels=(8.5, 16))
    assert len(mlp(4, [], 2).layers) == 1 and len(mlp(4, np.int64(3), 2).layers) == 3


@pytest.mark.parametrize("layer, shape", [
    (ReLU(), (4, 3)), (Sigmoid(), (4, 3)), (Tanh(), (2, 3, 4, 4)), (BatchNorm(3), (4, 3)),
    (BatchNorm(3), (2, 3, 4, 4)), (Dense(3, 5, rng=0), (4, 3)),
    (Conv2D(3, 2, 3, padding=1, rng=0), (2, 3, 5, 5)), (MaxPool2D(2), (2, 3, 4, 4)),
    (Flatten(), (2, 3, 4, 4)),
])
def test_a_layers_own_backward_refuses_a_dy_that_would_broadcast(layer, shape):
    """A layer used on its own (as the docs do) took a (1, ...) gradient: ReLU,
    Sigmoid, Tanh and BN broadcast it into a dx of the right shape, silently
    wrong; the others failed inside NumPy."""
    y = layer.forward(rng.standard_normal(shape).astype(np.float32))
    with pytest.raises(ShapeError, match=re.escape(f"backward expected dy of shape {y.shape}")):
        layer.backward(np.ones((1, *y.shape[1:]), np.float32))
    dx = layer.backward(np.ones_like(y))         # the refused dy did not use up the forward
    assert dx.shape == shape


def test_check_dy_before_saved_keeps_the_forward_too():
    """A new layer may check dy before taking its saved values; a refused dy then
    set the cache to None, and the retry found no forward."""
    class Twice(ReLU):
        def backward(self, dy):
            self._check_dy(dy, (2, 3))
            (mask,) = self._saved()
            return dy * 2
    layer = Twice()
    layer.forward(np.ones((2, 3), np.float32))
    with pytest.raises(ShapeError, match="backward expected dy of shape"):
        layer.backward(np.ones((1, 3), np.float32))
    assert layer.backward(np.ones((2, 3), np.float32)).shape == (2, 3)


class NoSuper(Layer):
    """A student's layer whose __init__ forgot super().__init__()."""

    def __init__(self):
        self.k = 2

    def forward(self, x):
        self._save()
        return x

    def backward(self, dy):
        return dy


class Bias64(Layer):
    """A parameter made with NumPy's default dtype, float64, in a float32 model."""

    def __init__(self, n):
        super().__init__()
        self._add_param("c", np.zeros(n))

    def forward(self, x):
        self._check(x, 2, len(self.params["c"]))
        self._save()
        return x + self.params["c"]

    def backward(self, dy):
        self._saved()
        self.grads["c"][...] = dy.sum(axis=0)
        return dy


def test_a_student_layer_without_super_init_or_with_a_float64_parameter_is_named():
    """They failed with "'NoSuper' object has no attribute 'params'", and with advice
    to convert an input that comes from the layer before, not from the user."""
    from minidl.gradcheck import gradcheck
    said = r"NoSuper\(\): its __init__ did not call super\(\).__init__\(\)"
    with pytest.raises(SettingError, match=r"Sequential: argument 1 is " + said):
        Sequential(Dense(3, 3, rng=0), NoSuper())
    with pytest.raises(SettingError, match=r"gradcheck: .*got " + said):
        gradcheck(NoSuper(), np.ones((2, 3)))
    model = Sequential(Dense(5, 5, rng=0), Bias64(5))
    with pytest.raises(ShapeError, match=r"layer 1 of the Sequential: Bias64\(\): expected float64 "
                                         r"input .*got float32; a model's layers share one dtype: "
                                         r"create this layer's parameters as float32") as e:
        model.forward(np.ones((2, 5), np.float32))
    assert "x.astype" not in str(e.value)
    with pytest.raises(ShapeError, match=r"got float32; convert with x.astype\(np.float64\) "
                                         r"\(a DataLoader gives it with dtype=np.float64\)$"):
        Bias64(5).forward(np.ones((2, 5), np.float32))            # the user's own data


def test_a_loop_that_leaves_out_the_models_backward_is_told_so():
    """loss.backward(); opt.step() without model.backward(...) was asked whether the
    model had been built again in a notebook, though its forward awaited a backward."""
    x, y = np.random.default_rng(0).standard_normal((8, 4)), np.arange(8) % 2
    model, loss = mlp(4, [3], 2, seed=0).astype(np.float64), SoftmaxCrossEntropy()
    opt = SGD(model.parameters(), lr=0.1)
    loss.forward(model.forward(x), y)
    loss.backward()
    with pytest.warns(StaleGradientWarning, match=r"Dense\(4, 3, bias=True\) ran a forward "
                                                  r"but no backward at all: was "
                                                  r"model\.backward\(loss_fn\.backward\(\)\) "
                                                  r"left out\?"):
        opt.step()


def test_an_optimizer_of_a_model_built_before_warns_in_a_hand_written_loop():
    """Running `model = mlp(...)` again in a notebook, and then the loop's cell: opt.step()
    went on moving the old model with its last gradients, and the new model never
    learned (only Trainer checked this). A warning: gradients set by hand are fine."""
    x, y = np.random.default_rng(0).standard_normal((8, 4)), np.arange(8) % 2
    loss = SoftmaxCrossEntropy()

    def train_step(model, opt):
        loss.forward(model.forward(x), y)
        model.backward(loss.backward())
        opt.step()
    model = mlp(4, [3], 2, seed=0).astype(np.float64)
    opt = SGD(model.parameters(), lr=0.1)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        train_step(model, opt)
        train_step(model, opt)                               # one step per backward: fine
    model = mlp(4, [3], 2, seed=0).astype(np.float64)        # the cell run again
    with pytest.warns(StaleGradientWarning, match=r"no backward has gone through "
                                                  r"Dense\(4, 3, bias=True\) since its last "
                                                  r"step; was the model built again") as caught:
        train_step(model, opt)
    assert caught[0].filename == __file__
    model = mlp(4, [3], 2, seed=0).astype(np.float64)
    opt = SGD(model.parameters(), lr=0.1)
    model = mlp(4, [3], 2, seed=0).astype(np.float64)        # again, before any backward
    with pytest.warns(StaleGradientWarning, match=r"gone through Dense\(4, 3, bias=True\) at "
                                                  r"all"):
        train_step(model, opt)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        train_step(model, SGD(model.parameters(), lr=0.1))
        # two optimizers over one layer's parameters, and a part trained on its own
        weights = SGD([p for p in model.parameters() if p.key == "W"], lr=0.1)
        biases = SGD([p for p in model.parameters() if p.key == "b"], lr=0.01)
        head = model[1:]
        head_opt = SGD(head.parameters(), lr=0.1)
        for _ in range(2):
            loss.forward(model.forward(x), y)
            model.backward(loss.backward())
            weights.step()
            biases.step()
            loss.forward(head.forward(model[0].forward(x)), y)
            head.backward(loss.backward())
            head_opt.step()
        layer = Dense(4, 2, rng=0).astype(np.float64)        # a layer on its own
        opt = SGD(layer.parameters(), lr=0.1)
        for _ in range(2):
            layer.forward(x)
            layer.backward(np.ones((8, 2)))
            opt.step()


def test_layers_put_into_model_layers_after_it_was_built_are_trained_and_counted():
    """docs/exercises.md swaps its own BN class in with model.layers = [...]: the new
    layers had no backward count, and backward crashed on None + 1."""
    x, y = np.random.default_rng(0).standard_normal((8, 4)), np.arange(8) % 2
    model = mlp(4, [3], 2, batchnorm=True, seed=0).astype(np.float64)
    model.layers = [BatchNorm(3, dtype=np.float64) if isinstance(layer, BatchNorm) else layer
                    for layer in model.layers]
    opt, loss = SGD(model.parameters(), lr=0.1), SoftmaxCrossEntropy()
    with warnings.catch_warnings():
        warnings.simplefilter("error")                 # no stale-gradient warning either
        for step in range(3):
            loss.forward(model.forward(x), y)
            model.backward(loss.backward())
            opt.step()
    assert model.layers[1].backward_count == 3
    assert not np.all(model.layers[1].params["gamma"] == 1)      # it was trained
    model.layers[1].backward_count = None              # as if put in just now
    model.forward(x)
    model.backward(np.ones((8, 2)))
    assert model.layers[1].backward_count == 1         # counted once, from now on


def test_uint8_images_are_told_to_be_scaled_as_in_training():
    """The error said x.astype(np.float32), which skips the division by 255 and the
    standardization: a BN MLP so given its test images scored 73.8% instead of 90.7%."""
    model = mlp(784, [5], 10, seed=0)
    with pytest.raises(ShapeError, match=r"got dtype uint8; images as uint8 must be scaled as "
                                         r"in training, not only converted: loader.batch"):
        model.forward(np.zeros((2, 784), np.uint8))
    with pytest.raises(ShapeError, match=r"got dtype complex128; convert with "
                                         r"x.astype\(np.float32\)"):
        model.forward(np.zeros((2, 784), complex))


def test_a_layer_that_changes_the_dtype_is_named_not_the_next_one():
    """A student's layer with a float64 constant (np.ones(n)) and no input check made the
    Dense after it refuse its input, with the advice to make that Dense float64."""
    class Scale(Layer):
        def __init__(self, n):
            super().__init__()
            self.a = np.ones(n)                       # float64, NumPy's default

        def forward(self, x):
            return x * self.a

        def backward(self, dy):
            return dy * self.a
    model = Sequential(Dense(5, 5, rng=0), Scale(5), ReLU(), Dense(5, 2, rng=1))
    with pytest.raises(ShapeError, match=r"^layer 1 of the Sequential: Scale\(\) returned float64 "
                                         r"for a float32 input: .*np.ones\(n, np.float32\)"):
        model.forward(np.ones((4, 5), np.float32))


def test_slicing_a_sequential_gives_a_sequential_of_the_same_layers():
    model = mlp(4, [3], 2, seed=0)
    head = model[:2]
    assert isinstance(head, Sequential) and head.layers[0] is model.layers[0]
    assert head.forward(np.ones((2, 4), np.float32)).shape == (2, 3)


def test_hints_for_channels_last_images_and_one_hot_labels():
    with pytest.raises(ShapeError, match=r"channels last\? minidl's images are \(N, C, H, W\): "
                                         r"x.transpose\(0, 3, 1, 2\)"):
        cnn().forward(np.zeros((2, 28, 28, 1), np.float32))
    loss = SoftmaxCrossEntropy()
    with pytest.raises(LabelError, match=r"labels of shape \(2, 10\) look one-hot; minidl takes "
                                         r"class indices, one per row: y.argmax\(axis=1\)"):
        loss.forward(np.zeros((2, 10), np.float32), np.eye(10)[:2])


def test_the_channels_last_hint_offers_a_reshape_only_for_one_channel():
    """DataLoader(shape=...) reshapes: for colour images it would scramble them."""
    with pytest.raises(ShapeError, match=r"x.transpose\(0, 3, 1, 2\), or DataLoader\(\.\.\., "
                                         r"shape=\(1, 28, 28\)\)"):
        cnn().forward(np.zeros((2, 28, 28, 1), np.float32))
    with pytest.raises(ShapeError, match=r"x.transpose\(0, 3, 1, 2\)$"):
        cnn(in_channels=3).forward(np.zeros((2, 28, 28, 3), np.float32))


def test_each_backward_counts_once_and_a_refused_one_not_at_all():
    """Layer._saved and Sequential.backward both counted a minidl layer's backward; a
    backward refused for the shape of its dy counted too (a step after it then reused
    the last gradients without a warning). A layer never in a Sequential is not counted
    (a student layer without _saved() trained alone warned at every step)."""
    class Twice(Layer):                             # no _saved(): Sequential counts it
        def forward(self, x):
            self.x = x
            return 2 * x

        def backward(self, dy):
            return 2 * dy
    model = Sequential(Dense(3, 3, rng=0), Twice())
    x = np.ones((2, 3), np.float32)
    for _ in range(3):
        model.forward(x)
        model.backward(np.ones((2, 3), np.float32))
    assert [layer.backward_count for layer in model.layers] == [3, 3]
    model.forward(x)
    with pytest.raises(ShapeError):
        model.layers[0].backward(np.ones((2, 4), np.float32))
    assert model.layers[0].backward_count == 3
    assert Dense(3, 3).backward_count is None


def test_import_minidl_gives_every_module_on_first_use():
    """minidl.data.load_mnist, as the README writes it, was an AttributeError after
    `import minidl`; matplotlib is still imported only when something is drawn."""
    import subprocess
    import sys
    code = ("import sys, minidl; assert 'matplotlib' not in sys.modules; "
            "print(minidl.data.load_mnist.__name__, minidl.plot.save.__name__, "
            "minidl.gradcheck.gradcheck.__name__); "
            "print(hasattr(minidl, 'nothing'), 'matplotlib' in sys.modules)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["load_mnist", "save", "gradcheck", "False", "True"]


def test_a_module_that_fails_to_import_says_why(tmp_path):
    """minidl.plot without matplotlib must say that matplotlib is missing, not that
    minidl has no attribute plot."""
    import subprocess
    import sys
    (tmp_path / "matplotlib").mkdir()
    (tmp_path / "matplotlib" / "__init__.py").write_text(     # as if it were not installed
        "raise ModuleNotFoundError(\"No module named 'matplotlib'\", name='matplotlib')\n")
    code = ("import sys; sys.path.insert(0, sys.argv[1]); import minidl\n"
            "try:\n    minidl.plot\nexcept AttributeError as e:\n    print('AttributeError', e)\n"
            "except ImportError as e:\n    print('ImportError', e)\n")
    result = subprocess.run([sys.executable, "-c", code, str(tmp_path)], capture_output=True,
                            text=True)
    assert result.stdout.strip() == "ImportError No module named 'matplotlib'", result.stderr


def test_one_layer_object_in_two_places_is_refused_when_the_model_is_built():
    """PyTorch's habit of one shared activation: the model ran forward, and the
    first backward blamed the ReLU for a backward without a forward; a shared
    Dense appeared twice in parameters(), and SGD moved it twice."""
    act, dense = ReLU(), Dense(4, 4, rng=0)
    with pytest.raises(SettingError, match=r"Sequential: arguments 1 and 3 are the same ReLU\(\) "
                                           r"object; each place needs a layer of its own"):
        Sequential(Dense(4, 4, rng=0), act, Dense(4, 4, rng=1), act)
    with pytest.raises(SettingError, match=r"arguments 0 and 2 are the same Dense\(4, 4"):
        Sequential(dense, ReLU(), dense)
    model = Sequential(dense, act)           # in two models, each once: allowed
    assert Sequential(*model.layers, Dense(4, 2, rng=2))[0] is dense


def test_astype_converts_in_place_and_returns_the_model_itself():
    """As the README and the docstrings say (NumPy's astype gives a copy; a demo that
    compares a float32 model with model.astype(np.float64) needs a deepcopy first)."""
    import copy
    model = mlp(4, [3], 2, batchnorm=True, seed=0)
    kept = copy.deepcopy(model)
    assert model.astype(np.float64) is model and model.layers[0].astype(np.float64) is \
        model.layers[0]
    assert {p.value.dtype for p in model.parameters()} == {np.dtype(np.float64)}
    assert {p.value.dtype for p in kept.parameters()} == {np.dtype(np.float32)}
