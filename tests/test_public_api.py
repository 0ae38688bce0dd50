"""The public API: small, importable, typed errors, no private-looking parameters."""

from __future__ import annotations

import inspect

import concurrent_tables
import concurrent_tables.errors as errors
from concurrent_tables import TablesError


def test_all_is_small_and_every_name_resolves() -> None:
    names = concurrent_tables.__all__
    assert len(names) <= 45
    assert len(set(names)) == len(names)
    for name in names:
        assert getattr(concurrent_tables, name) is not None, name


def test_every_library_exception_is_a_tables_error() -> None:
    classes = [
        obj
        for obj in vars(errors).values()
        if isinstance(obj, type) and issubclass(obj, BaseException)
    ]
    assert len(classes) > 20
    for cls in classes:
        assert issubclass(cls, TablesError), cls


def _public_callables() -> list[tuple[str, object]]:
    out: list[tuple[str, object]] = []
    for name in concurrent_tables.__all__:
        obj = getattr(concurrent_tables, name)
        if inspect.isclass(obj):
            out.append((name, obj))
            for attr, member in vars(obj).items():
                if not attr.startswith("_") or attr == "__init__":
                    if callable(member):
                        out.append((f"{name}.{attr}", member))
        elif callable(obj):
            out.append((name, obj))
    return out


def test_no_public_parameter_is_prefixed_with_an_underscore() -> None:
    checked = 0
    for where, fn in _public_callables():
        try:
            sig = inspect.signature(fn)  # type: ignore[arg-type]
        except (TypeError, ValueError):
            continue
        checked += 1
        for p in sig.parameters.values():
            assert not p.name.startswith("_"), f"{where}({p.name}=...)"
            assert not (isinstance(p.default, float) and p.default < 0), f"{where}: {p}"
    assert checked > 50
