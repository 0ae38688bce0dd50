"""A native plugin's own pthread using Python tables while Python threads use them too.

tests/native/plugins/counter_thread.c starts a pthread at capture_open that, N times (its
config), acquires entry 7 of table `counters`, reads its `ct_counter`, writes it + 1 and releases
it, through the listen input's vtables. The thread has no current plugin: it is served like any
other thread.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from concurrent_tables import U64, EntrySchema, Table
from concurrent_tables.errors import PluginError
from concurrent_tables.registry import TableRegistry

from .helpers import load_plugin, thread_done, thread_status


class Counter(EntrySchema):
    py_counter: U64


@pytest.mark.timeout(60)
def test_pthread_writes_while_python_threads_read_and_write(counter_thread_so: Path) -> None:
    counters: Table[int, Counter] = Table("counters", U64, Counter, thread_safe=True)
    directory = TableRegistry(counters)
    iters, py_iters = 10_000, 1_000
    config = str(iters)
    p = load_plugin(counter_thread_so, directory, config)
    try:
        p.init()
        ct = counters.get_field("ct_counter", U64)  # added by the plugin at init
        py = counters.get_field("py_counter", U64)
        p.capture_open()  # creates entry 7, starts the pthread
        problems: list[str] = []
        reads = [0]
        stop = threading.Event()

        def reader() -> None:
            last = 0
            while not stop.is_set():
                with counters.read(7) as h:
                    a = h[ct]
                    time.sleep(0)  # let the pthread run while this read handle is held
                    b = h[ct]
                if a != b:
                    problems.append(f"torn read: {a} then {b} within one read handle")
                if a < last:
                    problems.append(f"went back: {last} then {a}")
                last = a
                reads[0] += 1

        def writer() -> None:  # another field of the same entry, written with write handles
            for _ in range(py_iters):
                with counters.write(7) as h:
                    h[py] += 1

        threads = [threading.Thread(target=reader, daemon=True) for _ in range(3)]
        threads.append(threading.Thread(target=writer, daemon=True))
        for t in threads:
            t.start()
        deadline = time.monotonic() + 45
        while not thread_done(p):
            assert time.monotonic() < deadline, thread_status(p)
            time.sleep(0.01)
        threads[-1].join(45)
        stop.set()
        for t in threads:
            t.join(10)
            assert not t.is_alive()
        status = thread_status(p)
        assert status["failures"] == 0 and status["iterations"] == iters, status
        assert problems == []
        assert reads[0] > 0
        with counters.read(7) as h:
            assert h[ct] == iters  # no lost update
            assert h[py] == py_iters
        p.capture_close()
        assert thread_status(p)["started"] is False
        assert counters.statistics().acquisitions > 0  # the entry locks were really used
    finally:
        p.destroy()


@pytest.mark.timeout(60)
def test_pthread_is_refused_by_a_single_threaded_table(counter_thread_so: Path) -> None:
    counters: Table[int, Counter] = Table("counters", U64, Counter)  # owned by this thread
    directory = TableRegistry(counters)
    config = "50"
    p = load_plugin(counter_thread_so, directory, config)
    try:
        p.init()
        p.capture_open()  # on this thread: the entry is created
        deadline = time.monotonic() + 30
        while not thread_done(p):
            assert time.monotonic() < deadline
            time.sleep(0.01)
        status = thread_status(p)
        assert status["iterations"] == 0 and status["failures"] == 50
        assert "can only be used in the thread that created it" in status["error"]
        assert "table 'counters'" in status["error"]
        p.capture_close()
        with counters.read(7) as h:
            assert h["ct_counter"] == 0
    finally:
        p.destroy()


@pytest.mark.timeout(60)
def test_capture_close_stops_a_long_pthread(counter_thread_so: Path) -> None:
    counters: Table[int, Counter] = Table("counters", U64, Counter, thread_safe=True)
    config = "100000000"
    p = load_plugin(counter_thread_so, TableRegistry(counters), config)
    try:
        p.init()
        p.capture_open()
        deadline = time.monotonic() + 10  # a loaded machine may start the pthread late
        while thread_status(p)["iterations"] == 0:
            assert time.monotonic() < deadline, "the pthread never counted"
            time.sleep(0.01)
        p.capture_close()  # joins the thread early
        status = thread_status(p)
        assert status["done"] and 0 < status["iterations"] < 100000000
        assert status["failures"] == 0
    finally:
        p.destroy()


@pytest.mark.timeout(60)
def test_pthread_survives_erase_and_replace_churn(counter_thread_so: Path) -> None:
    """Python erases and re-adds the entry the pthread is counting on: failures, no crash."""
    counters: Table[int, Counter] = Table("counters", U64, Counter, thread_safe=True)
    iters = 5_000
    config = str(iters)
    p = load_plugin(counter_thread_so, TableRegistry(counters), config)
    try:
        p.init()
        p.capture_open()
        churn = 0
        deadline = time.monotonic() + 45
        while not thread_done(p):
            assert time.monotonic() < deadline
            try:
                counters.erase_entry(7)
            except Exception:
                pass
            counters.add_entry(7, counters.create_entry(), replace=True)
            churn += 1
        status = thread_status(p)
        assert status["iterations"] + status["failures"] == iters
        assert status["iterations"] > 0 and churn > 0
        if status["failures"]:
            assert status["error"] == "get_entry found no element at given key"
        p.capture_close()
    finally:
        p.destroy()


@pytest.mark.timeout(60)
def test_init_fails_without_the_counters_table(counter_thread_so: Path) -> None:
    other: Table[int, Counter] = Table("other", U64, Counter)
    p = load_plugin(counter_thread_so, TableRegistry(other), "10")
    try:
        with pytest.raises(PluginError, match="table counters or its field ct_counter"):
            p.init()
    finally:
        p.destroy()
