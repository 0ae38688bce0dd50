"""Lock statistics and the lock-point tracer (`stress --detect`'s hook)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .. import backend

if TYPE_CHECKING:
    from ..table import Table
    from .domains import ConfinedDomain, SharedDomain

#: Lock-point observer for race detection (`stress --detect`): called as
#: tracer(event, domain, table, key, write) with event in "acquire", "acquired", "release".
LockTracer = Callable[[str, "SharedDomain | ConfinedDomain", "Table[Any, Any]", Any, bool], None]
_tracer: LockTracer | None = None  # read by the domains on every locked path


def set_tracer(tracer: LockTracer | None) -> LockTracer | None:
    """Install a lock-point observer for every domain (both backends); returns the previous one."""
    global _tracer
    old, _tracer = _tracer, tracer
    if backend.core is not None:
        backend.core.set_tracer(tracer)
    return old


@dataclass(frozen=True)
class LockStatistics:
    """A snapshot of one domain's lock counters (`Table.statistics()`)."""

    thread_safe: bool
    acquisitions: int  # entry locks taken (the owner's lock-free handles are not counted)
    contended: int  # entry locks that were not free at the first try
    longest_wait_s: float  # longest wait for a contended entry lock
    timeouts: int  # LockTimeoutError raised
    errors: int  # ReentrancyError / BorrowError raised instead of a deadlock
    locks_in_use: int  # entry keys that currently have a lock
