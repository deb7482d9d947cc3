"""compare_bn.py's bookkeeping: proof that both nets saw the same batches and
started from the same weights, the median step time, and where Figure 1's
activations are recorded."""
import hashlib
import time

import numpy as np

from minidl.callbacks import Callback
from minidl.layers import ReLU, Sigmoid, Tanh


class LabelDigest:
    """Wraps a training loader and hashes the labels of every batch it yields,
    in order, so two runs can prove they saw the same batches."""

    def __init__(self, loader):
        self.loader, self.sha, self.batches = loader, hashlib.sha256(), 0

    def __iter__(self):
        for xb, yb in self.loader:
            self.sha.update(np.ascontiguousarray(yb).tobytes())
            self.batches += 1
            yield xb, yb

    def __len__(self):
        return len(self.loader)

    def __getattr__(self, name):         # epoch, state_dict(), ... of the loader
        return getattr(self.loader, name)


def weights_digest(model):
    """A short hash of all weight matrices W (not biases, not BN's gamma/beta)."""
    sha = hashlib.sha256()
    for p in model.parameters():
        if p.key == "W":
            sha.update(p.value.tobytes())
    return sha.hexdigest()[:16]


class StepTimer(Callback):
    """Median wall time of one training step (the median ignores the steps
    that also ran an evaluation or a recording)."""

    def on_train_begin(self, trainer):
        self.last, self.gaps = time.perf_counter(), []

    def on_step_end(self, trainer):
        now = time.perf_counter()
        self.gaps.append(now - self.last)
        self.last = now

    def median_ms(self):
        return round(1000 * float(np.median(self.gaps)), 3) if self.gaps else None


def hidden_activation(model, k=None):
    """Index of the k-th hidden nonlinearity (1 = the first; None = the last), whose
    input Figure 1 follows: BN's output where BN is used."""
    found = [i for i, layer in enumerate(model.layers) if isinstance(layer, (ReLU, Sigmoid, Tanh))]
    return found[-1 if k is None else k - 1]
