"""What the Trainer refuses, and what it warns about, before it trains.

Each check names a mistake that used to fail deep inside the first step, or
to train without a word on something other than what was meant: a part
given in the wrong place, an optimizer of another model, a fit that has
nothing to do, a run that replaces another run's checkpoint. The training
loop itself is in minidl/train.py.
"""
import difflib
import inspect
import math
import os
import warnings

import numpy as np

from minidl import checkpoint as ckpt
from minidl.callbacks import Callback
from minidl.data.loader import DataLoader
from minidl.errors import (CheckpointError, CheckpointWarning, LabelError, SettingError,
                           ShapeError, check_int, given, has_methods, user_stacklevel)
from minidl.evaluation import check_loader
from minidl.files import check_writable
from minidl.layers import Dense
from minidl.layers.checks import check_states, foreign_params
from minidl.losses import SoftmaxCrossEntropy


# --- when the Trainer is made ---------------------------------------------------
def check_settings(on_divergence, eval_every, checkpoint, checkpoint_every):
    if on_divergence not in ("raise", "record"):
        raise SettingError(f"on_divergence must be 'raise' or 'record', got {on_divergence!r}")
    for name, value in (("eval_every", eval_every), ("checkpoint_every", checkpoint_every)):
        if value is not None:
            check_int("Trainer", name, value)
    if checkpoint_every is not None and not checkpoint:     # it would be ignored
        raise SettingError("Trainer: checkpoint_every needs checkpoint=path, the file to write")


def check_train_loader(train_loader):
    check_loader("Trainer: train_loader", train_loader)    # a pair of arrays, the data set
    if not all(hasattr(train_loader, a) for a in ("epoch", "__len__", "__iter__")):
        kind = type(train_loader)
        name = (kind.__name__ if kind.__module__ == "builtins" else
                f"{kind.__module__}.{kind.__name__}")           # torch.utils.data...
        raise SettingError(f"Trainer: train_loader must be a minidl DataLoader (the trainer "
                           f"counts its epochs and saves its position in checkpoints), got "
                           f"{name}; evaluate() takes any iterable")


def one_shot(loader):
    """Whether loader is an iterator of Python's own that is used up after one pass
    (a generator, map, zip, iter(list), itertools'); a class of one's own whose
    __iter__ starts again and returns self is read afresh at every evaluation."""
    return (loader is not None and iter(loader) is loader and
            type(loader).__module__ in ("builtins", "itertools"))


def check_parts(model, loss_fn, optimizer, eval_loader, schedule, checkpoint=None):
    """Name a part given in the wrong place, or as a class or builder: each used to
    fail deep inside the first step or evaluation, in words of another object."""
    for name, obj, methods, example in (
            ("model", model, ("forward", "backward", "parameters", "train"), "mlp(784, [100], 10)"),
            ("loss_fn", loss_fn, ("forward", "backward"), "SoftmaxCrossEntropy()"),
            ("optimizer", optimizer, ("step",), "SGD(model.parameters(), lr=0.1)")):
        if not has_methods(obj, *methods):
            raise SettingError(f"Trainer: {name} must be an object with {', '.join(methods)}, "
                               f"such as {example}; got {given(obj, *methods)}")
    if foreign_params(model, optimizer):
        raise SettingError("Trainer: the optimizer updates parameters that are not this "
                           "model's (was the model built again after the optimizer?); make it "
                           "from this model: SGD(model.parameters(), ...)")
    check_loader("Trainer: eval_loader", eval_loader)
    if checkpoint:               # else refused only at the first checkpoint, an epoch in
        if not has_methods(model, "state", "set_state"):
            raise SettingError(f"Trainer: checkpoint= needs a model with state() and "
                               f"set_state(), such as a Sequential; got {given(model)}")
        check_states(model, "Trainer(checkpoint=...)")
        if os.fspath(checkpoint).endswith(("/", os.sep)):   # written only after an epoch
            raise SettingError(f"Trainer: checkpoint= is the name of a file to write, such as "
                               f"'runs/a/checkpoint.npz'; got {checkpoint!r}, a folder")
        check_writable(checkpoint)     # not a folder, a read-only file, a path through a file
        ckpt.check_name(checkpoint, "Trainer: checkpoint=")
    if one_shot(eval_loader):
        raise SettingError(f"Trainer: eval_loader is a {type(eval_loader).__name__}, which can "
                           "be read once, but the Trainer evaluates at every record (its "
                           "second evaluation found no batch and stopped the training); give "
                           "DataLoader(x, y, batch_size, shuffle=False) or a list of (xb, yb) "
                           "batches")
    if schedule is not None and not callable(schedule):
        raise SettingError(f"Trainer: schedule must be a function of the step number, such as "
                           f"cosine(0.1, total_steps), got {schedule!r}")


def check_labels(model, loss_fn, train_loader, eval_loader):
    """Every label of the loaders, checked as SoftmaxCrossEntropy checks a batch's,
    when the model ends in a Dense layer (which gives the number of classes): a
    wrong label otherwise stops training only when its batch comes (step 33 of a
    lab's run, or the first evaluation)."""
    last = (getattr(model, "layers", None) or [None])[-1]
    if not (isinstance(loss_fn, SoftmaxCrossEntropy) and isinstance(last, Dense)):
        return
    for name, loader in (("train_loader", train_loader), ("eval_loader", eval_loader)):
        labels = getattr(loader, "y", None) if isinstance(loader, DataLoader) else None
        if labels is None:              # a list of batches: checked batch by batch
            continue
        logits = np.broadcast_to(np.zeros(1, np.float32), (len(labels), last.out_features))
        try:
            SoftmaxCrossEntropy._check(logits, labels)    # a view: no memory for the logits
        except (LabelError, ShapeError) as e:
            raise type(e)(f"Trainer: the {name}'s labels (y), for the model's "
                          f"{last.out_features} outputs: {e}") from None


def warn_other_conversion(train_loader, eval_loader):
    """Warn when the eval DataLoader converts its samples otherwise than the training
    one (mean or std entry by entry, or the shape its batches' samples have): the model
    is then tested on inputs unlike those it learned from, and the test accuracy is
    wrong without a word (a lab's 57.6% for a net that scores 91.8% on standardized test
    images)."""
    if not (isinstance(train_loader, DataLoader) and isinstance(eval_loader, DataLoader)):
        return

    def per_entry(loader, name):       # None, one number or per channel: one per sample entry,
        v = getattr(loader, name)      # in the order a reshape (shape=) keeps
        return None if v is None else np.broadcast_to(v, loader.x.shape[1:]).ravel()

    def same(name):                    # the samples of the two may have other shapes
        a, b = per_entry(train_loader, name), per_entry(eval_loader, name)
        if a is None or b is None:
            return a is b
        return a.shape == b.shape and np.allclose(a, b)
    differ = [name for name in ("mean", "std") if not same(name)]
    if (train_loader.shape or train_loader.x.shape[1:]) != \
            (eval_loader.shape or eval_loader.x.shape[1:]):     # the batches' sample shapes
        differ.append("shape")

    def shown(v):
        if v is None or isinstance(v, tuple):          # no standardization, or a shape
            return repr(v)
        return f"{float(v.flat[0]):g}" if v.size == 1 else f"{v.size} values"
    if differ:
        given = "; ".join(f"{n}={shown(getattr(train_loader, n))} for training, "
                          f"{shown(getattr(eval_loader, n))} for evaluation" for n in differ)
        warnings.warn(f"Trainer: the eval_loader converts its samples otherwise than the "
                      f"train_loader ({given}): the model would be tested on inputs unlike "
                      f"those it learns from, and the test accuracy would be wrong; give "
                      f"the eval DataLoader the same {', '.join(f'{n}=' for n in differ)}",
                      stacklevel=user_stacklevel())


def callback_list(callbacks):
    """callbacks as a list, each a Callback or a function of the trainer."""
    if isinstance(callbacks, Callback) or callable(callbacks):
        callbacks = [callbacks]                      # one callback, not in a list
    callbacks = list(callbacks)                      # a generator is read once, here
    for c in callbacks:
        if isinstance(c, type) or not (isinstance(c, Callback) or callable(c)):
            raise SettingError("Trainer: callbacks must be Callback instances or functions "
                               f"of the trainer, got {given(c, 'on_step_end')}")
        _check_hooks(c)
    return callbacks


HOOKS = {"on_train_begin": "trainer", "on_step_end": "trainer", "on_eval": "trainer, record",
         "on_train_end": "trainer"}                  # what the Trainer passes to each


def _check_hooks(c):
    """A hook that takes other arguments than the Trainer gives fails only when first
    called (on_eval after a whole epoch), and a misspelt one (on_epoch_end, Keras's)
    is never called at all: refuse the first, warn of the second, now."""
    if not isinstance(c, Callback):                  # a function of the trainer
        _check_takes(getattr(c, "__name__", repr(c)), c, "trainer")
        return
    for name, args in HOOKS.items():
        _check_takes(f"{type(c).__name__}.{name}", getattr(c, name), args)
    for name in dir(type(c)):
        if not name.startswith("on_") or name in HOOKS:
            continue
        close = difflib.get_close_matches(name, HOOKS, n=1)
        if close and callable(getattr(c, name)):
            warnings.warn(f"{type(c).__name__}.{name} is no hook: the Trainer never calls it "
                          f"(its hooks: {', '.join(HOOKS)}; did you mean {close[0]}?). An "
                          "epoch's end is on_eval(trainer, record) with record['kind'] == "
                          "'epoch'", stacklevel=user_stacklevel())


def _check_takes(name, hook, args):
    """Refuse a hook that cannot be called with `args` ("trainer, record")."""
    if not callable(hook):
        raise SettingError(f"Trainer: callback {name} is {hook!r}, not a function of "
                           f"({args})")
    try:
        signature = inspect.signature(hook)
    except ValueError:            # no signature to read (a builtin): let the call say
        return
    try:
        signature.bind(*args.split(", "))
    except TypeError:
        self = "self, " if inspect.ismethod(hook) else ""
        raise SettingError(f"Trainer: callback {name} must take ({self}{args}), as the "
                           f"Trainer calls it; it takes ({self}"
                           f"{', '.join(signature.parameters)})".replace(", )", ")")) from None


def check_fit_options(options, trainer_class):
    """fit(**options) takes the Trainer's options: name a wrong one (fit(epoch=1) raised
    a TypeError about Trainer.__init__, which the user never called)."""
    known = inspect.signature(trainer_class).parameters
    unknown = [name for name in options if name not in known]
    if unknown:
        close = difflib.get_close_matches(unknown[0], [*known, "epochs", "steps"], n=1)
        raise SettingError(f"fit: unknown option {unknown[0]!r}"
                           + (f" (did you mean {close[0]!r}?)" if close else "")
                           + "; fit takes epochs or steps, and Trainer's options: "
                           + ", ".join(n for n in known if n not in ("model", "loss_fn",
                                                                     "optimizer", "train_loader")))


# --- when fit() starts ------------------------------------------------------------
def check_target(step, total, epochs, steps, schedule):
    """Refuse a fit that would do nothing, or train at learning rate 0."""
    if step >= total:       # a second fit(epochs=2) would silently do nothing
        if steps is not None:
            asked, more = f"steps={steps}", f"{steps} more step{'s' * (steps > 1)}"
        else:
            asked = f"epochs={epochs}"
            more = f"{epochs} more epoch{'s' * (epochs > 1)} ({total} steps)"
        raise SettingError(
            f"fit({asked}) has nothing to do: it counts from the start of training (so "
            f"that a resumed run goes on where it stopped), and this trainer has done "
            f"{step} steps already. To train {more}, call fit(steps={step + total})")
    size, gamma = getattr(schedule, "step_size", None), getattr(schedule, "gamma", None)
    if size and gamma and gamma < 1:                 # step_decay(): decayed to nothing?
        decays = math.floor(math.log(1e-4) / math.log(gamma)) + 1   # gamma^decays < 1e-4
        if decays * size < total:
            warnings.warn(
                f"fit: the schedule's rate falls below 1e-4 of its start at step "
                f"{decays * size} ({decays} times gamma={gamma!r}, every {size} steps), but "
                f"training runs to step {total}: the steps after it barely change the "
                f"weights. If step_size was meant in epochs: it counts steps (epochs * "
                f"len(train_loader))", stacklevel=user_stacklevel())
    end = getattr(schedule, "total_steps", None)     # cosine() knows where it ends
    if end is not None and end < total and schedule(total - 1) == 0:
        # 0 at its end, or one step later when the warm-up takes all of total_steps
        zero_at = end if schedule(end) == 0 else end + 1
        phase = (f". For a new phase from step {step} (schedules get the step counted from "
                 f"the start of training, over all fits): trainer.schedule = lambda s: "
                 f"cosine(lr, {total - step})(s - {step})" if step else "")
        raise SettingError(f"fit: the schedule reaches learning rate 0 at step {zero_at}, but "
                           f"training runs to step {total}: the steps after {zero_at} would not "
                           f"change the weights. Its total_steps counts steps, not epochs "
                           f"(epochs * len(train_loader)): give the Trainer a schedule that "
                           f"lasts the run, here cosine(lr, {total}) with the same warmup "
                           f"and min_lr (trainer.schedule may be replaced between fits){phase}")


def warn_used_loader(loader):
    """Warn when a new run starts from a DataLoader that was used before (by a peek
    with next(iter(loader)), or another model's run): its batches then differ
    from those of a fresh loader with the same seed, and a comparison of two
    models on "the same data" silently is not one. (A second phase of training
    on purpose may ignore it.)"""
    state = loader.state_dict() if hasattr(loader, "state_dict") else {}
    epochs, position = state.get("epoch", 0), state.get("position", 0)
    if epochs or position:
        warnings.warn(f"Trainer.fit: the training loader was used before; it stands at "
                      f"epoch {epochs + 1}, sample {position}, so this run's batches are "
                      "not those of a fresh loader with the same seed. Fine for more "
                      "training on purpose; to compare runs on the same batches, build "
                      "one DataLoader per run", stacklevel=user_stacklevel())


def warn_trained_model(model):
    """Warn when a new run starts from a model that has been trained already (an
    optimizer's step marks its layers updated): a notebook cell run again with a
    new Trainer but the old model goes on training it, from where the last run
    left it, and a comparison with a fresh net is then not one. (Training on
    purpose in two phases may ignore it; a backward alone, to try it out, is
    not training.)"""
    if any(getattr(layer, "updated", False) for layer in getattr(model, "layers", ())):
        warnings.warn("Trainer.fit: an optimizer has updated this model's weights before (an "
                      "earlier run, or a cell run again), so this run starts from those "
                      "trained weights, not from new ones. Fine for more training on purpose; "
                      "for a new run, build the model again, and its optimizer",
                      stacklevel=user_stacklevel())


def warn_old_checkpoint(path):
    """Warn when a new run's checkpoint= path holds a checkpoint already: the run
    replaces it at its first epoch end (a notebook cell run again with a quick
    setting replaced a long run's checkpoint in silence). train.py refuses
    instead, unless the settings match or --overwrite is given."""
    if not path or not os.path.isfile(path):
        return
    try:
        what = f"the checkpoint of a run at step {ckpt.read_meta(path)['step']}"
    except (CheckpointError, KeyError, TypeError):
        what = "a file"
    warnings.warn(f"Trainer.fit: {path} holds {what}; this new run replaces it at its "
                  "first checkpoint. To go on from it instead, call trainer.resume(path) "
                  "before fit(); to keep it, give another checkpoint= path",
                  CheckpointWarning, stacklevel=user_stacklevel())


def warn_lr_by_hand(schedule, last_lr, lr):
    """Warn when optimizer.lr was set by hand since the last step of a trainer with
    a schedule: the schedule sets the rate at every step, so it would be ignored."""
    if schedule and last_lr not in (None, lr):
        warnings.warn(f"Trainer.fit: optimizer.lr was set to {lr:g} since the last step, but "
                      "the trainer's schedule sets the learning rate at every step; to change "
                      "it, give the trainer another schedule (trainer.schedule = constant(lr), "
                      "say)", stacklevel=user_stacklevel())
