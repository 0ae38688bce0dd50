"""User-declared invariants: what must hold about a plugin's state, checked while it runs.

Mark a method with `@invariant("what must hold")`, on a plugin class or on a small companion
class (`python -m stress run --invariants MODULE:ATTR`, whose constructor takes the loaded
plugins by name):

    from stress import invariant

    class Counter(ParsePlugin):
        ...
        @invariant("count == events seen")
        def count_matches(self, final: bool) -> bool:
            with self.table.read(0) as h:
                return h["count"] == self.seen

The method runs on the host's thread (the thread that ran the plugins' `init`, so the owner of
the tables they made there) between two events, every 50 ms, and once more after the capture
closed and every background thread was joined (`final=True`). It holds when it returns True or
None; it is violated when it returns False, a string (the explanation), or raises
AssertionError (its message). Any other exception is a thread error of the host's thread.
`online=False` checks only at the end, for what holds only once background work has stopped.
Each violation is reported with kind `invariant` and the invariant's text.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

F = TypeVar("F", bound=Callable[..., Any])

_ATTR = "__stress_invariant__"


@dataclass(frozen=True)
class InvariantSpec:
    """What `@invariant` records on a method."""

    text: str
    online: bool


def invariant(text: str, *, online: bool = True) -> Callable[[F], F]:
    """Declare the decorated method `(self, final: bool)` an invariant (see the module doc)."""

    def mark(fn: F) -> F:
        setattr(fn, _ATTR, InvariantSpec(text, online))
        return fn

    return mark


@dataclass
class BoundInvariant:
    """A declared invariant of one object, ready to check."""

    owner: str  # the plugin (or companion class) that declared it
    text: str
    online: bool
    check: Callable[[bool], Any]
    checked: int = 0
    violated: int = 0


def collect(obj: object, owner: str) -> list[BoundInvariant]:
    """The invariants `obj`'s class declares, bound to `obj`."""
    out = []
    seen: set[str] = set()
    for cls in type(obj).__mro__:
        for name, fn in vars(cls).items():
            spec = getattr(fn, _ATTR, None)
            if isinstance(spec, InvariantSpec) and name not in seen:
                seen.add(name)
                out.append(BoundInvariant(owner, spec.text, spec.online, getattr(obj, name)))
    return out


def make_companion(cls: Any, plugins: Mapping[str, Any]) -> object:
    """Instantiate a companion invariant class with the loaded plugins, by name."""
    return cls(plugins)


def evaluate(inv: BoundInvariant, final: bool) -> str | None:
    """Run one invariant: None if it holds, else why not. Other exceptions propagate."""
    inv.checked += 1
    try:
        result = inv.check(final)
    except AssertionError as exc:
        why = str(exc) or "assertion failed"
    else:
        if result is None or result is True:
            return None
        why = result if isinstance(result, str) else "returned False"
    inv.violated += 1
    return why
