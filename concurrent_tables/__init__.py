"""concurrent_tables: Falco-style plugin state tables, safe across threads.

The public API, by concept (everything else is reachable from its submodule):

- tables: `Table`, schemas (`EntrySchema`, `ReadOnly`, `Private`, `NestedTable`), state types
  (`StateType`, `I8` ... `U64`, `Bool`, `String`), fields (`Field`, `FieldInfo`), entry
  handles (`EntryHandle`, `WriteHandle`, `DetachedEntry`), `TABLE_TIMEOUT`, `LockStatistics`,
  `lock_backend()` (which table core runs: "c" or "python");
- importing: `TableRegistry` (the one table directory), `ImportedTable` (an importer's view),
  typed import declarations (`TableImport`, `Imported`, `ImportedNested`, `Custom`);
- plugins: `PluginHost`, the plugin base classes, `Capability`, `Event`, and the tokens a
  callback gets (`TablesInput`, `TableReader`, `TableWriter`);
- errors: `TablesError`, the base of every error the library raises (the hierarchy is in
  `concurrent_tables.errors`);
- the C bridge, loaded on first use: `load_native_plugin`, `NativeTable`.
"""

import importlib
import importlib.metadata
from typing import TYPE_CHECKING, Any

from .backend import lock_backend
from .errors import TablesError
from .fields import Field, FieldInfo
from .handles import DetachedEntry, EntryHandle, WriteHandle
from .importing.declarations import Custom, Imported, ImportedNested, TableImport
from .importing.table import ImportedTable
from .locking import LockStatistics
from .plugins.access import Capability
from .plugins.base import (
    AsyncPlugin,
    Event,
    ExtractPlugin,
    ListenPlugin,
    ParsePlugin,
    Plugin,
    SourcePlugin,
)
from .plugins.host import PluginHost
from .plugins.tokens import TableReader, TablesInput, TableWriter
from .registry import TableRegistry
from .schema import EntrySchema, NestedTable, Private, ReadOnly
from .table import TABLE_TIMEOUT, Table
from .types import I8, I16, I32, I64, U8, U16, U32, U64, Bool, StateType, String

if TYPE_CHECKING:
    from .cabi import NativeTable
    from .cabi.plugin_adapter import load_native_plugin

__version__: str = importlib.metadata.version(__name__)

# The C bridge loads its compiled cffi module and binds its callbacks on first use only.
_NATIVE = {
    "NativeTable": ".cabi",
    "load_native_plugin": ".cabi.plugin_adapter",
}


def __getattr__(name: str) -> Any:
    module = _NATIVE.get(name)
    if module is None:
        raise AttributeError(f"module 'concurrent_tables' has no attribute '{name}'")
    return getattr(importlib.import_module(module, __name__), name)


__all__ = [  # noqa: RUF022  (grouped by concept, as the docstring lists them)
    # tables
    "Table",
    "EntrySchema",
    "ReadOnly",
    "Private",
    "NestedTable",
    "StateType",
    "I8",
    "I16",
    "I32",
    "I64",
    "U8",
    "U16",
    "U32",
    "U64",
    "Bool",
    "String",
    "Field",
    "FieldInfo",
    "EntryHandle",
    "WriteHandle",
    "DetachedEntry",
    "TABLE_TIMEOUT",
    "LockStatistics",
    "lock_backend",
    # importing
    "TableRegistry",
    "ImportedTable",
    "TableImport",
    "Imported",
    "ImportedNested",
    "Custom",
    # plugins
    "PluginHost",
    "Plugin",
    "SourcePlugin",
    "ParsePlugin",
    "ExtractPlugin",
    "ListenPlugin",
    "AsyncPlugin",
    "Capability",
    "Event",
    "TablesInput",
    "TableReader",
    "TableWriter",
    # errors
    "TablesError",
    # the C bridge (loaded on first use)
    "NativeTable",
    "load_native_plugin",
]
