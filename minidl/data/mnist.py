"""MNIST handwritten digits: find, download, verify and load.

    data = load_mnist()
    data.x_train  (60000, 28, 28) uint8     data.y_train  (60000,) int64
    data.x_test   (10000, 28, 28) uint8     data.y_test   (10000,) int64

The four files live in one folder, each either gzipped (name.gz) or not
(name). Every file is checked against the MD5 of its uncompressed bytes; the
hash is computed while the file is read, so each file is decompressed once.

Folder: the `root` argument if given, else $MINIDL_DATA/mnist (or $MINIDL_DATA
itself if it holds all four files and mnist/ does not), else
~/.cache/minidl/mnist. Missing files are downloaded (if download=True) from
the MIRRORS in turn into a temporary file, which is verified and only then
renamed to its final name: an interrupted download leaves nothing behind.
"""

import http.client
import os
from dataclasses import dataclass
from pathlib import Path
from urllib.request import urlopen

import numpy as np
from tqdm import tqdm

from ..errors import ChecksumError, DataNotFoundError, IDXFormatError
from ..files import atomic_path
from .idx import CHUNK, md5_decompressed, read_idx

# name -> (size in bytes, MD5) of the uncompressed file, as published with MNIST.
MNIST_FILES = {
    "train-images-idx3-ubyte": (47040016, "6bbc9ace898e44ae57da46a324031adb"),
    "train-labels-idx1-ubyte": (60008, "a25bea736e30d166cdddb491f175f624"),
    "t10k-images-idx3-ubyte": (7840016, "2646ac647ad5339dbf082846283269ea"),
    "t10k-labels-idx1-ubyte": (10008, "27ae3e4e09519cfbb04c329615203637"),
}

# Tried in order; each serves <mirror>/<name>.gz.
MIRRORS = [
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
]
TIMEOUT = 30  # seconds a network connect or read may take


@dataclass(frozen=True, eq=False)
class MNIST:
    """The MNIST data set: images uint8 (N, 28, 28), labels int64 (N,)."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray

    def __repr__(self):
        return f"MNIST(train={self.x_train.shape}, test={self.x_test.shape})"


def load_mnist(root=None, download=True):
    """Load MNIST from `root` (see module doc for the default folder).

    Returns MNIST(x_train (60000, 28, 28) uint8, y_train (60000,) int64,
                  x_test (10000, 28, 28) uint8, y_test (10000,) int64).

    Raises DataNotFoundError if files are missing and cannot be downloaded,
    ChecksumError if a file's content is not the original, IDXFormatError if
    a file is not valid IDX or images and labels disagree in number.
    """
    folder = _folder(root)
    missing = [name for name in MNIST_FILES if _find(folder, name) is None]
    if missing and has_all_files(folder / "mnist"):
        raise DataNotFoundError(    # root given as $MINIDL_DATA is: do not download twice
            f"MNIST files missing from {folder}, but {folder / 'mnist'} has them all: "
            f"load_mnist(root) takes the folder that holds the files, here "
            f"load_mnist({str(folder / 'mnist')!r}) ($MINIDL_DATA may name either)")
    if missing and not download:
        raise DataNotFoundError(_not_found_message(folder, missing))
    for name in missing:
        _download(name, folder, missing)

    arrays = {name: _read_verified(_find(folder, name), name) for name in MNIST_FILES}
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


def _folder(root):
    """The folder holding the four files."""
    if root is not None:
        return Path(root).expanduser()
    if os.environ.get("MINIDL_DATA"):
        data = Path(os.environ["MINIDL_DATA"]).expanduser()
        if has_all_files(data) and not has_all_files(data / "mnist"):
            return data          # MINIDL_DATA named the files' own folder, not the one above
        return data / "mnist"
    return Path.home() / ".cache" / "minidl" / "mnist"


def has_all_files(folder):
    """Whether `folder` holds the four MNIST files (each gzipped or not)."""
    return all(_find(folder, name) for name in MNIST_FILES)


def _find(folder, name):
    """Path of `name` (uncompressed, preferred as faster) or `name.gz`, or None."""
    for candidate in (folder / name, folder / f"{name}.gz"):
        if candidate.is_file():
            return candidate
    return None


def _read_verified(path, name):
    """read_idx(path), checking the MD5 of the uncompressed bytes."""
    hint = "Delete it and load again to re-download it, or replace it with a good copy."
    if path.name == name and path.with_name(f"{name}.gz").is_file():   # raw is read first
        hint = f"Delete it and load again: {name}.gz beside it will be read instead."
    try:
        array, md5 = read_idx(path, return_md5=True)
    except IDXFormatError as e:
        raise IDXFormatError(f"{e}. {hint}") from e
    expected = MNIST_FILES[name][1]
    if md5 != expected:
        raise ChecksumError(
            f"{path}: MD5 of the uncompressed bytes is {md5}, expected {expected} "
            f"(the file is damaged or not the original {name}). {hint}")
    return array


def _not_found_message(folder, missing, failures=()):
    lines = [f"MNIST files missing from {folder}: {', '.join(missing)}."]
    if failures:
        lines.append("Downloading failed from every mirror:")
        lines += [f"    {url}: {error}" for url, error in failures]
    lines.append(f"Put these four files in {folder} (gzipped or not):")
    lines += [f"    {name}.gz" for name in MNIST_FILES]
    lines.append("or point minidl at a folder that has them: set the environment\n"
                 "variable MINIDL_DATA to the folder that contains mnist/ (files in\n"
                 "$MINIDL_DATA/mnist/), or pass that folder to the scripts' --data-dir.")
    return "\n".join(lines)


def _download(name, folder, missing):
    """Fetch name.gz into folder from the first mirror that gives a good copy.
    (`missing`, all the files still to fetch, is for the error message.)"""
    dest = folder / f"{name}.gz"
    failures, bad_copy = [], None
    for mirror in MIRRORS:
        url = mirror.rstrip("/") + "/" + dest.name
        try:
            _fetch(url, dest, MNIST_FILES[name][1])
            return
        except ChecksumError as e:
            failures.append((url, e))
            bad_copy = e
        except (OSError, http.client.HTTPException, ValueError) as e:
            failures.append((url, e))
    if bad_copy is not None:
        raise bad_copy
    raise DataNotFoundError(_not_found_message(folder, missing, failures))


def _fetch(url, dest, expected_md5):
    """Download url into a temporary file next to dest, check its MD5, then
    rename it to dest. On any failure (Ctrl-C too) the temporary file is removed
    (files.atomic_path)."""
    with atomic_path(dest, suffix=".part") as tmp:
        with open(tmp, "wb") as out, urlopen(url, timeout=TIMEOUT) as response:
            length = response.headers.get("Content-Length")
            total = int(length) if length else None
            received = 0
            with tqdm(total=total, unit="B", unit_scale=True, desc=dest.name,
                      leave=False) as bar:
                while chunk := response.read(CHUNK):
                    out.write(chunk)
                    received += len(chunk)
                    bar.update(len(chunk))
            if total is not None and received != total:
                raise OSError(f"connection closed after {received} of {total} bytes")
        try:
            md5 = md5_decompressed(tmp)
        except IDXFormatError as e:
            raise ChecksumError(f"{url}: download is not a valid gzip file ({e}); "
                                "discarded") from e
        if md5 != expected_md5:
            raise ChecksumError(
                f"{url}: MD5 of the uncompressed bytes is {md5}, expected "
                f"{expected_md5}; the download was discarded")
