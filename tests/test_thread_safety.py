"""Thread-safety invariants of thread-safe tables, over many interleavings.

Each scenario runs the table's owner (this thread) against background threads with a 1 µs GIL
switch interval, so threads interleave at nearly every bytecode, and returns the invariant
violations it saw. Every scenario runs with the owner's fast path on and off (`fast_path`).

Teeth: `test_the_tests_fail_without_locking` runs each scenario on a table whose domain grants
every handle without any lock (`conftest.NoLockDomain`) and asserts that it DOES report
violations: lost updates, torn multi-field rows. So none of these tests would pass if the
locking were removed.
"""

from __future__ import annotations

import random
import threading
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest
from conftest import (
    make_table,
    python_core_only,
    row_ok,
    run_threads,
    run_with_owner,
    write_row,
)

from concurrent_tables import I64, Table
from concurrent_tables.errors import EntryExistsError, EntryNotFoundError, FieldNotFoundError

Scenario = Callable[[Table[int, Any]], list[str]]


def add_row(t: Table[int, Any], k: int, a: int | None = None) -> None:
    e = t.create_entry()
    write_row(e, k if a is None else a)
    t.add_entry(k, e)


def tear_and_rewrite(h: Any, a: int) -> None:
    """Pass through visibly inconsistent states, then leave a consistent row.

    The writer yields the GIL while the row is torn: a reader that is not excluded by the
    write handle gets every chance to see it.
    """
    h["b"] = 0
    h["total"] = 0
    h["tag"] = "torn"
    time.sleep(0)
    write_row(h, a)


# -- scenarios --------------------------------------------------------------------------------


def lost_updates(t: Table[int, Any], *, threads: int = 3, ops: int = 1500) -> list[str]:
    """Owner + `threads` background threads increment `counter` of 4 entries.

    The background threads work in bursts with short pauses on the owner's keys, so the owner
    keeps going between lock-free handles and locked ones (on keys in use by others).
    """
    keys = t.keys()
    go = threading.Barrier(threads + 1, timeout=5)

    def worker(seed: int) -> Callable[[], None]:
        def run() -> None:
            rnd = random.Random(seed)
            go.wait()
            for i in range(ops):
                with t.write(keys[rnd.randrange(len(keys))]) as h:
                    h["counter"] = h["counter"] + 1
                if seed and i % 50 == 49:
                    time.sleep(0.0005)

        return run

    run_with_owner(worker(0), [worker(i) for i in range(1, threads + 1)])
    total = 0
    for k in keys:
        with t.read(k) as h:
            total += h["counter"]
    expected = ops * (threads + 1)
    return [] if total == expected else [f"lost {expected - total} of {expected} updates"]


def torn_reads(t: Table[int, Any], *, ops: int = 1500) -> list[str]:
    """Writers rewrite whole rows under one write handle; readers must never see half a row."""
    keys = t.keys()
    bad: list[str] = []

    def writer(seed: int) -> Callable[[], None]:
        def run() -> None:
            rnd = random.Random(seed)
            for _ in range(ops):
                with t.write(keys[rnd.randrange(len(keys))]) as h:
                    tear_and_rewrite(h, rnd.randrange(1 << 30))

        return run

    def reader(seed: int) -> Callable[[], None]:
        def run() -> None:
            rnd = random.Random(seed)
            for _ in range(ops):
                with t.read(keys[rnd.randrange(len(keys))]) as h:
                    if not row_ok(h):
                        bad.append(f"torn row {h.key}: a={h['a']} b={h['b']} tag={h['tag']}")

        return run

    def owner() -> None:  # the owner both reads and writes
        reader(10)()
        writer(11)()

    run_with_owner(owner, [writer(1), writer(2), reader(3), reader(4)])
    return bad


def background_inserts(t: Table[int, Any], *, n: int = 250) -> list[str]:
    """The reference SDK's S5: a background thread inserts entries 0, 1, 2, ... (num == key)
    while the owner walks the table; every walk sees a prefix 0..m-1 in key order, growing
    from walk to walk. The background thread also rewrites earlier rows (torn on the way), and
    must not be blocked for the length of a walk.
    """
    bad: list[str] = []
    done, walking = threading.Event(), threading.Event()
    grew_during_a_walk = False

    def inserter() -> None:
        rnd = random.Random(5)
        walking.wait(5)
        try:
            for k in range(n):
                add_row(t, k)
                for _ in range(5 if k else 0):
                    j = rnd.randrange(k)
                    with t.write(j) as h:
                        tear_and_rewrite(h, j)
                time.sleep(0.0001)
        finally:
            done.set()

    def owner() -> None:
        nonlocal grew_during_a_walk
        last = 0
        walking.set()
        while True:
            finished = done.is_set()
            seen: list[int] = []
            size0 = len(t)

            def visit(h: Any, seen: list[int] = seen) -> None:
                seen.append(h.key)
                if h["a"] != h.key or not row_ok(h):
                    bad.append(f"entry {h.key}: a={h['a']} b={h['b']} tag={h['tag']}")
                if len(seen) % 16 == 0:
                    time.sleep(0)  # give the inserter a turn mid-walk

            assert t.iterate(visit) is True
            if seen != list(range(len(seen))):
                bad.append(f"walk saw {seen[:10]}... (not 0..m-1 in key order)")
            if len(seen) < last:
                bad.append(f"walk saw {len(seen)} entries after one saw {last}")
            last = len(seen)
            if len(t) > size0 and size0 < n:
                grew_during_a_walk = True
            if finished:
                break
        if last != n:
            bad.append(f"the last walk saw {last} entries, not {n}")

    run_with_owner(owner, [inserter], timeout=20)
    if not grew_during_a_walk:
        bad.append("no insert completed during any walk: the walk blocked the inserter")
    return bad


def erase_and_clear(t: Table[int, Any], *, ops: int = 400) -> list[str]:
    """Erase, re-add and clear race readers, writers and walkers: a handle always sees a whole
    row (or EntryNotFoundError), walks stay in key order, nothing else is raised.
    """
    n = len(t)
    bad: list[str] = []
    stop, erasing = threading.Event(), threading.Event()

    def eraser() -> None:
        rnd = random.Random(7)
        i = 0
        while not stop.is_set():
            i += 1
            if i == 20:
                erasing.set()
            if i % 100 == 0:
                t.clear()
                for k in range(n):
                    add_row(t, k)
                continue
            k = rnd.randrange(n)
            try:
                t.erase_entry(k)
            except EntryNotFoundError:
                pass
            try:
                add_row(t, k, rnd.randrange(1000))
            except EntryExistsError:
                pass

    def writer() -> None:
        rnd = random.Random(8)
        erasing.wait(5)
        for _ in range(ops):
            try:
                with t.write(rnd.randrange(n)) as h:
                    tear_and_rewrite(h, rnd.randrange(1000))
            except EntryNotFoundError:
                pass

    def reader(seed: int) -> Callable[[], None]:
        def run() -> None:
            rnd = random.Random(seed)
            erasing.wait(5)
            for i in range(ops):
                try:
                    with t.read(rnd.randrange(n)) as h:
                        if not row_ok(h):
                            bad.append(f"torn row {h.key}")
                except EntryNotFoundError:
                    pass
                if i % 10 == 0:
                    seen = []
                    for h in t.items():
                        seen.append(h.key)
                        if not row_ok(h):
                            bad.append(f"torn row {h.key} in a walk")
                    if seen != sorted(set(seen)):
                        bad.append(f"walk out of order: {seen}")

        return run

    def others() -> None:
        try:
            run_threads([writer, reader(2)])
        finally:
            stop.set()

    run_with_owner(reader(1), [eraser, others])
    return bad


def iteration_vs_inserts(t: Table[int, Any], *, walks: int = 60) -> list[str]:
    """Odd keys come and go while walkers run; even keys stay (rows rewritten meanwhile).
    Every walk is in key order and visits every even key.
    """
    for k in range(0, 16, 2):
        add_row(t, k)
    stable = list(range(0, 16, 2))
    bad: list[str] = []
    stop = threading.Event()
    churned = [0]

    def churn(seed: int) -> Callable[[], None]:
        def run() -> None:
            rnd = random.Random(seed)
            while not stop.is_set():
                churned[0] += 1
                k = 2 * rnd.randrange(8) + 1
                try:
                    if rnd.random() < 0.5:
                        add_row(t, k)
                    else:
                        t.erase_entry(k)
                except (EntryExistsError, EntryNotFoundError):
                    pass
                for _ in range(4):
                    with t.write(rnd.choice(stable)) as h:
                        tear_and_rewrite(h, h.key)

        return run

    def walker(seed: int) -> Callable[[], None]:
        def run() -> None:
            i = 0
            deadline = time.monotonic() + 5
            # At least `walks` walks, and on until the churners have really run.
            while i < walks or (churned[0] < 300 and time.monotonic() < deadline):
                i += 1
                seen: list[int] = []
                for h in t.items(write=bool((seed + i) % 2)):
                    seen.append(h.key)
                    if not row_ok(h):
                        bad.append(f"torn row {h.key}")
                if seen != sorted(set(seen)):
                    bad.append(f"walk out of order: {seen}")
                if not set(stable) <= set(seen):
                    bad.append(f"walk missed stable keys {sorted(set(stable) - set(seen))}")

        return run

    def owner() -> None:
        try:
            walker(0)()
        finally:
            stop.set()

    run_with_owner(owner, [walker(1), churn(2), churn(3)])
    return bad


def nested_tables(t: Table[int, Any], *, ops: int = 800) -> list[str]:
    """Threads increment entries of the tables nested in shared parent entries (taking the
    parent's read handle first), creating nested entries on first use; another thread
    rewrites the parents.
    """
    parents = t.keys()
    stop = threading.Event()
    go = threading.Barrier(3, timeout=5)

    def bump(seed: int) -> Callable[[], None]:
        def run() -> None:
            rnd = random.Random(seed)
            go.wait()
            for _ in range(ops):
                with t.read(rnd.choice(parents)) as ph:
                    nested = ph["children"]
                    c = rnd.randrange(4)
                    while True:
                        try:
                            with nested.write(c) as ch:
                                v = ch["count"]
                                if rnd.random() < 0.1:
                                    time.sleep(0)  # a slow writer is still atomic
                                ch["count"] = v + 1
                            break
                        except EntryNotFoundError:
                            try:
                                nested.add_entry(c, nested.create_entry())
                            except EntryExistsError:
                                pass

        return run

    def parent_writer() -> None:
        rnd = random.Random(9)
        while not stop.is_set():
            with t.write(rnd.choice(parents)) as h:
                tear_and_rewrite(h, h.key)

    def owner() -> None:
        bump(0)()

    def workers() -> None:
        try:
            run_threads([bump(1), bump(2)])
        finally:
            stop.set()

    run_with_owner(owner, [workers, parent_writer])
    total = 0
    bad: list[str] = []
    tables = set()
    for p in parents:
        with t.read(p) as ph:
            if not row_ok(ph):
                bad.append(f"torn parent {p}")
            nested = ph["children"]
            tables.add(id(nested))
            for h in nested.items():
                total += h["count"]
    if len(tables) != len(parents):
        bad.append("two threads made two nested tables for one entry")
    if total != 3 * ops:
        bad.append(f"lost {3 * ops - total} of {3 * ops} nested updates")
    return bad


def dynamic_fields(t: Table[int, Any], *, ops: int = 1200) -> list[str]:
    """Two threads add the same dynamic fields one by one while others increment the fields
    that exist so far and read every field of an entry.
    """
    names = [f"dyn{i}" for i in range(6)]
    keys = t.keys()
    bad: list[str] = []
    made: dict[str, set[int]] = {n: set() for n in names}
    counts: Counter[str] = Counter()
    lock = threading.Lock()

    def adder() -> None:
        for name in names:
            f = t.add_field(name, I64)
            with lock:
                made[name].add(id(f))
            time.sleep(0.0002)

    def writer(seed: int) -> Callable[[], None]:
        def run() -> None:
            rnd = random.Random(seed)
            mine: Counter[str] = Counter()
            for _ in range(ops):
                name = rnd.choice(names)
                try:
                    f = t.get_field(name, I64)
                except FieldNotFoundError:
                    continue
                with t.write(rnd.choice(keys)) as h:
                    v = h[f]
                    tear_and_rewrite(h, h.key)  # a static-field write between read and write
                    h[f] = v + 1
                mine[name] += 1
            with lock:
                counts.update(mine)

        return run

    def reader() -> None:
        rnd = random.Random(4)
        for _ in range(ops):
            with t.read(rnd.choice(keys)) as h:
                if not row_ok(h):
                    bad.append(f"torn row {h.key}")
                for info in t.list_fields():
                    v = h[info.name]
                    if info.name.startswith("dyn") and not (isinstance(v, int) and v >= 0):
                        bad.append(f"{info.name} of {h.key} reads {v!r}")

    run_with_owner(writer(0), [adder, adder, writer(1), writer(2), reader])
    for name in names:
        if len(made[name]) != 1:
            bad.append(f"add_field('{name}') returned {len(made[name])} different fields")
        f = t.get_field(name, I64)
        total = 0
        for k in keys:
            with t.read(k) as h:
                total += h[f]
        if total != counts[name]:
            bad.append(f"{name}: lost {counts[name] - total} of {counts[name]} updates")
    return bad


SCENARIOS: dict[str, tuple[Scenario, int]] = {  # scenario, number of entries to start with
    "lost_updates": (lost_updates, 4),
    "torn_reads": (torn_reads, 4),
    "background_inserts": (background_inserts, 0),
    "erase_and_clear": (erase_and_clear, 8),
    "iteration_vs_inserts": (iteration_vs_inserts, 0),
    "nested_tables": (nested_tables, 3),
    "dynamic_fields": (dynamic_fields, 3),
}


# -- the tests ---------------------------------------------------------------------------------


@pytest.mark.timeout(20)
@pytest.mark.parametrize("name", list(SCENARIOS))
def test_invariants_hold(switchy: None, fast_path: bool, name: str) -> None:
    scenario, n = SCENARIOS[name]
    t = make_table(n, fast_path=fast_path)
    assert scenario(t) == []
    stats = t.statistics()
    assert stats.locks_in_use == 0
    assert stats.timeouts == 0 and stats.errors == 0
    assert stats.acquisitions > 0  # the background threads took entry locks


@python_core_only
@pytest.mark.timeout(20)
def test_owner_fast_path_hand_over_is_exercised(switchy: None) -> None:
    """With the fast path on, the owner takes some handles lock-free (keys nobody else uses at
    that moment) and some locked (keys in use): every lost-update run crosses both ways.
    """
    t = make_table(4, fast_path=True)
    assert lost_updates(t, threads=1, ops=1500) == []
    locked = t.statistics().acquisitions
    # The background thread's 1500 handles are locked; some of the owner's were not.
    assert 1500 <= locked < 2 * 1500, locked

    t = make_table(4, fast_path=False)
    assert lost_updates(t, threads=1, ops=1500) == []
    assert t.statistics().acquisitions == 2 * 1500 + 4  # + the 4 reads of the final count


@pytest.mark.timeout(40)
@pytest.mark.parametrize("name", list(SCENARIOS))
def test_the_tests_fail_without_locking(switchy: None, name: str) -> None:
    """Each scenario DOES report violations on a table whose entry locks are removed."""
    scenario, n = SCENARIOS[name]
    found: list[str] = []
    for _ in range(8):
        t = make_table(n, unsafe=True)
        try:
            found = scenario(t)
        except AssertionError as exc:  # e.g. a walk that raised because of a torn state
            found = [str(exc)]
        if found:
            break
    assert found, f"{name} saw no violation without locks: it has no teeth"


@pytest.mark.timeout(10)
def test_owner_handle_does_not_hold_up_other_keys(switchy: None) -> None:
    """The owner's lock-free handle on one key never makes another thread wait on another key:
    the owner may hold a handle while it waits for a thread that works on other entries."""
    t = make_table(4, fast_path=True)
    done = threading.Event()

    def worker() -> None:
        for _ in range(200):
            with t.write(2, timeout=1.0) as h:
                h["counter"] = h["counter"] + 1
        done.set()

    with t.write(1) as mine:  # held across the whole wait below
        th = threading.Thread(target=worker, daemon=True)
        th.start()
        assert done.wait(5), "the worker waited for the owner's handle on another key"
        mine["counter"] = 7
    th.join(5)
    with t.read(2) as h:
        assert h["counter"] == 200
    assert t.statistics().locks_in_use == 0
