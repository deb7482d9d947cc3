"""minidl's layers: each has forward(x), backward(dy), params and grads."""
from minidl.layers.activations import ReLU, Sigmoid, Tanh
from minidl.layers.base import Layer, Param
from minidl.layers.batchnorm import BatchNorm
from minidl.layers.conv import Conv2D
from minidl.layers.dense import Dense
from minidl.layers.pool import MaxPool2D
from minidl.layers.reshape import Flatten

__all__ = ["Layer", "Param", "Dense", "Conv2D", "MaxPool2D", "Flatten", "ReLU",
           "Sigmoid", "Tanh", "BatchNorm"]
