"""Compile the bundled native test plugin (`concurrent_tables/native/ct_test_plugin.c`) with gcc.

The C source and our ABI header ship as package data, so the plugin builds from an installed
checkout as well as from the repository: the tests compile it once per session
(`tests/native/conftest.py`), and `python -m stress run --scenario native` compiles it at the
start of each run.

    result = compile_test_plugin(Path("/tmp/x"))            # /tmp/x/ct_test_plugin.so
    compile_test_plugin(out, EXTRACT_ONLY, "ct_extract.so")  # the extract-only variant

The compiler is `$CC` if set, else `gcc`. A missing compiler or a failed build raises
`CompileError`, whose message holds the command and the compiler's output.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

#: Where the C sources and our ABI header live (package data).
INCLUDE_DIR = Path(__file__).resolve().parent.parent / "native"
PLUGIN_SOURCE = INCLUDE_DIR / "ct_test_plugin.c"
CFLAGS: tuple[str, ...] = ("-shared", "-fPIC", "-O2", "-Wall", "-Werror", "-pthread")
#: Extra flags of the extract-only variant (no parse, no capture-listen symbols).
EXTRACT_ONLY: tuple[str, ...] = ("-DCT_EXTRACT_ONLY",)

#: The test plugin's own exports, beyond the plugin API (an `extra_cdef` for loading it).
TEST_PLUGIN_CDEF = """
const char* ct_test_report(void* s);
const char* ct_test_thread_status(void* s);
int ct_test_thread_done(void* s);
const char* ct_test_hammer_status(void* s);
uint64_t ct_test_hammer_completed(void* s, uint64_t key);
uint64_t ct_test_hammer_ops(void* s, uint32_t thread);
"""


class CompileError(RuntimeError):
    """No C compiler, or it failed; the message says which, with the command and its output."""


@dataclass(frozen=True)
class BuildResult:
    path: Path
    command: tuple[str, ...]
    stdout: str
    stderr: str
    seconds: float


def compiler() -> str:
    """The C compiler to use: $CC if set, else gcc (its full path)."""
    cc = os.environ.get("CC", "gcc")
    found = shutil.which(cc)
    if found is None:
        raise CompileError(
            f"C compiler not found: {cc!r} (install gcc, or set CC to a C compiler); "
            f"it is needed to build {PLUGIN_SOURCE.name}"
        )
    return found


def compile_test_plugin(
    out_dir: Path, extra_flags: tuple[str, ...] = (), name: str = "ct_test_plugin.so"
) -> BuildResult:
    """Build the test plugin into `out_dir / name` (-Wall -Werror) and return how it went."""
    if not PLUGIN_SOURCE.is_file():
        raise CompileError(f"test plugin source not found: {PLUGIN_SOURCE}")
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
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise CompileError(f"{' '.join(cmd)}\n{exc}") from exc
    seconds = time.perf_counter() - start
    if proc.returncode != 0:
        raise CompileError(f"{' '.join(cmd)}\n{proc.stdout}{proc.stderr}")
    return BuildResult(out, cmd, proc.stdout, proc.stderr, seconds)


__all__ = [
    "CFLAGS",
    "EXTRACT_ONLY",
    "INCLUDE_DIR",
    "PLUGIN_SOURCE",
    "TEST_PLUGIN_CDEF",
    "BuildResult",
    "CompileError",
    "compile_test_plugin",
    "compiler",
]
