"""Locking: the lock domains, the per-entry reader-writer lock, statistics and the tracer.

The lock order is written once, in `domains` (docs/thread-safety.md quotes it).
"""

from .domains import ConfinedDomain, SharedDomain, unborrow
from .statistics import LockStatistics, LockTracer, set_tracer

__all__ = [
    "ConfinedDomain",
    "LockStatistics",
    "LockTracer",
    "SharedDomain",
    "set_tracer",
    "unborrow",
]
