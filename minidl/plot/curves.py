"""Plots of training runs: loss and test accuracy against the step, one
unit's input distribution along training, and the paper's Figure 1."""
import matplotlib.pyplot as plt
import numpy as np

from minidl.errors import SettingError, ShapeError, check_int
from minidl.history import History
from minidl.plot.style import LABELS, STYLE, _axes, markevery_for, run_styles, smooth


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
                               "fit() or Trainer to record it (accuracy needs class "
                               "scores: outputs (N, classes), labels (N,))")


def loss_curves(histories, title="", log_scale=False, smooth_window=100, ax=None,
                loss_name="cross-entropy loss"):
    """Training loss against step: raw faint, smoothed bold, test loss as markers.

    histories: a dict of label -> History, {"bn": History, "plain": History}
    (either key may be missing, other keys get default colours); for one run,
    e.g. {"plain": history}. smooth_window: the width of the centred moving
    average drawn bold (plot.smooth; at most a quarter of the run, and not
    drawn within half a window of either end), an int, 1 for no smoothing.
    loss_name: the y axis's label, for a loss of one's own ("mean squared error").
    """
    _check_histories("plot.loss_curves", histories)
    smooth_window = check_int("plot.loss_curves", "smooth_window", smooth_window)
    with plt.rc_context(STYLE):
        own = ax is None
        fig, ax = _axes(ax, figsize=(7, 6.3))
        if own:          # the legend goes below the axes (a long run's curves fill them):
            fig.subplots_adjust(bottom=0.33)       # the usual axes, with room under them
        styles = run_styles(list(histories))
        for i, (key, h) in enumerate(histories.items()):
            (color, marker), label = styles[key], LABELS.get(key, key)
            steps = np.arange(1, len(h.step_loss) + 1)
            window = max(1, min(smooth_window, len(steps) // 4))   # a short run: a smaller one
            # zorder: every run's faint lines (1) under every run's bold ones (3)
            ax.plot(steps, h.step_loss, color=color, alpha=0.2, lw=0.6, zorder=1, gid="raw")
            ax.plot(steps, smooth(h.step_loss, window), color=color, lw=2, zorder=3, gid="bold",
                    marker=marker, ms=9, mec="white", mew=1.2,   # white edge: seen on noise
                    markevery=markevery_for(len(steps), run=i, runs=len(histories)),
                    label=f"{label}: training loss ({window}-step centred mean)")
            s, v = h.column("test_loss")
            if s:        # every evaluation on the line, markers on at most 25 of them
                ax.plot(s, v, "--", marker=marker, color=color, ms=4, lw=1, gid="bold",
                        markevery=markevery_for(len(s), 25, i, len(histories)), zorder=4,
                        label=f"{label}: test loss")
        entry = next((line for line in ax.get_lines() if line.get_gid() == "faint"), None)
        if entry is None:                        # once, if drawn into ax again
            entry, = ax.plot([], [], color="gray", alpha=0.4, lw=0.6, gid="faint")
        was_cut = "cut off" in entry.get_label()
        ax.set(xlabel="training step", ylabel=loss_name, title=title or "Loss")
        if log_scale:
            if was_cut:                          # an earlier call's linear cut: undone
                ax.autoscale(axis="y")
            ax.set_yscale("log")
        if ax.get_yscale() == "log":             # this call's, or an earlier one's
            ax.set_ylabel(f"{loss_name} (log scale)")
        cut = ax.get_yscale() == "linear" and _cut_above(ax, was_cut)
        entry.set_label("faint: each step's loss" + (" (cut off above)" if cut else ""))
        if own:
            ax.legend(fontsize=10, loc="upper left", bbox_to_anchor=(0, -0.14), frameon=False)
        else:
            ax.legend(fontsize=10)
    return fig


def _cut_above(ax, was_cut):
    """On a linear axis, show the bold curves (smoothed and test losses, of every run
    drawn into ax) whole where the faint losses of the first steps (20 and more after a
    bad start) would squash them into less than half of it. Returns whether the faint
    lines were cut off; `was_cut`: whether an earlier call into ax cut them."""
    def finite(lines):          # every run's, those of an earlier call into ax too
        values = np.concatenate([np.asarray(line.get_ydata(), dtype=float) for line in lines]
                                or [[]])
        return values[np.isfinite(values)]
    lines = ax.get_lines()                  # loss_curves' own: not a line of the user's
    bold = finite(line for line in lines if line.get_gid() == "bold")
    every = finite(line for line in lines if line.get_gid() in ("bold", "raw"))
    if not bold.size or bold.max() <= 0 or 2 * 1.1 * bold.max() >= every.max():
        if was_cut:
            ax.autoscale(axis="y")          # an earlier call's cut, no longer needed
        return False                        # (the usual first steps' losses: kept)
    ax.set_ylim(min(0.0, bold.min()), 1.1 * bold.max())
    return True


def accuracy_curves(histories, title="", ax=None, ylim=None, train=False):
    """Test accuracy against training step.

    histories: a dict of label -> History, as for loss_curves; each must have
    test accuracies (trained with eval_loader=), else SettingError.
    train: also the training accuracy of each record (the mean over the
    batches since the record before, in training mode), dashed in the run's
    colour: the gap between the two is what overfitting looks like.
    """
    _check_histories("plot.accuracy_curves", histories)
    _check_test_accuracy("plot.accuracy_curves", histories)
    with plt.rc_context(STYLE):
        fig, ax = _axes(ax)
        styles = run_styles(list(histories))
        for i, (key, h) in enumerate(histories.items()):
            s, v = h.column("test_acc")
            color, marker = styles[key]
            ax.plot(s, np.asarray(v) * 100, "-", color=color, lw=2, marker=marker, ms=7,
                    mec="white", mew=1, markevery=markevery_for(len(s), run=i,
                                                                runs=len(histories)),
                    label=LABELS.get(key, key))
            if train:
                s, v = h.column("train_acc")
                ax.plot(s, np.asarray(v) * 100, "--", color=color, lw=1.2,
                        label=f"{LABELS.get(key, key)}, training batches")
        ylabel, default = (("accuracy (%)", "Training and test accuracy") if train else
                           ("test accuracy (%)", "Test accuracy"))
        ax.set(xlabel="training step", ylabel=ylabel, title=title or default)
        empty = [LABELS.get(k, k) for k, h in histories.items() if not h.column("test_acc")[0]]
        if empty:         # diverged before its first evaluation (_check_test_accuracy): said
            ax.set_xlabel("\n".join(["training step", *(
                f"({label}: diverged before its first evaluation)" for label in empty)]))
        if ylim:
            ax.set_ylim(*ylim)
        ax.legend(loc="best")
    return fig


def activation_percentiles(steps, values, key=None, percentiles=(15, 50, 85), title="",
                           ax=None, ylim=None, quantity="input to the nonlinearity", legend=True):
    """How one unit's input is distributed over a fixed batch, along training.

    steps: (T,) training steps; values: (T, P) the percentiles at each step,
    as recorded by minidl.callbacks.LayerInputRecorder (its .steps and .values);
    percentiles: the recorder's, in the same order. The 50th (the median, if
    recorded) is drawn bold, the other percentiles thin, in the colour of `key`
    ("bn" or "plain": that net's colour, and the title says which; None: neither).
    """
    values = np.asarray(values, dtype=float)
    if values.shape != (len(steps), len(percentiles)):
        raise ShapeError(f"plot.activation_percentiles: values has shape {values.shape}; "
                         f"expected ({len(steps)}, {len(percentiles)}): a row per step "
                         f"({len(steps)} steps), a column per percentile {tuple(percentiles)}")
    if np.any(np.diff(np.asarray(steps, dtype=float)) <= 0):
        raise SettingError("plot.activation_percentiles: the steps must increase, got "
                           f"{list(steps)[:12]}{' ...' * (len(steps) > 12)}; a recorder "
                           "used for two runs holds both (make one per run)")
    values = np.where(np.isfinite(values), values, np.nan)   # NaN or inf (diverged): a gap
    with plt.rc_context(STYLE):
        fig, ax = _axes(ax)
        color = run_styles([key])[key][0]
        thin = [p for p in percentiles if p != 50]            # drawn alike: one legend entry
        names = [_ordinal(p) for p in thin]
        names = ", ".join(names[:-1]) + " and " + names[-1] if len(names) > 1 else "".join(names)
        for j, p in enumerate(percentiles):
            if p == 50:
                style, label = {"lw": 2}, "50th percentile (median)"
            else:
                style, label = {"lw": 1, "alpha": 0.7}, None
                if p == thin[0]:                             # the entry for all thin lines
                    label = f"{names} percentiles" if len(thin) > 1 else f"{names} percentile"
            ax.plot(steps, values[:, j], color=color, label=label,
                    marker="o" if len(steps) == 1 else None, **style)   # one point: a dot
        if values.shape[1] >= 2:
            ax.fill_between(steps, values[:, 0], values[:, -1], color=color,
                            alpha=0.1, lw=0)
        ax.set(xlabel="training step", ylabel=quantity, title=title or "Input distribution"
               + (f", {LABELS.get(key, key)}" if key is not None else ""))
        if ylim:
            ax.set_ylim(*ylim)
        if legend:
            ax.legend(loc="best", fontsize=10)
    return fig


def _equal_percentiles(values, percentiles):
    """A note for each pair of neighbouring percentiles that are (nearly) equal, within
    5% of the spread of the recorded percentiles, at most of the recorded steps: one
    line hides the other, and a distribution with that many (nearly) equal values,
    such as a conv channel over a blank image background or a dead ReLU unit, is not
    the bell shape a reader assumes."""
    values = np.asarray(values, dtype=float)
    spread = np.median(np.ptp(values, axis=1))         # in whatever order they were taken
    return [f"{_ordinal(a)} ≈ {_ordinal(b)} percentile at most steps: many equal values"
            for j, (a, b) in enumerate(zip(percentiles, percentiles[1:]))
            if np.mean(np.abs(values[:, j] - values[:, j + 1]) <= 0.05 * spread) > 0.5]


def _ordinal(p):
    """15 -> "15th", 1 -> "1st", 2.5 -> "2.5th"."""
    if p != int(p) or int(p) % 100 in (11, 12, 13):
        return f"{p:g}th"
    return f"{p:g}" + {1: "st", 2: "nd", 3: "rd"}.get(int(p) % 10, "th")


def _common_ylim(*arrays, margin=0.05):
    """(low, high) around the finite values of arrays, or None if there are none: a run
    that diverged records NaN or infinite values, which no axis can be set to."""
    values = np.concatenate([np.ravel(a) for a in arrays])
    values = values[np.isfinite(values)]
    if not values.size:
        return None
    lo, hi = float(values.min()), float(values.max())
    pad = (hi - lo) * margin or 0.5
    return lo - pad, hi + pad


def _percentile_ylims(shown):
    """({key: (low, high) or None}, apart) for the percentile panels, from the
    values each shows: one y range for both, with headroom for the first panel's
    legend above the curves; or, when that range is more than ten times as tall as
    one net's own (a net that blows up, or two far apart), each its own, apart True."""
    def headroom(ylim):
        return ylim and (ylim[0], ylim[1] + 0.22 * (ylim[1] - ylim[0]))
    own = {k: _common_ylim(values) for k, (_, values) in shown.items()}
    common = _common_ylim(*(values for _, values in shown.values()))
    spans = [hi - lo for lo, hi in filter(None, own.values())]
    apart = len(spans) == 2 and common[1] - common[0] > 10 * min(spans)
    if apart:
        return {k: headroom(own[k]) for k in shown}, True
    return {k: headroom(common) for k in shown}, False


def _accuracy_ylim(histories):
    """(bottom, top) of panel (a): a bottom that hides the first few evaluations'
    near-chance points (as the paper's Figure 1(a) starts at 70%), but never a
    whole curve; a top just above the best accuracy, not an empty band to 100%."""
    lows, highs = [], []
    for h in histories.values():
        s, v = h.column("test_acc")
        if s:
            late = [a for step, a in zip(s, v) if step >= 0.1 * s[-1]] or v
            lows.append(min(late) * 100)
            highs.append(max(v) * 100)
    if not lows:
        return None
    top = min(100.5, np.ceil(2 * max(highs)) / 2 + 0.25)                      # just above
    return max(0.0, np.floor(min(lows) / 5) * 5 - 1), top


def _recordings(recorded, percentiles):
    """figure1's recorded as {key: (steps, values)} and the percentiles they hold;
    a SettingError naming what is wrong with them."""
    form = ('{"plain": recorder, "bn": recorder} (LayerInputRecorder objects after '
            'training), or {"plain": (recorder.steps, recorder.values), ...}')
    if not isinstance(recorded, dict) or not recorded or set(recorded) - {"bn", "plain"}:
        keys = list(recorded) if isinstance(recorded, dict) else type(recorded).__name__
        raise SettingError(f"plot.figure1: recorded must be a dict with the keys 'plain' "
                           f"(panel b) and 'bn' (panel c), or one of them: {form}; got {keys}")
    pairs, taken = {}, set()
    for key, r in recorded.items():
        if hasattr(r, "steps") and hasattr(r, "values") and hasattr(r, "percentiles"):
            steps, values = r.steps, r.values                  # a LayerInputRecorder
            taken.add(tuple(r.percentiles))
        elif isinstance(r, (tuple, list)) and len(r) == 2:
            steps, values = r
        else:
            raise SettingError(f"plot.figure1: recorded[{key!r}] must be a LayerInputRecorder "
                               f"or a pair (steps, values), got {type(r).__name__}")
        pairs[key] = list(steps), np.asarray(values, dtype=float)   # values[1:]: (0, P) too
        if len(pairs[key][0]) == 0:
            raise SettingError(f"plot.figure1: recorded[{key!r}] holds no recording; pass the "
                               "recorder after training with it as a callback")
    if len(taken) > 1 or (taken and percentiles is not None and
                          tuple(percentiles) not in taken):
        raise SettingError(f"plot.figure1: the recorders took the percentiles "
                           f"{' and '.join(map(str, sorted(taken)))}"
                           + (f", and percentiles={tuple(percentiles)} was given" if
                              percentiles is not None else "") + "; they must be the same")
    return pairs, (taken.pop() if taken else tuple(percentiles or (15, 50, 85)))


def figure1(histories, recorded, title="", unit_label="", quantity="input to the nonlinearity",
            figsize=None, percentiles=None):
    """The paper's Figure 1 layout: (a) test accuracy of both nets, (b) one unit's
    input percentiles without BN, (c) the same with BN, on the same y-axis.

    histories: {"bn": History, "plain": History}, or one of them
    recorded: {"plain": recorder, "bn": recorder}, the LayerInputRecorder of
        each run after training, or their (recorder.steps, recorder.values)
        (values (T, P): one column per percentile); either key may be missing,
        and its panel is then left out
    figsize: by default 16 x 4.6 inches for three panels, 10.7 x 4.6 for two
    percentiles: those the recorders took; by default the recorders' own
        (the paper's 15, 50, 85 when given (steps, values) pairs)

    The BN net's panel leaves out step 0: the recorder runs in eval mode, where
    BN uses its population statistics, and before the first training batch
    those are only their initial values (mean 0, variance 1), so the point would
    show the input un-normalized. The panel says so. When a common y range would
    be more than ten times as tall as one net's own (a net without BN that blows
    up), each panel gets its own scale, and says so: on a common one that net
    would be a flat line.
    """
    _check_histories("plot.figure1", histories)           # before the figure is made
    _check_test_accuracy("plot.figure1", histories)
    recorded, percentiles = _recordings(recorded, percentiles)
    keys = [k for k in ("plain", "bn") if k in recorded]   # one panel each, after (a)
    with plt.rc_context(STYLE):
        fig, axes = plt.subplots(1, 1 + len(keys),
                                 figsize=figsize or (16 * (1 + len(keys)) / 3, 4.6))
        ylim = _accuracy_ylim(histories)
        accuracy_curves(histories, title="(a) test accuracy", ax=axes[0], ylim=ylim)
        hidden = ylim and sum(bool(a * 100 < ylim[0]) for h in histories.values()
                              for a in h.column("test_acc")[1])
        if hidden:     # say so, rather than cut them off; under the axes, where no curve runs
            axes[0].set_xlabel(f"{axes[0].get_xlabel()}\n({hidden} early "
                               f"evaluation{'s' * (hidden > 1)} below {ylim[0]:g}% not shown)")
        cut = "bn" in recorded and recorded["bn"][0][0] == 0   # see the docstring
        shown = {k: (recorded[k][0][1:], recorded[k][1][1:]) if k == "bn" and cut else
                 recorded[k] for k in keys}
        ylims, apart = _percentile_ylims(shown)
        for ax, key, tag in zip(axes[1:], keys, ("(b)", "(c)")):
            steps, values = shown[key]
            activation_percentiles(steps, values, key=key, ax=ax, ylim=ylims[key],
                                   percentiles=percentiles,
                                   quantity=quantity, legend=key == keys[0],
                                   title=f"{tag} {LABELS[key]}: {unit_label or 'one unit'}")
            notes = (["step 0 left out: BN's statistics still their initial 0 and 1"]
                     if key == "bn" and cut else [])
            finite = np.isfinite(values).all(axis=1)   # a diverged run records NaN or inf
            if finite.any():
                notes += _equal_percentiles(values[finite], percentiles)
            if not len(steps):          # a run that diverged before its second recording
                notes += ["nothing recorded after step 0"]
            elif not finite.all():      # drawn as gaps (activation_percentiles)
                notes += [f"NaN or infinite at {np.sum(~finite)} of {len(steps)} recorded "
                          "steps (diverged): not drawn"]
            if apart:
                notes += ["a y scale of its own: the two nets' ranges lie too far apart for one"]
            # under the axes, as panel (a)'s note: no curve runs there
            ax.set_xlabel("\n".join(["training step", *(f"({n})" for n in notes)]))
        if len(keys) == 2:                                 # both panels on the same steps
            axes[2].set_xlim(axes[1].get_xlim())
        if title:
            fig.suptitle(title)
        fig.tight_layout()
    return fig
