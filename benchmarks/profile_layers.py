"""Per-layer forward and backward time per training step, plus loss, optimizer
step and data loading, so the next bottleneck is visible.

minidl.profiler.Profiler times each layer's forward and backward, the loss
and SGD.step (wrapped on the instances; the classes are not edited); the data
conversion is timed here. The step timed is the same as in bench_epoch.py,
after a warm-up that includes one smaller batch, as training does after its
first epoch (bench_epoch.smaller_batch_step says why), and without dL/dx of
the data, as Trainer.fit trains (--input-grad to compute it).

    python benchmarks/profile_layers.py --model mlp --bn on --batch 60
    python benchmarks/profile_layers.py --model cnn --bn on --batch 64 --steps 200
"""
import argparse
import statistics
import time

import numpy as np

from bench_epoch import (DEFAULT_BATCHES, batches, make_data, minor_faults, positive, setup,
                         smaller_batch_step, train_step)

from minidl.profiler import Profiler


def profile(model_name, bn, batch, steps, warmup=20, seed=0, input_grad=True):
    """(Profiler, data row, median step us, page faults per step) of `steps` timed
    steps, each with its batch's conversion; the data row is the median conversion."""
    model, loss, opt = setup(model_name, bn, seed, input_grad)
    images, labels = make_data(batch * (steps + warmup + 1), seed)
    data = batches(images, labels, batch, model_name, np.random.default_rng(seed))
    data_times, step_times = [], []
    with Profiler(model, loss, opt, skip=warmup + 1) as prof:   # + the smaller batch's step
        for k in range(steps + warmup):
            if k == warmup // 2:                  # then the heap keeps its memory (bench_epoch)
                smaller_batch_step(model, loss, opt, *next(data))
            if k == warmup:
                faults = minor_faults()
            t0 = time.perf_counter()
            xb, yb = next(data)
            t1 = time.perf_counter()
            train_step(model, loss, opt, xb, yb)
            data_times.append(t1 - t0)
            step_times.append(time.perf_counter() - t0)   # data included
    faults_per_step = (minor_faults() - faults) / steps
    data_row = ("data (uint8 -> float32/255)", statistics.median(data_times[warmup:]), None)
    return prof, data_row, 1e6 * statistics.median(step_times[warmup:]), faults_per_step


def main(argv=None):
    p = argparse.ArgumentParser(description="per-layer time per training step")
    p.add_argument("--model", choices=["mlp", "cnn"], default="mlp")
    p.add_argument("--bn", choices=["on", "off"], default="on")
    p.add_argument("--batch", type=positive, default=None, help="default 60 (mlp) / 64 (cnn)")
    p.add_argument("--steps", type=positive, default=None, help="default 1000 (mlp) / 200 (cnn)")
    p.add_argument("--input-grad", action=argparse.BooleanOptionalAction, default=False,
                   help="model.input_grad, a gradient for the data, which training does not "
                        "compute (default: off, as Trainer.fit and bench_epoch.py)")
    args = p.parse_args(argv)
    batch = args.batch or DEFAULT_BATCHES[args.model][0]
    steps = args.steps or (1000 if args.model == "mlp" else 200)
    prof, data_row, step_us, faults = profile(args.model, args.bn == "on", batch, steps,
                                              input_grad=args.input_grad)
    print(f"{args.model} bn={args.bn} batch={batch}: {steps} steps, "
          f"median {step_us:.0f} us/step, epoch of 60,000 ~ {step_us * 60000 / batch / 1e6:.3f} s, "
          f"{faults:.1f} page faults per step")
    print("times are the median call, in microseconds; the step includes the data")
    print(prof.table(extra=[data_row], step=step_us / 1e6))


if __name__ == "__main__":
    main()
