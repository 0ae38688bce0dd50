"""concurrent_tables: Falco-style plugin state tables, safe across threads."""

import importlib
from typing import TYPE_CHECKING, Any

from .errors import (
    AccessDeniedError,
    BorrowError,
    ConcurrencyError,
    EntryExistsError,
    EntryNotFoundError,
    FieldDefinitionError,
    FieldError,
    FieldNotFoundError,
    FieldTypeMismatchError,
    ForeignEntryError,
    ForeignFieldError,
    HandleError,
    InvalidKeyError,
    InvalidValueError,
    KeyTypeMismatchError,
    LockTimeoutError,
    PluginError,
    ReadOnlyFieldError,
    ReadOnlyHandleError,
    ReentrancyError,
    StaleHandleError,
    TableExistsError,
    TableNotFoundError,
    TablesError,
    ThreadAccessDeniedError,
    WrongThreadError,
)
from .falco import add_thread, threads_table
from .fields import Field, FieldInfo
from .handles import DetachedEntry, EntryHandle
from .importing.backends import DetachedView, EntryView, LocalBackend, TableBackend
from .importing.declarations import (
    Custom,
    ImportDeclarationError,
    Imported,
    ImportedNested,
    TableImport,
    api_name,
)
from .importing.table import ImportedTable, NestedFields
from .locking import LockStatistics
from .plugins.access import Capability
from .plugins.background import BackgroundError, BackgroundTask
from .plugins.base import (
    AsyncContext,
    AsyncPlugin,
    CaptureListenInput,
    Event,
    ExtractPlugin,
    ExtractRequest,
    ListenPlugin,
    ParsePlugin,
    Plugin,
    SourcePlugin,
)
from .plugins.host import EventResult, PluginHost
from .plugins.tokens import (
    CallbackScope,
    TableReader,
    TablesInput,
    TableWriter,
    ValidatedTableReader,
    ValidatedTableWriter,
)
from .registry import TableInfo, TableRegistry
from .roles import ThreadRole
from .schema import EntrySchema, NestedTable, Private, ReadOnly, SchemaError, factory
from .table import DEFAULT_TIMEOUT, Table
from .types import I8, I16, I32, I64, U8, U16, U32, U64, Bool, StateType, String

if TYPE_CHECKING:
    from .cabi import NativeTable, bench_native_read
    from .cabi.hostlink import load_native_plugin

# The C bridge loads its compiled cffi module and binds its callbacks on first use only.
_NATIVE = {
    "NativeTable": ".cabi",
    "bench_native_read": ".cabi",
    "load_native_plugin": ".cabi.hostlink",
}


def __getattr__(name: str) -> Any:
    module = _NATIVE.get(name)
    if module is None:
        raise AttributeError(f"module 'concurrent_tables' has no attribute '{name}'")
    return getattr(importlib.import_module(module, __name__), name)


__all__ = [
    "DEFAULT_TIMEOUT",
    "I8",
    "I16",
    "I32",
    "I64",
    "U8",
    "U16",
    "U32",
    "U64",
    "AccessDeniedError",
    "AsyncContext",
    "AsyncPlugin",
    "BackgroundError",
    "BackgroundTask",
    "Bool",
    "BorrowError",
    "CallbackScope",
    "Capability",
    "CaptureListenInput",
    "ConcurrencyError",
    "Custom",
    "DetachedEntry",
    "DetachedView",
    "EntryExistsError",
    "EntryHandle",
    "EntryNotFoundError",
    "EntrySchema",
    "EntryView",
    "Event",
    "EventResult",
    "ExtractPlugin",
    "ExtractRequest",
    "Field",
    "FieldDefinitionError",
    "FieldError",
    "FieldInfo",
    "FieldNotFoundError",
    "FieldTypeMismatchError",
    "ForeignEntryError",
    "ForeignFieldError",
    "HandleError",
    "ImportDeclarationError",
    "Imported",
    "ImportedNested",
    "ImportedTable",
    "InvalidKeyError",
    "InvalidValueError",
    "KeyTypeMismatchError",
    "ListenPlugin",
    "LocalBackend",
    "LockStatistics",
    "LockTimeoutError",
    "NativeTable",
    "NestedFields",
    "NestedTable",
    "ParsePlugin",
    "Plugin",
    "PluginError",
    "PluginHost",
    "Private",
    "ReadOnly",
    "ReadOnlyFieldError",
    "ReadOnlyHandleError",
    "ReentrancyError",
    "SchemaError",
    "SourcePlugin",
    "StaleHandleError",
    "StateType",
    "String",
    "Table",
    "TableBackend",
    "TableExistsError",
    "TableImport",
    "TableInfo",
    "TableNotFoundError",
    "TableReader",
    "TableRegistry",
    "TableWriter",
    "TablesError",
    "TablesInput",
    "ThreadAccessDeniedError",
    "ThreadRole",
    "ValidatedTableReader",
    "ValidatedTableWriter",
    "WrongThreadError",
    "add_thread",
    "api_name",
    "bench_native_read",
    "factory",
    "load_native_plugin",
    "threads_table",
]
