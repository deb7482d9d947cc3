"""DataLoader: batching, shuffling, conversion, validation, resuming."""

import json
import warnings
import tracemalloc

import numpy as np
import pytest

from minidl.data import DataLoader, random_shift
from minidl.errors import SettingError, ShapeError


def images(n=10, seed=0):
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, (n, 4, 4), dtype=np.uint8), np.arange(n, dtype=np.int64)


def epoch_labels(loader):
    return [yb.tolist() for _, yb in loader]


@pytest.mark.parametrize("n, b, drop_last, sizes", [
    (10, 3, False, [3, 3, 3, 1]),
    (10, 3, True, [3, 3, 3]),
    (9, 3, False, [3, 3, 3]),
    (2, 5, False, [2]),
    (5, 5, True, [5]),
])
def test_batch_sizes_and_len(n, b, drop_last, sizes):
    x, y = images(n)
    loader = DataLoader(x, y, b, drop_last=drop_last, seed=0)
    assert len(loader) == len(sizes)
    assert [len(yb) for _, yb in loader] == sizes


def test_drop_last_leaves_out_other_samples_each_epoch():
    """A shuffle of only the samples that fit whole batches never trained on the
    last n % batch_size samples, in any epoch."""
    x, y = images(10)
    loader = DataLoader(x, y, 4, drop_last=True, seed=0)
    seen = set()
    for _ in range(20):
        epoch = [int(v) for _, yb in loader for v in yb]
        assert len(epoch) == len(set(epoch)) == 8
        seen.update(epoch)
    assert seen == set(range(10))


def test_drop_last_with_less_than_one_batch_is_refused():
    """It would yield nothing, and a trainer waiting for its first step would wait forever."""
    x, y = images(2)
    with pytest.raises(SettingError, match=r"drop_last=True with 2 samples and batch_size 5 "
                                         r"leaves no batch.*at most 2 or drop_last=False"):
        DataLoader(x, y, 5, drop_last=True)


def test_each_epoch_is_a_new_permutation():
    x, y = images(50)
    loader = DataLoader(x, y, 7, seed=1)
    first, second = epoch_labels(loader), epoch_labels(loader)
    assert sorted(sum(first, [])) == list(range(50)) == sorted(sum(second, []))
    assert first != second
    assert loader.epoch == 2
    assert epoch_labels(DataLoader(x, y, 7, seed=1)) == first  # same seed, same order


def test_no_shuffle_keeps_order():
    x, y = images(10)
    assert sum(epoch_labels(DataLoader(x, y, 4, shuffle=False)), []) == list(range(10))


def test_uint8_scaled_and_labels_match():
    x, y = images(10)
    for xb, yb in DataLoader(x, y, 4, seed=0):
        assert xb.dtype == np.float32 and xb.shape[1:] == (4, 4)
        np.testing.assert_array_equal(xb, x[yb] / np.float32(255))
    assert x.dtype == np.uint8  # the data set itself is untouched


def test_mean_std_and_shape():
    x, y = images(10)
    loader = DataLoader(x, y, 5, shuffle=False, mean=0.5, std=0.25, shape=(1, 16))
    xb, _ = next(iter(loader))
    assert xb.shape == (5, 1, 16) and xb.dtype == np.float32
    expected = (x[:5].astype(np.float32) / 255 - 0.5) / 0.25
    np.testing.assert_allclose(xb, expected.reshape(5, 1, 16), rtol=1e-6)
    per_pixel = DataLoader(x, y, 5, mean=x.mean(0) / 255, shape=(16,))
    assert next(iter(per_pixel))[0].shape == (5, 16)


def test_colour_images_are_standardized_per_channel():
    """(C,) and (1, C, 1, 1) statistics, as x.mean(axis=(0, 2, 3)) gives them, were
    refused ("does not broadcast"): only (C, 1, 1) passed, which no NumPy call gives."""
    x = np.random.default_rng(0).integers(0, 256, (8, 3, 5, 7)).astype(np.uint8)
    y, scaled = np.arange(8), x / 255
    expected = (scaled - scaled.mean(axis=(0, 2, 3), keepdims=True)) / \
        scaled.std(axis=(0, 2, 3), keepdims=True)
    for keepdims in (False, True):
        loader = DataLoader(x, y, 8, shuffle=False, dtype=np.float64,
                            mean=scaled.mean(axis=(0, 2, 3), keepdims=keepdims),
                            std=scaled.std(axis=(0, 2, 3), keepdims=keepdims))
        np.testing.assert_allclose(next(iter(loader))[0], expected, rtol=1e-12)
        assert loader.mean.shape == loader.std.shape == (3, 1, 1)
    per_pixel = DataLoader(x, y, 8, shuffle=False, mean=scaled.mean(axis=0, keepdims=True))
    assert per_pixel.mean.shape == (3, 5, 7)
    with pytest.raises(ShapeError, match=r"DataLoader: mean of shape \(4,\) does not broadcast "
                                         r"to one sample of shape \(3, 5, 7\); .* one per "
                                         r"channel: \(3,\)"):
        DataLoader(x, y, 8, mean=np.zeros(4))
    square = np.zeros((4, 3, 5, 3), np.float32)          # channels or columns?
    with pytest.raises(ShapeError, match=r"could mean one value per channel or one per column; "
                                         r"give it as \(3, 1, 1\) .* or \(1, 1, 3\)"):
        DataLoader(square, np.arange(4), 2, mean=np.zeros(3))
    channels_last = np.zeros((4, 5, 7, 3), np.float32)   # broadcast over the last axis, as before
    assert DataLoader(channels_last, np.arange(4), 2, mean=np.zeros(3)).mean.shape == (3,)


def test_batch_converts_given_samples_and_leaves_the_epoch_alone():
    from minidl.data import random_shift
    x, y = images(10)
    loader = DataLoader(x, y, 4, seed=1, mean=0.5, std=0.25, shape=(1, 16),
                        augment=random_shift(1))
    state = loader.state_dict()
    xb, yb = loader.batch(np.array([7, 2]))
    expected = (x[[7, 2]].astype(np.float32) / 255 - 0.5) / 0.25
    np.testing.assert_allclose(xb, expected.reshape(2, 1, 16), rtol=1e-6)   # no shift
    np.testing.assert_array_equal(yb, y[[7, 2]])
    assert xb.dtype == np.float32
    assert loader.state_dict() == state
    shifted, _ = loader.batch(np.array([7, 2]), np.random.default_rng(0))
    assert not np.array_equal(shifted, xb)                  # with an rng: augmented


@pytest.mark.parametrize("index", [slice(2, 5), 3, np.int64(3), np.array([3, 4])])
def test_batch_never_writes_into_the_data(index):
    """A slice or an int used to give a view of float32 data, and the standardization
    then wrote into the user's array (again at every call)."""
    x = np.arange(40, dtype=np.float32).reshape(10, 4)
    original = x.copy()
    loader = DataLoader(x, np.arange(10), 4, mean=1.0, std=2.0, shape=(2, 2))
    first, yb = loader.batch(index)
    again, _ = loader.batch(index)
    np.testing.assert_array_equal(x, original)
    rows = np.arange(10)[index].reshape(-1)                 # an int is a batch of one
    np.testing.assert_array_equal(first, ((original[rows] - 1) / 2).reshape(-1, 2, 2))
    np.testing.assert_array_equal(again, first)
    np.testing.assert_array_equal(np.reshape(yb, -1), rows)


def test_in_order_reads_every_sample_once_and_leaves_the_loader_alone():
    x, y = images(10)
    loader = DataLoader(x, y, 4, seed=3, drop_last=True, augment=lambda xb, rng: xb + 1)
    next(iter(loader))                                      # an epoch left unfinished
    state = loader.state_dict()
    batches = list(loader.in_order())
    assert [len(yb) for _, yb in batches] == [4, 4, 2]    # all samples, even with drop_last
    np.testing.assert_array_equal(np.concatenate([yb for _, yb in batches]), y)
    np.testing.assert_array_equal(batches[0][0], x[:4] / np.float32(255))   # not augmented
    assert loader.state_dict() == state


def test_random_shift_moves_each_image_by_one_of_all_the_offsets():
    """Each output is the image moved by some (dy, dx) in [-s, s]^2, the border filled
    with 0: checked on images with no symmetry (a transposed or flipped crop would
    pass a test with one bright pixel in the middle), and every offset occurs."""
    s, n = 2, 500
    img = np.arange(1, 82, dtype=np.float64).reshape(9, 9)          # all values differ
    out = random_shift(s)(np.broadcast_to(img, (n, 9, 9)).copy(), np.random.default_rng(0))
    padded = np.pad(img, s)
    crops = {(dy, dx): padded[s + dy:s + dy + 9, s + dx:s + dx + 9]   # moved by (-dy, -dx)
             for dy in range(-s, s + 1) for dx in range(-s, s + 1)}
    seen = set()
    for o in out:
        match = [k for k, c in crops.items() if np.array_equal(o, c)]
        assert len(match) == 1
        seen.add(match[0])
    assert seen == set(crops)                              # all 25 offsets, +s included
    colour = np.stack([img, img + 100, img + 200])         # (C, H, W): one offset per image
    out = random_shift(s)(np.broadcast_to(colour, (50, 3, 9, 9)).copy(),
                          np.random.default_rng(1))
    for o in out:
        (dy, dx), = [k for k, c in crops.items() if np.array_equal(o[0], c)]
        for channel, plane in zip(o[1:], colour[1:]):
            np.testing.assert_array_equal(channel, np.pad(plane, s)[s + dy:s + dy + 9,
                                                                     s + dx:s + dx + 9])


def test_augmentation_runs_before_standardization():
    """The shift fills the border with 0, MNIST's background, before the loader
    standardizes: the border then holds (0 - mean) / std like every background pixel,
    not 0, which standardized would be a grey of its own."""
    x = np.zeros((8, 1, 6, 6), np.uint8)
    x[:, :, 1:5, 1:5] = 255
    loader = DataLoader(x, np.zeros(8, np.int64), 8, seed=0, mean=0.5, std=0.25,
                        augment=random_shift(2))
    xb, _ = next(iter(loader))
    assert set(np.unique(xb)) == {(0 - 0.5) / 0.25, (1 - 0.5) / 0.25}


def test_random_shift_refuses_what_it_cannot_shift():
    from minidl.data import random_shift
    with pytest.raises(SettingError, match=r"random_shift: max_shift must be an int >= 1, got 2.5"):
        random_shift(2.5)
    x, y = images(10)
    loader = DataLoader(x.reshape(10, 16), y, 4, augment=random_shift(1))
    with pytest.raises(ShapeError, match=r"needs image batches .* got shape \(4, 16\)"):
        next(iter(loader))
    x, y = images(10)                       # 4x4 images: a shift of 4 can blank one out
    with pytest.raises(SettingError, match=r"max_shift 4 can move a 4x4 image out of view "
                                           r"entirely; use at most 3"):
        next(iter(DataLoader(x, y, 4, augment=random_shift(4))))
    next(iter(DataLoader(x, y, 4, augment=random_shift(3))))


def test_float_input_passed_through():
    x = np.linspace(-3, 3, 20).reshape(10, 2)
    xb, yb = next(iter(DataLoader(x, np.arange(10), 10, shuffle=False)))
    assert xb.dtype == np.float32
    np.testing.assert_array_equal(xb, x.astype(np.float32))
    xb[:] = 0
    assert x[0, 0] == -3  # batches are copies


def test_never_converts_whole_dataset():
    x = np.zeros((20000, 784), np.uint8)  # 15.7 MB; as float32 it would be 63 MB
    loader = DataLoader(x, np.zeros(20000, np.int64), 100, seed=0)
    tracemalloc.start()
    for _ in loader:
        pass
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 2_000_000


@pytest.mark.parametrize("kwargs, error, match", [
    (dict(batch_size=0), ValueError, "batch_size"),
    (dict(batch_size=2.0), ValueError, "batch_size"),
    (dict(batch_size=True), ValueError, "batch_size"),
    (dict(y=np.arange(9)), ShapeError, r"\(10, 4, 4\).*\(9,\)"),
    (dict(shape=(15,)), ShapeError, "reshape"),
    (dict(mean=np.zeros(3)), ShapeError, "mean"),
    (dict(std=0.0), SettingError, "std must be finite and > 0, got 1 value"),
    (dict(std=np.nan), SettingError, "std must be finite and > 0"),
    (dict(std=np.inf), SettingError, "std must be finite and > 0"),
    (dict(mean=np.nan), SettingError, "mean must be finite, got 1 value"),
    (dict(std=np.pad(np.ones((2, 2)), 1)), SettingError,     # a per-pixel std, zero at the border
     r"std must be finite and > 0, got 12 value\(s\) that are not, such as 0.0$"),
    (dict(mean=33.3, std=78.5), SettingError,                # x_train.mean(): in pixel units
     r"uint8 images are divided by 255 .* got mean 33.3, std 78.5"),
    (dict(std=np.full((4, 4), 60.0)), SettingError, r"got mean 0, std 60"),
    (dict(shape=784), ShapeError, r"samples of shape \(4, 4\) to \(784,\)"),   # an int: fine
    (dict(augment=random_shift), SettingError, r"such as random_shift\(2\) \(called\)"),
    (dict(augment="shift"), SettingError, r"augment must be a function"),
    (dict(seed=-1), SettingError, r"seed must be an int >= 0, got -1"),
    (dict(seed=0.5), SettingError, r"seed must be an int >= 0, got 0.5"),
    (dict(seed=True), SettingError, r"seed must be an int >= 0, got True \(a bool\)"),
    (dict(seed=(1, 2)), SettingError, r"must be an int >= 0, got \(1, 2\)"),   # were taken
    (dict(seed=np.random.default_rng(0)), SettingError,      # the caller's, rewound by the loader
     r"seed must be None or an int >= 0, not a Generator, which would be the caller's own"),
    (dict(shape=(4.7, 4)), SettingError, r"shape must be a tuple of ints .* got \(4.7, 4\)"),
    (dict(shape="16"), SettingError, r"shape must be a tuple of ints"),
    (dict(shape=(-1,)), SettingError,          # "cannot reshape to (-1,)", which NumPy can
     r"shape must give every size, ints >= 1, got \(-1,\); for these samples of shape "
     r"\(4, 4\): \(16,\) flat, or \(1, 4, 4\) with a channel axis in front"),
    (dict(x=np.array(["a"] * 10)), ShapeError, "dtype"),
])
def test_validation(kwargs, error, match):
    x, y = images(10)
    args = dict(x=x, y=y, batch_size=3) | kwargs
    with pytest.raises(error, match=match):
        DataLoader(**args)


@pytest.mark.parametrize("other", [dict(batch_size=5), dict(n=9), dict(drop_last=True),
                                   dict(shuffle=False)])
def test_a_state_from_another_kind_of_loader_is_refused(other):
    """A state saved between epochs (position 0) used to fit any loader at all."""
    other = dict(other)                                     # the parameter is shared
    x, y = images(other.pop("n", 10))
    source = DataLoader(*images(10), 3, seed=0)
    list(source)                                            # between epochs: position 0
    loader = DataLoader(x, y, **({"batch_size": 3, "seed": 0} | other))
    before = loader.state_dict()
    with pytest.raises(SettingError, match=r"the state is from a loader with .*this one has"):
        loader.load_state_dict(source.state_dict())
    assert loader.state_dict() == before


def test_a_state_saved_before_loaders_recorded_their_batches_still_loads():
    loader = DataLoader(*images(10), 3, seed=0)
    next(iter(loader))
    old = {k: v for k, v in loader.state_dict().items() if k != "batches"}
    fresh = DataLoader(*images(10), 3, seed=0)
    fresh.load_state_dict(old)
    assert epoch_labels(fresh) == epoch_labels(loader)


def test_numpy_flags_keep_the_state_json():
    """shuffle=np.bool_(True) made every checkpoint fail: numpy bools are not JSON."""
    loader = DataLoader(*images(10), 3, shuffle=np.bool_(True), drop_last=np.bool_(False))
    json.dumps(loader.state_dict())


@pytest.mark.parametrize("stop_after", [0, 1, 3, 4])
def test_resume_mid_epoch_gives_same_batches(stop_after):
    x, y = images(10)
    original = DataLoader(x, y, 3, seed=5)
    epoch_labels(original)  # one full epoch first
    it = iter(original)
    for _ in range(stop_after):
        next(it)
    state = json.loads(json.dumps(original.state_dict()))  # survives JSON
    expected = [yb.tolist() for _, yb in it] + epoch_labels(original)

    resumed = DataLoader(x, y, 3, seed=999)
    resumed.load_state_dict(state)
    done = stop_after == 4    # taking an epoch's last batch completes the epoch
    assert resumed.epoch == (2 if done else 1)
    rest = [] if done else epoch_labels(resumed)
    assert rest + epoch_labels(resumed) == expected
    assert resumed.epoch == original.epoch == 3


@pytest.mark.parametrize("position, drop_last", [(11, False), (10, False), (4, False),
                                                 (-3, False), (9, True)])
def test_load_state_dict_rejects_a_position_no_batch_starts_at(position, drop_last):
    """From such a position the loader would yield nothing, or batches it never yields."""
    x, y = images(10)
    loader = DataLoader(x, y, 3, drop_last=drop_last)
    state = loader.state_dict() | {"position": position}
    with pytest.raises(SettingError, match=rf"position {position} is not where a batch .*"
                                           rf"multiple of 3 below {9 if drop_last else 10}"):
        loader.load_state_dict(state)
    loader.load_state_dict(loader.state_dict() | {"position": 6})     # a real one: fine


def test_real_mnist_batches(mnist):
    loader = DataLoader(mnist.x_train, mnist.y_train, 64, seed=0, shape=(1, 28, 28))
    assert len(loader) == 938
    xb, yb = next(iter(loader))
    assert xb.shape == (64, 1, 28, 28) and xb.dtype == np.float32
    assert 0 <= xb.min() and xb.max() <= 1 and yb.dtype == np.int64


def test_random_shift_moves_each_image_without_changing_it():
    from minidl.data import random_shift
    x = np.zeros((50, 1, 9, 9), np.float32)
    x[:, 0, 4, 4] = 1.0                                  # one bright pixel in the middle
    out = random_shift(2)(x, np.random.default_rng(0))
    assert out.shape == x.shape and out.sum() == 50      # nothing lost, nothing added
    where = np.argwhere(out[:, 0] == 1)[:, 1:]
    assert np.all(np.abs(where - 4) <= 2)
    assert len({tuple(w) for w in where}) > 10           # offsets differ between images
    with pytest.raises(ValueError):
        random_shift(0)


def test_augmented_batches_repeat_and_resume_exactly():
    from minidl.data import random_shift
    x, y = images(10)

    def batches(loader, k=None):
        out = []
        for xb, _ in loader:
            out.append(xb.copy())
            if k is not None and len(out) == k:
                break
        return out

    a = DataLoader(x, y, 3, seed=4, augment=random_shift(1))
    b = DataLoader(x, y, 3, seed=4, augment=random_shift(1))
    first, again = batches(a), batches(b)
    assert all(np.array_equal(u, v) for u, v in zip(first, again))
    plain = batches(DataLoader(x, y, 3, seed=4))
    assert not all(np.array_equal(u, v) for u, v in zip(first, plain))   # it did shift

    c = DataLoader(x, y, 3, seed=4, augment=random_shift(1))
    batches(c, 2)                                        # stop mid-epoch 0...
    d = DataLoader(x, y, 3, seed=99, augment=random_shift(1))
    d.load_state_dict(c.state_dict())
    assert all(np.array_equal(u, v) for u, v in zip(batches(d), first[2:]))


def test_shape_may_be_an_int_and_pixel_statistics_of_float_data_are_allowed():
    """shape=16 is (16,), as summary() takes it; float data are not divided by 255,
    so their mean and std may be anything."""
    x, y = images(10)
    xb, _ = DataLoader(x, y, 3, shape=16, shuffle=False).batch(np.arange(3))
    assert xb.shape == (3, 16)
    floats = x.astype(np.float32)
    xb, _ = DataLoader(floats, y, 3, mean=33.3, std=78.5, shuffle=False).batch(np.arange(3))
    np.testing.assert_allclose(xb, (floats[:3] - np.float32(33.3)) / np.float32(78.5),
                               rtol=1e-6)


def test_float_pixels_with_statistics_of_scaled_data_get_a_warning():
    """Float 0..255 images are not divided by 255 (only uint8 ones are), so with
    MNIST's mean and std the batches reached about 800 and training went nowhere."""
    x, y = images(10)
    pixels = x.astype(np.float32)
    for dtype in (np.float32, np.int64, np.uint16):
        with pytest.warns(UserWarning, match=rf"x \({np.dtype(dtype)}\) holds values from \d+ to "
                                             r"\d+, .* the batches will reach \d+\. If x holds "
                                             r"0..255 pixels, divide it by 255 first"):
            DataLoader(pixels.astype(dtype), y, 3, mean=0.1307, std=0.3081)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        DataLoader(pixels / 255, y, 3, mean=0.1307, std=0.3081)       # scaled: fine
        DataLoader(pixels, y, 3, mean=33.3, std=78.5)                  # in its own units
        DataLoader(np.linspace(-4, 5, 160).reshape(10, 16), y, 3, mean=0.0, std=1.0)
        outlier = np.linspace(-4, 25, 160).reshape(10, 16)            # standardized, heavy tail
        DataLoader(outlier, y, 3, mean=0.0, std=1.0)
        small = np.arange(160, dtype=np.uint16).reshape(10, 16) % 3 + 1   # 1..3: -min wrapped
        DataLoader(small, y, 3, mean=0, std=0.8)


def test_pixels_in_the_wrong_units_get_a_warning():
    """Float 0..255 pixels without mean and std trained a plain MLP to 12.6% test
    accuracy, and x / 255 standardized with the raw pixels' mean and std (33.3, 78.6)
    put every value near -0.4 (a BN net: 84.6% on training batches, 13.2% on test)."""
    x, y = images(10)
    pixels = x.astype(np.float32)
    with pytest.warns(UserWarning, match=r"x \(float32\) holds values from \d+ to \d+ and no "
                                         r"std is given.*divide it by 255 first"):
        DataLoader(pixels, y, 3)
    with pytest.warns(UserWarning, match=r"x holds values from 0 to 1, but mean and std look "
                                         r"like those of 0..255 pixels \(mean 33.3, std 78.6\)"):
        DataLoader(pixels / pixels.max(), y, 3, mean=33.3, std=78.6)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        DataLoader(x, y, 3)                                      # uint8: divided for you
        DataLoader(pixels / 255, y, 3)                           # scaled, not standardized
        DataLoader(pixels, y, 3, mean=33.3, std=78.6)            # in its own units
        DataLoader(np.linspace(0, 1, 160).reshape(10, 16), y, 3, mean=0.5, std=0.3)


def test_a_loader_prints_what_it_yields():
    x, y = np.zeros((130, 28, 28), np.uint8), np.zeros(130, np.int64)
    loader = DataLoader(x, y, 64, seed=0, mean=0.1307, std=0.3081, shape=(1, 28, 28),
                        augment=random_shift(2))
    assert repr(loader) == ("DataLoader(130 samples of shape (28, 28) uint8, batch_size=64, "
                            "shuffle=True, drop_last=False: 3 batches per epoch; standardized, "
                            "reshaped to (1, 28, 28), augmented; 0 epochs done)")
    list(loader)
    plain = DataLoader(x, y, 64, shuffle=False, drop_last=True)
    assert repr(loader).endswith("; 1 epoch done)")
    assert repr(plain) == ("DataLoader(130 samples of shape (28, 28) uint8, batch_size=64, "
                           "shuffle=False, drop_last=True: 2 batches per epoch; 0 epochs done)")



def test_a_shape_that_reorders_the_axes_is_refused():
    """shape=(3, 32, 32) for channels-last (32, 32, 3) images was a reshape: every
    image scrambled, silently. Axes of size 1 may move: (28, 28) as (1, 28, 28)."""
    x, y = np.zeros((4, 32, 32, 3), np.uint8), np.zeros(4, np.int64)
    with pytest.raises(ShapeError, match=r"shape=\(3, 32, 32\) puts the axes of samples of shape "
                                         r"\(32, 32, 3\) in another order, .* x\.transpose\(0, 3, "
                                         r"1, 2\), and leave out shape="):
        DataLoader(x, y, 2, shape=(3, 32, 32))
    xb, _ = next(iter(DataLoader(x.transpose(0, 3, 1, 2), y, 2)))
    assert xb.shape == (2, 3, 32, 32)
    for sample, shape in (((28, 28), (1, 28, 28)), ((28, 28), (784,)), ((1, 784), (784, 1))):
        DataLoader(np.zeros((4, *sample), np.uint8), y, 2, shape=shape)
