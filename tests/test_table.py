"""The table model in one thread: types, keys, schemas, fields, entries, nested tables."""

from __future__ import annotations

import copy
import threading
from typing import Any

import pytest

from concurrent_tables import (
    I8,
    I16,
    I32,
    I64,
    U8,
    U16,
    U32,
    U64,
    Bool,
    EntrySchema,
    FieldInfo,
    NestedTable,
    Private,
    ReadOnly,
    StateType,
    String,
    Table,
    TablesError,
)
from concurrent_tables.errors import (
    EntryExistsError,
    EntryNotFoundError,
    FieldDefinitionError,
    FieldNotFoundError,
    FieldTypeMismatchError,
    ForeignEntryError,
    ForeignFieldError,
    InvalidKeyError,
    InvalidValueError,
    ReadOnlyFieldError,
    ReadOnlyHandleError,
    SchemaError,
    StaleHandleError,
)
from concurrent_tables.schema import factory


class Fd(EntrySchema):
    fd: I64
    name: String


class Thread(EntrySchema):
    pid: I64
    comm: String
    uid: U32
    cwd: ReadOnly[String]
    file_descriptors: NestedTable[I64, Fd]
    scratch: Private[list[int]] = factory(list)


def snapshot(t: Table[Any, Any]) -> dict[Any, list[Any]]:
    """The whole visible state of a table: every entry's values (nested tables by content)."""
    out = {}
    for k in t.keys():
        with t.read(k) as h:
            out[k] = [
                snapshot(h[f.name]) if f.type is StateType.TABLE else copy.copy(h[f.name])
                for f in t.list_fields()
            ]
    return out


@pytest.fixture
def threads() -> Table[int, Thread]:
    t: Table[int, Thread] = Table("threads", I64, Thread)
    e = t.create_entry()
    e["comm"] = "init"
    e["pid"] = 1
    e["cwd"] = "/"  # the owner may write read-only fields
    t.add_entry(1, e)
    return t


# -- the seed's flow -----------------------------------------------------------------------------


def test_seed_flow(threads: Table[int, Thread]) -> None:
    comm = threads.get_field("comm", String)
    with threads.get_entry(1) as entry:
        assert entry[comm] == "init"


# -- types and values ----------------------------------------------------------------------------

INT_CASES = [
    (I8, -128, 127),
    (I16, -(2**15), 2**15 - 1),
    (I32, -(2**31), 2**31 - 1),
    (I64, -(2**63), 2**63 - 1),
    (U8, 0, 255),
    (U16, 0, 2**16 - 1),
    (U32, 0, 2**32 - 1),
    (U64, 0, 2**64 - 1),
]


def test_abi_codes() -> None:
    codes = {t.name: int(t) for t in StateType}
    assert codes == {
        "INT8": 1,
        "INT16": 2,
        "INT32": 3,
        "INT64": 4,
        "UINT8": 5,
        "UINT16": 6,
        "UINT32": 7,
        "UINT64": 8,
        "STRING": 9,
        "TABLE": 10,
        "BOOL": 25,
    }


@pytest.mark.parametrize(("ann", "lo", "hi"), INT_CASES)
def test_integer_field_ranges(threads: Table[int, Thread], ann: Any, lo: int, hi: int) -> None:
    f = threads.add_field("v", ann)
    with threads.write(1) as h:
        h[f] = lo
        assert h[f] == lo
        h[f] = hi
        assert h[f] == hi
        for bad in (lo - 1, hi + 1, True, 1.0, "1", None, [1], {1: 1}):
            with pytest.raises(InvalidValueError) as ei:
                h[f] = bad
            assert "'v'" in str(ei.value) and "'threads'" in str(ei.value)
            assert h[f] == hi  # unchanged


def test_string_and_bool_values(threads: Table[int, Thread]) -> None:
    s = threads.add_field("s", String)
    b = threads.add_field("b", Bool)
    with threads.write(1) as h:
        h[s] = "héllo"
        h[b] = True
        for bad in ("a\0b", b"bytes", 1, None, "\ud800"):
            with pytest.raises(InvalidValueError):
                h[s] = bad
        for bad in (1, 0, "True", None):
            with pytest.raises(InvalidValueError):
                h[b] = bad
        assert (h[s], h[b]) == ("héllo", True)


def test_private_fields_hold_anything_and_are_not_listed(threads: Table[int, Thread]) -> None:
    names = [f.name for f in threads.list_fields()]
    assert "scratch" not in names
    with pytest.raises(FieldNotFoundError):
        threads.get_field("scratch", I64)
    with threads.write(1) as h:
        h["scratch"].append(3)
        assert h["scratch"] == [3]
    e = threads.create_entry()
    assert e["scratch"] == []  # a fresh default per entry


# -- keys -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("key_type", "good", "bad"),
    [
        *[(ann, hi, [lo - 1, hi + 1, True, "1", 1.5, None]) for ann, lo, hi in INT_CASES],
        (Bool, True, [1, "x", None]),
        (String, "k", [1, "a\0", None]),
    ],
)
def test_every_key_type(key_type: Any, good: Any, bad: list[Any]) -> None:
    t: Table[Any, Fd] = Table("t", key_type, Fd)
    t.add_entry(good, t.create_entry())
    with t.read(good):
        pass
    for k in bad:
        with pytest.raises(InvalidKeyError) as ei:
            t.read(k)
        assert "'t'" in str(ei.value)
        with pytest.raises(InvalidKeyError):
            t.add_entry(k, t.create_entry())
    assert t.keys() == [good]


def test_table_key_type_cannot_be_table() -> None:
    with pytest.raises(TablesError):
        Table("t", StateType.TABLE, Fd)


# -- schemas --------------------------------------------------------------------------------------


def test_listing_is_declaration_order_then_dynamic(threads: Table[int, Thread]) -> None:
    threads.add_field("z", U8)
    threads.add_field("a", String)
    assert threads.list_fields() == [
        FieldInfo("pid", StateType.INT64, False),
        FieldInfo("comm", StateType.STRING, False),
        FieldInfo("uid", StateType.UINT32, False),
        FieldInfo("cwd", StateType.STRING, True),
        FieldInfo("file_descriptors", StateType.TABLE, True),
        FieldInfo("z", StateType.UINT8, False),
        FieldInfo("a", StateType.STRING, False),
    ]


def test_schema_errors() -> None:
    with pytest.raises(SchemaError, match="needs a default"):

        class NoDefault(EntrySchema):
            x: Private[int]

    with pytest.raises(SchemaError, match="annotate"):

        class Float(EntrySchema):
            x: float

    with pytest.raises(SchemaError, match="invalid"):

        class BadDefault(EntrySchema):
            x: U8 = 300


def test_schema_defaults() -> None:
    class D(EntrySchema):
        n: U16 = 7
        s: String = "x"

    t: Table[int, D] = Table("d", U64, D)
    e = t.create_entry()
    assert (e["n"], e["s"]) == (7, "x")


# -- fields ---------------------------------------------------------------------------------------


def test_get_field_errors(threads: Table[int, Thread]) -> None:
    with pytest.raises(FieldNotFoundError, match="undefined field 'nope' in table 'threads'"):
        threads.get_field("nope", I64)
    with pytest.raises(FieldTypeMismatchError, match="static field: pid"):
        threads.get_field("pid", U64)
    threads.add_field("dyn", U64)
    with pytest.raises(FieldTypeMismatchError, match="dynamic field: dyn"):
        threads.get_field("dyn", I64)


def test_dynamic_fields(threads: Table[int, Thread]) -> None:
    f = threads.add_field("count", U64)
    assert threads.add_field("count", U64) is f  # idempotent, shared
    assert threads.get_field("count", U64) is f
    before = threads.list_fields()
    with pytest.raises(FieldDefinitionError, match="different types"):
        threads.add_field("count", String)
    with pytest.raises(FieldDefinitionError, match="already defined as static: comm"):
        threads.add_field("comm", String)
    with pytest.raises(FieldDefinitionError, match="of type table"):
        threads.add_field("t", StateType.TABLE)
    assert threads.list_fields() == before
    s = threads.add_field("label", String)
    b = threads.add_field("flag", Bool)
    with threads.read(1) as h:  # never written: defaults
        assert (h[f], h[s], h[b]) == (0, "", False)
    with threads.write(1) as h:
        h[s] = "x"
        assert (h[f], h[s], h[b]) == (0, "x", False)


def test_field_of_another_table_is_refused(threads: Table[int, Thread]) -> None:
    other: Table[int, Thread] = Table("other", I64, Thread)
    other.add_entry(1, other.create_entry())
    pid = other.get_field("pid", I64)
    with threads.write(1) as h, pytest.raises(ForeignFieldError, match="'other'"):
        h[pid] = 3
    with threads.read(1) as h:
        assert h["pid"] == 1


def test_read_only_fields_and_table_fields(threads: Table[int, Thread]) -> None:
    cwd = threads.get_field("cwd", String)
    fds = threads.get_field("file_descriptors", StateType.TABLE)
    with threads.write(1) as h:
        h[cwd] = "/tmp"  # the owner writes read-only fields
        with pytest.raises(ReadOnlyFieldError, match="table fields"):
            h[fds] = None
        assert h[cwd] == "/tmp"


def test_read_handle_refuses_writes(threads: Table[int, Thread]) -> None:
    with threads.read(1) as h, pytest.raises(ReadOnlyHandleError, match="comm"):
        h["comm"] = "x"
    assert snapshot(threads)[1][1] == "init"


# -- entries --------------------------------------------------------------------------------------


def test_add_entry_replace_is_explicit(threads: Table[int, Thread]) -> None:
    before = snapshot(threads)
    e = threads.create_entry()
    e["comm"] = "second"
    with pytest.raises(EntryExistsError, match="replace=True"):
        threads.add_entry(1, e)
    assert snapshot(threads) == before
    assert threads.add_entry(1, e, replace=True) is True
    assert snapshot(threads)[1][1] == "second"
    with pytest.raises(StaleHandleError, match="attached"):
        e["comm"] = "again"
    e2 = threads.create_entry()
    assert threads.add_entry(2, e2) is False
    assert len(threads) == threads.size() == 2


def test_foreign_and_destroyed_entries(threads: Table[int, Thread]) -> None:
    other: Table[int, Fd] = Table("fds", I64, Fd)
    with pytest.raises(ForeignEntryError, match="not created by create_table_entry"):
        threads.add_entry(5, other.create_entry())  # type: ignore[arg-type]
    e = threads.create_entry()
    e.destroy()
    with pytest.raises(StaleHandleError, match="destroyed"):
        threads.add_entry(5, e)
    assert threads.keys() == [1]


def test_erase_and_clear(threads: Table[int, Thread]) -> None:
    with pytest.raises(EntryNotFoundError, match="no element at given key: 9"):
        threads.erase_entry(9)
    threads.erase_entry(1)
    assert len(threads) == 0
    with pytest.raises(EntryNotFoundError):
        threads.read(1)
    for k in range(5):
        threads.add_entry(k, threads.create_entry())
    threads.clear()
    assert threads.keys() == []


def test_stale_handle(threads: Table[int, Thread]) -> None:
    h = threads.read(1)
    h.release()
    h.release()  # twice is a no-op
    with pytest.raises(StaleHandleError, match="released"):
        h["comm"]


def test_iteration_in_key_order_with_early_stop(threads: Table[int, Thread]) -> None:
    for k in (5, 3, 9, 7):
        threads.add_entry(k, threads.create_entry())
    seen: list[int] = []
    assert threads.iterate(lambda h: seen.append(h.key)) is True
    assert seen == [1, 3, 5, 7, 9]
    seen.clear()
    assert threads.iterate(lambda h: seen.append(h.key) or h.key < 5) is False
    assert seen == [1, 3, 5]
    # Inserting and erasing while iterating the same table works (key snapshot).
    for h in threads.items():
        if h.key == 3:
            threads.erase_entry(7)
            threads.add_entry(100, threads.create_entry())
    assert threads.keys() == [1, 3, 5, 9, 100]


# -- nested tables --------------------------------------------------------------------------------


def test_nested_tables_share_one_registry(threads: Table[int, Thread]) -> None:
    threads.add_entry(2, threads.create_entry())
    fds_field = threads.get_field("file_descriptors", StateType.TABLE)
    with threads.write(1) as h1, threads.write(2) as h2:
        fds1, fds2 = h1[fds_field], h2[fds_field]
        assert fds1 is not fds2
        assert h1[fds_field] is fds1  # the entry owns one table
        extra = fds1.add_field("custom", String)
        assert fds2.get_field("custom", String) is extra  # shared definition
        e = fds2.create_entry()
        e[extra] = "world"
        e["fd"] = 3
        fds2.add_entry(3, e)
        with fds2.read(3) as fh:
            assert (fh[extra], fh["fd"]) == ("world", 3)
        assert len(fds1) == 0


def test_nested_fields_through_a_detached_entry(threads: Table[int, Thread]) -> None:
    tmp = threads.create_entry()
    nested = tmp["file_descriptors"]
    name = nested.get_field("name", String)
    tmp.destroy()
    with threads.write(1) as h:
        fds = h["file_descriptors"]
        e = fds.create_entry()
        e[name] = "/etc/passwd"
        fds.add_entry(0, e)
        with fds.read(0) as fh:
            assert fh[name] == "/etc/passwd"


# -- what the C bridge uses: the field registry and an entry's storage --------------------------


def test_field_registry_is_shared_by_nested_tables(threads: Table[int, Thread]) -> None:
    comm = threads.get_field("comm", String)
    assert comm.registry is threads.field_registry
    e = threads.create_entry()
    threads.add_entry(2, e)
    with threads.read(1) as a, threads.read(2) as b:
        fds1, fds2 = a["file_descriptors"], b["file_descriptors"]
        assert fds1.field_registry is fds2.field_registry is not threads.field_registry


@pytest.mark.parametrize("thread_safe", [False, True])
def test_storage_of_is_the_entry_itself(thread_safe: bool) -> None:
    t: Table[int, Fd] = Table("fds", I64, Fd, thread_safe=thread_safe)
    e = t.create_entry()
    e["name"] = "/etc/passwd"
    t.add_entry(3, e)
    values = t.storage_of(3)
    assert values is not None and t.storage_of(4) is None
    name = t.get_field("name", String)
    assert values[name.index] == "/etc/passwd"
    with t.write(3) as h:
        h["name"] = "/tmp/x"
    assert values[name.index] == "/tmp/x"  # the same storage, not a copy
    t.erase_entry(3)
    assert t.storage_of(3) is None and values[name.index] == "/tmp/x"  # still readable


def test_storage_of_from_another_thread_takes_the_entry_lock() -> None:
    t: Table[int, Fd] = Table("fds", I64, Fd, thread_safe=True)
    t.add_entry(3, t.create_entry())
    mine = t.storage_of(3)
    seen: list[Any] = []
    worker = threading.Thread(target=lambda: seen.append(t.storage_of(3)), daemon=True)
    with t.write(3):  # the owner's exclusive handle: the other thread waits for it
        worker.start()
        worker.join(0.2)
        assert worker.is_alive() and seen == []
    worker.join(10)
    assert not worker.is_alive() and seen == [mine]
