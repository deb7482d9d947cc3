"""minidl.heap.warm_heap: a CNN's first epoch without a page fault per step."""
import os
import platform
import subprocess
import sys
import types

import numpy as np
import pytest

from conftest import REPO
from minidl import heap, train
from minidl.losses import SoftmaxCrossEntropy


def test_warm_heap_frees_one_block_of_32_mib_once_per_process(monkeypatch):
    calls = []
    monkeypatch.setattr(heap, "_warmed", False)
    monkeypatch.setattr(heap, "np", types.SimpleNamespace(
        uint8=np.uint8, empty=lambda n, dtype: calls.append((n, dtype))))
    heap.warm_heap()
    heap.warm_heap()
    assert calls == [(32 * 2**20 - 8192, np.uint8)]


def test_every_fit_calls_it(monkeypatch):
    from test_train import setup
    calls = []
    monkeypatch.setattr(train, "warm_heap", lambda: calls.append(1))
    model, opt, loader, _ = setup()
    trainer = train.Trainer(model, SoftmaxCrossEntropy(), opt, loader, progress=False)
    trainer.fit(steps=2)
    trainer.fit(steps=3)
    assert calls == [1, 1]


STEPS = """
import resource, statistics, sys
import numpy as np
import minidl.heap
from minidl.callbacks import Callback
from minidl.data import DataLoader
from minidl.losses import SoftmaxCrossEntropy
from minidl.models import cnn
from minidl.optim import SGD
from minidl.train import Trainer

if sys.argv[1] == "cold":
    minidl.heap._warmed = True             # fit() then leaves the heap as it is
faults = []

class Faults(Callback):
    def on_step_end(self, trainer):
        faults.append(resource.getrusage(resource.RUSAGE_SELF).ru_minflt)

rng = np.random.default_rng(0)
x, y = rng.random((64 * 20, 1, 28, 28), dtype=np.float32), rng.integers(0, 10, 64 * 20)
model = cnn(batchnorm=True)
Trainer(model, SoftmaxCrossEntropy(), SGD(model.parameters(), lr=0.01),
        DataLoader(x, y, 64, seed=0), callbacks=[Faults()], progress=False).fit(steps=20)
print(statistics.median(np.diff(faults[5:])))
"""


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="the thresholds are glibc's")
@pytest.mark.skipif(any(k.startswith("MALLOC_") for k in os.environ),
                    reason="MALLOC_* variables set the thresholds themselves")
def test_a_bn_cnns_first_epoch_steps_take_no_page_faults():
    """In a fresh process, as a user's run: 20 steps of the BN CNN at batch 64
    (no batch of another size, so nothing else raises the thresholds)."""
    def faults_per_step(mode):
        out = subprocess.run([sys.executable, "-c", STEPS, mode], capture_output=True,
                             text=True, cwd=REPO, timeout=300, check=True).stdout
        return float(out.split()[-1])
    assert faults_per_step("warm") < 50
    assert faults_per_step("cold") > 1000      # what warm_heap() is there for
