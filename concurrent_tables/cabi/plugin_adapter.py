"""A native plugin in the Python plugin host: the `Plugin` adapter `PluginHost` runs.

`load_native_plugin(path)` loads a `.so` (`NativePlugin`) and returns a `Plugin` whose
capabilities are the native plugin's (parse, extract, capture listen). The host runs it like its
Python plugins, with one table registry for both: what it may do with tables in each callback is
the access matrix, enforced by the owner side.

    host = PluginHost([load_native_plugin("libparse.so", config="..."), MyExtractor()])
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ..errors import PluginError
from ..plugins.base import (
    CaptureListenInput,
    Event,
    ExtractPlugin,
    ExtractRequest,
    ListenPlugin,
    ParsePlugin,
    Plugin,
)
from ..plugins.tokens import TableReader, TablesInput, TableWriter
from ..registry import TableRegistry
from .loader import NativePlugin


class NativePluginAdapter(Plugin):
    """A native plugin run by `PluginHost` (made by `load_native_plugin`)."""

    def __init__(self, native: NativePlugin) -> None:
        self.native = native
        self.name = native.name

    def init(self, tables: TablesInput | None) -> None:
        """plugin_init against the host's registry; a failed init is destroyed at once."""
        # The host's registry, shared with its Python plugins (a plugin the host gives no
        # tables still gets a complete `tables` input, over an empty registry).
        registry = tables._registry if tables is not None else TableRegistry()
        self.native.session.registry = registry
        self.native.table_access = tables is not None
        try:
            self.native.init()
        except BaseException:
            self.native.destroy()  # the host destroys only plugins whose init succeeded
            raise

    def destroy(self) -> None:
        self.native.destroy()

    def __repr__(self) -> str:
        return f"<native plugin '{self.name}' {self.native.path}>"


def _params(event: Event) -> tuple[bytes, ...]:
    p = event.payload
    if isinstance(p, bytes):
        return (p,)
    if isinstance(p, (tuple, list)) and all(isinstance(x, bytes) for x in p):
        return tuple(p)
    return ()


class _NativeParse(NativePluginAdapter, ParsePlugin):
    def parse_event(self, event: Event, reader: TableReader, writer: TableWriter) -> None:
        """plugin_parse_event, if the plugin parses this event's type and source."""
        self.native.parse_event(
            event.type,
            event.tid,
            event.ts,
            _params(event),
            evtnum=event.evtnum or None,
            source=event.source,
        )


class _NativeListen(NativePluginAdapter, ListenPlugin):
    def capture_open(self, capture: CaptureListenInput) -> None:
        self.native.capture_open()

    def capture_close(self, capture: CaptureListenInput) -> None:
        self.native.capture_close()


class _NativeExtract(NativePluginAdapter, ExtractPlugin):
    def extract(self, event: Event, request: ExtractRequest, reader: TableReader) -> Any:
        """Run plugin_extract_fields (with no field requests, see NativePlugin.extract_fields).

        Returns the plugin's return code; field values are not available.
        """
        rc = self.native.extract_fields(event.type, event.tid, event.ts, evtnum=event.evtnum)
        if rc != 0:
            raise PluginError(
                f"plugin '{self.name}' failed to extract {request}: {self.native.last_error}"
            )
        return rc


def load_native_plugin(
    path: str,
    config: str = "",
    *,
    fields: Sequence[str] = (),
    extra_cdef: str = "",
) -> NativePluginAdapter:
    """Load a native plugin for `PluginHost`; its capabilities are the symbols it exports.

    `fields`: the extraction fields to route to it (extract-capable plugins only).
    """
    native = NativePlugin(path, config, extra_cdef=extra_cdef)
    bases: list[type[NativePluginAdapter]] = []
    if native.can_parse:
        bases.append(_NativeParse)
    if native.can_extract:
        bases.append(_NativeExtract)
    if native.can_listen:
        bases.append(_NativeListen)
    if not bases:
        native.destroy()
        raise PluginError(
            f"plugin '{native.name}' ({path}) neither parses, extracts nor listens: "
            "the host runs no other kind of native plugin"
        )
    if fields and not native.can_extract:
        native.destroy()
        raise PluginError(f"plugin '{native.name}' does not extract fields")
    cls = type(f"Native_{native.name}", tuple(bases), {})
    adapter: NativePluginAdapter = cls(native)
    if fields:
        adapter.fields = tuple(fields)  # type: ignore[attr-defined]
    return adapter


__all__ = ["NativePluginAdapter", "load_native_plugin"]
