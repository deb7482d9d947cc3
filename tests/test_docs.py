"""The documents in docs/ cannot drift from the code.

1. Every ```python block of docs/<name>.md runs: a document's blocks run in
   order in one fresh namespace, in a subprocess with the repository root as
   working directory and MPLBACKEND=Agg. A failing block's traceback points at
   the line of the .md file. A ```text block right after it (only blank lines
   between, or one paragraph that starts "*What we saw") is its printed output
   and must equal what it prints, except that a number in e-notation below 1e-6
   (rounding error, whose digits depend on the machine's BLAS) need only be
   within a factor of 10 of the one shown.
2. Every block fenced ```python from <path> quotes the library: each non-empty
   line of it, stripped, must equal a stripped line of <path> (a line "..."
   marks an omission and is not checked), and between omissions the lines
   are consecutive lines of <path> (blank lines aside), indented relative to
   each other as in <path>. Such blocks do not run.
3. Every option (--name) of a `python examples/...` command in a ```bash block
   is one the script's --help lists.

Blocks fenced ```python no-run (e.g. a deliberately wrong snippet, or one that
needs MNIST and minutes of training) are shown but not run. Any other info
string starting with "python" is an error, so a typo cannot hide a block.
The conventions are described in docs/README.md.
"""
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
DOCS = sorted((REPO / "docs").glob("*.md"))
FENCE = re.compile(r"^```(.*)$")


def blocks(path):
    """[(info, first line number of the code (1-based), code)] of a Markdown file."""
    out, info, start, lines = [], None, 0, []
    for number, line in enumerate(path.read_text().splitlines(), 1):
        match = FENCE.match(line.rstrip())
        if info is None and match:
            info, start, lines = match.group(1).strip(), number + 1, []
        elif info is not None and line.rstrip() == "```":
            out.append((info, start, "\n".join(lines) + "\n"))
            info = None
        elif info is not None:
            lines.append(line)
    assert info is None, f"{path.name}: unclosed code fence opened at line {start - 1}"
    return out


def kind(info):
    """'run', 'no-run', ('quote', path) or None (not Python)."""
    words = info.split()
    if not words or words[0] != "python":
        return None
    if len(words) == 1:
        return "run"
    if words[1:] == ["no-run"]:
        return "no-run"
    if len(words) == 3 and words[1] == "from":
        return ("quote", words[2])
    raise AssertionError(f"unknown fence info string ```{info}: use ```python, "
                         "```python no-run or ```python from <path>")


RUNNER = r"""
import contextlib, io, json, sys
ns = {"__name__": "__docs__"}
printed = []
for path, start, code in BLOCKS:
    out = io.StringIO()      # each block's output, to compare with the text shown after it
    try:
        with contextlib.redirect_stdout(out):
            # pad with blank lines so that tracebacks give the line number in the .md file
            exec(compile("\n" * (start - 1) + code, path, "exec"), ns)
    finally:
        sys.stdout.write(out.getvalue())
    printed.append(out.getvalue())
with open(OUTPUTS, "w") as f:
    json.dump(printed, f)
"""


def test_there_are_documents():
    names = {p.name for p in DOCS}
    assert {"README.md", "batchnorm.md", "layers.md", "gradcheck.md", "exercises.md"} <= names


def _with(predicate):
    """The documents having at least one block whose info string satisfies predicate."""
    return [p for p in DOCS if any(predicate(info) for info, _, _ in blocks(p))]


def _is_command_block(info):
    return info in ("bash", "sh", "console")


@pytest.mark.parametrize("doc", DOCS, ids=[p.name for p in DOCS])
def test_fences_are_known(doc):
    for info, start, _ in blocks(doc):
        kind(info)          # raises on a misspelled python fence


def _lines(text):
    """Text as compared with what was shown: trailing spaces (which editors strip)
    and blank lines at either end do not count."""
    return [line.rstrip() for line in text.strip("\n").splitlines()]


# A number like 9e-11 or 6.475359126928779e-11: gradcheck's errors and other
# rounding-level differences. Their digits change with the BLAS kernels that
# OpenBLAS picks for the CPU (seen: 9e-11 with one NumPy's OpenBLAS, 8e-11 with
# another's on the same machine), so a shown and a printed value below 1e-6
# match if they are within a factor of 10 of each other; a wrong gradient's
# error (1e-2 and up) never does.
E_NUMBER = re.compile(r"[-+]?\d+(?:\.\d+)?e[-+]\d+")
ROUNDING = 1e-6


def _same_line(printed, shown):
    """Equal, but for rounding-level numbers within a factor of 10 of each other."""
    if E_NUMBER.split(printed) != E_NUMBER.split(shown):
        return False
    pairs = zip(E_NUMBER.findall(printed), E_NUMBER.findall(shown))
    return all(p == s or _both_rounding(abs(float(p)), abs(float(s))) for p, s in pairs)


def _both_rounding(a, b):
    return 0 < min(a, b) and max(a, b) < ROUNDING and max(a, b) <= 10 * min(a, b)


def same_output(printed, shown):
    """printed matches the text block shown (see the module docstring, point 1)."""
    a, b = _lines(printed), _lines(shown)
    return len(a) == len(b) and all(_same_line(p, s) for p, s in zip(a, b))


def test_rounding_level_numbers_may_differ_within_a_factor_of_10():
    assert same_output("eps=1e-06: 8e-11  error: 6.47e-11\n", "eps=1e-06: 9e-11  error: 7.3e-11")
    assert not same_output("W: 2e-01", "W: 9e-11")              # a wrong gradient
    assert not same_output("b: 9e-13", "b: 1e-11")              # more than 10x apart
    assert not same_output("eps=1e-04: 4e-04", "eps=1e-04: 5e-04")   # not rounding level
    assert not same_output("x: 8e-11", "W: 8e-11")              # the text around differs
    assert not same_output("8e-11\n1e-10", "8e-11")            # a line more


def shown_outputs(path):
    """{start line of a run block: the ```text block right after it}, for the run
    blocks followed by a text block after blank lines only, or after one
    paragraph that starts "*What we saw" (the exercises' label for an output)."""
    lines, found = path.read_text().splitlines(), blocks(path)
    shown = {}
    for (info, start, code), (next_info, next_start, text) in zip(found, found[1:]):
        end = start + code.count("\n")              # the line of the closing fence
        between = "\n".join(lines[end:next_start - 2]).strip()
        label = between.startswith("*What we saw") and "\n\n" not in between
        if kind(info) == "run" and next_info == "text" and (not between or label):
            shown[start] = text
    return shown


def test_a_text_block_is_an_output_after_blank_lines_or_the_exercises_label(tmp_path):
    """The exercises' outputs, after their "*What we saw:*" line, were shown and never
    compared; any other paragraph between still means the text block is not an output."""
    doc = tmp_path / "doc.md"
    code, out = "```python\nprint(1)\n```\n", "```text\n1\n```\n"
    for between, compared in (("\n", True), ("\n*What we saw:*\n\n", True),
                              ("\n*What we saw* (a remark\nover two lines):\n\n", True),
                              ("\nPrinted:\n\n", False),
                              ("\n*What we saw:*\n\nAnd more.\n\n", False)):
        doc.write_text(code + between + out)
        assert bool(shown_outputs(doc)) == compared, between


@pytest.mark.parametrize("doc", _with(lambda i: i == "python"), ids=lambda p: p.name)
def test_python_blocks_run_and_print_what_is_shown(doc, tmp_path):
    check_blocks(doc, tmp_path)


def check_blocks(doc, tmp_path):
    """Run the python blocks of doc (a Markdown file) in order in one namespace, and
    compare each one's output with the text block shown right after it."""
    found = [(str(doc.relative_to(REPO)), start, code) for info, start, code in blocks(doc)
             if kind(info) == "run"]
    env = dict(os.environ, MPLBACKEND="Agg")
    outputs = tmp_path / "outputs.json"
    program = f"BLOCKS = {found!r}\nOUTPUTS = {str(outputs)!r}\n{RUNNER}"
    result = subprocess.run([sys.executable, "-c", program], cwd=REPO, env=env,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, (f"a python block of {doc.name} failed:\n"
                                    f"{result.stdout[-3000:]}\n{result.stderr[-5000:]}")
    printed = dict(zip([start for _, start, _ in found], json.loads(outputs.read_text())))
    wrong = [f"{doc.name}:{start}: the text block after it shows\n{text}but it printed\n"
             f"{printed[start]}" for start, text in shown_outputs(doc).items()
             if not same_output(printed[start], text)]
    assert not wrong, "\n".join(wrong)


@pytest.mark.parametrize("doc", _with(lambda i: i.startswith("python from ")),
                         ids=lambda p: p.name)
def test_quoted_code_is_verbatim(doc):
    quotes = [(k[1], start, code) for info, start, code in blocks(doc)
              if isinstance(k := kind(info), tuple)]
    problems = []
    for source, start, code in quotes:
        path = REPO / source
        if not path.is_file():
            problems.append(f"{doc.name}:{start - 1}: quoted file {source} does not exist")
            continue
        have = {line.strip() for line in path.read_text().splitlines()}
        for offset, line in enumerate(code.splitlines()):
            text = line.strip()
            if text and text != "..." and text not in have:
                problems.append(f"{doc.name}:{start + offset}: not a line of {source}: {text}")
    assert not problems, "quoted code no longer matches the library:\n" + "\n".join(problems)


def _indent(line):
    return len(line) - len(line.lstrip(" "))


def indentation_problems(code, source_lines):
    """[(line offset, message)]: within each run of quoted lines between two
    "..." markers, the lines must be indented relative to each other as in
    the source (a quote may sit at any depth as a whole)."""
    depths = {}
    for line in source_lines:
        depths.setdefault(line.strip(), set()).add(_indent(line))
    problems, run = [], []
    for offset, line in enumerate(code.splitlines() + ["..."]):
        text = line.strip()
        if text == "...":
            shifts = None
            for _, quoted, possible in run:       # source depth - quoted depth, per line
                here = {depth - quoted for depth in possible}
                shifts = here if shifts is None else shifts & here
            if run and not shifts:
                problems.append((run[0][0], "indentation differs from the source"))
            run = []
        elif text in depths:
            run.append((offset, _indent(line), depths[text]))
    return problems


def test_indentation_check_catches_a_flattened_quote():
    source = ["def f(x):", "    if x:", "        return 1", "    return 2"]
    assert indentation_problems("if x:\n    return 1\nreturn 2\n", source) == []
    assert indentation_problems("def f(x):\n...\n        return 1\n", source) == []
    assert indentation_problems("if x:\nreturn 1\n", source) == [(0, "indentation differs "
                                                                         "from the source")]


def _contains(source, texts):
    n = len(texts)
    return any(source[i:i + n] == texts for i in range(len(source) - n + 1))


def gap_problems(code, source_lines):
    """[(line offset, message)]: each run of quoted lines between two "..."
    markers must be consecutive lines of the source (blank lines on either
    side do not count), so that every omission is marked. Runs with a line
    that is not in the source are left to test_quoted_code_is_verbatim."""
    source = [line.strip() for line in source_lines if line.strip()]
    problems, run = [], []
    for offset, line in enumerate(code.splitlines() + ["..."]):
        text = line.strip()
        if text == "...":
            texts = [quoted for _, quoted in run]
            if run and set(texts) <= set(source) and not _contains(source, texts):
                k = max(k for k in range(1, len(texts)) if _contains(source, texts[:k]))
                problems.append((run[k][0], "does not follow the line quoted before it "
                                            "in the source (mark the gap with a line ...)"))
            run = []
        elif text:
            run.append((offset, text))
    return problems


def test_gap_check_catches_an_unmarked_omission():
    source = ["def f(x):", "    if x:", "", "        return 1", "    return 2"]
    assert gap_problems("def f(x):\n    if x:\n\n        return 1\n", source) == []
    assert gap_problems("def f(x):\n    ...\n    return 2\n", source) == []
    assert gap_problems("def f(x):\n    return 2\n", source) == [
        (1, "does not follow the line quoted before it in the source "
            "(mark the gap with a line ...)")]


def quote_problems(doc, check):
    """check(code, source_lines) -> [(offset, message)] over every quote of the
    library in doc, as "doc:line: message (path)"."""
    problems = []
    for info, start, code in blocks(doc):
        if isinstance(k := kind(info), tuple) and (REPO / k[1]).is_file():
            source = (REPO / k[1]).read_text().splitlines()
            problems += [f"{doc.name}:{start + offset}: {message} ({k[1]})"
                         for offset, message in check(code, source)]
    return problems


@pytest.mark.parametrize("doc", _with(lambda i: i.startswith("python from ")),
                         ids=lambda p: p.name)
def test_quoted_code_marks_every_omission(doc):
    problems = quote_problems(doc, gap_problems)
    assert not problems, "quoted code leaves lines out unmarked:\n" + "\n".join(problems)


@pytest.mark.parametrize("doc", _with(lambda i: i.startswith("python from ")),
                         ids=lambda p: p.name)
def test_quoted_code_keeps_its_indentation(doc):
    problems = quote_problems(doc, indentation_problems)
    assert not problems, "quoted code is indented unlike the library:\n" + "\n".join(problems)


def _help(script, cache={}):
    if script not in cache:
        result = subprocess.run([sys.executable, script, "--help"], cwd=REPO,
                                capture_output=True, text=True, timeout=60)
        assert result.returncode == 0, f"{script} --help failed:\n{result.stderr}"
        cache[script] = result.stdout
    return cache[script]


@pytest.mark.parametrize("doc", _with(_is_command_block), ids=lambda p: p.name)
def test_commands_use_existing_options(doc):
    commands = [line.strip() for info, _, code in blocks(doc) if _is_command_block(info)
                for line in code.splitlines() if line.strip().startswith("python examples/")]
    problems = []
    for command in commands:
        script = command.split()[1]
        if not (REPO / script).is_file():
            if script.endswith("compare_bn.py"):   # written in parallel; checked once it exists
                continue
            problems.append(f"{doc.name}: {script} does not exist")
            continue
        text = _help(script)
        for option in re.findall(r"(?<!\S)(--[a-z][a-z0-9-]*)", command):
            if not re.search(rf"{re.escape(option)}\b(?!-)", text):
                problems.append(f"{doc.name}: {script} has no option {option} ({command})")
    assert not problems, "\n".join(problems)


def test_only_a_text_block_right_after_a_run_block_counts_as_its_output(tmp_path):
    doc = tmp_path / "d.md"
    doc.write_text("```python\nprint(1)\n```\n\n```text\n1\n```\n\n```python\nprint(2)\n```\n"
                   "Some prose.\n\n```text\nnot its output\n```\n")
    assert shown_outputs(doc) == {2: "1\n"}


def test_the_percentile_table_of_the_results_is_that_of_the_committed_recording():
    """docs/figures/RESULTS.md quotes the paper run's percentiles 'from activations.json',
    which was not committed: the table could only be checked by a rerun."""
    results = (REPO / "docs" / "figures" / "RESULTS.md").read_text()
    recorded = json.loads((REPO / "docs" / "figures" / "paper_figure1" /
                           "activations.json").read_text())
    rows = re.findall(r"^\| ([\d,]+) \| (\S+ / \S+ / \S+) \| (\S+ / \S+ / \S+) \|$", results, re.M)
    assert len(rows) == 5
    for step, *shown in rows:
        for key, text in zip(("plain", "bn"), shown):
            i = recorded[key]["steps"].index(int(step.replace(",", "")))
            assert " / ".join(f"{v:.2f}" for v in recorded[key]["values"][i]) == text, (step, key)
