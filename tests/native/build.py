"""The native test plugin's build, for the tests: see `concurrent_tables.cabi.build`.

The C source ships with the package (concurrent_tables/native/ct_test_plugin.c) so that the
stress harness's `native` scenario builds it too. The fixtures in conftest.py build each variant
once per test session, into a temp folder.
"""

from __future__ import annotations

import subprocess
from collections.abc import Sequence
from pathlib import Path

from concurrent_tables.cabi.build import (
    CFLAGS,
    EXTRACT_ONLY,
    INCLUDE_DIR,
    PLUGIN_SOURCE,
    BuildResult,
    CompileError,
    compile_test_plugin,
    compiler,
)

#: Where the capability test plugins (cap_*.c) live.
PLUGINS_DIR = Path(__file__).resolve().parent / "plugins"
#: Flags of every test plugin build: warnings are errors.
PLUGIN_CFLAGS: tuple[str, ...] = (
    "-shared",
    "-fPIC",
    "-O2",
    "-Wall",
    "-Wextra",
    "-Werror",
    "-pthread",
)


def compile_plugin(source: Path, out_dir: Path, extra_flags: Sequence[str] = ()) -> Path:
    """Compile one C plugin source into `out_dir/<stem>.so` against our ABI headers."""
    out_dir.mkdir(parents=True, exist_ok=True)
    out = out_dir / f"{Path(source).stem}.so"
    cmd = (
        compiler(),
        *PLUGIN_CFLAGS,
        *extra_flags,
        f"-I{INCLUDE_DIR}",
        f"-I{PLUGINS_DIR}",
        str(source),
        "-o",
        str(out),
    )
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=False)
    if proc.returncode != 0:
        raise CompileError(f"{' '.join(cmd)}\n{proc.stdout}{proc.stderr}")
    return out


__all__ = [
    "CFLAGS",
    "EXTRACT_ONLY",
    "INCLUDE_DIR",
    "PLUGINS_DIR",
    "PLUGIN_CFLAGS",
    "PLUGIN_SOURCE",
    "BuildResult",
    "CompileError",
    "compile_plugin",
    "compile_test_plugin",
    "compiler",
]
