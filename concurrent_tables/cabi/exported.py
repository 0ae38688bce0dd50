"""Python tables as native plugins see them: table handles, field accessors, field listings.

Table handles. Every table handle given to a plugin is an `ss_plugin_table_input` whose vtables
are the Python owner's and whose `table` member is an id (the handle convention; docs/c-abi.md):
- a top-level table has one input for as long as it is exported (`table_input`);
- a nested table (the value of a TABLE field) gets a slot from a `SlotPool`: the calling plugin's
  pool inside a callback, valid until that callback's clean-up; on a plugin's own thread, a slot
  of the thread's `StableSlots`, valid as long as the nested table exists (then stale: an error).

Field accessors are ids too, one per `Field`, stable for the life of the process. A `Field` is
shared by every nested table of its family (they share one registry), so one accessor works on
all of them, and it is checked against the table of every call.

Ids are looked up in dictionaries: a stale or garbage pointer from a plugin is an unknown id and
becomes an error, never a crash. With the C core, table handles and accessors are also registered
with the core (fastread.py), which serves native reads in C; every place that forgets a handle
id here forgets it there too.
"""

from __future__ import annotations

import collections
import itertools
import threading
import weakref
from collections.abc import Callable
from typing import Any, Final, TypeVar

from .._abi import ffi, lib
from ..fields import Field, FieldRegistry
from ..table import Table
from ..types import StateType
from . import fastread
from .convert import MEMBER

V = TypeVar("V")

_ids = itertools.count(1)
_lock = threading.RLock()  # creation of inputs, accessors, listings (lookups take none)


class TableRef:
    """What a table id stands for: the table, its field registry and its input."""

    __slots__ = ("id", "input", "registry", "table")

    def __init__(self, id: int, table: Table[Any, Any], input: Any) -> None:
        self.id = id
        self.table = table
        self.registry: FieldRegistry = table.field_registry
        self.input = input


#: table id -> TableRef (top-level inputs and live nested slots)
REFS: dict[int, TableRef] = {}
_TOP: dict[Table[Any, Any], TableRef] = {}
_NAMES: dict[FieldRegistry, Any] = {}


def _once(cache: dict[Any, V], key: Any, make: Callable[[], V]) -> V:
    """`cache[key]`, made by `make()` under the creation lock if absent: once per key.

    Callers look `cache` up first without the lock (lookups take none).
    """
    with _lock:
        v = cache.get(key)
        if v is None:
            v = cache[key] = make()
    return v


def name_of(registry: FieldRegistry) -> Any:
    """The C string of a table's name (nested tables are named after their field)."""
    c = _NAMES.get(registry)
    if c is None:
        c = _once(_NAMES, registry, lambda: ffi.new("char[]", registry.table_name.encode()))
    return c


def _fill(input: Any, table: Table[Any, Any], id: int) -> None:
    lib.ct_fill_py_table_input(
        input, name_of(table.field_registry), int(table.key_type), ffi.cast("void*", id)
    )


def table_input(table: Table[Any, Any]) -> Any:
    """The stable `ss_plugin_table_input*` of a top-level Python table (made on first use)."""
    ref = _TOP.get(table)
    if ref is None:
        ref = _once(_TOP, table, lambda: _new_ref(table, ffi.new("ss_plugin_table_input*")))
    return ref.input


def _new_ref(table: Table[Any, Any], input: Any) -> TableRef:
    """Fill `input` for `table` under a new id, and serve it (REFS)."""
    id = next(_ids)
    _fill(input, table, id)
    ref = REFS[id] = TableRef(id, table, input)
    fastread.serve_table(id, table)
    return ref


def _unserve(id: int) -> None:
    """Forget table handle `id`: later calls through it fail cleanly."""
    REFS.pop(id, None)
    fastread.unserve_table(id)


#: ids of plugin handles whose plugin is gone -> why (the text of a later call's error)
GONE: dict[int, str] = {}
#: their inputs: the plugin may still hold the pointers, so the memory stays valid
_GRAVEYARD: list[Any] = []


def plugin_table_input(table: Table[Any, Any]) -> tuple[int, Any]:
    """A handle on `table` of one plugin's own (its `get_table`): (id, input).

    Per plugin, so that `retire_handles` can end one plugin's access (its destroy) while the
    others keep theirs: a plugin thread still calling through it then gets errors.
    """
    with _lock:
        id = next(_ids)
        inp = ffi.new("ss_plugin_table_input*")
        _fill(inp, table, id)
        REFS[id] = TableRef(id, table, inp)
        fastread.serve_table(id, table)
    return id, inp


def retire_handles(handles: list[tuple[int, Any]], why: str) -> None:
    """End plugin handles: every later call through them fails, naming `why`."""
    with _lock:
        for id, inp in handles:
            _unserve(id)
            GONE[id] = why
            _GRAVEYARD.append(inp)


def forget(table: Table[Any, Any]) -> None:
    """Stop serving `table`'s top-level handle: later calls through it fail cleanly."""
    with _lock:
        ref = _TOP.pop(table, None)
        if ref is not None:
            _unserve(ref.id)


class SlotPool:
    """Short-lived nested-table handles (`ss_plugin_table_input` slots), reused after `reset`.

    Within one scope the same nested table always gets the same slot. `ring`: reset by itself
    once that many slots are in use (for plugin threads, which have no callback to end).
    """

    __slots__ = ("_by_table", "_live", "_slots", "ring")

    def __init__(self, ring: int | None = None) -> None:
        self.ring = ring
        self._slots: list[Any] = []
        self._live: list[int] = []
        self._by_table: dict[Table[Any, Any], Any] = {}

    def take(self, table: Table[Any, Any]) -> Any:
        slot = self._by_table.get(table)
        if slot is not None:
            return slot
        n = len(self._live)
        if self.ring is not None and n >= self.ring:
            self.reset()
            n = 0
        if n < len(self._slots):
            slot = self._slots[n]
        else:
            slot = ffi.new("ss_plugin_table_input*")
            self._slots.append(slot)
        self._live.append(_new_ref(table, slot).id)
        self._by_table[table] = slot
        return slot

    def reset(self) -> None:
        """Invalidate every handle handed out since the last reset; the slots are reused."""
        for id in self._live:
            _unserve(id)
        self._live.clear()
        self._by_table.clear()


class _WeakTableRef(TableRef):
    """A TableRef that does not keep its (nested) table alive."""

    __slots__ = ("_weak",)

    def __init__(self, id: int, table: Table[Any, Any], input: Any) -> None:
        self.id = id
        self._weak = weakref.ref(table)
        self.registry = table._registry
        self.input = input

    @property
    def table(self) -> Table[Any, Any]:  # type: ignore[override]
        t = self._weak()
        if t is None:
            raise LookupError(f"table handle (id {self.id}): its nested table no longer exists")
        return t


class StableSlots:
    """Nested-table handles of a plugin's own thread: one slot per nested table, for its life.

    A plugin thread has no callback whose end could invalidate its handles, so each nested
    table keeps its handle while it exists (a handle kept across any number of reads never
    points at another table). When the table is collected its id is forgotten (the handle is
    stale: every call through it fails) and the slot waits in quarantine; slots are reused only
    once `QUARANTINE` more have died, so a stale handle errors long before it could alias.
    """

    QUARANTINE: Final = 1024
    __slots__ = ("__weakref__", "_by_table", "_dead", "_lock")

    def __init__(self) -> None:
        self._by_table: weakref.WeakKeyDictionary[Table[Any, Any], Any] = (
            weakref.WeakKeyDictionary()
        )
        self._dead: collections.deque[Any] = collections.deque()
        self._lock = threading.Lock()  # finalizers run on whichever thread collects

    def take(self, table: Table[Any, Any]) -> Any:
        slot = self._by_table.get(table)
        if slot is not None:
            return slot
        with self._lock:
            reuse = len(self._dead) > self.QUARANTINE
            slot = self._dead.popleft() if reuse else ffi.new("ss_plugin_table_input*")
        id = next(_ids)
        _fill(slot, table, id)
        REFS[id] = _WeakTableRef(id, table, slot)
        self._by_table[table] = slot
        weakref.finalize(table, StableSlots._retire, weakref.ref(self), id, slot)
        return slot

    @staticmethod
    def _retire(owner: weakref.ref[StableSlots], id: int, slot: Any) -> None:
        REFS.pop(id, None)
        pool = owner()
        if pool is not None:
            with pool._lock:
                pool._dead.append(slot)

    def reset(self) -> None:
        """Nothing to do: handles live as long as their tables."""


# -- field accessors ------------------------------------------------------------------------------

KIND_INT: Final = 0
KIND_BOOL: Final = 1
KIND_STRING: Final = 2
KIND_TABLE: Final = 3


class Accessor:
    """What a field accessor id stands for: its `Field`, and the union member it crosses in.

    Everything else (index, default, registry, read-only flag, nested registry) is read
    through `field`, the one copy.
    """

    __slots__ = ("field", "id", "kind", "member")

    def __init__(self, id: int, field: Field) -> None:
        assert field.type is not None, "private fields have no accessor"
        t: StateType = field.type
        self.id = id
        self.field = field
        self.member = MEMBER[t]
        if t is StateType.TABLE:
            self.kind = KIND_TABLE
        elif t is StateType.STRING:
            self.kind = KIND_STRING
        elif t is StateType.BOOL:
            self.kind = KIND_BOOL
        else:
            self.kind = KIND_INT


#: accessor id -> Accessor
ACCESSORS: dict[int, Accessor] = {}
_BY_FIELD: dict[Field, Accessor] = {}


def accessor_of(field: Field) -> Accessor:
    """The accessor of `field`: one per field, for the life of the process."""
    acc = _BY_FIELD.get(field)
    if acc is None:
        acc = _once(_BY_FIELD, field, lambda: _new_accessor(field))
    return acc


def _new_accessor(field: Field) -> Accessor:
    acc = Accessor(next(_ids), field)
    ACCESSORS[acc.id] = acc
    fastread.serve_accessor(acc.id, field)
    return acc


# -- field listings -------------------------------------------------------------------------------

_LISTINGS: dict[FieldRegistry, tuple[Any, Any, int]] = {}
_FIELD_NAMES: dict[tuple[FieldRegistry, str], Any] = {}
_OLD_LISTINGS: list[Any] = []


def field_infos(registry: FieldRegistry) -> tuple[Any, int]:
    """`ss_plugin_table_fieldinfo[]` of a registry's public fields, and their count.

    Rebuilt only when the registry's fields changed; arrays are never freed, so a plugin's
    pointer stays readable even after a later listing (the ABI promises less: until the next
    call on that table). Names live as long as their field.
    """
    listing = registry.listing()
    cached = _LISTINGS.get(registry)
    if cached is not None and cached[0] is listing:
        return cached[1], cached[2]
    with _lock:
        cached = _LISTINGS.get(registry)
        if cached is not None and cached[0] is listing:
            return cached[1], cached[2]
        arr = ffi.new("ss_plugin_table_fieldinfo[]", max(1, len(listing)))
        for i, info in enumerate(listing):
            key = (registry, info.name)
            cname = _FIELD_NAMES.get(key)
            if cname is None:
                cname = _FIELD_NAMES[key] = ffi.new("char[]", info.name.encode())
            arr[i].name = cname
            arr[i].field_type = int(info.type)
            arr[i].read_only = 1 if info.read_only else 0
        if cached is not None:
            _OLD_LISTINGS.append(cached[1])
        _LISTINGS[registry] = (listing, arr, len(listing))
        return arr, len(listing)
