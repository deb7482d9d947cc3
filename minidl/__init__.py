"""minidl: a from-scratch deep-learning framework in NumPy, built to teach
backpropagation and Batch Normalization (Ioffe & Szegedy, 2015)."""
from minidl import layers, losses, models, optim
from minidl.losses import SoftmaxCrossEntropy
from minidl.model import Sequential

__version__ = "0.1.0"
__all__ = ["layers", "losses", "models", "optim", "Sequential", "SoftmaxCrossEntropy"]


# the other modules are imported on first use, so that `import minidl` stays quick (plot
# imports matplotlib) and minidl.data.load_mnist works after a plain `import minidl`
def __getattr__(name):
    import importlib
    if name.isidentifier():                 # not "data.mnist" or ".x"
        try:
            return importlib.import_module(f"minidl.{name}")
        except ModuleNotFoundError as e:
            if e.name != f"minidl.{name}":  # a module of minidl that fails to import
                raise
    raise AttributeError(f"module 'minidl' has no attribute {name!r}")
