"""No layer writes into the arrays it is given, and none hands out an array it
will write into later (a scratch buffer reused at the next step).

Either mistake passes every finite-difference check, which runs one forward
and one backward at a time; it shows up only in a real model, as a wrong
gradient in another layer or a stored output that changes under the user's
hands. Sigmoid, for instance, keeps its output y for its backward: a layer
after it that scaled its input in place would corrupt that gradient.
"""
import numpy as np
import pytest

from minidl.layers import BatchNorm, Conv2D, Dense, Flatten, MaxPool2D, ReLU, Sigmoid, Tanh
from minidl.losses import SoftmaxCrossEntropy

LAYERS = [  # (name, layer factory, input shape)
    ("Dense", lambda: Dense(6, 4, rng=0), (5, 6)),
    ("Conv2D", lambda: Conv2D(2, 3, 3, padding=1, rng=0), (4, 2, 5, 6)),
    ("Conv2D stride 2", lambda: Conv2D(2, 3, 3, stride=2, rng=0), (4, 2, 7, 7)),
    ("BatchNorm (N, C)", lambda: BatchNorm(6), (5, 6)),
    ("BatchNorm images", lambda: BatchNorm(2), (4, 2, 5, 6)),
    ("ReLU", ReLU, (4, 2, 5, 6)),
    ("Sigmoid", Sigmoid, (5, 6)),
    ("Tanh", Tanh, (5, 6)),
    ("MaxPool2D", lambda: MaxPool2D(2), (4, 2, 6, 6)),
    ("MaxPool2D overlapping", lambda: MaxPool2D(3, 1), (4, 2, 6, 6)),
    ("Flatten", Flatten, (4, 2, 3, 3)),
]


def step(layer, x, dy):
    """forward and backward, each given a copy that must come back unchanged."""
    x_in, dy_in = x.copy(), dy.copy()
    y = layer.forward(x_in)
    assert np.array_equal(x_in, x), "forward wrote into its input"
    dx = layer.backward(dy_in)
    assert np.array_equal(dy_in, dy), "backward wrote into dy"
    return y, dx


@pytest.mark.parametrize("training", [True, False])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name, make, shape", LAYERS, ids=[c[0] for c in LAYERS])
def test_layers_keep_inputs_and_outputs_intact(name, make, shape, dtype, training):
    """Two steps on different data: the first step's input and dy are left as
    they were, and its output and dx still hold their values after the second
    step (a reused buffer returned to the caller would be overwritten)."""
    layer = make().astype(dtype)
    if not training:
        layer.eval()
    rng = np.random.default_rng(0)
    x1, x2 = (rng.standard_normal(shape).astype(dtype) for _ in range(2))
    y_shape = layer.forward(x1).shape
    layer.backward(np.ones(y_shape, dtype))        # the first step allocates the buffers
    dy1, dy2 = (rng.standard_normal(y_shape).astype(dtype) for _ in range(2))
    y1, dx1 = step(layer, x1, dy1)
    kept = y1.copy(), dx1.copy()
    step(layer, x2, dy2)
    assert np.array_equal(y1, kept[0]), f"{name}: the next forward overwrote this output"
    assert np.array_equal(dx1, kept[1]), f"{name}: the next backward overwrote this dx"


def test_softmax_cross_entropy_keeps_logits_and_its_gradient():
    loss = SoftmaxCrossEntropy()
    rng = np.random.default_rng(1)
    logits = [rng.standard_normal((5, 10)).astype(np.float32) for _ in range(2)]
    labels = np.array([0, 3, 9, 3, 1])
    copy = logits[0].copy()
    loss.forward(logits[0], labels)
    assert np.array_equal(logits[0], copy), "forward wrote into the logits"
    grad = loss.backward()
    kept = grad.copy()
    loss.forward(logits[1], labels)
    loss.backward()
    assert np.array_equal(grad, kept), "the next backward overwrote the first gradient"
