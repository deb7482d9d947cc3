"""Plots for training runs, with one look everywhere: the same colours for
"BN" and "no BN", readable fonts, labelled axes, titles that state the setting.

Works headless (matplotlib picks Agg when there is no display) and in
notebooks: every function returns the Figure, and every one but figure1 and
image_grid (figures of their own, of several panels) takes an optional
matplotlib Axes to draw into.

    fig = plot.accuracy_curves({"bn": h_bn, "plain": h_plain},
                               title=plot.setting("mlp", "sigmoid", 60, 0.5))
    plot.save(fig, "accuracy.pdf")          # the format follows the suffix

plot.save(fig, path, formats=("png", "pdf")) writes one file per format.

Histories are keyed "bn" / "plain"; other keys get the colours and markers of
style.OTHERS (style.run_styles).

    style.py       colours, labels, fonts; setting() for titles, smooth()
    saving.py      save(): format from the suffix, atomic, reproducible bytes
    curves.py      loss_curves, accuracy_curves, activation_percentiles, figure1
    evaluation.py  lr_sweep, confusion, image_grid
    timing.py      step_profile: a Profiler's table as bars (minidl.profiler)
"""
from minidl.plot.style import COLORS, LABELS, STYLE, setting, smooth
from minidl.plot.saving import save
from minidl.plot.curves import accuracy_curves, activation_percentiles, figure1, loss_curves
from minidl.plot.evaluation import confusion, image_grid, lr_sweep
from minidl.plot.timing import step_profile

__all__ = ["COLORS", "LABELS", "STYLE", "setting", "smooth", "save", "loss_curves",
           "accuracy_curves", "activation_percentiles", "figure1", "lr_sweep", "confusion",
           "image_grid", "step_profile"]
