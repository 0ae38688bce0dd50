"""The owner side of Python tables: the 15 vtable slots, as `extern "Python"` callbacks.

A plugin calls a dispatcher with a table handle; the dispatcher calls the slot below with the
handle's id (see exported.py), entry id (pins.py) and accessor id. Each slot:
- resolves its ids, and fails cleanly on unknown, stale or mismatched ones;
- checks what the calling plugin's current phase grants (session.py), if a plugin is calling;
- does the work through the `Table` API, under the table's own locks;
- catches every exception, records its text as the caller's owner error in libsinsp's wording
  (messages.py), and returns the slot's error value: NULL/0, FAILURE, (uint64_t)-1 or false.
"""

from __future__ import annotations

from typing import Any, Final

from .._abi import ffi, lib
from ..errors import (
    EntryNotFoundError,
    ForeignFieldError,
    InvalidValueError,
    ReadOnlyFieldError,
    TablesError,
)
from ..fields import Field
from ..handles import API
from ..table import borrow_now, unborrow_now
from ..types import StateType, value_problem
from . import pins
from .context import _tls, set_error
from .convert import c_string, decode, value_bytes, value_string
from .exported import (
    ACCESSORS,
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
    TABLE_WRITE,
    known_type,
    owner_text,
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


def _fail(exc: BaseException) -> None:
    """Record `exc` as the caller's owner error; never raises."""
    try:
        set_error(owner_text(exc))
    except BaseException:  # pragma: no cover - last resort: a fixed text
        try:
            set_error("internal error in the Python table owner")
        except BaseException:
            pass


def _ref(t: int) -> TableRef:
    ref = REFS.get(t)
    if ref is None:
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


def _acc(ref: TableRef, f: int) -> Accessor:
    acc = ACCESSORS.get(f)
    if acc is None:
        if f == 0:
            raise BridgeError(f"invalid field accessor: null (table '{ref.table.name}')")
        raise BridgeError(f"invalid field accessor for table '{ref.table.name}'")
    if acc.registry is not ref.registry:
        raise ForeignFieldError(acc.name, acc.registry.table_name, ref.table.name)
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
    try:
        if nfields == ffi.NULL:
            raise BridgeError("list_table_fields: nfields is null")
        nfields[0] = 0
        ref = _ref(t)
        _check("list_table_fields")
        arr, n = field_infos(ref.registry)
        nfields[0] = n
        return arr
    except BaseException as exc:
        _fail(exc)
        return ffi.NULL


def _field_name(name: Any) -> str:
    if name == ffi.NULL:
        raise BridgeError("invalid field name: null")
    return c_string(name, "field name")


@extern("ct_py_get_table_field", error=0)
def _get_table_field(t: int, name: Any, data_type: int) -> int:
    try:
        ref = _ref(t)
        _check("get_table_field")
        want = known_type(data_type)
        f: Field = ref.table.get_field(_field_name(name), want)
        return accessor_of(f).id
    except BaseException as exc:
        _fail(exc)
        return 0


@extern("ct_py_add_table_field", error=0)
def _add_table_field(t: int, name: Any, data_type: int) -> int:
    try:
        ref = _ref(t)
        _check("add_table_field")
        want = known_type(data_type)
        f: Field = ref.table.add_field(_field_name(name), want)
        return accessor_of(f).id
    except BaseException as exc:
        _fail(exc)
        return 0


# -- reader ---------------------------------------------------------------------------------------


@extern("ct_py_get_table_name", error=ffi.NULL)
def _get_table_name(t: int) -> Any:
    try:
        ref = _ref(t)
        _check("get_table_name")
        return name_of(ref.registry)
    except BaseException as exc:
        _fail(exc)
        return ffi.NULL


@extern("ct_py_get_table_size", error=U64_ERROR)
def _get_table_size(t: int) -> int:
    try:
        ref = _ref(t)
        _check("get_table_size")
        return ref.table.size()
    except BaseException as exc:
        _fail(exc)
        return U64_ERROR


@extern("ct_py_get_table_entry", error=0)
def _get_table_entry(t: int, key: Any) -> int:
    try:
        ref = _ref(t)
        s = _check("get_table_entry")
        k = _key(ref, key)
        values = pins.lookup(ref.table, k)
        if values is None:
            raise EntryNotFoundError(ref.table.name, k)
        return pins.pin(ref.table, k, values, pins.ACQUIRED, s).id
    except BaseException as exc:
        _fail(exc)
        return 0


def _keep(s: PluginSession | None, p: pins.Pin, v: str) -> Any:
    """A C copy of `v` that outlives this call: until the callback returns, or the pin."""
    if not v:
        return EMPTY
    if s is not None:
        c = s.strings.get(v)
        if c is None:
            c = s.strings[v] = ffi.new("char[]", value_bytes(v))
        return c
    c = ffi.new("char[]", value_bytes(v))
    p.keep.append(c)
    return c


def _nested_pool(s: PluginSession | None) -> SlotPool | StableSlots:
    return s.pool if s is not None else orphan_pool()


@extern("ct_py_read_entry_field", error=FAILURE)
def _read_entry_field(t: int, e: int, f: int, out: Any) -> int:
    # The per-event hot path: pins.read is inlined here (a Python call costs ~50 ns).
    try:
        ref = REFS.get(t)
        if ref is None:
            ref = _ref(t)
        p = PINS.get(e)
        if p is None or p.table is not ref.table:
            p = _pin(ref, e)
        acc = ACCESSORS.get(f)
        if acc is None or acc.registry is not ref.registry:
            acc = _acc(ref, f)
        s: PluginSession | None = _tls.session
        if s is not None and "read_entry_field" not in s.grants:
            raise access_error(s, "read_entry_field")
        if out == NULL:
            raise BridgeError("read_entry_field: out is null")
        if p.entry is None and borrow_now(p.table, p.key, False):
            # the owner's lock-free borrow (pins.read, inlined: this is the hot path)
            try:
                try:
                    v = p.values[acc.index]
                except IndexError:  # a dynamic field this entry never stored
                    v = acc.default
                else:
                    if v is None and acc.nested:
                        v = p.table.nested_table(p.values, acc.field)
            finally:
                unborrow_now(p.table, p.key)
        else:
            v = pins.read(p, acc)
        kind = acc.kind
        if kind == KIND_INT:
            setattr(out, acc.member, v)
        elif kind == KIND_BOOL:
            out.b = 1 if v else 0
        elif kind == KIND_STRING:
            out.str = _keep(s, p, v)
        else:
            out.table = _nested_pool(s).take(v)
        return SUCCESS
    except BaseException as exc:
        _fail(exc)
        return FAILURE


@extern("ct_py_release_table_entry")
def _release_table_entry(t: int, e: int) -> None:
    try:
        p = pins.PINS.get(e)
        if p is None or p.kind != pins.ACQUIRED:
            return  # never acquired, already released, or an iteration entry: ignored
        ref = REFS.get(t)
        if ref is None or ref.table is not p.table:
            return  # released through another table: not an acquisition of this one
        pins.unpin(p)
    except BaseException as exc:
        _fail(exc)


@extern("ct_py_iterate_entries", error=0)
def _iterate_entries(t: int, it: Any, state: Any) -> int:
    try:
        ref = _ref(t)
        s = _check("iterate_entries")
        if it == ffi.NULL:
            raise BridgeError("iterate_entries: iterator function is null")
        table = ref.table
        for key in table.keys():
            values = pins.lookup(table, key)
            if values is None:
                continue  # erased since the snapshot of the keys
            p = pins.pin(table, key, values, pins.ITERATED, s)
            try:
                go = lib.ct_call_iterator(it, state, p.id)
            finally:
                pins.unpin(p)
            if not go:
                return 0
        return 1
    except BaseException as exc:
        _fail(exc)
        return 0


# -- writer ---------------------------------------------------------------------------------------


@extern("ct_py_clear_table", error=FAILURE)
def _clear_table(t: int) -> int:
    try:
        ref = _ref(t)
        _check("clear_table")
        ref.table.clear()
        return SUCCESS
    except BaseException as exc:
        _fail(exc)
        return FAILURE


@extern("ct_py_erase_table_entry", error=FAILURE)
def _erase_table_entry(t: int, key: Any) -> int:
    try:
        ref = _ref(t)
        _check("erase_table_entry")
        k = _key(ref, key)
        try:
            ref.table.erase_entry(k)
        except EntryNotFoundError:
            raise BridgeError(ERASE_MISSING) from None
        return SUCCESS
    except BaseException as exc:
        _fail(exc)
        return FAILURE


@extern("ct_py_create_table_entry", error=0)
def _create_table_entry(t: int) -> int:
    try:
        ref = _ref(t)
        s = _check("create_table_entry")
        entry = ref.table.create_entry(API)
        return pins.pin(ref.table, None, entry._values, pins.DETACHED, s, entry).id
    except BaseException as exc:
        _fail(exc)
        return 0


def _detached(ref: TableRef, e: int, message: str) -> pins.Pin:
    p = pins.PINS.get(e)
    if p is None or p.kind != pins.DETACHED or p.table is not ref.table or p.entry is None:
        raise BridgeError(message)
    return p


@extern("ct_py_destroy_table_entry")
def _destroy_table_entry(t: int, e: int) -> None:
    try:
        ref = _ref(t)
        _check("destroy_table_entry")
        p = _detached(ref, e, DESTROY_FOREIGN)
        assert p.entry is not None
        p.entry.destroy()
        pins.unpin(p)
    except BaseException as exc:
        _fail(exc)


@extern("ct_py_add_table_entry", error=0)
def _add_table_entry(t: int, key: Any, e: int) -> int:
    try:
        ref = _ref(t)
        s = _check("add_table_entry")
        p = _detached(ref, e, ADD_FOREIGN)
        k = _key(ref, key)
        entry = p.entry
        assert entry is not None
        values = entry._values
        ref.table.add_entry(k, entry, replace=True)  # the ABI replaces an existing entry
        pins.unpin(p)
        return pins.pin(ref.table, k, values, pins.ACQUIRED, s).id
    except BaseException as exc:
        _fail(exc)
        return 0


def _incoming(acc: Accessor, table: str, data: Any) -> Any:
    """The Python value of a write's input union, checked against the field's type."""
    kind = acc.kind
    if kind == KIND_INT:
        return getattr(data, acc.member)
    if kind == KIND_BOOL:
        return data.b != 0
    assert kind == KIND_STRING
    v = value_string(data.str)  # any bytes: libsinsp stores any (surrogateescape round trip)
    why = value_problem(StateType.STRING, v)
    if why is not None:
        raise InvalidValueError(table, acc.name, v, "string", why)
    return v


@extern("ct_py_write_entry_field", error=FAILURE)
def _write_entry_field(t: int, e: int, f: int, data: Any) -> int:
    try:
        ref = _ref(t)
        p = _pin(ref, e)
        acc = _acc(ref, f)
        _check("write_entry_field")
        # libsinsp's order: table fields first, then read-only static fields.
        if acc.nested:
            raise ReadOnlyFieldError(ref.table.name, acc.name, TABLE_WRITE)
        if acc.read_only:
            raise ReadOnlyFieldError(ref.table.name, acc.name)
        if data == ffi.NULL:
            raise BridgeError("write_entry_field: value is null")
        pins.write(p, acc, _incoming(acc, ref.table.name, data))
        return SUCCESS
    except BaseException as exc:
        _fail(exc)
        return FAILURE
