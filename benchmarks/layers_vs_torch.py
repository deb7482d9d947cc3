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

from bench_epoch import DEFAULT_BATCHES, have_torch, positive, setup, torch_model

PAUSE = 0.3   # seconds before each framework's turn
# which PyTorch modules may stand for a minidl layer
TWINS = {"Dense": ("Linear",), "Conv2D": ("Conv2d",), "BatchNorm": ("BatchNorm1d", "BatchNorm2d"),
         "ReLU": ("ReLU",), "MaxPool2D": ("MaxPool2d",), "Flatten": ("Flatten",)}


def check_twins(layer, module, i):
    """Stop unless the PyTorch module is the same kind of layer with as many
    parameters: otherwise the two sides would not do the same work."""
    ours = sum(v.size for v in layer.params.values())
    theirs = sum(p.numel() for p in module.parameters())
    if type(module).__name__ not in TWINS.get(type(layer).__name__, ()) or ours != theirs:
        raise SystemExit(f"layer {i}: minidl {layer!r} ({ours} parameters) against PyTorch "
                         f"{module!r} ({theirs}): bench_epoch.setup and torch_model disagree")


def minidl_call(layer, x, dy):
    def call():
        layer.forward(x)
        layer.backward(dy)
    return call


def torch_call(module, x, dy, input_grad):
    import torch
    x = torch.from_numpy(x.copy()).requires_grad_(input_grad)   # its own copy of the input
    dy = torch.from_numpy(dy)                                     # only read: shared is fine

    def call():
        for p in module.parameters():      # as zero_grad(set_to_none=True) in training
            p.grad = None
        x.grad = None
        module(x).backward(dy)
    return call


def seconds_per_call(call, number):
    """Mean time of `number` calls. First a pause, so that the other framework's
    threads stop spinning (NumPy's OpenBLAS threads keep a core busy for a
    while after a product), then one untimed call to wake this framework's
    threads and warm the caches."""
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
    if len(twins) != len(model.layers):
        raise SystemExit(f"minidl's {model_name} has {len(model.layers)} layers, "
                         f"PyTorch's {len(twins)}: bench_epoch.setup and torch_model disagree")
    rows = []
    for i, (layer, module) in enumerate(zip(model.layers, twins)):
        y = layer.forward(x)               # the next layer's input, and dy's shape;
        layer.forget()                     # forget it, so the timed calls start clean
        dy = rng.standard_normal(y.shape).astype(y.dtype)
        input_grad = i != first            # as in training: no dL/dx for the data
        layer.needs_input_grad = input_grad
        calls = {"minidl": minidl_call(layer, x, dy)}
        if module is not None:
            check_twins(layer, module, i)
            calls["torch"] = torch_call(module, x, dy, input_grad)
        times = {key: [] for key in calls}
        for _ in range(rounds + 1):                       # the first round warms up
            for key, call in calls.items():
                times[key].append(seconds_per_call(call, number))
        median_ms = {key: 1e3 * statistics.median(t[1:]) for key, t in times.items()}
        row = {"layer": f"{i}: {layer!r}", "input": list(x.shape)}
        row.update({f"{key}_ms": round(ms, 3) for key, ms in median_ms.items()})
        if "torch" in median_ms:
            ratio = median_ms["minidl"] / median_ms["torch"]   # 3 significant digits: a tiny
            row["minidl_vs_torch"] = float(f"{ratio:.3g}")      # layer's ratio never prints 0.0
        rows.append(row)
        x = y
    return rows


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", choices=["mlp", "cnn"], default="cnn")
    p.add_argument("--bn", choices=["on", "off"], default="on")
    p.add_argument("--batch", type=positive, help="default: 60 for mlp, 64 for cnn")
    p.add_argument("--number", type=positive, default=20, help="calls per round and framework")
    p.add_argument("--rounds", type=positive, default=7, help="timed rounds (after one warm-up)")
    p.add_argument("--no-torch", dest="torch", action="store_false", help="minidl only")
    args = p.parse_args(argv)
    use_torch = args.torch and have_torch()
    if use_torch:
        import torch
        torch.set_num_threads(2)
    batch = args.batch if args.batch is not None else DEFAULT_BATCHES[args.model][0]
    for row in compare(args.model, args.bn == "on", batch,
                       args.number, args.rounds, use_torch):
        print(json.dumps(row), flush=True)


if __name__ == "__main__":
    main()
