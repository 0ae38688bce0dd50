"""Compile the `native` scenario's workload plugin (stress/native/workload.c) with gcc.

The C source ships with the stress package, so `python -m stress run --scenario native` builds it
at run time from an installed checkout too; the ABI header comes from concurrent_tables' package
data. The compiler is `$CC` if set, else `gcc`. A missing compiler or a failed build raises
`CompileError`, whose message holds the command and the compiler's output.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Sequence
from pathlib import Path

import concurrent_tables

WORKLOAD_SOURCE = Path(__file__).resolve().parent / "workload.c"
INCLUDE_DIR = Path(concurrent_tables.__file__).resolve().parent / "native"
CFLAGS: tuple[str, ...] = ("-shared", "-fPIC", "-O2", "-Wall", "-Wextra", "-Werror", "-pthread")

#: The workload plugin's own exports, beyond the plugin API (an `extra_cdef` for loading it).
WORKLOAD_CDEF = """
const char* ct_workload_status(void* s);
uint64_t ct_workload_completed(void* s, uint64_t key);
uint64_t ct_workload_ops(void* s, uint32_t thread);
"""


class CompileError(RuntimeError):
    """No C compiler, or it failed; the message says which, with the command and its output."""


def compiler() -> str:
    """The C compiler: `$CC` if set, else gcc (its full path); CompileError if there is none."""
    cc = os.environ.get("CC", "gcc")
    found = shutil.which(cc)
    if found is None:
        raise CompileError(f"C compiler not found: {cc!r} (install gcc, or set CC to a C compiler)")
    return found


def compile_command(source: Path, out: Path, extra_flags: Sequence[str] = ()) -> tuple[str, ...]:
    """The command that builds the C file `source` into the shared object `out`."""
    return (compiler(), *CFLAGS, *extra_flags, f"-I{INCLUDE_DIR}", str(source), "-o", str(out))


def compile_shared(source: Path, out: Path, extra_flags: Sequence[str] = ()) -> Path:
    """Build `source` into `out` and return it: the one compile step of the project's plugins
    (the stress workload here, the C test plugins through tests/native/build.py)."""
    cmd = compile_command(source, out, extra_flags)
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise CompileError(f"{' '.join(cmd)}\n{exc}") from exc
    if proc.returncode != 0:
        raise CompileError(f"{' '.join(cmd)}\n{proc.stdout}{proc.stderr}")
    return out


def compile_workload(out_dir: Path) -> Path:
    """Build workload.c into `out_dir / "workload.so"` and return that path."""
    return compile_shared(WORKLOAD_SOURCE, out_dir / "workload.so")
