"""BackgroundTask: periodic runs, stop, join timeout, collected errors."""

from __future__ import annotations

import math
import threading
import time

import pytest

from concurrent_tables.errors import BackgroundError, TablesError, TaskUsageError
from concurrent_tables.plugins.background import BackgroundTask, stop_all
from concurrent_tables.roles import ROUTINE, ThreadRole, current_role


@pytest.mark.timeout(10)
def test_runs_periodically_until_stopped() -> None:
    ticks = threading.Semaphore(0)
    task = BackgroundTask(ticks.release, interval=0.001, name="tick").start()
    for _ in range(3):
        assert ticks.acquire(timeout=5)
    assert task.running
    assert task.stop(timeout=5)
    assert not task.running and task.runs >= 3 and task.errors == []
    task.raise_errors()  # nothing to raise


@pytest.mark.timeout(10)
def test_target_returning_false_ends_the_task() -> None:
    task = BackgroundTask(lambda: False).start()
    assert task.join(5)
    assert task.runs == 1


@pytest.mark.timeout(10)
def test_errors_are_collected_and_reported() -> None:
    def boom() -> None:
        raise ValueError("boom")

    task = BackgroundTask(boom, name="boom").start()
    assert task.join(5)
    assert len(task.errors) == 1
    with pytest.raises(BackgroundError, match=r"background task 'boom' failed.*ValueError: boom"):
        task.raise_errors()


@pytest.mark.timeout(10)
def test_keep_running_after_errors() -> None:
    calls = []

    def flaky() -> bool:
        calls.append(1)
        if len(calls) < 3:
            raise RuntimeError("again")
        return False

    task = BackgroundTask(flaky, stop_on_error=False).start()
    assert task.join(5)
    assert len(task.errors) == 2 and len(calls) == 3


@pytest.mark.timeout(10)
def test_join_timeout_is_reported() -> None:
    release = threading.Event()
    task = BackgroundTask(lambda: release.wait(5) and False, name="stuck").start()
    assert not task.stop(timeout=0.05)
    assert "did not stop within 0.05s" in str(task.errors[-1])
    release.set()
    assert task.join(5)


@pytest.mark.timeout(10)
def test_role_is_set_on_the_thread_only() -> None:
    roles = []
    role = ThreadRole("p", ROUTINE)

    def record() -> bool:
        roles.append(current_role())
        return False

    task = BackgroundTask(record, role=role).start()
    assert task.join(5)
    assert roles == [role] and current_role() is None


@pytest.mark.timeout(10)
def test_stop_all_and_sleep() -> None:
    woke = []

    def sleeper() -> bool:
        woke.append(task.sleep(5))  # wakes at once on the stop request
        return False

    task = BackgroundTask(sleeper)
    other = BackgroundTask(lambda: None, interval=0.001)
    task.start()
    other.start()
    assert stop_all([task, other], timeout=5) == []
    assert woke == [True] and task.stop_requested


def test_misuse() -> None:
    for bad in (-1, math.nan):
        with pytest.raises(TaskUsageError, match="interval must be >= 0") as err:
            BackgroundTask(lambda: None, interval=bad, name="t")
        assert isinstance(err.value, TablesError | ValueError) and "'t'" in str(err.value)
    task = BackgroundTask(lambda: False).start()
    with pytest.raises(TaskUsageError, match="already started"):
        task.start()
    assert task.join(5)
    assert BackgroundTask(lambda: None).join(0)  # never started: nothing to wait for


@pytest.mark.timeout(10)
def test_busy_task_is_not_throttled_by_a_busy_thread() -> None:
    # With interval 0 the task runs back to back. A time.sleep(0) between runs used to hand
    # the GIL to the busy thread for a whole switch interval: ~200 runs/s (about 60 here).
    runs = [0]

    def target() -> None:
        runs[0] += 1

    task = BackgroundTask(target, name="busy").start()
    end = time.perf_counter() + 0.3
    while time.perf_counter() < end:  # a busy capture thread
        pass
    assert task.stop(timeout=5)
    assert runs[0] > 2_000, runs[0]
