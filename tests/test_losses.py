import numpy as np
import pytest

from minidl.errors import BackwardError, LabelError, ShapeError
from minidl.gradcheck import numeric_grad, rel_error
from minidl.losses import SoftmaxCrossEntropy

rng = np.random.default_rng(0)


def test_value_matches_definition():
    z = rng.standard_normal((5, 4))
    t = np.array([0, 3, 1, 1, 2])
    p = np.exp(z) / np.exp(z).sum(1, keepdims=True)
    assert SoftmaxCrossEntropy().forward(z, t) == pytest.approx(-np.log(p[np.arange(5), t]).mean())


def test_gradient_is_softmax_minus_onehot_over_n():
    z = rng.standard_normal((6, 3))
    t = np.array([0, 1, 2, 2, 1, 0])
    loss = SoftmaxCrossEntropy()
    loss.forward(z, t)
    p = np.exp(z) / np.exp(z).sum(1, keepdims=True)
    np.testing.assert_allclose(loss.backward(), (p - np.eye(3)[t]) / 6, rtol=1e-12)


@pytest.mark.parametrize("n,c", [(1, 2), (7, 10), (32, 3)])
def test_gradient_by_finite_differences(n, c):
    z = rng.standard_normal((n, c))
    t = rng.integers(0, c, n)
    loss = SoftmaxCrossEntropy()
    loss.forward(z, t)
    analytic = loss.backward()
    numeric = numeric_grad(lambda: SoftmaxCrossEntropy().forward(z, t), z)
    assert rel_error(analytic, numeric) < 1e-7


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_huge_logits_stay_finite(dtype):
    z = np.array([[1e4, -1e4, 0.0], [-1e4, -1e4, 1e4]], dtype)
    loss = SoftmaxCrossEntropy()
    perfect = loss.forward(z, np.array([0, 2]))
    assert perfect == 0.0 and np.copysign(1.0, perfect) == 1.0   # 0.0, not -0.0 ("-0.0000")
    assert np.isfinite(loss.backward()).all()
    value = SoftmaxCrossEntropy().forward(z, np.array([1, 0]))
    assert np.isfinite(value) and value == pytest.approx(2e4)


def test_each_row_is_shifted_by_its_own_max():
    """One max over the whole batch would leave the second row at exp(-1e4) = 0 in
    float64, log(0) = -inf: each row must be shifted by its own largest logit."""
    z = np.array([[1e4, 0.0, 0.0], [0.0, 1.0, 2.0]])
    loss = SoftmaxCrossEntropy().forward(z, np.array([0, 2]))
    second_row = -(2.0 - np.log(np.exp(0.0) + np.exp(1.0) + np.exp(2.0)))
    assert loss == pytest.approx((0.0 + second_row) / 2, rel=1e-12)


def test_keeps_float32():
    loss = SoftmaxCrossEntropy()
    loss.forward(rng.standard_normal((4, 3)).astype(np.float32), np.array([0, 1, 2, 0]))
    assert loss.backward().dtype == np.float32


@pytest.mark.parametrize("labels,match", [
    (np.array([0.0, 1.0]), "integer"), (np.array([0, 3]), r"0\.\.2"),
    (np.array([-1, 0]), r"0\.\.2"), (np.array([0, 1, 2]), "one label per row"),
    (np.array([[0], [1]]), "one label per row")])
def test_bad_labels(labels, match):
    with pytest.raises(LabelError, match=match):
        SoftmaxCrossEntropy().forward(np.zeros((2, 3)), labels)


def test_bad_logits_and_misuse():
    with pytest.raises(ShapeError, match=r"\(N, C\)"):
        SoftmaxCrossEntropy().forward(np.zeros(3), np.array([0]))
    with pytest.raises(BackwardError):
        SoftmaxCrossEntropy().backward()


@pytest.mark.parametrize("labels, said", [
    (np.array([0.0, 1.0, 2.0, 3.0]), r"got dtype float64; as class numbers: "
                                     r"y\.astype\(np\.int64\)"),
    (np.array([True, False, True, True]), r"got dtype bool; as class numbers: "
                                          r"y\.astype\(np\.int64\)"),
    (np.arange(4).reshape(4, 1), r"got shape \(4, 1\); a column of labels: y\.ravel\(\)"),
    (np.array([1, 2, 3, 5]), r"lie in 0\.\.4 for 5 classes, got values from 1 to 5; numbered "
                             r"from 1\? y - 1 gives 0\.\.4"),
])
def test_a_label_mistake_is_named_with_its_fix(labels, said):
    """A lab's own labels: floats, a column, or numbered from 1 were named without
    saying what to do."""
    with pytest.raises(LabelError, match=said):
        SoftmaxCrossEntropy().forward(np.zeros((4, 5), np.float32), labels)


def test_one_output_column_is_refused():
    """With one logit per row the softmax is 1 and the loss 0 for any weights: a
    two-class task built with one output learned nothing, and the error (if the
    labels held a 1) spoke of 'labels in 0..0 for 1 classes'."""
    with pytest.raises(ShapeError, match=r"the logits have 1 column; softmax cross-entropy "
                                         r"needs one output per class, 2 or more"):
        SoftmaxCrossEntropy().forward(np.zeros((4, 1), np.float32), np.zeros(4, np.int64))
