"""Batch Normalization on MNIST: the same network trained with and without BN.

    python examples/mnist/compare_bn.py --out runs/compare             # quick: 2,000 steps
    python examples/mnist/compare_bn.py --paper --out runs/paper       # the paper's Figure 1
    python examples/mnist/compare_bn.py --lr-sweep --out runs/sweep    # accuracy against lr

Both nets start from the same weights (the builders draw W identically for the
same seed) and see the same mini-batches in the same order (loaders with the
same seed). Both facts are checked, by hashing the initial weights and the
labels of every batch, and written into summary.json.

Writes into --out: loss_curves.png, accuracy.png, activations.png (the paper's
Figure 1 layout), history_{bn,plain}.json and .csv (one row per evaluation),
steps_{bn,plain}.csv (loss and learning rate per step), model_{bn,plain}.npz
(the trained nets, for minidl.checkpoint.load), activations.json, summary.json and
summary.md. With --lr-sweep instead: lr_sweep.png and lr_sweep.json.
--format pdf svg writes the plots in those formats instead of PNG; --replot
FOLDER redraws the plots of a finished run from its JSON files, training nothing:

    python examples/mnist/compare_bn.py --replot runs/paper --format pdf

activations.png: (a) test accuracy; (b, c) the 15th, 50th and 85th percentiles of the
input to the last hidden nonlinearity (or to that of hidden layer --layer; after BN in the
BN net) for one unit (--unit),
over the first --record-batch test images, computed in eval mode at step 0, every
--record-every steps and at the last step
(minidl.callbacks.LayerInputRecorder). With --model cnn the unit is a channel of the last conv
block (or of block --layer) and the percentiles run over the images and all its positions
(14x14 in the last block), as BN normalizes a feature map over both.

--paper is Ioffe & Szegedy (2015), section 4.1: 784-100-100-100-10 with sigmoid,
weights from N(0, 0.1^2) (the paper says only "small random Gaussian values"),
mini-batches of 60, 50,000 steps of plain SGD at a constant learning rate
(the paper does not give it; docs/figures/RESULTS.md tells how 1.0 was chosen).
Options given explicitly still win over the preset, e.g. --paper --steps 5000.
"""
import os

# The matrices here are small (60 x 784 at most), so BLAS threads gain nothing;
# on a busy 2-core machine OpenBLAS's spinning threads made each step ~20x slower.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import argparse  # noqa: E402
import time  # noqa: E402
from dataclasses import dataclass  # noqa: E402

import numpy as np  # noqa: E402
from common import (CNN_CHANNELS, PLOT_FORMATS, Help, add_data_arguments,  # noqa: E402
                    add_format_argument, build, check_out_dir, ctrl_c_held, ensure_dir,
                    files_of_no_run, first_samples, folder_name, int_at_least, load_data,
                    loaders, names, option, positive_number, remove_stale, run_cli,
                    same_folder, write_json, write_text)
from bookkeeping import LabelDigest, StepTimer, hidden_activation, weights_digest  # noqa: E402
from figures import NETS, read_run, tested_on, write_plots, write_sweep_plot  # noqa: E402
from summary import bn_reaches_plain, fmt, net_summary, summarize, summary_markdown  # noqa: E402

from minidl import checkpoint, jsonfile, plot  # noqa: E402
from minidl.callbacks import LayerInputRecorder  # noqa: E402
from minidl.errors import DivergenceError  # noqa: E402
from minidl.losses import SoftmaxCrossEntropy  # noqa: E402
from minidl.optim import SGD  # noqa: E402
from minidl.train import Trainer  # noqa: E402

PAPER = {"model": "mlp", "activation": "sigmoid", "hidden": [100, 100, 100], "init": 0.1,
         "batch_size": 60, "steps": 50_000, "lr": 1.0, "eval_every": 500, "record_every": 200,
         "log_scale": True}     # 50,000 steps' losses span decades: linear, all but the
                                # first 2,000 steps lie flat on the floor
SWEEP_LRS = {"sigmoid": [0.01, 0.03, 0.1, 0.3, 1, 3, 10, 30],
             "tanh": [0.01, 0.03, 0.1, 0.3, 1, 3, 10],
             "relu": [0.01, 0.03, 0.1, 0.3, 1, 3]}


# the largest --init std whose weights are finite in float32: a weight 10 stds out (which
# a normal draw never gives) is still below float32's largest number, 3.4e38
LARGEST_STD = float(np.finfo(np.float32).max) / 10


def init_arg(text):
    """--init: "he", "xavier" or the std of a plain Gaussian, a number > 0 whose weights
    are finite in float32 (--init 1e300 gave infinite weights, and a warning)."""
    if text in ("he", "xavier"):
        return text
    try:
        std = positive_number(text)
    except argparse.ArgumentTypeError:
        raise argparse.ArgumentTypeError(f'must be "he", "xavier" or a std > 0, got {text!r}') \
            from None
    if std > LARGEST_STD:
        raise argparse.ArgumentTypeError(f"a std of {text.strip()} draws weights beyond "
                                         "float32's range (3.4e38, then infinite); it must be "
                                         f"at most {LARGEST_STD:.2g}")
    return std


# what --replot uses, and options that change nothing in the plots
REPLOT_TAKES = {"replot", "out", "overwrite", "format", "dpi", "log_scale", "no_progress",
                "data_dir", "no_download"}
TEST_IMAGES = 10_000     # MNIST's test set (load_data checks every file's MD5)
# options a sweep does not use: its rates are --sweep-lrs, it records no activations,
# and its plot has no loss axis
SWEEP_IGNORES = ("lr", "record_every", "layer", "unit", "record_batch", "log_scale")


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0],
                                formatter_class=Help)
    p.add_argument("--model", choices=["mlp", "cnn"], default="mlp",
                   help="MLP 784-hidden-10, or conv16-pool-conv32-pool-dense")
    p.add_argument("--activation", choices=["relu", "sigmoid", "tanh"], default=None,
                   help="hidden nonlinearity (default: the paper's sigmoid for the MLP, "
                        "relu for the CNN)")
    p.add_argument("--hidden", type=int_at_least(1), nargs="+", default=[100, 100, 100],
                   help="hidden layer widths of the MLP")
    p.add_argument("--init", type=init_arg, default=None,
                   help='"he", "xavier" or the std of a plain Gaussian; default: the '
                        'builder\'s choice ("he" for relu, "xavier" for sigmoid and tanh); '
                        '--paper: 0.1')
    p.add_argument("--steps", type=int_at_least(1), default=2000,
                   help="training steps (per run)")
    p.add_argument("--batch-size", type=int_at_least(1), default=60,
                   help="mini-batch size (2 or more for the MLP)")
    p.add_argument("--lr", type=positive_number, default=0.1, help="constant SGD learning rate")
    p.add_argument("--eval-every", type=int_at_least(1), default=100,
                   help="test every this many steps")
    p.add_argument("--record-every", type=int_at_least(1), default=100,
                   help="record the activation percentiles every this many steps, and at "
                        "the start and the end (--steps if fewer)")
    p.add_argument("--layer", type=int_at_least(1), default=None, metavar="K",
                   help="the hidden layer (MLP) or convolution block (CNN) whose input to "
                        "the nonlinearity Figure 1 follows, 1 = the first (default: the "
                        "last, as in the paper)")
    p.add_argument("--unit", type=int, default=0,
                   help="which unit (MLP) or channel (CNN) of that layer to record")
    p.add_argument("--record-batch", type=int_at_least(1), default=1000,
                   help="the first N test images form the fixed batch for the percentiles")
    p.add_argument("--seed", type=int_at_least(0), default=0,
                   help="seeds the weights and the batch order (the same for both nets)")
    add_data_arguments(p)
    p.add_argument("--test-subset", type=int_at_least(1, 10_000), default=None, metavar="N",
                   help="test on the first N test images only (quick runs); default: all "
                        "10,000")
    p.add_argument("--out", type=folder_name, default=None,
                   help="output folder (default runs/compare_bn; with --replot, its FOLDER)")
    p.add_argument("--log-scale", action=argparse.BooleanOptionalAction, default=None,
                   help="log y axis for the loss plot (default: off, on with --paper; with "
                        "--replot, as in the run)")
    p.add_argument("--paper", action="store_true",
                   help="Ioffe & Szegedy 2015, Figure 1 preset: " + ", ".join(
                       option(k, v) for k, v in PAPER.items()) + " (options given win)")
    p.add_argument("--lr-sweep", action="store_true",
                   help="instead: final test accuracy against lr, --steps steps per run")
    p.add_argument("--sweep-lrs", type=positive_number, nargs="+", default=None,
                   help="learning rates of the sweep (default: 0.01 ... 30 for sigmoid, "
                        "0.01 ... 10 for tanh, 0.01 ... 3 for relu)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--overwrite", action="store_true",
                   help="replace a run with other settings in --out (otherwise refused); "
                        "with --replot, its plots")
    add_format_argument(p)
    p.add_argument("--replot", type=folder_name, metavar="FOLDER", default=None,
                   help="train nothing: redraw the plots of a finished run (a comparison, an lr "
                        "sweep or both) from its JSON files in FOLDER; takes --out, --overwrite, "
                        "--format, --dpi, --log-scale")
    args = p.parse_args(argv)
    # parse again into a namespace holding a marker for every option: argparse only
    # fills in defaults that are missing, so what is not the marker was given
    unset = object()
    parsed = vars(p.parse_args(argv, argparse.Namespace(**dict.fromkeys(vars(args), unset))))
    given = {name for name, value in parsed.items() if value is not unset}

    def typed(name):   # an option as given: --no-log-scale, not --log-scale
        value = getattr(args, name)
        return option(name, value) if isinstance(value, bool) else f"--{name.replace('_', '-')}"
    if args.replot:   # options that would change what was trained cannot apply to a redraw
        cannot = [typed(name) for name in parsed if name in given and name not in REPLOT_TAKES]
        if cannot:
            p.error(f"--replot redraws a finished run: {', '.join(cannot)} cannot apply "
                    "(it takes --out, --overwrite, --format, --dpi and --log-scale)")
        return args
    if "sweep_lrs" in given and not args.lr_sweep:     # it ran a comparison at --lr instead
        p.error("--sweep-lrs gives the rates of an lr sweep: add --lr-sweep to run one (a "
                "comparison trains at --lr)")
    twice = sorted({lr for lr in args.sweep_lrs or [] if args.sweep_lrs.count(lr) > 1})
    if twice:                                          # the same nets trained twice
        p.error(f"--sweep-lrs gives {', '.join(f'{lr:g}' for lr in twice)} more than once; "
                "give each rate once")
    ignored = [typed(name) for name in SWEEP_IGNORES if name in given]
    if args.lr_sweep and ignored:      # said, rather than ignored without a word
        p.error(f"--lr-sweep trains each rate of --sweep-lrs and records no activations: "
                f"{', '.join(ignored)} cannot apply")
    if args.paper:                       # preset as defaults: explicit options still win
        p.set_defaults(**PAPER)
        args = p.parse_args(argv)
    args.out = args.out or "runs/compare_bn"
    args.log_scale = bool(args.log_scale)
    args.activation = args.activation or ("relu" if args.model == "cnn" else "sigmoid")
    if args.model == "cnn" and "hidden" in given:
        p.error(f"--hidden sets the MLP's hidden widths; the CNN's channels are fixed "
                f"({', '.join(map(str, CNN_CHANNELS))})")
    # the counts, rates and seed were checked by their argparse types; what is left
    # depends on other options, or needs a hint
    widths = args.hidden if args.model == "mlp" else CNN_CHANNELS
    if args.layer is not None and args.layer > len(widths):
        p.error(f"--layer must be in 1..{len(widths)} for --model {args.model}"
                + (f" --hidden {' '.join(map(str, widths))}" if args.model == "mlp" else ""))
    units = widths[(args.layer or len(widths)) - 1]
    if not 0 <= args.unit < units:
        p.error(f"--unit must be in 0..{units - 1} for --model {args.model}"
                + (f" --layer {args.layer}" if args.layer else ""))
    if args.record_every > args.steps and not args.lr_sweep:
        if "record_every" in given:
            p.error(f"--record-every {args.record_every} with --steps {args.steps} records "
                    f"the activations at the start and the end only (steps 0 and "
                    f"{args.steps}), and Figure 1 would show nothing of training in between; "
                    f"give --record-every at most {args.steps}")
        args.record_every = args.steps     # a short run: the default shrinks to it (summary)
    images = figure1_images(args.record_batch, args.test_subset)    # from the test images
    if images < args.record_batch:
        if "record_batch" in given:
            p.error(f"--record-batch {args.record_batch} is more than the {images} test "
                    "images it is taken from" + (" (--test-subset)" if args.test_subset else ""))
        args.record_batch = images               # so that summary.json says what was used
    if args.model == "mlp" and args.batch_size < 2:
        p.error(f"--batch-size must be at least 2 with --model mlp, got {args.batch_size}: "
                "BN needs two or more values per feature to estimate a variance")
    return args


# --- training ------------------------------------------------------------------------
@dataclass
class Run:
    history: object
    recorder: object
    wall_time: float
    ms_per_step: float
    model: object


def train_net(args, data, batchnorm, lr, record=True, progress=True):
    """Train one net on `data` (load_data) for args.steps steps; returns a Run."""
    train, test = loaders(data, args, args.model, args.batch_size, args.seed,
                          test_subset=args.test_subset)
    train = LabelDigest(train)
    model = build(args.model, batchnorm, args.activation, args.hidden, args.seed, init=args.init)
    callbacks = [StepTimer()]
    if record:
        x_fixed, _ = first_samples(test, args.record_batch)
        callbacks.append(LayerInputRecorder(hidden_activation(model, args.layer), x_fixed,
                                            unit=args.unit,
                                            every=args.record_every))
    initial = weights_digest(model)
    trainer = Trainer(model, SoftmaxCrossEntropy(), SGD(model.parameters(), lr=lr), train,
                      eval_loader=test, eval_every=args.eval_every, callbacks=callbacks,
                      on_divergence="record", progress=progress)
    started = time.perf_counter()
    history = trainer.fit(steps=args.steps)
    wall = time.perf_counter() - started
    history.config = {**settings(args), "lr": lr, "batchnorm": batchnorm,
                      "batch_order_sha256": train.sha.hexdigest(), "batches": train.batches,
                      "initial_weights_sha256": initial}
    return Run(history, callbacks[-1] if record else None, wall, callbacks[0].median_ms(), model)


def check_run_in_the_way(args):
    """SystemExit unless --out may take this run: a comparison (or lr sweep) with other
    settings is replaced only with --overwrite, since its files would be lost, and
    its plots in another --format would stay beside the new run's files. A rerun
    with the same settings, which gives the same results, may replace it."""
    name = "lr_sweep.json" if args.lr_sweep else "summary.json"
    path = os.path.join(args.out, name)
    if args.overwrite:
        return
    if not os.path.isfile(path):      # files of our names, but no run of ours to own them?
        cut_short = not args.lr_sweep and any(       # histories written, then stopped: ours
            holds(args.out, f"history_{key}.json", "config") for key, _ in NETS)
        foreign = None if cut_short else files_of_no_run(
            args.out, (sweep_files if args.lr_sweep else comparison_files)(args.format), name)
        if foreign:
            raise SystemExit(f"error: {foreign}")
        return
    changed = settings_changed(path, sweep_settings(args) if args.lr_sweep else settings(args))
    if changed:
        what = "an lr sweep" if args.lr_sweep else "a comparison"
        raise SystemExit(f"error: {path} holds {what} with other settings "
                         f"({'; '.join(changed)}): choose another --out, or add --overwrite "
                         "to replace it")


def settings_changed(path, now, here="here"):
    """How the settings in `path` (summary.json or lr_sweep.json) differ from `now`, as
    options: ["--steps 50000 there, --steps 200 here"]; [] for the same run."""
    try:
        before = dict(jsonfile.read(path)["settings"])
        # runs made before the cap said what was asked, not the images used
        before["record_batch"] = figure1_images(before.get("record_batch"),
                                                before.get("test_subset"))
    except (OSError, ValueError, KeyError, TypeError):    # not a settings dict we wrote
        return ["its settings cannot be read"]
    shown = {"lrs": "sweep_lrs"}                    # the option behind a setting's name
    return [f"{option(shown.get(k, k), before.get(k))} there, {option(shown.get(k, k), now[k])} "
            f"{here}" for k in now if k != "log_scale" and before.get(k) != now[k]]   # log: plots


def holds(out, name, field="settings"):
    """Whether out holds a run of this script: `name` (summary.json or lr_sweep.json) with
    its settings. Only then are files of its names taken for that run's and removed.
    (Or a net's history_<key>.json with its settings in field "config".)"""
    try:
        found = jsonfile.read(os.path.join(out, name))[field]
        return isinstance(found, dict) and "model" in found
    except (OSError, ValueError, KeyError, TypeError):
        return False


def figure1_images(record_batch, test_subset):
    """How many images Figure 1's percentiles are taken over: the first record_batch of
    the test images (all TEST_IMAGES, or the first test_subset of them)."""
    if not isinstance(record_batch, int):    # a sweep records nothing
        return record_batch
    return min(record_batch, test_subset or TEST_IMAGES)


def sweep_settings(args):
    """A sweep's settings: the comparison's, its rates instead of --lr, which plays no
    part in a sweep."""
    return {**settings(args), "lr": None, "lrs": args.sweep_lrs or SWEEP_LRS[args.activation]}


def settings(args):
    keys = ["model", "activation", "hidden", "init", "steps", "batch_size", "lr", "eval_every",
            "record_every", "layer", "unit", "record_batch", "seed", "train_subset",
            "test_subset", "paper", "log_scale"]
    return {k: getattr(args, k) for k in keys
            if k != "hidden" or args.model == "mlp"}     # the CNN's widths are fixed


# --- outputs -------------------------------------------------------------------------
# What a comparison or a sweep in --out consists of: the files this script writes, and
# those evaluate.py writes beside them. A new one, once it has written its own, removes
# the old one's that it did not write (its plots in another --format stayed beside the
# new files); a comparison leaves a sweep in the same folder alone and a sweep a
# comparison.
def comparison_files(formats):
    """The files a comparison writes, with plots in these formats."""
    return [*(f"{stem}.{kind}" for stem in ("loss_curves", "accuracy", "activations")
              for kind in formats),
            *(f"{prefix}{key}.{ext}" for key, _ in NETS for prefix, ext in (
                ("history_", "json"), ("history_", "csv"), ("steps_", "csv"), ("model_", "npz"))),
            "activations.json", "summary.json", "summary.md"]


def sweep_files(formats):
    return ["lr_sweep.json", *(f"lr_sweep.{kind}" for kind in formats)]


COMPARISON_FILES = [
    *comparison_files(PLOT_FORMATS),
    *(f"{key}_{stem}.{kind}" for key, _ in NETS for stem in ("confusion", "mistakes")
      for kind in PLOT_FORMATS),
    *(f"{key}_evaluation.json" for key, _ in NETS)]
SWEEP_FILES = sweep_files(PLOT_FORMATS)


def write_histories(out, runs):
    """Each net's history (JSON, CSV per record and per step) and the recorded
    activations; returns the names of the files written."""
    written = []
    for key, run in runs.items():
        as_json, per_record, per_step = f"history_{key}.json", f"history_{key}.csv", \
            f"steps_{key}.csv"
        run.history.to_json(os.path.join(out, as_json))
        run.history.to_csv(os.path.join(out, per_record))
        run.history.to_csv(os.path.join(out, per_step), steps=True)
        written += [as_json, per_record, per_step]
    write_json(os.path.join(out, "activations.json"),
               {key: {"layer": run.recorder.index, "unit": run.recorder.unit,
                      "percentiles": list(run.recorder.percentiles),
                      "steps": run.recorder.steps, "values": run.recorder.values}
                for key, run in runs.items()})
    return [*written, "activations.json"]


def interrupted(out):
    """Ctrl-C stopped a net's training (the Trainer ends its fit there): a comparison
    of a net cut short would be written as if complete, over the one in out."""
    print(f"interrupted: nothing written, {out}/ is as it was")
    return 130


def compare(args, data, out):
    runs = {}
    for key, batchnorm in NETS:
        print(f"training {plot.LABELS[key]} ...", flush=True)
        runs[key] = train_net(args, data, batchnorm, args.lr, progress=not args.no_progress)
        if runs[key].history.interrupted:
            return interrupted(out)
    summary = summarize(settings(args), runs, data.y_test[:args.test_subset or TEST_IMAGES])
    with ctrl_c_held(out):              # the comparison's files all new, never some of them
        write_comparison(args, out, runs, summary)
    return 0


def write_comparison(args, out, runs, summary):
    """Both nets' histories, models, summary and plots, and what they print; then the
    files of a comparison this one replaces that it did not write are removed."""
    replacing = holds(out, "summary.json")      # a comparison that this one replaces
    written = write_histories(out, runs)
    models = []                             # the trained nets, to inspect or evaluate later
    for key, run in runs.items():
        path = os.path.join(out, f"model_{key}.npz")
        try:
            checkpoint.save(run.model, path)
            models.append(path)
        except DivergenceError as e:        # NaN or infinite arrays: load() would refuse it
            print(f"{plot.LABELS[key]}: model_{key}.npz not written: {e}")
    write_json(os.path.join(out, "summary.json"), summary)
    write_text(os.path.join(out, "summary.md"), summary_markdown(summary))
    recorded = {key: (run.recorder.steps, run.recorder.values) for key, run in runs.items()}
    plots = write_plots(out, {key: run.history for key, run in runs.items()}, recorded,
                        summary["settings"], args.log_scale, args.format, args.dpi,
                        percentiles=runs["bn"].recorder.percentiles)
    subset = tested_on(summary["settings"])
    for key, _ in NETS:
        s = summary[key]
        print(f"{plot.LABELS[key]:>10}: final test accuracy{f' ({subset})' if subset else ''} "
              f"{fmt(s['final_test_acc'], True, s['diverged'])}, "
              f"best {fmt(s['best_test_acc'], True, s['diverged'])}, {s['wall_time_s']} s, "
              f"{s['ms_per_step']} ms/step")
    print(bn_reaches_plain(summary))
    files = [names(plots), "history_*.json/csv steps_*.csv",
             "model_*.npz" if len(models) == len(runs) else names(models),
             "activations.json summary.json summary.md"]
    print(f"wrote {out}/: {' '.join(f for f in files if f)}")
    if replacing:
        written += [*map(os.path.basename, plots + models), "summary.json", "summary.md"]
        remove_stale(out, COMPARISON_FILES, written)


def lr_sweep(args, data, out):
    chosen = sweep_settings(args)
    lrs = chosen["lrs"]
    results = {"plain": [], "bn": []}
    for lr in lrs:
        for key, batchnorm in NETS:
            with np.errstate(over="ignore", invalid="ignore"):   # a diverging run overflows
                run = train_net(args, data, batchnorm, lr, record=False, progress=False)
            if run.history.interrupted:
                return interrupted(out)
            s = net_summary(run)
            diverged = s["diverged"] is not None     # then there is no final accuracy
            results[key].append({"lr": lr, "test_acc": None if diverged else s["final_test_acc"],
                                 "diverged": diverged,
                                 "final_train_loss": s["final_train_loss"],
                                 "wall_time_s": s["wall_time_s"]})
            state = "diverged" if s["diverged"] else fmt(s["final_test_acc"], True)
            print(f"lr {lr:<6g} {plot.LABELS[key]:>10}: {state}", flush=True)
    sweep = {"settings": chosen, **results}
    replacing = holds(out, "lr_sweep.json")     # a sweep that this one replaces
    with ctrl_c_held(out):
        write_json(os.path.join(out, "lr_sweep.json"), sweep)
        plots = write_sweep_plot(out, sweep, args.format, args.dpi)
        print(f"wrote {out}/: {names(plots)} lr_sweep.json")
        if replacing:
            remove_stale(out, SWEEP_FILES, {"lr_sweep.json", *map(os.path.basename, plots)})
    return 0


def replot(args):
    """Redraw a finished run's plots from its files, training nothing."""
    run = read_run(args.replot)
    check_replot_in_the_way(args, run)
    out = ensure_dir(args.out or args.replot)
    plots = write_sweep_plot(out, run["sweep"], args.format, args.dpi) if "sweep" in run else []
    if "compare" in run:
        histories, recorded, s, percentiles = run["compare"]
        log_scale = s.get("log_scale", False) if args.log_scale is None else args.log_scale
        plots += write_plots(out, histories, recorded, s, log_scale, args.format, args.dpi,
                             percentiles)
    print(f"wrote {out}/: {names(plots)}")


def check_replot_in_the_way(args, run):
    """SystemExit unless --out may take the plots of the run in --replot FOLDER: a folder
    that holds another comparison (or lr sweep), whose plots they would replace, only
    with --overwrite. One with the same settings and results (a copy of the run; wall
    times aside) may take them."""
    if args.overwrite or not args.out or same_folder(args.out, args.replot):
        return
    for kind, name in (("compare", "summary.json"), ("sweep", "lr_sweep.json")):
        if kind not in run or not holds(args.out, name):     # no run there for these plots
            continue
        s = run[kind][2] if kind == "compare" else run[kind]["settings"]
        s = {**s, "record_batch": figure1_images(s.get("record_batch"), s.get("test_subset"))}
        path = os.path.join(args.out, name)
        what = "an lr sweep" if kind == "sweep" else "a comparison"
        changed = settings_changed(path, s, here=f"in {args.replot}")
        if changed:
            what += " with other settings"
        else:               # a copy of the run, or a run of its own with the same settings?
            changed = results_changed(path, os.path.join(args.replot, name), args.replot)
            what += " with the same settings but other results"
        if changed:
            raise SystemExit(f"error: {path} holds {what} than {args.replot}'s "
                             f"({'; '.join(changed)}): its plots would be replaced by those "
                             "of another run, and no longer match its summary; choose another "
                             "--out, or add --overwrite to replace them")


TIMES = ("wall_time_s", "ms_per_step")     # differ from run to run, whatever the results


def results_changed(path, source, replot):
    """How the results in path differ from those in source (the file of the same name
    in the --replot folder), wall times aside: ["plain final_test_acc 0.9763 there,
    0.9758 in runs/paper"], at most three; [] for a copy of the run."""
    def flat(v, key=""):       # {"plain final_test_acc": 0.9763, "bn[0] test_acc": ...}
        if isinstance(v, dict):
            return {k: x for name, item in v.items() if name not in (*TIMES, "settings", "note")
                    for k, x in flat(item, f"{key} {name}".strip()).items()}
        if isinstance(v, list):
            return {k: x for i, item in enumerate(v) for k, x in flat(item, f"{key}[{i}]").items()}
        return {key: v}
    try:
        there, here = flat(jsonfile.read(path)), flat(jsonfile.read(source))
    except (OSError, ValueError):
        return ["its results cannot be read"]
    def same(a, b):            # a diverged run's NaN loss is its own copy's too
        return a == b or (isinstance(a, float) and isinstance(b, float) and a != a and b != b)
    return [f"{k} {there.get(k)} there, {here.get(k)} in {replot}"
            for k in sorted(set(there) | set(here)) if not same(there.get(k), here.get(k))][:3]


def main(argv=None):
    args = parse_args(argv)
    if args.replot:
        replot(args)
        return 0
    check_out_dir(args.out)             # a file in its place: said before the data is read
    check_run_in_the_way(args)          # another run in it: likewise
    data = load_data(args)              # once: every net of the run trains on it
    out = ensure_dir(args.out)          # only now: missing data leaves no empty folder
    return lr_sweep(args, data, out) if args.lr_sweep else compare(args, data, out)


if __name__ == "__main__":
    run_cli(main)
