"""examples/mnist/train.py end to end, on the real MNIST files."""
import json
import os
import re
import signal
import subprocess
import sys

import numpy as np
import pytest

from conftest import REPO, assert_png, mnist_root

SCRIPT = str(REPO / "examples" / "mnist" / "train.py")


def run(args, **kwargs):
    env = dict(os.environ, MPLBACKEND="Agg")
    return subprocess.run([sys.executable, SCRIPT, *args], capture_output=True, text=True,
                          env=env, cwd=REPO, timeout=600, **kwargs)


def accuracy(stdout):
    lines = stdout.strip().splitlines()
    match = re.fullmatch(r"test_accuracy=(0\.\d{4})", lines[-1])
    assert match, f"last line should be test_accuracy=..., got {lines[-1]!r}"
    return float(match.group(1))


def test_one_epoch_of_the_bn_mlp_exceeds_96_percent(mnist, tmp_path):
    """A regression in any layer, the loss, the optimizer or the data shows up here."""
    out = tmp_path / "run"
    result = run(["--model", "mlp", "--batchnorm", "--epochs", "1", "--data-dir", mnist_dir(),
                  "--out", str(out), "--no-progress"])
    assert result.returncode == 0, result.stderr
    assert accuracy(result.stdout) > 0.96
    assert len(re.findall(r"^epoch +1 ", result.stdout, re.M)) == 1
    assert f"MNIST from {mnist_dir()}\n" in result.stdout      # which copy, of several
    for name in ("history.json", "history.csv", "steps.csv", "checkpoint.npz", "loss_curve.png"):
        assert (out / name).stat().st_size > 0, name
    assert_png(out / "loss_curve.png")


def mnist_dir():
    return str(mnist_root())


def test_ctrl_c_and_resume_give_the_same_weights(mnist, tmp_path):
    common = ["--model", "mlp", "--epochs", "8", "--train-subset", "3000", "--batch-size", "50",
              "--data-dir", mnist_dir(), "--no-progress"]
    full = run(common + ["--out", str(tmp_path / "full")])
    assert full.returncode == 0, full.stderr

    out = str(tmp_path / "cut")
    proc = subprocess.Popen([sys.executable, SCRIPT, *common, "--out", out], cwd=REPO,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=dict(os.environ, MPLBACKEND="Agg"))
    for line in proc.stdout:          # wait until training runs, then press "Ctrl-C"
        if line.startswith("epoch   1"):
            proc.send_signal(signal.SIGINT)
            break
    stdout, stderr = proc.communicate(timeout=300)
    assert proc.returncode == 130, stderr
    assert "Traceback" not in stderr
    assert "--resume" in stdout and os.path.exists(os.path.join(out, "checkpoint.npz"))

    with open(os.path.join(out, "checkpoint.npz"), "rb") as f:
        interrupted = f.read()
    again = run(common + ["--out", out])          # --resume forgotten: the work is kept
    assert again.returncode == 1 and "add --resume to continue" in again.stderr
    with open(os.path.join(out, "checkpoint.npz"), "rb") as f:
        assert f.read() == interrupted

    with open(os.path.join(out, "confusion.png"), "w") as f:    # evaluate.py of the cut run
        f.write("of the interrupted weights")
    resumed = run(common + ["--out", out, "--resume"])
    assert resumed.returncode == 0, resumed.stderr
    assert re.search(r"resumed at step \d+ of 480", resumed.stdout)
    assert not os.path.exists(os.path.join(out, "confusion.png"))   # stale once it ends
    assert accuracy(resumed.stdout) == accuracy(full.stdout)
    with np.load(tmp_path / "full" / "checkpoint.npz") as a, np.load(f"{out}/checkpoint.npz") as b:
        for key in a.files:
            if key != "meta":
                assert np.array_equal(a[key], b[key]), key

    other = run(common + ["--out", out, "--resume", "--lr", "0.05"])   # not the same run
    assert other.returncode == 1 and "Traceback" not in other.stderr
    assert re.search(r"has other settings \(--lr [\d.]+ there, --lr 0.05 here\)", other.stderr)


def terminated_after_epoch_1(args):
    """Run train.py with args and send it SIGTERM (as kill does) once it has printed
    its first epoch's line: (exit code, stdout, stderr)."""
    proc = subprocess.Popen([sys.executable, SCRIPT, *args], cwd=REPO, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            env=dict(os.environ, MPLBACKEND="Agg"))
    for line in proc.stdout:
        if line.startswith("epoch   1"):
            proc.send_signal(signal.SIGTERM)
            break
    stdout, stderr = proc.communicate(timeout=300)
    return proc.returncode, stdout, stderr


def test_sigterm_saves_a_checkpoint_as_ctrl_c_does(mnist, tmp_path):
    """kill, timeout and a batch system's time limit send SIGTERM: the run stopped where
    it stood, and everything since the last epoch's checkpoint was lost."""
    common = ["--model", "mlp", "--epochs", "8", "--train-subset", "3000", "--batch-size", "50",
              "--data-dir", mnist_dir(), "--no-progress", "--out", str(tmp_path)]
    code, stdout, stderr = terminated_after_epoch_1(common)
    assert code == 128 + signal.SIGTERM, stderr
    assert "terminated (signal 15)" in stderr and "Traceback" not in stderr
    step = int(re.search(r"interrupted at step (\d+) of 480; checkpoint saved", stdout).group(1))
    assert 60 <= step < 480                        # the first epoch has 60 steps
    from minidl.checkpoint import read_meta
    meta = read_meta(tmp_path / "checkpoint.npz")
    assert meta["step"] == step and meta["history"]["interrupted"]   # saved by the signal
    resumed = run([*common, "--resume"])
    assert resumed.returncode == 0 and f"resumed at step {step} of 480" in resumed.stdout


@pytest.mark.parametrize("option,value", [("--lr", "0"), ("--momentum", "1"), ("--batch-size", "0"),
                                          ("--epochs", "0"), ("--shift", "-1"),
                                          ("--shift", "28"),     # images of 28x28 pixels
                                          ("--data-dir", ""),    # not the current folder
                                          ("--warmup", "10.5"),  # the MLP's 10 epochs
                                          ("--format", "jpg"), ("--dpi", "0"),
                                          ("--dpi", "100000"),   # out of memory, after training
                                          ("--batch-size", "1"),   # BN needs 2 per feature
                                          ("--weight-decay", "inf")])
def test_bad_option_values_are_refused_before_any_work(option, value, tmp_path):
    result = run([option, value, "--out", str(tmp_path)])
    assert result.returncode == 2 and option in result.stderr and "Traceback" not in result.stderr


@pytest.mark.parametrize("subset, timed", [(1280, 10), (640, 0)])   # 20 and 10 steps
def test_profile_prints_where_a_step_spends_its_time(mnist, tmp_path, subset, timed):
    result = run(["--model", "mlp", "--epochs", "1", "--train-subset", str(subset),
                  "--data-dir", mnist_dir(), "--out", str(tmp_path), "--no-progress",
                  "--profile"])
    assert result.returncode == 0, result.stderr
    plain = run(["--model", "mlp", "--epochs", "1", "--train-subset", str(subset),
                 "--data-dir", mnist_dir(), "--out", str(tmp_path / "plain"), "--no-progress"])
    assert accuracy(result.stdout) == accuracy(plain.stdout)    # still the last line
    losses = [json.loads((out / "history.json").read_text())["step_loss"]
              for out in (tmp_path, tmp_path / "plain")]
    assert losses[0] == losses[1] and len(losses[0]) == subset // 64
    if not timed:
        assert "--profile: 0 timed step(s) after the first 10: too few for a table" in result.stdout
        assert not (tmp_path / "profile.png").exists()
        return
    assert_png(tmp_path / "profile.png")
    assert "profile.png" in result.stdout.splitlines()[-2]         # in the list of files written
    assert f"over {timed} steps (the first 10 not timed)" in result.stdout
    rows = re.findall(r"^(\d+: \w+\(.*?\)|loss: .*?\)|SGD.step) +([\d.]+) +([\d.-]+) +[\d.]+ +"
                      r"[\d.]+%$", result.stdout, re.M)
    names = [name.split("(")[0] for name, *_ in rows]
    assert sorted(names) == sorted(["0: Dense", "1: BatchNorm", "2: ReLU", "3: Dense",
                                    "4: BatchNorm", "5: ReLU", "6: Dense", "7: BatchNorm",
                                    "8: ReLU", "9: Dense", "loss: SoftmaxCrossEntropy",
                                    "SGD.step"])


def test_the_loss_curve_in_every_format_asked_for(mnist, tmp_path):
    result = run(["--model", "mlp", "--epochs", "1", "--train-subset", "600", "--data-dir",
                  mnist_dir(), "--out", str(tmp_path), "--no-progress", "--format", "pdf", "svg"])
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "loss_curve.pdf").read_bytes().startswith(b"%PDF-")
    assert "<svg" in (tmp_path / "loss_curve.svg").read_text()
    assert not (tmp_path / "loss_curve.png").exists()      # only the formats asked for
    assert "loss_curve.pdf loss_curve.svg" in result.stdout


def test_missing_data_is_a_clear_error_not_a_traceback(tmp_path):
    result = run(["--data-dir", str(tmp_path), "--no-download", "--epochs", "1",
                  "--out", str(tmp_path / "o")])
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert str(tmp_path) in result.stderr and "MINIDL_DATA" in result.stderr


def test_a_diverged_run_keeps_its_history_to_look_at(mnist, tmp_path):
    """The output folder used to stay empty: nothing to plot or read."""
    result = run(["--model", "mlp", "--no-batchnorm", "--lr", "1000", "--schedule", "constant",
                  "--epochs", "1", "--train-subset", "2000", "--data-dir", mnist_dir(),
                  "--out", str(tmp_path), "--no-progress"])
    assert result.returncode == 1 and "training diverged" in result.stderr
    assert "Traceback" not in result.stderr and "up to the divergence" in result.stdout
    history = json.loads((tmp_path / "history.json").read_text())
    assert history["diverged"]["step"] == len(history["step_loss"]) + 1
    assert (tmp_path / "steps.csv").read_text().startswith("step,loss,lr\n1,")
    # evaluate.py said "give the --out folder of a run", which this folder is
    evaluated = subprocess.run([sys.executable, str(SCRIPT).replace("train.py", "evaluate.py"),
                                str(tmp_path)], capture_output=True, text=True, cwd=REPO,
                               env=dict(os.environ, MPLBACKEND="Agg"), timeout=600)
    assert evaluated.returncode == 1 and "Traceback" not in evaluated.stderr
    assert (f"{tmp_path}: its train.py run diverged at step {history['diverged']['step']} (the "
            "loss became" in evaluated.stderr and "no weights to evaluate" in evaluated.stderr)


def test_an_unreadable_checkpoint_in_the_way_says_what_to_do(tmp_path):
    (tmp_path / "checkpoint.npz").write_bytes(b"not a zip file")
    result = run(["--out", str(tmp_path), "--no-progress"])
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert "not a readable minidl checkpoint" in result.stderr
    assert "add --overwrite, delete that file, or choose another --out, to start over" \
        in result.stderr
    assert (tmp_path / "checkpoint.npz").read_bytes() == b"not a zip file"
    resumed = run(["--out", str(tmp_path), "--no-progress", "--resume"])
    assert resumed.returncode == 1 and "Traceback" not in resumed.stderr
    assert "damaged, cut short, or another kind of file" in resumed.stderr
    assert "start over with --overwrite instead of --resume" in resumed.stderr


def test_a_checkpoint_with_a_garbled_history_in_the_way_says_what_to_do(tmp_path):
    from minidl import checkpoint
    from minidl.models import mlp
    checkpoint.save(mlp(4, [3], 2), tmp_path / "checkpoint.npz", meta={"history": [1, 2]})
    result = run(["--out", str(tmp_path), "--no-progress"])
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert "garbles the history" in result.stderr and "to start over" in result.stderr


def test_resume_of_a_finished_run_says_there_is_nothing_to_resume(mnist, tmp_path):
    """It used to rewrite the finished run's files and report its accuracy again."""
    common = ["--model", "mlp", "--epochs", "1", "--train-subset", "500", "--data-dir",
              mnist_dir(), "--out", str(tmp_path), "--no-progress"]
    assert run(common).returncode == 0
    before = (tmp_path / "checkpoint.npz").read_bytes()
    again = run(common + ["--resume"])
    assert again.returncode == 1 and "Traceback" not in again.stderr
    assert "holds a finished run; there is nothing to resume" in again.stderr
    assert "MNIST from" not in again.stdout               # said before the data is loaded
    assert (tmp_path / "checkpoint.npz").read_bytes() == before


def test_a_finished_run_is_not_replaced_by_one_with_other_settings(mnist, tmp_path):
    """train.py used to overwrite a finished run's checkpoint and history with
    another net's (say --activation sigmoid into the folder of a ReLU run)."""
    common = ["--model", "mlp", "--epochs", "1", "--train-subset", "500", "--data-dir",
              mnist_dir(), "--out", str(tmp_path), "--no-progress"]
    assert run(common).returncode == 0
    before = (tmp_path / "checkpoint.npz").read_bytes()
    other = run(common + ["--activation", "sigmoid", "--lr", "0.5"])
    assert other.returncode == 1 and "Traceback" not in other.stderr
    assert ("holds a finished run with other settings (--activation relu there, --activation "
            "sigmoid here; --lr 0.1 there, --lr 0.5 here): choose another --out, or add "
            "--overwrite") in other.stderr
    assert (tmp_path / "checkpoint.npz").read_bytes() == before
    assert run(common).returncode == 0                    # the same settings: a rerun
    replaced = run(common + ["--activation", "sigmoid", "--overwrite"])
    assert replaced.returncode == 0, replaced.stderr
    assert json.loads((tmp_path / "history.json").read_text())["config"]["activation"] == "sigmoid"


def test_an_out_that_is_a_file_and_a_resume_with_nothing_to_resume_are_named(tmp_path):
    """They ended in "[Errno 17] File exists" and in an error after the data was
    loaded that left an empty folder behind."""
    (tmp_path / "afile").write_text("keep me")
    result = run(["--out", str(tmp_path / "afile"), "--no-progress"])
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert "afile: is a file, not a folder; choose another output folder" in result.stderr
    assert (tmp_path / "afile").read_text() == "keep me"
    result = run(["--out", str(tmp_path / "never"), "--resume", "--no-progress"])
    assert result.returncode == 1 and "no checkpoint to resume from" in result.stderr
    assert not (tmp_path / "never").exists()


def test_a_subset_larger_than_mnist_is_refused_before_any_work(tmp_path):
    """--train-subset 100000 trained on the 60,000 images without a word."""
    result = run(["--train-subset", "100000", "--out", str(tmp_path / "out"), "--no-progress"])
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "argument --train-subset: must be an int from 2 to 60,000, got 100000" in result.stderr
    assert not (tmp_path / "out").exists()


def test_the_default_out_folder_names_the_settings_that_differ_from_the_defaults():
    """Runs with other settings used to share runs/<model>-<bn|nobn>, the second
    overwriting the first (now refused), as the README's own commands did."""
    sys.path.insert(0, str(REPO / "examples" / "mnist"))
    try:
        import train as script
    finally:
        sys.path.pop(0)
    cases = {(): "mlp-bn", ("--epochs", "1"): "mlp-bn-epochs-1",
             ("--no-batchnorm", "--activation", "sigmoid", "--lr", "0.5"):
                 "mlp-nobn-activation-sigmoid-lr-0.5",
             ("--model", "cnn", "--epochs", "1", "--train-subset", "5000"):
                 "cnn-bn-epochs-1-train-subset-5000",
             ("--hidden", "50", "50", "--no-nesterov", "--lr", "0.1"):
                 "mlp-bn-hidden-50-50-no-nesterov",
             ("--model", "cnn", "--lr", "0.1", "--warmup", "1"): "cnn-bn",
             ("--lr", "5", "--weight-decay", "5e-5"): "mlp-bn-lr-5-weight-decay-5e-05",
             ("--model", "cnn", "--schedule", "step"): "cnn-bn-schedule-step"}  # no warm-up
    for options, name in cases.items():
        assert script.parse_args(list(options)).out == os.path.join("runs", name), options
    assert script.parse_args(["--epochs", "1", "--out", "mine"]).out == "mine"


def test_the_cnns_default_warm_up_is_at_most_a_fifth_of_the_run():
    """`--model cnn --epochs 1` warmed up over its whole run: its rate rose to 0.1 at
    its last step and never fell, without a word."""
    sys.path.insert(0, str(REPO / "examples" / "mnist"))
    try:
        import train as script
    finally:
        sys.path.pop(0)
    warmups = {epochs: script.parse_args(["--model", "cnn", "--epochs", epochs]).warmup
               for epochs in ("1", "3", "5", "10")}
    assert warmups == {"1": 0.2, "3": 0.6, "5": 1, "10": 1}
    assert script.parse_args(["--model", "cnn"]).warmup == 1
    assert script.parse_args(["--epochs", "1"]).warmup == 0                # the MLP has none
    given = script.parse_args(["--model", "cnn", "--epochs", "1", "--warmup", "0.5"])
    assert given.warmup == 0.5 and given.out.endswith("cnn-bn-epochs-1-warmup-0.5")
    assert script.parse_args(["--model", "cnn", "--epochs", "1"]).out.endswith("cnn-bn-epochs-1")
    schedule = script.make_schedule("cosine", 0.1, 100, round(0.2 * 100))
    assert schedule(99) < 0.001 < 0.1 == schedule(19)          # anneals after its warm-up
    # a run made with the old default (warm-up 1 of 1 epoch) can still be resumed
    old = script.parse_args(["--model", "cnn", "--epochs", "1", "--warmup", "1", "--resume"])
    assert old.warmup == 1 and old.out.endswith("cnn-bn-epochs-1-warmup-1")


@pytest.mark.parametrize("options, said", [
    (["--model", "cnn", "--hidden", "50"], "--hidden is for --model mlp; the CNN's layers"),
    (["--schedule", "step", "--warmup", "1"], "--warmup is for --schedule cosine; --schedule "
                                              "step has none"),
    (["--schedule", "constant", "--warmup", "inf"], "--warmup must be a number >= 0"),  # crashed
    (["--resume", "--overwrite"], "--resume continues the run in --out, --overwrite starts "
                                  "over on top of it"),
    (["--model", "cnn", "--epochs", "2", "--warmup", "2"],     # rose to the end, accepted
     "--warmup 2 must be shorter than --epochs 2 (both count epochs): the rate would rise to "
     "its last step and never anneal"),
])
def test_options_that_would_be_dropped_or_contradict_are_refused(options, said, capsys):
    """They were dropped without a word (resume won over overwrite; an infinite warm-up
    of a step schedule crashed with an OverflowError after the data had loaded)."""
    sys.path.insert(0, str(REPO / "examples" / "mnist"))
    try:
        import train as script
    finally:
        sys.path.pop(0)
    with pytest.raises(SystemExit) as e:
        script.parse_args(options)
    assert e.value.code == 2 and said in capsys.readouterr().err


def test_a_diverged_run_may_be_rerun_with_other_settings(mnist, tmp_path):
    """The divergence message says to try a smaller learning rate; the rerun with
    one was refused as if it would replace a finished run."""
    common = ["--no-batchnorm", "--warmup", "4", "--epochs", "5", "--train-subset", "3000",
              "--data-dir", mnist_dir(), "--out", str(tmp_path), "--no-progress"]
    diverged = run(common + ["--lr", "1.2"])          # after the checkpoint of an epoch's end
    assert diverged.returncode == 1 and "training diverged" in diverged.stderr
    assert (tmp_path / "checkpoint.npz").exists()
    rerun = run(common + ["--lr", "0.12"])
    assert rerun.returncode == 0, rerun.stderr


def test_data_dir_takes_the_folder_that_holds_the_files(tmp_path):
    """--data-dir X with the four files in X and an empty X/mnist looked in X/mnist
    (and would have downloaded a second copy there), unlike MINIDL_DATA=X."""
    from minidl.data import MNIST_FILES
    sys.path.insert(0, str(REPO / "examples" / "mnist"))
    try:
        from common import data_root
    finally:
        sys.path.pop(0)
    (tmp_path / "mnist").mkdir()
    assert data_root(tmp_path) == tmp_path / "mnist"        # files nowhere: mnist/ as before
    for name in MNIST_FILES:
        (tmp_path / f"{name}.gz").write_bytes(b"")
    assert data_root(tmp_path) == tmp_path
    for name in MNIST_FILES:
        (tmp_path / "mnist" / name).write_bytes(b"")
    assert data_root(tmp_path) == tmp_path / "mnist"        # both: mnist/, as MINIDL_DATA does


def test_without_data_dir_a_shared_copy_beside_the_repository_is_read(tmp_path, monkeypatch):
    """The quick start's command found no data offline when MINIDL_DATA was not set,
    though the files lay in ../shared/data/mnist (as on CI), where the tests found them."""
    from minidl.data import MNIST_FILES
    sys.path.insert(0, str(REPO / "examples" / "mnist"))
    try:
        import common
    finally:
        sys.path.pop(0)
    assert common.SHARED_DATA == REPO.parent / "shared" / "data"      # beside the repository
    monkeypatch.setattr(common, "SHARED_DATA", tmp_path)
    monkeypatch.delenv("MINIDL_DATA", raising=False)
    (tmp_path / "mnist").mkdir()
    names = list(MNIST_FILES)
    for name in names[:3]:
        (tmp_path / "mnist" / f"{name}.gz").write_bytes(b"")
    assert common.data_root(None) is None                   # not all there: load_mnist's default
    (tmp_path / "mnist" / names[3]).write_bytes(b"")
    assert common.data_root(None) == tmp_path / "mnist"
    monkeypatch.setenv("MINIDL_DATA", "")
    assert common.data_root(None) == tmp_path / "mnist"     # empty: unset, as for load_mnist
    monkeypatch.setenv("MINIDL_DATA", str(tmp_path / "elsewhere"))
    assert common.data_root(None) is None                   # MINIDL_DATA wins: load_mnist reads it
    monkeypatch.delenv("MINIDL_DATA")
    monkeypatch.setattr(common, "SHARED_DATA", None)         # scripts copied close to /
    assert common.data_root(None) is None


def test_a_killed_run_is_neither_replaced_nor_started_over(tmp_path):
    """A run killed (SIGTERM, out of memory) after an epoch's checkpoint is neither
    interrupted nor diverged: a run with other settings must not replace it."""
    from minidl import checkpoint
    from minidl.models import mlp
    history = {"config": {"model": "mlp", "epochs": 4, "lr": 0.1, "hidden": [100, 100, 100]},
               "records": [{"epoch": 2}], "interrupted": False, "diverged": None}
    checkpoint.save(mlp(4, [3], 2), tmp_path / "checkpoint.npz", meta={"history": history})
    before = (tmp_path / "checkpoint.npz").read_bytes()
    result = run(["--epochs", "4", "--lr", "0.05", "--out", str(tmp_path), "--no-progress"])
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert ("holds an unfinished run (epoch 2 of 4 saved): add --resume to continue it, or "
            "--overwrite to start over") in result.stderr
    assert (tmp_path / "checkpoint.npz").read_bytes() == before
    # the history.json of an earlier run in that folder that diverged says nothing of it
    # (it let a new run replace the killed one's checkpoint without a word)
    (tmp_path / "history.json").write_text(json.dumps({
        "config": {"model": "mlp", "epochs": 30, "lr": 12}, "diverged": {"step": 19}}))
    result = run(["--epochs", "4", "--lr", "0.05", "--out", str(tmp_path), "--no-progress"])
    assert result.returncode == 1 and "holds an unfinished run" in result.stderr
    assert (tmp_path / "checkpoint.npz").read_bytes() == before
    # --resume with other settings is named before the data is read or a model is built
    # (it failed in a layer's or a loader's words: "this model has 4 layers ...")
    result = run(["--resume", "--epochs", "4", "--hidden", "50", "--out", str(tmp_path),
                  "--data-dir", str(tmp_path / "no-data-here"), "--no-progress"])
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert ("--resume: the run in " in result.stderr and "has other settings (--hidden 100 "
            "100 100 there, --hidden 50 here); resume with the same options and --out "
            f"{tmp_path}\n" in result.stderr)     # the default --out names the settings


def test_a_new_run_removes_the_files_of_the_run_it_replaces(mnist, tmp_path):
    """--overwrite left the old net's evaluate.py files and other formats beside the new
    run's, and a new run that diverged before its first checkpoint left the old
    checkpoint.npz, which evaluate.py then reported as this folder's run."""
    common = ["--epochs", "1", "--train-subset", "500", "--data-dir", mnist_dir(),
              "--out", str(tmp_path), "--no-progress"]
    assert run(common).returncode == 0
    for name in ("confusion.png", "mistakes.pdf", "evaluation.json", "profile.svg", "notes.txt"):
        (tmp_path / name).write_text("of the old run")
    (tmp_path / "fig.png").write_text("a figure of mine")
    (tmp_path / "loss_curve.svg").symlink_to(tmp_path / "fig.png")  # a link: left alone
    (tmp_path / "mistakes.png").write_text("read-only")
    (tmp_path / "mistakes.png").chmod(0o444)                         # so is a read-only file
    (tmp_path / "profile.png").mkdir()                               # and a folder
    result = run(common + ["--no-batchnorm", "--lr", "1000", "--overwrite"])
    assert result.returncode == 1 and "training diverged" in result.stderr
    assert "removed the replaced run's checkpoint.npz" in result.stdout
    assert "kept loss_curve.svg mistakes.png" in result.stdout
    left = sorted(p.name for p in tmp_path.iterdir())
    assert left == ["fig.png", "history.json", "loss_curve.svg", "mistakes.png", "notes.txt",
                    "profile.png", "steps.csv"]
    assert (tmp_path / "fig.png").read_text() == "a figure of mine"
    assert json.loads((tmp_path / "history.json").read_text())["diverged"]["loss"] != "nan"
    # a folder of one's own, with no train.py run in it: its files are not taken for one's
    own = tmp_path / "own"
    own.mkdir()
    (own / "confusion.png").write_text("my figure")
    (own / "history.json").write_text('{"mine": 1}')
    assert "would write over them" in run([*common[:-3], "--out", str(own)]).stderr
    result = run([*common[:-3], "--out", str(own), "--no-progress", "--overwrite"])
    assert result.returncode == 0 and "removed" not in result.stdout
    assert (own / "confusion.png").read_text() == "my figure"


def test_a_rerun_stopped_early_leaves_the_old_run_as_it_was(mnist, tmp_path, monkeypatch):
    """The old run's files go only once the new one has written its own: a rerun
    killed before that took the old run with it, and left an empty folder."""
    common = ["--epochs", "1", "--train-subset", "500", "--data-dir", mnist_dir(),
              "--out", str(tmp_path), "--no-progress"]
    assert run(common).returncode == 0
    (tmp_path / "confusion.png").write_text("of the old run")
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    monkeypatch.syspath_prepend(str(REPO / "examples" / "mnist"))
    import train

    def killed(self, **kwargs):       # `kill` as training starts: SystemExit(143)
        raise SystemExit(128 + signal.SIGTERM)
    monkeypatch.setattr(train.Trainer, "fit", killed)
    with pytest.raises(SystemExit):
        train.main([*common, "--epochs", "3", "--overwrite"])
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before


def test_a_finished_run_without_its_checkpoint_is_not_replaced_without_overwrite(
        mnist, tmp_path):
    """Its history.json and plots (kept without the 1 MB checkpoint) were replaced by a
    run with other settings, without --overwrite."""
    common = ["--epochs", "1", "--train-subset", "500", "--data-dir", mnist_dir(),
              "--out", str(tmp_path), "--no-progress"]
    assert run(common).returncode == 0
    (tmp_path / "checkpoint.npz").unlink()
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    other = run([*common, "--activation", "tanh"])
    assert other.returncode == 1 and "history.json holds a finished run with other settings " \
        "(--activation relu there, --activation tanh here)" in other.stderr
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before
    assert run([*common, "--activation", "tanh", "--overwrite"]).returncode == 0


def test_files_of_its_names_in_a_folder_without_a_run_are_not_written_over(mnist, tmp_path):
    """A history.json that train.py did not write (no run's settings in it) was taken
    for "nothing of ours", and the run wrote over it and a history.csv beside it."""
    (tmp_path / "history.json").write_text('{"my": "precious"}')
    (tmp_path / "loss_curve.png").write_text("mine")
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    result = run(["--epochs", "1", "--train-subset", "500", "--out", str(tmp_path),
                  "--no-progress"])            # refused before the data is read
    assert result.returncode == 1 and result.stderr == (
        f"error: {tmp_path} holds history.json, loss_curve.png but no history.json with a "
        "run's settings: this run would write over them; choose another --out, or add "
        "--overwrite to replace them\n")
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before
    own = tmp_path / "own"                  # names of plots this run does not write: allowed
    own.mkdir()
    (own / "profile.png").write_text("mine")
    (own / "loss_curve.svg").write_text("mine")
    assert run(["--epochs", "1", "--train-subset", "500", "--out", str(own), "--data-dir",
                mnist_dir(), "--no-progress"]).returncode == 0
    assert (own / "profile.png").read_text() == (own / "loss_curve.svg").read_text() == "mine"
    cut = tmp_path / "cut"                  # a run of ours stopped before its first record,
    cut.mkdir()                             # its checkpoint deleted: not "no run's settings"
    (cut / "history.json").write_text(json.dumps({"config": {"model": "mlp"}, "records": []}))
    assert run(["--epochs", "1", "--train-subset", "500", "--out", str(cut), "--data-dir",
                mnist_dir(), "--no-progress"]).returncode == 0


def test_the_scripts_run_when_copied_close_to_the_root(tmp_path):
    """A copy in /content (Colab) or /app (Docker) failed at import with IndexError: the
    shared data folder was looked for three folders up."""
    import shutil
    import tempfile
    shallow = tempfile.mkdtemp(dir="/tmp")                    # /tmp/xyz: two folders up is /
    try:
        for script in (REPO / "examples" / "mnist").glob("*.py"):
            shutil.copy(script, shallow)
        for script in ("train.py", "compare_bn.py", "evaluate.py"):
            result = subprocess.run([sys.executable, os.path.join(shallow, script), "--help"],
                                    capture_output=True, text=True, env=os.environ | {
                                        "PYTHONPATH": str(REPO)})
            assert result.returncode == 0, result.stderr
    finally:
        shutil.rmtree(shallow)


def test_the_loss_curve_can_be_drawn_on_a_linear_axis(mnist, tmp_path):
    """Its axis was always logarithmic, and an epoch's last small batch could drag it
    down by a decade; --no-log-scale draws it linear (SVG keeps the label as text)."""
    for flag, label in [("--log-scale", "cross-entropy loss (log scale)"),
                        ("--no-log-scale", "cross-entropy loss<")]:
        out = tmp_path / flag
        result = run(["--epochs", "1", "--train-subset", "500", "--data-dir", mnist_dir(),
                      "--out", str(out), "--no-progress", "--format", "svg", flag])
        assert result.returncode == 0, result.stderr
        assert label in (out / "loss_curve.svg").read_text()


@pytest.mark.parametrize("total", [94, 9380, 300, 3, 1])
def test_the_step_schedule_has_three_rates_one_per_third(total):
    """--schedule step (lr/10 after each third) had a fourth rate, lr/1000, for the
    last total % 3 steps: step 94 of a 94-step run, the last 2 of the default run."""
    sys.path.insert(0, str(REPO / "examples" / "mnist"))
    try:
        import train as script
    finally:
        sys.path.pop(0)
    rates = [script.make_schedule("step", 0.1, total)(step) for step in range(total)]
    assert sorted(set(rates), reverse=True) == pytest.approx([0.1, 0.01, 0.001][:min(3, total)])
    assert rates == sorted(rates, reverse=True)


def test_the_epoch_line_prints_a_huge_loss_in_exponent_form(capsys):
    """A run on its way to diverge printed train_loss 626773154902262912.0000."""
    sys.path.insert(0, str(REPO / "examples" / "mnist"))
    try:
        import train as script
    finally:
        sys.path.pop(0)
    record = {"kind": "epoch", "epoch": 1, "step": 47, "lr": 30.0, "train_loss": 6.2677e17,
              "train_acc": 0.1, "test_loss": 0.19351, "test_acc": 0.9721, "time": 1.0}
    script.PrintEpoch().on_eval(None, record)
    line = capsys.readouterr().out
    assert "train_loss 6.268e+17  train_acc 0.1000 (epoch mean)  test_loss 0.1935  " in line


def test_a_rerun_stopped_early_leaves_the_finished_run_as_it_was(mnist, tmp_path):
    """The same command again over a finished run is allowed (a rerun); stopped in its
    second epoch, it had written its epoch-1 checkpoint and history over the finished
    run's, and removed that run's evaluation files."""
    common = ["--epochs", "2", "--train-subset", "30000", "--data-dir", mnist_dir(),
              "--no-progress", "--out", str(tmp_path)]
    assert run(common).returncode == 0
    (tmp_path / "evaluation.json").write_text("{}")        # as evaluate.py leaves it
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    code, stdout, stderr = terminated_after_epoch_1(common)
    assert code == 128 + signal.SIGTERM, stderr
    assert "the rerun was interrupted at step" in stdout and "is left as it was" in stdout
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before   # nothing else
    again = run(common)                                   # a rerun that finishes replaces it
    assert again.returncode == 0 and not (tmp_path / "checkpoint-rerun.npz").exists()
    assert "removed the replaced run's evaluation.json" in again.stdout


def test_folders_it_must_not_write_into_are_refused_before_training(tmp_path):
    """A checkpoint of one's own (train.py did not write it) was replaced without a word;
    a compare_bn.py folder got a train.py run beside it, which evaluate.py then took for
    the comparison; a folder named checkpoint.npz failed after the whole training."""
    from minidl import checkpoint
    from minidl.models import mlp
    own = tmp_path / "own"
    checkpoint.save(mlp(784, [10], 10), own / "checkpoint.npz", meta={"note": "my model"})
    kept = (own / "checkpoint.npz").read_bytes()
    comparison = tmp_path / "comparison"
    comparison.mkdir()
    (comparison / "summary.json").write_text("{}")
    folder = tmp_path / "folder"
    (folder / "checkpoint.npz").mkdir(parents=True)
    for out, extra, said in ((own, [], "is a checkpoint that train.py did not write"),
                             (comparison, [], "holds a comparison of compare_bn.py"),
                             (folder, ["--overwrite"], "Is a folder")):
        result = run(["--epochs", "1", "--out", str(out), "--no-progress",
                      "--data-dir", str(tmp_path / "no-data"), *extra])   # refused first
        assert result.returncode != 0 and said in result.stderr, result.stderr
        assert "Traceback" not in result.stderr and "MNIST" not in result.stdout
    assert (own / "checkpoint.npz").read_bytes() == kept
    assert sorted(p.name for p in comparison.iterdir()) == ["summary.json"]


def test_a_ctrl_c_outside_training_exits_as_one_in_training_does(capsys):
    """Loading the data, it exited with 1, an error's code, where training gives 130."""
    sys.path.insert(0, str(REPO / "examples" / "mnist"))
    try:
        import common
    finally:
        sys.path.pop(0)

    def main():
        raise KeyboardInterrupt
    with pytest.raises(SystemExit) as info:
        common.run_cli(main)
    assert info.value.code == 130 and capsys.readouterr().err == "interrupted\n"


def test_a_ctrl_c_while_a_run_writes_its_files_waits_until_they_are_written(capsys):
    """A Ctrl-C in the second or so in which a run writes its files left some new and
    some of the run before (history.json new, the loss curve old)."""
    sys.path.insert(0, str(REPO / "examples" / "mnist"))
    try:
        import common
    finally:
        sys.path.pop(0)
    written = []
    with pytest.raises(KeyboardInterrupt):
        with common.ctrl_c_held("runs/x"):
            os.kill(os.getpid(), signal.SIGINT)
            written.append("history.json")
            written.append("loss_curve.png")
    assert written == ["history.json", "loss_curve.png"]
    assert "writing the files into runs/x/ first (Ctrl-C again stops at once)" in \
        capsys.readouterr().err
    with pytest.raises(KeyboardInterrupt):            # a second Ctrl-C: at once
        with common.ctrl_c_held("runs/x"):
            os.kill(os.getpid(), signal.SIGINT)
            os.kill(os.getpid(), signal.SIGINT)
            written.append("never")
    assert written[-1] == "loss_curve.png"
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler   # given back


def test_a_rerun_that_diverges_leaves_the_finished_run_and_says_so(mnist, tmp_path):
    """Its error named the rerun's checkpoint, which had just been removed, and advised a
    smaller learning rate that the finished run's folder then refused."""
    common = ["--no-batchnorm", "--epochs", "1", "--train-subset", "500", "--data-dir",
              mnist_dir(), "--no-progress", "--out", str(tmp_path)]
    assert run([*common, "--lr", "0.1"]).returncode == 0
    # the finished run's settings say --lr 1e6, so that the same command again (a rerun)
    # diverges: its metadata is a JSON string in the archive
    path = tmp_path / "checkpoint.npz"
    with np.load(path) as f:
        arrays = {k: f[k] for k in f.files}
    header = json.loads(str(arrays["meta"]))
    header["meta"]["history"]["config"]["lr"] = 1e6
    arrays["meta"] = np.array(json.dumps(header))
    with open(path, "wb") as f:
        np.savez(f, **arrays)
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    rerun = run([*common, "--lr", "1e6"])
    assert rerun.returncode == 1 and "Traceback" not in rerun.stderr
    assert "training diverged in a rerun" in rerun.stderr and \
        f"the finished run in {tmp_path}/ is left as it was" in rerun.stderr
    assert "checkpoint-rerun.npz" not in rerun.stderr
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before
