"""Plots of results: final accuracy against the learning rate, a confusion
matrix, and a grid of (misclassified) images."""
import matplotlib.pyplot as plt
import matplotlib.ticker
import numpy as np

from minidl.errors import FormatError, ShapeError, check_int
from minidl.plot.style import LABELS, STYLE, _axes, run_styles


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
    A diverged run (NaN/inf loss) is drawn in a grey strip below 0%, marked
    "diverged", as a hollow marker of its net (a circle or a square: told apart in
    grayscale too).
    """
    _check_runs(results)
    with plt.rc_context(STYLE):
        fig, ax = _axes(ax)
        bottom = -4
        styles = run_styles(list(results))
        for key, runs in results.items():
            (color, marker), label = styles[key], LABELS.get(key, key)
            ok = [r for r in runs if not r["diverged"]]
            bad = [r for r in runs if r["diverged"]]
            ax.plot([r["lr"] for r in ok], [100 * r["test_acc"] for r in ok], "-",
                    marker=marker, color=color, lw=2, label=label)
            if bad:
                ax.plot([r["lr"] for r in bad], [bottom] * len(bad), marker, color=color,
                        mfc="white", ms=11, mew=2.5, label=f"{label}: diverged (loss NaN/inf)")
        ax.axhline(10, color="0.5", ls=":", lw=1, label="chance (10%)")
        ax.set_xscale("log")
        ax.xaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda v, _: f"{v:g}"))
        diverged = any(r["diverged"] for runs in results.values() for r in runs)
        ax.set_ylim(bottom - 4 if diverged else 0, 101)
        if diverged:                   # no accuracy there: a strip of its own, named
            ax.axhspan(bottom - 4, -1, color="0.9", zorder=0)
            ax.text(0.01, bottom, "diverged", transform=ax.get_yaxis_transform(),
                    va="center", fontsize=10, color="0.3")
        ax.set(xlabel="learning rate (log scale)", ylabel="final test accuracy (%)",
               title=title or "Learning-rate sweep")
        ax.legend(loc="best", fontsize=9)
    return fig


def confusion(counts, title="", ax=None, class_names=None):
    """A confusion matrix: counts[i, j] samples of class i predicted as class j.

    The errors (off the diagonal) are coloured by their count, so that the
    frequent confusions stand out; the diagonal, which dwarfs them, is grey
    and shows each class's accuracy. Every cell that is not 0 shows its count.
    class_names: one name per class for the axes ("cat", "dog", ...); by
    default the class numbers.
    """
    counts = np.asarray(counts)
    if counts.ndim != 2 or counts.shape[0] != counts.shape[1]:
        raise ShapeError(f"plot.confusion: counts must be a square (classes, classes) array, "
                         f"got shape {counts.shape}")
    n = len(counts)
    if class_names is not None and (isinstance(class_names, str) or len(class_names) != n):
        raise ShapeError(f"plot.confusion: class_names must be a list of {n} names, one per "
                         f"class of counts, got {class_names!r:.80}")
    errors = np.where(np.eye(n, dtype=bool), np.nan, counts)     # NaN: drawn as the background
    with plt.rc_context({**STYLE, "axes.grid": False}):
        fig, ax = _axes(ax, figsize=(7, 6))
        ax.set_facecolor("0.85")
        top = max(1, np.nanmax(errors, initial=0))
        shown = ax.imshow(errors, cmap="Reds", vmin=0, vmax=top)
        for i in range(n):
            for j in range(n):
                if i == j and counts[i].sum():               # a class with no samples: blank
                    share = counts[i, i] / counts[i].sum()
                    ax.text(j, i, f"{100 * share:.1f}%", ha="center", va="center", fontsize=8)
                elif counts[i, j]:                           # white on the darkest reds
                    ax.text(j, i, str(counts[i, j]), ha="center", va="center", fontsize=8,
                            color="white" if counts[i, j] > 0.6 * top else "black")
        ax.set_xticks(range(n))
        ax.set_yticks(range(n))
        if class_names is not None:          # names are longer than digits: slanted
            ax.set_xticklabels(class_names, rotation=45, ha="right")
            ax.set_yticklabels(class_names)
        ax.set(xlabel="predicted class", ylabel="true class",
               title=title or "Confusion matrix (grey: accuracy per class)")
        bar = fig.colorbar(shown, ax=ax, label="misclassified samples")
        bar.locator = matplotlib.ticker.MaxNLocator(integer=True)   # counts: no 2.5 samples
        bar.update_ticks()
    return fig


def image_grid(images, titles, columns=10, title=""):
    """Images (N, H, W) or (N, 1, H, W) in rows of at most `columns`, each with its
    title, e.g. "7 as 2" for a misclassified digit. Grey scale, dark ink on white;
    colour images, (N, 3, H, W) or (N, H, W, 3), in their colours, each scaled to
    [0, 1] unless uint8 (standardized images have negative values). The rows are
    filled evenly (12 images: two rows of 6, not 10 and 2)."""
    images = np.asarray(images)
    if images.ndim == 4 and images.shape[1] == 1:                   # one channel: (N, H, W)
        images = images[:, 0]
    if images.ndim == 4 and images.shape[1] == 3:                   # colour, channels first
        images = images.transpose(0, 2, 3, 1)
    colour = images.ndim == 4 and images.shape[-1] == 3
    if (images.ndim != 3 and not colour) or len(images) != len(titles) or len(images) == 0:
        raise ShapeError(f"plot.image_grid: expected grey images (N, H, W) or colour ones "
                         f"(N, 3, H, W) or (N, H, W, 3), and N titles, N >= 1, got images "
                         f"of shape {images.shape} and {len(titles)} titles")
    if colour and images.dtype != np.uint8:       # imshow takes RGB floats in [0, 1] as they are
        low = images.min(axis=(1, 2, 3), keepdims=True)
        span = images.max(axis=(1, 2, 3), keepdims=True) - low
        images = (images - low) / np.where(span > 0, span, 1)
    columns = min(check_int("plot.image_grid", "columns", columns), len(images))
    rows = -(-len(images) // columns)                                 # ceiling division
    columns = -(-len(images) // rows)                                 # as even as it goes
    with plt.rc_context(STYLE):
        fig, axes = plt.subplots(rows, columns, figsize=(1.2 * columns, 1.45 * rows + 0.5),
                                 squeeze=False)
        for k, ax in enumerate(axes.flat):
            ax.axis("off")
            if k < len(images):
                ax.imshow(images[k], cmap=None if colour else "gray_r")
                ax.set_title(titles[k], fontsize=10)
        if title:
            fig.suptitle(title)
    return fig
