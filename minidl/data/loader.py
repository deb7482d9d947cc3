"""Mini-batches for training: shuffle, scale to [0, 1], standardize, reshape.

    loader = DataLoader(data.x_train, data.y_train, batch_size=64, seed=0,
                        shape=(784,))            # (B, 784) for an MLP
    for epoch in range(10):
        for xb, yb in loader:                    # xb (64, 784) float32, yb (64,)
            ...

Only the current batch is converted to float32 (or the loader's dtype); the
uint8 data set is never copied as a whole.

Resuming. The loader remembers where it is: `epoch` (epochs completed), the
position inside the current epoch, and its random generator's state.
state_dict() returns these as plain Python values (JSON-friendly); a new
loader on the same data given load_state_dict(d) yields exactly the batches
the original would have yielded next, even mid-epoch. The current epoch's
permutation is not stored: the generator state from the start of the epoch is,
and the permutation is drawn again from it.

An epoch counts as completed (`epoch` goes up) as soon as its last batch is
taken, so a state saved right after the last step of an epoch says "between
epochs". Consequently `for xb, yb in loader` continues an epoch that was left early
(by `break` or `next(iter(loader))`) instead of starting a fresh one. Use one
iteration at a time.
"""

import copy
import math
import warnings

import numpy as np

from ..errors import SettingError, ShapeError, check_dtype, check_int, user_stacklevel
from .augment import random_shift


def _reorders(sample, shape):
    """Whether `shape` has the sizes of `sample` in another order ((32, 32, 3) as
    (3, 32, 32)); axes of size 1 move nothing and are left out."""
    a, b = [d for d in sample if d != 1], [d for d in shape if d != 1]
    return sorted(a) == sorted(b) and a != b


class DataLoader:
    """Iterate over (x, y) in mini-batches of `batch_size`.

    x: (N, ...) uint8 images (scaled by 1/255) or numbers (cast to dtype)
    y: (N, ...) targets, yielded unchanged (e.g. int64 labels)
    shuffle: new random order every epoch, from np.random.default_rng(seed)
    drop_last: skip the last batch if it has fewer than batch_size samples
    mean, std: if given, xb = (xb - mean) / std after scaling; scalars or
        arrays broadcastable to one sample, x.shape[1:]; for images (N, C, H,
        W) also one value per channel, x.mean(axis=(0, 2, 3)) with or without
        keepdims=True (for uint8 images, of x / 255)
    shape: if given, each xb is reshaped to (B, *shape), e.g. (784,) or
        (1, 28, 28)
    augment: if given, a function (xb, rng) -> xb applied to each batch after
        scaling to [0, 1], e.g. minidl.data.random_shift(2). Its rng is seeded
        from (seed, epoch, batch position), so runs repeat and resume exactly.
    dtype: of xb, float32 (the models' default) or float64 (a model built with
        dtype="float64" or converted with model.astype(np.float64))

    Yields xb of dtype (B, *x.shape[1:]) or (B, *shape), and yb (B, ...).
    """

    def __init__(self, x, y, batch_size, shuffle=True, seed=None, drop_last=False,
                 mean=None, std=None, shape=None, augment=None, dtype=np.float32):
        x, y = np.asarray(x), np.asarray(y)
        self.dtype = check_dtype("DataLoader", dtype)
        batch_size = check_int("DataLoader", "batch_size", batch_size)
        if x.ndim < 1 or y.ndim < 1 or len(x) != len(y):
            raise ShapeError(f"DataLoader: x and y need the same number of samples (first axis), "
                             f"got x {x.shape} and y {y.shape}")
        if len(x) == 0:
            raise ShapeError("DataLoader: x and y are empty")
        if drop_last and len(x) < batch_size:
            raise SettingError(f"DataLoader: drop_last=True with {len(x)} samples and batch_size "
                               f"{batch_size} leaves no batch at all; use a batch size of at "
                               f"most {len(x)} or drop_last=False")
        if not (np.issubdtype(x.dtype, np.integer) or np.issubdtype(x.dtype, np.floating)):
            raise ShapeError(f"DataLoader: x must hold integers or floats, got dtype {x.dtype}")
        self.x, self.y = x, y
        self.batch_size = batch_size
        self.shuffle, self.drop_last = bool(shuffle), bool(drop_last)   # JSON in checkpoints
        self.mean = self._per_sample("mean", mean)
        self.std = self._per_sample("std", std)
        self._check_standardization()
        shape = (shape,) if np.ndim(shape) == 0 and shape is not None else shape
        if shape is not None and (isinstance(shape, str) or not all(
                isinstance(s, (int, np.integer)) and not isinstance(s, bool) for s in shape)):
            raise SettingError(f"DataLoader: shape must be a tuple of ints such as (784,) or "
                               f"(1, 28, 28), got {shape!r}")     # int() truncated 4.7 to 4
        self.shape = None if shape is None else tuple(int(s) for s in shape)
        if self.shape is not None and min(self.shape, default=1) < 1:   # -1: NumPy's "the rest"
            raise SettingError(f"DataLoader: shape must give every size, ints >= 1, got "
                               f"{self.shape}; for these samples of shape {x.shape[1:]}: "
                               f"({math.prod(x.shape[1:])},) flat, or {(1, *x.shape[1:])} "
                               "with a channel axis in front")
        if self.shape is not None and math.prod(self.shape) != math.prod(x.shape[1:]):
            raise ShapeError(f"DataLoader: cannot reshape samples of shape {x.shape[1:]} "
                             f"to {self.shape}")
        if self.shape is not None and _reorders(x.shape[1:], self.shape):
            last = len(x.shape) - 1
            raise ShapeError(f"DataLoader: shape={self.shape} puts the axes of samples of shape "
                             f"{x.shape[1:]} in another order, which a reshape cannot do: it "
                             "would scramble every image. For channels-last images, "
                             f"transpose them first, x.transpose(0, {last}, "
                             f"{', '.join(map(str, range(1, last)))}), and leave out shape=")
        if isinstance(seed, np.random.Generator):   # it would be the caller's own, rewound
            raise SettingError("DataLoader: seed must be None or an int >= 0, not a Generator, "
                               "which would be the caller's own, rewound whenever an epoch "
                               "starts again")
        if seed is not None:
            check_int("DataLoader", "seed", seed, 0)
        self.rng = np.random.default_rng(seed)
        if augment is not None and (not callable(augment) or augment is random_shift):
            raise SettingError(f"DataLoader: augment must be a function (xb, rng) -> xb, such "
                               f"as random_shift(2) (called), got {augment!r}")
        self.augment = augment
        self._augment_seed = int(np.random.default_rng(seed).integers(2**63)) if augment else 0
        self.epoch = 0          # epochs completed
        self._position = 0      # samples already yielded in the current epoch
        self._epoch_start = None  # rng state when the current epoch began

    def _per_sample(self, name, value):
        """value in the loader's dtype, shaped to broadcast to one sample (x.shape[1:]).
        For images (N, C, H, W), one value per channel may be given as x.mean(axis=(0,
        2, 3)) gives it, (C,), or with keepdims=True, (1, C, 1, 1): both become (C, 1, 1);
        a leading axis of 1 (keepdims over the samples) is dropped."""
        if value is None:
            return None
        value = np.asarray(value, dtype=self.dtype)
        sample = self.x.shape[1:]
        channels = (sample[0], 1, 1) if len(sample) == 3 else None
        if value.ndim == len(sample) + 1 and value.shape[:1] == (1,):    # keepdims=True
            value = value[0]
        if len(sample) == 3 and value.shape == (sample[0],):          # one per channel
            if sample[-1] == sample[0]:     # would broadcast over the last axis instead
                raise ShapeError(f"DataLoader: a {name} of shape {value.shape} for samples of "
                                 f"shape {sample} could mean one value per channel or one per "
                                 f"column; give it as {channels} (per channel) or "
                                 f"(1, 1, {sample[-1]}) (per column)")
            value = value.reshape(channels)
        try:
            ok = np.broadcast_shapes(value.shape, sample) == sample
        except ValueError:
            ok = False
        if not ok:
            per_channel = (f", or for images one per channel: ({sample[0]},), as "
                           f"x.mean(axis=(0, 2, 3)) gives it" if len(sample) == 3 else "")
            raise ShapeError(f"DataLoader: {name} of shape {value.shape} does not broadcast "
                             f"to one sample of shape {sample}; give one number, one value "
                             f"per entry of a sample{per_channel}")
        return value

    def _check_standardization(self):
        """std finite and positive, mean finite; for uint8 images both in the units
        of x / 255, which is what they are applied to."""
        for name, v, ok, what in (("std", self.std, lambda v: np.isfinite(v) & (v > 0),
                                   "finite and > 0"), ("mean", self.mean, np.isfinite, "finite")):
            if v is not None and not np.all(ok(v)):
                bad = v[~ok(v)]                      # a per-pixel std names only its bad values
                raise SettingError(f"DataLoader: {name} must be {what}, got {bad.size} value(s) "
                                   f"that are not, such as {bad.flat[0]}")
        mean = 0.0 if self.mean is None else float(np.max(np.abs(self.mean)))
        std = 0.0 if self.std is None else float(np.max(self.std))
        if self.x.dtype == np.uint8 and (mean > 1 or std > 1):      # pixel units, 0..255
            raise SettingError(
                "DataLoader: uint8 images are divided by 255 before mean and std apply, so "
                "these must be those of x / 255 (MNIST: mean 0.1307, std 0.3081); got "
                f"mean {mean:g}, std {std:g} (largest values), in the units of 0..255?")
        if self.x.dtype == np.uint8 or self.x.size == 0:
            return
        low, top = float(self.x.min()), float(self.x.max())       # two passes, here only
        pixels = low >= 0 and 20 < top <= 255       # like 0..255 pixels, which only uint8 are
        if pixels and self.std is None:             # divided by 255
            self._warn(f"x ({self.x.dtype}) holds values from {low:g} to {top:g} and no std "
                       "is given, so the batches reach them: if x holds 0..255 pixels, divide "
                       "it by 255 first (only uint8 images are divided for you)")
        elif pixels and mean <= 1 and std <= 1:
            self._warn(f"x ({self.x.dtype}) holds values from {low:g} to {top:g}, and mean "
                       f"and std look like those of [0, 1] data (std {std:g}): the batches "
                       f"will reach {top / std:.0f}. If x holds 0..255 pixels, divide it by "
                       "255 first (only uint8 images are divided for you), or give mean and "
                       "std in the units of x")
        elif low >= 0 and top <= 1 and (mean > 1 or std > 1):
            self._warn(f"x holds values from {low:g} to {top:g}, but mean and std look like "
                       f"those of 0..255 pixels (mean {mean:g}, std {std:g}): standardized, "
                       "every value lands near -mean/std. Give the mean and std of x itself "
                       "(MNIST scaled to [0, 1]: 0.1307 and 0.3081)")

    @staticmethod
    def _warn(message):
        warnings.warn(f"DataLoader: {message}", stacklevel=user_stacklevel())

    def __len__(self):
        """Number of batches per epoch."""
        n = len(self.x)
        return n // self.batch_size if self.drop_last else math.ceil(n / self.batch_size)

    def __repr__(self):
        steps = ["standardized" if self.mean is not None or self.std is not None else "",
                 f"reshaped to {self.shape}" if self.shape else "",
                 "augmented" if self.augment else "",
                 f"as {self.dtype}" if self.dtype != np.float32 else ""]
        done = ", ".join(s for s in steps if s)
        return (f"DataLoader({len(self.x)} samples of shape {self.x.shape[1:]} {self.x.dtype}, "
                f"batch_size={self.batch_size}, shuffle={self.shuffle}, "
                f"drop_last={self.drop_last}: {len(self)} batches per epoch"
                f"{'; ' + done if done else ''}; {self.epoch} epoch{'s' * (self.epoch != 1)} done)")

    def _end(self):
        """Samples an epoch yields: all of them, or with drop_last only whole batches."""
        n = len(self.x)
        return n - n % self.batch_size if self.drop_last else n

    def __iter__(self):
        n, b = len(self.x), self.batch_size
        if self._epoch_start is None:  # no epoch in progress: begin one
            self._epoch_start = self.rng.bit_generator.state
            self._position = 0
        # (Re)draw this epoch's order from the state at its start.
        self.rng.bit_generator.state = self._epoch_start
        order = self.rng.permutation(n) if self.shuffle else np.arange(n)
        last = self._end()
        for start in range(self._position, last, b):
            index = order[start:start + b]
            rng = np.random.default_rng((self._augment_seed, self.epoch, start)) \
                if self.augment else None
            if start + b >= last:   # the epoch's last batch: the epoch is done once it is taken
                self.epoch, self._epoch_start, self._position = self.epoch + 1, None, 0
            else:
                self._position = start + b
            yield self.batch(index, rng)

    def in_order(self):
        """Every sample once, in order, in batches of batch_size (the last may be
        smaller, even with drop_last), without augmentation; the loader's position
        and random state are untouched. What evaluation needs."""
        n, b = len(self.x), self.batch_size
        for start in range(0, n, b):
            yield self.batch(np.arange(start, min(start + b, n)))

    def batch(self, index, rng=None):
        """Samples x[index], y[index] as one batch (xb, yb), converted as every
        batch of this loader is (dtype, /255 for uint8, mean, std, shape). The
        augmentation runs only when an rng is given, as iteration does. index:
        an array of indices, a slice, or one index (a batch of one)."""
        if isinstance(index, (int, np.integer)):
            index = [index]
        xb = np.array(self.x[index], dtype=self.dtype)   # always a copy: x is never written
        if self.x.dtype == np.uint8:
            xb /= 255
        if self.augment is not None and rng is not None:
            xb = self.augment(xb, rng)
        if self.mean is not None:
            xb -= self.mean
        if self.std is not None:
            xb /= self.std
        if self.shape is not None:
            xb = xb.reshape(len(xb), *self.shape)
        return xb, self.y[index]

    def state_dict(self):
        """Where the loader is: {"epoch", "position", "rng_state", "augment_seed",
        "batches"}.

        rng_state is the generator state at the start of the current epoch
        (or the current state between epochs); position counts the samples
        of that epoch already yielded; augment_seed seeds the augmentation;
        batches (number of samples, batch size, drop_last, shuffle) is what a
        loader must agree with to load the state.
        """
        state = self._epoch_start if self._epoch_start is not None \
            else self.rng.bit_generator.state
        return {"epoch": self.epoch, "position": self._position,
                "rng_state": copy.deepcopy(state), "augment_seed": self._augment_seed,
                "batches": self._shape_of_epochs()}

    def _shape_of_epochs(self):
        """What makes the batches of an epoch: a state fits only a loader that agrees."""
        return {"samples": len(self.x), "batch_size": self.batch_size,
                "drop_last": self.drop_last, "shuffle": self.shuffle}

    def load_state_dict(self, d):
        """Continue from a state_dict() of a loader over the same data. All of d
        is checked before anything changes: on an error the loader is as it was."""
        position, epoch, b, last = int(d["position"]), int(d["epoch"]), self.batch_size, self._end()
        mine = self._shape_of_epochs()
        saved = d.get("batches", mine)                        # older states lack it
        if saved != mine:
            raise SettingError(f"DataLoader.load_state_dict: the state is from a loader with "
                               f"{saved}, this one has {mine}")
        if position % b or not 0 <= position < last:      # from it no batch would come
            raise SettingError(f"DataLoader.load_state_dict: position {position} is not where a "
                               f"batch of this loader starts (a multiple of {b} below {last}); "
                               "the state is from another loader")
        rng = np.random.default_rng()
        rng.bit_generator.state = copy.deepcopy(d["rng_state"])   # raises if it is not one
        augment_seed = int(d.get("augment_seed", self._augment_seed))
        self.rng, self.epoch, self._position = rng, epoch, position
        self._augment_seed = augment_seed
        self._epoch_start = rng.bit_generator.state if position > 0 else None
