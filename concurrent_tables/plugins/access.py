"""Access control: plugin capabilities, the capability x phase matrix, and background-thread roles.

The matrix (what a plugin may do with tables, by capability and phase):

    capability  init          action phase
    ----------  ------------  ------------------------------------------------------------
    source      no access     no access
    parse       full          read/write (parse_event gets a TableReader and a TableWriter)
    extract     full          read only (extract requests get a TableReader only)
    listen      full          capture open/close: read/write; routines: only thread-safe
                              tables the plugin exported itself
    async       no access     no access, except the plugin's own thread-safe exported
                              tables, from the plugin's own background threads

"Full" means a `TablesInput`: list, get and export tables, get and add fields. It exists only
during `init`. Tokens (`TablesInput`, `TableReader`, `TableWriter`) die when the callback that
received them returns.

Threads started by the host for a plugin (listen routines, async tasks) carry a `ThreadRole`.
When such a thread touches a thread-confined object (an imported table, a handle, a
single-threaded table), the error raised is `ThreadAccessDeniedError`: both an
`AccessDeniedError` naming the broken rule and a `WrongThreadError` naming both threads.
"""

from __future__ import annotations

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

#: One line per capability, for messages and docs: (init phase, action phase).
MATRIX: Final[dict[Capability, tuple[str, str]]] = {
    Capability.SOURCE: ("no access", "no access"),
    Capability.PARSE: ("full access", "read/write"),
    Capability.EXTRACT: ("full access", "read only"),
    Capability.LISTEN: (
        "full access",
        "read/write in capture open/close; routines: only its own thread-safe exported tables",
    ),
    Capability.ASYNC: (
        "no access",
        "no access, except its own thread-safe exported tables from its own threads",
    ),
}


def capability_names(caps: Capability) -> str:
    """'parse+extract' style name of a capability set."""
    names = [c.name.lower() for c in Capability if c and c in caps and c.name]
    return "+".join(names) or "none"
