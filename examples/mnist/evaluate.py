"""Look at what a train.py run gets wrong: accuracy per digit, the confusion
matrix, and the misclassified test images.

    python examples/mnist/train.py --model mlp --epochs 1 --out runs/mlp
    python examples/mnist/evaluate.py runs/mlp

rebuilds the network the run trained (from the options its checkpoint records),
loads the weights, standardizes the test images as train.py does, and writes
into the run's folder (or --out) confusion.png, mistakes.png and
evaluation.json. For a finished run its test loss and accuracy are the run's
final ones; a run that stopped early (Ctrl-C) is compared with its last
evaluation.
"""
import argparse
import json
import os

import numpy as np

from common import (Help, add_data_arguments, add_format_argument, build, ensure_dir,
                    load_data, loader_of_test_set, names, run_cli)
from minidl import checkpoint, plot
from minidl.errors import CheckpointError, DataNotFoundError
from minidl.files import atomic_path
from minidl.losses import SoftmaxCrossEntropy
from minidl.train import evaluate, predict

BUILT_FROM = ("model", "batchnorm", "activation", "hidden", "seed")   # train.py's options


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=Help)
    p.add_argument("run", metavar="RUN", help="the --out folder of a train.py run")
    p.add_argument("--out", default=None, help="output folder (default: RUN)")
    p.add_argument("--mistakes", type=int, default=30, metavar="N",
                   help="show the first N misclassified test images")
    add_data_arguments(p, train_subset=False)
    add_format_argument(p)
    args = p.parse_args(argv)
    if args.mistakes < 1:
        p.error("--mistakes must be at least 1")
    return args


def trained_model(run):
    """The network of a train.py run with its weights, and the run's metadata."""
    path = os.path.join(run, "checkpoint.npz")
    if not os.path.exists(path):
        raise DataNotFoundError(f"{run}: no checkpoint.npz there; give the --out folder of a "
                                "train.py run (compare_bn.py's model_*.npz are not read)")
    meta = checkpoint.read_meta(path)
    config = meta.get("history", {}).get("config") or {}
    if not all(key in config for key in BUILT_FROM):
        raise CheckpointError(f"{path}: its metadata lacks train.py's options "
                              f"({', '.join(BUILT_FROM)}); was it written by train.py?")
    model = build(*(config[key] for key in BUILT_FROM))
    checkpoint.load(model, path)
    return model, meta, config


def compared_with_run(meta, config):
    """What the run itself measured for these weights, to compare with. A run that
    did not finish (Ctrl-C, killed, or diverged after this checkpoint) has only
    its last evaluation, which may be from an earlier step."""
    records = [r for r in meta["history"]["records"] if r["test_acc"] is not None]
    last = records[-1] if records else None
    seen = "none" if last is None else f"{100 * last['test_acc']:.2f}%"
    finished = (not meta["history"].get("interrupted") and
                meta["loader"]["epoch"] >= config.get("epochs", 0))
    if finished and last is not None and last["step"] == meta["step"]:
        return f"the run's final test accuracy: {seen}"
    at = "" if last is None else f", at step {last['step']}"
    return (f"the run stopped before its end, at step {meta['step']} of epoch "
            f"{meta['loader']['epoch'] + 1} of {config.get('epochs', '?')}; "
            f"its last evaluation{at}: {seen}")


def main(argv=None):
    args = parse_args(argv)
    model, meta, config = trained_model(args.run)
    out = ensure_dir(args.out or args.run)
    data = load_data(args)
    test = loader_of_test_set(data, config["model"])
    loss, accuracy = evaluate(model, SoftmaxCrossEntropy(), test)
    predicted, labels = predict(model, test)
    classes = 10
    counts = np.bincount(labels * classes + predicted, minlength=classes ** 2)
    counts = counts.reshape(classes, classes)      # counts[i, j]: digit i taken for j
    per_digit = counts.diagonal() / counts.sum(axis=1)
    wrong = np.flatnonzero(predicted != labels)
    shown = wrong[:args.mistakes]

    what = (f"{config['model'].upper()} {config['activation']}, "
            f"{'with' if config['batchnorm'] else 'without'} BN, step {meta['step']}")
    figures = {
        "confusion": plot.confusion(counts, title=f"Confusion matrix: {what}"),
        "mistakes": plot.image_grid(data.x_test[shown], [f"{labels[i]} as {predicted[i]}"
                                                         for i in shown],
                                    title=f"The first {len(shown)} of {len(wrong)} "
                                          f"misclassified test images ({what})")}
    plots = [p for name, fig in figures.items()
             for p in plot.save(fig, os.path.join(out, name), args.format, args.dpi)]
    pairs = sorted(((counts[i, j], i, j) for i in range(classes) for j in range(classes)
                    if i != j and counts[i, j]), reverse=True)
    result = {"run": args.run, "step": meta["step"], "test_loss": loss, "test_acc": accuracy,
              "per_digit_acc": per_digit.tolist(), "confusion": counts.tolist(),
              "misclassified": wrong.tolist()}
    with atomic_path(os.path.join(out, "evaluation.json"), suffix=".json") as tmp:
        with open(tmp, "w") as f:
            json.dump(result, f, indent=1)

    print(f"{what}: test loss {loss:.4f}, test accuracy {100 * accuracy:.2f}% "
          f"({len(wrong)} of {len(labels)} wrong; {compared_with_run(meta, config)})")
    print("accuracy per digit: " + ", ".join(f"{d}: {100 * a:.1f}%"
                                             for d, a in enumerate(per_digit)))
    print("most frequent mistakes: " + ", ".join(f"{i} as {j} ({n})" for n, i, j in pairs[:5]))
    print(f"wrote {out}/: {names(plots)} evaluation.json")
    return 0


if __name__ == "__main__":
    run_cli(main)
