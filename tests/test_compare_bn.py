"""examples/mnist/compare_bn.py: a short real run, its outputs, and the
guarantee that both nets start from the same weights and see the same batches."""
import json
import os
import re
import shutil
import subprocess
import sys

import numpy as np
import pytest

from conftest import REPO, assert_png, mnist_root

from minidl import jsonfile
from minidl.errors import DataNotFoundError, FormatError, SettingError

SCRIPT = REPO / "examples" / "mnist" / "compare_bn.py"
STEPS = 300
QUICK = ["--steps", str(STEPS), "--train-subset", "6000", "--test-subset", "1000",
         "--eval-every", "100", "--record-every", "50", "--no-progress"]


def run(args):
    env = dict(os.environ, MPLBACKEND="Agg")
    result = subprocess.run([sys.executable, str(SCRIPT), "--data-dir", str(mnist_root()), *args],
                            capture_output=True, text=True, env=env, cwd=REPO, timeout=300)
    assert result.returncode == 0, result.stderr
    return result


@pytest.fixture(scope="module")
def out(mnist, tmp_path_factory):
    """One quick sigmoid-MLP comparison, shared by the tests below."""
    folder = tmp_path_factory.mktemp("compare")
    run([*QUICK, "--activation", "sigmoid", "--out", str(folder)])
    return folder


@pytest.fixture
def compare_bn(monkeypatch):
    monkeypatch.syspath_prepend(str(SCRIPT.parent))     # for its `import common`
    import compare_bn
    return compare_bn


def load(folder, name):
    return json.loads((folder / name).read_text())


def test_every_output_is_written_and_well_formed(out):
    for name in ("loss_curves.png", "accuracy.png", "activations.png"):
        assert_png(out / name)
    for key in ("bn", "plain"):
        h = load(out, f"history_{key}.json")
        assert len(h["step_loss"]) == STEPS and h["diverged"] is None
        assert [r["step"] for r in h["records"]] == [100, 200, 300]     # one record per step
        assert h["config"]["batchnorm"] == (key == "bn")
        assert (out / f"history_{key}.csv").read_text().startswith("kind,step,")
        assert len((out / f"steps_{key}.csv").read_text().splitlines()) == STEPS + 1
        acts = load(out, "activations.json")[key]
        assert acts["steps"] == list(range(0, STEPS + 1, 50))
        assert np.asarray(acts["values"]).shape == (len(acts["steps"]), 3)
    summary = load(out, "summary.json")
    for key in ("bn", "plain"):
        assert {"final_test_acc", "best_test_acc", "steps_to_95", "steps_to_97", "steps_to_98",
                "wall_time_s", "ms_per_step"} <= summary[key].keys()
        assert 0.1 < summary[key]["final_test_acc"] <= 1
    assert summary["settings"]["steps"] == STEPS and "bn_steps_to_plain_final" in summary
    from minidl.data import load_mnist                 # always "1" on the first 1,000
    ones = np.bincount(load_mnist(mnist_root(), download=False).y_test[:1000]).max()
    assert summary["guess_test_acc"] == ones / 1000
    assert "| final test accuracy |" in (out / "summary.md").read_text()
    plain = load(out, "history_plain.json")["records"]
    final = summary["plain"]["final_test_acc"]
    assert summary["plain_steps_to_plain_final"] == next(
        r["step"] for r in plain if r.get("test_acc", -1) >= final)


def test_the_summary_says_when_the_plain_net_itself_reached_its_final_accuracy(compare_bn):
    """A live demo of 2,000 steps: the plain net was ahead at most evaluations and its
    final accuracy a dip, yet the summary said only when the BN net reached it."""
    import summary
    run = {"plain": {"final_test_acc": 0.9512, "diverged": None},
           "bn_steps_to_plain_final": 1500, "plain_steps_to_plain_final": 1000}
    assert summary.bn_reaches_plain(run) == (
        "The BN net reaches the plain net's final accuracy (95.12%) at step 1500; the plain "
        "net itself first reaches it at step 1000.")
    assert summary.bn_reaches_plain({**run, "bn_steps_to_plain_final": None}) == (
        "The BN net does not reach the plain net's final accuracy (95.12%); the plain net "
        "itself first reaches it at step 1000.")
    older = {key: v for key, v in run.items() if key != "plain_steps_to_plain_final"}
    assert summary.bn_reaches_plain(older).endswith("(95.12%) at step 1500.")    # a replot
    # a plain net at chance: "the BN net reaches its 9.90% at step 100" said nothing
    guess = {**run, "plain": {"final_test_acc": 0.099, "diverged": None},
             "bn": {"final_test_acc": 0.9415, "diverged": None}, "bn_steps_to_plain_final": 100}
    assert summary.bn_reaches_plain(guess) == (
        "The plain net did not learn: its final accuracy, 9.90%, is that of a guess; the BN "
        "net's final accuracy: 94.15%.")
    # on the first 100 test images, always "1" scores 14%: a guess there, not on all 10,000
    few = {**guess, "plain": {"final_test_acc": 0.14, "diverged": None}}
    assert "did not learn" not in summary.bn_reaches_plain(few)       # older summary.json
    assert "did not learn" in summary.bn_reaches_plain({**few, "guess_test_acc": 0.14})


def test_the_trained_nets_are_saved_and_score_what_the_history_says(out, compare_bn):
    from minidl import checkpoint
    from minidl.losses import SoftmaxCrossEntropy
    from minidl.evaluation import evaluate
    args = compare_bn.parse_args([*QUICK, "--data-dir", str(mnist_root())])
    _, test = compare_bn.loaders(compare_bn.load_data(args), args, args.model, args.batch_size,
                                 args.seed, test_subset=args.test_subset)
    for key, batchnorm in compare_bn.NETS:
        model = compare_bn.build(args.model, batchnorm, args.activation, args.hidden, args.seed,
                                 init=args.init)
        checkpoint.load(model, out / f"model_{key}.npz")
        final = load(out, f"history_{key}.json")["records"][-1]["test_acc"]
        assert evaluate(model, SoftmaxCrossEntropy(), test)[1] == final


def test_both_nets_start_alike_and_see_the_same_batches(out):
    summary = load(out, "summary.json")
    assert summary["same_initial_weights"] and summary["same_batches"]
    bn, plain = (load(out, f"history_{k}.json")["config"] for k in ("bn", "plain"))
    assert bn["batches"] == plain["batches"] == STEPS
    assert bn["batch_order_sha256"] == plain["batch_order_sha256"]


def test_with_sigmoid_bn_lowers_the_training_loss_faster(out):
    summary = load(out, "summary.json")
    assert summary["bn"]["final_train_loss"] < summary["plain"]["final_train_loss"]


def forbid_training(compare_bn, monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("--replot must not load data or train")
    monkeypatch.setattr(compare_bn, "load_data", refuse)
    monkeypatch.setattr(compare_bn, "train_net", refuse)


def test_replot_redraws_the_same_plots_without_training(out, compare_bn, monkeypatch, tmp_path):
    for f in out.glob("*.json"):                  # the run's results, none of its plots
        shutil.copy(f, tmp_path)
    forbid_training(compare_bn, monkeypatch)
    assert compare_bn.main(["--replot", str(tmp_path), "--format", "png", "pdf", "svg"]) == 0
    for name in ("loss_curves", "accuracy", "activations"):
        # the same figure as the run drew: byte for byte
        assert (tmp_path / f"{name}.png").read_bytes() == (out / f"{name}.png").read_bytes()
        assert (tmp_path / f"{name}.pdf").read_bytes().startswith(b"%PDF-")
        assert "<svg" in (tmp_path / f"{name}.svg").read_text()
    compare_bn.main(["--replot", str(tmp_path), "--log-scale"])
    assert (tmp_path / "loss_curves.png").read_bytes() != (out / "loss_curves.png").read_bytes()


def test_replot_follows_the_runs_log_scale_and_can_write_elsewhere(out, compare_bn, monkeypatch,
                                                                   tmp_path):
    run_dir, other = tmp_path / "run", tmp_path / "other"
    shutil.copytree(out, run_dir)
    summary = load(run_dir, "summary.json")
    assert summary["settings"]["log_scale"] is False           # recorded by the run
    summary["settings"]["log_scale"] = True                    # as a --log-scale run records it
    (run_dir / "summary.json").write_text(json.dumps(summary))
    forbid_training(compare_bn, monkeypatch)
    compare_bn.main(["--replot", str(run_dir), "--out", str(other)])
    logged = (other / "loss_curves.png").read_bytes()
    assert logged != (out / "loss_curves.png").read_bytes()     # log axis, as in the run
    compare_bn.main(["--replot", str(run_dir), "--out", str(other), "--no-log-scale"])
    assert (other / "loss_curves.png").read_bytes() == (out / "loss_curves.png").read_bytes()
    assert (run_dir / "loss_curves.png").read_bytes() == (out / "loss_curves.png").read_bytes()


def test_replot_labels_the_percentiles_the_run_recorded(out, compare_bn, monkeypatch, tmp_path):
    import figures                                   # compare_bn's own module, on its path
    drawn, figure1 = [], figures.plot.figure1
    monkeypatch.setattr(figures.plot, "figure1",
                        lambda *a, **k: drawn.append(k["percentiles"]) or figure1(*a, **k))
    forbid_training(compare_bn, monkeypatch)
    run_dir = tmp_path / "run"
    shutil.copytree(out, run_dir)
    acts = load(run_dir, "activations.json")
    for key in acts:                                 # as a run with other percentiles records it
        acts[key]["percentiles"] = [10, 50, 90]
    (run_dir / "activations.json").write_text(json.dumps(acts))
    compare_bn.main(["--replot", str(run_dir)])
    for key in acts:                                 # as older runs wrote it: the default
        del acts[key]["percentiles"]
    (run_dir / "activations.json").write_text(json.dumps(acts))
    compare_bn.main(["--replot", str(run_dir)])
    assert drawn == [(10, 50, 90), (15, 50, 85)]
    assert (run_dir / "activations.png").read_bytes() == (out / "activations.png").read_bytes()


def test_replot_of_a_folder_with_a_comparison_and_a_sweep_redraws_both(out, compare_bn,
                                                                        monkeypatch, tmp_path):
    for f in out.glob("*.json"):
        shutil.copy(f, tmp_path)
    settings = load(out, "summary.json")["settings"]
    runs = [{"lr": lr, "test_acc": 0.9, "diverged": False} for lr in (0.1, 1)]
    (tmp_path / "lr_sweep.json").write_text(json.dumps({"settings": settings, "plain": runs,
                                                        "bn": runs}))
    forbid_training(compare_bn, monkeypatch)
    compare_bn.main(["--replot", str(tmp_path)])
    for name in ("lr_sweep", "loss_curves", "accuracy", "activations"):
        assert_png(tmp_path / f"{name}.png")


def test_replot_names_the_file_it_is_missing(out, compare_bn, monkeypatch, tmp_path):
    forbid_training(compare_bn, monkeypatch)
    with pytest.raises(DataNotFoundError, match=r"--replot .*nowhere: no such folder"):
        compare_bn.main(["--replot", str(tmp_path / "nowhere")])      # said "no summary.json"
    with pytest.raises(DataNotFoundError, match=r"no summary\.json there .*--out folder"):
        compare_bn.main(["--replot", str(tmp_path)])
    for name in ("summary.json", "activations.json", "history_plain.json"):
        shutil.copy(out / name, tmp_path)
    with pytest.raises(DataNotFoundError, match=r"no history_bn\.json there"):
        compare_bn.main(["--replot", str(tmp_path)])
    (tmp_path / "history_bn.json").write_text("{ not json")
    with pytest.raises(FormatError, match=r"history_bn\.json: not a JSON file, or one cut "
                                          r"short .*; not the JSON file compare_bn.py writes"):
        compare_bn.main(["--replot", str(tmp_path)])
    shutil.copy(out / "history_bn.json", tmp_path)
    summary = load(out, "summary.json")
    del summary["settings"]["unit"]
    (tmp_path / "summary.json").write_text(json.dumps(summary))
    with pytest.raises(FormatError, match=r"lack what compare_bn\.py writes .*have no unit"):
        compare_bn.main(["--replot", str(tmp_path)])
    (tmp_path / "summary.json").write_text("[1, 2]")
    with pytest.raises(FormatError, match=r"lack what compare_bn\.py writes \(TypeError"):
        compare_bn.main(["--replot", str(tmp_path)])
    assert not list(tmp_path.glob("*.png"))       # nothing drawn from half a run


@pytest.mark.parametrize("options,named", [
    (["--paper"], "--paper cannot apply"),
    (["--lr-sweep", "--sweep-lrs", "0.1"], "--lr-sweep, --sweep-lrs cannot apply"),
    (["--steps", "100", "--activation", "relu", "--init", "0.1"],
     "--activation, --init, --steps cannot apply"),
    (["--train-subset", "600", "--unit", "3"], "--unit, --train-subset cannot apply"),
    (["--steps", "2000", "--seed", "0"], "--steps, --seed cannot apply")])   # defaults, given
def test_replot_refuses_options_that_would_change_the_run(compare_bn, tmp_path, capsys, options,
                                                          named):
    """A redraw trains nothing: an option that would have changed the run is an error,
    not silently ignored, even at its default value (the run may have used another).
    Each is named, in the parser's order."""
    with pytest.raises(SystemExit) as info:
        compare_bn.main(["--replot", str(tmp_path), *options])
    assert info.value.code == 2 and named in capsys.readouterr().err


def test_replot_takes_options_that_change_nothing_in_the_plots(out, compare_bn, monkeypatch,
                                                              tmp_path):
    for f in out.glob("*.json"):
        shutil.copy(f, tmp_path)
    assert compare_bn.main(["--replot", str(tmp_path), "--no-progress", "--no-download",
                            "--data-dir", str(tmp_path)]) == 0


def test_replot_with_a_dpi_for_slides(out, compare_bn, tmp_path):
    import matplotlib.image as mimage
    assert compare_bn.main(["--replot", str(out), "--out", str(tmp_path), "--dpi", "220"]) == 0
    small, big = (mimage.imread(folder / "activations.png").shape for folder in (out, tmp_path))
    assert abs(big[1] / small[1] - 2) < 0.02            # twice the pixels across


def test_a_file_that_cannot_be_written_is_a_one_line_error(compare_bn):
    import signal

    import common
    def main():
        raise PermissionError(13, "Permission denied", "/srv/course/runs/paper/accuracy.png")
    before = signal.getsignal(signal.SIGTERM)
    with pytest.raises(SystemExit) as info:
        common.run_cli(main)
    assert str(info.value.code).startswith("error: [Errno 13] Permission denied")
    assert signal.getsignal(signal.SIGTERM) is before       # its SIGTERM handler is undone


def test_a_comparison_stopped_by_ctrl_c_writes_nothing(out, compare_bn, tmp_path, monkeypatch,
                                                       capsys):
    """Ctrl-C ends a net's fit early; the script went on, trained the other net and
    wrote the cut-short comparison over the folder's, with exit code 0."""
    from types import SimpleNamespace
    folder = tmp_path / "run"
    shutil.copytree(out, folder)
    before = {f.name: f.read_bytes() for f in folder.iterdir()}
    cut = SimpleNamespace(history=SimpleNamespace(interrupted=True))
    monkeypatch.setattr(compare_bn, "train_net", lambda *args, **kwargs: cut)
    for sweep in ([], ["--lr-sweep"]):
        args = compare_bn.parse_args([*sweep, "--out", str(folder)])
        run_it = compare_bn.lr_sweep if sweep else compare_bn.compare
        assert run_it(args, None, str(folder)) == 130
        assert "interrupted: nothing written" in capsys.readouterr().out
    assert {f.name: f.read_bytes() for f in folder.iterdir()} == before


def test_an_output_folder_that_cannot_be_made_is_named_as_such(compare_bn, tmp_path):
    """--out /proc/foo said only "[Errno 2] No such file or directory: '/proc/foo'";
    an --out ending in "/" printed "wrote runs/x//"."""
    import common
    from minidl.errors import SettingError
    (tmp_path / "file").write_text("")
    with pytest.raises(SettingError, match=r"cannot create the output folder .*file/sub: .*; "
                                           r"choose another --out"):
        common.ensure_dir(str(tmp_path / "file" / "sub"))
    assert common.ensure_dir(str(tmp_path / "x") + "/") == str(tmp_path / "x")


def test_the_label_digest_tells_batch_orders_apart(compare_bn):
    from minidl.data import DataLoader

    x, y = np.zeros((100, 2), np.float32), np.arange(100) % 10

    def digest(seed):
        loader = compare_bn.LabelDigest(DataLoader(x, y, 10, seed=seed))
        for _ in loader:
            pass
        return loader.sha.hexdigest(), loader.batches, loader.epoch

    assert digest(0) == digest(0)
    assert digest(0)[1:] == (10, 1)
    assert digest(0)[0] != digest(1)[0]


def test_the_recorded_layer_is_the_last_sigmoid_or_the_one_asked_for(compare_bn, capsys):
    from minidl.layers import BatchNorm, Dense, Sigmoid
    from minidl.models import mlp

    for batchnorm in (False, True):
        model = mlp(784, [100, 100], 10, "sigmoid", batchnorm=batchnorm, seed=0)
        i = compare_bn.hidden_activation(model)
        assert isinstance(model.layers[i], Sigmoid) and i == len(model.layers) - 2
        assert isinstance(model.layers[i - 1], BatchNorm) == batchnorm
        first = compare_bn.hidden_activation(model, 1)          # --layer 1
        assert isinstance(model.layers[first], Sigmoid) and first == 1 + batchnorm
        assert isinstance(model.layers[first - 1 - batchnorm], Dense)
    args = compare_bn.parse_args(["--layer", "1", "--hidden", "100", "50", "--unit", "99"])
    assert (args.layer, args.unit) == (1, 99) and compare_bn.settings(args)["layer"] == 1
    import figures                                          # the panels' titles
    assert figures.unit_label(compare_bn.settings(args)) == "unit 99 of hidden layer 1"
    assert figures.unit_label({"model": "mlp", "unit": 3}) == "unit 3 of the last hidden layer"
    assert figures.unit_label({"model": "cnn", "unit": 2, "layer": 1}) == \
        "channel 2 of conv block 1"
    assert figures.unit_label({"model": "cnn", "unit": 0}) == "channel 0 of the last conv block"
    # the figures' titles name widths other than the paper's (--hidden 50 50 was titled "MLP")
    assert figures.widths(compare_bn.settings(args)) == "hidden 100-50"
    assert figures.widths(compare_bn.settings(compare_bn.parse_args([]))) == ""
    assert figures.widths({"model": "cnn", "hidden": [100, 50]}) == ""
    for wrong, said in ((["--layer", "4"], "--layer must be in 1..3 for --model mlp --hidden "
                                           "100 100 100"),
                        (["--layer", "2", "--hidden", "100", "50", "--unit", "50"],
                         "--unit must be in 0..49 for --model mlp --layer 2"),
                        (["--model", "cnn", "--layer", "3"], "--layer must be in 1..2 for "
                                                             "--model cnn")):
        with pytest.raises(SystemExit):
            compare_bn.parse_args(wrong)
        assert said in capsys.readouterr().err


def test_every_activation_of_the_library_can_be_compared(compare_bn):
    """Tanh is a layer and an mlp() activation; the scripts used to refuse it."""
    from minidl.layers import Tanh
    from minidl.models import ACTIVATIONS
    for name in ACTIVATIONS:
        assert compare_bn.parse_args(["--activation", name]).activation == name
        assert compare_bn.SWEEP_LRS[name]                  # --lr-sweep has rates for it
    model = compare_bn.build("mlp", True, "tanh", [8, 8])
    assert isinstance(model.layers[compare_bn.hidden_activation(model)], Tanh)


def test_a_tanh_sweep_runs(mnist, tmp_path, compare_bn):
    """tanh was added to the choices without sweep rates: --lr-sweep raised KeyError."""
    args = ["--lr-sweep", "--activation", "tanh", "--steps", "10", "--eval-every", "10",
            "--train-subset", "600", "--test-subset", "100", "--no-progress", "--out",
            str(tmp_path)]
    run(args)
    results = json.loads((tmp_path / "lr_sweep.json").read_text())
    assert results["settings"]["activation"] == "tanh"
    compare_bn.check_run_in_the_way(compare_bn.parse_args(args))   # a rerun may replace it
    with pytest.raises(SystemExit, match=r"\(--steps 10 there, --steps 20 here\)"):
        compare_bn.check_run_in_the_way(compare_bn.parse_args([*args, "--steps", "20"]))


def test_a_run_with_other_settings_is_not_replaced_without_overwrite(out, compare_bn, tmp_path):
    """compare_bn.py --steps 200 into the folder of a finished run replaced its files
    without a word and left its plots of another --format beside them (an instructor
    copied an old activations.png next to the new summary.md). train.py refused."""
    folder = tmp_path / "run"
    shutil.copytree(out, folder)
    before = {f.name: f.read_bytes() for f in folder.iterdir()}
    again = [*QUICK, "--activation", "sigmoid", "--out", str(folder)]
    other = [a if a != str(STEPS) else "200" for a in again]
    with pytest.raises(SystemExit, match=rf"error: {re.escape(str(folder / 'summary.json'))} "
                                         r"holds a comparison with other settings \(--steps "
                                         rf"{STEPS} there, --steps 200 here\): choose another "
                                         r"--out, or add --overwrite to replace it"):
        compare_bn.main(other)                      # refused before the data is read
    assert {f.name: f.read_bytes() for f in folder.iterdir()} == before
    for args in (again, [*other, "--overwrite"], [*again, "--log-scale"]):   # may replace it
        compare_bn.check_run_in_the_way(compare_bn.parse_args(args))
    small = [a if a != "1000" else "100" for a in again]              # --test-subset 100
    summary = json.loads((folder / "summary.json").read_text())
    summary["settings"].update(test_subset=100, record_batch=1000)  # as written before the
    (folder / "summary.json").write_text(json.dumps(summary))        # cap: the same run
    assert compare_bn.parse_args(small).record_batch == 100
    compare_bn.check_run_in_the_way(compare_bn.parse_args(small))
    sweep = ["--lr-sweep", "--sweep-lrs", "0.1", "--out", str(folder)]
    (folder / "lr_sweep.json").write_text(json.dumps({"settings": {
        **compare_bn.settings(compare_bn.parse_args(sweep)), "lr": None, "lrs": [0.5]}}))
    with pytest.raises(SystemExit, match=r"holds an lr sweep with other settings \(--sweep-lrs "
                                         r"0.5 there, --sweep-lrs 0.1 here\)"):
        compare_bn.check_run_in_the_way(compare_bn.parse_args(sweep))
    for name in ("activations.pdf", "bn_confusion.png", "notes.txt"):
        (folder / name).write_text("from before")
    result = run([*other, "--overwrite"])                          # replaced, files and all
    assert "removed the replaced run's activations.pdf" in result.stdout
    assert not (folder / "activations.pdf").exists() and not (folder / "bn_confusion.png").exists()
    assert (folder / "lr_sweep.json").exists() and (folder / "notes.txt").exists()  # not its own
    assert load(folder, "summary.json")["settings"]["steps"] == 200
    (tmp_path / "summary.json").write_text('{"mine": 1}')     # not this script's: its folder's
    assert compare_bn.holds(folder, "summary.json")           # files are not taken for a run's
    assert not compare_bn.holds(tmp_path, "summary.json")


def test_the_cnn_is_compared_with_relu_and_without_mlp_widths(compare_bn, capsys):
    """--model cnn trained a sigmoid CNN (train.py's is ReLU), took --hidden 50 without
    a word, and refused a rerun with the default widths because of it."""
    cnn, mlp = compare_bn.parse_args(["--model", "cnn"]), compare_bn.parse_args([])
    assert (cnn.activation, mlp.activation) == ("relu", "sigmoid")
    assert compare_bn.parse_args(["--model", "cnn", "--activation", "sigmoid"]).activation \
        == "sigmoid"
    assert "hidden" not in compare_bn.settings(cnn) and "hidden" in compare_bn.settings(mlp)
    with pytest.raises(SystemExit):
        compare_bn.parse_args(["--model", "cnn", "--hidden", "50"])
    assert "--hidden sets the MLP's hidden widths; the CNN's channels are fixed (16, 32)" in \
        capsys.readouterr().err


def test_paper_preset_sets_the_paper_setting_and_options_still_win(compare_bn):
    args = compare_bn.parse_args(["--paper"])
    assert (args.model, args.activation, args.hidden, args.batch_size, args.steps) == \
        ("mlp", "sigmoid", [100, 100, 100], 60, 50_000)
    assert isinstance(args.init, float)
    assert compare_bn.parse_args(["--paper", "--steps", "10"]).steps == 10


def test_a_record_interval_longer_than_the_run_is_refused_when_given(compare_bn, capsys):
    """--paper --record-every 1000 --steps 300 recorded step 0 only: panels (b) and (c)
    came out empty, with no word. The default (or the preset's) shrinks to the run."""
    with pytest.raises(SystemExit):
        compare_bn.parse_args(["--paper", "--record-every", "1000", "--steps", "300"])
    assert ("--record-every 1000 with --steps 300 records the activations at the start and "
            "the end only (steps 0 and 300)" in capsys.readouterr().err)
    assert compare_bn.parse_args(["--steps", "60"]).record_every == 60
    assert compare_bn.parse_args(["--paper", "--steps", "150"]).record_every == 150
    assert compare_bn.parse_args(["--paper", "--steps", "300"]).record_every == 200
    assert compare_bn.parse_args(["--record-every", "60", "--steps", "60"]).record_every == 60


def test_a_sweep_refuses_the_options_it_would_ignore(compare_bn, capsys):
    """--lr-sweep --lr 0.5 --unit 3 ran the sweep's rates and recorded nothing, silently."""
    with pytest.raises(SystemExit):
        compare_bn.parse_args(["--lr-sweep", "--lr", "0.5", "--unit", "3"])
    assert ("--lr-sweep trains each rate of --sweep-lrs and records no activations: --lr, "
            "--unit cannot apply" in capsys.readouterr().err)
    assert compare_bn.parse_args(["--lr-sweep", "--paper", "--steps", "2000"]).lr_sweep
    with pytest.raises(SystemExit):              # named as given, not as --log-scale
        compare_bn.parse_args(["--lr-sweep", "--no-log-scale"])
    assert "records no activations: --no-log-scale cannot apply" in capsys.readouterr().err


def test_figure1_images_are_at_most_the_test_subset_they_come_from(compare_bn, capsys):
    """With --test-subset 100 the percentiles came from 100 images while summary.json
    said record_batch 1000."""
    assert compare_bn.parse_args(["--test-subset", "100"]).record_batch == 100
    assert compare_bn.parse_args(["--test-subset", "5000"]).record_batch == 1000
    with pytest.raises(SystemExit):
        compare_bn.parse_args(["--test-subset", "100", "--record-batch", "500"])
    assert ("--record-batch 500 is more than the 100 test images it is taken from "
            "(--test-subset)" in capsys.readouterr().err)
    assert compare_bn.parse_args(["--record-batch", "10000"]).record_batch == 10_000
    with pytest.raises(SystemExit):                  # MNIST has 10,000 test images
        compare_bn.parse_args(["--record-batch", "20000"])
    assert ("--record-batch 20000 is more than the 10000 test images it is taken from\n"
            in capsys.readouterr().err)


def test_the_paper_preset_draws_the_loss_on_a_log_axis(compare_bn):
    """50,000 steps of loss on a linear axis: all but the first 2,000 lay on the floor."""
    assert compare_bn.parse_args(["--paper"]).log_scale is True
    assert compare_bn.parse_args(["--paper", "--no-log-scale"]).log_scale is False
    assert compare_bn.parse_args([]).log_scale is False


def test_unit_must_be_one_of_the_recorded_layers_units(compare_bn):
    from minidl.layers import Conv2D
    convs = [layer for layer in compare_bn.build("cnn", False).layers if isinstance(layer, Conv2D)]
    channels = convs[-1].out_channels                        # the recorded layer's units
    assert compare_bn.parse_args(["--model", "cnn", "--unit", str(channels - 1)]).unit == channels - 1
    assert compare_bn.parse_args(["--model", "mlp", "--hidden", "7", "--unit", "6"]).unit == 6
    for argv in (["--model", "cnn", "--unit", str(channels)], ["--hidden", "7", "--unit", "7"]):
        with pytest.raises(SystemExit):
            compare_bn.parse_args(argv)


@pytest.mark.parametrize("options,message", [
    # each used to fail only once the data was loaded, or once the plain net was trained
    (["--batch-size", "0"], "argument --batch-size: must be an int >= 1, got 0"),  # modulo by 0
    (["--batch-size", "1"], "--batch-size must be at least 2 with --model mlp, got 1: BN needs "
                            "two or more values per feature to estimate a variance"),
    (["--record-every", "0"], "argument --record-every: must be an int >= 1, got 0"),
    (["--hidden", "0"], "argument --hidden: must be an int >= 1, got 0"),   # "--unit ... 0..-1"
    (["--hidden", "100", "-3"], "argument --hidden: must be an int >= 1, got -3"),
    (["--record-batch", "0"], "argument --record-batch: must be an int >= 1, got 0"),
    (["--steps", "0"], "argument --steps: must be an int >= 1, got 0"),
    (["--steps", "2.5"], "argument --steps: must be an int >= 1, got '2.5'"),
    (["--eval-every", "0"], "argument --eval-every: must be an int >= 1, got 0"),
    (["--seed", "-1"], "argument --seed: must be an int >= 0, got -1"),
    (["--lr", "0"], "argument --lr: must be a number > 0, got 0"),
    (["--lr", "nan"], "argument --lr: must be a number > 0, got nan"),
    (["--lr=-inf"], "argument --lr: must be a number > 0, got -inf"),
    (["--lr-sweep", "--sweep-lrs", "0.1", "-1"], "argument --sweep-lrs: must be a number > 0, "
                                                 "got -1"),
    (["--init", "0"], "argument --init: must be \"he\", \"xavier\" or a std > 0, got '0'"),
    (["--init", "inf"], "argument --init: must be \"he\", \"xavier\" or a std > 0, got 'inf'"),
    (["--unit", "-1"], "--unit must be in 0..99 for --model mlp"),
    (["--train-subset", "1"], "argument --train-subset: must be an int from 2 to 60,000, got 1"),
    (["--train-subset", "0"], "argument --train-subset: must be an int from 2"),  # was: all
    (["--test-subset", "0"], "argument --test-subset: must be an int from 1 to 10,000, got 0"),
    (["--train-subset", "60001"], "argument --train-subset: must be an int from 2 to 60,000, "
                                  "got 60001"),                         # was: quietly 60,000
    (["--test-subset", "20000"], "argument --test-subset: must be an int from 1 to 10,000"),
    (["--paper", "--record-every", "0"], "argument --record-every: must be an int >= 1, got 0"),
    (["--dpi", "0"], "argument --dpi: must be an int from 10 to 1,200, got 0"),
    # "" was the current folder: '--data-dir "$DATA"' with DATA unset downloaded into it
    (["--data-dir", ""], "argument --data-dir: must name a folder, got ''"),
    (["--replot", ""], "argument --replot: must name a folder, got ''")])   # trained a run
def test_a_bad_number_is_an_argparse_error_before_anything_runs(compare_bn, monkeypatch, capsys,
                                                               tmp_path, options, message):
    """The message names the option and what it takes; nothing is loaded, trained or written."""
    monkeypatch.setattr(compare_bn, "load_data", lambda args: pytest.fail("loaded the data"))
    monkeypatch.setattr(compare_bn, "train_net", lambda *a, **k: pytest.fail("trained"))
    with pytest.raises(SystemExit) as info:
        compare_bn.main(["--out", str(tmp_path / "out"), *options])
    assert info.value.code == 2
    assert f"error: {message}" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_the_smallest_good_numbers_are_taken(compare_bn):
    args = compare_bn.parse_args(["--steps", "1", "--batch-size", "2", "--eval-every", "1",
                                  "--record-every", "1", "--record-batch", "1", "--seed", "0",
                                  "--hidden", "1", "--unit", "0", "--lr", "1e-9", "--init", "1e-3",
                                  "--train-subset", "2", "--test-subset", "1"])
    assert compare_bn.parse_args(["--train-subset", "60000", "--test-subset", "10000"]
                                 ).train_subset == 60_000
    assert (args.steps, args.batch_size, args.eval_every, args.record_every, args.record_batch,
            args.seed, args.hidden, args.unit, args.lr, args.init, args.train_subset,
            args.test_subset) == (1, 2, 1, 1, 1, 0, [1], 0, 1e-9, 1e-3, 2, 1)
    assert compare_bn.parse_args(["--lr-sweep", "--sweep-lrs", "0.5", "2"]).sweep_lrs == [0.5, 2]
    # the CNN normalizes each channel over the 14x14 positions too: a batch of one works
    assert compare_bn.parse_args(["--model", "cnn", "--batch-size", "1"]).batch_size == 1
    assert compare_bn.parse_args(["--init", "he"]).init == "he"


def test_lr_sweep_records_divergence_instead_of_crashing(mnist, tmp_path):
    run(["--lr-sweep", "--activation", "relu", "--sweep-lrs", "0.1", "100", "--steps", "40",
         "--train-subset", "2000", "--test-subset", "500", "--eval-every", "40",
         "--no-progress", "--out", str(tmp_path)])
    sweep = load(tmp_path, "lr_sweep.json")
    assert [r["lr"] for r in sweep["plain"]] == [0.1, 100]
    assert not sweep["plain"][0]["diverged"] and sweep["plain"][1]["diverged"]
    assert sweep["plain"][1]["test_acc"] is None          # no accuracy for a diverged run
    assert_png(tmp_path / "lr_sweep.png")
    drawn = (tmp_path / "lr_sweep.png").read_bytes()
    (tmp_path / "lr_sweep.png").unlink()
    run(["--replot", str(tmp_path), "--format", "png", "pdf"])
    assert (tmp_path / "lr_sweep.png").read_bytes() == drawn
    assert (tmp_path / "lr_sweep.pdf").read_bytes().startswith(b"%PDF-")


def test_the_data_is_loaded_once_per_run_not_once_per_net(compare_bn, mnist, monkeypatch,
                                                          tmp_path):
    import common
    calls = []
    monkeypatch.setattr(common, "load_mnist", lambda *a, **k: calls.append(a) or mnist)
    compare_bn.main(["--lr-sweep", "--activation", "relu", "--sweep-lrs", "0.1", "0.3",
                     "--steps", "5", "--train-subset", "300", "--test-subset", "100",
                     "--eval-every", "5", "--no-progress", "--out", str(tmp_path)])
    assert len(load(tmp_path, "lr_sweep.json")["bn"]) == 2       # four nets trained ...
    assert len(calls) == 1                                        # ... on one load


@pytest.mark.parametrize("script,shown", [
    ("compare_bn.py", "layer to record (default: 0)"),                # 0 == False, yet shown
    ("compare_bn.py", "Figure 1 preset: --model mlp, --activation sigmoid, --hidden 100 100 "
                      "100, --init 0.1, --batch-size 60, --steps 50000, --lr 1,"),
    ("train.py", "seeds the weights and the batch order (default: 0)"),
    ("train.py", "peak learning rate; default: 0.1 --schedule")])   # not 0.1 (mlp), 0.1 (cnn)
def test_help_shows_real_defaults_and_no_none_or_false(script, shown):
    """Options whose default is None or False say in their own words what happens."""
    result = subprocess.run([sys.executable, str(SCRIPT.parent / script), "--help"],
                            capture_output=True, text=True, cwd=REPO, timeout=60)
    assert result.returncode == 0, result.stderr
    text = " ".join(result.stdout.split())          # argparse wraps lines anywhere
    assert "(default: None)" not in text and "(default: False)" not in text
    assert shown in text


def test_a_net_that_diverges_before_its_first_evaluation_is_drawn_and_summarized(mnist,
                                                                                   tmp_path):
    """The plain ReLU net diverges at lr 50 before step 100: the accuracy plots must
    still be written (a check for test accuracies refused it for a while), and the
    summary says it diverged rather than "not reached"."""
    result = run(["--activation", "relu", "--lr", "50", "--steps", "200", "--eval-every", "100",
                  "--train-subset", "2000", "--test-subset", "500", "--no-progress",
                  "--out", str(tmp_path)])
    assert re.search(r"without BN: final test accuracy \(first 500 test images\) "   # not all
                     r"none \(diverged at step \d+\)", result.stdout)                # 10,000
    assert_png(tmp_path / "accuracy.png")
    summary = (tmp_path / "summary.md").read_text()
    assert "| final test accuracy | none (diverged at step" in summary
    # a net with NaN or infinite arrays (here the BN net's running variance) is not saved,
    # and the last line names only the files written
    wrote = result.stdout.splitlines()[-1]
    for key in ("plain", "bn"):
        skipped = f"model_{key}.npz not written: checkpoint.save: " in result.stdout
        assert skipped != (tmp_path / f"model_{key}.npz").exists()
        assert (f"model_{key}.npz" in wrote or "model_*.npz" in wrote) != skipped


def test_a_net_that_diverges_after_its_first_evaluation_has_no_final_accuracy(mnist, tmp_path):
    """Its last evaluation before the NaN was printed as its final test accuracy (and the
    BN net 'reached' it); evaluate.py then also failed on the BN net of such a small test
    subset, which made no mistake (an empty grid of mistakes)."""
    result = run(["--activation", "relu", "--lr", "0.5", "--steps", "60", "--eval-every", "5",
                  "--train-subset", "2000", "--test-subset", "8", "--no-progress",
                  "--out", str(tmp_path)])
    assert re.search(r"without BN: final test accuracy (\(first [\d,]+ test images\) )?"
                     r"none \(diverged at step \d+\), best "
                     r"\d+\.\d\d%", result.stdout)              # evaluated before it diverged
    said = "The plain net diverged: it has no final accuracy for the BN net to reach."
    assert said in result.stdout and said in (tmp_path / "summary.md").read_text()
    summary = load(tmp_path, "summary.json")
    assert summary["plain"]["final_test_acc"] is None and summary["plain"]["best_test_acc"]
    script = REPO / "examples" / "mnist" / "evaluate.py"
    env = dict(os.environ, MPLBACKEND="Agg")
    outputs = {net: subprocess.run([sys.executable, str(script), str(tmp_path), "--net", net,
                                    "--data-dir", str(mnist_root())], capture_output=True,
                                   text=True, env=env, cwd=REPO, timeout=300)
               for net in ("plain", "bn")}
    assert outputs["bn"].returncode == 0, outputs["bn"].stderr
    # the plain net's logits overflow: it has no class to predict (argmax said 0)
    assert outputs["plain"].returncode != 0 and outputs["plain"].stderr.endswith(
        "its forward overflows (a diverged run?) (the run's final test accuracy: none "
        "(it diverged))\n")
    assert load(tmp_path, "bn_evaluation.json")["misclassified"] == []   # 8 of 8 right
    assert "most frequent mistakes: none" in outputs["bn"].stdout
    assert not (tmp_path / "bn_mistakes.png").exists()
    assert "no test image" in outputs["bn"].stdout            # 8 images: some digit is absent


@pytest.mark.parametrize("net", ["bn", "plain"])
def test_evaluate_py_reads_either_net_of_a_comparison(out, net):
    """evaluate.py rebuilds each net from summary.json's settings, on the run's test
    subset, and gives the run's own final accuracy."""
    script = REPO / "examples" / "mnist" / "evaluate.py"
    env = dict(os.environ, MPLBACKEND="Agg")
    result = subprocess.run([sys.executable, str(script), str(out), "--net", net, "--data-dir",
                             str(mnist_root())], capture_output=True, text=True, env=env,
                            cwd=REPO, timeout=300)
    assert result.returncode == 0, result.stderr
    final = load(out, "summary.json")[net]["final_test_acc"]
    got = load(out, f"{net}_evaluation.json")
    assert got["test_acc"] == final and sum(map(sum, got["confusion"])) == 1000
    assert f"the run's final test accuracy: {100 * final:.2f}%" in result.stdout
    assert_png(out / f"{net}_confusion.png")
    both = subprocess.run([sys.executable, str(script), str(out)], capture_output=True,
                          text=True, env=env, cwd=REPO, timeout=300)
    assert both.returncode == 1 and "choose one with --net bn or --net plain" in both.stderr


def test_evaluate_py_tests_a_bn_net_with_batch_statistics_too(out, compare_bn, tmp_path):
    """Running statistics (Algorithm 2) against each test batch's own, for a lecture:
    the accuracy with batch statistics must match a hand-written loop on the same
    model, and a net without BN has none to take."""
    import copy

    from minidl import checkpoint
    from minidl.evaluation import classes
    script = REPO / "examples" / "mnist" / "evaluate.py"
    args = [sys.executable, str(script), str(out), "--data-dir", str(mnist_root()), "--out",
            str(tmp_path)]
    env = dict(os.environ, MPLBACKEND="Agg")
    result = subprocess.run([*args, "--net", "bn", "--batch-stats", "1000", "3"],
                            capture_output=True, text=True, env=env, cwd=REPO, timeout=300)
    assert result.returncode == 0, result.stderr
    got = load(tmp_path, "bn_evaluation.json")["test_acc_batch_stats"]
    s = load(out, "summary.json")["settings"]
    import common                                   # beside compare_bn.py, on the path now
    model = common.build(s["model"], True, s["activation"], s["hidden"], s["seed"], s["init"])
    checkpoint.load(model, out / "model_bn.npz")
    data = common.load_data(compare_bn.parse_args(["--data-dir", str(mnist_root())]))
    x, y = common.loader_of_test_set(data, "mlp", 1000, s["test_subset"]).batch(np.arange(999))
    twin = copy.deepcopy(model).train()
    by_threes = np.mean([classes(twin.forward(x[i:i + 3])) == y[i:i + 3]
                         for i in range(0, 999, 3)])
    assert got["3"] == pytest.approx(by_threes, abs=1e-12)
    assert (f"with each batch of 3 test images normalized by its own statistics instead of the "
            f"population's: test accuracy {100 * got['3']:.2f}% (1 image left out: a batch of "
            "one has no variance here)") in result.stdout
    assert f"test accuracy {100 * got['1000']:.2f}%\n" in result.stdout
    plain = subprocess.run([*args, "--net", "plain", "--batch-stats", "2"], capture_output=True,
                           text=True, env=env, cwd=REPO, timeout=300)
    assert plain.returncode == 1 and "this net of" in plain.stderr and "has no BN" in \
        plain.stderr and "the comparison's BN net is --net bn" in plain.stderr
    import evaluate                         # batches of one image: none for an MLP's BN,
    config = {"model": "mlp"}               # a crash (ZeroDivisionError) before
    with pytest.raises(SettingError, match=r"--batch-stats 1: BN cannot normalize a batch of "
                                           r"one image in this net"):
        evaluate.batch_statistics(model, data, config, 10, 1)
    from minidl.models import cnn           # but a CNN's BN normalizes one image's positions
    assert evaluate.batch_statistics(cnn(batchnorm=True, seed=0), data, {"model": "cnn"}, 4,
                                     3)[1] == 0                # the last, single image too


def test_missing_data_leaves_no_empty_output_folder(compare_bn, tmp_path):
    """The folder was made before the data was read (train.py made it only after)."""
    with pytest.raises(DataNotFoundError):
        compare_bn.main(["--data-dir", str(tmp_path / "no-data"), "--no-download",
                         "--out", str(tmp_path / "run")])
    assert not (tmp_path / "run").exists()


def test_files_of_its_names_without_a_run_of_its_own_are_not_written_over(compare_bn, tmp_path):
    """Only summary.json (or lr_sweep.json) was looked at: without it, a folder's own
    history_bn.json or lr_sweep.png was written over without a word."""
    (tmp_path / "history_bn.json").write_text('{"mine": 1}')
    (tmp_path / "lr_sweep.png").write_text("mine")
    for args, found, owner in [([], "history_bn.json", "summary.json"),
                               (["--lr-sweep"], "lr_sweep.png", "lr_sweep.json")]:
        with pytest.raises(SystemExit, match=rf"error: {re.escape(str(tmp_path))} holds {found} "
                                             rf"but no {owner} with a run's settings: this run "
                                             r"would write over them; choose another --out, or "
                                             r"add --overwrite to replace them"):
            compare_bn.check_run_in_the_way(compare_bn.parse_args([*args, "--out",
                                                                   str(tmp_path)]))
        compare_bn.check_run_in_the_way(compare_bn.parse_args([*args, "--out", str(tmp_path),
                                                               "--overwrite"]))
    (tmp_path / "history_bn.json").unlink()
    (tmp_path / "bn_confusion.png").write_text("mine")    # evaluate.py's: not written by a run
    compare_bn.check_run_in_the_way(compare_bn.parse_args(["--out", str(tmp_path)]))
    (tmp_path / "loss_curves.svg").write_text("mine")     # a format this run does not write
    compare_bn.check_run_in_the_way(compare_bn.parse_args(["--out", str(tmp_path)]))
    with pytest.raises(SystemExit, match=r"holds loss_curves\.svg but no summary\.json"):
        compare_bn.check_run_in_the_way(compare_bn.parse_args(["--out", str(tmp_path),
                                                               "--format", "svg"]))
    (tmp_path / "history_plain.json").write_text(   # a comparison stopped before its
        json.dumps({"config": {"model": "mlp"}}))    # summary.json: its own, rerun it
    compare_bn.check_run_in_the_way(compare_bn.parse_args(["--out", str(tmp_path),
                                                           "--format", "svg"]))


def test_replot_does_not_draw_over_the_plots_of_another_comparison(out, compare_bn, monkeypatch,
                                                                   tmp_path):
    """--replot A --out B replaced B's loss_curves.png, accuracy.png and activations.png
    with A's, without a word, when B held another comparison."""
    other, copy = tmp_path / "other", tmp_path / "copy"
    shutil.copytree(out, other)
    shutil.copytree(out, copy)                            # the same run: may be redrawn
    summary = load(other, "summary.json")
    summary["settings"]["lr"] = 0.5                       # as a run with --lr 0.5 writes it
    (other / "summary.json").write_text(json.dumps(summary))
    forbid_training(compare_bn, monkeypatch)

    def refused(folder, says):       # the replot stops, and leaves every file as it was
        before = {f.name: f.read_bytes() for f in folder.iterdir()}
        with pytest.raises(SystemExit, match=says):
            compare_bn.main(["--replot", str(out), "--out", str(folder)])
        assert {f.name: f.read_bytes() for f in folder.iterdir()} == before
    refused(other, rf"error: {re.escape(str(other / 'summary.json'))} holds a comparison with "
                   rf"other settings than {re.escape(str(out))}'s \(--lr 0.5 there, --lr 0.1 "
                   rf"in {re.escape(str(out))}\): its plots would be replaced .*add --overwrite "
                   r"to replace them")
    assert compare_bn.main(["--replot", str(out), "--out", str(copy)]) == 0
    rerun, summary = tmp_path / "rerun", load(out, "summary.json")
    shutil.copytree(out, rerun)          # the same settings, run again: other wall times
    summary["plain"].update(wall_time_s=1.0, ms_per_step=2.0)
    (rerun / "summary.json").write_text(json.dumps(summary))
    assert compare_bn.main(["--replot", str(out), "--out", str(rerun)]) == 0
    acc = summary["plain"]["final_test_acc"]   # and other kernels: other results (a review
    summary["plain"]["final_test_acc"] = 0.5   # found plots of 97.58% beside a 97.63% summary)
    (rerun / "summary.json").write_text(json.dumps(summary))
    refused(rerun, rf"holds a comparison with the same settings but other results than "
                   rf"{re.escape(str(out))}'s \(plain final_test_acc 0.5 there, {acc} in "
                   rf"{re.escape(str(out))}\): its plots would be replaced .* and no longer "
                   r"match its summary")
    assert compare_bn.main(["--replot", str(out), "--out", str(other), "--overwrite"]) == 0
    assert (other / "accuracy.png").read_bytes() == (out / "accuracy.png").read_bytes()
    sweep = {"settings": {**summary["settings"], "lr": None, "lrs": [0.1]},
             "plain": [{"lr": 0.1, "test_acc": 0.9, "diverged": False}]}
    sweep["bn"] = sweep["plain"]
    for folder, lrs in ((tmp_path / "sweep", [0.1]), (tmp_path / "sweep2", [0.5])):
        folder.mkdir()
        sweep["settings"]["lrs"] = lrs
        (folder / "lr_sweep.json").write_text(json.dumps(sweep))
    with pytest.raises(SystemExit, match=r"holds an lr sweep with other settings than .*"
                                         r"\(--sweep-lrs 0.5 there, --sweep-lrs 0.1 in "):
        compare_bn.main(["--replot", str(tmp_path / "sweep"), "--out", str(tmp_path / "sweep2")])
    assert not (tmp_path / "sweep2" / "lr_sweep.png").exists()
    sweep["settings"]["lrs"] = [0.1]
    sweep["bn"] = [{"lr": 0.1, "test_acc": 0.8, "diverged": False}]
    (tmp_path / "sweep2" / "lr_sweep.json").write_text(json.dumps(sweep))
    with pytest.raises(SystemExit, match=r"holds an lr sweep with the same settings but other "
                                         r"results .*\(bn\[0\] test_acc 0.8 there, 0.9 in "):
        compare_bn.main(["--replot", str(tmp_path / "sweep"), "--out", str(tmp_path / "sweep2")])


def test_results_changed_takes_a_copy_of_a_diverged_run_for_the_same_results(compare_bn,
                                                                            tmp_path):
    """A diverged net's NaN loss is equal to its copy's (NaN != NaN as floats): the
    copy takes the plots; another NaN or number in its place does not."""
    summary = {"settings": {"model": "mlp"}, "note": "n",
               "plain": {"final_train_loss": float("nan"), "wall_time_s": 1.0,
                         "diverged": {"step": 3, "loss": float("inf")}},
               "bn": [{"lr": 0.1, "test_acc": 0.9, "wall_time_s": 2.0}]}
    a, b = tmp_path / "a.json", tmp_path / "b.json"
    jsonfile.write(a, summary)
    jsonfile.write(b, {**summary, "note": "other", "bn": [{**summary["bn"][0],
                                                           "wall_time_s": 9.0}]})
    assert compare_bn.results_changed(str(b), str(a), "A") == []
    jsonfile.write(b, {**summary, "plain": {**summary["plain"], "final_train_loss": 0.5}})
    assert compare_bn.results_changed(str(b), str(a), "A") == [
        "plain final_train_loss 0.5 there, nan in A"]
    (tmp_path / "c.json").write_text("not json")
    assert compare_bn.results_changed(str(tmp_path / "c.json"), str(a), "A") == [
        "its results cannot be read"]


def test_a_comparison_that_diverges_at_once_is_drawn_and_redrawn(mnist, tmp_path):
    """--init 1e37: the forward overflows, and the percentiles recorded at step 0 are NaN.
    Figure 1 ended in "ValueError: Axis limits cannot be NaN or Inf" (and --replot too),
    after the summary was written but before the plots."""
    result = run(["--init", "1e37", "--steps", "4", "--eval-every", "2", "--record-every", "2",
                  "--train-subset", "200", "--test-subset", "100", "--no-progress",
                  "--out", str(tmp_path)])
    assert "diverged" in result.stdout
    assert_png(tmp_path / "activations.png")
    run(["--replot", str(tmp_path), "--out", str(tmp_path / "again")])
    assert (tmp_path / "again" / "activations.png").read_bytes() == \
        (tmp_path / "activations.png").read_bytes()


def test_an_init_whose_weights_overflow_float32_is_refused(compare_bn, capsys):
    """--init 1e300 drew infinite weights with a RuntimeWarning, and trained on them."""
    with pytest.raises(SystemExit) as info:
        compare_bn.parse_args(["--init", "1e300"])
    assert info.value.code == 2 and ("argument --init: a std of 1e300 draws weights beyond "
                                     "float32's range (3.4e38, then infinite); it must be at "
                                     "most 3.4e+37") in capsys.readouterr().err
    assert compare_bn.parse_args(["--init", "3e37"]).init == 3e37


@pytest.mark.parametrize("options,message", [
    (["--sweep-lrs", "1", "2"], "--sweep-lrs gives the rates of an lr sweep: add --lr-sweep "
                                "to run one"),                   # it ran a comparison instead
    (["--lr-sweep", "--sweep-lrs", "0.1", "1", "0.10"], "--sweep-lrs gives 0.1 more than once; "
                                                        "give each rate once")])
def test_sweep_rates_without_a_sweep_or_given_twice_are_refused(compare_bn, capsys, options,
                                                                 message):
    with pytest.raises(SystemExit) as info:
        compare_bn.parse_args(options)
    assert info.value.code == 2 and message in capsys.readouterr().err
