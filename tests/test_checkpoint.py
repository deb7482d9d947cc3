"""Checkpoints: exact round trip, clear errors, atomic writes, fuzzed input."""
import io
import json
import os
import re
import tempfile
import zipfile

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from minidl import Sequential, checkpoint
from minidl.errors import CheckpointError, DivergenceError, SettingError
from minidl.layers import BatchNorm, Dense, ReLU
from minidl.layers.base import Layer
from minidl.losses import SoftmaxCrossEntropy
from minidl.models import cnn, mlp
from minidl.optim import SGD


def assert_same_arrays(model, expected):
    """Every array a checkpoint of `model` holds equals `expected`'s."""
    got = checkpoint.arrays(model)
    for name, value in checkpoint.arrays(expected).items():
        np.testing.assert_array_equal(got[name], value, err_msg=name)


def trained(seed=0, hidden=(5, 4)):
    """A small BN MLP after two SGD steps (non-trivial momentum and BN statistics)."""
    model = mlp(6, list(hidden), 3, batchnorm=True, seed=seed)
    opt = SGD(model.parameters(), lr=0.1, momentum=0.9)
    rng = np.random.default_rng(seed)
    loss = SoftmaxCrossEntropy()
    for _ in range(2):
        loss.forward(model.forward(rng.standard_normal((8, 6)).astype(np.float32)),
                     rng.integers(0, 3, 8))
        model.backward(loss.backward())
        opt.step()
    return model, opt


def test_round_trip_restores_everything(tmp_path):
    model, opt = trained(0)
    path = tmp_path / "ck.npz"
    checkpoint.save(model, path, opt, meta={"step": 2, "note": "hello"})
    fresh, fresh_opt = trained(1)
    meta = checkpoint.load(fresh, path, fresh_opt)
    assert meta == {"step": 2, "note": "hello"}
    for p, q in zip(model.parameters(), fresh.parameters()):
        np.testing.assert_array_equal(p.value, q.value)
        assert q.value.dtype == np.float32
    for k, v in model.state().items():
        np.testing.assert_array_equal(v, fresh.state()[k])
    for k, v in opt.state().items():
        np.testing.assert_array_equal(v, fresh_opt.state()[k])


@pytest.mark.parametrize("where", ["param", "velocity", "state"])
def test_a_nan_array_is_not_saved_over_a_good_checkpoint(tmp_path, where):
    """save() wrote it, replacing the good file, and load() then refused it: a
    training loop of one's own that diverged lost its last good checkpoint."""
    model = mlp(4, [3], 2, batchnorm=True, seed=0)
    opt = SGD(model.parameters(), lr=0.1, momentum=0.9)
    path = tmp_path / "good.npz"
    checkpoint.save(model, path, opt)
    good = path.read_bytes()
    bad = {"param": model[0].params["W"], "velocity": opt.velocity["0.W"],
           "state": model[1].running_var}[where]
    bad[0] = np.inf if where == "state" else np.nan
    with pytest.raises(DivergenceError, match=f"checkpoint.save: .* is NaN or infinite .*"
                                               f"{re.escape(str(path))} was not written"):
        checkpoint.save(model, path, opt)
    assert path.read_bytes() == good and os.listdir(tmp_path) == ["good.npz"]
    checkpoint.load(mlp(4, [3], 2, batchnorm=True, seed=1), path)    # still loads


def test_a_file_in_the_way_of_the_folder_is_named_and_missing_folders_are_made(tmp_path):
    """Saving under a path whose folder is a file said only "[Errno 17] File exists"."""
    model = mlp(4, [3], 2, seed=0)
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(NotADirectoryError, match=r"notes.txt is a file, not a folder, so "
                                                 r"nothing can be written inside it"):
        checkpoint.save(model, tmp_path / "notes.txt" / "run" / "a.npz")
    assert (tmp_path / "notes.txt").read_text() == "mine"
    checkpoint.save(model, tmp_path / "new" / "run" / "a.npz")       # made on the way
    checkpoint.load(mlp(4, [3], 2, seed=1), tmp_path / "new" / "run" / "a.npz")


def test_cnn_round_trip(tmp_path):
    model = cnn(batchnorm=True, seed=0)
    model.layers[1].running_mean[:] = 3.0
    checkpoint.save(model, tmp_path / "c.npz")
    other = cnn(batchnorm=True, seed=1)
    checkpoint.load(other, tmp_path / "c.npz")
    np.testing.assert_array_equal(other.layers[1].running_mean, 3.0)
    np.testing.assert_array_equal(other.layers[0].params["W"], model.layers[0].params["W"])


@pytest.mark.parametrize("saved, loaded", [(np.float64, np.float32), (np.float32, np.float64)])
def test_a_checkpoint_of_another_precision_is_refused(tmp_path, saved, loaded):
    """It used to be rounded (or widened) silently into the model's dtype."""
    model, opt = trained(0)
    model.astype(saved)
    checkpoint.save(model, tmp_path / "ck.npz")
    other = trained(1)[0].astype(loaded)
    before = [p.value.copy() for p in other.parameters()]
    with pytest.raises(CheckpointError, match=f"is {np.dtype(saved)}, the model's is "
                                              f"{np.dtype(loaded)}; convert the model first"):
        checkpoint.load(other, tmp_path / "ck.npz")
    for p, value in zip(other.parameters(), before):
        np.testing.assert_array_equal(p.value, value)
    checkpoint.load(other.astype(saved), tmp_path / "ck.npz")   # after the conversion it loads
    for p, q in zip(model.parameters(), other.parameters()):
        np.testing.assert_array_equal(p.value, q.value)


def test_integer_weights_are_refused_but_any_integer_count_is_taken(tmp_path):
    """BN's num_batches is np.array(int): int32 on Windows with NumPy 1.x."""
    model, opt = trained(0)
    arrays = checkpoint.arrays(model)
    arrays["meta"] = np.array('{"format": "minidl-checkpoint-1", "meta": {}}')
    counter = next(k for k in arrays if k.endswith("num_batches"))
    np.savez(tmp_path / "int32.npz", **{**arrays, counter: arrays[counter].astype(np.int32)})
    checkpoint.load(trained(1)[0], tmp_path / "int32.npz")
    np.savez(tmp_path / "intw.npz", **{**arrays, "param/0.W": np.ones((6, 5), np.int64)})
    with pytest.raises(CheckpointError, match=r"'param/0.W' is int64, the model's is float32$"):
        checkpoint.load(trained(1)[0], tmp_path / "intw.npz")


def test_a_compressed_file_and_a_folder_are_named_as_such(tmp_path):
    model, _ = trained(0)
    arrays = {f"param/{p.name}": p.value for p in model.parameters()}
    np.savez_compressed(tmp_path / "small.npz", **arrays)
    with pytest.raises(CheckpointError, match=r"is compressed; minidl writes and reads "
                                              r"uncompressed checkpoints"):
        checkpoint.load(model, tmp_path / "small.npz")
    (tmp_path / "run.npz").mkdir()
    with pytest.raises(CheckpointError, match=r"run.npz: is a folder, not a checkpoint file"):
        checkpoint.load(model, tmp_path / "run.npz")


def test_model_only_load_of_a_training_checkpoint(tmp_path):
    model, opt = trained(0)
    checkpoint.save(model, tmp_path / "ck.npz", opt)
    other = trained(1)[0]
    checkpoint.load(other, tmp_path / "ck.npz")               # optimizer state ignored
    assert_same_arrays(other, model)


def test_shape_mismatch_names_the_array(tmp_path):
    model, opt = trained(0)
    checkpoint.save(model, tmp_path / "ck.npz", opt)
    other, other_opt = trained(0, hidden=(7, 4))
    before = other.parameters()[0].value.copy()
    with pytest.raises(CheckpointError, match=r"'param/0.W' has shape \(6, 5\).*expects \(6, 7\)"):
        checkpoint.load(other, tmp_path / "ck.npz", other_opt)
    np.testing.assert_array_equal(other.parameters()[0].value, before)   # nothing changed


def test_missing_and_unexpected_entries(tmp_path):
    model, _ = trained(0)
    checkpoint.save(model, tmp_path / "ck.npz")
    with pytest.raises(CheckpointError, match="missing 'optim/velocity.0.W'"):
        checkpoint.load(model, tmp_path / "ck.npz", SGD(model.parameters(), lr=0.1, momentum=0.9))
    checkpoint.save(Sequential(Dense(6, 3, bias=False, rng=0)), tmp_path / "nobias.npz")
    with pytest.raises(CheckpointError, match=r"missing 'param/0.b' \(shape \(3,\)\); was it "
                                              r"saved from a different model\?$"):
        checkpoint.load(Sequential(Dense(6, 3, rng=0)), tmp_path / "nobias.npz")
    checkpoint.save(Sequential(Dense(6, 3, rng=0)), tmp_path / "bias.npz")
    with pytest.raises(CheckpointError, match="saved from a different model"):
        checkpoint.load(Sequential(Dense(6, 3, bias=False, rng=0)), tmp_path / "bias.npz")


NAMES = {"relu": "ReLU", "sigmoid": "Sigmoid", "tanh": "Tanh"}


@pytest.mark.parametrize("saved, loaded", [("sigmoid", "relu"), ("tanh", "sigmoid")])
def test_a_model_with_other_layers_is_refused_even_when_every_array_fits(tmp_path, saved,
                                                                           loaded):
    """A sigmoid net loaded into mlp(...) built with the default ReLU used to load
    without a word (the same arrays) and score 42.55% instead of 98.09% on MNIST."""
    checkpoint.save(mlp(6, [5, 4], 3, saved, batchnorm=True, seed=1), tmp_path / "ck.npz")
    model = mlp(6, [5, 4], 3, loaded, batchnorm=True, seed=0)
    before = [p.value.copy() for p in model.parameters()]
    with pytest.raises(CheckpointError, match=rf"layer 2 is {NAMES[loaded]} where the checkpoint "
                                              rf"has {NAMES[saved]}\. Build the model as"):
        checkpoint.load(model, tmp_path / "ck.npz")
    for p, b in zip(model.parameters(), before):          # nothing changed
        np.testing.assert_array_equal(p.value, b)


def test_other_layers_are_named_before_the_arrays_that_differ(tmp_path):
    checkpoint.save(mlp(6, [5, 4], 3, batchnorm=True), tmp_path / "ck.npz")
    with pytest.raises(CheckpointError, match="layer 1 is ReLU where the checkpoint has BatchNorm"):
        checkpoint.load(mlp(6, [5, 4], 3, batchnorm=False), tmp_path / "ck.npz")
    with pytest.raises(CheckpointError, match=r"the 7 layers Dense, BatchNorm, ReLU, Dense, "
                                              r"BatchNorm, ReLU, Dense; this model has 4 layers"):
        checkpoint.load(mlp(6, [5], 3, batchnorm=True), tmp_path / "ck.npz")


def test_a_subclass_of_a_layer_loads_its_checkpoint_both_ways(tmp_path):
    """Exercise 4's NoBesselBatchNorm(BatchNorm) has BatchNorm's arrays: its kind is
    BatchNorm, so checkpoints move between the two."""
    class NoBesselBatchNorm(BatchNorm):
        pass

    def model(bn):
        return Sequential(Dense(6, 4, bias=False, rng=0), bn(4), Dense(4, 2, rng=1))

    def stepped(bn):
        net = model(bn)
        net.forward(np.random.default_rng(0).normal(size=(8, 6)).astype(np.float32))
        net[0].params["W"][...] += 1.0
        return net

    for saved, loaded in ((BatchNorm, NoBesselBatchNorm), (NoBesselBatchNorm, BatchNorm)):
        net = stepped(saved)
        checkpoint.save(net, tmp_path / "bn.npz")
        other = model(loaded)
        checkpoint.load(other, tmp_path / "bn.npz")
        assert_same_arrays(other, net)


def test_two_new_layers_of_a_student_are_told_apart(tmp_path):
    """Both subclass Layer only: a check of the first minidl class alone ("Layer")
    would load one's checkpoint into the other."""
    class Swish(ReLU):
        pass

    class Gelu(ReLU):
        pass

    class Square(Layer):
        def forward(self, x):
            self._save(x)
            return x * x

    def model(act):
        return Sequential(Dense(6, 4, rng=0), act(), Dense(4, 2, rng=1))

    checkpoint.save(model(Swish), tmp_path / "swish.npz")
    with pytest.raises(CheckpointError, match="layer 1 is Gelu where the checkpoint has Swish"):
        checkpoint.load(model(Gelu), tmp_path / "swish.npz")
    checkpoint.load(model(ReLU), tmp_path / "swish.npz")     # Swish derives from ReLU
    checkpoint.save(model(Square), tmp_path / "square.npz")
    with pytest.raises(CheckpointError, match="layer 1 is ReLU where the checkpoint has Square"):
        checkpoint.load(model(ReLU), tmp_path / "square.npz")


def test_a_checkpoint_without_its_layers_recorded_still_loads(tmp_path):
    """Checkpoints written before the layer kinds were recorded have no "layers"."""
    model = mlp(6, [5], 3, activation="sigmoid", seed=1)
    contents = {k: v.copy() for k, v in checkpoint.arrays(model).items()}
    contents["meta"] = np.array(json.dumps({"format": checkpoint.FORMAT, "meta": {"step": 3}}))
    np.savez(tmp_path / "old.npz", **contents)
    fresh = mlp(6, [5], 3, activation="relu", seed=0)          # not checked: nothing to check
    assert checkpoint.load(fresh, tmp_path / "old.npz") == {"step": 3}
    np.testing.assert_array_equal(fresh.parameters()[0].value, model.parameters()[0].value)


def test_an_optimizer_without_momentum_is_told_apart_from_another_model(tmp_path):
    model, opt = trained(0)
    checkpoint.save(model, tmp_path / "ck.npz", opt)
    with pytest.raises(CheckpointError, match=r"optim/velocity.*momentum buffers.*same "
                                              r"optimizer settings") as info:
        checkpoint.load(model, tmp_path / "ck.npz", SGD(model.parameters(), lr=0.1))
    assert "different model" not in str(info.value)


def test_a_name_without_npz_is_helped_and_a_checkpoint_under_another_format_refused(tmp_path):
    """load("ck") with ck.npz there said only "no such checkpoint file"; save wrote an npz
    archive under history.json, where a reader of JSON then failed."""
    model, _ = trained(0)
    checkpoint.save(model, tmp_path / "ck.npz")
    with pytest.raises(CheckpointError, match=r"ck: no such checkpoint file \(.*ck.npz exists: "
                                              r"give the whole name\)"):
        checkpoint.load(model, tmp_path / "ck")
    for name in ("history.json", "ckpt.pt"):
        with pytest.raises(SettingError, match=r"ends in .\w+, but a checkpoint is an .npz"):
            checkpoint.save(model, tmp_path / name)
    checkpoint.save(model, tmp_path / "upper.NPZ")          # any case
    (tmp_path / "upper.NPZ").unlink()
    checkpoint.save(model, tmp_path / "run_lr0.5")          # a dot in the name: fine
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ck.npz", "run_lr0.5"]


def test_not_a_checkpoint(tmp_path):
    model, _ = trained(0)
    with pytest.raises(CheckpointError, match="no such checkpoint"):
        checkpoint.load(model, tmp_path / "absent.npz")
    (tmp_path / "text.npz").write_text("hello")
    with pytest.raises(CheckpointError, match="not a readable"):
        checkpoint.load(model, tmp_path / "text.npz")
    np.savez(tmp_path / "plain.npz", a=np.ones(3))
    with pytest.raises(CheckpointError, match="no 'meta'"):
        checkpoint.load(model, tmp_path / "plain.npz")


def test_pickled_objects_are_refused(tmp_path):
    model, _ = trained(0)
    np.savez(tmp_path / "evil.npz", meta=np.array([{"a": 1}], dtype=object))
    with pytest.raises(CheckpointError, match="pickle"):
        checkpoint.load(model, tmp_path / "evil.npz")


def test_failed_save_keeps_the_previous_file(tmp_path, monkeypatch):
    model, opt = trained(0)
    path = tmp_path / "ck.npz"
    checkpoint.save(model, path, opt, meta={"step": 1})
    good = path.read_bytes()

    def broken(*args, **kwargs):
        raise OSError("disk full")
    monkeypatch.setattr(np, "savez", broken)
    with pytest.raises(OSError, match="disk full"):
        checkpoint.save(model, path, opt, meta={"step": 2})
    assert path.read_bytes() == good
    assert os.listdir(tmp_path) == ["ck.npz"]            # no temporary file left behind


def _valid_bytes():
    model, opt = trained(0)
    buf = io.BytesIO()
    with tempfile.TemporaryDirectory() as folder:      # not one fixed name: two runs at once
        path = os.path.join(folder, "base.npz")
        checkpoint.save(model, path, opt, meta={"step": 3})
        with open(path, "rb") as f:
            buf.write(f.read())
    return buf.getvalue()


VALID = _valid_bytes()
FUZZ = settings(max_examples=150, deadline=None,    # a busy 2-core machine: no time limit
               suppress_health_check=[HealthCheck.function_scoped_fixture])


def _load_bytes(tmp_path, data):
    path = tmp_path / "fuzz.npz"
    path.write_bytes(data)
    model, opt = trained(0)
    try:
        checkpoint.load(model, path, opt)
    except CheckpointError:
        pass


@FUZZ
@given(st.binary(max_size=2000))
def test_fuzz_random_bytes(tmp_path, data):
    _load_bytes(tmp_path, data)


@FUZZ
@given(st.integers(0, len(VALID) - 1))
def test_fuzz_truncations(tmp_path, n):
    _load_bytes(tmp_path, VALID[:n])


@FUZZ
@given(st.lists(st.tuples(st.integers(0, len(VALID) - 1), st.integers(0, 255)), min_size=1, max_size=8))
def test_fuzz_altered_bytes(tmp_path, edits):
    data = bytearray(VALID)
    for i, b in edits:
        data[i] = b
    _load_bytes(tmp_path, bytes(data))


def test_huge_claimed_shape_is_refused_before_allocating(tmp_path):
    """An .npy header claiming a huge array in a small file fails without allocating."""
    with zipfile.ZipFile(tmp_path / "huge.npz", "w") as zf:
        header = io.BytesIO()
        np.lib.format.write_array_header_1_0(header, {"descr": "<f8", "fortran_order": False,
                                                      "shape": (10**6, 10**6)})
        zf.writestr("meta.npy", header.getvalue() + b"\0" * 64)
    with pytest.raises(CheckpointError, match="claims shape"):
        checkpoint.load(trained(0)[0], tmp_path / "huge.npz")


def test_atomic_path_keeps_the_old_file_on_error(tmp_path):
    """Checkpoints, histories and plots are all written through atomic_path."""
    from minidl.files import atomic_path
    target = tmp_path / "out.txt"
    target.write_text("old")
    with pytest.raises(KeyboardInterrupt):
        with atomic_path(target) as tmp, open(tmp, "w") as f:
            f.write("half")
            raise KeyboardInterrupt
    assert target.read_text() == "old" and os.listdir(tmp_path) == ["out.txt"]
    with atomic_path(target) as tmp, open(tmp, "w") as f:
        f.write("new")
    assert target.read_text() == "new" and os.listdir(tmp_path) == ["out.txt"]


def test_atomic_path_names_the_file_a_write_failed_on(tmp_path, monkeypatch):
    """A full disk gave "[Errno 28] No space left on device" alone, and a folder we
    may not write into a PermissionError naming our hidden temporary file; and a
    file on a read-only file system was said to be read-only, to chmod."""
    from minidl.files import atomic_path
    target = tmp_path / "out.txt"
    target.write_text("old")
    with pytest.raises(OSError, match=r"No space left on device") as e:
        with atomic_path(target) as tmp, open(tmp, "w") as f:
            f.write("half")
            raise OSError(28, "No space left on device")
    assert e.value.errno == 28 and e.value.filename == str(target)
    assert target.read_text() == "old" and os.listdir(tmp_path) == ["out.txt"]
    from urllib.error import URLError
    for error in (OSError("the server sent no data"), URLError("Connection refused"),
                  TimeoutError("timed out")):      # a download's errors: not the file's
        with pytest.raises(type(error)) as e:
            with atomic_path(target):
                raise error
        assert e.value is error
    real_open = os.open
    monkeypatch.setattr(os, "open", lambda path, *a: (_ for _ in ()).throw(
        PermissionError(13, "Permission denied", path)) if ".tmp-" in path else
        real_open(path, *a))
    with pytest.raises(PermissionError, match=r"no new file can be made in this folder "
                                              r"\(minidl writes each file under a temporary "
                                              r"name there first") as e:
        with atomic_path(target):
            pass
    assert e.value.filename == str(tmp_path)
    monkeypatch.setattr(os, "open", real_open)
    monkeypatch.setattr(os, "access", lambda p, mode: False)
    monkeypatch.setattr(os, "statvfs", lambda p: type("Stat", (), {"f_flag": os.ST_RDONLY}))
    with pytest.raises(OSError, match=r"Read-only file system: nothing on it can be written; "
                                      r"choose a folder elsewhere") as e:
        with atomic_path(target):
            pass
    assert e.value.errno == 30 and target.read_text() == "old"
    monkeypatch.delattr(os, "statvfs")              # Windows has none: the file's mode
    with pytest.raises(PermissionError, match=r"the file is read-only"):
        with atomic_path(target):
            pass


def test_atomic_path_gives_the_permissions_open_would(tmp_path):
    """Not mkstemp's private 0600: MNIST downloaded into a shared folder must stay
    readable for everyone; a file that is replaced keeps its permissions."""
    from minidl.files import atomic_path
    old_umask = os.umask(0o022)
    try:
        with atomic_path(tmp_path / "new.json") as tmp, open(tmp, "w") as f:
            f.write("{}")
        assert oct(os.stat(tmp_path / "new.json").st_mode & 0o777) == oct(0o644)
        os.chmod(tmp_path / "new.json", 0o640)
        with atomic_path(tmp_path / "new.json") as tmp, open(tmp, "w") as f:
            f.write("[]")
        assert oct(os.stat(tmp_path / "new.json").st_mode & 0o777) == oct(0o640)
        os.umask(0o077)
        model, _ = trained(0)
        checkpoint.save(model, tmp_path / "private.npz")
        assert oct(os.stat(tmp_path / "private.npz").st_mode & 0o777) == oct(0o600)
    finally:
        os.umask(old_umask)


def test_atomic_path_writes_through_a_symlink_and_keeps_it(tmp_path):
    """Saving to latest.npz -> run3.npz used to replace the link by a file and leave
    run3.npz as it was."""
    from minidl.files import atomic_path
    (tmp_path / "target.json").write_text("old")
    try:
        os.symlink("target.json", tmp_path / "link.json")
    except OSError:                                 # Windows without the right to make links
        pytest.skip("cannot create a symbolic link here")
    with atomic_path(tmp_path / "link.json") as tmp, open(tmp, "w") as f:
        f.write("new")
    assert os.path.islink(tmp_path / "link.json")
    assert (tmp_path / "target.json").read_text() == "new"
    assert sorted(os.listdir(tmp_path)) == ["link.json", "target.json"]


def test_atomic_path_refuses_a_file_open_could_not_write(tmp_path, monkeypatch):
    """A result made read-only (chmod 444) used to be replaced, since a rename needs
    only the folder's permission. os.access is faked: root may write any file."""
    from minidl.files import atomic_path
    target = tmp_path / "results.json"
    target.write_text("keep me")
    real_access = os.access
    real = os.path.realpath(target)
    monkeypatch.setattr(os, "access", lambda p, mode: False if os.path.realpath(p) == real
                        else real_access(p, mode))
    with pytest.raises(PermissionError, match="read-only") as e:
        with atomic_path(target) as tmp, open(tmp, "w") as f:
            f.write("overwritten")
    assert e.value.filename == real
    assert target.read_text() == "keep me" and os.listdir(tmp_path) == ["results.json"]


def test_atomic_path_refuses_a_read_only_file(tmp_path, monkeypatch):
    """Also as root (in Docker, on Colab), to whom os.access says every file is
    writable: a chmod 444 result was replaced there (by its mode bits now). os.access
    is faked to answer as it does to root, so that a run as another user tests it too."""
    from minidl.files import atomic_path
    target = tmp_path / "results.json"
    target.write_text("keep me")
    os.chmod(target, 0o444)
    monkeypatch.setattr(os, "access", lambda path, mode: True)
    with pytest.raises(PermissionError):
        with atomic_path(target) as tmp, open(tmp, "w") as f:
            f.write("overwritten")
    assert target.read_text() == "keep me"


def _saved_with(path, meta):
    """Save with a bad meta into a folder holding a good checkpoint: the error's text,
    after checking the good file's bytes are unchanged and no temporary file is left."""
    model, _ = trained(0)
    checkpoint.save(model, path, meta={"step": 1})
    good = path.read_bytes()
    with pytest.raises(SettingError) as e:
        checkpoint.save(model, path, meta=meta)
    assert path.read_bytes() == good and os.listdir(path.parent) == [path.name]
    assert checkpoint.read_meta(path) == {"step": 1}
    return str(e.value)


@pytest.mark.parametrize("meta", ["run 1", ["note"], (("lr", 0.1),)])
def test_a_meta_that_is_not_a_dict_is_refused_before_the_file_is_touched(tmp_path, meta):
    """It was saved, replacing a good checkpoint by one load() could never read."""
    text = _saved_with(tmp_path / "ck.npz", meta)
    assert text.startswith(f"checkpoint.save: meta must be a dict such as {{'step': 100}}, "
                           f"got {type(meta).__name__} ")


@pytest.mark.parametrize("meta, named", [
    ({"x": [1, np.arange(3)]}, r"meta\['x'\]\[1\] is ndarray array\(\[0, 1, 2\]\); expected str"
                               r".*\(for an array, \.tolist\(\)\)$"),
    ({"h": {"when": object()}}, r"meta\['h'\]\['when'\] is object <object .*; expected str"),
    ({"by_step": {100: 0.5}}, r"meta\['by_step'\] has the key 100; expected str keys"),
])
def test_a_meta_value_json_cannot_store_is_named(tmp_path, meta, named):
    """It was json's TypeError, naming neither the key nor checkpoint.save (an int
    key was stored as a str: {100: 0.5} came back as {'100': 0.5})."""
    assert re.search(named, _saved_with(tmp_path / "ck.npz", meta))


def test_numpy_scalars_in_meta_are_stored_as_python_numbers(tmp_path):
    """A loss of type np.float32 in the metadata used to fail json.dumps."""
    model, _ = trained(0)
    checkpoint.save(model, tmp_path / "ck.npz", meta={"loss": np.float32(0.5), "step":
                                                      np.int64(3), "ok": np.bool_(True)})
    meta = checkpoint.read_meta(tmp_path / "ck.npz")
    assert meta == {"loss": 0.5, "step": 3, "ok": True}
    assert [type(v) for v in meta.values()] == [float, int, bool]


def test_saving_to_a_folder_is_refused_naming_it(tmp_path):
    """Checkpoints, histories and plots (all through atomic_path) failed with an
    error naming a hidden temporary file: '.tmp-4b22ac1d7f95.npz' -> 'ckdir'."""
    from minidl.files import atomic_path
    from minidl.history import History
    folder = tmp_path / "runs"
    folder.mkdir()
    (folder / "old.npz").write_bytes(b"kept")

    def write_file():
        with atomic_path(folder) as tmp, open(tmp, "w") as f:
            f.write("new")
    saves = [write_file, lambda: checkpoint.save(trained(0)[0], folder),
             lambda: History().to_json(folder), lambda: History().to_csv(folder)]
    for save in saves:
        with pytest.raises(IsADirectoryError, match=r"Is a folder; expected the name of a "
                                                    r"file to write") as e:
            save()
        assert e.value.filename == os.path.realpath(folder)
    assert os.listdir(folder) == ["old.npz"] and (folder / "old.npz").read_bytes() == b"kept"
    assert os.listdir(tmp_path) == ["runs"]             # no temporary file left behind


def test_arguments_in_the_wrong_order_or_of_the_wrong_kind_are_named(tmp_path):
    """save(path, model) and load(path, model) failed inside os.fspath or with
    "'str' object has no attribute 'parameters'"; save(optimizer, ...) likewise."""
    model = mlp(4, [3], 2, seed=0)
    path = tmp_path / "m.npz"
    with pytest.raises(SettingError, match=r"checkpoint.save\(model, path, optimizer=None\): "
                                           r"model must be a model or layer, got PosixPath.*"
                                           r"\(model and path swapped\?\)"):
        checkpoint.save(path, model)                     # says: model and path swapped?
    with pytest.raises(SettingError, match=r"checkpoint.load\(model, path, optimizer=None\): "
                                           r"model must be a model or layer, got str"):
        checkpoint.load(str(path), model)
    with pytest.raises(SettingError, match=r"model must be a model or layer, got SGD"):
        checkpoint.save(SGD(model.parameters(), lr=0.1), path)
    with pytest.raises(SettingError, match=r"optimizer must be an optimizer such as SGD, got dict"):
        checkpoint.save(model, path, {"lr": 0.1})
    with pytest.raises(SettingError, match=r"model must be a model or layer, got the class "
                                           r"Sequential, not an instance \(write Sequential"):
        checkpoint.save(Sequential, path)              # failed on a missing 'self'
    with pytest.raises(SettingError, match=r"optimizer must be an optimizer such as SGD, got "
                                           r"the class SGD, not an instance \(write SGD\(...\)\)"):
        checkpoint.save(model, path, SGD)
    with pytest.raises(SettingError, match=r"model must be a model or layer, got the class SGD$"):
        checkpoint.save(SGD, path)                     # a class, but not of a model: no advice
    assert not path.exists()


class Center(Layer):
    """A student's layer with statistics of its own (docs/layers.md, "State that is
    not learned"), with the set_state variants the tests below swap in."""

    def __init__(self, n=3):
        super().__init__()
        self.mean, self.count = np.zeros(n, np.float32), 0

    def forward(self, x):
        if self.training:
            self.count += 1
            self.mean += (x.mean(axis=0) - self.mean) / self.count
        self._save(x.shape)
        return x - self.mean

    def backward(self, dy):
        self._saved()
        return dy.copy()

    def state(self):
        return {"mean": self.mean, "count": np.array(self.count)}

    def set_state(self, state):
        self.mean, self.count = state["mean"], int(state["count"])   # keeps the array as given


def test_loaded_arrays_can_be_kept_and_updated(tmp_path):
    """They were read-only views of the file's bytes: a set_state that kept one failed at
    the next training step with "output array is read-only"."""
    x = np.ones((4, 3), np.float32)
    model = Sequential(Dense(3, 3, rng=0), Center())
    model.forward(x)
    checkpoint.save(model, tmp_path / "c.npz")
    fresh = Sequential(Dense(3, 3, rng=1), Center())
    checkpoint.load(fresh, tmp_path / "c.npz")
    fresh.forward(x)
    assert fresh[1].count == 2


def test_a_layer_whose_state_cannot_be_taken_back_is_refused(tmp_path):
    """Without set_state a checkpoint loaded the parameters and silently left the
    statistics as they were, and astype left them float32."""
    class NoSetState(Center):
        set_state = Layer.set_state

    checkpoint.save(Sequential(Dense(3, 3, rng=0), Center()), tmp_path / "c.npz")
    saved = (tmp_path / "c.npz").read_bytes()
    model = Sequential(Dense(3, 3, rng=0), NoSetState())
    message = r"layer 1: NoSetState\(\) gives 'mean', 'count' in state\(\) but has no set_state"
    for act in (lambda: checkpoint.save(model, tmp_path / "c.npz"),
                lambda: checkpoint.load(model, tmp_path / "c.npz"),
                lambda: model.astype(np.float64)):
        with pytest.raises(SettingError, match=message):
            act()
    assert (tmp_path / "c.npz").read_bytes() == saved
    assert model[0].params["W"].dtype == np.float32          # nothing converted

    with pytest.raises(SettingError, match=r"^astype: NoSetState\(\) gives 'mean'"):
        NoSetState().astype(np.float64)                       # a layer on its own too

    class CountAsInt(Center):
        def state(self):
            return {"mean": self.mean, "count": self.count}
    model = Sequential(Dense(3, 3, rng=0), CountAsInt())
    message = r"CountAsInt\(\)\.state\(\)\['count'\] is an int; state\(\) must give NumPy arrays"
    for act in (lambda: checkpoint.save(model, tmp_path / "c.npz"),
                lambda: model.astype(np.float64)):
        with pytest.raises(SettingError, match=message):
            act()


def test_a_duck_typed_model_still_saves(tmp_path):
    """An object with parameters() and state() but no set_state (not a minidl Layer)
    crashed with AttributeError once state() was checked."""
    class Duck:
        def parameters(self):
            return []

        def state(self):
            return {"s": np.zeros(2, np.float32)}
    with pytest.raises(SettingError, match=r"has no set_state to take them back"):
        checkpoint.save(Duck(), tmp_path / "d.npz")


def test_a_trainer_that_checkpoints_refuses_state_it_cannot_save_at_once(tmp_path):
    """It was refused at the first checkpoint, an epoch into the run."""
    from minidl.data import DataLoader
    from minidl.train import Trainer

    class NoSetState(Center):
        set_state = Layer.set_state
    model = Sequential(Dense(3, 3, rng=0), NoSetState(), Dense(3, 2, rng=1))
    x, y = np.ones((40, 3), np.float32), np.zeros(40, np.int64)
    opt = SGD(model.parameters(), lr=0.1)
    with pytest.raises(SettingError, match=r"^Trainer\(checkpoint=\.\.\.\): layer 1: NoSetState"):
        Trainer(model, SoftmaxCrossEntropy(), opt, DataLoader(x, y, 20),
                checkpoint=str(tmp_path / "c.npz"))

    class Duck:                            # a model of one's own: trains, cannot be saved
        def __init__(self):
            self.inner = Sequential(Dense(3, 2, rng=0))

        def __getattr__(self, name):
            if name in ("state", "set_state"):
                raise AttributeError(name)
            return getattr(self.inner, name)
    duck = Duck()
    with pytest.raises(SettingError, match=r"^Trainer: checkpoint= needs a model with state\(\) "
                                           r"and set_state\(\)"):
        Trainer(duck, SoftmaxCrossEntropy(), SGD(duck.parameters(), lr=0.1),
                DataLoader(x, y, 20), checkpoint=str(tmp_path / "c.npz"))


def test_the_optimizer_of_another_model_is_refused(tmp_path):
    """load(model_c, path, optimizer_of_model_b) wrote the momentum buffers into the other
    model's optimizer without a word; save would have stored that model's buffers."""
    a, b = mlp(4, [3], 2, seed=0), mlp(4, [3], 2, seed=1)
    opt_a, opt_b = (SGD(m.parameters(), lr=0.1, momentum=0.9) for m in (a, b))
    checkpoint.save(a, tmp_path / "a.npz", opt_a)
    for call in (lambda: checkpoint.save(a, tmp_path / "b.npz", opt_b),
                 lambda: checkpoint.load(a, tmp_path / "a.npz", opt_b)):
        with pytest.raises(SettingError, match=r"the optimizer updates parameters that are not "
                                               r"this model's"):
            call()
    assert not (tmp_path / "b.npz").exists()
    checkpoint.load(a, tmp_path / "a.npz", opt_a)             # its own: fine


def test_a_checkpoint_saved_without_a_suffix_is_pointed_to_when_loaded_with_one(tmp_path):
    """save(model, "bn2") writes bn2, as given; load(model, "bn2.npz") said only "no such
    checkpoint file"."""
    model = mlp(4, [3], 2, seed=0)
    checkpoint.save(model, tmp_path / "bn2")
    with pytest.raises(CheckpointError, match=r"bn2.npz: no such checkpoint file \(.*bn2 exists: "
                                              r"save\(\) keeps the name it is given"):
        checkpoint.load(model, tmp_path / "bn2.npz")
    checkpoint.load(model, tmp_path / "bn2")


def test_a_checkpoint_of_other_widths_says_to_build_the_model_as_it_was():
    model, wider = mlp(4, [3], 2, seed=0), mlp(4, [5], 2, seed=0)
    path = os.path.join(tempfile.mkdtemp(), "m.npz")
    checkpoint.save(model, path)
    with pytest.raises(CheckpointError, match=r"'param/0.W' has shape \(4, 3\), the model "
                                              r"expects \(4, 5\); build the model as the "
                                              r"saved one was built \(its layer sizes\)"):
        checkpoint.load(wider, path)
