"""The Falco-shaped `threads` table (concurrent_tables.falco)."""

from __future__ import annotations

import pytest

from concurrent_tables import StateType
from concurrent_tables.errors import FieldDefinitionError, ReadOnlyFieldError
from concurrent_tables.falco import add_thread, threads_table
from concurrent_tables.handles import API, apply_view

I64, U8, U16, U32, U64 = (
    StateType.INT64,
    StateType.UINT8,
    StateType.UINT16,
    StateType.UINT32,
    StateType.UINT64,
)
S, B, T = StateType.STRING, StateType.BOOL, StateType.TABLE

THREAD_FIELDS = [
    *[(n, I64, False) for n in "tid pid ptid reaper_tid sid fd_limit vtid vpid vpgid pgid".split()],
    *[(n, S, False) for n in "comm exe exe_path root".split()],
    ("cwd", S, True),
    *[(n, B, False) for n in "exe_writable exe_upper_layer exe_lower_layer exe_from_memfd".split()],
    *[(n, U32, False) for n in "flags uid gid loginuid tty".split()],
    *[(n, U64, False) for n in "exe_ino exe_ino_ctime exe_ino_mtime pidns_init_start_ts".split()],
    *[(n, T, True) for n in "file_descriptors args env cgroups".split()],
]


def test_thread_fields_types_and_flags() -> None:
    threads = threads_table()
    assert threads.name == "threads" and threads.key_type is I64
    got = [(f.name, f.type, f.read_only) for f in threads.list_fields()]
    assert got == THREAD_FIELDS


def test_nested_tables() -> None:
    threads = threads_table(thread_safe=True)
    add_thread(threads, 7, comm="bash", cwd="/home")
    with threads.read(7) as h:
        assert h["tid"] == 7 and h["comm"] == "bash" and h["cwd"] == "/home"
        fds, args, env, cgroups = (h[n] for n in ("file_descriptors", "args", "env", "cgroups"))
    assert (fds.name, fds.key_type) == ("file_descriptors", I64)
    fd_fields = {f.name: f.type for f in fds.list_fields()}
    assert fd_fields["type"] is U8 and fd_fields["fd"] is I64 and fd_fields["name"] is S
    assert fd_fields["socket_ipv4_src_port"] is U16 and fd_fields["socket_unix_dest"] is U64
    assert list(fd_fields)[:3] == ["type", "open_flags", "name"]
    assert [(f.name, f.type) for f in args.list_fields()] == [("value", S)]
    assert [(f.name, f.type) for f in env.list_fields()] == [("value", S)]
    assert [(f.name, f.type) for f in cgroups.list_fields()] == [("first", S), ("second", S)]
    assert args.key_type is U64 and cgroups.key_type is U64
    e = args.create_entry()
    e["value"] = "--verbose"
    args.add_entry(0, e)
    assert len(args) == 1


@pytest.mark.parametrize("adapter", ["args", "env", "cgroups"])
def test_list_adapters_refuse_dynamic_fields(adapter: str) -> None:
    threads = threads_table()
    add_thread(threads, 1)
    with threads.read(1) as h:
        nested = h[adapter]
        with pytest.raises(FieldDefinitionError) as err:
            nested.add_field("extra", S)
    assert str(err.value).startswith("can't add dynamic fields to stl_container_table_adapter")
    # the other nested tables take dynamic fields
    with threads.read(1) as h:
        assert h["file_descriptors"].add_field("custom", S).dynamic


def test_cwd_is_read_only_through_the_api() -> None:
    threads = threads_table()
    add_thread(threads, 1, cwd="/")
    h = threads.write(1)
    apply_view(h, API)
    try:
        with pytest.raises(ReadOnlyFieldError):
            h["cwd"] = "/tmp"
        h["comm"] = "ok"
    finally:
        h.release()
