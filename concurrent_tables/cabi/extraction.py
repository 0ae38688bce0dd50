"""Field extraction from a native plugin: its field schema, request building, typed values.

    fields = FieldSchema.parse(plugin_get_fields_json, "myplugin")
    x = NativeExtractor(native, fields)           # a NativePlugin after init
    x.extract(event_bytes, evtnum, "syscall", "cap.idx[3]")   # -> 6

As libsinsp (docs/c-abi.md): the `get_fields` JSON is validated at load and a field's id is
its index; `name[arg]` is checked against the field's `arg` flags (`isIndex`: digits, no
leading zero, 64 bits; `isKey`: the raw text); one zeroed request per call with the exact
`ftype` and `flist` (64 for lists), `arg_index = UINT64_MAX` without an index. An event is
asked about only if its type is in the plugin's extract type set and its source in its sources.
Results are copied at once, by type: UINT64 -> int, RELTIME -> `RelTime`, ABSTIME -> `AbsTime`
(ints in ns), STRING -> str (`surrogateescape`), BOOL -> bool, IPADDR -> `ipaddress` address,
IPNET -> `ipaddress` network; list fields give lists. No value (not eligible, or SUCCESS with
`res_len` 0) is None; a FAILURE is an `ExtractionError` with the plugin's error text.
"""

from __future__ import annotations

import datetime
import ipaddress
import json
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

from .._abi import ffi as abi_ffi
from ..errors import PluginError
from ..plugins.base import ExtractRequest

if TYPE_CHECKING:
    from .loader import NativePlugin

UINT64: Final = 8
STRING: Final = 9
RELTIME: Final = 20
ABSTIME: Final = 21
BOOL: Final = 25
IPADDR: Final = 40
IPNET: Final = 41

#: JSON type name -> ss_plugin_field_type.
FIELD_TYPES: Final = {
    "string": STRING,
    "uint64": UINT64,
    "reltime": RELTIME,
    "abstime": ABSTIME,
    "bool": BOOL,
    "ipaddr": IPADDR,
    "ipnet": IPNET,
}
NO_INDEX: Final = 0xFFFF_FFFF_FFFF_FFFF
_INDEX = re.compile(r"0|[1-9][0-9]*")


class ExtractionError(PluginError):
    """A field request the plugin cannot serve: unknown field, bad argument, or a failure."""

    def __init__(self, plugin: str, field: str, message: str) -> None:
        super().__init__(f"{message} (plugin '{plugin}', field '{field}')")
        self.plugin, self.field = plugin, field


class RelTime(int):
    """A relative time in nanoseconds (an int), with its `timedelta`."""

    @property
    def timedelta(self) -> datetime.timedelta:
        return datetime.timedelta(microseconds=self / 1000)


class AbsTime(int):
    """An absolute time in nanoseconds since the epoch (an int), with its UTC `datetime`."""

    @property
    def datetime(self) -> datetime.datetime:
        return datetime.datetime.fromtimestamp(self / 1e9, tz=datetime.UTC)


@dataclass(frozen=True, slots=True)
class PluginField:
    """One field of a plugin's `get_fields` schema."""

    id: int
    name: str
    ftype: int
    desc: str
    is_list: bool = False
    arg_required: bool = False
    arg_index: bool = False
    arg_key: bool = False
    display: str = ""
    add_output: bool = False
    properties: tuple[str, ...] = ()

    @property
    def takes_arg(self) -> bool:
        return self.arg_index or self.arg_key


class FieldSchema:
    """A plugin's fields by name, validated as libsinsp does at load."""

    def __init__(self, plugin: str, fields: list[PluginField]) -> None:
        self.plugin = plugin
        self.fields = fields
        self.by_name = {f.name: f for f in fields}

    @classmethod
    def parse(cls, text: str | None, plugin: str) -> FieldSchema:
        def bad(why: str) -> PluginError:
            return PluginError(f"plugin '{plugin}': invalid get_fields JSON: {why}")

        try:
            items = json.loads(text or "")
        except json.JSONDecodeError as exc:
            raise bad(f"not JSON ({exc.msg}): {text!r}") from exc
        if not isinstance(items, list) or not items:
            raise bad("not a non-empty array")
        fields = []
        for i, item in enumerate(items):
            if not isinstance(item, dict):
                raise bad(f"field {i} is not an object")
            name, ftype, desc = item.get("name"), item.get("type"), item.get("desc")
            if not isinstance(name, str) or not name:
                raise bad(f"field {i} has no name")
            if ftype not in FIELD_TYPES:
                raise bad(f"field '{name}' has unknown type {ftype!r}")
            if not isinstance(desc, str) or not desc:
                raise bad(f"field '{name}' has no desc")
            for key in ("isList", "addOutput"):
                if key in item and not isinstance(item[key], bool):
                    raise bad(f"field '{name}': {key} is not a bool")
            if "display" in item and not isinstance(item["display"], str):
                raise bad(f"field '{name}': display is not a string")
            arg = item.get("arg", {})
            if not isinstance(arg, dict) or not all(
                isinstance(arg.get(k, False), bool) for k in ("isRequired", "isIndex", "isKey")
            ):
                raise bad(f"field '{name}': arg is not an object of bools")
            if arg.get("isRequired") and not (arg.get("isIndex") or arg.get("isKey")):
                raise bad(f"field '{name}': a required arg must be an index or a key")
            props = item.get("properties", [])
            if not isinstance(props, list) or not all(isinstance(p, str) for p in props):
                raise bad(f"field '{name}': properties is not an array of strings")
            fields.append(
                PluginField(
                    i,
                    name,
                    FIELD_TYPES[ftype],
                    desc,
                    is_list=bool(item.get("isList", False)),
                    arg_required=bool(arg.get("isRequired", False)),
                    arg_index=bool(arg.get("isIndex", False)),
                    arg_key=bool(arg.get("isKey", False)),
                    display=str(item.get("display", "")),
                    add_output=bool(item.get("addOutput", False)),
                    properties=tuple(props),
                )
            )
        return cls(plugin, fields)

    def resolve(self, request: ExtractRequest | str) -> ResolvedField:
        """The field and argument of `name` or `name[arg]`, or an ExtractionError."""
        r = request if isinstance(request, ExtractRequest) else ExtractRequest.parse(request)
        f = self.by_name.get(r.field)
        if f is None:
            raise ExtractionError(self.plugin, r.field, "no such field")
        if r.arg is None:
            if f.arg_required:
                raise ExtractionError(self.plugin, f.name, "this field requires an argument")
            return ResolvedField(f, None, None)
        if not f.takes_arg:
            raise ExtractionError(self.plugin, f.name, f"this field takes no argument: [{r.arg}]")
        index = None
        if f.arg_index:
            if _INDEX.fullmatch(r.arg) and int(r.arg) < 1 << 64:
                index = int(r.arg)
            elif not f.arg_key:
                raise ExtractionError(
                    self.plugin, f.name, f"invalid index argument [{r.arg}]: not a 64-bit integer"
                )
        return ResolvedField(f, index, r.arg if f.arg_key else None)


@dataclass(frozen=True, slots=True)
class ResolvedField:
    """A field with its argument, ready to become a request."""

    field: PluginField
    index: int | None
    key: str | None

    @property
    def arg_present(self) -> bool:
        return self.index is not None or self.key is not None


class NativeExtractor:
    """Extraction requests to one native plugin (a NativePlugin after init), one at a time."""

    def __init__(
        self,
        native: NativePlugin,
        schema: FieldSchema,
        types: frozenset[int] | None,
        sources: frozenset[str],
    ) -> None:
        self.native = native
        self.schema = schema
        #: Event types asked about (None: all); sources (empty: all).
        self.types = types
        self.sources = sources
        pffi = native.pffi
        self._req = pffi.new("ct_extract_field*")
        self._names = {f.name: pffi.new("char[]", f.name.encode()) for f in schema.fields}

    def eligible(self, event_type: int, source: str) -> bool:
        """Whether the plugin is asked about events of this type and source."""
        if self.sources and source not in self.sources:
            return False
        return self.types is None or event_type in self.types

    def extract(self, data: bytes, evtnum: int, source: str, request: ExtractRequest | str) -> Any:
        """One field's value for the event in `data` (see the module docstring)."""
        return self._run(data, evtnum, source, request, False)[0]

    def extract_with_offsets(
        self, data: bytes, evtnum: int, source: str, request: ExtractRequest | str
    ) -> tuple[Any, list[tuple[int, int]] | None]:
        """The value and, if the plugin gives them, each value's (start, length) in the event.

        Offsets count from the event's first header byte (a plugin event's payload starts at
        38); `(0, 0)` means none for that value; None: the plugin gives no offsets.
        """
        return self._run(data, evtnum, source, request, True)

    def _run(
        self,
        data: bytes,
        evtnum: int,
        source: str,
        request: ExtractRequest | str,
        want_offsets: bool,
    ) -> tuple[Any, list[tuple[int, int]] | None]:
        rf = self.schema.resolve(request)
        etype = int.from_bytes(data[20:22], "little") if len(data) >= 26 else -1
        if not self.eligible(etype, source):
            return None, None
        n = self.native
        f = rf.field
        pffi = n.pffi
        req = self._req
        pffi.memmove(req, b"\0" * pffi.sizeof("ct_extract_field"), pffi.sizeof("ct_extract_field"))
        req.field_id = f.id
        req.field = self._names[f.name]
        key = pffi.new("char[]", rf.key.encode("utf-8", "surrogateescape")) if rf.key else None
        req.arg_key = key if key is not None else pffi.NULL
        req.arg_index = rf.index if rf.index is not None else NO_INDEX
        req.arg_present = 1 if rf.arg_present else 0
        req.ftype = f.ftype
        req.flist = 64 if f.is_list else 0
        evt_in, buf = n._event_input(data, evtnum, source)
        inp = n._extract
        inp.num_fields = 1
        inp.fields = abi_ffi.cast("ss_plugin_extract_field*", int(pffi.cast("uintptr_t", req)))
        offs = pffi.new("ct_value_offsets*") if want_offsets else None  # both NULL: asked
        inp.value_offsets = (
            abi_ffi.NULL
            if offs is None
            else abi_ffi.cast("ss_plugin_extract_value_offsets*", int(pffi.cast("uintptr_t", offs)))
        )
        offsets: list[tuple[int, int]] | None = None
        try:
            with n.session.calling("extract_fields"):
                rc = int(n.lib.plugin_extract_fields(n.state, evt_in, inp))
            if rc != 0:
                raise ExtractionError(n.name, str(request), f"extraction failed: {n.last_error}")
            count = int(req.res_len)
            if count == 0 or req.res == pffi.NULL:
                return None, None
            values = [self._value(f, req.res, i) for i in range(count)]
            if offs is not None and offs.start != pffi.NULL and offs.length != pffi.NULL:
                offsets = [(int(offs.start[i]), int(offs.length[i])) for i in range(count)]
        finally:
            inp.fields = abi_ffi.NULL
            inp.num_fields = 0
            inp.value_offsets = abi_ffi.NULL
            del buf, key
        if not f.is_list:
            if count != 1:
                raise ExtractionError(n.name, f.name, f"{count} values for a non-list field")
            return values[0], offsets
        return values, offsets

    def _value(self, f: PluginField, res: Any, i: int) -> Any:
        pffi = self.native.pffi
        t = f.ftype
        if t in (UINT64, RELTIME, ABSTIME):
            v = int(pffi.cast("uint64_t*", res)[i])
            return RelTime(v) if t == RELTIME else AbsTime(v) if t == ABSTIME else v
        if t == STRING:
            p = pffi.cast("char**", res)[i]
            if p == pffi.NULL:
                raise ExtractionError(self.native.name, f.name, f"value {i} is a NULL string")
            return pffi.string(p).decode("utf-8", "surrogateescape")
        if t == BOOL:
            return bool(pffi.cast("uint32_t*", res)[i])
        b = pffi.cast("ct_byte_buffer*", res)[i]
        raw = bytes(pffi.buffer(pffi.cast("char*", b.ptr), b.len)) if b.ptr != pffi.NULL else b""
        return _ip_value(self.native.name, f, raw)


def _ip_value(plugin: str, f: PluginField, raw: bytes) -> Any:
    if f.ftype == IPADDR:
        if len(raw) not in (4, 16):
            raise ExtractionError(plugin, f.name, f"an IP address of {len(raw)} bytes")
        return ipaddress.ip_address(raw)
    # IPNET: an address (4/16 B) is a host network; address + mask (8/32 B) a network.
    if len(raw) in (4, 16):
        return ipaddress.ip_network(raw)
    if len(raw) in (8, 32):
        half = len(raw) // 2
        addr, mask = ipaddress.ip_address(raw[:half]), ipaddress.ip_address(raw[half:])
        return ipaddress.ip_network(f"{addr}/{mask}", strict=False)
    raise ExtractionError(plugin, f.name, f"an IP network of {len(raw)} bytes")


__all__ = [
    "AbsTime",
    "ExtractionError",
    "FieldSchema",
    "NativeExtractor",
    "PluginField",
    "RelTime",
    "ResolvedField",
]
