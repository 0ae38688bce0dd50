"""The C core compiles without a single warning (-Wall -Wextra -Werror), and is built."""

from __future__ import annotations

import shutil
import subprocess
import sysconfig
from pathlib import Path

import pytest

SOURCE = Path(__file__).parents[2] / "concurrent_tables" / "native" / "ct_core.c"


@pytest.mark.timeout(120)
@pytest.mark.skipif(shutil.which("gcc") is None, reason="needs gcc")
def test_compiles_with_werror(tmp_path: Path) -> None:
    include = sysconfig.get_paths()["include"]
    cmd = ["gcc", "-Wall", "-Wextra", "-Werror", "-O2", "-fPIC", f"-I{include}", "-c",
           str(SOURCE), "-o", str(tmp_path / "ct_core.o")]  # fmt: skip
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=110)
    assert r.returncode == 0, r.stderr


@pytest.mark.timeout(10)
def test_state_machine_documented_at_top() -> None:
    head = SOURCE.read_text(encoding="utf-8")[:6000]
    for word in ("Entry state machine", "Waiting", "Interrupts", "Owner died", "GIL"):
        assert word in head


@pytest.mark.timeout(10)
def test_extension_is_built() -> None:
    from concurrent_tables import _core

    assert {"Core", "Domain", "Handle", "DetachedEntry", "set_tracer"} <= set(dir(_core))
