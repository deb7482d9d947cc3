"""Where a training step spends its time, as a bar chart of a
minidl.profiler.Profiler's table: one bar per layer, in the model's order."""
import matplotlib.pyplot as plt

from minidl.plot.style import STYLE, _axes

FORWARD, BACKWARD, OTHER = "#7f7f7f", "#2ca02c", "#d9d9d9"


def step_profile(profiler, title="", ax=None):
    """Horizontal bars, top to bottom: each layer, the loss, the optimizer step
    and "other" (what nothing timed: data loading, the loop). A bar is the
    median forward call plus the median backward call, in microseconds,
    labelled with its share of the median step; a layer that ran no backward
    (one before the first layer with parameters) has only its forward part."""
    step = 1e6 * profiler.step_seconds()        # refuses a profile with too few steps
    rows = profiler.rows()
    fwd = [1e6 * (f or 0) for _, f, _ in rows]
    bwd = [1e6 * (b or 0) for *_, b in rows]
    other = max(0.0, step - sum(fwd) - sum(bwd))  # medians need not add up: not below 0
    totals = [f + b for f, b in zip(fwd, bwd)] + [other]
    names = [name if len(name) <= 40 else name[:37] + "..." for name, *_ in rows] + ["other"]
    with plt.rc_context(STYLE):
        fig, ax = _axes(ax, figsize=(8, 0.45 * len(names) + 1.6))
        layers = range(len(rows))
        ax.barh(layers, fwd, color=FORWARD, label="forward (optimizer: step)")
        ax.barh(layers, bwd, left=fwd, color=BACKWARD, label="backward")
        ax.barh([len(rows)], [other], color=OTHER, label="other")
        for i, total in enumerate(totals):
            ax.annotate(f" {total / step:.1%}", (total, i), va="center", fontsize=9)
        ax.set_yticks(range(len(names)), names, fontsize=9)
        ax.invert_yaxis()                           # the first layer on top
        ax.grid(axis="y", visible=False)
        ax.set_xlim(0, 1.15 * max(totals) or 1.0)   # room for the percentages
        ax.set(xlabel="median call (microseconds)",
               title=title or f"Where a training step spends its time "
                              f"(median step {step:,.0f} us)")
        ax.legend(loc="lower right", fontsize=9)
        fig.tight_layout()
    return fig
