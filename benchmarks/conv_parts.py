"""Each piece of a Conv2D training step timed alone, for both im2col paths.

    python benchmarks/conv_parts.py                       # the CNN's second convolution
    python benchmarks/conv_parts.py --channels 1 --filters 16 --size 28

Times, with the layer's own functions and the shapes of a training step,
min(timeit.repeat(...)) of: the general path's padded copy + im2col and
col2im + cropping of the padding (conv.py), the "same" path's im2col_same and
col2im_same (im2col_same.py), and the pieces both share: the three matrix
products and the two transposes to and from NCHW. Alone means warm caches: in
a training step every piece takes longer (profile_layers.py shows the
layers). Prints one JSON line per piece, in milliseconds, and checks that the
two paths give the same columns and the same gradient.

Then, for scale: the sum of the three products, the whole Conv2D layer's
forward and backward (dL/dx included, as for a layer after the first), and,
when PyTorch is importable, the same convolution's forward and backward in
PyTorch (2 threads, each after a pause of bench_epoch.PAUSE), checked to
give the layer's output and gradients. Any im2col convolution needs the
three products; PyTorch's CPU convolution does not build the columns.
"""
import argparse
import json
import time
import timeit

import numpy as np
from bench_epoch import PAUSE, have_torch, positive

from minidl.layers.conv import Conv2D, col2im, im2col
from minidl.layers.im2col_same import col2im_same, im2col_same


def pieces(n, c, f, size, k=3):
    """{name: function} of one stride-1 'same' convolution's pieces, on random data."""
    rng = np.random.default_rng(0)
    p, hw = (k - 1) // 2, size * size
    x = rng.standard_normal((n, c, size, size), dtype=np.float32)
    w = rng.standard_normal((f, c * k * k), dtype=np.float32)
    dy = rng.standard_normal((n, f, size, size), dtype=np.float32)
    xp = np.zeros((n, c, size + 2 * p, size + 2 * p), np.float32)
    cols_buf, dx_buf = np.empty(c * k * k * n * hw, np.float32), np.empty(xp.size, np.float32)
    cols = im2col_same(x, k).transpose(1, 0, 2).reshape(c * k * k, -1)   # (K, N*P)
    dy_t = np.ascontiguousarray(dy.reshape(n, f, hw).transpose(1, 0, 2)).reshape(f, -1)
    y = w @ cols
    dcols = (w.T @ dy_t).reshape(-1, n, hw).transpose(1, 0, 2)   # (N, K, P), as the layer has it
    # col2im_same zeroes entries of its input: its own copy, in the layer's memory layout
    # (dcols.copy() would lay it out as (N, K, P) and time another access pattern)
    scratch = (w.T @ dy_t).reshape(-1, n, hw).transpose(1, 0, 2)

    def padded_im2col():
        xp[:, :, p:p + size, p:p + size] = x
        return im2col(xp, k, k, 1, size, size, out=cols_buf)

    def col2im_cropped():
        dxp = col2im(dcols, xp.shape, k, k, 1, size, size, out=dx_buf)
        return dxp[:, :, p:p + size, p:p + size].copy()

    if not np.array_equal(padded_im2col(), im2col_same(x, k)):
        raise SystemExit("conv_parts: im2col_same and im2col disagree")
    # col2im_same zeroes the padding's entries of its input: the same work every call
    if not np.array_equal(col2im_cropped(), col2im_same(scratch, x.shape, k)):
        raise SystemExit("conv_parts: col2im_same and col2im disagree")
    return {
        "general: pad + im2col": padded_im2col,
        "same: im2col_same": lambda: im2col_same(x, k, out=cols_buf),
        "product W @ cols (forward)": lambda: w @ cols,
        "(F, N*P) -> NCHW": lambda: np.ascontiguousarray(
            y.reshape(f, n, size, size).transpose(1, 0, 2, 3)),
        "dy NCHW -> (F, N*P)": lambda: np.ascontiguousarray(
            dy.reshape(n, f, hw).transpose(1, 0, 2)),
        "product dy @ cols.T (dW)": lambda: dy_t @ cols.T,
        "product W.T @ dy (dcols)": lambda: w.T @ dy_t,
        "general: col2im + crop": col2im_cropped,
        "same: col2im_same": lambda: col2im_same(scratch, x.shape, k),
    }


def whole_layers(n, c, f, size, use_torch, k=3):
    """{name: function}: one training call, forward and backward, of the whole
    stride-1 'same' convolution without a bias (as before BN in the BN CNN),
    minidl's layer and (use_torch) PyTorch's."""
    rng = np.random.default_rng(1)
    layer = Conv2D(c, f, k, padding=(k - 1) // 2, bias=False, rng=rng)
    x = rng.standard_normal((n, c, size, size), dtype=np.float32)
    dy = rng.standard_normal((n, f, size, size), dtype=np.float32)

    def minidl_call():
        layer.forward(x)
        return layer.backward(dy)

    calls = {"minidl: Conv2D forward + backward": minidl_call}
    if use_torch:
        import torch
        torch.set_num_threads(2)
        xt = torch.from_numpy(x.copy()).requires_grad_(True)
        wt = torch.from_numpy(layer.params["W"].copy()).requires_grad_(True)

        def torch_call():
            xt.grad = wt.grad = None
            torch.nn.functional.conv2d(xt, wt, padding=(k - 1) // 2).backward(
                torch.from_numpy(dy))
            return xt.grad

        y, dx = layer.forward(x), layer.backward(dy)
        yt = torch.nn.functional.conv2d(xt, wt, padding=(k - 1) // 2)
        yt.backward(torch.from_numpy(dy))
        for name, ours, theirs in [("output", y, yt), ("dL/dx", dx, xt.grad),
                                   ("dL/dW", layer.grads["W"], wt.grad)]:
            theirs = theirs.detach().numpy()
            if not np.allclose(ours, theirs, rtol=1e-3, atol=1e-3 * np.abs(theirs).max()):
                raise SystemExit(f"conv_parts: minidl's and PyTorch's {name} disagree")
        calls["PyTorch: conv2d forward + backward"] = torch_call
    return calls


def min_ms(fn, number, pause=0.0):
    """min(timeit.repeat(...)) per call in ms, after an optional pause (another
    framework's threads may still be spinning) and one untimed call."""
    time.sleep(pause)
    fn()
    return min(timeit.repeat(fn, number=number, repeat=7)) / number * 1e3


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--batch", type=positive, default=64)
    ap.add_argument("--channels", type=positive, default=16, help="input channels")
    ap.add_argument("--filters", type=positive, default=32, help="output channels")
    ap.add_argument("--size", type=positive, default=14, help="image height = width")
    ap.add_argument("--number", type=positive, default=50, help="calls per repeat")
    ap.add_argument("--no-torch", dest="torch", action="store_false",
                    help="leave out PyTorch's convolution")
    args = ap.parse_args(argv)
    shape = (args.batch, args.channels, args.filters, args.size)
    products = 0.0
    for name, fn in pieces(*shape).items():
        ms = min_ms(fn, args.number)
        products += ms if name.startswith("product") else 0.0
        print(json.dumps({"piece": name, "ms": round(ms, 3)}), flush=True)
    print(json.dumps({"piece": "sum of the three products", "ms": round(products, 3)}))
    for name, fn in whole_layers(*shape, use_torch=args.torch and have_torch()).items():
        ms = min_ms(fn, args.number, pause=PAUSE)
        print(json.dumps({"piece": name, "ms": round(ms, 3)}), flush=True)


if __name__ == "__main__":
    main()
