"""Tokens: lazy and validated checks, death after the callback, thread confinement."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from conftest import Remaining, snapshot

from concurrent_tables import U64, ImportedTable, Table, TableReader, TableRegistry, TableWriter
from concurrent_tables.errors import AccessDeniedError, StaleHandleError
from concurrent_tables.plugins.access import FULL_GRANT, READER_OPS, WRITER_OPS
from concurrent_tables.plugins.tokens import (
    CallbackScope,
    ValidatedTableReader,
    ValidatedTableWriter,
)


@pytest.fixture
def setup() -> tuple[Table[int, Remaining], ImportedTable]:
    t: Table[int, Remaining] = Table("remaining", U64, Remaining)
    for k in (1, 2):
        e = t.create_entry()
        e["remaining"] = k
        t.add_entry(k, e)
    reg = TableRegistry()
    reg.export(t)
    return t, reg.get_table("remaining", U64)


def test_scope_hands_out_requested_tokens() -> None:
    reg = TableRegistry()
    with CallbackScope("p", "init", registry=reg) as s:
        assert s.tables_input is not None and s.reader is None and s.writer is None
    with CallbackScope("p", "parse_event", reader=True, writer=True) as s:
        assert isinstance(s.reader, TableReader) and isinstance(s.writer, TableWriter)
        assert s.reader.alive and s.writer.alive
    assert not s.reader.alive and not s.writer.alive
    assert "dead" in repr(s.reader)


def test_lazy_tokens_check_each_use(setup: tuple[Table[int, Remaining], ImportedTable]) -> None:
    _, imp = setup
    grant = FULL_GRANT - {"iterate_entries"}
    with CallbackScope("p", "parse_event", reader=True, grant=grant) as s:
        assert s.reader is not None
        assert imp.size(s.reader) == 2  # granted ops work
        with pytest.raises(AccessDeniedError, match="provides no 'iterate_entries'"):
            imp.iterate(s.reader, lambda h: None)


def test_validated_tokens_check_once(setup: tuple[Table[int, Remaining], ImportedTable]) -> None:
    _, imp = setup
    with CallbackScope("p", "parse_event", reader=True, writer=True) as s:
        assert s.reader is not None and s.writer is not None
        r = s.reader.validate()
        w = s.writer.validate()
        assert isinstance(r, ValidatedTableReader) and isinstance(w, ValidatedTableWriter)
        assert r.validate() is r and w.validate() is w
        assert imp.size(r) == 2
        seen: list[Any] = []
        assert imp.iterate(r, lambda h: seen.append(h.key))
        assert seen == [1, 2]
    with pytest.raises(AccessDeniedError, match="after parse_event returned"):
        imp.size(r)  # validated tokens still die with their callback


def test_validate_fails_on_missing_operation() -> None:
    for ops, attr in ((READER_OPS, "reader"), (WRITER_OPS, "writer")):
        grant = FULL_GRANT - {ops[-1]}
        with CallbackScope("p", "parse_event", reader=True, writer=True, grant=grant) as s:
            token: Any = getattr(s, attr)
            with pytest.raises(AccessDeniedError, match=f"cannot be validated.*'{ops[-1]}'"):
                token.validate()


def test_dead_tokens(setup: tuple[Table[int, Remaining], ImportedTable]) -> None:
    t, imp = setup
    before = snapshot(t)
    with CallbackScope("plug", "parse_event", reader=True, writer=True) as s:
        reader, writer = s.reader, s.writer
        assert reader is not None and writer is not None
    ops: list[Any] = [
        lambda: imp.size(reader),
        lambda: imp.get_entry(reader, 1),
        lambda: imp.iterate(reader, lambda h: None),
        lambda: imp.create_entry(writer),
        lambda: imp.erase_entry(writer, 1),
        lambda: imp.clear(writer),
        lambda: imp.get_entry(writer, 1, write=True),
        lambda: reader.validate(),
    ]
    for op in ops:
        with pytest.raises(AccessDeniedError) as info:
            op()
        msg = str(info.value)
        assert "of plugin 'plug' (parse_event)" in msg
        assert "after parse_event returned" in msg
        assert "valid only during the callback" in msg
    assert snapshot(t) == before


def test_tables_input_dies_after_init(
    setup: tuple[Table[int, Remaining], ImportedTable],
) -> None:
    t, _ = setup
    reg = TableRegistry()
    reg.export(t)
    with CallbackScope("p", "init", registry=reg) as s:
        tables = s.tables_input
        assert tables is not None
        imp = tables.get_table("remaining", U64)
        imp.get_field("remaining", U64)
    for op in (
        lambda: tables.get_table("remaining", U64),
        lambda: tables.list_tables(),
        lambda: tables.export_table(Table("other", U64, Remaining)),
        lambda: tables.reader,
    ):
        with pytest.raises(AccessDeniedError, match=r"TablesInput of plugin 'p' .* during init"):
            op()
    with pytest.raises(AccessDeniedError, match="fields are resolved or added during init"):
        imp.add_field("late", U64)
    assert "other" not in reg and [f.name for f in t.list_fields()][-1] == "countdown"


def test_handles_released_when_callback_returns(
    setup: tuple[Table[int, Remaining], ImportedTable],
) -> None:
    t, imp = setup
    with CallbackScope("p", "parse_event", reader=True, writer=True) as s:
        assert s.writer is not None
        kept = imp.get_entry(s.writer, 1, write=True)
        detached = imp.create_entry(s.writer)
    # The write lock is gone: the owner can write the entry again.
    with t.write(1) as h:
        h["remaining"] = 10
    with pytest.raises(StaleHandleError, match="released when parse_event of plugin 'p' returned"):
        kept["remaining"]
    with pytest.raises(StaleHandleError, match="destroyed when parse_event"):
        detached["remaining"] = 1
    assert len(t) == 2


@pytest.mark.timeout(10)
def test_tokens_confined_to_callback_thread(
    setup: tuple[Table[int, Remaining], ImportedTable],
) -> None:
    errors: list[BaseException] = []
    with CallbackScope("p", "parse_event", reader=True) as s:
        reader = s.reader
        assert reader is not None

        def other() -> None:
            try:
                reader.validate()
            except BaseException as exc:
                errors.append(exc)

        th = threading.Thread(target=other, daemon=True)
        th.start()
        th.join(5)
    assert len(errors) == 1 and isinstance(errors[0], AccessDeniedError)
    assert "confined to their callback's thread" in str(errors[0])


@pytest.mark.timeout(10)
def test_abandoned_walk_closed_when_callback_returns() -> None:
    t: Table[int, Remaining] = Table("ts", U64, Remaining, thread_safe=True, timeout=1.0)
    for k in (1, 2):
        t.add_entry(k, t.create_entry())
    reg = TableRegistry()
    reg.export(t)
    imp = reg.get_table("ts", U64)
    with CallbackScope("p", "parse_event", reader=True) as s:
        assert s.reader is not None
        walk = imp.items(s.reader)
        assert next(walk).key == 1  # the walk now holds a read handle on entry 1
    done: list[bool] = []

    def writer() -> None:
        with t.write(1) as h:  # would time out if the walk still held entry 1
            h["remaining"] = 5
        done.append(True)

    th = threading.Thread(target=writer, daemon=True)
    th.start()
    th.join(5)
    assert done == [True]


def test_tracking_stays_bounded_in_long_callbacks(
    setup: tuple[Table[int, Remaining], ImportedTable],
) -> None:
    _, imp = setup
    with CallbackScope("p", "init", reader=True) as s:
        assert s.reader is not None
        kept = imp.get_entry(s.reader, 2)
        for _ in range(5000):
            with imp.get_entry(s.reader, 1):
                pass
        assert len(s._tracked) < 600
        assert kept in s._tracked
    assert not kept.alive
