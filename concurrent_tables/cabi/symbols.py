"""The non-table plugin symbols (sourcing, extraction, async, metrics) and capability probing.

`CAPABILITY_CDEF` extends the loader's in-line FFI (`_plugin_cdef.PLUGIN_CDEF`) with the symbols
and structs of those capabilities, written from Falco's public plugin API documentation. Struct
pointers in prototypes stay `void*`, as in the loader. `probe_capabilities` decides a plugin's
capabilities exactly as libsinsp does, with its messages for broken sets.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Final

from .._plugin_cdef import has_symbol
from ..errors import PluginError

CAPABILITY_CDEF: Final = """
typedef struct { uint32_t len; const void* ptr; } ct_byte_buffer;
typedef struct {
    void* res;
    uint64_t res_len;
    uint32_t field_id;
    const char* field;
    const char* arg_key;
    uint64_t arg_index;
    uint32_t arg_present;
    uint32_t ftype;
    uint32_t flist;
} ct_extract_field;
typedef struct { uint32_t* start; uint32_t* length; } ct_value_offsets;
typedef struct {
    void* (*subscribe)(void* o, uint32_t (*fn)(void*, void*), void* s);
    int (*unsubscribe)(void* o, void* h);
} ct_routine_vtable;
typedef struct {
    const char* name;
    int type;
    uint64_t value;
    int value_type;
} ct_metric;
typedef struct { const char* config; } ct_set_config_input;

uint32_t plugin_get_id(void);
const char* plugin_get_event_source(void);
void* plugin_open(void* s, const char* params, void* rc);
void plugin_close(void* s, void* inst);
int plugin_next_batch(void* s, void* inst, uint32_t* nevts, void*** evts);
const char* plugin_get_progress(void* s, void* inst, uint32_t* pct);
const char* plugin_event_to_string(void* s, const void* evt);
const char* plugin_list_open_params(void* s, void* rc);
const char* plugin_get_fields(void);
const char* plugin_get_extract_event_sources(void);
uint16_t* plugin_get_extract_event_types(uint32_t* n, void* s);
const char* plugin_get_async_events(void);
const char* plugin_get_async_event_sources(void);
int plugin_set_async_event_handler(void* s, void* owner, void* handler);
int plugin_dump_state(void* s, void* owner, void* handler);
void* plugin_get_metrics(void* s, uint32_t* n);
int plugin_set_config(void* s, const void* in);
"""

#: Capability bits as libsinsp numbers them.
SOURCING: Final = 1
EXTRACTION: Final = 2
PARSING: Final = 4
ASYNC: Final = 8
CAPTURE_LISTENING: Final = 16


@dataclass(frozen=True, slots=True)
class Capabilities:
    """What a native plugin implements, and its source identity (id 0 and "" for none)."""

    bits: int
    plugin_id: int = 0
    event_source: str = ""

    def __contains__(self, bit: int) -> bool:
        return bool(self.bits & bit)


def probe_capabilities(lib: Any, ffi: Any, name: str) -> Capabilities:
    """The capabilities of a plugin; PluginError for a broken set or none at all.

    As libsinsp's loader decides them, with its messages: a capability whose symbols are only
    partly exported is broken (`broken plugin capabilities: must implement both ...`), and a
    broken set refuses the plugin at load, before init.
    """

    def has(s: str) -> bool:
        return has_symbol(lib, "plugin_" + s)

    bits = 0
    broken: list[str] = []
    plugin_id, source = 0, ""
    sourcing = [has(s) for s in ("open", "close", "next_batch")]
    if all(sourcing):
        has_id, has_src = has("get_id"), has("get_event_source")
        if has_id:
            plugin_id = int(lib.plugin_get_id())
        if has_src:
            p = lib.plugin_get_event_source()
            source = "" if p == ffi.NULL else ffi.string(p).decode("utf-8", "replace")
        if (plugin_id != 0) != (source != ""):
            broken.append(
                "must implement both 'plugin_get_id' and 'plugin_get_event_source' or neither "
                "(event sourcing)"
            )
        else:
            bits |= SOURCING
    elif any(sourcing):
        broken.append(
            "must implement all of 'plugin_open', 'plugin_close', and 'plugin_next_batch' "
            "(event sourcing)"
        )
    if has("extract_fields"):
        if has("get_fields"):
            bits |= EXTRACTION
        else:
            broken.append(
                "must implement both 'plugin_get_fields' and 'plugin_extract_fields' "
                "(field extraction)"
            )
    if has("parse_event"):
        bits |= PARSING
    if has("set_async_event_handler"):
        if has("get_async_events"):
            bits |= ASYNC
        else:
            broken.append(
                "must implement both 'plugin_get_async_events' and "
                "'plugin_set_async_event_handler' (async events)"
            )
    if has("capture_open"):
        if has("capture_close"):
            bits |= CAPTURE_LISTENING
        else:
            broken.append(
                "must implement both 'plugin_capture_open' and 'plugin_capture_close' "
                "(capture listening)"
            )
    if broken:
        raise PluginError(f"broken plugin capabilities: {', '.join(broken)} (plugin '{name}')")
    if not bits:
        raise PluginError(f"plugin does not implement any capability (plugin '{name}')")
    if source == "syscall":
        raise PluginError(f"plugin can't implement the reserved event source 'syscall' ('{name}')")
    return Capabilities(bits, plugin_id, source)


def sources_list(text: str | None, what: str, name: str) -> frozenset[str]:
    """A sources list: JSON array of strings; NULL or "" = empty (matches every source)."""
    if not text:
        return frozenset()
    try:
        items = json.loads(text)
    except json.JSONDecodeError as exc:
        raise PluginError(f"plugin '{name}': {what} is not a JSON array: {text!r}") from exc
    if not isinstance(items, list) or not all(isinstance(s, str) for s in items):
        raise PluginError(f"plugin '{name}': {what} is not a JSON array of strings: {text!r}")
    return frozenset(s for s in items if s)


__all__ = [
    "ASYNC",
    "CAPABILITY_CDEF",
    "CAPTURE_LISTENING",
    "EXTRACTION",
    "PARSING",
    "SOURCING",
    "Capabilities",
    "probe_capabilities",
    "sources_list",
]
