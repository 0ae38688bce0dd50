"""Thread roles: which plugin thread is calling, and the error for a thread-confined object.

Threads started by the host for a plugin (listen routines, async tasks) carry a `ThreadRole`.
When such a thread touches a thread-confined object (an imported table, a handle, a
single-threaded table), the error raised is `ThreadAccessDeniedError`: both an
`AccessDeniedError` naming the broken rule and a `WrongThreadError` naming both threads.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

from . import backend
from .errors import ThreadAccessDeniedError, WrongThreadError
from .plugins.access import ASYNC_TASK, PHASES, ROUTINE

__all__ = [
    "ASYNC_TASK",
    "ROUTINE",
    "ThreadRole",
    "current_role",
    "set_role",
    "wrong_thread_error",
]


@dataclass(frozen=True)
class ThreadRole:
    """Why a host-started thread exists: plugin `plugin`'s routine or async task."""

    plugin: str
    kind: str  # ROUTINE or ASYNC_TASK

    @property
    def rule(self) -> str:
        """The matrix rule that governs this thread."""
        row = PHASES.get(self.kind)
        return row.rule if row is not None else "this thread has no table access"

    def __str__(self) -> str:
        return f"the {self.kind} thread of plugin '{self.plugin}'"


_local = threading.local()


def current_role() -> ThreadRole | None:
    """The role of the calling thread, or None for threads the host did not start."""
    role: ThreadRole | None = getattr(_local, "role", None)
    return role


def set_role(role: ThreadRole | None) -> None:
    """Mark the calling thread (done by `BackgroundTask` at thread start, undone at its end).

    The C core keeps its own copy (the plugin's name), for its exporter check of raw tables.
    """
    _local.role = role
    if backend.core is not None:
        backend.core.set_role(None if role is None else role.plugin)


def wrong_thread_error(what: str, owner: int | None, caller: int) -> WrongThreadError:
    """The error for `what` used off its thread: a denial if the caller is a plugin thread."""
    role = current_role()
    if role is not None:
        return ThreadAccessDeniedError(what, owner, caller, role)
    return WrongThreadError(what, owner, caller)
