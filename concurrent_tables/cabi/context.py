"""Whose call is this: the plugin currently being called on each thread, and its last error.

The table vtables carry no owner, so a Python-owned table cannot tell from its arguments which
plugin is calling. The host therefore marks each thread while it runs a plugin callback
(`PluginSession.calling`): the *current plugin* of that thread. Errors raised while serving a
table call become that plugin's owner last error, the text `get_owner_last_error` returns, as in
libsinsp (one error per plugin, never cleared on success).

A thread with no current plugin is a plugin's own thread (a pthread it started) or Python calling
the dispatchers directly. Its errors are kept per thread, and `get_owner_last_error` called from
that thread returns them: a plugin thread reads its own errors, not its plugin's.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

from .._abi import ffi
from . import fastread

if TYPE_CHECKING:
    from .session import PluginSession


class _PerThread(threading.local):
    """Per-thread state; class attributes are the defaults (no AttributeError on reads)."""

    session: PluginSession | None = None
    error: Any = None
    pool: Any = None


_tls = _PerThread()


def current_session() -> PluginSession | None:
    """The plugin the calling thread is running a callback of, if any."""
    s: PluginSession | None = getattr(_tls, "session", None)
    return s


def swap_session(session: PluginSession | None) -> PluginSession | None:
    """Make `session` the calling thread's current plugin; returns the previous one.

    The C core's fast read sees it too (its gate: whether the phase grants reads).
    """
    prev: PluginSession | None = getattr(_tls, "session", None)
    _tls.session = session
    fastread.set_gate(None if session is None else session.gate)
    return prev


def c_text(text: str) -> Any:
    """A NUL-terminated copy of `text` (NULs shown as \\0, unencodable characters replaced)."""
    return ffi.new("char[]", text.replace("\0", "\\0").encode("utf-8", "replace"))


def set_error(text: str) -> None:
    """Record `text` as the last error of the caller: the current plugin, else this thread."""
    c = c_text(text)
    s: PluginSession | None = getattr(_tls, "session", None)
    if s is not None:
        s.last_error = c
    else:
        _tls.error = c


def last_error() -> str | None:
    """The caller's last error as text: the current plugin's, else this thread's own."""
    s: PluginSession | None = getattr(_tls, "session", None)
    c = s.last_error if s is not None else getattr(_tls, "error", None)
    if c is None or c == ffi.NULL:
        return None
    return str(ffi.string(c).decode("utf-8", "replace"))
