"""Step times and page faults of a Trainer run, in its first epoch and after it.

Until the batch size first changes (the last, smaller batch of an epoch),
glibc's malloc gives the memory a CNN step frees back to the OS after every
step, and the next step faults it in again (benchmarks/README.md, "The first
epoch's steps are slower"), unless a large block has been freed before:
Trainer.fit frees one (minidl/heap.py), and --cold-heap skips that, to show
the first epoch as it was without it. This script shows what a user sees: it
trains with minidl.train.Trainer on random MNIST-shaped data, evaluating at
each epoch end (as examples/mnist/train.py does, --eval samples in batches of
1000), and prints, as JSON lines, the median step time and the page faults per
step of the first epoch and of the steps after it. With --no-eval and a batch
size that divides --samples the batch size never changes, and (with
--cold-heap) neither does the state of the first epoch: "last_batch" in the
output says which case it was.

    python benchmarks/first_epoch.py                        # BN CNN, batch 64
    python benchmarks/first_epoch.py --cold-heap            # without minidl.heap.warm_heap()
    python benchmarks/first_epoch.py --model mlp --batch 60
"""
import argparse
import json
import statistics
import time

from bench_epoch import make_data, minor_faults, positive, setup

import minidl.heap
from minidl.callbacks import Callback
from minidl.data import DataLoader
from minidl.train import Trainer


def clock():
    """(seconds, page faults) so far."""
    return time.perf_counter(), minor_faults()


class StepLog(Callback):
    """(step, seconds, page faults) of every training step, evaluations left out."""

    def __init__(self):
        self.rows, self.last = [], clock()

    def on_step_end(self, trainer):
        now = clock()
        self.rows.append((trainer.step, now[0] - self.last[0], now[1] - self.last[1]))
        self.last = now

    def on_eval(self, trainer, record):      # after on_step_end: not the next step's cost
        self.last = clock()


def phases(rows, steps_per_epoch, skip=10):
    """The first epoch, its first `skip` steps left out, and the steps after it,
    the first of them left out (its layers reallocate their buffers for the
    full batch again)."""
    skip = min(skip, steps_per_epoch // 2)
    first = [r for r in rows if skip < r[0] <= steps_per_epoch]
    later = [r for r in rows if r[0] > steps_per_epoch + 1]
    for name, part in (("first epoch", first), ("after it", later)):
        if part:
            yield {"phase": name, "steps": len(part),
                   "median_ms": round(1e3 * statistics.median(r[1] for r in part), 2),
                   "faults_per_step": round(statistics.mean(r[2] for r in part), 1)}


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", choices=["mlp", "cnn"], default="cnn")
    p.add_argument("--bn", choices=["on", "off"], default="on")
    p.add_argument("--batch", type=positive, default=64)
    p.add_argument("--samples", type=positive, default=60_000, help="samples per epoch")
    p.add_argument("--after", type=positive, default=300, help="steps timed after epoch 1")
    p.add_argument("--eval", type=positive, default=10_000, help="samples evaluated at each "
                   "epoch end, in batches of 1000")
    p.add_argument("--no-eval", dest="eval", action="store_const", const=None)
    p.add_argument("--cold-heap", action="store_true",
                   help="train without minidl.heap.warm_heap(), which Trainer.fit calls")
    args = p.parse_args(argv)
    minidl.heap.ENABLED = not args.cold_heap
    model, loss, opt = setup(args.model, args.bn == "on", seed=0)
    images, labels = make_data(args.samples)
    shape = (784,) if args.model == "mlp" else (1, 28, 28)
    drop = args.samples % args.batch == 1                      # BN needs 2 samples
    loader = DataLoader(images, labels, args.batch, seed=0, shape=shape, drop_last=drop)
    n_eval = min(args.eval or 0, args.samples)                 # evaluated on training images
    test = (DataLoader(images[:n_eval], labels[:n_eval], 1000, shuffle=False, shape=shape)
            if n_eval else None)
    log = StepLog()
    Trainer(model, loss, opt, loader, test, callbacks=[log], progress=False).fit(
        steps=len(loader) + args.after)
    last_batch = args.batch if drop else args.samples % args.batch or args.batch
    for row in phases(log.rows, len(loader)):
        print(json.dumps(dict(model=args.model, bn=args.bn == "on", batch=args.batch,
                              last_batch=last_batch, eval=n_eval, cold_heap=args.cold_heap,
                              **row)))


if __name__ == "__main__":
    main()
