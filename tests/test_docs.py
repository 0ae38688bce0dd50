"""The documentation's examples run."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

DOCS = Path(__file__).resolve().parent.parent / "docs"


def test_plugins_md_examples_run() -> None:
    text = (DOCS / "plugins.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", text, re.S)
    assert len(blocks) >= 3
    namespace: dict[str, object] = {"__name__": "plugins_md"}
    for i, block in enumerate(blocks):
        # dont_inherit: run the blocks as a reader would, without this file's __future__ flags.
        code = compile(block, f"plugins.md[block {i}]", "exec", dont_inherit=True)
        exec(code, namespace)
    assert namespace["rows"] == [(1, 2, False), (2, 1, False), (3, 0, True)]


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
