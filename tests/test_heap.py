"""minidl.heap.warm_heap: a CNN's first epoch without a page fault per step."""
import json
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
    from test_train import training_setup as setup
    calls = []
    monkeypatch.setattr(train, "warm_heap", lambda: calls.append(1))
    model, opt, loader, _ = setup()
    trainer = train.Trainer(model, SoftmaxCrossEntropy(), opt, loader, progress=False)
    trainer.fit(steps=2)
    trainer.fit(steps=3)
    assert calls == [1, 1]


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
    """In a fresh process, as a user's run (benchmarks/first_epoch.py, a Trainer):
    a first epoch of 20 steps of the BN CNN at batch 64 and no evaluation, so no
    batch of another size raises the thresholds; its last 10 steps' faults."""
    def faults_per_step(*options):
        out = subprocess.run([sys.executable, str(REPO / "benchmarks" / "first_epoch.py"),
                              "--samples", "1280", "--after", "2", "--no-eval", *options],
                             capture_output=True, text=True, cwd=REPO, timeout=300, check=True)
        first = json.loads(out.stdout.splitlines()[0])
        assert first["phase"] == "first epoch" and first["steps"] == 10
        return first["faults_per_step"]
    cold = faults_per_step("--cold-heap")
    if cold < 1000:     # a malloc that keeps the memory anyway (huge pages, say): nothing to fix
        pytest.skip(f"without warm_heap() a step took only {cold:.0f} page faults here")
    assert faults_per_step() < 50
