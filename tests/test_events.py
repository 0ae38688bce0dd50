"""The scap event codec: byte-exact layouts (docs/c-abi.md), round trips, and bad input."""

from __future__ import annotations

import struct

import pytest

from concurrent_tables.errors import TablesError
from concurrent_tables.events import (
    HEADER_SIZE,
    NO_VALUE,
    PLUGIN_EVENT_PAYLOAD_OFFSET,
    PPME,
    SCHEMAS,
    EventDecodeError,
    EventEncodeError,
    ScapEvent,
    async_event,
    build,
    length_width,
    plugin_event,
)

pytestmark = pytest.mark.timeout(30)


def test_open_x_is_77_bytes_as_the_reference_counts() -> None:
    ev = build(PPME.SYSCALL_OPEN_X, tid=1, fd=3, name="/etc/hosts", flags=3, dev=5, ino=123)
    data = ev.encode()
    assert len(data) == 77
    ts, tid, total, etype, nparams = struct.unpack_from("<QQIHI", data)
    assert (ts, tid, total, etype, nparams) == (0, 1, 77, 3, 6)
    assert struct.unpack_from("<6H", data, 26) == (8, 11, 4, 4, 4, 8)
    values = data[38:]
    assert values == (struct.pack("<q", 3) + b"/etc/hosts\0" + struct.pack("<IIIQ", 3, 0, 5, 123))


def test_plugin_event_matches_the_sdk_observation() -> None:
    """plugin_source: len 53, lengths (4, 15), payload 'hello world #0\\0', id 0, ts=tid=max."""
    data = plugin_event(b"hello world #0\0").encode()
    assert len(data) == 53
    assert struct.unpack_from("<QQIHI", data) == (NO_VALUE, NO_VALUE, 53, 322, 2)
    assert struct.unpack_from("<2I", data, 26) == (4, 15)
    assert struct.unpack_from("<I", data, 34) == (0,)
    assert data[PLUGIN_EVENT_PAYLOAD_OFFSET:] == b"hello world #0\0"


def test_async_event_matches_the_sdk_observation() -> None:
    """syscall_async: len 77, lengths (4, 19, 16), name at 42, tid 1."""
    data = async_event("samplenotification", b"x" * 16, tid=1).encode()
    assert len(data) == 77
    assert struct.unpack_from("<QQIHI", data) == (NO_VALUE, 1, 77, 402, 3)
    assert struct.unpack_from("<3I", data, 26) == (4, 19, 16)
    assert data[42:61] == b"samplenotification\0"
    assert data[61:] == b"x" * 16


def test_length_width_is_four_bytes_only_for_large_payload_types() -> None:
    assert [length_width(t) for t in (322, 324, 402)] == [4, 4, 4]
    assert {length_width(t) for t in SCHEMAS if t not in (322, 324, 402)} == {2}


@pytest.mark.parametrize(
    ("etype", "values"),
    [
        (PPME.SYSCALL_OPEN_E, {"name": "/a", "flags": 1, "mode": 0o644}),
        (PPME.SYSCALL_OPENAT_2_X, {"fd": -2, "dirfd": -100, "name": "rel/x", "ino": 2**64 - 1}),
        (PPME.SYSCALL_CLOSE_X, {"res": 0, "fd": 7}),
        (PPME.PROCEXIT_1_E, {"status": 9, "ret": -1, "sig": 9, "core": 1, "reaper_tid": 1}),
        (
            PPME.SYSCALL_CLONE_20_X,
            {
                "res": 0,
                "exe": "/bin/sh",
                "args": ["-c", "ls"],
                "tid": 42,
                "pid": 42,
                "comm": "sh",
                "cgroups": ["cpu=/a", "memory=/b"],
                "vtid": 1,
            },
        ),
        (
            PPME.SYSCALL_EXECVE_19_X,
            {
                "exe": "ls",
                "args": [],
                "env": ["A=1", ""],
                "filename": "/bin/ls",
                "uid": 1000,
                "exe_ino_ctime": 10**18,
            },
        ),
        (PPME.PLUGINEVENT_E, {"plugin_id": 999, "event_data": bytes(range(256)) * 300}),
        (PPME.ASYNCEVENT_E, {"plugin_id": 0, "name": "n", "data": b""}),
    ],
)
def test_build_encode_decode_round_trip(etype: int, values: dict[str, object]) -> None:
    ev = build(etype, values, ts=123, tid=456)
    data = ev.encode()
    back = ScapEvent.decode(data)
    assert back == ev
    assert back.encode() == data
    decoded = back.values()
    for name, value in values.items():
        expected = list(value) if isinstance(value, list | tuple) else value
        assert decoded[name] == expected, name
    assert len(decoded) == len(SCHEMAS[etype].params)


def test_missing_parameters_default_to_zero_null_and_empty() -> None:
    ev = build(PPME.SYSCALL_EXECVE_19_X)
    assert len(ev.params) == 31
    v = ev.values()
    assert v["res"] == 0 and v["exe"] is None and v["args"] == [] and v["env"] == []
    assert ev.params[1] == b""  # a NULL string has length 0


def test_strings_that_are_not_utf8_round_trip_byte_for_byte() -> None:
    raw = b"/tmp/\xff\xfe-caf\xc3"
    ev = build(PPME.SYSCALL_OPEN_X, name=raw)
    name = ScapEvent.decode(ev.encode())["name"]
    assert isinstance(name, str)
    assert name.encode("utf-8", "surrogateescape") == raw
    assert build(PPME.SYSCALL_OPEN_X, name=name).params[1] == raw + b"\0"


def test_string_list_drops_one_trailing_nul_and_splits() -> None:
    ev = ScapEvent(PPME.SYSCALL_CLONE_20_X, (b"\0" * 8, b"", b"a\0\0b\0"))
    assert ev["args"] == ["a", "", "b"]
    assert ev["cwd"] is None  # fewer parameters than the schema: absent


def test_recorded_events_with_fewer_parameters_decode_by_header_count() -> None:
    full = build(PPME.SYSCALL_OPEN_X, fd=4, name="/x")
    short = ScapEvent(full.type, full.params[:2], 1, 2)
    back = ScapEvent.decode(short.encode())
    assert back.values() == {"fd": 4, "name": "/x"}
    assert back["ino"] is None


def test_unknown_types_round_trip_raw() -> None:
    ev = ScapEvent(9999, (b"ab", b"", b"\x00" * 3), ts=1, tid=2)
    assert ScapEvent.decode(ev.encode()) == ev
    with pytest.raises(EventDecodeError, match="event type 9999 has no schema"):
        ev.values()


# -- errors -------------------------------------------------------------------------------------


def test_errors_are_tables_errors() -> None:
    assert issubclass(EventDecodeError, TablesError)
    assert issubclass(EventEncodeError, TablesError)
    assert issubclass(EventEncodeError, ValueError)


@pytest.mark.parametrize(
    ("values", "match"),
    [
        ({"fd": 2**63}, r"2\*\*63|9223372036854775808.*'fd' \(FD\).*out of range"),
        ({"fd": "3"}, r"'3' as parameter 'fd'.*an int is needed"),
        ({"fd": True}, r"True as parameter 'fd'"),
        ({"flags": -1}, r"-1 as parameter 'flags' \(FLAGS32\)"),
        ({"name": "a\0b"}, r"'a\\x00b' as parameter 'name'.*NUL"),
        ({"name": 5}, r"5 as parameter 'name'.*str"),
        ({"bogus": 1}, r"SYSCALL_OPEN_X has no parameter 'bogus'"),
    ],
)
def test_build_rejects_bad_values_naming_them(values: dict[str, object], match: str) -> None:
    with pytest.raises(EventEncodeError, match=match):
        build(PPME.SYSCALL_OPEN_X, **values)


def test_build_rejects_bad_lists_and_unknown_types() -> None:
    with pytest.raises(EventEncodeError, match=r"'args'.*list of strings"):
        build(PPME.SYSCALL_CLONE_20_X, args="ls")
    with pytest.raises(EventEncodeError, match=r"list item 'a\\x00' holds a NUL"):
        build(PPME.SYSCALL_CLONE_20_X, args=["a\0"])
    with pytest.raises(EventEncodeError, match="event type 77 has no schema"):
        build(77)
    with pytest.raises(EventEncodeError, match="non-empty name"):
        async_event("")


def test_header_fields_are_checked() -> None:
    with pytest.raises(EventEncodeError, match=r"invalid event type 65536"):
        ScapEvent(65536)
    with pytest.raises(EventEncodeError, match=r"invalid event ts -1"):
        ScapEvent(3, ts=-1)
    with pytest.raises(EventEncodeError, match=r"parameter 0 of .* is str, not bytes"):
        ScapEvent(3, ("x",))  # type: ignore[arg-type]


def test_a_length_too_wide_for_two_bytes_is_an_error() -> None:
    ev = build(PPME.SYSCALL_CLONE_20_X, args=["x" * 70000])
    with pytest.raises(EventEncodeError, match=r"parameter 2 of SYSCALL_CLONE_20_X .* 70001"):
        ev.encode()
    # The same size is fine with 4-byte lengths.
    assert len(plugin_event(b"x" * 70000).encode()) == 38 + 70000


@pytest.mark.parametrize(
    ("mutate", "match"),
    [
        (lambda d: d[:20], r"20 bytes is shorter than the 26-byte header"),
        (lambda d: d + b"\0", r"header len 77 but 78 bytes given"),
        (lambda d: d[:16] + struct.pack("<I", 76) + d[20:-1], r"add up to 39 bytes, but 38"),
        (
            lambda d: d[:16] + struct.pack("<IHI", 77, 3, 40) + d[26:],
            r"40 parameter lengths do not fit in 77 bytes",
        ),
    ],
)
def test_decode_rejects_malformed_events(mutate: object, match: str) -> None:
    data = build(PPME.SYSCALL_OPEN_X, fd=3, name="/etc/hosts").encode()
    assert callable(mutate)
    with pytest.raises(EventDecodeError, match=match):
        ScapEvent.decode(mutate(data))


def test_decode_of_a_parameter_checks_its_size_and_terminator() -> None:
    ev = ScapEvent(PPME.SYSCALL_OPEN_X, (b"\x03\0\0\0", b"/x"))
    with pytest.raises(EventDecodeError, match=r"'fd' \(FD\) of SYSCALL_OPEN_X \(3\): 4 bytes"):
        ev["fd"]
    with pytest.raises(EventDecodeError, match=r"'name' .* not NUL-terminated"):
        ev["name"]
    with pytest.raises(EventDecodeError, match=r"no parameter 'nope'"):
        ev["nope"]


def test_header_size_constant() -> None:
    assert HEADER_SIZE == 26 and PLUGIN_EVENT_PAYLOAD_OFFSET == 38
