"""Table operations for scenario code, whoever runs it: `api.read(api["threads"], tid)`.

The main thread's halves of a scenario (`Scenario.parse`, `Scenario.extract`) never call table
methods themselves: they go through an `Api`, so that the same code runs on raw tables (the
threads driver) and through the plugin API with the tokens of the running callback (the host
driver).

- `OwnerApi`: the owner's raw tables (`Table`). `writable=False` refuses every change with
  AccessDeniedError: the threads driver's stand-in for the extract phase's read-only rule.
- `TokenApi`: imported views (`ImportedTable`) and the current callback's tokens. The host
  driver rebinds `reader` / `writer` at every callback (tokens die when it returns); the table
  API itself refuses what the tokens do not allow.

A nested table reached through a handle is whatever that handle hands out (a `Table` from a
raw handle, an `ImportedTable` from an imported one): pass it back to the same api.
Background workers (the owner plugin's own threads) use the raw tables, through `OwnerApi`.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any, Protocol

from concurrent_tables import ImportedTable, Table, TableReader, TableWriter
from concurrent_tables.errors import AccessDeniedError
from concurrent_tables.importing.backends import DetachedView, EntryView


class Api(Protocol):
    """What scenario code may do with tables; `api[name]` is the table to pass to the rest."""

    def __getitem__(self, name: str) -> Any: ...
    def read(self, table: Any, key: Any) -> EntryView: ...
    def write(self, table: Any, key: Any) -> EntryView: ...
    def items(self, table: Any, *, write: bool = False) -> Iterator[EntryView]: ...
    def size(self, table: Any) -> int: ...
    def create(self, table: Any) -> DetachedView: ...
    def add(self, table: Any, key: Any, entry: Any, *, replace: bool = False) -> bool: ...
    def erase(self, table: Any, key: Any) -> None: ...
    def clear(self, table: Any) -> None: ...


class OwnerApi:
    """The owner's raw tables, by name; `writable=False` makes it read only."""

    __slots__ = ("_tables", "writable")

    def __init__(self, tables: Mapping[str, Table[Any, Any]], *, writable: bool = True) -> None:
        self._tables = tables  # a live mapping: tables made later are visible
        self.writable = writable

    def __getitem__(self, name: str) -> Table[Any, Any]:
        return self._tables[name]

    def _deny(self, op: str) -> AccessDeniedError:
        return AccessDeniedError(f"{op} through a read-only api: the extract phase is read only")

    def read(self, table: Table[Any, Any], key: Any) -> EntryView:
        return table.read(key)

    def write(self, table: Table[Any, Any], key: Any) -> EntryView:
        if not self.writable:
            raise self._deny("write_entry_field")
        return table.write(key)

    def items(self, table: Table[Any, Any], *, write: bool = False) -> Iterator[EntryView]:
        if write and not self.writable:
            raise self._deny("iterate_entries(write=True)")
        return table.items(write=write)

    def size(self, table: Table[Any, Any]) -> int:
        return len(table)

    def create(self, table: Table[Any, Any]) -> DetachedView:
        if not self.writable:
            raise self._deny("create_table_entry")
        return table.create_entry()

    def add(self, table: Table[Any, Any], key: Any, entry: Any, *, replace: bool = False) -> bool:
        if not self.writable:
            raise self._deny("add_table_entry")
        return table.add_entry(key, entry, replace=replace)

    def erase(self, table: Table[Any, Any], key: Any) -> None:
        if not self.writable:
            raise self._deny("erase_table_entry")
        table.erase_entry(key)

    def clear(self, table: Table[Any, Any]) -> None:
        if not self.writable:
            raise self._deny("clear_table")
        table.clear()


class TokenApi:
    """Imported views by name, used with the tokens of the callback that runs now.

    `writer` is what changes are made with: a TableWriter in parse; in extract, the host hands
    out no writer, so the extract api uses its reader there too and the table API denies the
    change ("needs a TableWriter, got a TableReader ... extract: read only").
    """

    __slots__ = ("_views", "reader", "writer")

    def __init__(self, views: Mapping[str, ImportedTable]) -> None:
        self._views = dict(views)
        # Typed Any: the views check the tokens' kind themselves, and deny with the rule.
        self.reader: Any = None
        self.writer: Any = None

    def bind(self, reader: TableReader, writer: TableWriter | TableReader) -> None:
        """The tokens of the callback about to run scenario code."""
        self.reader = reader
        self.writer = writer

    def __getitem__(self, name: str) -> ImportedTable:
        return self._views[name]

    def read(self, table: ImportedTable, key: Any) -> EntryView:
        return table.get_entry(self.reader, key)

    def write(self, table: ImportedTable, key: Any) -> EntryView:
        return table.get_entry(self.writer, key, write=True)

    def items(self, table: ImportedTable, *, write: bool = False) -> Iterator[EntryView]:
        return table.items(self.writer if write else self.reader, write=write)

    def size(self, table: ImportedTable) -> int:
        return table.size(self.reader)

    def create(self, table: ImportedTable) -> DetachedView:
        return table.create_entry(self.writer)

    def add(self, table: ImportedTable, key: Any, entry: Any, *, replace: bool = False) -> bool:
        return table.add_entry(self.writer, key, entry, replace=replace)

    def erase(self, table: ImportedTable, key: Any) -> None:
        table.erase_entry(self.writer, key)

    def clear(self, table: ImportedTable) -> None:
        table.clear(self.writer)
