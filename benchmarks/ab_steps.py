"""A/B timing of a change: training steps of two versions of minidl, taking turns.

The machine's speed here swings by a factor of two within minutes, so two
separate runs cannot show whether a change saves 5%. This script loads the
working tree's minidl and the one of a git revision (as a renamed copy,
`minidl_base`) into one process and times their training steps in turn,
step by step, on the same batches: a burst of load hits both alike.
The order in which they go changes from step to step.

    python benchmarks/ab_steps.py --base HEAD --model cnn --bn on --steps 300
    python benchmarks/ab_steps.py --base HEAD~3 --model mlp --batch 256

Prints the median step of each, their ratio (new / base), the median of the
step-by-step ratios, and each version's loss after the last step (equal
unless the change alters the arithmetic).

A third model, a second copy of the base (`minidl_control`), takes its turn
too: identical code, so control / base would be 1.000 on a quiet machine.
It came out as high as 1.15 (2026-11-27, afternoon), which appears to have
come from the heap: each model now trains one step on half a batch during
the warm-up, as training does at the end of an epoch; without it every CNN
step got its memory anew from the OS (bench_epoch.smaller_batch_step), and
since then control / base has stayed within 2% on a quiet machine. A new /
base no further from 1 than control / base is still not a result. The last
line gives each model's page faults per timed step.
"""
import argparse
import importlib
import io
import itertools
import re
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

import numpy as np
from bench_epoch import (DEFAULT_BATCHES, batches, make_data, minor_faults, positive, setup,
                         smaller_batch_step, train_step)

ROOT = Path(__file__).resolve().parents[1]


def load_base(rev, into, name="minidl_base"):
    """minidl as of git revision `rev`, importable as `name`."""
    git = subprocess.run(["git", "-C", str(ROOT), "archive", rev, "minidl"], capture_output=True)
    if git.returncode != 0:
        sys.exit(f"ab_steps: git archive {rev} failed: {git.stderr.decode().strip()}")
    safe = {"filter": "data"} if hasattr(tarfile, "data_filter") else {}   # newer Pythons
    with tarfile.open(fileobj=io.BytesIO(git.stdout)) as t:
        t.extractall(into, **safe)
    package = Path(into) / name
    (Path(into) / "minidl").rename(package)
    for f in package.rglob("*.py"):            # its imports must not reach the working tree
        f.write_text(re.sub(r"\bminidl\b", name, f.read_text()))
    if into not in sys.path:
        sys.path.insert(0, into)
    return importlib.import_module(name)


def unload_base(into, names=("minidl_base", "minidl_control")):
    """Remove the copies load_base(rev, into, name) imported: modules and path entry."""
    if into in sys.path:
        sys.path.remove(into)
    for module in [m for m in sys.modules if m.split(".")[0] in names]:
        del sys.modules[module]


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--base", default="HEAD", help="git revision to compare against")
    p.add_argument("--model", choices=["mlp", "cnn"], default="mlp")
    p.add_argument("--bn", choices=["on", "off"], default="on")
    p.add_argument("--batch", type=positive, help="default 60 (mlp) / 64 (cnn)")
    p.add_argument("--steps", type=positive, default=1000, help="timed steps of each version")
    args = p.parse_args(argv)
    batch = args.batch or DEFAULT_BATCHES[args.model][0]
    n_batches = 20                                            # converted once, cycled through
    data = list(batches(*make_data(n_batches * batch), batch, args.model,
                        np.random.default_rng(0)))

    with tempfile.TemporaryDirectory() as tmp:
        try:
            bn = args.bn == "on"
            runs = {"base": setup(args.model, bn, input_grad=False, pkg=load_base(args.base, tmp)),
                    "new": setup(args.model, bn, input_grad=False),
                    "control": setup(args.model, bn, input_grad=False,
                                     pkg=load_base(args.base, tmp, "minidl_control"))}
            orders = list(itertools.permutations(runs))     # all 6, so that each model
            times, last = {k: [] for k in runs}, {}         # follows each other equally often
            faults = dict.fromkeys(runs, 0)
            warmup = max(5, args.steps // 10)
            for i in range(warmup + args.steps):
                xb, yb = data[i % n_batches]
                for name in orders[i % len(orders)]:          # in turn, on the same batch
                    if i == warmup // 2:                      # as in training after epoch 1
                        smaller_batch_step(*runs[name], xb, yb)
                    before = minor_faults()
                    t0 = time.perf_counter()
                    last[name] = train_step(*runs[name], xb, yb)
                    if i >= warmup:
                        times[name].append(time.perf_counter() - t0)
                        faults[name] += minor_faults() - before
        finally:                                              # leave no trace of the copies
            unload_base(tmp)
    print(f"{args.model} bn={args.bn} batch={batch}, {args.steps} steps each: "
          f"base ({args.base}) {1e3 * statistics.median(times['base']):.3f} ms, "
          f"new {1e3 * statistics.median(times['new']):.3f} ms, "
          f"new/base {ratios(times, 'new')}; "
          f"last loss base {last['base']:.6f}, new {last['new']:.6f}")
    print(f"control (a second copy of the base) "
          f"{1e3 * statistics.median(times['control']):.3f} ms, control/base "
          f"{ratios(times, 'control')}, last loss {last['control']:.6f}: identical code, "
          "so this is the noise; a new/base no further from 1 than this is not resolved")
    print("page faults per step (memory the OS hands out anew): "
          + ", ".join(f"{k} {v / args.steps:.1f}" for k, v in faults.items()))


def ratios(times, name):
    """name's median step over the base's, and the median of the step-by-step ratios."""
    pairs = statistics.median(b / a for a, b in zip(times["base"], times[name]))
    return (f"{statistics.median(times[name]) / statistics.median(times['base']):.3f} "
            f"(step by step: {pairs:.3f})")


if __name__ == "__main__":
    main()
