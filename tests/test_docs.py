"""The documentation's Python examples run, and README and CI agree on the test command."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
# Engineering notes (*-notes.md) hold fragments, not runnable examples.
DOCS = [
    ROOT / "README.md",
    *sorted(p for p in (ROOT / "docs").glob("*.md") if not p.name.endswith("-notes.md")),
]
FENCE = re.compile(r"^```python\n(.*?)^```", re.S | re.M)


def _blocks() -> list[tuple[str, str]]:
    out = []
    for path in DOCS:
        for i, m in enumerate(FENCE.finditer(path.read_text())):
            out.append((f"{path.name}#{i}", m.group(1)))
    return out


@pytest.mark.parametrize(("where", "code"), _blocks(), ids=[w for w, _ in _blocks()])
@pytest.mark.timeout(30)
def test_doc_example_runs(where: str, code: str) -> None:
    """Each ```python block of a document runs on its own, top to bottom."""
    exec(compile(code, where, "exec", dont_inherit=True), {"__name__": f"doc_{where}"})


def test_ci_runs_the_readme_test_command() -> None:
    readme = (ROOT / "README.md").read_text()
    ci = (ROOT / ".ci" / "run").read_text()
    assert "<!-- test-command -->" in readme and "<!-- test-command -->" in ci
    block = readme.split("<!-- test-command -->", 1)[1].split("```", 2)[1]
    assert "pytest" in block and "--timeout" in block
