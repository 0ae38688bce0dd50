"""The table registry: every table a host's plugins exported, by name (one per host).

It is the one table directory: Python plugins import through it with a `TablesInput`, and the C
bridge lists, imports and exports through it for native plugins (the ABI's `list_tables`,
`get_table`, `add_table`). An entry is a `TableBackend`: a Python `Table` is registered behind a
`LocalBackend`, a native plugin's table behind the bridge's `NativeBackend`.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .errors import KeyTypeMismatchError, TableExistsError, TableNotFoundError
from .importing.backends import ForwardingBackend, LocalBackend, TableBackend
from .importing.table import ImportedTable
from .plugins.tokens import CallbackScope
from .table import Table
from .types import KEY_TYPES, StateType, coerce_state_type

if TYPE_CHECKING:
    from .cabi.native_table import NativeTable


@dataclass(frozen=True)
class TableInfo:
    """A listing record: what `list_tables` returns (the ABI's `ss_plugin_table_info`)."""

    name: str
    key_type: StateType


class TableRegistry:
    """Every table a host's plugins exported, by name. One per host; safe across threads.

    `TableRegistry(*tables)` exports `tables` at once, with no owner.
    """

    def __init__(self, *tables: Table[Any, Any]) -> None:
        self._lock = threading.Lock()  # a leaf: held around its dicts only, never with another
        self._tables: dict[str, TableBackend] = {}
        self._owners: dict[str, str | None] = {}
        for t in tables:
            self.export(t)

    def export(self, table: Table[Any, Any] | TableBackend, *, owner: str | None = None) -> None:
        """Register `table` under its name (TableExistsError if the name is taken).

        `owner`: the plugin exporting it (a Python plugin's name, or a native plugin's for the
        tables it adds with `add_table`).
        """
        backend: TableBackend = LocalBackend(table) if isinstance(table, Table) else table
        with self._lock:
            if backend.name in self._tables:
                raise TableExistsError(backend.name)
            self._tables[backend.name] = backend
            self._owners[backend.name] = owner
        if isinstance(table, Table) and owner is not None and table.exporter is None:
            table.exporter = owner  # other plugins' host threads may not touch it directly

    def unexport(self, name: str) -> None:
        """Unregister table `name` (its plugin is gone); TableNotFoundError if unknown."""
        with self._lock:
            if self._tables.pop(name, None) is None:
                raise TableNotFoundError(name)
            del self._owners[name]

    def unexport_owned(self, owner: str) -> list[str]:
        """Unregister every table `owner` exported; returns their names."""
        with self._lock:
            names = [n for n, o in self._owners.items() if o == owner]
            for n in names:
                del self._tables[n], self._owners[n]
            return names

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

    def find(self, name: str) -> Table[Any, Any] | NativeTable | None:
        """The table registered as `name`: the `Table` or native plugin's `NativeTable` itself.

        None if no table has that name, or if its backend stands for no such table object. This
        is the owner's view, with no tokens or access rules: the C bridge serves native plugins
        with it; Python plugins import with `get_table`.
        """
        with self._lock:
            backend = self._tables.get(name)
        if isinstance(backend, ForwardingBackend):
            table: Table[Any, Any] | NativeTable = backend.table
            return table
        return None

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
