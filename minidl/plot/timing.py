"""Where a training step spends its time, as a bar chart of a
minidl.profiler.Profiler's table: one bar per layer, in the model's order."""
import matplotlib.pyplot as plt

from minidl.plot.style import STYLE, _axes

# light grey, dark green, very light grey: apart in grayscale too (a printed handout)
FORWARD, BACKWARD, OTHER = "#a8a8a8", "#1a6b1a", "#e4e4e4"


def _short(name, width=40):
    """A long layer name cut after a whole argument: "1: BatchNorm(16, eps=1e-05, ...)"."""
    if len(name) <= width:
        return name
    depth, cut = 0, -1
    for i, char in enumerate(name[:width - 5]):        # room for ", ...)"
        depth += (char == "(") - (char == ")")
        if char == "," and depth == 1:                  # between two of the layer's arguments
            cut = i
    return name[:cut] + ", ...)" if cut > 0 else name[:width - 3] + "..."


def step_profile(profiler, title="", ax=None):
    """Horizontal bars, top to bottom: each layer, the loss, the optimizer step
    and "other" (what nothing timed: data loading, the loop). A bar is the
    median forward call plus the median backward call, in microseconds,
    labelled with its share of the median step, as in profiler.table(); a
    layer that ran no backward (one before the first layer with parameters)
    has only its forward part, and a row never timed is labelled "-"."""
    step = 1e6 * profiler.step_seconds()        # refuses a profile with too few steps
    rows = profiler.rows()
    fwd = [1e6 * (f or 0) for _, f, _ in rows]
    bwd = [1e6 * (b or 0) for *_, b in rows]
    other = step - sum(fwd) - sum(bwd)          # below 0 if the medians exceed the step
    totals = [f + b for f, b in zip(fwd, bwd)] + [other]
    timed = [f is not None or b is not None for _, f, b in rows] + [True]
    names = [_short(name) for name, *_ in rows] + ["other"]
    with plt.rc_context(STYLE):
        fig, ax_ = _axes(ax, figsize=(8, 0.45 * len(names) + 1.6))
        layers = range(len(rows))
        ax_.barh(layers, fwd, color=FORWARD, label="forward (and the optimizer's step)")
        ax_.barh(layers, bwd, left=fwd, color=BACKWARD, label="backward")
        ax_.barh([len(rows)], [max(other, 0.0)], color=OTHER, label="other (not timed)")
        for i, (total, was_timed) in enumerate(zip(totals, timed)):
            label = f" {total / step:.1%}" if was_timed else " -"
            ax_.annotate(label, (max(total, 0.0), i), va="center", fontsize=9)
        ax_.set_yticks(range(len(names)), names, fontsize=9)
        ax_.invert_yaxis()                          # the first layer on top
        ax_.grid(axis="y", visible=False)
        ax_.set_xlim(0, 1.15 * max(totals) or 1.0)  # room for the percentages
        ax_.set(xlabel="median time per step (microseconds)",
                title=title or f"Where a training step spends its time "
                               f"(median step {step:,.0f} us)")
        ax_.legend(loc="best", fontsize=9)
        if ax is None:                              # a given axes' figure is the caller's
            fig.tight_layout()
    return fig
