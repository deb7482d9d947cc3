"""Time training epochs of minidl (and, when it is installed, the same PyTorch model).

One epoch = every batch of 60,000 MNIST-shaped samples: the uint8 images are
converted per batch to float32 / 255 (as a real loader does), then one step
    y = model.forward(xb); loss.forward(y, yb); model.backward(loss.backward()); opt.step()
with SoftmaxCrossEntropy and SGD(lr=0.01, momentum=0.9). One warm-up epoch per
runner, then --epochs timed rounds in which every runner of one model and
batch size (minidl and torch, BN off and on) trains one epoch in turn, so a
burst of load on the machine hits all of them; each round starts one runner
later than the one before, and each epoch after a pause of PAUSE seconds (the
other framework's threads may still be spinning). minidl trains as Trainer.fit
does, without dL/dx of the data, which PyTorch does not compute either
(--input-grad to compute it). One JSON line per
configuration and framework; minidl lines carry the ratio minidl/torch, BN
lines the ratio BN/plain of their framework.

    python benchmarks/bench_epoch.py                       # all three configurations, BN off and on
    python benchmarks/bench_epoch.py --model mlp --batch 60 --bn both --epochs 3
    python benchmarks/bench_epoch.py --quick               # 1/10 of an epoch, fast
    python benchmarks/bench_epoch.py --memory --model mlp --bn on   # clean peak RSS
"""
import argparse
import json
import resource
import statistics
import subprocess
import sys
import time

import numpy as np

import minidl

DEFAULT_BATCHES = {"mlp": (60, 256), "cnn": (64,)}
N_SAMPLES = 60_000
PAUSE = 0.3   # seconds before each epoch: NumPy's OpenBLAS threads spin on for a while
              # after a product, and slowed the next epoch down (layers_vs_torch.py too)


def peak_rss_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024   # Linux: KiB


def minor_faults():
    """Page faults of this process so far that needed no disk (memory the OS
    hands out on first touch): a step that keeps freeing memory to the OS and
    asking for it back shows up here."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt


def positive(text):
    """argparse type for counts (batch size, steps, epochs...): an int >= 1."""
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text}")
    return value


def make_data(n, seed=0):
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, (n, 28, 28), dtype=np.uint8)
    labels = rng.integers(0, 10, n).astype(np.int64)
    return images, labels


def batches(images, labels, batch, model, rng):
    """Shuffled mini-batches as float32 in [0, 1], shaped for the model."""
    order = rng.permutation(len(images))
    shape = (-1, 784) if model == "mlp" else (-1, 1, 28, 28)
    for i in range(0, len(order), batch):
        idx = order[i:i + batch]
        xb = images[idx].astype(np.float32)
        xb *= np.float32(1 / 255)
        yield xb.reshape(shape), labels[idx]


# --- minidl -------------------------------------------------------------------
def setup(model_name, bn, seed=0, input_grad=True, pkg=minidl):
    """The benchmarked model, loss and optimizer, built from `pkg`: minidl, or
    (in ab_steps.py) a copy of it from an earlier git revision."""
    model = (pkg.models.mlp(784, [100, 100, 100], 10, batchnorm=bn, seed=seed)
             if model_name == "mlp" else pkg.models.cnn(batchnorm=bn, seed=seed))
    model.input_grad = input_grad          # False: no dL/dx for the data (Trainer.fit does this)
    return model, pkg.losses.SoftmaxCrossEntropy(), pkg.optim.SGD(model.parameters(), lr=0.01,
                                                                  momentum=0.9)


def train_step(model, loss, opt, xb, yb):
    """One training step, the unit every benchmark script times; returns the loss."""
    value = loss.forward(model.forward(xb), yb)
    model.backward(loss.backward())
    opt.step()
    return value


def smaller_batch_step(model, loss, opt, xb, yb):
    """One training step on half the batch, as an epoch's last, smaller batch.

    Timed steps must come after such a step, as in training after the first
    epoch. Before it, a BN CNN step takes 1.2 to 1.5 times as long, with 3,000
    page faults (2026-11-27): glibc's malloc gives the free memory at the top
    of its heap back to the OS once that exceeds its trim threshold, twice
    the largest mmapped block (up to 32 MiB) freed so far, at first a 3.2 MB
    array; a BN CNN step frees more than that, so every step gets its memory
    anew. For a smaller batch the layers reallocate their scratch buffers
    (Layer._buffer) and free the full-size ones, 7.2 MB the largest: that
    raises the threshold, and from then on the heap keeps the step's memory.
    The MLP's arrays are too small for any of this. bench_epoch.py's warm-up
    epoch ends with such a batch when the batch size does not divide
    --samples. (benchmarks/README.md, "The first epoch's steps are slower".)
    """
    half = max(2, len(xb) // 2)                    # BN needs 2 samples
    return train_step(model, loss, opt, xb[:half], yb[:half])


def minidl_runner(model_name, bn, batch, images, labels, seed=0, input_grad=True):
    model, loss, opt = setup(model_name, bn, seed, input_grad)
    rng = np.random.default_rng(seed)

    def epoch():
        t0 = time.perf_counter()
        for xb, yb in batches(images, labels, batch, model_name, rng):
            train_step(model, loss, opt, xb, yb)
        return time.perf_counter() - t0
    return epoch


# --- PyTorch: the identical model ---------------------------------------------
def torch_model(model_name, bn):
    """The PyTorch twin of setup()'s minidl model: the same layers in the same
    order (BN before ReLU, no bias before BN), in training mode."""
    from torch import nn
    if model_name == "mlp":
        layers, fan_in = [], 784
        for width in (100, 100, 100):
            layers.append(nn.Linear(fan_in, width, bias=not bn))
            layers += [nn.BatchNorm1d(width)] if bn else []
            layers.append(nn.ReLU())
            fan_in = width
        layers.append(nn.Linear(fan_in, 10))
    else:
        layers, c_in = [], 1
        for c_out in (16, 32):
            layers.append(nn.Conv2d(c_in, c_out, 3, padding=1, bias=not bn))
            layers += [nn.BatchNorm2d(c_out)] if bn else []
            layers += [nn.ReLU(), nn.MaxPool2d(2)]
            c_in = c_out
        layers += [nn.Flatten(), nn.Linear(32 * 7 * 7, 10)]
    return nn.Sequential(*layers).train()


def torch_setup(model_name, bn, seed=0):
    """The PyTorch model, loss and optimizer of torch_step, as setup() for minidl."""
    import torch
    torch.set_num_threads(2)
    torch.manual_seed(seed)
    model = torch_model(model_name, bn)
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    return model, torch.nn.CrossEntropyLoss(), opt


def torch_step(model, loss_fn, opt, xb, yb):
    """One PyTorch training step on NumPy batches, as train_step for minidl."""
    import torch
    opt.zero_grad(set_to_none=True)
    loss = loss_fn(model(torch.from_numpy(xb)), torch.from_numpy(yb))
    loss.backward()
    opt.step()
    return loss


def torch_runner(model_name, bn, batch, images, labels, seed=0):
    model, loss_fn, opt = torch_setup(model_name, bn, seed)
    rng = np.random.default_rng(seed)

    def epoch():
        t0 = time.perf_counter()
        for xb, yb in batches(images, labels, batch, model_name, rng):
            torch_step(model, loss_fn, opt, xb, yb)
        return time.perf_counter() - t0
    return epoch


def have_torch():
    try:
        import torch  # noqa: F401
        return True
    except ImportError:
        return False


def summary(times, faults, n, **fields):
    med = statistics.median(times)
    steps = len(times) * -(-n // fields["batch"])      # timed epochs x batches per epoch
    return dict(fields, median_s=round(med, 4), min_s=round(min(times), 4),
                max_s=round(max(times), 4), samples_per_s=round(n / med),
                epochs=len(times), samples=n, peak_rss_mb=round(peak_rss_mb(), 1),
                minor_faults_per_step=round(faults / steps, 1))


def in_turn(keys, r):
    """The order of round r: the runners in turn, starting with runner r (mod their
    number), so that no runner always follows the same one."""
    r %= len(keys)
    return keys[r:] + keys[:r]


def run_group(model_name, batch, bns, args, images, labels):
    """Time every runner of one (model, batch): minidl and torch, BN off and on.

    All runners take turns, one epoch each per round, so a burst of load on the
    machine (its speed here swings by 2x) hits every runner alike, and every
    ratio below compares epochs measured under the same conditions. Round r
    starts with runner r (in turn), so that no runner always follows the same
    one, and every epoch starts after a pause. Besides the ratio of medians,
    each ratio's min and max over the rounds show how far the machine's noise
    moves it."""
    runners = {}
    for bn in bns:
        runners["minidl", bn] = minidl_runner(model_name, bn, batch, images, labels,
                                              input_grad=args.input_grad)
        if args.torch and have_torch():
            runners["torch", bn] = torch_runner(model_name, bn, batch, images, labels)
    times = {key: [] for key in runners}
    faults = dict.fromkeys(runners, 0)
    keys = list(runners)
    for key in keys:
        time.sleep(PAUSE)
        runners[key]()                                 # warm-up epoch
    for r in range(args.epochs):                       # rounds: every runner once
        for key in in_turn(keys, r):
            time.sleep(PAUSE)
            before = minor_faults()
            times[key].append(runners[key]())
            faults[key] += minor_faults() - before
    rows = {key: summary(t, faults[key], len(images), model=model_name, bn=key[1],
                         batch=batch, framework=key[0])
            for key, t in times.items()}

    def ratio(row, name, num, den):
        per_round = [a / b for a, b in zip(times[num], times[den])]
        row[name] = round(statistics.median(times[num]) / statistics.median(times[den]), 3)
        row[name + "_rounds"] = [round(min(per_round), 3), round(max(per_round), 3)]

    for (framework, bn), row in rows.items():
        if framework == "minidl":
            row["input_grad"] = args.input_grad
            if ("torch", bn) in rows:
                row["torch_median_s"] = rows["torch", bn]["median_s"]
                ratio(row, "ratio_vs_torch", ("minidl", bn), ("torch", bn))
        if bn and (framework, False) in rows:        # BN's cost: BN epoch / plain epoch
            ratio(row, "bn_vs_plain", (framework, True), (framework, False))
    return [rows[key] for key in sorted(rows, key=lambda k: (k[1], k[0] != "minidl"))]


def configs(args):
    models = ["mlp", "cnn"] if args.model == "all" else [args.model]
    bns = {"on": [True], "off": [False], "both": [False, True]}[args.bn]
    for m in models:
        for b in (args.batch or DEFAULT_BATCHES[m]):
            yield m, b, bns


def memory_mode(args):
    """Each configuration alone in a fresh Python process (minidl only, no torch)."""
    for m, b, bns in configs(args):
        for bn in bns:
            cmd = [sys.executable, __file__, "--model", m, "--batch", str(b),
                   "--bn", "on" if bn else "off", "--epochs", str(args.epochs), "--no-torch",
                   "--samples", str(args.samples),
                   "--input-grad" if args.input_grad else "--no-input-grad"]
            out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
            for line in out.splitlines():
                row = json.loads(line)
                row["memory_mode"] = True
                print(json.dumps(row), flush=True)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", choices=["mlp", "cnn", "all"], default="all")
    p.add_argument("--batch", type=positive, nargs="+", help="default: 60 256 for mlp, 64 for cnn")
    p.add_argument("--bn", choices=["on", "off", "both"], default="both")
    p.add_argument("--epochs", type=positive, default=3, help="timed epochs after the warm-up")
    p.add_argument("--samples", type=positive, default=N_SAMPLES, help="samples per epoch")
    p.add_argument("--quick", action="store_true", help="1/10 of an epoch (6,000 samples)")
    p.add_argument("--no-torch", dest="torch", action="store_false", help="skip PyTorch")
    p.add_argument("--input-grad", action=argparse.BooleanOptionalAction, default=False,
                   help="minidl: model.input_grad, a gradient for the data, which training "
                        "does not compute, nor does PyTorch here (default: off)")
    p.add_argument("--memory", action="store_true",
                   help="run each configuration in a fresh subprocess for a clean peak RSS")
    args = p.parse_args(argv)
    if args.quick:
        args.samples = N_SAMPLES // 10
    if args.memory:
        return memory_mode(args)
    images, labels = make_data(args.samples)
    for m, b, bns in configs(args):
        if m == "cnn" and args.samples % b == 0:    # no smaller last batch: smaller_batch_step
            print(f"bench_epoch: warning: batch {b} divides --samples {args.samples}, so every "
                  "batch has the same size and the CNN's steps may stay in the slower state of a "
                  "first epoch (benchmarks/README.md, \"The first epoch's steps are slower\")",
                  file=sys.stderr)
        for row in run_group(m, b, bns, args, images, labels):
            print(json.dumps(row), flush=True)


if __name__ == "__main__":
    main()
