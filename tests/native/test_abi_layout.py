"""Sizes, offsets and constants of the cffi declarations against the ABI reference (x86-64)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from concurrent_tables import _abi_build
from concurrent_tables._abi import ffi, lib

from .build import INCLUDE_DIR, compiler

pytestmark = pytest.mark.timeout(60)

# struct -> (size, {member: offset}); every member of every struct the reference lays out.
LAYOUT: dict[str, tuple[int, dict[str, int]]] = {
    "ss_plugin_state_data": (
        8,
        {
            "s8": 0, "s16": 0, "s32": 0, "s64": 0, "u8": 0, "u16": 0, "u32": 0, "u64": 0,
            "str": 0, "b": 0, "table": 0,
        },
    ),
    "ss_plugin_table_info": (16, {"name": 0, "key_type": 8}),
    "ss_plugin_table_fieldinfo": (16, {"name": 0, "field_type": 8, "read_only": 12}),
    "ss_plugin_table_fields_vtable_ext": (
        24,
        {"list_table_fields": 0, "get_table_field": 8, "add_table_field": 16},
    ),
    "ss_plugin_table_fields_vtable": (
        24,
        {"list_table_fields": 0, "get_table_field": 8, "add_table_field": 16},
    ),
    "ss_plugin_table_reader_vtable_ext": (
        48,
        {
            "get_table_name": 0, "get_table_size": 8, "get_table_entry": 16,
            "read_entry_field": 24, "release_table_entry": 32, "iterate_entries": 40,
        },
    ),
    "ss_plugin_table_reader_vtable": (
        32,
        {"get_table_name": 0, "get_table_size": 8, "get_table_entry": 16, "read_entry_field": 24},
    ),
    "ss_plugin_table_writer_vtable_ext": (
        48,
        {
            "clear_table": 0, "erase_table_entry": 8, "create_table_entry": 16,
            "destroy_table_entry": 24, "add_table_entry": 32, "write_entry_field": 40,
        },
    ),
    "ss_plugin_table_writer_vtable": (
        48,
        {
            "clear_table": 0, "erase_table_entry": 8, "create_table_entry": 16,
            "destroy_table_entry": 24, "add_table_entry": 32, "write_entry_field": 40,
        },
    ),
    "ss_plugin_table_input": (
        152,
        {
            "name": 0, "key_type": 8, "table": 16, "reader": 24, "writer": 56, "fields": 104,
            "reader_ext": 128, "writer_ext": 136, "fields_ext": 144,
        },
    ),
    "ss_plugin_init_tables_input": (
        72,
        {
            "list_tables": 0, "get_table": 8, "add_table": 16, "fields": 24, "fields_ext": 48,
            "reader_ext": 56, "writer_ext": 64,
        },
    ),
    "ss_plugin_init_input": (
        40,
        {"config": 0, "owner": 8, "get_owner_last_error": 16, "tables": 24, "log_fn": 32},
    ),
    "ss_plugin_event_parse_input": (
        112,
        {
            "owner": 0, "get_owner_last_error": 8, "table_reader": 16, "table_writer": 48,
            "table_reader_ext": 96, "table_writer_ext": 104,
        },
    ),
    "ss_plugin_field_extract_input": (
        80,
        {
            "owner": 0, "get_owner_last_error": 8, "num_fields": 16, "fields": 24,
            "table_reader": 32, "table_reader_ext": 64, "value_offsets": 72,
        },
    ),
    "ss_plugin_capture_listen_input": (
        40,
        {
            "owner": 0, "routine": 8, "table_reader_ext": 16, "table_writer_ext": 24,
            "get_owner_last_error": 32,
        },
    ),
    "ss_plugin_event": (26, {"ts": 0, "tid": 8, "len": 16, "type": 20, "nparams": 22}),
    "ss_plugin_event_input": (24, {"evt": 0, "evtnum": 8, "evtsrc": 16}),
}  # fmt: skip

OFFSETS = [(s, m, off) for s, (_, members) in LAYOUT.items() for m, off in members.items()]


@pytest.mark.parametrize("struct", sorted(LAYOUT))
def test_sizeof(struct: str) -> None:
    assert ffi.sizeof(struct) == LAYOUT[struct][0]


@pytest.mark.parametrize(("struct", "member", "offset"), OFFSETS)
def test_offsetof(struct: str, member: str, offset: int) -> None:
    assert ffi.offsetof(struct, member) == offset


@pytest.mark.parametrize("struct", sorted(LAYOUT))
def test_every_member_is_pinned(struct: str) -> None:
    declared = {name for name, _ in ffi.typeof(struct).fields}
    assert declared == set(LAYOUT[struct][1])


def test_event_is_packed() -> None:
    assert ffi.alignof("ss_plugin_event") == 1
    assert ffi.sizeof("ss_plugin_event[2]") == 52


def test_basic_types() -> None:
    assert ffi.sizeof("ss_plugin_bool") == 4
    assert ffi.sizeof("ss_plugin_rc") == 4
    assert ffi.sizeof("ss_plugin_state_type") == 4
    assert ffi.sizeof("ss_plugin_table_t*") == 8


def test_enum_values() -> None:
    assert (lib.SS_PLUGIN_SUCCESS, lib.SS_PLUGIN_FAILURE, lib.SS_PLUGIN_TIMEOUT) == (0, 1, -1)
    assert (lib.SS_PLUGIN_EOF, lib.SS_PLUGIN_NOT_SUPPORTED) == (2, 3)
    types = [
        lib.SS_PLUGIN_ST_INT8, lib.SS_PLUGIN_ST_INT16, lib.SS_PLUGIN_ST_INT32,
        lib.SS_PLUGIN_ST_INT64, lib.SS_PLUGIN_ST_UINT8, lib.SS_PLUGIN_ST_UINT16,
        lib.SS_PLUGIN_ST_UINT32, lib.SS_PLUGIN_ST_UINT64, lib.SS_PLUGIN_ST_STRING,
        lib.SS_PLUGIN_ST_TABLE, lib.SS_PLUGIN_ST_BOOL,
    ]  # fmt: skip
    assert types == [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 25]
    assert (lib.SS_PLUGIN_SCHEMA_NONE, lib.SS_PLUGIN_SCHEMA_JSON) == (0, 1)
    assert (lib.SS_PLUGIN_LOG_SEV_FATAL, lib.SS_PLUGIN_LOG_SEV_TRACE) == (1, 8)
    assert (lib.CT_PLUGIN_API_VERSION_MAJOR, lib.CT_PLUGIN_API_VERSION_MINOR) == (3, 12)


def test_python_callbacks_declared() -> None:
    for name in _abi_build.PYTHON_CALLBACKS:
        assert ffi.typeof(getattr(lib, name)).kind == "function", name


def test_legacy_copies_equal_ext() -> None:
    inp = ffi.new("ss_plugin_table_input*")
    lib.ct_fill_py_table_input(inp, ffi.NULL, lib.SS_PLUGIN_ST_UINT64, ffi.cast("void*", 1))
    pairs = [
        (inp.reader, inp.reader_ext, LAYOUT["ss_plugin_table_reader_vtable"][1]),
        (inp.writer, inp.writer_ext, LAYOUT["ss_plugin_table_writer_vtable"][1]),
        (inp.fields, inp.fields_ext, LAYOUT["ss_plugin_table_fields_vtable"][1]),
    ]
    for legacy, ext, slots in pairs:
        for slot in slots:
            assert getattr(legacy, slot) == getattr(ext, slot) != ffi.NULL, slot
    assert lib.ct_is_py_owned(inp) == 1
    # Python owners are reached through C thunks that pass ids, never the callbacks themselves
    assert inp.reader_ext.get_table_name != lib.ct_py_get_table_name

    parse = ffi.new("ss_plugin_event_parse_input*")
    lib.ct_fill_parse_input(parse, ffi.NULL)
    for slot in LAYOUT["ss_plugin_table_reader_vtable"][1]:
        assert getattr(parse.table_reader, slot) == getattr(parse.table_reader_ext[0], slot)
    for slot in LAYOUT["ss_plugin_table_writer_vtable"][1]:
        assert getattr(parse.table_writer, slot) == getattr(parse.table_writer_ext[0], slot)
    # the parse input carries the dispatchers, not the Python owner's slots
    assert parse.table_reader_ext.get_table_name != inp.reader_ext.get_table_name

    tables = ffi.new("ss_plugin_init_tables_input*")
    lib.ct_fill_init_tables_input(tables)
    for slot in LAYOUT["ss_plugin_table_fields_vtable"][1]:
        assert getattr(tables.fields, slot) == getattr(tables.fields_ext[0], slot) != ffi.NULL
    assert tables.reader_ext == parse.table_reader_ext
    assert tables.writer_ext == parse.table_writer_ext
    for slot in ("list_tables", "get_table", "add_table"):
        assert getattr(tables, slot) != ffi.NULL

    listen = ffi.new("ss_plugin_capture_listen_input*")
    lib.ct_fill_capture_listen_input(listen, ffi.NULL, ffi.NULL)
    assert listen.table_reader_ext == parse.table_reader_ext
    assert listen.get_owner_last_error == init_owner_error(tables)

    extract = ffi.new("ss_plugin_field_extract_input*")
    lib.ct_fill_extract_input(extract, ffi.NULL)
    assert extract.table_reader_ext == parse.table_reader_ext
    assert extract.table_reader.read_entry_field == parse.table_reader_ext.read_entry_field

    init = ffi.new("ss_plugin_init_input*")
    lib.ct_fill_init_input(init, ffi.NULL, ffi.NULL, tables)
    assert init.config != ffi.NULL and ffi.string(init.config) == b""
    assert init.log_fn != ffi.NULL and init.get_owner_last_error == listen.get_owner_last_error
    assert init.tables == tables


def init_owner_error(tables: object) -> object:
    init = ffi.new("ss_plugin_init_input*")
    lib.ct_fill_init_input(init, ffi.NULL, ffi.NULL, tables)
    return init.get_owner_last_error


def test_dispatchers_tolerate_bad_handles() -> None:
    assert lib.ct_disp_get_table_size(ffi.NULL) == 2**64 - 1
    assert lib.ct_disp_get_table_name(ffi.NULL) == ffi.NULL
    assert lib.ct_disp_read_entry_field(ffi.NULL, ffi.NULL, ffi.NULL, ffi.NULL) == 1
    empty = ffi.new("ss_plugin_table_input*")  # no _ext vtables at all
    assert lib.ct_disp_get_table_entry(empty, ffi.NULL) == ffi.NULL
    assert lib.ct_disp_iterate_entries(empty, ffi.NULL, ffi.NULL) == 0
    n = ffi.new("uint32_t*", 7)
    assert lib.ct_disp_list_table_fields(empty, n) == ffi.NULL and n[0] == 0


def test_import_validation() -> None:
    good = ffi.new("ss_plugin_table_input*")
    name = ffi.new("char[]", b"t")
    lib.ct_fill_py_table_input(good, name, lib.SS_PLUGIN_ST_UINT64, ffi.cast("void*", 1))
    box = ffi.new("ct_table_box*")

    def imp(src: object, minor: int = 12) -> int:
        return int(lib.ct_import_table_input(box, src, minor, ffi.NULL, ffi.NULL, ffi.NULL))

    assert imp(ffi.NULL) == lib.CT_IMPORT_NULL_INPUT
    assert imp(good) == lib.CT_IMPORT_OK
    assert box.orig_table == ffi.cast("void*", 1)
    assert box.input.table == box  # the handle's `t` is the box; wrappers forward to orig_table
    assert lib.ct_is_native_box(ffi.addressof(box[0], "input")) == 1
    assert box.reader_ext.get_table_entry == good.reader_ext.get_table_entry
    bad = ffi.new("ss_plugin_table_input*", good[0])
    bad.key_type = 99
    assert imp(bad) == lib.CT_IMPORT_BAD_KEY_TYPE
    bad.key_type = lib.SS_PLUGIN_ST_TABLE
    assert imp(bad) == lib.CT_IMPORT_BAD_KEY_TYPE
    bad = ffi.new("ss_plugin_table_input*", good[0])
    bad.name = ffi.NULL
    assert imp(bad) == lib.CT_IMPORT_NULL_NAME
    bad = ffi.new("ss_plugin_table_input*", good[0])
    bad.fields_ext = ffi.NULL
    assert imp(bad) == lib.CT_IMPORT_MISSING_EXT
    assert imp(bad, minor=0) == lib.CT_IMPORT_OK  # minor 0 uses the legacy copies only
    assert box.reader_ext.iterate_entries != good.reader_ext.iterate_entries
    for part, slot, code in [
        ("reader", "get_table_size", lib.CT_IMPORT_BAD_READER),
        ("writer", "add_table_entry", lib.CT_IMPORT_BAD_WRITER),
        ("fields", "get_table_field", lib.CT_IMPORT_BAD_FIELDS),
    ]:
        bad = ffi.new("ss_plugin_table_input*", good[0])
        setattr(getattr(bad, part), slot, ffi.NULL)
        assert imp(bad) == code, (part, slot)
        assert ffi.string(lib.ct_import_error_text(code)).decode().endswith(f"{part} vtables")
    bad = ffi.new("ss_plugin_table_input*", good[0])
    bad.reader.get_table_name = good.reader_ext.get_table_name  # same fn, fine
    bad.reader.get_table_size = ffi.cast("ct_get_table_size_fn", lib.ct_disp_get_table_size)
    assert imp(bad) == lib.CT_IMPORT_BAD_READER  # legacy copy differs from the _ext slot


HEADER_PROBE = r"""
#include <stdio.h>
#include "ct_plugin_api.h"
#define P(s, m) printf("%s %s %zu\n", #s, #m, offsetof(s, m));
#define S(s) printf("%s - %zu\n", #s, sizeof(s));
int main(void) {
%s
    return 0;
}
"""


def test_header_agrees_with_cdef(tmp_path: Path) -> None:
    """Our C header compiled alone (-pedantic, static layout asserts) gives the same numbers."""
    lines = [f"    S({s})" for s in LAYOUT] + [f"    P({s}, {m})" for s, m, _ in OFFSETS]
    src = tmp_path / "probe.c"
    src.write_text(HEADER_PROBE.replace("%s\n    return", "\n".join(lines) + "\n    return", 1))
    exe = tmp_path / "probe"
    flags = ["-std=c11", "-Wall", "-Wextra", "-Werror", "-pedantic", f"-I{INCLUDE_DIR}"]
    subprocess.run([compiler(), *flags, str(src), "-o", str(exe)], check=True, timeout=60)
    out = subprocess.run([str(exe)], check=True, capture_output=True, text=True, timeout=30).stdout
    got = {}
    for line in out.splitlines():
        s, m, v = line.split()
        got[(s, m)] = int(v)
    for s, (size, members) in LAYOUT.items():
        assert got[(s, "-")] == size == ffi.sizeof(s)
        for m, off in members.items():
            assert got[(s, m)] == off == ffi.offsetof(s, m)
