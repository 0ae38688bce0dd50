"""Declarations for loading native plugins with ``ffi.dlopen`` (cffi in-line ABI mode).

cffi cannot ``include()`` the compiled API-mode ``concurrent_tables._abi`` ffi into an ABI-mode
one, and the ``plugin_*`` symbols cannot go into ``_abi``'s cdef (API mode would need them at link
time). So the loader uses its own small in-line FFI whose prototypes take every struct pointer
as ``void*``: cffi accepts any pointer cdata for a ``void*`` parameter, including cdata made by
``_abi.ffi`` (e.g. an ``ss_plugin_init_input*``), and results are re-typed with ``_abi.ffi.cast``.
``ss_plugin_rc`` is declared as ``int`` (a 4-byte enum) and ``ss_plugin_rc*`` as ``void*``.

A missing symbol raises ``AttributeError`` on access, which is how optional symbols are probed.
"""

from __future__ import annotations

from typing import Any

import cffi

PLUGIN_CDEF = """
const char* plugin_get_required_api_version(void);
const char* plugin_get_name(void);
const char* plugin_get_version(void);
const char* plugin_get_description(void);
const char* plugin_get_contact(void);
void* plugin_init(const void* in, void* rc);
void plugin_destroy(void* s);
const char* plugin_get_last_error(void* s);
const char* plugin_get_init_schema(void* schema_type);
uint16_t* plugin_get_parse_event_types(uint32_t* numtypes, void* s);
const char* plugin_get_parse_event_sources(void);
int plugin_parse_event(void* s, const void* evt, const void* in);
int plugin_extract_fields(void* s, const void* evt, const void* in);
int plugin_capture_open(void* s, const void* in);
int plugin_capture_close(void* s, const void* in);
const char* plugin_get_required_event_schema_version(void* s);
"""

#: Symbols every plugin must export.
REQUIRED_SYMBOLS: tuple[str, ...] = (
    "plugin_get_required_api_version",
    "plugin_get_name",
    "plugin_get_version",
    "plugin_get_description",
    "plugin_get_contact",
    "plugin_init",
    "plugin_destroy",
    "plugin_get_last_error",
)

#: Optional symbols this loader knows about.
OPTIONAL_SYMBOLS: tuple[str, ...] = (
    "plugin_get_init_schema",
    "plugin_get_parse_event_types",
    "plugin_get_parse_event_sources",
    "plugin_parse_event",
    "plugin_extract_fields",
    "plugin_capture_open",
    "plugin_capture_close",
    "plugin_get_required_event_schema_version",
)


def make_plugin_ffi(extra_cdef: str = "") -> Any:
    """A fresh in-line FFI with the plugin prototypes, plus ``extra_cdef`` (e.g. test symbols)."""
    ffi = cffi.FFI()
    ffi.cdef(PLUGIN_CDEF + extra_cdef)
    return ffi


def has_symbol(lib: Any, name: str) -> bool:
    """Whether a library opened through :func:`make_plugin_ffi` exports ``name`` (if declared)."""
    try:
        getattr(lib, name)
    except AttributeError:
        return False
    return True
