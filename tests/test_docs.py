"""The documentation's code runs, and its lock order is the one in locking.py."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

import concurrent_tables.locking

ROOT = Path(__file__).resolve().parent.parent
GUIDE = ROOT / "docs" / "thread-safety.md"


def blocks(text: str, lang: str) -> list[str]:
    return re.findall(rf"^```{lang}\n(.*?)^```", text, flags=re.S | re.M)


def normalized(text: str) -> str:
    return " ".join(text.split())


PYTHON_BLOCKS = blocks(GUIDE.read_text(), "python")


def test_the_guide_has_python_examples() -> None:
    assert len(PYTHON_BLOCKS) >= 2


@pytest.mark.timeout(30)
@pytest.mark.parametrize(
    "code", PYTHON_BLOCKS, ids=[f"block{i}" for i, _ in enumerate(PYTHON_BLOCKS)]
)
def test_python_blocks_run(code: str) -> None:
    """Each block is a complete program: run it in a fresh interpreter."""
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=25
    )
    assert done.returncode == 0, done.stderr


def test_lock_order_matches_locking_py() -> None:
    doc = concurrent_tables.locking.__doc__
    assert doc is not None
    source = re.search(r"^Lock order \(.*?\):\n\n(.*?)\n\n", doc, flags=re.S | re.M)
    assert source is not None, "locking.py's docstring lost its 'Lock order' paragraph"
    quoted = blocks(GUIDE.read_text(), "text")
    assert normalized(source.group(1)) in [normalized(q) for q in quoted]
