"""Field reads and writes through C-core handles: the same checks, errors and messages as the
Python handles (`concurrent_tables.handles`), compared on the same operations."""

from __future__ import annotations

from typing import Any

import pytest
from core_helpers import Rec, in_thread, make_core

from concurrent_tables import I64, U8, EntrySchema, Table
from concurrent_tables.errors import (
    FieldNotFoundError,
    ForeignEntryError,
    ForeignFieldError,
    ReadOnlyFieldError,
    ReadOnlyHandleError,
    StaleHandleError,
    WrongThreadError,
)
from concurrent_tables.handles import API

pytestmark = pytest.mark.timeout(30)


def python_table() -> Table[Any, Any]:
    t: Table[Any, Any] = Table("rec", I64, Rec, thread_safe=True)
    for k in range(3):
        e = t.create_entry()
        e["pid"] = k
        t.add_entry(k, e)
    return t


def outcome(fn: Any) -> tuple[str, str]:
    try:
        return ("ok", repr(fn()))
    except Exception as exc:  # the type and the message are what must agree
        return (type(exc).__name__, str(exc))


class Weird(int):
    pass


WRITES: list[tuple[str, Any]] = [
    ("pid", 5), ("pid", -(2**63)), ("pid", 2**63), ("pid", "1"), ("pid", True), ("pid", 1.0),
    ("pid", Weird(3)), ("kind", 255), ("kind", 256), ("kind", -1), ("total", 2**64 - 1),
    ("total", 2**64), ("total", -1), ("comm", "bash"), ("comm", "a\0b"), ("comm", "é"),
    ("comm", "\ud800"), ("comm", 1), ("comm", None), ("flag", True), ("flag", 1),
    ("ro", 1), ("fds", 1), ("scratch", [1]), ("scratch", 7), ("nope", 1),
]  # fmt: skip


@pytest.mark.parametrize("api", [False, True], ids=["owner", "api"])
@pytest.mark.parametrize(("name", "value"), WRITES, ids=[f"{n}={v!r}" for n, v in WRITES])
def test_writes_match_the_python_handles(name: str, value: Any, api: bool) -> None:
    py, c = python_table(), make_core()
    py_h = py.create_entry(API) if api else py.write(1)
    c_h = c.create_entry(API) if api else c.write(1)
    got = []
    for h in (py_h, c_h):
        got.append((outcome(lambda h=h: h.__setitem__(name, value)), outcome(lambda h=h: h[name])))
        h.release()
    # The nested table's repr names its object; compare types for it.
    if name == "fds":
        assert [g[0] for g in got[0]] == [g[0] for g in got[1]]
    else:
        assert got[0] == got[1]


@pytest.mark.parametrize(
    "key", [0, -1, 2**63, -(2**63) - 1, "1", 1.0, True, None, Weird(1)], ids=repr
)
def test_key_checks_match(key: Any) -> None:
    py, c = python_table(), make_core()
    assert outcome(lambda: py.check_key(key)) == outcome(lambda: c.check_key(key))
    assert outcome(lambda: py.read(key).release())[0] == outcome(lambda: c.read(key).release())[0]


@pytest.mark.parametrize("key_type", ["u8", "str", "bool"])
def test_key_types(key_type: str) -> None:
    from concurrent_tables import U8, Bool
    from concurrent_tables import String as Str

    kt = {"u8": U8, "str": Str, "bool": Bool}[key_type]
    c = make_core(keys=0, key_type=kt)
    py: Table[Any, Any] = Table("rec", kt, Rec, thread_safe=True)
    for key in (0, 255, 256, -1, "a", "a\0", True, b"x"):
        assert outcome(lambda key=key: py.check_key(key)) == outcome(
            lambda key=key: c.check_key(key)
        )


def test_reads_defaults_nested_and_private() -> None:
    c = make_core()
    with c.write(1) as h:
        assert (h["pid"], h["comm"], h["kind"], h["flag"], h["ro"]) == (1, "", 0, False, 0)
        assert h["scratch"] == [] and h["scratch"] is h["scratch"]
        fds = h["fds"]
        assert fds is h["fds"] and fds.name == "fds" and len(fds) == 0
        assert fds._domain is c._domain  # nested tables share the parent's domain
        e = fds.create_entry()
        e["name"] = "stdin"
        fds.add_entry(0, e)
        with fds.read(0) as fh:
            assert fh["name"] == "stdin"
        h["ro"] = 7  # the owner may write read-only fields
    with c.read(1) as r:
        assert r["ro"] == 7 and r["fds"] is fds
        with pytest.raises(ReadOnlyHandleError, match="through a read handle"):
            r["pid"] = 1


def test_dynamic_fields_grow_old_entries() -> None:
    c = make_core()
    f = c._registry.add("late", I64)
    g = c._registry.add("later", U8)
    with c.write(2) as h:
        assert h[f] == 0 and h[g] == 0
        h[g] = 9  # two slots past the end of the entry's values
        assert (h[f], h[g]) == (0, 9)
        h[f] = -4
    with c.read(2) as r:
        assert (r[f], r[g], r["pid"]) == (-4, 9, 2)
    with c.read(1) as r:
        assert (r[f], r[g]) == (0, 0)


def test_field_resolution_errors() -> None:
    class Other(EntrySchema):
        x: U8

    other: Table[Any, Any] = Table("other", I64, Other)
    c = make_core()
    with c.write(0) as h:
        with pytest.raises(ForeignFieldError, match="comes from table 'other'"):
            h[other.field("x")]
        with pytest.raises(ForeignFieldError):
            h[other.field("x")] = 1
        with pytest.raises(FieldNotFoundError):
            h["missing"]
        with pytest.raises(TypeError, match="expected a Field or a field name, got int 3"):
            h[3]
        with pytest.raises(TypeError):
            del h["pid"]
        assert h.get("pid") == 0
        h.set("pid", 4)
    api = c.create_entry(API)
    with pytest.raises(FieldNotFoundError, match="undefined field 'scratch'"):
        api["scratch"]
    with pytest.raises(ReadOnlyFieldError):
        api["ro"] = 1


def test_stale_and_wrong_thread() -> None:
    c = make_core(thread_safe=False)
    with c.write(1) as h:
        for fn in (lambda: h["pid"], lambda: h.__setitem__("pid", 1), h.release):
            assert isinstance(in_thread(fn), WrongThreadError)
        assert h.alive
    assert not h.alive and repr(h) == "<write handle on rec[1] (released)>"
    with pytest.raises(StaleHandleError, match="entry 1 of table 'rec' was already released"):
        h["pid"]
    with pytest.raises(StaleHandleError):
        h["pid"] = 1
    h.release()  # releasing twice is a no-op
    h.__exit__(None, None, None)
    assert isinstance(in_thread(lambda: c.read(1)), WrongThreadError)
    assert isinstance(in_thread(lambda: len(c)), WrongThreadError)
    assert isinstance(in_thread(c.create_entry), WrongThreadError)


def test_detached_entries() -> None:
    c = make_core()
    e = c.create_entry()
    assert repr(e) == "<detached entry of rec>" and e.key is None and e.write
    e["pid"] = 9
    assert isinstance(in_thread(lambda: e.__setitem__("pid", 1)), WrongThreadError)
    assert isinstance(in_thread(lambda: c.add_entry(9, e)), WrongThreadError)
    assert c.add_entry(9, e) is False
    assert repr(e) == "<detached entry of rec (attached)>"
    with pytest.raises(StaleHandleError, match="entry None of table 'rec' was already attached"):
        e["pid"]
    with pytest.raises(StaleHandleError, match="'<detached>'"):
        c.add_entry(10, e)
    d = c.create_entry()
    d.destroy()
    d.destroy()
    with pytest.raises(StaleHandleError, match="destroyed"):
        c.add_entry(10, d)
    other = make_core()
    with pytest.raises(ForeignEntryError):
        c.add_entry(10, other.create_entry())
    with c.write(0) as h, pytest.raises(ForeignEntryError):
        c.add_entry(10, h)
    with c.read(9) as r:
        assert r["pid"] == 9
