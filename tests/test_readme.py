"""The README stays true: its Python examples run, and CI runs the exact test
command that its quick start gives."""
import re

import test_docs as docs_check      # as a module: its tests are not collected twice
from conftest import REPO

README_PATH = REPO / "README.md"
README = README_PATH.read_text()


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


def test_python_examples_run_and_print_what_is_shown(tmp_path):
    """As for docs/ (tests/test_docs.py): the README's python blocks run in order,
    and a text block right after one is what it prints (rounding-level numbers
    within a factor of 10, as there)."""
    assert any(docs_check.kind(info) == "run" for info, _, _ in docs_check.blocks(README_PATH))
    docs_check.check_blocks(README_PATH, tmp_path)


def test_every_folder_of_the_package_is_a_package_the_wheel_takes():
    """pyproject finds packages by their __init__.py: a folder of modules without one
    would import from the source tree (CI's editable install) and be missing from a
    wheel. And the version is written once, in minidl/__init__.py."""
    folders = {p.parent for p in (REPO / "minidl").rglob("*.py") if "__pycache__" not in p.parts}
    assert all((folder / "__init__.py").is_file() for folder in folders), folders
    pyproject = (REPO / "pyproject.toml").read_text()
    assert 'dynamic = ["version"]' in pyproject and 'attr = "minidl.__version__"' in pyproject
    import ast                        # a literal: setuptools reads it without importing minidl
    tree = ast.parse((REPO / "minidl" / "__init__.py").read_text())
    version = [node.value for node in tree.body if isinstance(node, ast.Assign)
               and [t.id for t in node.targets if isinstance(t, ast.Name)] == ["__version__"]]
    assert len(version) == 1 and isinstance(version[0], ast.Constant)
    assert isinstance(version[0].value, str)
