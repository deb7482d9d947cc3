"""minidl.profiler: what it times, what it leaves out, and that it changes nothing."""
import copy

import numpy as np
import pytest

from minidl import profiler
from minidl.data import DataLoader
from minidl.errors import SettingError
from minidl.layers import Dense, Flatten, ReLU
from minidl.layers.base import Layer
from minidl.losses import SoftmaxCrossEntropy
from minidl.model import Sequential
from minidl.models import mlp
from minidl.optim import SGD
from minidl.profiler import Profiler
from minidl.train import Trainer


US = 1e-6


class FakeClock:
    """Seconds that pass only when a fake part of the step says so."""

    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


class Tick(Layer):
    """Passes x and dy through; its forward takes `fwd` microseconds of the fake
    clock, its backward `bwd`, both `slow` times as long while `slow` is set."""

    def __init__(self, clock, fwd, bwd):
        super().__init__()
        self.clock, self.fwd, self.bwd, self.slow = clock, fwd, bwd, 1

    def forward(self, x):
        self.clock.now += self.fwd * self.slow * US
        self._save(x.shape)
        return x

    def backward(self, dy):
        self._saved()
        self.clock.now += self.bwd * self.slow * US
        return dy


class TickLoss:
    def __init__(self, clock):
        self.clock = clock

    def __repr__(self):
        return "TickLoss()"

    def forward(self, logits, y):
        self.clock.now += 7 * US
        return 0.0

    def backward(self):
        self.clock.now += 2 * US
        return np.ones((4, 3), np.float32)


class TickOptimizer:
    def __init__(self, clock):
        self.clock = clock

    def step(self):
        self.clock.now += 11 * US


def fake_run(monkeypatch, skip, steps):
    """`steps` steps of a model of two Tick layers, 4 us of data loading
    each; the first `skip` steps 100 times as slow."""
    clock = FakeClock()
    monkeypatch.setattr(profiler, "clock", clock)
    layers = [Tick(clock, 3, 5), Tick(clock, 1, 13)]
    model, loss, opt = Sequential(*layers), TickLoss(clock), TickOptimizer(clock)
    x = np.zeros((4, 3), np.float32)
    with Profiler(model, loss, opt, skip=skip) as prof:
        for k in range(steps):
            for layer in layers:
                layer.slow = 100 if k < skip else 1
            clock.now += 4 * US                              # the data
            loss.forward(model.forward(x), None)
            model.backward(loss.backward())
            opt.step()
    return prof


def test_each_row_is_the_median_call_and_the_step_runs_from_forward_to_forward(monkeypatch):
    prof = fake_run(monkeypatch, skip=3, steps=10)
    assert prof.steps() == 7
    us = [(name, fwd / US, None if bwd is None else bwd / US) for name, fwd, bwd in prof.rows()]
    assert us == [("0: Tick()", pytest.approx(3), pytest.approx(5)),
                  ("1: Tick()", pytest.approx(1), pytest.approx(13)),
                  ("loss: TickLoss()", pytest.approx(7), pytest.approx(2)),
                  ("TickOptimizer.step", pytest.approx(11), None)]
    assert all(len(times) == 7 for times in prof.calls.values())   # the slow ones skipped
    assert prof.step_seconds() / US == pytest.approx(3 + 5 + 1 + 13 + 7 + 2 + 11 + 4)
    lines = prof.table().splitlines()
    assert lines[0].startswith("median step 46 us over 7 steps (the first 3 not timed)")
    assert lines[3].split() == ["1:", "Tick()", "1.0", "13.0", "14.0", "30.4%"]   # the largest
    assert lines[5].split() == ["loss:", "TickLoss()", "7.0", "2.0", "9.0", "19.6%"]
    assert lines[-1].split()[-2:] == ["4.0", "8.7%"]                 # other: the data


def test_a_step_measured_elsewhere_replaces_the_first_line(monkeypatch):
    prof = fake_run(monkeypatch, skip=0, steps=3)
    lines = prof.table(extra=[("data", 4 * US, None)], step=50 * US).splitlines()
    assert lines[0].split() == ["layer", "fwd", "us", "bwd", "us", "total", "share"]
    assert ["data", "4.0", "-", "4.0", "8.0%"] in [line.split() for line in lines]
    assert lines[-1].split()[-2:] == ["4.0", "8.0%"]                 # 50 - 42 - 4


def test_too_few_steps_is_a_clear_error(monkeypatch):
    prof = fake_run(monkeypatch, skip=10, steps=11)
    with pytest.raises(SettingError, match=r"1 step\(s\) timed, after skipping 10; the step's "
                                           r"time needs two or more"):
        prof.table()


def blobs_loaders(n=240):
    rng = np.random.default_rng(0)
    y = rng.integers(0, 3, n)
    x = rng.standard_normal((n, 8)).astype(np.float32) + 2.5 * np.eye(8, dtype=np.float32)[y]
    return DataLoader(x, y, batch_size=32, seed=0), DataLoader(x, y, batch_size=50, shuffle=False)


def train(profiled, epochs=3, skip=4):
    train_loader, test_loader = blobs_loaders()
    model = mlp(8, [16, 16], 3, batchnorm=True, seed=0)
    opt = SGD(model.parameters(), lr=0.1, momentum=0.9)
    trainer = Trainer(model, SoftmaxCrossEntropy(), opt, train_loader, eval_loader=test_loader,
                      progress=False)
    prof = Profiler(model, trainer.loss_fn, opt, skip=skip)
    if profiled:
        with prof:
            trainer.fit(epochs=epochs)
    else:
        trainer.fit(epochs=epochs)
    return model, prof, trainer


def test_profiling_a_trainer_changes_no_bit_and_times_only_training_steps():
    plain, _, _ = train(profiled=False)
    model, prof, trainer = train(profiled=True)
    for a, b in zip(plain.parameters(), model.parameters()):
        np.testing.assert_array_equal(a.value, b.value)
    for a, b in zip(plain.layers, model.layers):
        for key, value in a.state().items():
            np.testing.assert_array_equal(value, b.state()[key])
    assert trainer.step == 24 and prof.steps() == 20       # 8 batches an epoch, 4 skipped
    timed = {key: len(times) for key, times in prof.calls.items()}
    # the evaluations at each epoch end (5 batches each) are not in it
    assert timed == {key: 20 for key, *_ in prof.targets() if key != "step"}
    assert prof.step_seconds() > 0


def test_the_methods_are_the_classes_again_after_the_block_even_after_an_error():
    model, _, trainer = train(profiled=True, epochs=1)
    opt, loss = trainer.optimizer, trainer.loss_fn
    for obj in (*model.layers, model, opt, loss):
        assert not {"forward", "backward", "step"} & set(vars(obj))
    with pytest.raises(ZeroDivisionError):
        with Profiler(model, loss, opt):
            assert "forward" in vars(model.layers[0])
            1 / 0
    assert not any("forward" in vars(obj) for obj in (*model.layers, model))


def test_a_layer_before_the_first_one_with_parameters_shows_no_backward():
    rng = np.random.default_rng(0)
    model = Sequential(Flatten(), Dense(12, 3, rng=rng), ReLU())
    model.input_grad = False                 # as Trainer sets it: Flatten runs no backward
    loss = SoftmaxCrossEntropy()
    x, y = rng.standard_normal((5, 3, 4)).astype(np.float32), rng.integers(0, 3, 5)
    with Profiler(model, loss, skip=0) as prof:
        for _ in range(3):
            loss.forward(model.forward(x), y)
            model.backward(loss.backward())
    flatten = next(line for line in prof.table().splitlines() if line.startswith("0: Flatten"))
    assert flatten.split()[3] == "-"
    assert prof.rows()[0][2] is None and prof.rows()[1][2] > 0


def test_a_deep_copy_inside_the_block_runs_its_own_layers_untimed():
    """model.summary() and gradcheck copy the model: the copy must run its own
    layers (the original's BN would update its running statistics otherwise),
    and untimed (it would keep its wrappers after the block ends)."""
    model = mlp(8, [16], 3, batchnorm=True, seed=0)
    x = np.random.default_rng(0).standard_normal((6, 8)).astype(np.float32)
    with Profiler(model, skip=0) as prof:
        twin = copy.deepcopy(model)
        twin.forward(x)
        summary = model.summary((8,))
    bn, twin_bn = model.layers[1], twin.layers[1]
    assert bn.num_batches == 0 and twin_bn.num_batches == 1
    np.testing.assert_array_equal(bn.running_mean, np.zeros(16, np.float32))
    assert prof.calls == {} and prof.step_starts == []
    assert "BatchNorm(16" in summary
    for layer in twin.layers:                # its own methods, no longer timed
        assert vars(layer)["forward"].__self__ is layer
        assert not isinstance(vars(layer)["backward"], profiler._Timed)


def test_a_second_profiler_on_the_same_model_is_refused():
    model = mlp(8, [16], 3, seed=0)
    with Profiler(model):
        with pytest.raises(SettingError, match="already being profiled"):
            with Profiler(model):
                pass
        assert isinstance(vars(model.layers[0])["forward"], profiler._Timed)   # still timed
    assert "forward" not in vars(model.layers[0])


@pytest.mark.parametrize("bad, message", [(Dense(2, 2), "must be a Sequential"),
                                          ("model", "must be a Sequential")])
def test_what_is_not_a_sequential_is_refused(bad, message):
    with pytest.raises(SettingError, match=message):
        Profiler(bad)


def test_a_layer_at_two_places_in_the_model_is_refused():
    relu = ReLU()
    model = Sequential(Dense(2, 2), relu, Dense(2, 2))   # Sequential(...) refuses it itself
    model.layers.append(relu)
    with pytest.raises(SettingError, match=r"layers 1 and 3 of the model are the same object"):
        Profiler(model)
    model = Sequential(Dense(2, 2), relu)
    prof = Profiler(model)
    model.layers.append(relu)                            # after the profiler was made
    with pytest.raises(SettingError, match=r"layers 1 and 2 of the model are the same object"):
        with prof:
            pass
    assert "forward" not in vars(relu)


def test_a_loop_that_calls_the_model_and_the_loss_is_timed_too():
    """model(x) and loss(logits, y) call forward through __call__."""
    rng = np.random.default_rng(0)
    model, loss = mlp(8, [16], 3, batchnorm=True, seed=0), SoftmaxCrossEntropy()
    x, y = rng.standard_normal((6, 8)).astype(np.float32), rng.integers(0, 3, 6)
    with Profiler(model, loss, skip=1) as prof:
        for _ in range(4):
            loss(model(x), y)
            model.backward(loss.backward())
    assert prof.steps() == 3
    assert {key: len(times) for key, times in prof.calls.items()} == \
        {key: 3 for key, *_ in prof.targets() if key != "step"}


def test_each_block_is_a_profile_of_its_own(monkeypatch):
    clock = FakeClock()
    monkeypatch.setattr(profiler, "clock", clock)
    tick = Tick(clock, 3, 5)
    model, x = Sequential(tick), np.zeros((4, 3), np.float32)
    prof = Profiler(model, skip=0)
    for fwd, steps in ((3, 5), (2, 3)):
        tick.fwd = fwd
        with prof:
            for _ in range(steps):
                model.backward(model.forward(x))
                clock.now += 1 * US
        clock.now += 1                                   # a pause between the blocks
    assert prof.steps() == 3 and prof.step_seconds() / US == pytest.approx(2 + 5 + 1)
    assert prof.calls[(0, "forward")] == [pytest.approx(2 * US)] * 3


def test_what_the_instance_had_before_the_block_is_restored():
    model, loss = mlp(8, [16], 3, seed=0), SoftmaxCrossEntropy()
    hooked = loss.forward                                # a user's own wrapper, say
    loss.forward = hooked
    with Profiler(model, loss):
        assert isinstance(loss.forward, profiler._Timed)
    assert vars(loss)["forward"] is hooked and "forward" not in vars(model)


def test_a_loss_or_optimizer_without_the_methods_is_refused():
    model = mlp(8, [16], 3, seed=0)
    with pytest.raises(SettingError, match=r"has no method forward\(\) to time"):
        Profiler(model, loss_fn=lambda logits, y: 0.0)
    metric = type("Metric", (), {"forward": lambda self, logits, y: 0.0})()   # evaluate() takes it
    with pytest.raises(SettingError, match=r"Metric object .* has no method backward\(\)"):
        Profiler(model, loss_fn=metric)
    with pytest.raises(SettingError, match=r"has no method step\(\) to time"):
        Profiler(model, optimizer=model.parameters())
    assert "forward" not in vars(model.layers[0])


def test_a_negative_skip_is_refused():
    with pytest.raises(SettingError, match="skip"):
        Profiler(mlp(8, [16], 3, seed=0), skip=-1)
