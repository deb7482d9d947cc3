"""Can the tests fail? A mutation check of the test suite.

Each mutant below is one small edit of minidl's code: a bug a student could
write (a missing term in BN's backward, Bessel's correction left out, a
transpose too few). For each one the script copies the repository to a
temporary folder, makes the edit there, runs the test files named for it, and
reports CAUGHT (a test failed) or SURVIVED (they all passed: a hole in the
tests). The repository itself is never touched.

    python tests/mutation.py                 # every mutant, about 3 minutes
    python tests/mutation.py bessel relu     # the mutants whose name contains these
    python tests/mutation.py --list

MNIST is read from $MINIDL_DATA as in the test suite. tests/test_mutation.py
checks that every edit still applies to the code as it is (an edit of a line
that has changed since must be updated there).
"""
import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from conftest import mnist_root

REPO = Path(__file__).resolve().parent.parent
BN, CONV, DENSE = "minidl/layers/batchnorm.py", "minidl/layers/conv.py", "minidl/layers/dense.py"
ACT, POOL, SGD = "minidl/layers/activations.py", "minidl/layers/pool.py", "minidl/optim/sgd.py"
SAME = "minidl/layers/im2col_same.py"

# (name, file, old text, new text, test files that should catch it)
MUTANTS = [
    ("bn-no-bessel", BN, "unbiased = var * (m / (m - 1))", "unbiased = var * 1",
     ["test_batchnorm.py"]),
    ("bn-backward-no-mean-dy", BN, "dx -= per_feature(dbeta / m, dy)", "dx -= 0 * dy",
     ["test_batchnorm.py"]),
    ("bn-backward-no-xhat-term", BN, "dx = x_hat * per_feature(-dgamma / m, dy)",
     "dx = x_hat * per_feature(0 * dgamma / m, dy)", ["test_batchnorm.py"]),
    ("bn-backward-no-gamma", BN, "scale = per_feature(gamma * inv_std, dy)",
     "scale = per_feature(inv_std, dy)", ["test_batchnorm.py"]),
    ("bn-no-eps", BN, "np.sqrt(var + self.eps)", "np.sqrt(var)", ["test_batchnorm.py"]),
    ("bn-eps-outside-sqrt", BN, "(1.0 / np.sqrt(var + self.eps))",
     "(1.0 / (np.sqrt(var) + self.eps))", ["test_batchnorm.py"]),
    ("bn-m-is-batch-size", BN, "m = x.size // self.num_features", "m = x.shape[0]",
     ["test_batchnorm.py"]),
    ("bn-channels-mixed-up", BN, "return np.repeat(v, x.shape[2] * x.shape[3])",
     "return np.tile(v, x.shape[2] * x.shape[3])", ["test_batchnorm.py"]),
    ("bn-eval-uses-batch-statistics", BN,
     "            mu, var = self.running_mean, self.running_var      # estimates of E[x], Var[x]\n"
     "            np.subtract(x, per_feature(mu, x), out=xc)\n",
     "            mu = channel_sum(x) / m\n"
     "            np.subtract(x, per_feature(mu, x), out=xc)\n"
     "            var = channel_dot(xc, xc) / m\n", ["test_batchnorm.py"]),
    ("bn-running-average-weights-swapped", BN,
     "        self.running_mean *= 1 - f\n        self.running_mean += f * mu\n",
     "        self.running_mean *= f\n        self.running_mean += (1 - f) * mu\n",
     ["test_batchnorm.py"]),
    ("bn-eval-backward-as-in-training", BN, "        if not training:", "        if False:",
     ["test_gradcheck_layers.py"]),
    ("conv-col2im-overwrites", CONV, "stride * wo:stride] += cols[:, :, i, j]",
     "stride * wo:stride] = cols[:, :, i, j]", ["test_gradcheck_layers.py"]),
    ("conv-im2col-offsets-swapped", CONV,
     "cols[:, :, i, j] = xp[:, :, i:i + stride * ho:stride, j:j + stride * wo:stride]",
     "cols[:, :, i, j] = xp[:, :, j:j + stride * ho:stride, i:i + stride * wo:stride]",
     ["test_gradcheck_layers.py"]),
    ("conv-db-mean", CONV, 'np.sum(dy_mat, axis=1, out=self.grads["b"])',
     'np.mean(dy_mat, axis=1, out=self.grads["b"])', ["test_gradcheck_layers.py"]),
    ("conv-first-layer-dw-mean", CONV, "np.sum(per_sample, axis=0,", "np.mean(per_sample, axis=0,",
     ["test_fast_paths.py"]),
    ("conv-first-layer-db-mean", CONV, "np.sum(dy, axis=(0, 2), out=",
     "np.mean(dy, axis=(0, 2), out=", ["test_fast_paths.py"]),
    ("conv-dx-cropped-at-0", CONV, "return dxp[:, :, p:p + x_shape[2], p:p + x_shape[3]].copy()",
     "return dxp[:, :, :x_shape[2], :x_shape[3]].copy()", ["test_gradcheck_layers.py"]),
    ("conv-dx-is-its-buffer", CONV, "p:p + x_shape[3]].copy()", "p:p + x_shape[3]]",
     ["test_aliasing.py"]),
    ("conv-padding-not-zeroed", CONV, "x.dtype, zeros=True)", "x.dtype, zeros=False)",
     ["test_fast_paths.py"]),
    ("conv-same-shift-transposed", SAME, "d = (i - p) * w + (j - p)                      # entry",
     "d = (j - p) * w + (i - p)                      # entry", ["test_gradcheck_layers.py"]),
    ("conv-same-wrapped-columns-kept", SAME,
     "_wrapped(j - p, w)] = 0    # wrapped around an edge: padding",
     "_wrapped(j - p, w)] = grid[:, i, j, :, :, _wrapped(j - p, w)]", ["test_gradcheck_layers.py"]),
    ("conv-same-rows-above-not-zeroed", SAME, "mat[:, i, j, :, :lo] = 0", "pass",
     ["test_fast_paths.py"]),
    ("conv-same-col2im-adds-the-padding", SAME,
     "            grid[:, i, j, :, :, _wrapped(j - p, w)] = 0    # read the padding, not a pixel\n",
     "", ["test_gradcheck_layers.py"]),
    ("dense-db-mean", DENSE, 'np.sum(dy, axis=0, out=self.grads["b"])',
     'np.mean(dy, axis=0, out=self.grads["b"])', ["test_gradcheck_layers.py"]),
    ("dense-dW-transposed-when-square", DENSE, 'np.matmul(x.T, dy, out=self.grads["W"])',
     'self.grads["W"][...] = (dy.T @ x) if dy.shape[1] == x.shape[1] else x.T @ dy',
     ["test_gradcheck_layers.py"]),
    ("relu-gradient-at-zero", ACT, "        mask = x > 0\n", "        mask = x >= 0\n",
     ["test_model.py"]),
    ("relu-zeros-not-zeroed", ACT, "x.dtype, zeros=True)", "x.dtype, zeros=False)",
     ["test_fast_paths.py"]),
    ("relu-forward-in-place", ACT, "return np.maximum(x, zeros)",
     "return np.maximum(x, zeros, out=x)", ["test_aliasing.py"]),
    ("sigmoid-derivative-sign", ACT, "return dy * y * (1 - y)", "return dy * y * (1 + y)",
     ["test_gradcheck_layers.py"]),
    ("tanh-derivative", ACT, "return dy * (1 - y * y)", "return dy * (1 - y)",
     ["test_gradcheck_layers.py"]),
    ("maxpool-ties-to-last", POOL, "better = planes[p] > m", "better = planes[p] >= m",
     ["test_fast_paths.py"]),
    ("maxpool-always-first-entry", POOL, "        y, arg = max_first(planes)\n",
     "        y, arg = max_first(planes); arg = np.zeros_like(arg)\n", ["test_fast_paths.py"]),
    ("loss-gradient-not-over-n", "minidl/losses.py", "        p /= n ", "        p /= 1 ",
     ["test_losses.py"]),
    ("loss-no-max-shift", "minidl/losses.py",
     "shifted = logits - logits.max(axis=1, keepdims=True)", "shifted = logits - 0",
     ["test_losses.py"]),
    ("loss-one-max-for-the-batch", "minidl/losses.py",
     "shifted = logits - logits.max(axis=1, keepdims=True)", "shifted = logits - logits.max()",
     ["test_losses.py"]),
    ("sgd-nesterov-without-mu", SGD, "g = g + mu * v if self.nesterov else v",
     "g = g + v if self.nesterov else v", ["test_model.py"]),
    ("sgd-decay-on-gamma-and-beta", SGD, 'return param.key not in ("b", "gamma", "beta")',
     'return param.key not in ("b",)', ["test_model.py"]),
    ("sgd-velocity-not-in-place", SGD, "                v *= mu\n                v += g",
     "                v = mu * v + g", ["test_model.py"]),
    ("builder-bias-before-bn", "minidl/models.py", "bias=not batchnorm, init=init, rng=rng, dtype",
     "bias=True, init=init, rng=rng, dtype", ["test_batchnorm.py"]),
    ("builder-bn-after-activation", "minidl/models.py", "return [layer, *bn, act()]",
     "return [layer, act(), *bn]", ["test_batchnorm.py"]),
    ("builder-bn-momentum-ignored", "minidl/models.py", "BatchNorm(features, momentum=bn_momentum,",
     "BatchNorm(features,", ["test_batchnorm.py"]),
    ("builder-output-layer-he", "minidl/models.py",
     'return "xavier" if init in ("he", "xavier") else init', "return init", ["test_batchnorm.py"]),
    ("mnist-checksum-skipped", "minidl/data/mnist.py", "    if md5 != expected:\n",
     "    if False:\n", ["test_data.py"]),
    ("checkpoint-layer-kinds-not-checked", "minidl/checkpoint.py",
     "    _check_layers(path, kinds, layer_kinds(model))\n", "", ["test_checkpoint.py"]),
    ("checkpoint-without-bn-statistics", "minidl/checkpoint.py",
     '    arrays.update({f"state/{k}": v for k, v in model.state().items()})\n', "",
     ["test_checkpoint.py"]),
    ("gradcheck-compares-analytic-with-itself", "minidl/gradcheck.py",
     "errors[name] = rel_error(analytic[name], numeric[name])",
     "errors[name] = rel_error(analytic[name], analytic[name])", ["test_gradcheck.py"]),
    ("gradcheck-one-sided-difference", "minidl/gradcheck.py",
     "grad[k] = (plus - minus) / (2 * eps)", "grad[k] = (plus - minus) / eps",
     ["test_gradcheck.py"]),
    ("gradcheck-first-layer-path-unchecked", "minidl/gradcheck_contract.py",
     "    _same_without_input_grad(before_backward, x, r, analytic)\n", "",
     ["test_gradcheck.py"]),
    ("gradcheck-first-layer-path-after-the-other", "minidl/gradcheck_contract.py",
     "    before_backward = copy.deepcopy(layer)", "    before_backward = layer",
     ["test_gradcheck.py"]),
    ("gradcheck-factor-hint-for-any-error", "minidl/gradcheck.py",
     "rel_error(analytic, c * numeric) > 1e-6", "rel_error(analytic, c * numeric) > 1",
     ["test_gradcheck.py"]),
    # found by an audit of the tests (2026-11-27, evening): each survived the whole suite,
    # or was caught only by a test of something else
    ("trainer-train-loss-since-step-0", "minidl/train.py",
     "        self._since_record = [0.0, 0, 0]\n        self.history", "        self.history",
     ["test_train.py"]),
    ("loader-drop-last-always-drops-the-same", "minidl/data/loader.py",
     "self.rng.permutation(n) if self.shuffle", "self.rng.permutation(self._end()) if self.shuffle",
     ["test_loader.py"]),
    ("sgd-decays-beta", SGD, 'return param.key not in ("b", "gamma", "beta")',
     'return param.key not in ("b", "gamma")', ["test_model.py"]),
    ("cosine-ignores-the-warmup", "minidl/optim/schedules.py",
     "t = min(1.0, (step - warmup) / max(1, total_steps - warmup))",
     "t = min(1.0, step / total_steps)", ["test_train.py"]),
    ("lazy-import-hides-the-error", "minidl/__init__.py",
     "            if e.name != f\"minidl.{name}\":  # a module of minidl that fails to import\n"
     "                raise\n", "            pass\n", ["test_model.py"]),
    # found by a second audit of the tests (2026-11-28, noon): each survived every test file
    # that mentions its code
    ("sgd-momentum-setter-resets-velocity", SGD,
     "self.velocity.setdefault(p.name, np.zeros_like(p.value))",
     "self.velocity.__setitem__(p.name, np.zeros_like(p.value))", ["test_model.py"]),
    ("sgd-ignores-the-decay-filter", SGD, "if self.weight_decay and self.decay_filter(p):",
     "if self.weight_decay and decays(p):", ["test_model.py"]),
    ("checkpoint-every-one-step-late", "minidl/train.py",
     "self.step % self.checkpoint_every == 0", "(self.step - 1) % self.checkpoint_every == 0",
     ["test_train.py"]),
    ("shift-never-by-plus-s", "minidl/data/augment.py", "rng.integers(0, 2 * s + 1, size=(2, n))",
     "rng.integers(0, 2 * s, size=(2, n))", ["test_loader.py"]),
    ("shift-transposes-the-image", "minidl/data/augment.py",
     "crops[np.arange(n), :, dy, dx].reshape(xb.shape)",
     "crops[np.arange(n), :, dy, dx].swapaxes(-1, -2).reshape(xb.shape)", ["test_loader.py"]),
    ("augment-after-standardizing", "minidl/data/loader.py",
     "        if self.augment is not None and rng is not None:\n            xb = self.augment(xb, "
     "rng)\n        if self.mean is not None:\n            xb -= self.mean\n",
     "        if self.mean is not None:\n            xb -= self.mean\n        if self.augment "
     "is not None and rng is not None:\n            xb = self.augment(xb, rng)\n",
     ["test_loader.py"]),
    ("replot-nan-differs-from-its-copy", "examples/mnist/compare_bn.py",
     "return a == b or (isinstance(a, float)", "return a == b or False and (isinstance(a, float)",
     ["test_compare_bn.py"]),
    ("loss-curve-one-step-early", "minidl/plot/curves.py",
     "steps = np.arange(1, len(h.step_loss) + 1)", "steps = np.arange(len(h.step_loss))",
     ["test_plot.py"]),
]


def apply(root, mutant):
    """Make the mutant's edit in the copy at root (the old text must occur once
    there) and return the file's text as it was."""
    name, file, old, new, _ = mutant
    path = Path(root) / file
    text = path.read_text()
    if text.count(old) != 1:
        raise ValueError(f"mutant {name}: its text occurs {text.count(old)} times in {file}, "
                         "not once; update it in tests/mutation.py")
    path.write_text(text.replace(old, new))
    return text


def fails(root, test_files, show=False):
    """Run these test files in the copy: True if a test failed (with show=True, the
    end of pytest's report is printed then)."""
    env = dict(os.environ, PYTHONPATH=str(root))         # the copy's minidl, not the installed one
    env.pop("MINIDL_MUTATION", None)                     # no mutation check inside a mutant's run
    data = mnist_root()              # conftest's: MINIDL_DATA's, or ../shared beside the repo
    if data is not None:             # absolute: the copy lies elsewhere, no ../shared beside it
        env["MINIDL_DATA"] = str(Path(data).resolve())
    tests = [f"tests/{t}" for t in test_files]
    result = subprocess.run([sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider",
                             *tests], cwd=root, env=env, capture_output=True, text=True)
    if result.returncode not in (0, 1):                   # 1: tests failed; else pytest broke
        raise RuntimeError(f"pytest ended with code {result.returncode}:\n{result.stdout[-2000:]}")
    if show and result.returncode == 1:
        print(result.stdout[-3000:])
    return result.returncode == 1


def _not_copied(folder, names):
    """What the copy leaves out: git's data, runs, build and cache files, and virtual
    environments (a venv made inside the repository, as the README's oldest-versions
    check does, would be hundreds of MB)."""
    skipped = shutil.ignore_patterns(".git", "runs", "*.egg-info", "__pycache__")(folder, names)
    return skipped | {n for n in names if os.path.isfile(os.path.join(folder, n, "pyvenv.cfg"))}


def main(argv=None):
    parser = argparse.ArgumentParser(description="Mutation check of the test suite.")
    parser.add_argument("names", nargs="*", help="run only mutants whose name contains these")
    parser.add_argument("--list", action="store_true", help="list the mutants and stop")
    args = parser.parse_args(argv)
    chosen = [m for m in MUTANTS if not args.names or any(n in m[0] for n in args.names)]
    if args.list or not chosen:
        print("\n".join(f"{m[0]:<42} {m[1]}" for m in chosen or MUTANTS))
        return 0 if chosen else 2
    survived = []
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "repo"
        shutil.copytree(REPO, root, ignore=_not_copied)
        if fails(root, sorted({t for m in chosen for t in m[4]}), show=True):   # else all
            print("the tests fail without any mutant: fix them first")       # would be "caught"
            return 2
        for mutant in chosen:
            original = apply(root, mutant)
            try:
                ok = fails(root, mutant[4])
            finally:
                (root / mutant[1]).write_text(original)
            print(f"{'CAUGHT' if ok else 'SURVIVED':<9}{mutant[0]}", flush=True)
            if not ok:
                survived.append(mutant[0])
    print(f"{len(chosen) - len(survived)} of {len(chosen)} mutants caught"
          + (f"; survived: {', '.join(survived)}" if survived else ""))
    return 1 if survived else 0


if __name__ == "__main__":
    sys.exit(main())
