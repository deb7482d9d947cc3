"""minidl.plot on synthetic histories: every function draws, saves and keeps
the BN / no-BN colours."""
import os
import re
import warnings
from pathlib import Path

import matplotlib
import matplotlib.colors as mcolors
import matplotlib.pyplot as plt
import numpy as np
import pytest

from conftest import assert_png
from minidl import plot
from minidl.errors import FormatError, SettingError, ShapeError
from minidl.history import History

matplotlib.use("Agg")


def fake_history(final_acc, steps=400, eval_every=100, seed=0):
    rng = np.random.default_rng(seed)
    h = History()
    h.step_loss = list(2.3 * np.exp(-np.arange(steps) / 100) + 0.1 * rng.random(steps))
    h.step_lr = [0.5] * steps
    for s in range(eval_every, steps + 1, eval_every):
        acc = final_acc * s / steps
        h.records.append({"kind": "eval", "step": s, "epoch": 0, "train_loss": 1.0,
                          "train_acc": acc, "test_loss": 2.3 - 2 * acc, "test_acc": acc,
                          "lr": 0.5, "time": s / 100})
    return h


@pytest.fixture
def histories():
    return {"plain": fake_history(0.9), "bn": fake_history(0.97, seed=1)}


def recorded():
    steps = list(range(0, 401, 50))
    drift = [[-1 + 0.01 * s, 0.01 * s, 1 + 0.01 * s] for s in steps]      # without BN: moves
    still = [[-1.0, 0.0, 1.0] for _ in steps]                             # with BN: stays
    return {"plain": (steps, drift), "bn": (steps, still)}


def line_colors(ax):
    """The colours of the lines that show data (not a legend's empty key line)."""
    return {mcolors.to_hex(line.get_color()) for line in ax.get_lines()
            if not line.get_label().startswith("chance") and len(line.get_xdata())}


def test_smooth_is_a_centred_mean_of_the_same_length():
    """NaN (not drawn) where the window does not fit: a shrinking window left the
    last point one batch's loss, 25 times as noisy as the rest of the curve."""
    nan = np.nan
    assert np.allclose(plot.smooth([1, 2, 3, 4], 2), [nan, 1.5, 2.5, 3.5], equal_nan=True)
    assert np.allclose(plot.smooth([1, 2, 3], 1), [1, 2, 3])
    assert np.allclose(plot.smooth([4, 0, 2, 9, 1], 3), [nan, 2, 11 / 3, 4, nan], equal_nan=True)
    assert np.isnan(plot.smooth([4, 0, 2], 7)).all()
    assert len(plot.smooth([], 10)) == 0


def test_smooth_neither_lags_nor_keeps_old_values():
    """The trailing mean lagged half a window behind a falling loss, and kept the
    first losses of a run until step `window` (a kink there, drawn as if training had
    caused it); a cumulative sum lost every later value after a loss of 1e20."""
    t = np.arange(1000.0)
    line = plot.smooth(3 - 0.002 * t, 101)
    assert np.allclose(line[50:-50], (3 - 0.002 * t)[50:-50])           # a straight line
    falling = 0.3 + 2 * np.exp(-t / 40)
    assert abs(plot.smooth(falling, 100)[99] - falling[99]) < 0.06   # trailing: 0.56 above
    spike = np.r_[1e20, np.inf, np.full(300, 0.479)]
    assert np.allclose(plot.smooth(spike, 100)[101:-49], 0.479)


def test_setting_states_model_activation_batch_and_lr():
    assert plot.setting("mlp", "sigmoid", 60, 0.5) == "MLP, sigmoid, batch 60, SGD lr 0.5"
    assert plot.setting("cnn", "relu", 32, extra="2000 steps") == \
        "CNN, ReLU, batch 32, SGD, 2000 steps"         # as text spells it, not "relu"


def test_loss_and_accuracy_curves_use_the_shared_colours(histories, tmp_path):
    for fn in (plot.loss_curves, plot.accuracy_curves):
        fig = fn(histories, title="t")
        ax = fig.axes[0]
        assert line_colors(ax) == {plot.COLORS["bn"], plot.COLORS["plain"]}
        assert ax.get_xlabel() == "training step" and ax.get_ylabel()
        assert ax.get_legend() is not None
        plot.save(fig, tmp_path / f"{fn.__name__}.png")
        assert_png(tmp_path / f"{fn.__name__}.png")
    log = plot.loss_curves(histories, log_scale=True).axes[0]
    assert log.get_yscale() == "log" and log.get_ylabel() == "cross-entropy loss (log scale)"
    own = plot.loss_curves(histories, loss_name="mean squared error").axes[0]   # a loss of
    assert own.get_ylabel() == "mean squared error"            # one's own was "cross-entropy"
    plt.close("all")


def test_functions_draw_into_a_given_axes(histories):
    fig, (a, b, c) = plt.subplots(1, 3)
    assert plot.loss_curves(histories, ax=a) is fig
    assert plot.accuracy_curves(histories, ax=b) is fig
    steps, values = recorded()["bn"]
    assert plot.activation_percentiles(steps, values, key="bn", ax=c) is fig
    assert len(c.get_lines()) == 3
    plt.close(fig)


def test_figure1_has_three_panels_and_shares_the_y_limits(histories, tmp_path):
    fig = plot.figure1(histories, recorded(), title="MLP, sigmoid", unit_label="unit 0")
    a, b, c = fig.axes
    assert b.get_ylim() == c.get_ylim()
    lo, hi = b.get_ylim()
    assert lo < -1 and hi > 5           # covers the drifting percentiles too
    assert line_colors(b) == {plot.COLORS["plain"]} and line_colors(c) == {plot.COLORS["bn"]}
    assert a.get_title().startswith("(a)") and b.get_title().startswith("(b)")
    plot.save(fig, tmp_path / "figure1.png")
    assert_png(tmp_path / "figure1.png")


def test_figure1_of_one_net_draws_two_panels(histories):
    """recorded with one key only ("either key may be missing") left an empty panel
    between two full ones, axes 0 to 1."""
    for key, tag in (("bn", "with BN"), ("plain", "without BN")):
        fig = plot.figure1(histories, {key: recorded()[key]}, unit_label="unit 0")
        a, b = fig.axes
        assert b.get_title() == f"(b) {tag}: unit 0" and b.get_legend() is not None
        assert line_colors(b) == {plot.COLORS[key]}
        assert tuple(fig.get_size_inches()) == pytest.approx((16 * 2 / 3, 4.6))
        plt.close(fig)
    fig = plot.figure1(histories, {"bn": recorded()["bn"]}, figsize=(8, 3))
    assert tuple(fig.get_size_inches()) == (8, 3)
    plt.close(fig)


def test_figure1_gives_each_net_its_own_scale_when_one_blows_up(histories):
    """A net without BN whose unit's input reached -6,000 (--activation relu, lr 1)
    squashed the BN panel, on the same y axis, into a flat line at 0."""
    steps, still = recorded()["bn"]
    blown = [[-6000.0 * s / 400 - 10, -3000.0 * s / 400, 10.0] for s in steps]
    fig = plot.figure1(histories, {"plain": (steps, blown), "bn": (steps, still)})
    a, b, c = fig.axes
    assert b.get_ylim()[0] < -6000 and -3 < c.get_ylim()[0] < -1 and c.get_ylim()[1] < 3
    for ax in (b, c):
        assert ax.get_xlabel().endswith("(a y scale of its own: the two nets' ranges lie too "
                                        "far apart for one)")
    plt.close(fig)
    moderate = [[v * 5 for v in row] for row in still]       # 5-fold: still one scale
    b, c = plot.figure1(histories, {"plain": (steps, moderate), "bn": (steps, still)}).axes[1:]
    assert b.get_ylim() == c.get_ylim() and "own" not in b.get_xlabel() + c.get_xlabel()
    far = [[v + 1000 for v in row] for row in still]          # as wide, but far away (an audit)
    b, c = plot.figure1(histories, {"plain": (steps, far), "bn": (steps, still)}).axes[1:]
    assert b.get_ylim()[0] > 990 and c.get_ylim()[1] < 3
    wide_start = [[-10.0, 0.0, 10.0]] + still[1:]             # BN's step 0, which is not drawn
    b, c = plot.figure1(histories, {"plain": (steps, still), "bn": (steps, wide_start)}).axes[1:]
    assert c.get_ylim() == b.get_ylim() and c.get_ylim()[1] < 3   # not stretched to +-10
    plt.close("all")


def test_the_loss_of_step_k_is_drawn_at_step_k():
    """step_loss[0] is the loss of step 1 (the trainer counts steps done), so that the
    raw and bold lines line up with the test losses recorded at their steps."""
    h = fake_history(0.9, steps=400)
    ax = plot.loss_curves({"plain": h}).axes[0]
    for line in ax.get_lines():
        if line.get_gid() == "raw":
            np.testing.assert_array_equal(line.get_xdata(), np.arange(1, 401))
            np.testing.assert_array_equal(line.get_ydata(), h.step_loss)
    assert [line.get_gid() for line in ax.get_lines()].count("raw") == 1
    plt.close("all")


def test_accuracy_curves_can_draw_the_training_accuracy_beside_the_test_accuracy():
    """For the overfitting story of a lecture: train=True adds each run's training
    accuracy (the records' train_acc), dashed in the run's colour."""
    hist = {"plain": fake_history(0.9), "bn": fake_history(0.97, seed=1)}
    for h in hist.values():
        for r in h.records:
            r["train_acc"] = min(1.0, r["test_acc"] + 0.05)
    ax = plot.accuracy_curves(hist, train=True).axes[0]
    dashed = {line.get_label(): line for line in ax.get_lines() if line.get_linestyle() == "--"}
    assert set(dashed) == {"without BN, training batches", "with BN, training batches"}
    for key, label in (("plain", "without BN"), ("bn", "with BN")):
        line = dashed[f"{label}, training batches"]
        s, v = hist[key].column("train_acc")
        np.testing.assert_allclose(line.get_xdata(), s)
        np.testing.assert_allclose(line.get_ydata(), np.asarray(v) * 100)
        assert mcolors.to_hex(line.get_color()) == plot.COLORS[key]
    assert ax.get_ylabel() == "accuracy (%)"
    plain = plot.accuracy_curves(hist).axes[0]               # the default: test accuracy only
    assert not [ln for ln in plain.get_lines() if ln.get_linestyle() == "--"]
    assert plain.get_ylabel() == "test accuracy (%)"
    plt.close("all")


def test_the_accuracy_legend_keeps_off_a_curve_in_the_lower_right():
    """A net without BN stuck near 10% ran under the legend, fixed at the lower right."""
    hist = {"plain": fake_history(0.9), "bn": fake_history(0.97, seed=1)}
    for r in hist["plain"].records:
        r["test_acc"] = 0.1
    fig = plot.accuracy_curves(hist)
    ax = fig.axes[0]
    fig.canvas.draw()
    box = ax.get_legend().get_window_extent().transformed(ax.transData.inverted())
    s, v = hist["plain"].column("test_acc")
    assert not any(box.x0 <= x <= box.x1 and box.y0 <= y * 100 <= box.y1 for x, y in zip(s, v))
    plt.close(fig)


def test_figure1_says_how_many_early_evaluations_its_accuracy_axis_leaves_out():
    """Panel (a) starts near the late accuracies, as the paper's does; the early points
    below it were cut off without a word (in the paper run, where the plain net led)."""
    hist = {"plain": fake_history(0.9, steps=2000), "bn": fake_history(0.97, steps=2000)}
    for h in hist.values():                  # near chance first, then near the end's level
        for r in h.records:
            r["test_acc"] = 0.3 if r["step"] <= 100 else 0.9 + r["step"] / 40000
    fig = plot.figure1(hist, recorded())
    lo = fig.axes[0].get_ylim()[0]
    below = sum(a * 100 < lo for h in hist.values() for a in h.column("test_acc")[1])
    assert below > 0
    assert fig.axes[0].get_xlabel() == (f"training step\n({below} early evaluations below "
                                        f"{lo:g}% not shown)")
    assert not fig.axes[0].texts         # in the corner the BN curve ran through it
    plt.close(fig)


def test_an_accuracy_curve_of_one_evaluation_is_a_dot():
    """A line of one point draws nothing: a short demo run's accuracy plot was empty."""
    hist = {"plain": fake_history(0.9, steps=100), "bn": fake_history(0.97, steps=100)}
    for h in hist.values():
        h.records = h.records[-1:]
    fig = plot.accuracy_curves(hist)
    assert [line.get_marker() for line in fig.axes[0].lines] == ["o", "s"]  # plain, BN
    assert [len(line.get_xdata()) for line in fig.axes[0].lines] == [1, 1]
    plt.close(fig)


def test_bn_and_no_bn_differ_in_more_than_colour_and_other_runs_get_other_colours():
    """Red and blue are about equally dark in grayscale: on a printed handout the two
    nets of every plot looked alike. A third run drew in matplotlib's first default
    colour, which is no BN's blue."""
    hist = {"plain": fake_history(0.9), "bn": fake_history(0.97),
            "bn, seed 1": fake_history(0.96), "bn, seed 2": fake_history(0.95)}
    sweep = {key: [{"lr": lr, "test_acc": 0.9, "diverged": None} for lr in (0.1, 1)]
             for key in hist}
    for fig in (plot.accuracy_curves(hist), plot.loss_curves(hist), plot.lr_sweep(sweep)):
        lines = [line for line in fig.axes[0].get_lines() if line.get_marker() != "None"
                 and not line.get_label().endswith("test loss")]
        looks = [(line.get_color(), line.get_marker()) for line in lines]
        assert looks == [(plot.COLORS["plain"], "o"), (plot.COLORS["bn"], "s"),
                         *plot.style.OTHERS[:2]]
        assert all(0 < len(line.get_xdata()[line.get_markevery()[0]::line.get_markevery()[1]])
                   <= 12 for line in lines if line.get_markevery())   # at most 12 on a line
        plt.close(fig)
    alone = plot.accuracy_curves({"bn, seed 1": hist["bn, seed 1"]})     # the same look alone
    assert (alone.axes[0].lines[0].get_color(), alone.axes[0].lines[0].get_marker()) == \
        plot.style.OTHERS[0]
    steps, values = recorded()["bn"]
    fig = plot.activation_percentiles(steps, values, key="bn, seed 1")
    assert {line.get_color() for line in fig.axes[0].get_lines()} == {plot.style.OTHERS[0][0]}
    plt.close("all")
    many = plot.style.run_styles([f"run {i}" for i in range(8)])
    assert list(many.values()) == plot.style.OTHERS + plot.style.OTHERS[:2]   # then repeat


def test_figure1_leaves_out_the_bn_nets_step_0_and_says_why(histories):
    """At step 0, in eval mode, BN still has its initial population statistics: the
    point showed the input un-normalized, and a short run's panel (c) jumped."""
    data = recorded()
    steps, still = data["bn"]
    data["bn"] = (steps, [[-5.0, -3.0, -1.0]] + still[1:])     # un-normalized at step 0
    fig = plot.figure1(histories, data)
    b, c = fig.axes[1], fig.axes[2]
    drawn = [line.get_xdata() for line in c.get_lines()]
    assert all(list(x) == steps[1:] for x in drawn) and len(drawn) == 3
    assert all(min(line.get_ydata()) >= -1 for line in c.get_lines())
    assert [line.get_xdata()[0] for line in b.get_lines()] == [0, 0, 0]   # plain: from 0
    assert c.get_xlim() == b.get_xlim()
    low, high = b.get_ylim()               # room above the curves for (b)'s legend, which
    assert high - 5.0 > 0.15 * (high - low)   # covered the 85th percentile (top value 5)
    assert "step 0 left out" in c.get_xlabel() and not c.texts   # under the axes, not on
    assert b.get_xlabel() == "training step"                     # a curve (a CNN's median)


def test_percentiles_that_coincide_are_said_to(histories):
    """A CNN channel over a blank background: its 15th percentile and median were the
    same value at every step, and the bold median hid under the thin line unsaid."""
    data = recorded()
    steps, still = data["bn"]
    data["bn"] = (steps, [[-0.5, -0.5, 0.6] for _ in steps])
    b, c = plot.figure1(histories, data).axes[1:]
    assert c.get_xlabel().endswith("(15th ≈ 50th percentile at most steps: many equal values)")
    assert "≈" not in b.get_xlabel()
    descending = plot.figure1(histories, {"plain": data["plain"], "bn": (steps, [
        [0.6, -0.5, -0.5] for _ in steps])}, percentiles=(85, 50, 15)).axes[2]   # any order
    assert descending.get_xlabel().endswith("(50th ≈ 15th percentile at most steps: many equal "
                                            "values)")
    data["plain"] = (steps, [[-60.0, -2.0, 40.0] for _ in steps])   # a wide axis for both:
    data["bn"] = (steps, still)                                       # (c)'s spread is its own
    assert "≈" not in plot.figure1(histories, data).axes[2].get_xlabel()
    plt.close("all")


def test_lr_sweep_draws_diverged_runs_in_a_strip_of_their_own(tmp_path):
    results = {"bn": [{"lr": lr, "test_acc": 0.95, "diverged": False} for lr in (0.1, 1, 10)],
               "plain": [{"lr": 0.1, "test_acc": 0.9, "diverged": False},
                         {"lr": 1, "test_acc": 0.1, "diverged": False},
                         {"lr": 10, "test_acc": None, "diverged": True}]}
    fig = plot.lr_sweep(results, title="sweep")
    ax = fig.axes[0]
    assert ax.get_xscale() == "log"
    crosses = [line for line in ax.get_lines() if "diverged" in line.get_label()]
    assert len(crosses) == 1 and crosses[0].get_marker() == "o"   # no BN's, hollow
    assert crosses[0].get_markerfacecolor() == "white"
    assert list(crosses[0].get_xdata()) == [10]
    assert crosses[0].get_ydata()[0] < 0        # below 0%, in the strip named "diverged"
    assert [t.get_text() for t in ax.texts] == ["diverged"]
    assert mcolors.to_hex(crosses[0].get_color()) == plot.COLORS["plain"]
    plot.save(fig, tmp_path / "lr_sweep.png")
    assert_png(tmp_path / "lr_sweep.png")


def test_dpi_sets_the_pixels_of_a_png(histories, tmp_path):
    """110 dpi PNGs looked coarse on slides; dpi=220 doubles the pixels each way."""
    import matplotlib.image as mimage
    sizes = {}
    for dpi in (None, 220):
        name = tmp_path / f"acc_{dpi}.png"
        plot.save(plot.accuracy_curves(histories), name, dpi=dpi)
        sizes[dpi] = mimage.imread(name).shape[:2]
    assert all(abs(big / small - 2) < 0.02 for big, small in zip(sizes[220], sizes[None]))


def test_a_dpi_matplotlib_cannot_draw_is_refused_and_a_format_given_twice_is_written_once(
        histories, tmp_path):
    """dpi 1 failed in FreeType ("invalid ppem value") and 100000 ran out of memory,
    each after the training of a script; "svg svg" wrote the file twice."""
    for dpi in (1, 100_000, "300"):
        with pytest.raises(SettingError, match=r"plot.save: dpi must be a number from 10 to "
                                               r"1200 \(or None"):
            plot.save(plot.accuracy_curves(histories), tmp_path / "acc.png", dpi=dpi)
    assert list(tmp_path.iterdir()) == []
    written = plot.save(plot.accuracy_curves(histories), tmp_path / "acc",
                        formats=["svg", "svg", ".svg"])
    assert written == [str(tmp_path / "acc.svg")]


def test_save_writes_one_file_per_format_and_closes_the_figure(histories, tmp_path):
    fig = plot.accuracy_curves(histories)
    written = plot.save(fig, tmp_path / "acc.png", formats=("png", "pdf", "svg"))
    assert written == [str(tmp_path / f"acc.{f}") for f in ("png", "pdf", "svg")]
    assert_png(tmp_path / "acc.png")
    assert (tmp_path / "acc.pdf").read_bytes().startswith(b"%PDF-")
    svg = (tmp_path / "acc.svg").read_text()
    assert "<svg" in svg and "test accuracy" in svg      # the axis label, as text
    assert not plt.fignum_exists(fig.number)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["acc.pdf", "acc.png", "acc.svg"]


def test_the_suffix_picks_the_format_and_pdf_svg_are_reproducible(histories, tmp_path):
    for name in ("a.pdf", "b.pdf", "a.svg", "b.svg"):
        plot.save(plot.loss_curves(histories), tmp_path / name)
    assert (tmp_path / "a.pdf").read_bytes().startswith(b"%PDF-")
    for kind in ("pdf", "svg"):      # no date, fixed ids: the same plot, the same bytes
        assert (tmp_path / f"a.{kind}").read_bytes() == (tmp_path / f"b.{kind}").read_bytes()
    assert plot.save(plot.loss_curves(histories), tmp_path / "no_suffix") == \
        [str(tmp_path / "no_suffix.png")]
    assert_png(tmp_path / "no_suffix.png")               # no suffix: PNG, and says so


def test_text_in_pdf_and_svg_stays_text_to_edit_on_a_slide(histories, tmp_path):
    """matplotlib's defaults wrote the PDF's text in Type 3 fonts and the SVG's as
    paths: an instructor could not change a label on a slide."""
    pdf, svg = plot.save(plot.accuracy_curves(histories), tmp_path / "acc", ["pdf", "svg"])
    fonts = set(re.findall(rb"/Subtype /(\w+)", Path(pdf).read_bytes()))
    assert b"Type3" not in fonts and b"CIDFontType2" in fonts       # embedded TrueType
    assert "<text" in Path(svg).read_text() and ">test accuracy (%)</text>" in Path(svg).read_text()


def test_an_unknown_format_is_refused_before_anything_is_written(histories, tmp_path):
    (tmp_path / "acc.png").write_bytes(b"an older plot")
    fig = plot.accuracy_curves(histories)
    with pytest.raises(FormatError, match=r"acc\.xyz': 'xyz'.*one of .*pdf, .*png, .*svg"):
        plot.save(fig, tmp_path / "acc.png", formats=("png", "xyz"))
    assert (tmp_path / "acc.png").read_bytes() == b"an older plot"   # untouched
    assert [p.name for p in tmp_path.iterdir()] == ["acc.png"]
    assert not plt.fignum_exists(fig.number)


def test_a_dot_in_the_name_is_kept_when_formats_are_given(histories, tmp_path):
    written = plot.save(plot.accuracy_curves(histories), tmp_path / "run_lr0.5", formats=["png"])
    assert written == [str(tmp_path / "run_lr0.5.png")]
    written = plot.save(plot.accuracy_curves(histories), tmp_path / "acc.svg", formats="pdf")
    assert written == [str(tmp_path / "acc.pdf")]                  # one format as a string
    assert sorted(p.name for p in tmp_path.iterdir()) == ["acc.pdf", "run_lr0.5.png"]


def test_a_path_without_a_format_gets_png_added_and_returned(histories, tmp_path):
    """plot.save(fig, "grid") wrote a PNG named "grid", and "run_lr0.5" was refused
    with "'5' is not an image format": a dot in a name was taken for a format."""
    for name in ("grid", "run_lr0.5", "acc_lr1.5e-05_bn"):
        written = plot.save(plot.accuracy_curves(histories), tmp_path / name)
        assert written == [str(tmp_path / f"{name}.png")]
        assert_png(tmp_path / f"{name}.png")
    assert sorted(p.name for p in tmp_path.iterdir()) == \
        ["acc_lr1.5e-05_bn.png", "grid.png", "run_lr0.5.png"]


def test_a_suffix_starting_with_a_letter_is_a_format_and_is_refused_if_unknown(
        histories, tmp_path):
    """Not renamed to acc.txt.png: the suffix is taken as meant, and refused."""
    for name, kind in (("acc.txt", "txt"), ("model.v2", "v2"), ("acc.PNGX", "pngx")):
        fig = plot.accuracy_curves(histories)
        with pytest.raises(FormatError, match=rf"{re.escape(name)}': '{kind}' is not an image"):
            plot.save(fig, tmp_path / name)
        assert not plt.fignum_exists(fig.number)
    assert os.listdir(tmp_path) == []


def test_a_folder_with_a_dot_in_its_name_is_refused_as_a_folder(histories, tmp_path):
    """plot.save(fig, "runs/lr0.5") for a run's folder said "'5' is not an image
    format", and must not write lr0.5.png beside it either."""
    (tmp_path / "lr0.5").mkdir()
    with pytest.raises(IsADirectoryError, match="Is a folder") as e:
        plot.save(plot.accuracy_curves(histories), tmp_path / "lr0.5")
    assert e.value.filename == os.path.realpath(tmp_path / "lr0.5")
    assert [p.name for p in tmp_path.iterdir()] == ["lr0.5"]


@pytest.mark.parametrize("fn", [plot.loss_curves, plot.accuracy_curves])
def test_a_single_history_is_refused_with_an_example(histories, fn):
    """plot.loss_curves(history) failed with "'History' object has no attribute 'items'"."""
    open_figures = plt.get_fignums()
    with pytest.raises(SettingError, match=rf"^plot.{fn.__name__}: histories must be a dict of "
                                           r"label -> History, e.g. \{'plain': history\}; "
                                           r"got History$"):
        fn(histories["plain"])
    with pytest.raises(SettingError, match=r"got a dict with \{'plain': 'list'\}$"):
        fn({"plain": histories["plain"].step_loss})
    assert plt.get_fignums() == open_figures             # refused before drawing


def test_accuracy_curves_refuse_a_history_without_test_accuracy(histories):
    """A run without eval data (test_acc None in every record) gave an empty plot."""
    for r in histories["bn"].records:
        r["test_acc"] = None
    open_figures = plt.get_fignums()
    for fn in (plot.accuracy_curves, lambda h: plot.figure1(h, recorded())):
        with pytest.raises(SettingError, match=r"history 'bn' has no test accuracy .*"
                                               r"train with eval_loader= given to fit\(\)"):
            fn(histories)
    assert plt.get_fignums() == open_figures
    plt.close(plot.loss_curves(histories))               # the loss curves need none
    histories["bn"].diverged = {"step": 3, "loss": "nan", "lr": 50.0}
    plt.close(plot.accuracy_curves(histories))           # diverged before an evaluation: fine


def test_save_takes_formats_with_a_leading_dot(histories, tmp_path):
    """formats=[".png"] wrote "acc..png"."""
    written = plot.save(plot.accuracy_curves(histories), tmp_path / "acc", formats=[".png", "pdf"])
    assert written == [str(tmp_path / "acc.png"), str(tmp_path / "acc.pdf")]
    assert_png(tmp_path / "acc.png")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["acc.pdf", "acc.png"]


def test_saving_a_plot_to_a_folder_is_refused_naming_it(histories, tmp_path):
    (tmp_path / "plots").mkdir()
    with pytest.raises(IsADirectoryError, match="Is a folder; expected the name of a file") as e:
        plot.save(plot.accuracy_curves(histories), tmp_path / "plots")
    assert e.value.filename == os.path.realpath(tmp_path / "plots")
    assert [p.name for p in tmp_path.iterdir()] == ["plots"]     # no temporary file left
    assert not any((tmp_path / "plots").iterdir())


def test_a_folder_in_the_way_of_one_format_stops_every_format_before_any_is_written(
        histories, tmp_path):
    """formats=("png", "pdf") with a folder acc.pdf used to write acc.png, then fail."""
    (tmp_path / "acc.pdf").mkdir()
    with pytest.raises(IsADirectoryError, match="Is a folder") as e:
        plot.save(plot.accuracy_curves(histories), tmp_path / "acc", formats=("png", "pdf"))
    assert e.value.filename == os.path.realpath(tmp_path / "acc.pdf")
    assert [p.name for p in tmp_path.iterdir()] == ["acc.pdf"]


def test_activation_percentiles_refuse_values_of_the_wrong_shape():
    """Two rows for three steps were reshaped to (3, 2) and failed with an IndexError."""
    with pytest.raises(ShapeError, match=r"values has shape \(2, 3\); expected \(3, 3\): a row "
                                         r"per step \(3 steps\), a column per percentile "
                                         r"\(15, 50, 85\)$"):
        plot.activation_percentiles([0, 100, 200], [[1, 2, 3], [1, 2, 3]])


def test_percentile_lines_are_labelled_with_the_percentiles_recorded(histories):
    """figure1 labelled every recording 15th/50th/85th, and activation_percentiles drew
    the middle column bold as the median (the 90th of (10, 90)) and wrote "1th"."""
    steps, values = [0, 100, 200], [[-1.0, 0.0, 1.0]] * 3

    def lines(ax):    # (label, width) of each line; a label "_..." has no legend entry
        return [(line.get_label() if not line.get_label().startswith("_") else None,
                 line.get_linewidth()) for line in ax.get_lines()]
    fig = plot.activation_percentiles(steps, [[0.0, 1.0]] * 3, percentiles=(1, 90))
    assert lines(fig.axes[0]) == [("1st and 90th percentiles", 1), (None, 1)]
    fig = plot.figure1(histories, {"plain": (steps, values), "bn": (steps, values)},
                       percentiles=(5, 50, 95))
    assert lines(fig.axes[1]) == [("5th and 95th percentiles", 1),
                                  ("50th percentile (median)", 2), (None, 1)]
    legend = [t.get_text() for t in fig.axes[1].get_legend().get_texts()]
    assert legend == ["5th and 95th percentiles", "50th percentile (median)"]   # one entry each
    fig = plot.activation_percentiles(steps, [[0.0] * 5] * 3, percentiles=(5, 25, 50, 75, 95))
    assert [t.get_text() for t in fig.axes[0].get_legend().get_texts()] == [
        "5th, 25th, 75th and 95th percentiles", "50th percentile (median)"]
    plt.close("all")


def test_lr_sweep_names_a_run_without_the_keys_it_needs():
    """It failed with KeyError: 'diverged'."""
    with pytest.raises(FormatError, match=r"results\['bn'\] has the run \{'lr': 0.1, 'acc': "
                                          r"0.9\}; expected a dict with the keys lr, test_acc, "
                                          r"diverged$"):
        plot.lr_sweep({"bn": [{"lr": 0.1, "acc": 0.9}]})


def test_the_smoothing_window_must_be_an_int(histories):
    """smooth_window=10.5 failed with an IndexError inside smooth()."""
    with pytest.raises(SettingError, match=r"^plot.loss_curves: smooth_window must be an int "
                                           r">= 1, got 10.5$"):
        plot.loss_curves(histories, smooth_window=10.5)
    with pytest.raises(SettingError, match=r"^plot.smooth: window must be an int >= 1, got 0$"):
        plot.smooth([1.0, 2.0], 0)


def test_save_names_what_is_not_a_figure_or_not_a_format(tmp_path):
    """An Axes failed on a missing attribute, and formats=["."] wrote a file "y."."""
    fig, ax = plt.subplots()
    with pytest.raises(SettingError, match=r"expected a matplotlib Figure .* got Axes"):
        plot.save(ax, tmp_path / "y")
    for bad in (["."], [""], ["png", None]):
        other = plt.figure()
        with pytest.raises(FormatError, match=r"formats must be names such as 'png'"):
            plot.save(other, tmp_path / "y", formats=bad)
        assert not plt.fignum_exists(other.number)      # closed, as on every refusal
    plt.close(fig)
    assert os.listdir(tmp_path) == []


def test_confusion_colours_the_errors_and_labels_every_cell(tmp_path):
    counts = np.array([[50, 3, 0], [1, 40, 9], [0, 0, 47]])
    fig = plot.confusion(counts, title="three classes")
    ax = fig.axes[0]
    texts = {(round(t.get_position()[1]), round(t.get_position()[0])): t.get_text()
             for t in ax.texts}                            # (row, column): its text
    assert texts[(0, 0)] == "94.3%" and texts[(1, 1)] == "80.0%" and texts[(1, 2)] == "9"
    assert (2, 0) not in texts and (0, 2) not in texts     # zeros are left blank
    colours = {(round(t.get_position()[1]), round(t.get_position()[0])): t.get_color()
               for t in ax.texts}
    assert colours[(1, 2)] == "white" and colours[(0, 1)] == "black"   # readable on dark red
    shown = ax.images[0].get_array()
    assert np.ma.is_masked(shown[0, 0]) and shown[1, 2] == 9 and ax.images[0].norm.vmax == 9
    assert_png(Path(plot.save(fig, tmp_path / "c")[0]))
    with pytest.raises(ShapeError, match="counts must be a square"):
        plot.confusion(np.zeros((2, 3)))


def test_image_grid_lays_out_images_with_their_titles(tmp_path):
    images = np.random.default_rng(0).integers(0, 256, (7, 1, 28, 28), dtype=np.uint8)
    fig = plot.image_grid(images, [f"{i} as {i + 1}" for i in range(7)], columns=3)
    titled = [ax.get_title() for ax in fig.axes if ax.images]
    assert titled == [f"{i} as {i + 1}" for i in range(7)] and len(fig.axes) == 9
    assert_png(Path(plot.save(fig, tmp_path / "g")[0]))
    with pytest.raises(ShapeError, match=r"expected grey images \(N, H, W\) or colour ones "
                                         r"\(N, 3, H, W\) or \(N, H, W, 3\), and N titles"):
        plot.image_grid(images, ["one title"])
    twelve = np.zeros((12, 28, 28))          # evaluate.py --mistakes 12: rows of 10 and 2
    assert plot.image_grid(twelve, ["x"] * 12).axes[0].get_gridspec().get_geometry() == (2, 6)
    plt.close("all")


def test_confusion_names_the_classes_when_given_names():
    """Data of one's own has classes with names: the axes show them, and a list of the
    wrong length (or one string) is refused."""
    counts = np.array([[5, 1, 0], [2, 7, 0], [0, 0, 9]])
    ax = plot.confusion(counts, class_names=["cat", "dog", "bird"]).axes[0]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["cat", "dog", "bird"]
    assert [t.get_text() for t in ax.get_yticklabels()] == ["cat", "dog", "bird"]
    for bad in (["cat", "dog"], "cdb"):
        with pytest.raises(ShapeError, match=r"class_names must be a list of 3 names, one per "
                                             r"class of counts"):
            plot.confusion(counts, class_names=bad)
    plt.close("all")


@pytest.mark.parametrize("most", [2, 5, 13])
def test_the_confusion_colour_bar_counts_whole_samples(most):
    """Its ticks were 2.5, 7.5, ...: fractions of a misclassified image."""
    counts = np.diag([900] * 4)
    counts[1, 2], counts[3, 0] = most, 1
    ticks = plot.confusion(counts).axes[1].get_yticks()
    assert len(ticks) >= 2 and np.array_equal(ticks, np.round(ticks))
    plt.close("all")


def test_confusion_leaves_a_class_without_samples_blank_and_grid_names_two_channels():
    fig = plot.confusion(np.array([[5, 1], [0, 0]]))
    assert [t.get_text() for t in fig.axes[0].texts] == ["83.3%", "1"]
    plt.close(fig)
    with pytest.raises(ShapeError, match=r"got images of shape \(2, 2, 4, 4\)"):
        plot.image_grid(np.zeros((2, 2, 4, 4)), ["a", "b"])


def test_image_grid_shows_colour_images_in_their_colours():
    """A lab on CIFAR-like data could not show its samples: (N, 3, H, W) and
    (N, H, W, 3) were refused. Standardized floats are scaled to [0, 1] per image."""
    rng = np.random.default_rng(0)
    standardized = rng.standard_normal((4, 3, 5, 7))             # channels first, floats
    fig = plot.image_grid(standardized, list("abcd"))
    shown = [ax.images[0].get_array() for ax in fig.axes if ax.images]
    assert [a.shape for a in shown] == [(5, 7, 3)] * 4
    assert all(float(a.min()) == 0.0 and float(a.max()) == 1.0 for a in shown)
    np.testing.assert_allclose(shown[0][..., 1], (standardized[0, 1] - standardized[0].min())
                               / np.ptp(standardized[0]))
    pixels = rng.integers(0, 256, (2, 5, 7, 3), dtype=np.uint8)  # channels last, as they are
    shown = plot.image_grid(pixels, ["a", "b"]).axes[0].images[0].get_array()
    np.testing.assert_array_equal(shown, pixels[0])
    plt.close("all")


def test_save_may_leave_the_figure_open_for_a_notebook(histories, tmp_path):
    """save() closes the figure, so a notebook cell that plots and saves showed nothing."""
    fig = plot.loss_curves(histories)
    plot.save(fig, tmp_path / "a.png", close=False)
    assert plt.fignum_exists(fig.number)
    plot.save(fig, tmp_path / "b.png")
    assert not plt.fignum_exists(fig.number)
    assert_png(tmp_path / "a.png")
    assert_png(tmp_path / "b.png")


def test_figure1s_accuracy_axis_ends_just_above_the_best_accuracy():
    """It ran to 100.5% whatever the accuracies: in the paper run half of panel (a) was
    empty above 98.2%, and the gap between the nets (97.6% and 98.1%) squeezed."""
    hist = {"plain": fake_history(0.9, steps=2000), "bn": fake_history(0.97, steps=2000)}
    best = max(max(h.column("test_acc")[1]) for h in hist.values()) * 100
    top = plot.figure1(hist, recorded()).axes[0].get_ylim()[1]
    assert best < top <= best + 0.75
    for h in hist.values():
        for r in h.records:
            r["test_acc"] = 1.0                                  # perfect: 100% still shown
    assert 100 < plot.figure1(hist, recorded()).axes[0].get_ylim()[1] <= 100.5
    plt.close("all")


def test_a_single_recording_is_drawn_as_a_dot_not_an_empty_panel():
    fig = plot.activation_percentiles([0], [[-1.0, 0.0, 1.0]])
    assert {line.get_marker() for line in fig.axes[0].get_lines()} == {"o"}
    fig = plot.loss_curves({"bn": fake_history(0.9, steps=1, eval_every=1)})   # a 1-step run
    bold = next(line for line in fig.axes[0].get_lines() if "centred" in line.get_label())
    assert bold.get_marker() == "s" and bold.get_markevery() == (0, 1)   # BN's, on its one point
    steps, values = recorded()["bn"]
    fig = plot.activation_percentiles(steps, values)
    assert {line.get_marker() for line in fig.axes[0].get_lines()} == {"None"}
    plt.close("all")


def test_two_runs_markers_stand_apart_and_out():
    """Both runs' markers sat at the same steps, on each other where the curves met,
    and were hidden in the noise of the bold lines: in grayscale nothing told the
    runs apart."""
    hist = {"plain": fake_history(0.9, steps=4800, eval_every=100),
            "bn": fake_history(0.97, steps=4800, eval_every=100)}
    for fig in (plot.loss_curves(hist), plot.accuracy_curves(hist)):
        marked = [line for line in fig.axes[0].get_lines() if line.get_marker() != "None"
                  and not line.get_label().endswith("test loss")]
        assert [line.get_markevery() for line in marked] in ([(0, 400), (200, 400)],
                                                             [(0, 4), (2, 4)])
        assert all(line.get_markeredgecolor() == "white" for line in marked)
    plt.close("all")


def test_a_linear_loss_axis_shows_the_bold_curves_not_the_first_steps_spikes():
    """A CNN's first steps lost 22 and 15: the linear axis ran to 23, and every bold
    curve and test loss lay flat near 0."""
    hist = {"plain": fake_history(0.9, steps=2000), "bn": fake_history(0.97, steps=2000)}
    hist["plain"].step_loss[:3] = [22.0, 15.0, 9.0]
    ax = plot.loss_curves(hist).axes[0]
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert ax.get_ylim()[1] < 3 and "faint: each step's loss (cut off above)" in legend
    fig, ax = plt.subplots()               # a second run drawn into the same axes later,
    small = fake_history(0.9, steps=2000)  # ten times as high: its curves were cut away
    small.step_loss = [v / 10 for v in small.step_loss]
    small.step_loss[3] = 22.0
    for r in small.records:
        r["test_loss"] /= 10
    plot.loss_curves({"plain": small}, ax=ax)
    assert ax.get_ylim()[1] < 0.5
    plot.loss_curves({"bn": hist["bn"]}, ax=ax)
    assert 2.3 < ax.get_ylim()[1] < 3
    faint = [t for t in ax.get_legend_handles_labels()[1] if t.startswith("faint")]
    assert faint == ["faint: each step's loss (cut off above)"]          # one entry
    plot.loss_curves({"bn": hist["bn"]}, ax=ax, log_scale=True)          # then log: uncut
    assert ax.get_ylim()[1] > 22 and "faint: each step's loss" in ax.get_legend_handles_labels()[1]
    with warnings.catch_warnings():
        warnings.simplefilter("error")      # log, then linear: no ylim of 0 on a log axis
        plot.loss_curves({"plain": small}, ax=ax)
    assert ax.get_yscale() == "log" and ax.get_ylabel().endswith("(log scale)")
    fig, ax = plt.subplots()                # a line of the user's own is not a spike
    ax.axhline(100)
    plot.loss_curves({"bn": hist["bn"]}, ax=ax)
    assert ax.get_ylim()[1] > 100
    for log_scale in (True, False):        # on a log axis, or with no spike: nothing cut
        hist["plain"].step_loss[:3] = [22.0, 15.0, 9.0] if log_scale else [2.3, 2.3, 2.3]
        ax = plot.loss_curves(hist, log_scale=log_scale).axes[0]
        assert ax.get_ylim()[1] > 2.3 and "faint: each step's loss" in [
            t.get_text() for t in ax.get_legend().get_texts()]
    plt.close("all")


def test_loss_curves_name_the_faint_lines_and_thin_out_the_test_markers():
    """The faint per-step losses had no legend entry, and 100 test-loss markers of a long
    run merged into a thick line."""
    hist = {"plain": fake_history(0.9, steps=5000, eval_every=50)}
    ax = plot.loss_curves(hist).axes[0]
    assert "faint: each step's loss" in [t.get_text() for t in ax.get_legend().get_texts()]
    test = next(line for line in ax.get_lines() if line.get_label().endswith("test loss"))
    assert len(test.get_xdata()) == 100 and test.get_markevery() == (0, 4)   # 25 markers
    hist = {"plain": fake_history(0.9, steps=4900, eval_every=100)}        # 49 evaluations
    assert next(line for line in plot.loss_curves(hist).axes[0].get_lines()
                if line.get_label().endswith("test loss")).get_markevery() == (0, 2)
    fig, ax = plt.subplots()
    plot.loss_curves(hist, ax=ax)
    plot.loss_curves(hist, ax=ax)                                  # drawn into ax twice
    assert ax.get_legend_handles_labels()[1].count("faint: each step's loss") == 1
    plt.close("all")


def test_the_legend_below_the_loss_axes_is_inside_the_figure():
    """It hung below a 7x4.5 figure: only a save with bbox_inches="tight" showed it."""
    fig = plot.loss_curves({"plain": fake_history(0.9), "bn": fake_history(0.97, seed=1)})
    fig.canvas.draw()
    legend = fig.axes[0].get_legend().get_window_extent()
    inside = fig.bbox
    assert inside.x0 <= legend.x0 and legend.y0 >= inside.y0 and legend.y1 <= inside.y1
    plt.close(fig)


def test_step_profile_draws_each_rows_median_calls_in_the_models_order(monkeypatch, tmp_path):
    from test_profiler import fake_run
    prof = fake_run(monkeypatch, skip=3, steps=10)      # layers 3+5 and 1+13 us, loss 7+2,
    fig = plot.step_profile(prof)                       # step 11, other (data) 4: 46 us
    ax = fig.axes[0]
    widths = [p.get_width() for p in ax.patches]
    np.testing.assert_allclose(widths, [3, 1, 7, 11, 5, 13, 2, 0, 4], atol=1e-6)
    lefts = [p.get_x() for p in ax.patches]             # backward stacked after forward
    np.testing.assert_allclose(lefts[4:8], [3, 1, 7, 11], atol=1e-6)
    assert [t.get_text() for t in ax.get_yticklabels()] == \
        ["0: Tick()", "1: Tick()", "loss: TickLoss()", "TickOptimizer.step", "other"]
    shares = [t.get_text().strip() for t in ax.texts]
    assert shares == ["17.4%", "30.4%", "19.6%", "23.9%", "8.7%"]
    assert "median step 46 us" in ax.get_title()
    assert_png(Path(plot.save(fig, tmp_path / "profile.png")[0]))


class StubProfile:
    """What step_profile reads of a Profiler: the median step and the rows."""

    def __init__(self, step, rows):
        self.step, self._rows = step, rows

    def step_seconds(self):
        return self.step

    def rows(self):
        return self._rows


def test_step_profile_labels_like_the_table_where_the_medians_exceed_the_step():
    """Medians need not add up: "other" may be below 0. Its share is shown as it
    is (as table() prints it), its bar not drawn; a row never timed says "-"."""
    rows = [("0: Flatten()", 10e-6, None), ("1: BatchNorm(100, eps=1e-05, momentum=0.1)",
                                             20e-6, 20e-6), ("loss: Never()", None, None)]
    ax = plot.step_profile(StubProfile(40e-6, rows)).axes[0]
    assert [t.get_text().strip() for t in ax.texts] == ["25.0%", "100.0%", "-", "-25.0%"]
    assert ax.patches[-1].get_width() == 0
    assert [t.get_text() for t in ax.get_yticklabels()] == \
        ["0: Flatten()", "1: BatchNorm(100, eps=1e-05, ...)", "loss: Never()", "other"]
    plt.close(ax.figure)


def test_step_profile_refuses_too_few_steps_and_draws_into_a_given_axes(monkeypatch):
    from test_profiler import fake_run
    with pytest.raises(SettingError, match=r"time needs two or more \(train longer"):
        plot.step_profile(fake_run(monkeypatch, skip=10, steps=11))
    fig, (left, ax) = plt.subplots(1, 2)
    before = left.get_position().bounds
    assert plot.step_profile(fake_run(monkeypatch, skip=0, steps=3), ax=ax, title="t") is fig
    assert ax.get_title() == "t" and len(ax.patches) == 9 and not left.patches
    assert left.get_position().bounds == before         # the caller's layout is left alone
    plt.close(fig)


class Recorder:
    """What figure1 reads of a LayerInputRecorder after training."""

    def __init__(self, steps, values, percentiles=(15, 50, 85)):
        self.steps, self.values, self.percentiles = steps, values, percentiles


def test_figure1_takes_the_recorders_and_their_percentiles(histories):
    steps = [0, 100, 200]
    rec = {key: Recorder(steps, [[-1.0, 0.0, 1.0]] * 3, (10, 50, 90)) for key in ("plain", "bn")}
    fig = plot.figure1(histories, rec)
    assert fig.axes[1].get_lines()[0].get_label() == "10th and 90th percentiles"
    with pytest.raises(SettingError, match=r"recorders took the percentiles \(10, 50, 90\), "
                                           r"and percentiles=\(15, 50, 85\) was given"):
        plot.figure1(histories, rec, percentiles=(15, 50, 85))
    plt.close("all")


@pytest.mark.parametrize("recorded, match", [
    ({"with BN": ([0], [[0, 1, 2]])}, r"recorded must be a dict with the keys 'plain' \(panel "
                                      r"b\) and 'bn' \(panel c\), or "
                                      r"one of them: .*; got \['with BN'\]"),
    ([([0], [[0, 1, 2]])], r"recorded must be a dict .*; got list"),
    ({}, r"recorded must be a dict .*; got \[\]"),
    ({"bn": np.zeros(3)}, r"recorded\['bn'\] must be a LayerInputRecorder or a pair \(steps, "
                          r"values\), got ndarray"),
    ({"bn": Recorder([], [])}, r"recorded\['bn'\] holds no recording; pass the recorder after "
                               r"training"),
    ({"plain": Recorder([0], [[0, 1, 2]], (15, 50, 85)),
      "bn": Recorder([0, 5], [[0, 1, 2]] * 2, (10, 50, 90))},
     r"the recorders took the percentiles \(10, 50, 90\) and \(15, 50, 85\); they must be "
     r"the same"),
])
def test_figure1_says_what_is_wrong_with_its_recordings(histories, recorded, match):
    """Keys other than "bn"/"plain" drew empty panels without a word; a recorder
    object, or one that never ran, failed inside NumPy or Python's unpacking."""
    with pytest.raises(SettingError, match=r"^plot\.figure1: " + match):
        plot.figure1(histories, recorded)
    plt.close("all")


def test_activation_percentiles_name_no_net_unless_told_and_refuse_steps_that_go_back():
    """Without a key the plain net's recording was titled "with BN", in BN's red;
    a recorder used for two runs drew each curve back over itself."""
    ax = plot.activation_percentiles([0, 10], [[0.0, 1.0, 2.0]] * 2).axes[0]
    assert ax.get_title() == "Input distribution"
    assert not line_colors(ax) & set(plot.COLORS.values())
    ax = plot.activation_percentiles([0, 10], [[0.0, 1.0, 2.0]] * 2, key="plain").axes[0]
    assert ax.get_title() == "Input distribution, without BN"
    with pytest.raises(SettingError, match=r"the steps must increase, got \[0, 10, 20, 0, 10\]; "
                                           r"a recorder used for two runs"):
        plot.activation_percentiles([0, 10, 20, 0, 10], [[0.0, 1.0, 2.0]] * 5)
    plt.close("all")


def test_step_profile_bars_differ_in_grayscale():
    """Forward grey and backward green were the same grey on a printed handout."""
    from minidl.plot.timing import BACKWARD, FORWARD, OTHER
    grey = sorted(np.dot(mcolors.to_rgb(c), (0.299, 0.587, 0.114)) for c in
                  (FORWARD, BACKWARD, OTHER))
    assert min(np.diff(grey)) > 0.15


def test_importing_minidl_plot_keeps_the_backend_chosen_before(tmp_path):
    """It switched to Agg whenever DISPLAY was unset, which macOS and Windows never
    set: plt.show() then showed nothing there, and a chosen backend was replaced."""
    import subprocess
    import sys
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "MPLBACKEND")}
    code = ("import matplotlib; matplotlib.use('svg'); import minidl.plot; "
            "print(matplotlib.get_backend())")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                         cwd=Path(__file__).parent.parent, check=True)
    assert out.stdout.strip() == "svg"


def test_figure1_says_when_the_bn_net_recorded_nothing_after_step_0(histories):
    """A BN net that diverged at its first evaluation has only step 0, which its panel
    leaves out: an empty panel that says so, rather than the dot the docstring says
    is left out, or no figure at all."""
    steps = [0, 100, 200]
    fig = plot.figure1(histories, {"plain": (steps, [[0, 1, 2]] * 3), "bn": ([0], [[0, 1, 2]])})
    c = fig.axes[2]
    assert not any(len(line.get_xdata()) for line in c.get_lines())
    assert c.get_xlabel().endswith("(nothing recorded after step 0)")
    plt.close("all")


def test_figure1_draws_what_is_finite_of_a_run_that_diverged(histories):
    """A run that diverges records NaN or infinite percentiles: Figure 1 ended in
    "ValueError: Axis limits cannot be NaN or Inf". Now it draws the finite values on
    finite axes and says under a panel what it left out."""
    nan, inf = float("nan"), float("inf")
    plain = ([0, 50, 100], [[-1, 0, 1], [-2, 0, 2], [nan, nan, nan]])   # diverged at the end
    bn = ([0, 50], [[0, 1, 2], [-inf, inf, inf]])
    fig = plot.figure1(histories, {"plain": plain, "bn": bn})
    a, b, c = fig.axes
    assert np.isfinite(b.get_ylim()).all() and b.get_ylim() == c.get_ylim()
    assert b.get_ylim()[0] < -2 and b.get_ylim()[1] > 2                 # the finite values
    assert b.get_xlabel().endswith("(NaN or infinite at 1 of 3 recorded steps (diverged): "
                                   "not drawn)")
    assert c.get_xlabel().endswith("(NaN or infinite at 1 of 1 recorded steps (diverged): "
                                   "not drawn)")
    assert all(np.isnan(line.get_ydata()).all() for line in c.get_lines())   # no line to inf
    plt.close(fig)
    diverged = History()                           # before its first evaluation, and
    diverged.diverged = {"step": 1, "loss": nan, "lr": 0.1, "last_finite_loss": None,
                         "cause": "the loss became nan"}
    fig = plot.figure1({"plain": diverged, "bn": diverged},        # NaN from step 0 on
                       {"plain": ([0], [[nan, nan, nan]]), "bn": ([0], [[nan, nan, nan]])})
    a, b, c = fig.axes
    assert a.get_xlabel() == ("training step\n(without BN: diverged before its first "
                              "evaluation)\n(with BN: diverged before its first evaluation)")
    assert b.get_xlabel().endswith("(NaN or infinite at 1 of 1 recorded steps (diverged): "
                                   "not drawn)")
    assert c.get_xlabel().endswith("(nothing recorded after step 0)")
    plt.close(fig)


def test_bn_and_no_bn_stay_two_greys_on_a_grayscale_handout():
    """matplotlib's red and blue, which the plots used, have about the same luminance
    (0.36 and 0.39): a black-and-white copy told the two nets apart by markers only."""
    def luminance(colour):                       # ITU-R 601, as a grayscale print takes it
        r, g, b = mcolors.to_rgb(colour)
        return 0.299 * r + 0.587 * g + 0.114 * b
    assert abs(luminance(plot.COLORS["bn"]) - luminance(plot.COLORS["plain"])) > 0.2
