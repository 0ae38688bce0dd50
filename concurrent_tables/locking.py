"""Lock domains: who may touch a table family's entries, and how.

A *domain* is shared by a top-level table and every table nested in its entries. It decides how
an entry handle is granted:

`ConfinedDomain` (single-threaded tables, and every imported table)
    Only the owner thread may use the tables; any other thread gets `WrongThreadError`.
    Handles are borrows, checked like a `RefCell`: a conflicting borrow raises `BorrowError`
    at once instead of blocking.

`SharedDomain` (thread-safe tables)
    Any thread may use the tables. Each entry key gets a `readerwriterlock.RWLockFair` while
    some thread holds or waits for it; the lock goes back to a small pool when the last user
    leaves, so a million idle entries own no lock at all.

    Owner fast path: while no other thread is inside the domain, the owner thread takes
    handles without any lock (its handles are borrows, as in a confined domain). A foreign
    thread entering the domain first waits until the owner's lock-free handles have ended;
    from then on every thread, the owner included, uses the entry locks, until the last
    foreign thread leaves. The hand-over is a Dekker-style flag pair (`owner_fast` written by
    the owner, `foreign` written under `mutex`): each side writes its flag, then reads the
    other's. That is sound because the GIL makes these reads and writes sequentially
    consistent; on an interpreter without the GIL the fast path is switched off.

Lock order (see docs/architecture.md; every path below follows it):

    entry lock (parent entry before nested entry)  ->  domain `mutex`  ->  readerwriterlock's
    internal locks, and FieldRegistry._lock (leaves)

`mutex` is held only for bookkeeping: no path blocks on an entry lock while holding it
(`Condition.wait` releases it), and no path takes an entry lock while holding it.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from threading import Condition, Lock, get_ident
from typing import TYPE_CHECKING, Any

from readerwriterlock.rwlock import RWLockFair

from .access import wrong_thread_error
from .errors import BorrowError, LockTimeoutError, ReentrancyError

if TYPE_CHECKING:
    from .table import Table

#: Lock-point observer for race detection (`stress --detect`): called as
#: tracer(event, domain, table, key, write) with event in "acquire", "acquired", "release".
LockTracer = Callable[[str, "SharedDomain | ConfinedDomain", "Table[Any, Any]", Any, bool], None]
_tracer: LockTracer | None = None


def set_tracer(tracer: LockTracer | None) -> LockTracer | None:
    """Install a lock-point observer for every domain; returns the previous one."""
    global _tracer
    old, _tracer = _tracer, tracer
    return old


_GIL = getattr(sys, "_is_gil_enabled", lambda: True)()
_POOL_MAX = 64


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


class _Slot:
    """The lock of one entry key while some thread holds or waits for it."""

    __slots__ = ("readers", "rw", "users", "wlk", "writer")

    def __init__(self, rw: RWLockFair) -> None:
        self.rw = rw
        self.users = 0  # threads holding or waiting
        self.writer = 0  # thread id of the write holder, 0 if none
        self.wlk: Any = None  # the writer's lock object
        self.readers: dict[int, list[Any]] = {}  # thread id -> [handle count, reader lock]


class ConfinedDomain:
    """Owner-thread-only tables: wrong thread -> WrongThreadError, conflict -> BorrowError.

    The lock-free borrow path itself is inlined in `Table.get_entry` and `EntryHandle.release`
    (it is the per-event hot path); the methods here are its slow and error branches.
    """

    thread_safe = False
    conflict_error: type[BorrowError] | type[ReentrancyError] = BorrowError

    def __init__(self, owner: int | None = None) -> None:
        self.owner = owner if owner is not None else get_ident()
        # The thread that may take lock-free handles now (0: none). get_entry reads it inline.
        self.fast_tid = self.owner
        self.owner_fast = 0  # the owner's live lock-free handles (written by the owner only)
        self.foreign = 0  # threads other than the owner inside the domain (SharedDomain)
        self.acquisitions = 0  # locked acquisitions (SharedDomain)
        self.errors = 0

    def check_thread(self, what: str) -> None:
        tid = get_ident()
        if tid != self.owner:
            # A plugin's routine/async thread gets an access denial naming the matrix rule.
            raise wrong_thread_error(what, self.owner, tid)

    def acquire(self, table: Table[Any, Any], key: Any, write: bool, timeout: float | None) -> Any:
        """Reached only from a thread other than the owner."""
        self.check_thread(f"table '{table.name}'")
        raise AssertionError("unreachable: the owner takes the lock-free path")

    def release(self, table: Table[Any, Any], key: Any, write: bool, grant: Any) -> None:
        raise AssertionError("unreachable: borrows are released inline")

    # -- branches of the inline lock-free path ---------------------------------------------------

    def fast_back_out(self) -> None:
        self.owner_fast -= 1
        if self.foreign:
            self.wake()

    def wake(self) -> None:
        """Wake foreign threads waiting for the owner's lock-free handles to end."""

    def fast_undo(self, table: Table[Any, Any], key: Any, write: bool) -> None:
        _unborrow(table, key, write)
        self.fast_back_out()

    def fast_conflict(self, table: Table[Any, Any], key: Any, write: bool, b: int) -> None:
        self.fast_back_out()
        self.errors += 1
        held = "a write handle" if b < 0 else "a read handle"
        want = "write" if write else "read"
        why = "deadlock" if self.thread_safe else "conflict"
        raise self.conflict_error(
            table.name, key, f"this thread already holds {held}; a {want} handle would {why}"
        )

    def held_by_me(self, table: Table[Any, Any], key: Any) -> bool:
        return bool(table._borrows.get(key))

    def structural(self, table: Table[Any, Any]) -> Any:
        self.check_thread(f"table '{table.name}'")
        return _NO_LOCK

    def statistics(self) -> LockStatistics:
        return LockStatistics(False, 0, 0, 0.0, 0, self.errors, 0)


def _unborrow(table: Table[Any, Any], key: Any, write: bool) -> None:
    b = table._borrows[key]
    if write or b == 1:
        del table._borrows[key]
    else:
        table._borrows[key] = b - 1


class _NoLock:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> None:
        return None


_NO_LOCK = _NoLock()


class SharedDomain(ConfinedDomain):
    """Thread-safe tables: entry locks from readerwriterlock, with the owner's fast path."""

    thread_safe = True
    conflict_error = ReentrancyError

    def __init__(self, owner: int | None = None, *, fast_path: bool = True) -> None:
        super().__init__(owner)
        self.mutex = Lock()
        self.cond = Condition(self.mutex)
        self.fast_path = fast_path and _GIL
        if not self.fast_path:
            self.fast_tid = 0
        self.owner_slow = 0  # owner's live locked handles
        self.inside: dict[int, int] = {}  # foreign thread id -> its live and pending handles
        self._pool: list[RWLockFair] = []
        self.contended = 0
        self.longest_wait = 0.0
        self.timeouts = 0
        self.locks_in_use = 0

    def check_thread(self, what: str) -> None:
        return None

    def structural(self, table: Table[Any, Any]) -> Any:
        return self.mutex

    def wake(self) -> None:
        with self.cond:
            self.cond.notify_all()

    # -- acquire (locked path) --------------------------------------------------------------------

    def acquire(self, table: Table[Any, Any], key: Any, write: bool, timeout: float | None) -> Any:
        if _tracer is not None:
            _tracer("acquire", self, table, key, write)
        slot = self._slow_acquire(table, key, write, timeout, get_ident())
        if _tracer is not None:
            _tracer("acquired", self, table, key, write)
        return slot

    def _slow_acquire(
        self, table: Table[Any, Any], key: Any, write: bool, timeout: float | None, tid: int
    ) -> _Slot:
        deadline = None if timeout is None else time.monotonic() + timeout
        mode = "write" if write else "read"
        with self.cond:
            self._enter(table, key, write, timeout, tid, deadline)
            try:
                slot = table._slots.get(key)
                if slot is None:
                    slot = _Slot(self._pool.pop() if self._pool else RWLockFair())
                    table._slots[key] = slot
                    self.locks_in_use += 1
                if slot.writer == tid:
                    self.errors += 1
                    raise ReentrancyError(
                        table.name,
                        key,
                        f"this thread already holds a write handle; a {mode} handle would deadlock",
                    )
                mine = slot.readers.get(tid)
                if mine is not None:
                    if write:
                        self.errors += 1
                        raise ReentrancyError(
                            table.name,
                            key,
                            "this thread holds a read handle; upgrading it to a "
                            "write handle would deadlock (release the read handle first)",
                        )
                    # A second read by the same thread shares its first acquisition: taking
                    # the read lock again would deadlock behind a queued writer.
                    mine[0] += 1
                    self.acquisitions += 1
                    return slot
                slot.users += 1
            except BaseException:
                self._drop_slot_if_unused(table, key)
                self._leave(tid)
                raise
        lk = slot.rw.gen_wlock() if write else slot.rw.gen_rlock()
        ok = False
        try:
            ok = lk.acquire(blocking=False)
            if not ok:
                t0 = time.perf_counter()
                left = -1.0 if deadline is None else max(0.0, deadline - time.monotonic())
                ok = lk.acquire(blocking=True, timeout=left)
                waited = time.perf_counter() - t0
                self.contended += 1
                if waited > self.longest_wait:
                    self.longest_wait = waited
        finally:
            with self.cond:
                if ok:
                    if write:
                        slot.writer, slot.wlk = tid, lk
                    else:
                        slot.readers[tid] = [1, lk]
                    self.acquisitions += 1
                else:
                    if lk.locked():  # an exception hit just after the lock was taken
                        lk.release()
                    slot.users -= 1
                    self._drop_slot_if_unused(table, key)
                    self._leave(tid)
        if not ok:
            self.timeouts += 1
            raise LockTimeoutError(table.name, key, mode, timeout if timeout is not None else -1)
        return slot

    def _enter(
        self,
        table: Table[Any, Any],
        key: Any,
        write: bool,
        timeout: float | None,
        tid: int,
        deadline: float | None,
    ) -> None:
        """Count this thread in (under mutex); a foreign thread waits out the fast path."""
        if tid == self.owner:
            b = table._borrows.get(key, 0)
            if b and (write or b < 0):
                self.errors += 1
                raise ReentrancyError(
                    table.name,
                    key,
                    "this thread already holds a handle on this entry, taken "
                    "before another thread arrived; this conflicting handle would deadlock",
                )
            self.owner_slow += 1
            self.fast_tid = 0
            return
        n = self.inside.get(tid, 0)
        if n == 0:
            self.foreign += 1
            self.fast_tid = 0  # close the fast path, then wait for it to drain
            while self.owner_fast:
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    self.foreign -= 1
                    self._reopen()
                    self.timeouts += 1
                    raise LockTimeoutError(
                        table.name,
                        key,
                        "write" if write else "read",
                        timeout if timeout is not None else -1,
                    )
                self.cond.wait(left)
        self.inside[tid] = n + 1

    def _leave(self, tid: int) -> None:
        """Count one handle of this thread out (under mutex)."""
        if tid == self.owner:
            self.owner_slow -= 1
        else:
            n = self.inside[tid] - 1
            if n:
                self.inside[tid] = n
                return
            del self.inside[tid]
            self.foreign -= 1
        self._reopen()

    def _reopen(self) -> None:
        """Re-open the owner's fast path once nobody else is inside (under mutex)."""
        if not self.foreign and not self.owner_slow and self.fast_path:
            self.fast_tid = self.owner

    def _drop_slot_if_unused(self, table: Table[Any, Any], key: Any) -> None:
        slot = table._slots.get(key)
        if slot is not None and not slot.users and not slot.readers and not slot.writer:
            del table._slots[key]
            self.locks_in_use -= 1
            if len(self._pool) < _POOL_MAX:
                self._pool.append(slot.rw)

    # -- release ----------------------------------------------------------------------------------

    def release(self, table: Table[Any, Any], key: Any, write: bool, grant: Any) -> None:
        slot: _Slot = grant
        tid = get_ident()
        with self.cond:
            if write:
                lk, slot.writer, slot.wlk = slot.wlk, 0, None
            else:
                mine = slot.readers[tid]
                mine[0] -= 1
                if mine[0]:
                    lk = None
                else:
                    del slot.readers[tid]
                    lk = mine[1]
            if lk is not None:
                # Releasing never blocks on an entry lock, so it may run under mutex.
                lk.release()
                slot.users -= 1
                self._drop_slot_if_unused(table, key)
            self._leave(tid)
        if _tracer is not None:
            _tracer("release", self, table, key, write)

    def held_by_me(self, table: Table[Any, Any], key: Any) -> bool:
        tid = get_ident()
        # Borrows are the owner's lock-free handles: another thread's erase must not see them
        # as its own (structural changes do not close the fast path).
        if tid == self.owner and table._borrows.get(key):
            return True
        slot = table._slots.get(key)
        return slot is not None and (slot.writer == tid or tid in slot.readers)

    def statistics(self) -> LockStatistics:
        return LockStatistics(
            True,
            self.acquisitions,
            self.contended,
            self.longest_wait,
            self.timeouts,
            self.errors,
            self.locks_in_use,
        )
