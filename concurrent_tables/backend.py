"""Which table core runs behind `Table`: the C extension, or the pure-Python reference.

`CONCURRENT_TABLES_BACKEND=c` or `=python` chooses; unset, the C core is used when the extension
imports and the interpreter has a GIL (the C core relies on the GIL as its only mutex), and the
Python core otherwise. Asking for `c` where it cannot run is an error, not a silent fallback.
Both backends have the same API, errors and guarantees (docs/thread-safety.md, "Backends").
"""

from __future__ import annotations

import os
import sys
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
    if want not in ("", "c", "python"):
        raise ImportError(f"{VARIABLE}={want!r}: use 'c' or 'python'")
    if want == "python":
        return "python", None
    core, why = _load_core()
    if core is None and want == "c":
        raise ImportError(f"{VARIABLE}=c, but the C core cannot run: {why}")
    return ("c", core) if core is not None else ("python", None)


#: "c" or "python": the core behind every `Table` of this process.
BACKEND, core = _select()
