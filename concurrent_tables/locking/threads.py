"""Thread tokens (whose handle is this?) and thread liveness (has its holder exited?).

A handle is confined to the thread that holds it, and every use of it checks that it is used by
that thread while it still holds its entry. That check runs on every field read and write, so it
must be cheap: `threading.get_ident() == handle_tid` allocates an int and compares it (the
largest cost of a field read on the Python core). Instead each thread that takes handles gets a
*token*: a `_thread.RLock` the thread acquires once and never releases. An RLock records the
thread that owns it, and `token._is_owned()` is true only in that thread; one C call, no
allocation. A handle keeps its holder's token while it holds its entry, and one of two tokens
nobody ever acquires otherwise (`NO_THREAD`: it holds nothing; `WAITING`: it is queued for a lock
slot without the lock). So `handle._tok._is_owned()` answers, in one call, "is the thread
running this its holder, and does it still hold the entry": a stale handle and a foreign thread
both take the slow path, which tells them apart. (`_is_owned` is the RLock's own test, the one
`threading.Condition` uses; tokens are exact `_thread.RLock`s, for which CPython's bytecode
specialises the call.)

Thread ids are reused once a thread has exited, and so are tokens' owners: a token of an exited
thread answers yes in a new thread that got the same id, exactly as an id comparison would.
"""

from __future__ import annotations

import sys
import threading
from _thread import RLock
from typing import Any, Final

_local = threading.local()

#: The token of a handle that holds nothing (never granted, or released): owned by no thread.
NO_THREAD: Final[Any] = RLock()
#: The token of a handle queued for its entry's lock slot, counted among the slot's users.
WAITING: Final[Any] = RLock()


def thread_token() -> Any:
    """The calling thread's token, made (and acquired, for good) on the thread's first call."""
    try:
        return _local.token
    except AttributeError:
        token = RLock()
        token.acquire()
        # An exception between the two lines leaves an unused token behind: the next call
        # makes another.
        _local.token = token
        return token


def thread_alive(tid: int) -> bool:
    """True if a thread with id `tid` is running Python code (it has a thread state and a frame).

    The test of the C core (ct_core.c `thread_alive`, which walks the interpreter's thread
    states): a thread that holds a handle is running Python code, or blocked in a call from it.
    """
    return tid in sys._current_frames()
