"""`timeout=`: None and math.inf wait for ever, TABLE_TIMEOUT is the table's, bad ones refused."""

from __future__ import annotations

import math
import threading

import pytest
from conftest import make_table

from concurrent_tables import I64, EntrySchema, Table
from concurrent_tables.errors import InvalidTimeoutError, LockTimeoutError, TablesError
from concurrent_tables.table import TABLE_TIMEOUT


class Row(EntrySchema):
    v: I64


@pytest.mark.parametrize("timeout", [None, math.inf, 1e300, threading.TIMEOUT_MAX * 2])
def test_forever_timeouts_wait_and_never_overflow(timeout: float | None) -> None:
    """A reader from another thread waits out the owner's write handle, whatever 'forever' is."""
    t = make_table(1, timeout=0.05)
    got: list[object] = []
    h = t.write(0)
    worker = threading.Thread(
        target=lambda: got.append(t.read(0, timeout=timeout).release()), daemon=True
    )
    worker.start()
    worker.join(0.2)  # longer than the table's own 0.05 s: only a for-ever wait is still waiting
    assert worker.is_alive() and got == []
    h.release()
    worker.join(5)
    assert not worker.is_alive() and got == [None]


def test_table_timeout_marker_uses_the_tables_timeout() -> None:
    t = make_table(1, timeout=0.05)
    errors: list[BaseException] = []

    def reader() -> None:
        try:
            t.read(0, timeout=TABLE_TIMEOUT)
        except BaseException as exc:
            errors.append(exc)

    with t.write(0):
        worker = threading.Thread(target=reader, daemon=True)
        worker.start()
        worker.join(5)
    assert len(errors) == 1 and isinstance(errors[0], LockTimeoutError)
    assert errors[0].timeout == 0.05


@pytest.mark.parametrize("bad", [-1.0, -0.5, math.nan, True, "1", [1]])
def test_bad_timeouts_are_refused_naming_the_table(bad: object) -> None:
    t = make_table(1)
    with pytest.raises(InvalidTimeoutError) as err:
        Table("rows2", I64, Row, thread_safe=True, timeout=bad)  # type: ignore[arg-type]
    assert "rows2" in str(err.value) and isinstance(err.value, TablesError | ValueError)
    errors: list[BaseException] = []

    def reader() -> None:  # another thread takes the locked path, where timeouts are used
        try:
            t.read(0, timeout=bad)  # type: ignore[arg-type]
        except BaseException as exc:
            errors.append(exc)

    worker = threading.Thread(target=reader, daemon=True)
    worker.start()
    worker.join(5)
    assert len(errors) == 1 and isinstance(errors[0], InvalidTimeoutError)
    assert "'rows'" in str(errors[0])
    assert t.statistics().locks_in_use == 0  # nothing left behind
    with t.write(0) as h:
        h["counter"] = 1


def test_bad_timeout_is_refused_on_the_owners_lock_free_path_too() -> None:
    t = make_table(1)
    with pytest.raises(InvalidTimeoutError):
        t.read(0, timeout=-3)
    with pytest.raises(InvalidTimeoutError):
        t.get_entry(0, write=True, timeout=math.nan)
    with t.write(0, timeout=math.inf) as h:  # and nothing was left borrowed
        h["counter"] = 2
