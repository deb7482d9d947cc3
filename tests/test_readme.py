"""The README stays true: its Python examples run, and CI runs the exact test
command that its quick start gives."""
import os
import re
import subprocess
import sys

from conftest import REPO

README = (REPO / "README.md").read_text()


def quick_start():
    return README.split("\n## ")[1]


def test_quick_start_gives_exactly_two_commands():
    commands = re.findall(r"```bash\n(.*?)```", quick_start(), re.S)
    assert len(commands) == 2 and all(len(c.strip().splitlines()) == 1 for c in commands)
    install_and_run, install_and_test = (c.strip() for c in commands)
    assert install_and_run.startswith("pip install -e . && python examples/mnist/")
    assert install_and_test.startswith('pip install -e ".[test]" && ')


def test_ci_runs_the_readme_test_command():
    test_command = re.findall(r"```bash\n(.*?)```", quick_start(), re.S)[1].split("&&")[1].strip()
    ci = (REPO / ".ci" / "run").read_text().strip().splitlines()
    assert ci[-1].strip() == test_command
    assert 'pip install --quiet -e ".[test]"' in "\n".join(ci)


def test_python_examples_run():
    blocks = re.findall(r"```python\n(.*?)```", README, re.S)
    assert blocks, "the README should show runnable Python"
    result = subprocess.run([sys.executable, "-c", "\n".join(blocks)], cwd=REPO, text=True,
                            capture_output=True, timeout=120, env=dict(os.environ, MPLBACKEND="Agg"))
    assert result.returncode == 0, result.stderr
    shown = re.search(r"```text\n(layer .*?)```", README, re.S).group(1)
    printed = "\n".join(line.rstrip() for line in result.stdout.splitlines())
    assert shown.strip() in printed, "the summary shown in the README is not what the code prints"
