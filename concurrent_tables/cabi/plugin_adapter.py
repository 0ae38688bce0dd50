"""A native plugin in the Python plugin host: one adapter class per capability, combined.

    host = PluginHost([load_native_plugin("libsrc.so", open_params="n=10"),
                       load_native_plugin("libextract.so"), MyPythonParser()])

`load_native_plugin` probes the plugin's capabilities as libsinsp does (docs/c-abi.md) and
builds a `Plugin` deriving from the matching base classes:

- sourcing -> `SourcePlugin`: `open()` runs plugin_open(params) and yields its events (copied,
  fixed up, decoded as `ScapEvent` payloads); TIMEOUT yields None (the host then delivers async
  events), EOF ends the capture; progress, event_to_string and open params are methods;
- parsing -> `ParsePlugin`: plugin_parse_event on the events its type/source sets admit;
- extraction -> `ExtractPlugin`: every field of its `get_fields` schema, real requests, typed
  values (`extraction.NativeExtractor`);
- async -> `AsyncPlugin`: the handler installed at capture open, reset (joining the plugin's
  threads) at close; events go to the open capture's source;
- capture listening -> `ListenPlugin`: capture_open/close with a routine vtable on the host's
  routine pool, purged after capture_close.

Metrics are `adapter.metrics()`, and `PluginHost.metrics()` gathers them.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from typing import Any

from ..errors import PluginError
from ..events import ScapEvent
from ..plugins.access import EXPORT_ONLY
from ..plugins.base import (
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
from ..plugins.tokens import TableReader, TablesInput, TableWriter
from ..registry import TableRegistry
from .asyncevents import AsyncBridge
from .extraction import FieldSchema, NativeExtractor
from .loader import NativePlugin, pack_event
from .metrics import read_metrics
from .sourcing import EOF, TIMEOUT, NativeSource
from .symbols import (
    ASYNC,
    CAPTURE_LISTENING,
    EXTRACTION,
    PARSING,
    SOURCING,
    Capabilities,
    probe_capabilities,
    sources_list,
)

log = logging.getLogger(__name__)


def event_bytes(event: Event) -> bytes:
    """The scap bytes of a host `Event`: its `ScapEvent` payload with the event's ts and tid,
    or a header over raw parameters (bytes, or a list of bytes)."""
    p = event.payload
    if isinstance(p, ScapEvent):
        if (p.type, p.ts, p.tid) == (event.type, event.ts, event.tid):
            return p.encode()  # the bytes it was decoded from, when it was
        return ScapEvent(event.type, p.params, event.ts, event.tid).encode()
    if isinstance(p, bytes):
        params: tuple[bytes, ...] = (p,)
    elif isinstance(p, tuple | list) and all(isinstance(x, bytes) for x in p):
        params = tuple(p)
    else:
        params = ()
    return pack_event(event.type, event.tid, event.ts, params)


class NativePluginAdapter(Plugin):
    """A native plugin run by `PluginHost` (made by `load_native_plugin`)."""

    def __init__(self, native: NativePlugin, caps: Capabilities) -> None:
        self.native = native
        self.caps = caps
        self.name = native.name

    def init(self, tables: TablesInput | None) -> None:
        """plugin_init against the host's registry; a failed init is destroyed at once."""
        # The host's registry, shared with its Python plugins (a plugin the host gives no
        # tables still gets a complete `tables` input, over an empty registry).
        registry = tables._registry if tables is not None else TableRegistry()
        self.native.session.registry = registry
        self.native.table_access = tables is not None
        if tables is not None and tables._scope.export_only:
            self.native.init_access = EXPORT_ONLY  # an async-only plugin exports, nothing more
        try:
            self.native.init()
            self._after_init()
        except BaseException:
            self.native.destroy()  # the host destroys only plugins whose init succeeded
            raise

    def _after_init(self) -> None:
        """Read what libsinsp reads right after init (event type sets)."""

    def metrics(self) -> dict[str, int | float]:
        """The plugin's metrics now, by name (empty without get_metrics)."""
        return read_metrics(self.native)

    def set_config(self, config: str) -> bool:
        """plugin_set_config: whether the plugin accepted `config`.

        False without the symbol; "" becomes "{}" under a JSON init schema, as at init.
        """
        n = self.native
        if not n.initialised or not _has(n, "plugin_set_config"):
            return False
        text = n.pffi.new("char[]", n._effective_config(config).encode("utf-8"))
        inp = n.pffi.new("ct_set_config_input*")
        inp.config = text
        return int(n.lib.plugin_set_config(n.state, inp)) == 0

    def destroy(self) -> None:
        self.native.destroy()

    def __repr__(self) -> str:
        return f"<native plugin '{self.name}' {self.native.path}>"


def _own_sources(caps: Capabilities, declared: frozenset[str]) -> frozenset[str]:
    """A sourcing plugin's own source joins each of its (non-empty) source sets."""
    if declared and caps.event_source:
        return declared | {caps.event_source}
    return declared


def _syscall_compatible(sources: frozenset[str]) -> bool:
    return not sources or "syscall" in sources


class _NativeSource(NativePluginAdapter, SourcePlugin):
    open_params: str = ""

    @property
    def plugin_id(self) -> int:
        return self.caps.plugin_id

    @property
    def source(self) -> NativeSource:
        src: NativeSource | None = getattr(self, "_source", None)
        if src is None:
            src = self._source = NativeSource(self.native, self.caps)
        return src

    def open(self) -> Iterator[Event | None]:
        src = self.source
        src.open(self.open_params)
        try:
            while True:
                rc, batch = src.next_batch()
                if rc == EOF:
                    return
                if rc == TIMEOUT:
                    yield None
                    continue
                for data in batch:
                    ev = ScapEvent.decode(data)
                    yield Event(ev.ts, ev.tid, ev.type, payload=ev, source=self.event_source)
        finally:
            src.close()

    def close(self) -> None:
        self.source.close()

    def progress(self) -> tuple[float, str | None]:
        return self.source.progress()

    def event_to_string(self, event: Event) -> str:
        return self.source.event_to_string(event_bytes(event), event.evtnum)

    def list_open_params(self) -> list[dict[str, str]]:
        return self.source.list_open_params()


class _NativeParse(NativePluginAdapter, ParsePlugin):
    def _after_init(self) -> None:
        super()._after_init()
        n = self.native
        declared = frozenset(n.event_sources or ())
        sources = _own_sources(self.caps, declared)
        n.event_sources = sources or None
        if n.event_types is None and not _syscall_compatible(sources):
            n.event_types = frozenset({322})  # unspecified + not syscall-compatible

    def parses(self, event_type: int, source: str) -> bool:
        return self.native.wants(event_type, source)

    def parse_event(self, event: Event, reader: TableReader, writer: TableWriter) -> None:
        """plugin_parse_event, if the plugin parses this event's type and source."""
        self.native.parse_event(
            event.type,
            evtnum=event.evtnum or None,
            source=event.source,
            data=event_bytes(event),
        )


class _NativeExtract(NativePluginAdapter, ExtractPlugin):
    schema: FieldSchema
    _extractor: NativeExtractor | None = None

    def _after_init(self) -> None:
        super()._after_init()
        n = self.native
        declared = sources_list(
            n._text(n.lib.plugin_get_extract_event_sources())
            if _has(n, "plugin_get_extract_event_sources")
            else "",
            "extract event sources",
            n.name,
        )
        sources = _own_sources(self.caps, declared)
        types: frozenset[int] | None = None
        if _has(n, "plugin_get_extract_event_types"):
            count = n.pffi.new("uint32_t*", 0)
            arr = n.lib.plugin_get_extract_event_types(count, n.state)
            if arr != n.pffi.NULL and count[0]:
                types = frozenset(int(arr[i]) for i in range(count[0]))
        if types is None and not _syscall_compatible(sources):
            types = frozenset({322})
        self._extractor = NativeExtractor(n, self.schema, types, sources)

    def extracts_from(self, event_type: int, source: str) -> bool:
        x = self._extractor
        return x is not None and x.eligible(event_type, source)

    def check_request(self, request: ExtractRequest) -> None:
        self.schema.resolve(request)

    def extract(self, event: Event, request: ExtractRequest, reader: TableReader) -> Any:
        """The field's typed value (None: no value); ExtractionError if the plugin fails."""
        x = self._extractor
        if x is None:
            raise PluginError(f"plugin '{self.name}': extraction before a successful init")
        return x.extract(event_bytes(event), event.evtnum or 1, event.source, request)


def extract_with_offsets(
    plugin: Plugin, event: Event, field: str
) -> tuple[Any, list[tuple[int, int]] | None]:
    """A native extract plugin's value for `field` with its offsets in the event.

    Offsets are (start, length) from the event's first byte; None if the plugin gives none.
    """
    x = getattr(plugin, "_extractor", None)
    if not isinstance(x, NativeExtractor):
        raise PluginError(f"plugin '{plugin.plugin_name}' is not an initialised native extractor")
    return x.extract_with_offsets(event_bytes(event), event.evtnum or 1, event.source, field)


class _NativeListen(NativePluginAdapter, ListenPlugin):
    def capture_open(self, capture: CaptureListenInput) -> None:
        self.native.routines.pool = capture.pool
        self.native.capture_open()

    def capture_close(self, capture: CaptureListenInput) -> None:
        try:
            self.native.capture_close()
        finally:
            if not self.native.routines.purge():
                raise PluginError(f"plugin '{self.name}': a routine did not stop in time")

    def destroy(self) -> None:
        self.native.routines.purge()  # no routine may run into plugin_destroy
        super().destroy()


class _NativeAsync(NativePluginAdapter, AsyncPlugin):
    _bridge: AsyncBridge | None = None

    def _after_init(self) -> None:
        super()._after_init()
        n = self.native
        names = _async_names(n)
        sources = sources_list(
            n._text(n.lib.plugin_get_async_event_sources())
            if _has(n, "plugin_get_async_event_sources")
            else "",
            "async event sources",
            n.name,
        )
        self._bridge = AsyncBridge(n, names, _own_sources(self.caps, sources))

    @property
    def bridge(self) -> AsyncBridge:
        if self._bridge is None:
            raise PluginError(f"plugin '{self.name}': async events before a successful init")
        return self._bridge

    def start_async(self, ctx: AsyncContext) -> None:
        source = ctx.capture_source
        sources = self.bridge.sources
        if sources and source not in sources:
            # libsinsp would answer every event with FAILURE, which aborts SDK plugins
            # (docs/c-abi.md): the handler is not installed at all.
            log.warning(
                "async plugin '%s' serves sources %s, not the open source '%s': its async "
                "event handler is not installed",
                self.name,
                sorted(sources),
                source,
            )
            return

        def sink(data: bytes) -> bool:
            ev = ScapEvent.decode(data)
            return ctx.push(Event(ev.ts, ev.tid, ev.type, payload=ev), source=source)

        self.bridge.start(sink, source, ctx.capture_source_id)

    def stop_async(self) -> None:
        self.bridge.stop()

    def destroy(self) -> None:
        if self._bridge is not None:
            self._bridge.stop()  # the plugin joins its threads before plugin_destroy
        super().destroy()


def _async_names(n: NativePlugin) -> frozenset[str]:
    import json

    text = n._text(n.lib.plugin_get_async_events())
    try:
        names = json.loads(text) if text else None
    except json.JSONDecodeError:
        names = None
    if not isinstance(names, list) or not all(isinstance(x, str) for x in names):
        raise PluginError(
            f"async events of plugin '{n.name}' did not return a json array but it should"
        )
    return frozenset(names)


def _has(n: NativePlugin, symbol: str) -> bool:
    from .._plugin_cdef import has_symbol

    return has_symbol(n.lib, symbol)


def load_native_plugin(
    path: str,
    config: str = "",
    *,
    fields: Sequence[str] = (),
    extra_cdef: str = "",
    open_params: str = "",
) -> NativePluginAdapter:
    """Load a native plugin for `PluginHost`; its capabilities are the symbols it exports.

    `fields`: the extraction fields to route to it (default: every field of its schema).
    `open_params`: what a source plugin's `open` receives.
    """
    native = NativePlugin(path, config, extra_cdef=extra_cdef)
    try:
        # A broken capability set (extract_fields without get_fields, say) is refused here,
        # before init, as libsinsp refuses it.
        caps = probe_capabilities(native.lib, native.pffi, native.name)
        bases: list[type[NativePluginAdapter]] = []
        attrs: dict[str, Any] = {}
        if SOURCING in caps:
            bases.append(_NativeSource)
            attrs["event_source"] = caps.event_source or "syscall"
            attrs["open_params"] = open_params
        if PARSING in caps:
            bases.append(_NativeParse)
        if EXTRACTION in caps:
            bases.append(_NativeExtract)
            schema = FieldSchema.parse(native._text(native.lib.plugin_get_fields()), native.name)
            attrs["schema"] = schema
            unknown = [f for f in fields if f not in schema.by_name]
            if unknown:
                raise PluginError(
                    f"plugin '{native.name}' has no field {', '.join(map(repr, unknown))}"
                )
            attrs["fields"] = tuple(fields) or tuple(f.name for f in schema.fields)
        elif fields:
            raise PluginError(f"plugin '{native.name}' does not extract fields")
        if CAPTURE_LISTENING in caps:
            bases.append(_NativeListen)
        if ASYNC in caps:
            bases.append(_NativeAsync)
            attrs["async_source"] = "syscall"
    except BaseException:
        native.destroy()
        raise
    cls = type(f"Native_{native.name}", tuple(bases), attrs)
    adapter: NativePluginAdapter = cls(native, caps)
    return adapter


__all__ = ["NativePluginAdapter", "event_bytes", "extract_with_offsets", "load_native_plugin"]
