"""Model builders with Batch Normalization placed as the paper prescribes.

With batchnorm=True every hidden block is
    Dense/Conv2D(bias=False) -> BatchNorm -> activation,      z = g(BN(W u))
i.e. BN normalizes the pre-activation W u, before the nonlinearity, and the
layer's bias b is dropped because BN's beta plays its role (section 3.2: the
mean subtraction would cancel any b). With batchnorm=False a block is
    Dense/Conv2D(bias=True) -> activation.
The output layer always keeps its bias and has no BN.

Initialization: "he" for ReLU, "xavier" for sigmoid and tanh (see
minidl/layers/init.py), or pass init=<std> for a plain Gaussian. The same
seed draws the same weights with and without BN (BN's gamma/beta draw nothing),
so the two nets of an experiment start from identical W.
"""
import numpy as np

from minidl.errors import SettingError, check_dtype, check_int
from minidl.layers import BatchNorm, Conv2D, Dense, Flatten, MaxPool2D, ReLU, Sigmoid, Tanh
from minidl.layers.init import as_rng
from minidl.model import Sequential

ACTIVATIONS = {"relu": ReLU, "sigmoid": Sigmoid, "tanh": Tanh}


def _setup(owner, activation, init, seed, dtype, batchnorm):
    """The activation class, the weight init (he for ReLU, xavier otherwise,
    unless given) and the random generator every layer of one builder shares;
    dtype and batchnorm are checked here so that the error names the builder."""
    if not isinstance(batchnorm, (bool, np.bool_)):   # "False" is true: a BN net, unsaid
        raise SettingError(f"{owner}: batchnorm must be True or False, got {batchnorm!r}")
    if activation not in ACTIVATIONS:
        raise SettingError(f"{owner}: activation must be one of {sorted(ACTIVATIONS)}, "
                           f"got {activation!r}")
    check_dtype(owner, dtype)
    default = "he" if activation == "relu" else "xavier"
    return ACTIVATIONS[activation], default if init is None else init, as_rng(seed, owner, "seed")


def _block(layer, features, batchnorm, act, bn_momentum, dtype):
    """layer -> [BN] -> activation: BN normalizes the layer's output before the
    nonlinearity, z = g(BN(W u)); the layer was built with bias=not batchnorm."""
    bn = [BatchNorm(features, momentum=bn_momentum, dtype=dtype)] if batchnorm else []
    return [layer, *bn, act()]


def _output_init(init):
    """The output layer feeds the softmax, not a ReLU: xavier unless a std is given."""
    return "xavier" if init in ("he", "xavier") else init


def _widths(owner, name, widths):
    """Layer widths as a list of ints >= 1; one int is one layer (100 is [100])."""
    if isinstance(widths, str) or np.ndim(widths) == 0:
        widths = [widths]
    return [check_int(owner, name, w) for w in widths]


def mlp(in_features, hidden, out_features, activation="relu", batchnorm=False,
        init=None, seed=None, bn_momentum=0.1, dtype="float32"):
    """Fully connected net in_features -> hidden[0] -> ... -> out_features
    (hidden: the widths of the hidden layers; one int is one hidden layer).

    mlp(784, [100, 100, 100], 10, "sigmoid", batchnorm=True, init=0.1) is the
    network of the paper's MNIST experiment (section 4.1), as compare_bn.py --paper
    trains it.
    """
    act, init, rng = _setup("mlp", activation, init, seed, dtype, batchnorm)
    layers, fan_in = [], in_features
    widths = _widths("mlp", "hidden (the widths of the hidden layers)", hidden)
    for width in widths:
        dense = Dense(fan_in, width, bias=not batchnorm, init=init, rng=rng, dtype=dtype)
        layers += _block(dense, width, batchnorm, act, bn_momentum, dtype)
        fan_in = width
    layers.append(Dense(fan_in, out_features, init=_output_init(init), rng=rng, dtype=dtype))
    return Sequential(*layers)


def cnn(in_channels=1, num_classes=10, batchnorm=False, activation="relu", image_size=28,
        channels=(16, 32), init=None, seed=None, bn_momentum=0.1, dtype="float32"):
    """conv3x3(16, pad 1) -> [BN] -> act -> pool2 -> conv3x3(32, pad 1) -> [BN] -> act
    -> pool2 -> Flatten -> Dense(num_classes). Input (N, in_channels, H, W), H = W = image_size.
    channels: the output channels of each conv block; one int is one block.
    """
    act, init, rng = _setup("cnn", activation, init, seed, dtype, batchnorm)
    image_size = check_int("cnn", "image_size (the side of a square image, H = W)", image_size)
    channels = _widths("cnn", "channels (of each conv block)", channels)
    layers, c_in, size = [], in_channels, image_size
    for c_out in channels:
        conv = Conv2D(c_in, c_out, 3, padding=1, bias=not batchnorm, init=init, rng=rng,
                      dtype=dtype)
        layers += _block(conv, c_out, batchnorm, act, bn_momentum, dtype) + [MaxPool2D(2)]
        c_in, size = c_out, size // 2
    if size < 1:
        raise SettingError(f"cnn: image_size {image_size} is too small for {len(channels)} "
                           f"poolings by 2; it needs at least {2 ** len(channels)}")
    layers += [Flatten(), Dense(c_in * size * size, num_classes, init=_output_init(init),
                                rng=rng, dtype=dtype)]
    return Sequential(*layers)
