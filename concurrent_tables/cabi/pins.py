"""Native entry handles: what the `ss_plugin_table_entry_t*` a plugin holds stands for.

A native entry handle is a **pin**, not a lock. It is an id standing for one entry's storage
(its value list), so the entry stays readable even if it is erased or replaced meanwhile, as a
Python handle's entry does. It holds no lock: each `read_entry_field` / `write_entry_field`
takes that entry's lock for the length of the one call, through the table's own `read` /
`write` (shared for a read, exclusive for a write), exactly as a Python handle takes it:

- the owner thread of a thread-safe table takes its lock-free path on a key no other thread
  uses (and still detects a conflicting handle of its own thread);
- any other thread of a thread-safe table waits for the entry's reader-writer lock (with the
  table's timeout);
- a single-threaded table refuses every other thread with WrongThreadError.

So a plugin that forgets to release cannot block Python or other plugins: the pin costs only
memory, and the host drops a plugin's pins when its callback returns (after init, parse and
extract; capture open/close skip that, as in libsinsp). The price is that each call is atomic on
its own: a plugin's read-modify-write of one field is two calls, and a Python write handle held
across several fields is seen either before or after as a whole by each single call.

Detached entries (`create_table_entry`) are private to their creator and take no lock. Entries
passed to an `iterate_entries` callback are pins valid only during that callback; releasing them
is ignored, like every release of an entry not currently acquired.

With the C core, an acquired pin is also registered with the core (fastread.py), which then serves
`read_entry_field` (and `write_entry_field` of integers and bools) through it in C under the same
rules (one grant for the one call), and forgotten there when it is forgotten here.

A string read through a pin stays valid until the next read of that field through that pin, or
the pin's release (one C copy per field, `Pin.keep`), so a plugin thread that reads a held entry
again and again uses bounded memory. Inside a plugin callback, strings stay valid until the
callback returns (the session keeps them).
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Final, TypeVar

from .. import slots
from ..errors import EntryNotFoundError
from ..fields import Field
from ..handles import DetachedEntry
from ..table import Table, borrow_now, unborrow_now
from . import fastread

if TYPE_CHECKING:
    from .session import PluginSession

ACQUIRED: Final = 0  # from get_table_entry / add_table_entry: needs a release
DETACHED: Final = 1  # from create_table_entry: needs add_table_entry or destroy_table_entry
ITERATED: Final = 2  # given to an iterate_entries callback: valid during that callback

_ids = itertools.count(1)
T = TypeVar("T")


class Pin:
    """One native entry handle, registered when made (in PINS, and in its session's sets)."""

    __slots__ = ("entry", "id", "keep", "key", "kind", "native", "session", "table", "values")

    def __init__(
        self,
        table: Table[Any, Any],
        key: Any,
        values: list[Any],
        kind: int,
        session: PluginSession | None,
        entry: DetachedEntry | None = None,
    ) -> None:
        self.id = next(_ids)
        self.table = table
        self.key = key
        self.values = values
        self.kind = kind
        self.session = session
        self.entry = entry
        #: field index -> the C string last read through it outside any callback
        self.keep: dict[int, Any] = {}
        PINS[self.id] = self
        #: registered with the C core, which serves its reads (fastread.py)
        self.native = kind != DETACHED and fastread.serve_pin(self.id, table, values)
        if session is not None:
            if kind == ACQUIRED:
                session.acquired.add(self.id)
            elif kind == DETACHED:
                session.detached.add(self.id)


#: entry id -> Pin
PINS: dict[int, Pin] = {}


def unpin(p: Pin) -> None:
    """Forget a handle (its id becomes unknown)."""
    PINS.pop(p.id, None)
    if p.native:
        fastread.unserve_pin(p.id)
    s = p.session
    if s is not None:
        if p.kind == ACQUIRED:
            s.acquired.discard(p.id)
        elif p.kind == DETACHED:
            s.detached.discard(p.id)


def drop_session_pins(session: PluginSession, how: str) -> None:
    """The per-callback clean-up: forget acquired pins, destroy detached entries never added.

    A plugin's own thread may release one of these meanwhile (an entry acquired during
    capture_open, say): the sets are copied first (one atomic step under the GIL).
    """
    acquired = list(session.acquired)
    session.acquired.difference_update(acquired)
    for id in acquired:
        p = PINS.pop(id, None)
        if p is not None and p.native:
            fastread.unserve_pin(id)
    detached = list(session.detached)
    session.detached.difference_update(detached)
    for id in detached:
        p = PINS.pop(id, None)
        if p is not None and p.entry is not None and p.entry.alive:
            p.entry._end(how)


# -- one field, under the entry's lock ---------------------------------------------------------
#
# The lock is the table's own, for the key the entry was pinned at: the owner's lock-free borrow
# (`borrow_now`, the handle-less form of `Table.read`/`write`'s fast branch) when it may take
# one, else a `read`/`write` handle held for the one operation. Holding the key covers the
# pinned entry even after it was replaced at that key. If it was erased, no handle can reach it
# any more: only pins use it, and they serialise on `_erased`.

_erased = threading.Lock()


def _locked(p: Pin, write: bool, op: Callable[..., T], *args: Any) -> T:
    """`op(*args)` under the pinned key's lock: a borrow, a handle, or `_erased` once erased."""
    table = p.table
    key = p.key
    if borrow_now(table, key, write):
        try:
            return op(*args)
        finally:
            unborrow_now(table, key)
    try:
        h = table.write(key) if write else table.read(key)
    except EntryNotFoundError:
        with _erased:
            return op(*args)
    try:
        return op(*args)
    finally:
        h.release()


def read(p: Pin, field: Field) -> Any:
    """The value of `field` in the pinned entry (`slots.read`), under the entry's shared lock."""
    if p.entry is not None:  # detached: private, no lock; the handle checks its thread
        return p.entry[field]
    if p.values.__class__ is not list:  # the C core: the pinned entry's own grant, one call
        return p.table._read_pinned(p.values, p.key, field)  # type: ignore[attr-defined]
    return _locked(p, False, slots.read, p.table, p.values, field)


def write(p: Pin, field: Field, value: Any) -> None:
    """Store a checked `value` in the pinned entry (`slots.store`), under its exclusive lock."""
    if p.entry is not None:
        p.entry[field] = value
        return
    if p.values.__class__ is not list:  # the C core: the pinned entry's own grant, one call
        p.table._write_pinned(p.values, p.key, field, value)  # type: ignore[attr-defined]
        return
    table = p.table
    key = p.key
    if borrow_now(table, key, True):  # the owner's lock-free borrow: the per-event case
        try:
            values = p.values
            try:
                values[field.index] = value  # slots.store's list operation, inlined
            except IndexError:
                slots.store(field.registry, values, field, value)
        finally:
            unborrow_now(table, key)
        return
    _locked(p, True, slots.store, field.registry, p.values, field, value)
