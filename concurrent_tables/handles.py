"""Entry handles: lock-scoped access to one entry's fields.

A handle is alive from the moment its lock (or borrow) is granted until `release()` or the end of
its `with` block; any later use raises `StaleHandleError`. It is confined to the thread that
acquired it: use from another thread raises `WrongThreadError`, because the lock it stands for
belongs to that thread. Fields are read with `h[field]` and written with `h[field] = value`;
`field` is a resolved `Field` or, for convenience, a field name.
"""

from __future__ import annotations

from threading import get_ident
from typing import TYPE_CHECKING, Any

from .errors import (
    ForeignFieldError,
    InvalidValueError,
    ReadOnlyFieldError,
    ReadOnlyHandleError,
    StaleHandleError,
)
from .fields import Field
from .locking import unborrow
from .roles import wrong_thread_error
from .types import StateType, value_problem

if TYPE_CHECKING:
    from .table import Table

_DEAD = -1  # the thread id of a handle whose scope has ended (get_ident() is never -1)
_STRING = StateType.STRING


class EntryHandle:
    """Access to one entry. Read handles are shared, write handles exclusive.

    Get one from `Table.get_entry` / `read` / `write`; subclasses fix the mode (`write`) and
    whether the table API's rules apply (`api`: read-only fields refused, private ones hidden).
    """

    __slots__ = ("_grant", "_key", "_registry", "_table", "_tid", "_values")
    write = False
    api = False

    def __init__(
        self, table: Table[Any, Any], key: Any, values: list[Any], grant: Any, tid: int
    ) -> None:
        # Table.read / Table.write inline this body on their lock-free path: keep them in step.
        self._table = table
        self._key = key
        self._values = values
        self._registry = table._registry
        self._grant = grant
        self._tid = tid

    @property
    def key(self) -> Any:
        return self._key

    @property
    def table(self) -> Table[Any, Any]:
        return self._table

    @property
    def alive(self) -> bool:
        return self._tid != _DEAD

    # -- field access (the per-event hot path) ----------------------------------------------------

    def __getitem__(self, field: Field | str) -> Any:
        if self._tid != get_ident():
            self._check()
        try:  # a name (str) has no .registry: resolve it; zero-cost when it is a Field
            if field.registry is not self._registry:  # type: ignore[union-attr]
                field = self._resolve(field)
        except AttributeError:
            field = self._resolve(field)
        f: Field = field  # type: ignore[assignment]
        try:
            v = self._values[f.index]
        except IndexError:
            return f.default
        if v is None and f.nested is not None:
            return self._table._nested_table(self._values, f)
        return v

    get = __getitem__

    def __setitem__(self, field: Field | str, value: Any) -> None:
        if self._tid != get_ident():
            self._check()
        try:
            if field.registry is not self._registry:  # type: ignore[union-attr]
                field = self._resolve(field)
        except AttributeError:
            field = self._resolve(field)
        f: Field = field  # type: ignore[assignment]
        if f.read_only and (self.api or f.nested is not None):
            raise ReadOnlyFieldError(
                self._table.name,
                f.name,
                "writing to table fields is currently not supported" if f.nested else None,
            )
        t = value.__class__
        if t is int:
            if not (f.lo <= value <= f.hi):
                self._invalid(f, value)
        elif t is str:
            if f.type is not _STRING or not (value.isascii() and "\0" not in value):
                self._invalid(f, value)
        elif not f.private:
            self._invalid(f, value)
        values = self._values
        try:
            values[f.index] = value  # index >= 0; past the end only for a newer dynamic field
        except IndexError:
            i = f.index
            values.extend(self._registry.dynamic_defaults(len(values), i))
            values[i] = value

    set = __setitem__

    def _invalid(self, f: Field, value: Any) -> None:
        """Raise for a value the fast check refused, unless the full check accepts it."""
        if f.private:
            return
        assert f.type is not None
        why = value_problem(f.type, value)
        if why is not None:
            raise InvalidValueError(self._table.name, f.name, value, f.type.type_name, why)

    def _resolve(self, field: Any) -> Field:
        if isinstance(field, str):
            f = self._registry.lookup(field)
            if self.api and f.private:
                return self._registry.get(field, StateType.INT8)  # raises "undefined field"
            return f
        if isinstance(field, Field):
            raise ForeignFieldError(field.name, field.registry.table_name, self._table.name)
        raise TypeError(f"expected a Field or a field name, got {type(field).__name__}")

    def _how(self) -> str:
        """How a dead handle's scope ended: detached entries record it in `_grant`."""
        return self._grant if isinstance(self._grant, str) else "released"

    def _check(self) -> None:
        if self._tid == _DEAD:
            raise StaleHandleError(self._table.name, self._key, self._how())
        raise wrong_thread_error(
            f"handle on entry {self._key!r} of table '{self._table.name}'", self._tid, get_ident()
        )

    # -- scope ------------------------------------------------------------------------------------

    def release(self) -> None:
        """End the handle's scope and release its lock. Releasing twice is a no-op."""
        tid = self._tid
        if tid != get_ident():
            if tid == _DEAD:
                return
            self._check()
        self._tid = _DEAD
        table = self._table
        if self._grant is None:  # a lock-free borrow (owner fast path or single-threaded table)
            unborrow(table, self._key)
        else:
            table._domain.release(table, self._key, self.write, self._grant)

    def __enter__(self) -> EntryHandle:
        return self

    # release() with `unborrow` inlined: `with` blocks are the hot path, and a call costs
    # ~60 ns here.
    def __exit__(self, t: object, v: object, tb: object) -> None:
        tid = self._tid
        if tid != get_ident():  # never true for a live handle used by its own thread
            if tid == _DEAD:
                return
            self._check()
        self._tid = _DEAD
        grant = self._grant
        table = self._table
        if grant is None:
            borrows = table._borrows
            key = self._key
            b = borrows[key]
            if b == 1 or b == -1:
                del borrows[key]
            else:
                borrows[key] = b - 1
            slots = table._slots
            if slots and key in slots:  # another thread waits for this key: wake it
                table._domain.wake()
        else:
            table._domain.release(table, self._key, self.write, grant)

    def __repr__(self) -> str:
        mode = "write" if self.write else "read"
        state = "" if self.alive else f" ({self._how()})"
        return f"<{mode} handle on {self._table.name}[{self._key!r}]{state}>"


class ReadHandle(EntryHandle):
    """A shared handle: reads only."""

    __slots__ = ()

    def __setitem__(self, field: Field | str, value: Any) -> None:
        if self._tid != get_ident():
            self._check()
        name = field if isinstance(field, str) else field.name
        raise ReadOnlyHandleError(self._table.name, self._key, name)

    set = __setitem__


class WriteHandle(EntryHandle):
    """An exclusive handle: reads and writes."""

    __slots__ = ()
    write = True


class ApiReadHandle(ReadHandle):
    """A read handle under the table API's rules (what importers get)."""

    __slots__ = ()
    api = True


class ApiWriteHandle(WriteHandle):
    """A write handle under the table API's rules: read-only fields are refused."""

    __slots__ = ()
    api = True


class DetachedEntry(WriteHandle):
    """A new entry not yet in any table (from `create_entry`): writable, unshared, no lock.

    `add_entry` attaches it; `destroy()` discards it. Either ends this handle's scope.
    """

    __slots__ = ()

    def __init__(self, table: Table[Any, Any], values: list[Any]) -> None:
        super().__init__(table, None, values, None, get_ident())

    def release(self) -> None:
        """A detached entry holds no lock; `destroy()` ends it."""
        return None

    def destroy(self) -> None:
        """Discard the entry. Destroying twice is a no-op."""
        if self._tid != get_ident() and self._tid != _DEAD:
            self._check()
        self._end("destroyed")

    def _end(self, how: str) -> None:
        self._tid = _DEAD
        self._grant = how

    def __exit__(self, t: object, v: object, tb: object) -> None:
        return None

    def __repr__(self) -> str:
        state = "" if self.alive else f" ({self._how()})"
        return f"<detached entry of {self._table.name}{state}>"


class ApiDetachedEntry(DetachedEntry):
    """A detached entry created through the table API."""

    __slots__ = ()
    api = True
