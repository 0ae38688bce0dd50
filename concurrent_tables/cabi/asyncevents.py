"""A native async plugin's event handler: checks, copies and queues what its threads inject.

    bridge = AsyncBridge(native, names={"cap_tick"}, sources=frozenset())
    bridge.start(sink, source="syscall", source_id=0)   # plugin_set_async_event_handler(h)
    ...                                                  # plugin threads call h; sink(bytes)
    bridge.stop()                                        # set_async_event_handler(NULL): joins

libsinsp's sequence (docs/c-abi.md): FAILURE with a message in `err` only for protocol
violations (not type 402 with 3 parameters, a name the plugin did not declare, a source the
plugin does not serve, a thread on a non-syscall source); the event is copied (`len` bytes)
and gets the open source's plugin id at offset 38. Everything else, back-pressure and late
events included, is dropped with SUCCESS: SDK plugins abort the process on FAILURE.
A real `ts` more than 10 s ahead is dropped; `ts = UINT64_MAX` is kept: the host's queue puts
such events first and gives them the time of delivery (plugins/asyncqueue.py), and a full queue
(4096 events) drops. The handler is a cffi callback with an explicit
error value and a catch-all, so no Python exception reaches the plugin's thread.
`stop` calls the plugin with no lock held: the plugin joins threads that call the handler.
"""

from __future__ import annotations

import logging
import struct
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Final

from ..errors import PluginError
from ..events import NO_VALUE
from .sourcing import SUCCESS

if TYPE_CHECKING:
    from .loader import NativePlugin

log = logging.getLogger(__name__)

FAILURE: Final = 1
#: Events whose ts is further ahead than this are dropped (libsinsp's 10 s).
MAX_FUTURE_NS: Final = 10 * 1_000_000_000
_HEADER = struct.Struct("<QQIHI")
_NAME_AT: Final = 42


class AsyncBridge:
    """The async event handler of one native plugin (see the module docstring)."""

    def __init__(
        self, native: NativePlugin, names: frozenset[str], sources: frozenset[str]
    ) -> None:
        self.native = native
        self.names = names
        self.sources = sources
        self.accepted = 0
        self.rejected = 0
        self.dropped = 0
        self._lock = threading.Lock()  # guards the fields below; never held while calling C
        #: Where accepted events go: False back means the host's queue dropped it.
        self._sink: Callable[[bytes], bool | None] | None = None
        self._source = "syscall"
        self._source_id = 0
        self._installed = False
        self._handler = native.pffi.callback(
            "int(void*, void*, char*)", self._on_event, error=SUCCESS
        )

    @property
    def installed(self) -> bool:
        return self._installed

    def start(
        self, sink: Callable[[bytes], bool | None], source: str = "syscall", source_id: int = 0
    ) -> None:
        """Install the handler: published before the call (plugin threads may fire at once)."""
        n = self.native
        if self._installed:
            raise PluginError(
                f"must reset the async event handler before setting a new one: {n.name}"
            )
        with self._lock:
            self._sink, self._source, self._source_id = sink, source, source_id
        self._installed = True
        rc = n.lib.plugin_set_async_event_handler(n.state, n.session.owner, self._handler)
        if rc != SUCCESS:
            with self._lock:
                self._sink = None
            self._installed = False
            raise PluginError(f"set_async_event_handler for plugin '{n.name}' : {n.last_error}")

    def stop(self) -> None:
        """Reset the handler (the plugin stops and joins its producers), then forget the sink."""
        if not self._installed:
            return
        n = self.native
        rc = n.lib.plugin_set_async_event_handler(n.state, n.session.owner, n.pffi.NULL)
        with self._lock:
            self._sink = None
        self._installed = False
        if rc != SUCCESS:
            raise PluginError(f"async handler reset for plugin '{n.name}' : {n.last_error}")

    def dump_state(self, sink: Callable[[bytes], None]) -> None:
        """plugin_dump_state: the plugin pushes its state events synchronously into `sink`."""
        n = self.native
        from .._plugin_cdef import has_symbol

        if not has_symbol(n.lib, "plugin_dump_state"):
            raise PluginError(f"plugin '{n.name}' has no dump_state")
        collected: list[bytes] = []
        with self._lock:
            saved = self._sink, self._source, self._source_id
            self._sink = collected.append
        handler = n.pffi.callback("int(void*, void*, char*)", self._on_event, error=SUCCESS)
        try:
            rc = n.lib.plugin_dump_state(n.state, n.session.owner, handler)
        finally:
            with self._lock:
                self._sink = saved[0]
        if rc != SUCCESS:
            raise PluginError(f"dump error for plugin '{n.name}' : {n.last_error}")
        for data in collected:
            sink(data)

    # -- the handler (plugin threads) -------------------------------------------------------------

    def _on_event(self, owner: Any, evt: Any, err: Any) -> int:
        try:
            message = self._accept(evt)
        except BaseException as exc:  # a host bug: drop the event, never fail the plugin
            log.exception("async event of plugin '%s' dropped: %s", self.native.name, exc)
            self.dropped += 1
            return SUCCESS
        if message is None:
            return SUCCESS
        self.rejected += 1
        if err != self.native.pffi.NULL:
            raw = message.encode("utf-8", "replace")[:1023] + b"\0"
            self.native.pffi.memmove(err, raw, len(raw))
        return FAILURE

    def _accept(self, evt: Any) -> str | None:
        """None if the event was queued or dropped; else the FAILURE message."""
        pffi = self.native.pffi
        name = self.native.name
        if evt == pffi.NULL:
            return f"malformed async event produced by plugin: {name}"
        head = bytes(pffi.buffer(pffi.cast("char*", evt), _HEADER.size))
        ts, tid, length, etype, nparams = _HEADER.unpack(head)
        if etype != 402 or nparams != 3 or not _NAME_AT < length <= (64 << 20):
            return f"malformed async event produced by plugin: {name}"
        data = bytearray(pffi.buffer(pffi.cast("char*", evt), length))
        lens = struct.unpack_from("<3I", data, 26)
        if lens[0] != 4 or _NAME_AT + lens[1] + lens[2] != length or lens[1] == 0:
            return f"malformed async event produced by plugin: {name}"
        raw_name = bytes(data[_NAME_AT : _NAME_AT + lens[1]]).split(b"\0", 1)[0]
        ev_name = raw_name.decode("utf-8", "surrogateescape")
        if ev_name not in self.names:
            return f"incompatible async event '{ev_name}' produced by plugin: {name}"
        with self._lock:
            sink, source, source_id = self._sink, self._source, self._source_id
        if sink is None:
            self.dropped += 1  # a late event (after the reset began): drop, SUCCESS
            return None
        if self.sources and source not in self.sources:
            return (
                f"async events of plugin '{name}' are not compatible with open event "
                f"source '{source}'"
            )
        if source != "syscall" and tid != NO_VALUE:
            return (
                f"async events of plugin '{name}' can have no thread associated with open "
                f"event source '{source}'"
            )
        struct.pack_into("<I", data, 38, source_id)
        if ts != NO_VALUE and ts > time.time_ns() + MAX_FUTURE_NS:
            log.warning("async event '%s' of plugin '%s' dropped: ts too far ahead", ev_name, name)
            self.dropped += 1
            return None
        if sink(bytes(data)) is False:
            self.dropped += 1  # the host's queue is full: dropped, still SUCCESS
            return None
        self.accepted += 1
        return None


__all__ = ["MAX_FUTURE_NS", "AsyncBridge"]
