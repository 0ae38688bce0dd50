"""The table registry (one per host) and `ImportedTable`, an importer's view of a table.

    threads = tables.get_table("threads", I64)          # at init, through the TablesInput
    comm = threads.get_field("comm", String)
    ...
    with threads.get_entry(reader, 1) as h:             # in a callback that got a TableReader
        name = h[comm]

An `ImportedTable` applies the table API's rules on top of the table it shows:
- every entry operation needs a live token: a `TableReader` for size, lookups and read
  iteration, a `TableWriter` for write handles, create, add, erase, clear and write iteration;
- writes to read-only fields are refused, private fields are invisible;
- it is confined to the importing thread, even when the table is thread-safe. Importing a
  thread-safe table of one's own goes through that table's locks, so it coordinates with the
  owner's background threads;
- `get_field` / `add_field` need the `TablesInput` it was imported with: init only;
- nested tables reached through its entries are imported views too.

The table behind a view is a `TableBackend`: `LocalBackend` for a Python `Table`; a native
plugin's table will get a backend of its own.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from threading import get_ident
from typing import Any, Protocol, cast

from .access import wrong_thread_error
from .errors import (
    AccessDeniedError,
    EntryNotFoundError,
    FieldTypeMismatchError,
    ForeignEntryError,
    KeyTypeMismatchError,
    TableExistsError,
    TableNotFoundError,
)
from .fields import Field, FieldInfo, FieldRegistry
from .handles import ApiDetachedEntry, ApiReadHandle, ApiWriteHandle, EntryHandle
from .table import Table, _handle_getter
from .tokens import CallbackScope, TableReader, TableWriter, Token
from .types import KEY_TYPES, StateType, coerce_state_type


@dataclass(frozen=True)
class TableInfo:
    """A listing record: what `list_tables` returns (the ABI's `ss_plugin_table_info`)."""

    name: str
    key_type: StateType


# -- what an importer holds -----------------------------------------------------------------------


class EntryView(Protocol):
    """An entry handle as an importer sees it: `h[field]`, `h[field] = v`, a context manager."""

    @property
    def key(self) -> Any: ...
    @property
    def alive(self) -> bool: ...
    def __getitem__(self, field: Field | str) -> Any: ...
    def __setitem__(self, field: Field | str, value: Any) -> None: ...
    def release(self) -> None: ...
    def __enter__(self) -> EntryView: ...
    def __exit__(self, t: object, v: object, tb: object) -> None: ...


class DetachedView(EntryView, Protocol):
    """A new entry from `create_entry`, not yet in the table."""

    def destroy(self) -> None: ...


# -- backends -------------------------------------------------------------------------------------


class NestedFieldsBackend(Protocol):
    """The field registry shared by every nested table under one parent field."""

    @property
    def name(self) -> str: ...
    @property
    def key_type(self) -> StateType: ...
    def get_field(self, name: str, type: StateType) -> Field: ...
    def add_field(self, name: str, type: StateType) -> Field: ...
    def list_fields(self) -> list[FieldInfo]: ...
    def nested(self, field: Field) -> NestedFieldsBackend: ...


class TableBackend(Protocol):
    """The table behind an `ImportedTable`: its operations, without tokens or thread checks."""

    @property
    def name(self) -> str: ...
    @property
    def key_type(self) -> StateType: ...
    @property
    def thread_safe(self) -> bool: ...
    def size(self) -> int: ...
    def get_entry(self, view: ImportedTable, key: Any, write: bool) -> EntryView: ...
    def create_entry(self, view: ImportedTable) -> DetachedView: ...
    def add_entry(self, key: Any, entry: DetachedView, replace: bool) -> bool: ...
    def erase_entry(self, key: Any) -> None: ...
    def clear(self) -> None: ...
    def iterate(
        self, view: ImportedTable, callback: Callable[[EntryView], bool | None], write: bool
    ) -> bool: ...
    def items(self, view: ImportedTable, write: bool) -> Iterator[EntryView]: ...
    def get_field(self, name: str, type: StateType) -> Field: ...
    def add_field(self, name: str, type: StateType) -> Field: ...
    def list_fields(self) -> list[FieldInfo]: ...
    def nested(self, field: Field) -> NestedFieldsBackend: ...


class _NestedAsImported:
    """Mixin: nested tables read through an imported entry come back as imported views."""

    __slots__ = ()
    _view: ImportedTable

    def __getitem__(self, field: Field | str) -> Any:
        v = super().__getitem__(field)  # type: ignore[misc]
        if v.__class__ is Table:
            return self._view._child(LocalBackend(v))
        return v

    get = __getitem__


class _ImportedRead(_NestedAsImported, ApiReadHandle):
    """An API read handle whose nested tables come back as imported views."""

    __slots__ = ("_view",)

    def __setitem__(self, field: Field | str, value: Any) -> None:
        name = field.name if isinstance(field, Field) else field
        raise AccessDeniedError(
            f"cannot write field '{name}' of entry {self._key!r} in imported table "
            f"'{self._table.name}' through a read handle: writes need a write handle, taken "
            "with a TableWriter (get_entry(writer, key, write=True))"
        )

    set = __setitem__


class _ImportedWrite(_NestedAsImported, ApiWriteHandle):
    """An API write handle whose nested tables come back as imported views."""

    __slots__ = ("_view",)


class _ImportedDetached(_NestedAsImported, ApiDetachedEntry):
    """An API detached entry whose nested tables come back as imported views."""

    __slots__ = ("_view",)


_Getter = Callable[[Table[Any, Any], Any], EntryHandle]
# Same lookup code as Table.read/write (lock-free owner path included), other handle classes.
_get_read = cast(_Getter, _handle_getter(False, _ImportedRead))
_get_write = cast(_Getter, _handle_getter(True, _ImportedWrite))


class _LocalNested:
    """The nested-field registry of one parent field, resolved without creating entries."""

    def __init__(self, registry: FieldRegistry, key_type: StateType) -> None:
        self._registry = registry
        self._key_type = key_type

    @property
    def name(self) -> str:
        return self._registry.table_name

    @property
    def key_type(self) -> StateType:
        return self._key_type

    def get_field(self, name: str, type: StateType) -> Field:
        return self._registry.get(name, type)

    def add_field(self, name: str, type: StateType) -> Field:
        return self._registry.add(name, type)

    def list_fields(self) -> list[FieldInfo]:
        return list(self._registry.listing())

    def nested(self, field: Field) -> NestedFieldsBackend:
        return _local_nested(self.name, field)


def _local_nested(table: str, field: Field) -> NestedFieldsBackend:
    """The nested registry behind a TABLE field (FieldTypeMismatchError for other fields)."""
    if field.nested is None:
        actual = field.type.type_name if field.type is not None else "private"
        raise FieldTypeMismatchError(table, field.name, "table", actual)
    key = field.registry.specs[field.index].nested_key
    assert key is not None
    return _LocalNested(field.nested, key)


class ForwardingBackend:
    """What every backend forwards to its table unchanged: names, fields, erase and clear.

    `LocalBackend` (a Python `Table`) and the C bridge's `NativeBackend` (a `NativeTable`)
    derive from it; both tables spell these operations the same way.
    """

    __slots__ = ("table",)

    def __init__(self, table: Any) -> None:
        self.table = table

    @property
    def name(self) -> str:
        return str(self.table.name)

    @property
    def key_type(self) -> StateType:
        return StateType(self.table.key_type)

    def erase_entry(self, key: Any) -> None:
        self.table.erase_entry(key)

    def clear(self) -> None:
        self.table.clear()

    def get_field(self, name: str, type: StateType) -> Field:
        f: Field = self.table.get_field(name, type)
        return f

    def add_field(self, name: str, type: StateType) -> Field:
        f: Field = self.table.add_field(name, type)
        return f

    def list_fields(self) -> list[FieldInfo]:
        return list(self.table.list_fields())


class LocalBackend(ForwardingBackend):
    """A Python `Table` behind an imported view; its own domain and locks do the work."""

    __slots__ = ()
    table: Table[Any, Any]

    @property
    def thread_safe(self) -> bool:
        return self.table.thread_safe

    def size(self) -> int:
        return len(self.table)

    def get_entry(self, view: ImportedTable, key: Any, write: bool) -> EntryView:
        h = (_get_write if write else _get_read)(self.table, key)
        h._view = view  # type: ignore[attr-defined]
        return h

    def create_entry(self, view: ImportedTable) -> DetachedView:
        t = self.table
        t._domain.check_thread(f"table '{t.name}'")
        e = _ImportedDetached(t, t._registry.new_values())
        e._view = view
        return e

    def add_entry(self, key: Any, entry: DetachedView, replace: bool) -> bool:
        if not isinstance(entry, _ImportedDetached):
            raise ForeignEntryError(
                self.table.name, "add_entry called on entry not created by create_table_entry"
            )
        return self.table.add_entry(key, entry, replace=replace)

    def iterate(
        self, view: ImportedTable, callback: Callable[[EntryView], bool | None], write: bool
    ) -> bool:
        for h in self.items(view, write):
            if callback(h) is False:
                return False
        return True

    def items(self, view: ImportedTable, write: bool) -> Iterator[EntryView]:
        # Same walk as Table.items: a sorted key snapshot, one handle at a time, no lock held
        # across the walk (so a thread-safe table's other writers are never blocked by it).
        get = _get_write if write else _get_read
        t = self.table
        for key in t.keys():
            try:
                h = get(t, key)
            except EntryNotFoundError:
                continue  # erased since the snapshot
            h._view = view  # type: ignore[attr-defined]
            try:
                yield h
            finally:
                h.release()

    def nested(self, field: Field) -> NestedFieldsBackend:
        return _local_nested(self.table.name, field)


# -- the importer's view --------------------------------------------------------------------------


class ImportedTable:
    """An importer's view of a table: token-gated, API rules, confined to the importing thread."""

    __slots__ = ("_backend", "_init", "_plugin", "_thread", "key_type", "name")

    def __init__(
        self,
        backend: TableBackend,
        *,
        plugin: str | None = None,
        init: CallbackScope | None = None,
        thread: int | None = None,
    ) -> None:
        self._backend = backend
        self._plugin = plugin
        self._init = init  # the TablesInput's scope: field management dies with it
        self._thread = thread if thread is not None else get_ident()
        self.name = backend.name
        self.key_type = backend.key_type

    @property
    def thread_safe(self) -> bool:
        """Whether the underlying table is thread-safe (the view is confined regardless)."""
        return self._backend.thread_safe

    @property
    def owner_thread(self) -> int:
        """The thread this view is confined to."""
        return self._thread

    def __repr__(self) -> str:
        return f"<ImportedTable '{self.name}' key={self.key_type.type_name}>"

    # -- checks -----------------------------------------------------------------------------------

    def _check(self, token: Any, cls: type[Token], op: str) -> None:
        tid = get_ident()
        if tid != self._thread:
            raise wrong_thread_error(f"imported table '{self.name}'", self._thread, tid)
        if not isinstance(token, cls):
            raise self._wrong_token(token, cls, op)
        token._use(op)

    def _wrong_token(self, token: Any, cls: type[Token], op: str) -> AccessDeniedError:
        if isinstance(token, Token):
            got = f"a {token.describe()}"
            rule = token.scope.rule
            why = f" ({token.scope.callback}: {rule})" if rule else ""
        else:
            got, why = f"{type(token).__name__} {token!r}", ""
        return AccessDeniedError(
            f"{op} on imported table '{self.name}' needs a {cls.kind}, got {got}{why}"
        )

    def _check_fields(self, op: str) -> None:
        self._check_fields_thread()
        init = self._init
        if init is not None and not init.alive:
            raise AccessDeniedError(
                f"{op} on imported table '{self.name}' needs the TablesInput of plugin "
                f"'{init.plugin}', which died when {init.callback} returned: fields are "
                "resolved or added during init only"
            )

    def _child(self, backend: TableBackend) -> ImportedTable:
        """A nested table reached through one of this view's entries."""
        return ImportedTable(backend, plugin=self._plugin, init=self._init, thread=self._thread)

    # -- entries ----------------------------------------------------------------------------------

    def size(self, reader: TableReader) -> int:
        """The number of entries."""
        self._check(reader, TableReader, "get_table_size")
        return self._backend.size()

    def get_entry(
        self, token: TableReader | TableWriter, key: Any, *, write: bool = False
    ) -> EntryView:
        """A handle on the entry at `key`: read handles need a reader, write handles a writer.

        The handle is released when the token's callback returns, if not before.
        """
        if write:
            self._check(token, TableWriter, "write_entry_field")
        else:
            self._check(token, TableReader, "get_table_entry")
        h = self._backend.get_entry(self, key, write)
        token._scope.track(h)
        return h

    def read(self, reader: TableReader, key: Any) -> EntryView:
        """A read handle on the entry at `key`."""
        return self.get_entry(reader, key)

    def write(self, writer: TableWriter, key: Any) -> EntryView:
        """A write handle on the entry at `key`."""
        return self.get_entry(writer, key, write=True)

    def create_entry(self, writer: TableWriter) -> DetachedView:
        """A new detached entry; attach it with `add_entry`."""
        self._check(writer, TableWriter, "create_table_entry")
        e = self._backend.create_entry(self)
        writer._scope.track(e)
        return e

    def add_entry(
        self, writer: TableWriter, key: Any, entry: DetachedView, *, replace: bool = False
    ) -> bool:
        """Attach `entry` at `key`; True if it replaced one (EntryExistsError unless replace)."""
        self._check(writer, TableWriter, "add_table_entry")
        return self._backend.add_entry(key, entry, replace)

    def erase_entry(self, writer: TableWriter, key: Any) -> None:
        """Remove the entry at `key` (EntryNotFoundError if none)."""
        self._check(writer, TableWriter, "erase_table_entry")
        self._backend.erase_entry(key)

    def clear(self, writer: TableWriter) -> None:
        """Remove every entry."""
        self._check(writer, TableWriter, "clear_table")
        self._backend.clear()

    def iterate(
        self,
        token: TableReader | TableWriter,
        callback: Callable[[EntryView], bool | None],
        *,
        write: bool = False,
    ) -> bool:
        """Call `callback(handle)` per entry in key order until it returns False.

        Returns True if every entry was visited. write=True needs a writer.
        """
        self._check(token, TableWriter if write else TableReader, "iterate_entries")
        return self._backend.iterate(self, callback, write)

    def items(
        self, token: TableReader | TableWriter, *, write: bool = False
    ) -> Iterator[EntryView]:
        """Yield a handle per entry in key order; each is released when the loop moves on."""
        self._check(token, TableWriter if write else TableReader, "iterate_entries")
        walk = self._backend.items(self, write)
        close = getattr(walk, "close", None)
        if close is not None:
            token._scope.on_end(close)  # a walk kept past its callback releases its handle
        return walk

    # -- fields -----------------------------------------------------------------------------------

    def get_field(self, name: str, type: Any) -> Field:
        """The field `name` of exactly type `type` (init only, when imported at init)."""
        self._check_fields(f"get_field '{name}'")
        return self._backend.get_field(name, coerce_state_type(type))

    def add_field(self, name: str, type: Any) -> Field:
        """Add a dynamic field (idempotent for the same name and type; init only)."""
        self._check_fields(f"add_field '{name}'")
        return self._backend.add_field(name, coerce_state_type(type))

    def list_fields(self) -> list[FieldInfo]:
        """Public fields: static in declaration order, then dynamic in the order added."""
        self._check_fields_thread()
        return self._backend.list_fields()

    def _check_fields_thread(self) -> None:
        tid = get_ident()
        if tid != self._thread:
            raise wrong_thread_error(f"imported table '{self.name}'", self._thread, tid)

    def get_nested(self, name: str, key_type: Any) -> NestedFields:
        """The fields of the nested tables in field `name`, whose key type must be `key_type`.

        Resolved from the field's shared registry: no entry is created. Init only.
        """
        self._check_fields(f"get_nested '{name}'")
        return _nested_fields(self, self._backend, self.name, name, key_type)


class NestedFields:
    """The field registry of one nested-table field, shared by all its instances."""

    __slots__ = ("_backend", "_parent", "field")

    def __init__(self, parent: ImportedTable, field: Field, backend: NestedFieldsBackend) -> None:
        self._parent = parent
        self._backend = backend
        self.field = field  # the parent's TABLE field

    @property
    def name(self) -> str:
        return self._backend.name

    @property
    def key_type(self) -> StateType:
        return self._backend.key_type

    def get_field(self, name: str, type: Any) -> Field:
        """A field of the nested tables (init only)."""
        self._parent._check_fields(f"get_field '{self.name}.{name}'")
        return self._backend.get_field(name, coerce_state_type(type))

    def add_field(self, name: str, type: Any) -> Field:
        """Add a dynamic field to every nested table of this family (init only)."""
        self._parent._check_fields(f"add_field '{self.name}.{name}'")
        return self._backend.add_field(name, coerce_state_type(type))

    def list_fields(self) -> list[FieldInfo]:
        """The nested tables' public fields."""
        self._parent._check_fields_thread()
        return self._backend.list_fields()

    def get_nested(self, name: str, key_type: Any) -> NestedFields:
        """The fields of tables nested one level deeper, under field `name` (init only)."""
        self._parent._check_fields(f"get_nested '{self.name}.{name}'")
        return _nested_fields(self._parent, self._backend, self.name, name, key_type)

    def __repr__(self) -> str:
        return f"<NestedFields '{self._parent.name}.{self.name}' key={self.key_type.type_name}>"


def _nested_fields(
    parent: ImportedTable,
    backend: TableBackend | NestedFieldsBackend,
    table: str,
    name: str,
    key_type: Any,
) -> NestedFields:
    """Resolve TABLE field `name` of `backend` and check its nested key type (S7)."""
    field = backend.get_field(name, StateType.TABLE)
    nested = backend.nested(field)
    want = coerce_state_type(key_type)
    if want is not nested.key_type:
        raise KeyTypeMismatchError(f"{table}.{name}", want.type_name, nested.key_type.type_name)
    return NestedFields(parent, field, nested)


# -- the registry ---------------------------------------------------------------------------------


class TableRegistry:
    """Every table a host's plugins exported, by name. One per host; safe across threads."""

    def __init__(self) -> None:
        self._lock = threading.Lock()  # a leaf: held around its dicts only, never with another
        self._tables: dict[str, TableBackend] = {}
        self._owners: dict[str, str | None] = {}

    def export(self, table: Table[Any, Any] | TableBackend, *, owner: str | None = None) -> None:
        """Register `table` under its name (TableExistsError if the name is taken)."""
        backend: TableBackend = LocalBackend(table) if isinstance(table, Table) else table
        with self._lock:
            if backend.name in self._tables:
                raise TableExistsError(backend.name)
            self._tables[backend.name] = backend
            self._owners[backend.name] = owner

    def list_tables(self) -> list[TableInfo]:
        """Every registered table's name and key type, in registration order."""
        with self._lock:
            return [TableInfo(n, b.key_type) for n, b in self._tables.items()]

    def owner_of(self, name: str) -> str | None:
        """The plugin that exported table `name` (None if exported outside a plugin)."""
        with self._lock:
            if name not in self._tables:
                raise TableNotFoundError(name)
            return self._owners[name]

    def get_table(
        self,
        name: str,
        key_type: Any,
        *,
        plugin: str | None = None,
        init: CallbackScope | None = None,
    ) -> ImportedTable:
        """Import `name` with key type `key_type` (checked on every call).

        `init` ties the view's field management to an init scope (TablesInput does this).
        """
        want = coerce_state_type(key_type)
        with self._lock:
            backend = self._tables.get(name)
        if backend is None:
            raise TableNotFoundError(name)
        if want not in KEY_TYPES or want is not backend.key_type:
            raise KeyTypeMismatchError(name, want.type_name, backend.key_type.type_name)
        return ImportedTable(backend, plugin=plugin, init=init)

    def __contains__(self, name: object) -> bool:
        with self._lock:
            return name in self._tables

    def __len__(self) -> int:
        with self._lock:
            return len(self._tables)

    def __repr__(self) -> str:
        return f"<TableRegistry {sorted(self._tables)}>"
