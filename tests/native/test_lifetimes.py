"""Lifetimes: a plugin's exported tables are unregistered when it is destroyed or its init
fails, and a later use of such a table is a TableGoneError, never a read of freed memory."""

from __future__ import annotations

import pytest

from concurrent_tables import U64, EntrySchema, Table
from concurrent_tables._abi import ffi, lib
from concurrent_tables.cabi.context import last_error
from concurrent_tables.cabi.native_backend import NativeBackend
from concurrent_tables.cabi.native_table import NativeTable
from concurrent_tables.cabi.plugin_adapter import load_native_plugin
from concurrent_tables.errors import AccessDeniedError, PluginError, TableGoneError
from concurrent_tables.plugins.base import AsyncContext, AsyncPlugin, ListenPlugin
from concurrent_tables.plugins.host import PluginHost
from concurrent_tables.plugins.tokens import TablesInput
from concurrent_tables.registry import TableRegistry

from .build import PLUGINS_DIR, compile_plugin

pytestmark = pytest.mark.timeout(60)
NAME = "cap_routine_table"


@pytest.fixture(scope="module")
def routine_path(tmp_path_factory: pytest.TempPathFactory) -> str:
    return str(compile_plugin(PLUGINS_DIR / "cap_routine.c", tmp_path_factory.mktemp("life")))


def native_table(registry: TableRegistry) -> NativeTable:
    backend = registry.get_table(NAME, U64)._backend
    assert isinstance(backend, NativeBackend)
    return backend.table


def test_a_listen_only_plugin_exports_at_init_and_its_table_works(routine_path: str) -> None:
    registry = TableRegistry()
    with PluginHost([load_native_plugin(routine_path, "export routines=0")], registry=registry):
        nt = native_table(registry)
        e = nt.create_entry()
        e["value"] = 41
        nt.add_entry(7, e)
        assert nt.size() == 1
        with nt.read(7) as h:
            assert h["value"] == 41


def test_after_destroy_the_table_is_unregistered_and_every_use_is_an_error(
    routine_path: str,
) -> None:
    registry = TableRegistry()
    with PluginHost([load_native_plugin(routine_path, "export routines=0")], registry=registry):
        nt = native_table(registry)
        nt.add_entry(1, nt.create_entry())
        box_input = nt.input
    assert NAME not in registry
    for use in (nt.size, nt.create_entry, nt.clear, nt.list_fields, lambda: nt.read(1)):
        with pytest.raises(TableGoneError, match=f"table '{NAME}' of plugin 'cap_routine' is gone"):
            use()
    # A native importer keeps the handle: its calls fail (error values), the plugin's freed
    # memory is not touched, and the error text names the table.
    assert lib.ct_disp_get_table_size(box_input) == 2**64 - 1
    assert "is gone: its plugin was destroyed" in (last_error() or "")
    assert lib.ct_disp_create_table_entry(box_input) == ffi.NULL


def test_a_failed_init_leaves_no_table_and_loading_again_works(routine_path: str) -> None:
    registry = TableRegistry()
    host = PluginHost([load_native_plugin(routine_path, "fail_after_export")], registry=registry)
    with pytest.raises(PluginError, match="init failed after exporting its table"):
        host.init()
    assert NAME not in registry
    with PluginHost([load_native_plugin(routine_path, "export routines=0")], registry=registry):
        assert native_table(registry).size() == 0


class Item(EntrySchema):
    value: U64


class ExportsThenFails(ListenPlugin):
    def init(self, tables: TablesInput | None) -> None:
        assert tables is not None
        tables.export_table(Table("py_items", U64, Item))
        raise RuntimeError("init failed after export")


class Exports(ListenPlugin):
    def init(self, tables: TablesInput | None) -> None:
        assert tables is not None
        tables.export_table(Table("py_items", U64, Item))


def test_python_plugins_tables_follow_the_same_rule() -> None:
    registry = TableRegistry()
    with pytest.raises(PluginError, match="init failed after export"):
        PluginHost([ExportsThenFails()], registry=registry).init()
    assert "py_items" not in registry
    with PluginHost([Exports()], registry=registry):
        assert "py_items" in registry
    assert "py_items" not in registry


def test_retiring_twice_keeps_the_first_reason(routine_path: str) -> None:
    registry = TableRegistry()
    with PluginHost([load_native_plugin(routine_path, "export routines=0")], registry=registry):
        nt = native_table(registry)
    assert nt.gone == "its plugin was destroyed"
    nt.retire("again")  # idempotent: the first reason stays
    assert nt.gone == "its plugin was destroyed"


@pytest.fixture(scope="module")
def async_path(tmp_path_factory: pytest.TempPathFactory) -> str:
    out = tmp_path_factory.mktemp("life_async")
    return str(compile_plugin(PLUGINS_DIR / "cap_async.c", out))


def test_an_async_only_native_plugin_exports_at_init_and_imports_nothing(async_path: str) -> None:
    from concurrent_tables.falco import threads_table

    registry = TableRegistry()
    registry.export(threads_table())
    plugin = load_native_plugin(
        async_path, "export count=1", extra_cdef="int cap_async_imported(void* s);"
    )
    with PluginHost([plugin], registry=registry):
        assert registry.owner_of("cap_async_table") == "cap_async"
        assert plugin.native.lib.cap_async_imported(plugin.native.state) == 0
        assert "cannot get_table during init (async init: export its own tables only" in (
            plugin.native.owner_error() or ""
        )
    assert "cap_async_table" not in registry


class AsyncExporter(AsyncPlugin):
    def init(self, tables: TablesInput | None) -> None:
        assert tables is not None  # an async-only plugin gets an export-only input
        tables.export_table(Table("async_items", U64, Item))
        with pytest.raises(AccessDeniedError, match="export its own tables only"):
            tables.get_table("async_items", U64)
        with pytest.raises(AccessDeniedError, match="export its own tables only"):
            tables.list_tables()

    def start_async(self, ctx: AsyncContext) -> None:
        pass


def test_an_async_only_python_plugin_exports_at_init() -> None:
    registry = TableRegistry()
    with PluginHost([AsyncExporter()], registry=registry):
        assert registry.owner_of("async_items") == "AsyncExporter"
