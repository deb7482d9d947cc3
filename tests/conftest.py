"""Shared test helpers. The real MNIST data: `mnist_root()` and the `mnist` fixture;
`assert_png` for the plots the library and the scripts write; `random_bn` for
gradient checks of BatchNorm."""

import os
from pathlib import Path

import numpy as np
import pytest

from minidl.data import load_mnist, mnist_folder
from minidl.errors import DataNotFoundError

REPO = Path(__file__).resolve().parents[1]


def mnist_root():
    """Folder with the real MNIST files: the one load_mnist() reads if MINIDL_DATA
    is set ($MINIDL_DATA/mnist, or $MINIDL_DATA itself if the files are there),
    else <repo>/../shared/data/mnist if it exists, else None."""
    if os.environ.get("MINIDL_DATA"):    # absolute: tests link to it from other folders
        return mnist_folder().absolute()
    shared = REPO.parent / "shared" / "data" / "mnist"
    return shared if shared.is_dir() else None


@pytest.fixture(scope="session")
def mnist():
    """The real MNIST (loaded once per session). Skips when absent, unless
    MINIDL_REQUIRE_DATA=1, in which case absence fails the test."""
    root = mnist_root()
    try:
        if root is None:
            raise DataNotFoundError("set MINIDL_DATA or provide ../shared/data/mnist")
        return load_mnist(root, download=False)
    except DataNotFoundError as e:
        skip_without_data(str(e).splitlines()[0])


def skip_without_data(why):
    """Skip a test that needs the real MNIST, or fail it when MINIDL_REQUIRE_DATA=1 (CI)."""
    if os.environ.get("MINIDL_REQUIRE_DATA") == "1":
        pytest.fail(f"real MNIST required (MINIDL_REQUIRE_DATA=1) but not found: {why}")
    pytest.skip(f"real MNIST not found: {why}")


def assert_png(path):
    """path is a real PNG image of a plot: the PNG signature, and pixels that
    matplotlib can read back, at least 100 x 100 with colour channels."""
    import matplotlib.image as mimage
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    image = mimage.imread(path)
    assert image.ndim == 3 and image.shape[0] > 100 and image.shape[1] > 100


def random_bn(model, seed=5):
    """The BatchNorm layers of model (or model itself) with gamma and beta away from
    1 and 0: a factor of 1 hides a backward that leaves it out (gradcheck warns)."""
    from minidl.layers import BatchNorm
    rng = np.random.default_rng(seed)
    for bn in getattr(model, "layers", [model]):
        if isinstance(bn, BatchNorm):
            bn.params["gamma"][:] = rng.uniform(0.5, 2, bn.num_features)
            bn.params["beta"][:] = rng.standard_normal(bn.num_features)
    return model
