"""History: what a training run measured, as plain lists, saved as JSON or CSV.

step_loss[i], step_lr[i]: training loss and learning rate of step i + 1.
records: one dict per evaluation, with keys kind ("epoch" at each epoch end,
"eval" every eval_every steps that are not an epoch end, "final" at the end
when that is neither), step, epoch,
train_loss / train_acc (mean over the training batches since the previous
record), test_loss / test_acc (None without eval data), lr, time (seconds).
"""
import csv
from dataclasses import asdict, dataclass, field

from minidl import jsonfile
from minidl.errors import SettingError
from minidl.files import atomic_path

RECORD_FIELDS = ["kind", "step", "epoch", "train_loss", "train_acc", "test_loss", "test_acc",
                 "lr", "time"]


@dataclass
class History:
    step_loss: list = field(default_factory=list)
    step_lr: list = field(default_factory=list)
    records: list = field(default_factory=list)
    diverged: dict = None      # {"step", "loss", "lr", "last_finite_loss", "cause"} if it diverged
    interrupted: bool = False
    config: dict = field(default_factory=dict)

    @property
    def epochs(self):
        return [r for r in self.records if r["kind"] == "epoch"]

    def column(self, name):
        """(steps, values) of one record field over all records that have it,
        e.g. history.column("test_acc")."""
        if name not in RECORD_FIELDS and not any(name in r for r in self.records):
            raise SettingError(f"History.column: records have no field {name!r}; they have "
                               f"{', '.join(RECORD_FIELDS)} (each step's training loss is "
                               "history.step_loss, its learning rate history.step_lr)")
        rows = [r for r in self.records if r.get(name) is not None]
        return [r["step"] for r in rows], [r[name] for r in rows]

    @property
    def final(self):
        return self.records[-1] if self.records else None

    def __repr__(self):
        """One line, not the thousands of step losses a run has (history.step_loss)."""
        n = len(self.records)
        parts = [f"{len(self.step_loss)} steps", f"{n} record{'s' * (n != 1)}"]
        if self.final is not None:
            last = self.final
            shown = [f"{k} {last[k]:.4g}" for k in ("train_loss", "train_acc", "test_loss",
                                                    "test_acc") if last.get(k) is not None]
            values = f": {', '.join(shown)}" if shown else ""
            parts.append(f"at step {last.get('step')}{values}")
        if self.diverged:
            parts.append(f"diverged at step {self.diverged['step']}")
        if self.interrupted:
            parts.append("interrupted")
        return f"History({'; '.join(parts)})"

    def to_dict(self):
        return asdict(self)

    @classmethod
    def from_dict(cls, d):
        return cls(**{k: d[k] for k in cls.__dataclass_fields__ if k in d})

    def to_json(self, path):
        """Strict JSON: a NaN or infinite loss is written as "NaN" or "Infinity"
        (minidl/jsonfile.py), and read back as a float by from_json."""
        jsonfile.write(path, self.to_dict())

    @classmethod
    def from_json(cls, path):
        return cls.from_dict(jsonfile.read(path))

    def to_csv(self, path, steps=False):
        """The records as a table; with steps=True, one row per step (step, loss, lr)."""
        with atomic_path(path, suffix=".csv") as tmp, open(tmp, "w", newline="") as f:
            w = csv.writer(f)
            if steps:
                w.writerow(["step", "loss", "lr"])
                w.writerows(zip(range(1, len(self.step_loss) + 1), self.step_loss, self.step_lr))
            else:
                w.writerow(RECORD_FIELDS)
                w.writerows([r.get(k) for k in RECORD_FIELDS] for r in self.records)
