"""The per-entry reader-writer lock: readerwriterlock's `RWLockFair`, exception-safe."""

from __future__ import annotations

import threading
import time
from typing import Any

from readerwriterlock.rwlock import RWLockFair


def _left(deadline: float | None) -> float:
    """Seconds left until `deadline` for Lock.acquire: -1 = no deadline, 0 = don't wait."""
    return -1 if deadline is None else max(0.0, deadline - time.monotonic())


def _left_or_now(deadline: float | None, timeout: float) -> float:
    """As _left, where deadline None with timeout 0 means "don't wait" rather than "for ever"."""
    return 0.0 if deadline is None and timeout == 0 else _left(deadline)


def _new_lock() -> Any:
    # Resolved at call time, so that an interleaving explorer's patched Lock is used.
    return threading.Lock()


class _FairRWLock(RWLockFair):
    """readerwriterlock's `RWLockFair`, taken and released through exception-safe methods.

    The state and the algorithm are RWLockFair's: every acquirer passes through the gate
    (`c_lock_read`) in turn; a writer keeps the gate while it waits for the readers to leave and
    while it writes, so readers that arrive after a waiting writer queue behind it (writers are
    not starved, and a thread that re-reads an entry while a writer waits would deadlock: hence
    SharedDomain's "second read piggybacks"). The resource (`c_lock_write`) is held by the
    writer, or by the readers as a group (first reader in takes it, last one out releases it);
    `c_lock_read_count` guards `v_read_count`.

    Why not RWLockFair's own `gen_rlock()`/`gen_wlock()` lockables: they leave internal locks
    taken when an exception (a KeyboardInterrupt, a signal handler's) interrupts a blocked
    acquire - a writer interrupted while it waits for the readers keeps the gate for ever, and
    every later user of that lock hangs. Here each step is undone when a later step fails or
    raises. They also allocate an object per acquisition; these methods do not.
    """

    def __init__(self) -> None:
        super().__init__(lock_factory=_new_lock)

    def acquire_write(self, timeout: float) -> bool:
        """Take the lock exclusively; timeout in seconds, 0 = don't wait, -1 = for ever."""
        if not timeout:  # the first, non-blocking try of every acquisition: no clock reads
            if not self.c_lock_read.acquire(False):
                return False
            ok = False
            try:
                ok = self.c_lock_write.acquire(False)
            finally:
                if not ok:
                    self.c_lock_read.release()
            return ok
        deadline = None if timeout < 0 else time.monotonic() + timeout
        if not self.c_lock_read.acquire(True, timeout):
            return False
        ok = False
        try:
            ok = self.c_lock_write.acquire(True, _left(deadline))
        finally:
            if not ok:
                self.c_lock_read.release()
        return ok

    def acquire_read(self, timeout: float) -> bool:
        """Take the lock shared; timeout as for acquire_write."""
        deadline = None if timeout <= 0 else time.monotonic() + timeout
        if not self.c_lock_read.acquire(True, timeout):
            return False
        try:
            if not self.c_lock_read_count.acquire(True, _left_or_now(deadline, timeout)):
                return False
            try:
                # The gate is ours, so no writer is inside: this never waits long.
                if not self.v_read_count and not self.c_lock_write.acquire(
                    True, _left_or_now(deadline, timeout)
                ):
                    return False
                self.v_read_count += 1
            finally:
                self.c_lock_read_count.release()
        finally:
            self.c_lock_read.release()
        return True

    def release_write(self) -> None:
        self.c_lock_write.release()
        self.c_lock_read.release()

    def release_read(self) -> None:
        with self.c_lock_read_count:
            self.v_read_count -= 1
            if not self.v_read_count:
                self.c_lock_write.release()

    def idle(self) -> bool:
        """Nobody holds or waits for it (true of every lock whose slot has no users)."""
        return not (self.v_read_count or self.c_lock_read.locked() or self.c_lock_write.locked())
