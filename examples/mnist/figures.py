"""The figures of a compare_bn.py run: drawn from its histories when it has
trained, or from the files it wrote (compare_bn.py --replot FOLDER), which are
read and checked here before anything is drawn."""
import os

from minidl import jsonfile, plot
from minidl.errors import DataNotFoundError, FormatError
from minidl.history import History

NETS = (("plain", False), ("bn", True))      # key, batchnorm: the two nets of a run


def unit_label(s):
    """What panels (b) and (c) follow, from the run's settings; a run without
    "layer" (or with None) followed the last hidden layer."""
    layer, unit = s.get("layer"), s["unit"]
    if s["model"] == "cnn":      # BN normalizes a feature map over batch and positions
        block = "the last conv block" if layer is None else f"conv block {layer}"
        return f"channel {unit} of {block}"          # its y label: "..., all positions"
    return f"unit {unit} of {'the last hidden layer' if layer is None else f'hidden layer {layer}'}"


def widths(s):
    """"hidden 50-50" for an MLP whose hidden widths are not the paper's three
    layers of 100, else "": a slide of another network must not pass for the
    paper's."""
    hidden = s.get("hidden")
    if s["model"] == "mlp" and hidden and list(hidden) != [100, 100, 100]:
        return f"hidden {'-'.join(map(str, hidden))}"
    return ""


def tested_on(s):
    """The test images of a run tested on a subset ("first 2,000 test images", from
    --test-subset), else "": a number copied onto a slide should not pass for
    MNIST's test accuracy."""
    n = s.get("test_subset")
    return f"first {n:,} test images" if n else ""


def write_plots(out, histories, recorded, s, log_scale=False, formats=("png",), dpi=None,
                percentiles=(15, 50, 85)):
    """loss_curves, accuracy and activations (Figure 1) in each of `formats`.
    histories: {"plain": History, "bn": History}; recorded: {key: (steps, values)},
    the values' columns being the `percentiles`; s: the run's settings (summary.json's
    "settings")."""
    title = plot.setting(s["model"], s["activation"], s["batch_size"], s["lr"],
                         extra=", ".join(filter(None, (widths(s), tested_on(s)))))
    window = max(1, min(100, s["steps"] // 20))
    written = plot.save(plot.loss_curves(histories, title=title, log_scale=log_scale,
                                         smooth_window=window),
                        os.path.join(out, "loss_curves"), formats, dpi)
    written += plot.save(plot.accuracy_curves(histories, title=title),
                         os.path.join(out, "accuracy"), formats, dpi)
    fig = plot.figure1(histories, recorded, title=title,
                       unit_label=unit_label(s),
                       quantity=f"input to the {plot.style.activation_name(s['activation'])}"
                       + (", all positions" if s["model"] == "cnn" else ""),
                       percentiles=percentiles)
    return written + plot.save(fig, os.path.join(out, "activations"), formats, dpi)


def write_sweep_plot(out, sweep, formats=("png",), dpi=None):
    """lr_sweep plot of lr_sweep.json's content: {"settings", "plain", "bn"}."""
    s = sweep["settings"]
    title = plot.setting(s["model"], s["activation"], s["batch_size"],
                         extra=", ".join(filter(None, (widths(s), f"{s['steps']} steps per run",
                                                       tested_on(s)))))
    results = {key: sweep[key] for key, _ in NETS}
    return plot.save(plot.lr_sweep(results, title=title), os.path.join(out, "lr_sweep"),
                     formats, dpi)


def read_json(folder, name, what):
    path = os.path.join(folder, name)
    try:
        return jsonfile.read(path)
    except FileNotFoundError:
        raise DataNotFoundError(f"--replot {folder}: no {name} there ({what}); give the "
                                "--out folder of a finished compare_bn.py run") from None
    except FormatError as e:                  # not JSON, or cut short: jsonfile names it
        raise FormatError(f"--replot: {e}; not the JSON file compare_bn.py writes") from None


def require(settings, keys, name):
    missing = [k for k in keys if k not in settings]
    if missing:
        raise KeyError(f"{name}'s settings have no {', '.join(missing)}")


def read_run(folder):
    """What the plots of a finished run need, read from its folder and checked
    before anything is drawn: {"sweep": lr_sweep.json} and/or {"compare":
    (histories, recorded, settings, percentiles)}, whichever the folder holds."""
    if not os.path.isdir(folder):
        raise DataNotFoundError(f"--replot {folder}: no such folder; give the --out folder of "
                                "a finished compare_bn.py run")
    found = {}
    try:
        if os.path.exists(os.path.join(folder, "lr_sweep.json")):
            sweep = read_json(folder, "lr_sweep.json", "the sweep's results")
            require(sweep["settings"], ("model", "activation", "batch_size", "steps"),
                    "lr_sweep.json")
            found["sweep"] = {"settings": sweep["settings"], **{k: list(sweep[k]) for k, _ in NETS}}
        if os.path.exists(os.path.join(folder, "summary.json")) or not found:
            s = read_json(folder, "summary.json", "the run's settings")["settings"]
            require(s, ("model", "activation", "batch_size", "lr", "steps", "unit"), "summary.json")
            recorded = read_json(folder, "activations.json", "the recorded percentiles")
            percentiles = recorded["bn"].get("percentiles", (15, 50, 85))   # older runs: these
            recorded = {key: (recorded[key]["steps"], recorded[key]["values"]) for key, _ in NETS}
            histories = {key: History.from_dict(read_json(folder, f"history_{key}.json",
                                                          "a history"))
                         for key, _ in NETS}
            found["compare"] = (histories, recorded, s, tuple(percentiles))
    except (KeyError, TypeError, AttributeError) as e:
        raise FormatError(f"--replot: the files in {folder} lack what compare_bn.py writes "
                          f"({type(e).__name__}: {e})") from None
    return found
