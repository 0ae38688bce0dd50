"""Compile the C test plugins of tests/native/plugins/ with gcc, for the tests.

    so = compile_plugin("table_api.c", out_dir)                      # out_dir / "table_api.so"
    so = compile_plugin("exporter.c", out_dir, ['-DCT_API_VERSION="3.0.0"'])

The compiler is `$CC` if set, else `gcc`; the flags are `CFLAGS` plus `-I` the ABI header's folder
(concurrent_tables/native, package data: the cffi bridge is built from it). A missing compiler or a
failed build raises `CompileError`, whose message holds the command and the compiler's output.
The session fixtures in conftest.py build each plugin once.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
from collections.abc import Sequence
from pathlib import Path

import concurrent_tables

#: The test plugins' sources (and their shared header, ct_checks.h).
PLUGINS_DIR = Path(__file__).resolve().parent / "plugins"
#: Where the ABI header ct_plugin_api.h lives.
INCLUDE_DIR = Path(concurrent_tables.__file__).resolve().parent / "native"
CFLAGS: tuple[str, ...] = ("-shared", "-fPIC", "-O2", "-Wall", "-Wextra", "-Werror", "-pthread")


class CompileError(RuntimeError):
    """No C compiler, or it failed; the message says which, with the command and its output."""


def compiler() -> str:
    """The C compiler to use: $CC if set, else gcc (its full path)."""
    cc = os.environ.get("CC", "gcc")
    found = shutil.which(cc)
    if found is None:
        raise CompileError(f"C compiler not found: {cc!r} (install gcc, or set CC)")
    return found


def source_path(source: str | Path) -> Path:
    """`source` as a path: a bare file name is looked up in tests/native/plugins/."""
    path = Path(source)
    if not path.is_absolute() and len(path.parts) == 1:
        path = PLUGINS_DIR / path
    if not path.is_file():
        raise CompileError(f"C source not found: {path}")
    return path


def compile_command(
    source: str | Path, out: Path, extra_flags: Sequence[str] = ()
) -> tuple[str, ...]:
    """The gcc command that builds `source` into the shared object `out`."""
    src = source_path(source)
    return (compiler(), *CFLAGS, *extra_flags, f"-I{INCLUDE_DIR}", str(src), "-o", str(out))


def compile_plugin(source: str | Path, out_dir: Path, extra_flags: Sequence[str] = ()) -> Path:
    """Build `source` (a file name under tests/native/plugins/, or a path) into `out_dir`.

    Returns the .so path: `<stem>.so`, or `<stem>-<hash of the flags>.so` with extra flags, so
    that variants of one source built into one folder do not overwrite each other.
    """
    src = source_path(source)
    out_dir.mkdir(parents=True, exist_ok=True)
    suffix = ""
    if extra_flags:
        suffix = "-" + hashlib.sha1("\0".join(extra_flags).encode()).hexdigest()[:10]
    out = out_dir / f"{src.stem}{suffix}.so"
    cmd = compile_command(src, out, extra_flags)
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise CompileError(f"{' '.join(cmd)}\n{exc}") from exc
    if proc.returncode != 0:
        raise CompileError(f"{' '.join(cmd)}\n{proc.stdout}{proc.stderr}")
    return out


__all__ = [
    "CFLAGS",
    "INCLUDE_DIR",
    "PLUGINS_DIR",
    "CompileError",
    "compile_command",
    "compile_plugin",
    "compiler",
    "source_path",
]
