"""minidl: a from-scratch deep-learning framework in NumPy, built to teach
backpropagation and Batch Normalization (Ioffe & Szegedy, 2015)."""

__version__ = "0.1.0"
