"""Plots for training runs, with one look everywhere: the same colours for
"BN" and "no BN", readable fonts, labelled axes, titles that state the setting.

Works headless (Agg is chosen when there is no display) and in notebooks:
every function takes an optional matplotlib Axes and returns the Figure.
"""
import os

import matplotlib

if not os.environ.get("DISPLAY") and "MPLBACKEND" not in os.environ:
    matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

COLORS = {"bn": "#d62728", "plain": "#1f77b4"}      # BN red, no BN blue, in every plot
LABELS = {"bn": "with BN", "plain": "without BN"}
STYLE = {"font.size": 12, "axes.titlesize": 13, "axes.labelsize": 12, "legend.fontsize": 11,
         "axes.grid": True, "grid.alpha": 0.3, "figure.dpi": 110}


def smooth(values, window):
    """Moving average over `window` steps (shorter at the start), same length."""
    values = np.asarray(values, dtype=float)
    if window <= 1 or len(values) == 0:
        return values
    c = np.cumsum(np.insert(values, 0, 0.0))
    n = np.arange(1, len(values) + 1)
    lo = np.maximum(0, n - window)
    return (c[n] - c[lo]) / (n - lo)


def _axes(ax, figsize=(7, 4.5)):
    if ax is not None:
        return ax.figure, ax
    with plt.rc_context(STYLE):
        fig, ax = plt.subplots(figsize=figsize)
    return fig, ax


def save(fig, path):
    """Save a figure as PNG (via a temporary name, so no half-written file) and close it."""
    tmp = f"{path}.tmp.png"
    fig.savefig(tmp, bbox_inches="tight")
    os.replace(tmp, path)
    plt.close(fig)


def loss_curves(histories, title="", log_scale=False, smooth_window=100, ax=None):
    """Training loss against step: raw faint, smoothed bold, test loss as markers.

    histories: {"bn": History, "plain": History} (either key may be missing,
    other keys get default colours).
    """
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
    """Test accuracy against training step."""
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
