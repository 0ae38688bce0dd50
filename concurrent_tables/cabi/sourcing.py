"""A native source plugin's open instance: open, next_batch, progress, event_to_string, close.

    src = NativeSource(native, caps)     # a NativePlugin after init, and its Capabilities
    src.open("n=3")
    rc, events = src.next_batch()        # SUCCESS / TIMEOUT / EOF, copied and fixed-up bytes
    src.close()

What libscap does (docs/c-abi.md): `params` never NULL and `rc` pre-set to FAILURE; each
event is copied at once (plugins reuse one buffer) and fixed up (the plugin id of a plugin with
an id, `tid = UINT64_MAX` for plugin events, `ts = UINT64_MAX` becomes now); a non-SUCCESS code
that comes with events is reported on the next call; SUCCESS with no events, FAILURE and
NOT_SUPPORTED are errors naming the plugin and its last error. `close` runs once, only for a
non-NULL instance.
"""

from __future__ import annotations

import json
import struct
import time
from typing import TYPE_CHECKING, Any, Final

from .._plugin_cdef import has_symbol
from ..errors import PluginError
from ..events import NO_VALUE, PLUGIN_EVENT_PAYLOAD_OFFSET
from .symbols import Capabilities

if TYPE_CHECKING:
    from .loader import NativePlugin

SUCCESS: Final = 0
FAILURE: Final = 1
TIMEOUT: Final = -1
EOF: Final = 2
NOT_SUPPORTED: Final = 3

#: A sanity bound on one event's length: a larger `len` is a plugin bug, not an allocation.
MAX_EVENT_LEN: Final = 64 << 20

_HEADER = struct.Struct("<QQIHI")


class NativeSource:
    """The open instance of one native source plugin (one at a time, as under libsinsp)."""

    def __init__(self, native: NativePlugin, caps: Capabilities) -> None:
        self.native = native
        self.plugin_id = caps.plugin_id
        self.event_source = caps.event_source or "syscall"
        self._inst: Any = None
        self._params: Any = None
        self._deferred: int | None = None
        self._nevts = native.pffi.new("uint32_t*")
        self._evts = native.pffi.new("void***")
        self._pct = native.pffi.new("uint32_t*")

    @property
    def is_open(self) -> bool:
        return self._inst is not None

    def _error(self, what: str) -> PluginError:
        return PluginError(f"{what} for plugin '{self.native.name}': {self.native.last_error}")

    def open(self, params: str = "") -> None:
        """plugin_open(params); PluginError with the plugin's last error if it fails."""
        n = self.native
        if self._inst is not None:
            raise PluginError(f"source plugin '{n.name}' is already open")
        self._params = n.pffi.new("char[]", params.encode("utf-8", "surrogateescape"))
        rc = n.pffi.new("int*", FAILURE)
        inst = n.lib.plugin_open(n.state, self._params, rc)
        if rc[0] != SUCCESS:
            if inst != n.pffi.NULL:
                n.lib.plugin_close(n.state, inst)
            raise self._error("could not open capture")
        if inst == n.pffi.NULL:
            raise PluginError(f"plugin '{n.name}' opened a capture with a NULL instance")
        self._inst = inst
        self._deferred = None

    def close(self) -> None:
        """plugin_close, once, for an open instance."""
        inst, self._inst = self._inst, None
        if inst is not None:
            self.native.lib.plugin_close(self.native.state, inst)

    def next_batch(self) -> tuple[int, list[bytes]]:
        """(SUCCESS, events) / (TIMEOUT, []) / (EOF, []); PluginError on failures."""
        n = self.native
        if self._inst is None:
            raise PluginError(f"next_batch on source plugin '{n.name}' with no open capture")
        if self._deferred is not None:
            rc, self._deferred = self._deferred, None
            return self._result(rc, 0)
        self._nevts[0] = 0
        self._evts[0] = n.pffi.NULL
        rc = int(n.lib.plugin_next_batch(n.state, self._inst, self._nevts, self._evts))
        count = int(self._nevts[0])
        if count > 0 and self._evts[0] == n.pffi.NULL:
            raise PluginError(f"plugin '{n.name}' returned {count} events and a NULL array")
        events = [self._copy(self._evts[0][i]) for i in range(count)]
        if rc != SUCCESS and count > 0:
            self._deferred = rc
            rc = SUCCESS
        self._result(rc, count)
        return rc, events

    def _result(self, rc: int, count: int) -> tuple[int, list[bytes]]:
        name = self.native.name
        if rc == SUCCESS:
            if count == 0:
                raise PluginError(f"unexpected 0 size event returned by plugin {name}")
        elif rc not in (TIMEOUT, EOF):
            kind = "not supported" if rc == NOT_SUPPORTED else f"failure (rc {rc})"
            raise self._error(f"next_batch {kind}")
        return rc, []

    def _copy(self, p: Any) -> bytes:
        """One event copied out of plugin memory, with libscap's fix-ups."""
        n = self.native
        if p == n.pffi.NULL:
            raise PluginError(f"plugin '{n.name}' returned a NULL event")
        head = bytes(n.pffi.buffer(n.pffi.cast("char*", p), _HEADER.size))
        ts, _tid, length, etype, nparams = _HEADER.unpack(head)
        if not _HEADER.size <= length <= MAX_EVENT_LEN:
            raise PluginError(f"plugin '{n.name}' produced an event with length {length}")
        data = bytearray(n.pffi.buffer(n.pffi.cast("char*", p), length))
        if self.plugin_id:
            if etype != 322 or nparams != 2 or length < PLUGIN_EVENT_PAYLOAD_OFFSET:
                raise PluginError(f"malformed plugin event produced by plugin: '{n.name}'")
            (pid,) = struct.unpack_from("<I", data, 34)
            if pid == 0:
                struct.pack_into("<I", data, 34, self.plugin_id)
            elif pid != self.plugin_id:
                raise PluginError(
                    f"unexpected plugin ID in plugin event: plugin='{n.name}', "
                    f"expected_id={self.plugin_id}, actual_id={pid}"
                )
        if etype == 322:
            if length < PLUGIN_EVENT_PAYLOAD_OFFSET or struct.unpack_from("<I", data, 34)[0] == 0:
                raise PluginError(f"malformed plugin event produced by plugin (no ID): '{n.name}'")
            struct.pack_into("<Q", data, 8, NO_VALUE)
        if ts == NO_VALUE:
            struct.pack_into("<Q", data, 0, time.time_ns())
        return bytes(data)

    def progress(self) -> tuple[float, str | None]:
        """(percent 0-100, the plugin's text or None); (0.0, None) without get_progress."""
        n = self.native
        if self._inst is None or not _has(n, "plugin_get_progress"):
            return 0.0, None
        self._pct[0] = 0
        text = n.lib.plugin_get_progress(n.state, self._inst, self._pct)
        return self._pct[0] / 100.0, (n._text(text) if text != n.pffi.NULL else None)

    def event_to_string(self, data: bytes, evtnum: int = 0) -> str:
        """The plugin's text for its own plugin events, else libsinsp's `datalen=... data=...`."""
        n = self.native
        own = (
            len(data) >= PLUGIN_EVENT_PAYLOAD_OFFSET
            and struct.unpack_from("<H", data, 20)[0] == 322
            and self.plugin_id != 0
            and struct.unpack_from("<I", data, 34)[0] == self.plugin_id
        )
        if own and _has(n, "plugin_event_to_string"):
            evt_in, buf = n._event_input(data, evtnum or 1, self.event_source)
            text = n.lib.plugin_event_to_string(n.state, evt_in)
            del buf
            if text != n.pffi.NULL and n._text(text):
                return n._text(text)
        return fallback_string(data)

    def list_open_params(self) -> list[dict[str, str]]:
        """The plugin's suggested open params; [] without the symbol or for ""."""
        n = self.native
        if not _has(n, "plugin_list_open_params"):
            return []
        rc = n.pffi.new("int*", FAILURE)
        text = n._text(n.lib.plugin_list_open_params(n.state, rc))
        if rc[0] != SUCCESS:
            raise self._error("list_open_params failed")
        if not text:
            return []
        try:
            items = json.loads(text)
        except json.JSONDecodeError as exc:
            raise PluginError(f"plugin '{n.name}': open params are not JSON: {text!r}") from exc
        if not isinstance(items, list) or not all(
            isinstance(i, dict) and isinstance(i.get("value"), str) and i["value"] for i in items
        ):
            raise PluginError(f"plugin '{n.name}': malformed open params list: {text!r}")
        return [{k: str(v) for k, v in i.items()} for i in items]


def fallback_string(data: bytes) -> str:
    """libsinsp's text for an event without event_to_string: `datalen=N data=<=50 bytes>`."""
    payload = b""
    if len(data) >= PLUGIN_EVENT_PAYLOAD_OFFSET:
        payload = data[PLUGIN_EVENT_PAYLOAD_OFFSET:]
    shown = payload[:50]
    if any(b < 0x20 or b > 0x7E for b in shown):
        text = "<binary>"
    else:
        text = shown.decode("ascii") + ("..." if len(payload) > 50 else "")
    return f"datalen={len(payload)} data={text}"


def _has(native: NativePlugin, symbol: str) -> bool:
    return has_symbol(native.lib, symbol)


__all__ = [
    "EOF",
    "FAILURE",
    "NOT_SUPPORTED",
    "SUCCESS",
    "TIMEOUT",
    "NativeSource",
    "fallback_string",
]
