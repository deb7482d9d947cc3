"""tests/mutation.py stays usable: every mutant's edit applies to the code as it
is now, and changes it. Running the mutants takes minutes: with MINIDL_MUTATION=1
(CI sets it) the suite runs them all and fails if one survives."""
import importlib.util
import os
import shutil
from pathlib import Path

import pytest

SPEC = importlib.util.spec_from_file_location("mutation", Path(__file__).with_name("mutation.py"))
mutation = importlib.util.module_from_spec(SPEC)
SPEC.loader.exec_module(mutation)


@pytest.mark.parametrize("mutant", mutation.MUTANTS, ids=[m[0] for m in mutation.MUTANTS])
def test_each_mutant_still_applies(mutant, tmp_path):
    """The script's own apply(), on a copy of the mutant's file."""
    name, file, old, new, tests = mutant
    (tmp_path / file).parent.mkdir(parents=True)
    shutil.copy(mutation.REPO / file, tmp_path / file)
    original = mutation.apply(tmp_path, mutant)          # raises unless old occurs once
    assert new != old and (tmp_path / file).read_text() != original
    assert all((mutation.REPO / "tests" / t).is_file() for t in tests)


def test_the_copy_leaves_out_virtual_environments_and_runs(tmp_path):
    """A venv made inside the repository (README, oldest versions) was copied too."""
    for folder in ("venv310", "minidl", "runs", ".git"):
        (tmp_path / folder).mkdir()
    (tmp_path / "venv310" / "pyvenv.cfg").write_text("home = /usr/bin\n")
    names = ["venv310", "minidl", "runs", ".git", "README.md"]
    assert mutation._not_copied(str(tmp_path), names) == {"venv310", "runs", ".git"}


def test_mutant_names_are_unique():
    names = [m[0] for m in mutation.MUTANTS]
    assert len(set(names)) == len(names)


def test_the_docs_count_the_mutants_there_are():
    text = (mutation.REPO / "docs" / "gradcheck.md").read_text()
    assert f"`python tests/mutation.py` plants {len(mutation.MUTANTS)} such" in text


@pytest.mark.skipif(os.environ.get("MINIDL_MUTATION") != "1",
                    reason="runs every mutant, about 3 minutes: set MINIDL_MUTATION=1 (CI "
                           "does), or run python tests/mutation.py")
def test_every_mutant_is_caught(capsys):
    """A change can leave a mutant alive without failing any test (one did, when both of
    the CNN's convolutions stopped using the code it edits): CI runs them all."""
    code = mutation.main([])
    assert code == 0, capsys.readouterr().out
