"""Per-layer forward and backward time per training step, plus loss, optimizer
step and data loading, so the next bottleneck is visible.

Each layer's forward/backward is wrapped with a perf_counter timer on the
instance (the layer classes are not edited). The step timed is the same as in
bench_epoch.py, after a warm-up that includes one smaller batch, as training
does after its first epoch (bench_epoch.smaller_batch_step says why).

    python benchmarks/profile_layers.py --model mlp --bn on --batch 60
    python benchmarks/profile_layers.py --model cnn --bn on --batch 64 --steps 200 --no-input-grad
"""
import argparse
import statistics
import time
from collections import defaultdict

import numpy as np

from bench_epoch import (DEFAULT_BATCHES, batches, make_data, minor_faults, positive, setup,
                         smaller_batch_step, train_step)


class Timers:
    """Per-call times of each wrapped function; reported as the median call,
    which a burst of load from other processes does not move much."""

    def __init__(self):
        self.calls = defaultdict(list)
        self.active = False

    def wrap(self, key, fn):
        def timed(*args):
            t0 = time.perf_counter()
            out = fn(*args)
            if self.active:
                self.calls[key].append(time.perf_counter() - t0)
            return out
        return timed

    def median_us(self, key):
        return 1e6 * statistics.median(self.calls[key]) if self.calls[key] else 0.0


def profile(model_name, bn, batch, steps, warmup=20, seed=0, input_grad=True):
    model, loss, opt = setup(model_name, bn, seed, input_grad)
    timers = Timers()
    for i, layer in enumerate(model.layers):   # instance attributes shadow the methods
        layer.forward = timers.wrap((i, "forward"), layer.forward)
        layer.backward = timers.wrap((i, "backward"), layer.backward)
    loss.forward = timers.wrap(("loss", "forward"), loss.forward)
    loss.backward = timers.wrap(("loss", "backward"), loss.backward)
    opt.step = timers.wrap(("SGD", "step"), opt.step)

    images, labels = make_data(batch * (steps + warmup + 1), seed)
    rng = np.random.default_rng(seed)
    next_batch = timers.wrap(("data", "forward"), batches(images, labels, batch, model_name,
                                                         rng).__next__)
    step_times = []
    for k in range(steps + warmup):
        timers.active = k >= warmup
        if k == warmup // 2:                      # then the heap keeps its memory (bench_epoch)
            smaller_batch_step(model, loss, opt, *next_batch())
        if k == warmup:
            faults = minor_faults()
        t0 = time.perf_counter()
        train_step(model, loss, opt, *next_batch())
        step_times.append(time.perf_counter() - t0)
    faults_per_step = (minor_faults() - faults) / steps
    return model, timers, 1e6 * statistics.median(step_times[warmup:]), faults_per_step


def main(argv=None):
    p = argparse.ArgumentParser(description="per-layer time per training step")
    p.add_argument("--model", choices=["mlp", "cnn"], default="mlp")
    p.add_argument("--bn", choices=["on", "off"], default="on")
    p.add_argument("--batch", type=positive, default=None, help="default 60 (mlp) / 64 (cnn)")
    p.add_argument("--steps", type=positive, default=None, help="default 1000 (mlp) / 200 (cnn)")
    p.add_argument("--no-input-grad", dest="input_grad", action="store_false",
                   help="model.input_grad = False, as bench_epoch.py --no-input-grad")
    args = p.parse_args(argv)
    batch = args.batch or DEFAULT_BATCHES[args.model][0]
    steps = args.steps or (1000 if args.model == "mlp" else 200)
    model, timers, step_us, faults = profile(args.model, args.bn == "on", batch, steps,
                                             input_grad=args.input_grad)

    t = timers.median_us
    rows = [(f"{i}: {layer!r}", t((i, "forward")), t((i, "backward")))
            for i, layer in enumerate(model.layers)]
    rows.append(("loss (SoftmaxCrossEntropy)", t(("loss", "forward")), t(("loss", "backward"))))
    rows.append(("SGD.step", t(("SGD", "step")), 0.0))
    rows.append(("data (uint8 -> float32/255)", t(("data", "forward")), 0.0))
    width = max(len(r[0]) for r in rows) + 2
    print(f"{args.model} bn={args.bn} batch={batch}: {steps} steps, "
          f"median {step_us:.0f} us/step, epoch of 60,000 ~ {step_us * 60000 / batch / 1e6:.3f} s, "
          f"{faults:.1f} page faults per step")
    print("times are the median call, in microseconds")
    print(f"{'layer':<{width}}{'fwd us':>9}{'bwd us':>9}{'total':>9}{'share':>8}")
    print("-" * (width + 35))
    accounted = 0.0
    for name, f, b in sorted(rows, key=lambda r: -(r[1] + r[2])):
        accounted += f + b
        print(f"{name:<{width}}{f:9.1f}{b:9.1f}{f + b:9.1f}{(f + b) / step_us:8.1%}")
    print("-" * (width + 35))
    print(f"{'other (glue; medians need not add up)':<{width}}{'':>18}{step_us - accounted:9.1f}"
          f"{(step_us - accounted) / step_us:8.1%}")


if __name__ == "__main__":
    main()
