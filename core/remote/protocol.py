"""The wire format between `vidihand serve` and its clients: framed, typed, versioned, no pickle.

A frame is a fixed 16-byte prefix, a msgpack header and a raw payload:

    b"VDHP" | header length (u32, big-endian) | payload length (u64, big-endian)
    header: msgpack map {"type": str, "v": int, "fields": map, "arrays": [[name, dtype, shape], ...]}
    payload: the arrays' bytes, C order, one after the other, in the order the header lists them

Arrays are rebuilt with `np.frombuffer` from a small whitelist of little-endian dtypes; the
header says every array's dtype and shape and the sizes must add up to the payload length. Any
frame that breaks these rules is refused with a `ProtocolError` before anything is allocated
beyond the stated (bounded) lengths. See docs/remote.md for the message catalogue.
"""

from __future__ import annotations

import builtins
import math
import socket
import struct
import time
from dataclasses import dataclass, field
from typing import Any, Protocol

import msgpack
import numpy as np

from core.errors import RemoteError

#: bumped when a message changes incompatibly; both sides refuse another major version
PROTOCOL_VERSION = 1
MAGIC = b"VDHP"
_PREFIX = struct.Struct(">4sIQ")
PREFIX_SIZE = _PREFIX.size

MAX_HEADER_BYTES = 1 << 20  #: 1 MiB of msgpack is far more than any message needs
MAX_PAYLOAD_BYTES = 64 << 20  #: per frame; uploads are chunked well below this
UPLOAD_CHUNK_BYTES = 4 << 20

#: dtypes an array may have on the wire (little-endian or byte-sized only)
ALLOWED_DTYPES = frozenset(
    {"|b1", "|u1", "|i1", "<u2", "<i2", "<u4", "<i4", "<u8", "<i8", "<f4", "<f8"}
)
MAX_NDIM = 8

#: error codes a server sends in an `error` message
ERROR_CODES = (
    "auth",  # missing or wrong token
    "version",  # protocol version not supported
    "malformed",  # a frame or message that breaks the format
    "too_large",  # upload or frame over a limit
    "path",  # a name that could escape the job directory
    "not_found",  # unknown job or upload
    "busy",  # too many jobs
    "bad_request",  # well-formed but invalid (bad range, unknown backend, ...)
    "internal",  # a server bug: see its log
)


class ProtocolError(RemoteError):
    """A frame or message breaks the protocol (raised on either side)."""

    def __init__(self, message: str, *, code: str = "malformed", hint: str | None = None) -> None:
        self.code = code
        super().__init__(message, hint=hint)


class ServerError(RemoteError):
    """The server refused a request; `code` is one of ERROR_CODES."""

    def __init__(self, code: str, message: str, *, hint: str | None = None) -> None:
        self.code = code
        super().__init__(message, hint=hint)


class ConnectionLost(RemoteError):
    """The connection closed or timed out: retriable (reconnect and continue)."""


@dataclass
class Packet:
    """One message: its type, plain fields (msgpack types) and named numpy arrays."""

    type: str
    fields: dict[str, Any] = field(default_factory=dict)
    arrays: dict[str, np.ndarray] = field(default_factory=dict)
    version: int = PROTOCOL_VERSION

    def get(
        self, name: str, kind: builtins.type | tuple[builtins.type, ...], default: Any = ...
    ) -> Any:
        """A field checked for type; a missing or mistyped field is a malformed message."""
        if name not in self.fields:
            if default is not ...:
                return default
            raise ProtocolError(f"'{self.type}' message lacks the field '{name}'.")
        value = self.fields[name]
        if isinstance(value, bool) and kind in (int, float):
            raise ProtocolError(f"field '{name}' of '{self.type}' must be {kind.__name__}")
        if not isinstance(value, kind):
            names = kind.__name__ if isinstance(kind, type) else "/".join(k.__name__ for k in kind)
            raise ProtocolError(
                f"field '{name}' of '{self.type}' must be {names}, got {type(value).__name__}."
            )
        return value


def encode(packet: Packet) -> list[bytes | memoryview]:
    """The frame for `packet` as buffers to send one after the other (no payload copy)."""
    specs, buffers, total = [], [], 0
    for name, arr in packet.arrays.items():
        a = np.asarray(arr)
        if not a.flags.c_contiguous:
            a = np.ascontiguousarray(a)  # (keeps 0-d arrays 0-d, unlike calling it always)
        if a.dtype.byteorder == ">" or (a.dtype.byteorder == "=" and not _little()):
            a = a.astype(a.dtype.newbyteorder("<"))
        dt = a.dtype.str
        if dt not in ALLOWED_DTYPES:
            raise ProtocolError(
                f"array '{name}' has dtype {dt}, which the protocol does not carry.",
                code="bad_request",
            )
        specs.append([name, dt, list(a.shape)])
        if a.nbytes:
            buffers.append(a.data.cast("B"))
        total += a.nbytes
    header = msgpack.packb(
        {"type": packet.type, "v": packet.version, "fields": packet.fields, "arrays": specs},
        use_bin_type=True,
    )
    if len(header) > MAX_HEADER_BYTES:
        raise ProtocolError(
            f"'{packet.type}' header is {len(header)} bytes, over the limit.", code="too_large"
        )
    return [_PREFIX.pack(MAGIC, len(header), total), header, *buffers]


def _little() -> bool:
    import sys

    return sys.byteorder == "little"


def send_packet(sock: socket.socket, packet: Packet) -> None:
    """Write one frame; a closed or broken connection raises ConnectionLost."""
    try:
        for buf in encode(packet):
            sock.sendall(buf)
    except (OSError, ValueError) as exc:
        raise ConnectionLost(f"connection lost while sending '{packet.type}': {exc}") from exc


class Readable(Protocol):
    """What reading frames needs of a connection (a socket, or a wrapper that watches it)."""

    def recv_into(self, buffer: memoryview, nbytes: int) -> int: ...

    def settimeout(self, value: float | None) -> None: ...


def recv_exact(sock: Readable, n: int, deadline: float | None = None) -> bytearray:
    """`n` bytes from `sock`. With `deadline` (a `time.monotonic()` value) the whole read must
    end by then, however the bytes trickle in; without it the socket's timeout applies per read.
    """
    buf = bytearray(n)
    view = memoryview(buf)
    got = 0
    while got < n:
        try:
            if deadline is not None:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError
                sock.settimeout(left)
            k = sock.recv_into(view[got:], min(n - got, 1 << 20))
        except TimeoutError as exc:
            if deadline is not None:
                raise ConnectionLost("the other side did not finish its message in time") from exc
            raise ConnectionLost("the connection timed out (no data from the other side)") from exc
        except ConnectionResetError as exc:
            raise ConnectionLost("the other side closed the connection (reset)") from exc
        except OSError as exc:
            raise ConnectionLost(f"connection lost: {exc}") from exc
        if k == 0:
            raise ConnectionLost("the other side closed the connection")
        got += k
    return buf


def recv_packet(
    sock: Readable,
    max_payload: int = MAX_PAYLOAD_BYTES,
    *,
    max_header: int = MAX_HEADER_BYTES,
    deadline: float | None = None,
) -> Packet:
    """Read and validate one frame. Raises ProtocolError (bad frame) or ConnectionLost.
    Sizes over `max_header` / `max_payload` are refused before anything is allocated for them;
    `deadline` bounds the whole frame (see `recv_exact`)."""
    magic, hlen, plen = _PREFIX.unpack(recv_exact(sock, PREFIX_SIZE, deadline))
    if magic != MAGIC:
        raise ProtocolError(
            "not a vidihand protocol frame (bad magic bytes).",
            hint="Is the port a `vidihand serve` server, and is the client of the same release?",
        )
    if hlen > max_header:
        raise ProtocolError(
            f"header of {hlen} bytes is over the {max_header}-byte limit.", code="too_large"
        )
    if plen > max_payload:
        raise ProtocolError(
            f"payload of {plen} bytes is over the {max_payload}-byte limit.", code="too_large"
        )
    header_bytes = recv_exact(sock, hlen, deadline)
    payload = recv_exact(sock, plen, deadline) if plen else bytearray()
    return decode(bytes(header_bytes), payload)


def decode(header_bytes: bytes, payload: bytes | bytearray) -> Packet:
    """Rebuild a Packet from a header and payload, checking every declared size."""
    try:
        header = msgpack.unpackb(header_bytes, raw=False, strict_map_key=True, use_list=True)
    except Exception as exc:  # msgpack raises several unrelated types on bad input
        raise ProtocolError(
            f"the message header is not valid msgpack ({type(exc).__name__})."
        ) from None
    if not isinstance(header, dict):
        raise ProtocolError("the message header must be a map.")
    mtype, version = header.get("type"), header.get("v")
    fields_, specs = header.get("fields", {}), header.get("arrays", [])
    if not isinstance(mtype, str) or not mtype:
        raise ProtocolError("the message has no type.")
    if not isinstance(version, int) or isinstance(version, bool):
        raise ProtocolError("the message has no protocol version.")
    if not isinstance(fields_, dict) or not isinstance(specs, list):
        raise ProtocolError("message fields must be a map and arrays a list.")
    arrays: dict[str, np.ndarray] = {}
    offset = 0
    for spec in specs:
        name, dt, shape = _check_spec(spec)
        if name in arrays:
            raise ProtocolError(f"array '{name}' appears twice.")
        dtype = np.dtype(dt)
        # Python ints: a product like 2**32 * 2**32 must not wrap around to a small number
        count = math.prod(shape)
        nbytes = count * dtype.itemsize
        if offset + nbytes > len(payload):
            raise ProtocolError("the arrays declared in the header do not fit the payload.")
        arr = np.frombuffer(payload, dtype=dtype, count=count, offset=offset).reshape(shape)
        arrays[name] = arr
        offset += nbytes
    if offset != len(payload):
        raise ProtocolError("the payload is longer than the arrays the header declares.")
    return Packet(mtype, fields_, arrays, version)


def _check_spec(spec: Any) -> tuple[str, str, tuple[int, ...]]:
    if not (isinstance(spec, list) and len(spec) == 3):
        raise ProtocolError("an array entry must be [name, dtype, shape].")
    name, dt, shape = spec
    if not isinstance(name, str) or not name or len(name) > 64:
        raise ProtocolError("an array name must be a short string.")
    if dt not in ALLOWED_DTYPES:
        raise ProtocolError(f"array '{name}' has dtype {dt!r}, which the protocol does not carry.")
    if not isinstance(shape, list) or len(shape) > MAX_NDIM:
        raise ProtocolError(f"array '{name}' has a malformed shape.")
    if not all(isinstance(s, int) and not isinstance(s, bool) and 0 <= s < 1 << 40 for s in shape):
        raise ProtocolError(f"array '{name}' has a malformed shape.")
    return name, dt, tuple(shape)


def error_packet(code: str, message: str, hint: str | None = None) -> Packet:
    return Packet("error", {"code": code, "message": message, "hint": hint or ""})


def raise_if_error(packet: Packet, expected: str | tuple[str, ...]) -> Packet:
    """Turn an `error` reply into ServerError; refuse a reply of an unexpected type."""
    if packet.type == "error":
        code = str(packet.fields.get("code", "internal"))
        hint = str(packet.fields.get("hint") or "") or None
        raise ServerError(
            code,
            f"the server refused the request ({code}): {packet.fields.get('message', '')}",
            hint=hint,
        )
    wanted = (expected,) if isinstance(expected, str) else expected
    if packet.type not in wanted:
        raise ProtocolError(f"expected a '{'/'.join(wanted)}' reply, got '{packet.type}'.")
    return packet
