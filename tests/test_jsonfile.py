"""JSON files that strict parsers read: NaN and infinities named, and read back."""
import json
import math

import numpy as np
import pytest

from minidl import jsonfile
from minidl.history import History


def strict_loads(text):
    """json.loads as a strict parser (jq, JSON.parse) reads: no bare NaN/Infinity."""
    def refuse(word):
        raise ValueError(f"not JSON: {word}")
    return json.loads(text, parse_constant=refuse)


def diverged_history():
    h = History(step_loss=[2.3, 1.5, math.inf, math.nan], step_lr=[0.1] * 4,
                diverged={"step": 3, "loss": math.inf, "lr": 0.1, "last_finite_loss": 1.5,
                          "cause": "loss"})
    h.records.append({"kind": "final", "step": 4, "epoch": 1, "train_loss": math.nan,
                      "train_acc": 0.1, "test_loss": -math.inf, "test_acc": None, "lr": 0.1,
                      "time": 0.5})
    return h


def test_a_diverged_history_is_strict_json_and_reads_back(tmp_path):
    h = diverged_history()
    h.to_json(tmp_path / "h.json")
    raw = strict_loads((tmp_path / "h.json").read_text())
    assert raw["step_loss"][2:] == ["Infinity", "NaN"] and raw["diverged"]["loss"] == "Infinity"
    again = History.from_json(tmp_path / "h.json")
    assert again.step_loss[:3] == [2.3, 1.5, math.inf] and math.isnan(again.step_loss[3])
    assert again.diverged == h.diverged
    assert math.isnan(again.final["train_loss"]) and again.final["test_loss"] == -math.inf
    assert again.final["test_acc"] is None and again.final["kind"] == "final"


def test_files_with_bare_nan_as_python_writes_them_still_load(tmp_path):
    h = diverged_history()
    (tmp_path / "old.json").write_text(json.dumps(h.to_dict()))   # NaN, Infinity as words
    again = History.from_json(tmp_path / "old.json")
    assert again.step_loss[2] == math.inf and math.isnan(again.step_loss[3])


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf, np.float64("nan")])
def test_nested_values_are_named_and_restored(value, tmp_path):
    obj = {"a": [1, {"b": (value, 2.5)}], "c": "text", "d": None, "e": True}
    jsonfile.write(tmp_path / "x.json", obj)
    strict_loads((tmp_path / "x.json").read_text())
    back = jsonfile.read(tmp_path / "x.json")
    got = back["a"][1]["b"][0]
    assert (math.isnan(got) if value != value else got == value)
    assert back["a"][1]["b"][1] == 2.5 and back["c"] == "text" and back["d"] is None


def test_finite_values_are_written_as_json_writes_them():
    obj = {"x": [0.1, -0.0, 1e308, 3], "s": "NaN-like text"}
    assert strict_loads(jsonfile.dumps(obj)) == obj


def test_numpy_scalars_are_written_as_the_numbers_they_hold():
    """checkpoint.save took them; History.to_json raised 'float32 is not JSON serializable'."""
    text = jsonfile.dumps({"loss": np.float32(0.5), "steps": [np.int64(3), np.float32("nan")]})
    assert json.loads(text) == {"loss": 0.5, "steps": [3, "NaN"]}


def test_a_file_that_is_not_json_is_named(tmp_path):
    """json's error ("Expecting value: line 1 column 1") named no file."""
    from minidl.errors import FormatError
    (tmp_path / "cut.json").write_text('{"records": [1, 2')
    (tmp_path / "binary.json").write_bytes(b"\x89PNG\r\n\x1a\n\xff")
    for name in ("cut.json", "binary.json"):
        with pytest.raises(FormatError, match=rf"{name}: not a JSON file, or one cut short"):
            jsonfile.read(tmp_path / name)
