"""cabi/externs.py: no Python exception crosses into C, whatever a callback raises.

cffi catches the exception of an `extern "Python"` callback and calls its `onerror`; C gets the
slot's declared error value. These tests make a slot raise (an ordinary exception, and a
`KeyboardInterrupt`, which no `except Exception` would catch) and check what C and the plugin see.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from concurrent_tables import I64, EntrySchema, Table
from concurrent_tables._abi import ffi, lib
from concurrent_tables.cabi import PluginSession, table_input
from concurrent_tables.cabi import session as session_module
from concurrent_tables.registry import TableRegistry

U64_ERROR = 2**64 - 1


class Row(EntrySchema):
    n: I64


@pytest.fixture
def procs() -> Iterator[tuple[Table[int, Row], PluginSession]]:
    t: Table[int, Row] = Table("procs", I64, Row, thread_safe=True)
    s = PluginSession("raiser", TableRegistry(t))
    yield t, s
    s.close()


def _raise(exc: BaseException) -> Any:
    def fn(*args: Any, **kwargs: Any) -> Any:
        raise exc

    return fn


@pytest.mark.timeout(30)
@pytest.mark.parametrize("exc", [RuntimeError("boom"), KeyboardInterrupt()])
def test_a_raising_slot_returns_its_error_value_and_records_the_text(
    procs: tuple[Table[int, Row], PluginSession],
    monkeypatch: pytest.MonkeyPatch,
    exc: BaseException,
) -> None:
    table, s = procs
    inp = table_input(table)
    monkeypatch.setattr(type(table), "size", _raise(exc))  # the class of either backend
    monkeypatch.setattr(type(table), "clear", _raise(exc))
    with s.calling("parse_event"):
        assert lib.ct_disp_get_table_size(inp) == U64_ERROR
        assert s.error_text == (str(exc) or type(exc).__name__)
        s.last_error = None
        assert lib.ct_disp_clear_table(inp) == lib.SS_PLUGIN_FAILURE
        assert s.error_text == (str(exc) or type(exc).__name__)


@pytest.mark.timeout(30)
def test_error_services_fail_silently(
    procs: tuple[Table[int, Row], PluginSession], monkeypatch: pytest.MonkeyPatch
) -> None:
    """get_owner_last_error and log_fn have no error to report: NULL and nothing, no text."""
    _, s = procs

    class Broken(dict[int, PluginSession]):
        def get(self, *args: Any, **kwargs: Any) -> Any:
            raise KeyboardInterrupt

    monkeypatch.setattr(session_module, "SESSIONS", Broken())
    with s.calling("parse_event"):  # the plugin's own error, looked up in SESSIONS
        assert lib.ct_py_get_owner_last_error(s.id) == ffi.NULL
        lib.ct_py_log_fn(s.id, ffi.NULL, b"hello", 5)
    assert s.logs == [] and s.error_text is None
