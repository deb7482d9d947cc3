"""Look at what a trained net gets wrong: accuracy per digit, the confusion
matrix, and the misclassified test images.

    python examples/mnist/train.py --model mlp --epochs 1 --out runs/mlp
    python examples/mnist/evaluate.py runs/mlp
    python examples/mnist/evaluate.py runs/paper --net bn      # a compare_bn.py run

rebuilds the network a run trained (from the options it recorded), loads the
weights, standardizes the test images as training did, and writes into the
run's folder (or --out) confusion.png, mistakes.png and evaluation.json
(prefixed bn_ or plain_ for a compare_bn.py net); an --out that holds another
run, or the evaluation of another, is refused unless --overwrite. For a finished
run its test loss and accuracy are the run's final ones; a train.py run that
stopped early (Ctrl-C) is compared with its last evaluation.
"""
import argparse
import copy
import os
from dataclasses import dataclass

import numpy as np

from common import (PLOT_FORMATS, Help, add_data_arguments, add_format_argument, build,
                    ensure_dir, folder_name, history_there, int_at_least, load_data,
                    loader_of_test_set, names, remove_stale, run_cli, same_folder, write_json)
from minidl import checkpoint, jsonfile, plot
from minidl.errors import (CheckpointError, DataNotFoundError, DivergenceError, FormatError,
                           SettingError, ShapeError)
from minidl.evaluation import classes, evaluate, predict
from minidl.layers import BatchNorm
from minidl.losses import SoftmaxCrossEntropy
from minidl.models import ACTIVATIONS

BUILT_FROM = ("model", "batchnorm", "activation", "hidden", "seed")   # train.py's options
# what build() takes of each recorded option: a checkpoint or summary.json written by
# something else may hold anything ("model": "rnn" built a CNN, "hidden": 10 a TypeError)
EXPECTED = {"model": ('"mlp" or "cnn"', lambda v: v in ("mlp", "cnn")),
            "batchnorm": ("true or false", lambda v: isinstance(v, bool)),
            "activation": (f"one of {sorted(ACTIVATIONS)}", lambda v: v in ACTIVATIONS),
            "hidden": ("a list of widths >= 1", lambda v: isinstance(v, list) and len(v) > 0
                       and all(type(w) is int and w >= 1 for w in v)),
            "seed": ("an int >= 0", lambda v: type(v) is int and v >= 0)}
MOST_MISTAKES = 400      # a 20 x 20 grid; 10,000 took minutes and gigabytes to draw


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=Help)
    p.add_argument("run", metavar="RUN", type=folder_name,
                   help="the --out folder of a train.py or compare_bn.py run")
    p.add_argument("--net", choices=["bn", "plain"], default=None,
                   help="for a compare_bn.py folder: the net with BN or the one without")
    p.add_argument("--out", type=folder_name, default=None, help="output folder (default: RUN)")
    p.add_argument("--overwrite", action="store_true",
                   help="replace the evaluation of another run in --out, or write beside "
                        "another run there (otherwise refused)")
    p.add_argument("--mistakes", type=int_at_least(1, MOST_MISTAKES), default=30, metavar="N",
                   help=f"show the first N misclassified test images (at most {MOST_MISTAKES})")
    p.add_argument("--batch-stats", type=int_at_least(1), nargs="+", default=[], metavar="N",
                   help="also test a BN net with each test batch of N images normalized by "
                        "its own mean and variance, as in training (Algorithm 1), instead of "
                        "the population statistics (Algorithm 2)")
    add_data_arguments(p, train_subset=False)
    add_format_argument(p)
    return p.parse_args(argv)


@dataclass
class Run:
    """A trained network and what its run measured, to compare with."""
    model: object
    config: dict          # model, batchnorm, activation: what the titles name
    step: int             # steps the weights were trained for
    measured: str         # the run's own accuracy for these weights, in words
    test_subset: int      # the test images the run evaluated on (None: all)
    name: str             # the output files' prefix


def trained_run(folder, net):
    """The network of a train.py run (checkpoint.npz) or of one of the two nets of
    a compare_bn.py run (model_<net>.npz), with its weights."""
    if os.path.exists(os.path.join(folder, "checkpoint.npz")):
        if net is not None:
            raise SettingError(f"{folder} holds a train.py run, one net: --net is for the "
                               "two nets of a compare_bn.py run")
        return train_py_run(folder)
    if os.path.exists(os.path.join(folder, "summary.json")):
        return compare_bn_run(folder, net)
    diverged = diverged_before_a_checkpoint(folder)
    if diverged:
        raise DivergenceError(f"{folder}: its train.py run diverged at step {diverged['step']} "
                              f"({diverged['cause']}), before its first checkpoint: there are "
                              "no weights to evaluate. Train again with a smaller --lr")
    raise DataNotFoundError(f"{folder}: neither checkpoint.npz (train.py) nor summary.json "
                            "(compare_bn.py) there; give the --out folder of a run")


def diverged_before_a_checkpoint(folder):
    """The divergence record in the history.json of a train.py run in folder, or
    None: a run that diverged in its first epoch leaves no checkpoint."""
    diverged = (history_there(folder) or {}).get("diverged")
    return diverged if isinstance(diverged, dict) and {"step", "cause"} <= diverged.keys() \
        else None


def wrong_options(options):
    """The recorded options in `options` that build() cannot take, in words ("hidden 10,
    expected a list of widths >= 1"); the MLP's widths only for an MLP."""
    return [f"{key} {options[key]!r}, expected {what}" for key, (what, fits) in EXPECTED.items()
            if key in options and not fits(options[key])
            and not (key == "hidden" and options.get("model") == "cnn")]


def train_py_run(folder):
    path = os.path.join(folder, "checkpoint.npz")
    meta = checkpoint.read_meta(path)
    history = meta.get("history")
    config = history.get("config") if isinstance(history, dict) else None
    if not isinstance(config, dict) or not all(key in config for key in BUILT_FROM):
        raise CheckpointError(f"{path}: its metadata lacks train.py's options "
                              f"({', '.join(BUILT_FROM)}); was it written by train.py?")
    wrong = wrong_options(config)
    if wrong:
        raise CheckpointError(f"{path}: its metadata holds options train.py does not write "
                              f"({'; '.join(wrong)}); was it written by train.py?")
    try:                        # before the model is built or the data read
        step, measured = meta["step"], compared_with_run(meta, config)
    except (KeyError, TypeError, AttributeError, IndexError) as e:
        raise CheckpointError(f"{path}: its metadata lacks what train.py records "
                              f"({type(e).__name__}: {e}); was it written by train.py?") from None
    model = build(*(config[key] for key in BUILT_FROM))
    checkpoint.load(model, path)
    return Run(model, config, step, measured, None, "")


def compared_with_run(meta, config):
    """What a train.py run itself measured for these weights. A run that did not
    finish (Ctrl-C, killed, or diverged after this checkpoint) has only its last
    evaluation, which may be from an earlier step."""
    records = [r for r in meta["history"]["records"] if r["test_acc"] is not None]
    last = records[-1] if records else None
    seen = "none" if last is None else f"{100 * last['test_acc']:.2f}%"
    finished = (not meta["history"].get("interrupted") and
                meta["loader"]["epoch"] >= config.get("epochs", 0))
    if finished and last is not None and last["step"] == meta["step"]:
        return f"the run's final test accuracy: {seen}"
    at = "" if last is None else f", at step {last['step']}"
    epoch, epochs = meta["loader"]["epoch"], config.get("epochs", "?")
    where = (f"after epoch {epoch} of {epochs}" if meta["loader"].get("position") == 0 else
             f"of epoch {epoch + 1} of {epochs}")      # at an epoch's end, or within the next
    return (f"the run stopped before its end, at step {meta['step']} {where}; "
            f"its last evaluation{at}: {seen}")


def compare_bn_run(folder, net):
    if net is None:
        raise SettingError(f"{folder} holds compare_bn.py's two nets: choose one with "
                           "--net bn or --net plain")
    path = os.path.join(folder, "summary.json")
    try:
        summary = jsonfile.read(path)
        settings, own = summary["settings"], summary[net]
        wrong = wrong_options(settings)
        if wrong:                                      # "model": "rnn" built a CNN
            raise FormatError(f"{path}: its settings hold {'; '.join(wrong)}")
        model = build(settings["model"], net == "bn", settings["activation"],
                      settings.get("hidden"), settings["seed"], init=settings["init"])
        final, steps, subset = own["final_test_acc"], own["steps_done"], settings["test_subset"]
    except FormatError as e:                           # not JSON: jsonfile names the file
        raise FormatError(f"{e}; not the summary.json compare_bn.py writes") from None
    except (ValueError, KeyError, TypeError) as e:     # JSON, but not a summary's
        raise FormatError(f"{path}: not the summary.json compare_bn.py writes ({e!r})") from None
    checkpoint.load(model, os.path.join(folder, f"model_{net}.npz"))
    config = {"model": settings["model"], "batchnorm": net == "bn",
              "activation": settings["activation"]}
    measured = ("the run's final test accuracy: " +
                ("none (it diverged)" if final is None else f"{100 * final:.2f}%"))
    return Run(model, config, steps, measured, subset, f"{net}_")


# --- the output folder ------------------------------------------------------------------
def evaluation_files(name):
    """The files an evaluation writes (name: their prefix, "", "bn_" or "plain_"), its
    plots in every format."""
    plots = [f"{name}{stem}.{kind}" for stem in ("confusion", "mistakes") for kind in PLOT_FORMATS]
    return [f"{name}evaluation.json", *plots]


def evaluated_there(out, name):
    """The RUN whose evaluation's {name}evaluation.json is in out, or None."""
    try:
        run = jsonfile.read(os.path.join(out, f"{name}evaluation.json"))["run"]
        return run if isinstance(run, str) else None
    except (OSError, ValueError, KeyError, TypeError):     # none, or not one we wrote
        return None


def check_out_in_the_way(args, name):
    """SystemExit unless --out may take this evaluation's files: RUN's own folder (the
    default) and a folder with an earlier evaluation of the same RUN always may; files
    of their names from anything else (another run's evaluation, say), which would be
    written over, and another run's folder, where they would be taken for that run's, only
    with --overwrite. Returns whether out holds the evaluation of another run that this
    one replaces: its files that this one does not write are then removed."""
    out = args.out
    if out is None or same_folder(out, args.run):
        return False
    there = evaluated_there(out, name)
    if there is not None and same_folder(there, args.run):
        return False                                    # the same evaluation again
    if args.overwrite:
        return there is not None
    found = [f for f in evaluation_files(name) if os.path.lexists(os.path.join(out, f))]
    if found:
        whose = (f"of an evaluation of {there}" if there else
                 f"with no {name}evaluation.json that names the run they are of")
        raise SystemExit(f"error: {out} holds {', '.join(found)} {whose}: this evaluation of "
                         f"{args.run} would write over them; choose another --out, or add "
                         "--overwrite to replace them")
    runs = [f for f in ("checkpoint.npz", "summary.json") if os.path.exists(os.path.join(out, f))]
    if runs:
        raise SystemExit(f"error: {out} holds another run ({', '.join(runs)}): the files of this "
                         f"evaluation of {args.run} would be taken for that run's; choose another "
                         "--out, or add --overwrite to write them there")
    return False


# --- evaluating ------------------------------------------------------------------------
def batch_statistics(model, data, config, test_subset, size):
    """(accuracy, images left out) with every BN layer normalizing each test batch of
    `size` images by the batch's own mean and variance, as in training: what the
    population statistics of Algorithm 2 are there to avoid at inference, where a
    prediction would depend on the other images of its batch. On a copy of the model,
    whose running statistics these training-mode forwards move. A batch of one image
    in an MLP has one value per feature, no variance, and is left out (a CNN's BN
    takes one image's positions)."""
    twin = copy.deepcopy(model)
    twin.train()
    test = loader_of_test_set(data, config["model"], size, test_subset)
    correct = seen = 0
    for xb, yb in test.in_order():
        try:
            correct += int(np.count_nonzero(classes(twin.forward(xb)) == yb))
            seen += len(xb)
        except ShapeError:
            if len(xb) > 1:
                raise
    if not seen:
        raise SettingError(f"--batch-stats {size}: BN cannot normalize a batch of one image "
                           "in this net (one value per feature, no variance)")
    return correct / seen, len(test.x) - seen


def main(argv=None):
    args = parse_args(argv)
    run = trained_run(args.run, args.net)
    config = run.config
    if args.batch_stats and not any(isinstance(layer, BatchNorm) for layer in run.model.layers):
        raise SettingError(f"--batch-stats: this net of {args.run} has no BN, so no "
                           "statistics to take from the batch"
                           + ("; the comparison's BN net is --net bn" if args.net else ""))
    replacing = check_out_in_the_way(args, run.name)      # before the data is read
    out = ensure_dir(args.out or args.run)
    data = load_data(args)
    test = loader_of_test_set(data, config["model"], test_subset=run.test_subset)
    loss, accuracy = evaluate(run.model, SoftmaxCrossEntropy(), test)
    by_batch = {n: batch_statistics(run.model, data, config, run.test_subset, n)
                for n in args.batch_stats}          # before any file is written
    try:
        predicted, labels = predict(run.model, test)
    except DivergenceError as e:      # no class to count in a confusion matrix
        raise DivergenceError(f"{e} ({run.measured})") from None
    digits = 10
    counts = np.bincount(labels * digits + predicted, minlength=digits ** 2)
    counts = counts.reshape(digits, digits)      # counts[i, j]: digit i taken for j
    with np.errstate(invalid="ignore"):            # a digit absent from a subset: NaN
        per_digit = counts.diagonal() / counts.sum(axis=1)
    wrong = np.flatnonzero(predicted != labels)
    shown = wrong[:args.mistakes]

    what = (f"{config['model'].upper()} {plot.style.activation_name(config['activation'])}, "
            f"{'with' if config['batchnorm'] else 'without'} BN, step {run.step}")
    figures = {"confusion": plot.confusion(counts, title=f"Confusion matrix: {what}")}
    if len(shown):                                 # a small test subset may have no mistake
        figures["mistakes"] = plot.image_grid(
            data.x_test[shown], [f"{labels[i]} as {predicted[i]}" for i in shown],
            title=f"The first {len(shown)} of {len(wrong)} misclassified test images ({what})")
    plots = [p for name, fig in figures.items()
             for p in plot.save(fig, os.path.join(out, run.name + name), args.format, args.dpi)]
    pairs = sorted(((counts[i, j], i, j) for i in range(digits) for j in range(digits)
                    if i != j and counts[i, j]), reverse=True)
    result = {"run": args.run, "net": args.net, "step": run.step, "test_loss": loss,
              "test_acc": accuracy,
              **({"test_acc_batch_stats": {str(n): acc for n, (acc, _) in by_batch.items()}}
                 if by_batch else {}),
              "per_digit_acc": [None if np.isnan(a) else a for a in per_digit.tolist()],
              "confusion": counts.tolist(),
              "misclassified": wrong.tolist()}
    written = os.path.join(out, f"{run.name}evaluation.json")
    write_json(written, result)

    print(f"{what}: test loss {loss:.4f}, test accuracy {100 * accuracy:.2f}% "
          f"({len(wrong)} of {len(labels)} wrong; {run.measured})")
    print("accuracy per digit: " + ", ".join(
        f"{d}: {'no test image' if np.isnan(a) else f'{100 * a:.1f}%'}"
        for d, a in enumerate(per_digit)))
    print("most frequent mistakes: " + (", ".join(f"{i} as {j} ({n})" for n, i, j in pairs[:5])
                                        or "none"))
    for n, (acc, left_out) in by_batch.items():
        n = min(n, len(labels))                     # a test subset smaller than N: one batch
        print(f"with each batch of {n} test image{'s' * (n > 1)} normalized by its own "
              f"statistics instead of the population's: test accuracy {100 * acc:.2f}%"
              + (f" ({left_out} image left out: a batch of one has no variance here)"
                 if left_out else ""))
    print(f"wrote {out}/: {names(plots + [written])}")
    if replacing:             # another run's confusion.pdf, say, would pass for this one's
        remove_stale(out, evaluation_files(run.name), [os.path.basename(p) for p in plots
                                                       + [written]])
    return 0


if __name__ == "__main__":
    run_cli(main)
