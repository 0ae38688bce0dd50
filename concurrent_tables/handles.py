"""Entry handles: lock-scoped access to one entry's fields.

A handle is alive from the moment its lock (or borrow) is granted until `release()` or the end of
its `with` block; any later use raises `StaleHandleError`. It is confined to the thread that
acquired it: use from another thread raises `WrongThreadError`, because the lock it stands for
belongs to that thread. Fields are read with `h[field]` and written with `h[field] = value`;
`field` is a resolved `Field` or, for convenience, a field name.
"""

from __future__ import annotations

import warnings
from threading import get_ident
from typing import TYPE_CHECKING, Any, TypeVar, overload

from . import backend, slots
from .errors import FieldArgumentError, ForeignFieldError, ReadOnlyHandleError, StaleHandleError
from .fields import Field
from .locking.threads import NO_THREAD, WAITING, thread_token
from .roles import wrong_thread_error
from .types import StateType

if TYPE_CHECKING:
    from .table import Table

V = TypeVar("V")

_STRING = StateType.STRING
_NO_VALUES: list[Any] = []  # the values of a handle that reaches no entry


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

    __slots__ = (
        "_entered",
        "_grant",
        "_key",
        "_registry",
        "_table",
        "_tid",
        "_tok",
        "_values",
        "_view",
    )
    write = False

    # State (docs/architecture.md, "Handles"): `_tok` is its holder's thread token while the
    # handle holds its entry, NO_THREAD once it holds nothing (or before its grant), WAITING
    # while it is queued for its entry's lock slot; `_tid` is the id of the thread it belongs
    # to; `_grant` is None for a lock-free borrow, the lock slot for a locked grant (or, once it
    # is dead, the text of how its scope ended); `_entered`: it was entered as a context
    # manager (tells an interrupted `with` exit from a handle held without one).

    def __init__(
        self,
        table: Table[Any, Any],
        key: Any,
        values: list[Any],
        grant: Any,
        tid: int,
        view: ApiRules | None = None,
    ) -> None:
        """A handle of thread `tid` (the calling thread; DEAD: granted nothing yet)."""
        # Table.read / Table.write inline this body on their lock-free path: keep them in step.
        self._table = table
        self._key = key
        self._values = values
        self._registry = table._registry
        self._grant = grant
        self._view = view
        self._entered = False
        self._tid = tid
        self._tok = thread_token() if tid >= 0 else NO_THREAD

    @property
    def key(self) -> Any:
        return self._key

    @property
    def table(self) -> Table[Any, Any]:
        return self._table

    @property
    def alive(self) -> bool:
        return self._tok is not NO_THREAD and self._tok is not WAITING

    @property
    def view(self) -> ApiRules | None:
        """None for the owner's handles, else the API rules (and importer's view) applied."""
        return self._view

    # -- field access (the per-event hot path; slots.read is the full rule) -----------------------
    #
    # One test per access covers the thread and the scope (`_tok._is_owned()`, see
    # locking/threads.py) and one the field (`fast_*_registry`, see fields.Field); anything
    # else (a name, a foreign field, a nested table, a dynamic slot past the end, a value the
    # inline checks do not accept, a stale handle, another thread) takes the full rule.

    @overload
    def __getitem__(self, field: Field[V]) -> V: ...
    @overload
    def __getitem__(self, field: str) -> Any: ...
    def __getitem__(self, field: Any) -> Any:
        if self._tok._is_owned():
            try:
                if field.fast_read_registry is self._registry:
                    return self._values[field.index]
            except (AttributeError, IndexError):  # a name; a dynamic slot past the end
                pass
        return self._get(field)

    get = __getitem__

    def _get(self, field: Field | str) -> Any:
        """`h[field]`, the full rule."""
        if not self._tok._is_owned():
            self._check()
        f = self._field(field)
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

    @overload
    def __setitem__(self, field: Field[V], value: V) -> None: ...
    @overload
    def __setitem__(self, field: str, value: Any) -> None: ...
    def __setitem__(self, field: Field | str, value: Any) -> None:
        if not self._tok._is_owned():
            self._check()
        name = field if isinstance(field, str) else field.name
        view = self._view
        if view is None:
            raise ReadOnlyHandleError(self._table.name, self._key, name)
        raise view.write_denied(self._table.name, self._key, name)

    set = __setitem__

    def _field(self, field: Any) -> Field:
        """`field` as a Field of this handle's registry, or the error for it."""
        if type(field) is str:
            f = self._registry.lookup(field)
            if self._view is not None and f.private:
                return self._registry.get(field, StateType.INT8)  # raises "undefined field"
            return f
        if isinstance(field, Field):
            if field.registry is self._registry:
                return field
            raise ForeignFieldError(field.name, field.registry.table_name, self._table.name)
        if isinstance(field, str):  # a str subclass
            return self._field(str(field))
        raise FieldArgumentError(self._table.name, field)

    def _how(self) -> str:
        """How a dead handle's scope ended: recorded in `_grant` when it was not a release."""
        return self._grant if isinstance(self._grant, str) else "released"

    def _check(self) -> None:
        """Raise for a use by another thread than the holder, or after the handle's scope."""
        tok = self._tok
        if tok is NO_THREAD or tok is WAITING:
            raise StaleHandleError(self._table.name, self._key, self._how())
        raise wrong_thread_error(
            f"handle on entry {self._key!r} of table '{self._table.name}'", self._tid, get_ident()
        )

    # -- scope ------------------------------------------------------------------------------------
    #
    # Interrupts: a KeyboardInterrupt or asynchronous exception is delivered only at a call
    # boundary. A lock-free borrow ends, and the handle dies, in one run of bytecodes without a
    # call; a locked grant ends under the domain's mutex, where the handle dies with the slot's
    # bookkeeping (SharedDomain._release). A release that an exception stops before that point
    # is tried once more; a handle that still holds its entry when it is collected is released
    # by `__del__`, from whatever thread collects it, with a ResourceWarning. One that lands on
    # the entry of `__exit__` itself is what `_entered` is for: see locking/reclaim.py.

    def release(self) -> None:
        """End the handle's scope and release its lock. Releasing twice is a no-op."""
        self.__exit__(None, None, None)

    def __enter__(self) -> EntryHandle:
        self._entered = True
        return self

    def __exit__(self, t: object, v: object, tb: object) -> None:
        if self._tok._is_owned() and self._grant is None:  # this thread's lock-free borrow
            table = self._table
            key = self._key
            borrows = table._borrows
            self._tok = NO_THREAD  # dies with its borrow: no call until the borrow is gone
            self._values = _NO_VALUES  # a released handle keeps no entry alive (recycling)
            b = borrows[key]
            if b == 1 or b == -1:
                del borrows[key]
            else:
                borrows[key] = b - 1
            if key in table._slots:  # another thread waits for this key
                table._domain.wake()
            table._spares.append(self)  # for reuse once nothing refers to it (Table.read/write)
            return
        tok = self._tok
        if tok is NO_THREAD:  # released already (a no-op), or never granted
            return
        if not tok._is_owned():
            self._check()  # another thread's handle (or a queued one: its acquisition's own)
        _release_locked(self, self._table, self._grant)

    def __del__(self) -> None:
        try:
            tok = self._tok
        except AttributeError:  # never finished its construction
            return
        if tok is not NO_THREAD:
            _abandoned(self)

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
    def __setitem__(self, field: Any, value: Any) -> None:
        if self._tok._is_owned():
            # Inline checks accept the common valid values; slots.check_value is the rule.
            try:
                if field.fast_write_registry is self._registry:
                    t = type(value)
                    if t is int:
                        if field.fast_lo <= value <= field.fast_hi:
                            self._values[field.index] = value
                            return
                    elif t is str and field.type is _STRING and value.isascii():
                        if "\0" not in value:
                            self._values[field.index] = value
                            return
            except (AttributeError, IndexError):  # a name; a dynamic slot past the end
                pass
        self._set(field, value)

    set = __setitem__

    def _set(self, field: Field | str, value: Any) -> None:
        """`h[field] = value`, the full rule."""
        if not self._tok._is_owned():
            self._check()
        f = self._field(field)
        if f.read_only and (self._view is not None or f.nested is not None):
            slots.check_writable(self._table.name, f, self._view is not None)
        # Inline pre-checks accept the common valid values; slots.check_value is the rule.
        t = type(value)
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
        if not self._tok._is_owned() and self._tok is not NO_THREAD:
            self._check()
        self._end("destroyed")

    def _end(self, how: str) -> None:
        self._tok = NO_THREAD
        self._grant = how

    def __exit__(self, t: object, v: object, tb: object) -> None:
        return None

    def __del__(self) -> None:
        return None  # holds no entry

    def __repr__(self) -> str:
        state = "" if self.alive else f" ({self._how()})"
        return f"<detached entry of {self._table.name}{state}>"


def _release_locked(h: EntryHandle, table: Table[Any, Any], grant: Any) -> None:
    """Give back `h`'s entry lock; once more if an exception stopped the first release early."""
    domain: Any = table._domain
    try:
        domain.release(table, h._key, h.write, grant, h)
    finally:
        if h._tok is not NO_THREAD:  # interrupted before the handle died with its grant
            domain.release(table, h._key, h.write, grant, h)


def _abandoned(h: EntryHandle) -> None:
    """Release a collected handle that still holds its entry (or waits in its slot), and warn."""
    table = h._table
    grant = h._grant
    key = h._key
    held = h._tok is not WAITING
    # Never wait for a lock here: the collecting thread may be holding it (wake_nowait,
    # release_abandoned).
    if grant is None:  # a lock-free borrow: ended without a call, as in __exit__
        borrows = table._borrows
        h._tok = NO_THREAD
        b = borrows[key]
        if b == 1 or b == -1:
            del borrows[key]
        else:
            borrows[key] = b - 1
        slots_in_use = table._slots
        if slots_in_use and key in slots_in_use:
            table._domain.wake_nowait()
    else:
        table._domain.release_abandoned(h)  # type: ignore[union-attr]
    if held:
        mode = "write" if h.write else "read"
        warnings.warn(
            f"abandoned {mode} handle on entry {key!r} of table '{table.name}' released by "
            "garbage collection (use it in a with block, or call release())",
            ResourceWarning,
            stacklevel=2,
            source=h,
        )


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
