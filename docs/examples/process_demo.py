"""A small process monitor built from five plugins, one per capability.

- `ProcessSource` (source) emits process events: spawn, open, close, exit.
- `ThreadState` (parse) keeps the `threads` table, with a nested `file_descriptors` table per
  thread.
- `Uptime` (listen) exports a thread-safe `system` table. Its routine refreshes
  `system["uptime"].ticks` in the background while the capture is open.
- `Alerts` (parse + async) exports a thread-safe `alerts` table. Its async task inserts an entry
  every few milliseconds, and pushes an event for every fifth one.
- `ProcessFields` (extract) reads `threads.comm`, `threads.fd_count` and `system.ticks`.

Run it with `python docs/examples/process_demo.py`. It prints one row per event, then a summary
of what the background threads did.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

from concurrent_tables import (
    I64,
    U8,
    U64,
    AsyncPlugin,
    EntrySchema,
    Event,
    ExtractPlugin,
    Imported,
    ImportedNested,
    ListenPlugin,
    NestedTable,
    ParsePlugin,
    PluginHost,
    ReadOnly,
    SourcePlugin,
    String,
    Table,
    TableImport,
    TableReader,
    TablesInput,
    TableWriter,
)
from concurrent_tables.errors import EntryNotFoundError
from concurrent_tables.plugins.base import AsyncContext, CaptureListenInput, ExtractRequest
from concurrent_tables.plugins.host import EventResult

SPAWN, OPEN, CLOSE, EXIT = 1, 2, 3, 4
NAMES = {SPAWN: "spawn", OPEN: "open", CLOSE: "close", EXIT: "exit", 99: "alert"}


# -- source ---------------------------------------------------------------------------------------


class ProcessSource(SourcePlugin):
    """Emits a fixed script of process events, a few milliseconds apart."""

    SCRIPT: tuple[tuple[int, int, dict[str, Any]], ...] = (
        (100, SPAWN, {"comm": "bash", "exe": "/bin/bash"}),
        (100, OPEN, {"fd": 3, "name": "/etc/passwd", "kind": 1}),
        (101, SPAWN, {"comm": "python3", "exe": "/usr/bin/python3"}),
        (101, OPEN, {"fd": 3, "name": "/tmp/data.csv", "kind": 1}),
        (101, OPEN, {"fd": 4, "name": "tcp:10.0.0.1:443", "kind": 2}),
        (100, CLOSE, {"fd": 3}),
        (101, EXIT, {}),
        (100, OPEN, {"fd": 5, "name": "/var/log/syslog", "kind": 1}),
    )

    def open(self) -> Iterator[Event]:
        for i, (tid, kind, payload) in enumerate(self.SCRIPT):
            time.sleep(0.004)  # give the background threads time to work
            yield Event(ts=1_000_000 + i, tid=tid, type=kind, payload=payload)


# -- parse: the threads table ---------------------------------------------------------------------


class FileDescriptor(EntrySchema):
    name: String
    kind: U8


class Thread(EntrySchema):
    comm: String
    exe: ReadOnly[String]
    file_descriptors: NestedTable[I64, FileDescriptor]


class ThreadState(ParsePlugin):
    """Owns `threads` and keeps it up to date; writes directly as the owner."""

    def init(self, tables: TablesInput | None) -> None:
        assert tables is not None
        self.threads: Table[int, Thread] = Table("threads", I64, Thread)
        tables.export_table(self.threads)

    def parse_event(self, event: Event, reader: TableReader, writer: TableWriter) -> None:
        p, t = event.payload, self.threads
        if event.type == SPAWN:
            e = t.create_entry()
            e["comm"], e["exe"] = p["comm"], p["exe"]
            t.add_entry(event.tid, e)
        elif event.type in (OPEN, CLOSE):
            with t.read(event.tid) as h:
                fds = h["file_descriptors"]
                if event.type == OPEN:
                    fd = fds.create_entry()
                    fd["name"], fd["kind"] = p["name"], p["kind"]
                    fds.add_entry(p["fd"], fd)
                else:
                    fds.erase_entry(p["fd"])
        elif event.type == EXIT:
            t.erase_entry(event.tid)


# -- listen: a routine refreshing a field ---------------------------------------------------------


class System(EntrySchema):
    ticks: U64


class Uptime(ListenPlugin):
    """Exports a thread-safe `system` table; a routine refreshes `ticks` while capturing."""

    def init(self, tables: TablesInput | None) -> None:
        assert tables is not None
        self.system: Table[str, System] = Table("system", String, System, thread_safe=True)
        tables.export_table(self.system)
        self.refreshes = 0

    def capture_open(self, capture: CaptureListenInput) -> None:
        self.system.add_entry("uptime", self.system.create_entry())
        capture.start_routine(self._refresh, interval=0.002, name="uptime")

    def _refresh(self) -> None:
        # A routine thread: allowed because `system` is thread-safe and exported by this plugin.
        with self.system.write("uptime") as h:
            h["ticks"] += 1
        self.refreshes += 1


# -- async: inserting entries from another thread -------------------------------------------------


class Alert(EntrySchema):
    tid: I64
    message: String


class Alerts(ParsePlugin, AsyncPlugin):
    """Exports a thread-safe `alerts` table; its async task fills it and pushes events."""

    def init(self, tables: TablesInput | None) -> None:
        assert tables is not None
        self.alerts: Table[int, Alert] = Table("alerts", U64, Alert, thread_safe=True)
        tables.export_table(self.alerts)
        self.pushed = 0

    def parse_event(self, event: Event, reader: TableReader, writer: TableWriter) -> None:
        pass  # parse is only here to get a TablesInput at init (async alone has none)

    def start_async(self, ctx: AsyncContext) -> None:
        self.ctx = ctx
        ctx.start_task(self._insert, interval=0.003, name="alerts")

    def _insert(self) -> None:
        n = len(self.alerts)
        e = self.alerts.create_entry()
        e["tid"], e["message"] = 100, f"alert #{n}"
        self.alerts.add_entry(n, e)
        if n % 5 == 4:
            self.ctx.push(Event(ts=0, tid=100, type=99, payload={"alert": n}))
            self.pushed += 1


# -- extract: reading threads.comm ----------------------------------------------------------------


class FdImport(TableImport):
    name: Imported[String]


class ThreadImport(TableImport):
    comm: Imported[String]
    file_descriptors: ImportedNested[I64, FdImport]


class ProcessFields(ExtractPlugin):
    fields = ("threads.comm", "threads.fd_count", "system.ticks")

    def init(self, tables: TablesInput | None) -> None:
        assert tables is not None
        self.threads = ThreadImport.import_table(tables, "threads", I64)
        self.system = tables.get_table("system", String)
        self.ticks = self.system.get_field("ticks", U64)

    def extract(self, event: Event, request: ExtractRequest, reader: TableReader) -> Any:
        if request.field == "system.ticks":
            with self.system.get_entry(reader, "uptime") as h:
                return h[self.ticks]
        with self.threads.table.get_entry(reader, event.tid) as h:
            if request.field == "threads.comm":
                return self.threads.comm.get(h)
            return self.threads.file_descriptors.get(h).size(reader)


def show(result: EventResult, field: str) -> str:
    """A cell of the output table: the value, '-' for no such entry, '!error' otherwise."""
    if field in result.values:
        return str(result.values[field])
    err = result.errors.get(field)
    return "-" if isinstance(err, EntryNotFoundError) else f"!{err}"


def main() -> None:
    state, uptime, alerts = ThreadState(), Uptime(), Alerts()
    host = PluginHost([ProcessSource(), state, uptime, alerts, ProcessFields()])
    results = host.run(extract=list(ProcessFields.fields))

    print(f"{'evt':>3}  {'source':<7}  {'event':<6}  {'tid':>4}  {'comm':<8}  {'fds':>3}  ticks")
    for r in results:
        ev = r.event
        comm, fds, ticks = (show(r, f) for f in ProcessFields.fields)
        print(
            f"{ev.evtnum:>3}  {ev.source:<7}  {NAMES[ev.type]:<6}  {ev.tid:>4}  "
            f"{comm:<8}  {fds:>3}  {ticks}"
        )
    print(
        f"summary: {len(results)} events; threads left: {len(state.threads)}; "
        f"uptime routine refreshes: {uptime.refreshes}; alerts inserted by async: "
        f"{len(alerts.alerts)} ({alerts.pushed} pushed as events); "
        f"background errors: {len(host.background_errors)}"
    )


if __name__ == "__main__":
    main()
