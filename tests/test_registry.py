"""The registry and ImportedTable: errors with libsinsp's messages, API rules, confinement."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from conftest import Remaining, snapshot

from concurrent_tables import I64, U64, StateType, String, Table, TableRegistry
from concurrent_tables.errors import (
    EntryExistsError,
    EntryNotFoundError,
    FieldNotFoundError,
    FieldTypeMismatchError,
    ForeignEntryError,
    KeyTypeMismatchError,
    ReadOnlyFieldError,
    TableExistsError,
    TableNotFoundError,
    WrongThreadError,
)
from concurrent_tables.plugins.tokens import CallbackScope
from concurrent_tables.registry import TableInfo
from concurrent_tables.schema import EntrySchema, Private


class Thread(EntrySchema):
    comm: String
    secret: Private[int] = 0


@pytest.fixture
def reg() -> TableRegistry:
    r = TableRegistry()
    threads: Table[int, Thread] = Table("threads", I64, Thread)
    e = threads.create_entry()
    e["comm"] = "init"
    threads.add_entry(1, e)
    r.export(threads, owner="host")
    r.export(Table("remaining", U64, Remaining))
    return r


def test_seed_flow(reg: TableRegistry) -> None:
    threads = reg.get_table("threads", I64)
    comm = threads.get_field("comm", String)
    with CallbackScope("p", "extract_fields", reader=True) as cb:
        assert cb.reader is not None
        with threads.get_entry(cb.reader, 1) as h:
            assert h[comm] == "init"


def threads_state(reg: TableRegistry) -> dict[Any, tuple[Any, ...]]:
    owner: Any = reg.get_table("threads", I64)._backend.table  # type: ignore[attr-defined]
    return {**snapshot(owner), "fields": tuple(f.name for f in owner.list_fields())}


def test_export_duplicate(reg: TableRegistry) -> None:
    before = threads_state(reg)
    with pytest.raises(TableExistsError, match="table added to registry multiple times: threads"):
        reg.export(Table("threads", I64, Thread))
    assert len(reg) == 2 and reg.owner_of("threads") == "host"
    assert threads_state(reg) == before  # still the original table, unchanged


def test_list_tables(reg: TableRegistry) -> None:
    assert reg.list_tables() == [
        TableInfo("threads", StateType.INT64),
        TableInfo("remaining", StateType.UINT64),
    ]


def test_find_gives_the_table_itself(reg: TableRegistry) -> None:
    """The owner's view the C bridge serves native plugins from: the Table, no token, no view."""
    threads = reg.get_table("threads", I64)._backend.table  # type: ignore[attr-defined]
    assert reg.find("threads") is threads
    assert reg.find("nope") is None


def test_tables_given_at_construction_are_exported() -> None:
    a: Table[int, Thread] = Table("a", I64, Thread)
    b = Table("b", U64, Remaining)
    r = TableRegistry(a, b)
    assert r.list_tables() == [TableInfo("a", StateType.INT64), TableInfo("b", StateType.UINT64)]
    assert r.find("a") is a and r.owner_of("a") is None
    with pytest.raises(TableExistsError, match="table added to registry multiple times: a"):
        TableRegistry(a, a)


def test_get_table_errors(reg: TableRegistry) -> None:
    before = threads_state(reg)
    with pytest.raises(TableNotFoundError, match="table not found: 'nope'"):
        reg.get_table("nope", I64)
    with pytest.raises(KeyTypeMismatchError) as info:
        reg.get_table("threads", U64)
    assert str(info.value) == (
        "table in registry accessed with wrong key type: "
        "table='threads', requested='uint64', actual='int64'"
    )
    with pytest.raises(KeyTypeMismatchError, match="requested='table'"):
        reg.get_table("threads", StateType.TABLE)
    with pytest.raises(TypeError, match="can't convert plugin state type to typeinfo: 99"):
        reg.get_table("threads", 99)
    with pytest.raises(TableNotFoundError):
        reg.owner_of("nope")
    assert threads_state(reg) == before and len(reg) == 2


def test_field_errors_and_private_hidden(reg: TableRegistry) -> None:
    before = threads_state(reg)
    threads = reg.get_table("threads", I64)
    with pytest.raises(FieldNotFoundError, match="undefined field 'nope' in table 'threads'"):
        threads.get_field("nope", String)
    with pytest.raises(FieldTypeMismatchError, match="incompatible data types for static field"):
        threads.get_field("comm", U64)
    with pytest.raises(FieldNotFoundError, match="undefined field 'secret'"):
        threads.get_field("secret", I64)
    assert [f.name for f in threads.list_fields()] == ["comm"]
    with CallbackScope("p", "extract_fields", reader=True) as cb:
        assert cb.reader is not None
        with threads.get_entry(cb.reader, 1) as h, pytest.raises(FieldNotFoundError):
            h["secret"]
    assert threads_state(reg) == before


def test_api_rules_and_entry_errors(reg: TableRegistry) -> None:
    imp = reg.get_table("remaining", U64)
    owner_table: Any = imp._backend.table  # type: ignore[attr-defined]
    ro = imp.get_field("readonly", U64)
    rem = imp.get_field("remaining", U64)
    with CallbackScope("p", "parse_event", reader=True, writer=True) as cb:
        assert cb.reader is not None and cb.writer is not None
        e = imp.create_entry(cb.writer)
        e[rem] = 3
        with pytest.raises(
            ReadOnlyFieldError, match="attempt to write to read-only static struct field: readonly"
        ):
            e[ro] = 1
        assert imp.add_entry(cb.writer, 5, e) is False
        before = snapshot(owner_table)
        with imp.get_entry(cb.writer, 5, write=True) as h:
            with pytest.raises(ReadOnlyFieldError):
                h[ro] = 1
            with pytest.raises(ReadOnlyFieldError, match="writing to table fields"):
                h["countdown"] = 1
        e2 = imp.create_entry(cb.writer)
        with pytest.raises(EntryExistsError):
            imp.add_entry(cb.writer, 5, e2)
        with pytest.raises(EntryNotFoundError):
            imp.get_entry(cb.reader, 6)
        with pytest.raises(EntryNotFoundError):
            imp.erase_entry(cb.writer, 6)
        # An owner-side detached entry is not one the API created.
        with pytest.raises(ForeignEntryError, match="not created by create_table_entry"):
            imp.add_entry(cb.writer, 7, owner_table.create_entry())
        assert snapshot(owner_table) == before
        assert imp.add_entry(cb.writer, 5, e2, replace=True) is True
        assert imp.size(cb.reader) == 1
        imp.clear(cb.writer)
        assert imp.size(cb.reader) == 0


def test_items_and_iterate_key_order(reg: TableRegistry) -> None:
    imp = reg.get_table("remaining", U64)
    rem = imp.get_field("remaining", U64)
    with CallbackScope("p", "parse_event", reader=True, writer=True) as cb:
        assert cb.reader is not None and cb.writer is not None
        for k in (9, 3, 6):
            e = imp.create_entry(cb.writer)
            e[rem] = k
            imp.add_entry(cb.writer, k, e)
        assert [h.key for h in imp.items(cb.reader)] == [3, 6, 9]
        for h in imp.items(cb.writer, write=True):
            h[rem] = h[rem] * 10
        seen: list[int] = []

        def first_two(h: Any) -> bool:
            seen.append(h[rem])
            return len(seen) < 2

        assert imp.iterate(cb.reader, first_two) is False
        assert seen == [30, 60]


@pytest.mark.timeout(10)
def test_imported_view_confined_even_when_thread_safe() -> None:
    reg = TableRegistry()
    t: Table[int, Remaining] = Table("ts", U64, Remaining, thread_safe=True)
    reg.export(t)
    imp = reg.get_table("ts", U64)
    errors: list[BaseException] = []
    with CallbackScope("p", "parse_event", reader=True) as cb:
        reader = cb.reader

        def other() -> None:
            try:
                imp.size(reader)  # type: ignore[arg-type]
            except BaseException as exc:
                errors.append(exc)
            try:
                imp.list_fields()
            except BaseException as exc:
                errors.append(exc)

        th = threading.Thread(target=other, daemon=True)
        th.start()
        th.join(5)
    assert len(errors) == 2
    assert all(type(e) is WrongThreadError for e in errors)
    assert "imported table 'ts' was created in thread id" in str(errors[0])
    # The table itself is thread-safe: the owner may use it from any thread.
    assert len(t) == 0


@pytest.mark.timeout(10)
def test_import_of_own_thread_safe_table_uses_its_locks() -> None:
    reg = TableRegistry()
    t: Table[int, Remaining] = Table("ts", U64, Remaining, thread_safe=True, timeout=0.2)
    e = t.create_entry()
    t.add_entry(1, e)
    reg.export(t)
    imp = reg.get_table("ts", U64)
    got: list[BaseException | None] = []
    with CallbackScope("p", "parse_event", writer=True) as cb:
        assert cb.writer is not None
        with imp.get_entry(cb.writer, 1, write=True):

            def other() -> None:
                try:
                    with t.write(1):
                        got.append(None)
                except BaseException as exc:
                    got.append(exc)

            th = threading.Thread(target=other, daemon=True)
            th.start()
            th.join(5)
    from concurrent_tables.errors import LockTimeoutError

    assert len(got) == 1 and isinstance(got[0], LockTimeoutError)
    assert t.statistics().timeouts == 1
