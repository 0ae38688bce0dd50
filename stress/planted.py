"""Library bugs planted for the length of a `with` block, for `stress selftest`.

    planted_fast_path()        the owner's fast path without its cross-thread check: the owner
                               takes a key lock-free even while another thread holds (or waits
                               for) its lock (`Table.read`/`write` and the imported views'
                               getters replaced)
    planted_release_skipped()  `_FairRWLock.acquire_write` without its undo: interrupted while it
                               waits for the readers, it keeps the lock's gate for ever

On the Python core both copy the library's code with one check taken out (marked PLANTED). On
the C core they switch on the core's test-only faults (`_core._set_faults`, ct_core.c "Probe and
planted faults"), the same two bugs in C: FAULT_OWNER_CHECK (the owner of a thread-safe table
does not wait for other threads' handles: it takes the entry lock-free) and FAULT_WAIT_UNDO (a
wait that fails, e.g. interrupted, skips its undo and stays queued for ever, so the entry wedges
once it is granted to it).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from threading import get_ident
from typing import Any

from concurrent_tables import (
    TABLE_TIMEOUT,
    EntryHandle,
    Table,
    WriteHandle,
    backend,
)
from concurrent_tables import table as table_module
from concurrent_tables.errors import EntryNotFoundError
from concurrent_tables.locking.domains import checked_timeout
from concurrent_tables.locking.rwlock import _FairRWLock


def _getter_without_check(write: bool, cls: type[EntryHandle]) -> Callable[..., EntryHandle]:
    """`Table.read`/`write` as the library builds them (`table._handle_getter`), minus the
    owner's cross-thread check: the owner takes a key lock-free even while another thread holds
    (or waits for) its lock. The imported views take their handles through these too."""
    locked_handle = table_module._locked_handle

    def get(self: Table[Any, Any], key: Any, timeout: Any = TABLE_TIMEOUT) -> EntryHandle:
        self.check_key(key)
        timeout = self.timeout if timeout is TABLE_TIMEOUT else checked_timeout(self.name, timeout)
        d = self._domain
        tid = get_ident()
        if tid == d.fast_tid:
            borrows = self._borrows
            b = borrows.get(key, 0)
            if b and (write or b < 0):
                d.fast_conflict(self, key, write, b)
            borrows[key] = -1 if write else b + 1
            # PLANTED: no look at self._slots here (the Dekker pair's second half).
            values = self._entries.get(key)
            if values is None:
                d.fast_undo(self, key)
                raise EntryNotFoundError(self.name, key)
            return cls(self, key, values, None, tid)
        return locked_handle(self, cls, key, write, timeout, tid)

    return get


@contextmanager
def _core_fault(name: str) -> Iterator[None]:
    """The C core with its fault `name` (a FAULT_* constant) switched on."""
    core = backend.core
    assert core is not None
    old = core._set_faults(getattr(core, name))
    try:
        yield
    finally:
        core._set_faults(old)


@contextmanager
def planted_fast_path() -> Iterator[None]:
    if backend.core is not None:
        with _core_fault("FAULT_OWNER_CHECK"):
            yield
        return
    saved = (Table.__dict__["read"], Table.__dict__["write"])
    Table.read = _getter_without_check(False, EntryHandle)  # type: ignore[method-assign]
    Table.write = _getter_without_check(True, WriteHandle)  # type: ignore[method-assign]
    try:
        yield
    finally:
        Table.read, Table.write = saved  # type: ignore[method-assign]


def _acquire_write_without_undo(
    self: Any,
    timeout: float,
    slot: Any,
    tid: int,
    tok: Any,
    handle: Any,
    between: Callable[[], None] | None = None,
) -> bool:
    """`_FairRWLock.acquire_write` without its undo: interrupted in the second wait, it keeps
    the gate (`c_lock_read`) for ever. (It waits without slices: `between` is not called.)"""
    if not timeout:
        if not self.c_lock_read.acquire(False):
            return False
        if not self.c_lock_write.acquire(False):
            self.c_lock_read.release()
            return False
    else:
        if not self.c_lock_read.acquire(True, timeout):
            return False
        if not self.c_lock_write.acquire(True, timeout):  # PLANTED: no try/finally
            self.c_lock_read.release()
            return False
    slot.writer = tid
    handle._grant, handle._tok = slot, tok
    return True


@contextmanager
def planted_release_skipped() -> Iterator[None]:
    if backend.core is not None:
        with _core_fault("FAULT_WAIT_UNDO"):
            yield
        return
    old = _FairRWLock.__dict__["acquire_write"]
    _FairRWLock.acquire_write = _acquire_write_without_undo  # type: ignore[method-assign]
    try:
        yield
    finally:
        _FairRWLock.acquire_write = old  # type: ignore[method-assign]
