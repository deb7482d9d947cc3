"""fold_batchnorm: Dense/Conv2D -> BatchNorm as one layer, for inference."""
import numpy as np
import pytest

from minidl import Sequential, SoftmaxCrossEntropy
from minidl.data import DataLoader
from minidl.fold import fold_batchnorm
from minidl.errors import BackwardError
from minidl.layers import BatchNorm, Conv2D, Dense, ReLU
from minidl.models import cnn, mlp
from minidl.optim import SGD
from minidl.evaluation import evaluate
from minidl.train import fit

rng = np.random.default_rng(0)


def with_statistics(model):
    """BN layers with gamma, beta and population statistics far from their
    initial 1, 0, 0, 1, so that a fold that skips any of them shows."""
    for layer in model.layers:
        if "b" in layer.params:                         # a bias that must be scaled by s too
            layer.params["b"][:] = rng.normal(0.0, 1.0, layer.params["b"].shape)
        if isinstance(layer, BatchNorm):
            c = layer.num_features
            layer.params["gamma"][:] = rng.uniform(0.5, 2.0, c)
            layer.params["beta"][:] = rng.normal(0.0, 1.0, c)
            layer.running_mean[:] = rng.normal(0.0, 1.0, c)
            layer.running_var[:] = rng.uniform(0.2, 3.0, c)
    return model


def eval_output(model, x):
    with model.inference():
        return model.forward(x)


@pytest.mark.parametrize("model, shape, rtol", [
    (mlp(20, [16, 8], 5, batchnorm=True, seed=0, dtype="float64"), (7, 20), 1e-12),
    (cnn(1, 10, batchnorm=True, image_size=12, seed=0, dtype="float64"), (3, 1, 12, 12), 1e-12),
    (mlp(20, [16, 8], 5, batchnorm=True, seed=0), (7, 20), 1e-5),
    (Sequential(Dense(6, 4, bias=True, rng=0), BatchNorm(4), ReLU(), Dense(4, 3, rng=1)),
     (9, 6), 1e-5),                                   # a bias kept before BN folds too
    (Sequential(Conv2D(2, 3, 3, padding=1, bias=True, rng=0, dtype=np.float64),
                BatchNorm(3, dtype=np.float64)), (2, 2, 5, 5), 1e-12),
])
def test_the_folded_model_computes_the_same_function_in_eval_mode(model, shape, rtol):
    model = with_statistics(model)
    dtype = model.parameters()[0].value.dtype
    x = rng.standard_normal(shape).astype(dtype)
    before = {p.name: p.value.copy() for p in model.parameters()}
    folded = fold_batchnorm(model)
    y, yf = eval_output(model, x), folded.forward(x)
    assert yf.dtype == dtype and not folded.training
    np.testing.assert_allclose(yf, y, rtol=rtol, atol=rtol * np.abs(y).max())
    assert not any(isinstance(layer, BatchNorm) for layer in folded.layers)
    assert len(folded.layers) == len(model.layers) - sum(
        isinstance(layer, BatchNorm) for layer in model.layers)
    assert all(layer.training for layer in model.layers)   # the original is untouched,
    for p in model.parameters():                                # and shares no layer with it
        np.testing.assert_array_equal(p.value, before[p.name])
    folded.train().forward(x)
    folded.backward(np.ones_like(yf))                       # it trains as a plain net
    SGD(folded.parameters(), lr=0.1).step()
    for p in model.parameters():
        np.testing.assert_array_equal(p.value, before[p.name])


def test_the_folded_model_keeps_no_forward_and_no_scratch_buffers():
    """A deep copy kept the original's last forward (a backward of the folded
    model then ran on it) and its im2col buffers (hundreds of MB for a CNN)."""
    model = cnn(1, 10, batchnorm=True, image_size=12, seed=0)
    model.forward(rng.standard_normal((4, 1, 12, 12)).astype(np.float32))
    folded = fold_batchnorm(model)
    with pytest.raises(BackwardError):
        folded.backward(np.ones((4, 10), np.float32))
    assert not any(getattr(layer, "_buffers", None) for layer in folded.layers)


def test_a_batchnorm_with_no_dense_or_conv_before_it_stays():
    model = with_statistics(Sequential(BatchNorm(6), Dense(6, 3, rng=0)))
    folded = fold_batchnorm(model)
    assert [type(layer).__name__ for layer in folded.layers] == ["BatchNorm", "Dense"]
    x = rng.standard_normal((5, 6)).astype(np.float32)
    np.testing.assert_allclose(folded.forward(x), eval_output(model, x), rtol=1e-6)


def test_a_trained_bn_net_scores_the_same_folded():
    x = rng.standard_normal((400, 8)).astype(np.float32)
    y = (x[:, 0] + x[:, 1] > 0).astype(np.int64)
    model = mlp(8, [16, 16], 2, batchnorm=True, seed=0)
    fit(model, SoftmaxCrossEntropy(), SGD(model.parameters(), lr=0.1), DataLoader(x, y, 20),
        epochs=2, progress=False)
    test = DataLoader(x[:100], y[:100], 50, shuffle=False)
    loss, acc = evaluate(model, SoftmaxCrossEntropy(), test)
    loss_f, acc_f = evaluate(fold_batchnorm(model), SoftmaxCrossEntropy(), test)
    assert acc_f == acc and loss_f == pytest.approx(loss, rel=1e-5)
