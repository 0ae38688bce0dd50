"""Access control: plugin capabilities and the access matrix (`PHASES`), its one copy.

What a plugin may do with tables, by capability and phase (PHASES holds it per phase, with the
operations allowed and the rule every denial quotes):

    capability  init          action phase
    ----------  ------------  ------------------------------------------------------------
    source      no access     no access
    parse       full          read/write (parse_event gets a TableReader and a TableWriter)
    extract     full          read only (extract requests get a TableReader only)
    listen      full          capture open/close: read/write; routines: only thread-safe
                              tables the plugin exported itself
    async       export only   no access, except the plugin's own thread-safe exported
                              tables, from the plugin's own background threads

"Full" means a `TablesInput`: list, get and export tables, get and add fields. It exists only
during `init`. Tokens (`TablesInput`, `TableReader`, `TableWriter`) die when the callback that
received them returns.

Threads started by the host for a plugin (listen routines, async tasks) carry a `ThreadRole`
(roles.py) whose rule is their row here; a thread-confined object touched from such a thread
raises `ThreadAccessDeniedError`, which quotes it.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Flag, auto
from typing import Final


class Capability(Flag):
    """What a plugin implements; one plugin may have several."""

    NONE = 0
    SOURCE = auto()
    PARSE = auto()
    EXTRACT = auto()
    LISTEN = auto()
    ASYNC = auto()


#: Capabilities whose init receives a TablesInput.
INIT_ACCESS: Final = Capability.PARSE | Capability.EXTRACT | Capability.LISTEN

# -- operations, named as the ABI's vtable slots ------------------------------------------------

#: Reader operations (the reader vtable).
READER_OPS: Final = (
    "get_table_name",
    "get_table_size",
    "get_table_entry",
    "read_entry_field",
    "release_table_entry",
    "iterate_entries",
)
#: Writer operations (the writer vtable).
WRITER_OPS: Final = (
    "clear_table",
    "erase_table_entry",
    "create_table_entry",
    "destroy_table_entry",
    "add_table_entry",
    "write_entry_field",
)
#: Field operations (the fields vtable); listing fields is also a reader's.
FIELD_OPS: Final = ("list_table_fields", "get_table_field", "add_table_field")
#: Registry operations (the init input's tables: list, import, export).
REGISTRY_OPS: Final = ("list_tables", "get_table", "add_table")
#: What a complete host provides.
FULL_GRANT: Final = frozenset(READER_OPS + WRITER_OPS)


@dataclass(frozen=True)
class PhaseAccess:
    """One row of the access matrix: what a callback phase may do with tables, and why."""

    ops: frozenset[str]  # the operations allowed (names of ABI vtable slots)
    rule: str  # the rule quoted in every denial
    cleanup: bool  # handles and unattached entries are dropped when the callback returns

    @property
    def reader(self) -> bool:
        return "get_table_entry" in self.ops

    @property
    def writer(self) -> bool:
        return "write_entry_field" in self.ops


_READ = frozenset(READER_OPS) | {"list_table_fields"}
_WRITE = _READ | frozenset(WRITER_OPS)

#: The phases of threads the host starts for a plugin (their `ThreadRole.kind`).
ROUTINE: Final = "capture-listen routine"
ASYNC_TASK: Final = "async task"
_CAPTURE_RULE = "capture listen: read/write, no fields or tables"

#: The access matrix, by phase: the one table every check reads (the host's callback scopes,
#: the tokens they hand out, the C bridge's per-plugin sessions). A phase that is not here
#: (a source plugin's callbacks) has no access at all.
PHASES: Final[dict[str, PhaseAccess]] = {
    "init": PhaseAccess(
        _WRITE | frozenset(FIELD_OPS + REGISTRY_OPS),
        "init: full access (list/get/export tables, get/add fields)",
        True,
    ),
    "parse_event": PhaseAccess(_WRITE, "parse: read/write", True),
    "extract_fields": PhaseAccess(_READ, "extract: read only", True),
    "capture_open": PhaseAccess(_WRITE, _CAPTURE_RULE, False),
    "capture_close": PhaseAccess(_WRITE, _CAPTURE_RULE, False),
    # Threads the host starts for a plugin get no token: only the plugin's own thread-safe
    # tables, used directly (roles.py turns anything else into an access denial).
    ROUTINE: PhaseAccess(
        frozenset(), "routines may only use thread-safe tables their own plugin exported", False
    ),
    ASYNC_TASK: PhaseAccess(
        frozenset(),
        "async plugins have no table access, except their own thread-safe exported tables "
        "from their own threads",
        False,
    ),
}
#: The init of an async-only plugin: it may export its own tables (add_table), nothing else.
EXPORT_ONLY: Final = PhaseAccess(
    frozenset({"add_table"}),
    "async init: export its own tables only (async: no access to other tables)",
    True,
)
#: The phase of a plugin without a table capability (source, async): nothing.
NO_ACCESS: Final = PhaseAccess(
    frozenset(), "plugins that neither parse, extract nor listen: no table access", False
)


def capability_names(caps: Capability) -> str:
    """'parse+extract' style name of a capability set."""
    names = [c.name.lower() for c in Capability if c and c in caps and c.name]
    return "+".join(names) or "none"
