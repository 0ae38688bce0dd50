"""The tables a native plugin can list, import and export: the host's directory of tables.

`list_tables` / `get_table` / `add_table` (the init-time registry of the ABI) go through a
`TableDirectory`. `LocalDirectory` is a plain one, for running native plugins without the
Python plugin host; `concurrent_tables.cabi.hostlink` adapts the host's `TableRegistry`.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any, Protocol

from ..errors import TableExistsError
from ..table import Table
from ..types import StateType

if TYPE_CHECKING:
    from .native_table import NativeTable


class TableDirectory(Protocol):
    """The host's tables, as the C registry callbacks need them."""

    def names(self) -> list[tuple[str, StateType]]:
        """Every table's name and key type, in registration order."""
        ...

    def find(self, name: str) -> Table[Any, Any] | NativeTable | None:
        """The table registered as `name`, or None."""
        ...

    def add_native(self, table: NativeTable, owner: str) -> None:
        """Register a native plugin's table (TableExistsError if the name is taken)."""
        ...

    def remove_native(self, table: NativeTable) -> None:
        """Unregister a native plugin's table (its plugin is gone); no error if absent."""
        ...


class LocalDirectory:
    """A thread-safe name -> table map: Python tables you add, native tables plugins add."""

    def __init__(self, *tables: Table[Any, Any]) -> None:
        self._lock = threading.Lock()
        self._tables: dict[str, Table[Any, Any] | NativeTable] = {}
        self._owners: dict[str, str | None] = {}
        for t in tables:
            self.add(t)

    def add(self, table: Table[Any, Any], owner: str | None = None) -> Table[Any, Any]:
        """Register a Python table under its name; returns it."""
        self._put(table.name, table, owner)
        return table

    def _put(self, name: str, table: Table[Any, Any] | NativeTable, owner: str | None) -> None:
        with self._lock:
            if name in self._tables:
                raise TableExistsError(name)
            self._tables[name] = table
            self._owners[name] = owner

    def add_native(self, table: NativeTable, owner: str) -> None:
        self._put(table.name, table, owner)

    def remove_native(self, table: NativeTable) -> None:
        with self._lock:
            if self._tables.get(table.name) is table:
                del self._tables[table.name], self._owners[table.name]

    def names(self) -> list[tuple[str, StateType]]:
        with self._lock:
            return [(n, t.key_type) for n, t in self._tables.items()]

    def find(self, name: str) -> Table[Any, Any] | NativeTable | None:
        with self._lock:
            return self._tables.get(name)

    def owner_of(self, name: str) -> str | None:
        with self._lock:
            return self._owners.get(name)

    def __getitem__(self, name: str) -> Table[Any, Any] | NativeTable:
        t = self.find(name)
        if t is None:
            raise KeyError(name)
        return t

    def __contains__(self, name: object) -> bool:
        with self._lock:
            return name in self._tables
