"""examples/mnist/evaluate.py on a real (short) train.py run."""
import json
import os
import shutil
import signal
import subprocess
import sys

import numpy as np
import pytest

from conftest import REPO, assert_png, mnist_root

TRAIN = str(REPO / "examples" / "mnist" / "train.py")
EVALUATE = str(REPO / "examples" / "mnist" / "evaluate.py")


def run(script, args):
    return subprocess.run([sys.executable, script, *args], capture_output=True, text=True,
                          env=dict(os.environ, MPLBACKEND="Agg"), cwd=REPO, timeout=600)


@pytest.fixture(scope="module")
def trained(mnist, tmp_path_factory):
    out = tmp_path_factory.mktemp("run")
    result = run(TRAIN, ["--model", "mlp", "--epochs", "1", "--train-subset", "2000",
                         "--data-dir", str(mnist_root()), "--out", str(out), "--no-progress"])
    assert result.returncode == 0, result.stderr
    return out


def test_evaluation_gives_the_runs_own_final_accuracy_and_its_mistakes(trained):
    result = run(EVALUATE, [str(trained), "--data-dir", str(mnist_root()), "--mistakes", "12"])
    assert result.returncode == 0, result.stderr
    final = json.loads((trained / "history.json").read_text())["records"][-1]["test_acc"]
    got = json.loads((trained / "evaluation.json").read_text())
    assert got["test_acc"] == final                   # the same weights, data and conversion
    counts = np.array(got["confusion"])
    assert counts.shape == (10, 10) and counts.sum() == 10_000
    assert np.trace(counts) / 10_000 == pytest.approx(final)
    np.testing.assert_allclose(got["per_digit_acc"], counts.diagonal() / counts.sum(axis=1))
    assert len(got["misclassified"]) == 10_000 - np.trace(counts)
    assert f"test accuracy {100 * final:.2f}%" in result.stdout
    assert "most frequent mistakes: " in result.stdout
    wrong_net = run(EVALUATE, [str(trained), "--net", "bn"])
    assert wrong_net.returncode == 1 and "--net is for the two nets of a compare_bn.py run" \
        in wrong_net.stderr
    for name in ("confusion.png", "mistakes.png"):
        assert_png(trained / name)


def test_a_folder_without_a_train_py_checkpoint_says_so(tmp_path):
    result = run(EVALUATE, [str(tmp_path)])
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert ("neither checkpoint.npz (train.py) nor summary.json (compare_bn.py) there; give "
            "the --out folder of a run" in result.stderr)
    from minidl import checkpoint
    from minidl.models import mlp
    checkpoint.save(mlp(4, [3], 2), tmp_path / "checkpoint.npz", meta={"step": 1})
    result = run(EVALUATE, [str(tmp_path)])
    assert result.returncode == 1 and "lacks train.py's options" in result.stderr


def test_an_interrupted_cnn_run_is_compared_with_its_last_evaluation(mnist, tmp_path,
                                                                    monkeypatch):
    """The weights of a Ctrl-C checkpoint are newer than the run's last evaluation:
    the script used to call that evaluation the run's final accuracy."""
    import signal
    from argparse import Namespace

    from minidl.data import load_mnist
    from minidl.losses import SoftmaxCrossEntropy
    from minidl.optim import SGD
    from minidl.train import Trainer
    monkeypatch.syspath_prepend(str(REPO / "examples" / "mnist"))
    import common

    def interrupt_at_15(trainer):
        if trainer.step == 15:
            os.kill(os.getpid(), signal.SIGINT)     # what Ctrl-C sends
    data = load_mnist(mnist_root(), download=False)
    train, test = common.loaders(data, Namespace(train_subset=640), "cnn", 64, seed=0)
    model = common.build("cnn", True, "relu", [100], 0)
    trainer = Trainer(model, SoftmaxCrossEntropy(), SGD(model.parameters(), lr=0.1), train,
                      eval_loader=test, checkpoint=tmp_path / "checkpoint.npz",
                      callbacks=[interrupt_at_15], progress=False)
    trainer.history.config = {"model": "cnn", "batchnorm": True, "activation": "relu",
                              "hidden": [100], "seed": 0, "epochs": 2}
    history = trainer.fit(epochs=2)
    assert history.interrupted and history.records[-1]["step"] == 10
    result = run(EVALUATE, [str(tmp_path), "--data-dir", str(mnist_root())])
    assert result.returncode == 0, result.stderr
    last = history.records[-1]["test_acc"]
    assert ("CNN ReLU, with BN, step 15: " in result.stdout and
            f"the run stopped before its end, at step 15 of epoch 2 of 2; its last "
            f"evaluation, at step 10: {100 * last:.2f}%" in result.stdout)
    assert_png(tmp_path / "mistakes.png")

    killed = tmp_path / "killed"               # a checkpoint from the end of epoch 1 of 2
    train, test = common.loaders(data, Namespace(train_subset=640), "mlp", 64, seed=0)
    model = common.build("mlp", True, "relu", [100], 0)
    trainer = Trainer(model, SoftmaxCrossEntropy(), SGD(model.parameters(), lr=0.1), train,
                      eval_loader=test, checkpoint=killed / "checkpoint.npz", progress=False)
    trainer.history.config = {"model": "mlp", "batchnorm": True, "activation": "relu",
                              "hidden": [100], "seed": 0, "epochs": 2}
    killed.mkdir()
    trainer.fit(epochs=1)
    result = run(EVALUATE, [str(killed), "--data-dir", str(mnist_root())])
    assert "the run stopped before its end, at step 10 after epoch 1 of 2;" in result.stdout


def test_the_number_of_mistakes_shown_is_bounded(tmp_path):
    """--mistakes 10000 on a poor model drew for minutes in 3.9 GB of memory."""
    result = run(EVALUATE, [str(tmp_path), "--mistakes", "10000"])
    assert result.returncode == 2
    assert "--mistakes: must be an int from 1 to 400, got 10000" in result.stderr


def test_an_empty_folder_name_is_refused(tmp_path):
    """"" meant the current folder: 'evaluate.py "$RUN"' with RUN unset evaluated it."""
    for argv in ([""], [str(tmp_path), "--out", ""]):
        result = run(EVALUATE, argv)
        assert result.returncode == 2 and "Traceback" not in result.stderr
        assert "must name a folder, got ''" in result.stderr


@pytest.mark.parametrize("sigint", ["default", "ignored"])
def test_a_terminated_script_leaves_no_half_written_file(tmp_path, sigint):
    """`timeout` or `kill` (SIGTERM) stopped the process where it stood, leaving the
    temporary file of a plot being written; now the clean-up runs as for Ctrl-C. Also
    in a background job of a script, which starts with SIGINT ignored: a SIGTERM
    turned into a SIGINT was then ignored too, and the run went on."""
    code = f"""
import os, signal, sys
sys.path.insert(0, {str(REPO / "examples" / "mnist")!r})
import common
from minidl.files import atomic_path
if {sigint == "ignored"}:
    signal.signal(signal.SIGINT, signal.SIG_IGN)

def main():
    with atomic_path({str(tmp_path / "plot.png")!r}) as tmp:
        open(tmp, "wb").write(b"half a plot")
        os.kill(os.getpid(), signal.SIGTERM)
    return 0

common.run_cli(main)
"""
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            cwd=REPO, timeout=60)
    assert result.returncode == 128 + signal.SIGTERM and "terminated (signal 15)" in result.stderr
    assert list(tmp_path.iterdir()) == []


def test_the_evaluation_of_another_run_in_out_is_not_written_over(trained, tmp_path):
    """evaluate.py RUN --out OTHER replaced OTHER's evaluation files with RUN's without a
    word, when OTHER held another run's evaluation (or another run)."""
    a, b, slides = tmp_path / "a", tmp_path / "b", tmp_path / "slides"
    for copy in (a, b):                        # two runs: the same weights, other folders
        shutil.copytree(trained, copy)
    data = ["--data-dir", str(mnist_root())]
    result = run(EVALUATE, [str(a), "--out", str(slides), "--format", "png", "pdf", *data])
    assert result.returncode == 0, result.stderr
    assert run(EVALUATE, [str(a), "--out", str(slides), *data]).returncode == 0   # again: yes
    before = {f.name: f.read_bytes() for f in slides.iterdir()}
    result = run(EVALUATE, [str(b), "--out", str(slides), *data])
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert (f"error: {slides} holds evaluation.json, confusion.png, confusion.pdf, "
            f"mistakes.png, mistakes.pdf of an evaluation of {a}: this evaluation of {b} would "
            "write over them; choose another --out, or add --overwrite to replace them"
            in result.stderr)
    assert {f.name: f.read_bytes() for f in slides.iterdir()} == before
    result = run(EVALUATE, [str(b), "--out", str(slides), "--overwrite", *data])
    assert result.returncode == 0, result.stderr
    assert json.loads((slides / "evaluation.json").read_text())["run"] == str(b)
    assert "removed the replaced run's confusion.pdf mistakes.pdf" in result.stdout
    assert sorted(f.name for f in slides.iterdir()) == ["confusion.png", "evaluation.json",
                                                        "mistakes.png"]
    for name in ("evaluation.json", "confusion.png", "mistakes.png"):   # another run's folder
        (b / name).unlink()
    result = run(EVALUATE, [str(a), "--out", str(b), *data])
    assert result.returncode == 1 and f"error: {b} holds another run (checkpoint.npz)" \
        in result.stderr and not (b / "evaluation.json").exists()
    assert run(EVALUATE, [str(b), *data]).returncode == 0           # its own folder: yes


@pytest.fixture
def evaluate(monkeypatch):
    monkeypatch.syspath_prepend(str(REPO / "examples" / "mnist"))    # for its `import common`
    import evaluate
    return evaluate


CONFIG = {"model": "mlp", "batchnorm": False, "activation": "relu", "hidden": [3], "seed": 0}


@pytest.mark.parametrize("meta,said", [        # each was a traceback: the error it was
    ({"history": 5}, "its metadata lacks train.py's options"),                # AttributeError
    ({"history": {"config": CONFIG}, "step": 1},
     "its metadata lacks what train.py records (KeyError: 'records')"),       # KeyError
    ({"history": {"config": {**CONFIG, "hidden": 3}}, "step": 1},             # TypeError
     "its metadata holds options train.py does not write (hidden 3, expected a list of "
     "widths >= 1)"),
    ({"history": {"config": {**CONFIG, "model": "rnn"}}, "step": 1},         # built a CNN
     "its metadata holds options train.py does not write (model 'rnn', expected \"mlp\" or "
     "\"cnn\")")])
def test_a_checkpoint_not_written_by_train_py_is_named_with_what_is_wrong(evaluate, tmp_path,
                                                                           meta, said):
    from minidl import checkpoint
    from minidl.errors import CheckpointError
    from minidl.models import mlp
    checkpoint.save(mlp(784, [3], 10), tmp_path / "checkpoint.npz", meta=meta)
    with pytest.raises(CheckpointError) as info:
        evaluate.main([str(tmp_path)])
    assert str(info.value).startswith(f"{tmp_path / 'checkpoint.npz'}: {said}")
    assert str(info.value).endswith("; was it written by train.py?")


def test_a_summary_json_with_a_model_build_cannot_make_is_refused(evaluate, tmp_path):
    """"model": "rnn" in a compare_bn.py summary.json built a CNN, which then did not fit
    the checkpoint (an error about Conv2D)."""
    from minidl.errors import FormatError
    (tmp_path / "summary.json").write_text(json.dumps({
        "settings": {"model": "rnn", "activation": "relu", "hidden": [3], "seed": 0,
                     "init": None, "test_subset": None},
        "bn": {"final_test_acc": 0.5, "steps_done": 1}}))
    with pytest.raises(FormatError, match=r"summary\.json: its settings hold model 'rnn', "
                                          r"expected \"mlp\" or \"cnn\"; not the summary"):
        evaluate.main([str(tmp_path), "--net", "bn"])
