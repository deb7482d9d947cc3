"""read_idx, load_mnist (local files, downloads from a local HTTP server) and
the real MNIST files."""

import gc
import gzip
import hashlib
import http.server
import io
import os
import re
import threading
import time
import warnings
from pathlib import Path

import numpy as np
import pytest

from conftest import mnist_root, skip_without_data
from minidl.data import MNIST_FILES, load_mnist, md5_decompressed, read_idx
from minidl.data import mnist as mnist_module
from minidl.errors import ChecksumError, DataNotFoundError, IDXFormatError, SettingError
from minidl.files import _new_file

CODES = {np.uint8: 0x08, np.int8: 0x09, np.int16: 0x0B, np.int32: 0x0C,
         np.float32: 0x0D, np.float64: 0x0E}


def idx_bytes(array):
    """Encode an array as IDX bytes (big-endian)."""
    array = np.asarray(array)
    header = bytes([0, 0, CODES[array.dtype.type], array.ndim])
    dims = np.array(array.shape, dtype=">u4").tobytes()
    return header + dims + array.astype(array.dtype.newbyteorder(">")).tobytes()


# ---------------------------------------------------------------- read_idx

@pytest.mark.parametrize("dtype", list(CODES))
@pytest.mark.parametrize("form", ["raw", "gz", "gzip-without-.gz-name"])
def test_read_idx_round_trip(tmp_path, dtype, form):
    rng = np.random.default_rng(0)
    array = (rng.standard_normal((3, 4, 5)) * 100).astype(dtype)
    data = idx_bytes(array)
    name = "a.idx.gz" if form == "gz" else "a.idx"
    (tmp_path / name).write_bytes(data if form == "raw" else gzip.compress(data))
    got, md5 = read_idx(tmp_path / name, return_md5=True)
    assert got.dtype == np.dtype(dtype) and got.dtype.isnative
    np.testing.assert_array_equal(got, array)
    assert md5 == hashlib.md5(data).hexdigest() == md5_decompressed(tmp_path / name)


def test_read_idx_1d_and_empty(tmp_path):
    (tmp_path / "a").write_bytes(idx_bytes(np.arange(7, dtype=np.uint8)))
    np.testing.assert_array_equal(read_idx(tmp_path / "a"), np.arange(7))
    (tmp_path / "b").write_bytes(idx_bytes(np.zeros((0, 3), np.int32)))
    assert read_idx(tmp_path / "b").shape == (0, 3)


GOOD = idx_bytes(np.arange(6, dtype=np.int16).reshape(2, 3))  # 4 + 8 + 12 bytes


@pytest.mark.parametrize("data, message", [
    (b"\x00\x00", "truncated header: expected 4 bytes, got 2"),
    (b"\x01" + GOOD[1:],
     r"bad magic number: expected first two bytes 00 00 \(IDX\) or 1f 8b \(gzip\), got 01 00"),
    (GOOD[:2] + b"\x07" + GOOD[3:], "unknown dtype code 0x07"),
    (GOOD[:3] + b"\x00" + GOOD[4:], "expected 1..32, got 0"),
    (GOOD[:7], "truncated header: 2 dims need 8 bytes, got 3"),
    (GOOD[:-1], r"shape \(2, 3\) of int16, i.e. 12 payload bytes, but the file holds only 11"),
    (GOOD + b"\x00", "trailing bytes"),
    (GOOD[:4] + b"\x7f\xff\xff\xff" * 2 + GOOD[12:], "more than a [0-9]+-byte file can hold"),
    (bytes([0, 0, 8, 3]) + np.array([0, 2**32 - 1, 2**32 - 1], ">u4").tobytes(),
     "not representable"),
])
@pytest.mark.parametrize("gz", [False, True])
def test_read_idx_errors_name_file_and_problem(tmp_path, data, message, gz):
    path = tmp_path / ("bad.gz" if gz else "bad")
    path.write_bytes(gzip.compress(data) if gz else data)
    with pytest.raises(IDXFormatError, match=message) as info:
        read_idx(path)
    assert str(path) in str(info.value)
    assert isinstance(info.value, ValueError)


def test_read_idx_corrupt_gzip(tmp_path):
    packed = gzip.compress(GOOD)
    for name, data in [("cut.gz", packed[:-10]), ("junk.gz", b"not gzip at all"),
                       ("flip.gz", packed[:-8] + bytes(8))]:  # bad CRC and size
        (tmp_path / name).write_bytes(data)
        with pytest.raises(IDXFormatError, match="gzip"):
            read_idx(tmp_path / name)


def test_md5_decompressed_streams_raw_files(tmp_path):
    (tmp_path / "f").write_bytes(b"hello" * 1000)
    assert md5_decompressed(tmp_path / "f") == hashlib.md5(b"hello" * 1000).hexdigest()


# ---------------------------------------------------------------- load_mnist, local files

def fake_files(n_train=6, n_test=4, seed=0):
    """Small MNIST-like files: name -> raw IDX bytes."""
    rng = np.random.default_rng(seed)
    arrays = {
        "train-images-idx3-ubyte": rng.integers(0, 256, (n_train, 28, 28), dtype=np.uint8),
        "train-labels-idx1-ubyte": rng.integers(0, 10, n_train, dtype=np.uint8),
        "t10k-images-idx3-ubyte": rng.integers(0, 256, (n_test, 28, 28), dtype=np.uint8),
        "t10k-labels-idx1-ubyte": rng.integers(0, 10, n_test, dtype=np.uint8),
    }
    return {name: idx_bytes(a) for name, a in arrays.items()}


@pytest.fixture
def fake(monkeypatch):
    """Fake files with MNIST_FILES patched to their sizes and MD5 sums."""
    files = fake_files()
    table = {name: (len(b), hashlib.md5(b).hexdigest()) for name, b in files.items()}
    monkeypatch.setattr(mnist_module, "MNIST_FILES", table)
    return files


def write(folder, files, gz=True):
    folder.mkdir(parents=True, exist_ok=True)
    for name, data in files.items():
        if gz:
            (folder / f"{name}.gz").write_bytes(gzip.compress(data))
        else:
            (folder / name).write_bytes(data)


def check_fake(data, files):
    assert data.x_train.shape == (6, 28, 28) and data.x_test.shape == (4, 28, 28)
    assert data.x_train.dtype == np.uint8 and data.y_train.dtype == np.int64
    assert data.y_test.dtype == np.int64
    assert data.x_train.tobytes() == files["train-images-idx3-ubyte"][16:]
    assert data.y_test.astype(np.uint8).tobytes() == files["t10k-labels-idx1-ubyte"][8:]


@pytest.mark.parametrize("gz", [True, False])
def test_load_mnist_local(tmp_path, fake, gz):
    write(tmp_path, fake, gz=gz)
    check_fake(load_mnist(tmp_path, download=False), fake)


def test_mnist_unpacks_as_keras_load_data_does(tmp_path, fake):
    """(x_train, y_train), (x_test, y_test) = load_mnist() raised "cannot unpack
    non-iterable MNIST object"."""
    write(tmp_path, fake)
    data = load_mnist(tmp_path, download=False)
    (x_train, y_train), (x_test, y_test) = data
    assert x_train is data.x_train and y_train is data.y_train
    assert x_test is data.x_test and y_test is data.y_test
    from minidl.evaluation import evaluate        # iterable now, it is still no loader
    from minidl.losses import SoftmaxCrossEntropy
    from minidl.models import mlp
    with pytest.raises(SettingError, match=r"evaluate got the MNIST data set itself; give a "
                                           r"loader of its batches, converted as in training: "
                                           r"DataLoader\(data.x_test, data.y_test, 1000"):
        evaluate(mlp(784, [5], 10), SoftmaxCrossEntropy(), data)


def test_load_mnist_mixed_gz_and_raw(tmp_path, fake):
    names = list(fake)
    write(tmp_path, {n: fake[n] for n in names[:2]}, gz=True)
    write(tmp_path, {n: fake[n] for n in names[2:]}, gz=False)
    check_fake(load_mnist(tmp_path, download=False), fake)


def test_load_mnist_checksum_mismatch(tmp_path, fake):
    bad = dict(fake)
    bad["t10k-labels-idx1-ubyte"] = fake["t10k-labels-idx1-ubyte"][:-1] + b"\x09"
    write(tmp_path, bad)
    expected = mnist_module.MNIST_FILES["t10k-labels-idx1-ubyte"][1]
    actual = hashlib.md5(bad["t10k-labels-idx1-ubyte"]).hexdigest()
    with pytest.raises(ChecksumError) as info:
        load_mnist(tmp_path, download=False)
    msg = str(info.value)
    assert "t10k-labels-idx1-ubyte.gz" in msg and expected in msg and actual in msg
    assert "Replace it with a good copy (or delete it and load with download=True" in msg
    with pytest.raises(ChecksumError, match="Delete it and load again to re-download it"):
        load_mnist(tmp_path)              # all four there: nothing is downloaded


def test_a_damaged_raw_file_beside_a_good_gz_says_the_gz_will_be_used(tmp_path, fake):
    write(tmp_path, fake)                                          # all four .gz, good
    name = "t10k-labels-idx1-ubyte"
    (tmp_path / name).write_bytes(fake[name][:-1] + b"\x09")       # read before the .gz
    with pytest.raises(ChecksumError, match=rf"{name}.gz beside it will be read instead"):
        load_mnist(tmp_path, download=False)
    (tmp_path / name).unlink()                                     # as the message says
    check_fake(load_mnist(tmp_path, download=False), fake)


def test_load_mnist_label_count_mismatch(tmp_path, monkeypatch):
    files = fake_files()
    files["train-labels-idx1-ubyte"] = idx_bytes(np.zeros(5, np.uint8))
    table = {name: (len(b), hashlib.md5(b).hexdigest()) for name, b in files.items()}
    monkeypatch.setattr(mnist_module, "MNIST_FILES", table)
    write(tmp_path, files)
    with pytest.raises(IDXFormatError, match="same N"):
        load_mnist(tmp_path, download=False)


def test_missing_files_without_download(tmp_path, fake):
    write(tmp_path, {n: b for n, b in fake.items() if n != "train-images-idx3-ubyte"})
    with pytest.raises(DataNotFoundError) as info:
        load_mnist(tmp_path, download=False)
    msg = str(info.value)
    assert str(tmp_path) in msg and "MINIDL_DATA" in msg and "--data-dir" in msg
    assert all(name in msg for name in MNIST_FILES)


def test_root_that_holds_an_mnist_folder_is_pointed_to_it_not_downloaded_into(tmp_path, fake,
                                                                               monkeypatch):
    """load_mnist($MINIDL_DATA's folder) used to download a second copy into it."""
    write(tmp_path / "mnist", fake)
    monkeypatch.setattr(mnist_module, "_download", lambda *a: pytest.fail("downloaded"))
    with pytest.raises(DataNotFoundError, match=r"has them all: load_mnist\(root\) takes the "
                                                r"folder that holds the files"):
        load_mnist(tmp_path)
    check_fake(load_mnist(tmp_path / "mnist"), fake)


@pytest.mark.parametrize("env", [True, False])
def test_default_folder(tmp_path, monkeypatch, env):
    if env:
        monkeypatch.setenv("MINIDL_DATA", str(tmp_path / "data"))
        folder = tmp_path / "data" / "mnist"
    else:
        monkeypatch.delenv("MINIDL_DATA", raising=False)
        monkeypatch.setenv("HOME", str(tmp_path))
        folder = tmp_path / ".cache" / "minidl" / "mnist"
    with pytest.raises(DataNotFoundError, match=str(folder)):
        load_mnist(download=False)


def test_an_empty_minidl_data_named_mnist_is_where_the_files_go(tmp_path, monkeypatch):
    """MINIDL_DATA=.../data/mnist, still empty, had the files downloaded into
    .../data/mnist/mnist."""
    monkeypatch.setenv("MINIDL_DATA", str(tmp_path / "data" / "mnist"))
    with pytest.raises(DataNotFoundError, match=f"missing from {tmp_path / 'data' / 'mnist'}:"):
        load_mnist(download=False)


def test_a_file_given_as_the_folder_is_named(tmp_path, fake):
    """With download=False the message said to put the four files into the file."""
    (tmp_path / "notes.txt").write_text("")
    with pytest.raises(DataNotFoundError, match=r"notes.txt is a file, not a folder: give the "
                                                r"folder that holds the four MNIST files"):
        load_mnist(tmp_path / "notes.txt", download=False)


def test_minidl_data_naming_a_file_is_said_to_be_one(tmp_path, monkeypatch):
    """It was read as the folder .../notes.txt/mnist: "cannot download into ... Not a
    directory", or "files missing from" it, with no word of the variable."""
    (tmp_path / "notes.txt").write_text("")
    monkeypatch.setenv("MINIDL_DATA", str(tmp_path / "notes.txt"))
    for download in (True, False):
        with pytest.raises(DataNotFoundError, match=r"\$MINIDL_DATA is .*notes.txt, a file, not "
                                                    r"a folder; set it to the folder"):
            load_mnist(download=download)


def test_a_full_disk_is_not_blamed_on_the_mirrors(tmp_path, fake, monkeypatch):
    """A full disk was listed as every mirror's failure, after each had been downloaded
    from in vain, with the advice to put the files into that same folder."""
    tried = []

    def full(url, dest, md5):
        tried.append(url)
        raise OSError(28, "No space left on device", str(dest))
    monkeypatch.setattr(mnist_module, "_fetch", full)
    monkeypatch.setattr(mnist_module, "MIRRORS", ["http://a/", "http://b/"])
    with pytest.raises(DataNotFoundError, match=r"cannot write the MNIST download into .*m: No "
                                                r"space left on device \(the four files take "
                                                r"about 12 MB\); free some space"):
        load_mnist(tmp_path / "m")
    assert len(tried) == 1 and not (tmp_path / "m").exists()


def test_a_folder_that_cannot_be_read_is_named(tmp_path, fake, monkeypatch):
    """Python 3.11's Path.is_file raises PermissionError for a folder without read or
    search permission (root, who runs the tests, has every permission: simulated)."""
    def refused(path):
        raise PermissionError(13, "Permission denied", str(path))
    monkeypatch.setattr(mnist_module.Path, "is_file", refused)
    with pytest.raises(DataNotFoundError, match=r"cannot look into .*: permission denied \(no "
                                                r"search permission on it or on a folder above"):
        load_mnist(tmp_path)
    monkeypatch.setenv("MINIDL_DATA", str(tmp_path))           # found through MINIDL_DATA
    with pytest.raises(DataNotFoundError, match=r"permission denied"):
        load_mnist()
    monkeypatch.undo()
    monkeypatch.setattr(mnist_module.Path, "exists", refused)  # a parent we may not search
    with pytest.raises(DataNotFoundError, match=r"permission denied"):
        load_mnist(tmp_path / "mnist")


def test_a_file_under_another_files_name_is_named(tmp_path, fake):
    """A test file under a training file's name was "damaged or not the original",
    with the advice to download it again."""
    write(tmp_path, fake)
    names = list(fake)
    (tmp_path / f"{names[0]}.gz").write_bytes(gzip.compress(fake[names[2]]))
    with pytest.raises(ChecksumError, match=rf"this is {names[2]} \(its MD5, \w+, is that "
                                            rf"file's\), not {names[0]}: give each file its "
                                            "own name"):
        load_mnist(tmp_path, download=False)


def test_a_file_gzipped_twice_is_called_so(tmp_path, fake):
    """It said: expected 00 00 (IDX) or 1f 8b (gzip), got 1f 8b."""
    write(tmp_path, fake)
    name = list(fake)[3]
    (tmp_path / f"{name}.gz").write_bytes(gzip.compress(gzip.compress(fake[name])))
    with pytest.raises(IDXFormatError, match=r"the file is gzipped twice"):
        load_mnist(tmp_path, download=False)


# ---------------------------------------------------------------- $MINIDL_DATA: mnist/ or the files

def no_download(monkeypatch):
    monkeypatch.setattr(mnist_module, "_download", lambda *a: pytest.fail("downloaded"))


@pytest.mark.parametrize("gz", [True, False])
def test_minidl_data_naming_the_folder_of_the_files_reads_them_there(tmp_path, fake, gz,
                                                                     monkeypatch):
    """MINIDL_DATA=.../mnist used to look in .../mnist/mnist and download a second copy."""
    write(tmp_path / "digits", fake, gz=gz)
    monkeypatch.setenv("MINIDL_DATA", str(tmp_path / "digits"))
    no_download(monkeypatch)
    check_fake(load_mnist(), fake)
    assert not (tmp_path / "digits" / "mnist").exists()


def test_minidl_data_naming_the_folder_of_the_real_files(tmp_path, mnist, monkeypatch):
    """The user's case, MINIDL_DATA=<shared>/data/mnist, with links to the real files."""
    (tmp_path / "mnist").mkdir()
    for path in mnist_root().iterdir():
        (tmp_path / "mnist" / path.name).symlink_to(path)
    monkeypatch.setenv("MINIDL_DATA", str(tmp_path / "mnist"))
    no_download(monkeypatch)
    data = load_mnist()
    for field in ("x_train", "y_train", "x_test", "y_test"):
        np.testing.assert_array_equal(getattr(data, field), getattr(mnist, field))
    assert not (tmp_path / "mnist" / "mnist").exists()


def test_files_in_minidl_data_itself_are_verified(tmp_path, fake, monkeypatch):
    name = "train-labels-idx1-ubyte"
    write(tmp_path, {**fake, name: fake[name][:-1] + b"\x09"})
    monkeypatch.setenv("MINIDL_DATA", str(tmp_path))
    with pytest.raises(ChecksumError, match=str(tmp_path / f"{name}.gz")):
        load_mnist(download=False)


@pytest.mark.parametrize("complete, partial", [("flat", "nested"), ("nested", "flat"),
                                               ("both", None)])
def test_a_complete_set_wins_mnist_folder_first(tmp_path, fake, complete,
                                                                   partial, monkeypatch):
    """The set that is not read is junk: reading any of it would fail."""
    folders = {"flat": tmp_path, "nested": tmp_path / "mnist"}
    junk = {name: b"junk" for name in fake}
    if complete == "both":
        write(folders["nested"], fake)
        write(folders["flat"], junk)
    else:
        write(folders[complete], fake)
        write(folders[partial], dict(list(junk.items())[:2]))
    monkeypatch.setenv("MINIDL_DATA", str(tmp_path))
    no_download(monkeypatch)
    check_fake(load_mnist(), fake)


# ---------------------------------------------------------------- downloads

class Handler(http.server.BaseHTTPRequestHandler):
    """GET /good/<name> serves the file, /drop/<name> half of it, /cut/<name> half
    of it without a Content-Length, /raw/<name> its uncompressed bytes (as a
    decompressing proxy would), /html/<name> an HTML page, /slow/<name> the file
    in pieces of 8 bytes 0.05 s apart, /swap/<name> the test labels' file whatever
    the name, /twice/<name> the file gzipped again; anything else is 404."""

    def do_GET(self):
        mode, _, name = self.path.strip("/").partition("/")
        path = self.server.folder / name
        if mode not in ("good", "drop", "cut", "raw", "html", "slow", "swap", "twice") or \
                not path.is_file():
            self.send_error(404)
            return
        data = path.read_bytes()
        length = len(data)          # "drop" promises all, sends half
        data = {"drop": data[:len(data) // 2], "cut": data[:len(data) // 2],
                "raw": gzip.decompress(data), "twice": gzip.compress(data),
                "swap": (self.server.folder / "t10k-labels-idx1-ubyte.gz").read_bytes(),
                "html": b"<!DOCTYPE html><html>Please log in</html>"}.get(mode, data)
        self.send_response(200)
        if mode != "cut":
            self.send_header("Content-Length", str(length if mode == "drop" else len(data)))
        self.end_headers()
        self.close_connection = True
        if mode != "slow":
            self.wfile.write(data)
            return
        try:
            for i in range(0, len(data), 8):    # each piece well within the read timeout
                self.wfile.write(data[i:i + 8])
                self.wfile.flush()
                time.sleep(0.05)
        except (BrokenPipeError, ConnectionResetError):   # the client gave up
            pass

    def log_message(self, *args):
        pass


@pytest.fixture
def server(tmp_path, fake, monkeypatch):
    """A local HTTP server over a folder holding the fake .gz files; yields its URL."""
    write(tmp_path / "served", fake)
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.daemon_threads = False     # server_close() waits for each request's thread: a slow
    httpd.folder = tmp_path / "served"   # reply's socket is closed before the test ends
    thread = threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    monkeypatch.setattr(mnist_module, "TIMEOUT", 5)
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


UNREACHABLE = "http://127.0.0.1:9/"  # discard port: connection refused


def test_download_success(tmp_path, fake, server, monkeypatch):
    monkeypatch.setattr(mnist_module, "MIRRORS", [server + "/good/"])
    dest = tmp_path / "cache" / "mnist"
    check_fake(load_mnist(dest), fake)
    assert sorted(p.name for p in dest.iterdir()) == sorted(f"{n}.gz" for n in fake)
    check_fake(load_mnist(dest, download=False), fake)


def test_download_falls_back_to_next_mirror(tmp_path, fake, server, monkeypatch):
    monkeypatch.setattr(mnist_module, "MIRRORS",
                        [UNREACHABLE, server + "/missing/", server + "/good"])
    check_fake(load_mnist(tmp_path / "m"), fake)


def test_a_mirror_that_answers_with_an_error_leaves_no_connection_open(tmp_path, fake, server,
                                                                      monkeypatch):
    """The 404 of a mirror carried its open reply, kept for the message: an unclosed
    socket, which Python reported as a ResourceWarning (and pytest in CI)."""
    monkeypatch.setattr(mnist_module, "MIRRORS", [server + "/missing/", server + "/good/"])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        check_fake(load_mnist(tmp_path / "m"), fake)
        gc.collect()
    assert [str(w.message) for w in caught if issubclass(w.category, ResourceWarning)] == []


def test_download_checksum_mismatch_leaves_nothing(tmp_path, server, monkeypatch):
    monkeypatch.setattr(mnist_module, "MIRRORS", [server + "/good/"])
    monkeypatch.setitem(mnist_module.MNIST_FILES, "train-images-idx3-ubyte", (0, "0" * 32))
    dest = tmp_path / "m"
    with pytest.raises(ChecksumError, match="0" * 32):
        load_mnist(dest)
    assert not dest.exists()   # nothing left, nor the folder made for it


def test_dropped_connection_leaves_nothing(tmp_path, server, monkeypatch):
    monkeypatch.setattr(mnist_module, "MIRRORS", [server + "/drop/"])
    dest = tmp_path / "m"
    with pytest.raises(DataNotFoundError):
        load_mnist(dest)
    assert not dest.exists()   # nothing left, nor the folder made for it


def test_a_trickling_mirror_is_given_up_after_the_deadline(tmp_path, fake, server,
                                                           monkeypatch):
    """Each piece arrives within the read timeout, so only the deadline ends it;
    then the next mirror is tried, and nothing of the slow one is left."""
    monkeypatch.setattr(mnist_module, "DEADLINE", 0.3)
    monkeypatch.setattr(mnist_module, "MIRRORS", [server + "/slow/"])
    dest = tmp_path / "m"
    with pytest.raises(DataNotFoundError, match=r"too slow: \d+ of \d+ bytes after 0.3 s"):
        load_mnist(dest)
    assert not dest.exists()   # nothing left, nor the folder made for it
    monkeypatch.setattr(mnist_module, "MIRRORS", [server + "/slow/", server + "/good/"])
    check_fake(load_mnist(dest), fake)


def test_no_network(tmp_path, monkeypatch):
    """The folders made for the download go again (a mistyped --data-dir was left
    behind, empty); a folder that was there stays."""
    monkeypatch.setattr(mnist_module, "MIRRORS", [UNREACHABLE, UNREACHABLE])
    dest = tmp_path / "typo" / "m"
    with pytest.raises(DataNotFoundError) as info:
        load_mnist(dest)
    msg = str(info.value)
    assert str(dest) in msg and UNREACHABLE in msg and "MINIDL_DATA" in msg
    assert "--data-dir\n(which, when given, is used instead of $MINIDL_DATA)" in msg
    assert list(tmp_path.iterdir()) == []
    (tmp_path / "mine").mkdir()
    with pytest.raises(DataNotFoundError):
        load_mnist(tmp_path / "mine")
    assert [p.name for p in tmp_path.iterdir()] == ["mine"] and not any(
        (tmp_path / "mine").iterdir())


def test_interrupted_download_leaves_nothing(tmp_path, fake, monkeypatch):
    class Response(io.BytesIO):
        headers = {"Content-Length": "1000000"}

        def read(self, n=-1):
            if self.tell() > 0:
                raise KeyboardInterrupt
            return super().read(10)

    monkeypatch.setattr(mnist_module, "urlopen", lambda url, timeout: Response(b"x" * 100))
    dest = tmp_path / "m"
    with pytest.raises(KeyboardInterrupt):
        load_mnist(dest)
    assert not dest.exists()   # nothing left, nor the folder made for it


def test_parts_a_killed_download_left_are_removed_and_nothing_else(tmp_path, fake, server,
                                                                   monkeypatch):
    """SIGKILL skips the clean-up of a download's temporary file; the next download
    into that folder removes such files once they are a day old, and only those."""
    monkeypatch.setattr(mnist_module, "MIRRORS", [server + "/good/"])
    dest = tmp_path / "m"
    dest.mkdir()
    # named by the code that names a download's temporary file (files.atomic_path)
    old, fresh = (Path(_new_file(str(dest), mnist_module.PART_SUFFIX)) for _ in range(2))
    others = [dest / "notes.part", dest / ".tmp-0123456789ab.json"]     # not a download's
    for f in (old, fresh, *others):
        f.write_bytes(b"\x1f\x8b half a download")
    day_ago = time.time() - mnist_module.STALE_PART_SECONDS - 60
    for f in (old, *others):
        os.utime(f, (day_ago, day_ago))
    check_fake(load_mnist(dest), fake)
    assert not old.exists() and fresh.exists() and all(f.exists() for f in others)


def test_a_download_in_progress_has_the_name_the_clean_up_looks_for(tmp_path, monkeypatch):
    dest, during = tmp_path / "m", []

    class Response(io.BytesIO):
        headers = {}

        def read(self, n=-1):
            during.extend(p.name for p in dest.iterdir())
            raise KeyboardInterrupt

    monkeypatch.setattr(mnist_module, "urlopen", lambda url, timeout: Response())
    with pytest.raises(KeyboardInterrupt):
        load_mnist(dest)
    assert len(during) == 1 and not dest.exists()   # nothing left, nor the folder made for it
    dest.mkdir()
    left = dest / during[0]                     # as if a SIGKILL had left it, a day ago
    left.write_bytes(b"\x1f\x8b")
    mnist_module._remove_stale_parts(dest, age=-1)
    assert not left.exists()


def test_a_mirror_serving_uncompressed_bytes_gives_files_that_load(tmp_path, fake, server,
                                                                   monkeypatch):
    """The .gz name then holds raw IDX bytes: read by their content, not their name
    (they used to pass the download's check and then fail as 'corrupt gzip')."""
    monkeypatch.setattr(mnist_module, "MIRRORS", [server + "/raw/"])
    check_fake(load_mnist(tmp_path / "m"), fake)
    check_fake(load_mnist(tmp_path / "m", download=False), fake)


@pytest.mark.parametrize("mode, words", [
    ("html", "the server sent something that is not MNIST (neither gzip nor IDX), "
             "starting b'<!DOCTYPE html"),
    ("cut", "the download is incomplete or damaged gzip"),
    ("swap", "the mirror sent t10k-labels-idx1-ubyte under the name "     # as the messages
             "train-images-idx3-ubyte (its MD5, "),                        # about files on disk
    ("twice", "the file is gzipped twice")])
def test_a_bad_copy_is_named_for_what_it_is_and_every_mirror_is_listed(
        tmp_path, server, monkeypatch, mode, words):
    """An HTML page (a captive portal) was reported as an MD5 mismatch, a cut transfer
    named a deleted temporary file, and a bad copy hid the other mirrors' failures
    and the advice to put the files in place."""
    monkeypatch.setattr(mnist_module, "MIRRORS", [f"{server}/{mode}/", UNREACHABLE])
    dest = tmp_path / "m"
    with pytest.raises(ChecksumError) as info:
        load_mnist(dest)
    msg = str(info.value)
    assert words in msg and UNREACHABLE in msg and "MINIDL_DATA" in msg
    assert ".tmp-" not in msg and ".part" not in msg
    assert not dest.exists()   # nothing left, nor the folder made for it


def test_after_a_partial_download_only_the_files_still_missing_are_named(tmp_path, fake,
                                                                         server, monkeypatch):
    (tmp_path / "served" / "train-labels-idx1-ubyte.gz").unlink()
    monkeypatch.setattr(mnist_module, "MIRRORS", [server + "/good/"])
    with pytest.raises(DataNotFoundError) as info:
        load_mnist(tmp_path / "m")
    first = str(info.value).splitlines()[0]
    assert "train-images-idx3-ubyte" not in first          # it was downloaded
    assert all(n in first for n in fake if n != "train-images-idx3-ubyte")


def test_minidl_mnist_mirror_is_tried_first(tmp_path, fake, server, monkeypatch):
    monkeypatch.setattr(mnist_module, "MIRRORS", [UNREACHABLE])
    monkeypatch.setenv("MINIDL_MNIST_MIRROR", server + "/good/")
    check_fake(load_mnist(tmp_path / "m"), fake)


@pytest.mark.parametrize("mirror", ["127.0.0.1:8765/mnist", "/srv/course/mnist"])
def test_a_mirror_that_is_not_a_url_is_named(tmp_path, fake, monkeypatch, mirror):
    """It was one "unknown url type" among the mirrors' failures, and with internet went
    unnoticed while the public mirrors served the files."""
    monkeypatch.setattr(mnist_module, "urlopen", lambda *a, **k: pytest.fail("downloaded"))
    monkeypatch.setenv("MINIDL_MNIST_MIRROR", mirror)
    with pytest.raises(DataNotFoundError, match=rf"\$MINIDL_MNIST_MIRROR is '{mirror}', not a "
                                                r"URL prefix such as https://host/mnist/ or "
                                                r"file:///srv/mnist/"):
        load_mnist(tmp_path / "m")
    assert not (tmp_path / "m").exists()


def test_a_folder_that_cannot_be_written_is_named_before_any_mirror(tmp_path, fake,
                                                                    monkeypatch):
    """It used to be reported as a failure of every mirror, naming temporary files."""
    monkeypatch.setattr(mnist_module, "urlopen", lambda *a, **k: pytest.fail("downloaded"))
    (tmp_path / "file").write_text("")
    with pytest.raises(DataNotFoundError, match=r"file is a file, not a folder"):
        load_mnist(tmp_path / "file")
    with pytest.raises(DataNotFoundError, match=r"cannot download MNIST into .*file/mnist: "):
        load_mnist(tmp_path / "file" / "mnist")

    def read_only(self, *args, **kwargs):
        raise OSError(30, "Read-only file system", str(self))
    monkeypatch.setattr(mnist_module.Path, "touch", read_only)
    with pytest.raises(DataNotFoundError, match=r"cannot download MNIST into .*ro: Read-only "
                                                r"file system\. .*set MINIDL_DATA") as info:
        load_mnist(tmp_path / "ro")
    assert "write-test" not in str(info.value)


def test_files_under_other_names_are_pointed_out(tmp_path, fake):
    """A browser's "name (1).gz", Kaggle's "train-images.idx3-ubyte" and a folder of the
    file's name used to be passed over in silence."""
    names = list(fake)
    write(tmp_path, {names[2]: fake[names[2]], names[3]: fake[names[3]]})
    (tmp_path / f"{names[0]} (1).gz").write_bytes(gzip.compress(fake[names[0]]))
    (tmp_path / names[1]).mkdir()
    with pytest.raises(DataNotFoundError) as info:
        load_mnist(tmp_path, download=False)
    msg = str(info.value)
    assert f"found {names[0]} (1).gz: rename it to {names[0]}" in msg
    assert f"{names[1]} is a folder, not the file" in msg
    (tmp_path / f"{names[0]} (1).gz").rename(tmp_path / names[0])   # raw name, gzip content
    (tmp_path / names[1]).rmdir()
    (tmp_path / names[1].replace("-idx", ".idx")).write_bytes(fake[names[1]])
    with pytest.raises(DataNotFoundError, match=rf"found {names[1].replace('-idx', '.idx')}: "
                                                rf"rename it to {names[1]}"):
        load_mnist(tmp_path, download=False)


@pytest.mark.parametrize("spelling", ["{name}.GZ", "{upper}.GZ", "{name}(1).gz", "{name}.gz.gz"])
def test_more_names_a_download_gets_are_pointed_out(tmp_path, fake, spelling):
    """A browser's or a system's renaming was reported as "missing", with no hint."""
    names = list(fake)
    write(tmp_path, {n: fake[n] for n in names[1:]})
    other = spelling.format(name=names[0], upper=names[0].upper())
    (tmp_path / other).write_bytes(gzip.compress(fake[names[0]]))
    with pytest.raises(DataNotFoundError, match=re.escape(f"found {other}: rename it to "
                                                          f"{names[0]}")):
        load_mnist(tmp_path, download=False)


def test_a_folder_where_a_gz_file_should_be_is_named_not_blamed_on_the_mirrors(
        tmp_path, fake, monkeypatch):
    names = list(fake)
    write(tmp_path, {n: fake[n] for n in names[1:]})
    (tmp_path / f"{names[0]}.gz").mkdir()
    monkeypatch.setattr(mnist_module, "_fetch", lambda *a: pytest.fail("downloaded"))
    with pytest.raises(DataNotFoundError, match=rf"{names[0]}.gz is a folder, not the") as info:
        load_mnist(tmp_path)
    assert "mirror" not in str(info.value)


@pytest.mark.parametrize("gz_name", [True, False])
def test_the_content_not_the_name_says_gzip(tmp_path, fake, gz_name):
    """Uncompressed bytes named .gz (a browser that unpacks but keeps the name) were
    refused as 'corrupt gzip', with the advice to delete the good file."""
    for name, data in fake.items():
        (tmp_path / (f"{name}.gz" if gz_name else name)).write_bytes(
            data if gz_name else gzip.compress(data))
    check_fake(load_mnist(tmp_path, download=False), fake)


def test_minidl_data_with_some_of_the_files_names_the_missing_one_there(tmp_path, fake,
                                                                        monkeypatch):
    """MINIDL_DATA holding three of the four files was passed over for MINIDL_DATA/mnist,
    where all four were reported missing (and would have been downloaded)."""
    names = list(fake)
    write(tmp_path, {n: fake[n] for n in names[1:]})
    monkeypatch.setenv("MINIDL_DATA", str(tmp_path))
    with pytest.raises(DataNotFoundError) as info:
        load_mnist(download=False)
    assert str(info.value).splitlines()[0] == f"MNIST files missing from {tmp_path}: {names[0]}."


def test_a_damaged_gzip_stream_that_inflates_to_too_much_is_called_damaged(tmp_path):
    """It was reported as 'trailing bytes' of the IDX file: the CRC was never checked."""
    packed = bytearray(gzip.compress(GOOD + b"\x00"))
    packed[-8:] = gzip.compress(GOOD)[-8:]                 # CRC and size of GOOD alone
    (tmp_path / "f.gz").write_bytes(bytes(packed))
    with pytest.raises(IDXFormatError, match="corrupt or truncated gzip stream"):
        read_idx(tmp_path / "f.gz")


def test_mnist_root_follows_the_loader(tmp_path, monkeypatch):
    """conftest's folder for the real data follows load_mnist's rule: with MINIDL_DATA
    naming the files' own folder, the real-data tests used to skip (or fail in CI)."""
    real = mnist_root()
    if real is None or not mnist_module.has_all_files(real):
        skip_without_data(f"{real} does not hold the four files")
    monkeypatch.setenv("MINIDL_DATA", str(real))
    assert mnist_root() == real
    monkeypatch.setenv("MINIDL_DATA", str(real.parent))
    assert mnist_root() == real
    monkeypatch.chdir(real.parent.parent)        # relative: the tests' links went nowhere
    monkeypatch.setenv("MINIDL_DATA", real.parent.name)
    assert mnist_root().samefile(real)           # the same folder, reached through a link too


# ---------------------------------------------------------------- the real data

def test_real_mnist(mnist):
    assert mnist.x_train.shape == (60000, 28, 28) and mnist.x_test.shape == (10000, 28, 28)
    assert mnist.y_train.shape == (60000,) and mnist.y_test.shape == (10000,)
    assert mnist.x_train.dtype == mnist.x_test.dtype == np.uint8
    assert mnist.y_train.dtype == mnist.y_test.dtype == np.int64
    for y in (mnist.y_train, mnist.y_test):
        assert set(np.unique(y)) == set(range(10))
    assert list(mnist.y_train[:5]) == [5, 0, 4, 1, 9]
    assert list(mnist.y_test[:5]) == [7, 2, 1, 0, 4]
    assert mnist.x_train.max() == 255 and mnist.x_train.min() == 0

