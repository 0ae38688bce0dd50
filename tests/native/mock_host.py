"""A small host + Python table owner over ``concurrent_tables._abi``: a TEST DOUBLE, not the bridge.

It implements every ``extern "Python"`` callback of the bridge with the reference's semantics and
error texts (table-abi.md §8-§9), on plain dict-based tables guarded by one lock, so the native test
plugin can run end to end before the real Python side exists. The real bridge replaces it; the shape
(handles from ``ffi.new_handle``, one ``ss_plugin_table_input`` per table, errors per thread) is a
reasonable template for it.

``ffi.def_extern`` binds process-wide and the last registration wins, so every ``MockHost()``
(re)installs this module's implementations; the real bridge should likewise install its own when it
creates a host, so both can coexist in one test session.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any, TypeVar

from concurrent_tables._abi import ffi, lib
from concurrent_tables._plugin_cdef import make_plugin_ffi

U64_ERR = 2**64 - 1
ST_TABLE = 10
TYPE_NAMES = {
    1: "int8", 2: "int16", 3: "int32", 4: "int64", 5: "uint8", 6: "uint16", 7: "uint32",
    8: "uint64", 9: "string", 10: "table", 25: "bool",
}  # fmt: skip
MEMBER = {
    1: "s8", 2: "s16", 3: "s32", 4: "s64", 5: "u8", 6: "u16", 7: "u32", 8: "u64",
    9: "str", 10: "table", 25: "b",
}  # fmt: skip

TEST_ONLY_CDEF = """
const char* ct_test_report(void* s);
const char* ct_test_thread_status(void* s);
int ct_test_thread_done(void* s);
"""


class OwnerError(Exception):
    """Raised inside a callback; its text becomes the owner's last error."""


# ---------------------------------------------------------------------------------------------
# tables


class Field:
    def __init__(
        self, schema: Schema, name: str, type_: int, read_only: bool, static: bool
    ) -> None:
        self.schema = schema
        self.name = name
        self.type = type_
        self.read_only = read_only
        self.static = static
        self.nested: Schema | None = None
        self.cname = ffi.new("char[]", name.encode())
        self.handle = ffi.new_handle(self)

    def default(self) -> Any:
        return b"" if self.type == 9 else 0


class Schema:
    """Field definitions shared by every table of one kind (e.g. all per-thread fd tables)."""

    def __init__(self, name: str, key_type: int) -> None:
        self.name = name
        self.key_type = key_type
        self.fields: dict[str, Field] = {}
        self._infos: Any = None

    def static(self, name: str, type_: int, read_only: bool = False) -> Field:
        f = Field(self, name, type_, read_only, static=True)
        self.fields[name] = f
        return f

    def get(self, name: str, type_: int) -> Field:
        f = self.fields.get(name)
        if f is None:
            raise OwnerError(f"undefined field '{name}' in table '{self.name}'")
        if f.type != type_:
            kind = "static" if f.static else "dynamic"
            raise OwnerError(f"incompatible data types for {kind} field: {name}")
        return f

    def add_dynamic(self, name: str, type_: int) -> Field:
        if type_ == ST_TABLE:
            raise OwnerError(f"can't add dynamic field of type table: {name}")
        f = self.fields.get(name)
        if f is not None and f.static:
            raise OwnerError(f"can't add dynamic field already defined as static: {name}")
        if f is not None:
            if f.type != type_:
                raise OwnerError(
                    "multiple definitions of dynamic field with different types in struct: "
                    f"{name}, prevtype={TYPE_NAMES[f.type]}, newtype={TYPE_NAMES[type_]}"
                )
            return f
        f = Field(self, name, type_, read_only=False, static=False)
        self.fields[name] = f
        return f

    def infos(self) -> tuple[Any, int]:
        fields = list(self.fields.values())
        arr = ffi.new("ss_plugin_table_fieldinfo[]", max(1, len(fields)))
        for i, f in enumerate(fields):
            arr[i].name = f.cname
            arr[i].field_type = f.type
            arr[i].read_only = 1 if (f.static and f.read_only) else 0
        self._infos = arr  # valid until the next call on this schema
        return arr, len(fields)


class Entry:
    def __init__(self, table: Table) -> None:
        self.table = table
        self.values: dict[Field, Any] = {}
        self.cstrs: dict[Field, Any] = {}
        self.nested: dict[Field, Table] = {}
        self.handle = ffi.new_handle(self)

    def nested_table(self, f: Field) -> Table:
        t = self.nested.get(f)
        if t is None:
            assert f.nested is not None
            t = Table(self.table.host, f.nested, f.nested.name)
            self.nested[f] = t
        return t


class Table:
    def __init__(self, host: MockHost, schema: Schema, name: str) -> None:
        self.host = host
        self.schema = schema
        self.name = name
        self.entries: dict[Any, Entry] = {}
        self.detached: set[Entry] = set()
        self.cname = ffi.new("char[]", name.encode())
        self.handle = ffi.new_handle(self)
        self.input = ffi.new("ss_plugin_table_input*")
        lib.ct_fill_py_table_input(self.input, self.cname, schema.key_type, self.handle)

    def decode_key(self, key: Any) -> Any:
        if key == ffi.NULL:
            raise OwnerError("null key")
        v = getattr(key, MEMBER[self.schema.key_type])
        if self.schema.key_type == 9:
            return ffi.string(v) if v != ffi.NULL else b""
        return v

    def own_entry(self, e: Any) -> Entry:
        if e == ffi.NULL:
            raise OwnerError("invalid entry: null")
        entry: Entry = ffi.from_handle(e)
        if entry.table is not self:
            raise OwnerError(f"entry does not belong to table '{self.name}'")
        return entry

    def own_field(self, f: Any) -> Field:
        if f == ffi.NULL:
            raise OwnerError("invalid field accessor: null")
        field: Field = ffi.from_handle(f)
        if field.schema is not self.schema:
            raise OwnerError(f"field accessor does not belong to table '{self.name}'")
        return field

    # direct (Python-side) helpers for tests
    def add(self, key: Any, **values: Any) -> Entry:
        e = Entry(self)
        for name, v in values.items():
            e.values[self.schema.fields[name]] = v.encode() if isinstance(v, str) else v
        self.entries[key] = e
        return e

    def value(self, key: Any, field: str) -> Any:
        with self.host.lock:
            e = self.entries[key]
            f = self.schema.fields[field]
            return e.values.get(f, f.default())


class NativeTable:
    """A table registered by a native plugin through add_table."""

    def __init__(self, owner: PluginOwner, name: str) -> None:
        self.owner = owner
        self.name = name
        self.cname = ffi.new("char[]", name.encode())
        self.box = ffi.new("ct_table_box*")
        self.handle = ffi.new_handle(self)

    @property
    def input(self) -> Any:
        return ffi.addressof(self.box[0], "input")


# ---------------------------------------------------------------------------------------------
# host


class MockHost:
    current: MockHost | None = None

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.tables: dict[str, Table | NativeTable] = {}
        self.logs: list[tuple[str | None, str, int]] = []
        self._tls = threading.local()
        self.empty = ffi.new("char[]", b"")
        self.graveyard: list[Entry] = []  # erased entries stay valid for late readers
        MockHost.current = self
        install_callbacks()

    # errors: one "last error" per thread (each plugin callback runs on one thread)
    def set_error(self, msg: str) -> None:
        self._tls.err = ffi.new("char[]", msg.encode())

    def last_error(self) -> Any:
        return getattr(self._tls, "err", ffi.NULL)

    def last_error_text(self) -> str | None:
        e = self.last_error()
        return None if e == ffi.NULL else ffi.string(e).decode()

    def add_table(self, table: Table) -> Table:
        self.tables[table.name] = table
        return table

    def python_table(self, name: str) -> Table:
        t = self.tables[name]
        assert isinstance(t, Table)
        return t


def make_threads_table(host: MockHost) -> Table:
    """A small `threads` table as the reference describes (one entry, tid 1, comm "init")."""
    s = Schema("threads", 4)
    s.static("tid", 4)
    s.static("pid", 4)
    s.static("comm", 9)
    s.static("exe", 9)
    s.static("cwd", 9, read_only=True)
    fds = s.static("file_descriptors", ST_TABLE, read_only=True)
    fds.nested = Schema("file_descriptors", 4)
    fds.nested.static("fd", 4)
    fds.nested.static("name", 9)
    fds.nested.static("type", 5)
    t = host.add_table(Table(host, s, "threads"))
    t.add(1, tid=1, pid=1, comm="init", cwd="/")
    return t


# ---------------------------------------------------------------------------------------------
# extern "Python" implementations

F = TypeVar("F", bound=Callable[..., Any])
_CALLBACKS: list[tuple[str, Callable[..., Any]]] = []


def install_callbacks() -> None:
    """Bind every extern "Python" callback to this module's implementation."""
    for name, wrapper in _CALLBACKS:
        ffi.def_extern(name=name)(wrapper)


def _callback(name: str, errval: Any) -> Callable[[F], F]:
    """def_extern with the project rule: no exception crosses C; it becomes the owner error."""

    def deco(fn: F) -> F:
        def wrapper(*args: Any) -> Any:
            host = MockHost.current
            assert host is not None
            with host.lock:
                try:
                    return fn(*args)
                except OwnerError as e:
                    host.set_error(str(e))
                except Exception as e:  # nothing may escape into C
                    host.set_error(f"internal error: {e!r}")
            return errval

        _CALLBACKS.append((name, wrapper))
        return fn

    return deco


def _table(t: Any) -> Table:
    if t == ffi.NULL:
        raise OwnerError("invalid table: null")
    table: Table = ffi.from_handle(t)
    return table


def _check_type(type_: int) -> None:
    if type_ not in TYPE_NAMES:
        raise OwnerError(f"can't convert plugin state type to typeinfo: {type_}")


@_callback("ct_py_list_table_fields", ffi.NULL)
def _list_table_fields(t: Any, nfields: Any) -> Any:
    arr, n = _table(t).schema.infos()
    nfields[0] = n
    return arr


@_callback("ct_py_get_table_field", ffi.NULL)
def _get_table_field(t: Any, name: Any, type_: int) -> Any:
    _check_type(type_)
    return _table(t).schema.get(ffi.string(name).decode(), type_).handle


@_callback("ct_py_add_table_field", ffi.NULL)
def _add_table_field(t: Any, name: Any, type_: int) -> Any:
    _check_type(type_)
    return _table(t).schema.add_dynamic(ffi.string(name).decode(), type_).handle


@_callback("ct_py_get_table_name", ffi.NULL)
def _get_table_name(t: Any) -> Any:
    return _table(t).cname


@_callback("ct_py_get_table_size", U64_ERR)
def _get_table_size(t: Any) -> int:
    return len(_table(t).entries)


@_callback("ct_py_get_table_entry", ffi.NULL)
def _get_table_entry(t: Any, key: Any) -> Any:
    table = _table(t)
    e = table.entries.get(table.decode_key(key))
    if e is None:
        raise OwnerError("get_entry found no element at given key")
    return e.handle


@_callback("ct_py_read_entry_field", 1)
def _read_entry_field(t: Any, e: Any, f: Any, out: Any) -> int:
    table = _table(t)
    entry = table.own_entry(e)
    field = table.own_field(f)
    if field.type == ST_TABLE:
        out.table = entry.nested_table(field).input
    elif field.type == 9:
        c = entry.cstrs.get(field)
        if c is None:
            v = entry.values.get(field, b"")
            c = entry.cstrs[field] = ffi.new("char[]", v) if v else table.host.empty
        out.str = c
    else:
        setattr(out, MEMBER[field.type], entry.values.get(field, 0))
    return 0


@_callback("ct_py_release_table_entry", None)
def _release_table_entry(t: Any, e: Any) -> None:
    return None  # no per-plugin acquisition tracking in the mock: every release is a no-op


@_callback("ct_py_iterate_entries", 0)
def _iterate_entries(t: Any, it: Any, s: Any) -> int:
    for entry in list(_table(t).entries.values()):
        if not lib.ct_call_iterator(it, s, entry.handle):
            return 0
    return 1


@_callback("ct_py_clear_table", 1)
def _clear_table(t: Any) -> int:
    table = _table(t)
    table.host.graveyard.extend(table.entries.values())
    table.entries.clear()
    return 0


@_callback("ct_py_erase_table_entry", 1)
def _erase_table_entry(t: Any, key: Any) -> int:
    table = _table(t)
    e = table.entries.pop(table.decode_key(key), None)
    if e is None:
        raise OwnerError("table entry not found")
    table.host.graveyard.append(e)
    return 0


@_callback("ct_py_create_table_entry", ffi.NULL)
def _create_table_entry(t: Any) -> Any:
    table = _table(t)
    e = Entry(table)
    table.detached.add(e)
    return e.handle


@_callback("ct_py_destroy_table_entry", None)
def _destroy_table_entry(t: Any, e: Any) -> None:
    table = _table(t)
    entry = table.own_entry(e)
    if entry not in table.detached:
        raise OwnerError("destroy_table_entry called on entry not created by create_table_entry")
    table.detached.discard(entry)
    table.host.graveyard.append(entry)


@_callback("ct_py_add_table_entry", ffi.NULL)
def _add_table_entry(t: Any, key: Any, e: Any) -> Any:
    table = _table(t)
    entry = table.own_entry(e)
    if entry not in table.detached:
        raise OwnerError("add_entry called on entry not created by create_table_entry")
    k = table.decode_key(key)
    table.detached.discard(entry)
    old = table.entries.get(k)
    if old is not None:
        table.host.graveyard.append(old)
    table.entries[k] = entry
    return entry.handle


@_callback("ct_py_write_entry_field", 1)
def _write_entry_field(t: Any, e: Any, f: Any, value: Any) -> int:
    table = _table(t)
    entry = table.own_entry(e)
    field = table.own_field(f)
    if field.type == ST_TABLE:
        raise OwnerError("writing to table fields is currently not supported")
    if field.read_only:
        raise OwnerError(f"attempt to write to read-only static struct field: {field.name}")
    if value == ffi.NULL:
        raise OwnerError("null value")
    if field.type == 9:
        s = value.str
        entry.values[field] = ffi.string(s) if s != ffi.NULL else b""
        entry.cstrs.pop(field, None)
    else:
        entry.values[field] = getattr(value, MEMBER[field.type])
    return 0


@_callback("ct_py_list_tables", ffi.NULL)
def _list_tables(o: Any, ntables: Any) -> Any:
    owner: PluginOwner = ffi.from_handle(o)
    tables = list(owner.host.tables.values())
    arr = ffi.new("ss_plugin_table_info[]", max(1, len(tables)))
    for i, t in enumerate(tables):
        arr[i].name = t.cname
        arr[i].key_type = t.input.key_type
    owner.table_infos = arr
    ntables[0] = len(tables)
    return arr


@_callback("ct_py_get_table", ffi.NULL)
def _get_table(o: Any, name: Any, key_type: int) -> Any:
    owner: PluginOwner = ffi.from_handle(o)
    _check_type(key_type)
    n = ffi.string(name).decode()
    t = owner.host.tables.get(n)
    if t is None:
        return ffi.NULL  # unknown name: NULL without an error, as libsinsp
    actual = int(t.input.key_type)
    if actual != key_type:
        raise OwnerError(
            f"table in registry accessed with wrong key type: table='{n}', "
            f"requested='{TYPE_NAMES[key_type]}', actual='{TYPE_NAMES[actual]}'"
        )
    return t.input


@_callback("ct_py_add_table", 1)
def _add_table(o: Any, inp: Any) -> int:
    owner: PluginOwner = ffi.from_handle(o)
    prefix = f"failure in adding state table defined by plugin '{owner.plugin_name}': "
    nt = NativeTable(owner, "?")
    code = lib.ct_import_table_input(
        nt.box, inp, owner.api_minor, owner.get_last_error_fn, ffi.NULL, nt.handle
    )
    if code == lib.CT_IMPORT_BAD_KEY_TYPE:
        raise OwnerError(f"can't convert plugin state type to typeinfo: {int(inp.key_type)}")
    if code != lib.CT_IMPORT_OK:
        raise OwnerError(prefix + ffi.string(lib.ct_import_error_text(code)).decode())
    name = ffi.string(inp.name).decode()
    if name in owner.host.tables:
        raise OwnerError(f"table added to registry multiple times: {name}")
    nt.name = name
    nt.cname = ffi.new("char[]", name.encode())
    nt.box.input.name = nt.cname  # our copy: the plugin may free its string
    owner.host.tables[name] = nt
    owner.exported.append(nt)
    return 0


@_callback("ct_py_get_owner_last_error", ffi.NULL)
def _get_owner_last_error(o: Any) -> Any:
    owner: PluginOwner = ffi.from_handle(o)
    return owner.host.last_error()


@_callback("ct_py_log_fn", None)
def _log_fn(o: Any, component: Any, msg: Any, sev: int) -> None:
    owner: PluginOwner = ffi.from_handle(o)
    comp = None if component == ffi.NULL else ffi.string(component).decode()
    owner.host.logs.append((comp, ffi.string(msg).decode(), int(sev)))


@_callback("ct_py_iterator", 0)
def _iterator(s: Any, e: Any) -> int:
    fn: Callable[[Any], bool] = ffi.from_handle(s)
    return 1 if fn(e) else 0


@_callback("ct_py_native_table_error", None)
def _native_table_error(cookie: Any, msg: Any) -> None:
    nt: NativeTable = ffi.from_handle(cookie)
    if msg == ffi.NULL:  # the exporter is still in its plugin_init: its error text is unreachable
        text = f"error in table '{nt.name}' of plugin '{nt.owner.plugin_name}'"
    else:
        text = ffi.string(msg).decode()
    nt.owner.host.set_error(text)


# ---------------------------------------------------------------------------------------------
# running a native plugin


class PluginOwner:
    """The `owner` cookie of one plugin: stable for the plugin's life."""

    def __init__(self, host: MockHost, plugin_name: str, get_last_error_fn: Any) -> None:
        self.host = host
        self.plugin_name = plugin_name
        self.api_minor = 12
        self.get_last_error_fn = get_last_error_fn
        self.exported: list[NativeTable] = []
        self.table_infos: Any = None
        self.handle = ffi.new_handle(self)


class NativePlugin:
    def __init__(self, host: MockHost, path: str, config: str = "") -> None:
        self.host = host
        self.pffi = make_plugin_ffi(TEST_ONLY_CDEF)
        self.lib = self.pffi.dlopen(path)
        name = self.pffi.string(self.lib.plugin_get_name()).decode()
        gle = ffi.cast(
            "ct_plugin_get_last_error_fn",
            self.pffi.addressof(self.lib, "plugin_get_last_error"),
        )
        self.owner = PluginOwner(host, name, gle)
        self.tables_in = ffi.new("ss_plugin_init_tables_input*")
        lib.ct_fill_init_tables_input(self.tables_in)
        self.config = ffi.new("char[]", config.encode())
        self.init_in = ffi.new("ss_plugin_init_input*")
        lib.ct_fill_init_input(self.init_in, self.config, self.owner.handle, self.tables_in)
        rc = ffi.new("ss_plugin_rc*")
        self.state = self.lib.plugin_init(self.init_in, rc)
        self.init_rc = int(rc[0])
        for nt in self.owner.exported:  # the state exists only now
            nt.box.plugin = self.state
        self.parse_in = ffi.new("ss_plugin_event_parse_input*")
        lib.ct_fill_parse_input(self.parse_in, self.owner.handle)
        self.listen_in = ffi.new("ss_plugin_capture_listen_input*")
        lib.ct_fill_capture_listen_input(self.listen_in, self.owner.handle, ffi.NULL)
        self.evt = ffi.new("ss_plugin_event*")
        self.evt_in = ffi.new("ss_plugin_event_input*")
        self.evtsrc = ffi.new("char[]", b"syscall")
        self.nevents = 0

    def last_error(self) -> str:
        return str(self.pffi.string(self.lib.plugin_get_last_error(self.state)).decode())

    def event_types(self) -> list[int]:
        n = self.pffi.new("uint32_t*")
        arr = self.lib.plugin_get_parse_event_types(n, self.state)
        return [arr[i] for i in range(n[0])]

    def parse(self, tid: int = 1, type_: int = 3) -> int:
        self.nevents += 1
        self.evt.ts = self.nevents
        self.evt.tid = tid
        self.evt.len = ffi.sizeof("ss_plugin_event")
        self.evt.type = type_
        self.evt.nparams = 0
        self.evt_in.evt = self.evt
        self.evt_in.evtnum = self.nevents
        self.evt_in.evtsrc = self.evtsrc
        return int(self.lib.plugin_parse_event(self.state, self.evt_in, self.parse_in))

    def capture_open(self) -> int:
        return int(self.lib.plugin_capture_open(self.state, self.listen_in))

    def capture_close(self) -> int:
        return int(self.lib.plugin_capture_close(self.state, self.listen_in))

    def report(self) -> dict[str, Any]:
        import json

        text = self.pffi.string(self.lib.ct_test_report(self.state)).decode()
        result: dict[str, Any] = json.loads(text)
        return result

    def thread_status(self) -> dict[str, Any]:
        import json

        text = self.pffi.string(self.lib.ct_test_thread_status(self.state)).decode()
        result: dict[str, Any] = json.loads(text)
        return result

    def thread_done(self) -> bool:
        return bool(self.lib.ct_test_thread_done(self.state))

    def destroy(self) -> None:
        if self.state != self.pffi.NULL:
            self.lib.plugin_destroy(self.state)
            self.state = self.pffi.NULL
