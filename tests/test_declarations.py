"""Declarative typed import and runtime import."""

from __future__ import annotations

from typing import Any

import pytest

from concurrent_tables import (
    I32,
    I64,
    U8,
    U64,
    Bool,
    Custom,
    EntrySchema,
    Imported,
    ImportedNested,
    ImportedTable,
    NestedTable,
    ReadOnly,
    String,
    Table,
    TableImport,
    TableRegistry,
    TablesError,
    TablesInput,
)
from concurrent_tables.errors import (
    FieldDefinitionError,
    FieldNotFoundError,
    FieldTypeMismatchError,
    ImportDeclarationError,
    KeyTypeMismatchError,
)
from concurrent_tables.importing.declarations import api_name
from concurrent_tables.plugins.tokens import CallbackScope


class FileDescriptor(EntrySchema):
    fd: I64
    type: U8
    name: String


class Thread(EntrySchema):
    comm: String
    cwd: ReadOnly[String]
    file_descriptors: NestedTable[I64, FileDescriptor]


class FdImport(TableImport):
    fd: Imported[I64]
    fd_type: Imported[U8] = api_name("type")


class ThreadImport(TableImport):
    comm: Imported[String]
    cwd: Imported[String]
    num_events: Custom[U64]
    file_descriptors: ImportedNested[I64, FdImport]


def make_threads() -> tuple[TableRegistry, Table[int, Thread]]:
    t: Table[int, Thread] = Table("threads", I64, Thread)
    e = t.create_entry()
    e["comm"] = "node"
    e["cwd"] = "/"
    fds = e["file_descriptors"]
    for fd in range(33):
        f = fds.create_entry()
        f["fd"], f["type"] = fd, 9 if fd == 16 else 1
        fds.add_entry(fd, f)
    t.add_entry(1088, e)
    reg = TableRegistry()
    reg.export(t)
    return reg, t


def import_at_init(reg: TableRegistry, cls: type[Any], name: str = "threads") -> Any:
    with CallbackScope("p", "init", registry=reg) as s:
        tables: TablesInput | None = s.tables_input
        assert tables is not None
        return cls.import_table(tables, name, I64)


def test_typed_import_s6_style() -> None:
    reg, t = make_threads()
    view: ThreadImport = import_at_init(reg, ThreadImport)
    assert isinstance(view.table, ImportedTable)
    assert view.file_descriptors.fields.fd_type.name == "type"
    assert view.num_events.custom and not view.comm.custom
    with CallbackScope("p", "parse_event", reader=True, writer=True) as cb:
        assert cb.reader is not None and cb.writer is not None
        with view.table.get_entry(cb.writer, 1088, write=True) as h:
            assert view.comm.get(h) == "node"
            assert view.num_events.get(h) == 0  # never written: the type's default
            view.num_events.set(h, 5)
            with view.file_descriptors.get_by_key(h, cb.reader, 16) as fd:
                assert view.file_descriptors.fields.fd_type.get(fd) == 9
            nested = view.file_descriptors.get(h)
            assert nested.size(cb.reader) == 33
            types: dict[int, int] = {}
            fdi = view.file_descriptors.fields
            nested.iterate(
                cb.reader, lambda f: types.__setitem__(fdi.fd.get(f), fdi.fd_type.get(f))
            )
            assert len(types) == 33 and types[16] == 9
    with t.read(1088) as h:
        assert h["num_events"] == 5


def test_custom_fields_are_shared_and_idempotent() -> None:
    reg, t = make_threads()
    a: ThreadImport = import_at_init(reg, ThreadImport)
    b: ThreadImport = import_at_init(reg, ThreadImport)
    assert a.num_events.field is b.num_events.field
    assert [f.name for f in t.list_fields()].count("num_events") == 1


def test_nested_resolution_creates_no_entry() -> None:
    class Nested(TableImport):
        seen: Custom[Bool]

    class WithNested(TableImport):
        file_descriptors: ImportedNested[I64, Nested]

    reg = TableRegistry()
    t: Table[int, Thread] = Table("threads", I64, Thread)
    reg.export(t)
    view: WithNested = import_at_init(reg, WithNested)
    assert len(t) == 0
    e = t.create_entry()
    t.add_entry(1, e)
    with t.read(1) as h:
        assert [f.name for f in h["file_descriptors"].list_fields()][-1] == "seen"
    with pytest.raises(TablesError, match="describes nested tables"):
        view.file_descriptors.fields.table  # noqa: B018


def fails_at_init(cls: type[TableImport], error: type[Exception], match: str) -> None:
    reg, t = make_threads()
    before = [f.name for f in t.list_fields()]
    with pytest.raises(error, match=match) as info:
        import_at_init(reg, cls)
    assert any(cls.__name__ in n for n in getattr(info.value, "__notes__", []))
    assert len(t) == 1 and [f.name for f in t.list_fields()][: len(before)] == before


def test_type_mismatch_fails_at_init() -> None:
    class Bad(TableImport):
        comm: Imported[U64]

    fails_at_init(Bad, FieldTypeMismatchError, "incompatible data types for static field: comm")


def test_missing_field_fails_at_init() -> None:
    class Bad(TableImport):
        nope: Imported[U64]

    fails_at_init(Bad, FieldNotFoundError, "undefined field 'nope' in table 'threads'")


def test_custom_conflicting_with_static_fails_at_init() -> None:
    class Bad(TableImport):
        comm: Custom[String]

    fails_at_init(Bad, FieldDefinitionError, "already defined as static: comm")


def test_nested_key_mismatch_fails_at_init() -> None:
    class Bad(TableImport):
        file_descriptors: ImportedNested[I32, FdImport]

    fails_at_init(Bad, KeyTypeMismatchError, "requested='int32', actual='int64'")


def test_nested_on_scalar_field_fails_at_init() -> None:
    class Bad(TableImport):
        comm: ImportedNested[I64, FdImport]

    fails_at_init(Bad, FieldTypeMismatchError, "comm")


def test_unresolved_annotation_fails_at_import() -> None:
    class Late(TableImport):
        fds: ImportedNested[I64, Missing]  # type: ignore[name-defined]  # noqa: F821

    reg, _ = make_threads()
    with pytest.raises(ImportDeclarationError, match="unresolved annotation"):
        import_at_init(reg, Late)


def test_bad_declarations_fail_at_class_creation() -> None:
    with pytest.raises(ImportDeclarationError, match="annotate with Imported"):

        class A(TableImport):
            comm: int

    with pytest.raises(ImportDeclarationError, match="only allowed default is api_name"):

        class B(TableImport):
            comm: Imported[String] = "x"  # type: ignore[assignment]

    with pytest.raises(ImportDeclarationError, match="not a state type"):

        class C(TableImport):
            comm: Imported[str]

    with pytest.raises(ImportDeclarationError, match="TableImportSubclass"):

        class D(TableImport):
            fds: ImportedNested[I64, int]  # type: ignore[type-var]


def test_runtime_import() -> None:
    reg, t = make_threads()
    with CallbackScope("p", "init", registry=reg) as s:
        assert s.tables_input is not None
        threads = s.tables_input.get_table("threads", I64)
        comm = threads.get_field("comm", String)
        count = threads.add_field("count", U64)
        assert threads.add_field("count", U64) is count
        fds = threads.get_nested("file_descriptors", I64)
        fd_type = fds.get_field("type", U8)
        tag = fds.add_field("tag", String)
    with CallbackScope("p", "parse_event", reader=True, writer=True) as cb:
        assert cb.reader is not None and cb.writer is not None
        with threads.get_entry(cb.writer, 1088, write=True) as h:
            assert h[comm] == "node"
            h[count] = 3
            nested = h["file_descriptors"]
            assert isinstance(nested, ImportedTable)
            with nested.get_entry(cb.writer, 16, write=True) as f:
                assert f[fd_type] == 9
                f[tag] = "sock"
    with t.read(1088) as h, h["file_descriptors"].read(16) as f:
        assert h["count"] == 3 and f["tag"] == "sock"
