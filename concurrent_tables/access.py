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

import threading
from dataclasses import dataclass
from enum import Flag, auto
from typing import Final

from .errors import AccessDeniedError, WrongThreadError


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


# -- background-thread roles ------------------------------------------------------------------

ROUTINE: Final = "capture-listen routine"
ASYNC_TASK: Final = "async task"

_RULES: Final = {
    ROUTINE: "routines may only use thread-safe tables their own plugin exported",
    ASYNC_TASK: (
        "async plugins have no table access, except their own thread-safe exported tables "
        "from their own threads"
    ),
}


@dataclass(frozen=True)
class ThreadRole:
    """Why a host-started thread exists: plugin `plugin`'s routine or async task."""

    plugin: str
    kind: str  # ROUTINE or ASYNC_TASK

    @property
    def rule(self) -> str:
        """The matrix rule that governs this thread."""
        return _RULES.get(self.kind, "this thread has no table access")

    def __str__(self) -> str:
        return f"the {self.kind} thread of plugin '{self.plugin}'"


_local = threading.local()


def current_role() -> ThreadRole | None:
    """The role of the calling thread, or None for threads the host did not start."""
    role: ThreadRole | None = getattr(_local, "role", None)
    return role


def set_role(role: ThreadRole | None) -> None:
    """Mark the calling thread (done by `BackgroundTask` at thread start)."""
    _local.role = role


class ThreadAccessDeniedError(AccessDeniedError, WrongThreadError):
    """A thread-confined object used from a plugin's routine or async thread."""

    def __init__(self, what: str, owner: int | None, caller: int, role: ThreadRole) -> None:
        # WrongThreadError's own __init__ builds another message: set its fields by hand.
        Exception.__init__(
            self,
            f"access denied: {what} used from {role} (thread id {caller}); it belongs to "
            f"thread id {owner}. Rule: {role.rule}",
        )
        self.owner, self.caller, self.role = owner, caller, role


def wrong_thread_error(what: str, owner: int | None, caller: int) -> WrongThreadError:
    """The error for `what` used off its thread: a denial if the caller is a plugin thread."""
    role = current_role()
    if role is not None:
        return ThreadAccessDeniedError(what, owner, caller, role)
    return WrongThreadError(what, owner, caller)
