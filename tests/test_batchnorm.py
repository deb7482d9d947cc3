"""BatchNorm semantics: Algorithm 1 in training, Algorithm 2 at inference."""
import numpy as np
import pytest

from minidl.errors import ShapeError
from minidl.layers import BatchNorm, Conv2D, Dense
from minidl.layers.reference import batchnorm_backward_paper
from minidl.models import cnn, mlp

rng = np.random.default_rng(0)


def test_train_output_is_normalized_then_scaled():
    x = rng.normal(3.0, 5.0, (64, 6)).astype(np.float32)
    bn = BatchNorm(6)
    bn.params["gamma"][:] = 2.0
    bn.params["beta"][:] = -1.0
    y = bn.forward(x)
    assert y.dtype == np.float32
    np.testing.assert_allclose(y.mean(0), -1.0, atol=1e-5)
    np.testing.assert_allclose(y.std(0), 2.0 * np.sqrt(25 / (25 + 1e-5 / x.var(0).mean())), rtol=1e-3)


def test_gamma_beta_can_restore_the_identity():
    x = rng.normal(3.0, 5.0, (32, 4))
    bn = BatchNorm(4, dtype=np.float64)
    bn.params["gamma"][:] = np.sqrt(x.var(0) + bn.eps)
    bn.params["beta"][:] = x.mean(0)
    np.testing.assert_allclose(bn.forward(x), x, atol=1e-12)


def test_image_input_is_normalized_per_channel():
    """Section 3.2: one gamma/beta per feature map, statistics over N, H, W."""
    x = rng.normal(0, 1, (5, 3, 4, 6)) * np.array([1, 10, 100])[None, :, None, None]
    bn = BatchNorm(3, dtype=np.float64)
    y = bn.forward(x)
    assert bn.params["gamma"].shape == (3,)
    np.testing.assert_allclose(y.mean((0, 2, 3)), 0, atol=1e-12)
    np.testing.assert_allclose(y.var((0, 2, 3)), 1, rtol=1e-3)
    # per activation (each h, w separately) would NOT be normalized:
    assert np.abs(y.mean(0)).max() > 1e-3


@pytest.mark.parametrize("shape", [(10, 3), (4, 3, 5, 2)])
def test_momentum_one_gives_batch_mean_and_unbiased_variance(shape):
    x = rng.standard_normal(shape) * 3 + 1
    bn = BatchNorm(3, momentum=1.0, dtype=np.float64)
    bn.forward(x)
    axes = (0,) if x.ndim == 2 else (0, 2, 3)
    m = x.size // 3
    np.testing.assert_allclose(bn.running_mean, x.mean(axes), rtol=1e-12)
    np.testing.assert_allclose(bn.running_var, x.var(axes, ddof=1), rtol=1e-12)
    np.testing.assert_allclose(bn.running_var, x.var(axes) * m / (m - 1), rtol=1e-12)


def test_momentum_none_is_the_exact_average_over_batches():
    batches = [rng.standard_normal((8, 3)) * (i + 1) for i in range(5)]
    bn = BatchNorm(3, momentum=None, dtype=np.float64)
    for b in batches:
        bn.forward(b)
    np.testing.assert_allclose(bn.running_mean, np.mean([b.mean(0) for b in batches], 0), rtol=1e-12)
    np.testing.assert_allclose(bn.running_var, np.mean([b.var(0, ddof=1) for b in batches], 0),
                               rtol=1e-12)
    assert bn.num_batches == 5


@pytest.mark.parametrize("momentum", [None, 1.0])
def test_the_first_batch_replaces_non_finite_running_statistics(momentum):
    """The recipe for population statistics (docs/batchnorm.md, section 6) after a
    diverged run: (1 - f) * NaN stayed NaN at f = 1."""
    x = rng.standard_normal((8, 2))
    bn = BatchNorm(2, momentum=momentum, dtype=np.float64)
    bn.running_mean[:], bn.running_var[:] = np.nan, np.inf
    bn.forward(x)
    np.testing.assert_allclose(bn.running_mean, x.mean(0), rtol=1e-12)
    np.testing.assert_allclose(bn.running_var, x.var(0, ddof=1), rtol=1e-12)


def test_astype_keeps_the_batch_count_exact():
    """num_batches went through the float dtype: float16 rounded 2049 to 2048 and
    overflowed at 70,350, leaving the model half converted."""
    model = mlp(4, [3, 3], 2, batchnorm=True, seed=0)
    bns = [layer for layer in model.layers if isinstance(layer, BatchNorm)]
    for bn, count in zip(bns, (2049, 70_350)):
        bn.num_batches = count
    model.astype(np.float16)
    assert [bn.num_batches for bn in bns] == [2049, 70_350]
    assert all(p.value.dtype == np.float16 for p in model.parameters())
    assert all(bn.running_var.dtype == np.float16 for bn in bns)


def test_running_statistics_start_at_zero_mean_unit_variance():
    bn = BatchNorm(4)
    np.testing.assert_array_equal(bn.running_mean, 0)
    np.testing.assert_array_equal(bn.running_var, 1)


def test_default_momentum_update():
    bn = BatchNorm(2, dtype=np.float64)
    x = rng.standard_normal((6, 2))
    bn.forward(x)
    np.testing.assert_allclose(bn.running_mean, 0.1 * x.mean(0))
    np.testing.assert_allclose(bn.running_var, 0.9 + 0.1 * x.var(0, ddof=1))


@pytest.mark.parametrize("shape", [(6, 3), (2, 3, 4, 4)])
def test_eval_uses_population_statistics_and_changes_no_state(shape):
    bn = BatchNorm(3, dtype=np.float64)
    bn.running_mean[:] = [0.5, -1.0, 2.0]
    bn.running_var[:] = [4.0, 0.25, 1.0]
    bn.params["gamma"][:] = [1.0, 2.0, 3.0]
    bn.params["beta"][:] = [0.0, 1.0, -1.0]
    bn.eval()
    x = rng.standard_normal(shape)
    c = (1, -1) if x.ndim == 2 else (1, -1, 1, 1)
    expected = (bn.params["gamma"].reshape(c) * (x - bn.running_mean.reshape(c))
                / np.sqrt(bn.running_var.reshape(c) + bn.eps) + bn.params["beta"].reshape(c))
    np.testing.assert_allclose(bn.forward(x), expected, rtol=1e-12)
    np.testing.assert_array_equal(bn.running_mean, [0.5, -1.0, 2.0])
    assert bn.num_batches == 0


def test_single_sample_in_training_is_an_error():
    with pytest.raises(ShapeError, match=r"more than one value.*last batch has one sample when "
                                         r"len\(x\) % batch_size == 1: DataLoader\(\.\.\., "
                                         r"drop_last=True\)"):   # where a batch of one comes from
        BatchNorm(4).forward(np.ones((1, 4), np.float32))
    BatchNorm(4).eval().forward(np.ones((1, 4), np.float32))   # fine at inference
    BatchNorm(2).forward(np.ones((1, 2, 2, 2), np.float32))    # m = H*W = 4 for images


def test_compact_backward_matches_the_papers_chain_rule():
    x, dy = rng.standard_normal((16, 5)), rng.standard_normal((16, 5))
    gamma = rng.uniform(0.5, 2.0, 5)
    bn = BatchNorm(5, dtype=np.float64)
    bn.params["gamma"][:] = gamma
    bn.forward(x)
    dx = bn.backward(dy)
    ref_dx, ref_dgamma, ref_dbeta = batchnorm_backward_paper(dy, x, gamma, bn.eps)
    np.testing.assert_allclose(dx, ref_dx, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(bn.grads["gamma"], ref_dgamma, rtol=1e-12)
    np.testing.assert_allclose(bn.grads["beta"], ref_dbeta, rtol=1e-12)


def test_bias_before_batchnorm_is_redundant():
    """z = BN(W u + b) does not depend on b, so dL/db = 0: the reason the
    builders drop the bias before BN (section 3.2)."""
    dense, bn = Dense(5, 4, bias=True, rng=0, dtype=np.float64), BatchNorm(4, dtype=np.float64)
    x = rng.standard_normal((10, 5))
    y0 = bn.forward(dense.forward(x))
    dense.backward(bn.backward(rng.standard_normal(y0.shape)))
    np.testing.assert_allclose(dense.grads["b"], 0, atol=1e-12)
    assert np.abs(dense.grads["W"]).max() > 1e-3            # the weights still learn
    dense.params["b"][:] = rng.standard_normal(4) * 10
    np.testing.assert_allclose(bn.forward(dense.forward(x)), y0, atol=1e-9)


@pytest.mark.parametrize("make, shape, features", [
    (lambda: Dense(5, 4, bias=False, rng=0, dtype=np.float64), (10, 5), 4),
    (lambda: Conv2D(2, 3, 3, padding=1, bias=False, rng=0, dtype=np.float64), (4, 2, 5, 5), 3),
])
def test_batchnorm_undoes_the_scale_of_the_weights(make, shape, features):
    """Section 3.3: BN((aW)u) = BN(Wu), so dL/du does not change with a and
    dL/d(aW) = dL/dW / a; exact up to eps/var, hence a tiny eps here."""
    u = rng.standard_normal(shape)
    results = []
    for a in (1.0, 10.0):
        layer, bn = make(), BatchNorm(features, eps=1e-12, dtype=np.float64)
        layer.params["W"] *= a
        y = bn.forward(layer.forward(u))
        r = np.random.default_rng(1).standard_normal(y.shape)   # the same for both
        du = layer.backward(bn.backward(r))
        results.append((y, du, a * layer.grads["W"]))
    for one, scaled in zip(*results):
        np.testing.assert_allclose(scaled, one, rtol=1e-8, atol=1e-10)


def test_builders_drop_the_bias_before_batchnorm():
    for model in (mlp(784, [100, 100], 10, batchnorm=True), cnn(batchnorm=True)):
        kinds = [type(layer).__name__ for layer in model.layers]
        for i, layer in enumerate(model.layers[:-1]):
            if kinds[i + 1] == "BatchNorm":
                assert "b" not in layer.params, f"layer {i} keeps a bias before BN"
                assert kinds[i + 2] in ("ReLU", "Sigmoid", "Tanh"), "BN must precede the activation"
        assert "b" in model.layers[-1].params                  # the output layer keeps its bias
    plain = mlp(784, [100, 100], 10, batchnorm=False)
    assert all("b" in layer.params for layer in plain.layers if layer.params)


def test_builders_pass_bn_momentum_to_every_batchnorm():
    for momentum in (None, 0.5):
        for model in (mlp(4, [3, 3], 2, batchnorm=True, bn_momentum=momentum),
                      cnn(batchnorm=True, bn_momentum=momentum)):
            bns = [layer for layer in model.layers if isinstance(layer, BatchNorm)]
            assert len(bns) == 2 and all(bn.momentum == momentum for bn in bns)


@pytest.mark.parametrize("activation, hidden_init", [("relu", "he"), ("sigmoid", "xavier"),
                                                     ("tanh", "xavier")])
def test_builders_initialize_as_documented(activation, hidden_init):
    """He for ReLU layers, Xavier for sigmoid and tanh, and Xavier for the output
    layer, which feeds the softmax (120,000 and 30,000 draws: the sample std is
    within 1% of the true one; He and Xavier differ by 15 to 32% here)."""
    model = mlp(400, [300], 100, activation=activation, seed=0)
    hidden, output = model.layers[0].params["W"], model.layers[-1].params["W"]
    want = {"he": np.sqrt(2 / 400), "xavier": np.sqrt(2 / (400 + 300))}[hidden_init]
    assert hidden.std() == pytest.approx(want, rel=0.01)
    assert output.std() == pytest.approx(np.sqrt(2 / (300 + 100)), rel=0.01)


def test_same_seed_same_weights_with_and_without_bn():
    a, b = mlp(20, [8, 8], 3, batchnorm=True, seed=7), mlp(20, [8, 8], 3, batchnorm=False, seed=7)
    wa = [p.value for p in a.parameters() if p.key == "W"]
    wb = [p.value for p in b.parameters() if p.key == "W"]
    for u, v in zip(wa, wb):
        np.testing.assert_array_equal(u, v)


def test_matches_pytorch_running_statistics():
    torch = pytest.importorskip("torch")
    x = rng.standard_normal((3, 16, 6)).astype(np.float32) * 2 + 1
    for momentum in (0.1, None):
        ours = BatchNorm(6, momentum=momentum)
        theirs = torch.nn.BatchNorm1d(6, momentum=momentum)
        for batch in x:
            y = ours.forward(batch)
            yt = theirs(torch.from_numpy(batch)).detach().numpy()
            np.testing.assert_allclose(y, yt, rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(ours.running_mean, theirs.running_mean.numpy(), rtol=1e-6)
        np.testing.assert_allclose(ours.running_var, theirs.running_var.numpy(), rtol=1e-6)


def test_a_bn_of_images_with_the_wrong_channel_count_says_channels():
    """An image batch's axis 1 holds channels; the message said "features"."""
    with pytest.raises(ShapeError, match=r"expected 3 channels on axis 1, got shape "
                                         r"\(2, 4, 5, 5\)"):
        BatchNorm(3).forward(np.zeros((2, 4, 5, 5), np.float32))
    with pytest.raises(ShapeError, match=r"expected 3 features on axis 1, got shape \(2, 4\)"):
        BatchNorm(3).forward(np.zeros((2, 4), np.float32))
