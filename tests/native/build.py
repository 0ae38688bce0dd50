"""Compile the C test plugins of tests/native/plugins/ with gcc, for the tests.

    so = compile_plugin("table_api.c", out_dir)                      # out_dir / "table_api.so"
    so = compile_plugin("exporter.c", out_dir, ['-DCT_API_VERSION="3.0.0"'])

The compile step is the stress tool's (`stress.native.build.compile_shared`): `$CC` or `gcc`,
`CFLAGS` plus `-I` the ABI header's folder (concurrent_tables/native, package data). A missing
compiler or a failed build raises `CompileError`, whose message holds the command and the
compiler's output.
The session fixtures in conftest.py build each plugin once.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from pathlib import Path

from stress.native import build as _stress_build
from stress.native.build import CFLAGS, INCLUDE_DIR, CompileError, compile_shared, compiler

#: The test plugins' sources (and their shared header, ct_checks.h).
PLUGINS_DIR = Path(__file__).resolve().parent / "plugins"


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
    return _stress_build.compile_command(source_path(source), out, extra_flags)


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
    return compile_shared(src, out_dir / f"{src.stem}{suffix}.so", extra_flags)


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
