"""Registration of the bridge's `extern "Python"` callbacks.

cffi binds an `extern "Python"` function process-wide, and the last `ffi.def_extern` wins. Every
module of the bridge declares its callbacks with `@extern(name, error)`; `install()` binds them
all, and runs when `concurrent_tables.cabi` is imported and whenever a plugin session is created,
so that nothing else in the process (a test double, say) keeps them bound elsewhere.

`error` is what cffi returns to C if an exception escapes anyway. The callbacks themselves catch
everything and turn it into the owner's last error (the project rule: no Python exception ever
crosses into C); `error` is the backstop.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from .._abi import ffi

F = TypeVar("F", bound=Callable[..., Any])

_REGISTERED: dict[str, tuple[Callable[..., Any], Any]] = {}


def extern(name: str, error: Any = None) -> Callable[[F], F]:
    """Declare `fn` as the implementation of the extern "Python" callback `name`."""

    def deco(fn: F) -> F:
        _REGISTERED[name] = (fn, error)
        _bind(name, fn, error)
        return fn

    return deco


def _bind(name: str, fn: Callable[..., Any], error: Any) -> None:
    if error is None:
        ffi.def_extern(name=name)(fn)
    else:
        ffi.def_extern(name=name, error=error)(fn)


def install() -> None:
    """(Re)bind every declared callback to this package's implementation."""
    for name, (fn, error) in _REGISTERED.items():
        _bind(name, fn, error)


def registered() -> frozenset[str]:
    """Names of the callbacks declared so far."""
    return frozenset(_REGISTERED)
