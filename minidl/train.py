"""The training loop: the one place where data, model, loss and optimizer meet.

    trainer = Trainer(model, SoftmaxCrossEntropy(), SGD(model.parameters(), lr=0.1),
                      train_loader, eval_loader=test_loader)
    history = trainer.fit(epochs=10)

One step is: forward, loss, backward, optimizer step, in that order. The model
is put in train mode for steps and in eval mode for evaluation (which matters
for BatchNorm). Callbacks see the trainer after every step and may record
anything (a layer's input distribution, say) or set trainer.stop = True.

Safety: a NaN or infinite loss stops training with DivergenceError (or is
recorded, with on_divergence="record"), and so do weights, BN statistics or
momentum buffers found NaN or infinite at an evaluation or a checkpoint;
Ctrl-C stops at the end of the current step and, with a checkpoint path,
saves everything needed to resume bit for bit: weights, BN statistics,
momentum buffers, the data loader's position and random state, the step and
the history.

What the Trainer refuses or warns about before it trains (a part in the wrong
place, an optimizer of another model, a fit with nothing to do) is in
minidl/trainer_checks.py. evaluate() and predict() live in minidl/evaluation.py,
Callback and the Figure 1 recorder in minidl/callbacks.py; all of them may be
imported from here too.
"""
import contextlib
import math
import os
import signal
import threading
import time

import numpy as np
from tqdm.auto import tqdm

from minidl import checkpoint as ckpt
from minidl import trainer_checks as checks
from minidl.callbacks import Callback, LayerInputRecorder, layer_input
from minidl.errors import (CheckpointError, DivergenceError, SettingError, ShapeError, check_int,
                           check_number)
from minidl.evaluation import evaluate, loss_value, predict, tally
from minidl.heap import warm_heap
from minidl.history import History

__all__ = ["Trainer", "fit", "Callback", "evaluate", "predict", "LayerInputRecorder",
           "layer_input"]


class _StepFunction(Callback):
    def __init__(self, fn):
        self.on_step_end = fn


@contextlib.contextmanager
def catch_sigint(on_hit=None):
    """While active, the first Ctrl-C only sets flag["hit"] (and calls on_hit()):
    the Trainer's loop stops at the end of the step, a script ends what it is
    writing. A second Ctrl-C interrupts at once as usual. Not off the main thread."""
    flag = {"hit": False}
    if threading.current_thread() is not threading.main_thread():
        yield flag
        return

    def handler(signum, frame):
        flag["hit"] = True
        signal.signal(signal.SIGINT, previous)
        if on_hit is not None:
            on_hit()

    previous = signal.signal(signal.SIGINT, handler)
    try:
        yield flag
    finally:
        signal.signal(signal.SIGINT, previous)


class Trainer:
    """Mini-batch SGD with evaluation, history, callbacks and checkpoints.

    eval_loader: a DataLoader evaluated in eval mode at each epoch end (and every
        ``eval_every`` steps), giving the history's test_loss and test_acc
    schedule: function step -> learning rate (minidl.optim.schedules), or None
    callbacks: Callback objects (minidl.callbacks: on_train_begin, on_step_end,
        on_eval, on_train_end), or functions of the trainer run after every step;
        setting trainer.stop = True ends training after the step (early stopping)
    eval_every: also evaluate every this many steps (besides each epoch end)
    checkpoint: path of the checkpoint written at each epoch end, every
        ``checkpoint_every`` steps, and on Ctrl-C (None: no checkpoints)
    on_divergence: "raise" (DivergenceError) or "record" (history.diverged)
    progress: show a tqdm progress bar
    """

    def __init__(self, model, loss_fn, optimizer, train_loader, eval_loader=None,
                 schedule=None, callbacks=(), eval_every=None, checkpoint=None,
                 checkpoint_every=None, on_divergence="raise", progress=True):
        checks.check_settings(on_divergence, eval_every, checkpoint, checkpoint_every)
        checks.check_train_loader(train_loader)
        checks.check_parts(model, loss_fn, optimizer, eval_loader, schedule, checkpoint)
        checks.check_labels(model, loss_fn, train_loader, eval_loader)
        checks.warn_other_conversion(train_loader, eval_loader)
        callbacks = checks.callback_list(callbacks)
        self.model, self.loss_fn, self.optimizer = model, loss_fn, optimizer
        self.train_loader, self.eval_loader = train_loader, eval_loader
        self.schedule, self.eval_every = schedule, eval_every
        self.callbacks = [c if isinstance(c, Callback) else _StepFunction(c) for c in callbacks]
        self.checkpoint, self.checkpoint_every = checkpoint, checkpoint_every
        self.on_divergence, self.progress = on_divergence, progress
        self.history = History()
        self.step, self.elapsed, self.stop = 0, 0.0, False
        self.loss = None                 # loss of the last step
        self._last_lr = None             # learning rate of the last step
        self.saved_step = None           # step of `checkpoint` on disk, once saved or resumed
        self._since_record = [0.0, 0, 0]   # loss sum, correct, samples since the last record

    # --- the loop ------------------------------------------------------------
    def fit(self, epochs=None, steps=None):
        """Train for ``epochs`` epochs or ``steps`` steps in all (counting steps
        already done before a resume). Returns the History."""
        if (epochs is None) == (steps is None):
            raise SettingError("give exactly one of epochs= or steps=")
        total = (check_int("fit", "steps", steps) if steps is not None else
                 check_int("fit", "epochs", epochs) * len(self.train_loader))
        checks.check_target(self.step, total, epochs, steps, self.schedule)
        if self.step == 0:
            checks.warn_used_loader(self.train_loader)
            if self.saved_step is None:          # a new run, not resumed
                checks.warn_trained_model(self.model)
                checks.warn_old_checkpoint(self.checkpoint)
        self.stop = False
        self.history.interrupted = False     # a fit after a Ctrl-C goes on: it ends anew
        checks.warn_lr_by_hand(self.schedule, self._last_lr, self.optimizer.lr)
        for c in self.callbacks:
            c.on_train_begin(self)
        warm_heap()                           # else a CNN's first epoch is slower (minidl/heap.py)
        self.model.train()
        input_grad = getattr(self.model, "input_grad", None)
        if input_grad is not None:
            self.model.input_grad = False     # dL/d(data) is never used: skip computing it
        try:
            self._loop(total)
        finally:
            if input_grad is not None:
                self.model.input_grad = input_grad
        if not self.history.records or self.history.records[-1]["step"] != self.step:
            if not self.history.diverged and not self.history.interrupted:
                self._record("final")
        for c in self.callbacks:
            c.on_train_end(self)
        return self.history

    def _loop(self, total):
        started = time.perf_counter() - self.elapsed
        with catch_sigint() as sigint, tqdm(total=total, initial=self.step, unit="step",
                                             disable=not self.progress, leave=False) as bar:
            while self.step < total and not self.stop:
                epoch, before = self.train_loader.epoch, self.step
                for xb, yb in self.train_loader:
                    if not self._train_step(xb, yb):
                        break
                    self.elapsed = time.perf_counter() - started
                    bar.update(1)
                    if self.step % 50 == 0:
                        bar.set_postfix(loss=f"{self.loss:.4f}", refresh=False)
                    epoch_end = self.train_loader.epoch > epoch   # that was its last batch
                    if epoch_end or (self.eval_every and self.step % self.eval_every == 0):
                        self._record("epoch" if epoch_end else "eval")   # once per step
                    if self.checkpoint and not self.history.diverged and (   # found by _record
                            epoch_end or (self.checkpoint_every and
                                          self.step % self.checkpoint_every == 0)):
                        self._checkpoint()
                    if sigint["hit"] and self.step < total:   # after the last step: done
                        self._interrupted()
                    if self.stop or self.step >= total:
                        break
                if self.step == before and not self.stop:   # else this loop never ends
                    raise ShapeError("the training loader yielded no batch in a whole epoch "
                                     f"(len(train_loader) = {len(self.train_loader)})")

    def _train_step(self, xb, yb):
        """forward, loss, backward, update. Returns False when the loss diverged (no
        update then). A callback's stop is handled by the loop, after the step's record
        and checkpoint."""
        lr = self.schedule(self.step) if self.schedule else self.optimizer.lr
        source = "the schedule's learning rate" if self.schedule else "optimizer.lr"
        lr = self.optimizer.lr = check_number(   # float, not np.float32: history is JSON
            "Trainer", f"{source} at step {self.step}", lr, lambda v: v >= 0, "a number >= 0")
        self._last_lr = lr                   # fit() notices a change by hand against a schedule
        logits = self.model.forward(xb)
        loss = loss_value(self.loss_fn.forward(logits, yb), self.loss_fn)
        if not math.isfinite(loss):
            self._diverged(f"the loss became {loss}", self.step + 1, lr, loss, xb)
            return False
        self.model.backward(self.loss_fn.backward())
        self.optimizer.step()
        self.step += 1
        self.loss = loss
        self.history.step_loss.append(loss)
        self.history.step_lr.append(lr)
        tally(self._since_record, loss, logits, yb, finite=True)   # the loss was checked
        for c in self.callbacks:
            c.on_step_end(self)
        return True

    def _record(self, kind):
        bad = self._non_finite()      # BN's running statistics can overflow, the loss still finite
        if bad is not None:           # (they are used only in eval mode): no record of garbage
            self._diverged(f"{bad} became NaN or infinite", self.step, self.optimizer.lr, None)
            return
        loss_sum, correct, n = self._since_record
        record = {"kind": kind, "step": self.step, "epoch": self.train_loader.epoch,
                  "train_loss": loss_sum / n if n else None,
                  "train_acc": correct / n if n and correct is not None else None,
                  "test_loss": None, "test_acc": None,
                  "lr": self.optimizer.lr, "time": round(self.elapsed, 3)}
        if self.eval_loader is not None:
            record["test_loss"], record["test_acc"] = evaluate(self.model, self.loss_fn,
                                                               self.eval_loader)
        self._since_record = [0.0, 0, 0]
        self.history.records.append(record)
        for c in self.callbacks:
            c.on_eval(self, record)

    def _diverged(self, what, step, lr, loss, xb=None):
        """Stop training: `what` ("the loss became nan") happened at `step`; loss is
        that step's loss, or None when the weights went first."""
        steps = self.history.step_loss
        last = next((s for s in reversed(steps) if math.isfinite(s)), None)
        self.history.diverged = {"step": step, "loss": loss,     # NaN/inf: JSON names them
                                 "lr": lr, "last_finite_loss": last, "cause": what}
        self.stop = True
        if self.on_divergence == "raise":
            kept = (f" The last good checkpoint is {self.checkpoint}, from step {self.saved_step}."
                    if self.checkpoint and self.saved_step is not None else
                    " No checkpoint was saved before it." if self.checkpoint else "")
            raise DivergenceError(f"training diverged: {what} at step {step} with learning "
                                  f"rate {lr:g} (last finite loss: {last}).{kept} "
                                  f"{self._cure(lr, xb)}")

    def _cure(self, lr, xb):
        """The divergence message's advice: check the data, if the batch holds NaN
        or inf; else a smaller learning rate, or BatchNorm for a net without it."""
        if xb is not None and not np.all(np.isfinite(xb)):      # not the learning rate
            return (f"The input batch itself holds {np.size(xb) - np.isfinite(xb).sum()} "
                    "NaN or infinite values: check the data.")
        if self.schedule is None:
            rate = f" (e.g. {lr / 10:g})"
        elif getattr(self.schedule, "warmup", None) != 0:    # one of minidl's says 0
            rate = (f": the whole schedule a tenth as high, its peak too (the rate at this "
                    f"step, {lr:g}, may be far below the peak during a warm-up)")
        else:
            rate = f": the whole schedule a tenth as high (the rate at this step was {lr:g})"
        has_bn = any(hasattr(layer, "running_var")        # BatchNorm, or a BN of one's own
                     for layer in getattr(self.model, "layers", ()))
        return f"Try a smaller learning rate{rate}" + (
            "." if has_bn else ", or BatchNorm, which tolerates larger ones.")

    def _interrupted(self):
        self.history.interrupted = True
        self.stop = True
        if self.checkpoint:
            self._checkpoint()

    # --- checkpoints -----------------------------------------------------------
    def _checkpoint(self):
        """The loop's checkpoint. Weights, BN statistics or momentum buffers that are
        no longer finite (a step blew them up before the loss shows it) stop training
        instead, as a divergence, and the last good checkpoint on disk stays."""
        bad = self._non_finite()
        if bad is None:
            self._write(self.checkpoint)
        else:
            self._diverged(f"{bad} became NaN or infinite", self.step, self.optimizer.lr, None)

    def _non_finite(self):
        """The name of the first array a checkpoint would hold that is NaN or infinite."""
        return ckpt.non_finite(ckpt.arrays(self.model, self.optimizer))

    def save(self, path):
        """Write a training checkpoint; raises DivergenceError, writing nothing, if an
        array it would hold is NaN or infinite."""
        bad = self._non_finite()
        if bad is not None:
            raise DivergenceError(f"Trainer.save: {bad} is NaN or infinite; {path} was not "
                                  "written")
        self._write(path)

    def _write(self, path):
        meta = {"step": self.step, "elapsed": self.elapsed, "since_record": self._since_record,
                "loader": self.train_loader.state_dict(), "history": self.history.to_dict()}
        ckpt.save(self.model, path, self.optimizer, meta=meta)
        self._note_checkpoint(path)

    def resume(self, path):
        """Restore everything saved by save(path); fit() then continues where it
        stopped. The whole file is checked first: on an error nothing changes."""
        restored = {}

        def check_meta(meta):        # runs before the checkpoint changes anything
            try:
                if not isinstance(meta["history"], dict):
                    raise TypeError("the history")
                history = History.from_dict(meta["history"])
                if not all(isinstance(v, list) for v in (history.step_loss, history.step_lr,
                                                         history.records)):
                    raise TypeError("the history's step_loss, step_lr and records")
                restored.update(step=int(meta["step"]), elapsed=float(meta["elapsed"]),
                                since_record=list(meta["since_record"]), history=history)
                loader_state = meta["loader"]
            except (KeyError, TypeError, ValueError) as e:
                raise CheckpointError(f"{path}: not a training checkpoint written by "
                                      f"Trainer.save (its metadata lacks or garbles {e})") from None
            try:                     # last, and all or nothing: the loader checks first
                self.train_loader.load_state_dict(loader_state)
            except (KeyError, TypeError, ValueError) as e:
                raise CheckpointError(f"{path}: its data-loader state does not fit this "
                                      f"training loader ({e}); resume with the data set and "
                                      "batch size of the run that saved it") from None

        ckpt.load(self.model, path, self.optimizer, check_meta=check_meta)
        self.step, self.elapsed = restored["step"], restored["elapsed"]
        self._since_record, self.history = restored["since_record"], restored["history"]
        self.history.interrupted = False
        self._note_checkpoint(path)
        return self

    def _note_checkpoint(self, path):
        """Remember the step of the training checkpoint on disk (for the divergence message)."""
        if self.checkpoint and os.path.abspath(path) == os.path.abspath(self.checkpoint):
            self.saved_step = self.step


def fit(model, loss_fn, optimizer, train_loader, epochs=None, steps=None, **options):
    """Train ``model``; a shortcut for Trainer(...).fit(epochs or steps). ``options``
    are Trainer's (eval_loader, schedule, callbacks, checkpoint, ...)."""
    checks.check_fit_options(options, Trainer)
    return Trainer(model, loss_fn, optimizer, train_loader, **options).fit(epochs, steps)
