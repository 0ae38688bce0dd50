"""Registration of the bridge's `extern "Python"` callbacks, and what a failing one returns.

cffi binds an `extern "Python"` function process-wide, and the last `ffi.def_extern` wins. Every
module of the bridge declares its callbacks with `@extern(name, error, onerror)`; `install()`
binds them all, and runs when `concurrent_tables.cabi` is imported and whenever a plugin session
is created, so that nothing else in the process (a test double, say) keeps them bound elsewhere.

No Python exception ever crosses into C. cffi catches whatever a callback raises (every
`BaseException`, `KeyboardInterrupt` included), calls its `onerror` with it, and returns `error`
to C: the slot's declared error value (NULL, FAILURE, (uint64_t)-1, false; nothing for `void`).
The callbacks hold no `try`/`except` of their own. The default `onerror`, `record_owner_error`,
records the exception as the caller's owner error, in libsinsp's wording.
"""

from __future__ import annotations

from collections.abc import Callable
from types import TracebackType
from typing import Any, TypeVar

from .._abi import ffi
from .context import set_error
from .messages import owner_text

F = TypeVar("F", bound=Callable[..., Any])
OnError = Callable[[type[BaseException], BaseException, TracebackType | None], None]

#: The text recorded if even the exception's own text cannot be recorded.
INTERNAL_ERROR = "internal error in the Python table owner"


def record_owner_error(
    kind: type[BaseException], exc: BaseException, tb: TracebackType | None
) -> None:
    """onerror: `exc` becomes the caller's owner error (what get_owner_last_error returns)."""
    try:
        set_error(owner_text(exc))
    except BaseException:  # pragma: no cover - last resort: a fixed text
        set_error(INTERNAL_ERROR)


def ignore_error(kind: type[BaseException], exc: BaseException, tb: TracebackType | None) -> None:
    """onerror of the callbacks that have no error to report (the error services themselves)."""


_REGISTERED: dict[str, tuple[Callable[..., Any], Any, OnError]] = {}


def extern(name: str, error: Any = None, onerror: OnError = record_owner_error) -> Callable[[F], F]:
    """Declare `fn` as the implementation of the extern "Python" callback `name`.

    If `fn` raises, cffi calls `onerror(type, exception, traceback)` and returns `error` to C.
    """

    def deco(fn: F) -> F:
        _REGISTERED[name] = (fn, error, onerror)
        _bind(name, fn, error, onerror)
        return fn

    return deco


def _bind(name: str, fn: Callable[..., Any], error: Any, onerror: OnError) -> None:
    if error is None:  # a void callback: cffi takes no error value
        ffi.def_extern(name=name, onerror=onerror)(fn)
    else:
        ffi.def_extern(name=name, error=error, onerror=onerror)(fn)


def install() -> None:
    """(Re)bind every declared callback to this package's implementation."""
    for name, (fn, error, onerror) in _REGISTERED.items():
        _bind(name, fn, error, onerror)


def registered() -> frozenset[str]:
    """Names of the callbacks declared so far."""
    return frozenset(_REGISTERED)
