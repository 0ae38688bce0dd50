"""Entries held by a handle that nobody will ever release: how the Python core finds them.

On the Python core a handle ends in Python code (`EntryHandle.__exit__`, `release`, `__del__`),
and CPython delivers a KeyboardInterrupt or an asynchronous exception at the entry of any Python
function. So an entry can stay taken with nobody left to give it back:

- **exited holder**: the thread that holds the handle has exited (the handle is kept alive by
  some reference), as on the C core (ct_core.c, "Owner died");
- **interrupted exit**: the exception that ended a `with` block landed on the entry of the
  block's `__exit__`, which therefore never ran; the handle is still live, kept by the block's
  variable, and its thread's next request for the key would conflict with it;
- **orphaned record**: a borrow count or lock slot entry with no live handle behind it, left
  by a release lost to an exception at the very start of a collected handle's `__del__`.

The domains (domains.py) recover such an entry when a thread would otherwise have to give up on
it: a thread that conflicts with its own handle on the key, before it raises, and a thread
waiting for the key, between its waits. The tests here tell these cases from a live handle in
use: an exited holder by the thread table (`threads.thread_alive`); the other two by looking at
the objects that refer to the table's handles (`gc.get_referrers`, a walk over every tracked
object: only on these paths). A `with` statement keeps its context manager's bound `__exit__`
on the frame's stack until the exit runs (CPython up to 3.13; `with_binds_exit` checks it at
import), so a live handle that was entered and that no bound `__exit__` refers to has seen its
block end without its exit. A handle entered by hand, with `handle.__enter__()` and without
keeping `handle.__exit__`, looks the same: its thread's conflicting request releases it.
"""

from __future__ import annotations

import gc
import warnings
from types import MethodType
from typing import TYPE_CHECKING, Any, Final

from .threads import NO_THREAD, WAITING

if TYPE_CHECKING:
    from ..table import Table

#: How the scope of a handle released by recovery ended (what StaleHandleError quotes).
EXITED: Final = "released (its thread exited while holding it)"
INTERRUPTED: Final = "released (its with block ended without its exit: an exception interrupted it)"


def with_binds_exit() -> bool:
    """Whether a `with` statement keeps its manager's bound `__exit__` for the block's length."""

    class Probe:
        bound = False

        def __enter__(self) -> Probe:
            exit = type(self).__exit__
            self.bound = any(
                type(r) is MethodType and r.__func__ is exit for r in gc.get_referrers(self)
            )
            return self

        def __exit__(self, *exc: object) -> None:
            return None

    with Probe() as p:
        pass
    return p.bound


#: Interrupted exits can be told from blocks in progress (see the module docstring).
WITH_BINDS_EXIT: Final = with_binds_exit()


def is_handle(o: object) -> bool:
    """A Python-core entry handle (`handles.EntryHandle`: imported late, it imports locking)."""
    from ..handles import DetachedEntry, EntryHandle

    return isinstance(o, EntryHandle) and not isinstance(o, DetachedEntry)


def live_handles(objects: list[Any], table: Table[Any, Any], key: Any) -> list[Any]:
    """The handles among `objects` that hold (or wait for) `key` of `table` (any key: None)."""
    # (getattr: a handle another thread is making may not have its attributes yet)
    return [
        o
        for o in objects
        if is_handle(o)
        and getattr(o, "_table", None) is table
        and (key is None or getattr(o, "_key", None) == key)
        and getattr(o, "_tok", NO_THREAD) is not NO_THREAD
    ]


def table_handles(table: Table[Any, Any], key: Any, *, young: bool) -> list[Any]:
    """Live handles on `key` of `table`: among the youngest objects only (cheap, incomplete:
    for a quick proof that a conflict is real), or all of them (a walk over every object)."""
    if young:
        return live_handles(gc.get_objects(0) + gc.get_objects(1), table, key)
    return live_handles(gc.get_referrers(table), table, key)


def exits_pending(handles: list[Any], objects: list[Any] | None = None) -> set[int]:
    """Ids of the `handles` that a bound `__exit__` still refers to (a `with` block or an
    ExitStack will exit them), found among `objects` or among every referrer of the handles."""
    if not handles:
        return set()
    ids = {id(h) for h in handles}
    found = gc.get_referrers(*handles) if objects is None else objects
    return {
        id(r.__self__)
        for r in found
        if type(r) is MethodType
        and id(r.__self__) in ids
        and r.__func__ is getattr(type(r.__self__), "__exit__", None)
    }


def interrupted(handles: list[Any], pending: set[int]) -> list[Any]:
    """The `handles` that were entered, hold their entry, and that no exit will end."""
    return [
        h
        for h in handles
        if h._entered and h._tok is not WAITING and id(h) not in pending and WITH_BINDS_EXIT
    ]


def some_in_use(table: Table[Any, Any], key: Any, tid: int | None) -> bool:
    """Whether a young live handle on `key` of `table` (of thread `tid`, if given) is in use:
    held without a `with`, or in a `with` block still running. Cheap (the youngest objects)."""
    objects = gc.get_objects(0) + gc.get_objects(1)
    handles = [h for h in live_handles(objects, table, key) if tid is None or h._tid == tid]
    if any(not h._entered for h in handles if h._tok is not WAITING):
        return True
    return bool(exits_pending(handles, objects))


def warn(message: str) -> None:
    warnings.warn(message, ResourceWarning, stacklevel=3)


def mode(h: Any) -> str:
    return "write" if h.write else "read"
