"""Helpers for the tests that run the C test plugins through the real bridge."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from concurrent_tables.cabi.loader import NativePlugin
from concurrent_tables.registry import TableRegistry

#: The test plugins' own exports, beyond the plugin API (ct_checks.h; counter_thread.c). cffi
#: resolves a declared function only when it is used, so one declaration serves every plugin.
TEST_CDEF = """
const char* ct_report(void* s);
const char* ct_thread_status(void* s);
int ct_thread_done(void* s);
"""


def load_plugin(
    path: Path, directory: TableRegistry, config: str = "", *, extra_cdef: str = ""
) -> NativePlugin:
    return NativePlugin(str(path), config, registry=directory, extra_cdef=TEST_CDEF + extra_cdef)


def report(p: NativePlugin) -> dict[str, Any]:
    """The plugin's JSON report: {"plugin", "checks": [...], "total", "failed", "events"}."""
    text = p.pffi.string(p.lib.ct_report(p.state)).decode()
    result: dict[str, Any] = json.loads(text)
    return result


def checks(p: NativePlugin, phase: str | None = None) -> dict[str, dict[str, Any]]:
    """The last check of each name (of one phase, if given)."""
    return {c["name"]: c for c in report(p)["checks"] if phase is None or c["phase"] == phase}


def failed(p: NativePlugin) -> list[dict[str, Any]]:
    return [c for c in report(p)["checks"] if not c["ok"]]


def thread_status(p: NativePlugin) -> dict[str, Any]:
    """counter_thread.c's pthread figures."""
    text = p.pffi.string(p.lib.ct_thread_status(p.state)).decode()
    result: dict[str, Any] = json.loads(text)
    return result


def thread_done(p: NativePlugin) -> bool:
    return bool(p.lib.ct_thread_done(p.state))
