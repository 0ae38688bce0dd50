"""`ImportedTable`: an importer's view of a table, and `NestedFields`.

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

The table behind a view is a `TableBackend` (see `backends`): `LocalBackend` for a Python
`Table`, the C bridge's `NativeBackend` for a native plugin's table.
"""

from __future__ import annotations

import builtins
from collections.abc import Callable, Iterator
from threading import get_ident
from typing import Any, TypeVar, overload

from ..errors import AccessDeniedError, KeyTypeMismatchError
from ..fields import Field, FieldInfo
from ..handles import ApiRules
from ..plugins.tokens import CallbackScope, TableReader, TableWriter, Token
from ..roles import wrong_thread_error
from ..table import Table
from ..types import StateType, coerce_state_type
from .backends import DetachedView, EntryView, LocalBackend, NestedFieldsBackend, TableBackend

# -- the importer's view --------------------------------------------------------------------------

V = TypeVar("V")


class ImportedTable(ApiRules):
    """An importer's view of a table: token-gated, API rules, confined to the importing thread.

    As the `view` of the handles it hands out, it applies the table API's rules to them and
    returns nested tables read through them as imported views.
    """

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

    # -- ApiRules: what the handles it hands out do ---------------------------------------------

    def nested(self, table: Table[Any, Any]) -> ImportedTable:
        return self._child(LocalBackend(table))

    def write_denied(self, table: str, key: Any, field: str) -> Exception:
        return AccessDeniedError(
            f"cannot write field '{field}' of entry {key!r} in imported table '{table}' "
            "through a read handle: writes need a write handle, taken with a TableWriter "
            "(get_entry(writer, key, write=True))"
        )

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

    @overload
    def get_field(self, name: str, type: builtins.type[V]) -> Field[V]: ...
    @overload
    def get_field(self, name: str, type: StateType | int) -> Field: ...
    def get_field(self, name: str, type: Any) -> Field:
        """The field `name` of exactly type `type` (init only, when imported at init)."""
        self._check_fields(f"get_field '{name}'")
        return self._backend.get_field(name, coerce_state_type(type))

    @overload
    def add_field(self, name: str, type: builtins.type[V]) -> Field[V]: ...
    @overload
    def add_field(self, name: str, type: StateType | int) -> Field: ...
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
