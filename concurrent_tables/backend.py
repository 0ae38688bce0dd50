"""Which table core runs behind `Table`: the C extension, or the pure-Python reference.

`CONCURRENT_TABLES_BACKEND=c` or `=python` chooses; unset, the C core is used when the extension
imports and the interpreter has a GIL (the C core relies on the GIL as its only mutex), and the
Python core otherwise. Asking for `c` where it cannot run (or for an unknown backend) loads the
Python core with a RuntimeWarning; `lock_backend()` says which core runs.
Both backends have the same API, errors and guarantees (docs/thread-safety.md, "Backends").
"""

from __future__ import annotations

import os
import sys
import warnings
from types import ModuleType
from typing import Final

VARIABLE: Final = "CONCURRENT_TABLES_BACKEND"


def _gil_enabled() -> bool:
    is_enabled = getattr(sys, "_is_gil_enabled", None)
    return True if is_enabled is None else bool(is_enabled())


def _load_core() -> tuple[ModuleType | None, str]:
    """The C core module, or None and why not."""
    if not _gil_enabled():
        return None, "the interpreter runs without the GIL"
    try:
        from . import _core
    except ImportError as exc:
        return None, f"the extension did not import ({exc})"
    return _core, ""


def _select() -> tuple[str, ModuleType | None]:
    want = os.environ.get(VARIABLE, "").strip().lower()
    if want == "python":
        return "python", None
    core, why = _load_core()
    if want not in ("", "c"):
        why = f"{VARIABLE}={want!r} is not a backend (use 'c' or 'python')"
    elif want == "c" and core is None:
        why = f"{VARIABLE}=c, but the C core cannot run: {why}"
    else:
        return ("c", core) if core is not None else ("python", None)
    # Asked for what cannot run: the library still loads (on the reference core), says so, and
    # `lock_backend()` tells the truth, so that tools can refuse to go on.
    warnings.warn(f"{why}; using the Python core", RuntimeWarning, stacklevel=2)
    return "python", None


#: "c" or "python": the core behind every `Table` of this process.
BACKEND, core = _select()


def lock_backend() -> str:
    """The table core this process runs: "c" (the C extension) or "python" (the reference)."""
    return BACKEND
