"""`backend.py`: CONCURRENT_TABLES_BACKEND selects the table core; lock_backend() tells which."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

PROBE = (
    "import warnings; warnings.simplefilter('always');"
    "import concurrent_tables as ct;"
    "from concurrent_tables import I64, EntrySchema, Table\n"
    "class P(EntrySchema):\n    pid: I64\n"
    "t = Table('p', I64, P, thread_safe=True)\n"
    "print(ct.lock_backend(), type(t).__name__)"
)


def probe(value: str | None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "CONCURRENT_TABLES_BACKEND"}
    if value is not None:
        env["CONCURRENT_TABLES_BACKEND"] = value
    return subprocess.run(
        [sys.executable, "-c", PROBE], capture_output=True, text=True, timeout=50, env=env
    )


@pytest.mark.timeout(60)
def test_default_is_the_c_core_when_it_runs() -> None:
    pytest.importorskip("concurrent_tables._core")
    r = probe(None)
    assert r.returncode == 0 and r.stdout.split() == ["c", "CoreTable"], r.stderr


@pytest.mark.timeout(60)
@pytest.mark.parametrize(("value", "expected"), [("python", "Table"), ("c", "CoreTable")])
def test_the_variable_selects(value: str, expected: str) -> None:
    pytest.importorskip("concurrent_tables._core")
    r = probe(value)
    assert r.returncode == 0 and r.stdout.split() == [value, expected], r.stderr
    assert "RuntimeWarning" not in r.stderr


@pytest.mark.timeout(60)
def test_an_unknown_backend_loads_the_python_core_with_a_warning() -> None:
    r = probe("rust")
    assert r.returncode == 0 and r.stdout.split() == ["python", "Table"], r.stderr
    assert "RuntimeWarning" in r.stderr and "'rust' is not a backend" in r.stderr
