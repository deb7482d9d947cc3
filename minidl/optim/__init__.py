from minidl.optim.schedules import constant, cosine, step_decay
from minidl.optim.sgd import SGD

__all__ = ["SGD", "constant", "cosine", "step_decay"]
