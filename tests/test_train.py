"""The trainer: learning, modes, history, determinism, divergence, Ctrl-C and resume."""
import csv
import json
import os
import signal
import time
import warnings

import numpy as np
import pytest

from minidl import checkpoint
from minidl.callbacks import Callback, LayerInputRecorder, layer_input
from minidl.data import DataLoader
from minidl.errors import (BackwardError, CheckpointError, CheckpointWarning, DivergenceError,
                           LabelError, SettingError, ShapeError)
from minidl.evaluation import evaluate, predict
from minidl.history import History
from minidl.losses import SoftmaxCrossEntropy
from minidl.models import mlp
from minidl.optim import SGD, constant, cosine, step_decay
from minidl.train import Trainer, fit


def blobs(n=600, seed=0):
    """Three Gaussian blobs in 8-D: easy to learn, quick to train."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, n)
    x = rng.standard_normal((n, 8)).astype(np.float32) + 2.5 * np.eye(8, dtype=np.float32)[y]
    return x, y


def jitter(xb, rng):
    """A data augmentation for the blobs: a little Gaussian noise per batch."""
    return xb + rng.normal(0, 0.1, xb.shape).astype(np.float32)


def training_setup(batchnorm=True, lr=0.1, seed=0, loader_seed=0, momentum=0.9, augment=None):
    x, y = blobs()
    model = mlp(8, [16, 16], 3, batchnorm=batchnorm, seed=seed)
    opt = SGD(model.parameters(), lr=lr, momentum=momentum)
    train = DataLoader(x[:500], y[:500], 20, seed=loader_seed, augment=augment)
    test = DataLoader(x[500:], y[500:], 50, shuffle=False)
    return model, opt, train, test


def test_fit_learns_and_records_history():
    model, opt, train, test = training_setup()
    history = fit(model, SoftmaxCrossEntropy(), opt, train, epochs=3, eval_loader=test,
                  eval_every=10, progress=False)
    assert len(history.step_loss) == 3 * len(train) == len(history.step_lr)
    assert [r["epoch"] for r in history.epochs] == [1, 2, 3]
    # 25 steps per epoch: steps 50 and 75 are epoch ends, evaluated once, as "epoch"
    assert [r["step"] for r in history.records if r["kind"] == "eval"] == [10, 20, 30, 40, 60, 70]
    assert [r["step"] for r in history.records] == [10, 20, 25, 30, 40, 50, 60, 70, 75]
    assert history.final["test_acc"] > 0.9
    assert np.mean(history.step_loss[-10:]) < np.mean(history.step_loss[:5]) / 2
    assert all(r["test_loss"] is not None and r["time"] >= 0 for r in history.records)
    # each record's training loss is the mean over the steps since the record before
    # (all batches of 20 here); an average since step 0 skewed every curve unseen
    since = [0] + [r["step"] for r in history.records]
    np.testing.assert_allclose([r["train_loss"] for r in history.records],
                               [np.mean(history.step_loss[a:b]) for a, b in zip(since, since[1:])],
                               rtol=1e-12)


def test_history_json_and_csv(tmp_path):
    model, opt, train, test = training_setup()
    history = fit(model, SoftmaxCrossEntropy(), opt, train, epochs=2, eval_loader=test,
                  progress=False)
    history.to_json(tmp_path / "h.json")
    again = type(history).from_json(tmp_path / "h.json")
    assert again == history
    history.to_csv(tmp_path / "h.csv")
    rows = list(csv.DictReader(open(tmp_path / "h.csv")))
    assert [int(r["epoch"]) for r in rows] == [1, 2]
    assert float(rows[-1]["test_acc"]) == history.final["test_acc"]
    history.to_csv(tmp_path / "s.csv", steps=True)
    steps = list(csv.DictReader(open(tmp_path / "s.csv")))
    assert len(steps) == len(history.step_loss) and float(steps[0]["loss"]) == history.step_loss[0]
    json.loads((tmp_path / "h.json").read_text())


def test_same_seed_same_numbers():
    runs = []
    for _ in range(2):
        model, opt, train, test = training_setup()
        runs.append(fit(model, SoftmaxCrossEntropy(), opt, train, steps=40, progress=False))
    assert runs[0].step_loss == runs[1].step_loss
    model, opt, train, test = training_setup(loader_seed=1)
    assert fit(model, SoftmaxCrossEntropy(), opt, train, steps=40, progress=False).step_loss \
        != runs[0].step_loss


def test_modes_train_for_steps_eval_for_evaluation():
    model, opt, train, test = training_setup()
    seen = []

    class Spy(Callback):
        def on_step_end(self, trainer):
            seen.append(all(layer.training for layer in trainer.model.layers))

    bn = model.layers[1]
    fit(model, SoftmaxCrossEntropy(), opt, train, steps=30, eval_loader=test, eval_every=10,
        callbacks=[Spy()], progress=False)
    assert all(seen) and len(seen) == 30
    assert bn.num_batches == 30                     # evaluation did not touch the statistics
    with pytest.raises(BackwardError):               # evaluation leaves nothing to backpropagate
        model.backward(np.ones((20, 3), np.float32))
    before = bn.running_mean.copy()
    evaluate(model, SoftmaxCrossEntropy(), test)
    np.testing.assert_array_equal(bn.running_mean, before)
    assert model.training


def test_schedule_sets_the_learning_rate():
    model, opt, train, _ = training_setup()
    h = fit(model, SoftmaxCrossEntropy(), opt, train, steps=30, schedule=step_decay(0.1, 10, 0.5),
            progress=False)
    assert h.step_lr[:10] == [0.1] * 10 and h.step_lr[10] == 0.05 and h.step_lr[-1] == 0.025
    c = cosine(1.0, 100)
    assert c(0) == 1.0 and abs(c(50) - 0.5) < 1e-12 and c(100) == 0.0
    c = cosine(1.0, 10, min_lr=0.2, warmup=2)       # the half cosine starts after the warm-up
    np.testing.assert_allclose([c(s) for s in (0, 1, 2, 6, 10, 11)],
                               [0.5, 1.0, 1.0, 0.6, 0.2, 0.2], rtol=1e-12)


def test_plain_function_callback_and_stop():
    model, opt, train, _ = training_setup()

    def stop_at_7(trainer):
        if trainer.step == 7:
            trainer.stop = True
    h = fit(model, SoftmaxCrossEntropy(), opt, train, epochs=5, callbacks=[stop_at_7],
            progress=False)
    assert len(h.step_loss) == 7 and h.final["kind"] == "final"


def test_a_callback_that_stops_at_an_epoch_end_still_gets_its_record_and_checkpoint(tmp_path):
    """Stopping at the last step of an epoch skipped that step's epoch record, its
    checkpoint and the time spent: the run ended with the checkpoint of the epoch
    before and an elapsed time of a few milliseconds after 20 steps and a 0.2 s wait."""
    model, opt, train, _ = training_setup()                # 25 steps per epoch
    path = str(tmp_path / "run.npz")

    def slow_stop_at_50(trainer):
        if trainer.step == 50:
            time.sleep(0.2)
            trainer.stop = True
    trainer = Trainer(model, SoftmaxCrossEntropy(), opt, train, callbacks=[slow_stop_at_50],
                      checkpoint=path, progress=False)
    h = trainer.fit(epochs=5)
    assert [(r["kind"], r["step"]) for r in h.records] == [("epoch", 25), ("epoch", 50)]
    assert trainer.saved_step == 50 and checkpoint.read_meta(path)["step"] == 50
    assert trainer.elapsed >= 0.2 and h.final["time"] >= 0.2


def test_checkpoints_are_written_every_checkpoint_every_steps_and_at_epoch_ends(tmp_path):
    """checkpoint_every=25 with epochs of 30 steps: checkpoints at steps 25, 30, 50, 60."""
    model, opt, _, _ = training_setup()
    x, y = blobs()
    written = []
    trainer = Trainer(model, SoftmaxCrossEntropy(), opt, DataLoader(x, y, 20, seed=0),
                      checkpoint=str(tmp_path / "ck.npz"), checkpoint_every=25,
                      callbacks=[lambda t: written.append(t.saved_step)], progress=False)
    trainer.fit(steps=60)                                  # 30 steps per epoch
    assert sorted({s for s in written if s is not None} | {trainer.saved_step}) == \
        [25, 30, 50, 60]


def test_an_eval_loader_that_converts_otherwise_than_the_train_loader_is_warned_of():
    """A lab's eval loader without the training loader's mean and std recorded a test
    accuracy of 57.6% for a net that scores 91.8% on standardized test images."""
    x, y = blobs()
    model = mlp(8, [16], 3, seed=0)
    train = DataLoader(x, y, 20, seed=0, mean=x.mean(0), std=0.5)

    def make(eval_loader):
        return Trainer(model, SoftmaxCrossEntropy(), SGD(model.parameters(), lr=0.1), train,
                       eval_loader=eval_loader, progress=False)
    with pytest.warns(UserWarning, match=r"Trainer: the eval_loader converts its samples "
                                         r"otherwise than the train_loader \(mean=8 values for "
                                         r"training, None for evaluation; std=0.5 for training, "
                                         r"None for evaluation\): .* give the eval DataLoader "
                                         r"the same mean=, std="):
        make(DataLoader(x, y, 50, shuffle=False))
    with pytest.warns(UserWarning, match=r"\(std=0.5 for training, 0.25 for evaluation\)"):
        make(DataLoader(x, y, 50, shuffle=False, mean=x.mean(0), std=0.25))
    with pytest.warns(UserWarning, match=r"\(shape=None for training, \(2, 4\) for evaluation"):
        make(DataLoader(x, y, 50, shuffle=False, mean=x.mean(0), std=0.5, shape=(2, 4)))
    with warnings.catch_warnings():
        warnings.simplefilter("error")               # the same conversion: no warning
        make(DataLoader(x, y, 50, shuffle=False, mean=x.mean(0).astype(np.float64), std=0.5))
        make([(x[:50].astype(np.float32), y[:50])])  # batches of one's own: not compared
        # samples of another shape, reshaped alike, with the same means entry by entry:
        # the comparison raised a ValueError from np.broadcast_to
        make(DataLoader(x.reshape(-1, 2, 4), y, 50, shuffle=False,
                        mean=x.mean(0).reshape(2, 4), std=0.5, shape=(8,)))
    with pytest.warns(UserWarning, match=r"\(mean=8 values for training, 8 values for "
                                         r"evaluation\)"):   # the same shape, other values
        make(DataLoader(x.reshape(-1, 2, 4), y, 50, shuffle=False,
                        mean=x.mean(0).reshape(2, 4) + 1, std=0.5, shape=(8,)))


def test_a_bad_learning_rate_set_by_hand_is_named_as_the_optimizers():
    """opt.lr = -0.1 on a Trainer without a schedule was called "the schedule's
    learning rate"."""
    model, opt, train, _ = training_setup()
    trainer = Trainer(model, SoftmaxCrossEntropy(), opt, train, progress=False)
    trainer.fit(steps=5)
    opt.lr = -0.1
    with pytest.raises(SettingError, match=r"Trainer: optimizer.lr at step 5 must be a number "
                                           r">= 0, got -0.1"):
        trainer.fit(steps=10)


# the exploding weights make NumPy warn (overflow, inf * 0) before the trainer
# sees the non-finite loss; in these tests that is expected, not a fault (the
# warnings stay: for a student's broken layer they point at the line)
diverging = pytest.mark.filterwarnings("ignore::RuntimeWarning")


@diverging
def test_the_divergence_advice_with_a_schedule_is_about_the_whole_schedule():
    """With a warm-up the rate at the diverging step can be far below the peak: the
    advice "e.g. <a tenth of that step's rate>" was 150 times too small for train.py
    --lr 12 --warmup 30."""
    model, opt, train, _ = training_setup(batchnorm=False)
    trainer = Trainer(model, SoftmaxCrossEntropy(), opt, train, progress=False,
                      schedule=cosine(1e12, 100, warmup=50))
    with pytest.raises(DivergenceError, match=r"the whole schedule a tenth as high, its peak "
                                              r"too \(the rate at this step, "):
        trainer.fit(steps=100)


@diverging
def test_the_divergence_advice_fits_the_net_and_the_schedule():
    """A BN net was advised to use BatchNorm, and a schedule without a warm-up was told
    that the rate may be far below the peak during a warm-up."""
    for batchnorm, schedule in ((True, None), (False, step_decay(1e12, 50))):
        model, opt, train, _ = training_setup(batchnorm=batchnorm, lr=1e12)
        trainer = Trainer(model, SoftmaxCrossEntropy(), opt, train, progress=False,
                          schedule=schedule)
        with pytest.raises(DivergenceError) as info:
            trainer.fit(steps=100)
        said = str(info.value)
        assert ("BatchNorm" in said) != batchnorm and "warm-up" not in said
        assert ("the whole schedule a tenth as high (the rate at this step was 1e+12), or "
                "BatchNorm" in said) == (schedule is not None)
    model, opt, train, _ = training_setup(batchnorm=False)
    trainer = Trainer(model, SoftmaxCrossEntropy(), opt, train, progress=False,
                      schedule=lambda step: 1e12 * (step + 1) / 50)   # a warm-up of one's own
    with pytest.raises(DivergenceError, match=r"may be far below the peak during a warm-up"):
        trainer.fit(steps=100)


def test_bn_statistics_that_overflow_while_the_loss_stays_finite_end_the_run():
    """Running statistics are used in eval mode only: at lr 30 a BN net's running_var
    became inf while its training loss stayed finite, and a Trainer without checkpoints
    went on recording test losses of 1e22 and chance accuracy, diverged=None."""
    model, opt, train, test = training_setup()

    def overflow(trainer):
        if trainer.step == 15:
            model.layers[1].running_var[0] = np.inf
    trainer = Trainer(model, SoftmaxCrossEntropy(), opt, train, eval_loader=test,
                      eval_every=10, callbacks=[overflow], on_divergence="record",
                      progress=False)
    history = trainer.fit(epochs=2)
    assert [r["step"] for r in history.records] == [10]
    assert history.diverged["step"] == 20 and history.diverged["loss"] is None
    assert history.diverged["cause"] == "1.running_var became NaN or infinite"
    model, opt, train, test = training_setup()
    with pytest.raises(DivergenceError, match=r"1.running_var became NaN or infinite at step 20"):
        fit(model, SoftmaxCrossEntropy(), opt, train, steps=30, eval_loader=test, eval_every=10,
            callbacks=[overflow], progress=False)


@diverging
def test_divergence_raises_with_step_lr_and_keeps_last_checkpoint(tmp_path):
    model, opt, train, _ = training_setup(batchnorm=False, lr=0.1)
    path = tmp_path / "ck.npz"
    trainer = Trainer(model, SoftmaxCrossEntropy(), opt, train, checkpoint=path, progress=False)
    trainer.fit(epochs=1)
    good = path.read_bytes()
    opt.lr = 1e12                                     # now it blows up
    with pytest.raises(DivergenceError) as info:
        trainer.fit(epochs=3)
    message = str(info.value)
    assert f"at step {trainer.step + 1}" in message and "learning rate 1e+12" in message
    assert "last finite loss" in message and "smaller learning rate" in message
    assert str(path) in message and path.read_bytes() == good
    assert f"from step {len(train)}" in message          # the epoch end that saved it


@diverging
def test_divergence_before_any_checkpoint_says_there_is_none(tmp_path):
    model, opt, train, _ = training_setup(batchnorm=False, lr=1e12)
    path = tmp_path / "ck.npz"
    with pytest.raises(DivergenceError, match="No checkpoint was saved before it") as info:
        Trainer(model, SoftmaxCrossEntropy(), opt, train, checkpoint=path, progress=False).fit(epochs=1)
    assert "last good checkpoint" not in str(info.value) and not path.exists()


def test_a_checkpoint_path_that_cannot_be_written_is_refused_when_the_trainer_is_made(tmp_path):
    """A folder, or a path through a file, failed at the first epoch's end (a whole
    epoch of training lost) with IsADirectoryError or NotADirectoryError."""
    model, opt, train, _ = training_setup(batchnorm=False, lr=0.1)
    (tmp_path / "a_file").write_text("")
    (tmp_path / "read_only.npz").write_bytes(b"")
    os.chmod(tmp_path / "read_only.npz", 0o444)
    for path, error, said in ((tmp_path, IsADirectoryError, "Is a folder"),
                              (f"{tmp_path}/ck/", SettingError, "checkpoint= is the name of a "
                                                                "file to write"),
                              (tmp_path / "a_file" / "ck.npz", NotADirectoryError, "is a file"),
                              (tmp_path / "ck.pt", SettingError, "ends in .pt, but a checkpoint"),
                              (tmp_path / "read_only.npz", PermissionError, "read-only")):
        with pytest.raises(error, match=said):
            Trainer(model, SoftmaxCrossEntropy(), opt, train, checkpoint=path, progress=False)


class NoBatches:
    """A loader whose epochs yield nothing, as a custom one might."""
    epoch = 0

    def __len__(self):
        return 0

    def __iter__(self):
        return iter(())


def test_a_sample_with_nan_logits_is_no_correct_prediction_of_class_0():
    """argmax of a NaN row is 0: evaluate() counted such rows as right whenever the
    label was 0 (accuracy 0.3 from three NaN inputs alone), predict() gave them 0."""
    rng = np.random.default_rng(0)
    x = rng.random((10, 20)).astype(np.float32)
    x[:3] = np.nan
    model = mlp(20, [8], 10, batchnorm=True, seed=0)
    with model.inference():                                  # every finite row right
        y = model.forward(np.nan_to_num(x)).argmax(axis=1)
    loader = DataLoader(x, np.where(np.arange(10) < 3, 0, y), 5, shuffle=False)
    loss, accuracy = evaluate(model, SoftmaxCrossEntropy(), loader)
    assert np.isnan(loss) and accuracy == 0.7
    with pytest.raises(DivergenceError, match=r"predict: the model's logits are NaN or infinite "
                                              r"for 3 of 10 samples, .* 3 of their inputs hold"):
        predict(model, loader)
    model[0].params["W"][0, 0] = np.nan                      # a diverged model: finite inputs
    with pytest.raises(DivergenceError, match=r"for 10 of 10 samples, .*inputs are finite, "
                                              r"so the model's weights"):
        predict(model, DataLoader(np.nan_to_num(x), y, 5, shuffle=False))


def test_evaluate_reads_the_whole_data_even_after_a_peek_at_one_batch():
    """A look at one test batch (next(iter(test))) used to leave an epoch unfinished,
    and evaluate, and every record of the Trainer, then scored only the rest."""
    model, opt, train, test = training_setup()
    full = evaluate(model, SoftmaxCrossEntropy(), test)
    next(iter(test))
    assert evaluate(model, SoftmaxCrossEntropy(), test) == full
    history = fit(model, SoftmaxCrossEntropy(), opt, train, steps=5, eval_loader=test,
                  progress=False)
    assert history.final["test_acc"] == evaluate(model, SoftmaxCrossEntropy(), test)[1]
    batches = list(test.in_order())
    assert evaluate(model, SoftmaxCrossEntropy(), batches) == full_over(model, batches)


def full_over(model, batches):
    """Mean loss and accuracy by hand, over a list of batches."""
    loss, losses, correct = SoftmaxCrossEntropy(), [], 0
    with model.inference():
        for xb, yb in batches:
            logits = model.forward(xb)
            losses.append(loss.forward(logits, yb) * len(yb))
            correct += int((logits.argmax(1) == yb).sum())
    n = sum(len(yb) for _, yb in batches)
    return sum(losses) / n, correct / n


@pytest.mark.parametrize("options, fit_args, match", [
    ({"eval_every": -3}, {"steps": 5}, r"Trainer: eval_every must be an int >= 1, got -3"),
    ({"checkpoint_every": 0.5}, {"steps": 5}, r"checkpoint_every must be an int >= 1, got 0.5"),
    ({}, {"steps": 2.5}, r"fit: steps must be an int >= 1, got 2.5"),
    ({}, {"epochs": -2}, r"fit: epochs must be an int >= 1, got -2"),
    ({"schedule": lambda step: -1.0}, {"steps": 5},
     r"the schedule's learning rate at step 0 must be a number >= 0, got -1.0"),
    ({"schedule": lambda step: float("nan")}, {"steps": 5}, r"at step 0 must be .* got nan"),
    ({"schedule": cosine(0.1, 10)}, {"epochs": 1},     # epochs given where steps are meant
     r"reaches learning rate 0 at step 10, but training runs to step 25: .*cosine\(lr, 25\)"),
    ({"schedule": cosine(0.1, 10, warmup=10)}, {"epochs": 1},   # peak at 10, then 0: missed
     r"reaches learning rate 0 at step 11, but training runs to step 25: .*cosine\(lr, 25\)"),
])
def test_settings_that_cannot_work_are_refused_before_any_step(options, fit_args, match):
    """steps=2.5 used to run 3 steps, a negative learning rate to ascend the loss."""
    model, opt, train, _ = training_setup()
    before = [p.value.copy() for p in model.parameters()]
    with pytest.raises(SettingError, match=match):
        Trainer(model, SoftmaxCrossEntropy(), opt, train, progress=False, **options).fit(**fit_args)
    for p, value in zip(model.parameters(), before):
        np.testing.assert_array_equal(p.value, value)


def test_a_schedule_for_a_second_phase_is_advised_to_start_where_the_phase_does():
    """A schedule is called with the step counted from the start of training, over
    all fits: the advice "cosine(lr, 50)" for a phase of steps 25 to 50 started it
    half-way down. The error now says how to start a phase's schedule at its step."""
    model, opt, train, _ = training_setup()
    trainer = Trainer(model, SoftmaxCrossEntropy(), opt, train, progress=False,
                      schedule=cosine(0.1, 25))
    trainer.fit(epochs=1)                                         # 25 steps
    trainer.schedule = cosine(0.01, 25)                           # meant for steps 25 to 50
    with pytest.raises(SettingError, match=r"For a new phase from step 25 \(.*\): "
                                           r"trainer\.schedule = lambda s: cosine\(lr, 25\)"
                                           r"\(s - 25\)$"):
        trainer.fit(epochs=2)
    trainer.schedule = lambda s: cosine(0.01, 25)(s - 25)         # the advice, taken
    history = trainer.fit(epochs=2)
    assert history.step_lr[25] == 0.01 and history.step_lr[-1] < 1e-4


@pytest.mark.parametrize("which, bad, said", [
    ("train", lambda y: np.where(np.arange(len(y)) == 433, 3, y), r"train_loader's labels "
     r"\(y\), for the model's 3 outputs: .*lie in 0\.\.2 for 3 classes, got values from 0 to 3"),
    ("eval", lambda y: y + 1, r"eval_loader's labels \(y\), .* numbered from 1\? y - 1"),
    ("train", lambda y: y.astype(np.float32), r"train_loader's .* y\.astype\(np\.int64\)"),
])
def test_every_label_is_checked_when_the_trainer_is_made(which, bad, said):
    """A lab's one wrong label stopped training when its batch came (step 33), and
    eval labels numbered from 1 at the first evaluation, after an epoch."""
    model, opt, train, test = training_setup()
    loader = train if which == "train" else test
    loader = DataLoader(loader.x, bad(loader.y), loader.batch_size, shuffle=which == "train")
    train, test = (loader, test) if which == "train" else (train, loader)
    with pytest.raises(LabelError, match="Trainer: the " + said):
        Trainer(model, SoftmaxCrossEntropy(), opt, train, eval_loader=test)


def test_a_trainer_needs_a_data_loader_and_says_so():
    model, opt, train, _ = training_setup()
    batches = list(train)
    with pytest.raises(SettingError, match=r"train_loader must be a minidl DataLoader .* got list"):
        Trainer(model, SoftmaxCrossEntropy(), opt, batches)


def test_an_eval_loader_that_can_be_read_once_is_refused():
    """A generator worked for the first evaluation; the second found no batch and
    stopped the training with "the loader yielded no batch"."""
    model, opt, train, test = training_setup()
    batches = list(test)
    with pytest.raises(SettingError, match=r"eval_loader is a generator, which can be read "
                                           r"once, .* or a list of \(xb, yb\) batches"):
        Trainer(model, SoftmaxCrossEntropy(), opt, train, eval_loader=(b for b in batches))
    for one_shot in (iter(batches), map(tuple, batches)):
        with pytest.raises(SettingError, match="which can be read once"):
            Trainer(model, SoftmaxCrossEntropy(), opt, train, eval_loader=one_shot)

    class Batches:               # an iterator of one's own that starts again: read every time
        def __iter__(self):
            self.i = 0
            return self

        def __next__(self):
            self.i += 1
            if self.i > len(batches):
                raise StopIteration
            return batches[self.i - 1]

    for again in (batches, Batches()):              # read afresh at every record
        model, opt, train, _ = training_setup()
        trainer = Trainer(model, SoftmaxCrossEntropy(), opt, train, eval_loader=again,
                          progress=False)
        assert len(trainer.fit(epochs=2).column("test_acc")[1]) == 2


def test_a_loader_that_yields_nothing_is_an_error_not_an_endless_loop():
    model, opt, _, test = training_setup()
    def too_long(signum, frame):
        raise AssertionError("fit() did not return: it loops forever")
    previous = signal.signal(signal.SIGALRM, too_long)
    signal.alarm(20)
    try:
        with pytest.raises(ShapeError, match="yielded no batch in a whole epoch"):
            fit(model, SoftmaxCrossEntropy(), opt, NoBatches(), steps=3, progress=False)
        with pytest.raises(ShapeError, match="evaluate: the loader yielded no batch"):
            evaluate(model, SoftmaxCrossEntropy(), NoBatches())
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


class _MeanOf(SoftmaxCrossEntropy):
    """The usual loss, its forward's value returned through `convert`."""

    def __init__(self, convert):
        super().__init__()
        self.convert = convert

    def forward(self, logits, labels):
        return self.convert(super().forward(logits, labels))


@pytest.mark.parametrize("convert, got", [
    (lambda v: np.full(20, v), r"an array of shape \(20,\) \(per-sample losses\? return their"),
    (lambda v: np.array([v]), r"an array of shape \(1,\)"),
    (lambda v: str(v), "a str"),
])
def test_a_loss_that_is_not_one_number_is_named(convert, got):
    """It failed in math.isfinite (TypeError: only 0-dimensional arrays...)."""
    model, opt, train, test = training_setup()
    loss = _MeanOf(convert)
    with pytest.raises(SettingError, match=r"_MeanOf.forward must return the batch's mean "
                                           r"loss as one number, got " + got):
        fit(model, loss, opt, train, epochs=1, progress=False)
    with pytest.raises(SettingError, match="must return the batch's mean loss as one number"):
        evaluate(model, loss, test)


def test_a_numpy_scalar_loss_is_stored_as_a_float(tmp_path):
    """np.mean of float32 losses is an np.float32: it trained, and then the
    history could not be written as JSON."""
    model, opt, train, test = training_setup()
    history = fit(model, _MeanOf(np.float32), opt, train, epochs=1, eval_loader=test,
                  progress=False)
    history.to_json(tmp_path / "h.json")
    assert all(type(v) is float for v in history.step_loss)
    assert all(type(r[k]) is float for r in history.records for k in ("train_loss", "test_loss"))


def test_a_numpy_learning_rate_is_stored_as_a_float(tmp_path):
    """JSON (history, checkpoints) cannot hold np.float32; the trainer stores floats."""
    model, opt, train, _ = training_setup(lr=np.float32(0.1))
    trainer = Trainer(model, SoftmaxCrossEntropy(), opt, train, checkpoint=tmp_path / "ck.npz",
                      schedule=lambda step: np.float32(0.05), progress=False)
    history = trainer.fit(epochs=1)
    assert (tmp_path / "ck.npz").exists()
    assert all(type(lr) is float for lr in history.step_lr + [r["lr"] for r in history.records])
    assert history.step_lr[0] == float(np.float32(0.05))


@diverging
def test_divergence_recorded_when_asked():
    model, opt, train, _ = training_setup(batchnorm=False, lr=1e12)
    h = fit(model, SoftmaxCrossEntropy(), opt, train, epochs=2, on_divergence="record",
            progress=False)
    assert h.diverged is not None and h.diverged["lr"] == 1e12
    assert h.diverged["step"] == len(h.step_loss) + 1
    assert all(np.isfinite(h.step_loss))


class InterruptAt(Callback):
    """Sends a real SIGINT (what Ctrl-C sends) to this process at one step."""
    def __init__(self, step):
        self.step = step

    def on_step_end(self, trainer):
        if trainer.step == self.step:
            os.kill(os.getpid(), signal.SIGINT)


@pytest.mark.parametrize("stop_step,augment", [(13, None), (25, None), (13, jitter)])
@pytest.mark.filterwarnings("ignore::minidl.errors.CheckpointWarning")   # replaced on purpose
def test_ctrl_c_then_resume_is_bit_for_bit(tmp_path, stop_step, augment):
    """Mid-epoch, exactly at an epoch end, and with data augmentation."""
    def run(callbacks=(), resume=None, loader_seed=0):
        model, opt, train, test = training_setup(loader_seed=loader_seed, augment=augment)
        trainer = Trainer(model, SoftmaxCrossEntropy(), opt, train, eval_loader=test,
                          schedule=cosine(0.1, 75), eval_every=10, callbacks=callbacks,
                          checkpoint=tmp_path / "ck.npz", progress=False)
        if resume:
            trainer.resume(resume)
        return trainer, trainer.fit(epochs=3)

    before = signal.getsignal(signal.SIGINT)   # SIG_IGN in a job started in the background
    reference, ref_history = run()
    stopped, history = run(callbacks=[InterruptAt(stop_step)])
    assert history.interrupted and stopped.step == stop_step
    assert history.records[-1]["kind"] != "final"    # no evaluation after Ctrl-C
    assert signal.getsignal(signal.SIGINT) is before                   # handler restored
    resumed, res_history = run(resume=tmp_path / "ck.npz", loader_seed=123)  # seed overridden
    assert not res_history.interrupted
    for p, q in zip(reference.model.parameters(), resumed.model.parameters()):
        assert np.array_equal(p.value, q.value), p.name
    for k, v in reference.model.state().items():
        assert np.array_equal(v, resumed.model.state()[k]), k
    assert ref_history.step_loss == res_history.step_loss
    strip = [{k: v for k, v in r.items() if k != "time"} for r in ref_history.records]
    assert strip == [{k: v for k, v in r.items() if k != "time"} for r in res_history.records]


def test_a_resume_that_fails_changes_nothing(tmp_path):
    """Trainer.resume used to load weights, BN statistics and momentum before it
    checked the metadata, and called a checkpoint of another batch size "not a
    training checkpoint written by Trainer.save"."""
    model, opt, train, test = training_setup()
    trainer = Trainer(model, SoftmaxCrossEntropy(), opt, train, progress=False)
    trainer.fit(steps=3)                                   # stops mid-epoch: position 60
    trainer.save(tmp_path / "ck.npz")
    x, y = blobs()
    for loader, why in [(DataLoader(x[:500], y[:500], 50, seed=0), "data-loader state does not"),
                        (None, "metadata lacks or garbles")]:
        other, other_opt, other_train, _ = training_setup(seed=1)
        if loader is None:                                 # a model-only checkpoint
            checkpoint.save(model, tmp_path / "ck.npz", opt, meta={"note": "no Trainer"})
        fresh = Trainer(other, SoftmaxCrossEntropy(), other_opt, loader or other_train,
                        progress=False)
        before = ([p.value.copy() for p in other.parameters()],
                  {k: v.copy() for k, v in other.state().items()},
                  {k: v.copy() for k, v in other_opt.state().items()},
                  fresh.train_loader.state_dict())
        with pytest.raises(CheckpointError, match=why):
            fresh.resume(tmp_path / "ck.npz")
        for value, kept in zip([p.value for p in other.parameters()], before[0]):
            np.testing.assert_array_equal(value, kept)
        for k, v in other.state().items():
            np.testing.assert_array_equal(v, before[1][k])
        for k, v in other_opt.state().items():
            np.testing.assert_array_equal(v, before[2][k])
        assert fresh.train_loader.state_dict() == before[3] and fresh.step == 0


@pytest.mark.parametrize("history", ["abc", [1, 2], {"records": None}])
def test_a_garbled_history_is_refused_not_loaded_as_empty(tmp_path, history):
    model, opt, train, _ = training_setup()
    trainer = Trainer(model, SoftmaxCrossEntropy(), opt, train, progress=False)
    meta = {"step": 0, "elapsed": 0.0, "since_record": [0.0, 0, 0],
            "loader": train.state_dict(), "history": history}
    checkpoint.save(model, tmp_path / "ck.npz", opt, meta=meta)
    with pytest.raises(CheckpointError, match=r"lacks or garbles the history"):
        trainer.resume(tmp_path / "ck.npz")


def test_layer_input_recorder_sees_the_sigmoid_input():
    x, y = blobs()
    model = mlp(8, [6, 6], 3, activation="sigmoid", batchnorm=True, seed=0)
    opt = SGD(model.parameters(), lr=0.5)
    fixed = x[:100]
    index = max(i for i, layer in enumerate(model.layers) if type(layer).__name__ == "Sigmoid")
    rec = LayerInputRecorder(index, fixed, unit=2, every=5)
    fit(model, SoftmaxCrossEntropy(), opt, DataLoader(x, y, 20, seed=0), steps=20,
        callbacks=[rec], progress=False)
    assert rec.steps == [0, 5, 10, 15, 20]
    h = layer_input(model.eval(), fixed, index)
    model.train()
    np.testing.assert_allclose(rec.values[-1], np.percentile(h[:, 2], [15, 50, 85]))
    assert all(v[0] <= v[1] <= v[2] for v in rec.values)


def test_layer_input_recorder_records_the_last_step_and_one_run_only():
    """A run shorter than `every` recorded only step 0 (figure1 then drew one dot);
    a recorder reused for a second run (a notebook cell run again) appended steps
    0, 10, ... after 30, and the plots drew each curve back over itself."""
    x, y = blobs()

    def run(rec, steps=23):
        model = mlp(8, [6], 3, activation="sigmoid", batchnorm=True, seed=0)
        fit(model, SoftmaxCrossEntropy(), SGD(model.parameters(), lr=0.5),
            DataLoader(x, y, 20, seed=0), steps=steps, callbacks=[rec], progress=False)
        return model

    rec = LayerInputRecorder(2, x[:50], every=10)
    run(rec)
    assert rec.steps == [0, 10, 20, 23]
    assert LayerInputRecorder(2, x[:50]).steps == []
    short = LayerInputRecorder(2, x[:50])                    # every=100 > 23 steps
    run(short)
    assert short.steps == [0, 23]
    with pytest.raises(SettingError, match=r"holds another run's recording \(steps 0 to 23\), "
                                           r"and a new run starts at step 0; make a new "
                                           r"recorder for each run"):
        run(rec)
    assert rec.steps == [0, 10, 20, 23]                      # nothing appended
    first = LayerInputRecorder(2, x[:50])      # a run that recorded step 0 only (it failed)
    model = mlp(8, [6], 3, seed=0)
    first.on_train_begin(Trainer(model, SoftmaxCrossEntropy(), SGD(model.parameters(), lr=0.1),
                                 DataLoader(x, y, 20), progress=False))
    with pytest.raises(SettingError, match=r"recording \(steps 0 to 0\)"):
        run(first)                                            # another run's step 0


def test_layer_input_recorder_goes_on_with_a_run_that_goes_on():
    x, y = blobs()
    model = mlp(8, [6], 3, batchnorm=True, seed=0)
    rec = LayerInputRecorder(2, x[:50], every=10)
    trainer = Trainer(model, SoftmaxCrossEntropy(), SGD(model.parameters(), lr=0.1),
                      DataLoader(x, y, 20, seed=0), callbacks=[rec], progress=False)
    trainer.fit(steps=15)
    trainer.fit(steps=30)
    assert rec.steps == [0, 10, 15, 20, 30]


def test_layer_input_recorder_of_a_resumed_run_redoes_the_steps_after_the_checkpoint(tmp_path):
    """A run resumed from its checkpoint at step 25 was refused ("make a new recorder"),
    and before that appended steps 30, 35 after its steps up to 37."""
    x, y = blobs()

    def trainer_with(rec, name="ck.npz"):
        model = mlp(8, [6], 3, batchnorm=True, seed=0)
        return Trainer(model, SoftmaxCrossEntropy(), SGD(model.parameters(), lr=0.1),
                       DataLoader(x, y, 20, seed=0), callbacks=[rec], progress=False,
                       checkpoint=tmp_path / name, checkpoint_every=25)
    rec = LayerInputRecorder(2, x[:50], every=10)
    trainer = trainer_with(rec)
    trainer.fit(steps=37)
    assert rec.steps == [0, 10, 20, 30, 37]
    resumed = trainer_with(rec).resume(tmp_path / "ck.npz")   # the last checkpoint before 37
    assert 20 < resumed.step < 37 and resumed.step != 37
    resumed.fit(steps=45)
    assert rec.steps == sorted({0, 10, 20, resumed.step, 30, 40, 45})
    whole = LayerInputRecorder(2, x[:50], every=10)
    trainer_with(whole, "whole.npz").fit(steps=45)
    assert whole.steps == [0, 10, 20, 30, 40, 45]
    np.testing.assert_allclose(rec.values[-1], whole.values[-1])


def test_figure1_draws_the_recorders_of_two_runs_as_they_are():
    from minidl import plot
    x, y = blobs()
    histories, recorders = {}, {}
    for key, batchnorm in (("plain", False), ("bn", True)):
        model = mlp(8, [6], 3, activation="sigmoid", batchnorm=batchnorm, seed=0)
        recorders[key] = LayerInputRecorder(-2, x[:50], every=10, percentiles=(10, 50, 90))
        histories[key] = fit(model, SoftmaxCrossEntropy(), SGD(model.parameters(), lr=0.5),
                             DataLoader(x[:500], y[:500], 20, seed=0), steps=30,
                             eval_loader=DataLoader(x[500:], y[500:], 50, shuffle=False),
                             eval_every=10, callbacks=[recorders[key]], progress=False)
    b, c = plot.figure1(histories, recorders).axes[1:]
    assert b.get_lines()[0].get_label() == "10th and 90th percentiles"
    assert list(b.get_lines()[1].get_xdata()) == [0, 10, 20, 30]
    assert list(c.get_lines()[1].get_xdata()) == [10, 20, 30]      # BN's step 0 left out
    np.testing.assert_allclose(c.get_lines()[1].get_ydata(),
                               [v[1] for v in recorders["bn"].values[1:]])
    import matplotlib.pyplot as plt
    plt.close("all")


def test_a_new_run_on_a_trained_model_is_warned_of():
    """A new Trainer on the old model (a notebook cell run again) went on training
    it from its trained weights, silently: its 'BN against no BN' curve started at
    the end of the last one."""
    model, opt, train, _ = training_setup()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        fit(model, SoftmaxCrossEntropy(), opt, train, steps=5, progress=False)
    _, _, fresh, _ = training_setup()
    with pytest.warns(UserWarning, match=r"an optimizer has updated this model's weights "
                                         r"before .*, so this run starts from those trained"):
        fit(model, SoftmaxCrossEntropy(), SGD(model.parameters(), lr=0.1), fresh, steps=5,
            progress=False)
    model, opt, train, _ = training_setup()       # a backward alone, to try it out: no warning
    x, y = train.batch(np.arange(20))
    loss = SoftmaxCrossEntropy()
    loss.forward(model.forward(x), y)
    model.backward(loss.backward())
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        fit(model, SoftmaxCrossEntropy(), opt, train, steps=5, progress=False)


def test_a_second_fit_to_the_same_target_says_it_has_nothing_to_do():
    """fit counts from the start of training; a second fit(epochs=2) used to return
    at once, silently, with the weights unchanged."""
    model, opt, train, _ = training_setup()
    trainer = Trainer(model, SoftmaxCrossEntropy(), opt, train, progress=False)
    trainer.fit(epochs=2)
    with pytest.raises(SettingError, match=r"fit\(epochs=2\) has nothing to do: .* done 50 "
                                           r"steps already. To train 2 more epochs \(50 steps\), "
                                           r"call fit\(steps=100\)"):
        trainer.fit(epochs=2)
    with pytest.raises(SettingError, match=r"To train 7 more steps, call fit\(steps=57\)"):
        trainer.fit(steps=7)
    trainer.fit(steps=57)
    assert trainer.step == 57


def test_an_optimizer_of_another_model_is_refused():
    """After building the model again (a rerun notebook cell), the old optimizer's
    steps changed the old model's weights; the new one did not learn, silently."""
    model, opt, train, _ = training_setup()
    again, _, _, _ = training_setup()
    with pytest.raises(SettingError, match="the optimizer updates parameters that are not "
                                           "this model's"):
        Trainer(again, SoftmaxCrossEntropy(), opt, train)
    part = SGD(model.parameters()[2:], lr=0.1)           # some layers frozen: allowed
    Trainer(model, SoftmaxCrossEntropy(), part, train, progress=False).fit(steps=1)


def blow_up_at(step):
    """A callback that makes the first weight infinite after `step` steps, as a
    huge step would, while the loss of that step was still finite."""
    def callback(trainer):
        if trainer.step == step:
            trainer.model.layers[0].params["W"][0, 0] = np.inf
    return callback


def test_weights_that_became_infinite_are_not_saved_over_the_last_good_checkpoint(tmp_path):
    """The epoch-end checkpoint used to be written with the infinite weights, and the
    divergence message then named that file, which load() refuses."""
    model, opt, train, _ = training_setup()
    path = tmp_path / "ck.npz"
    trainer = Trainer(model, SoftmaxCrossEntropy(), opt, train, checkpoint=path,
                      callbacks=[blow_up_at(2 * len(train))], progress=False)
    with pytest.raises(DivergenceError, match=r"0\.W became NaN or infinite at step 50 .* "
                                              r"last good checkpoint is .* from step 25"):
        trainer.fit(epochs=3)
    assert checkpoint.read_meta(path)["step"] == len(train)
    checkpoint.load(mlp(8, [16, 16], 3, batchnorm=True), path)      # loads: all finite
    assert sorted(os.listdir(tmp_path)) == ["ck.npz"]


def test_nan_in_the_data_is_named_as_the_cause_not_the_learning_rate():
    x, y = blobs()
    x[7, 3] = np.nan
    model = mlp(8, [16], 3, seed=0)
    train = DataLoader(x, y, 20, shuffle=False)
    with pytest.raises(DivergenceError, match=r"at step 1 .*The input batch itself holds 1 NaN "
                                              r"or infinite values: check the data") as info:
        fit(model, SoftmaxCrossEntropy(), SGD(model.parameters(), lr=0.1), train, epochs=1,
            progress=False)
    assert "smaller learning rate" not in str(info.value)


def test_parts_in_the_wrong_place_are_named():
    """Each of these failed deep inside the first step or evaluation, in the words
    of another object ('SoftmaxCrossEntropy' object has no attribute 'lr')."""
    model, opt, train, test = training_setup()
    loss = SoftmaxCrossEntropy()
    cases = [
        ((model, opt, loss, train), {}, r"loss_fn must be an object with forward, backward"),
        ((model, SoftmaxCrossEntropy, opt, train), {},
         r"loss_fn .* got the class SoftmaxCrossEntropy, not an instance \(write Soft"),
        ((mlp, loss, opt, train), {}, r"model must be an object with forward, backward"),
        ((model, loss, opt, train), {"eval_loader": (test.x, test.y)},
         r"eval_loader got a pair of arrays \(x, y\); wrap them in a loader"),
        ((model, loss, opt, train), {"schedule": 0.1}, r"schedule must be a function of the step"),
        ((model, loss, opt, train), {"callbacks": [Callback]},
         r"got the class Callback, not an instance \(write Callback\(\.\.\.\)\)"),
        ((model, loss, opt, train), {"callbacks": [dict]}, r"got the class dict$"),   # no advice
    ]
    for args, options, match in cases:
        with pytest.raises(SettingError, match=match):
            Trainer(*args, **options)
    with pytest.raises(SettingError, match=r"evaluate got a pair of arrays"):
        evaluate(model, loss, (test.x, test.y))
    with pytest.raises(SettingError, match=r"loss_fn must be a loss such as"):
        evaluate(model, test, loss)
    with pytest.raises(SettingError, match=r"got the class SoftmaxCrossEntropy, not an instance"):
        evaluate(model, SoftmaxCrossEntropy, test)
    calls = []                                       # one callback, not in a list: fine
    fit(model, loss, opt, train, steps=2, callbacks=lambda t: calls.append(t.step),
        progress=False)
    assert calls == [1, 2]


@pytest.mark.parametrize("params, match", [
    ("method", r"pass model.parameters\(\), called, not the method"),
    ("dict", r"expected the Param objects of model.parameters\(\), got a str \('W'\)"),
    ("arrays", r"got a ndarray"),
])
def test_sgd_names_what_is_not_a_parameter(params, match):
    model = mlp(8, [16], 3, seed=0)
    given = {"method": model.parameters, "dict": model.layers[0].params,
             "arrays": [model.layers[0].params["W"]]}[params]
    with pytest.raises(SettingError, match=match):
        SGD(given, lr=0.1)


def test_layer_input_names_an_index_or_unit_that_does_not_exist():
    """Index 10 of a 3-layer model used to record the model's output, silently;
    unit 50 of a 6-unit layer failed with a bare IndexError."""
    x, _ = blobs()
    model = mlp(8, [6], 3, seed=0)                      # Dense, ReLU, Dense
    with pytest.raises(SettingError, match=r"index must be the index of a layer, 0 to 2 "
                                           r"\(or -3 to -1\) for this model, got 10"):
        layer_input(model, x[:5], 10)
    assert layer_input(model, x[:5], np.int64(2)).shape == (5, 6)
    with pytest.raises(SettingError, match=r"unit 50 does not exist; the input to layer 1 has "
                                           r"6 units"):
        LayerInputRecorder(1, x[:5], unit=50).record(Trainer(
            model, SoftmaxCrossEntropy(), SGD(model.parameters(), lr=0.1),
            DataLoader(x, (x[:, 0] > 0).astype(np.int64), 20)))


@pytest.mark.parametrize("setting,match", [
    ({"every": 0}, r"every must be an int >= 1, got 0$"),
    ({"every": -2}, r"every must be an int >= 1, got -2$"),
    ({"every": 2.5}, r"every must be an int >= 1, got 2\.5$"),
    ({"every": True}, r"every must be an int >= 1, got True \(a bool\)$"),
    ({"every": "5"}, r"every must be an int >= 1, got '5'$"),
    ({"unit": 2.5}, r"unit must be an int \(negative counts from the end\), got 2\.5$"),
    ({"index": "3"}, r"index must be an int \(negative counts from the end\), got '3'$"),
    ({"percentiles": (15, 150)}, r"percentiles must be numbers in 0\.\.100, got 150$"),
    ({"percentiles": (-1,)}, r"percentiles must be numbers in 0\.\.100, got -1$"),
    ({"percentiles": 50}, r"percentiles must be a sequence of numbers in 0\.\.100, such as "
                          r"\(15, 50, 85\), got 50$"),
    ({"percentiles": ()}, r"percentiles must name at least one percentile"),
    ({"x": np.zeros((0, 8), np.float32)}, r"x must be a batch of one or more samples, got an "
                                          r"array of shape \(0, 8\)$")])
def test_layer_input_recorder_refuses_a_bad_setting_when_built(setting, match):
    """every=0 used to fail at the first step with a ZeroDivisionError, every=-2 and 2.5
    recorded nothing at all, silently; percentiles out of 0..100 failed at the first
    recording with NumPy's error, and an empty x with a ShapeError of layer 0."""
    x, _ = blobs()
    with pytest.raises(SettingError, match=r"^LayerInputRecorder: " + match):
        LayerInputRecorder(**{"index": 1, "x": x[:5], **setting})


def test_layer_input_recorder_takes_numpy_ints_and_any_sequence_of_percentiles():
    x, _ = blobs()
    rec = LayerInputRecorder(np.int64(1), x[:5], unit=np.int64(-1), every=np.int64(5),
                             percentiles=(q for q in [10, 90.5]))
    assert rec.every == 5 and type(rec.every) is int
    assert rec.percentiles == (10, 90.5)              # a generator, read once


def test_infinite_weights_in_record_mode_and_a_save_by_hand(tmp_path):
    """In record mode the divergence used to carry the last finite loss as its loss;
    a save() by hand of such a model returned None and wrote nothing, silently."""
    model, opt, train, _ = training_setup()
    path = tmp_path / "ck.npz"
    trainer = Trainer(model, SoftmaxCrossEntropy(), opt, train, checkpoint=path,
                      callbacks=[blow_up_at(2 * len(train))], on_divergence="record",
                      progress=False)
    history = trainer.fit(epochs=3)
    assert history.diverged["cause"] == "0.W became NaN or infinite"
    assert history.diverged["loss"] is None and history.diverged["step"] == 2 * len(train)
    assert trainer.step == 2 * len(train) and checkpoint.read_meta(path)["step"] == len(train)
    with pytest.raises(DivergenceError, match=r"Trainer.save: 0.W is NaN or infinite; .* "
                                              r"was not written"):
        trainer.save(tmp_path / "by_hand.npz")
    assert sorted(os.listdir(tmp_path)) == ["ck.npz"]


def test_callbacks_from_a_generator_and_a_forward_only_metric():
    """The check of the callbacks used to consume a generator, leaving none;
    evaluate() needs only forward() of its loss, as a metric has."""
    model, opt, train, test = training_setup()
    calls = []
    fit(model, SoftmaxCrossEntropy(), opt, train, steps=2, progress=False,
        callbacks=(f for f in [lambda t: calls.append(t.step)]))
    assert calls == [1, 2]

    class ErrorRate:
        def forward(self, logits, labels):
            return float(np.mean(logits.argmax(1) != labels))
    loss, acc = evaluate(model, ErrorRate(), test)
    assert loss == pytest.approx(1 - acc)


def test_layer_input_takes_negative_indices_as_python_does():
    x, _ = blobs()
    model = mlp(8, [6], 3, seed=0)                      # Dense, ReLU, Dense
    np.testing.assert_array_equal(layer_input(model, x[:5], -1), layer_input(model, x[:5], 2))
    with pytest.raises(SettingError, match=r"0 to 2 \(or -3 to -1\) for this model, got -4"):
        layer_input(model, x[:5], -4)


def test_a_run_from_a_used_loader_warns_that_its_batches_differ():
    """A peek with next(iter(train)), or a second model trained on the first one's
    loader, silently started mid-way or at epoch 2: a BN-vs-plain comparison in
    a notebook then compared different batches."""
    model, opt, train, _ = training_setup()
    next(iter(train))
    with pytest.warns(UserWarning, match=r"was used before; it stands at epoch 1, sample 20,") \
            as caught:
        fit(model, SoftmaxCrossEntropy(), opt, train, epochs=1, progress=False)
    assert caught[0].filename == __file__                   # the user's line, not minidl's
    other, other_opt, _, _ = training_setup(batchnorm=False)
    with pytest.warns(UserWarning, match=r"at epoch 2, sample 20,.*one DataLoader per run$"):
        fit(other, SoftmaxCrossEntropy(), other_opt, train, epochs=1, progress=False)
    fresh_model, fresh_opt, fresh, _ = training_setup()
    with warnings.catch_warnings():
        warnings.simplefilter("error")           # a fresh loader, and a second fit: no warning
        trainer = Trainer(fresh_model, SoftmaxCrossEntropy(), fresh_opt, fresh, progress=False)
        trainer.fit(epochs=1)
        trainer.fit(epochs=2)


def test_a_new_run_over_another_runs_checkpoint_warns(tmp_path):
    """A notebook cell run again with a quick setting replaced a 5-epoch run's checkpoint
    at its first epoch end, silently. The warning names the user's line, also through
    fit() (the loader's warning pointed into minidl/train.py)."""
    path = tmp_path / "run.npz"
    model, opt, train, _ = training_setup()
    fit(model, SoftmaxCrossEntropy(), opt, train, epochs=2, checkpoint=path, progress=False)
    model, opt, train, _ = training_setup()
    with pytest.warns(CheckpointWarning, match=rf"{path} holds the checkpoint of a run at step "
                                               rf"{2 * len(train)}; this new run replaces it") \
            as caught:
        fit(model, SoftmaxCrossEntropy(), opt, train, epochs=1, checkpoint=path, progress=False)
    assert caught[0].filename == __file__
    model, opt, train, _ = training_setup()
    with warnings.catch_warnings():
        warnings.simplefilter("error")     # going on from it, or a second fit: no warning
        trainer = Trainer(model, SoftmaxCrossEntropy(), opt, train, checkpoint=path,
                          progress=False)
        trainer.resume(path)
        trainer.fit(epochs=2)
        trainer.fit(epochs=3)


def test_predict_gives_every_prediction_in_the_loaders_order():
    model, opt, train, test = training_setup()
    fit(model, SoftmaxCrossEntropy(), opt, train, steps=20, progress=False)
    next(iter(test))                                   # a peek does not change what it reads
    predicted, labels = predict(model, test)
    np.testing.assert_array_equal(labels, test.y)
    with model.inference():
        expected = model.forward(test.batch(np.arange(len(test.y)))[0]).argmax(axis=1)
    np.testing.assert_array_equal(predicted, expected)
    assert np.mean(predicted == labels) == evaluate(model, SoftmaxCrossEntropy(), test)[1]
    with pytest.raises(SettingError, match="predict got a pair of arrays"):
        predict(model, (test.x, test.y))
    for f in (lambda x: predict(model, x), lambda x: evaluate(model, SoftmaxCrossEntropy(), x)):
        with pytest.raises(SettingError, match=r"got an array of shape \(5, 8\); it takes a "
                                               r"loader.*model.forward\(xb\).argmax"):
            f(test.x[:5])          # used to fail with "too many values to unpack"


def test_ctrl_c_at_the_last_step_finishes_the_run(tmp_path):
    """A Ctrl-C that landed on the last step marked a finished run interrupted;
    train.py then refused both to start over and to resume it."""
    model, opt, train, _ = training_setup()
    before = signal.getsignal(signal.SIGINT)
    trainer = Trainer(model, SoftmaxCrossEntropy(), opt, train, checkpoint=tmp_path / "ck.npz",
                      callbacks=[InterruptAt(2 * len(train))], progress=False)
    history = trainer.fit(epochs=2)
    assert not history.interrupted and history.records[-1]["step"] == 2 * len(train)
    assert not checkpoint.read_meta(tmp_path / "ck.npz")["history"]["interrupted"]
    assert signal.getsignal(signal.SIGINT) is before


def test_fit_again_after_ctrl_c_goes_on_and_ends_with_a_final_record():
    """Interrupting a notebook cell and running fit again on the same trainer left
    the history marked interrupted, with no final record: history.final stayed at
    the record before the Ctrl-C."""
    model, opt, train, test = training_setup()
    trainer = Trainer(model, SoftmaxCrossEntropy(), opt, train, eval_loader=test,
                      callbacks=[InterruptAt(7)], progress=False)
    assert trainer.fit(epochs=2).interrupted and trainer.step == 7
    trainer.callbacks = []
    history = trainer.fit(steps=30)
    assert not history.interrupted
    assert history.final["step"] == 30 and history.final["kind"] == "final"
    assert history.final["test_acc"] == evaluate(model, SoftmaxCrossEntropy(), test)[1]


def test_what_moved_out_of_train_py_can_still_be_imported_from_it():
    """evaluate/predict and the callbacks have their own modules now; scripts and
    course notes written against minidl.train keep working."""
    import minidl.train as train
    from minidl import callbacks
    from minidl import evaluation
    moved = {"Callback": callbacks, "LayerInputRecorder": callbacks, "layer_input": callbacks,
             "evaluate": evaluation, "predict": evaluation}
    for name, home in moved.items():
        assert getattr(train, name) is getattr(home, name) and name in train.__all__


def test_a_history_prints_as_one_short_line():
    """The dataclass repr printed every step loss: 10,000 floats for one notebook cell."""
    h = History(step_loss=[0.5] * 10_000, step_lr=[0.1] * 10_000)
    h.records.append({"kind": "epoch", "step": 10_000, "epoch": 1, "train_loss": 0.123456,
                      "train_acc": 0.97, "test_loss": None, "test_acc": 0.9721, "lr": 0.1,
                      "time": 1.0})
    assert repr(h) == ("History(10000 steps; 1 record; at step 10000: train_loss 0.1235, "
                       "train_acc 0.97, test_acc 0.9721)")
    h.diverged, h.interrupted = {"step": 10_001}, True
    assert repr(h).endswith("; diverged at step 10001; interrupted)")
    assert repr(History()) == "History(0 steps; 0 records)"
    empty = {k: None for k in ("train_loss", "train_acc", "test_loss", "test_acc")}
    assert repr(History(records=[{"step": 0, **empty}])) == "History(0 steps; 1 record; at step 0)"


def test_a_history_column_that_does_not_exist_is_named_with_those_that_do():
    """A bare KeyError: 'test_accuracy' named neither the fields nor step_loss."""
    h = History(records=[{"kind": "epoch", "step": 5, "test_acc": 0.5, "extra": 1}])
    assert h.column("test_acc") == ([5], [0.5]) and h.column("extra") == ([5], [1])
    assert h.column("train_loss") == ([], [])             # a field, never recorded here
    with pytest.raises(SettingError, match=r"^History.column: records have no field "
                                           r"'test_accuracy'; they have kind, step, .*, "
                                           r"test_acc, lr, time \(each step's training loss "
                                           r"is history.step_loss"):
        h.column("test_accuracy")


def test_sgd_prints_its_settings():
    model = mlp(4, [3], 2, seed=0)
    assert repr(SGD(model.parameters(), lr=0.05, momentum=0.9, nesterov=True,
                    weight_decay=5e-4)) == ("SGD(lr=0.05, momentum=0.9, nesterov=True, "
                                            "weight_decay=0.0005, 4 parameter arrays)")


@pytest.mark.parametrize("make, says", [
    (lambda: cosine(0.1, 100, warmup=101), r"cosine: warmup \(101 steps\) is longer than "
                                           r"total_steps \(100\), so the learning rate would "
                                           r"never reach lr"),
    (lambda: cosine(0.1, 10.5), r"cosine: total_steps must be an int >= 1, got 10.5"),
    (lambda: cosine(-0.1, 10), r"cosine: lr must be a number > 0, got -0.1"),
    (lambda: cosine(0.1, 10, min_lr=-1), r"cosine: min_lr must be a number >= 0"),
    (lambda: cosine(0.1, 10, min_lr=1.0), r"cosine: min_lr \(1\) is above lr \(0.1\): the "
                                          r"rate would rise"),
    (lambda: step_decay(0.1, 2.5), r"step_decay: step_size must be an int >= 1, got 2.5"),
    (lambda: step_decay(0.1, 10, gamma=0), r"step_decay: gamma must be in \(0, 1\]"),
    (lambda: step_decay(0.1, 10, gamma=10), r"step_decay: gamma must be in \(0, 1\]: it "
                                            r"multiplies the rate, so 0.1 divides it by 10"),
    (lambda: constant(float("nan")), r"constant: lr must be a number > 0, got nan")])
def test_schedules_refuse_settings_that_cannot_work(make, says):
    """cosine(0.1, 100, warmup=200) warmed up for the whole run and never reached
    lr; the others failed at the first step, or never."""
    with pytest.raises(SettingError, match=says):
        make()


def stop_at_once(trainer):
    trainer.stop = True


def test_a_step_decay_that_decays_to_nothing_before_the_end_is_said_to():
    """step_decay(0.1, 1), meant as every epoch, took the rate to 1e-158 within the first
    epoch: training stalled at 27% without a word."""
    model, opt, train, _ = training_setup()                # 25 steps per epoch
    with pytest.warns(UserWarning, match=r"fit: the schedule's rate falls below 1e-4 of its "
                                         r"start at step 5 \(5 times gamma=0.1, every 1 "
                                         r"steps\), but training runs to step 75.*If step_size "
                                         r"was meant in epochs: it counts steps"):
        fit(model, SoftmaxCrossEntropy(), opt, train, epochs=3, schedule=step_decay(0.1, 1),
            progress=False)
    model, opt, train, _ = training_setup()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        history = fit(model, SoftmaxCrossEntropy(), opt, train, epochs=3, progress=False,
                      schedule=step_decay(0.1, 20))   # 3 decays, to 1e-3 of lr: no warning
    assert history.step_lr[-1] == pytest.approx(1e-4)
    model, opt, train, _ = training_setup()         # 0.9999^92099 < 1e-4, found at once (no search)
    with pytest.warns(UserWarning, match=r"at step 92099 \(92099 times gamma=0.9999, every 1 "):
        fit(model, SoftmaxCrossEntropy(), opt, train, epochs=10 ** 4, progress=False,
            schedule=step_decay(0.1, 1, 0.9999), callbacks=[stop_at_once])


def test_a_warmup_as_long_as_the_run_is_allowed():
    """train.py --model cnn --epochs 1 warms up over its one epoch (the CNN's default)."""
    c = cosine(0.1, 4, warmup=4)
    np.testing.assert_allclose([c(s) for s in range(4)], [0.025, 0.05, 0.075, 0.1], rtol=1e-12)



def test_notebook_papercuts_are_named():
    """An optimizer.lr set by hand against a schedule was ignored in silence; fit(epoch=1)
    raised a TypeError about Trainer.__init__; checkpoint_every without checkpoint= was
    ignored; a DataLoader of another library was named only 'DataLoader'."""
    model, opt, train, _ = training_setup()
    trainer = Trainer(model, SoftmaxCrossEntropy(), opt, train, schedule=constant(0.1),
                      progress=False)
    trainer.fit(epochs=1)
    opt.lr = 0.001
    with pytest.warns(UserWarning, match=r"optimizer.lr was set to 0.001 since the last step, "
                                         r"but the trainer's schedule sets the learning rate"):
        trainer.fit(epochs=2)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        trainer.fit(epochs=3)                         # the schedule's own rates: no warning
    with pytest.raises(SettingError, match=r"fit: unknown option 'epoch' \(did you mean "
                                           r"'epochs'\?\); fit takes epochs or steps"):
        fit(model, SoftmaxCrossEntropy(), opt, train, epoch=1)
    with pytest.raises(SettingError, match=r"checkpoint_every needs checkpoint=path"):
        Trainer(model, SoftmaxCrossEntropy(), opt, train, checkpoint_every=5)

    class DataLoader(list):                            # a look-alike of another library
        pass
    with pytest.raises(SettingError, match=r"got test_train.DataLoader;"):
        Trainer(model, SoftmaxCrossEntropy(), opt, DataLoader())


def test_a_float64_model_trains_on_a_float64_loader():
    """The loader always gave float32, so a model built with dtype='float64' could not
    be trained at all (the error's advice, x.astype(np.float64), had no place to go)."""
    x, y = blobs()
    model = mlp(8, [16], 3, batchnorm=True, seed=0, dtype="float64")
    train = DataLoader(x, y, 20, seed=0, dtype=np.float64)
    assert train.batch(np.arange(5))[0].dtype == np.float64 and "as float64" in repr(train)
    history = fit(model, SoftmaxCrossEntropy(), SGD(model.parameters(), lr=0.1), train,
                  epochs=2, progress=False)
    assert history.step_loss[-1] < history.step_loss[0]


def test_evaluate_weighs_a_smaller_last_batch_by_its_size():
    """Every evaluation loader of the tests had equal batches, where a mean of the
    batches' means is the right answer too."""
    model, _, _, _ = training_setup()
    x, y = blobs(100, seed=3)
    whole = evaluate(model, SoftmaxCrossEntropy(), DataLoader(x, y, 100, shuffle=False))
    for size in (30, 7):                     # last batches of 10 and 2 samples
        parts = evaluate(model, SoftmaxCrossEntropy(), DataLoader(x, y, size, shuffle=False))
        np.testing.assert_allclose(parts, whole, rtol=1e-6)
    assert 0 < whole[1] < 1                  # a trained-for-nothing model: not all right


class SquaredError:
    """A loss of the user's own: half the mean squared error of the outputs
    against float targets of the same shape."""

    def forward(self, y, t):
        self.diff = y - t.astype(y.dtype)
        return float((self.diff ** 2).mean() / 2)

    def backward(self):
        return self.diff / self.diff.size


@pytest.mark.parametrize("outputs", [1, 3])
def test_no_accuracy_where_the_outputs_are_not_class_scores(outputs):
    """One output (a regression, or a sigmoid with a loss of one's own), or targets of
    the outputs' shape (one-hot, or regression): argmax compared with such labels
    broadcast to (N, N) or (N, outputs) and gave numbers up to N times too large."""
    x, y = blobs(200)
    t = (np.eye(3, dtype=np.float32)[y] if outputs == 3 else
         (y[:, None] == 1).astype(np.float32))        # (N, 1) or one-hot (N, 3)
    model = mlp(8, [16], outputs, batchnorm=True, seed=0)
    history = fit(model, SquaredError(), SGD(model.parameters(), lr=0.1),
                  DataLoader(x[:160], t[:160], 20, seed=0), epochs=2,
                  eval_loader=DataLoader(x[160:], t[160:], 40, shuffle=False), progress=False)
    assert history.step_loss[-1] < history.step_loss[0]           # it trains all the same
    assert all(r["train_acc"] is None and r["test_acc"] is None for r in history.records)
    assert all(r["train_loss"] > 0 and r["test_loss"] > 0 for r in history.records)
    loss, accuracy = evaluate(model, SquaredError(), DataLoader(x, t, 50, shuffle=False))
    assert loss > 0 and accuracy is None
    # class indices for a model with one output: argmax is always 0
    _, accuracy = evaluate(mlp(8, [16], 1, seed=0), SquaredError(),
                           DataLoader(x, y.astype(np.float32), 50, shuffle=False))
    assert accuracy is None


def test_a_callback_hook_the_trainer_cannot_call_is_named_when_the_trainer_is_made():
    """on_eval(self, trainer) failed with a bare TypeError after a whole epoch, and
    on_epoch_end (Keras's name) was never called, without a word."""
    model, opt, train, test = training_setup()

    class Short(Callback):
        def on_eval(self, trainer):
            pass

    class Keras(Callback):
        def __init__(self):
            self.calls = 0

        def on_epoch_end(self, trainer):
            self.calls += 1

    class NoMethod(Callback):
        on_train_begin = None

    def no_argument():
        pass
    for callback, says in [(NoMethod(), r"callback NoMethod\.on_train_begin is None, not a "
                                        r"function of \(trainer\)"),
                           (Short(), r"callback Short\.on_eval must take \(self, trainer, "
                                     r"record\), as the Trainer calls it; it takes \(self, "
                                     r"trainer\)"),
                           (no_argument, r"callback no_argument must take \(trainer\), as the "
                                         r"Trainer calls it; it takes \(\)")]:
        with pytest.raises(SettingError, match=says):
            Trainer(model, SoftmaxCrossEntropy(), opt, train, callbacks=[callback])
    keras = Keras()
    with pytest.warns(UserWarning, match=r"Keras\.on_epoch_end is no hook: the Trainer never "
                                         r"calls it .*An epoch's end is on_eval\(trainer, "
                                         r"record\) with record\['kind'\] == 'epoch'"):
        fit(model, SoftmaxCrossEntropy(), opt, train, epochs=1, callbacks=[keras],
            progress=False)
    assert keras.calls == 0
    model, opt, train, test = training_setup()
    with warnings.catch_warnings():
        warnings.simplefilter("error")             # a hook of the right shape: no warning
        fit(model, SoftmaxCrossEntropy(), opt, train, epochs=1, progress=False,
            callbacks=[lambda trainer: None, LayerInputRecorder(1, test.x[:20], every=10)])
