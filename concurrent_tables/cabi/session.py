"""One native plugin as the host's owner side sees it: its session.

A `PluginSession` is the plugin's `owner` cookie (its id, passed as a pointer), and carries what
libsinsp keeps per plugin: the last error, the entries it acquired, the detached entries it
created, its pool of nested-table handles, the strings it read, its `list_tables` array.

While the host runs one of the plugin's callbacks, the session is the *current plugin* of that
thread (context.py) and its phase decides what the plugin may do (the access matrix):

    phase              grants (`plugins.access.PHASES`, the one matrix)
    init               tables and fields (list/get/add), reader, writer: parse/extract/listen
                       plugins; other plugins get the same `tables` input, and no access
    parse_event        reader and writer
    extract_fields     reader only
    capture_open/close reader and writer (no fields, no tables)

Calls made outside the phase's grant fail with an access error as the owner error. After init,
parse_event and extract_fields the session's acquired entries, detached entries and nested
handles are dropped (`cleanup`); capture open/close skip that, as libsinsp does. Strings read
during any callback stay valid until it returns.

The registry callbacks of the init input (`list_tables`, `get_table`, `add_table`) and the owner
services (`get_owner_last_error`, `log_fn`) are implemented here.
"""

from __future__ import annotations

import itertools
import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

from .._abi import ffi, lib
from ..errors import AccessDeniedError, KeyTypeMismatchError
from ..plugins.access import NO_ACCESS, PHASES, PhaseAccess
from ..table import Table
from ..types import KEY_TYPES
from . import fastread, pins
from .context import _tls, swap_session
from .convert import c_string
from .exported import SlotPool, StableSlots, plugin_table_input, retire_handles
from .externs import extern, ignore_error, install
from .messages import known_type
from .native_backend import NativeBackend
from .native_table import NativeTable, import_plugin_table

if TYPE_CHECKING:
    from ..registry import TableRegistry

_ids = itertools.count(1)
#: session id (the owner cookie) -> session
SESSIONS: dict[int, PluginSession] = {}
_log = logging.getLogger("concurrent_tables.native")

_SEVERITY: Final = {
    1: logging.CRITICAL,
    2: logging.CRITICAL,
    3: logging.ERROR,
    4: logging.WARNING,
    5: logging.INFO,
    6: logging.INFO,
    7: logging.DEBUG,
    8: logging.DEBUG,
}


@dataclass(frozen=True)
class LogRecord:
    """One message a plugin logged through `log_fn`."""

    component: str | None  # None: the plugin itself
    message: str
    severity: int  # the ABI's ss_plugin_log_severity (1 fatal .. 8 trace)


class PluginSession:
    """The host-side state of one native plugin (see the module docstring)."""

    def __init__(self, name: str, registry: TableRegistry, *, api_minor: int = 12) -> None:
        install()  # our callbacks, whatever else bound them in this process
        self.id = next(_ids)
        self.name = name
        self.registry = registry  # where its list_tables, get_table and add_table go
        self.api_minor = api_minor
        self.owner = lib.ct_owner_cookie(self.id)
        self.phase: str | None = None
        self.grants: frozenset[str] = frozenset()  # the operations the phase allows
        #: for the C core's native reads and writes (fastread.py): item 0 has the bits of the
        #: grants it serves (`fastread.gate_bits`); the strs it read and let go of during a
        #: callback follow
        self.gate: list[Any] = [0]
        self.rule = ""
        self.last_error: Any = None
        self.acquired: set[int] = set()
        self.detached: set[int] = set()
        self.pool = SlotPool()
        self.strings: dict[str, Any] = {}
        self.logs: list[LogRecord] = []
        #: tables this plugin registered with add_table
        self.exported: list[NativeTable] = []
        #: the plugin's plugin_get_last_error (a cdata function pointer), for its tables
        self.get_last_error_fn: Any = ffi.NULL
        self._infos: Any = None
        self._names: dict[str, Any] = {}
        #: its get_table handles on Python tables: table -> (id, input)
        self._handles: dict[Table[Any, Any], tuple[int, Any]] = {}
        SESSIONS[self.id] = self

    @contextmanager
    def calling(
        self, phase: str, *, access: bool = True, row: PhaseAccess | None = None
    ) -> Iterator[PluginSession]:
        """Run one callback of this plugin: current plugin of this thread, grants of `phase`.

        access=False: the plugin has no table capability, nothing is granted. `row`: other
        grants for this call (an async-only plugin's init exports only).
        """
        cleanup = PHASES[phase].cleanup
        if row is None:
            row = PHASES[phase] if access else NO_ACCESS
        prev = swap_session(self)
        self.phase, self.grants, self.rule = phase, row.ops, row.rule
        self.gate[0] = fastread.gate_bits(row.ops)
        try:
            yield self
        finally:
            self.gate[0] = 0
            self.phase, self.grants = None, frozenset()
            swap_session(prev)
            if cleanup:
                self.cleanup(f"{phase} of plugin '{self.name}' returned")
            self.strings = {}
            del self.gate[1:]

    def cleanup(self, why: str = "the callback returned") -> None:
        """Drop acquired entries, destroy detached ones, invalidate nested-table handles."""
        pins.drop_session_pins(self, f"destroyed when {why}")
        self.pool.reset()

    @property
    def error_text(self) -> str | None:
        """This plugin's last owner error."""
        c = self.last_error
        return None if c is None else str(ffi.string(c).decode("utf-8", "replace"))

    def table_handle(self, table: Table[Any, Any]) -> Any:
        """This plugin's own handle on a Python table (made by its first get_table)."""
        got = self._handles.get(table)
        if got is None:
            got = self._handles[table] = plugin_table_input(table)
        return got[1]

    def close(self) -> None:
        """Forget the session (after plugin_destroy): its owner cookie becomes unknown, and its
        table handles fail from then on (a plugin thread still calling gets errors)."""
        retire_handles(list(self._handles.values()), f"plugin '{self.name}' was destroyed")
        self._handles.clear()
        self.cleanup("the plugin was destroyed")
        SESSIONS.pop(self.id, None)

    def __repr__(self) -> str:
        return f"<PluginSession {self.id} '{self.name}' phase={self.phase}>"


def access_error(s: PluginSession, op: str) -> AccessDeniedError:
    return AccessDeniedError(
        f"access denied: plugin '{s.name}' cannot {op} during {s.phase} ({s.rule})"
    )


def orphan_pool() -> StableSlots:
    """Nested-table handles of a thread running no plugin callback (a plugin's own thread)."""
    pool: StableSlots | None = getattr(_tls, "pool", None)
    if pool is None:
        pool = _tls.pool = StableSlots()
    return pool


def _session(o: int) -> PluginSession:
    s = SESSIONS.get(o)
    if s is None:
        raise AccessDeniedError(f"unknown owner (id {o}): not a plugin of this host")
    return s


def _registry_access(s: PluginSession, op: str) -> None:
    if getattr(_tls, "session", None) is not s:
        # Judged by the calling thread, not by whatever the plugin is doing elsewhere: a
        # plugin's own thread runs none of its callbacks, even while its init runs.
        th = threading.current_thread()
        raise AccessDeniedError(
            f"access denied: plugin '{s.name}' cannot {op} from thread '{th.name}' "
            f"(id {th.ident}), which is running none of its callbacks: tables are listed, "
            "imported and added during init only"
        )
    if op not in s.grants:
        if s.phase is None:
            raise AccessDeniedError(
                f"access denied: plugin '{s.name}' cannot {op} outside its init: "
                "tables are listed, imported and added during init only"
            )
        raise access_error(s, op)


# -- the init input's registry --------------------------------------------------------------------


@extern("ct_py_list_tables", error=ffi.NULL)
def _list_tables(o: int, ntables: Any) -> Any:
    if ntables == ffi.NULL:
        raise AccessDeniedError("list_tables: ntables is null")
    ntables[0] = 0
    s = _session(o)
    _registry_access(s, "list_tables")
    infos = s.registry.list_tables()
    arr = ffi.new("ss_plugin_table_info[]", max(1, len(infos)))
    for i, info in enumerate(infos):
        c = s._names.get(info.name)
        if c is None:
            c = s._names[info.name] = ffi.new("char[]", info.name.encode())
        arr[i].name = c
        arr[i].key_type = int(info.key_type)
    s._infos = arr  # valid until this plugin's next list_tables
    ntables[0] = len(infos)
    return arr


@extern("ct_py_get_table", error=ffi.NULL)
def _get_table(o: int, name: Any, key_type: int) -> Any:
    s = _session(o)
    _registry_access(s, "get_table")
    want = known_type(key_type)
    if name == ffi.NULL:
        raise AccessDeniedError("get_table: table name is null")
    n = c_string(name, "table name")
    found = s.registry.find(n)
    if found is None:
        return ffi.NULL  # unknown name: NULL without an error, as libsinsp
    if want not in KEY_TYPES or want is not found.key_type:
        raise KeyTypeMismatchError(n, want.type_name, found.key_type.type_name)
    if isinstance(found, Table):
        return s.table_handle(found)
    return found.input  # a native plugin's table: its own input, passed through


@extern("ct_py_add_table", error=1)
def _add_table(o: int, inp: Any) -> int:
    s = _session(o)
    _registry_access(s, "add_table")
    table = import_plugin_table(s, inp)
    s.registry.export(NativeBackend(table), owner=s.name)
    s.exported.append(table)
    return 0


# -- owner services -------------------------------------------------------------------------------


@extern("ct_py_get_owner_last_error", error=ffi.NULL, onerror=ignore_error)
def _get_owner_last_error(o: int) -> Any:
    cur: PluginSession | None = getattr(_tls, "session", None)
    if cur is None:
        own = getattr(_tls, "error", None)
        if own is not None:
            return own  # a plugin thread reads the errors of its own calls
    s = SESSIONS.get(o)
    if s is None or s.last_error is None:
        return ffi.NULL
    return s.last_error


@extern("ct_py_log_fn", onerror=ignore_error)
def _log_fn(o: int, component: Any, msg: Any, severity: int) -> None:
    s = SESSIONS.get(o)
    comp = None if component == ffi.NULL else c_string(component, "component")
    text = "" if msg == ffi.NULL else c_string(msg, "message")
    name = s.name if s is not None else f"owner {o}"
    if s is not None:
        s.logs.append(LogRecord(comp, text, int(severity)))
    _log.log(_SEVERITY.get(int(severity), logging.INFO), "[%s] %s", comp or name, text)
