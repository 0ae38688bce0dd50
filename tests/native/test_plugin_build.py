"""The C test plugins (and the stress workload) compile warning-free with tests/native/build.py,
load with ffi.dlopen, expose the symbols of their job, and fail a bad init cleanly."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

import stress.native.build
from concurrent_tables._plugin_cdef import (
    OPTIONAL_SYMBOLS,
    REQUIRED_SYMBOLS,
    has_symbol,
    make_plugin_ffi,
)

from .build import PLUGINS_DIR, CompileError, compile_command, compile_plugin
from .helpers import TEST_CDEF

pytestmark = pytest.mark.timeout(120)

PARSE = {"plugin_get_parse_event_types", "plugin_get_parse_event_sources", "plugin_parse_event"}
LISTEN = {"plugin_capture_open", "plugin_capture_close"}

# Each plugin: its name, and the optional plugin-API symbols its job needs (no more).
PLUGINS = {
    "table_api.c": ("ct_table_api", PARSE),
    "bad_input.c": ("ct_bad_input", PARSE | LISTEN),
    "state_types.c": ("ct_state_types", PARSE),
    "exporter.c": ("ct_exporter", PARSE),
    "nested_importer.c": ("ct_nested_importer", PARSE),
    "event_counter.c": ("ct_event_counter", PARSE),
    "extract_reader.c": ("ct_extract_reader", {"plugin_extract_fields"}),
    "counter_thread.c": ("ct_counter_thread", LISTEN),
    str(stress.native.build.WORKLOAD_SOURCE): ("ct_stress_workload", LISTEN),
}


def test_every_plugin_source_is_listed() -> None:
    # cap_*.c, the capability plugins, are checked by test_cap_build.py.
    table_plugins = {p.name for p in PLUGINS_DIR.glob("*.c") if not p.name.startswith("cap_")}
    assert table_plugins | {"workload.c"} == {Path(s).name for s in PLUGINS}


@pytest.mark.parametrize("source", sorted(PLUGINS))
def test_compiles_without_warnings(source: str, tmp_path: Path) -> None:
    cmd = compile_command(source, tmp_path / "x.so")
    assert {"-Wall", "-Wextra", "-Werror", "-pthread", "-shared", "-fPIC"} <= set(cmd)
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=False)
    assert (proc.returncode, proc.stdout, proc.stderr) == (0, "", "")


@pytest.mark.parametrize("source", sorted(PLUGINS))
def test_dlopen_exposes_symbols(source: str, plugins_dir: Path) -> None:
    name, optional = PLUGINS[source]
    pffi = make_plugin_ffi(TEST_CDEF)
    plib = pffi.dlopen(str(compile_plugin(source, plugins_dir)))
    for symbol in REQUIRED_SYMBOLS:
        assert has_symbol(plib, symbol), symbol
    assert {s for s in OPTIONAL_SYMBOLS if has_symbol(plib, s)} == optional
    assert pffi.string(plib.plugin_get_required_api_version()) == b"3.12.0"
    assert pffi.string(plib.plugin_get_name()).decode() == name
    assert pffi.string(plib.plugin_get_version()) == b"0.1.0"
    assert pffi.string(plib.plugin_get_description())
    assert pffi.string(plib.plugin_get_contact())
    if "plugin_get_parse_event_sources" in optional:
        assert json.loads(pffi.string(plib.plugin_get_parse_event_sources())) == ["syscall"]


def _init(path: Path, config: bytes, with_tables: bool) -> tuple[int, str]:
    """plugin_init through the bridge's input fillers, without a host: (rc, last error)."""
    from concurrent_tables._abi import ffi, lib

    pffi = make_plugin_ffi(TEST_CDEF)
    plib = pffi.dlopen(str(path))
    tables = ffi.new("ss_plugin_init_tables_input*")
    lib.ct_fill_init_tables_input(tables)
    init = ffi.new("ss_plugin_init_input*")
    text = ffi.new("char[]", config)
    lib.ct_fill_init_input(init, text, ffi.NULL, tables if with_tables else ffi.NULL)
    rc = ffi.new("ss_plugin_rc*", 0)
    state = plib.plugin_init(init, rc)
    assert state != pffi.NULL  # a state comes back with the failure, for its error text
    error = pffi.string(plib.plugin_get_last_error(state)).decode()
    plib.plugin_destroy(state)
    return int(rc[0]), error


@pytest.mark.parametrize("source", sorted(PLUGINS))
def test_init_without_tables_fails_with_a_state(source: str, plugins_dir: Path) -> None:
    from concurrent_tables._abi import lib

    name, _ = PLUGINS[source]
    rc, error = _init(compile_plugin(source, plugins_dir), b"", with_tables=False)
    assert rc == lib.SS_PLUGIN_FAILURE
    assert error == (
        "no tables input"
        if name == "ct_stress_workload"
        else f"{name} needs a complete tables input"
    )


@pytest.mark.parametrize(
    ("source", "config", "error"),
    [
        ("event_counter.c", b"nonsense_key=1", "unknown config key: nonsense_key"),
        ("event_counter.c", b"event_types=3,x", "bad event type list: 3,x"),
        ("event_counter.c", b"event_types=70000", "bad event type list: 70000"),
        (str(stress.native.build.WORKLOAD_SOURCE), b"threads=9", "threads must be 1..8, got 9"),
        (str(stress.native.build.WORKLOAD_SOURCE), b"keys=1", "keys must be threads..64, got 1"),
        (
            str(stress.native.build.WORKLOAD_SOURCE),
            b"nonsense",
            "bad config item: nonsense (want threads=N;keys=K)",
        ),
    ],
)
def test_bad_config_fails_before_touching_tables(
    source: str, config: bytes, error: str, plugins_dir: Path
) -> None:
    from concurrent_tables._abi import lib

    rc, text = _init(compile_plugin(source, plugins_dir), config, with_tables=True)
    assert (rc, text) == (lib.SS_PLUGIN_FAILURE, error)


def test_compile_errors(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(CompileError, match=r"C source not found: .*no_such_plugin\.c"):
        compile_plugin("no_such_plugin.c", tmp_path)
    bad = tmp_path / "unused.c"
    bad.write_text("int f(int x);\nint f(int x) { return 0; }\n")
    with pytest.raises(CompileError, match="unused parameter") as err:
        compile_plugin(bad, tmp_path)
    assert "-Werror" in str(err.value)  # the command is in the message
    monkeypatch.setenv("CC", "no-such-cc-for-ct-tests")
    with pytest.raises(CompileError, match="C compiler not found: 'no-such-cc-for-ct-tests'"):
        compile_plugin("event_counter.c", tmp_path)


def test_variants_get_their_own_file(plugins_dir: Path, exporter_so: Path) -> None:
    a = compile_plugin("exporter.c", plugins_dir, ['-DCT_API_VERSION="3.0.0"'])
    b = compile_plugin("exporter.c", plugins_dir, ['-DCT_API_VERSION="3.11.7"'])
    assert len({a, b, exporter_so}) == 3 and all(p.is_file() for p in (a, b, exporter_so))
