"""Native reads and writes served in C: what the table core must know of the bridge's ids.

A plugin's `read_entry_field` (and `write_entry_field` of an integer or bool) on a Python-owned
table first asks the C core (ct_core.c, "Native ids"): it serves the call under the GIL with no
Python frame when the full path would be granted at once, and declines otherwise; a declined call
takes the `extern "Python"` callback (owner.py), which does the full job (waits, timeouts,
errors, strings written). For that, the core keeps its own map of the ids that can be served,
registered here when Python makes them and forgotten when Python forgets them:

- table handles on C-core tables (exported.py; not the weak handles of plugin threads' nested
  tables, which stay on the callback);
- field accessors (exported.py);
- entry handles acquired on a C-core table that no plugin exported, and the entries an
  `iterate_entries` callback receives (pins.py; detached entries stay on the callback);
- the calling thread's session gate (context.py, session.py), in step with the session's grants.

With the Python core (or `ENABLED` false) every function here does nothing.
"""

from __future__ import annotations

from collections.abc import Collection
from types import ModuleType
from typing import TYPE_CHECKING, Any, Final

from .. import backend
from .._abi import lib

if TYPE_CHECKING:
    from ..fields import Field
    from ..table import Table

#: The C core, if the bridge serves native reads through it (the C backend runs), else None.
_core: Final[ModuleType | None] = (
    backend.core if backend.core is not None and lib.ct_core_api_init(1) else None
)
ENABLED: Final = _core is not None
#: The session gate's bits: what the core serves of a session's grants.
GRANT_READ: Final = 1
GRANT_WRITE: Final = 2


def gate_bits(grants: Collection[str]) -> int:
    """The gate bits of a phase's grants."""
    return (GRANT_READ if "read_entry_field" in grants else 0) | (
        GRANT_WRITE if "write_entry_field" in grants else 0
    )


def serve_table(id: int, table: Table[Any, Any]) -> bool:
    """Register table handle `id` on `table`; False if reads through it take the callback."""
    core = _core
    if core is None or not isinstance(table, core.Core):
        return False
    core._native_ref(id, table)
    return True


def unserve_table(id: int) -> None:
    """Forget table handle `id` (nothing if it was not registered)."""
    if _core is not None:
        _core._native_unref(id)


def serve_accessor(id: int, field: Field) -> None:
    """Register field accessor `id` of `field` (accessors live as long as the process)."""
    if _core is not None:
        _core._native_accessor(id, field)


def serve_pin(id: int, table: Table[Any, Any], values: Any) -> bool:
    """Register entry handle `id` pinned on `values` of `table`; False if not served in C.

    Not for a table a plugin exported: the check of the calling thread's role stays in Python.
    """
    core = _core
    if core is None or values.__class__ is not core.Entry or table.exporter is not None:
        return False
    core._native_pin(id, table, values)
    return True


def unserve_pin(id: int) -> None:
    """Forget entry handle `id` and release the strings read through it."""
    if _core is not None:
        _core._native_unpin(id)


def set_gate(gate: list[Any] | None) -> None:
    """The calling thread's session gate: None outside callbacks, else its session's."""
    if _core is not None:
        _core._native_gate(gate)


def statistics() -> dict[str, int]:
    """Native reads (served, declined) and writes (writes_served, writes_declined) since start,
    the ids registered, and whether the core's id maps are consistent (tests)."""
    if _core is None:
        return dict.fromkeys(
            ("served", "declined", "writes_served", "writes_declined", "refs", "accessors"), 0
        ) | {"pins": 0, "consistent": 1}
    stats: dict[str, int] = _core._native_statistics()
    return stats
