"""What does minidl's framework cost, and could any NumPy code meet the targets?

The benchmarked MLP (784-100-100-100-10, ReLU, BN off or on, batch 60) has its
training step written out here as bare NumPy (BareMLP): the NumPy calls that
minidl's layers, loss and SGD make, in the same order, so the losses are the
same, but with no layer objects, no checks and no optimizer bookkeeping.
Its steps and minidl's alternate step by step in one turn of --steps steps
each, PyTorch's (when installed) come in a turn of their own; every turn
starts after a pause (bench_epoch.PAUSE), each round with the other turn.
Every step includes converting its batch from uint8, as in bench_epoch.py.
Prints one JSON line per BN setting: each runner's median microseconds per
step, and three ratios, each the median over the rounds of that round's
ratio, with its smallest and largest:

    minidl_vs_bare    what the framework's Python costs on top of its NumPy calls
    bare_vs_torch     the same NumPy calls without a framework, against PyTorch
    minidl_vs_torch   as bench_epoch.py's ratio_vs_torch, in shorter turns

--unchecked adds a third model to the NumPy turn: minidl with its input checks
made no-ops (unchecked()), and the ratio unchecked_vs_bare.

    python benchmarks/bare_numpy.py
    python benchmarks/bare_numpy.py --bn on --rounds 30 --steps 200 --unchecked
"""
import argparse
import json
import statistics
import time

import numpy as np
from bench_epoch import (PAUSE, batches, have_torch, in_turn, make_data, positive, setup,
                         torch_setup, torch_step, train_step)


class BareMLP:
    """minidl's MLP training step, inline. Built from the mlp() of setup(), whose
    weights it copies: Dense [-> BatchNorm] -> ReLU ..., Dense (BN's momentum a
    number, as there)."""

    def __init__(self, model, lr=0.01, momentum=0.9):
        self.lr, self.mu = lr, momentum
        self.blocks = []                       # per Dense: [W, b or None, BN or None]
        for layer in model.layers:
            kind = type(layer).__name__
            if kind == "Dense":
                b = layer.params["b"].copy() if layer.bias else None
                self.blocks.append([layer.params["W"].copy(), b, None])
            elif kind == "BatchNorm":
                self.blocks[-1][2] = dict(
                    gamma=layer.params["gamma"].copy(), beta=layer.params["beta"].copy(),
                    mean=layer.running_mean.copy(), var=layer.running_var.copy(),
                    eps=layer.eps, f=layer.momentum)
        self.params = [a for W, b, bn in self.blocks
                       for a in [W, b] + ([bn["gamma"], bn["beta"]] if bn else []) if a is not None]
        self.velocity = [np.zeros_like(a) for a in self.params]
        self.zeros = [np.zeros(W.shape[1], W.dtype) for W, b, bn in self.blocks]   # ReLU's

    def step(self, x, labels):
        saved, grads, last = [], [], len(self.blocks) - 1
        for i, (W, b, bn) in enumerate(self.blocks):       # forward
            h = x @ W
            if b is not None:
                h += b
            bn_saved = None
            if bn is not None:
                h, bn_saved = bn_forward(h, bn)
            if i == last:
                saved.append((x, bn_saved, None))
                break
            saved.append((x, bn_saved, h > 0))                # ReLU's mask
            x = np.maximum(h, self.zeros[i])
        shifted = h - h.max(axis=1, keepdims=True)          # softmax cross-entropy
        p = np.exp(shifted)
        sum_p = p.sum(axis=1, keepdims=True)
        rows = np.arange(len(labels))
        loss = 0.0 - float((shifted[rows, labels] - np.log(sum_p[:, 0])).sum()) / len(labels)
        p /= sum_p
        p[rows, labels] -= 1
        p /= len(labels)
        dy = p
        for i in range(len(self.blocks) - 1, -1, -1):       # backward
            (W, b, bn), (x, bn_saved, mask) = self.blocks[i], saved[i]
            if mask is not None:
                dy = np.multiply(dy, mask, dtype=dy.dtype)
            if bn is not None:
                dy, dgamma, dbeta = bn_backward(dy, bn, *bn_saved)
            # put in front: the last block comes first here, last in self.params
            grads[:0] = [x.T @ dy] + ([dy.sum(axis=0)] if b is not None else []) + (
                [dgamma, dbeta] if bn is not None else [])
            if i:
                dy = dy @ W.T
        for w, g, v in zip(self.params, grads, self.velocity):   # SGD with momentum
            v *= self.mu
            v += g
            w -= self.lr * v
        return loss


def bn_forward(x, bn):
    """BatchNorm's training forward on (N, C), as minidl.layers.BatchNorm computes it."""
    m = len(x)
    mu = x.sum(axis=0) / m
    xc = x - mu
    var = (xc * xc).sum(axis=0) / m
    bn["mean"] *= 1 - bn["f"]                              # running averages
    bn["mean"] += bn["f"] * mu
    bn["var"] *= 1 - bn["f"]
    bn["var"] += bn["f"] * (var * (m / (m - 1)))
    inv_std = (1.0 / np.sqrt(var + bn["eps"])).astype(x.dtype)
    xc *= inv_std                                          # x_hat
    y = xc * bn["gamma"]
    y += bn["beta"]
    return y, (xc, inv_std)


def bn_backward(dy, bn, x_hat, inv_std):
    m = len(dy)
    dbeta = dy.sum(axis=0)
    dgamma = (dy * x_hat).sum(axis=0)
    dx = x_hat * (-dgamma / m)
    dx += dy
    dx -= dbeta / m
    dx *= bn["gamma"] * inv_std
    return dx, dgamma, dbeta


def unchecked(model, loss, opt):
    """Make the checks of minidl's layers, loss and SGD no-ops, on these instances
    only (to measure what they cost): the layers' input and dy checks, the loss's
    label checks and SGD's stale-gradient warning. Returns the three."""
    def skip(*args, **kwargs):
        return None
    for layer in model.layers:
        layer._check = layer._check_dy = skip
    loss._check = opt._check_fresh = skip
    return model, loss, opt


def runners(bn, batch, images, labels, use_torch, seed=0, with_unchecked=False):
    """Step functions on the same data, each with its own batches in the same order."""
    model, loss, opt = setup("mlp", bn, seed, input_grad=False)
    steps = {"bare": BareMLP(model).step,
             "minidl": lambda xb, yb: train_step(model, loss, opt, xb, yb)}
    if with_unchecked:
        parts = unchecked(*setup("mlp", bn, seed, input_grad=False))
        steps["unchecked"] = lambda xb, yb: train_step(*parts, xb, yb)
    if use_torch:
        twin = torch_setup("mlp", bn, seed)
        steps["torch"] = lambda xb, yb: torch_step(*twin, xb, yb)

    def endless(rng):
        while True:
            yield from batches(images, labels, batch, "mlp", rng)
    return {name: (step, endless(np.random.default_rng(seed))) for name, step in steps.items()}


def run(bn, args, images, labels):
    """Rounds of turns: bare and minidl in one turn, step by step in alternation (the
    same NumPy library, so no pause is needed between them, and every pair of steps
    sees the same machine), PyTorch in a turn of its own after a pause."""
    chosen = runners(bn, args.batch, images, labels, args.torch and have_torch(),
                     with_unchecked=args.unchecked)
    groups = [[name for name in chosen if name != "torch"]] + (
        [["torch"]] if "torch" in chosen else [])
    us = {name: [] for name in chosen}
    for r in range(-1, args.rounds):                       # round -1: warm-up, not kept
        for group in in_turn(groups, r):
            time.sleep(PAUSE)
            spent = dict.fromkeys(group, 0.0)
            for k in range(args.steps):
                for name in group[::-1] if k % 2 else group:   # who goes first alternates
                    step, data = chosen[name]
                    t0 = time.perf_counter()
                    step(*next(data))                      # converting the batch included
                    spent[name] += time.perf_counter() - t0
            for name in group:
                if r >= 0:
                    us[name].append(spent[name] / args.steps * 1e6)
    row = {"model": "mlp", "bn": bn, "batch": args.batch, "rounds": args.rounds,
           "steps_per_turn": args.steps,
           "us_per_step": {name: round(statistics.median(t), 1) for name, t in us.items()}}
    for num, den in [("minidl", "bare"), ("unchecked", "bare"), ("bare", "torch"),
                     ("minidl", "torch")]:
        if num in us and den in us:
            per_round = [a / b for a, b in zip(us[num], us[den])]
            row[f"{num}_vs_{den}"] = round(statistics.median(per_round), 3)
            row[f"{num}_vs_{den}_rounds"] = [round(min(per_round), 3), round(max(per_round), 3)]
    return row


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--bn", choices=["on", "off", "both"], default="both")
    p.add_argument("--batch", type=positive, default=60)
    p.add_argument("--rounds", type=positive, default=15, help="timed rounds (default 15)")
    p.add_argument("--steps", type=positive, default=300, help="steps per turn (default 300)")
    p.add_argument("--no-torch", dest="torch", action="store_false", help="skip PyTorch")
    p.add_argument("--unchecked", action="store_true",
                   help="also time minidl with its input checks made no-ops")
    args = p.parse_args(argv)
    images, labels = make_data(6_000)
    for bn in {"on": [True], "off": [False], "both": [False, True]}[args.bn]:
        print(json.dumps(run(bn, args, images, labels)), flush=True)


if __name__ == "__main__":
    main()
