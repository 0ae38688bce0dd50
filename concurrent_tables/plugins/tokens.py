"""Capability tokens: what a callback may do with other plugins' tables.

- `TablesInput`: list, get and export tables, get and add fields. Handed to `init` only.
- `TableReader`: look up entries, read fields, iterate, size.
- `TableWriter`: create, add, erase and clear entries, write fields.

Every token belongs to one `CallbackScope`: the run of one callback (init, one parse_event, one
extract request, capture open/close). When the callback returns the host ends the scope, which
kills its tokens (any later use raises AccessDeniedError), releases the entry handles taken
through them and destroys detached entries never attached, so no lock outlives its callback.

Lazy tokens (the default) check on every use that they are alive, on their callback's thread,
and that the host grants the operation. `validate()` makes those checks once, for every
operation of the token's kind, and returns a validated token whose later uses only check that
it is alive: being dead after the callback is never skipped.
"""

from __future__ import annotations

from collections.abc import Callable
from threading import get_ident
from typing import TYPE_CHECKING, Any, ClassVar, Self

from ..errors import AccessDeniedError
from ..handles import ANY_DETACHED, ANY_HANDLE
from ..roles import current_role
from .access import FULL_GRANT, READER_OPS, WRITER_OPS

if TYPE_CHECKING:
    from ..importing.table import ImportedTable
    from ..registry import TableInfo, TableRegistry
    from ..table import Table

_PRUNE_MIN = 256  # tracked handles before the first sweep of released ones


class CallbackScope:
    """The run of one callback: owns its tokens and the handles taken through them.

    Use as a context manager, or call `end()`. `rule` is the matrix rule of the phase, quoted
    in denials. `grant` is the set of operations the host provides (a native host may lack
    some); lazy tokens check it per use, `validate()` checks it once.
    """

    def __init__(
        self,
        plugin: str,
        callback: str,
        *,
        registry: TableRegistry | None = None,
        reader: bool = False,
        writer: bool = False,
        rule: str = "",
        grant: frozenset[str] = FULL_GRANT,
        export_only: bool = False,
    ) -> None:
        self.plugin = plugin
        self.callback = callback
        self.rule = rule
        self.grant = grant
        #: An async-only plugin's init: its TablesInput only exports (see access.EXPORT_ONLY).
        self.export_only = export_only
        self.thread = get_ident()
        self.alive = True
        self._tracked: list[Any] = []
        self._closers: list[Callable[[], object]] = []
        self._prune_at = _PRUNE_MIN
        self.tables_input: TablesInput | None = (
            TablesInput(self, registry) if registry is not None else None
        )
        self.reader: TableReader | None = TableReader(self) if reader else None
        self.writer: TableWriter | None = TableWriter(self) if writer else None

    def track(self, handle: Any) -> None:
        """Release (or destroy) `handle` when the scope ends, if it is still alive then."""
        tracked = self._tracked
        tracked.append(handle)
        if len(tracked) >= self._prune_at:
            # A long callback (an init filling a table) would otherwise keep every handle
            # it ever took; drop the released ones, amortised O(1) per lookup.
            tracked[:] = [h for h in tracked if h.alive]
            self._prune_at = max(_PRUNE_MIN, 2 * len(tracked))

    def on_end(self, close: Callable[[], object]) -> None:
        """Call `close()` when the scope ends (e.g. to close an abandoned entry walk)."""
        self._closers.append(close)

    def end(self) -> None:
        """Kill the tokens, release leftover handles, destroy unattached detached entries."""
        if not self.alive:
            return
        self.alive = False
        how = f"released when {self.callback} of plugin '{self.plugin}' returned"
        errors: list[BaseException] = []
        closers, self._closers = self._closers, []
        for close in closers:  # walks first: closing one releases the handle it holds
            try:
                close()
            except Exception as exc:  # every other handle is still released
                errors.append(exc)
        tracked, self._tracked = self._tracked, []
        for h in tracked:
            try:
                if not h.alive:
                    continue
                if isinstance(h, ANY_DETACHED):
                    h._end(f"destroyed when {self.callback} of plugin '{self.plugin}' returned")
                elif isinstance(h, ANY_HANDLE):
                    h.release()
                    h._grant = how  # the text StaleHandleError quotes on a later use
                else:
                    h.release()
            except Exception as exc:
                errors.append(exc)
        if errors:
            first = errors[0]
            for other in errors[1:]:
                first.add_note(f"also, while cleaning up {self.callback}: {other!r}")
            raise first

    def __enter__(self) -> CallbackScope:
        return self

    def __exit__(self, t: object, v: object, tb: object) -> None:
        self.end()

    def __repr__(self) -> str:
        state = "alive" if self.alive else "ended"
        return f"<CallbackScope {self.callback} of plugin '{self.plugin}' ({state})>"


class Token:
    """Base class of tokens: bound to one callback scope."""

    __slots__ = ("_scope",)
    kind: ClassVar[str] = "token"

    def __init__(self, scope: CallbackScope) -> None:
        self._scope = scope

    @property
    def alive(self) -> bool:
        """False once the callback that received the token has returned."""
        return self._scope.alive

    @property
    def scope(self) -> CallbackScope:
        return self._scope

    def describe(self) -> str:
        """'TableReader of plugin 'p' (parse_event)': who holds the token."""
        s = self._scope
        return f"{self.kind} of plugin '{s.plugin}' ({s.callback})"

    def _use(self, op: str) -> None:
        """Lazy check: alive, on the callback's thread, operation granted."""
        s = self._scope
        if not s.alive:
            raise self._dead(op)
        if get_ident() != s.thread:
            raise self._off_thread(op)
        if op not in s.grant and op in FULL_GRANT:
            raise AccessDeniedError(
                f"{self.describe()} cannot {op}: the host provides no '{op}' operation"
            )

    def _dead(self, op: str) -> AccessDeniedError:
        s = self._scope
        return AccessDeniedError(
            f"{self.describe()} used for {op} after {s.callback} returned: tokens are valid "
            "only during the callback that received them"
        )

    def _off_thread(self, op: str) -> AccessDeniedError:
        s = self._scope
        role = current_role()
        where = f"{role}" if role is not None else "another thread"
        rule = f" Rule: {role.rule}" if role is not None else ""
        return AccessDeniedError(
            f"{self.describe()} used for {op} from {where} (thread id {get_ident()}); its "
            f"callback runs on thread id {s.thread}: tokens are confined to their callback's "
            f"thread.{rule}"
        )

    def __repr__(self) -> str:
        state = "alive" if self.alive else "dead"
        return f"<{self.describe()}, {state}>"


class _Validated(Token):
    """What a validated token does instead of the lazy checks: check that it is alive."""

    __slots__ = ()

    def _use(self, op: str) -> None:
        if not self._scope.alive:
            raise self._dead(op)

    def validate(self) -> Self:
        return self


class TableReader(Token):
    """Read access: entry lookup, field reads, iteration, size. Lazy: checked on each use."""

    __slots__ = ()
    kind = "TableReader"
    ops: ClassVar[tuple[str, ...]] = READER_OPS

    def validate(self) -> ValidatedTableReader:
        """Check every reader operation now; the result only checks that it is alive."""
        _validate(self)
        return ValidatedTableReader(self._scope)


class ValidatedTableReader(_Validated, TableReader):
    """A reader validated once at creation; later uses only check that it is alive."""

    __slots__ = ()


class TableWriter(Token):
    """Write access: create, add, erase, clear entries, write fields. Lazy: checked on each use."""

    __slots__ = ()
    kind = "TableWriter"
    ops: ClassVar[tuple[str, ...]] = WRITER_OPS

    def validate(self) -> ValidatedTableWriter:
        """Check every writer operation now; the result only checks that it is alive."""
        _validate(self)
        return ValidatedTableWriter(self._scope)


class ValidatedTableWriter(_Validated, TableWriter):
    """A writer validated once at creation; later uses only check that it is alive."""

    __slots__ = ()


def _validate(token: TableReader | TableWriter) -> None:
    token._use("validate")
    missing = [op for op in token.ops if op not in token._scope.grant]
    if missing:
        raise AccessDeniedError(
            f"{token.describe()} cannot be validated: the host provides no "
            + ", ".join(f"'{op}'" for op in missing)
        )


class TablesInput(Token):
    """Init-only access to the registry: list, get and export tables; get and add fields.

    Fields are resolved through the `ImportedTable` that `get_table` returns; it stays bound to
    this token, so its `get_field` / `add_field` are refused once init has returned.
    """

    __slots__ = ("_registry",)
    kind = "TablesInput"

    def __init__(self, scope: CallbackScope, registry: TableRegistry) -> None:
        super().__init__(scope)
        self._registry = registry

    def _dead(self, op: str) -> AccessDeniedError:
        s = self._scope
        return AccessDeniedError(
            f"{self.describe()} used for {op} after {s.callback} returned: tables and fields "
            "can only be looked up, added or exported during init"
        )

    def _export_only(self, op: str) -> None:
        if self._scope.export_only:
            raise AccessDeniedError(f"{self.describe()} cannot {op}: {self._scope.rule}")

    def list_tables(self) -> list[TableInfo]:
        """Every registered table's name and key type."""
        self._use("list_tables")
        self._export_only("list_tables")
        return self._registry.list_tables()

    def get_table(self, name: str, key_type: Any) -> ImportedTable:
        """Import table `name`, whose key type must be `key_type`."""
        self._use(f"get_table '{name}'")
        self._export_only(f"get_table '{name}'")
        return self._registry.get_table(name, key_type, plugin=self._scope.plugin, init=self._scope)

    def export_table(self, table: Table[Any, Any]) -> None:
        """Register `table` so that other plugins can import it (the ABI's add_table)."""
        self._use(f"export_table '{table.name}'")
        self._registry.export(table, owner=self._scope.plugin)

    add_table = export_table

    @property
    def reader(self) -> TableReader:
        """A reader valid during init (ABI 3.5+ hands init a reader and a writer)."""
        self._use("reader")
        self._export_only("reader")
        r = self._scope.reader
        if r is None:
            r = self._scope.reader = TableReader(self._scope)
        return r

    @property
    def writer(self) -> TableWriter:
        """A writer valid during init."""
        self._use("writer")
        self._export_only("writer")
        w = self._scope.writer
        if w is None:
            w = self._scope.writer = TableWriter(self._scope)
        return w
