"""The scap event codec: build events in Python, read any event's parameters by name.

An event is a packed 26-byte header (`ts`, `tid`, `len`, `type`, `nparams`), then `nparams`
parameter lengths (uint16, or uint32 for the three large-payload types 322, 324 and 402), then
the parameter values back to back (docs/c-abi.md). Native plugins parse these bytes exactly
as they would under libsinsp.

    ev = build(PPME.SYSCALL_OPEN_X, ts=1, tid=7, fd=3, name="/etc/hosts", flags=3)
    data = ev.encode()                  # 77 bytes, as libscap writes them
    ScapEvent.decode(data)["name"]      # '/etc/hosts'

`ScapEvent` holds raw parameter bytes, so it round-trips any event type (known or not);
`build` and `ScapEvent.values` / `[name]` convert by the schemas of `SCHEMAS` (open/openat,
close, read entry, clone, execve, procexit, plugin and async events). Strings are decoded from
UTF-8 with `surrogateescape`, so bytes that are not UTF-8 survive a round trip; a zero-length string
parameter (libscap's NULL) reads as None. Every malformed input raises an `EventError`
naming the event, the parameter and the value, and nothing is half-built.
"""

from __future__ import annotations

import enum
import struct
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from .errors import TablesError

#: Bytes of the packed header, and where a plugin event's payload starts (header, 2 lengths, id).
HEADER_SIZE: Final = 26
PLUGIN_EVENT_PAYLOAD_OFFSET: Final = 38
#: `ts`/`tid` meaning "host fills in now" / "no thread".
NO_VALUE: Final = 0xFFFF_FFFF_FFFF_FFFF

_HEADER: Final = struct.Struct("<QQIHI")
assert _HEADER.size == HEADER_SIZE


class EventError(TablesError, ValueError):
    """A malformed event, or a value that the event's parameter cannot hold."""


class EventDecodeError(EventError):
    """Bytes that are not a well-formed scap event (or a parameter of the wrong size)."""


class EventEncodeError(EventError):
    """A value that cannot be encoded as the named parameter of the named event."""


class PPME(enum.IntEnum):
    """Event type codes (`PPME_*` of the driver's schema 4.x) the codec knows by name."""

    SYSCALL_OPEN_E = 2
    SYSCALL_OPEN_X = 3
    SYSCALL_CLOSE_E = 4
    SYSCALL_CLOSE_X = 5
    SYSCALL_READ_E = 6
    PROCEXIT_1_E = 186
    SYSCALL_CLONE_20_E = 222
    SYSCALL_CLONE_20_X = 223
    SYSCALL_EXECVE_19_E = 292
    SYSCALL_EXECVE_19_X = 293
    SYSCALL_OPENAT_2_E = 306
    SYSCALL_OPENAT_2_X = 307
    PLUGINEVENT_E = 322
    CONTAINER_JSON_2_E = 324
    ASYNCEVENT_E = 402


#: The types flagged EF_LARGE_PAYLOAD: their parameter lengths are uint32.
LARGE_PAYLOAD_TYPES: Final = frozenset({322, 324, 402})


def length_width(event_type: int) -> int:
    """Bytes per parameter length for `event_type`: 4 for large-payload types, else 2."""
    return 4 if event_type in LARGE_PAYLOAD_TYPES else 2


class ParamType(enum.Enum):
    """Parameter types (`PT_*`) the schemas use; `layout` says how each is stored."""

    INT8 = "INT8"
    UINT8 = "UINT8"
    FLAGS8 = "FLAGS8"
    SIGTYPE = "SIGTYPE"
    INT16 = "INT16"
    UINT16 = "UINT16"
    PORT = "PORT"
    INT32 = "INT32"
    UINT32 = "UINT32"
    BOOL = "BOOL"
    FLAGS32 = "FLAGS32"
    MODE = "MODE"
    UID = "UID"
    GID = "GID"
    IPV4ADDR = "IPV4ADDR"
    PID32 = "PID32"
    FD32 = "FD32"
    INT64 = "INT64"
    UINT64 = "UINT64"
    ERRNO = "ERRNO"
    FD = "FD"
    PID = "PID"
    RELTIME = "RELTIME"
    ABSTIME = "ABSTIME"
    DOUBLE = "DOUBLE"
    CHARBUF = "CHARBUF"
    FSPATH = "FSPATH"
    FSRELPATH = "FSRELPATH"
    BYTEBUF = "BYTEBUF"
    #: A BYTEBUF of NUL-terminated strings back to back (args, env, cgroups): a list of str.
    STRLIST = "STRLIST"

    @property
    def code(self) -> str:
        """The `struct` code of a fixed-width type ("" for variable-length ones)."""
        return _LAYOUT[self.value][0]

    @property
    def kind(self) -> str:
        """int, float, str (NUL-terminated), bytes or strlist."""
        return _LAYOUT[self.value][1]


#: PT name -> (struct code, kind); widths as in docs/c-abi.md, little endian.
_LAYOUT: Final[Mapping[str, tuple[str, str]]] = {
    **dict.fromkeys(("INT8",), ("b", "int")),
    **dict.fromkeys(("UINT8", "FLAGS8", "SIGTYPE"), ("B", "int")),
    **dict.fromkeys(("INT16",), ("h", "int")),
    **dict.fromkeys(("UINT16", "PORT"), ("H", "int")),
    **dict.fromkeys(("INT32", "PID32", "FD32"), ("i", "int")),
    **dict.fromkeys(("UINT32", "BOOL", "FLAGS32", "MODE", "UID", "GID", "IPV4ADDR"), ("I", "int")),
    **dict.fromkeys(("INT64", "ERRNO", "FD", "PID"), ("q", "int")),
    **dict.fromkeys(("UINT64", "RELTIME", "ABSTIME"), ("Q", "int")),
    "DOUBLE": ("d", "float"),
    **dict.fromkeys(("CHARBUF", "FSPATH", "FSRELPATH"), ("", "str")),
    "BYTEBUF": ("", "bytes"),
    "STRLIST": ("", "strlist"),
}


@dataclass(frozen=True, slots=True)
class ParamSpec:
    """One parameter of an event schema."""

    name: str
    type: ParamType


@dataclass(frozen=True, slots=True)
class EventSchema:
    """An event type's parameters, in order."""

    code: int
    name: str
    params: tuple[ParamSpec, ...]

    def index(self, name: str) -> int:
        for i, p in enumerate(self.params):
            if p.name == name:
                return i
        raise KeyError(name)


def _schema(code: PPME, spec: str) -> EventSchema:
    """Schema from "name:TYPE name:TYPE ..." (the reference table's spelling)."""
    params = tuple(
        ParamSpec(n, ParamType[t]) for n, t in (item.split(":") for item in spec.split())
    )
    return EventSchema(int(code), code.name, params)


_T = PPME
#: The schemas the codec converts by name (docs/c-abi.md).
SCHEMAS: Final[Mapping[int, EventSchema]] = {
    s.code: s
    for s in (
        _schema(_T.SYSCALL_OPEN_E, "name:FSPATH flags:FLAGS32 mode:UINT32"),
        _schema(
            _T.SYSCALL_OPEN_X,
            "fd:FD name:FSPATH flags:FLAGS32 mode:UINT32 dev:UINT32 ino:UINT64",
        ),
        _schema(_T.SYSCALL_CLOSE_E, "fd:FD"),
        _schema(_T.SYSCALL_CLOSE_X, "res:ERRNO fd:FD"),
        _schema(_T.SYSCALL_READ_E, "fd:FD size:UINT32"),
        _schema(_T.PROCEXIT_1_E, "status:ERRNO ret:ERRNO sig:SIGTYPE core:UINT8 reaper_tid:PID"),
        _schema(_T.SYSCALL_CLONE_20_E, ""),
        _schema(
            _T.SYSCALL_CLONE_20_X,
            "res:PID exe:CHARBUF args:STRLIST tid:PID pid:PID ptid:PID cwd:CHARBUF "
            "fdlimit:INT64 pgft_maj:UINT64 pgft_min:UINT64 vm_size:UINT32 vm_rss:UINT32 "
            "vm_swap:UINT32 comm:CHARBUF cgroups:STRLIST flags:FLAGS32 uid:UINT32 gid:UINT32 "
            "vtid:PID vpid:PID pidns_init_start_ts:UINT64",
        ),
        _schema(_T.SYSCALL_EXECVE_19_E, "filename:FSPATH"),
        _schema(
            _T.SYSCALL_EXECVE_19_X,
            "res:ERRNO exe:CHARBUF args:STRLIST tid:PID pid:PID ptid:PID cwd:CHARBUF "
            "fdlimit:UINT64 pgft_maj:UINT64 pgft_min:UINT64 vm_size:UINT32 vm_rss:UINT32 "
            "vm_swap:UINT32 comm:CHARBUF cgroups:STRLIST env:STRLIST tty:UINT32 vpgid:PID "
            "loginuid:UID flags:FLAGS32 cap_inheritable:UINT64 cap_permitted:UINT64 "
            "cap_effective:UINT64 exe_ino:UINT64 exe_ino_ctime:ABSTIME exe_ino_mtime:ABSTIME "
            "uid:UID trusted_exepath:FSPATH pgid:PID gid:GID filename:FSPATH",
        ),
        _schema(_T.SYSCALL_OPENAT_2_E, "dirfd:FD name:FSRELPATH flags:FLAGS32 mode:UINT32"),
        _schema(
            _T.SYSCALL_OPENAT_2_X,
            "fd:FD dirfd:FD name:FSRELPATH flags:FLAGS32 mode:UINT32 dev:UINT32 ino:UINT64",
        ),
        _schema(_T.PLUGINEVENT_E, "plugin_id:UINT32 event_data:BYTEBUF"),
        _schema(_T.ASYNCEVENT_E, "plugin_id:UINT32 name:CHARBUF data:BYTEBUF"),
    )
}


def _type_name(event_type: int) -> str:
    s = SCHEMAS.get(event_type)
    return f"{s.name} ({event_type})" if s is not None else f"event type {event_type}"


# -- single values --------------------------------------------------------------------------------


def encode_value(event_type: int, spec: ParamSpec, value: Any) -> bytes:
    """`value` as the bytes of parameter `spec` (EventEncodeError if it cannot be)."""

    def bad(why: str) -> EventEncodeError:
        return EventEncodeError(
            f"cannot encode {value!r} as parameter '{spec.name}' ({spec.type.name}) "
            f"of {_type_name(event_type)}: {why}"
        )

    kind = spec.type.kind
    if kind == "int":
        if isinstance(value, bool) or not isinstance(value, int):
            raise bad("an int is needed")
        try:
            return struct.pack("<" + spec.type.code, value)
        except struct.error:
            raise bad(f"out of range for a {struct.calcsize(spec.type.code)}-byte value") from None
    if kind == "float":
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise bad("a float is needed")
        return struct.pack("<d", float(value))
    if kind == "str":
        if value is None:
            return b""  # libscap's NULL string: length 0
        raw = _text_bytes(value, bad)
        if b"\0" in raw:
            raise bad("a string parameter cannot hold a NUL byte")
        return raw + b"\0"
    if kind == "bytes":
        if not isinstance(value, bytes | bytearray | memoryview):
            raise bad("bytes are needed")
        return bytes(value)
    # strlist
    if isinstance(value, str | bytes) or not isinstance(value, Sequence):
        raise bad("a list of strings is needed")
    parts = []
    for item in value:
        raw = _text_bytes(item, bad)
        if b"\0" in raw:
            raise bad(f"list item {item!r} holds a NUL byte")
        parts.append(raw + b"\0")
    return b"".join(parts)


def _text_bytes(value: Any, bad: Any) -> bytes:
    if isinstance(value, str):
        return value.encode("utf-8", "surrogateescape")
    if isinstance(value, bytes | bytearray):
        return bytes(value)
    raise bad("a str (or bytes) is needed")


def decode_value(event_type: int, spec: ParamSpec, raw: bytes) -> Any:
    """The Python value of parameter `spec` from its bytes (EventDecodeError if malformed)."""

    def bad(why: str) -> EventDecodeError:
        return EventDecodeError(
            f"malformed parameter '{spec.name}' ({spec.type.name}) of "
            f"{_type_name(event_type)}: {why} (bytes {raw[:32]!r})"
        )

    kind = spec.type.kind
    if kind in ("int", "float"):
        size = struct.calcsize(spec.type.code)
        if len(raw) != size:
            raise bad(f"{len(raw)} bytes, {size} expected")
        return struct.unpack("<" + spec.type.code, raw)[0]
    if kind == "str":
        if not raw:
            return None
        if raw[-1] != 0:
            raise bad("not NUL-terminated")
        # libsinsp reads up to the first NUL.
        return raw[: raw.index(b"\0")].decode("utf-8", "surrogateescape")
    if kind == "bytes":
        return bytes(raw)
    # strlist: libsinsp drops one trailing NUL and splits on NUL.
    if not raw:
        return []
    body = raw[:-1] if raw[-1] == 0 else raw
    return [s.decode("utf-8", "surrogateescape") for s in body.split(b"\0")]


# -- events ---------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ScapEvent:
    """One event: header fields and raw parameter bytes. Immutable; `encode` gives its bytes."""

    type: int
    params: tuple[bytes, ...] = ()
    ts: int = 0
    tid: int = 0

    def __post_init__(self) -> None:
        for name, v, bits in (("type", self.type, 16), ("ts", self.ts, 64), ("tid", self.tid, 64)):
            if isinstance(v, bool) or not isinstance(v, int) or not 0 <= v < 1 << bits:
                raise EventEncodeError(
                    f"invalid event {name} {v!r}: an unsigned {bits}-bit int is needed"
                )
        for i, p in enumerate(self.params):
            if not isinstance(p, bytes):
                raise EventEncodeError(
                    f"parameter {i} of {_type_name(self.type)} is {type(p).__name__}, not bytes"
                )

    @property
    def schema(self) -> EventSchema | None:
        return SCHEMAS.get(self.type)

    @property
    def name(self) -> str:
        """`PPME` name of the type, or "event type N"."""
        return _type_name(self.type)

    def encode(self) -> bytes:
        """Header, lengths (2 or 4 bytes by type), values; EventEncodeError if too long."""
        w = length_width(self.type)
        limit = (1 << (8 * w)) - 1
        for i, p in enumerate(self.params):
            if len(p) > limit:
                raise EventEncodeError(
                    f"parameter {i} of {self.name} is {len(p)} bytes: more than a "
                    f"{w}-byte length holds ({limit})"
                )
        lens = struct.pack(f"<{len(self.params)}{'I' if w == 4 else 'H'}", *map(len, self.params))
        total = HEADER_SIZE + len(lens) + sum(map(len, self.params))
        if total > 0xFFFF_FFFF:
            raise EventEncodeError(f"{self.name} would be {total} bytes: more than uint32 holds")
        header = _HEADER.pack(self.ts, self.tid, total, self.type, len(self.params))
        return b"".join((header, lens, *self.params))

    @classmethod
    def decode(cls, data: bytes | bytearray | memoryview) -> ScapEvent:
        """The event in `data`, which must hold exactly the header's `len` bytes."""
        buf = bytes(data)
        if len(buf) < HEADER_SIZE:
            raise EventDecodeError(
                f"event of {len(buf)} bytes is shorter than the {HEADER_SIZE}-byte header"
            )
        ts, tid, total, etype, nparams = _HEADER.unpack_from(buf)
        name = _type_name(etype)
        if total != len(buf):
            raise EventDecodeError(f"{name}: header len {total} but {len(buf)} bytes given")
        w = length_width(etype)
        start = HEADER_SIZE + nparams * w
        if start > total:
            raise EventDecodeError(
                f"{name}: {nparams} parameter lengths do not fit in {total} bytes"
            )
        lens = struct.unpack_from(f"<{nparams}{'I' if w == 4 else 'H'}", buf, HEADER_SIZE)
        if start + sum(lens) != total:
            raise EventDecodeError(
                f"{name}: parameter lengths {list(lens)} add up to {sum(lens)} bytes, "
                f"but {total - start} follow them"
            )
        params = []
        pos = start
        for n in lens:
            params.append(buf[pos : pos + n])
            pos += n
        return cls(etype, tuple(params), ts, tid)

    def param(self, name: str) -> Any:
        """Parameter `name`'s value by the schema; None if the event carries fewer parameters.

        EventDecodeError if the type has no schema, the name is not a parameter of it, or its
        bytes are malformed.
        """
        schema = self.schema
        if schema is None:
            raise EventDecodeError(f"{self.name} has no schema: its parameters have no names")
        try:
            i = schema.index(name)
        except KeyError:
            raise EventDecodeError(
                f"{self.name} has no parameter '{name}' "
                f"(it has {', '.join(p.name for p in schema.params) or 'none'})"
            ) from None
        if i >= len(self.params):
            return None  # recorded with an older, shorter schema
        return decode_value(self.type, schema.params[i], self.params[i])

    def __getitem__(self, name: str) -> Any:
        return self.param(name)

    def values(self) -> dict[str, Any]:
        """Every parameter the event carries, by name, as Python values."""
        schema = self.schema
        if schema is None:
            raise EventDecodeError(f"{self.name} has no schema: its parameters have no names")
        if len(self.params) > len(schema.params):
            raise EventDecodeError(
                f"{self.name} carries {len(self.params)} parameters; its schema has "
                f"{len(schema.params)}"
            )
        return {
            spec.name: decode_value(self.type, spec, raw)
            for spec, raw in zip(schema.params, self.params, strict=False)
        }


_DEFAULTS: Final[Mapping[str, Any]] = {
    "int": 0,
    "float": 0.0,
    "str": None,
    "bytes": b"",
    "strlist": (),
}


def build(
    event_type: int,
    params: Mapping[str, Any] | None = None,
    /,
    *,
    ts: int = 0,
    tid: int = 0,
    **values: Any,
) -> ScapEvent:
    """An event of a known type from parameter values by name; missing ones are 0/NULL/empty.

    Values come as keywords, or in `params` for names that clash with the header's `ts` and
    `tid` (clone and execve have a `tid` parameter): `build(PPME.SYSCALL_CLONE_20_X,
    {"tid": 42}, tid=42)`. EventEncodeError for an unknown type, an unknown parameter name,
    or a bad value.
    """
    if params:
        values = {**params, **values}
    schema = SCHEMAS.get(event_type)
    if schema is None:
        raise EventEncodeError(
            f"{_type_name(event_type)} has no schema: build it as ScapEvent(type, params)"
        )
    unknown = sorted(set(values) - {p.name for p in schema.params})
    if unknown:
        raise EventEncodeError(
            f"{schema.name} has no parameter {', '.join(map(repr, unknown))} "
            f"(it has {', '.join(p.name for p in schema.params) or 'none'})"
        )
    raw = tuple(
        encode_value(event_type, p, values.get(p.name, _DEFAULTS[p.type.kind]))
        for p in schema.params
    )
    return ScapEvent(int(event_type), raw, ts, tid)


def plugin_event(
    payload: bytes, plugin_id: int = 0, *, ts: int = NO_VALUE, tid: int = NO_VALUE
) -> ScapEvent:
    """A `PPME_PLUGINEVENT_E`: the plugin id, then the opaque payload (at offset 38)."""
    return build(PPME.PLUGINEVENT_E, ts=ts, tid=tid, plugin_id=plugin_id, event_data=payload)


def async_event(
    name: str, data: bytes = b"", plugin_id: int = 0, *, ts: int = NO_VALUE, tid: int = NO_VALUE
) -> ScapEvent:
    """A `PPME_ASYNCEVENT_E`: plugin id (the host writes it), name (at offset 42), data."""
    if not name:
        raise EventEncodeError("an async event needs a non-empty name")
    return build(PPME.ASYNCEVENT_E, ts=ts, tid=tid, plugin_id=plugin_id, name=name, data=data)


__all__ = [
    "HEADER_SIZE",
    "LARGE_PAYLOAD_TYPES",
    "NO_VALUE",
    "PLUGIN_EVENT_PAYLOAD_OFFSET",
    "PPME",
    "SCHEMAS",
    "EventDecodeError",
    "EventEncodeError",
    "EventError",
    "EventSchema",
    "ParamSpec",
    "ParamType",
    "ScapEvent",
    "async_event",
    "build",
    "decode_value",
    "encode_value",
    "length_width",
    "plugin_event",
]
