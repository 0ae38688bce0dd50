"""Hardening of the bridge against bad input from the native side (issue 11's list)."""

from __future__ import annotations

import pytest

from concurrent_tables._abi import ffi, lib
from concurrent_tables.cabi.context import last_error, set_error

pytestmark = pytest.mark.timeout(30)

SLOTS = [
    ("get_table_size", lambda: lib.ct_disp_get_table_size(ffi.NULL), 2**64 - 1),
    ("get_table_name", lambda: lib.ct_disp_get_table_name(ffi.NULL), ffi.NULL),
    ("get_table_entry", lambda: lib.ct_disp_get_table_entry(ffi.NULL, ffi.NULL), ffi.NULL),
    ("clear_table", lambda: lib.ct_disp_clear_table(ffi.NULL), 1),
    ("create_table_entry", lambda: lib.ct_disp_create_table_entry(ffi.NULL), ffi.NULL),
    ("get_table_field", lambda: lib.ct_disp_get_table_field(ffi.NULL, b"x", 8), ffi.NULL),
]


@pytest.mark.parametrize(("slot", "call", "error_value"), SLOTS, ids=[s[0] for s in SLOTS])
def test_a_null_table_sets_an_error_text(slot: str, call: object, error_value: object) -> None:
    set_error("an earlier, unrelated error")
    assert callable(call)
    assert call() == error_value
    assert last_error() == f"{slot}: invalid table: null"
