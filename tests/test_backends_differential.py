"""Differential test: random operation sequences, errors included, give identical results on the
Python backend (the reference) and the C core.

Each sequence runs on a `PythonTable` and on a table of the process's backend, built alike; every
operation's outcome (its result, or its error's type and message) must match, and so must the
tables' contents at the end. Skipped when the C core is not the backend.
"""

from __future__ import annotations

import random
import threading
from collections.abc import Callable
from typing import Any

import pytest

from concurrent_tables import I64, U8, U64, Bool, EntrySchema, NestedTable, ReadOnly, String, Table
from concurrent_tables import backend as backend_mod
from concurrent_tables.handles import API
from concurrent_tables.table import PythonTable

pytestmark = [
    pytest.mark.timeout(120),
    pytest.mark.skipif(backend_mod.BACKEND != "c", reason="the C core is not the backend"),
]


class Fd(EntrySchema):
    fd: I64
    name: String


class Proc(EntrySchema):
    pid: I64
    comm: String
    kind: U8
    total: U64
    flag: Bool
    ro: ReadOnly[I64]
    fds: NestedTable[I64, Fd]


VALUES: list[Any] = [
    0, 1, -1, 255, 256, 2**63 - 1, 2**63, -(2**63), 2**64 - 1, 2**64, "", "bash", "a\0b", "é",
    True, False, None, 1.5, b"x",
]  # fmt: skip
FIELDS = ["pid", "comm", "kind", "total", "flag", "ro", "fds", "nope", "late", "later"]
KEYS: list[Any] = [0, 1, 2, 3, -5, 2**63, "1", True, 1.0]


def outcome(fn: Callable[[], Any]) -> tuple[str, str]:
    try:
        r = fn()
    except Exception as exc:
        return (type(exc).__name__, str(exc))
    if isinstance(r, Table):
        return ("table", f"{r.name}:{len(r)}")
    return ("ok", repr(r))


class Driver:
    """One table and the handles a random program holds on it."""

    def __init__(self, table: Table[Any, Any]) -> None:
        self.t = table
        self.handles: list[Any] = []

    def run(self, op: tuple[Any, ...]) -> tuple[str, str]:
        t, hs = self.t, self.handles
        kind = op[0]
        if kind == "add":
            _, key, field, value, replace, api = op

            def add() -> Any:
                e = t.create_entry(API if api else None)
                hs.append(e)
                e[field] = value
                return t.add_entry(key, e, replace=replace)

            return outcome(add)
        if kind == "get":
            _, key, write = op

            def get() -> Any:
                h = t.get_entry(key, write=write)
                hs.append(h)
                return h

            return outcome(get)
        if kind in ("hread", "hwrite", "release"):
            if not hs:
                return ("none", "")
            h = hs[op[1] % len(hs)]
            if kind == "hread":
                return outcome(lambda: h[op[2]])
            if kind == "hwrite":
                return outcome(lambda: h.__setitem__(op[2], op[3]))
            return outcome(h.release)
        if kind == "nested":  # add an entry to the nested table of a held entry, then read it
            if not hs:
                return ("none", "")
            h = hs[op[1] % len(hs)]

            def nested() -> Any:
                n = h["fds"]
                e = n.create_entry()
                e["name"] = op[3]
                n.add_entry(op[2], e, replace=True)
                with n.read(op[2]) as r:
                    return (r["name"], len(n), n.keys())

            return outcome(nested)
        if kind == "erase":
            return outcome(lambda: t.erase_entry(op[1]))
        if kind == "clear":
            r = outcome(t.clear)
            # Which held key the refusal names is the first each core finds.
            return (r[0], r[1].split(":")[0]) if r[0] == "ReentrancyError" else r
        if kind == "keys":
            return outcome(lambda: (t.keys(), len(t), op[1] in t))
        if kind == "check_key":
            return outcome(lambda: t.check_key(op[1]))
        if kind == "add_field":
            return outcome(lambda: t.add_field(op[1], op[2]).name)
        if kind == "walk":
            return outcome(lambda: [(h.key, h["pid"]) for h in t.items(write=op[1])])
        raise AssertionError(kind)

    def contents(self) -> list[tuple[Any, ...]]:
        out = []
        for key in self.t.keys():
            with self.t.read(key) as h:
                out.append((key, *(outcome(lambda f=f: h[f]) for f in FIELDS)))
        return out


def program(rnd: random.Random, n: int) -> list[tuple[Any, ...]]:
    ops: list[tuple[Any, ...]] = []
    for _ in range(n):
        r = rnd.random()
        key = rnd.choice(KEYS) if rnd.random() < 0.15 else rnd.randrange(4)
        field, value = rnd.choice(FIELDS), rnd.choice(VALUES)
        if r < 0.15:
            ops.append(("add", key, field, value, rnd.random() < 0.5, rnd.random() < 0.3))
        elif r < 0.30:
            ops.append(("get", key, rnd.random() < 0.5))
        elif r < 0.45:
            ops.append(("hread", rnd.randrange(8), field))
        elif r < 0.60:
            ops.append(("hwrite", rnd.randrange(8), field, value))
        elif r < 0.72:
            ops.append(("release", rnd.randrange(8)))
        elif r < 0.76:
            ops.append(("nested", rnd.randrange(8), rnd.randrange(3), rnd.choice(["a", "b\0"])))
        elif r < 0.82:
            ops.append(("erase", key))
        elif r < 0.84:
            ops.append(("clear",))
        elif r < 0.89:
            ops.append(("keys", key))
        elif r < 0.93:
            ops.append(("check_key", rnd.choice(KEYS)))
        elif r < 0.97:
            ops.append(("add_field", rnd.choice(["late", "later", "pid"]), rnd.choice([I64, U8])))
        else:
            ops.append(("walk", rnd.random() < 0.5))
    return ops


@pytest.mark.parametrize("thread_safe", [True, False], ids=["thread-safe", "single-threaded"])
@pytest.mark.parametrize("seed", range(40))
def test_same_results_on_both_backends(seed: int, thread_safe: bool) -> None:
    rnd = random.Random(seed)
    py = Driver(PythonTable("procs", I64, Proc, thread_safe=thread_safe, timeout=0))
    c = Driver(Table("procs", I64, Proc, thread_safe=thread_safe, timeout=0))
    assert type(c.t) is not PythonTable
    for i, op in enumerate(program(rnd, 200)):
        a, b = py.run(op), c.run(op)
        assert a == b, f"op {i} {op}: python {a} != c {b}"
    for d in (py, c):  # release everything, then compare the whole tables
        for h in d.handles:
            h.release()
    assert py.contents() == c.contents()
    assert py.t.statistics().locks_in_use == c.t.statistics().locks_in_use == 0


@pytest.mark.parametrize("change", ["replace", "erase"])
def test_conflicts_are_per_key_on_both(change: str) -> None:
    """A handle on an entry since replaced (or erased and added again) still conflicts, in its
    own thread, with the key's new entry: the Python core locks keys, and the C core keeps such
    entries as retired ones of their key until they are idle."""
    results = []
    for cls in (PythonTable, Table):
        t: Table[Any, Any] = cls("procs", I64, Proc, thread_safe=True, timeout=0)
        t.add_entry(1, t.create_entry())
        old = t.read(1)
        if change == "erase":  # by another thread: this one may not erase what it holds
            th = threading.Thread(target=t.erase_entry, args=(1,), daemon=True)
            th.start()
            th.join(5)
        t.add_entry(1, t.create_entry(), replace=True)
        results.append(
            (
                outcome(lambda t=t: t.write(1).release()),
                outcome(lambda t=t: t.erase_entry(1)),
                outcome(t.clear),
                outcome(lambda t=t: t.read(1).release()),
            )
        )
        old.release()
        assert outcome(lambda t=t: t.write(1).release()) == ("ok", "None")
        assert len(t) == 1 and t.statistics().locks_in_use == 0
    assert results[0] == results[1]
    assert [r[0] for r in results[0]] == ["ReentrancyError"] * 3 + ["ok"]
