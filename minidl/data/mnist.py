"""MNIST handwritten digits: find, download, verify and load.

    data = load_mnist()
    data.x_train  (60000, 28, 28) uint8     data.y_train  (60000,) int64
    data.x_test   (10000, 28, 28) uint8     data.y_test   (10000,) int64

The four files live in one folder, each either gzipped (name.gz) or not
(name). Every file is checked against the MD5 of its uncompressed bytes; the
hash is computed while the file is read, so each file is decompressed once.

Folder: the `root` argument if given, else $MINIDL_DATA/mnist (or $MINIDL_DATA
itself if the files are there: see files_folder), else ~/.cache/minidl/mnist.
Missing files are downloaded (if download=True) from $MINIDL_MNIST_MIRROR (a
URL prefix, if set) and then the MIRRORS in turn, each into a temporary file
that is verified and only then renamed to its final name: an interrupted
download leaves nothing behind. A mirror that stalls (TIMEOUT) or is too slow
(DEADLINE per file) counts as failed.
"""

import http.client
import os
import re
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.error import HTTPError
from urllib.request import urlopen

import numpy as np
from tqdm import tqdm

from ..errors import ChecksumError, DataNotFoundError, IDXFormatError
from ..files import WRITE_ERRORS, atomic_path
from .idx import CHUNK, gzipped_twice, md5_decompressed, read_idx

# name -> (size in bytes, MD5) of the uncompressed file, as published with MNIST.
MNIST_FILES = {
    "train-images-idx3-ubyte": (47040016, "6bbc9ace898e44ae57da46a324031adb"),
    "train-labels-idx1-ubyte": (60008, "a25bea736e30d166cdddb491f175f624"),
    "t10k-images-idx3-ubyte": (7840016, "2646ac647ad5339dbf082846283269ea"),
    "t10k-labels-idx1-ubyte": (10008, "27ae3e4e09519cfbb04c329615203637"),
}

# Tried in order, after $MINIDL_MNIST_MIRROR if set; each serves <mirror>/<name>.gz.
MIRRORS = [
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
]
TIMEOUT = 30  # seconds a network connect or read may take
DEADLINE = 15 * 60  # seconds one file may take from one mirror (a server trickling
                    # a byte every few seconds never trips TIMEOUT); then the next
PART_SUFFIX = ".gz.part"        # a download's temporary file: .tmp-<random>.gz.part
STALE_PART_SECONDS = 24 * 3600  # a download's temporary file untouched this long is left over


@dataclass(frozen=True, eq=False)
class MNIST:
    """The MNIST data set: images uint8 (N, 28, 28), labels int64 (N,)."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray

    def __repr__(self):
        return f"MNIST(train={self.x_train.shape}, test={self.x_test.shape})"

    def __iter__(self):
        """(x_train, y_train), (x_test, y_test) = load_mnist(), as Keras's load_data()
        unpacks (it failed with "cannot unpack non-iterable MNIST object")."""
        return iter(((self.x_train, self.y_train), (self.x_test, self.y_test)))


def load_mnist(root=None, download=True):
    """Load MNIST from `root` (see module doc for the default folder).

    Returns MNIST(x_train (60000, 28, 28) uint8, y_train (60000,) int64,
                  x_test (10000, 28, 28) uint8, y_test (10000,) int64).

    Raises DataNotFoundError if files are missing and cannot be downloaded,
    ChecksumError if a file's content is not the original, IDXFormatError if
    a file is not valid IDX or images and labels disagree in number.
    """
    folder = mnist_folder(root)
    try:
        a_file = folder.exists() and not folder.is_dir()
    except PermissionError as e:
        raise _cannot_look(folder) from e
    if a_file:
        raise DataNotFoundError(f"{folder} is a file, not a folder: give the folder that holds "
                                "the four MNIST files")
    missing = _missing(folder)
    if missing and has_all_files(folder / "mnist"):
        raise DataNotFoundError(    # root given as $MINIDL_DATA is: do not download twice
            f"MNIST files missing from {folder}, but {folder / 'mnist'} has them all: "
            f"load_mnist(root) takes the folder that holds the files, here "
            f"load_mnist({str(folder / 'mnist')!r}) ($MINIDL_DATA may name either)")
    if missing and not download:
        raise DataNotFoundError(_not_found_message(folder))
    new = [d for d in (folder, *folder.parents) if not d.exists()]   # made for the download
    if missing:
        _check_folder_writable(folder)
        _remove_stale_parts(folder)
    try:
        for name in missing:
            _download(name, folder)
    except BaseException:    # a mistyped folder is not left behind, empty, by a failure
        for d in new:
            try:
                d.rmdir()    # only if empty: what a download got into it stays
            except OSError:
                break
        raise

    arrays = {name: _read_verified(_find(folder, name), name, download)
              for name in MNIST_FILES}
    for split in ("train", "t10k"):
        images = arrays[f"{split}-images-idx3-ubyte"]
        labels = arrays[f"{split}-labels-idx1-ubyte"]
        if images.ndim != 3 or labels.ndim != 1 or len(images) != len(labels):
            raise IDXFormatError(
                f"{folder}: {split} images have shape {images.shape} and labels "
                f"{labels.shape}; expected (N, 28, 28) and (N,) with the same N")
    return MNIST(
        x_train=arrays["train-images-idx3-ubyte"],
        y_train=arrays["train-labels-idx1-ubyte"].astype(np.int64),
        x_test=arrays["t10k-images-idx3-ubyte"],
        y_test=arrays["t10k-labels-idx1-ubyte"].astype(np.int64),
    )


def mnist_folder(root=None):
    """The folder that load_mnist(root) reads the four files from (and downloads into)."""
    if root is not None:
        return Path(root).expanduser()
    if os.environ.get("MINIDL_DATA"):
        data = Path(os.environ["MINIDL_DATA"]).expanduser()   # MINIDL_DATA=~/data/mnist: there
        if data.exists() and not data.is_dir():
            raise DataNotFoundError(f"$MINIDL_DATA is {data}, a file, not a folder; set it to "
                                    "the folder of the four MNIST files (or its parent)")
        return files_folder(data, fallback=data if data.name == "mnist" else data / "mnist")
    return Path.home() / ".cache" / "minidl" / "mnist"


def files_folder(folder, fallback):
    """Of `folder` and its mnist/ subfolder, the one that holds the MNIST files:
    the one with all four (mnist/ if both have them), else the one with some of
    them (mnist/ first), else `fallback`. For $MINIDL_DATA and the scripts'
    --data-dir, which may name either folder."""
    folder = Path(folder).expanduser()
    candidates = (folder / "mnist", folder)
    for has in (has_all_files, lambda f: len(_missing(f)) < len(MNIST_FILES)):
        for candidate in candidates:
            if has(candidate):
                return candidate
    return fallback


def has_all_files(folder):
    """Whether `folder` holds the four MNIST files (each gzipped or not)."""
    return not _missing(folder)


def _missing(folder):
    """The names of the MNIST files that `folder` lacks."""
    return [name for name in MNIST_FILES if _find(folder, name) is None]


def _find(folder, name):
    """Path of `name` (uncompressed, preferred as faster) or `name.gz`, or None."""
    for candidate in (folder / name, folder / f"{name}.gz"):
        try:
            if candidate.is_file():
                return candidate
        except PermissionError as e:  # Python 3.11 raises it in a folder we may not search
            raise _cannot_look(folder) from e
    return None


def _cannot_look(folder):
    return DataNotFoundError(f"cannot look into {folder}: permission denied (no search "
                             "permission on it or on a folder above it). Make it readable, or "
                             "point minidl at another folder (MINIDL_DATA, or the scripts' "
                             "--data-dir)")


def _read_verified(path, name, download=True):
    """read_idx(path), checking the MD5 of the uncompressed bytes."""
    hint = ("Delete it and load again to re-download it, or replace it with a good copy."
            if download else "Replace it with a good copy (or delete it and load with "
            "download=True, the scripts without --no-download, to download it again).")
    if path.name == name and path.with_name(f"{name}.gz").is_file():   # raw is read first
        hint = f"Delete it and load again: {name}.gz beside it will be read instead."
    try:
        array, md5 = read_idx(path, return_md5=True)
    except IDXFormatError as e:
        raise IDXFormatError(f"{e}. {hint}") from e
    expected = MNIST_FILES[name][1]
    other = [n for n, (_, known) in MNIST_FILES.items() if known == md5 and n != name]
    if other:                         # train and test, or images and labels, swapped
        raise ChecksumError(f"{path}: this is {other[0]} (its MD5, {md5}, is that file's), "
                            f"not {name}: give each file its own name")
    if md5 != expected:
        raise ChecksumError(
            f"{path}: MD5 of the uncompressed bytes is {md5}, expected {expected} "
            f"(the file is damaged or not the original {name}). {hint}")
    return array


def _not_found_message(folder, failures=()):
    missing = _missing(folder)
    lines = [f"MNIST files missing from {folder}: {', '.join(missing)}."]
    lines += [f"    {hint}" for name in missing for hint in _look_alikes(folder, name)]
    if failures:
        lines.append("Downloading failed from every mirror:")
        lines += [f"    {url}: {error}" for url, error in failures]
    lines.append(f"Put these four files in {folder} (gzipped or not):")
    lines += [f"    {name}.gz" for name in MNIST_FILES]
    lines.append("or point minidl at a folder that has them: set the environment\n"
                 "variable MINIDL_DATA to the folder that contains mnist/ (files in\n"
                 "$MINIDL_DATA/mnist/), or pass that folder to the scripts' --data-dir\n"
                 "(which, when given, is used instead of $MINIDL_DATA).")
    return "\n".join(lines)


def _look_alikes(folder, name):
    """What in `folder` looks like file `name` under another name, with what to do:
    a browser's "name (1).gz" or "name(1).gz", "NAME.GZ", "name.gz.gz", the
    "train-images.idx3-ubyte" spelling, a folder."""
    for there in (name, f"{name}.gz"):
        if (folder / there).is_dir():
            return [f"{there} is a folder, not the file; the file may be inside it"]
    try:
        paths = sorted(folder.iterdir()) if folder.is_dir() else []
    except PermissionError:          # a folder we may enter but not list: no hints
        return []
    found = []
    for path in paths:
        bare = re.sub(r"(\.gz)+$", "", re.sub(r" ?\(\d+\)", "", path.name.lower()))
        if bare.replace(".", "-") == name and path.is_file():
            found.append(f"found {path.name}: rename it to {name}")
    return found


def _check_folder_writable(folder):
    """Before any download: a DataNotFoundError if files cannot be written into
    `folder` (no permission, a read-only file system, a file on its path), which
    would otherwise be reported as a failure of every mirror."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        probe = folder / f".minidl-write-test-{os.getpid()}"
        probe.touch()
        probe.unlink()
    except OSError as e:
        raise DataNotFoundError(f"cannot download MNIST into {folder}: {e.strerror or e}. "
                                "Download it into a folder you can write (set MINIDL_DATA, or "
                                "give the scripts --data-dir), or put the files there:\n"
                                + _not_found_message(folder)) from e


def _remove_stale_parts(folder, age=STALE_PART_SECONDS):
    """Remove the temporary files (.tmp-*.part) of downloads that a killed process
    left behind (Ctrl-C removes its own). A download in progress writes each MiB
    as it arrives; one whose part has not changed for a day is not in progress."""
    now = time.time()
    for part in folder.glob(".tmp-*.part"):   # also .part, as downloads were named before
        try:
            if now - part.stat().st_mtime > age:
                part.unlink()
        except OSError:          # removed by another process meanwhile, or not ours
            pass


def _mirrors():
    """$MINIDL_MNIST_MIRROR (a URL prefix, e.g. a course's own copy) first, then MIRRORS."""
    own = os.environ.get("MINIDL_MNIST_MIRROR", "").strip()
    if own and not re.match(r"(https?|ftp|file)://", own, re.IGNORECASE):   # else only an
        raise DataNotFoundError(            # "unknown url type" among the mirrors' failures
            f"$MINIDL_MNIST_MIRROR is {own!r}, not a URL prefix such as "
            "https://host/mnist/ or file:///srv/mnist/ (files already on this machine: set "
            "MINIDL_DATA to their folder instead)")
    return ([own] if own else []) + MIRRORS


def _download(name, folder):
    """Fetch name.gz into folder from the first mirror that gives a good copy.
    If none does, one error lists every mirror's failure: a ChecksumError if one
    of them sent a file that is not the original, else DataNotFoundError."""
    dest = folder / f"{name}.gz"
    if dest.is_dir():                # no mirror can be written there: not their failure
        raise DataNotFoundError(_not_found_message(folder))
    failures, error = [], DataNotFoundError
    for mirror in _mirrors():
        url = mirror.rstrip("/") + "/" + dest.name
        try:
            _fetch(url, dest, MNIST_FILES[name][1])
            return
        except ChecksumError as e:
            failures.append((url, e))
            error = ChecksumError
        except (OSError, http.client.HTTPException, ValueError) as e:
            if isinstance(e, HTTPError):   # it holds the server's open reply: close it
                e.close()
            if isinstance(e, OSError) and e.errno in WRITE_ERRORS:   # the disk's, not the mirror's:
                raise DataNotFoundError(                              # no other mirror can help
                    f"cannot write the MNIST download into {folder}: {e.strerror} (the four "
                    "files take about 12 MB); free some space there, or choose another folder "
                    "(MINIDL_DATA, --data-dir, or load_mnist(root))") from None
            failures.append((url, e))
    raise error(_not_found_message(folder, failures))


def _fetch(url, dest, expected_md5):
    """Download url into a temporary file next to dest, check its MD5, then
    rename it to dest. On any failure (Ctrl-C too) the temporary file is removed
    (files.atomic_path)."""
    with atomic_path(dest, suffix=PART_SUFFIX) as tmp:
        with open(tmp, "wb") as out, urlopen(url, timeout=TIMEOUT) as response:
            first = response.read(2)                 # gzip (1f 8b) or IDX (00 00)?
            if not first:
                raise OSError("the server sent no data")
            if first not in (b"\x1f\x8b", b"\x00\x00"):
                rest = first + response.read(60)
                raise ChecksumError(f"the server sent something that is not MNIST (neither "
                                    f"gzip nor IDX), starting {rest!r}")
            out.write(first)
            length = response.headers.get("Content-Length")
            total = int(length) if length else None
            received, deadline = len(first), time.monotonic() + DEADLINE
            with tqdm(total=total, initial=received, unit="B", unit_scale=True,
                      desc=dest.name, leave=False) as bar:
                while chunk := response.read1(CHUNK):   # what has arrived, up to CHUNK
                    out.write(chunk)
                    received += len(chunk)
                    bar.update(len(chunk))
                    if time.monotonic() > deadline:
                        raise OSError(f"too slow: {received} of {total or 'unknown'} bytes "
                                      f"after {DEADLINE} s; given up")
            if total is not None and received != total:
                raise OSError(f"connection closed after {received} of {total} bytes")
        try:
            md5 = md5_decompressed(tmp)
        except IDXFormatError as e:        # its message names the temporary file: not shown
            raise ChecksumError(f"the download is incomplete or damaged gzip "
                                f"({e.__cause__}); discarded") from e
        if md5 != expected_md5:           # as precise as the messages about files on disk
            other = next((n for n, (_, known) in MNIST_FILES.items() if known == md5), None)
            if other:
                raise ChecksumError(f"the mirror sent {other} under the name {dest.stem} (its "
                                    f"MD5, {md5}, is that file's); the download was discarded")
            raise ChecksumError(f"MD5 of the uncompressed bytes is {md5}, expected "
                                f"{expected_md5}" + ("; the file is gzipped twice"
                                                     if gzipped_twice(tmp) else "")
                                + "; the download was discarded")
