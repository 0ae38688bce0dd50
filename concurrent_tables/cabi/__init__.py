"""The cffi bridge between Python tables and Falco's C table ABI (plugin API 3.12).

Both directions:
- **owner side**: Python `Table`s served to native plugins through the ABI's vtables
  (`exported`, `owner`, `pins`, `session`), found in the host's `TableRegistry`;
- **importer side**: tables a native plugin registers with `add_table`, used from Python
  (`native_table`; `native_backend` behind an `ImportedTable`);
- **loading**: a plugin `.so` (`loader`), and as a `Plugin` of `PluginHost` (`plugin_adapter`).

See docs/c-abi.md for the user guide.
"""

from __future__ import annotations

from . import owner as _owner  # noqa: F401  (binds the owner callbacks)
from .bench import bench_native_read
from .context import current_session, last_error
from .exported import forget, table_input
from .externs import install
from .native_table import (
    NativeDetachedEntry,
    NativeEntryHandle,
    NativeField,
    NativeTable,
    native_error,
)
from .pins import PINS
from .session import LogRecord, PluginSession

__all__ = [
    "PINS",
    "LogRecord",
    "NativeDetachedEntry",
    "NativeEntryHandle",
    "NativeField",
    "NativeTable",
    "PluginSession",
    "bench_native_read",
    "current_session",
    "forget",
    "install",
    "last_error",
    "native_error",
    "table_input",
]
