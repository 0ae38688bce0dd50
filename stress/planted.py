"""Library bugs planted for the length of a `with` block, for `stress selftest`.

    planted_fast_path()        the owner's fast path without its cross-thread check: the owner
                               takes a key lock-free even while another thread holds (or waits
                               for) its lock (`Table.read`/`write` and the imported views'
                               getters replaced)
    planted_release_skipped()  `_FairRWLock.acquire_write` without its undo: interrupted while it
                               waits for the readers, it keeps the lock's gate for ever

Both copy the library's code with one check taken out (marked PLANTED), and find what they
replace where either layout keeps it (before and after the module moves of issue 9). They exist
for the Python lock backend only.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from threading import get_ident
from typing import Any

from concurrent_tables import EntryHandle, EntryNotFoundError, Table

_TABLE_GETTERS = (("concurrent_tables.table", "_handle_getter"),)
_VIEW_GETTERS = (
    ("concurrent_tables.importing.backends", "_get_read", "_get_write", "_ImportedRead",
     "_ImportedWrite"),
    ("concurrent_tables.registry", "_get_read", "_get_write", "_ImportedRead", "_ImportedWrite"),
)  # fmt: skip
_RWLOCK = ("concurrent_tables.locking.rwlock", "concurrent_tables.locking")


def _module_with(candidates: tuple[str, ...], attr: str) -> Any:
    for name in candidates:
        try:
            mod = importlib.import_module(name)
        except ImportError:
            continue
        if hasattr(mod, attr):
            return mod
    raise LookupError(f"{attr} not found in {candidates}")


def _getter_without_check(write: bool, cls: type[EntryHandle]) -> Callable[..., EntryHandle]:
    """`Table.read`/`write` as the library builds them, minus the owner's cross-thread check:
    the owner takes a key lock-free even while another thread holds (or waits for) its lock."""

    def get(self: Table[Any, Any], key: Any, timeout: float | None = -1.0) -> EntryHandle:
        self.check_key(key)
        d = self._domain
        tid = get_ident()
        if tid == d.fast_tid:
            borrows = self._borrows
            b = borrows.get(key, 0)
            if write:
                if b:
                    d.fast_conflict(self, key, write, b)
                borrows[key] = -1
            else:
                if b < 0:
                    d.fast_conflict(self, key, write, b)
                borrows[key] = b + 1
            # PLANTED: no look at self._slots here (the Dekker pair's second half).
            values = self._entries.get(key)
            if values is None:
                d.fast_undo(self, key)
                raise EntryNotFoundError(self.name, key)
            return cls(self, key, values, None, tid)
        grant = d.acquire(self, key, write, self.timeout if timeout == -1.0 else timeout)
        values = self._entries.get(key)
        if values is not None:
            return cls(self, key, values, grant, tid)
        d.release(self, key, write, grant)
        raise EntryNotFoundError(self.name, key)

    return get


@contextmanager
def planted_fast_path() -> Iterator[None]:
    from concurrent_tables.handles import ReadHandle, WriteHandle

    saved: list[tuple[Any, str, Any]] = []
    try:
        saved.append((Table, "read", Table.__dict__["read"]))
        saved.append((Table, "write", Table.__dict__["write"]))
        Table.read = _getter_without_check(False, ReadHandle)  # type: ignore[method-assign]
        Table.write = _getter_without_check(True, WriteHandle)  # type: ignore[method-assign]
        for mod_name, r, w, rc, wc in _VIEW_GETTERS:
            try:
                mod = importlib.import_module(mod_name)
            except ImportError:
                continue
            if hasattr(mod, r):
                saved += [(mod, r, getattr(mod, r)), (mod, w, getattr(mod, w))]
                setattr(mod, r, _getter_without_check(False, getattr(mod, rc)))
                setattr(mod, w, _getter_without_check(True, getattr(mod, wc)))
                break
        yield
    finally:
        for obj, name, old in reversed(saved):
            setattr(obj, name, old)


def _acquire_write_without_undo(self: Any, timeout: float) -> bool:
    """`_FairRWLock.acquire_write` without its undo: interrupted in the second wait, it keeps
    the gate (`c_lock_read`) for ever."""
    if not timeout:
        if not self.c_lock_read.acquire(False):
            return False
        if self.c_lock_write.acquire(False):
            return True
        self.c_lock_read.release()
        return False
    if not self.c_lock_read.acquire(True, timeout):
        return False
    ok: bool = self.c_lock_write.acquire(True, timeout)  # PLANTED: no try/finally
    if not ok:
        self.c_lock_read.release()
    return ok


@contextmanager
def planted_release_skipped() -> Iterator[None]:
    mod = _module_with(_RWLOCK, "_FairRWLock")
    cls = mod._FairRWLock
    old = cls.__dict__["acquire_write"]
    cls.acquire_write = _acquire_write_without_undo
    try:
        yield
    finally:
        cls.acquire_write = old
