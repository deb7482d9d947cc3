"""Train an MLP or a CNN on MNIST, with or without Batch Normalization.

    python examples/mnist/train.py --model mlp --batchnorm
    python examples/mnist/train.py --model cnn --batchnorm --out runs/cnn-bn

Prints one line per epoch and, last, test_accuracy=0.XXXX on a line of its
own. Writes into --out: history.json, history.csv (one row per epoch),
steps.csv (loss and learning rate per step), checkpoint.npz, loss_curve.png (--format pdf svg:
in those formats), and with --profile profile.png.
Ctrl-C saves a checkpoint and stops; the same command with --resume goes on
(without --resume it refuses to start over on top of the interrupted run).
A finished run in --out is replaced by one with the same settings (a rerun,
which checkpoints to checkpoint-rerun.npz and replaces the finished run only
when it finishes: stopped before, it leaves that run as it was, and is not
resumed), but by one with other settings only with --overwrite.
"""
import argparse
import contextlib
import math
import os
import warnings

from common import (PLOT_FORMATS, Help, add_data_arguments, add_format_argument, build,
                    check_out_dir, ctrl_c_held, ensure_dir, files_of_no_run, folder_name,
                    history_there, int_at_least, load_data, loaders, names, option,
                    positive_number, remove_stale, run_cli)

from minidl import jsonfile, plot
from minidl.callbacks import Callback
from minidl.checkpoint import read_meta
from minidl.errors import CheckpointError, CheckpointWarning, DivergenceError
from minidl.files import check_writable
from minidl.losses import SoftmaxCrossEntropy
from minidl.optim import SGD, constant, cosine, step_decay
from minidl.profiler import Profiler
from minidl.train import Trainer

# Defaults per model: what reaches the README's accuracies.
DEFAULTS = {"mlp": {"epochs": 10, "lr": 0.1, "warmup": 0, "shift": 0},
            "cnn": {"epochs": 5, "lr": 0.1, "warmup": 1, "shift": 1}}


def model_defaults(model, epochs):
    """DEFAULTS[model] for a run of `epochs`: its warm-up is kept to a fifth of the
    run (the CNN's one epoch of five), else the CNN's --epochs 1 would warm up to
    its last step and never anneal."""
    return dict(DEFAULTS[model], warmup=min(DEFAULTS[model]["warmup"], epochs / 5))


def per_model(key):
    values = {str(d[key]) for d in DEFAULTS.values()}
    if len(values) == 1:                  # the same for both models: said once
        return f"default: {values.pop()}"
    return "default: " + ", ".join(f"{d[key]} ({m})" for m, d in DEFAULTS.items())


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0], formatter_class=Help)
    p.add_argument("--model", choices=["mlp", "cnn"], default="mlp",
                   help="MLP 784-hidden-10, or conv16-pool-conv32-pool-dense")
    p.add_argument("--batchnorm", action=argparse.BooleanOptionalAction, default=True,
                   help="BN before every hidden nonlinearity (bias dropped)")
    p.add_argument("--activation", choices=["relu", "sigmoid", "tanh"], default="relu",
                   help="hidden nonlinearity")
    p.add_argument("--hidden", type=int, nargs="+", default=[100, 100, 100],
                   help="hidden layer widths of the MLP")
    p.add_argument("--epochs", type=int, default=None, help=per_model("epochs"))
    p.add_argument("--batch-size", type=int, default=64, help="mini-batch size")
    p.add_argument("--lr", type=positive_number, default=None,
                   help="peak learning rate; " + per_model("lr"))
    p.add_argument("--schedule", choices=["cosine", "step", "constant"], default="cosine",
                   help="cosine: lr -> 0 over the run; step: lr/10 after each third")
    p.add_argument("--warmup", type=float, default=None, metavar="EPOCHS",
                   help="linear learning-rate warm-up (cosine schedule); " + per_model("warmup")
                        + ", at most a fifth of --epochs")
    p.add_argument("--shift", type=int_at_least(0, 27), default=None, metavar="PIXELS",
                   help="augment: shift training images by up to this many pixels (at most "
                        "27: the images are 28 pixels wide); " + per_model("shift"))
    p.add_argument("--momentum", type=float, default=0.9, help="SGD momentum")
    p.add_argument("--nesterov", action=argparse.BooleanOptionalAction, default=True,
                   help="Nesterov momentum")
    p.add_argument("--weight-decay", type=float, default=5e-4,
                   help="L2 penalty on weights (not on biases, gamma, beta)")
    p.add_argument("--seed", type=int_at_least(0), default=0,
                   help="seeds the weights and the batch order")
    add_data_arguments(p)
    p.add_argument("--out", type=folder_name, default=None,
                   help="output folder (default runs/<model>-<bn|nobn>, plus the settings that "
                        "differ from the defaults: runs/mlp-nobn-activation-sigmoid-lr-0.5)")
    p.add_argument("--resume", action="store_true",
                   help="continue from <out>/checkpoint.npz (after Ctrl-C)")
    p.add_argument("--overwrite", action="store_true",
                   help="replace a finished run with other settings in --out")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--log-scale", action=argparse.BooleanOptionalAction, default=True,
                   help="log y axis for the loss curve (linear: a bad start's spikes are cut "
                        "off above the bold curves)")
    p.add_argument("--profile", action="store_true",
                   help="print where a training step spends its time: each layer's forward "
                        "and backward, the loss, SGD.step (minidl.profiler); and plot it "
                        "(profile.png)")
    add_format_argument(p)
    args = p.parse_args(argv)
    given = {key for key in ("warmup", "hidden") if getattr(args, key) != p.get_default(key)}
    if args.epochs is None:
        args.epochs = DEFAULTS[args.model]["epochs"]
    for key, value in model_defaults(args.model, args.epochs).items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    args.out = args.out or default_out(p, args)
    checks = [(args.epochs >= 1, "--epochs must be at least 1"),
              (args.batch_size >= 1, "--batch-size must be at least 1"),
              (args.batch_size >= 2 or not args.batchnorm or args.model == "cnn",
               "--batch-size must be at least 2 with BN in the MLP: BN needs two or more "
               "values per feature to estimate a variance (or --no-batchnorm)"),
              (0 <= args.momentum < 1, "--momentum must be in [0, 1)"),
              (0 <= args.weight_decay < math.inf, "--weight-decay must be a number >= 0"),
              (0 <= args.warmup < math.inf, "--warmup must be a number >= 0"),
              ("warmup" not in given or args.schedule == "cosine",   # else it is dropped
               f"--warmup is for --schedule cosine; --schedule {args.schedule} has none"),
              ("hidden" not in given or args.model == "mlp",
               "--hidden is for --model mlp; the CNN's layers are fixed"),
              (not (args.resume and args.overwrite),
               "--resume continues the run in --out, --overwrite starts over on top of it: "
               "give one of them"),
              (args.schedule != "cosine" or args.warmup < args.epochs
               or (args.resume and args.warmup == args.epochs),   # a run from before this rule
               f"--warmup {args.warmup:g} must be shorter than --epochs {args.epochs} (both "
               "count epochs): the rate would rise to its last step and never anneal"),
              (min(args.hidden) >= 1, "--hidden widths must be at least 1")]
    for ok, message in checks:
        if not ok:
            p.error(message)
    return args


# The settings that make a run what it is: they must match between a run and its
# --resume, and a finished run with other values is not replaced without --overwrite.
RESUME_KEYS = ["model", "batchnorm", "activation", "hidden", "epochs", "batch_size", "lr",
               "schedule", "warmup", "shift", "momentum", "nesterov", "weight_decay", "seed",
               "train_subset"]


def applies(key, settings):
    """Whether a setting changes the run: --hidden not for the CNN, --warmup only
    with the cosine schedule."""
    return not ((key == "hidden" and settings.get("model") == "cnn") or
                (key == "warmup" and settings.get("schedule") != "cosine"))


def plain_out(args):
    """runs/<model>-<bn|nobn>: the default --out of runs with default settings (and,
    before the settings were named in it, of every run)."""
    return os.path.join("runs", f"{args.model}-{'bn' if args.batchnorm else 'nobn'}")


def default_out(parser, args):
    """runs/<model>-<bn|nobn>, plus each setting that differs from its default
    (runs/mlp-bn-epochs-1), so that runs with other settings get other folders."""
    parts = [plain_out(args)]
    for key in RESUME_KEYS[2:]:
        value = vars(args)[key]
        if applies(key, vars(args)) and \
                value != model_defaults(args.model, args.epochs).get(
                    key, parser.get_default(key)):
            parts.append(option(key, value).removeprefix("--").replace(" ", "-"))
    return "-".join(parts)


def changed_settings(before, args):
    """'--lr 0.1 there, --lr 0.5 here' for each RESUME_KEYS setting in which the
    config of an earlier run (its history.config) differs from args."""
    return [f"{option(k, before[k])} there, {option(k, vars(args)[k])} here"
            for k in RESUME_KEYS if k in before and before[k] != vars(args)[k] and
            (applies(k, before) or applies(k, vars(args)))]


def check_run_in_the_way(saved, args):
    """A CheckpointError unless training anew may replace the run saved in --out:
    only a finished run with the same settings (a rerun: returns True) or a run
    that diverged (its error advises a rerun with a smaller --lr: returns False)
    may be; an interrupted or killed run is resumed with --resume, anything else
    (a checkpoint train.py did not write, too) needs --overwrite."""
    start_over = "add --overwrite, delete that file, or choose another --out, to start over"
    try:
        history = read_meta(saved).get("history", {})
        if not isinstance(history, dict):
            raise CheckpointError(f"{saved}: its metadata garbles the history")
    except CheckpointError as e:
        raise CheckpointError(f"{e}. To train anew in {args.out}, {start_over}") from None
    if not isinstance(history.get("config"), dict) or "model" not in history["config"]:
        raise CheckpointError(f"{saved} is a checkpoint that train.py did not write (its "
                              f"metadata holds no run's settings): {start_over}")
    if history.get("interrupted"):
        raise CheckpointError(f"{saved} holds an interrupted run: add --resume to "
                              f"continue it, or {start_over}")
    config, records = history.get("config", {}), history.get("records") or [{}]
    done, epochs = records[-1].get("epoch"), config.get("epochs")
    if done != epochs and not diverged(args.out, config):   # a run killed before its end
        raise CheckpointError(f"{saved} holds an unfinished run (epoch {done} of {epochs} "
                              "saved): add --resume to continue it, or --overwrite to start over")
    if done == epochs:
        refuse_other_settings(saved, config, args)
    return done == epochs


def refuse_other_settings(where, config, args):
    """A CheckpointError if the finished run in `where` (its checkpoint, or its
    history.json) was made with other settings: its files would be lost."""
    changed = changed_settings(config, args)
    if changed:
        raise CheckpointError(f"{where} holds a finished run with other settings ("
                              f"{'; '.join(changed)}): choose another --out, or add "
                              "--overwrite to replace it")


def check_resume(saved, args):
    """A CheckpointError unless the run in `saved` was made with these settings."""
    try:
        history = read_meta(saved)["history"]
        config, changed = history["config"], changed_settings(history["config"], args)
        records = history.get("records") or [{}]
        finished = not history.get("interrupted") and records[-1].get("epoch") == \
            config.get("epochs")
    except CheckpointError as e:                         # damaged: nothing to resume from
        raise CheckpointError(f"--resume: {e}; start over with --overwrite instead of "
                              "--resume, or put the intact file back") from None
    except (KeyError, TypeError, AttributeError):       # not train.py's metadata
        raise CheckpointError(f"--resume: {saved}: its metadata lacks the run's settings; "
                              "was it written by train.py?") from None
    if changed:    # --out too: the default folder's name changes with the settings
        raise CheckpointError(f"--resume: the run in {saved} has other settings ("
                              f"{'; '.join(changed)}); resume with the same options and "
                              f"--out {os.path.dirname(saved) or '.'}")
    if finished:                      # said before the data is loaded, not after
        raise CheckpointError(f"--resume: {saved} holds a finished run; there is nothing "
                              "to resume")


# What a run in --out consists of: the files train.py writes, and those evaluate.py
# writes beside them. A new run that replaces the one in that folder (a rerun, one
# after a divergence, or --overwrite) removes, once it has written its own files, the
# old run's that it did not write: otherwise the old run's confusion.png or profile.png
# stayed beside the new files, and when the new run diverged before its first
# checkpoint, the old checkpoint.npz was taken for its own.
def run_files(formats, profile=True):
    """The files a run writes: with plots in these formats, the profile's if asked."""
    stems = ["loss_curve", "profile"] if profile else ["loss_curve"]
    return ["checkpoint.npz", "history.json", "history.csv", "steps.csv",
            *(f"{stem}.{kind}" for stem in stems for kind in formats)]


RERUN_CHECKPOINT = "checkpoint-rerun.npz"   # a rerun's, until it has finished (main)
RUN_FILES = [*run_files(PLOT_FORMATS), RERUN_CHECKPOINT, "evaluation.json",
             *(f"{stem}.{kind}" for stem in ("confusion", "mistakes") for kind in PLOT_FORMATS)]


def holds_run(out):
    """Whether out holds a run of train.py (settings in its checkpoint or history.json):
    only then are files of RUN_FILES's names taken for that run's and removed (in a
    folder of one's own, a file named history.json may be something else)."""
    for settings in (lambda: read_meta(os.path.join(out, "checkpoint.npz"))["history"],
                     lambda: jsonfile.read(os.path.join(out, "history.json"))):
        try:
            config = settings()["config"]
            if isinstance(config, dict) and "model" in config:
                return True
        except (OSError, ValueError, KeyError, TypeError):   # CheckpointError: a ValueError
            pass
    return False


def check_history_in_the_way(args):
    """As check_run_in_the_way, for a folder whose checkpoint.npz is gone: a finished
    run's history.json with other settings is not replaced without --overwrite."""
    path = os.path.join(args.out, "history.json")
    try:
        history = jsonfile.read(path)
        config, records = history["config"], history["records"]
        finished = (isinstance(config, dict) and not history.get("diverged") and
                    records[-1]["epoch"] == config["epochs"])
    except (OSError, ValueError, KeyError, TypeError, IndexError, AttributeError):
        if not holds_run(args.out):          # files of our names, but not of a run of ours?
            foreign = files_of_no_run(args.out, run_files(args.format, args.profile),
                                      "history.json")
            if foreign:
                raise CheckpointError(foreign)
        return
    if finished:
        refuse_other_settings(path, config, args)


def diverged(out, config):
    """Whether the history.json in out records a divergence (train.py writes it then)
    of the run whose settings are `config`: a history.json left by an earlier run
    says nothing about a later one that was killed."""
    history = history_there(out) or {}
    there = history.get("config")
    return (isinstance(there, dict) and all(there.get(k) == config.get(k) for k in RESUME_KEYS)
            and bool(history.get("diverged")))


def make_schedule(name, lr, total, warmup_steps=0):
    if name == "cosine":
        return cosine(lr, total, warmup=warmup_steps)
    if name == "step":
        # ceil: three rates (the last third up to 2 steps shorter), not a fourth for the
        # last total % 3 steps; a run of 4 steps has two
        return step_decay(lr, step_size=-(-total // 3), gamma=0.1)
    return constant(lr)


def main(argv=None):
    args = parse_args(argv)
    check_out_dir(args.out)                           # before the data is loaded
    saved = os.path.join(args.out, "checkpoint.npz")
    if args.resume and not os.path.isfile(saved):     # before any folder is made
        old = plain_out(args)
        moved = (f"; a run started before the default folder named its settings is in {old}: "
                 f"add --out {old}" if old != args.out and
                 os.path.isfile(os.path.join(old, "checkpoint.npz")) else "")
        raise CheckpointError(f"--resume: {saved}: no checkpoint to resume from (is --out "
                              f"the folder of the interrupted run?){moved}")
    out, rerun = args.out, False
    if args.resume:                   # before the data is loaded and the model built, which
        check_resume(saved, args)     # would fail in a layer's or a loader's words
    elif not args.overwrite and os.path.exists(saved):
        rerun = check_run_in_the_way(saved, args)     # True: over a finished run
    elif not args.overwrite:          # no checkpoint.npz (deleted, say): history.json decides
        check_history_in_the_way(args)
    comparison = os.path.join(out, "summary.json")      # evaluate.py would take it for one
    if not args.resume and not args.overwrite and os.path.exists(comparison):
        raise CheckpointError(f"{out} holds a comparison of compare_bn.py ({comparison}): "
                              "choose another --out, or add --overwrite to write beside it")
    # a rerun checkpoints beside the finished run it replaces until it has finished
    # too: stopped early (Ctrl-C, a divergence, a kill) it leaves that run as it was
    checkpoint = os.path.join(out, RERUN_CHECKPOINT) if rerun else saved
    for name in [*run_files(args.format, args.profile), RERUN_CHECKPOINT]:
        check_writable(os.path.join(out, name))   # a folder, a read-only file: said now
    train, test = loaders(load_data(args), args, args.model, args.batch_size, args.seed,
                          shift=args.shift)
    model = build(args.model, args.batchnorm, args.activation, args.hidden, args.seed)
    opt = SGD(model.parameters(), lr=args.lr, momentum=args.momentum,
              nesterov=args.nesterov and args.momentum > 0, weight_decay=args.weight_decay)
    total = args.epochs * len(train)
    print_epoch = PrintEpoch()
    trainer = Trainer(model, SoftmaxCrossEntropy(), opt, train, eval_loader=test,
                      schedule=make_schedule(args.schedule, args.lr, total,
                                             round(args.warmup * len(train))),
                      callbacks=[print_epoch], checkpoint=checkpoint,
                      progress=not args.no_progress)
    if args.resume:
        trainer.resume(saved)
        if trainer.step >= total:      # check_resume says so from the metadata; this, if not
            raise CheckpointError(f"--resume: {saved} holds a finished run ({total} steps); "
                                  "there is nothing to resume")
        print(f"resumed at step {trainer.step} of {total}")
    else:
        print(model.summary(train.shape))
    trainer.history.config = dict(vars(args))
    out = ensure_dir(out)              # only now: a run refused above leaves no empty folder
    # the checks above let this run replace the one there (or, with --resume, continue
    # it): once it has written, the files it did not write are that run's, stale
    replacing = holds_run(out)
    profiler = Profiler(model, trainer.loss_fn, opt) if args.profile else None
    try:
        with warnings.catch_warnings():   # the checks above decided whether this run may
            warnings.simplefilter("ignore", CheckpointWarning)   # replace the one in --out
            with profiler or contextlib.nullcontext():
                history = trainer.fit(steps=total)
    except DivergenceError:          # keep what led up to it, to look at
        if rerun:                      # the Trainer's message names the rerun's checkpoint
            drop_rerun(out, "diverged", advice="")
            d = trainer.history.diverged
            raise DivergenceError(
                f"training diverged in a rerun: {d['cause']} at step {d['step']} with learning "
                f"rate {d['lr']:g}; the finished run in {out}/ is left as it was. A smaller "
                "--lr is a run with other settings: give another --out, or --overwrite to "
                "replace the finished run") from None
        with ctrl_c_held(out):
            trainer.history.to_json(os.path.join(out, "history.json"))
            trainer.history.to_csv(os.path.join(out, "steps.csv"), steps=True)
            print(f"wrote {out}/: history.json steps.csv, up to the divergence")
            if replacing:              # an old checkpoint.npz is not this run's
                remove_stale(out, RUN_FILES, {"history.json", "steps.csv"} |
                             ({"checkpoint.npz"} if trainer.saved_step is not None else set()))
        raise

    if rerun and history.interrupted:
        drop_rerun(out, f"was interrupted at step {trainer.step} of {total}")
        return 130
    with ctrl_c_held(out):             # the run's files all new, never some of them
        if rerun:                      # finished: its checkpoint replaces the old run's
            os.replace(checkpoint, saved)
        plots = write_run(out, args, history, profiler)
        if replacing:
            remove_stale(out, RUN_FILES, {"history.json", "history.csv", "steps.csv",
                                          "checkpoint.npz", *map(os.path.basename, plots)})
    if history.interrupted:
        print(f"interrupted at step {trainer.step} of {total}; checkpoint saved to "
              f"{out}/checkpoint.npz. Run the same command with --resume to continue.")
        return 130
    print(f"wrote {out}/: history.json history.csv steps.csv checkpoint.npz {names(plots)}")
    print(f"test_accuracy={history.final['test_acc']:.4f}")
    return 0


def write_run(out, args, history, profiler):
    """history.json, history.csv, steps.csv and the loss curve (and with --profile the
    profile, after printing its table) in each --format; returns the plots' paths."""
    history.to_json(os.path.join(out, "history.json"))
    history.to_csv(os.path.join(out, "history.csv"))
    history.to_csv(os.path.join(out, "steps.csv"), steps=True)
    title = (f"{args.model.upper()} {plot.style.activation_name(args.activation)}, "
             f"{'with' if args.batchnorm else 'without'} BN")
    curve = plot.loss_curves({"bn" if args.batchnorm else "plain": history}, title=title,
                             log_scale=args.log_scale)
    plots = plot.save(curve, os.path.join(out, "loss_curve"), args.format, args.dpi)
    if profiler is not None and profiler.steps() >= 2:
        print(profiler.table())
        resumed = " (steps after the resume)" if args.resume else ""
        step_us = 1e6 * profiler.step_seconds()
        plots += plot.save(plot.step_profile(
            profiler, f"{title}: median step {step_us:,.0f} us{resumed}"),
            os.path.join(out, "profile"), args.format, args.dpi)
    elif profiler is not None:
        print(f"--profile: {profiler.steps()} timed step(s) after the first {profiler.skip}: "
              "too few for a table")
    return plots


def drop_rerun(out, what, advice=" (the same command reruns it again)"):
    """A rerun over a finished run that stopped early: its checkpoint goes (a rerun is
    not resumed), the finished run stays as it was."""
    with contextlib.suppress(FileNotFoundError):
        os.remove(os.path.join(out, RERUN_CHECKPOINT))
    print(f"the rerun {what}; the finished run in {out}/ is left as it was{advice}")


def loss_text(x):
    """A loss as the epoch line prints it: 0.1935, or 6.268e+17 (not 18 digits and
    four decimals) for a run on its way to diverge."""
    return f"{x:.4f}" if abs(x) < 1e4 else f"{x:.4g}"


class PrintEpoch(Callback):
    """Prints one line per epoch."""

    def on_eval(self, trainer, r):
        if r["kind"] == "epoch":
            print(f"epoch {r['epoch']:3d}  step {r['step']:6d}  lr {r['lr']:.3g}  "
                  f"train_loss {loss_text(r['train_loss'])}  train_acc {r['train_acc']:.4f} "
                  f"(epoch mean)  test_loss {loss_text(r['test_loss'])}  "
                  f"test_acc {r['test_acc']:.4f}  time {r['time']:.1f}s", flush=True)


if __name__ == "__main__":
    run_cli(main)
