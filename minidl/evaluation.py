"""Measuring a model: mean loss and accuracy over a data set, and its predictions.

    loss, accuracy = evaluate(model, SoftmaxCrossEntropy(), test_loader)
    predicted, labels = predict(model, test_loader)

Both run the model in eval mode (BatchNorm uses its running estimates of the
population statistics, which stand for Algorithm 2's averages: docs/batchnorm.md,
section 6) and restore the mode it was in. The Trainer calls
evaluate() at every record; evaluate.py in examples/mnist uses both.
"""
import numpy as np

from minidl.data.loader import DataLoader
from minidl.data.mnist import MNIST
from minidl.errors import DivergenceError, SettingError, ShapeError, given, has_methods


def check_loader(owner, loader):
    """An (x, y) pair of arrays, images alone, or the data set, where batches are expected."""
    if isinstance(loader, MNIST):   # it unpacks as Keras's load_data(), not into batches
        split, rest = ("train", "64") if "train" in owner else ("test", "1000, shuffle=False")
        raise SettingError(f"{owner} got the MNIST data set itself; give a loader of its "
                           f"batches, converted as in training: DataLoader(data.x_{split}, "
                           f"data.y_{split}, {rest}, mean=..., std=...)")
    if isinstance(loader, (tuple, list)) and len(loader) == 2 and all(
            isinstance(a, np.ndarray) for a in loader):
        raise SettingError(f"{owner} got a pair of arrays (x, y); wrap them in a loader of "
                           "batches, converted as in training: DataLoader(x, y, batch_size, "
                           "shuffle=False) with the training loader's mean=, std= and shape=")
    if isinstance(loader, np.ndarray):   # iterating it would unpack rows as (xb, yb)
        raise SettingError(
            f"{owner} got an array of shape {loader.shape}; it takes a loader of (x, y) "
            "batches, converted as in training: DataLoader(x, y, batch_size, shuffle=False) "
            "with the training loader's mean=, std= and shape=. To classify images "
            "without labels, convert them as the training loader did (xb, _ = "
            "loader.batch(indices) for its own images) and take `with model.inference(): "
            "model.forward(xb).argmax(axis=1)`")


def loss_value(loss, loss_fn):
    """The mean loss that loss_fn.forward returned, as a Python float (a NumPy
    scalar would not go into a JSON history); anything but one number is refused,
    by name, rather than failing later in a comparison or in json."""
    if type(loss) is float:
        return loss
    if np.ndim(loss) == 0 and np.asarray(loss).dtype.kind in "fiu":
        return float(loss)
    got = (f"an array of shape {np.shape(loss)}" if isinstance(loss, np.ndarray) else
           f"a {type(loss).__name__}")
    raise SettingError(f"{type(loss_fn).__name__}.forward must return the batch's mean loss "
                       f"as one number, got {got}" + (" (per-sample losses? return their mean)"
                                                      if np.size(loss) > 1 else ""))


def tally(totals, loss, logits, yb, finite=False):
    """totals = [loss summed over samples, correct predictions, samples]: add one
    batch whose mean loss is `loss`. Correct predictions are counted only where
    the outputs are class scores (N, classes > 1) and the labels one class index
    per sample (N,); otherwise, for a model with one output (a sigmoid and a loss
    of your own) or targets that are not classes, they become None: comparing
    argmax with such labels gives numbers, even above 100%, that mean nothing.
    finite: the logits are known to have a class in every row (a training step,
    whose loss was finite), so argmax is taken without classes()' check."""
    totals[0] += loss * len(yb)
    class_scores = logits.ndim == 2 and logits.shape[1] > 1 and np.shape(yb) == logits.shape[:1]
    if not class_scores:
        totals[1] = None
    elif totals[1] is not None:
        predicted = logits.argmax(axis=1) if finite else classes(logits)
        totals[1] += int(np.count_nonzero(predicted == yb))
    totals[2] += len(yb)


def classes(logits):
    """The predicted class of each row of logits (its largest entry), and -1 for a
    row with NaN or infinite entries, which matches no label: argmax would call
    such a row class 0 (the first NaN), right whenever the label is 0."""
    predicted = logits.argmax(axis=1)
    bad = ~np.isfinite(logits).all(axis=1)
    predicted[bad] = -1
    return predicted


def _batches(loader):
    """A DataLoader whole and in order (loader.in_order()), even if an epoch of it
    was left unfinished; any other iterable of (xb, yb) batches as it comes."""
    return loader.in_order() if isinstance(loader, DataLoader) else loader


def evaluate(model, loss_fn, loader):
    """Mean loss and accuracy of ``model`` over ``loader``, in eval mode, in
    batches (the accuracy None where the outputs are not class scores: tally());
    the model's mode is restored afterwards. A DataLoader is read whole,
    in order (loader.in_order()), even if an epoch of it was left unfinished;
    any other iterable of (xb, yb) batches is read as it comes."""
    check_loader("evaluate", loader)
    if not has_methods(loss_fn, "forward"):      # a forward-only metric will do
        raise SettingError(f"evaluate(model, loss_fn, loader): loss_fn must be a loss such as "
                           f"SoftmaxCrossEntropy(), got {given(loss_fn, 'forward')}")
    totals = [0.0, 0, 0]
    with model.inference():
        for xb, yb in _batches(loader):
            logits = model.forward(xb)
            tally(totals, loss_value(loss_fn.forward(logits, yb), loss_fn), logits, yb)
    loss_sum, correct, n = totals
    if n == 0:
        raise ShapeError("evaluate: the loader yielded no batch (an empty or used-up iterable?)")
    return loss_sum / n, None if correct is None else correct / n


def predict(model, loader):
    """(predictions, labels): the class ``model`` predicts for every sample of
    ``loader`` (the largest logit), in eval mode, and the labels, as two arrays
    in the loader's order. A DataLoader is read whole and in order, as evaluate()
    reads it."""
    check_loader("predict", loader)
    predictions, labels, bad_x = [], [], 0
    with model.inference():
        for xb, yb in _batches(loader):
            predictions.append(classes(model.forward(xb)))
            labels.append(np.asarray(yb))
            bad = predictions[-1] < 0       # rows without a class: do their inputs hold NaN?
            if bad.any():
                bad_x += int(np.count_nonzero(~np.isfinite(xb[bad]).reshape(
                    np.count_nonzero(bad), -1).all(axis=1)))
    if not predictions:
        raise ShapeError("predict: the loader yielded no batch (an empty or used-up iterable?)")
    predictions = np.concatenate(predictions)
    bad = int(np.count_nonzero(predictions < 0))
    if bad:      # no class to give them: argmax would have said 0
        cause = (f"{bad_x} of their inputs hold NaN or infinite values" if bad_x else
                 "their inputs are finite, so the model's weights or BN statistics are NaN "
                 "or so large that its forward overflows (a diverged run?)")
        raise DivergenceError(f"predict: the model's logits are NaN or infinite for {bad} of "
                              f"{len(predictions)} samples, which have no predicted class; "
                              f"{cause}")
    return predictions, np.concatenate(labels)
