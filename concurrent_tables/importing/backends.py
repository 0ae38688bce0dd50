"""What stands behind an importer's view: the backend protocol and the Python `Table` backend.

An `ImportedTable` forwards every operation to a `TableBackend` once its token and thread checks
pass. `LocalBackend` serves a Python `Table` (its own domain and locks do the work); the C
bridge's `NativeBackend` serves a native plugin's table. The entry handles a `LocalBackend`
hands out are the API handles (read-only fields refused, private fields hidden) whose nested
tables come back as imported views.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any, Protocol

from ..errors import (
    EntryNotFoundError,
    FieldTypeMismatchError,
    ForeignEntryError,
)
from ..fields import Field, FieldInfo, FieldRegistry
from ..handles import ANY_DETACHED, apply_view
from ..table import Table
from ..types import StateType

if TYPE_CHECKING:
    from .table import ImportedTable


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
        t = self.table
        h = t.write(key) if write else t.read(key)
        apply_view(h, view)
        return h

    def create_entry(self, view: ImportedTable) -> DetachedView:
        return self.table.create_entry(view)

    def add_entry(self, key: Any, entry: DetachedView, replace: bool) -> bool:
        if not isinstance(entry, ANY_DETACHED) or entry.view is None:
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
        t = self.table
        get = t.write if write else t.read
        for key in t.keys():
            try:
                h = get(key)
            except EntryNotFoundError:
                continue  # erased since the snapshot
            apply_view(h, view)
            try:
                yield h
            finally:
                h.release()

    def nested(self, field: Field) -> NestedFieldsBackend:
        return _local_nested(self.table.name, field)
