"""Shared fixtures: the reference scenarios' countdown source, `remaining` table and helpers."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from concurrent_tables import (
    U64,
    EntrySchema,
    Event,
    NestedTable,
    ParsePlugin,
    ReadOnly,
    SourcePlugin,
    Table,
    TableReader,
    TablesInput,
    TableWriter,
)


class CountdownEntry(EntrySchema):
    count: U64


class Remaining(EntrySchema):
    remaining: U64
    readonly: ReadOnly[U64]
    countdown: NestedTable[U64, CountdownEntry]


class CountdownSource(SourcePlugin):
    """Emits "3 events remaining" … "0 events remaining" (for remaining=4), then EOF."""

    def __init__(self, remaining: int = 4) -> None:
        self.remaining = remaining

    def open(self) -> Iterator[Event]:
        for i in range(self.remaining):
            left = self.remaining - 1 - i
            yield Event(ts=1000 + i, tid=1, type=1, payload=f"{left} events remaining")


def remaining_of(event: Event) -> int:
    """The N of "N events remaining"."""
    return int(str(event.payload).split()[0])


class DirectExporter(ParsePlugin):
    """Exports `remaining` and fills it directly, bypassing the API (S1, S2)."""

    name = "exporter"

    def __init__(self, *, thread_safe: bool = False, nested: bool = False) -> None:
        self.thread_safe = thread_safe
        self.nested = nested

    def init(self, tables: TablesInput | None) -> None:
        assert tables is not None
        self.table: Table[int, Remaining] = Table(
            "remaining", U64, Remaining, thread_safe=self.thread_safe
        )
        tables.export_table(self.table)

    def parse_event(self, event: Event, reader: TableReader, writer: TableWriter) -> None:
        n = remaining_of(event)
        e = self.table.create_entry()
        e["remaining"] = n
        e["readonly"] = 100 + n  # the owner writes read-only fields directly
        if self.nested:
            countdown = e["countdown"]
            for i in range(n + 1):
                c = countdown.create_entry()
                c["count"] = n - i
                countdown.add_entry(i, c)
        self.table.add_entry(event.evtnum, e, replace=True)


def snapshot(table: Table[Any, Any]) -> dict[Any, tuple[Any, ...]]:
    """Every entry's public scalar values, to check that a failed operation changed nothing."""
    names = [f.name for f in table.list_fields() if f.type.name != "TABLE"]
    out: dict[Any, tuple[Any, ...]] = {}
    for h in table.items():
        out[h.key] = tuple(h[n] for n in names)
    return out


@pytest.fixture
def source() -> CountdownSource:
    return CountdownSource()
