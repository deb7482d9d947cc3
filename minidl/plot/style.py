"""The look every minidl plot shares: the same colours for "BN" and "no BN",
readable fonts, labelled axes, titles that state the setting.

Imported first by every plotting module: it picks matplotlib's Agg backend
when there is no display, so plots work headless (a server, CI) and in notebooks.
"""
import os

import matplotlib

if not os.environ.get("DISPLAY") and "MPLBACKEND" not in os.environ:
    matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from minidl.errors import check_int  # noqa: E402

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
