"""The documentation's examples run, and README and CI agree on the test command."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

import concurrent_tables.locking.domains

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
# Engineering notes (*-notes.md) hold fragments, not runnable examples.
PAGES = [
    ROOT / "README.md",
    *sorted(p for p in DOCS.glob("*.md") if not p.name.endswith("-notes.md")),
]
FENCE = re.compile(r"^```python\n(.*?)^```", re.S | re.M)


def run_page(path: Path) -> dict[str, object]:
    """Run a page's ```python blocks in order in one namespace, as a reader would."""
    namespace: dict[str, object] = {"__name__": f"doc_{path.stem}"}
    for i, block in enumerate(FENCE.findall(path.read_text())):
        # dont_inherit: without this file's __future__ flags, exactly as the reader runs it.
        exec(compile(block, f"{path.name}[block {i}]", "exec", dont_inherit=True), namespace)
    return namespace


@pytest.mark.parametrize("path", PAGES, ids=[p.name for p in PAGES])
@pytest.mark.timeout(30)
def test_page_examples_run(path: Path) -> None:
    run_page(path)


def test_plugins_md_example_output() -> None:
    namespace = run_page(DOCS / "plugins.md")
    assert namespace["rows"] == [(1, 2, False), (2, 1, False), (3, 0, True)]


def test_thread_safety_guide_quotes_the_lock_order_of_locking_py() -> None:
    """The lock order is written once, in locking/domains.py; the guide must quote it exactly."""
    doc = concurrent_tables.locking.domains.__doc__
    assert doc is not None
    source = re.search(r"^Lock order \(.*?\):\n\n(.*?)\n\n", doc, flags=re.S | re.M)
    assert source is not None, "locking/domains.py's docstring lost its 'Lock order' paragraph"
    quoted = re.findall(
        r"^```text\n(.*?)^```", (DOCS / "thread-safety.md").read_text(), re.S | re.M
    )
    assert " ".join(source.group(1).split()) in [" ".join(q.split()) for q in quoted]


def test_ci_runs_the_readme_test_command() -> None:
    readme = (ROOT / "README.md").read_text()
    ci = (ROOT / ".ci" / "run").read_text()
    assert "<!-- test-command -->" in readme and "<!-- test-command -->" in ci
    block = readme.split("<!-- test-command -->", 1)[1].split("```", 2)[1]
    assert "pytest" in block and "--timeout" in block


@pytest.mark.timeout(20)
def test_process_demo_runs() -> None:
    out = subprocess.run(
        [sys.executable, str(DOCS / "examples" / "process_demo.py")],
        capture_output=True,
        text=True,
        timeout=15,
        check=True,
    ).stdout
    rows = [line.split() for line in out.splitlines()[1:-1]]
    syscall = [r for r in rows if r[1] == "syscall"]
    assert [(r[2], r[3], r[4], r[5]) for r in syscall] == [
        ("spawn", "100", "bash", "0"),
        ("open", "100", "bash", "1"),
        ("spawn", "101", "python3", "0"),
        ("open", "101", "python3", "1"),
        ("open", "101", "python3", "2"),
        ("close", "100", "bash", "0"),
        ("exit", "101", "-", "-"),
        ("open", "100", "bash", "1"),
    ]
    ticks = [int(r[6]) for r in rows]
    assert ticks == sorted(ticks)  # the routine only ever counts up
    summary = out.splitlines()[-1]
    assert "threads left: 1" in summary and "background errors: 0" in summary
    refreshes = int(re.search(r"uptime routine refreshes: (\d+)", summary).group(1))  # type: ignore[union-attr]
    inserted = int(re.search(r"alerts inserted by async: (\d+)", summary).group(1))  # type: ignore[union-attr]
    assert refreshes > 0 and inserted > 0
