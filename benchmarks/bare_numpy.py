"""What does minidl's framework cost on top of the NumPy arithmetic it does?

The benchmarked MLP (784-100-100-100-10, ReLU, BN off or on, batch 60) has its
training step written out here as plain NumPy (BareMLP): the arithmetic of
minidl's layers, loss and SGD in the same order, so the losses and weights
are the same bits, but with no layer objects, no checks and no bookkeeping.
It is not the fastest NumPy code for this step (other code could make fewer
passes over the arrays); it is minidl's step without the framework.

Its steps and minidl's, for each BN setting asked for, take turns in blocks of
--block steps within one turn of --steps steps each (the same NumPy library, so
no pause is needed between them); PyTorch's (when installed) come in a turn of
their own, its BN and plain steps taking turns in the same way. Every turn
starts after a pause (bench_epoch.PAUSE), each round with the other turn.
Blocks rather than single steps, because in an epoch each step follows a
step of the same model, whose arrays are then still in the cache; a block of
100 steps lasts a fraction of a second, so the runners still see the same
machine (--block 1 alternates step by step; with --bn on or off as well,
the script does what it did until 2026-11-28: benchmarks/README.md).
Every step includes converting its batch from uint8, as in bench_epoch.py.
Prints one JSON line per BN setting: each runner's median microseconds per
step, and ratios, each the median over the rounds of that round's ratio,
with its smallest and largest:

    minidl_vs_bare    what the framework costs on top of the arithmetic
    bare_vs_torch     the arithmetic without a framework, against PyTorch
    minidl_vs_torch   as bench_epoch.py's ratio_vs_torch, in shorter turns
    <name>_bn_cost    on the BN line of --bn both: BN step / plain step, for
                      minidl, bare and torch (issue 5's "BN's cost")

    python benchmarks/bare_numpy.py
    python benchmarks/bare_numpy.py --bn on --rounds 30 --steps 200 --block 50
"""
import argparse
import json
import statistics
import time

import numpy as np
from bench_epoch import (PAUSE, batches, have_torch, in_turn, make_data, positive, setup,
                         torch_setup, torch_step, train_step)

from minidl.layers import BatchNorm, Dense


class BareMLP:
    """minidl's MLP training step, inline. Built from the model and optimizer of
    setup(), whose weights and settings it copies: Dense [-> BatchNorm] -> ReLU
    ..., Dense (BN's momentum a number, as there)."""

    def __init__(self, model, opt):
        self.lr, self.momentum = opt.lr, opt.momentum
        self.blocks = []                    # one per Dense: its W, b and BN (or None)
        for layer in model.layers:
            if isinstance(layer, Dense):
                b = layer.params["b"].copy() if layer.bias else None
                self.blocks.append({"W": layer.params["W"].copy(), "b": b, "bn": None})
            elif isinstance(layer, BatchNorm):
                self.blocks[-1]["bn"] = {
                    "gamma": layer.params["gamma"].copy(), "beta": layer.params["beta"].copy(),
                    "running_mean": layer.running_mean.copy(),
                    "running_var": layer.running_var.copy(),
                    "eps": layer.eps, "momentum": layer.momentum}
        # in the order of minidl's model.parameters(): W, b, then BN's gamma, beta
        self.params = [a for block in self.blocks for a in block_arrays(
            block["W"], block["b"], block["bn"] and block["bn"]["gamma"],
            block["bn"] and block["bn"]["beta"])]
        self.velocity = [np.zeros_like(a) for a in self.params]
        self.zeros = [np.zeros(block["W"].shape[1], block["W"].dtype)    # ReLU's
                      for block in self.blocks]

    def step(self, x, labels):
        saved, last = [], len(self.blocks) - 1
        for i, block in enumerate(self.blocks):            # forward
            h = x @ block["W"]
            if block["b"] is not None:
                h += block["b"]
            bn_saved = None
            if block["bn"] is not None:
                h, bn_saved = bn_forward(h, block["bn"])
            mask = None if i == last else h > 0               # ReLU's mask
            saved.append((x, bn_saved, mask))
            if i < last:
                x = np.maximum(h, self.zeros[i])
        shifted = h - h.max(axis=1, keepdims=True)          # softmax cross-entropy
        p = np.exp(shifted)
        sum_p = p.sum(axis=1, keepdims=True)
        rows = np.arange(len(labels))
        loss = 0.0 - float((shifted[rows, labels] - np.log(sum_p[:, 0])).sum()) / len(labels)
        p /= sum_p
        p[rows, labels] -= 1
        p /= len(labels)
        dy, grads = p, [None] * len(self.blocks)
        for i in reversed(range(len(self.blocks))):         # backward
            block, (x, bn_saved, mask) = self.blocks[i], saved[i]
            if mask is not None:
                dy = np.multiply(dy, mask, dtype=dy.dtype)
            dgamma = dbeta = None
            if block["bn"] is not None:
                dy, dgamma, dbeta = bn_backward(dy, block["bn"], *bn_saved)
            db = dy.sum(axis=0) if block["b"] is not None else None
            grads[i] = block_arrays(x.T @ dy, db, dgamma, dbeta)
            if i > 0:                                        # no dL/dx of the data
                dy = dy @ block["W"].T
        flat = [g for block_grads in grads for g in block_grads]
        for w, g, v in zip(self.params, flat, self.velocity):    # SGD with momentum
            v *= self.momentum
            v += g
            w -= self.lr * v
        return loss


def block_arrays(W, b, gamma, beta):
    """A block's arrays (or their gradients) in the order of minidl's parameters()."""
    return [a for a in (W, b, gamma, beta) if a is not None]


def bn_forward(x, bn):
    """BatchNorm's training forward on (N, C), as minidl.layers.BatchNorm computes it;
    returns y and what bn_backward needs."""
    m = len(x)
    mu = x.sum(axis=0) / m
    xc = x - mu
    var = (xc * xc).sum(axis=0) / m
    f = bn["momentum"]                                     # running averages
    bn["running_mean"] *= 1 - f
    bn["running_mean"] += f * mu
    bn["running_var"] *= 1 - f
    bn["running_var"] += f * (var * (m / (m - 1)))
    inv_std = (1.0 / np.sqrt(var + bn["eps"])).astype(x.dtype)
    xc *= inv_std                                          # now x_hat
    y = xc * bn["gamma"]
    y += bn["beta"]
    return y, (xc, inv_std)


def bn_backward(dy, bn, x_hat, inv_std):
    """BatchNorm's compact backward, as minidl's: returns dx, dgamma, dbeta."""
    m = len(dy)
    dbeta = dy.sum(axis=0)
    dgamma = (dy * x_hat).sum(axis=0)
    dx = x_hat * (-dgamma / m)
    dx += dy
    dx -= dbeta / m
    dx *= bn["gamma"] * inv_std
    return dx, dgamma, dbeta


def runners(bn, batch, images, labels, use_torch, seed=0):
    """Step functions on the same data, each with its own batches in the same order."""
    model, loss, opt = setup("mlp", bn, seed, input_grad=False)
    steps = {"bare": BareMLP(model, opt).step,
             "minidl": lambda xb, yb: train_step(model, loss, opt, xb, yb)}
    if use_torch:
        twin = torch_setup("mlp", bn, seed)
        steps["torch"] = lambda xb, yb: torch_step(*twin, xb, yb)

    def endless(rng):
        while True:
            yield from batches(images, labels, batch, "mlp", rng)
    return {name: (step, endless(np.random.default_rng(seed))) for name, step in steps.items()}


def blocks(steps, block):
    """The sizes of a turn's blocks: steps in blocks of block, the last one shorter."""
    return [block] * (steps // block) + ([steps % block] if steps % block else [])


def run(bns, args, images, labels):
    """Rounds of turns: the NumPy runners (bare and minidl, for each BN setting in
    bns) in one turn, taking turns block by block (the same NumPy library, so no
    pause is needed between them, and every block sees the same machine as the
    others), PyTorch's in a turn of their own after a pause, its BN and plain
    steps taking turns in the same way. Block k of round r starts with runner
    k + r (mod their number), so that each runner in turn is the first after the
    pause. Returns one row per BN setting."""
    chosen = {(name, bn): runner for bn in bns for name, runner in
              runners(bn, args.batch, images, labels, args.torch and have_torch()).items()}
    numpy_turn = [key for key in chosen if key[0] != "torch"]
    torch_turn = [key for key in chosen if key[0] == "torch"]
    groups = [numpy_turn] + ([torch_turn] if torch_turn else [])
    us = {key: [] for key in chosen}
    for r in range(-1, args.rounds):                       # round -1: warm-up, not kept
        for group in in_turn(groups, r):
            time.sleep(PAUSE)
            spent = dict.fromkeys(group, 0.0)
            for k, size in enumerate(blocks(args.steps, args.block)):
                for key in in_turn(group, k + r):          # who goes first rotates
                    step, data = chosen[key]
                    t0 = time.perf_counter()
                    for _ in range(size):
                        step(*next(data))                  # converting the batch included
                    spent[key] += time.perf_counter() - t0
            for key in group:
                if r >= 0:
                    us[key].append(spent[key] / args.steps * 1e6)

    def ratio(row, label, num, den):
        """The median over the rounds of the round's ratio num/den, and its range."""
        if num in us and den in us:
            per_round = [a / b for a, b in zip(us[num], us[den])]
            row[label] = round(statistics.median(per_round), 3)
            row[label + "_rounds"] = [round(min(per_round), 3), round(max(per_round), 3)]

    rows = []
    for bn in bns:
        row = {"model": "mlp", "bn": bn, "batch": args.batch, "rounds": args.rounds,
               "steps_per_turn": args.steps,
               "us_per_step": {name: round(statistics.median(t), 1)
                               for (name, b), t in us.items() if b == bn}}
        for num, den in [("minidl", "bare"), ("bare", "torch"), ("minidl", "torch")]:
            ratio(row, f"{num}_vs_{den}", (num, bn), (den, bn))
        if bn:                                             # BN's cost: BN step / plain step
            for name in ("minidl", "bare", "torch"):
                ratio(row, f"{name}_bn_cost", (name, True), (name, False))
        rows.append(row)
    return rows


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--bn", choices=["on", "off", "both"], default="both")
    p.add_argument("--batch", type=positive, default=60)
    p.add_argument("--rounds", type=positive, default=15, help="timed rounds (default 15)")
    p.add_argument("--steps", type=positive, default=300, help="steps per turn (default 300)")
    p.add_argument("--block", type=positive, default=100,
                   help="steps a runner takes before the next one's (default 100)")
    p.add_argument("--no-torch", dest="torch", action="store_false", help="skip PyTorch")
    args = p.parse_args(argv)
    images, labels = make_data(6_000)
    for row in run({"on": [True], "off": [False], "both": [False, True]}[args.bn], args,
                   images, labels):
        print(json.dumps(row), flush=True)


if __name__ == "__main__":
    main()
