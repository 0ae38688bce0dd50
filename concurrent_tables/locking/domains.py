"""Lock domains: who may touch a table family's entries, and how.

A *domain* is shared by a top-level table and every table nested in its entries. It decides how
an entry handle is granted:

`ConfinedDomain` (single-threaded tables, and every imported table)
    Only the owner thread may use the tables; any other thread gets `WrongThreadError`.
    Handles are borrows, checked like a `RefCell`: a conflicting borrow raises `BorrowError`
    at once instead of blocking.

`SharedDomain` (thread-safe tables)
    Any thread may use the tables. Each entry key gets a `readerwriterlock.RWLockFair` (as
    `_FairRWLock`, which drives it through exception-safe acquire/release methods) while some
    thread holds or waits for it; the lock goes back to a small pool when the last user leaves,
    so a million idle entries own no lock at all.

    Owner fast path: the owner thread takes a handle without any lock when no other thread
    holds or waits for that key: its handle is then a borrow, as in a confined domain. Per key,
    the owner's borrow and the key's lock slot form a Dekker pair (each side publishes its own
    record, then reads the other's): the owner that finds a slot takes the lock like everyone
    else; another thread that finds a conflicting borrow waits for the owner to release it.
    Other keys are unaffected, so the owner keeps its fast path on every key the background
    threads are not using. The pair is sound because the GIL makes these reads and writes
    sequentially consistent; on an interpreter without the GIL the fast path is switched off.

Lock order (the single source: docs/thread-safety.md quotes it, and a test checks that they
agree; see also docs/architecture.md; every path below follows it):

    entry lock (parent entry before nested entry)  ->  domain `mutex`  ->  RWLockFair's
    internal locks, and FieldRegistry._lock (leaves)

`mutex` is held only for bookkeeping: no path blocks on an entry lock while holding it
(`Condition.wait` releases it), and no path takes an entry lock while holding it.
"""

from __future__ import annotations

import gc
import math
import sys
import threading
import time
import weakref
from collections.abc import Callable
from threading import get_ident
from typing import TYPE_CHECKING, Any

from ..errors import BorrowError, InvalidTimeoutError, LockTimeoutError, ReentrancyError
from ..roles import wrong_thread_error
from . import reclaim
from . import statistics as _stats
from .rwlock import WAIT_SLICE, _FairRWLock, _left, _new_lock
from .statistics import LockStatistics
from .threads import NO_THREAD, WAITING, thread_alive, thread_token

if TYPE_CHECKING:
    from ..table import Table

_GIL = getattr(sys, "_is_gil_enabled", lambda: True)()
_POOL_MAX = 64
_NO_WAIT = (False,)  # `lock.acquire`'s argument for a try: list.extend(map(lock.acquire, ...))
#: A waiter first looks for entries nobody will release (a walk over every object) once it has
#: waited this long, then at doubling intervals of at most SCAN_EVERY.
SCAN_AFTER = 0.2
SCAN_EVERY = 5.0


class _Slot:
    """The lock of one entry key while some thread holds or waits for it."""

    __slots__ = ("readers", "rw", "users", "writer")

    def __init__(self, rw: _FairRWLock) -> None:
        self.rw = rw
        self.users = 0  # threads holding or waiting
        self.writer = 0  # thread id of the write holder, 0 if none
        self.readers: dict[int, int] = {}  # thread id -> its read handles on the entry


class _Domain:
    """What both domains share: the owner thread and the branches of the lock-free path.

    The lock-free borrow path itself is inlined in `Table.read`/`write` and
    `EntryHandle.__exit__` (it is the per-event hot path); these methods are its slow and
    error branches.
    """

    thread_safe: bool
    conflict_error: type[BorrowError] | type[ReentrancyError]

    def __init__(self, owner: int | None) -> None:
        self.owner = owner if owner is not None else get_ident()
        # The thread that may take lock-free handles (0: none), and its token (tables keep a
        # copy, `_fast_tok`, that Table.read/write test inline; NO_THREAD until the owner's
        # token is known: its first handle in its own thread learns it).
        self.fast_tid = self.owner
        self.fast_tok: Any = thread_token() if self.owner == get_ident() else NO_THREAD
        self.errors = 0
        # Every table of the family (top-level and nested), for counting held borrows.
        self.tables: weakref.WeakSet[Table[Any, Any]] = weakref.WeakSet()

    def set_fast_token(self, tok: Any) -> None:
        """Make `tok` the token of lock-free handles, in the domain and every table of it."""
        self.fast_tok = tok
        for t in list(self.tables):
            t._fast_tok = tok

    def borrowed(self) -> int:
        """Keys with a lock-free borrow (a held handle) and no lock slot, over every table."""
        n = 0
        for t in list(self.tables):
            slots = t._slots
            n += sum(1 for k in list(t._borrows) if k not in slots)
        return n

    def fast_undo(self, table: Table[Any, Any], key: Any) -> None:
        """Take back a borrow just published (the key turned out taken, or missing)."""
        unborrow(table, key)

    # -- recovery (reclaim.py) ----------------------------------------------------------------

    def recover_borrows(self, table: Table[Any, Any], key: Any) -> bool:
        """End the owner's lock-free borrows of `key` that nobody will end (an interrupted
        `with` exit, a lost release: reclaim.py); True if any. From any thread, without the
        mutex: each borrow is changed in one run of bytecodes without a call (under the GIL the
        owner's own changes cannot come between), and only the owner adds borrows, which it does
        not while another thread's slot on the key is published (or while it runs this)."""
        if key not in table._borrows or reclaim.some_in_use(table, key, self.fast_tid):
            return False
        handles = [h for h in reclaim.table_handles(table, key, young=False) if h._grant is None]
        recovered = False
        for h in reclaim.interrupted(handles, reclaim.exits_pending(handles)):
            if end_borrow(table, key, h, reclaim.INTERRUPTED):
                recovered = True
                reclaim.warn(_interrupted(h, key, table))
        # What is left beyond the live handles is orphaned. Counted before the fix (a handle
        # released meanwhile makes the count high: the fix then takes back less, never more).
        live = len([h for h in handles if h._tok is not NO_THREAD])
        borrows = table._borrows
        b = borrows[key] if key in borrows else 0  # from here to the fix: no call
        n = -b if b < 0 else b
        if n > live:
            if live:
                borrows[key] = live
            else:
                del borrows[key]
            recovered = True
            reclaim.warn(
                f"entry {key!r} of table '{table.name}': {n - live} lock-free borrow(s) with no "
                "handle left (a release lost to an exception) were taken back"
            )
        return recovered

    def fast_conflict(self, table: Table[Any, Any], key: Any, write: bool, b: int) -> None:
        """Refuse a lock-free handle that conflicts with this thread's own borrow `b`."""
        self.errors += 1
        held = "a write handle" if b < 0 else "a read handle"
        want = "write" if write else "read"
        why = "deadlock" if self.thread_safe else "conflict"
        raise self.conflict_error(
            table.name, key, f"this thread already holds {held}; a {want} handle would {why}"
        )


class ConfinedDomain(_Domain):
    """Owner-thread-only tables: wrong thread -> WrongThreadError, conflict -> BorrowError.

    Every handle is a lock-free borrow of the owner thread: there is no lock to take or release.
    """

    thread_safe = False
    conflict_error = BorrowError

    def __init__(self, owner: int | None = None) -> None:
        super().__init__(owner)

    def check_thread(self, what: str) -> None:
        tid = get_ident()
        if tid != self.owner:
            # A plugin's routine/async thread gets an access denial naming the matrix rule.
            raise wrong_thread_error(what, self.owner, tid)

    def acquire(
        self, table: Table[Any, Any], key: Any, write: bool, timeout: float | None, handle: Any
    ) -> None:
        """A handle requested off the lock-free path: only another thread gets here: refuse it."""
        tid = get_ident()
        raise wrong_thread_error(f"table '{table.name}'", self.owner, tid)

    def wake(self) -> None:
        """Nobody ever waits on a confined table."""

    wake_nowait = wake

    def drain(self, *, held: bool = False) -> None:
        """No release is ever deferred: a confined table has only lock-free borrows."""

    def recover_mine(self, table: Table[Any, Any], key: Any) -> bool:
        """Recover this thread's own borrows of `key` that nobody will end (reclaim.py)."""
        return self.recover_borrows(table, key)

    def held_by_me(self, table: Table[Any, Any], key: Any) -> bool:
        return bool(table._borrows.get(key))

    def structural(self, table: Table[Any, Any]) -> Any:
        self.check_thread(f"table '{table.name}'")
        return _NO_LOCK

    def statistics(self) -> LockStatistics:
        return LockStatistics(False, 0, 0, 0.0, 0, self.errors, self.borrowed())


def end_borrow(table: Table[Any, Any], key: Any, h: Any, how: str) -> bool:
    """End the lock-free borrow of live handle `h` (from any thread), its scope ending `how`.

    No call from the test of `h` to the end of its borrow: the handle dies with its borrow.
    """
    if h._tok is NO_THREAD:
        return False
    borrows = table._borrows
    h._tok = NO_THREAD
    h._grant = how
    b = borrows[key]
    if b == 1 or b == -1:
        del borrows[key]
    else:
        borrows[key] = b - 1
    return True


def unborrow(table: Table[Any, Any], key: Any) -> None:
    """End one lock-free borrow of `key` and wake whoever waits for it.

    The one definition of a borrow's end; `EntryHandle.__exit__` inlines the same steps.
    """
    borrows = table._borrows  # no call until the borrow is gone: an interrupt cannot split it
    b = borrows[key]
    if b == 1 or b == -1:
        del borrows[key]
    else:
        borrows[key] = b - 1
    slots = table._slots
    if slots and key in slots:  # another thread waits for this key: wake it
        table._domain.wake()


def checked_timeout(table: str, timeout: Any) -> float | None:
    """`timeout` in seconds for a lock wait: None for ever (also math.inf and huge values)."""
    if timeout is None:
        return None
    if timeout.__class__ is not float and (
        isinstance(timeout, bool) or not isinstance(timeout, int | float)
    ):
        raise InvalidTimeoutError(table, timeout)
    if not timeout >= 0:  # negative, or NaN
        raise InvalidTimeoutError(table, timeout)
    return None if timeout > threading.TIMEOUT_MAX else float(timeout)


def _timed_out(table: Table[Any, Any], key: Any, write: bool, timeout: float | None) -> Exception:
    mode = "write" if write else "read"
    return LockTimeoutError(table.name, key, mode, timeout if timeout is not None else math.inf)


class _NoLock:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> None:
        return None


_NO_LOCK = _NoLock()


class SharedDomain(_Domain):
    """Thread-safe tables: per-key entry locks from readerwriterlock, and the owner's borrows.

    Per key, the owner's lock-free borrow (`table._borrows[key]`, written by the owner alone)
    and the key's slot (`table._slots[key]`, written under `mutex`) form a Dekker pair: the
    owner publishes its borrow and then looks for a slot; another thread publishes a slot and
    then looks for a borrow. If the owner sees a slot it takes its borrow back and queues on the
    lock like everyone else; another thread that sees a conflicting borrow (a write borrow, or
    any borrow when it wants to write) waits on `cond` until the owner releases it.
    """

    thread_safe = True
    conflict_error = ReentrancyError

    def __init__(self, owner: int | None = None, *, fast_path: bool = True) -> None:
        super().__init__(owner)
        self.mutex = _new_lock()
        self.cond = threading.Condition(self.mutex)
        self.fast_path = fast_path and _GIL
        if not self.fast_path:
            self.fast_tid = 0
            self.fast_tok = NO_THREAD
        self._pool: list[_FairRWLock] = []
        # Collected handles whose release found a lock taken (the collecting thread may hold
        # it: a garbage collection runs wherever an allocation triggers it), released by the
        # next thread to take an entry lock or wait for one (`drain`).
        self.deferred: list[Any] = []
        self.acquisitions = 0  # locked handles, counted at release
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

    def wake_nowait(self) -> None:
        """`wake`, unless the mutex is taken (a finaliser's: waiters look again within a slice)."""
        got: list[bool] = []
        try:
            got.extend(map(self.mutex.acquire, _NO_WAIT))
            if got[0]:
                self.cond.notify_all()
        finally:
            if got and got[0]:
                self.mutex.release()

    # -- acquire (locked path) --------------------------------------------------------------------
    #
    # Interrupts (see rwlock._FairRWLock): every change of a slot's bookkeeping is recorded in
    # the requesting `handle` in the same run of bytecodes (no call between), so that an
    # exception landing at any call boundary finds the handle saying what its thread holds:
    # nothing (`_tok` NO_THREAD), a place among the slot's users (`_tok` WAITING, `_grant` the
    # slot), or the entry lock (`_tok` the thread's token, `_grant` the slot). Its release, or
    # its collection (`EntryHandle.__del__`), gives that back.

    def acquire(
        self, table: Table[Any, Any], key: Any, write: bool, timeout: float | None, handle: Any
    ) -> None:
        """Grant `handle` (made by the caller, holding nothing) the entry lock of `key`."""
        timeout = checked_timeout(table.name, timeout)
        if self.deferred:
            self.drain()
        if _stats._tracer is not None:
            _stats._tracer("acquire", self, table, key, write)
        self._slow_acquire(table, key, write, timeout, get_ident(), handle)
        if _stats._tracer is not None:
            try:
                _stats._tracer("acquired", self, table, key, write)
            except BaseException:  # the caller never gets the grant: give the lock back
                self._release(table, key, write, handle._grant, handle)
                raise

    def _slow_acquire(
        self,
        table: Table[Any, Any],
        key: Any,
        write: bool,
        timeout: float | None,
        tid: int,
        handle: Any,
    ) -> None:
        deadline = None if timeout is None else time.monotonic() + timeout
        tok = thread_token()
        with self.mutex:  # the Condition's own lock; `with self.cond` costs two more calls
            slot = self._enter_slot(table, key, write, tid, tok, handle)
            if handle._tok is tok:
                return  # a second read piggybacks on this thread's first one
            if tid != self.owner:
                self._wait_for_owner(table, key, write, slot, deadline, timeout, handle)
        self._take(table, key, write, slot, deadline, timeout, tid, tok, handle)

    def _enter_slot(
        self, table: Table[Any, Any], key: Any, write: bool, tid: int, tok: Any, handle: Any
    ) -> _Slot:
        """Under mutex: refuse a self-deadlock, publish the key's slot and count us in it.

        A second read by a thread that holds one shares the first (taking the read lock again
        would deadlock behind a queued writer): `handle` is then granted at once.
        """
        if tid == self.owner:
            self._refuse_own_borrow(table, key, write)
        slots = table._slots
        slot: _Slot
        if key in slots:
            slot = slots[key]
        else:  # publishing the slot is this side's half of the Dekker pair
            slot = _Slot(self._pool.pop() if self._pool else _FairRWLock())
            slots[key] = slot
            self.locks_in_use += 1
        if slot.writer == tid or tid in slot.readers:
            try:
                self._refuse_own_grant(table, key, write, tid, slot)
            except BaseException:
                self._drop_slot_if_unused(table, key)
                raise
            readers = slot.readers
            if tid in readers:  # still held (not recovered): the second read shares the first
                readers[tid] += 1  # granted: recorded with the handle, no call between
                handle._grant, handle._tok = slot, tok
                return slot
        slot.users += 1
        handle._grant, handle._tok = slot, WAITING
        return slot

    def _refuse_own_borrow(self, table: Table[Any, Any], key: Any, write: bool) -> None:
        """Under mutex: refuse the owner a handle that conflicts with its own lock-free one,
        unless that one turns out to be one nobody will release (reclaim.py)."""
        for recover in (True, False):
            borrows = table._borrows
            b = borrows[key] if key in borrows else 0
            if not (b and (write or b < 0)):
                return
            if not (recover and self.recover_borrows(table, key)):
                held = "write" if b < 0 else "read"
                self._refuse(table, key, write, f"a lock-free {held} handle on this entry")

    def _refuse_own_grant(
        self, table: Table[Any, Any], key: Any, write: bool, tid: int, slot: _Slot
    ) -> None:
        """Under mutex: refuse a handle that conflicts with this thread's own grant on `key`
        (unless that one turns out to be one nobody will release); a second read may share."""
        for recover in (True, False):
            if slot.writer == tid:
                held = "a write handle"
            elif tid in slot.readers and write:
                held = "a read handle"
            else:
                return
            if not (recover and self._recover_slot(table, key, slot, mine=tid)):
                if held == "a write handle":
                    self._refuse(table, key, write, held)
                self.errors += 1
                raise ReentrancyError(
                    table.name,
                    key,
                    "this thread holds a read handle; upgrading it to a "
                    "write handle would deadlock (release the read handle first)",
                )

    def _refuse(self, table: Table[Any, Any], key: Any, write: bool, held: str) -> None:
        self.errors += 1
        mode = "write" if write else "read"
        raise ReentrancyError(
            table.name, key, f"this thread already holds {held}; a {mode} handle would deadlock"
        )

    def _wait_for_owner(
        self,
        table: Table[Any, Any],
        key: Any,
        write: bool,
        slot: _Slot,
        deadline: float | None,
        timeout: float | None,
        handle: Any,
    ) -> None:
        """Under mutex: wait out a conflicting lock-free handle of the owner on this key.

        Waits in slices: a wake-up lost to an interrupted releaser costs one slice, not a hang;
        between slices, an owner that exited, or borrows nobody will end, are recovered.
        """
        between = self._between(table, key, None)
        try:
            while True:
                b = table._borrows.get(key, 0)  # the owner's, changed without the mutex
                if not (b < 0 or (write and b > 0)):
                    return
                left = WAIT_SLICE if deadline is None else deadline - time.monotonic()
                if left <= 0:
                    self.timeouts += 1
                    raise _timed_out(table, key, write, timeout)
                self.cond.wait(min(left, WAIT_SLICE))
                between(False)
        except BaseException:  # timed out, or interrupted while waiting
            self._leave(table, key, slot, handle)
            raise

    def _leave(self, table: Table[Any, Any], key: Any, slot: _Slot, handle: Any) -> None:
        """Under mutex: a handle that waited without a grant leaves the slot's users."""
        if handle._tok is WAITING and handle._grant is slot:
            handle._tok = NO_THREAD
            slot.users -= 1
        self._drop_slot_if_unused(table, key)

    def _take(
        self,
        table: Table[Any, Any],
        key: Any,
        write: bool,
        slot: _Slot,
        deadline: float | None,
        timeout: float | None,
        tid: int,
        tok: Any,
        handle: Any,
    ) -> None:
        """Outside mutex: take the entry lock itself, or leave the slot as it was."""
        rw = slot.rw
        take = rw.acquire_write if write else rw.acquire_read
        try:
            if not take(0, slot, tid, tok, handle):
                t0 = time.perf_counter()
                between = self._between(table, key, slot)
                take(_left(deadline), slot, tid, tok, handle, lambda: between(True))
                waited = time.perf_counter() - t0
                self.contended += 1
                if waited > self.longest_wait:
                    self.longest_wait = waited
        finally:
            # The grant is recorded in the slot and the handle by the lock itself; recorded
            # without the mutex: only this thread writes its own holder entry, and the slot
            # cannot be dropped while `users` counts us.
            if handle._tok is not tok:  # timed out, or an exception (KeyboardInterrupt...) hit
                with self.mutex:
                    self._leave(table, key, slot, handle)
        if handle._tok is not tok:
            self.timeouts += 1
            raise _timed_out(table, key, write, timeout)

    def _drop_slot_if_unused(self, table: Table[Any, Any], key: Any) -> None:
        """Retire a key's slot once nobody holds or waits for it (under mutex)."""
        slots = table._slots
        slot = slots[key] if key in slots else None
        if slot is not None and not slot.users and not slot.readers and not slot.writer:
            del slots[key]
            self.locks_in_use -= 1
            # A lock left taken by an exception in a window no handler covers is dropped here
            # rather than reused for another key: the key gets a fresh lock next time.
            if len(self._pool) < _POOL_MAX and slot.rw.idle():
                self._pool.append(slot.rw)

    # -- recovery (reclaim.py) --------------------------------------------------------------------

    def _between(
        self, table: Table[Any, Any], key: Any, slot: _Slot | None
    ) -> Callable[[bool], None]:
        """What a waiter for `key` does between its waits: `between(lock)` (with the mutex
        taken if `lock`) drains deferred releases, recovers holders whose thread exited, and,
        after the first SCAN_AFTER seconds and then at doubling intervals, the entries nobody
        will release (interrupted exits, lost releases: a walk over every object)."""
        start = time.monotonic()
        next_scan = [SCAN_AFTER]

        def between(lock: bool) -> None:
            waited = time.monotonic() - start
            thorough = waited >= next_scan[0]
            if thorough:
                next_scan[0] = min(waited * 2, waited + SCAN_EVERY)
            if lock:
                with self.mutex:
                    self._recover_waited(table, key, slot, thorough)
            else:
                self._recover_waited(table, key, slot, thorough)

        return between

    def _recover_waited(
        self, table: Table[Any, Any], key: Any, slot: _Slot | None, thorough: bool
    ) -> None:
        """Under mutex: `_between`'s work (`slot` None: waiting for the owner's borrow)."""
        if self.deferred:
            self.drain(held=True)
        recovered = False
        if slot is None:
            if self.fast_tid and not thread_alive(self.fast_tid):
                recovered = self._owner_exited()
            elif thorough:
                recovered = self.recover_borrows(table, key)
        else:
            recovered = self._recover_slot(table, key, slot, thorough=thorough)
        if recovered:
            self.cond.notify_all()

    def _owner_exited(self) -> bool:
        """Under mutex: the owner thread exited: end every lock-free borrow of the family (all
        its own), stop the fast path, warn per handle. True if there were any."""
        tid, tables = self.fast_tid, [t for t in list(self.tables) if t._borrows]
        self.fast_tid = 0
        self.set_fast_token(NO_THREAD)
        for t in tables:
            for h in reclaim.live_handles(gc.get_referrers(t), t, None):
                if h._grant is None and end_borrow(t, h._key, h, reclaim.EXITED):
                    reclaim.warn(_exited(tid, h, h._key, t))
            t._borrows.clear()  # borrows left without a handle: releases lost to exceptions
        return bool(tables)

    def _recover_slot(
        self,
        table: Table[Any, Any],
        key: Any,
        slot: _Slot,
        *,
        mine: int | None = None,
        thorough: bool = True,
    ) -> bool:
        """Under mutex: give back `slot`'s grants that nobody will release (those of exited
        threads; if `thorough`, those of interrupted exits and lost releases, only thread
        `mine`'s if given). True if any."""
        recovered = self._recover_exited(table, key, slot)
        if not thorough or reclaim.some_in_use(table, key, mine):
            return recovered
        holders = {slot.writer: -1} if slot.writer else {}
        holders.update(slot.readers)  # before the walk: grants made during it are not judged
        handles = [h for h in reclaim.table_handles(table, key, young=False) if h._grant is slot]
        for h in reclaim.interrupted(handles, reclaim.exits_pending(handles)):
            if (mine is None or h._tid == mine) and self._ungrant_handle(
                table, key, slot, h, reclaim.INTERRUPTED
            ):
                recovered = True
                reclaim.warn(_interrupted(h, key, table))
        for tid, n in holders.items():
            if mine is None or tid == mine:
                recovered |= self._reclaim_orphans(table, key, slot, tid, n, handles)
        return recovered

    def _recover_exited(self, table: Table[Any, Any], key: Any, slot: _Slot) -> bool:
        """Under mutex: give back the grants on `slot` of threads that have exited."""
        tids = [t for t in (slot.writer, *slot.readers) if t and not thread_alive(t)]
        if not tids:
            return False
        handles = [h for h in reclaim.table_handles(table, key, young=False) if h._grant is slot]
        for tid in tids:
            for h in handles:
                if h._tid == tid and self._ungrant_handle(table, key, slot, h, reclaim.EXITED):
                    reclaim.warn(_exited(tid, h, key, table))
            n = -1 if slot.writer == tid else slot.readers.get(tid, 0)
            if n:  # grants of the exited thread with no handle left
                self._reclaim_orphans(table, key, slot, tid, n, [])
        return True

    def _reclaim_orphans(
        self, table: Table[Any, Any], key: Any, slot: _Slot, tid: int, n: int, handles: list[Any]
    ) -> bool:
        """Under mutex: thread `tid` held `n` grants on `slot` (-1: the write grant) when
        `handles` were gathered: give back those with no live handle left."""
        live = [h for h in handles if h._tid == tid and h._tok is not NO_THREAD]
        if n < 0:
            if live or slot.writer != tid:
                return False
            self._ungrant(table, key, True, slot, tid)
            lost = 1
        else:
            lost = min(n, slot.readers.get(tid, 0)) - len(live)
            for _ in range(lost):
                self._ungrant(table, key, False, slot, tid)
        if lost > 0:
            reclaim.warn(
                f"entry {key!r} of table '{table.name}': {lost} grant(s) of thread {tid} with "
                "no handle left (a release lost to an exception) were taken back"
            )
        return lost > 0

    def _ungrant_handle(
        self, table: Table[Any, Any], key: Any, slot: _Slot, h: Any, how: str
    ) -> bool:
        """Under mutex: release live handle `h` of another thread (or of this one, whose scope
        has ended), its scope ending `how`."""
        if h._tok is NO_THREAD or h._tok is WAITING:
            return False
        if not self._release_held(table, key, h.write, slot, h, wait=True):
            return False
        h._grant = how
        return True

    def recover_mine(self, table: Table[Any, Any], key: Any) -> bool:
        """Recover this thread's own handles on `key` that nobody will release (before refusing
        an erase or a clear that they conflict with). True if any."""
        recovered = self.recover_borrows(table, key) if get_ident() == self.owner else False
        with self.mutex:
            slot = table._slots.get(key)
            if slot is not None:
                recovered |= self._recover_slot(table, key, slot, mine=get_ident())
        return recovered

    # -- release ----------------------------------------------------------------------------------

    def release(
        self, table: Table[Any, Any], key: Any, write: bool, grant: Any, handle: Any
    ) -> None:
        """End `handle`'s grant (from any thread: a collected handle is released by the GC's)."""
        self._release(table, key, write, grant, handle)
        if _stats._tracer is not None:
            _stats._tracer("release", self, table, key, write)

    def release_abandoned(self, handle: Any) -> None:
        """`release` for a collected handle, which must not wait for a lock: the thread that
        runs the collection may hold it. If one is taken, the release waits in `deferred`."""
        got: list[bool] = []
        done = False
        try:
            got.extend(map(self.mutex.acquire, _NO_WAIT))
            if got[0]:
                done = self._release_held(
                    handle._table, handle._key, handle.write, handle._grant, handle, wait=False
                )
        finally:
            if got and got[0]:
                self.mutex.release()
            if not done:
                self.deferred.append(handle)

    def drain(self, *, held: bool = False) -> None:
        """Release the collected handles in `deferred` (the mutex taken by the caller if
        `held`). Each is taken off the list only once released: one that an exception
        interrupts stays there for the next drain."""
        deferred = self.deferred
        while deferred:
            h = deferred[-1]
            if held:
                self._release_held(h._table, h._key, h.write, h._grant, h, wait=True)
            else:
                self._release(h._table, h._key, h.write, h._grant, h)
            if deferred and deferred[-1] is h:
                deferred.pop()

    def _release(
        self, table: Table[Any, Any], key: Any, write: bool, slot: _Slot, handle: Any
    ) -> None:
        with self.mutex:
            self._release_held(table, key, write, slot, handle, wait=True)

    def _release_held(
        self, table: Table[Any, Any], key: Any, write: bool, slot: _Slot, handle: Any, *, wait: bool
    ) -> bool:
        """Under mutex: end `handle`'s grant (nothing if it holds none). False, with nothing
        changed, if not `wait` and the lock's read-count lock is taken."""
        tok = handle._tok
        if tok is NO_THREAD or tok is WAITING:  # released meanwhile, or never granted
            if tok is WAITING:
                self._leave(table, key, slot, handle)
            return True
        tid = handle._tid
        if not wait and not write and slot.readers[tid] == 1 and slot.rw.c_lock_read_count.locked():
            return False  # (taken by this thread, maybe: the one case a collector may wait for)
        # The handle dies with its grant's bookkeeping, in one run of bytecodes; the entry
        # lock's own release follows (a lock an exception leaves taken is reclaimed or
        # retired: rwlock._FairRWLock).
        handle._tok = NO_THREAD
        self.acquisitions += 1  # counted here, under the mutex, once per locked handle
        self._ungrant(table, key, write, slot, tid)
        return True

    def _ungrant(
        self, table: Table[Any, Any], key: Any, write: bool, slot: _Slot, tid: int
    ) -> None:
        """Under mutex: give back one grant of thread `tid` on `slot` (its write grant, or one
        of its reads). The lock's release steps are written out here (a method call would be
        one more call boundary before them), each in the `finally` of the one before."""
        rw = slot.rw
        if write:
            slot.writer = 0
            slot.users -= 1
            try:
                rw.c_lock_write.release()
            finally:
                try:
                    rw.c_lock_read.release()
                finally:
                    self._drop_slot_if_unused(table, key)
            return
        readers = slot.readers
        n = readers[tid] - 1
        if n:
            readers[tid] = n
            return
        del readers[tid]
        slot.users -= 1
        try:
            # Releasing never blocks on an entry lock, so it may run under mutex.
            with rw.c_lock_read_count:
                rw.v_read_count -= 1
                if not rw.v_read_count:
                    rw.c_lock_write.release()
        finally:
            self._drop_slot_if_unused(table, key)

    def held_by_me(self, table: Table[Any, Any], key: Any) -> bool:
        tid = get_ident()
        # `_borrows` are the owner's lock-free handles: they are nobody else's.
        if tid == self.owner and table._borrows.get(key):
            return True
        slot = table._slots.get(key)
        return slot is not None and (slot.writer == tid or tid in slot.readers)

    def statistics(self) -> LockStatistics:
        if self.deferred:
            self.drain()
        return LockStatistics(
            True,
            self.acquisitions,
            self.contended,
            self.longest_wait,
            self.timeouts,
            self.errors,
            self.locks_in_use + self.borrowed(),
        )


def _interrupted(h: Any, key: Any, table: Table[Any, Any]) -> str:
    return (
        f"{reclaim.mode(h)} handle on entry {key!r} of table '{table.name}' released: its with "
        "block ended without its exit (an exception interrupted it)"
    )


def _exited(tid: int, h: Any, key: Any, table: Table[Any, Any]) -> str:
    return (
        f"thread {tid} exited while holding a {reclaim.mode(h)} handle on entry {key!r} of "
        f"table '{table.name}'; the handle was released"
    )
