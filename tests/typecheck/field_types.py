"""Checked by `mypy --strict` in CI (pyproject's mypy `files`): resolved fields type `h[field]`.

Not a pytest module: if a line's type is wrong, mypy fails CI; it also runs as plain Python.
"""

from typing import Any, assert_type

from concurrent_tables import I64, Bool, EntrySchema, Field, String, Table


class Proc(EntrySchema):
    pid: I64
    comm: String
    alive: Bool


def typed_access() -> None:
    procs: Table[int, Proc] = Table("procs", I64, Proc)
    pid = procs.get_field("pid", I64)
    comm = procs.get_field("comm", String)
    alive = procs.get_field("alive", Bool)
    assert_type(pid, Field[int])
    procs.add_entry(1, procs.create_entry())
    with procs.write(1) as h:
        h[pid] = 7
        h[comm] = "init"
        assert_type(h[pid], int)
        assert_type(h[comm], str)
        assert_type(h[alive], bool)
        assert_type(h["comm"], Any)  # by name: not typed


if __name__ == "__main__":
    typed_access()
