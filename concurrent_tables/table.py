"""Table: a keyed collection of entries with typed fields, owned by one plugin.

This is the owner's (exporting plugin's) object. Other plugins reach it through the registry as
an `ImportedTable`, which adds access tokens, the read-only rule and owner-thread confinement.

Structure. `_entries` maps key -> the entry's value list. Lookups read it without a lock (a dict
read is atomic under the GIL); `add_entry`, `erase_entry` and `clear` change it under the
domain's structural lock so that check-and-set is atomic. They do not wait for entry locks: a
handle keeps its entry alive, so a holder keeps a consistent view of an entry erased or replaced
meanwhile (its scope is linearised at its acquisition), and structural changes never deadlock
against handles.

Backends. With the C core (`concurrent_tables.backend`, the default where it runs), `Table(...)`
makes a `CoreTable`: the same class's API, with entries, handles and their reader/writer state
in the `_core` extension (concurrent_tables/native/ct_core.c). The code below is the Python
backend, the reference; `CoreTable` inherits only the methods written in terms of the others
(fields, `get_entry`, iteration, properties).

Iteration walks a sorted snapshot of the keys taken when it starts (entries added later are not
visited, entries erased meanwhile are skipped), taking each entry's handle in turn: no lock is
held across the walk, so writers are never blocked for its length, and the walker may insert or
erase in the same table.
"""

from __future__ import annotations

import builtins
import enum
import sys
from collections import deque
from collections.abc import Callable, Iterator
from threading import get_ident
from typing import Any, Final, Generic, Literal, TypeVar, overload

from . import backend
from .errors import (
    EntryExistsError,
    EntryNotFoundError,
    ForeignEntryError,
    InvalidKeyError,
    ReentrancyError,
    StaleHandleError,
    TableDefinitionError,
    ThreadAccessDeniedError,
)
from .fields import Field, FieldInfo, FieldRegistry
from .handles import _NO_VALUES, ApiRules, DetachedEntry, EntryHandle, WriteHandle
from .locking import ConfinedDomain, LockStatistics, SharedDomain, unborrow
from .locking.domains import _GIL, checked_timeout
from .locking.threads import NO_THREAD, thread_token
from .roles import current_role
from .schema import EntrySchema
from .types import INT_RANGES, KEY_TYPES, StateType, coerce_state_type

K = TypeVar("K")
S = TypeVar("S", bound=EntrySchema)
V = TypeVar("V")

#: Default lock timeout in seconds: a deadlock surfaces as LockTimeoutError, not a hang.
DEFAULT_TIMEOUT = 30.0


class TableTimeout(enum.Enum):
    """The marker for "this table's timeout" in `read`/`write`/`get_entry`."""

    TABLE = "the table's timeout"


#: Use the table's own timeout (the default of every `timeout=` parameter of an entry getter).
TABLE_TIMEOUT: Final = TableTimeout.TABLE

#: A `timeout=`: seconds (math.inf or anything past threading.TIMEOUT_MAX waits for ever),
#: None (wait for ever), or TABLE_TIMEOUT.
Timeout = float | None | Literal[TableTimeout.TABLE]


class Table(Generic[K, S]):
    """A table of entries of schema `S` under keys of state type `key_type`.

    thread_safe=False: the table belongs to the thread that created it (or `owner_thread`);
    other threads get WrongThreadError and conflicting handles raise BorrowError.
    thread_safe=True: any thread may use it; entries are guarded by reader-writer locks.
    """

    #: The plugin that exported this table (set by TableRegistry.export): a host thread of
    #: another plugin (a routine, an async task) may not touch it, even directly.
    exporter: str | None = None

    def __new__(cls, *args: Any, **kwargs: Any) -> Table[K, S]:
        if cls is Table and backend.core is not None:
            return backend.core.Core.__new__(CoreTable)  # type: ignore[no-any-return]
        return super().__new__(cls)

    def __init__(
        self,
        name: str,
        key_type: Any,
        schema: type[S],
        *,
        thread_safe: bool = False,
        timeout: float | None = DEFAULT_TIMEOUT,
        owner_thread: int | None = None,
        fast_path: bool = True,
    ) -> None:
        kt, registry = _checked(name, key_type, schema)
        domain = (
            SharedDomain(owner_thread, fast_path=fast_path)
            if thread_safe
            else ConfinedDomain(owner_thread)
        )
        self._setup(name, kt, registry, domain, checked_timeout(name, timeout))

    def _setup(
        self,
        name: str,
        key_type: StateType,
        registry: FieldRegistry,
        domain: ConfinedDomain | SharedDomain,
        timeout: float | None,
        nested: bool = False,
    ) -> None:
        self.name = name
        self.key_type = key_type
        self._registry = registry
        self._domain = domain
        domain.tables.add(self)
        self.timeout = timeout
        self._entries: dict[Any, list[Any]] = {}
        self._borrows: dict[Any, int] = {}  # owner/confined handles: n readers, or -1 writer
        self._slots: dict[Any, Any] = {}  # entry locks in use (SharedDomain)
        self._klo, self._khi = INT_RANGES.get(key_type, (0, -1))
        #: The exact class of this table's keys (the getters' first test of a key)
        self._ktype: Any = (
            int if key_type.is_integer else bool if key_type is StateType.BOOL else str
        )
        #: The token of the thread that may take lock-free handles (NO_THREAD: none yet); see
        #: locking/threads.py. The domain keeps it in step (`_Domain.set_fast_token`).
        self._fast_tok: Any = domain.fast_tok
        # This table's released lock-free handles, oldest first. Table.read/write reuse the
        # oldest once `sys.getrefcount` shows that nothing else refers to it (so nobody can see
        # it again): that saves a handle's allocation and deallocation (`__del__` included),
        # ~15% of an owner's parse step. A released handle keeps its table, not its entry; the
        # tables nested in entries, made and dropped with them, recycle none (so no released
        # handle keeps one alive).
        self._spares: deque[Any] = deque(maxlen=_SPARES if _RECYCLE and not nested else 0)

    @classmethod
    def _nested(cls, parent: Table[Any, Any], field: Field) -> Table[Any, Any]:
        """The nested table of one entry: shares the parent's domain and the field's registry."""
        assert field.nested is not None
        spec = parent._registry.specs[field.index]
        assert spec.nested_key is not None
        t: Table[Any, Any] = cls.__new__(cls)
        t._setup(field.name, spec.nested_key, field.nested, parent._domain, parent.timeout, True)
        return t

    # -- properties ----------------------------------------------------------------------------

    @property
    def schema(self) -> type[EntrySchema]:
        return self._registry.schema

    @property
    def field_registry(self) -> FieldRegistry:
        """This table's fields (every nested table under one parent field shares one)."""
        return self._registry

    @property
    def thread_safe(self) -> bool:
        return self._domain.thread_safe

    @property
    def owner_thread(self) -> int:
        return self._domain.owner

    def statistics(self) -> LockStatistics:
        """Lock counters of this table and the tables nested in it."""
        return self._domain.statistics()

    def __repr__(self) -> str:
        mode = "thread-safe" if self.thread_safe else "single-threaded"
        return f"<Table '{self.name}' key={self.key_type.type_name} {mode} size={len(self)}>"

    # -- fields ---------------------------------------------------------------------------------

    @overload
    def get_field(self, name: str, type: builtins.type[V]) -> Field[V]: ...
    @overload
    def get_field(self, name: str, type: StateType | int) -> Field: ...
    def get_field(self, name: str, type: Any) -> Field:
        """The field `name`, which must have exactly type `type` (FieldNotFound/TypeMismatch).

        `type` is an annotation (I64, String, ...), a StateType or its ABI code.
        """
        return self._registry.get(name, type)

    @overload
    def add_field(self, name: str, type: builtins.type[V]) -> Field[V]: ...
    @overload
    def add_field(self, name: str, type: StateType | int) -> Field: ...
    def add_field(self, name: str, type: Any) -> Field:
        """Add a dynamic field; the same name and type again returns the same field."""
        return self._registry.add(name, type)

    def field(self, name: str) -> Field:
        """Owner-side lookup of any field by name, whatever its type (private ones included)."""
        return self._registry.lookup(name)

    def list_fields(self) -> list[FieldInfo]:
        """Public fields: static ones in declaration order, then dynamic ones as added."""
        return list(self._registry.listing())

    # -- keys -----------------------------------------------------------------------------------

    def check_key(self, key: Any) -> None:
        """Raise InvalidKeyError unless `key` fits this table's key type."""
        if key.__class__ is self._ktype:
            if self._ktype is int:
                if self._klo <= key <= self._khi:
                    return
                why = f"out of range [{self._klo}, {self._khi}]"
            elif self._ktype is str:
                if "\0" not in key:
                    return
                why = "string contains a NUL byte"
            else:
                return
        elif self._ktype is int and isinstance(key, int) and not isinstance(key, bool):
            if self._klo <= key <= self._khi:
                return
            why = f"out of range [{self._klo}, {self._khi}]"
        else:
            why = f"expected {self._ktype.__name__}, got {type(key).__name__}"
        raise InvalidKeyError(self.name, key, self.key_type.type_name, why)

    # -- entries --------------------------------------------------------------------------------

    def get_entry(
        self, key: K, *, write: bool = False, timeout: Timeout = TABLE_TIMEOUT
    ) -> EntryHandle:
        """A handle on the entry at `key`: shared if write=False, exclusive if write=True.

        Use it as a context manager, or call `release()`. `timeout` (seconds, None = forever)
        defaults to the table's. Raises EntryNotFoundError if there is no such entry.
        """
        return (self.write if write else self.read)(key, timeout)

    def read(self, key: K, timeout: Timeout = TABLE_TIMEOUT) -> EntryHandle:
        """A shared read handle on the entry at `key` (see get_entry)."""
        raise NotImplementedError  # replaced below by _handle_getter(False, EntryHandle)

    def write(self, key: K, timeout: Timeout = TABLE_TIMEOUT) -> EntryHandle:
        """An exclusive write handle on the entry at `key` (see get_entry)."""
        raise NotImplementedError  # replaced below by _handle_getter(True, WriteHandle)

    def create_entry(self, view: ApiRules | None = None) -> DetachedEntry:
        """A new detached entry with every field at its default; add it with `add_entry`.

        `view`: the table API's rules to apply to it (importers and the C bridge pass theirs).
        """
        self._domain.check_thread(f"table '{self.name}'")
        if self.exporter is not None:
            check_exporter(self)
        return DetachedEntry(self, self._registry.new_values(), view)

    def add_entry(self, key: K, entry: DetachedEntry, *, replace: bool = False) -> bool:
        """Attach a detached entry at `key`; returns True if it replaced an entry.

        Without replace=True an existing key raises EntryExistsError. The detached handle is
        consumed: it is stale afterwards. Handles on a replaced entry keep seeing it.
        """
        self.check_key(key)
        if self.exporter is not None:
            check_exporter(self)
        if not isinstance(entry, DetachedEntry) or entry._table._registry is not self._registry:
            raise ForeignEntryError(
                self.name, "add_entry called on entry not created by create_table_entry"
            )
        if entry._tok is NO_THREAD:
            raise StaleHandleError(self.name, "<detached>", entry._how())
        if not entry._tok._is_owned():
            entry._check()
        with self._domain.structural(self):
            if replace:
                replaced = key in self._entries
                self._entries[key] = entry._values
            else:
                if self._entries.setdefault(key, entry._values) is not entry._values:
                    raise EntryExistsError(self.name, key)
                replaced = False
            entry._end("attached")
        return replaced

    def erase_entry(self, key: K) -> None:
        """Remove the entry at `key` (EntryNotFoundError if none).

        Raises ReentrancyError if this thread holds a handle on it; handles of other threads
        keep the erased entry alive until they are released.
        """
        self.check_key(key)
        if self.exporter is not None:
            check_exporter(self)
        d = self._domain
        if d.held_by_me(self, key):
            d.recover_mine(self, key)  # unless nobody will release them (locking/reclaim.py)
        with d.structural(self):
            if d.held_by_me(self, key):
                raise ReentrancyError(
                    self.name, key, "cannot erase an entry this thread holds a handle on"
                )
            if self._entries.pop(key, None) is None:
                raise EntryNotFoundError(self.name, key)

    def clear(self) -> None:
        """Remove every entry. Raises ReentrancyError if this thread holds a handle here."""
        if self.exporter is not None:
            check_exporter(self)
        d = self._domain
        for key in self._held_keys():  # unless nobody will release them (locking/reclaim.py)
            d.recover_mine(self, key)
        with d.structural(self):
            mine = self._held_keys()
            if mine:
                raise ReentrancyError(
                    self.name, mine[0], "cannot clear a table while this thread holds a handle"
                )
            self._entries = {}

    def _held_keys(self) -> list[Any]:
        """The keys this thread holds a handle on (for the owner, its lock-free ones first)."""
        # `_borrows` holds the owner's lock-free handles: another thread must not count them as
        # its own (nor iterate the dict while the owner changes it).
        d = self._domain
        return (list(self._borrows) if get_ident() == d.owner else []) or [
            k for k in list(self._slots) if d.held_by_me(self, k)
        ]

    def size(self) -> int:
        """The number of entries."""
        self._domain.check_thread(f"table '{self.name}'")
        if self.exporter is not None:
            check_exporter(self)
        return len(self._entries)

    __len__ = size

    def __contains__(self, key: object) -> bool:
        self._domain.check_thread(f"table '{self.name}'")
        if self.exporter is not None:
            check_exporter(self)
        return key in self._entries

    def keys(self) -> list[Any]:
        """A sorted snapshot of the keys."""
        self._domain.check_thread(f"table '{self.name}'")
        if self.exporter is not None:
            check_exporter(self)
        return sorted(self._entries)

    def storage_of(self, key: K) -> list[Any] | None:
        """The value list of the entry at `key` (None if none), looked up under its shared lock.

        The entry's storage itself, with no handle held: what the C bridge's entry handles pin
        (cabi/pins.py). It stays that entry's storage after the entry is erased or replaced;
        read and write it only under `borrow_now` or a handle on `key`, through `slots`.
        """
        if borrow_now(self, key, False):
            try:
                return self._entries.get(key)
            finally:
                unborrow_now(self, key)
        try:
            h = self.read(key)
        except EntryNotFoundError:
            return None
        values = h._values
        h.release()
        return values

    # -- iteration ------------------------------------------------------------------------------

    def iterate(
        self, callback: Callable[[EntryHandle], bool | None], *, write: bool = False
    ) -> bool:
        """Call `callback(handle)` per entry in key order until it returns False.

        Returns True if every entry was visited, False on break-out. Each handle is valid only
        during its callback. See the module docstring for what the walk sees.
        """
        for h in self.items(write=write):
            if callback(h) is False:
                return False
        return True

    def items(self, *, write: bool = False) -> Iterator[EntryHandle]:
        """Yield a handle per entry in key order; each is released when the loop moves on."""
        for key in self.keys():
            try:
                h = self.get_entry(key, write=write)
            except EntryNotFoundError:
                continue  # erased since the snapshot
            try:
                yield h
            finally:
                h.release()

    # -- nested tables --------------------------------------------------------------------------

    def nested_table(self, values: list[Any], field: Field) -> Table[Any, Any]:
        """The nested table in slot `field` of entry `values`, made on first use (for handles)."""
        domain = self._domain
        if isinstance(domain, SharedDomain):
            with domain.mutex:  # two readers may race to make it: one must win
                t = values[field.index]
                if t is None:
                    t = values[field.index] = type(self)._nested(self, field)
        else:
            t = values[field.index] = type(self)._nested(self, field)
        return t  # type: ignore[no-any-return]


def _checked(name: Any, key_type: Any, schema: Any) -> tuple[StateType, FieldRegistry]:
    """Table's arguments checked: the key's state type and the schema's field registry."""
    if not isinstance(name, str) or not name or "\0" in name:
        raise TableDefinitionError(name, "a table name is a non-empty string without NUL")
    kt = coerce_state_type(key_type)
    if kt not in KEY_TYPES:
        raise TableDefinitionError(name, f"{kt.type_name} cannot be a key type")
    if not (isinstance(schema, type) and issubclass(schema, EntrySchema)):
        raise TableDefinitionError(name, "schema must be an EntrySchema subclass")
    return kt, FieldRegistry(name, schema)


def _handle_getter(write: bool, cls: type[EntryHandle]) -> Callable[..., EntryHandle]:
    """Table.read / Table.write (hot path: lock-free branch and handle __init__ inlined)."""
    if cls.__init__ is not EntryHandle.__init__:
        raise TypeError(f"{cls.__name__} overrides __init__, which the getter inlines")

    def get(self: Table[Any, Any], key: Any, timeout: Timeout = TABLE_TIMEOUT) -> EntryHandle:
        # checked even where no wait happens, so that a bad timeout fails on every path; the
        # table's own is resolved on the locked path only
        if timeout is not TABLE_TIMEOUT:
            timeout = checked_timeout(self.name, timeout)
        tok = self._fast_tok
        # The owner of a thread-safe table, or of a single-threaded one; a key of the exact key
        # class that is in the table (so it was checked when it was added).
        if tok._is_owned() and type(key) is self._ktype:
            try:  # one dict operation: another thread may erase the key meanwhile
                values: Any = self._entries[key]
            except KeyError:
                values = None
            if values is not None:
                # = cls(self, key, values, None, tid), without the __init__ call, in a recycled
                # handle when one is free (see `_Domain.spares`)
                spares = self._spares
                if spares and type(h := spares[0]) is cls and _refcount(h) == 3:
                    spares.popleft()  # referred to by the deque, `h` and the argument only
                else:
                    h = _new(cls)
                    h._table = self
                    h._registry = self._registry
                    h._grant = None
                    h._tid = self._domain.fast_tid
                h._key = key
                h._values = values
                h._view = None
                h._entered = False
                # From reading the borrow count to returning the handle (or undoing the
                # borrow), no call: an interrupt cannot split the borrow from the handle that
                # owns it (a handle lost after `return` is released when collected), and no
                # other thread (a collector ending a borrow) runs in between.
                borrows = self._borrows
                b = borrows[key] if key in borrows else 0
                if not b or not (write or b < 0):
                    borrows[key] = -1 if write else b + 1
                    h._tok = tok
                    if key not in self._slots:
                        return h
                    # Another thread is on this key (the Dekker half: slots read after
                    # publishing the borrow): take the borrow back and queue on its lock.
                    h._tok = NO_THREAD
                    if b:
                        borrows[key] = b
                    else:
                        del borrows[key]
                    self._domain.wake()
                else:  # this thread's own handle conflicts
                    return _own_conflict(self, key, write, timeout, b, get)
        return _slow_get(self, cls, key, write, timeout, get)

    return get


def _own_conflict(
    table: Table[Any, Any],
    key: Any,
    write: bool,
    timeout: Timeout,
    b: int,
    get: Callable[..., EntryHandle],
) -> EntryHandle:
    """The owner's lock-free request conflicts with its own borrow `b` of `key`: refused, unless
    the borrow turns out to be one nobody will end (locking/reclaim.py): then asked again."""
    d = table._domain
    d.drain()
    if d.recover_borrows(table, key):
        return get(table, key, timeout)
    d.fast_conflict(table, key, write, b)
    raise AssertionError("unreachable: fast_conflict raises")


def _slow_get(
    table: Table[Any, Any],
    cls: type[EntryHandle],
    key: Any,
    write: bool,
    timeout: Timeout,
    get: Callable[..., EntryHandle],
) -> EntryHandle:
    """`read`/`write` (`get`) off the lock-free path: a key of another class (checked, then
    taken as its plain value), the owner's token still to learn (a table made in another
    thread), a missing entry, another thread on the key, or not the owner: the entry lock."""
    retry = False
    if type(key) is not table._ktype:
        table.check_key(key)
        key = int.__int__(key)  # an int subclass (check_key accepts no other): its value
        retry = True
    d = table._domain
    tid = get_ident()
    if tid == d.fast_tid:
        if d.fast_tok is NO_THREAD:  # the owner's first handle (the table was made elsewhere)
            d.set_fast_token(thread_token())
            retry = True
        if retry:
            return get(table, key, timeout)
        if key not in table._entries:
            table.check_key(key)
            raise EntryNotFoundError(table.name, key)
        # Another thread holds or waits for this key: queue on its lock like everyone else.
    else:
        table.check_key(key)
    if timeout is TABLE_TIMEOUT:
        timeout = table.timeout
    return _locked_handle(table, cls, key, write, timeout, tid)


_new = object.__new__
_refcount = sys.getrefcount
#: Released handles are recycled where `sys.getrefcount` counts every reference: CPython up to
#: 3.13 with its GIL (3.14 may push borrowed references).
_RECYCLE = sys.implementation.name == "cpython" and sys.version_info < (3, 14) and _GIL
_SPARES = 8


def _fill_getters() -> None:
    """Install Table.read and Table.write; the stubs in the class hold their documentation.

    The getters inline `EntryHandle.__init__` (a Python-level __init__ call costs ~40 ns of a
    ~1 us parse step), so a handle class must not override it.
    """
    for stub, cls, write in ((Table.read, EntryHandle, False), (Table.write, WriteHandle, True)):
        getter = _handle_getter(write, cls)
        getter.__doc__ = stub.__doc__
        getter.__name__ = getter.__qualname__ = stub.__name__
        setattr(Table, stub.__name__, getter)


_fill_getters()


def check_exporter(table: Table[Any, Any]) -> None:
    """Refuse a host thread of another plugin than the table's exporter (the access matrix).

    Routines and async tasks may only use thread-safe tables their own plugin exported; this
    holds for the raw `Table` object too, not only for imported views.
    """
    role = current_role()
    if role is not None and role.plugin != table.exporter:
        raise ThreadAccessDeniedError(
            f"table '{table.name}' of plugin '{table.exporter}'",
            table.owner_thread,
            get_ident(),
            role,
        )


def _locked_handle(
    table: Table[Any, Any],
    cls: type[EntryHandle],
    key: Any,
    write: bool,
    timeout: float | None,
    tid: int,
) -> EntryHandle:
    """`read`/`write`'s locked path: the domain grants the entry lock, or refuses.

    The handle exists before the lock is asked for, and the domain records the grant in it
    as it makes it: an exception at any point leaves a handle that gives back what it holds.
    """
    if table.exporter is not None:
        check_exporter(table)  # off the owner's lock-free path only: no cost there
    h = _new(cls)
    h._table, h._key, h._values, h._registry = table, key, _NO_VALUES, table._registry
    h._grant, h._tid, h._view, h._entered, h._tok = None, tid, None, False, NO_THREAD
    d = table._domain
    d.acquire(table, key, write, timeout, h)
    try:  # one dict operation: another thread may erase the key meanwhile
        h._values = table._entries[key]
        return h
    except KeyError:
        pass
    h.release()
    raise EntryNotFoundError(table.name, key)


def borrow_now(table: Table[Any, Any], key: Any, write: bool) -> bool:
    """`read`/`write`'s lock-free branch without a handle, for one operation on `key`.

    True: this thread now holds a lock-free borrow on `key` (the owner of a thread-safe table
    on a key no other thread uses, or the owner of a single-threaded table); end it with
    `unborrow_now` right after the operation. False: take the lock with `read`/`write` instead.
    Raises the domain's conflict error if this thread already holds a conflicting handle.
    `key` must already be a valid key. Used by the C bridge, whose entry handles take the
    entry's lock for each single read or write.
    """
    d = table._domain
    if get_ident() != d.fast_tid:
        return False
    borrows = table._borrows
    b = borrows[key] if key in borrows else 0  # no call until the borrow is published
    if write:
        if b:
            d.fast_conflict(table, key, write, b)
        borrows[key] = -1
    else:
        if b < 0:
            d.fast_conflict(table, key, write, b)
        borrows[key] = b + 1
    slots = table._slots
    if slots and key in slots:  # read after publishing the borrow: the Dekker half
        d.fast_undo(table, key)
        return False
    return True


#: End a borrow taken by `borrow_now`.
unborrow_now = unborrow


class PythonTable(Table[K, S]):
    """A `Table` on the Python backend whatever the process's backend: the reference
    implementation, for differential tests and for tests of the Python core's own machinery."""


if backend.core is not None:
    from ._core import Core as _Core
    from ._core import Domain as _Domain
    from ._core import bind_getters as _bind_getters

    # The C base's methods replace the Python ones (read-only name, key_type, _registry).
    class CoreTable(_Core, Table[K, S]):  # type: ignore[misc,override]
        """A `Table` whose entries, handles and locks live in the C core (backend "c").

        The C base provides keys, entries, handles, structure and `nested_table`; `Table` the
        rest. There is no owner fast path to switch off: every handle is a grant of the
        entry's state, taken under the GIL, so `fast_path` is accepted and ignored.
        """

        def __init__(
            self,
            name: str,
            key_type: Any,
            schema: type[S],
            *,
            thread_safe: bool = False,
            timeout: float | None = DEFAULT_TIMEOUT,
            owner_thread: int | None = None,
            fast_path: bool = True,
        ) -> None:
            kt, registry = _checked(name, key_type, schema)
            domain = _Domain(thread_safe, owner_thread)
            _Core.__init__(self, name, kt, registry, domain, checked_timeout(name, timeout))

        def statistics(self) -> LockStatistics:  # type: ignore[override]
            """Lock counters of this table and the tables nested in it."""
            return LockStatistics(*_Core.statistics(self))

    # `t.write(k)` is then one specialised C call for a CoreTable too (nested tables included).
    _bind_getters(CoreTable)
