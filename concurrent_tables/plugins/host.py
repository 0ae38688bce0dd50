"""The plugin host: loads plugins, hands each callback exactly the access the matrix allows.

    host = PluginHost([CountdownSource(), TableOwner(), Extractor()])
    results = host.run(extract=["countdown.remaining"])
    [r.values["countdown.remaining"] for r in results]

`run` initialises the plugins in order (later ones see the tables and fields earlier ones
created), opens the capture, runs the event loop (each event: every parse plugin with a reader
and a writer, then the extract requests with a reader only), closes the capture and stops the
background work, joining its threads and raising what they collected. `run(events=recorded)`
replays a recorded list of events without any source plugin. `stream` is the same loop handing
out one result at a time, for captures too long to keep every result (with `record=False`, the
host keeps no event either). The steps are also public (`init`, `open_capture`, `process`,
`close_capture`) for finer control.

The host is used from one thread, the one that initialised it: imported tables are confined to
it. Only listen routines and async tasks run elsewhere, on threads the host started.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Callable, Generator, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from threading import get_ident
from typing import Any, Self

from ..errors import BackgroundError, PluginError, TablesError
from ..events import NO_VALUE
from ..registry import TableRegistry
from ..roles import wrong_thread_error
from .access import EXPORT_ONLY, INIT_ACCESS, PHASES, Capability, capability_names
from .asyncqueue import AsyncEventQueue
from .background import BackgroundTask, stop_all
from .base import (
    AsyncContext,
    AsyncPlugin,
    CaptureListenInput,
    Event,
    ExtractPlugin,
    ExtractRequest,
    ListenPlugin,
    ParsePlugin,
    Plugin,
    SourcePlugin,
)
from .routines import RoutinePool
from .tokens import CallbackScope

log = logging.getLogger(__name__)


@dataclass
class EventResult:
    """One processed event: extracted values by request, and the requests that failed."""

    event: Event
    values: dict[str, Any] = field(default_factory=dict)
    errors: dict[str, BaseException] = field(default_factory=dict)
    #: Failures of routines and async tasks since the previous event (also logged and
    #: offered to the host's `on_error`); close_capture raises them all again.
    background_errors: list[BaseException] = field(default_factory=list)


class PluginHost:
    """Runs plugins over a capture (or a replayed list of events), enforcing the access matrix."""

    def __init__(
        self,
        plugins: Iterable[Plugin] = (),
        *,
        registry: TableRegistry | None = None,
        stop_timeout: float = 5.0,
        record: bool = True,
        routine_threads: int = 2,
        on_error: Callable[[BaseException], None] | None = None,
    ) -> None:
        self.registry = registry if registry is not None else TableRegistry()
        #: Worker threads of the routine pool (capture-listen routines, native and Python).
        self.routine_threads = routine_threads
        self.routines: RoutinePool | None = None
        #: The open capture's event source and source plugin id (0: syscall).
        self.capture_source: tuple[str, int] = ("syscall", 0)
        self.plugins: list[Plugin] = []
        self.stop_timeout = stop_timeout
        #: Keep every processed event in `recorded` (off for long captures: it only grows).
        self.record = record
        #: Every event processed, in order: replay them with run(events=host.recorded).
        self.recorded: list[Event] = []
        #: Errors collected from routines and async tasks at the last close.
        self.background_errors: list[BaseException] = []
        #: Called (on the host's thread) with each background failure as soon as it is seen.
        self.on_error = on_error
        self._reported: set[int] = set()
        self._thread: int | None = None
        self._initialised = False
        self._open = False
        self._evtnum = 0
        self._extractors: dict[str, ExtractPlugin] = {}
        self._routines: list[BackgroundTask] = []
        self._async: list[tuple[AsyncPlugin, AsyncContext]] = []
        #: Events pushed by async plugins, waiting for the event loop (libsinsp's order).
        self.async_queue = AsyncEventQueue()
        for p in plugins:
            self.load(p)

    # -- loading ----------------------------------------------------------------------------------

    def load(self, plugin: Plugin) -> None:
        """Add a plugin (before init). Plugins are initialised in load order."""
        if self._initialised:
            raise PluginError(f"cannot load plugin '{plugin.plugin_name}' after init")
        if not plugin.capabilities:
            raise PluginError(f"plugin '{plugin.plugin_name}' implements no capability")
        # libsinsp's uniqueness rules for native plugins: one name, and one non-zero source id.
        if getattr(plugin, "native", None) is not None:
            for other in self.plugins:
                if getattr(other, "native", None) is not None:
                    if other.plugin_name == plugin.plugin_name:
                        raise PluginError(
                            f"found another plugin with name {plugin.plugin_name}. Aborting."
                        )
        pid = getattr(plugin, "plugin_id", 0) if isinstance(plugin, SourcePlugin) else 0
        if pid:
            for other in self._of(SourcePlugin):
                if getattr(other, "plugin_id", 0) == pid:
                    raise PluginError(f"found another plugin with ID {pid}. Aborting.")
        self.plugins.append(plugin)

    def _of(self, cls: type[Any]) -> list[Any]:
        return [p for p in self.plugins if isinstance(p, cls)]

    def init(self) -> None:
        """Initialise every plugin in order; TablesInput only for parse/extract/listen.

        A failed init destroys the plugins initialised before it. A library error leaves with
        its own type and the note "init of plugin 'P' (caps) failed"; any other exception is
        wrapped in a PluginError with that text (the original is its `__cause__`).
        """
        if self._initialised:
            return
        self._thread = get_ident()
        done: list[Plugin] = []
        for p in self.plugins:
            caps = p.capabilities
            scope = None
            if caps & INIT_ACCESS:
                scope = CallbackScope(
                    p.plugin_name, "init", registry=self.registry, rule=PHASES["init"].rule
                )
            elif caps & Capability.ASYNC:
                # An async-only plugin exports its own tables at init, nothing more.
                scope = CallbackScope(
                    p.plugin_name,
                    "init",
                    registry=self.registry,
                    rule=EXPORT_ONLY.rule,
                    export_only=True,
                )
            try:
                p.init(scope.tables_input if scope is not None else None)
            except Exception as exc:
                # A failed init leaves nothing behind: its tables and those of the plugins
                # destroyed with it are unregistered, so loading them again works.
                self.registry.unexport_owned(p.plugin_name)
                for q in reversed(done):
                    q.destroy()
                    self.registry.unexport_owned(q.plugin_name)
                what = f"init of plugin '{p.plugin_name}' ({capability_names(caps)}) failed"
                if isinstance(exc, TablesError):
                    # Typed errors leave the host with their type (`except ReadOnlyFieldError`
                    # works around host.init()/run()); the host's context is a note.
                    exc.add_note(what)
                    raise
                raise PluginError(f"{what}: {exc}") from exc
            finally:
                if scope is not None:
                    scope.end()
            done.append(p)
        for p in self._of(ExtractPlugin):
            for name in p.fields:
                self._extractors.setdefault(name, p)
        self._initialised = True

    def _check_thread(self) -> None:
        tid = get_ident()
        if self._thread is not None and tid != self._thread:
            raise wrong_thread_error("plugin host", self._thread, tid)

    # -- capture ----------------------------------------------------------------------------------

    def open_capture(self) -> None:
        """Start async plugins, then call capture_open on listen plugins (libsinsp's order)."""
        self.init()
        self._check_thread()
        if self._open:
            return
        self._open = True
        self._evtnum = 0
        self.background_errors = []
        if self.routines is None:
            self.routines = RoutinePool(self.routine_threads)
        self.async_queue.clear()
        source, source_id = self.capture_source
        for p in self._of(AsyncPlugin):
            ctx = AsyncContext(
                p.plugin_name,
                p.async_source,
                self.async_queue,
                capture_source=source,
                capture_source_id=source_id,
            )
            self._async.append((p, ctx))
            p.start_async(ctx)
        for p in self._of(ListenPlugin):
            self._listen(p, "capture_open")

    def _listen(self, p: ListenPlugin, callback: str) -> None:
        with CallbackScope(
            p.plugin_name, callback, reader=True, writer=True, rule=PHASES[callback].rule
        ) as scope:
            capture = CaptureListenInput(scope, self._start_routine, self.routines)
            getattr(p, callback)(capture)

    def _start_routine(self, task: BackgroundTask) -> None:
        self._routines.append(task)
        task.start()

    def close_capture(self) -> None:
        """stop_async, capture_close, stop routines, join every thread; raise what they collected.

        Raises BackgroundError (a PluginError) listing every error of background work, and
        of capture_close / stop_async themselves.
        """
        self._check_thread()
        self._close_capture()

    def _close_capture(self) -> None:
        if not self._open:
            return
        self._open = False
        errors: list[BaseException] = []
        # libsinsp's order: async handlers reset, then capture_close, then the routine purge.
        for p, ctx in self._async:
            try:
                p.stop_async()
            except Exception as exc:
                errors.append(exc)
            errors.extend(stop_all(ctx.close(), self.stop_timeout))
        self._async = []
        for p in self._of(ListenPlugin):
            try:
                self._listen(p, "capture_close")
            except Exception as exc:
                errors.append(exc)
        errors.extend(stop_all(self._routines, self.stop_timeout))
        self._routines = []
        if self.routines is not None:
            # Routines may run during capture_close; purged (running ones awaited) after it.
            if not self.routines.purge(timeout=self.stop_timeout):
                errors.append(PluginError("a routine did not return within the stop timeout"))
            errors.extend(self.routines.errors)
            self.routines.errors.clear()
        self._reported.clear()  # those errors are dropped now: their ids may be reused
        self.background_errors = errors
        if errors:
            raise BackgroundError("background work and capture close", errors) from errors[0]

    # -- events -----------------------------------------------------------------------------------

    def process(self, event: Event, extract: Sequence[str | ExtractRequest] = ()) -> EventResult:
        """Parse `event` with every parse plugin, then extract the requested fields."""
        self.init()
        self._check_thread()
        if event.evtnum == 0:
            self._evtnum += 1
            event = dataclasses.replace(event, evtnum=self._evtnum)
        else:
            self._evtnum = max(self._evtnum, event.evtnum)
        for p in self._of(ParsePlugin):
            if not p.parses(event.type, event.source):
                continue
            scope = CallbackScope(
                p.plugin_name,
                "parse_event",
                reader=True,
                writer=True,
                rule=PHASES["parse_event"].rule,
            )
            assert scope.reader is not None and scope.writer is not None
            try:
                p.parse_event(event, scope.reader, scope.writer)
            except TablesError as exc:
                # Typed errors leave the host with their type (and a single message).
                exc.add_note(f"while plugin '{p.plugin_name}' parsed event #{event.evtnum}")
                raise
            except Exception as exc:
                raise PluginError(
                    f"plugin '{p.plugin_name}' failed to parse event #{event.evtnum}: {exc}"
                ) from exc
            finally:
                scope.end()
        result = EventResult(event, background_errors=self._poll_background())
        requests = [
            r if isinstance(r, ExtractRequest) else ExtractRequest.parse(r) for r in extract
        ]
        by_plugin: dict[int, tuple[ExtractPlugin, list[ExtractRequest]]] = {}
        for r in requests:
            p = self._extractor(r)
            by_plugin.setdefault(id(p), (p, []))[1].append(r)
        for p, reqs in by_plugin.values():
            # One extract_fields call per plugin per event, as the ABI does.
            with CallbackScope(
                p.plugin_name, "extract_fields", reader=True, rule=PHASES["extract_fields"].rule
            ) as scope:
                assert scope.reader is not None
                for r in reqs:
                    if not p.extracts_from(event.type, event.source):
                        result.values[str(r)] = None  # not an event it extracts from
                        continue
                    try:
                        result.values[str(r)] = p.extract(event, r, scope.reader)
                    except Exception as exc:
                        result.errors[str(r)] = exc
        if self.record:
            self.recorded.append(event)
        return result

    def _poll_background(self) -> list[BaseException]:
        """Background failures not reported yet: logged, offered to on_error, returned."""
        found: list[BaseException] = []
        tasks = [*self._routines, *(t for _, ctx in self._async for t in list(ctx.tasks))]
        for t in tasks:
            found.extend(list(t.errors))
        if self.routines is not None:
            found.extend(list(self.routines.errors))
        new = [e for e in found if id(e) not in self._reported]
        for e in new:
            self._reported.add(id(e))
            log.error("background work failed during the capture: %r", e)
            if self.on_error is not None:
                try:
                    self.on_error(e)
                except Exception:  # the callback's own failure must not stop the capture
                    log.exception("on_error callback failed")
        return new

    def _extractor(self, request: ExtractRequest) -> ExtractPlugin:
        p = self._extractors.get(request.field)
        if p is None:
            raise PluginError(f"no loaded plugin extracts field '{request.field}'")
        return p

    def extract(self, event: Event, fields: Sequence[str | ExtractRequest]) -> dict[str, Any]:
        """The values of `fields` for `event`, without parsing it: {request text: value}.

        None means "no value". The first extraction error is raised, with its type.
        """
        self.init()
        self._check_thread()
        requests = [f if isinstance(f, ExtractRequest) else ExtractRequest.parse(f) for f in fields]
        for r in requests:
            self._extractor(r).check_request(r)
        if event.evtnum == 0:
            event = dataclasses.replace(event, evtnum=self._evtnum + 1)
        out: dict[str, Any] = {}
        for r in requests:
            p = self._extractor(r)
            if not p.extracts_from(event.type, event.source):
                out[str(r)] = None
                continue
            with CallbackScope(
                p.plugin_name, "extract_fields", reader=True, rule=PHASES["extract_fields"].rule
            ) as scope:
                assert scope.reader is not None
                out[str(r)] = p.extract(event, r, scope.reader)
        return out

    def metrics(self) -> dict[str, int | float]:
        """Every plugin's metrics, named `<plugin>.<metric>` as libsinsp names them."""
        out: dict[str, int | float] = {}
        for p in self.plugins:
            read = getattr(p, "metrics", None)
            if callable(read):
                for name, value in read().items():
                    out[f"{p.plugin_name}.{name}"] = value
        return out

    def _deliver(self, event: Event, requests: list[ExtractRequest]) -> EventResult:
        """Process a queued async event; `ts = UINT64_MAX` becomes the time of delivery."""
        if event.ts == NO_VALUE:
            event = dataclasses.replace(event, ts=time.time_ns())
        return self.process(event, requests)

    def _find_source(self, source: str | None) -> SourcePlugin:
        sources: list[SourcePlugin] = self._of(SourcePlugin)
        if source is not None:
            sources = [p for p in sources if p.plugin_name == source]
        if not sources:
            raise PluginError(
                f"no source plugin named '{source}'"
                if source
                else "no source plugin loaded: pass events=... to replay a capture"
            )
        return sources[0]

    def _source_events(self, src: SourcePlugin) -> Iterator[Event | None]:
        try:
            for ev in src.open():
                if ev is None:
                    yield None  # a timeout: no event now
                else:
                    yield dataclasses.replace(ev, evtnum=0, source=src.event_source)
        finally:
            src.close()

    def run(
        self,
        events: Iterable[Event] | None = None,
        *,
        extract: Sequence[str] = (),
        source: str | None = None,
    ) -> list[EventResult]:
        """Init, open, process every event (from the source, or `events`), close.

        Events pushed by async plugins are processed as they arrive, between source events.
        """
        return list(self.stream(events, extract=extract, source=source))

    def stream(
        self,
        events: Iterable[Event] | None = None,
        *,
        extract: Sequence[str] = (),
        source: str | None = None,
    ) -> Generator[EventResult, None, None]:
        """`run`, one result at a time: yields each event's result as soon as it is processed.

        Init and the check of `extract` happen now; the capture opens at the first `next()`
        and closes when the events run out. Closing the iterator early (`close()`, or leaving a
        `with contextlib.closing(...)` block) closes the source and the capture, and raises
        BackgroundError then if the background work failed. Between two results, the calling
        thread is outside any callback: no plugin runs.
        """
        self.init()
        requests = [ExtractRequest.parse(r) for r in extract]
        for r in requests:
            self._extractor(r)  # unknown fields fail before the capture opens
        for r in requests:
            self._extractor(r).check_request(r)
        stream: Iterator[Event | None]
        if events is not None:
            self.capture_source = ("syscall", 0)
            stream = iter(events)
        else:
            src = self._find_source(source)
            self.capture_source = (src.event_source, int(getattr(src, "plugin_id", 0)))
            stream = self._source_events(src)
        return self._loop(stream, requests)

    def _loop(
        self, stream: Iterator[Event | None], requests: list[ExtractRequest]
    ) -> Generator[EventResult, None, None]:
        self.open_capture()
        queued = self.async_queue
        try:
            for ev in stream:
                if ev is None:  # the source timed out: one queued event that is due now
                    pushed = queued.take_one_due(time.time_ns())
                    if pushed is not None:
                        yield self._deliver(pushed, requests)
                    continue
                for pushed in queued.take_due(ev.ts):  # earlier async events go first
                    yield self._deliver(pushed, requests)
                yield self.process(ev, requests)
            for pushed in queued.take_all():  # the source ended: what is still queued
                yield self._deliver(pushed, requests)
        except GeneratorExit:
            # The consumer stopped early: end the capture; its background errors propagate.
            # An abandoned stream may be finalised by the garbage collector on any thread:
            # the capture is closed there too (nothing could raise to a caller: log instead).
            _close_stream(stream)
            if self._thread is None or get_ident() == self._thread:
                self.close_capture()
            else:
                try:
                    self._close_capture()
                except Exception as exc:
                    log.error("closing an abandoned capture stream failed: %r", exc)
            raise
        except BaseException as exc:
            _close_stream(stream)
            try:
                self.close_capture()
            except BackgroundError as bg:
                exc.add_note(f"also, while closing: {bg}")
            raise
        self.close_capture()

    def destroy(self) -> None:
        """Close the capture if open, then destroy every plugin (in reverse load order)."""
        try:
            if self._open:
                self.close_capture()
        finally:
            pool, self.routines = self.routines, None
            if pool is not None:
                pool.close(self.stop_timeout)  # no routine may outlive its plugin's destroy
            if self._initialised:
                for p in reversed(self.plugins):
                    p.destroy()
                    self.registry.unexport_owned(p.plugin_name)  # gone with their plugin
                self._initialised = False

    def __enter__(self) -> Self:
        self.init()
        return self

    def __exit__(self, t: object, v: object, tb: object) -> None:
        self.destroy()

    def __repr__(self) -> str:
        names = ", ".join(
            f"{p.plugin_name}({capability_names(p.capabilities)})" for p in self.plugins
        )
        return f"<PluginHost [{names}]>"


def _close_stream(stream: Iterator[Event | None]) -> None:
    """Close a source generator early, so that its plugin's close() runs now."""
    close = getattr(stream, "close", None)
    if close is not None:
        close()
