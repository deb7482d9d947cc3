"""Plots for training runs, with one look everywhere: the same colours for
"BN" and "no BN", readable fonts, labelled axes, titles that state the setting.

Works headless (Agg is chosen when there is no display) and in notebooks:
every function takes an optional matplotlib Axes and returns the Figure.

    fig = plot.accuracy_curves({"bn": h_bn, "plain": h_plain},
                               title=plot.setting("mlp", "sigmoid", 60, 0.5))
    plot.save(fig, "accuracy.pdf")          # the format follows the suffix

plot.save(fig, path, formats=("png", "pdf")) writes one file per format.

Histories are keyed "bn" / "plain" (other keys get matplotlib's colours).
"""
import os

import matplotlib

if not os.environ.get("DISPLAY") and "MPLBACKEND" not in os.environ:
    matplotlib.use("Agg")
import matplotlib.figure  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import matplotlib.ticker  # noqa: E402
import numpy as np  # noqa: E402

from minidl.errors import FormatError, SettingError, ShapeError, check_int  # noqa: E402
from minidl.files import atomic_path, check_writable  # noqa: E402
from minidl.history import History  # noqa: E402

COLORS = {"bn": "#d62728", "plain": "#1f77b4"}      # BN red, no BN blue, in every plot
LABELS = {"bn": "with BN", "plain": "without BN"}
STYLE = {"font.size": 12, "axes.titlesize": 13, "axes.labelsize": 12, "legend.fontsize": 11,
         "axes.grid": True, "grid.alpha": 0.3, "figure.dpi": 110}


def setting(model, activation, batch_size, lr=None, extra=""):
    """A title stating the setting, e.g. "MLP, sigmoid, batch 60, SGD lr 0.5"."""
    sgd = "SGD" if lr is None else f"SGD lr {lr:g}"
    text = f"{model.upper()}, {activation}, batch {batch_size}, {sgd}"
    return f"{text}, {extra}" if extra else text


def smooth(values, window):
    """Moving average over `window` steps (shorter at the start), same length."""
    window = check_int("plot.smooth", "window", window)
    values = np.asarray(values, dtype=float)
    if window == 1 or len(values) == 0:
        return values
    c = np.cumsum(np.insert(values, 0, 0.0))
    n = np.arange(1, len(values) + 1)
    lo = np.maximum(0, n - window)
    return (c[n] - c[lo]) / (n - lo)


def _axes(ax, figsize=(7, 4.5)):
    """ax and its figure, or a new figure (callers are inside rc_context(STYLE))."""
    if ax is not None:
        return ax.figure, ax
    return plt.subplots(figsize=figsize)


def save(fig, path, formats=None, dpi=None):
    """Save a figure, close it and return the paths written.

    The file's suffix picks the format ("accuracy.pdf"). A suffix starting with a
    letter names a format, so "acc.txt" is refused; a path with no suffix, or whose
    last dot is part of the name ("run_lr0.5", "v1.2_bn"), gets ".png" added ("grid"
    gives "grid.png", as with savefig), and the paths returned say so.
    formats=("png", "pdf") writes one file per format instead (".png" is taken as
    "png"), the suffix of path replaced if it names a format ("run_lr0.5" + "png"
    gives "run_lr0.5.png"). PDF and SVG files get no date, and SVG fixed ids, so
    the same plot always gives the same bytes (a figure kept in a course's
    repository changes only when the plot does). Each file is written under a
    temporary name and renamed when complete: never a half-written file.
    dpi: pixels per inch of a PNG (default the figure's, 110); 200 or 300 for
    slides and print. PDF and SVG are vector graphics and need none.
    """
    if not isinstance(fig, matplotlib.figure.Figure):   # an Axes, or a plot's None
        raise SettingError(f"plot.save: expected a matplotlib Figure (what the plots of this "
                           f"module return; for an Axes, ax.figure), got {type(fig).__name__}")
    supported = fig.canvas.get_supported_filetypes()
    names = [os.fspath(path)]
    try:
        if not formats and not _names_format(names[0]) and not os.path.isdir(names[0]):
            formats = ["png"]                     # "grid", "run_lr0.5": PNG, suffix added
        if formats:
            stem = names[0]
            if _suffix(stem) in supported:        # else a dot in the name, not a format
                stem = os.path.splitext(stem)[0]
            formats = [formats] if isinstance(formats, str) else formats
            if not all(isinstance(f, str) and f.strip(".") for f in formats):
                raise FormatError(f"plot.save: formats must be names such as 'png' or 'pdf', "
                                  f"got {formats!r}")
            names = [f"{stem}.{f.removeprefix('.')}" for f in formats]   # ".png" as "png"
        kinds = [_suffix(name) for name in names]
        for name, kind in zip(names, kinds):      # all checked before any is written
            check_writable(name)                   # not a folder, not a read-only file
            if kind not in supported:
                raise FormatError(f"cannot save a plot as {name!r}: {kind!r} is not an image "
                                  "format matplotlib writes; use one of "
                                  f"{', '.join(sorted(supported))}")
        for name, kind in zip(names, kinds):
            with atomic_path(name, suffix="." + kind) as tmp, \
                    plt.rc_context({"svg.hashsalt": "minidl"}):
                fig.savefig(tmp, format=kind, bbox_inches="tight", metadata=NO_DATE.get(kind),
                            dpi=dpi or "figure")
    finally:
        plt.close(fig)
    return names


NO_DATE = {"pdf": {"CreationDate": None}, "svg": {"Date": None}}


def _suffix(name):
    """The suffix of name in lower case, without the dot: "acc.PDF" gives "pdf"."""
    return os.path.splitext(name)[1][1:].lower()


def _names_format(name):
    """Whether the suffix of name is meant as a format: it starts with a letter
    ("acc.pdf", "acc.txt"); in "run_lr0.5", "v1.2_bn" or "grid" there is none."""
    return _suffix(name)[:1].isalpha()


def _check_histories(owner, histories):
    """A SettingError unless histories is a non-empty dict of label -> History. A
    single History is refused rather than given a label the legend would show."""
    given = type(histories).__name__
    if isinstance(histories, dict):
        wrong = {k: type(h).__name__ for k, h in histories.items() if not isinstance(h, History)}
        if histories and not wrong:
            return
        given = f"a dict with {wrong}" if wrong else "an empty dict"
    raise SettingError(f"{owner}: histories must be a dict of label -> History, "
                       f"e.g. {{'plain': history}}; got {given}")


def _check_test_accuracy(owner, histories):
    """A SettingError naming a history with no test accuracy to draw, unless it
    diverged (before its first evaluation: an empty curve is then the truth)."""
    for key, h in histories.items():
        if not h.column("test_acc")[0] and not h.diverged:   # fit() without eval data
            raise SettingError(f"{owner}: history {key!r} has no test accuracy (test_acc is "
                               "None in every record); train with eval_loader= given to "
                               "fit() or Trainer to record it")


def loss_curves(histories, title="", log_scale=False, smooth_window=100, ax=None):
    """Training loss against step: raw faint, smoothed bold, test loss as markers.

    histories: a dict of label -> History, {"bn": History, "plain": History}
    (either key may be missing, other keys get default colours); for one run,
    e.g. {"plain": history}. smooth_window: an int, 1 for no smoothing.
    """
    _check_histories("plot.loss_curves", histories)
    smooth_window = check_int("plot.loss_curves", "smooth_window", smooth_window)
    with plt.rc_context(STYLE):
        fig, ax = _axes(ax)
        for key, h in histories.items():
            color, label = COLORS.get(key), LABELS.get(key, key)
            steps = np.arange(1, len(h.step_loss) + 1)
            ax.plot(steps, h.step_loss, color=color, alpha=0.2, lw=0.6)
            ax.plot(steps, smooth(h.step_loss, smooth_window), color=color, lw=2,
                    label=f"{label}: training loss ({smooth_window}-step mean)")
            s, v = h.column("test_loss")
            if s:
                ax.plot(s, v, "o--", color=color, ms=4, lw=1, label=f"{label}: test loss")
        ax.set(xlabel="training step", ylabel="cross-entropy loss", title=title or "Loss")
        if log_scale:
            ax.set_yscale("log")
        ax.legend()
    return fig


def accuracy_curves(histories, title="", ax=None, ylim=None):
    """Test accuracy against training step.

    histories: a dict of label -> History, as for loss_curves; each must have
    test accuracies (trained with eval_loader=), else SettingError.
    """
    _check_histories("plot.accuracy_curves", histories)
    _check_test_accuracy("plot.accuracy_curves", histories)
    with plt.rc_context(STYLE):
        fig, ax = _axes(ax)
        for key, h in histories.items():
            s, v = h.column("test_acc")
            ax.plot(s, np.asarray(v) * 100, "-", color=COLORS.get(key), lw=2,
                    label=LABELS.get(key, key))
        ax.set(xlabel="training step", ylabel="test accuracy (%)", title=title or "Test accuracy")
        if ylim:
            ax.set_ylim(*ylim)
        ax.legend(loc="lower right")
    return fig


def activation_percentiles(steps, values, key="bn", percentiles=(15, 50, 85), title="",
                           ax=None, ylim=None, quantity="input to the sigmoid", legend=True):
    """How one unit's input is distributed over a fixed batch, along training.

    steps: (T,) training steps; values: (T, P) the percentiles at each step,
    as recorded by minidl.callbacks.LayerInputRecorder (its .steps and .values).
    The median is drawn bold, the other percentiles thin, in the colour of `key`.
    """
    values = np.asarray(values, dtype=float)
    if values.shape != (len(steps), len(percentiles)):
        raise ShapeError(f"plot.activation_percentiles: values has shape {values.shape}; "
                         f"expected ({len(steps)}, {len(percentiles)}): a row per step "
                         f"({len(steps)} steps), a column per percentile {tuple(percentiles)}")
    middle = values.shape[1] // 2
    with plt.rc_context(STYLE):
        fig, ax = _axes(ax)
        for j, p in enumerate(percentiles):
            ax.plot(steps, values[:, j], color=COLORS.get(key), lw=2 if j == middle else 1,
                    alpha=1 if j == middle else 0.7, label=f"{p}th percentile")
        if values.shape[1] >= 2:
            ax.fill_between(steps, values[:, 0], values[:, -1], color=COLORS.get(key),
                            alpha=0.1, lw=0)
        ax.set(xlabel="training step", ylabel=quantity,
               title=title or f"Input distribution, {LABELS.get(key, key)}")
        if ylim:
            ax.set_ylim(*ylim)
        if legend:
            ax.legend(loc="best", fontsize=9)
    return fig


def _common_ylim(*arrays, margin=0.05):
    lo = min(float(np.min(a)) for a in arrays)
    hi = max(float(np.max(a)) for a in arrays)
    pad = (hi - lo) * margin or 0.5
    return lo - pad, hi + pad


def _accuracy_ylim(histories):
    """Lower limit that hides the first few evaluations' near-chance points (as
    the paper's Figure 1(a) starts at 70%), but never hides a whole curve."""
    lows = []
    for h in histories.values():
        s, v = h.column("test_acc")
        if s:
            late = [a for step, a in zip(s, v) if step >= 0.1 * s[-1]] or v
            lows.append(min(late) * 100)
    return (max(0.0, np.floor(min(lows) / 5) * 5 - 1), 100.5) if lows else None


def figure1(histories, recorded, title="", unit_label="", quantity="input to the sigmoid",
            figsize=(16, 4.6)):
    """The paper's Figure 1 layout: (a) test accuracy of both nets, (b) one unit's
    input percentiles without BN, (c) the same with BN, on the same y-axis.

    histories: {"bn": History, "plain": History}
    recorded: {"bn": (steps, values), "plain": (steps, values)}, from
        LayerInputRecorder (values (T, 3): 15th, 50th, 85th percentiles)

    The BN net's panel leaves out step 0: the recorder runs in eval mode, where
    BN uses its population statistics, and before the first training batch
    those are only their initial values (mean 0, variance 1), so the point would
    show the input un-normalized. The panel says so.
    """
    _check_histories("plot.figure1", histories)           # before the figure is made
    _check_test_accuracy("plot.figure1", histories)
    with plt.rc_context(STYLE):
        fig, axes = plt.subplots(1, 3, figsize=figsize)
        accuracy_curves(histories, title="(a) test accuracy", ax=axes[0],
                        ylim=_accuracy_ylim(histories))
        ylim = _common_ylim(*(np.asarray(v, dtype=float) for _, v in recorded.values()))
        for ax, key, tag in ((axes[1], "plain", "(b)"), (axes[2], "bn", "(c)")):
            if key in recorded:
                steps, values = recorded[key]
                if key == "bn" and len(steps) > 1 and steps[0] == 0:   # see the docstring
                    steps, values = steps[1:], values[1:]
                    ax.text(0.01, 0.01, "step 0 left out: BN had no population statistics yet",
                            transform=ax.transAxes, fontsize=8, alpha=0.7)
                activation_percentiles(steps, values, key=key, ax=ax, ylim=ylim,
                                       quantity=quantity, legend=key == "plain",
                                       title=f"{tag} {LABELS[key]}: {unit_label or 'one unit'}")
        if "plain" in recorded and "bn" in recorded:     # both panels on the same steps
            axes[2].set_xlim(axes[1].get_xlim())
        if title:
            fig.suptitle(title)
        fig.tight_layout()
    return fig


RUN_KEYS = ("lr", "test_acc", "diverged")       # what lr_sweep needs of each run


def _check_runs(results):
    """A FormatError naming the first run that is not a dict with RUN_KEYS."""
    if not isinstance(results, dict):
        raise FormatError(f"plot.lr_sweep: results must be a dict of label -> list of runs, "
                          f"got {type(results).__name__}")
    for key, runs in results.items():
        for run in runs:
            if not isinstance(run, dict) or not set(RUN_KEYS) <= run.keys():
                raise FormatError(f"plot.lr_sweep: results[{key!r}] has the run {run!r:.80}; "
                                  f"expected a dict with the keys {', '.join(RUN_KEYS)}")


def lr_sweep(results, title="", ax=None):
    """Final test accuracy against learning rate (log x axis), one line per net.

    results: {"bn": [{"lr", "test_acc", "diverged"}, ...], "plain": [...]}
    A diverged run (NaN/inf loss) is drawn as an x at the bottom of the axes.
    """
    _check_runs(results)
    with plt.rc_context(STYLE):
        fig, ax = _axes(ax)
        bottom = -4
        for key, runs in results.items():
            color, label = COLORS.get(key), LABELS.get(key, key)
            ok = [r for r in runs if not r["diverged"]]
            bad = [r for r in runs if r["diverged"]]
            ax.plot([r["lr"] for r in ok], [100 * r["test_acc"] for r in ok], "o-",
                    color=color, lw=2, label=label)
            if bad:
                ax.plot([r["lr"] for r in bad], [bottom] * len(bad), "x", color=color,
                        ms=11, mew=2.5, label=f"{label}: diverged (loss NaN/inf)")
        ax.axhline(10, color="0.5", ls=":", lw=1, label="chance (10%)")
        ax.set_xscale("log")
        ax.xaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda v, _: f"{v:g}"))
        diverged = any(r["diverged"] for runs in results.values() for r in runs)
        ax.set_ylim(bottom - 4 if diverged else 0, 101)
        ax.set(xlabel="learning rate (log scale)", ylabel="final test accuracy (%)",
               title=title or "Learning-rate sweep")
        ax.legend(loc="best", fontsize=9)
    return fig


def confusion(counts, title="", ax=None):
    """A confusion matrix: counts[i, j] samples of class i predicted as class j.

    The errors (off the diagonal) are coloured by their count, so that the
    frequent confusions stand out; the diagonal, which dwarfs them, is grey
    and shows each class's accuracy. Every cell that is not 0 shows its count.
    """
    counts = np.asarray(counts)
    if counts.ndim != 2 or counts.shape[0] != counts.shape[1]:
        raise ShapeError(f"plot.confusion: counts must be a square (classes, classes) array, "
                         f"got shape {counts.shape}")
    n = len(counts)
    errors = np.where(np.eye(n, dtype=bool), np.nan, counts)     # NaN: drawn as the background
    with plt.rc_context({**STYLE, "axes.grid": False}):
        fig, ax = _axes(ax, figsize=(7, 6))
        ax.set_facecolor("0.85")
        shown = ax.imshow(errors, cmap="Reds", vmin=0, vmax=max(1, np.nanmax(errors, initial=0)))
        for i in range(n):
            for j in range(n):
                if i == j and counts[i].sum():               # a class with no samples: blank
                    share = counts[i, i] / counts[i].sum()
                    ax.text(j, i, f"{100 * share:.1f}%", ha="center", va="center", fontsize=8)
                elif counts[i, j]:
                    ax.text(j, i, str(counts[i, j]), ha="center", va="center", fontsize=8)
        ax.set_xticks(range(n))
        ax.set_yticks(range(n))
        ax.set(xlabel="predicted class", ylabel="true class",
               title=title or "Confusion matrix (grey: accuracy per class)")
        fig.colorbar(shown, ax=ax, label="misclassified samples")
    return fig


def image_grid(images, titles, columns=10, title=""):
    """Images (N, H, W) or (N, 1, H, W) in rows of `columns`, each with its title,
    e.g. "7 as 2" for a misclassified digit. Grey scale, dark ink on white."""
    images = np.asarray(images)
    if images.ndim == 4 and images.shape[1] == 1:                   # one channel: (N, H, W)
        images = images[:, 0]
    if images.ndim != 3 or len(images) != len(titles) or len(images) == 0:
        raise ShapeError(f"plot.image_grid: expected (N, H, W) images and N titles, N >= 1, "
                         f"got images of shape {images.shape} and {len(titles)} titles")
    columns = min(check_int("plot.image_grid", "columns", columns), len(images))
    rows = -(-len(images) // columns)                                 # ceiling division
    with plt.rc_context(STYLE):
        fig, axes = plt.subplots(rows, columns, figsize=(1.2 * columns, 1.45 * rows + 0.5),
                                 squeeze=False)
        for k, ax in enumerate(axes.flat):
            ax.axis("off")
            if k < len(images):
                ax.imshow(images[k], cmap="gray_r")
                ax.set_title(titles[k], fontsize=10)
        if title:
            fig.suptitle(title)
    return fig
