"""Plugin base classes, one per capability, and the inputs the host hands them.

A plugin subclasses one or more of `SourcePlugin`, `ParsePlugin`, `ExtractPlugin`,
`ListenPlugin` and `AsyncPlugin`; its capabilities are the classes it derives from. The host
(`PluginHost`) calls, in this order:

    init(tables)                      TablesInput if parse/extract/listen; export-only for
                                      async-only plugins; else None
    start_async(ctx)                  async: push events, start background tasks
    capture_open(capture)             listen: reader + writer + routines
    open() -> events                  source: no table access (None: a timeout)
    parse_event(event, reader, writer)   every parse plugin, for the events it declares
    extract(event, request, reader)      extract: per requested field, reader only
    close()                           source: the events ran out
    stop_async()                      async; then the host joins its tasks
    capture_close(capture)            listen; then routines are purged
    destroy()

(libsinsp's order: async handlers before capture_open, and reset before capture_close.)

Tokens passed to a callback die when it returns; see `plugins.access` for the matrix.
"""

from __future__ import annotations

import dataclasses
import re
import threading
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

from ..errors import AccessDeniedError
from ..roles import ASYNC_TASK, ROUTINE, ThreadRole
from .access import Capability
from .background import BackgroundTask
from .routines import RoutinePool
from .tokens import CallbackScope, TableReader, TablesInput, TableWriter

if TYPE_CHECKING:
    from .asyncqueue import AsyncEventQueue


@dataclass(frozen=True, slots=True)
class Event:
    """A captured event. The host numbers events (evtnum, from 1) and sets their source."""

    ts: int
    tid: int
    type: int
    payload: Any = None
    evtnum: int = 0
    source: str = "syscall"


@dataclass(frozen=True, slots=True)
class ExtractRequest:
    """One field to extract, as `name` or `name[arg]` (e.g. `countdown.is_final[3]`)."""

    field: str
    arg: str | None = None

    @classmethod
    def parse(cls, text: str) -> ExtractRequest:
        """Split 'name[arg]' into name and arg."""
        m = re.fullmatch(r"([A-Za-z_][\w.]*)(?:\[([^\]]*)\])?", text.strip())
        if m is None:
            raise ValueError(f"invalid field request {text!r}: expected name or name[arg]")
        return cls(m.group(1), m.group(2))

    def __str__(self) -> str:
        return self.field if self.arg is None else f"{self.field}[{self.arg}]"


class Plugin:
    """Base of every plugin. `name` defaults to the class name."""

    name: str = ""

    @property
    def plugin_name(self) -> str:
        return self.name or type(self).__name__

    @property
    def capabilities(self) -> Capability:
        """The capabilities this plugin implements (from its base classes)."""
        caps = Capability.NONE
        for cls, cap in _CAPABILITY_CLASSES:
            if isinstance(self, cls):
                caps |= cap
        return caps

    def init(self, tables: TablesInput | None) -> None:
        """Called once at load; `tables` is None unless a capability grants init access."""

    def destroy(self) -> None:
        """Called once when the host is done with the plugin."""


class SourcePlugin(Plugin, ABC):
    """Produces events. Has no table access at all."""

    event_source: ClassVar[str] = "syscall"

    @abstractmethod
    def open(self) -> Iterable[Event | None]:
        """The capture's events, in order; the host stops at the end of the iterable (EOF).

        Yield None for "no event now" (a timeout): the host delivers queued async events and
        asks again, as libsinsp does on SS_PLUGIN_TIMEOUT.
        """

    def close(self) -> None:
        """The capture ended."""


class ParsePlugin(Plugin, ABC):
    """Updates state from events: read/write access while parsing."""

    #: The event types and sources this plugin parses (None: every one).
    parse_event_types: ClassVar[frozenset[int] | None] = None
    parse_event_sources: ClassVar[frozenset[str] | None] = None

    def parses(self, event_type: int, source: str) -> bool:
        """Whether the host hands this plugin events of this type and source."""
        return _declared(self.parse_event_types, self.parse_event_sources, event_type, source)

    @abstractmethod
    def parse_event(self, event: Event, reader: TableReader, writer: TableWriter) -> None:
        """Parse one event."""


class ExtractPlugin(Plugin, ABC):
    """Returns field values per event: read-only access while extracting."""

    #: The fields this plugin extracts, e.g. ("threads.comm",); may be set in init.
    fields: Sequence[str] = ()
    #: The event types and sources it extracts from (None: every one); others get no value.
    extract_event_types: ClassVar[frozenset[int] | None] = None
    extract_event_sources: ClassVar[frozenset[str] | None] = None

    def extracts_from(self, event_type: int, source: str) -> bool:
        """Whether the host asks this plugin about events of this type and source."""
        return _declared(self.extract_event_types, self.extract_event_sources, event_type, source)

    def check_request(self, request: ExtractRequest) -> None:
        """Raise if `request` can never be served (called before the capture opens)."""

    @abstractmethod
    def extract(self, event: Event, request: ExtractRequest, reader: TableReader) -> Any:
        """The value of `request` for `event` (raise for "no value")."""


def _declared(
    types: frozenset[int] | None, sources: frozenset[str] | None, event_type: int, source: str
) -> bool:
    return (types is None or event_type in types) and (sources is None or source in sources)


class CaptureListenInput:
    """What capture_open / capture_close receive: a reader, a writer and a routine starter."""

    def __init__(
        self,
        scope: CallbackScope,
        starter: Callable[[BackgroundTask], None],
        pool: RoutinePool | None = None,
    ) -> None:
        assert scope.reader is not None and scope.writer is not None
        self._scope = scope
        self._starter = starter
        self.reader: TableReader = scope.reader
        self.writer: TableWriter = scope.writer
        #: The host's routine pool (what native plugins' routine vtable subscribes to).
        self.pool = pool

    def subscribe(self, routine: Callable[[], Any]) -> int:
        """Run `routine()` on the host's routine pool until it returns falsy or is unsubscribed.

        As a native plugin's routine vtable: the routine re-runs at once while it returns
        true (pace it yourself); it may be subscribed from any callback until capture close.
        Returns a handle for `unsubscribe`.
        """
        if self.pool is None:
            raise AccessDeniedError(f"plugin '{self._scope.plugin}': the host has no routine pool")
        return self.pool.subscribe(routine, plugin=self._scope.plugin)

    def unsubscribe(self, handle: int) -> bool:
        """Stop a subscribed routine (a running iteration completes); False if unknown."""
        return self.pool.unsubscribe(handle) if self.pool is not None else False

    def start_routine(
        self, target: Callable[[], bool | None], *, interval: float = 0.0, name: str = ""
    ) -> BackgroundTask:
        """Run `target` periodically on a host thread until capture close (or it returns False).

        Routines get no tokens: they may use only thread-safe tables their plugin exported.
        """
        s = self._scope
        if not s.alive:
            raise AccessDeniedError(
                f"plugin '{s.plugin}' started a routine after {s.callback} returned: routines "
                "are started from capture_open / capture_close only"
            )
        task = BackgroundTask(
            target,
            interval=interval,
            name=name or f"{s.plugin}-routine",
            role=ThreadRole(s.plugin, ROUTINE),
        )
        self._starter(task)
        return task


class AsyncContext:
    """What start_async receives: push events to the host, start background tasks."""

    def __init__(
        self,
        plugin: str,
        source: str,
        sink: AsyncEventQueue,
        *,
        capture_source: str = "syscall",
        capture_source_id: int = 0,
    ) -> None:
        self.plugin = plugin
        self.source = source
        #: The open capture's event source and its plugin id (0: syscall), as native async
        #: plugins' events carry them.
        self.capture_source = capture_source
        self.capture_source_id = capture_source_id
        self._sink = sink
        self.tasks: list[BackgroundTask] = []
        self.open = True
        self.dropped = 0
        # Orders start_task against close: a task started while the host stops is either
        # refused or in the list the host stops and joins, never leaked.
        self._lock = threading.Lock()

    def close(self) -> list[BackgroundTask]:
        """Refuse new tasks and events; every task started so far (the host stops them)."""
        with self._lock:
            self.open = False
            return list(self.tasks)

    def push(self, event: Event, *, source: str | None = None) -> bool:
        """Queue an event for the host's event loop (thread-safe); False if it was dropped.

        The host delivers queued events in `ts` order (`ts = UINT64_MAX` first, becoming the
        time of delivery), before the first engine event whose ts is not earlier (see
        plugins/asyncqueue.py). It numbers each one and sets its source to `source`, by default
        the plugin's `async_source`. Dropped, never blocking: after stop, and when 4096
        events are already waiting.
        """
        if not self.open:
            self.dropped += 1
            return False
        src = self.source if source is None else source
        if not self._sink.push(dataclasses.replace(event, evtnum=0, source=src)):
            self.dropped += 1
            return False
        return True

    def start_task(
        self, target: Callable[[], bool | None], *, interval: float = 0.0, name: str = ""
    ) -> BackgroundTask:
        """Run `target` periodically on a thread of this plugin until the host stops it."""
        task = BackgroundTask(
            target,
            interval=interval,
            name=name or f"{self.plugin}-async",
            role=ThreadRole(self.plugin, ASYNC_TASK),
        )
        with self._lock:
            if not self.open:
                raise AccessDeniedError(
                    f"plugin '{self.plugin}' started an async task after stop_async"
                )
            self.tasks.append(task)
            return task.start()


class ListenPlugin(Plugin):
    """Notified when the capture opens and closes; may start routines."""

    def capture_open(self, capture: CaptureListenInput) -> None:
        """The capture opened: read/write access during this call."""

    def capture_close(self, capture: CaptureListenInput) -> None:
        """The capture is closing: read/write access during this call."""


class AsyncPlugin(Plugin, ABC):
    """Pushes events from its own threads. No table access, except its own thread-safe tables."""

    async_source: ClassVar[str] = "async"

    @abstractmethod
    def start_async(self, ctx: AsyncContext) -> None:
        """Start producing: push events with `ctx.push`, run work with `ctx.start_task`."""

    def stop_async(self) -> None:
        """Stop producing; the host then stops and joins the tasks started with `ctx`."""


_CAPABILITY_CLASSES: tuple[tuple[type[Plugin], Capability], ...] = (
    (SourcePlugin, Capability.SOURCE),
    (ParsePlugin, Capability.PARSE),
    (ExtractPlugin, Capability.EXTRACT),
    (ListenPlugin, Capability.LISTEN),
    (AsyncPlugin, Capability.ASYNC),
)
