"""Falco's built-in `threads` table, as libsinsp exposes it to plugins.

    threads = threads_table(thread_safe=True)
    entry = threads.create_entry()
    entry["comm"] = "init"
    threads.add_entry(1, entry)

`threads` is keyed by int64 thread id. Its static fields have libsinsp's names, types and
read-only flags; `cwd` and the four TABLE fields are read-only. Each thread owns:

- `file_descriptors`: int64 fd -> the fd's static fields (type, flags, names, socket tuple, ...);
- `args` and `env`: uint64 index -> `value` (string), libsinsp's list adapters;
- `cgroups`: uint64 index -> `first`, `second` (strings).

The list adapters refuse dynamic fields with libsinsp's message. Unlike libsinsp's adapters,
they are ordinary keyed tables: adding index 5 does not create indexes 0-4, and erasing does not
shift the later elements down.
"""

from __future__ import annotations

from typing import Any

from .schema import EntrySchema, NestedTable, ReadOnly
from .table import Table
from .types import I64, U8, U16, U32, U64, Bool, String

#: libsinsp's refusal of dynamic fields on its list adapters.
LIST_ADAPTER_FIXED = "can't add dynamic fields to stl_container_table_adapter"


class FileDescriptor(EntrySchema):
    """One entry of a thread's `file_descriptors` table (libsinsp's sinsp_fdinfo fields)."""

    type: U8
    open_flags: U32
    name: String
    name_raw: String
    old_name: String
    flags: U32
    dev: U32
    mount_id: U32
    ino: U64
    pid: I64
    fd: I64
    socket_ipv4_src_ip: U32
    socket_ipv4_dest_dip: U32
    socket_ipv4_src_port: U16
    socket_ipv4_dst_port: U16
    socket_ipv4_l4_proto: U8
    socket_ipv6_src_ip_low: U64
    socket_ipv6_src_ip_high: U64
    socket_ipv6_dest_ip_low: U64
    socket_ipv6_dest_ip_high: U64
    socket_ipv6_src_port: U16
    socket_ipv6_dst_port: U16
    socket_ipv6_l4_proto: U8
    socket_ipv4_server_ip: U32
    socket_ipv4_server_port: U16
    socket_ipv4_server_l4_proto: U8
    socket_ipv6_server_ip_low: U64
    socket_ipv6_server_ip_high: U64
    socket_ipv6_server_port: U16
    socket_ipv6_server_l4_proto: U8
    socket_unix_src: U64
    socket_unix_dest: U64


class ListValue(EntrySchema):
    """One element of a string list adapter (`args`, `env`)."""

    __fixed_fields__ = LIST_ADAPTER_FIXED
    value: String


class PairValue(EntrySchema):
    """One element of a string-pair list adapter (`cgroups`)."""

    __fixed_fields__ = LIST_ADAPTER_FIXED
    first: String
    second: String


class Thread(EntrySchema):
    """One entry of `threads` (libsinsp's sinsp_threadinfo fields)."""

    tid: I64
    pid: I64
    ptid: I64
    reaper_tid: I64
    sid: I64
    fd_limit: I64
    vtid: I64
    vpid: I64
    vpgid: I64
    pgid: I64
    comm: String
    exe: String
    exe_path: String
    root: String
    cwd: ReadOnly[String]
    exe_writable: Bool
    exe_upper_layer: Bool
    exe_lower_layer: Bool
    exe_from_memfd: Bool
    flags: U32
    uid: U32
    gid: U32
    loginuid: U32
    tty: U32
    exe_ino: U64
    exe_ino_ctime: U64
    exe_ino_mtime: U64
    pidns_init_start_ts: U64
    file_descriptors: NestedTable[I64, FileDescriptor]
    args: NestedTable[U64, ListValue]
    env: NestedTable[U64, ListValue]
    cgroups: NestedTable[U64, PairValue]


def threads_table(
    *, thread_safe: bool = False, name: str = "threads", **options: Any
) -> Table[int, Thread]:
    """A new, empty `threads` table (options: those of `Table`, e.g. timeout)."""
    return Table(name, I64, Thread, thread_safe=thread_safe, **options)


def add_thread(table: Table[int, Thread], tid: int, **fields: Any) -> None:
    """Add thread `tid` with `tid` set and the given static fields (owner-side, cwd included)."""
    entry = table.create_entry()
    entry["tid"] = tid
    for k, v in fields.items():
        entry[k] = v
    table.add_entry(tid, entry)
