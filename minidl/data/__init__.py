"""Data: the IDX file format, the MNIST data set, and mini-batch loading."""

from .augment import random_shift
from .idx import md5_decompressed, read_idx
from .loader import DataLoader
from .mnist import MNIST, MNIST_FILES, load_mnist, mnist_folder

__all__ = ["read_idx", "md5_decompressed", "load_mnist", "mnist_folder", "MNIST", "MNIST_FILES",
           "DataLoader", "random_shift"]
