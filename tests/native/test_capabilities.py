"""Every plugin capability end to end in PluginHost, with the cap_*.c test plugins, native and
Python side by side: sources, extraction values, async events, routines, metrics."""

from __future__ import annotations

import ipaddress
import re
import struct
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from concurrent_tables.cabi.extraction import AbsTime, ExtractionError, RelTime
from concurrent_tables.cabi.loader import NativePlugin
from concurrent_tables.cabi.plugin_adapter import NativePluginAdapter, load_native_plugin
from concurrent_tables.errors import PluginError
from concurrent_tables.events import NO_VALUE, PPME, ScapEvent, build, plugin_event
from concurrent_tables.plugins.base import (
    CaptureListenInput,
    Event,
    ListenPlugin,
    ParsePlugin,
    SourcePlugin,
)
from concurrent_tables.plugins.host import PluginHost
from concurrent_tables.plugins.tokens import TableReader, TableWriter

from .build import PLUGINS_DIR, compile_plugin

pytestmark = pytest.mark.timeout(60)

HOOKS = {
    "cap_source": "uint64_t cap_source_closes(void* s);",
    "cap_extract": "uint64_t cap_extract_calls(void* s);",
    "cap_async": """
        uint64_t cap_async_sent(void* s);
        uint64_t cap_async_failed(void* s);
        const char* cap_async_last_error(void* s);
    """,
    "cap_routine": """
        uint64_t cap_routine_count(void* s, uint32_t k);
        uint64_t cap_routine_null_handles(void* s);
        uint64_t cap_routine_unsub_ok(void* s);
        uint64_t cap_routine_unsub_failed(void* s);
        int cap_routine_bogus_rc(void* s);
    """,
    "cap_metrics": "const char* cap_metrics_config(void* s);",
    "cap_routine_steps": """
        uint64_t cap_steps_runs(void* s, uint32_t k);
        int cap_steps_unsub_rc(void* s);
        int cap_steps_second_is_null(void* s);
    """,
}
VARIANTS = {
    "cap_source_sys": ("cap_source", ("-DCAP_SYSCALL_SOURCE",)),
    "cap_async_sys": ("cap_async", ('-DCAP_ASYNC_SOURCES="[\\"syscall\\"]"',)),
}


@pytest.fixture(scope="session")
def cap_paths(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    out = tmp_path_factory.mktemp("cap_plugins")
    paths = {n: compile_plugin(PLUGINS_DIR / f"{n}.c", out) for n in HOOKS}
    for name, (src, flags) in VARIANTS.items():
        paths[name] = compile_plugin(PLUGINS_DIR / f"{src}.c", out / name, flags)
    return paths


LoadCap = Callable[..., NativePluginAdapter]


@pytest.fixture
def cap(cap_paths: dict[str, Path]) -> LoadCap:
    def load(name: str, config: str = "", **kw: Any) -> NativePluginAdapter:
        base = VARIANTS.get(name, (name, ()))[0]
        return load_native_plugin(str(cap_paths[name]), config, extra_cdef=HOOKS[base], **kw)

    return load


def wait_for(cond: Callable[[], bool], what: str, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.005)


class Seen(ParsePlugin):
    """A Python parse plugin recording what it is handed (type, source, decoded payload)."""

    def __init__(self, types: frozenset[int] | None = None) -> None:
        self.events: list[Event] = []
        self.types = types

    def parses(self, event_type: int, source: str) -> bool:
        return self.types is None or event_type in self.types

    def parse_event(self, event: Event, reader: TableReader, writer: TableWriter) -> None:
        self.events.append(event)


# -- sources ------------------------------------------------------------------------------------


def test_native_source_events_are_copied_fixed_up_and_parsed(cap: LoadCap) -> None:
    src = cap("cap_source", open_params="n=5 batch=2")
    seen = Seen()
    before = time.time_ns()
    with PluginHost([src, seen]) as host:
        results = host.run()
    assert len(results) == 5 and [r.event.evtnum for r in results] == [1, 2, 3, 4, 5]
    for i, ev in enumerate(seen.events):
        assert ev.type == 322 and ev.source == "cap_source"
        assert ev.tid == NO_VALUE and ev.ts >= before  # UINT64_MAX ts became "now"
        assert isinstance(ev.payload, ScapEvent)
        assert ev.payload["plugin_id"] == 999  # id 0 replaced by the plugin's
        assert ev.payload["event_data"] == f"hello world #{i}\0".encode()


def test_deferred_eof_delivers_the_batch_first(cap: LoadCap) -> None:
    src = cap("cap_source", open_params="n=3 batch=8 eof_with_events")
    with PluginHost([src]) as host:
        assert len(host.run()) == 3


def test_timeout_lets_async_events_in_and_the_capture_continues(cap: LoadCap) -> None:
    src = cap("cap_source", open_params="n=2 timeout_at=1")
    with PluginHost([src]) as host:
        assert [r.event.payload["event_data"] for r in host.run()] == [
            b"hello world #0\0",
            b"hello world #1\0",
        ]


@pytest.mark.parametrize(
    ("params", "match"),
    [
        ("fail_open", r"could not open capture for plugin 'cap_source': .*cannot open 'fail_open'"),
        ("n=5 fail_at=2", r"next_batch failure .* failed at event 2 as configured"),
        ("bad_id", r"unexpected plugin ID in plugin event: plugin='cap_source', "
                   r"expected_id=999, actual_id=12345"),
    ],
)  # fmt: skip
def test_source_failures_name_the_plugin_and_close_once(
    cap: LoadCap, params: str, match: str
) -> None:
    src = cap("cap_source", open_params=params)
    with PluginHost([src]) as host:
        with pytest.raises(PluginError, match=match):
            host.run()
        closes = src.native.lib.cap_source_closes(src.native.state)
        assert closes == (0 if params == "fail_open" else 1)


def test_progress_string_and_open_params(cap: LoadCap) -> None:
    src = cap("cap_source", open_params="n=4")
    with PluginHost([src]) as host:
        it = host.stream()
        first = next(it)
        assert src.progress() == (25.0, "1/4 events")  # type: ignore[attr-defined]
        assert src.event_to_string(first.event) == "cap_source: hello world #0"  # type: ignore[attr-defined]
        it.close()
        assert src.list_open_params()[0] == {"value": "n=3", "desc": "three events"}  # type: ignore[attr-defined]
    other = Event(1, 1, 322, payload=plugin_event(b"x\0", plugin_id=5))
    assert src.event_to_string(other) == "datalen=2 data=<binary>"  # type: ignore[attr-defined]


def test_syscall_source_feeds_python_parsers_by_parameter_name(cap: LoadCap) -> None:
    src = cap("cap_source_sys", open_params="n=3")
    seen = Seen()
    with PluginHost([src, seen]) as host:
        host.run()
    assert [(e.source, e.type, e.tid, e.ts) for e in seen.events] == [
        ("syscall", 3, 100 + i, 1000 + i) for i in range(3)
    ]
    assert [e.payload["name"] for e in seen.events] == ["/tmp/cap_0", "/tmp/cap_1", "/tmp/cap_2"]
    assert seen.events[2].payload["fd"] == 5


# -- extraction ---------------------------------------------------------------------------------


def open_x(name: str, ts: int = 7) -> Event:
    return Event(ts, 42, PPME.SYSCALL_OPEN_X, payload=build(PPME.SYSCALL_OPEN_X, fd=3, name=name))


def test_every_value_type_comes_back_typed(cap: LoadCap) -> None:
    x = cap("cap_extract")
    fields = ["cap.evtnum", "cap.text", "cap.reltime", "cap.abstime", "cap.isplugin", "cap.ipv4",
              "cap.ipv6", "cap.net", "cap.u64list", "cap.strlist", "cap.boollist", "cap.iplist",
              "cap.none"]  # fmt: skip
    with PluginHost([x]) as host:
        (r,) = host.run(events=[open_x("/etc/hosts", ts=5_000_000_000)], extract=fields)
    assert r.errors == {}
    v = r.values
    assert v["cap.evtnum"] == 1 and v["cap.text"] == "/etc/hosts"
    assert isinstance(v["cap.reltime"], RelTime) and v["cap.reltime"] == 1500
    assert isinstance(v["cap.abstime"], AbsTime) and v["cap.abstime"].datetime.year == 1970
    assert v["cap.isplugin"] is False
    assert v["cap.ipv4"] == ipaddress.ip_address("192.168.1.2")
    assert v["cap.ipv6"] == ipaddress.ip_address("2001:db8::1")
    assert v["cap.net"] == ipaddress.ip_network("10.1.0.0/32")
    assert v["cap.u64list"] == [1, 2, 3]
    assert v["cap.strlist"] == ["a", "b", "/etc/hosts"]
    assert v["cap.boollist"] == [True, False]
    assert v["cap.iplist"] == [
        ipaddress.ip_address("192.168.1.2"),
        ipaddress.ip_address("2001:db8::1"),
    ]
    assert v["cap.none"] is None


def test_arguments_index_and_key(cap: LoadCap) -> None:
    x = cap("cap_extract")
    ev = open_x("/a")
    with PluginHost([x]) as host:
        got = host.extract(ev, ["cap.idx[3]", "cap.key[abc]", "cap.both[7]", "cap.both[x y]",
                                "cap.both", "cap.idx[18446744073709551615]"])  # fmt: skip
    assert got == {
        "cap.idx[3]": 6,
        "cap.key[abc]": "key:abc",
        "cap.both[7]": "index:7 key:7",
        "cap.both[x y]": "key:x y",
        "cap.both": "none",
        "cap.idx[18446744073709551615]": (2**64 - 1) * 2 % 2**64,
    }


@pytest.mark.parametrize(
    ("field", "match"),
    [
        ("cap.idx", r"requires an argument \(plugin 'cap_extract', field 'cap.idx'\)"),
        ("cap.evtnum[1]", r"takes no argument: \[1\]"),
        ("cap.idx[01]", r"invalid index argument \[01\]"),
        ("cap.idx[18446744073709551616]", r"invalid index argument"),
    ],
)
def test_bad_arguments_fail_before_the_capture_opens(cap: LoadCap, field: str, match: str) -> None:
    x = cap("cap_extract")
    with PluginHost([x]) as host:
        with pytest.raises(ExtractionError, match=match):
            host.stream(events=[open_x("/a")], extract=[field])
        assert x.native.lib.cap_extract_calls(x.native.state) == 0


def test_failures_are_typed_and_other_fields_still_extract(cap: LoadCap) -> None:
    x = cap("cap_extract")
    with PluginHost([x]) as host:
        (r,) = host.run(events=[open_x("/b")], extract=["cap.fail", "cap.text"])
        assert r.values == {"cap.text": "/b"}
        err = r.errors["cap.fail"]
        assert isinstance(err, ExtractionError) and "cap.fail always fails" in str(err)
        with pytest.raises(ExtractionError, match=r"cap\.fail always fails"):
            host.extract(open_x("/b"), ["cap.fail"])
        with pytest.raises(PluginError, match=r"no loaded plugin extracts field 'nope\.x'"):
            host.extract(open_x("/b"), ["nope.x"])


def test_only_declared_types_and_sources_are_asked(cap: LoadCap) -> None:
    x = cap("cap_extract")
    close = Event(1, 1, PPME.SYSCALL_CLOSE_X, payload=build(PPME.SYSCALL_CLOSE_X, fd=3))
    foreign = Event(1, 1, 322, payload=plugin_event(b"p\0", 7), source="k8saudit")
    mine = Event(1, NO_VALUE, 322, payload=plugin_event(b"mine\0", 999), source="cap_source")
    with PluginHost([x]) as host:
        assert host.extract(close, ["cap.text"]) == {"cap.text": None}
        assert host.extract(foreign, ["cap.text"]) == {"cap.text": None}
        assert x.native.lib.cap_extract_calls(x.native.state) == 0
        assert host.extract(mine, ["cap.text", "cap.isplugin"]) == {
            "cap.text": "mine",
            "cap.isplugin": True,
        }


def test_native_source_and_extractor_side_by_side(cap: LoadCap) -> None:
    src, x = cap("cap_source", open_params="n=3"), cap("cap_extract")
    with PluginHost([src, x]) as host:
        results = host.run(extract=["cap.text", "cap.evtnum"])
    assert [r.values for r in results] == [
        {"cap.text": f"hello world #{i}", "cap.evtnum": i + 1} for i in range(3)
    ]


def test_bad_field_schemas_are_refused_at_load() -> None:
    from concurrent_tables.cabi.extraction import FieldSchema

    for text, match in [
        ("", "not JSON"),
        ("[]", "non-empty array"),
        ('[{"name":"a","type":"uint64"}]', "field 'a' has no desc"),
        ('[{"name":"a","type":"int","desc":"d"}]', "unknown type 'int'"),
        ('[{"name":"a","type":"bool","desc":"d","isList":1}]', "isList is not a bool"),
        ('[{"name":"a","type":"bool","desc":"d","arg":{"isRequired":true}}]', "required arg"),
    ]:
        with pytest.raises(PluginError, match=match):
            FieldSchema.parse(text, "p")


# -- async events --------------------------------------------------------------------------------


class Waiting(SourcePlugin):
    """A Python source that times out until `done()`, then ends (at most `limit` seconds)."""

    def __init__(self, done: Callable[[], bool], limit: float = 20.0) -> None:
        self.done = done
        self.limit = limit

    def open(self) -> Iterator[Event | None]:
        deadline = time.monotonic() + self.limit
        while not self.done() and time.monotonic() < deadline:
            time.sleep(0.001)
            yield None


def test_async_events_from_plugin_threads_are_queued_in_order(cap: LoadCap) -> None:
    inj = cap("cap_async", "count=20 threads=3 tid=1")
    seen = Seen(frozenset({402}))
    with PluginHost([Waiting(lambda: len(seen.events) >= 60), inj, seen]) as host:
        results = host.run()
    assert len(results) == 60
    assert [r.event.evtnum for r in results] == list(range(1, 61))
    by_thread: dict[str, list[int]] = {}
    for ev in seen.events:
        assert ev.type == 402 and ev.source == "syscall" and ev.tid == 1
        assert ev.payload["name"] == "cap_tick" and ev.payload["plugin_id"] == 0
        k, i = ev.payload["data"].decode().split("#")
        by_thread.setdefault(k, []).append(int(i))
    assert by_thread == {f"t{k}": list(range(20)) for k in range(3)}


class AfterAccepted(SourcePlugin):
    """Waits (at most 20 s) until the async plugin's handler accepted `n` events, then yields
    one engine event of ts `ts`: every accepted event is queued before it."""

    def __init__(self, inj: NativePluginAdapter, n: int, ts: int) -> None:
        self.inj, self.n, self.ts = inj, n, ts

    def open(self) -> Iterator[Event | None]:
        bridge = self.inj.bridge  # type: ignore[attr-defined]
        wait_for(lambda: bridge.accepted + bridge.dropped >= self.n, f"{self.n} async events")
        yield Event(self.ts, 1, 3)


def test_native_async_events_are_delivered_in_ts_order(cap: LoadCap) -> None:
    inj = cap("cap_async", "count=4 ts=4000 ts_step=-1000 tid=1")  # ts 4000, 3000, 2000, 1000
    seen = Seen()
    with PluginHost([AfterAccepted(inj, 4, 2500), inj, seen]) as host:
        host.run()
    got = [(e.type, e.ts, e.payload["data"] if e.type == 402 else None) for e in seen.events]
    assert got == [
        (402, 1000, b"t0#3"),
        (402, 2000, b"t0#2"),
        (3, 2500, None),  # the engine event: async events with a later ts wait for it
        (402, 3000, b"t0#1"),
        (402, 4000, b"t0#0"),
    ]


def test_native_async_events_with_equal_ts_keep_their_order_and_a_full_queue_drops(
    cap: LoadCap,
) -> None:
    from concurrent_tables.plugins.asyncqueue import MAX_QUEUED

    n = MAX_QUEUED + 100
    inj = cap("cap_async", f"count={n} ts=500 tid=1")
    seen = Seen(frozenset({402}))
    with PluginHost([AfterAccepted(inj, n, 0), inj, seen]) as host:
        host.run()
        lib, s = inj.native.lib, inj.native.state
        assert (lib.cap_async_sent(s), lib.cap_async_failed(s)) == (n, 0)  # drops are SUCCESS
    bridge = inj.bridge  # type: ignore[attr-defined]
    assert (bridge.accepted, bridge.dropped) == (MAX_QUEUED, 100)
    assert [e.payload["data"] for e in seen.events] == [
        f"t0#{i}".encode() for i in range(MAX_QUEUED)
    ]


def test_malformed_and_undeclared_async_events_get_failure(cap: LoadCap) -> None:
    inj = cap("cap_async", "count=3 bad")
    seen = Seen()
    with PluginHost([Waiting(lambda: len(seen.events) >= 3), inj, seen]) as host:
        host.run()
        lib, s = inj.native.lib, inj.native.state
        assert (lib.cap_async_sent(s), lib.cap_async_failed(s)) == (3, 2)
        assert inj.native.pffi.string(lib.cap_async_last_error(s)) == (
            b"incompatible async event 'nope' produced by plugin: cap_async"
        )


def test_a_plugin_source_needs_async_events_without_thread(cap: LoadCap) -> None:
    src = cap("cap_source", open_params="n=2")
    inj = cap("cap_async", "count=0 tid=5")
    with PluginHost([src, inj]) as host:
        lib, s = inj.native.lib, inj.native.state  # the state exists once init ran
        it = host.stream()
        next(it)  # the capture is open, on source cap_source
        wait_for(lambda: lib.cap_async_failed(s) > 0, "a rejected event")
        assert inj.native.pffi.string(lib.cap_async_last_error(s)) == (
            b"async events of plugin 'cap_async' can have no thread associated with open "
            b"event source 'cap_source'"
        )
        it.close()


def test_an_async_plugin_for_other_sources_gets_no_handler(
    cap: LoadCap, caplog: pytest.LogCaptureFixture
) -> None:
    """libsinsp would answer FAILURE to each event, which aborts SDK plugins: not installed."""
    src = cap("cap_source", open_params="n=2")
    inj = cap("cap_async_sys", "count=0")
    with PluginHost([src, inj]) as host:
        it = host.stream()
        next(it)
        assert not inj.bridge.installed  # type: ignore[attr-defined]
        it.close()
        assert inj.native.lib.cap_async_sent(inj.native.state) == 0
        assert inj.native.lib.cap_async_failed(inj.native.state) == 0
    assert "not the open source 'cap_source'" in caplog.text


def test_async_events_get_the_open_sources_plugin_id(cap: LoadCap) -> None:
    inj = cap("cap_async", "count=3")
    seen = Seen(frozenset({402}))

    class Then(SourcePlugin):
        """A Python source standing in for a plugin source with id 999."""

        event_source = "cap_source"
        plugin_id = 999

        def open(self) -> Iterator[Event | None]:
            yield from Waiting(lambda: len(seen.events) >= 3).open()

    with PluginHost([Then(), inj, seen]) as host:
        host.run()
    assert [(e.source, e.payload["plugin_id"], e.tid) for e in seen.events] == [
        ("cap_source", 999, NO_VALUE)
    ] * 3


def test_reset_joins_forever_producers_and_dump_state(cap: LoadCap) -> None:
    inj = cap("cap_async", "count=0 threads=2")
    with PluginHost([inj]) as host:
        it = host.stream(events=iter([Event(1, 1, 3)]))
        next(it)
        lib, s = inj.native.lib, inj.native.state
        wait_for(lambda: lib.cap_async_sent(s) > 10, "some events")
        it.close()  # close: set_async_event_handler(NULL) joins the producers
        sent = lib.cap_async_sent(s)
        time.sleep(0.05)
        assert lib.cap_async_sent(s) == sent
        dumped: list[bytes] = []
        inj.bridge.dump_state(dumped.append)  # type: ignore[attr-defined]
        assert [ScapEvent.decode(d)["data"] for d in dumped] == [b"dump#0", b"dump#1"]


# -- routines -----------------------------------------------------------------------------------


def test_routines_run_on_the_pool_until_they_return_false(cap: LoadCap) -> None:
    r = cap("cap_routine", "routines=3 limit=50")
    with PluginHost([r], routine_threads=2) as host:
        host.open_capture()
        lib, s = r.native.lib, r.native.state
        wait_for(lambda: all(lib.cap_routine_count(s, k) == 50 for k in range(3)), "routines")
        assert host.routines is not None
        wait_for(lambda: host.routines.active() == 0, "routines to end")  # type: ignore[union-attr]
        assert lib.cap_routine_null_handles(s) == 0
        host.close_capture()
        assert lib.cap_routine_bogus_rc(s) == 1  # unknown handle: FAILURE
        assert all(lib.cap_routine_count(s, k) == 50 for k in range(3))


@pytest.mark.parametrize("unsubscribe", [True, False])
def test_capture_close_stops_forever_routines(cap: LoadCap, unsubscribe: bool) -> None:
    config = "routines=2 limit=0" + (" unsubscribe_on_close" if unsubscribe else "")
    r = cap("cap_routine", config)
    with PluginHost([r]) as host:
        host.open_capture()
        lib, s = r.native.lib, r.native.state
        wait_for(lambda: min(lib.cap_routine_count(s, k) for k in range(2)) > 5, "routines")
        host.close_capture()
        counts = [lib.cap_routine_count(s, k) for k in range(2)]
        time.sleep(0.05)
        assert [lib.cap_routine_count(s, k) for k in range(2)] == counts
        assert lib.cap_routine_unsub_ok(s) == (2 if unsubscribe else 0)
        assert lib.cap_routine_unsub_failed(s) == 0
        assert host.routines is not None and host.routines.active() == 0


def test_routines_driven_from_parse_event_with_the_kept_vtable(cap: LoadCap) -> None:
    """libs' `routines` test plugin's shape: a spinning routine from capture_open, then
    subscribe / unsubscribe / a flag-stopped routine from parse_event, purged after close."""
    r = cap("cap_routine_steps")
    lib = r.native.lib
    open_e = Event(1, 1, PPME.SYSCALL_OPEN_E)
    with PluginHost([r], routine_threads=2) as host:
        it = host.stream(events=iter([open_e] * 5))
        s = r.native.state
        next(it)  # step 1: a second spinning routine
        wait_for(lambda: lib.cap_steps_runs(s, 0) > 10 and lib.cap_steps_runs(s, 1) > 10, "spin")
        assert not lib.cap_steps_second_is_null(s)
        next(it)  # step 2: unsubscribed; a running iteration may complete
        assert lib.cap_steps_unsub_rc(s) == 0
        time.sleep(0.02)
        stopped = lib.cap_steps_runs(s, 1)
        time.sleep(0.05)
        assert lib.cap_steps_runs(s, 1) == stopped
        next(it)  # step 3: flagged
        wait_for(lambda: lib.cap_steps_runs(s, 2) > 0, "the flagged routine")
        next(it)  # step 4: the flag is cleared: it ends by itself
        assert host.routines is not None
        wait_for(lambda: host.routines.active() == 1, "the flagged routine to end")  # type: ignore[union-attr]
        flagged = lib.cap_steps_runs(s, 2)
        for _ in it:  # the rest, then capture_close and the purge of the first spin
            pass
        spun = lib.cap_steps_runs(s, 0)
        time.sleep(0.05)
        assert lib.cap_steps_runs(s, 0) == spun > 10  # purged after capture_close
        assert lib.cap_steps_runs(s, 2) == flagged
        assert host.routines.active() == 0


def test_without_a_pool_the_vtable_is_still_passed(cap_paths: dict[str, Path]) -> None:
    p = NativePlugin(str(cap_paths["cap_routine"]), "routines=2", extra_cdef=HOOKS["cap_routine"])
    with p:
        p.capture_open()  # would fail with "routine vtable is NULL" (or crash a real plugin)
        assert p.lib.cap_routine_null_handles(p.state) == 2
        p.capture_close()
        assert p.lib.cap_routine_bogus_rc(p.state) == 1


def test_python_listen_plugins_use_the_same_pool(cap: LoadCap) -> None:
    runs: list[int] = []
    lock = threading.Lock()

    class Counter(ListenPlugin):
        def capture_open(self, capture: CaptureListenInput) -> None:
            def step() -> bool:
                with lock:
                    runs.append(1)
                    return len(runs) < 30

            self.handle = capture.subscribe(step)

    with PluginHost([Counter(), cap("cap_routine", "routines=1 limit=30")]) as host:
        host.open_capture()
        wait_for(lambda: len(runs) == 30, "the Python routine")
        host.close_capture()
    assert len(runs) == 30


# -- metrics ------------------------------------------------------------------------------------


def test_metrics_are_a_mapping_of_typed_values(cap: LoadCap) -> None:
    m = cap("cap_metrics")
    with PluginHost([m]) as host:
        host.run(events=[Event(i, 1, 3) for i in range(3)])
        metrics = host.metrics()
    assert metrics == {
        "cap_metrics.evt_count": 3,
        "cap_metrics.dummy_metric": 123456789,
        "cap_metrics.s32": -7,
        "cap_metrics.s64": -5000000000,
        "cap_metrics.ratio": 0.25,
        "cap_metrics.ratio_f": 1.5,
        "cap_metrics.plain_int": -3,
    }
    assert cap("cap_metrics", "empty").metrics() == {}


def test_capability_probing_follows_libsinsp(cap_paths: dict[str, Path]) -> None:
    from concurrent_tables.cabi.symbols import EXTRACTION, SOURCING, probe_capabilities

    p = NativePlugin(str(cap_paths["cap_source"]))
    caps = probe_capabilities(p.lib, p.pffi, p.name)
    assert SOURCING in caps and EXTRACTION not in caps
    assert (caps.plugin_id, caps.event_source) == (999, "cap_source")
    p.destroy()
    assert struct.calcsize("<QQIHI") == 26


class _Symbols:
    """A stand-in for an opened plugin exporting exactly `names` (plugin_ prefix omitted)."""

    def __init__(self, *names: str, plugin_id: int = 0, source: bytes = b"") -> None:
        self._names = {"plugin_" + n for n in names}
        self._id, self._source = plugin_id, source

    def __getattr__(self, name: str) -> Any:
        if name not in self._names:
            raise AttributeError(name)
        if name == "plugin_get_id":
            return lambda: self._id
        if name == "plugin_get_event_source":
            return lambda: self._source
        return lambda *a: None


class _FFI:
    NULL = None

    @staticmethod
    def string(p: bytes) -> bytes:
        return p


BROKEN = "broken plugin capabilities: must implement "


@pytest.mark.parametrize(
    ("symbols", "reason"),
    [
        (_Symbols("extract_fields", "parse_event"), "both 'plugin_get_fields' and "
         "'plugin_extract_fields' (field extraction)"),
        (_Symbols("open", "close"), "all of 'plugin_open', 'plugin_close', and "
         "'plugin_next_batch' (event sourcing)"),
        (_Symbols("open", "close", "next_batch", "get_id", plugin_id=7), "both 'plugin_get_id' "
         "and 'plugin_get_event_source' or neither (event sourcing)"),
        (_Symbols("set_async_event_handler"), "both 'plugin_get_async_events' and "
         "'plugin_set_async_event_handler' (async events)"),
        (_Symbols("capture_open", "parse_event"), "both 'plugin_capture_open' and "
         "'plugin_capture_close' (capture listening)"),
    ],
)  # fmt: skip
def test_a_half_implemented_capability_is_refused_with_libsinsps_words(
    symbols: _Symbols, reason: str
) -> None:
    from concurrent_tables.cabi.symbols import probe_capabilities

    with pytest.raises(PluginError, match=re.escape(BROKEN + reason + " (plugin 'x')")):
        probe_capabilities(symbols, _FFI, "x")
    # The one-sided cases libsinsp leaves off instead: get_fields, get_async_events, close.
    for alone in ("get_fields", "get_async_events", "capture_close"):
        with pytest.raises(PluginError, match="plugin does not implement any capability"):
            probe_capabilities(_Symbols(alone), _FFI, "x")


def test_extract_fields_without_get_fields_is_refused_at_load(tmp_path: Path) -> None:
    so = compile_plugin("extract_reader.c", tmp_path, ["-DCT_NO_GET_FIELDS"])
    with pytest.raises(PluginError, match=re.escape(BROKEN + "both 'plugin_get_fields'")):
        load_native_plugin(str(so))


def test_a_native_parse_failure_is_reported_once(tmp_path: Path) -> None:
    from concurrent_tables.falco import add_thread, threads_table
    from concurrent_tables.registry import TableRegistry

    registry = TableRegistry()
    threads = threads_table()
    add_thread(threads, 1, comm="init", cwd="/")
    registry.export(threads)
    counter = load_native_plugin(str(compile_plugin("event_counter.c", tmp_path)))
    with PluginHost([counter], registry=registry) as host:
        with pytest.raises(PluginError) as info:
            host.run(events=[Event(ts=1, tid=99, type=3)])
    text = str(info.value)
    assert text.count("failed to parse event") == 1, text


def test_offsets_point_into_the_event(cap: LoadCap) -> None:
    from concurrent_tables.cabi.plugin_adapter import event_bytes, extract_with_offsets

    x = cap("cap_extract")
    mine = Event(1, NO_VALUE, 322, payload=plugin_event(b"hello world\0", 999), source="cap_source")
    with PluginHost([x]) as host:
        host.init()
        value, offsets = extract_with_offsets(x, mine, "cap.text")
        assert value == "hello world" and offsets == [(38, 11)]  # libs' plugin_extract test
        assert event_bytes(mine)[38 : 38 + 11] == b"hello world"
        value, offsets = extract_with_offsets(x, mine, "cap.evtnum")
        assert offsets is None  # the plugin gives offsets for cap.text only


@pytest.mark.parametrize(
    ("version", "message"),
    [
        (
            "4.0.0",
            "not compatible with the framework's API version '3.12.0': major versions disagree",
        ),
        ("3.13.0", "framework's minor is less than the requested one"),
        ("3.12.1", "framework's patch is less than the requested one"),
        ("bogus", "plugin provided an invalid required API version: 'bogus'"),
    ],
)
def test_api_version_checks_use_libsinsps_messages(
    tmp_path: Path, version: str, message: str
) -> None:
    flag = f'-DCAP_API_VERSION="{version}"'
    path = compile_plugin(PLUGINS_DIR / "cap_metrics.c", tmp_path, (flag,))
    with pytest.raises(PluginError, match=re.escape(message)):
        load_native_plugin(str(path))
    ok = compile_plugin(PLUGINS_DIR / "cap_metrics.c", tmp_path, ('-DCAP_API_VERSION="3.0.0"',))
    load_native_plugin(str(ok)).destroy()  # every 3.x up to 3.12.0 is served


def test_an_empty_config_becomes_an_empty_json_object_with_a_json_schema(tmp_path: Path) -> None:
    hook = "const char* cap_metrics_config(void* s);"
    with_schema = compile_plugin(PLUGINS_DIR / "cap_metrics.c", tmp_path, ("-DCAP_SCHEMA",))
    without = compile_plugin(PLUGINS_DIR / "cap_metrics.c", tmp_path)
    for path, expected in ((with_schema, b"{}"), (without, b"")):
        p = load_native_plugin(str(path), extra_cdef=hook)
        with PluginHost([p]):
            assert p.native.pffi.string(p.native.lib.cap_metrics_config(p.native.state)) == (
                expected
            )


def test_native_plugin_names_and_source_ids_are_unique(cap: LoadCap) -> None:
    first = cap("cap_metrics")
    second = cap("cap_metrics")
    with pytest.raises(
        PluginError, match=r"found another plugin with name cap_metrics\. Aborting\."
    ):
        PluginHost([first, second])
    second.destroy()

    class Twin(SourcePlugin):
        plugin_id = 999

        def open(self) -> Iterator[Event | None]:
            return iter(())

    src = cap("cap_source")
    with pytest.raises(PluginError, match=r"found another plugin with ID 999\. Aborting\."):
        PluginHost([src, Twin()])
    src.destroy()
    first.destroy()


def test_set_config(cap: LoadCap) -> None:
    m = cap("cap_metrics")
    with PluginHost([m]):
        assert m.set_config("mode=fast")  # type: ignore[attr-defined]
        assert m.native.pffi.string(m.native.lib.cap_metrics_config(m.native.state)) == (
            b"mode=fast"
        )
        assert not m.set_config("bad")  # type: ignore[attr-defined]
    assert not cap("cap_source").set_config("x")  # type: ignore[attr-defined]


# -- the test plugins' own error paths ----------------------------------------------------------


def test_cap_extract_refuses_a_request_of_the_wrong_type(cap: LoadCap) -> None:
    from concurrent_tables.cabi.extraction import FieldSchema, NativeExtractor

    x = cap("cap_extract")
    with PluginHost([x]):
        lying = FieldSchema.parse('[{"name":"cap.evtnum","type":"string","desc":"d"}]', "cap")
        bad = NativeExtractor(x.native, lying, None, frozenset())
        with pytest.raises(ExtractionError, match=r"bad request for cap\.evtnum: ftype 9"):
            bad.extract(open_x("/a").payload.encode(), 1, "syscall", "cap.evtnum")


def test_cap_async_refuses_a_second_handler(cap: LoadCap) -> None:
    inj = cap("cap_async", "count=1")
    with PluginHost([inj]):
        n = inj.native
        handler = n.pffi.callback("int(void*, void*, char*)", lambda o, e, err: 0)
        assert n.lib.plugin_set_async_event_handler(n.state, n.session.owner, handler) == 0
        assert n.lib.plugin_set_async_event_handler(n.state, n.session.owner, handler) == 1
        assert n.last_error == "cap_async: handler already set"
        assert n.lib.plugin_set_async_event_handler(n.state, n.session.owner, n.pffi.NULL) == 0


def test_cap_routine_fails_without_a_routine_vtable(cap_paths: dict[str, Path]) -> None:
    from concurrent_tables._abi import ffi as abi_ffi

    p = NativePlugin(str(cap_paths["cap_routine"]), "routines=1")
    with p:
        p._listen.routine = abi_ffi.NULL  # what the host never does any more
        with pytest.raises(PluginError, match="routine vtable is NULL"):
            p.capture_open()


def test_the_host_never_replaces_a_set_async_handler(cap: LoadCap) -> None:
    inj = cap("cap_async", "count=0")
    with PluginHost([inj]) as host:
        it = host.stream(events=iter([Event(1, 1, 3), Event(2, 1, 3)]))
        next(it)  # the handler is installed
        with pytest.raises(PluginError, match="must reset the async event handler"):
            inj.bridge.start(lambda data: None)  # type: ignore[attr-defined]
        it.close()
        assert not inj.bridge.installed  # type: ignore[attr-defined]
