"""A native plugin's table behind an `ImportedTable`: the importer side's backend.

`NativeBackend` is the `TableBackend` of a table a native plugin registered with `add_table`, so
a Python plugin imports a native table exactly like any other (tokens, the read-only rule,
confinement to the importing thread, nested tables as imported views). The table registry holds
it for every table a native plugin exports.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from ..errors import PluginError
from ..fields import Field, FieldInfo
from ..importing.backends import ForwardingBackend, NestedFieldsBackend
from ..types import StateType
from .native_table import NativeDetachedEntry, NativeField, NativeTable

if TYPE_CHECKING:
    from ..importing.backends import DetachedView, EntryView
    from ..importing.table import ImportedTable


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


__all__ = ["NativeBackend"]
