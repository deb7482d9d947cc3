"""Each layer of the benchmark models on its own, minidl against PyTorch:
forward plus backward for one batch, so a gap between the two frameworks can
be pinned on a layer.

    python benchmarks/layers_vs_torch.py --model cnn --bn on
    python benchmarks/layers_vs_torch.py --model mlp --bn on --batch 60

Layer i of minidl's model (bench_epoch.setup) is paired with layer i of its
PyTorch twin (bench_epoch.torch_model). Each gets a random input of the
shape it sees in training and a random upstream gradient. As in training,
the first layer with parameters does not compute the gradient for the data
(minidl: needs_input_grad = False; PyTorch: an input that does not require
grad). In each round both frameworks make --number timed calls of the same
layer, one after the other, each after one untimed call; the medians over
--rounds rounds are printed as one JSON line per layer, with minidl / torch.
Without PyTorch only minidl is timed.
"""
import argparse
import json
import statistics
import time

import numpy as np

from bench_epoch import DEFAULT_BATCHES, have_torch, setup, torch_model

PAUSE = 0.3   # seconds before each framework's turn
# which PyTorch module stands for which minidl layer
TWINS = {"Dense": "Linear", "Conv2D": "Conv2d", "BatchNorm": ("BatchNorm1d", "BatchNorm2d"),
         "ReLU": "ReLU", "MaxPool2D": "MaxPool2d", "Flatten": "Flatten"}


def minidl_call(layer, x, dy):
    def call():
        layer.forward(x)
        layer.backward(dy)
    return call


def torch_call(module, x, dy, input_grad):
    import torch
    x, dy = torch.from_numpy(x.copy()).requires_grad_(input_grad), torch.from_numpy(dy)

    def call():
        for p in module.parameters():      # as zero_grad(set_to_none=True) in training
            p.grad = None
        x.grad = None
        module(x).backward(dy)
    return call


def seconds_per_call(call, number):
    """Mean time of `number` calls, after one untimed call: the first call after
    the other framework's turn pays for its threads still holding the cores
    (NumPy's OpenBLAS threads keep spinning for a while after a product)."""
    time.sleep(PAUSE)
    call()
    t0 = time.perf_counter()
    for _ in range(number):
        call()
    return (time.perf_counter() - t0) / number


def compare(model_name, bn, batch, number=20, rounds=7, use_torch=True, seed=0):
    """One row per layer: name, input shape, and the median ms per call."""
    model = setup(model_name, bn, seed=seed)[0]
    rng = np.random.default_rng(seed)
    shape = (batch, 784) if model_name == "mlp" else (batch, 1, 28, 28)
    x = rng.standard_normal(shape).astype(np.float32)
    first = next(i for i, layer in enumerate(model.layers) if layer.params)
    twins = list(torch_model(model_name, bn)) if use_torch else [None] * len(model.layers)
    rows = []
    for i, (layer, module) in enumerate(zip(model.layers, twins)):
        y = layer.forward(x)
        layer.forget()
        dy = rng.standard_normal(y.shape).astype(y.dtype)
        layer.needs_input_grad = i != first
        calls = {"minidl": minidl_call(layer, x, dy)}
        if module is not None:
            name, want = type(module).__name__, TWINS[type(layer).__name__]
            assert name in (want if isinstance(want, tuple) else (want,)), (layer, module)
            calls["torch"] = torch_call(module, x, dy, input_grad=i != first)
        times = {key: [] for key in calls}
        for _ in range(rounds + 1):                       # the first round warms up
            for key, call in calls.items():
                times[key].append(seconds_per_call(call, number))
        row = {"layer": f"{i}: {layer!r}", "input": list(x.shape)}
        for key, t in times.items():
            row[f"{key}_ms"] = round(1e3 * statistics.median(t[1:]), 3)
        if "torch" in times:
            row["minidl_vs_torch"] = round(row["minidl_ms"] / row["torch_ms"], 2)
        rows.append(row)
        x = y
    return rows


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", choices=["mlp", "cnn"], default="cnn")
    p.add_argument("--bn", choices=["on", "off"], default="on")
    p.add_argument("--batch", type=int, help="default: 60 for mlp, 64 for cnn")
    p.add_argument("--number", type=int, default=20, help="calls per round and framework")
    p.add_argument("--rounds", type=int, default=7, help="timed rounds (after one warm-up)")
    p.add_argument("--no-torch", dest="torch", action="store_false", help="minidl only")
    args = p.parse_args(argv)
    use_torch = args.torch and have_torch()
    if use_torch:
        import torch
        torch.set_num_threads(2)
    for row in compare(args.model, args.bn == "on", args.batch or DEFAULT_BATCHES[args.model][0],
                       args.number, args.rounds, use_torch):
        print(json.dumps(row), flush=True)


if __name__ == "__main__":
    main()
