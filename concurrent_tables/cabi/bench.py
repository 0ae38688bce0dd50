"""What one native `read_entry_field` on a Python-owned table costs.

`bench_native_read(n)` runs a C loop (`ct_bench_read_entry_field` in ct_bridge.c) that calls the
read dispatcher `n` times, exactly as a native plugin calls it (union zeroed first, the GIL taken
by each call: by the C core, which serves the read, or on the Python core by the callback), on
an int64 field of one entry, during a parse callback of a benchmark session. The loop is timed
in C in batches; the result is the median batch's ns per call.
"""

from __future__ import annotations

import statistics

from .._abi import ffi, lib
from ..fields import Field
from ..registry import TableRegistry
from ..schema import EntrySchema
from ..table import Table
from ..types import I64, U64, String
from .exported import accessor_of, forget, table_input
from .session import PluginSession


class _Row(EntrySchema):
    value: I64


def bench_native_read(
    n: int = 200_000, *, thread_safe: bool = True, batch: int = 100, string: bool = False
) -> float:
    """Median ns per native read_entry_field call over `n` calls (see the module docstring).

    `string=True` reads a string field instead of an int64 one.
    """
    table: Table[int, _Row] = Table("bench", U64, _Row, thread_safe=thread_safe)
    e = table.create_entry()
    e["value"] = 42
    table.add_entry(1, e)
    field: Field = table.add_field("label", String) if string else table.get_field("value", I64)
    if string:
        with table.write(1) as h:
            h[field] = "a label"
    session = PluginSession("bench", TableRegistry(table))
    nbatch = max(1, n // batch)
    out = ffi.new("double[]", nbatch)
    try:
        with session.calling("parse_event"):
            inp = table_input(table)
            key = ffi.new("ss_plugin_state_data*")
            key.u64 = 1
            entry = lib.ct_disp_get_table_entry(inp, key)
            if entry == ffi.NULL:
                raise RuntimeError(f"benchmark entry not found: {session.error_text}")
            acc = ffi.cast("void*", accessor_of(field).id)
            failures = lib.ct_bench_read_entry_field(inp, entry, acc, nbatch, batch, out)
            if failures:
                raise RuntimeError(f"{failures} benchmark reads failed: {session.error_text}")
    finally:
        session.close()
        forget(table)
    return float(statistics.median(out[i] for i in range(nbatch)))
