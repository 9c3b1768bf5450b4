"""Kafka's binary encoding, driven by the field tables of ``specs.py``.

Primitive types (big-endian ints, strings and byte arrays with an int16/int32 length or, in *flexible*
versions, an unsigned-varint length + 1, arrays likewise; ``uuid``: 16 bytes, a :class:`uuid.UUID` here,
Kafka's topic ids since KIP-516), tagged fields (flexible versions end every struct with
``count, (tag, size, value)*``), a nullable struct field preceded by an int8 (-1: null, 1: present), and
the request and response headers:

* request header v1 (api key, version, correlation id, nullable client id) for non-flexible requests,
  v2 (the same plus tagged fields) for flexible ones; the client id is never compact;
* response header v0 (correlation id), v1 (plus tagged fields) for flexible responses, except that
  ApiVersions always answers with v0 (clients read it before they know which versions the broker has).

Decoding never trusts a length: anything that runs past the frame, a negative length that is not the
null marker, or a varint longer than 5 bytes raises :class:`MalformedRequestError`, which names the
field. The server answers nothing to such a frame and closes the connection, as Kafka's broker does.
"""
from __future__ import annotations

import base64
import struct
import uuid
from typing import Any

from msglib.wire.specs import SPECS

API_VERSIONS = 18
ZERO_UUID = uuid.UUID(int=0)    # Kafka's Uuid.ZERO_UUID: "no topic id"

_I8, _I16, _I32, _I64 = struct.Struct(">b"), struct.Struct(">h"), struct.Struct(">i"), struct.Struct(">q")
_INTS = {"int8": _I8, "int16": _I16, "int32": _I32, "int64": _I64}
_DEFAULTS = {"int8": 0, "int16": 0, "int32": 0, "int64": 0, "bool": False, "string": "", "string!": "",
             "bytes": b"", "records": None, "uuid": ZERO_UUID}
FieldSpec = tuple


def topic_id_text(topic_id: uuid.UUID) -> str:
    """Kafka's text form of a Uuid (``Uuid.toString``): URL-safe base64 of the 16 bytes, no padding."""
    return base64.urlsafe_b64encode(topic_id.bytes).rstrip(b"=").decode("ascii")


def parse_topic_id(text: str) -> uuid.UUID:
    """The inverse of :func:`topic_id_text` (``Uuid.fromString``)."""
    data = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    if len(data) != 16:
        raise ValueError(f"topic id {text!r} is not 16 bytes of URL-safe base64 (22 characters)")
    return uuid.UUID(bytes=data)


def new_topic_id() -> uuid.UUID:
    """A random topic id as Kafka's ``Uuid.randomUuid`` makes one: never the reserved zero (no id) or one
    (the KRaft metadata topic), and never one whose text form starts with '-' (it would read as an option)."""
    while True:
        topic_id = uuid.uuid4()
        if topic_id.int > 1 and not topic_id_text(topic_id).startswith("-"):
            return topic_id


class MalformedRequestError(ValueError):
    """A frame that does not decode as the request its header names (the connection is closed)."""


class UnsupportedVersionError(ValueError):
    """A request for an API or version this server does not serve (answered UNSUPPORTED_VERSION)."""

    def __init__(self, api_key: int, api_version: int, correlation_id: int) -> None:
        name = SPECS[api_key][0] if api_key in SPECS else f"api key {api_key}"
        super().__init__(f"{name} v{api_version} is not served")
        self.api_key, self.api_version, self.correlation_id = api_key, api_version, correlation_id


# ---------------------------------------------------------------------------------------------------- reading
class Reader:
    """Reads primitives from one frame; every read checks the frame's end."""

    __slots__ = ("buf", "pos", "end")

    def __init__(self, buf: bytes | memoryview, pos: int = 0) -> None:
        self.buf = memoryview(buf)
        self.pos = pos
        self.end = len(self.buf)

    def take(self, n: int, what: str) -> memoryview:
        if n < 0 or self.pos + n > self.end:
            raise MalformedRequestError(f"{what}: needs {n} bytes at position {self.pos}, the frame has "
                                        f"{self.end - self.pos} left")
        view = self.buf[self.pos:self.pos + n]
        self.pos += n
        return view

    def int(self, s: struct.Struct, what: str) -> int:
        if self.pos + s.size > self.end:
            raise MalformedRequestError(f"{what}: the frame ends at byte {self.end}, inside this field")
        value = s.unpack_from(self.buf, self.pos)[0]
        self.pos += s.size
        return value

    def uvarint(self, what: str) -> int:
        value = shift = 0
        for _ in range(5):
            if self.pos >= self.end:
                raise MalformedRequestError(f"{what}: the frame ends inside a varint")
            b = self.buf[self.pos]
            self.pos += 1
            value |= (b & 0x7F) << shift
            if not b & 0x80:
                return value
            shift += 7
        raise MalformedRequestError(f"{what}: a varint longer than 5 bytes")

    def length(self, compact: bool, wide: bool, what: str) -> int:
        """A length; -1 means null."""
        if compact:
            return self.uvarint(what) - 1
        n = self.int(_I32 if wide else _I16, what)
        if n < -1:
            raise MalformedRequestError(f"{what}: length {n} (only -1, null, may be negative)")
        return n


def _read_value(r: Reader, ftype: str, version: int, flexible: bool, children: Any, what: str) -> Any:
    if ftype in _INTS:
        return r.int(_INTS[ftype], what)
    if ftype == "bool":
        return r.take(1, what)[0] != 0
    if ftype == "uuid":
        return uuid.UUID(bytes=bytes(r.take(16, what)))
    if ftype in ("string", "string!"):
        n = r.length(flexible and ftype == "string", False, what)
        if n < 0:
            return None
        try:
            return str(r.take(n, what), "utf-8")
        except UnicodeDecodeError:
            raise MalformedRequestError(f"{what}: a string that is not UTF-8") from None
    if ftype in ("bytes", "records"):
        n = r.length(flexible, True, what)
        return None if n < 0 else bytes(r.take(n, what))
    if ftype == "struct":
        return read_struct(r, children, version, flexible, what)
    if ftype.startswith("[]"):
        n = r.length(flexible, True, what)
        if n < 0:
            return None
        if n > r.end - r.pos:     # every element takes at least one byte: refuse before allocating
            raise MalformedRequestError(f"{what}: an array of {n} elements in {r.end - r.pos} bytes")
        inner = ftype[2:]
        return [_read_value(r, inner, version, flexible, children, f"{what}[{i}]") for i in range(n)]
    raise MalformedRequestError(f"{what}: unknown type {ftype}")  # pragma: no cover - specs are fixed


def _applies(rng: tuple[int, int] | None, version: int) -> bool:
    return rng is not None and rng[0] <= version <= rng[1]


def read_struct(r: Reader, fields: tuple[FieldSpec, ...], version: int, flexible: bool,
                what: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    tagged = {}
    for name, ftype, versions, nullable, tag, default, children in fields:
        if not _applies(versions, version):
            out[name] = _default(ftype, default, nullable, version)
            continue
        if tag is not None:
            tagged[tag] = (name, ftype, children)
            out[name] = _default(ftype, default, nullable, version)
            continue
        where = f"{what}.{name}" if what else name
        if ftype == "struct" and _applies(nullable, version) and r.int(_I8, where) < 0:
            out[name] = None                      # a nullable struct: int8 -1 is null, anything else present
            continue
        value = _read_value(r, ftype, version, flexible, children, where)
        if value is None and not _applies(nullable, version):
            raise MalformedRequestError(f"{name}: null is not allowed in version {version}")
        out[name] = value
    if flexible:
        count = r.uvarint("tagged field count")
        for _ in range(count):
            tag = r.uvarint("tag")
            size = r.uvarint("tagged field size")
            sub = Reader(r.take(size, f"tagged field {tag}"))
            if tag in tagged:                     # a tag we know; unknown tags are skipped (the spec says so)
                name, ftype, children = tagged[tag]
                out[name] = _read_value(sub, ftype, version, True, children, name)
    return out


def _default(ftype: str, default: Any, nullable: Any, version: int) -> Any:
    if default is not None:
        return default
    if ftype.startswith("[]"):
        return []
    if ftype == "struct":
        return None
    return _DEFAULTS.get(ftype)


# ---------------------------------------------------------------------------------------------------- writing
def _uvarint(n: int) -> bytes:
    out = bytearray()
    while n >= 0x80:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def _write_length(out: list, n: int, compact: bool, wide: bool) -> None:
    if compact:
        out.append(_uvarint(n + 1))
    else:
        out.append((_I32 if wide else _I16).pack(n))


def _write_value(out: list, ftype: str, value: Any, version: int, flexible: bool, children: Any) -> None:
    if ftype in _INTS:
        out.append(_INTS[ftype].pack(value))
    elif ftype == "bool":
        out.append(b"\x01" if value else b"\x00")
    elif ftype == "uuid":
        out.append(value.bytes)
    elif ftype in ("string", "string!"):
        if value is None:
            _write_length(out, -1, flexible and ftype == "string", False)
        else:
            data = value.encode("utf-8")
            _write_length(out, len(data), flexible and ftype == "string", False)
            out.append(data)
    elif ftype in ("bytes", "records"):
        if value is None:
            _write_length(out, -1, flexible, True)
        else:
            size = value.nbytes if isinstance(value, memoryview) else len(value)
            _write_length(out, size, flexible, True)
            out.append(value)
    elif ftype == "struct":
        write_struct(out, children, value or {}, version, flexible)
    elif ftype.startswith("[]"):
        if value is None:
            _write_length(out, -1, flexible, True)
            return
        _write_length(out, len(value), flexible, True)
        inner = ftype[2:]
        for item in value:
            _write_value(out, inner, item, version, flexible, children)
    else:  # pragma: no cover - specs are fixed
        raise TypeError(f"unknown type {ftype}")


def write_struct(out: list, fields: tuple[FieldSpec, ...], obj: dict[str, Any], version: int,
                 flexible: bool) -> None:
    """Append the encoding of ``obj`` to ``out`` (a list of byte chunks); a missing field gets its default."""
    tagged = []
    for name, ftype, versions, nullable, tag, default, children in fields:
        if not _applies(versions, version):
            continue
        value = obj.get(name, _MISSING)
        if value is _MISSING:
            value = _default(ftype, default, nullable, version)
        if tag is not None:
            if flexible and value not in (None, [], default):
                sub: list = []
                _write_value(sub, ftype, value, version, True, children)
                tagged.append((tag, b"".join(sub)))
            continue
        if ftype == "struct" and _applies(nullable, version):
            out.append(b"\xff" if value is None else b"\x01")
            if value is None:
                continue
        _write_value(out, ftype, value, version, flexible, children)
    if flexible:
        out.append(_uvarint(len(tagged)))
        for tag, data in sorted(tagged):
            out.append(_uvarint(tag) + _uvarint(len(data)))
            out.append(data)


_MISSING = object()


# ---------------------------------------------------------------------------------------------------- messages
def is_flexible(api_key: int, version: int) -> bool:
    return _applies(SPECS[api_key][2], version)


def decode_request(frame: bytes | memoryview) -> tuple[dict[str, Any], dict[str, Any]]:
    """``(header, body)`` of one request frame (without its 4-byte size).

    Raises :class:`UnsupportedVersionError` for an API or version not served (the header is readable),
    :class:`MalformedRequestError` for anything else that does not decode.
    """
    r = Reader(frame)
    api_key = r.int(_I16, "request_api_key")
    version = r.int(_I16, "request_api_version")
    correlation_id = r.int(_I32, "correlation_id")
    spec = SPECS.get(api_key)
    if spec is None or not spec[1][0] <= version <= spec[1][1]:
        raise UnsupportedVersionError(api_key, version, correlation_id)
    client_id = _read_value(r, "string!", version, False, None, "client_id")
    flexible = is_flexible(api_key, version)
    if flexible:
        read_struct(r, (), version, True, "request header")     # the header's tagged fields
    body = read_struct(r, spec[3], version, flexible)
    # Bytes after a complete request are ignored, as Kafka's broker ignores them (RequestContext.parseRequest
    # reads the fields and checks nothing after them); librdkafka's Metadata v9+ for all topics leaves 3.
    header = {"api_key": api_key, "api_version": version, "correlation_id": correlation_id, "client_id": client_id,
              "trailing_bytes": r.end - r.pos}
    return header, body


def encode_response(api_key: int, version: int, correlation_id: int, body: dict[str, Any]) -> list:
    """The response frame as a list of chunks, its 4-byte size first."""
    flexible = is_flexible(api_key, version)
    out: list = [b"", _I32.pack(correlation_id)]
    if flexible and api_key != API_VERSIONS:
        out.append(b"\x00")                              # response header v1: no tagged fields
    write_struct(out, SPECS[api_key][4], body, version, flexible)
    out[0] = _I32.pack(sum(len(c) if not isinstance(c, memoryview) else c.nbytes for c in out))
    return out


def encode_request(api_key: int, version: int, correlation_id: int, body: dict[str, Any],
                   client_id: str | None = "msglib") -> bytes:
    """A request frame with its size (for tests and the benchmark's own checks)."""
    flexible = is_flexible(api_key, version)
    out: list = [_I16.pack(api_key), _I16.pack(version), _I32.pack(correlation_id)]
    _write_value(out, "string!", client_id, version, False, None)
    if flexible:
        out.append(b"\x00")
    write_struct(out, SPECS[api_key][3], body, version, flexible)
    data = b"".join(bytes(c) for c in out)
    return _I32.pack(len(data)) + data


def decode_response(api_key: int, version: int, frame: bytes) -> tuple[int, dict[str, Any]]:
    """``(correlation id, body)`` of a response frame without its size (tests)."""
    r = Reader(frame)
    correlation_id = r.int(_I32, "correlation_id")
    flexible = is_flexible(api_key, version)
    if flexible and api_key != API_VERSIONS:
        read_struct(r, (), version, True)
    return correlation_id, read_struct(r, SPECS[api_key][4], version, flexible)
