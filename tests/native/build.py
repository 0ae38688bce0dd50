"""Compile the native test plugin (tests/native/ct_test_plugin.c) with gcc.

``compile_test_plugin(out_dir)`` builds ``ct_test_plugin.so`` and returns a :class:`BuildResult`;
``compile_test_plugin(out_dir, EXTRACT_ONLY, "ct_test_extract.so")`` builds the extract-only
variant. The fixtures in conftest.py build each once per test session, into a temp folder.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
PLUGIN_SOURCE = HERE / "ct_test_plugin.c"
INCLUDE_DIR = REPO / "concurrent_tables" / "native"
CFLAGS: tuple[str, ...] = ("-shared", "-fPIC", "-O2", "-Wall", "-Werror", "-pthread")
#: Extra flags of the extract-only variant (no parse, no capture-listen symbols).
EXTRACT_ONLY: tuple[str, ...] = ("-DCT_EXTRACT_ONLY",)


class CompileError(RuntimeError):
    """gcc failed; the message holds the command and its output."""


@dataclass(frozen=True)
class BuildResult:
    path: Path
    command: tuple[str, ...]
    stdout: str
    stderr: str
    seconds: float


def compiler() -> str:
    """The C compiler to use: $CC if set, else gcc."""
    cc = os.environ.get("CC", "gcc")
    found = shutil.which(cc)
    if found is None:
        raise CompileError(f"C compiler not found: {cc}")
    return found


def compile_test_plugin(
    out_dir: Path, extra_flags: tuple[str, ...] = (), name: str = "ct_test_plugin.so"
) -> BuildResult:
    out_dir.mkdir(parents=True, exist_ok=True)
    out = out_dir / name
    cmd = (
        compiler(),
        *CFLAGS,
        *extra_flags,
        f"-I{INCLUDE_DIR}",
        str(PLUGIN_SOURCE),
        "-o",
        str(out),
    )
    start = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=False)
    seconds = time.perf_counter() - start
    if proc.returncode != 0:
        raise CompileError(f"{' '.join(cmd)}\n{proc.stdout}{proc.stderr}")
    return BuildResult(out, cmd, proc.stdout, proc.stderr, seconds)
