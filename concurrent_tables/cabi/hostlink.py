"""Native plugins and native tables inside the Python plugin host (`PluginHost`).

- `RegistryDirectory`: a host's `TableRegistry` as the native registry callbacks see it, so
  native and Python plugins share one registry: native plugins import Python plugins' tables
  and the host's, and the tables they export are registered there.
- `NativeBackend`: the `TableBackend` of an `ImportedTable` whose table a native plugin owns, so
  a Python plugin imports a native table exactly like any other (tokens, the read-only rule,
  confinement to the importing thread, nested tables as imported views).
- `load_native_plugin(path)`: a `Plugin` for the host whose capabilities are the native
  plugin's (parse, extract, capture listen). The host runs it like its Python plugins; what it
  may do with tables in each callback is the access matrix, enforced by the owner side.

    host = PluginHost([load_native_plugin("libparse.so", config="..."), MyExtractor()])
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from ..errors import PluginError
from ..fields import Field, FieldInfo
from ..importing.backends import ForwardingBackend, LocalBackend, NestedFieldsBackend
from ..registry import TableRegistry
from ..table import Table
from ..types import StateType
from .native_table import NativeDetachedEntry, NativeEntryHandle, NativeField, NativeTable

if TYPE_CHECKING:
    from ..importing.backends import DetachedView, EntryView
    from ..importing.table import ImportedTable


class RegistryDirectory:
    """A `TableRegistry` as a `TableDirectory` (the C registry callbacks' view of the host)."""

    def __init__(self, registry: TableRegistry) -> None:
        self.registry = registry

    def names(self) -> list[tuple[str, StateType]]:
        return [(i.name, i.key_type) for i in self.registry.list_tables()]

    def find(self, name: str) -> Table[Any, Any] | NativeTable | None:
        for info in self.registry.list_tables():
            if info.name == name:
                backend = self.registry.get_table(name, info.key_type)._backend
                if isinstance(backend, LocalBackend):
                    return backend.table
                if isinstance(backend, NativeBackend):
                    return backend.table
                return None  # a kind of table the bridge cannot hand to C
        return None

    def add_native(self, table: NativeTable, owner: str) -> None:
        self.registry.export(NativeBackend(table), owner=owner)

    def remove_native(self, table: NativeTable) -> None:
        if self.find(table.name) is table:
            self.registry.unexport(table.name)


# -- a native table behind an ImportedTable -------------------------------------------------------


def _wrapper(view: ImportedTable) -> Callable[[NativeTable], Any]:
    """Show nested native tables as imported views, children of `view`."""
    return lambda nested: view._child(NativeBackend(nested))


class NativeBackend(ForwardingBackend):
    """The `TableBackend` of a native plugin's table."""

    __slots__ = ()
    table: NativeTable

    @property
    def thread_safe(self) -> bool:
        return False

    def size(self) -> int:
        return self.table.size()

    def get_entry(self, view: ImportedTable, key: Any, write: bool) -> EntryView:
        return self.table.get_entry(key, write=write, wrap=_wrapper(view))

    def create_entry(self, view: ImportedTable) -> DetachedView:
        return self.table.create_entry(wrap=_wrapper(view))

    def add_entry(self, key: Any, entry: DetachedView, replace: bool) -> bool:
        if not isinstance(entry, NativeDetachedEntry):
            raise PluginError(
                f"add_entry on native table '{self.name}': the entry was not created by it"
            )
        return self.table.add_entry(key, entry, replace=replace)

    def iterate(
        self, view: ImportedTable, callback: Callable[[EntryView], bool | None], write: bool
    ) -> bool:
        return self.table.iterate(callback, write=write, wrap=_wrapper(view))

    def items(self, view: ImportedTable, write: bool) -> Iterator[EntryView]:
        return self.table.items(write=write)  # raises: native entries live in their walk only

    def nested(self, field: Field) -> NestedFieldsBackend:
        return _NativeNested(self.table, (_native_field(self.table, field),))


def _native_field(table: NativeTable, field: Field) -> NativeField:
    if not isinstance(field, NativeField) or field.type is not StateType.TABLE:
        raise PluginError(f"'{field.name}' is not a table field of native table '{table.name}'")
    return field


class _NativeNested:
    """The fields of the native tables under one TABLE field path.

    The ABI reaches a nested table only through an entry, so each operation walks the path
    through temporary detached entries (created, read, destroyed), as the SDKs do at init. The
    accessors it returns work on every nested table of that field.
    """

    def __init__(self, top: NativeTable, path: tuple[NativeField, ...]) -> None:
        self._top = top
        self._path = path
        self._name, self._key_type = self._walk(lambda t: (t.name, t.key_type))

    def _walk(self, fn: Callable[[NativeTable], Any]) -> Any:
        made: list[NativeDetachedEntry] = []
        try:
            table = self._top
            for f in self._path:
                e = table.create_entry()
                made.append(e)
                nested = e[f]
                assert isinstance(nested, NativeTable)
                table = nested
            return fn(table)
        finally:
            for e in reversed(made):
                e.destroy()

    @property
    def name(self) -> str:
        return str(self._name)

    @property
    def key_type(self) -> StateType:
        kt: StateType = self._key_type
        return kt

    def get_field(self, name: str, type: StateType) -> Field:
        f: Field = self._walk(lambda t: t.get_field(name, type))
        return f

    def add_field(self, name: str, type: StateType) -> Field:
        f: Field = self._walk(lambda t: t.add_field(name, type))
        return f

    def list_fields(self) -> list[FieldInfo]:
        fields: list[FieldInfo] = self._walk(lambda t: t.list_fields())
        return fields

    def nested(self, field: Field) -> NestedFieldsBackend:
        return _NativeNested(self._top, (*self._path, _native_field(self._top, field)))


# -- a native plugin in the host: see adapters.py ------------------------------------------------

from .adapters import NativePluginAdapter, load_native_plugin  # noqa: E402

__all__ = [
    "NativeBackend",
    "NativeEntryHandle",
    "NativePluginAdapter",
    "RegistryDirectory",
    "load_native_plugin",
]
