"""Loading and running a native plugin (a shared object exporting `plugin_*` symbols).

    plugin = NativePlugin("/path/libparse.so", config="...", registry=tables)  # a TableRegistry
    plugin.init()                       # plugin_init with a complete `tables` input
    plugin.capture_open()               # listen-capable plugins
    plugin.parse_event(type=3, tid=1)   # packed 26-byte header + parameters
    plugin.capture_close()
    plugin.destroy()                    # also after a failed init that returned a state

The call order and checks are libsinsp's (docs/c-abi.md): required symbols, the required API
version (same major, minor <= 12, patch <= 0 at minor 12), `config` never NULL, `tables` always
given with every pointer set (C++ SDK plugins crash otherwise), event types and sources read
after init, per-callback clean-up after init/parse/extract. What a plugin may do with tables in
each callback is the access matrix (`plugins.access.PHASES`), enforced by the owner side.
"""

from __future__ import annotations

import json
import logging
import re
import struct
from collections.abc import Sequence
from typing import Any, Final

from .._abi import ffi, lib
from .._plugin_cdef import REQUIRED_SYMBOLS, has_symbol, make_plugin_ffi
from ..errors import PluginError
from ..plugins.access import PhaseAccess
from ..registry import TableRegistry
from .routines import RoutineVtable
from .session import PluginSession
from .symbols import CAPABILITY_CDEF

log = logging.getLogger(__name__)

#: The API version this host implements.
HOST_API: Final = (3, 12, 0)
HOST_API_TEXT: Final = "3.12.0"

EVENT_HEADER: Final = struct.Struct("<QQIHI")  # ts, tid, len, type, nparams: 26 bytes packed
assert EVENT_HEADER.size == 26


#: The required symbols in the order libsinsp checks them (the first missing one is reported).
_REQUIRED_IN_ORDER: Final = (
    "plugin_get_required_api_version",
    "plugin_get_version",
    "plugin_get_name",
    "plugin_get_description",
    "plugin_get_contact",
    "plugin_init",
    "plugin_destroy",
    "plugin_get_last_error",
)
assert set(_REQUIRED_IN_ORDER) == set(REQUIRED_SYMBOLS)


def check_api_version(text: str, plugin: str = "plugin") -> tuple[int, int, int]:
    """Parse "major.minor.patch" and check that this host can serve it (PluginError if not).

    libsinsp's rule and messages (docs/c-abi.md): same major, minor <= 12, and patch <= 0
    at minor 12.
    """
    m = re.fullmatch(r"(\d+)\.(\d+)\.(\d+)", text.strip())
    if m is None:
        raise PluginError(
            f"plugin provided an invalid required API version: '{text}' (plugin '{plugin}')"
        )
    v = (int(m.group(1)), int(m.group(2)), int(m.group(3)))
    major, minor, patch = HOST_API
    reason = None
    if v[0] != major:
        reason = "major versions disagree"
    elif v[1] > minor:
        reason = "framework's minor is less than the requested one"
    elif v[1] == minor and v[2] > patch:
        reason = "framework's patch is less than the requested one"
    if reason is not None:
        raise PluginError(
            f"plugin required API version '{text}' not compatible with the framework's API "
            f"version '{HOST_API_TEXT}': {reason} (plugin '{plugin}')"
        )
    return v


def pack_event(
    type: int, tid: int = 0, ts: int = 0, params: Sequence[bytes] = (), *, large: bool = False
) -> bytes:
    """A syscall-style event: the packed 26-byte header, the parameter lengths, the parameters.

    Lengths are uint16, or uint32 for event types with large payloads (`large=True`).
    """
    lens = b"".join(struct.pack("<I" if large else "<H", len(p)) for p in params)
    body = lens + b"".join(params)
    return EVENT_HEADER.pack(ts, tid, EVENT_HEADER.size + len(body), type, len(params)) + body


class NativePlugin:
    """One loaded native plugin and its host-side session (see the module docstring)."""

    def __init__(
        self,
        path: str,
        config: str = "",
        *,
        registry: TableRegistry | None = None,
        extra_cdef: str = "",
        table_access: bool | None = None,
    ) -> None:
        self.path = str(path)
        self.config = config
        self.pffi = make_plugin_ffi(CAPABILITY_CDEF + extra_cdef)
        try:
            # As libsinsp: every symbol resolved now, none leaked to other plugins.
            self.lib = self.pffi.dlopen(self.path, self.pffi.RTLD_NOW | self.pffi.RTLD_LOCAL)
        except OSError as exc:
            raise PluginError(f"cannot load plugin {self.path}: {exc}") from exc
        # libsinsp's order: the API version first, then the required symbols, then the version.
        if not has_symbol(self.lib, "plugin_get_required_api_version"):
            raise PluginError(
                f"required symbol not implemented: 'get_required_api_version' ({self.path})"
            )
        self.required_api = self._text(self.lib.plugin_get_required_api_version())
        self.api_version = check_api_version(self.required_api, self.path)
        for symbol in _REQUIRED_IN_ORDER:
            if not has_symbol(self.lib, symbol):
                raise PluginError(
                    f"required symbol not implemented: '{symbol.removeprefix('plugin_')}' "
                    f"({self.path})"
                )
        self.name = self._text(self.lib.plugin_get_name()) or self.path
        self.version = self._text(self.lib.plugin_get_version())
        if re.fullmatch(r"\d+\.\d+\.\d+(?:[-+][0-9A-Za-z.+-]*)?", self.version) is None:
            raise PluginError(
                f"plugin provided an invalid version string: '{self.version}' ({self.name})"
            )
        self.description = self._text(self.lib.plugin_get_description())
        self.contact = self._text(self.lib.plugin_get_contact())
        self.can_parse = has_symbol(self.lib, "plugin_parse_event")
        self.can_extract = has_symbol(self.lib, "plugin_extract_fields")
        self.can_listen = has_symbol(self.lib, "plugin_capture_open") and has_symbol(
            self.lib, "plugin_capture_close"
        )
        if table_access is None:
            table_access = self.can_parse or self.can_extract or self.can_listen
        self.table_access = table_access
        #: Grants of plugin_init other than the phase's (an async-only plugin: export only).
        self.init_access: PhaseAccess | None = None
        if registry is None:
            registry = TableRegistry()
        self.session = PluginSession(self.name, registry, api_minor=self.api_version[1])
        self.session.get_last_error_fn = ffi.cast(
            "ct_plugin_get_last_error_fn", self.pffi.addressof(self.lib, "plugin_get_last_error")
        )
        self.state: Any = self.pffi.NULL
        self.initialised = False
        self.event_types: frozenset[int] | None = None  # None: every type
        self.event_sources: frozenset[str] | None = None  # None: every source
        self.required_event_schema: str | None = None
        # Inputs are allocated once and reused: they are pure data.
        self._config = ffi.new("char[]", self._effective_config(config).encode("utf-8"))
        self._tables = ffi.new("ss_plugin_init_tables_input*")
        lib.ct_fill_init_tables_input(self._tables)
        self._init = ffi.new("ss_plugin_init_input*")
        lib.ct_fill_init_input(self._init, self._config, self.session.owner, self._tables)
        self._parse = ffi.new("ss_plugin_event_parse_input*")
        lib.ct_fill_parse_input(self._parse, self.session.owner)
        self._extract = ffi.new("ss_plugin_field_extract_input*")
        lib.ct_fill_extract_input(self._extract, self.session.owner)
        self._listen = ffi.new("ss_plugin_capture_listen_input*")
        lib.ct_fill_capture_listen_input(self._listen, self.session.owner, ffi.NULL)
        self._evtsrc: dict[str, Any] = {}
        self._evtnum = 0
        # Always a routine vtable (a NULL one crashes real plugins); no pool until a host
        # attaches one: subscribe then returns NULL, as libsinsp without a pool.
        self.routines = RoutineVtable(self)

    def _effective_config(self, config: str) -> str:
        """What plugin_init receives: with a non-empty JSON init schema, "" becomes "{}".

        (The schema itself is not validated here: the plugin validates its config.)
        """
        if config or not has_symbol(self.lib, "plugin_get_init_schema"):
            return config
        kind = self.pffi.new("uint32_t*", 0)
        schema = self._text(self.lib.plugin_get_init_schema(kind))
        return "{}" if kind[0] == 1 and schema.strip() else config

    def _text(self, p: Any) -> str:
        return "" if p == self.pffi.NULL else str(self.pffi.string(p).decode("utf-8", "replace"))

    # -- life cycle -------------------------------------------------------------------------------

    @property
    def last_error(self) -> str:
        """The plugin's plugin_get_last_error text."""
        return self._text(self.lib.plugin_get_last_error(self.state))

    def init(self) -> None:
        """plugin_init; PluginError with the plugin's error text if it fails.

        A state returned with a failure is kept, so `destroy()` still frees it.
        """
        if self.initialised:
            return
        rc = ffi.new("ss_plugin_rc*", 1)
        with self.session.calling("init", access=self.table_access, row=self.init_access):
            self.state = self.lib.plugin_init(self._init, rc)
        for nt in self.session.exported:  # the exporter's state exists only now
            nt.exporter_ready(self.state)
        if rc[0] != lib.SS_PLUGIN_SUCCESS:
            err = self.last_error if self.state != self.pffi.NULL else ""
            raise PluginError(f"plugin '{self.name}' failed to initialise: {err}")
        self.initialised = True
        self._read_event_filters()

    def _read_event_filters(self) -> None:
        if has_symbol(self.lib, "plugin_get_parse_event_types") and self.can_parse:
            n = self.pffi.new("uint32_t*")
            arr = self.lib.plugin_get_parse_event_types(n, self.state)
            types = [int(arr[i]) for i in range(n[0])] if arr != self.pffi.NULL else []
            self.event_types = frozenset(types) if types else None
        if has_symbol(self.lib, "plugin_get_parse_event_sources"):
            text = self._text(self.lib.plugin_get_parse_event_sources())
            try:
                sources = json.loads(text) if text else []
            except json.JSONDecodeError as exc:
                raise PluginError(
                    f"plugin '{self.name}': event sources are not a JSON array: {text!r}"
                ) from exc
            self.event_sources = frozenset(str(s) for s in sources) if sources else None
        if has_symbol(self.lib, "plugin_get_required_event_schema_version"):
            self.required_event_schema = self._text(
                self.lib.plugin_get_required_event_schema_version(self.state)
            )

    def destroy(self) -> None:
        """plugin_destroy (when a state exists, even after a failed init), then forget it.

        First the plugin's exported tables are unregistered and retired (every later use is
        a TableGoneError, from Python or from a native importer), and its routines purged.
        """
        why = "its plugin was destroyed" if self.initialised else "its plugin failed to init"
        registry = self.session.registry
        for nt in self.session.exported:
            nt.retire(why)
            if registry.find(nt.name) is nt:
                registry.unexport(nt.name)
        self.session.exported.clear()
        self.routines.purge()
        if self.state != self.pffi.NULL:
            self.lib.plugin_destroy(self.state)
            self.state = self.pffi.NULL
        self.initialised = False
        self.session.close()

    def __enter__(self) -> NativePlugin:
        self.init()
        return self

    def __exit__(self, t: object, v: object, tb: object) -> None:
        self.destroy()

    def __repr__(self) -> str:
        caps = [c for c, ok in (("parse", self.can_parse), ("extract", self.can_extract),
                                ("listen", self.can_listen)) if ok]  # fmt: skip
        return f"<NativePlugin '{self.name}' {'+'.join(caps) or 'no tables'} {self.path}>"

    def _need_init(self, what: str) -> None:
        if not self.initialised:
            raise PluginError(f"plugin '{self.name}': {what} before a successful init")

    # -- capture ----------------------------------------------------------------------------------

    def capture_open(self) -> None:
        """plugin_capture_open (listen plugins; others: nothing)."""
        self._need_init("capture_open")
        if not self.can_listen:
            return
        with self.session.calling("capture_open"):
            rc = self.lib.plugin_capture_open(self.state, self._listen)
        if rc != lib.SS_PLUGIN_SUCCESS:
            raise PluginError(f"plugin '{self.name}' failed capture_open: {self.last_error}")

    def capture_close(self) -> None:
        """plugin_capture_close (listen plugins; others: nothing)."""
        self._need_init("capture_close")
        if not self.can_listen:
            return
        with self.session.calling("capture_close"):
            rc = self.lib.plugin_capture_close(self.state, self._listen)
        if rc != lib.SS_PLUGIN_SUCCESS:
            raise PluginError(f"plugin '{self.name}' failed capture_close: {self.last_error}")

    # -- events -----------------------------------------------------------------------------------

    def wants(self, type: int, source: str = "syscall") -> bool:
        """Whether this plugin parses events of `type` from `source`.

        Unspecified types are all types for a syscall-compatible source set, else only
        plugin events (322), as libsinsp decides (docs/c-abi.md).
        """
        if not self.can_parse:
            return False
        if self.event_sources is not None and source not in self.event_sources:
            return False
        if self.event_types is None:
            return self.event_sources is None or "syscall" in self.event_sources or type == 322
        return type in self.event_types

    def _event_input(self, data: bytes, evtnum: int | None, source: str) -> tuple[Any, Any]:
        buf = ffi.from_buffer("char[]", data)
        evt_in = ffi.new("ss_plugin_event_input*")
        evt_in.evt = ffi.cast("ss_plugin_event*", buf)
        if evtnum is None:
            self._evtnum += 1
            evtnum = self._evtnum
        evt_in.evtnum = evtnum
        src = self._evtsrc.get(source)
        if src is None:
            src = self._evtsrc[source] = ffi.new("char[]", source.encode())
        evt_in.evtsrc = src
        return evt_in, buf

    def parse_event(
        self,
        type: int,
        tid: int = 0,
        ts: int = 0,
        params: Sequence[bytes] = (),
        *,
        evtnum: int | None = None,
        source: str = "syscall",
        data: bytes | None = None,
    ) -> bool:
        """plugin_parse_event for one event, if the plugin parses its type and source.

        Returns False if the event was skipped. `data` overrides the packed event. Raises
        PluginError (with the plugin's error text) if the plugin fails.
        """
        self._need_init("parse_event")
        if not self.wants(type, source):
            return False
        raw = data if data is not None else pack_event(type, tid, ts, params)
        evt_in, buf = self._event_input(raw, evtnum, source)
        with self.session.calling("parse_event"):
            rc = self.lib.plugin_parse_event(self.state, evt_in, self._parse)
        del buf
        if rc != lib.SS_PLUGIN_SUCCESS:
            raise PluginError(
                f"plugin '{self.name}' failed to parse event #{evt_in.evtnum}: {self.last_error}"
            )
        return True

    def extract_fields(
        self, type: int, tid: int = 0, ts: int = 0, *, evtnum: int | None = None
    ) -> int:
        """plugin_extract_fields with no field requests: runs the plugin's extract phase.

        The reference gives no layout for field requests (ss_plugin_extract_field), so values
        cannot be requested; this runs the phase (reader only) and returns the plugin's rc.
        """
        self._need_init("extract_fields")
        if not self.can_extract:
            raise PluginError(f"plugin '{self.name}' does not extract fields")
        evt_in, buf = self._event_input(pack_event(type, tid, ts), evtnum, "syscall")
        with self.session.calling("extract_fields"):
            rc = int(self.lib.plugin_extract_fields(self.state, evt_in, self._extract))
        del buf
        return rc

    def owner_error(self) -> str | None:
        """The host's last owner error for this plugin (what get_owner_last_error returns)."""
        return self.session.error_text
