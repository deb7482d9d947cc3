"""The look every minidl plot shares: the same colours for "BN" and "no BN",
readable fonts, labelled axes, titles that state the setting.

The backend is matplotlib's choice (or yours): with no display, on a server
or in CI, matplotlib picks Agg by itself, and files are written all the same.
"""
import matplotlib.pyplot as plt
import numpy as np

from minidl.errors import check_int

# BN red, no BN blue, in every plot: a dark red and a lighter blue, which stay two
# greys on a grayscale handout (matplotlib's red and blue are equally dark there), and
# squares and circles besides
COLORS = {"bn": "#a50f15", "plain": "#4292c6"}
MARKERS = {"bn": "s", "plain": "o"}
LABELS = {"bn": "with BN", "plain": "without BN"}
OTHERS = [("#2ca02c", "^"), ("#9467bd", "D"), ("#8c564b", "v"), ("#e377c2", "P"),
          ("#7f7f7f", "X"), ("#17becf", "<")]       # colour and marker of any other run
STYLE = {"font.size": 12, "axes.titlesize": 13, "axes.labelsize": 12, "legend.fontsize": 11,
         "axes.grid": True, "grid.alpha": 0.3, "figure.dpi": 110}


def run_styles(keys):
    """{key: (colour, marker)} for the runs of one plot: BN and no BN always their
    own, every other run the next of OTHERS in turn, in the order given (after six
    they repeat). Never matplotlib's default blue or red, which look like no BN's and
    BN's."""
    others = iter(OTHERS * (1 + len(keys) // len(OTHERS)))
    return {key: (COLORS[key], MARKERS[key]) if key in COLORS else next(others)
            for key in keys}


def markevery_for(n, markers=12, run=0, runs=1):
    """matplotlib's markevery for a line of n points: at most `markers` markers,
    those of run i of `runs` shifted by i/runs of their spacing, so that curves
    that lie on each other keep their markers apart."""
    every = max(1, -(-n // markers))
    return (run * every // runs, every)


def activation_name(activation):
    """An activation's name as text spells it: "relu" -> "ReLU"; "sigmoid" stays."""
    return {"relu": "ReLU"}.get(activation, activation)


def setting(model, activation, batch_size, lr=None, extra=""):
    """A title stating the setting, e.g. "MLP, sigmoid, batch 60, SGD lr 0.5"."""
    sgd = "SGD" if lr is None else f"SGD lr {lr:g}"
    text = f"{model.upper()}, {activation_name(activation)}, batch {batch_size}, {sgd}"
    return f"{text}, {extra}" if extra else text


def smooth(values, window):
    """Centred moving average, same length: value t is the mean of the `window`
    values around t (t - window//2 up to t + (window-1)//2), and NaN (not drawn)
    near the ends, where the window does not fit. A trailing mean lags half a
    window behind a falling loss, and one that grows from 1 value to `window`
    keeps the first, high losses for a whole window, then drops them with a
    kink; a window that shrinks at the ends leaves the last point one batch's
    loss. Each mean is summed on its own: a huge or infinite loss affects only
    the windows that hold it."""
    window = check_int("plot.smooth", "window", window)
    values = np.asarray(values, dtype=float)
    if window == 1:
        return values
    n, before = len(values), window // 2
    out = np.full(n, np.nan)
    if n >= window:
        out[before:before + n - window + 1] = np.lib.stride_tricks.sliding_window_view(
            values, window).mean(axis=1)
    return out


def _axes(ax, figsize=(7, 4.5)):
    """ax and its figure, or a new figure (callers are inside rc_context(STYLE))."""
    if ax is not None:
        return ax.figure, ax
    return plt.subplots(figsize=figsize)
