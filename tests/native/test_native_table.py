"""Tables a native plugin exports (`add_table`), used from Python as `NativeTable`s.

tests/native/plugins/exporter.c registers `plugin_sample` (uint64 key; u64_val; a read-only TABLE
field `children` whose values are per-entry child tables; the str_val it adds itself).
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest

from concurrent_tables import StateType
from concurrent_tables.cabi import NativeTable, last_error
from concurrent_tables.cabi.loader import NativePlugin
from concurrent_tables.errors import (
    EntryExistsError,
    EntryNotFoundError,
    FieldDefinitionError,
    FieldNotFoundError,
    FieldTypeMismatchError,
    ForeignFieldError,
    InvalidKeyError,
    InvalidValueError,
    PluginError,
    ReadOnlyFieldError,
    ReadOnlyHandleError,
    StaleHandleError,
    WrongThreadError,
)
from concurrent_tables.registry import TableRegistry

from .conftest import LoadFn

pytestmark = pytest.mark.timeout(30)

U64, STRING, TABLE = StateType.UINT64, StateType.STRING, StateType.TABLE


@pytest.fixture
def sample(
    load: LoadFn, directory: TableRegistry, exporter_so: Path
) -> tuple[NativeTable, NativePlugin]:
    p = load(exporter_so)
    nt = directory.find("plugin_sample")
    assert isinstance(nt, NativeTable)
    return nt, p


def test_metadata_and_fields(sample: Any) -> None:
    nt, p = sample
    assert (nt.name, nt.key_type, nt.plugin, len(nt)) == ("plugin_sample", U64, p.name, 0)
    assert [(f.name, f.type, f.read_only) for f in nt.list_fields()] == [
        ("u64_val", U64, False),
        ("children", TABLE, True),
        ("str_val", STRING, False),
    ]
    u64 = nt.get_field("u64_val", U64)
    assert nt.get_field("u64_val", U64) is u64  # resolved once
    assert u64.type is U64 and not u64.read_only and u64.accessor == p.pffi.cast("void*", 1)
    label = nt.add_field("label", STRING)
    assert nt.add_field("label", STRING) is label  # the plugin returns the same accessor
    with pytest.raises(FieldTypeMismatchError) as mismatch:
        nt.get_field("u64_val", STRING)
    assert str(mismatch.value) == "field defined with incompatible types: u64_val"
    assert mismatch.value.native_error == str(mismatch.value)  # type: ignore[attr-defined]
    with pytest.raises(FieldNotFoundError, match="undefined field 'nope' in table 'plugin_sample'"):
        nt.get_field("nope", U64)
    with pytest.raises(FieldDefinitionError, match="incompatible types: u64_val"):
        nt.add_field("u64_val", STRING)


def test_entries(sample: Any) -> None:
    nt, _ = sample
    u64 = nt.get_field("u64_val", U64)
    s = nt.get_field("str_val", STRING)
    for k in range(3):
        e = nt.create_entry()
        e[u64] = 10 * k
        e["str_val"] = f"row{k}"
        assert e[u64] == 10 * k  # detached entries read back
        assert nt.add_entry(k, e) is False
        assert not e.alive
    assert len(nt) == 3 and 1 in nt and 7 not in nt
    with nt.read(1) as h:
        assert (h[u64], h[s], h.key) == (10, "row1", 1)
        with pytest.raises(ReadOnlyHandleError):
            h[u64] = 5
    with nt.write(1) as h:
        h[u64] = 2**64 - 1
        h[s] = "héllo"
        with pytest.raises(InvalidValueError):
            h[u64] = -1
        with pytest.raises(ReadOnlyFieldError, match="writing to table fields"):
            h["children"] = 0
    with nt.get_entry(1) as h:
        assert h[u64] == 2**64 - 1 and h[s] == "héllo"
    assert not h.alive
    with pytest.raises(StaleHandleError):
        h[u64]
    with pytest.raises(EntryExistsError):
        nt.add_entry(1, nt.create_entry())
    again = nt.create_entry()
    assert nt.add_entry(1, again, replace=True) is True
    with nt.read(1) as h:
        assert h[u64] == 0 and h[s] == ""
    with pytest.raises(EntryNotFoundError) as missing:
        nt.get_entry(99)
    assert str(missing.value) == "unknown entry at key: 99"
    assert missing.value.key == 99 and missing.value.table == "plugin_sample"
    with pytest.raises(EntryNotFoundError, match="unknown entry at key: 98"):
        nt.erase_entry(98)
    with pytest.raises(InvalidKeyError):
        nt.get_entry(-1)
    nt.erase_entry(2)
    assert len(nt) == 2
    d = nt.create_entry()
    d.destroy()
    assert not d.alive
    nt.clear()
    assert len(nt) == 0


def test_iteration(sample: Any) -> None:
    nt, _ = sample
    u64 = nt.get_field("u64_val", U64)
    for k in range(5):
        e = nt.create_entry()
        e[u64] = k
        nt.add_entry(k, e)
    seen: list[int] = []
    assert nt.iterate(lambda h: seen.append(h[u64])) is True
    assert sorted(seen) == [0, 1, 2, 3, 4]
    seen.clear()
    assert nt.iterate(lambda h: seen.append(h[u64]) or len(seen) < 2) is False  # early stop
    assert len(seen) == 2
    kept: list[Any] = []

    def boom(h: Any) -> bool:
        kept.append(h)
        raise ValueError("stop here")

    with pytest.raises(ValueError, match="stop here"):
        nt.iterate(boom)
    assert not kept[0].alive  # valid only during its callback
    with pytest.raises(PluginError, match="use iterate"):
        nt.items()


def test_nested_tables(sample: Any) -> None:
    nt, _ = sample
    for k in (1, 2):
        nt.add_entry(k, nt.create_entry())
    with nt.write(1) as h:
        kids = h["children"]
        assert isinstance(kids, NativeTable)
        assert (kids.name, kids.key_type, len(kids)) == ("children", U64, 0)
        n = kids.get_field("u64_val", U64)
        e = kids.create_entry()
        e[n] = 7
        kids.add_entry(3, e)
        with kids.read(3) as k:
            assert k[n] == 7
        with pytest.raises(EntryNotFoundError) as missing:
            kids.get_entry(42)
        # the plugin's own nested handle: its error comes from its plugin_get_last_error
        assert str(missing.value) == "unknown entry at key: 42"
    with nt.read(2) as h:
        other = h["children"]
        assert other.family is kids.family  # one family: fields resolved once for all
        assert other.get_field("u64_val", U64) is n
        assert len(other) == 0
    with nt.read(1) as h:
        assert len(h["children"]) == 1
    with pytest.raises(ForeignFieldError):
        with nt.read(1) as h:
            h[n]  # a nested table's field on the parent


def test_confined_to_the_importing_thread(sample: Any) -> None:
    nt, _ = sample
    errors: list[BaseException] = []

    def other() -> None:
        try:
            len(nt)
        except BaseException as exc:
            errors.append(exc)

    th = threading.Thread(target=other, daemon=True)
    th.start()
    th.join(10)
    assert not th.is_alive()
    assert isinstance(errors[0], WrongThreadError)


def test_python_owned_tables_through_the_importer(directory: TableRegistry) -> None:
    """A NativeTable over our own exported handle: same results as through Table."""
    from concurrent_tables.cabi import table_input

    threads = directory.find("threads")
    assert threads is not None and not isinstance(threads, NativeTable)
    view = NativeTable(table_input(threads), "threads", StateType.INT64, plugin="host")
    with view.read(1) as h:
        assert h["comm"] == "init" and h["cwd"] == "/"
        fds = h["file_descriptors"]
        assert fds.key_type is StateType.INT64 and len(fds) == 0
    with pytest.raises(EntryNotFoundError) as missing:
        view.get_entry(5)
    assert str(missing.value) == "get_entry found no element at given key"
    assert last_error() == "get_entry found no element at given key"
