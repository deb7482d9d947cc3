"""The benchmark's bookkeeping, not its timings: which runners take turns, and
how the ratios in its JSON lines are formed."""
import argparse
import importlib
import itertools
import json
import re
import sys
import types
from pathlib import Path

import numpy as np
import pytest

from minidl.layers import BatchNorm

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
import bench_epoch  # noqa: E402

# epoch seconds per (framework, bn): a warm-up epoch (ignored), then 3 rounds
TIMES = {("minidl", False): [9.0, 1.0, 2.0, 1.0], ("minidl", True): [9.0, 1.5, 2.6, 1.2],
         ("torch", False): [9.0, 2.0, 4.0, 2.0], ("torch", True): [9.0, 2.4, 4.4, 2.6]}
# page faults each of those epochs causes; the warm-up's must not count
FAULTS = {("minidl", False): [500, 0, 0, 0], ("minidl", True): [500, 30, 0, 6],
          ("torch", False): [500, 3, 3, 3], ("torch", True): [500, 0, 0, 0]}


FAULT_COUNTER = [0]


def fake_runner(framework, calls):
    def make(model_name, bn, batch, images, labels, **kwargs):
        if framework == "minidl":
            assert kwargs == {"input_grad": False}          # --no-input-grad reaches minidl
        epochs = iter(zip(TIMES[framework, bn], FAULTS[framework, bn]))

        def epoch():
            calls.append((framework, bn))
            seconds, faults = next(epochs)
            FAULT_COUNTER[0] += faults
            return seconds
        return epoch
    return make


def test_runners_take_turns_and_ratios_compare_the_same_rounds(monkeypatch):
    calls = []
    monkeypatch.setattr(bench_epoch, "minidl_runner", fake_runner("minidl", calls))
    monkeypatch.setattr(bench_epoch, "torch_runner", fake_runner("torch", calls))
    monkeypatch.setattr(bench_epoch, "have_torch", lambda: True)
    monkeypatch.setattr(bench_epoch, "minor_faults", lambda: FAULT_COUNTER[0])
    pauses = []
    monkeypatch.setattr(bench_epoch.time, "sleep", pauses.append)
    FAULT_COUNTER[0] = 0
    args = argparse.Namespace(epochs=3, torch=True, input_grad=False)
    rows = bench_epoch.run_group("mlp", 5, [False, True], args, [0] * 10, None)

    one_round = [("minidl", False), ("torch", False), ("minidl", True), ("torch", True)]
    # warm-up, then 3 rounds in turn, each starting one runner later: PyTorch no longer
    # always ran right after minidl, whose OpenBLAS threads spin on for a while
    assert calls == one_round * 2 + one_round[1:] + one_round[:1] + one_round[2:] + one_round[:2]
    assert pauses == [bench_epoch.PAUSE] * 16 and bench_epoch.PAUSE > 0     # before each epoch
    by = {(r["framework"], r["bn"]): r for r in rows}
    assert [(r["framework"], r["bn"]) for r in rows] == one_round
    assert by["minidl", False]["median_s"] == 1.0
    assert by["minidl", False]["ratio_vs_torch"] == 0.5              # 1.0 / 2.0
    assert by["minidl", False]["ratio_vs_torch_rounds"] == [0.5, 0.5]
    assert by["minidl", True]["ratio_vs_torch"] == round(1.5 / 2.6, 3)
    assert by["minidl", True]["ratio_vs_torch_rounds"] == [round(1.2 / 2.6, 3), 0.625]
    assert by["minidl", True]["bn_vs_plain"] == 1.5                  # 1.5 / 1.0
    assert by["minidl", True]["bn_vs_plain_rounds"] == [1.2, 1.5]    # 1.2/1.0 .. 1.5/1.0
    assert by["torch", True]["bn_vs_plain"] == 1.3                   # 2.6 / 2.0
    assert by["torch", True]["bn_vs_plain_rounds"] == [1.1, 1.3]
    assert "bn_vs_plain" not in by["minidl", False] and "ratio_vs_torch" not in by["torch", True]
    # 10 samples at batch 5: two steps per epoch, six in the three timed epochs
    assert [by[key]["minor_faults_per_step"] for key in one_round] == [0.0, 1.5, 6.0, 0.0]


def test_the_script_prints_one_json_line_per_runner(capsys):
    bench_epoch.main(["--model", "mlp", "--batch", "30", "--samples", "90", "--epochs", "1",
                      "--no-torch", "--no-input-grad"])
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [(r["framework"], r["bn"]) for r in rows] == [("minidl", False), ("minidl", True)]
    assert all(r["samples"] == 90 and r["epochs"] == 1 and not r["input_grad"] for r in rows)
    assert rows[1]["bn_vs_plain"] > 0 and "ratio_vs_torch" not in rows[1]


def git_checkout_or_skip():
    import shutil
    import subprocess
    root = Path(__file__).resolve().parents[1]
    top = subprocess.run(["git", "-C", str(root), "rev-parse", "--show-toplevel"],
                         capture_output=True, text=True) if shutil.which("git") else None
    if top is None or top.returncode != 0 or Path(top.stdout.strip()).resolve() != root:
        pytest.skip("needs git and a git checkout of this repository")
    return ["git", "-C", str(root)]


def test_ab_steps_base_is_a_separate_copy_of_the_package(tmp_path):
    git_checkout_or_skip()
    import ab_steps

    import minidl
    base = ab_steps.load_base("HEAD", str(tmp_path))
    try:
        assert Path(base.__file__).is_relative_to(tmp_path)
        assert base.model.Sequential is not minidl.model.Sequential
        assert base.layers.base.Layer is not minidl.layers.base.Layer
        assert all(Path(m.__file__).is_relative_to(tmp_path)
                   for name, m in sys.modules.items() if name.startswith("minidl_base"))
    finally:
        ab_steps.unload_base(str(tmp_path))
    assert not any(m.startswith("minidl_base") for m in sys.modules)
    assert str(tmp_path) not in sys.path


def test_ab_steps_compares_a_git_revision_with_the_working_tree(capsys):
    import subprocess
    git = git_checkout_or_skip()
    import ab_steps
    path_before = list(sys.path)
    ab_steps.main(["--base", "HEAD", "--model", "mlp", "--bn", "on", "--steps", "4"])
    out = capsys.readouterr().out
    assert re.search(r"new/base \d+\.\d+ \(step by step: \d+\.\d+\)", out)
    control = re.search(r"control/base \d+\.\d+ \(step by step: \d+\.\d+\), last loss (\S+): "
                        r"identical code", out)
    base_loss = re.search(r"last loss base (\S+),", out).group(1)
    assert control and control.group(1) == base_loss       # the control is the base again
    assert not any(m.startswith(("minidl_base", "minidl_control")) for m in sys.modules)
    assert sys.path == path_before
    unchanged = subprocess.run(git + ["diff", "--quiet", "HEAD", "--", "minidl"]).returncode == 0
    if unchanged:                          # same files on both sides: same arithmetic
        base_loss, new_loss = re.search(r"last loss base (\S+), new (\S+)", out).groups()
        assert base_loss == new_loss


def test_ab_steps_names_a_bad_revision():
    git_checkout_or_skip()
    import ab_steps
    with pytest.raises(SystemExit, match="git archive no-such-revision failed"):
        ab_steps.main(["--base", "no-such-revision", "--steps", "1"])


@pytest.mark.parametrize("model,bn", [("mlp", True), ("cnn", False)])
def test_layers_vs_torch_times_every_layer_on_its_training_input(model, bn, monkeypatch, capsys):
    import layers_vs_torch
    monkeypatch.setattr(layers_vs_torch, "PAUSE", 0.0)
    rows = layers_vs_torch.compare(model, bn, batch=4, number=1, rounds=1, use_torch=False)
    built = bench_epoch.setup(model, bn)[0]
    assert [row["layer"] for row in rows] == [f"{i}: {layer!r}" for i, layer in
                                              enumerate(built.layers)]
    x_shape = [4, 784] if model == "mlp" else [4, 1, 28, 28]
    assert rows[0]["input"] == x_shape and rows[-1]["input"][1] == built.layers[-1].in_features
    assert all(row["minidl_ms"] > 0 and "torch_ms" not in row for row in rows)
    layers_vs_torch.main(["--model", model, "--bn", "on" if bn else "off", "--batch", "3",
                          "--number", "1", "--rounds", "1", "--no-torch"])
    assert len(capsys.readouterr().out.splitlines()) == len(built.layers)


@pytest.mark.parametrize("model,bn", [("mlp", True), ("mlp", False), ("cnn", True), ("cnn", False)])
def test_layers_vs_torch_pairs_each_layer_with_its_pytorch_twin(model, bn, monkeypatch):
    pytest.importorskip("torch")
    import layers_vs_torch
    monkeypatch.setattr(layers_vs_torch, "PAUSE", 0.0)
    rows = layers_vs_torch.compare(model, bn, batch=4, number=1, rounds=1)   # checks the pairs
    assert len(rows) == len(bench_epoch.setup(model, bn)[0].layers)
    for row in rows:
        assert row["torch_ms"] > 0 and row["minidl_vs_torch"] > 0


def test_layers_vs_torch_ratio_of_a_tiny_layer_is_not_rounded_to_zero(monkeypatch):
    """A loaded machine once made PyTorch's Flatten 10,000x slower than minidl's; the
    ratio, rounded to 2 decimals, printed as 0.0. It keeps 3 significant digits."""
    pytest.importorskip("torch")
    import layers_vs_torch
    real_torch_call = layers_vs_torch.torch_call

    def slow_torch_call(*args):
        call = real_torch_call(*args)
        call.slow = True
        return call
    monkeypatch.setattr(layers_vs_torch, "torch_call", slow_torch_call)
    monkeypatch.setattr(layers_vs_torch, "seconds_per_call",
                        lambda call, number: 0.04 if getattr(call, "slow", False) else 3e-6)
    rows = layers_vs_torch.compare("mlp", False, batch=4, number=1, rounds=1)
    assert [row["minidl_vs_torch"] for row in rows] == [7.5e-05] * len(rows)


def test_layers_vs_torch_refuses_twins_that_do_different_work(monkeypatch):
    pytest.importorskip("torch")
    from torch import nn
    import layers_vs_torch
    monkeypatch.setattr(layers_vs_torch, "PAUSE", 0.0)
    real = bench_epoch.torch_model
    variants = {"a layer fewer": lambda m, bn: nn.Sequential(*list(real(m, bn))[:-1]),
                "a bias too many": lambda m, bn: nn.Sequential(
                    nn.Conv2d(1, 16, 3, padding=1, bias=True), *list(real(m, bn))[1:]),
                "a bigger kernel": lambda m, bn: nn.Sequential(
                    nn.Conv2d(1, 16, 5, padding=2, bias=False), *list(real(m, bn))[1:]),
                "another layer": lambda m, bn: nn.Sequential(
                    *list(real(m, bn))[:2], nn.LeakyReLU(), *list(real(m, bn))[3:])}
    for name, variant in variants.items():
        monkeypatch.setattr(layers_vs_torch, "torch_model", variant)
        with pytest.raises(SystemExit, match="bench_epoch.setup and torch_model disagree"):
            layers_vs_torch.compare("cnn", True, batch=2, number=1, rounds=1)


def test_conv_parts_times_each_piece_of_both_paths(capsys):
    """Tiny shapes: every piece runs, the two paths agree (checked inside), one JSON
    line per piece."""
    conv_parts = importlib.import_module("conv_parts")
    conv_parts.main(["--batch", "2", "--channels", "3", "--filters", "4", "--size", "5",
                     "--number", "1"])
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [r["piece"] for r in rows[:9]] == list(conv_parts.pieces(2, 3, 4, 5))
    assert all(r["ms"] >= 0 for r in rows)
    ms = {r["piece"]: r["ms"] for r in rows}
    products = sum(v for k, v in ms.items() if k.startswith("product"))
    assert abs(ms["sum of the three products"] - products) <= 0.002   # each rounded to 0.001
    assert "minidl: Conv2D forward + backward" in ms
    assert len(rows) == 11 + bench_epoch.have_torch()


def test_conv_parts_checks_pytorch_against_the_layer(monkeypatch):
    """PyTorch's convolution is timed only once it gives the layer's output and
    gradients: a convolution that differs is refused."""
    torch = pytest.importorskip("torch")
    conv_parts = importlib.import_module("conv_parts")
    calls = conv_parts.whole_layers(2, 3, 4, 5, use_torch=True)
    assert set(calls) == {"minidl: Conv2D forward + backward", "PyTorch: conv2d forward + backward"}
    dx_minidl = calls["minidl: Conv2D forward + backward"]()
    dx_torch = calls["PyTorch: conv2d forward + backward"]().numpy()
    np.testing.assert_allclose(dx_minidl, dx_torch, rtol=1e-4, atol=1e-5)
    real = torch.nn.functional.conv2d

    def steeper(x, w, padding):            # the right output, gradients 1% too large
        y = real(x, w, padding=padding)
        return y + 0.01 * (y - y.detach())
    for wrong, what in ((lambda x, w, padding: real(x, w, padding=padding) * 1.01, "output"),
                        (lambda x, w, padding: real(x, w.flip(-1), padding=padding), "output"),
                        (steeper, "dL/dx")):
        monkeypatch.setattr(torch.nn.functional, "conv2d", wrong)
        with pytest.raises(SystemExit, match=f"minidl's and PyTorch's {what} disagree"):
            conv_parts.whole_layers(2, 3, 4, 5, use_torch=True)


COUNT_OPTIONS = [("layers_vs_torch", o) for o in ("--number", "--rounds", "--batch")] + \
    [("conv_parts", o) for o in ("--batch", "--channels", "--filters", "--size", "--number")] + \
    [("bench_epoch", o) for o in ("--batch", "--epochs", "--samples")] + \
    [("profile_layers", o) for o in ("--batch", "--steps")] + \
    [("ab_steps", o) for o in ("--batch", "--steps")] + \
    [("bare_numpy", o) for o in ("--batch", "--rounds", "--steps", "--block")] + \
    [("first_epoch", o) for o in ("--batch", "--samples", "--after", "--eval")]


@pytest.mark.parametrize("script, option", COUNT_OPTIONS)
def test_benchmarks_want_positive_counts(script, option, capsys):
    """A count of 0 or less is refused when the options are read, before any work."""
    main = importlib.import_module(script).main
    for bad in ("0", "-1"):
        with pytest.raises(SystemExit):
            main([option, bad])
        err = capsys.readouterr().err
        assert f"argument {option}: must be a positive integer, got {bad}" in err


def test_smaller_batch_step_trains_once_on_half_the_batch(monkeypatch):
    seen = []
    monkeypatch.setattr(bench_epoch, "train_step",
                        lambda model, loss, opt, xb, yb: seen.append((len(xb), len(yb))))
    x, y = list(range(64)), list(range(64))
    bench_epoch.smaller_batch_step(None, None, None, x, y)
    bench_epoch.smaller_batch_step(None, None, None, x[:3], y[:3])   # BN needs 2 samples
    assert seen == [(32, 32), (2, 2)]


def record_steps(monkeypatch, module):
    """Patch module's two step functions to log ("small" | "step", batch size, model id)."""
    log = []

    def step(kind):
        def run(model, loss, opt, xb, yb):
            log.append((kind, len(xb), id(model)))
            return 1.0
        return run
    monkeypatch.setattr(module, "train_step", step("step"))
    monkeypatch.setattr(module, "smaller_batch_step", step("small"))
    return log


def test_profile_layers_times_only_steps_after_a_smaller_batch(monkeypatch, capsys):
    """As in training after the first epoch (bench_epoch.smaller_batch_step says why)."""
    import profile_layers
    log = record_steps(monkeypatch, profile_layers)
    profile_layers.main(["--model", "mlp", "--batch", "8", "--steps", "5"])
    warmup = 20                                      # profile()'s default
    small = [i for i, entry in enumerate(log) if entry[:2] == ("small", 8)]
    assert len(small) == 1 and len(log) == warmup + 5 + 1
    assert small[0] < warmup                         # before every timed step
    assert re.search(r"5 steps, median \d+ us/step, .*, \d+\.\d page faults per step",
                     capsys.readouterr().out)


def test_ab_steps_times_only_steps_after_a_smaller_batch(monkeypatch, capsys):
    git_checkout_or_skip()
    import ab_steps
    log = record_steps(monkeypatch, ab_steps)
    ab_steps.main(["--base", "HEAD", "--model", "mlp", "--batch", "8", "--steps", "10"])
    warmup = 5                                       # max(5, steps // 10)
    small = [entry for entry in log if entry[0] == "small"]
    assert [b for _, b, _ in small] == [8, 8, 8]     # it halves the batch itself
    assert len({model for *_, model in small}) == 3  # base, new and control: one each
    assert all(kind == "step" for kind, *_ in log[-3 * 10:])   # none among the timed steps
    assert len(log) == 3 * (warmup + 10) + 3
    faults = r"page faults per step \(.*\): base \d+\.\d, new \d+\.\d, control \d+\.\d"
    assert re.search(faults, capsys.readouterr().out)


def test_first_epoch_splits_the_steps_at_the_epoch_end():
    import first_epoch
    rows = [(k, k / 1000, k) for k in range(1, 26)]  # (step, seconds, faults), all different
    first, after = first_epoch.phases(rows, 20)      # 20 steps per epoch
    # steps 11 to 20 (the first 10 are warm-up); 22 to 25 (21 reallocates the buffers)
    assert first == {"phase": "first epoch", "steps": 10, "median_ms": 15.5,
                     "faults_per_step": 15.5}
    assert after == {"phase": "after it", "steps": 4, "median_ms": 23.5, "faults_per_step": 23.5}


def test_first_epoch_charges_no_evaluation_to_a_step(monkeypatch):
    import first_epoch
    faults = iter([0, 100, 5000, 5030])              # start, step 1, after the eval, step 2
    monkeypatch.setattr(first_epoch, "minor_faults", lambda: next(faults))
    log = first_epoch.StepLog()
    trainer = argparse.Namespace(step=1)
    log.on_step_end(trainer)
    log.on_eval(trainer, {})
    trainer.step = 2
    log.on_step_end(trainer)
    assert [(step, f) for step, _, f in log.rows] == [(1, 100), (2, 30)]


@pytest.mark.parametrize("options, batches, last_batch, n_eval", [
    (["--samples", "100", "--eval", "20"], 13, 4, 20),
    (["--samples", "100", "--eval", "500"], 13, 4, 100),     # no more than there are
    (["--samples", "97", "--no-eval"], 12, 8, 0)])          # 97 = 12 * 8 + 1: last one dropped
def test_first_epoch_trains_with_the_trainer_and_prints_both_phases(options, batches, last_batch,
                                                                     n_eval, capsys):
    import first_epoch
    first_epoch.main(["--model", "mlp", "--batch", "8", "--after", "3"] + options)
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [r["phase"] for r in rows] == ["first epoch", "after it"]
    assert rows[0]["steps"] == batches - 6 and rows[1]["steps"] == 2   # 6 and 1 left out
    assert all(r["last_batch"] == last_batch and r["eval"] == n_eval for r in rows)


@pytest.mark.parametrize("cold", [False, True])
def test_first_epoch_leaves_the_heap_cold_when_asked(cold, monkeypatch, capsys):
    import first_epoch

    import minidl.heap
    monkeypatch.setattr(minidl.heap, "_warmed", False)    # as in a fresh process
    monkeypatch.setattr(minidl.heap, "ENABLED", True)     # main() sets it: restored after
    warmed = []
    monkeypatch.setattr(minidl.heap, "np", types.SimpleNamespace(
        uint8="uint8", empty=lambda n, dtype: warmed.append(n)))
    first_epoch.main(["--model", "mlp", "--batch", "8", "--samples", "100", "--after", "3",
                      "--no-eval"] + (["--cold-heap"] if cold else []))
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [r["cold_heap"] for r in rows] == [cold, cold]
    assert len(warmed) == (0 if cold else 1)


@pytest.mark.parametrize("samples, warned", [("640", True), ("650", False)])
def test_bench_epoch_warns_when_every_cnn_batch_has_the_same_size(samples, warned, monkeypatch,
                                                                  capsys):
    monkeypatch.setattr(bench_epoch, "run_group", lambda *args: [])   # no training
    bench_epoch.main(["--model", "cnn", "--batch", "64", "--samples", samples, "--no-torch"])
    err = capsys.readouterr().err
    assert ("batch 64 divides --samples 640" in err) == warned
    assert ("slower state of a first epoch" in err) == warned


@pytest.mark.parametrize("bn", [False, True])
def test_bare_numpy_mlp_computes_what_minidl_computes_bit_for_bit(bn):
    """bare_numpy.py's ratios mean "the framework's cost" only if its inline step
    does minidl's arithmetic: the same losses, weights, momentum buffers and
    running averages, bit for bit."""
    import bare_numpy
    images, labels = bench_epoch.make_data(300)
    model, loss, opt = bench_epoch.setup("mlp", bn, input_grad=False)
    bare = bare_numpy.BareMLP(model, opt)
    for_minidl, for_bare = (bench_epoch.batches(images, labels, 60, "mlp",
                                                np.random.default_rng(1)) for _ in range(2))
    for (xb, yb), (xb2, yb2) in zip(for_minidl, for_bare):
        assert bench_epoch.train_step(model, loss, opt, xb, yb) == bare.step(xb2, yb2)
    params = model.parameters()
    assert len(params) == len(bare.params) == (11 if bn else 8)
    for p, value, velocity in zip(params, bare.params, bare.velocity):
        assert np.array_equal(p.value, value) and p.value is not value
        assert np.array_equal(opt.velocity[p.name], velocity) and velocity.any()
    bns = [layer for layer in model.layers if isinstance(layer, BatchNorm)]
    assert len(bns) == (3 if bn else 0)
    for layer, block in zip(bns, bare.blocks):
        for name in ("running_mean", "running_var"):
            assert np.array_equal(getattr(layer, name), block["bn"][name])


def test_bare_numpy_takes_turns_and_forms_each_ratio_round_by_round(monkeypatch):
    import bare_numpy
    clock, calls = [0.0], []
    cost = [{"bare": 1, "minidl": 2, "torch": 4}, {"bare": 1, "minidl": 3, "torch": 2},
            {"bare": 2, "minidl": 2, "torch": 4}]         # seconds per step, rounds 0, 1, 2

    def fake(name):
        def step(xb, yb):
            r = len(calls) // 6 - 1                     # 3 runners x 2 steps per round
            calls.append(name)
            clock[0] += 100 if r < 0 else cost[r][name]   # the warm-up round: not kept
        return step, itertools.repeat((None, None))
    monkeypatch.setattr(bare_numpy, "runners",
                        lambda *args: {n: fake(n) for n in ("bare", "minidl", "torch")})
    monkeypatch.setattr(bare_numpy, "PAUSE", 0.0)
    monkeypatch.setattr(bare_numpy.time, "perf_counter", lambda: clock[0])
    args = argparse.Namespace(batch=60, rounds=3, steps=2, block=1, torch=True)
    [row] = bare_numpy.run([True], args, None, None)
    # rounds -1 (the warm-up), 0, 1, 2, each starting with the other turn; block k of
    # round r starts with runner k + r, so that each is in turn the first after the pause
    odd, even, torch_turn = ["minidl", "bare", "bare", "minidl"], \
        ["bare", "minidl", "minidl", "bare"], ["torch", "torch"]
    assert calls == (torch_turn + odd + even + torch_turn) * 2
    assert row["us_per_step"] == {"bare": 1e6, "minidl": 2e6, "torch": 4e6}
    assert (row["minidl_vs_bare"], row["minidl_vs_bare_rounds"]) == (2.0, [1.0, 3.0])
    assert (row["bare_vs_torch"], row["bare_vs_torch_rounds"]) == (0.5, [0.25, 0.5])
    assert (row["minidl_vs_torch"], row["minidl_vs_torch_rounds"]) == (0.5, [0.5, 1.5])
    assert not any(key.endswith("bn_cost") for key in row)    # no plain runner to compare


def test_bare_numpy_times_blocks_and_bn_cost_from_the_same_rounds(monkeypatch):
    """With BN on and off, all four NumPy runners share one turn, block by block, and
    BN's cost is each framework's BN step over its plain step, round by round."""
    import bare_numpy
    clock, calls = [0.0], []
    per_step = {("bare", False): [1, 1], ("minidl", False): [2, 2], ("torch", False): [4, 4],
                ("bare", True): [2, 1], ("minidl", True): [3, 4], ("torch", True): [5, 6]}

    def fake(name, bn):
        def step(xb, yb):
            r = len(calls) // 18 - 1                    # 6 runners x 3 steps per round
            calls.append((name, bn))
            clock[0] += 100 if r < 0 else per_step[name, bn][r]
        return step, itertools.repeat((None, None))
    monkeypatch.setattr(bare_numpy, "runners", lambda bn, *args: {
        n: fake(n, bn) for n in ("bare", "minidl", "torch")})
    monkeypatch.setattr(bare_numpy, "PAUSE", 0.0)
    monkeypatch.setattr(bare_numpy.time, "perf_counter", lambda: clock[0])
    args = argparse.Namespace(batch=60, rounds=2, steps=3, block=2, torch=True)
    plain, bn = bare_numpy.run([False, True], args, None, None)
    assert bare_numpy.blocks(3, 2) == [2, 1] and bare_numpy.blocks(4, 2) == [2, 2]
    bare_p, minidl_p, bare_bn, minidl_bn = numpy_keys = \
        [(n, b) for b in (False, True) for n in ("bare", "minidl")]
    torch_p, torch_bn = ("torch", False), ("torch", True)
    # the warm-up round (r = -1): torch's turn first; its block 0 starts with runner -1
    assert calls[:18] == [torch_bn, torch_bn, torch_p, torch_p, torch_p, torch_bn] + \
        [minidl_bn] * 2 + [bare_p] * 2 + [minidl_p] * 2 + [bare_bn] * 2 + numpy_keys
    # round 0: the NumPy turn first, block 0 starting with runner 0, block 1 with runner 1
    assert calls[18:36] == [k for k in numpy_keys for _ in range(2)] + numpy_keys[1:] + \
        numpy_keys[:1] + [torch_p, torch_p, torch_bn, torch_bn, torch_bn, torch_p]
    assert (plain["bn"], bn["bn"]) == (False, True)
    assert bn["us_per_step"] == {"bare": 1.5e6, "minidl": 3.5e6, "torch": 5.5e6}
    assert (bn["minidl_bn_cost"], bn["minidl_bn_cost_rounds"]) == (1.75, [1.5, 2.0])
    assert (bn["bare_bn_cost"], bn["bare_bn_cost_rounds"]) == (1.5, [1.0, 2.0])
    assert (bn["torch_bn_cost"], bn["torch_bn_cost_rounds"]) == (1.375, [1.25, 1.5])
    assert not any(key.endswith("bn_cost") for key in plain)


def test_bare_numpy_prints_one_json_line_per_bn_setting(monkeypatch, capsys):
    import bare_numpy
    monkeypatch.setattr(bare_numpy, "PAUSE", 0.0)
    bare_numpy.main(["--rounds", "1", "--steps", "2", "--no-torch"])
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [row["bn"] for row in rows] == [False, True]
    assert all(set(row["us_per_step"]) == {"bare", "minidl"} and row["minidl_vs_bare"] > 0
               and "bare_vs_torch" not in row for row in rows)


def test_bare_numpy_steps_pytorch_on_the_same_batches():
    pytest.importorskip("torch")
    import bare_numpy
    images, labels = bench_epoch.make_data(120)
    chosen = bare_numpy.runners(True, 60, images, labels, use_torch=True)
    assert list(chosen) == ["bare", "minidl", "torch"]
    firsts = [next(data) for step, data in chosen.values()]
    assert all(np.array_equal(x, firsts[0][0]) for x, y in firsts)
    for (step, data), (xb, yb) in zip(chosen.values(), firsts):
        step(xb, yb)                                   # every runner trains on them
