"""The core's map of native ids (ct_core.c, "Native ids"): what the C bridge's fast read looks
up. Registration checks its arguments, owns a reference to each object while registered, and
the map stays consistent (every id found by a lookup) through any order of insertions and
removals. The read itself is tested through the bridge (tests/native/test_fast_read.py)."""

from __future__ import annotations

import random
import sys
from typing import Any

import pytest
from core_helpers import core, make_core

pytestmark = pytest.mark.timeout(60)


def entry_of(t: Any, key: int) -> Any:
    with t.read(key) as h:
        return h._values


def stats() -> dict[str, int]:
    s: dict[str, int] = core._native_statistics()
    return s


def test_the_capsule_is_exported() -> None:
    assert type(core._C_API).__name__ == "PyCapsule"
    assert "concurrent_tables._core._C_API" in repr(core._C_API)


def test_registration_checks_its_arguments() -> None:
    t = make_core(keys=1)
    e = entry_of(t, 0)
    field = t._registry.lookup("pid")
    with pytest.raises(TypeError):
        core._native_ref(1, object())
    with pytest.raises(TypeError):
        core._native_pin(1, t, [0, 1])  # a Python-core value list is not an Entry
    with pytest.raises(TypeError):
        core._native_pin(1, e, t)
    with pytest.raises(TypeError):
        core._native_accessor(1, "pid")
    with pytest.raises(ValueError, match="no state type"):
        core._native_accessor(1, t._registry.lookup("scratch"))  # a private field
    with pytest.raises(ValueError, match="> 0"):
        core._native_pin(0, t, e)
    with pytest.raises(OverflowError):
        core._native_ref(-1, t)
    with pytest.raises(OverflowError):
        core._native_ref(2**64, t)
    with pytest.raises(TypeError):
        core._native_gate(bytearray(1))
    with pytest.raises(TypeError):
        core._native_gate([])
    core._native_accessor(2**64 - 1, field)  # every id in range is accepted
    core._native_unpin(2**64 - 2)  # forgetting an unknown id does nothing
    assert stats()["consistent"] == 1


def test_the_map_owns_a_reference_while_registered() -> None:
    t = make_core(keys=2)
    e0, e1 = entry_of(t, 0), entry_of(t, 1)
    base0, base1, base_t = sys.getrefcount(e0), sys.getrefcount(e1), sys.getrefcount(t)
    pins = stats()["pins"]
    core._native_pin(10**12, t, e0)
    assert sys.getrefcount(e0) == base0 + 1 and sys.getrefcount(t) == base_t + 1
    assert stats()["pins"] == pins + 1
    core._native_pin(10**12, t, e1)  # the same id again: replaces
    assert sys.getrefcount(e0) == base0 and sys.getrefcount(e1) == base1 + 1
    assert stats()["pins"] == pins + 1
    core._native_unpin(10**12)
    assert sys.getrefcount(e1) == base1 and sys.getrefcount(t) == base_t
    core._native_ref(10**12, t)
    assert sys.getrefcount(t) == base_t + 1
    core._native_unref(10**12)
    assert sys.getrefcount(t) == base_t
    assert stats()["pins"] == pins


def test_the_map_stays_consistent_through_random_churn() -> None:
    t = make_core(keys=4)
    entries = [entry_of(t, k) for k in range(4)]
    base = stats()["pins"]
    rng = random.Random(1234)
    live: set[int] = set()
    for step in range(20_000):
        if live and (len(live) > 3000 or rng.random() < 0.45):
            id = rng.choice(tuple(live)) if step % 7 else min(live)
            core._native_unpin(id)
            live.discard(id)
        else:
            # far from the bridge's own ids (small counters); a dense range makes long chains
            id = rng.randrange(2**62, 2**64) if step % 3 else rng.randrange(2**62, 2**62 + 5000)
            core._native_pin(id, t, entries[step % 4])
            live.add(id)
        if step % 500 == 0:
            s = stats()
            assert s["consistent"] == 1 and s["pins"] == base + len(live)
    for id in live:
        core._native_unpin(id)
    s = stats()
    assert s["consistent"] == 1 and s["pins"] == base
