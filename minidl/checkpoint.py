"""Checkpoints: a model's parameters and BN statistics, the optimizer's momentum
buffers, and any JSON-able metadata (step, data-loader state, history), in
one .npz file.

No pickle anywhere: arrays are stored as arrays and metadata as a JSON string,
and files are read with allow_pickle=False, so loading a checkpoint cannot
run code. A save goes to a temporary file in the same folder that is renamed
over the target only when complete: an interrupted save never leaves a
half-written checkpoint under the real name.
"""
import json
import os
import struct
import zipfile
import zlib

import numpy as np

from minidl.errors import CheckpointError, DivergenceError, SettingError, a_class, has_methods
from minidl.files import atomic_path
from minidl.layers.checks import check_states, foreign_params

FORMAT = "minidl-checkpoint-1"


def _check_args(owner, model, path, optimizer):
    """Name arguments given in the wrong order (save(path, model)) or of the wrong kind,
    before any file is read or written."""
    if not has_methods(model, "parameters", "state"):
        swapped = " (model and path swapped?)" if isinstance(model, (str, os.PathLike)) else ""
        raise SettingError(f"checkpoint.{owner}(model, path, optimizer=None): model must be a "
                           f"model or layer, got {_kind(model, 'parameters', 'state')}{swapped}")
    if not isinstance(path, (str, bytes, os.PathLike)):
        raise SettingError(f"checkpoint.{owner}(model, path, optimizer=None): path must be a "
                           f"file name, got {type(path).__name__}")
    if optimizer is not None and not has_methods(optimizer, "state"):
        raise SettingError(f"checkpoint.{owner}: optimizer must be an optimizer such as SGD, "
                           f"got {_kind(optimizer, 'state')}")
    if optimizer is not None and foreign_params(model, optimizer):
        raise SettingError(f"checkpoint.{owner}: the optimizer updates parameters that are not "
                           "this model's (made for another model, or before the model was "
                           "built again); give the optimizer of this model")


def _kind(obj, *methods):
    """What was given instead, for an error: "str 'm.npz'", or for a class that has
    these methods "the class SGD, not an instance (write SGD(...))"."""
    if isinstance(obj, type):
        return a_class(obj, *methods)
    return f"{type(obj).__name__} {obj!r:.60}"


def arrays(model, optimizer=None):
    """The arrays a checkpoint holds, by name: "param/0.W", "state/1.running_mean",
    "optim/..." for the optimizer's buffers (the same objects, not copies)."""
    check_states(model, "checkpoint")
    arrays = {f"param/{p.name}": p.value for p in model.parameters()}
    arrays.update({f"state/{k}": v for k, v in model.state().items()})
    if optimizer is not None:
        arrays.update({f"optim/{k}": v for k, v in optimizer.state().items()})
    return arrays


def non_finite(contents):
    """The name ("0.W", "1.running_var") of the first array in `contents` (as arrays()
    gives them) that holds NaN or infinite values, or None: load() refuses such a file."""
    bad = next((k for k, v in contents.items() if v.dtype.kind == "f" and
                not np.all(np.isfinite(v))), None)
    return None if bad is None else bad.split("/", 1)[1]     # "param/0.W" -> "0.W"


def layer_kinds(model):
    """For each layer of a Sequential (or the one layer given), its class and the
    public classes it derives from, below Layer (["NoBesselBatchNorm", "BatchNorm"]):
    a checkpoint records them, since the arrays alone do not tell Sigmoid from ReLU."""
    def kind(layer):
        return [c.__name__ for c in type(layer).__mro__[:-1]              # not object
                if c.__name__ != "Layer" and not c.__name__.startswith("_")] \
            or [type(layer).__name__]
    return [kind(layer) for layer in getattr(model, "layers", [model])]


def save(model, path, optimizer=None, meta=None):
    """Write model (and optimizer) state and a metadata dict to ``path`` atomically,
    making the folders on the way if they are missing.

    meta: a dict with str keys whose values are str, int, float, bool, None, lists
    and dicts of these; NumPy scalars (a loss of type np.float32) are stored as
    Python numbers. Anything else raises SettingError before the file is touched;
    a NaN or infinite array raises DivergenceError, also before (load() would
    refuse the file, and it would replace the one already at path).
    """
    _check_args("save", model, path, optimizer)
    path = os.fspath(path)
    check_name(path, "checkpoint.save")
    if meta is None:
        meta = {}
    if not isinstance(meta, dict):      # load() could never read it back
        raise SettingError(f"checkpoint.save: meta must be a dict such as {{'step': 100}}, "
                           f"got {type(meta).__name__} {meta!r:.60}")
    header = {"format": FORMAT, "layers": layer_kinds(model), "meta": _plain(meta, "meta")}
    contents = arrays(model, optimizer)
    bad = non_finite(contents)
    if bad is not None:     # load() refuses such a file: it would only replace a good one
        raise DivergenceError(f"checkpoint.save: {bad} is NaN or infinite (a "
                              f"diverged training run?); {path} was not written, since load() "
                              "would refuse it")
    contents["meta"] = np.array(json.dumps(header))
    with atomic_path(path, suffix=".npz") as tmp, open(tmp, "wb") as f:
        np.savez(f, **contents)


def check_name(path, owner):
    """SettingError for a file name whose suffix is a word other than .npz (any case):
    "history.json" or "ckpt.pt" would hold an .npz archive. A dot in a name that is no
    suffix ("run_lr0.5") is fine."""
    suffix = os.path.splitext(os.fspath(path))[1]
    if suffix[1:2].isalpha() and suffix.lower() != ".npz":
        raise SettingError(f"{owner}: {os.fspath(path)!r} ends in {suffix}, but a checkpoint is "
                           "an .npz archive; end the name with .npz")


def _plain(value, where):
    """value as JSON stores it, NumPy scalars made Python numbers; or a SettingError
    naming where (meta['history'][3]) a value is that JSON cannot store."""
    if isinstance(value, np.generic):
        value = value.item()
    if value is None or isinstance(value, (str, bool, int, float)):
        return value
    if isinstance(value, (list, tuple)):
        return [_plain(v, f"{where}[{i}]") for i, v in enumerate(value)]
    if isinstance(value, dict):
        for k in value:
            if not isinstance(k, str):  # JSON would give back 1 as "1", (1, 2) not at all
                raise SettingError(f"checkpoint.save: {where} has the key {k!r}; "
                                   "expected str keys, as JSON stores them")
        return {k: _plain(v, f"{where}[{k!r}]") for k, v in value.items()}
    hint = " (for an array, .tolist())" if isinstance(value, np.ndarray) else ""
    raise SettingError(f"checkpoint.save: {where} is {type(value).__name__} {value!r:.60}; "
                       "expected str, int, float, bool, None, or lists and dicts of these, "
                       f"as JSON stores them{hint}")


def load(model, path, optimizer=None, check_meta=None):
    """Load a checkpoint into ``model`` (and ``optimizer``); return its metadata.

    The model must have the layers the checkpoint was saved from (their kinds,
    in order: a model built with ReLU where the checkpoint has Sigmoid would load
    every array and compute something else), and every array the model (and
    optimizer) needs must be present with the right shape and dtype; otherwise
    CheckpointError names the first difference, and nothing is changed.
    check_meta(meta), if given, runs after those checks and before anything is
    written: a CheckpointError from it also changes nothing.
    """
    _check_args("load", model, path, optimizer)
    path = os.fspath(path)
    stored, meta, kinds = _read(path)
    _check_layers(path, kinds, layer_kinds(model))
    expected = arrays(model, optimizer)
    for name, current in expected.items():      # check everything before changing anything
        if name not in stored:
            why = ("was it saved without the optimizer?" if name.startswith("optim/") else
                   "was it saved from a different model?")
            raise CheckpointError(f"{path}: missing {name!r} (shape {current.shape}); {why}")
        if stored[name].shape != current.shape:
            raise CheckpointError(f"{path}: {name!r} has shape {stored[name].shape}, "
                                  f"the model expects {current.shape}; build the model as "
                                  "the saved one was built (its layer sizes)")
        kept, wanted = stored[name].dtype, current.dtype
        counts = kept.kind in "iu" and wanted.kind in "iu"   # BN's num_batches: any int
        if kept != wanted and not counts:                     # no silent up- or downcast
            floats = kept.kind == "f" and wanted.kind == "f"
            hint = f"; convert the model first (model.astype(np.{kept}))" if floats else ""
            raise CheckpointError(f"{path}: {name!r} is {kept}, the model's is {wanted}{hint}")
        if stored[name].dtype.kind == "f" and not np.all(np.isfinite(stored[name])):
            raise CheckpointError(f"{path}: {name!r} contains NaN or Inf")
    unexpected = sorted(k for k in set(stored) - set(expected)
                        if optimizer is not None or not k.startswith("optim/"))
    if unexpected:
        why = ("the checkpoint was saved with an optimizer that keeps state (momentum "
               "buffers) this one does not have; use the same optimizer settings"
               if all(k.startswith("optim/") for k in unexpected) else
               "the checkpoint was saved from a different model")
        raise CheckpointError(f"{path}: unexpected entries {unexpected[:5]}; {why}")
    if check_meta is not None:
        check_meta(meta)

    for p in model.parameters():
        p.value[...] = stored[f"param/{p.name}"]
    model.set_state({k: stored[f"state/{k}"] for k in model.state()})
    if optimizer is not None:
        optimizer.set_state({k: stored[f"optim/{k}"] for k in optimizer.state()})
    return meta


def _check_layers(path, saved, current):
    """A CheckpointError naming the first layer of another class, unless one of the
    two classes derives from the other (a student's BatchNorm subclass loads a
    BatchNorm checkpoint). Checkpoints written before minidl recorded the layers
    have saved=None: not checked."""
    if saved is None:
        return
    i = next((i for i, (a, b) in enumerate(zip(saved, current))
              if a[0] not in b and b[0] not in a), None)
    if i is None and len(saved) == len(current):
        return
    differ = (f"this model has {len(current)} layers" if i is None else
              f"this model's layer {i} is {current[i][0]} where the checkpoint has "
              f"{saved[i][0]}")
    raise CheckpointError(f"{path}: saved from a model with the {len(saved)} layers "
                          f"{', '.join(k[0] for k in saved)}; {differ}. Build the model as "
                          "the saved one was built (its activation, BN, sizes)")


def read_meta(path):
    """The metadata dict of the checkpoint at ``path``, without a model."""
    return _read(os.fspath(path))[1]


def _read(path):
    """({name: array}, metadata, layer kinds or None) of a checkpoint file, or a
    CheckpointError."""
    if os.path.isdir(path):
        raise CheckpointError(f"{path}: is a folder, not a checkpoint file")
    if not os.path.isfile(path):
        npz = f"{path}.npz" if not str(path).endswith(".npz") else None
        bare = str(path)[:-len(".npz")] if not npz else None     # save() adds no suffix
        raise CheckpointError(f"{path}: no such checkpoint file" + (
            f" ({npz} exists: give the whole name)" if npz and os.path.isfile(npz) else
            f" ({bare} exists: save() keeps the name it is given, without adding .npz)"
            if bare and os.path.isfile(bare) else ""))
    try:
        stored = _read_npz(path)
    except CheckpointError:
        raise
    except (OSError, ValueError, EOFError, KeyError, NotImplementedError, RuntimeError,
            struct.error, zipfile.BadZipFile, zlib.error) as e:
        raise CheckpointError(f"{path}: not a readable minidl checkpoint: damaged, cut short, "
                              f"or another kind of file ({e})") from None
    if "meta" not in stored:
        raise CheckpointError(f"{path}: not a minidl checkpoint (no 'meta' entry)")
    try:
        header = json.loads(str(stored.pop("meta")))
        if header.get("format") != FORMAT:
            raise ValueError(f"format {header.get('format')!r}")
        kinds = header.get("layers")
        if kinds is not None and not (isinstance(kinds, list) and all(
                isinstance(k, list) and k and all(isinstance(n, str) for n in k)
                for k in kinds)):
            raise ValueError(f"layers {kinds!r:.60}")
        return stored, dict(header["meta"]), kinds
    except (ValueError, TypeError, KeyError, AttributeError) as e:
        raise CheckpointError(f"{path}: unreadable metadata ({e}); expected {FORMAT}") from None


def _read_npz(path):
    """{name: array} from an .npz written by save(), like np.load(allow_pickle=False)
    but checking each array's header against the bytes actually stored before
    allocating anything, so a corrupt header cannot make it allocate gigabytes."""
    arrays = {}
    with zipfile.ZipFile(path) as zf:
        for info in zf.infolist():
            if not info.filename.endswith(".npy"):
                raise CheckpointError(f"{path}: unexpected member {info.filename!r}")
            if info.compress_type != zipfile.ZIP_STORED:
                raise CheckpointError(f"{path}: {info.filename} is compressed; minidl writes "
                                      "and reads uncompressed checkpoints (np.savez)")
            with zf.open(info) as f:
                version = np.lib.format.read_magic(f)
                if version == (1, 0):
                    shape, fortran, dtype = np.lib.format.read_array_header_1_0(f)
                elif version == (2, 0):
                    shape, fortran, dtype = np.lib.format.read_array_header_2_0(f)
                else:
                    raise CheckpointError(f"{path}: unsupported .npy version {version}")
                if dtype.hasobject:
                    raise CheckpointError(f"{path}: {info.filename} holds Python objects "
                                          "(pickle), which minidl never writes nor reads")
                nbytes = int(np.prod(shape, dtype=object)) * dtype.itemsize
                if nbytes > info.file_size:
                    raise CheckpointError(f"{path}: {info.filename} claims shape {shape} "
                                          f"({nbytes} bytes) but stores {info.file_size} bytes")
                data = f.read(nbytes)
                if len(data) != nbytes:
                    raise CheckpointError(f"{path}: {info.filename} is truncated")
                arrays[info.filename[:-4]] = np.frombuffer(bytearray(data), dtype).reshape(
                    shape, order="F" if fortran else "C")
    return arrays
