"""The per-entry reader-writer lock: readerwriterlock's `RWLockFair`, interrupt-safe."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from readerwriterlock.rwlock import RWLockFair


def _left(deadline: float | None) -> float:
    """Seconds left until `deadline` for Lock.acquire: -1 = no deadline, 0 = don't wait."""
    return -1 if deadline is None else max(0.0, deadline - time.monotonic())


def _left_or_now(deadline: float | None, timeout: float) -> float:
    """As _left, where deadline None with timeout 0 means "don't wait" rather than "for ever"."""
    return 0.0 if deadline is None and timeout == 0 else _left(deadline)


#: `Lock.acquire`'s first argument, for `list.extend(map(lock.acquire, _BLOCK, (timeout,)))`:
#: the lock is taken and its result stored by C code, with no call boundary in between where an
#: interrupt could separate the two.
_BLOCK = (True,)
#: The longest a waiter blocks before it looks whether the holders it waits for still exist.
WAIT_SLICE = 0.05


def _take(
    lock: Any,
    got: list[bool],
    timeout: float,
    deadline: float | None,
    between: Callable[[], None] | None,
) -> bool:
    """Acquire `lock` (each attempt's result appended to `got` by C code, see _BLOCK) within
    `timeout` (0: don't wait; -1: for ever) or by `deadline`, in waits of at most WAIT_SLICE
    with `between()` called after each that did not get it (when given)."""
    if between is None or timeout == 0:
        got.extend(map(lock.acquire, _BLOCK, (_left_or_now(deadline, timeout),)))
        return got[-1]
    while True:
        left = WAIT_SLICE if deadline is None else min(WAIT_SLICE, _left(deadline))
        got.extend(map(lock.acquire, _BLOCK, (left,)))
        if got[-1]:
            return True
        if deadline is not None and time.monotonic() >= deadline:
            return False
        between()


def _new_lock() -> Any:
    # Resolved at call time, so that an interleaving explorer's patched Lock is used.
    return threading.Lock()


class _FairRWLock(RWLockFair):
    """readerwriterlock's `RWLockFair`, taken and released through interrupt-safe methods.

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
    every later user of that lock hangs. They also allocate an object per acquisition.

    Interrupts. CPython delivers a KeyboardInterrupt or an asynchronous exception only at a
    call boundary (function entry, after a call, a backward jump), never between two plain
    bytecodes. So:

    - Each internal lock is taken by `list.extend(map(lock.acquire, ...))`, so that whether we
      hold it is known even when an exception lands right after the acquisition.
    - A grant is recorded where it is made: `acquire_*` take the caller's `slot`, thread id and
      `handle`, and write the holder record and the handle's ownership in the same run of
      bytecodes (no call between) that completes the acquisition. An exception after that finds
      the handle owning the grant; its release (or its collection) gives it back.
    - A resource lock orphaned by an exception (taken, then the taker lost the result) is
      recognised and reclaimed: whoever holds the gate and finds `c_lock_write` taken while no
      reader is counted owns it (a writer holds the gate while it holds the resource; readers
      take it only under the gate and count themselves in the same run of bytecodes).
    - Each release step that must follow another runs in a `finally`.

    A lock an uncovered window still leaves taken (a profiler raising before a release) is
    retired with its slot instead of being pooled (`idle()` is false).
    """

    def __init__(self) -> None:
        super().__init__(lock_factory=_new_lock)

    def acquire_write(
        self,
        timeout: float,
        slot: Any,
        tid: int,
        tok: Any,
        handle: Any,
        between: Callable[[], None] | None = None,
    ) -> bool:
        """Take the lock exclusively; timeout in seconds, 0 = don't wait, -1 = for ever.

        On success `slot.writer` is `tid` and `handle` holds the grant (its `_tok` is `tok`,
        the token of thread `tid`). `between`: called between waits (see `_take`).
        """
        deadline = None if timeout <= 0 else time.monotonic() + timeout
        gate: list[bool] = []
        res: list[bool] = []
        try:
            if not _take(self.c_lock_read, gate, timeout, deadline, between):
                return False
            # The count first: with the gate ours it cannot rise, and once it is 0 nobody
            # releases the resource (`locked()` first could see the last reader still inside).
            if not self.v_read_count and self.c_lock_write.locked():
                res.append(True)  # orphaned by an interrupted holder: we hold the gate: ours
            elif not _take(self.c_lock_write, res, timeout, deadline, between):
                return False
            slot.writer = tid  # granted: recorded before any further call
            handle._grant, handle._tok = slot, tok
        finally:
            if slot.writer != tid and gate and gate[-1]:  # not granted: give back what we took
                try:
                    if res and res[-1]:
                        self.c_lock_write.release()
                finally:
                    self.c_lock_read.release()
        return True

    def acquire_read(
        self,
        timeout: float,
        slot: Any,
        tid: int,
        tok: Any,
        handle: Any,
        between: Callable[[], None] | None = None,
    ) -> bool:
        """Take the lock shared; timeout and `between` as for acquire_write.

        On success `slot.readers[tid]` is 1 and `handle` holds the grant.
        """
        deadline = None if timeout <= 0 else time.monotonic() + timeout
        gate: list[bool] = []
        try:
            if not _take(self.c_lock_read, gate, timeout, deadline, between):
                return False
            with self.c_lock_read_count:  # taken without a call boundary before the body
                # The gate is ours, so no writer is inside: this never waits long, and a
                # resource held while no reader is counted was orphaned: it is ours.
                if not self.v_read_count and not self.c_lock_write.locked():
                    res: list[bool] = []
                    try:
                        res.extend(
                            map(
                                self.c_lock_write.acquire,
                                _BLOCK,
                                (_left_or_now(deadline, timeout),),
                            )
                        )
                        if not res[0]:
                            return False
                        self.v_read_count += 1  # granted: recorded before any further call
                        slot.readers[tid] = 1
                        handle._grant, handle._tok = slot, tok
                    finally:
                        if res and res[0] and handle._tok is not tok:
                            self.c_lock_write.release()
                else:
                    self.v_read_count += 1  # granted: recorded before any further call
                    slot.readers[tid] = 1
                    handle._grant, handle._tok = slot, tok
        finally:
            if gate and gate[-1]:
                self.c_lock_read.release()
        return True

    def release_write(self) -> None:
        try:
            self.c_lock_write.release()
        finally:
            self.c_lock_read.release()

    def release_read(self) -> None:
        with self.c_lock_read_count:
            self.v_read_count -= 1
            if not self.v_read_count:
                self.c_lock_write.release()

    def idle(self) -> bool:
        """Nobody holds or waits for it (true of every lock whose slot has no users)."""
        return not (self.v_read_count or self.c_lock_read.locked() or self.c_lock_write.locked())
