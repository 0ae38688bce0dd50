"""The capability test plugins (tests/native/plugins/cap_*.c) build warning-free and export
exactly the symbols of their capability (docs/c-abi.md)."""

from __future__ import annotations

import ctypes
from pathlib import Path

import pytest

from .build import PLUGINS_DIR, compile_plugin

pytestmark = pytest.mark.timeout(120)

REQUIRED = (
    "get_required_api_version",
    "get_version",
    "get_name",
    "get_description",
    "get_contact",
    "init",
    "destroy",
    "get_last_error",
)
CAPABILITY_SYMBOLS = {
    "cap_source": ("get_id", "get_event_source", "open", "close", "next_batch", "get_progress",
                   "event_to_string", "list_open_params"),
    "cap_extract": ("get_fields", "extract_fields", "get_extract_event_sources",
                    "get_extract_event_types"),
    "cap_async": ("get_async_events", "set_async_event_handler", "get_async_event_sources",
                  "dump_state"),
    "cap_routine": ("capture_open", "capture_close"),
    "cap_metrics": ("get_metrics", "parse_event"),
    "cap_routine_steps": ("parse_event", "capture_open", "capture_close"),
}  # fmt: skip
ALL = sorted({s for syms in CAPABILITY_SYMBOLS.values() for s in syms})


def exports(lib: ctypes.CDLL, name: str) -> bool:
    try:
        getattr(lib, f"plugin_{name}")
    except AttributeError:
        return False
    return True


@pytest.mark.parametrize("name", sorted(CAPABILITY_SYMBOLS))
def test_cap_plugin_builds_and_exports_its_capability(name: str, tmp_path: Path) -> None:
    lib = ctypes.CDLL(str(compile_plugin(PLUGINS_DIR / f"{name}.c", tmp_path)))
    assert all(exports(lib, s) for s in REQUIRED)
    present = {s for s in ALL if exports(lib, s)}
    assert present == set(CAPABILITY_SYMBOLS[name])
    lib.plugin_get_name.restype = ctypes.c_char_p
    assert lib.plugin_get_name() == name.encode()


def test_syscall_source_variant_has_no_id(tmp_path: Path) -> None:
    path = compile_plugin(PLUGINS_DIR / "cap_source.c", tmp_path, ("-DCAP_SYSCALL_SOURCE",))
    lib = ctypes.CDLL(str(path))
    assert not exports(lib, "get_id") and not exports(lib, "get_event_source")
    assert exports(lib, "next_batch")
