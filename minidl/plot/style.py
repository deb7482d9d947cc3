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
    """Centred moving average, same length: value t is the mean of the `window`
    values around t (t - window//2 up to t + (window-1)//2). A trailing mean
    lags half a window behind a falling loss, and one that grows from 1 value
    to `window` keeps the first, high losses for a whole window, then drops
    them with a kink. Near the ends the window shrinks but stays centred (the
    first and last values stand alone). Each mean is summed on its own: a huge
    or infinite loss affects only the windows that hold it."""
    window = check_int("plot.smooth", "window", window)
    values = np.asarray(values, dtype=float)
    n, before = len(values), window // 2
    after = window - 1 - before
    if window == 1 or n < window:
        return values if window == 1 else np.array([_centred_mean(values, t) for t in range(n)])
    out = np.empty(n)
    out[before:n - after] = np.lib.stride_tricks.sliding_window_view(values, window).mean(axis=1)
    for t in [*range(before), *range(n - after, n)]:     # the ends: shrunk windows
        out[t] = _centred_mean(values, t)
    return out


def _centred_mean(values, t):
    """The mean of the values t - k .. t + k for the largest k that fits."""
    k = min(t, len(values) - 1 - t)
    return values[t - k:t + k + 1].mean()


def _axes(ax, figsize=(7, 4.5)):
    """ax and its figure, or a new figure (callers are inside rc_context(STYLE))."""
    if ax is not None:
        return ax.figure, ax
    return plt.subplots(figsize=figsize)
