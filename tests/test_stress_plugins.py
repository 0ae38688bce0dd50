"""`stress run --plugin`: user plugins in the host, the checks reported per plugin (in-process).

The plugins are the selftest's (`stress.selftest`: a ticker and a counter sharing a table, and
their racy, leaking and inverted variants) plus a few made here; each run lasts a second or less.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from concurrent_tables import (
    I64,
    U32,
    U64,
    AsyncPlugin,
    EntrySchema,
    Event,
    ExtractPlugin,
    ParsePlugin,
    SourcePlugin,
    String,
    Table,
    TableReader,
    TablesInput,
    TableWriter,
)
from concurrent_tables.events import PPME
from concurrent_tables.plugins.base import AsyncContext, ExtractRequest
from stress import invariant
from stress.cli import main

ST = "stress.selftest"
HERE = "tests.test_stress_plugins"


def run(tmp_path: Path, *args: str) -> tuple[int, dict[str, Any]]:
    out = tmp_path / "report.json"
    code = main(["run", "--no-progress", "--seed", "3", "--json", str(out), *args])
    return code, json.loads(out.read_text())


class Cell(EntrySchema):
    n: U64


class Crasher(ParsePlugin, AsyncPlugin):
    """Its async task raises on its 50th run."""

    name = "crasher"

    def init(self, tables: TablesInput | None) -> None:
        assert tables is not None
        self.table: Table[int, Any] = Table("cells", U32, Cell, thread_safe=True)
        self.table.add_entry(0, self.table.create_entry())
        tables.export_table(self.table)
        self.runs = 0

    def parse_event(self, event: Event, reader: TableReader, writer: TableWriter) -> None:
        pass

    def start_async(self, ctx: AsyncContext) -> None:
        ctx.start_task(self.step, name="crasher-task")

    def step(self) -> None:
        self.runs += 1
        with self.table.write(0) as h:
            h["n"] += 1
        if self.runs == 50:
            raise RuntimeError("boom at run 50")


class FileLeaker(ParsePlugin):
    """Opens a file on its first event and drops it unclosed."""

    name = "file-leaker"

    def __init__(self) -> None:
        self.path = ""

    def parse_event(self, event: Event, reader: TableReader, writer: TableWriter) -> None:
        if event.evtnum == 1:
            open(__file__, encoding="utf-8")


@pytest.mark.timeout(30)
def test_correct_plugins_pass_and_report_per_plugin(tmp_path: Path) -> None:
    code, rep = run(
        tmp_path,
        *("--plugin", f"{ST}:Ticker", "--plugin", f"{ST}:Counter"),
        *("--invariants", f"{ST}:HitsAddUp", "--duration", "0.8"),
    )
    assert code == 0, rep["violations"] or rep["thread_errors"]
    assert rep["result"] == "PASS"
    assert set(rep["plugins"]) == {"ticker", "counter", "HitsAddUp"}
    assert (
        rep["plugins"]["counter"]["callback_ns"]["parse_event"]["count"]
        == rep["scenario_summary"]["events"]
    )
    inv = rep["plugins"]["HitsAddUp"]["invariants"][0]
    assert inv["checked"] > 1 and inv["violated"] == 0  # online and final
    waits = rep["latency"]["handle_wait_ns"]["ticker"]
    assert waits["count"] > 0 and waits["p50"] <= waits["p99"] <= waits["max"]
    assert rep["scenario_summary"]["tables checked at the end"] == {"hits": "4 entries checked"}
    assert "--plugin stress.selftest:Ticker --plugin stress.selftest:Counter" in rep["reproduce"]


@pytest.mark.timeout(30)
def test_racy_plugin_fails_naming_the_invariant(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, rep = run(
        tmp_path,
        *("--plugin", f"{ST}:RacyTicker", "--plugin", f"{ST}:Counter"),
        *("--invariants", f"{ST}:HitsAddUp", "--duration", "1", "--detect"),
    )
    assert code == 1
    v = next(v for v in rep["violations"] if v["kind"] == "invariant")
    assert v["details"]["invariant"] == "hits == events parsed + ticks, on every key"
    assert rep["plugins"]["HitsAddUp"]["result"] == "FAIL"
    out = capsys.readouterr().out
    assert "VIOLATION invariant" in out and "hits == events parsed + ticks" in out
    assert "--invariants stress.selftest:HitsAddUp" in rep["reproduce"]
    assert "--detect" in rep["reproduce"]


@pytest.mark.timeout(30)
def test_thread_error_is_the_plugins(tmp_path: Path) -> None:
    code, rep = run(tmp_path, "--plugin", f"{HERE}:Crasher", "--duration", "0.5")
    assert code == 1
    (err,) = rep["thread_errors"]
    assert err["plugin"] == "crasher" and "boom at run 50" in err["error"]
    assert rep["plugins"]["crasher"]["result"] == "FAIL"
    assert rep["plugins"]["crasher"]["thread_errors"] == 1


@pytest.mark.timeout(30)
def test_handle_leak_and_resource_warning(tmp_path: Path) -> None:
    code, rep = run(
        tmp_path,
        *("--plugin", f"{ST}:Ticker", "--plugin", f"{ST}:Leaker"),
        *("--plugin", f"{HERE}:FileLeaker", "--events", "200"),
    )
    assert code == 1
    leak = next(v for v in rep["violations"] if v["kind"] == "handle-leak")
    assert leak["details"]["plugin"] == "leaker"
    assert leak["details"]["callback"] == "parse_event"
    assert leak["details"]["handles"][0].startswith("read hits[")
    warn = next(v for v in rep["violations"] if v["kind"] == "resource-warning")
    assert "unclosed file" in warn["details"]["message"]
    assert rep["plugins"]["ticker"]["result"] == "PASS"
    assert rep["scenario_summary"]["events"] == 200  # --events


@pytest.mark.timeout(30)
def test_lock_order_cycle_through_the_owner_fast_path(tmp_path: Path) -> None:
    code, rep = run(tmp_path, "--plugin", f"{ST}:Inverter", "--duration", "0.5", "--detect")
    assert code == 1
    cycles = {tuple(c["cycle"]) for c in rep["detect"]["lock_order"]["cycles"]}
    assert ("alpha[1]", "beta[1]", "alpha[1]") in cycles
    # The owner's half of the cycle was taken on its lock-free fast path.
    threads = {w["thread"] for c in rep["detect"]["lock_order"]["cycles"] for w in c["witnesses"]}
    assert "main" in threads or "MainThread" in threads


@pytest.mark.timeout(60)
def test_native_plugin_correct_and_racy(tmp_path: Path) -> None:
    from tests.native.build import CompileError, compile_plugin

    try:
        so = str(compile_plugin("counter_thread.c", tmp_path))
    except CompileError as exc:
        pytest.skip(f"no C compiler: {exc}")
    args = ["--plugin", so, "--config", "300", "--duration", "1", "--detect"]
    code, rep = run(tmp_path, "--plugin", f"{HERE}:NativeCounts", *args)
    assert code == 0, rep["violations"] or rep["thread_errors"]
    assert rep["plugins"]["ct_counter_thread"]["native"] is True
    assert "--config 300" in rep["reproduce"]
    code, rep = run(tmp_path, "--plugin", f"{HERE}:RacyNativeCounts", *args)
    assert code == 1
    v = next(v for v in rep["violations"] if v["kind"] == "invariant")
    assert v["details"]["plugin"] == "counts" and v["details"]["final"] is True


class Counters(EntrySchema):
    ct_counter: U64


class NativeCounts(ParsePlugin):
    """Exports `counters`: the native plugin's pthread alone increments key 7 (300 times);
    the parser counts events on key 1."""

    name = "counts"
    parse_key = 1

    def init(self, tables: TablesInput | None) -> None:
        assert tables is not None
        self.table: Table[int, Any] = Table("counters", U64, Counters, thread_safe=True)
        for k in (1, 7):
            self.table.add_entry(k, self.table.create_entry())
        tables.export_table(self.table)
        self.parsed = 0

    def parse_event(self, event: Event, reader: TableReader, writer: TableWriter) -> None:
        with self.table.write(self.parse_key) as h:
            h["ct_counter"] += 1
        self.parsed += 1

    def _value(self, key: int) -> int:
        with self.table.read(key) as h:
            return int(h["ct_counter"])

    @invariant("counters add up: the C thread's 300, and one per event parsed", online=False)
    def adds_up(self, final: bool) -> bool | str:
        want = {7: 300, 1: self.parsed} if self.parse_key == 1 else {7: 300 + self.parsed}
        got = {k: self._value(k) for k in want}
        return got == want or f"got {got}, expected {want}"


class RacyNativeCounts(NativeCounts):
    """The parser writes key 7 too: the C thread's read and write are two calls, so Python
    write handles in between lose its increments (a native handle is a pin, not a lock)."""

    parse_key = 7


@pytest.mark.timeout(30)
def test_html_report_is_self_contained(tmp_path: Path) -> None:
    page = tmp_path / "r.html"
    plugins = ["--plugin", f"{ST}:Ticker", "--plugin", f"{ST}:Counter"]
    code = main(
        ["run", "--no-progress", "--seed", "1", *plugins, "--events", "400", "--html", str(page)]
    )
    assert code == 0
    html = page.read_text()
    assert html.count("<svg") == 3  # waits histogram, throughput, per-thread operations
    for title in ("handle waits", "ops/s", "operations per thread"):
        assert title in html
    # Nothing fetched from elsewhere: no script, stylesheet or image by URL.
    assert "<script" not in html and "<link" not in html and "<img" not in html
    assert "http" not in html.replace('xmlns="http://www.w3.org/2000/svg"', "")
    assert "result: PASS" in html


@pytest.mark.timeout(30)
def test_user_scenario_by_module_and_its_replay(tmp_path: Path) -> None:
    code, rep = run(
        tmp_path,
        *("--scenario", "stress.canaries:UnsafeCounter", "--threads", "2"),
        *("--duration", "1", "--detect", "--stall", "4"),
    )
    assert code == 1 and rep["violation_counts"]["lost-update"] > 0
    argv = rep["reproduce"].split()
    for flag, value in (
        ("--scenario", "stress.canaries:UnsafeCounter"),
        ("--seed", "3"),
        ("--threads", "2"),
        ("--yield-probability", "0.5"),
        ("--stall", "4"),
    ):
        assert argv[argv.index(flag) + 1] == value, flag
    assert "--detect" in argv
    assert rep["checked"][:2] == ["lost-update", "phantom-update"]  # what it declares, only
    assert "torn-read" not in rep["checked"]


class HundredEvents(SourcePlugin):
    """A user source: 100 events on tids 0..9, then the end of the capture."""

    name = "hundred"

    def open(self) -> Iterator[Event]:
        for i in range(100):
            yield Event(ts=i, tid=i % 10, type=1)


class HitsField(ExtractPlugin):
    """Extracts `hits.value` (the hits of key tid % 4); no value for tids 8 and 9."""

    name = "hits-field"
    fields = ("hits.value",)

    def init(self, tables: TablesInput | None) -> None:
        assert tables is not None
        self.hits = tables.get_table("hits", U32)
        self.field = self.hits.get_field("hits", U64)

    def extract(self, event: Event, request: ExtractRequest, reader: TableReader) -> Any:
        if event.tid >= 8:
            raise LookupError("no such thread")  # "no value", as the ABI has it
        with self.hits.get_entry(reader, event.tid % 4) as h:
            return h[self.field]


@pytest.mark.timeout(30)
def test_user_source_and_extract_plugin(tmp_path: Path) -> None:
    code, rep = run(
        tmp_path,
        *("--source", f"{HERE}:HundredEvents", "--plugin", f"{ST}:Ticker"),
        *("--plugin", f"{ST}:Counter", "--plugin", f"{HERE}:HitsField"),
        *("--invariants", f"{ST}:HitsAddUp", "--duration", "20"),
    )
    assert code == 0, rep["violations"] or rep["thread_errors"]
    summary = rep["scenario_summary"]
    assert summary["events"] == 100 and summary["source"] == "hundred"  # ended at its EOF
    assert summary["fields extracted"] == "hits.value"
    assert summary["extract: no value"] == {"hits-field: hits.value": 20}
    assert rep["plugins"]["hits-field"]["callback_ns"]["extract"]["count"] == 100
    assert rep["duration_s"] < 10
    assert "--source tests.test_stress_plugins:HundredEvents" in rep["reproduce"]


class SeenEvents(ParsePlugin):
    """Keeps the events it parses (for the native-source run)."""

    name = "seen"

    def init(self, tables: TablesInput | None) -> None:
        self.events: list[Any] = []

    def parse_event(self, event: Any, reader: Any, writer: Any) -> None:
        self.events.append(event)


@pytest.mark.timeout(60)
def test_native_source_plugin_feeds_the_run(tmp_path: Path) -> None:
    """`--source PATH.so`: a native source plugin's events drive the run, to its EOF."""
    from tests.native.build import CompileError, compile_plugin

    try:
        so = str(compile_plugin("cap_source.c", tmp_path))
    except CompileError as exc:
        pytest.skip(f"no C compiler: {exc}")
    code, rep = run(tmp_path, "--source", so, "--plugin", f"{HERE}:SeenEvents", "--duration", "5")
    assert code == 0, rep["violations"] or rep["thread_errors"]
    assert rep["scenario_summary"]["events"] == 3  # cap_source's default: 3 events, then EOF
    assert rep["scenario_summary"]["source"] == "cap_source"
    assert rep["plugins"]["seen"]["callback_ns"]["parse_event"]["count"] == 3
    assert f"--source {so}" in rep["reproduce"]


class Proc(EntrySchema):
    comm: String


class ThreadsFromClones(ParsePlugin):
    """Owns `threads` (I64 keys): adds an entry on each clone of the real syscall stream, and
    counts the open exits per thread that the native event_counter.c counts in ct_counter."""

    name = "threads-owner"

    def init(self, tables: TablesInput | None) -> None:
        assert tables is not None
        self.table: Table[int, Proc] = Table("threads", I64, Proc)
        tables.export_table(self.table)
        self.opens: dict[int, int] = {}

    def parse_event(self, event: Any, reader: Any, writer: Any) -> None:
        scap = event.payload
        if event.type == PPME.SYSCALL_CLONE_20_X:
            e = self.table.create_entry()
            e["comm"] = scap["comm"]
            self.table.add_entry(scap["tid"], e)
        elif event.type == PPME.SYSCALL_OPEN_X:
            self.opens[event.tid] = self.opens.get(event.tid, 0) + 1

    @invariant("ct_counter == open exits parsed, per thread", online=False)
    def counted(self, final: bool) -> bool | str:
        counter = self.table.field("ct_counter")
        for tid in self.table.keys():
            with self.table.read(tid) as h:
                if h[counter] != self.opens.get(tid, 0):
                    return f"tid {tid}: ct_counter {h[counter]}, opens {self.opens.get(tid, 0)}"
        return bool(self.opens) or "no open event was parsed"


@pytest.mark.timeout(60)
def test_native_parser_gets_real_syscall_events_from_the_workload(tmp_path: Path) -> None:
    """With a native plugin loaded, the built-in workload sends real syscall events."""
    from tests.native.build import CompileError, compile_plugin

    try:
        so = str(compile_plugin("event_counter.c", tmp_path))
    except CompileError as exc:
        pytest.skip(f"no C compiler: {exc}")
    args = ["--plugin", f"{HERE}:ThreadsFromClones", "--plugin", so, "--events", "400"]
    code, rep = run(tmp_path, *args)
    assert code == 0, rep["violations"] or rep["thread_errors"]
    assert rep["plugins"]["ct_event_counter"]["native"] is True
    assert rep["scenario_summary"]["events"] == 400
