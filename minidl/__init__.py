"""minidl: a from-scratch deep-learning framework in NumPy, built to teach
backpropagation and Batch Normalization (Ioffe & Szegedy, 2015)."""
from minidl import layers, losses, models, optim
from minidl.losses import SoftmaxCrossEntropy
from minidl.model import Sequential

__version__ = "0.1.0"
__all__ = ["layers", "losses", "models", "optim", "Sequential", "SoftmaxCrossEntropy"]
