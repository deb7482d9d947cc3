"""The optimized code paths against plain versions (minidl/layers/reference.py
and direct NumPy), including the cases the fast paths special-case."""
import numpy as np
import pytest

from minidl.errors import SettingError
from minidl.gradcheck import gradcheck, gradients
from minidl.layers import BatchNorm, Conv2D, MaxPool2D, ReLU
from minidl.layers.batchnorm import channel_dot, channel_sum, per_feature
from minidl.layers.conv import col2im, im2col
from minidl.layers.im2col_same import col2im_same, im2col_same
from minidl.layers.reference import conv2d_naive, maxpool_backward_naive, maxpool_naive
from minidl.models import cnn, mlp

rng = np.random.default_rng(0)


@pytest.mark.parametrize("shape", [(5, 3), (4, 3, 5, 2), (2, 16, 28, 28)])
def test_channel_sums_match_numpy(shape):
    a, b = rng.standard_normal(shape), rng.standard_normal(shape)
    axes = (0,) if len(shape) == 2 else (0, 2, 3)
    np.testing.assert_allclose(channel_sum(a), a.sum(axes), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(channel_dot(a, b), (a * b).sum(axes), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("shape", [(5, 3), (4, 3, 5, 2), (2, 16, 28, 28), (3, 2, 1, 7)])
def test_per_feature_broadcasts_like_a_reshape(shape):
    x, v = rng.standard_normal(shape), rng.standard_normal(shape[1])
    plain = v.reshape((1, -1) if len(shape) == 2 else (1, -1, 1, 1))
    for op in (np.add, np.multiply):
        np.testing.assert_array_equal(op(x, per_feature(v, x)), op(x, plain))
    assert np.broadcast_shapes(per_feature(v, x).shape, shape) == shape


@pytest.mark.parametrize("shape", [(8, 4), (3, 4, 5, 6)])
def test_batchnorm_forward_matches_the_definition(shape):
    x = rng.standard_normal(shape) * 3 + 2
    bn = BatchNorm(shape[1], dtype=np.float64)
    axes = (0,) if len(shape) == 2 else (0, 2, 3)
    c = (1, -1) if len(shape) == 2 else (1, -1, 1, 1)
    bn.params["gamma"][:] = rng.uniform(0.5, 2, shape[1])
    bn.params["beta"][:] = rng.standard_normal(shape[1])
    expected = ((x - x.mean(axes).reshape(c)) / np.sqrt(x.var(axes).reshape(c) + bn.eps)
                * bn.params["gamma"].reshape(c) + bn.params["beta"].reshape(c))
    np.testing.assert_allclose(bn.forward(x), expected, rtol=1e-10, atol=1e-12)
    bn.forward(rng.standard_normal(shape))
    y2 = bn.forward(x)         # the reused x_hat buffer is overwritten, not accumulated
    np.testing.assert_allclose(y2, expected, rtol=1e-10, atol=1e-12)


def test_im2col_col2im_are_adjoint():
    """<im2col(x), c> == <x, col2im(c)> for every x, c: col2im is the transpose."""
    xp = rng.standard_normal((2, 3, 7, 6))
    cols = im2col(xp, 3, 2, 2, 3, 3)
    assert cols.shape == (2, 3 * 3 * 2, 9)
    c = rng.standard_normal(cols.shape)
    np.testing.assert_allclose(np.sum(cols * c), np.sum(xp * col2im(c, xp.shape, 3, 2, 2, 3, 3)),
                               rtol=1e-12)
    buf = np.full(xp.size, 7.0)   # a reused scratch buffer is cleared first
    np.testing.assert_allclose(col2im(c, xp.shape, 3, 2, 2, 3, 3, out=buf),
                               col2im(c, xp.shape, 3, 2, 2, 3, 3), rtol=1e-12)


SAME_SHAPES = [  # (N, C, H, W, k): stride 1, padding (k - 1) // 2
    (2, 3, 7, 5, 3), (3, 1, 28, 28, 3), (4, 16, 14, 14, 3), (2, 2, 6, 9, 5), (2, 3, 4, 3, 1),
    (1, 2, 1, 1, 3), (2, 1, 2, 3, 5), (1, 1, 1, 6, 7), (3, 2, 5, 1, 3)]   # down to k > H, W


@pytest.mark.parametrize("shape", SAME_SHAPES)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_im2col_same_is_im2col_of_the_padded_input(shape, dtype):
    n, c, h, w, k = shape
    p = (k - 1) // 2
    x = rng.standard_normal((n, c, h, w)).astype(dtype)
    xp = np.pad(x, ((0, 0), (0, 0), (p, p), (p, p)))
    expected = im2col(xp, k, k, 1, h, w)
    buf = np.full(expected.size, np.nan, dtype)          # a reused buffer: every entry written
    for got in (im2col_same(x, k), im2col_same(x, k, out=buf),
                im2col_same(np.asfortranarray(x), k)):   # an input that is not C-contiguous
        assert got.shape == expected.shape and got.dtype == dtype
        np.testing.assert_array_equal(got, expected)


@pytest.mark.parametrize("shape", SAME_SHAPES)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_col2im_same_is_col2im_cropped_to_the_same_bits(shape, dtype):
    n, c, h, w, k = shape
    p = (k - 1) // 2
    cols = rng.standard_normal((n, c * k * k, h * w)).astype(dtype)   # also the padding's entries
    expected = col2im(cols, (n, c, h + 2 * p, w + 2 * p), k, k, 1, h, w)[:, :, p:p + h, p:p + w]
    laid_out = im2col_same(np.zeros((n, c, h, w), dtype), k)          # im2col_same's layout
    laid_out[...] = cols
    for scratch in (cols.copy(), laid_out):
        got = col2im_same(scratch, (n, c, h, w), k)
        assert got.shape == (n, c, h, w) and got.dtype == dtype and got.flags.c_contiguous
        np.testing.assert_array_equal(got, expected)     # same order of additions: same bits


def test_the_same_path_refuses_an_even_kernel():
    """An even k has no centred 'same' padding: it used to give columns as for padding
    k // 2 on one side and k // 2 - 1 on the other, without a word."""
    x = rng.standard_normal((1, 2, 5, 5))
    with pytest.raises(SettingError, match="kernel size 4 is even"):
        im2col_same(x, 4)
    with pytest.raises(SettingError, match="kernel size 2 is even"):
        col2im_same(rng.standard_normal((1, 8, 25)), x.shape, 2)


@pytest.mark.parametrize("k,s,p,same", [(3, 1, 1, True), (5, 1, 2, True), (1, 1, 0, True),
                                        (3, 2, 1, False), (3, 1, 0, False), (3, 1, 2, False),
                                        ((3, 5), 1, 1, False), (2, 1, 0, False)])
def test_conv_takes_the_same_padding_path_only_when_output_is_input_sized(k, s, p, same):
    conv = Conv2D(2, 3, k, stride=s, padding=p, rng=0, dtype=np.float64)
    assert conv.same_padding == same
    if same:
        assert conv.output_hw(7, 5) == (7, 5)


@pytest.mark.parametrize("cfg", [(2, 3, 7, 5, 4, 3, 2, 1), (3, 1, 28, 28, 16, 3, 1, 1),
                                 (2, 3, 6, 5, 2, 5, 1, 2), (2, 2, 5, 4, 3, 3, 1, 2)])
def test_conv_twice_in_a_row_with_reused_buffers(cfg):
    n, c, h, w, f, k, s, p = cfg
    conv = Conv2D(c, f, k, stride=s, padding=p, rng=0, dtype=np.float64)
    for _ in range(2):
        x = rng.standard_normal((n, c, h, w))
        np.testing.assert_allclose(conv.forward(x), conv2d_naive(x, conv.params["W"],
                                                                 conv.params["b"], s, p),
                                   rtol=1e-10, atol=1e-12)
        dx = conv.backward(np.ones((n, f) + conv.output_hw(h, w)))
        assert dx.shape == x.shape and dx.flags.c_contiguous


@pytest.mark.parametrize("c,k,s,p,bias", [(1, 3, 1, 1, False), (3, 3, 2, 1, True),
                                         (2, (3, 2), 1, 0, True), (1, 5, 1, 2, True)],
                         ids=["same", "stride-2", "3x2-no-padding", "5x5-same"])
def test_first_layer_conv_gradients(c, k, s, p, bias):
    """needs_input_grad = False takes _first_layer_grads (per-sample products instead
    of one): dW and db are those of the full backward to rounding, in float64 and
    float32, and in float64 those of finite differences (which gradcheck, turning
    needs_input_grad on to check x, never sees on this path)."""
    for dtype, tol in ((np.float64, 1e-12), (np.float32, 1e-5)):
        full, first = (Conv2D(c, 4, k, stride=s, padding=p, bias=bias, rng=1, dtype=dtype)
                       for _ in range(2))
        first.needs_input_grad = False
        x = rng.standard_normal((3, c, 9, 8)).astype(dtype)
        y = full.forward(x)
        np.testing.assert_array_equal(first.forward(x), y)
        dy = rng.standard_normal(y.shape).astype(dtype)
        assert full.backward(dy).shape == x.shape and first.backward(dy) is None
        assert list(first.grads) == (["W", "b"] if bias else ["W"])
        for key, g in first.grads.items():
            assert g.dtype == dtype
            np.testing.assert_allclose(g, full.grads[key], rtol=tol, atol=tol)
        if dtype == np.float64:
            numeric = gradients(full, x, upstream=dy)[1]
            for key, g in first.grads.items():
                np.testing.assert_allclose(g, numeric[key], rtol=1e-7, atol=1e-8)


class GarbageNumpy:
    """numpy, but np.empty gives NaN where fresh memory often happens to be zeros."""

    def __getattr__(self, name):
        return getattr(np, name)

    @staticmethod
    def empty(shape, dtype=float):
        return np.full(shape, np.nan, dtype)


@pytest.mark.parametrize("make, shape", [
    (lambda: Conv2D(3, 4, 3, stride=2, padding=1, rng=0, dtype=np.float64), (2, 3, 7, 5)),
    (lambda: Conv2D(2, 3, 5, padding=1, rng=0, dtype=np.float64), (2, 2, 6, 7)),
    (lambda: Conv2D(2, 3, 3, padding=1, rng=0, dtype=np.float64), (2, 2, 6, 7)),   # same path
    (lambda: MaxPool2D(2), (2, 3, 6, 4)), (lambda: MaxPool2D(3, stride=2), (2, 3, 7, 7)),
    (lambda: BatchNorm(3, dtype=np.float64), (4, 3, 5, 2)),
    (lambda: BatchNorm(3, dtype=np.float64), (5, 3)), (lambda: ReLU(), (2, 3, 4))],
    ids=["conv-stride-2", "conv-5x5-padding-1", "conv-same", "pool-2", "pool-3-stride-2",
         "bn-images", "bn-features", "relu"])
def test_scratch_buffers_may_hold_garbage(make, shape, monkeypatch):
    """Layer._buffer's np.empty gives whatever memory held before: a layer must write
    every entry of a scratch buffer it reads, or ask for zeros (Conv2D's padding)."""
    import minidl.layers.base as base
    x, fresh, dirty = rng.standard_normal(shape), make(), make()
    monkeypatch.setattr(base, "np", GarbageNumpy())
    y = dirty.forward(x)
    dy = rng.standard_normal(y.shape)
    dx = dirty.backward(dy)
    monkeypatch.undo()
    np.testing.assert_array_equal(y, fresh.forward(x))
    np.testing.assert_array_equal(dx, fresh.backward(dy))
    for name in fresh.grads:
        np.testing.assert_array_equal(dirty.grads[name], fresh.grads[name])


@pytest.mark.parametrize("shape", [(2, 3, 8, 6), (1, 2, 7, 9)])
def test_maxpool_twice_in_a_row_with_a_reused_buffer(shape):
    pool, fresh = MaxPool2D(2), MaxPool2D(2)
    x1, x2 = rng.standard_normal(shape), rng.standard_normal(shape)
    dy1, dy2 = (rng.standard_normal((shape[0], shape[1], shape[2] // 2, shape[3] // 2))
                for _ in range(2))
    y1 = pool.forward(x1)
    dx1 = pool.backward(dy1)
    keep_y, keep_dx = y1.copy(), dx1.copy()
    y2 = pool.forward(x2)             # overwrites the scratch planes, not y1
    dx2 = pool.backward(dy2)
    np.testing.assert_array_equal(y2, fresh.forward(x2))
    np.testing.assert_array_equal(dx2, fresh.backward(dy2))
    np.testing.assert_array_equal(y1, keep_y)
    np.testing.assert_array_equal(dx1, keep_dx)


def test_maxpool_with_more_than_256_entries_per_window():
    x = rng.standard_normal((2, 1, 17, 18))      # 17x17 windows: 289 planes
    x[1, 0, 16, 17] = 10.0           # the last entry (plane 288) of the second window wins
    pool = MaxPool2D(17, 1)
    np.testing.assert_array_equal(pool.forward(x), maxpool_naive(x, 17, 1))
    dy = rng.standard_normal((2, 1, 1, 2))
    np.testing.assert_allclose(pool.backward(dy), maxpool_backward_naive(x, dy, 17, 1), rtol=1e-12)
    assert maxpool_backward_naive(x, dy, 17, 1)[1, 0, 16, 17] == dy[1, 0, 0, 1]   # plane 288 won


@pytest.mark.parametrize("k,s,shape", [(2, 2, (2, 3, 8, 6)), (2, 2, (1, 2, 7, 9)),
                                       (3, 3, (2, 2, 9, 10)), (3, 2, (2, 2, 9, 7)),
                                       (3, 1, (2, 2, 6, 5)), (2, 3, (1, 2, 8, 7)),
                                       (1, 1, (2, 2, 3, 4)), (1, 2, (1, 2, 5, 4))])
@pytest.mark.parametrize("ties", [False, True])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_maxpool_forward_and_first_max_routing(k, s, shape, ties, dtype):
    x = rng.standard_normal(shape).astype(dtype)
    if ties:
        x = np.maximum(x.round(), 0)     # many equal values, as after ReLU
    pool = MaxPool2D(k, s)
    y = pool.forward(x)
    assert y.dtype == dtype
    np.testing.assert_array_equal(y, maxpool_naive(x, k, s))
    dy = rng.standard_normal(y.shape).astype(dtype)
    dx = pool.backward(dy)                # dy goes to the first maximum in row-major order
    assert dx.dtype == dtype and dx.shape == x.shape
    np.testing.assert_allclose(dx, maxpool_backward_naive(x, dy, k, s), rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("make,shape", [
    (lambda: mlp(6, [5, 4], 3, batchnorm=True, seed=3), (5, 6)),
    (lambda: cnn(in_channels=2, num_classes=3, batchnorm=True, image_size=8, channels=(3, 4),
                 seed=0), (3, 2, 8, 8))])
@pytest.mark.filterwarnings("ignore:.*every entry is 1")   # a new BN's gamma
def test_skipping_the_input_gradient(make, shape):
    """input_grad=False: same parameter gradients (a first Conv2D's to rounding: it
    sums per sample), no dL/dx; gradcheck still checks x."""
    x = rng.standard_normal(shape).astype(np.float32)
    a, b = make(), make()
    b.input_grad = False
    ya, yb = a.forward(x), b.forward(x)
    np.testing.assert_array_equal(ya, yb)          # the forward pass is the same
    dy = rng.standard_normal(ya.shape).astype(np.float32)
    assert a.backward(dy).shape == x.shape
    assert b.backward(dy) is None
    for pa, pb in zip(a.parameters(), b.parameters()):
        if pb.layer is b.layers[0] and isinstance(pb.layer, Conv2D):   # sums per sample
            np.testing.assert_allclose(pa.grad, pb.grad, rtol=1e-5, atol=1e-6)
        else:
            np.testing.assert_array_equal(pa.grad, pb.grad)
    errors = gradcheck(b, x.astype(np.float64))
    assert "x" in errors and max(errors.values()) < 1e-7
    assert b.input_grad is False


def test_skipping_the_input_gradient_behind_layers_without_parameters():
    """Flatten first: the Dense after it skips dL/dx, Flatten's backward is not run."""
    from minidl.layers import Dense, Flatten, ReLU
    from minidl.model import Sequential
    x = rng.standard_normal((4, 2, 3, 3)).astype(np.float32)
    dy = rng.standard_normal((4, 3)).astype(np.float32)
    a, b = (Sequential(Flatten(), Dense(18, 5, rng=1), ReLU(), Dense(5, 3, rng=2))
            for _ in range(2))
    a.forward(x)
    dx = a.backward(dy)
    b.input_grad = False
    b.layers[2].needs_input_grad = "set by hand"           # not Sequential's to change
    b.forward(x)
    b.layers[0].backward = lambda dy: pytest.fail("Flatten.backward must not run")
    dense_returned = []
    b.layers[1].backward = lambda dy: dense_returned.append(Dense.backward(b.layers[1], dy))
    assert b.backward(dy) is None
    assert dense_returned == [None]                         # the Dense skipped dL/dx
    assert b.layers[0]._cache is None                       # Flatten's forward cache dropped
    assert b.layers[1].needs_input_grad and b.layers[3].needs_input_grad   # as before
    assert b.layers[2].needs_input_grad == "set by hand"
    for pa, pb in zip(a.parameters(), b.parameters()):
        np.testing.assert_array_equal(pa.grad, pb.grad)
    del b.layers[0].backward, b.layers[1].backward          # back to the class methods
    b.input_grad = True                                     # and back to computing dL/dx
    b.forward(x)
    np.testing.assert_array_equal(b.backward(dy), dx)
    no_params = Sequential(Flatten(), ReLU())
    no_params.input_grad = False
    no_params.forward(x)
    for layer in no_params.layers:
        layer.backward = lambda dy: pytest.fail("no layer has parameters: nothing to run")
    assert no_params.backward(np.ones((4, 18), np.float32)) is None


def test_float32_step_never_upcasts():
    """Every array a float32 training step produces stays float32."""
    from minidl.losses import SoftmaxCrossEntropy
    from minidl.optim import SGD
    for model, shape in ((mlp(12, [8, 8], 3, batchnorm=True, seed=0), (6, 12)),
                         (cnn(batchnorm=True, image_size=8, seed=0), (4, 1, 8, 8))):
        loss, opt = SoftmaxCrossEntropy(), SGD(model.parameters(), lr=0.1, momentum=0.9)
        x = rng.standard_normal(shape).astype(np.float32)
        outs = []
        for layer in model.layers:
            x = layer.forward(x)
            outs.append(x)
        loss.forward(x, np.arange(shape[0]) % 3)
        dy = loss.backward()
        outs.append(dy)
        for layer in reversed(model.layers):
            dy = layer.backward(dy)
            outs.append(dy)
        opt.step()
        assert all(o.dtype == np.float32 for o in outs)
        assert all(p.value.dtype == np.float32 and p.grad.dtype == np.float32
                   for p in model.parameters())
        assert all(v.dtype == np.float32 for v in model.state().values() if v.ndim)
