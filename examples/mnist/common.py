"""What the MNIST scripts share: finding the data, loaders, building the model, writing files."""
import argparse
import contextlib
import math
import os
import signal
import sys
import threading
from pathlib import Path

import numpy as np

from minidl import jsonfile
from minidl.data import DataLoader, load_mnist, mnist_folder, random_shift
from minidl.data.mnist import files_folder, has_all_files
from minidl.errors import MinidlError, SettingError
from minidl.files import atomic_path, read_only
from minidl.models import cnn, mlp
from minidl.plot.saving import DPI_RANGE
from minidl.train import catch_sigint

MEAN, STD = 0.1307, 0.3081    # of the MNIST training pixels in [0, 1]
CNN_CHANNELS = (16, 32)       # the feature maps of build()'s two convolutions
SHAPES = {"mlp": (784,), "cnn": (1, 28, 28)}    # one image as each model takes it


class Help(argparse.ArgumentDefaultsHelpFormatter):
    """--help shows defaults, except None and False (those help texts say it themselves)."""
    def _get_help_string(self, action):
        shown = action.default is not None and action.default is not False   # 0 is shown
        return super()._get_help_string(action) if shown else action.help


# A shared copy of the data beside the checkout, <repository>/../shared/data/mnist, as a
# course server or a CI machine without internet may keep it
# (None for a copy of the scripts too close to / to have one: /content/train.py in Colab)
_PARENTS = Path(__file__).resolve().parents
SHARED_DATA = _PARENTS[3] / "shared" / "data" if len(_PARENTS) > 3 else None


def data_root(data_dir):
    """--data-dir may be the folder with the four files or one with an mnist/ subfolder,
    as $MINIDL_DATA may (minidl.data.mnist.files_folder picks the one with the files).
    None: $MINIDL_DATA if set, else SHARED_DATA/mnist if it holds the four files, else
    load_mnist's default (~/.cache/minidl/mnist, downloading)."""
    if data_dir is None:
        shared = SHARED_DATA and SHARED_DATA / "mnist"
        use_shared = shared and not os.environ.get("MINIDL_DATA") and has_all_files(shared)
        return shared if use_shared else None
    folder = Path(data_dir).expanduser()
    return files_folder(folder, fallback=folder / "mnist" if (folder / "mnist").is_dir()
                        else folder)


def add_data_arguments(parser, train_subset=True):
    parser.add_argument("--data-dir", type=folder_name, default=None,
                        help="folder holding the four MNIST files (or a mnist/ subfolder); "
                             "default $MINIDL_DATA/mnist (or $MINIDL_DATA if the files are "
                             "there), else ../shared/data/mnist beside the repository if it "
                             "holds them, else ~/.cache/minidl/mnist, downloading if missing")
    parser.add_argument("--no-download", action="store_true",
                        help="fail instead of downloading when the files are missing")
    if not train_subset:          # a script that trains nothing
        return
    parser.add_argument("--train-subset", type=int_at_least(2, 60_000), default=None,
                        metavar="N", help="train on the first N training images only (quick "
                                          "runs; BN needs a batch of two or more)")


# for slides and papers (not EPS: PostScript has no transparency, and the faint
# curves and bands would come out solid); plot.save writes more
PLOT_FORMATS = ("png", "pdf", "svg")


def int_at_least(minimum, most=None):
    """argparse type of a count (steps, a batch size, a seed): an int >= minimum
    (and <= most). A bad value is an argparse error naming the option, before
    anything runs: "argument --steps: must be an int >= 1, got 0"."""
    expected = f"an int >= {minimum}" if most is None else f"an int from {minimum} to {most:,}"

    def parse(text):
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be {expected}, got {text!r}") from None
        if value < minimum or (most is not None and value > most):
            raise argparse.ArgumentTypeError(f"must be {expected}, got {value}")
        return value
    parse.__name__ = expected
    return parse


pixels_per_inch = int_at_least(*DPI_RANGE)   # --dpi: plot.save's bounds, said before training


def folder_name(text):
    """argparse type of a folder (--out, --data-dir): any path but an empty one, which
    would mean the current folder ('--out "$OUT"' with OUT unset)."""
    if not text.strip():
        raise argparse.ArgumentTypeError(f"must name a folder, got {text!r} (the current "
                                         "folder is .)")
    return text


def positive_number(text):
    """argparse type of a learning rate: a finite number > 0 ("nan" and "inf" parse
    as floats but train nothing)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a number > 0, got {text!r}") from None
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"must be a number > 0, got {text.strip()}")
    return value


def add_format_argument(parser):
    parser.add_argument("--format", nargs="+", choices=PLOT_FORMATS, default=["png"],
                        metavar="FMT", help="write every plot in each of these formats: "
                        f"{', '.join(PLOT_FORMATS)} (PDF and SVG are vector graphics)")
    parser.add_argument("--dpi", type=pixels_per_inch, default=None,
                        help="pixels per inch of PNG plots (default 110; 200 or 300 for "
                             "slides and print)")


def names(paths):
    """The file names of paths, for a "wrote ..." line."""
    return " ".join(os.path.basename(p) for p in paths)


def load_data(args):
    """MNIST from --data-dir (or the default folder), downloading it unless
    --no-download. Reading and checking the files takes a while: load once
    per run of a script and pass the result to loaders()."""
    root = data_root(args.data_dir)
    data = load_mnist(root, download=not args.no_download)
    print(f"MNIST from {mnist_folder(root)}", flush=True)   # which copy, where there are several
    return data


def loaders(data, args, model, batch_size, seed, eval_batch=1000, test_subset=None, shift=0):
    """Training and test loaders over `data` (load_data), standardized, shaped for
    `model`; shift > 0 moves each training image by up to that many pixels."""
    n = args.train_subset or len(data.x_train)
    train = DataLoader(data.x_train[:n], data.y_train[:n], batch_size, shuffle=True, seed=seed,
                       drop_last=n % batch_size == 1,    # BN cannot normalize a batch of one
                       mean=MEAN, std=STD, shape=SHAPES[model],
                       augment=random_shift(shift) if shift else None)
    return train, loader_of_test_set(data, model, eval_batch, test_subset)


def loader_of_test_set(data, model, eval_batch=1000, test_subset=None):
    """The first test_subset test images (all by default), in order, converted as
    for training: standardized and shaped for `model`."""
    m = test_subset or len(data.x_test)
    return DataLoader(data.x_test[:m], data.y_test[:m], eval_batch, shuffle=False,
                      mean=MEAN, std=STD, shape=SHAPES[model])


def first_samples(loader, n):
    """The first n samples of a loader's data as one batch (xb, yb), converted
    like its batches (no augmentation). Leaves `loader` untouched (taking
    next(iter(loader)) would leave it mid-epoch)."""
    return loader.batch(np.arange(min(n, len(loader.x))))


def build(model, batchnorm, activation="relu", hidden=(100, 100, 100), seed=0, init=None):
    if model == "mlp":
        return mlp(784, list(hidden), 10, activation=activation, batchnorm=batchnorm,
                   seed=seed, init=init)
    return cnn(1, 10, batchnorm=batchnorm, activation=activation, channels=CNN_CHANNELS,
               seed=seed, init=init)


def option(key, value):
    """A setting written as its option: --lr 0.5, --no-batchnorm, --hidden 100 100."""
    name = key.replace("_", "-")
    if isinstance(value, bool):
        return f"--{name}" if value else f"--no-{name}"
    if value is None:
        return f"no --{name}"
    if isinstance(value, float):      # 5.0 as 5, 5e-05 as 5e-05; repr if :g would round
        value = f"{value:g}" if float(f"{value:g}") == value else repr(value)
    return f"--{name} {' '.join(map(str, value)) if isinstance(value, list) else value}"


def run_cli(main):
    """Run a script's main(): minidl's errors, a file that cannot be written and
    a Ctrl-C outside training end the program with a one-line message instead
    of a traceback."""
    # `kill`, `timeout` or a batch system's time limit (SIGTERM) acts as a Ctrl-C: in
    # training the Trainer stops after the step and saves its checkpoint; elsewhere the
    # blocks that remove a half-written file's temporary name run (by default the
    # process just stops). The exit code is SIGTERM's, 143. Not where SIGTERM is
    # ignored, nor off the main thread; restored afterwards.
    before = signal.getsignal(signal.SIGTERM)      # None: a handler set outside Python
    own = (before not in (None, signal.SIG_IGN) and
           threading.current_thread() is threading.main_thread())
    if own:
        signal.signal(signal.SIGTERM, _terminated)
    TERMINATED.clear()
    try:
        code = main()
    except (MinidlError, OSError) as e:     # OSError: a folder that cannot be written, say
        code = f"error: {e}"
    except KeyboardInterrupt:          # outside training (loading data, writing plots)
        code = "interrupted"
    finally:
        if own:
            signal.signal(signal.SIGTERM, before)
    if TERMINATED:
        if isinstance(code, str) and code != "interrupted":
            print(code, file=sys.stderr)       # an error on the way out: still said
        print(f"terminated (signal {TERMINATED[0]})", file=sys.stderr)
        code = 128 + TERMINATED[0]         # the shell's code for a process a signal ended
    elif code == "interrupted":
        print(code, file=sys.stderr)
        code = 130                         # a Ctrl-C's, as in training (not 1, an error's)
    sys.exit(code)


def remove_stale(out, names, written):
    """After a run has written its files (`written`) into `out`, where it replaced an
    older run: remove the files of `names` that it did not write, which are the
    old run's and would otherwise be taken for the new one's (an evaluate.py plot,
    a plot in another format, a checkpoint when the new run diverged before its
    first). A symbolic link or a read-only file is left as it is, and said so;
    files of other names stay. Done only after the new run has written, so that a
    rerun stopped early leaves the old run as it was."""
    paths = {name: os.path.join(out, name) for name in names if name not in written}
    stale = [name for name, path in paths.items() if os.path.islink(path) or os.path.isfile(path)]
    kept = [name for name in stale if os.path.islink(paths[name]) or read_only(paths[name])]
    removed = [name for name in stale if name not in kept]
    for name in removed:
        os.remove(paths[name])
    if removed:
        print(f"removed the replaced run's {' '.join(removed)} from {out}/")
    if kept:
        print(f"kept {' '.join(kept)} in {out}/ (a link or read-only), from the replaced run")


def same_folder(a, b):
    """Whether the paths a and b name the same folder (runs/x and ./runs/x/)."""
    return os.path.realpath(a) == os.path.realpath(b)


def history_there(folder):
    """The history.json in folder (train.py writes one per run) as a dict, or None:
    none there, or not a JSON object."""
    try:
        history = jsonfile.read(os.path.join(folder, "history.json"))
    except (OSError, ValueError):           # none, or not JSON (FormatError: a ValueError)
        return None
    return history if isinstance(history, dict) else None


def files_of_no_run(out, names, owner):
    """An error message if `out` holds files of these names (those a script writes)
    while no run of it is there to own them (`owner`: the file with a run's settings
    is missing or not the script's): a folder of one's own, whose files would be
    written over without a word. None if there are none."""
    found = [name for name in names if os.path.lexists(os.path.join(out, name))]
    if not found:
        return None
    return (f"{out} holds {', '.join(found)} but no {owner} with a run's settings: this run "
            "would write over them; choose another --out, or add --overwrite to replace them")


TERMINATED = []                            # the SIGTERM that run_cli turned into a Ctrl-C


def _terminated(signum, frame):
    TERMINATED.append(signum)
    handler = signal.getsignal(signal.SIGINT)
    if callable(handler):                  # a Ctrl-C: the Trainer's (stop after the step),
        handler(signal.SIGINT, frame)      # or Python's KeyboardInterrupt
    else:                                  # SIGINT ignored (a background job): not this
        raise KeyboardInterrupt


@contextlib.contextmanager
def ctrl_c_held(out):
    """Hold a Ctrl-C (and SIGTERM, which run_cli turns into one) until the block has
    written its files into out, then stop: a run's files are all new, never some new
    beside some old. A second Ctrl-C stops at once (catch_sigint, which holds one
    for the Trainer until its step ends)."""
    def say():
        print(f"writing the files into {out}/ first (Ctrl-C again stops at once)",
              file=sys.stderr, flush=True)
    with catch_sigint(on_hit=say) as sigint:
        yield
    if sigint["hit"]:
        raise KeyboardInterrupt


def check_out_dir(path):
    """A file where the output folder should be is an error that says so (os.makedirs
    says only "[Errno 17] File exists")."""
    if os.path.exists(path) and not os.path.isdir(path):
        raise SettingError(f"{path}: is a file, not a folder; choose another output folder")


def ensure_dir(path):
    """Create the output folder `path` if needed; returns it without a trailing
    slash (messages then say "runs/x/", not "runs/x//")."""
    check_out_dir(path)
    try:
        os.makedirs(path, exist_ok=True)
    except OSError as e:      # else only "[Errno 2] No such file or directory: '/proc/x'"
        raise SettingError(f"cannot create the output folder {path}: "
                           f"{e.strerror or e}; choose another --out") from None
    return os.path.normpath(path)


def write_text(path, text):
    with atomic_path(path) as tmp, open(tmp, "w") as f:   # never half a file under the name
        f.write(text)


def write_json(path, obj):
    jsonfile.write(path, obj)    # strict JSON: NaN written as "NaN"
