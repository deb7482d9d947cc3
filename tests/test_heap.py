"""minidl.heap.warm_heap: a CNN's first epoch without a page fault per step."""
import os
import subprocess
import sys
import types

import numpy as np
import pytest

from conftest import REPO
from minidl import heap, train
from minidl.losses import SoftmaxCrossEntropy


def fake_numpy(monkeypatch, calls, fail=False):
    def empty(n, dtype):
        calls.append((n, dtype))
        if fail:
            raise MemoryError
    monkeypatch.setattr(heap, "_warmed", False)              # as in a fresh process
    monkeypatch.setattr(heap, "np", types.SimpleNamespace(uint8=np.uint8, empty=empty))


def test_warm_heap_frees_one_block_of_32_mib_once_per_process(monkeypatch):
    calls = []
    fake_numpy(monkeypatch, calls)
    heap.warm_heap()
    heap.warm_heap()
    assert calls == [(32 * 2**20 - 8192, np.uint8)]           # on 64-bit systems


def test_warm_heap_can_be_switched_off_and_survives_a_memory_limit(monkeypatch):
    calls = []
    fake_numpy(monkeypatch, calls)
    monkeypatch.setattr(heap, "ENABLED", False)
    heap.warm_heap()
    assert calls == []
    monkeypatch.setattr(heap, "ENABLED", True)
    fake_numpy(monkeypatch, calls, fail=True)
    heap.warm_heap()                                          # no MemoryError out of fit()
    assert len(calls) == 1


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

minidl.heap.ENABLED = sys.argv[1] == "warm"
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


def glibc():
    try:
        return os.confstr("CS_GNU_LIBC_VERSION") is not None
    except (AttributeError, ValueError, OSError):            # not a glibc system
        return False


# thresholds set by hand: glibc then stops adapting them, and warm_heap() changes nothing
BY_HAND = [k for k in ("MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_", "MALLOC_TOP_PAD_",
                       "MALLOC_MMAP_MAX_") if k in os.environ]
BY_HAND += ["GLIBC_TUNABLES"] if "glibc.malloc" in os.environ.get("GLIBC_TUNABLES", "") else []


@pytest.mark.skipif(not glibc(), reason="the thresholds are glibc's")
@pytest.mark.skipif(bool(BY_HAND), reason=f"malloc's thresholds set by hand: {BY_HAND}")
def test_a_bn_cnns_first_epoch_steps_take_no_page_faults():
    """In a fresh process, as a user's run: 20 steps of the BN CNN at batch 64
    (no batch of another size, so nothing else raises the thresholds)."""
    def faults_per_step(mode):
        out = subprocess.run([sys.executable, "-c", STEPS, mode], capture_output=True,
                             text=True, cwd=REPO, timeout=300, check=True).stdout
        return float(out.split()[-1])
    cold = faults_per_step("cold")
    if cold < 1000:     # a malloc that keeps the memory anyway (huge pages, say): nothing to fix
        pytest.skip(f"without warm_heap() a step took only {cold:.0f} page faults here")
    assert faults_per_step("warm") < 50
