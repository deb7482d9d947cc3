"""compare_bn.py's summary of a run: accuracy milestones of each net, and the
same as a Markdown table (summary.json and summary.md)."""
import os

import numpy as np

from minidl import plot

THRESHOLDS = (0.95, 0.97, 0.98)     # test accuracies whose first step is reported


def steps_to(history, accuracy):
    """The first evaluated step at which the test accuracy reaches `accuracy`, or None."""
    for step, acc in zip(*history.column("test_acc")):
        if acc >= accuracy:
            return step
    return None


def net_summary(run):
    h = run.history
    steps, accs = h.column("test_acc")
    best = int(np.argmax(accs)) if accs else None
    tail = h.step_loss[-100:]
    if h.diverged:      # its last evaluation was of a net on its way to NaN: no final result
        tail, final = [], None
    else:
        final = h.final["test_acc"] if h.final else None
    return {"final_test_acc": final,
            "best_test_acc": accs[best] if accs else None,
            "best_step": steps[best] if accs else None,
            **{f"steps_to_{round(100 * t)}": steps_to(h, t) for t in THRESHOLDS},
            "final_train_loss": float(np.mean(tail)) if tail else None,
            "steps_done": len(h.step_loss), "diverged": h.diverged,
            "wall_time_s": round(run.wall_time, 1), "ms_per_step": run.ms_per_step,
            "batch_order_sha256": h.config["batch_order_sha256"],
            "initial_weights_sha256": h.config["initial_weights_sha256"]}


def summarize(settings, runs, test_labels):
    """settings: the options of the run; runs: {"plain": Run, "bn": Run}; test_labels:
    the labels of the test images used (for the accuracy of a guess)."""
    nets = {key: net_summary(run) for key, run in runs.items()}
    plain_final = nets["plain"]["final_test_acc"]
    return {"settings": settings, "plain": nets["plain"], "bn": nets["bn"],
            # what always naming the most frequent digit scores on these test images
            "guess_test_acc": float(np.bincount(test_labels).max() / len(test_labels)),
            "bn_steps_to_plain_final": (steps_to(runs["bn"].history, plain_final)
                                        if plain_final is not None else None),
            "plain_steps_to_plain_final": (steps_to(runs["plain"].history, plain_final)
                                           if plain_final is not None else None),
            "same_batches": nets["plain"]["batch_order_sha256"] == nets["bn"]["batch_order_sha256"],
            "same_initial_weights": (nets["plain"]["initial_weights_sha256"]
                                     == nets["bn"]["initial_weights_sha256"]),
            "note": f"wall times measured on a machine with {os.cpu_count()} CPU cores; other "
                    "jobs running at the same time inflate them"}


def fmt(value, percent=False, diverged=None):
    """A summary value as text; None is "not reached", or for a net that diverged
    (its history's `diverged` given) "none (diverged at step N)"."""
    if value is None:
        return f"none (diverged at step {diverged['step']})" if diverged else "not reached"
    if isinstance(value, float):
        return f"{100 * value:.2f}%" if percent else f"{value:.4g}"
    return str(value)


# what a net scores that always names one class on all of MNIST's test set, whose
# most frequent digit, 1, is 1,135 of its 10,000 images
GUESS = 0.1135


def bn_reaches_plain(summary):
    """A sentence: when the BN net reaches the plain net's final accuracy, and when the
    plain net itself first did (a final accuracy below an earlier peak is reached early
    by both nets, and the BN net's step alone would flatter it)."""
    step = summary["bn_steps_to_plain_final"]
    if summary["plain"]["diverged"]:
        return "The plain net diverged: it has no final accuracy for the BN net to reach."
    final = fmt(summary["plain"]["final_test_acc"], percent=True)
    guess = summary.get("guess_test_acc", GUESS)         # GUESS: older summary.json
    if summary["plain"]["final_test_acc"] <= guess + 0.01:   # "reaches it at step 100": nothing
        bn = fmt(summary["bn"]["final_test_acc"], True, summary["bn"]["diverged"])
        return (f"The plain net did not learn: its final accuracy, {final}, is that of a "
                f"guess; the BN net's final accuracy: {bn}.")
    own = summary.get("plain_steps_to_plain_final")      # absent from older summary.json
    itself = f"; the plain net itself first reaches it at step {own}" if own is not None else ""
    if step is None:
        return f"The BN net does not reach the plain net's final accuracy ({final}){itself}."
    return f"The BN net reaches the plain net's final accuracy ({final}) at step {step}{itself}."


def summary_markdown(summary):
    rows = [("final test accuracy", "final_test_acc", True),
            ("best test accuracy", "best_test_acc", True), ("at step", "best_step", False),
            *[(f"steps to {round(100 * t)}% test accuracy", f"steps_to_{round(100 * t)}", False)
              for t in THRESHOLDS],
            ("training loss, mean of the last 100 steps", "final_train_loss", False),
            ("wall time (s)", "wall_time_s", False), ("ms per step (median)", "ms_per_step", False)]
    lines = ["# BN against no BN on MNIST", "", "| | without BN | with BN |", "|---|---|---|"]
    for name, key, percent in rows:
        plain, bn = summary["plain"], summary["bn"]
        lines.append(f"| {name} | {fmt(plain[key], percent, plain['diverged'])} | "
                     f"{fmt(bn[key], percent, bn['diverged'])} |")
    for key in ("plain", "bn"):
        if summary[key]["diverged"]:
            lines.append(f"\n{plot.LABELS[key]} diverged: {summary[key]['diverged']}")
    lines += ["", bn_reaches_plain(summary),
              f"Same batches in the same order: {summary['same_batches']}; "
              f"same initial weights: {summary['same_initial_weights']}.",
              f"Note: {summary['note']}.", "", "Settings:", ""]
    lines += [f"- {k}: {v}" for k, v in summary["settings"].items()]
    return "\n".join(lines) + "\n"
