"""The C core's tests again under `python -X dev` with PYTHONMALLOC=debug.

The debug allocator catches writes past a block, use after free and a wrong allocator family;
dev mode enables the extra runtime checks and shows ResourceWarnings. This is the CI step the
issue asks for, run as a test so that it runs wherever the suite runs.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).parent


@pytest.mark.timeout(300)
def test_core_tests_pass_under_debug_malloc_and_dev_mode() -> None:
    pytest.importorskip("concurrent_tables._core")
    env = {**os.environ, "PYTHONMALLOC": "debug"}
    files = [
        "test_core_fields.py",
        "test_core_locking.py",
        "test_core_interrupts.py",
        "test_core_probe.py",
        "test_core_fast_paths.py",
    ]
    cmd = [sys.executable, "-X", "dev", "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider",
           "-W", "error::pytest.PytestUnraisableExceptionWarning",
           *(str(HERE / f) for f in files)]  # fmt: skip
    r = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=280, cwd=HERE)
    assert r.returncode == 0, r.stdout[-4000:] + r.stderr[-4000:]
