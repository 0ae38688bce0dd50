"""tests/native/plugins/state_types.c: every state type written from C and read back, in C and
in Python."""

from __future__ import annotations

from pathlib import Path

import pytest

from concurrent_tables import Table
from concurrent_tables.registry import TableRegistry

from .conftest import LoadFn
from .helpers import checks, failed

pytestmark = pytest.mark.timeout(60)

TYPE_VALUES = {
    "types.int8": "-128,127",
    "types.int16": "-32768,32767",
    "types.int32": "-2147483648,2147483647",
    "types.int64": "-9223372036854775808,9223372036854775807",
    "types.uint8": "0,255",
    "types.uint16": "0,65535",
    "types.uint32": "0,4294967295",
    "types.uint64": "0,18446744073709551615",
    "types.bool": "0,1",
    "types.string": "[],[héllo wörld]",
    "types.string2": "[héllo wörld],[]",
}


def test_every_type_round_trips(
    load: LoadFn, directory: TableRegistry, state_types_so: Path
) -> None:
    p = load(state_types_so)
    assert checks(p, "init")["types.add_table_field"]["ok"]
    assert p.parse_event(3, tid=1)
    assert failed(p) == []
    parse = checks(p, "parse")
    for name, detail in TYPE_VALUES.items():
        assert parse[name]["ok"] and parse[name]["detail"] == detail, name
    threads = directory.find("threads")
    assert isinstance(threads, Table)
    with threads.read(1) as h:  # Python sees what C wrote last
        assert h["ct_t_int8"] == 127 and h["ct_t_uint64"] == 2**64 - 1
        assert h["ct_t_bool"] is True and h["ct_t_string"] == "héllo wörld"
        assert h["ct_t_string2"] == ""
