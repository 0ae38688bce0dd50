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
"""

from __future__ import annotations

import itertools
import threading
from typing import TYPE_CHECKING, Any, Final

from ..errors import EntryNotFoundError
from ..handles import DetachedEntry
from ..table import Table, borrow_now, unborrow_now

if TYPE_CHECKING:
    from .exported import Accessor
    from .session import PluginSession

ACQUIRED: Final = 0  # from get_table_entry / add_table_entry: needs a release
DETACHED: Final = 1  # from create_table_entry: needs add_table_entry or destroy_table_entry
ITERATED: Final = 2  # given to an iterate_entries callback: valid during that callback

_ids = itertools.count(1)


class Pin:
    """One native entry handle."""

    __slots__ = ("entry", "id", "keep", "key", "kind", "session", "table", "values")

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
        self.keep: list[Any] = []  # C strings read through it outside any callback


#: entry id -> Pin
PINS: dict[int, Pin] = {}


def pin(
    table: Table[Any, Any],
    key: Any,
    values: list[Any],
    kind: int,
    session: PluginSession | None,
    entry: DetachedEntry | None = None,
) -> Pin:
    """Register a new native entry handle; the session (if any) tracks it for clean-up."""
    p = Pin(table, key, values, kind, session, entry)
    PINS[p.id] = p
    if session is not None:
        if kind == ACQUIRED:
            session.acquired.add(p.id)
        elif kind == DETACHED:
            session.detached.add(p.id)
    return p


def unpin(p: Pin) -> None:
    """Forget a handle (its id becomes unknown)."""
    PINS.pop(p.id, None)
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
        PINS.pop(id, None)
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


def _get(table: Table[Any, Any], values: list[Any], acc: Accessor) -> Any:
    try:
        v = values[acc.index]
    except IndexError:  # a dynamic field this entry never stored
        return acc.default
    if v is None and acc.nested:
        return table.nested_table(values, acc.field)
    return v


def read(p: Pin, acc: Accessor) -> Any:
    """The value of `acc` in the pinned entry, read under the entry's shared lock."""
    if p.entry is not None:  # detached: private, no lock; the handle checks its thread
        return p.entry[acc.field]
    table = p.table
    key = p.key
    if borrow_now(table, key, False):
        try:
            return _get(table, p.values, acc)
        finally:
            unborrow_now(table, key)
    try:
        h = table.read(key)
    except EntryNotFoundError:
        with _erased:
            return _get(table, p.values, acc)
    try:
        return _get(table, p.values, acc)
    finally:
        h.release()


def _put(p: Pin, acc: Accessor, value: Any) -> None:
    values = p.values
    i = acc.index
    if i >= len(values):
        values.extend(p.table._registry.dynamic_defaults(len(values), i))
    values[i] = value


def write(p: Pin, acc: Accessor, value: Any) -> None:
    """Store `value` (already checked) in the pinned entry, under the entry's exclusive lock."""
    if p.entry is not None:
        p.entry[acc.field] = value
        return
    table = p.table
    key = p.key
    if borrow_now(table, key, True):
        try:
            _put(p, acc, value)
        finally:
            unborrow_now(table, key)
        return
    try:
        h = table.write(key)
    except EntryNotFoundError:
        with _erased:
            _put(p, acc, value)
        return
    try:
        _put(p, acc, value)
    finally:
        h.release()


def lookup(table: Table[Any, Any], key: Any) -> list[Any] | None:
    """The value list at `key` (None if absent), looked up under the key's shared lock."""
    if borrow_now(table, key, False):
        try:
            return table._entries.get(key)
        finally:
            unborrow_now(table, key)
    try:
        h = table.read(key)
    except EntryNotFoundError:
        return None
    values: list[Any] = h._values
    h.release()
    return values
