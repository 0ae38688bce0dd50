"""Entry handles: lock-scoped access to one entry's fields.

A handle is alive from the moment its lock (or borrow) is granted until `release()` or the end of
its `with` block; any later use raises `StaleHandleError`. It is confined to the thread that
acquired it: use from another thread raises `WrongThreadError`, because the lock it stands for
belongs to that thread. Fields are read with `h[field]` and written with `h[field] = value`;
`field` is a resolved `Field` or, for convenience, a field name.
"""

from __future__ import annotations

from threading import get_ident
from typing import TYPE_CHECKING, Any, TypeVar, overload

from . import backend, slots
from .errors import FieldArgumentError, ForeignFieldError, ReadOnlyHandleError, StaleHandleError
from .fields import Field
from .locking import unborrow
from .roles import wrong_thread_error
from .types import StateType

if TYPE_CHECKING:
    from .table import Table

V = TypeVar("V")

_DEAD = -1  # the thread id of a handle whose scope has ended (get_ident() is never -1)
_STRING = StateType.STRING


class ApiRules:
    """The table API's rules on a handle: read-only fields refused, private fields hidden.

    A handle's `view` is None for the owner, or an `ApiRules`: `API` for the C bridge's
    entries, an `ImportedTable` (which also turns nested tables into imported views) for an
    importer's.
    """

    __slots__ = ()

    def nested(self, table: Table[Any, Any]) -> Any:
        """What a nested table read through the handle is returned as."""
        return table

    def write_denied(self, table: str, key: Any, field: str) -> Exception:
        """The error for a write through a read handle."""
        return ReadOnlyHandleError(table, key, field)


#: The table API's rules, without an importer's view (entries the C bridge hands out).
API = ApiRules()


class EntryHandle:
    """Access to one entry: a shared read handle (a `WriteHandle` is the exclusive one).

    Get one from `Table.read` / `write` / `get_entry`; `view` says whose rules apply (None: the
    owner's; an `ApiRules`: the table API's, for importers and native plugins).
    """

    __slots__ = ("_grant", "_key", "_registry", "_table", "_tid", "_values", "_view")
    write = False

    def __init__(
        self,
        table: Table[Any, Any],
        key: Any,
        values: list[Any],
        grant: Any,
        tid: int,
        view: ApiRules | None = None,
    ) -> None:
        # Table.read / Table.write inline this body on their lock-free path: keep them in step.
        self._table = table
        self._key = key
        self._values = values
        self._registry = table._registry
        self._grant = grant
        self._tid = tid
        self._view = view

    @property
    def key(self) -> Any:
        return self._key

    @property
    def table(self) -> Table[Any, Any]:
        return self._table

    @property
    def alive(self) -> bool:
        return self._tid != _DEAD

    @property
    def view(self) -> ApiRules | None:
        """None for the owner's handles, else the API rules (and importer's view) applied."""
        return self._view

    # -- field access (the per-event hot path; slots.read is the full rule) -----------------------

    @overload
    def __getitem__(self, field: Field[V]) -> V: ...
    @overload
    def __getitem__(self, field: str) -> Any: ...
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
        if f.nested is None:
            return v
        if v is None:
            v = self._table.nested_table(self._values, f)
        view = self._view
        return v if view is None else view.nested(v)

    get = __getitem__

    @overload
    def __setitem__(self, field: Field[V], value: V) -> None: ...
    @overload
    def __setitem__(self, field: str, value: Any) -> None: ...
    def __setitem__(self, field: Field | str, value: Any) -> None:
        if self._tid != get_ident():
            self._check()
        name = field if isinstance(field, str) else field.name
        view = self._view
        if view is None:
            raise ReadOnlyHandleError(self._table.name, self._key, name)
        raise view.write_denied(self._table.name, self._key, name)

    set = __setitem__

    def _resolve(self, field: Any) -> Field:
        if isinstance(field, str):
            f = self._registry.lookup(field)
            if self._view is not None and f.private:
                return self._registry.get(field, StateType.INT8)  # raises "undefined field"
            return f
        if isinstance(field, Field):
            raise ForeignFieldError(field.name, field.registry.table_name, self._table.name)
        raise FieldArgumentError(self._table.name, field)

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
            table._domain.release(table, self._key, self.write, self._grant)  # type: ignore[union-attr]

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
            slots_in_use = table._slots
            if slots_in_use and key in slots_in_use:  # another thread waits for this key
                table._domain.wake()
        else:
            table._domain.release(table, self._key, self.write, grant)  # type: ignore[union-attr]

    def __repr__(self) -> str:
        mode = "write" if self.write else "read"
        state = "" if self.alive else f" ({self._how()})"
        return f"<{mode} handle on {self._table.name}[{self._key!r}]{state}>"


class WriteHandle(EntryHandle):
    """An exclusive handle: reads and writes."""

    __slots__ = ()
    write = True

    @overload
    def __setitem__(self, field: Field[V], value: V) -> None: ...
    @overload
    def __setitem__(self, field: str, value: Any) -> None: ...
    def __setitem__(self, field: Field | str, value: Any) -> None:
        if self._tid != get_ident():
            self._check()
        try:
            if field.registry is not self._registry:  # type: ignore[union-attr]
                field = self._resolve(field)
        except AttributeError:
            field = self._resolve(field)
        f: Field = field  # type: ignore[assignment]
        if f.read_only and (self._view is not None or f.nested is not None):
            slots.check_writable(self._table.name, f, self._view is not None)
        # Inline pre-checks accept the common valid values; slots.check_value is the rule.
        t = value.__class__
        if t is int:
            if not (f.lo <= value <= f.hi):
                slots.check_value(self._table.name, f, value)
        elif t is str:
            if f.type is not _STRING or not (value.isascii() and "\0" not in value):
                slots.check_value(self._table.name, f, value)
        elif not f.private:
            slots.check_value(self._table.name, f, value)
        values = self._values
        try:
            values[f.index] = value  # index >= 0; past the end only for a newer dynamic field
        except IndexError:
            slots.store(self._registry, values, f, value)

    set = __setitem__


class DetachedEntry(WriteHandle):
    """A new entry not yet in any table (from `create_entry`): writable, unshared, no lock.

    `add_entry` attaches it; `destroy()` discards it. Either ends this handle's scope.
    """

    __slots__ = ()

    def __init__(
        self, table: Table[Any, Any], values: list[Any], view: ApiRules | None = None
    ) -> None:
        super().__init__(table, None, values, None, get_ident(), view)

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


def apply_view(handle: EntryHandle, view: ApiRules) -> None:
    """Put a handle just taken from a `Table` under the table API's rules (importers' views)."""
    handle._view = view


#: Handle classes of both backends, for isinstance checks. The C core's classes are its own
#: types with the same interface, so they are typed as the Python ones.
ANY_HANDLE: tuple[type[EntryHandle], ...] = (EntryHandle,)
ANY_DETACHED: tuple[type[DetachedEntry], ...] = (DetachedEntry,)
if backend.core is not None:
    ANY_HANDLE += (backend.core.Handle,)
    ANY_DETACHED += (backend.core.DetachedEntry,)
