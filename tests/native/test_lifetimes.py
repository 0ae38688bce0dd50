"""Lifetimes: a plugin's exported tables are unregistered when it is destroyed or its init
fails, and a later use of such a table is a TableGoneError, never a read of freed memory."""

from __future__ import annotations

from pathlib import Path

import pytest

from concurrent_tables import U64, EntrySchema, Table
from concurrent_tables._abi import ffi, lib
from concurrent_tables.cabi.context import last_error
from concurrent_tables.cabi.native_backend import NativeBackend
from concurrent_tables.cabi.native_table import NativeTable
from concurrent_tables.cabi.plugin_adapter import load_native_plugin
from concurrent_tables.errors import AccessDeniedError, PluginError, TableGoneError
from concurrent_tables.falco import threads_table
from concurrent_tables.plugins.base import AsyncContext, AsyncPlugin, ListenPlugin
from concurrent_tables.plugins.host import PluginHost
from concurrent_tables.plugins.tokens import TablesInput
from concurrent_tables.registry import TableRegistry

from .build import PLUGINS_DIR, compile_plugin

PROBE_CDEF = "void ct_probe_gone(void* s, void* owner, void* owner_err);"

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


# -- pointers a native importer kept into a destroyed exporter's table ---------------------------

PROBED_SLOTS = (
    "get_table_name", "get_table_size", "get_table_entry", "read_entry_field", "iterate_entries",
    "write_entry_field", "create_table_entry", "add_table_entry", "erase_table_entry",
    "clear_table", "list_table_fields", "get_table_field", "add_table_field", "release_destroy",
)  # fmt: skip


def test_a_native_importers_kept_pointers_fail_after_the_exporters_destroy(
    exporter_so: Path, nested_importer_so: Path
) -> None:
    from .helpers import checks, failed, load_plugin

    registry = TableRegistry(threads_table())
    exporter = load_plugin(exporter_so, registry)
    exporter.init()
    importer = load_plugin(nested_importer_so, registry, extra_cdef=PROBE_CDEF)
    importer.init()
    try:
        assert importer.parse_event(3, tid=1)
        assert failed(importer) == []
        parsed = checks(importer, "parse")
        assert parsed["nested.read_back"]["detail"] == "99"
        assert checks(importer, "init")["discover.nested_name"]["detail"] == "children"
        exporter.destroy()  # frees plugin_sample, its entries and the nested tables
        # The importer still holds the table handle, entry 5, the nested handle and child 9.
        parse_input = ffi.new("ss_plugin_event_parse_input*")
        lib.ct_fill_parse_input(parse_input, importer.session.owner)
        importer.lib.ct_probe_gone(
            importer.state, importer.session.owner, parse_input.get_owner_last_error
        )
        gone = checks(importer, "gone")
        assert [c for c in gone.values() if not c["ok"]] == []
        top = "table 'plugin_sample' of plugin 'ct_exporter' is gone: its plugin was destroyed"
        nested = (
            "table 'children' (nested in table 'plugin_sample') of plugin 'ct_exporter' is "
            "gone: its plugin was destroyed"
        )
        for slot in PROBED_SLOTS[:-1]:
            assert gone[f"top.{slot}"]["err"] == top, slot
            assert gone[f"nested.{slot}"]["err"] == nested, slot
        assert gone["top.read_children"]["err"] == top
    finally:
        importer.destroy()
        exporter.destroy()


def test_nested_handles_are_our_boxes_one_per_nested_table(
    exporter_so: Path, nested_importer_so: Path
) -> None:
    """A TABLE field's value reaches importers as a box of the host, not the exporter's pointer;
    the same nested table gives the same box, and a box stands for one nested table only."""
    from .helpers import load_plugin

    registry = TableRegistry(threads_table())
    exporter = load_plugin(exporter_so, registry)
    exporter.init()
    try:
        nt = registry.find("plugin_sample")
        assert isinstance(nt, NativeTable) and nt._nested_boxes is not None
        for k in (1, 2):
            nt.add_entry(k, nt.create_entry())
        kids = []
        for k in (1, 2, 1):
            with nt.read(k) as h:
                kid = h["children"]
                kids.append(kid)
                assert lib.ct_is_native_box(kid.input)  # ours, through the same wrappers
        assert kids[0].input == kids[2].input != kids[1].input
        assert len(nt._nested_boxes) == 2
        with nt.read(2) as h:
            child = h["children"]
            e = child.create_entry()
            e["u64_val"] = 3
            child.add_entry(7, e)
        with nt.read(2) as h, h["children"].read(7) as c:
            assert c["u64_val"] == 3
        with nt.read(1) as h:
            assert len(h["children"]) == 0
    finally:
        exporter.destroy()
    with pytest.raises(TableGoneError):
        len(kids[1])


def test_native_calls_racing_the_exporters_destroy_succeed_or_fail_never_crash(
    exporter_so: Path,
) -> None:
    """A thread calling through the box while the exporter is destroyed: each call either ran
    before the retire (and was waited for) or fails; once one fails, all later ones fail."""
    import threading

    from .helpers import load_plugin

    registry = TableRegistry(threads_table())
    exporter = load_plugin(exporter_so, registry)
    exporter.init()
    nt = registry.find("plugin_sample")
    assert isinstance(nt, NativeTable)
    for k in range(50):
        nt.add_entry(k, nt.create_entry())
    box = nt.input
    u64 = lib.ct_disp_get_table_field(box, b"u64_val", 8)
    outcomes: list[bool] = []
    started = threading.Event()
    stop = threading.Event()

    def hammer() -> None:
        key = ffi.new("ss_plugin_state_data*")
        out = ffi.new("ss_plugin_state_data*")
        while not stop.is_set():
            key.u64 = len(outcomes) % 50
            e = lib.ct_disp_get_table_entry(box, key)
            ok = e != ffi.NULL and lib.ct_disp_read_entry_field(box, e, u64, out) == 0
            ok = ok and lib.ct_disp_get_table_size(box) == 50
            outcomes.append(ok)
            started.set()

    th = threading.Thread(target=hammer, daemon=True)
    th.start()
    assert started.wait(10)
    exporter.destroy()
    n = len(outcomes)
    while len(outcomes) < n + 200 and th.is_alive():
        pass
    stop.set()
    th.join(10)
    assert not th.is_alive()
    first_failure = outcomes.index(False)
    assert first_failure > 0 and not any(outcomes[first_failure:])
