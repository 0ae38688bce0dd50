"""The native test plugin compiles warning-free and loads with ffi.dlopen, exposing its symbols."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from concurrent_tables._plugin_cdef import (
    OPTIONAL_SYMBOLS,
    REQUIRED_SYMBOLS,
    has_symbol,
    make_plugin_ffi,
)

from .build import BuildResult

pytestmark = pytest.mark.timeout(120)

TEST_ONLY_CDEF = """
const char* ct_test_report(void* s);
const char* ct_test_thread_status(void* s);
int ct_test_thread_done(void* s);
"""


def test_compiles_without_warnings(ct_plugin_build: BuildResult) -> None:
    assert ct_plugin_build.path.is_file()
    assert "-Werror" in ct_plugin_build.command and "-Wall" in ct_plugin_build.command
    assert ct_plugin_build.stderr == ""
    assert ct_plugin_build.stdout == ""


def test_dlopen_exposes_symbols(ct_plugin_build: BuildResult) -> None:
    pffi = make_plugin_ffi(TEST_ONLY_CDEF)
    plib = pffi.dlopen(str(ct_plugin_build.path))
    for name in REQUIRED_SYMBOLS:
        assert has_symbol(plib, name), name
    present = {name for name in OPTIONAL_SYMBOLS if has_symbol(plib, name)}
    assert present == {
        "plugin_get_parse_event_types",
        "plugin_get_parse_event_sources",
        "plugin_parse_event",
        "plugin_extract_fields",
        "plugin_capture_open",
        "plugin_capture_close",
    }
    for name in ("ct_test_report", "ct_test_thread_status", "ct_test_thread_done"):
        assert has_symbol(plib, name)
    assert not has_symbol(plib, "plugin_get_init_schema")
    assert pffi.string(plib.plugin_get_required_api_version()) == b"3.12.0"
    assert pffi.string(plib.plugin_get_name()) == b"ct_test_plugin"
    assert pffi.string(plib.plugin_get_version()) == b"0.1.0"
    assert pffi.string(plib.plugin_get_description())
    assert pffi.string(plib.plugin_get_contact())
    assert json.loads(pffi.string(plib.plugin_get_parse_event_sources())) == ["syscall"]


def test_failed_init_returns_state_with_error(ct_plugin_build: BuildResult) -> None:
    """No host tables needed: fail_init=1 fails before touching them, and still returns a state."""
    from concurrent_tables._abi import ffi, lib

    pffi = make_plugin_ffi(TEST_ONLY_CDEF)
    plib = pffi.dlopen(str(ct_plugin_build.path))
    tables = ffi.new("ss_plugin_init_tables_input*")
    lib.ct_fill_init_tables_input(tables)
    init = ffi.new("ss_plugin_init_input*")
    config = ffi.new("char[]", b"fail_init=1")
    lib.ct_fill_init_input(init, config, ffi.NULL, tables)
    rc = ffi.new("ss_plugin_rc*", 0)
    state = plib.plugin_init(init, rc)
    assert rc[0] == lib.SS_PLUGIN_FAILURE
    assert state != pffi.NULL
    assert pffi.string(plib.plugin_get_last_error(state)) == b"init failure requested by config"
    report = json.loads(pffi.string(plib.ct_test_report(state)))
    assert report["checks"] == [] and report["failed"] == 0
    plib.plugin_destroy(state)

    init.config = bad = ffi.new("char[]", b"nonsense_key=1")
    state = plib.plugin_init(init, rc)
    assert rc[0] == lib.SS_PLUGIN_FAILURE
    assert pffi.string(plib.plugin_get_last_error(state)) == b"unknown config key: nonsense_key"
    plib.plugin_destroy(state)
    del bad


def test_extract_only_variant(ct_extract_plugin_path: Path) -> None:
    pffi = make_plugin_ffi(TEST_ONLY_CDEF)
    plib = pffi.dlopen(str(ct_extract_plugin_path))
    present = {name for name in OPTIONAL_SYMBOLS if has_symbol(plib, name)}
    assert present == {"plugin_extract_fields"}
    assert pffi.string(plib.plugin_get_name()) == b"ct_test_extract"
