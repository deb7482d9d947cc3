"""Links between the Markdown documents (README.md, docs/, benchmarks/README.md)
lead somewhere: the file exists, and a #fragment names one of its headings, by
GitHub's rule for a heading's anchor (lower case, punctuation but - and _ dropped,
spaces as -, a repeated heading numbered -1, -2, ...). Text moved between
documents otherwise leaves links to sections that are no longer there."""
import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
DOCUMENTS = [REPO / "README.md", REPO / "benchmarks" / "README.md",
             *sorted((REPO / "docs").glob("*.md"))]
LINK = re.compile(r"\]\(([^)\s]+)\)")


def prose(path):
    """The lines of a Markdown file outside its ``` fences, with their numbers."""
    fenced = False
    for number, line in enumerate(path.read_text().splitlines(), 1):
        if line.startswith("```"):
            fenced = not fenced
        elif not fenced:
            yield number, line


def anchors(path):
    """The anchors GitHub gives the headings of a Markdown file."""
    seen, out = {}, set()
    for _, line in prose(path):
        if line.startswith("#"):
            slug = re.sub(r"[^\w\- ]", "", line.lstrip("#").strip().lower()).replace(" ", "-")
            out.add(slug if slug not in seen else f"{slug}-{seen[slug]}")
            seen[slug] = seen.get(slug, 0) + 1
    return out


def test_the_anchor_rule_is_githubs():
    assert {"quick-start", "bench_epochpy-time-per-training-epoch",
            "batch-normalization-as-the-paper-defines-it"} <= \
        anchors(REPO / "README.md") | anchors(REPO / "benchmarks" / "README.md")


@pytest.mark.parametrize("path", DOCUMENTS, ids=lambda p: str(p.relative_to(REPO)))
def test_every_link_between_the_documents_leads_somewhere(path):
    broken = []
    for number, line in prose(path):
        for target in LINK.findall(line):
            if re.match(r"[a-z]+:", target):                  # https:, mailto:
                continue
            file, _, fragment = target.partition("#")
            linked = (path.parent / file).resolve() if file else path
            if not linked.exists():
                broken.append(f"line {number}: {target} (no such file)")
            elif fragment and linked.suffix == ".md" and fragment not in anchors(linked):
                broken.append(f"line {number}: {target} (no such heading)")
    assert not broken, f"{path.name}: " + "; ".join(broken)
