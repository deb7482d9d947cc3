"""Softmax cross-entropy, fused: the softmax and the loss in one step (the loss
is no Layer: its backward takes no dy, it starts the chain).

For logits z (N, C) and integer labels t (N,):
    p = softmax(z),   L = -1/N sum_n log p[n, t_n]
and the gradient is simply dL/dz = (p - onehot(t)) / N.
log p is computed as z - logsumexp(z) with the row maximum subtracted first,
so logits of +-1e4 give a finite loss instead of exp() overflowing.
"""
import numpy as np

from minidl.errors import BackwardError, LabelError, ShapeError


class SoftmaxCrossEntropy:
    """forward(logits (N, C), labels (N,) int) -> mean loss (float);
    backward() -> dL/dlogits (N, C)."""

    def __init__(self):
        self._cache = None

    def forward(self, logits, labels):
        labels = np.asarray(labels)
        self._check(logits, labels)
        shifted = logits - logits.max(axis=1, keepdims=True)     # z - max z: exp() <= 1
        exp = np.exp(shifted)
        sum_exp = exp.sum(axis=1, keepdims=True)
        rows = np.arange(len(labels))
        log_p_true = shifted[rows, labels] - np.log(sum_exp[:, 0])   # log softmax at t_n
        exp /= sum_exp                                           # p = softmax(z)
        self._cache = (exp, labels)
        # mean over the batch; 0.0 - (not a minus sign) makes a perfect batch 0.0, not -0.0
        return 0.0 - float(log_p_true.sum()) / len(labels)

    def __call__(self, logits, labels):   # a forward set on the instance (profiler) runs too
        return self.forward(logits, labels)

    def backward(self):
        if self._cache is None:
            raise BackwardError("SoftmaxCrossEntropy: backward() called without a forward() "
                                "before it (or twice for one forward)")
        p, labels = self._cache
        self._cache = None
        n = len(labels)
        p[np.arange(n), labels] -= 1                             # p - onehot(t)
        p /= n                                                   # mean over the batch
        return p

    @staticmethod
    def _check(logits, labels):
        if not isinstance(logits, np.ndarray) or logits.ndim != 2:
            raise ShapeError("SoftmaxCrossEntropy: expected logits of shape (N, C), got "
                             f"{getattr(logits, 'shape', type(logits).__name__)}")
        if logits.dtype.kind != "f":
            raise ShapeError(f"SoftmaxCrossEntropy: expected floating logits, got {logits.dtype}")
        n, c = logits.shape
        if n == 0:
            raise ShapeError("SoftmaxCrossEntropy: got an empty batch")
        if labels.shape == (n, c):                               # one-hot rows
            raise LabelError(f"SoftmaxCrossEntropy: labels of shape {labels.shape} look one-hot; "
                             "minidl takes class indices, one per row: y.argmax(axis=1)")
        if labels.dtype.kind not in "iu":                        # signed or unsigned int
            raise LabelError("SoftmaxCrossEntropy: labels must be integer class indices "
                             f"(dtype int), got dtype {labels.dtype}" + (
                                 "; as class numbers: y.astype(np.int64)"
                                 if labels.dtype.kind in "fb" else ""))    # floats, bools
        if labels.shape != (n,):
            raise LabelError(f"SoftmaxCrossEntropy: expected one label per row, shape ({n},), "
                             f"got shape {labels.shape}" + (
                                 "; a column of labels: y.ravel()" if labels.shape == (n, 1)
                                 else ""))
        if c == 1:                     # each row's softmax is 1: the loss is 0, whatever
            raise ShapeError("SoftmaxCrossEntropy: the logits have 1 column; softmax "
                             "cross-entropy needs one output per class, 2 or more (2 for "
                             "a yes/no task)")
        lo, hi = labels.min(), labels.max()
        if lo < 0 or hi >= c:
            raise LabelError(f"SoftmaxCrossEntropy: labels must lie in 0..{c - 1} for {c} "
                             f"classes, got values from {lo} to {hi}" + (
                                 f"; numbered from 1? y - 1 gives 0..{c - 1}"
                                 if lo == 1 and hi == c else ""))

    def __repr__(self):
        return "SoftmaxCrossEntropy()"
