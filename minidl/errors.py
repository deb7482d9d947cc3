"""The project's own error types.

Every error minidl raises on bad input is one of these, so a caller can catch
exactly "minidl refused this" without also catching its own bugs. Each is a
subclass of the built-in error a Python user would expect (ValueError for bad
data, RuntimeError for misuse of a layer), so generic handlers keep working.
check_int, check_number, check_dtype and has_methods, at the end, are the checks
of settings that layers, the optimizer, the data loader and the trainer share;
at_layer, a_class and given word the messages they share.
"""
import math
import os
import sys

import numpy as np


class MinidlError(Exception):
    """Base class of every error minidl raises on purpose."""


class SettingError(MinidlError, ValueError):
    """An argument has a value that cannot work: a learning rate of 0, a stride
    of 0, a batch size of 0, an unknown activation."""


class ShapeError(MinidlError, ValueError):
    """An array has the wrong number of dimensions, size or dtype for a layer.

    A layer's check of its input may add the usual fix to the message: ``hint``
    if x is the user's data; ``model_hint`` (not in the message) for a Sequential
    to use when x is the output of the layer before. ``said`` is the message
    without the hint."""

    def __init__(self, message="", *args, hint="", model_hint=""):
        super().__init__(f"{message}{hint}", *args)      # args: as ValueError takes them
        self.said = str((message, *args)) if args else str(message)   # as str() shows them
        self.hint, self.model_hint = hint, model_hint


class LabelError(MinidlError, ValueError):
    """Class labels are not integers in 0..C-1, one per row of the logits."""


class BackwardError(MinidlError, RuntimeError):
    """backward() called without a matching forward() (or twice for one forward), or,
    found by gradcheck, a layer that breaks the contract of forward and backward: a
    gradient added to instead of set, an input or dy written into."""


class IDXFormatError(MinidlError, ValueError):
    """An IDX file is truncated, has a wrong magic number, or an inconsistent header."""


class ChecksumError(MinidlError, ValueError):
    """A data file's decompressed bytes do not have the expected MD5 sum."""


class DataNotFoundError(MinidlError, FileNotFoundError):
    """Files that are needed (the data, an earlier run's results) are neither on disk nor
    downloadable."""


class CheckpointError(MinidlError, ValueError):
    """A checkpoint file is unreadable or does not match the model it is loaded into."""


class FormatError(MinidlError, ValueError):
    """A file is not in the format needed: a run's results that are not the JSON
    expected, or a plot's file name whose suffix names no image format."""


class DivergenceError(MinidlError, FloatingPointError):
    """Training produced a NaN or infinite loss."""


class CheckpointWarning(UserWarning):
    """A new run is about to replace another run's checkpoint file."""


class StaleGradientWarning(UserWarning):
    """An optimizer steps on gradients that no backward has made or renewed."""


def user_stacklevel():
    """The stacklevel for warnings.warn that points at the user's line: the first
    frame outside the minidl package, counted from the function that warns (a
    warning from Trainer.fit reached through fit() would name minidl's own line)."""
    package = os.path.dirname(os.path.abspath(__file__)) + os.sep
    frame, level = sys._getframe(1), 1
    while frame is not None and frame.f_code.co_filename.startswith(package):
        frame, level = frame.f_back, level + 1
    return level


def check_int(owner, name, value, minimum=1):
    """An int setting (a size, a stride, a batch size) checked when its object
    is built, not at first use: returns int(value), or raises SettingError
    naming the owner ("Conv2D") and the setting."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        kind = " (a bool)" if isinstance(value, (bool, np.bool_)) else ""
        raise SettingError(f"{owner}: {name} must be an int >= {minimum}, got {value!r}{kind}")
    return int(value)


def check_number(owner, name, value, ok, expected):
    """A real-number setting (a learning rate, an epsilon): returns float(value)
    if it is a finite number for which ok(value) holds, else raises SettingError
    naming the owner, the setting and what was expected."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)) \
            or not math.isfinite(value) or not ok(value):
        raise SettingError(f"{owner}: {name} must be {expected}, got {value!r}")
    return float(value)


def check_dtype(owner, dtype):
    """The dtype of a layer's parameters: returns np.dtype(dtype) if it is a float
    dtype, else raises SettingError. With int weights every forward would refuse
    its input, a float one and an int one alike."""
    message = f"{owner}: dtype must be a float dtype such as float32 (the default) or float64, got"
    try:
        dtype = np.dtype(dtype)        # np.float32, "float32" and float all name a dtype
    except (TypeError, ValueError):
        raise SettingError(f"{message} {dtype!r}") from None
    if dtype.kind != "f":
        raise SettingError(f"{message} {dtype}")
    return dtype


def at_layer(error, i):
    """A layer's ShapeError as raised from layer i of a Sequential. Past layer 0 the
    input was the output of the layer before, not data: the hint about the model
    replaces the one about data."""
    return ShapeError(f"layer {i} of the Sequential: {error.said}",
                      hint=error.model_hint if i else error.hint, model_hint=error.model_hint)


def a_class(cls, *methods):
    """How an error names a class given where an object belongs: "the class SGD,
    not an instance (write SGD(...))" if the class has the methods the object
    needs, else just "the class dict"."""
    name = cls.__name__
    if all(callable(getattr(cls, m, None)) for m in methods):
        return f"the class {name}, not an instance (write {name}(...))"
    return f"the class {name}"


def given(obj, *methods):
    """What was given, for an error: a class as a_class names it, else its repr."""
    return a_class(obj, *methods) if isinstance(obj, type) else repr(obj)


def has_methods(obj, *methods):
    """obj has these methods and is an object, not a class (SGD(...), not SGD)."""
    return not isinstance(obj, type) and all(callable(getattr(obj, m, None)) for m in methods)
