"""JSON that every parser reads, including a diverged run's NaN and infinite losses.

JSON has no NaN or infinity. Python's json module writes them as the bare
words NaN, Infinity and -Infinity, which strict parsers (jq, a browser's
JSON.parse, many plotting tools) refuse, so a diverged run's history could not
be read there. minidl writes them as the strings "NaN", "Infinity" and
"-Infinity" instead, and turns those strings back into floats when it reads a
file (so would a text value that is exactly one of the three names); files
with the bare words, as older minidl wrote them, still load.
"""
import json
import math

import numpy as np

from minidl.errors import FormatError
from minidl.files import atomic_path

_NAMES = {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}


def _named(v):
    """v with every non-finite float replaced by its name (lists and dicts walked),
    and NumPy scalars (np.float32(0.5), np.int64(3)) as the Python numbers they hold."""
    if isinstance(v, np.generic):
        v = v.item()
    if isinstance(v, float) and math.isnan(v):      # np.float64 too (np.float32 is no float)
        return "NaN"
    if isinstance(v, float) and math.isinf(v):
        return "Infinity" if v > 0 else "-Infinity"
    if isinstance(v, dict):
        return {k: _named(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_named(x) for x in v]
    return v


def _unnamed(v):
    """The inverse of _named: the three names back to floats."""
    if isinstance(v, str):
        return _NAMES.get(v, v)
    if isinstance(v, dict):
        return {k: _unnamed(x) for k, x in v.items()}
    if isinstance(v, list):
        return [_unnamed(x) for x in v]
    return v


def dumps(obj):
    """Strict JSON text of obj, indented, non-finite floats named."""
    return json.dumps(_named(obj), indent=1, allow_nan=False) + "\n"


def write(path, obj):
    """Write dumps(obj) to path atomically: never half a file under the name."""
    with atomic_path(path, suffix=".json") as tmp, open(tmp, "w") as f:
        f.write(dumps(obj))


def read(path):
    """The object in a JSON file, with "NaN", "Infinity", "-Infinity" as floats; a
    file that is not JSON is a FormatError that names it (json's own error does not)."""
    with open(path) as f:
        try:
            return _unnamed(json.load(f))
        except (json.JSONDecodeError, UnicodeDecodeError) as e:
            raise FormatError(f"{path}: not a JSON file, or one cut short ({e})") from None
