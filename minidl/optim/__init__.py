from minidl.optim.sgd import SGD

__all__ = ["SGD"]
