"""The owner side of Python tables: the 15 vtable slots, as `extern "Python"` callbacks.

A plugin calls a dispatcher with a table handle; the dispatcher calls the slot below with the
handle's id (see exported.py), entry id (pins.py) and accessor id. Each slot:
- resolves its ids, and fails cleanly on unknown, stale or mismatched ones;
- checks what the calling plugin's current phase grants (session.py), if a plugin is calling;
- does the work through the `Table` API, under the table's own locks;
- raises on any failure: cffi catches the exception, `externs.record_owner_error` records its
  text as the caller's owner error in libsinsp's wording (messages.py), and C gets the slot's
  declared error value: NULL/0, FAILURE, (uint64_t)-1 or false.
"""

from __future__ import annotations

from typing import Any, Final

from .. import slots
from .._abi import ffi, lib
from ..errors import (
    EntryNotFoundError,
    ForeignFieldError,
    TablesError,
)
from ..fields import Field
from ..handles import API
from . import pins
from .context import _tls
from .convert import c_string, decode, value_bytes, value_string
from .exported import (
    ACCESSORS,
    GONE,
    KIND_BOOL,
    KIND_INT,
    KIND_STRING,
    REFS,
    Accessor,
    SlotPool,
    StableSlots,
    TableRef,
    accessor_of,
    field_infos,
    name_of,
)
from .externs import extern
from .messages import (
    ADD_FOREIGN,
    DESTROY_FOREIGN,
    ERASE_MISSING,
    known_type,
)
from .pins import PINS
from .session import PluginSession, access_error, orphan_pool

SUCCESS: Final = 0
FAILURE: Final = 1
U64_ERROR: Final = 2**64 - 1
EMPTY: Final = ffi.new("char[]", b"")
NULL: Final = ffi.NULL


class BridgeError(TablesError):
    """A bad argument from native code: unknown handle, NULL pointer, wrong table."""


def _ref(t: int) -> TableRef:
    ref = REFS.get(t)
    if ref is None:
        why = GONE.get(t)
        if why is not None:
            raise BridgeError(f"invalid table handle (id {t}): {why}")
        raise BridgeError(f"invalid table handle (id {t}): unknown or no longer valid")
    return ref


def _pin(ref: TableRef, e: int) -> pins.Pin:
    p = pins.PINS.get(e)
    if p is None:
        if e == 0:
            raise BridgeError(f"invalid entry: null (table '{ref.table.name}')")
        raise BridgeError(
            f"invalid entry for table '{ref.table.name}': unknown, released, or only valid "
            "during the callback that received it"
        )
    if p.table is not ref.table:
        raise BridgeError(f"entry does not belong to table '{ref.table.name}'")
    return p


def _bad_accessor(ref: TableRef, f: int) -> TablesError:
    """The error for accessor id `f` on `ref`'s table: null, unknown, or another table's."""
    acc = ACCESSORS.get(f)
    if acc is None:
        if f == 0:
            return BridgeError(f"invalid field accessor: null (table '{ref.table.name}')")
        return BridgeError(f"invalid field accessor for table '{ref.table.name}'")
    field = acc.field
    return ForeignFieldError(field.name, field.registry.table_name, ref.table.name)


def _acc(ref: TableRef, f: int) -> Accessor:
    acc = ACCESSORS.get(f)
    if acc is None or acc.field.registry is not ref.registry:
        raise _bad_accessor(ref, f)
    return acc


def _check(op: str) -> PluginSession | None:
    """The calling plugin (None on a plugin's own thread), if its phase allows `op`."""
    s: PluginSession | None = _tls.session
    if s is not None and op not in s.grants:
        raise access_error(s, op)
    return s


def _key(ref: TableRef, key: Any) -> Any:
    t = ref.table
    k = decode(key, t.key_type, "key")
    t.check_key(k)
    return k


# -- fields ---------------------------------------------------------------------------------------


@extern("ct_py_list_table_fields", error=ffi.NULL)
def _list_table_fields(t: int, nfields: Any) -> Any:
    if nfields == ffi.NULL:
        raise BridgeError("list_table_fields: nfields is null")
    nfields[0] = 0
    ref = _ref(t)
    _check("list_table_fields")
    arr, n = field_infos(ref.registry)
    nfields[0] = n
    return arr


def _field_name(name: Any) -> str:
    if name == ffi.NULL:
        raise BridgeError("invalid field name: null")
    return c_string(name, "field name")


def _field_accessor(t: int, name: Any, data_type: int, op: str) -> int:
    """get_table_field / add_table_field: the accessor id of the field `op` gives."""
    ref = _ref(t)
    _check(op)
    want = known_type(data_type)
    table = ref.table
    fn = table.add_field if op == "add_table_field" else table.get_field
    f: Field = fn(_field_name(name), want)
    return accessor_of(f).id


@extern("ct_py_get_table_field", error=0)
def _get_table_field(t: int, name: Any, data_type: int) -> int:
    return _field_accessor(t, name, data_type, "get_table_field")


@extern("ct_py_add_table_field", error=0)
def _add_table_field(t: int, name: Any, data_type: int) -> int:
    return _field_accessor(t, name, data_type, "add_table_field")


# -- reader ---------------------------------------------------------------------------------------


@extern("ct_py_get_table_name", error=ffi.NULL)
def _get_table_name(t: int) -> Any:
    ref = _ref(t)
    _check("get_table_name")
    return name_of(ref.registry)


@extern("ct_py_get_table_size", error=U64_ERROR)
def _get_table_size(t: int) -> int:
    ref = _ref(t)
    _check("get_table_size")
    return ref.table.size()


@extern("ct_py_get_table_entry", error=0)
def _get_table_entry(t: int, key: Any) -> int:
    ref = _ref(t)
    s = _check("get_table_entry")
    k = _key(ref, key)
    values = ref.table.storage_of(k)
    if values is None:
        raise EntryNotFoundError(ref.table.name, k)
    return pins.Pin(ref.table, k, values, pins.ACQUIRED, s).id


def _keep(s: PluginSession | None, p: pins.Pin, index: int, v: str) -> Any:
    """A C copy of `v`, read from field `index` through `p`, that outlives this call.

    During a callback, until it returns; on a plugin's own thread, until the next read of that
    field through `p`, or its release (the previous copy is freed: memory stays bounded).
    """
    if not v:
        return EMPTY
    if s is not None:
        c = s.strings.get(v)
        if c is None:
            c = s.strings[v] = ffi.new("char[]", value_bytes(v))
        return c
    c = p.keep[index] = ffi.new("char[]", value_bytes(v))
    return c


def _nested_pool(s: PluginSession | None) -> SlotPool | StableSlots:
    return s.pool if s is not None else orphan_pool()


@extern("ct_py_read_entry_field", error=FAILURE)
def _read_entry_field(t: int, e: int, f: int, out: Any) -> int:
    # The per-event hot path: the C core's branch of pins.read is inlined (a call costs ~50 ns).
    ref = REFS.get(t)
    if ref is None:
        ref = _ref(t)
    p = PINS.get(e)
    if p is None or p.table is not ref.table:
        p = _pin(ref, e)
    acc = ACCESSORS.get(f)
    if acc is None or (field := acc.field).registry is not ref.registry:
        raise _bad_accessor(ref, f)
    s: PluginSession | None = _tls.session
    if s is not None and "read_entry_field" not in s.grants:
        raise access_error(s, "read_entry_field")
    if out == NULL:
        raise BridgeError("read_entry_field: out is null")
    if p.entry is None and p.values.__class__ is not list:  # the C core, in one call
        v = p.table._read_pinned(p.values, p.key, field)  # type: ignore[attr-defined]
    else:
        v = pins.read(p, field)
    kind = acc.kind
    if kind == KIND_INT:
        setattr(out, acc.member, v)
    elif kind == KIND_BOOL:
        out.b = 1 if v else 0
    elif kind == KIND_STRING:
        out.str = _keep(s, p, field.index, v)
    else:
        out.table = _nested_pool(s).take(v)
    return SUCCESS


@extern("ct_py_release_table_entry")
def _release_table_entry(t: int, e: int) -> None:
    p = pins.PINS.get(e)
    if p is None or p.kind != pins.ACQUIRED:
        return  # never acquired, already released, or an iteration entry: ignored
    ref = REFS.get(t)
    if ref is None or ref.table is not p.table:
        return  # released through another table: not an acquisition of this one
    pins.unpin(p)


@extern("ct_py_iterate_entries", error=0)
def _iterate_entries(t: int, it: Any, state: Any) -> int:
    ref = _ref(t)
    s = _check("iterate_entries")
    if it == ffi.NULL:
        raise BridgeError("iterate_entries: iterator function is null")
    table = ref.table
    for key in table.keys():
        values = table.storage_of(key)
        if values is None:
            continue  # erased since the snapshot of the keys
        p = pins.Pin(table, key, values, pins.ITERATED, s)
        try:
            go = lib.ct_call_iterator(it, state, p.id)
        finally:
            pins.unpin(p)
        if not go:
            return 0
    return 1


# -- writer ---------------------------------------------------------------------------------------


@extern("ct_py_clear_table", error=FAILURE)
def _clear_table(t: int) -> int:
    ref = _ref(t)
    _check("clear_table")
    ref.table.clear()
    return SUCCESS


@extern("ct_py_erase_table_entry", error=FAILURE)
def _erase_table_entry(t: int, key: Any) -> int:
    ref = _ref(t)
    _check("erase_table_entry")
    k = _key(ref, key)
    try:
        ref.table.erase_entry(k)
    except EntryNotFoundError:
        raise BridgeError(ERASE_MISSING) from None
    return SUCCESS


@extern("ct_py_create_table_entry", error=0)
def _create_table_entry(t: int) -> int:
    ref = _ref(t)
    s = _check("create_table_entry")
    entry = ref.table.create_entry(API)
    return pins.Pin(ref.table, None, entry._values, pins.DETACHED, s, entry).id


def _detached(ref: TableRef, e: int, message: str) -> pins.Pin:
    p = pins.PINS.get(e)
    if p is None or p.kind != pins.DETACHED or p.table is not ref.table or p.entry is None:
        raise BridgeError(message)
    return p


@extern("ct_py_destroy_table_entry")
def _destroy_table_entry(t: int, e: int) -> None:
    ref = _ref(t)
    _check("destroy_table_entry")
    p = _detached(ref, e, DESTROY_FOREIGN)
    assert p.entry is not None
    p.entry.destroy()
    pins.unpin(p)


@extern("ct_py_add_table_entry", error=0)
def _add_table_entry(t: int, key: Any, e: int) -> int:
    ref = _ref(t)
    s = _check("add_table_entry")
    p = _detached(ref, e, ADD_FOREIGN)
    k = _key(ref, key)
    entry = p.entry
    assert entry is not None
    values = entry._values
    ref.table.add_entry(k, entry, replace=True)  # the ABI replaces an existing entry
    pins.unpin(p)
    return pins.Pin(ref.table, k, values, pins.ACQUIRED, s).id


def _incoming(acc: Accessor, table: str, data: Any) -> Any:
    """The Python value of a write's input union, checked against the field's type.

    Integers read from their own union member are always in range; strings are checked.
    """
    kind = acc.kind
    if kind == KIND_INT:
        return getattr(data, acc.member)
    if kind == KIND_BOOL:
        return data.b != 0
    assert kind == KIND_STRING
    v = value_string(data.str)  # any bytes: libsinsp stores any (surrogateescape round trip)
    slots.check_value(table, acc.field, v)
    return v


@extern("ct_py_write_entry_field", error=FAILURE)
def _write_entry_field(t: int, e: int, f: int, data: Any) -> int:
    ref = _ref(t)
    p = _pin(ref, e)
    acc = _acc(ref, f)
    _check("write_entry_field")
    field = acc.field
    if field.nested is not None or field.read_only:  # the common case skips the call
        slots.check_writable(ref.table.name, field, True)
    if data == ffi.NULL:
        raise BridgeError("write_entry_field: value is null")
    pins.write(p, field, _incoming(acc, ref.table.name, data))
    return SUCCESS
