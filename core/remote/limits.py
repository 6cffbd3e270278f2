"""What a connection may cost the server before it has shown the token, and how the accept
loop keeps going when the process runs out of something.

Anyone who can reach the port can open connections; only token holders should be able to make
the server do work or hold memory. So, before `hello` is accepted:

- the whole handshake has one deadline (`handshake_timeout_s`), however slowly bytes trickle in;
- the hello frame is small (`MAX_HELLO_BYTES` of header, no payload): a larger declared size is
  refused from the 16-byte prefix, before anything is allocated for it;
- connections still in their handshake ("pending") are counted per server and per peer address;
  a new one over either limit sheds the OLDEST pending one (a real client finishes its hello in
  milliseconds, so the oldest pending connections are the idle or slow ones);
- the accept loop survives every error (out of file descriptors, a thread that cannot start):
  it sheds the oldest pending connection, waits a little (doubling, capped) and accepts again.

See docs/remote.md, "Limits and refusals".
"""

from __future__ import annotations

import argparse
import errno
import logging
import socket
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass

from core.errors import VidihandError

log = logging.getLogger("vidihand.remote")

#: the largest hello header accepted (a real one is about 100 bytes: token and client name)
MAX_HELLO_BYTES = 4096

#: accept() errors that mean "out of a resource for now" (shedding a pending connection helps)
RESOURCE_ERRNOS = frozenset({errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM})


@dataclass
class Limits:
    """The server's limits on connections and partial uploads (`ServerConfig.limits`)."""

    #: seconds from accept to a complete hello; slower connections are dropped
    handshake_timeout_s: float = 10.0
    #: connections that have not yet authenticated, in all and from one peer address
    max_pending: int = 64
    max_pending_per_address: int = 32
    #: an upload whose connection received nothing for this long may be taken over
    upload_stall_s: float = 15.0
    #: unfinished uploads (`<sha>.part`) untouched for this long are deleted
    partial_ttl_s: float = 24 * 3600.0
    #: total bytes of unfinished uploads; None: twice the largest upload
    max_partial_bytes: int | None = None


class PendingConnections:
    """Connections accepted but not yet authenticated, oldest first. Thread-safe."""

    def __init__(self, max_total: int, max_per_address: int) -> None:
        self.max_total = max(1, max_total)
        self.max_per_address = max(1, max_per_address)
        self._pending: OrderedDict[socket.socket, str] = OrderedDict()
        self._lock = threading.Lock()
        self.shed = 0  #: connections dropped to make room, since start

    def __len__(self) -> int:
        with self._lock:
            return len(self._pending)

    def admit(self, conn: socket.socket, address: str) -> None:
        """Count `conn` as pending; over a limit, the oldest pending connection (from the same
        address when that limit is the one reached) is shut down to make room."""
        victims = []
        with self._lock:
            same = [c for c, a in self._pending.items() if a == address]
            if len(same) >= self.max_per_address:
                victims.append((same[0], self._pending.pop(same[0])))
            while len(self._pending) >= self.max_total:
                victims.append(self._pending.popitem(last=False))
            self._pending[conn] = address
        for victim, where in victims:
            self._drop(victim, where, "too many connections waiting for their handshake")

    def shed_oldest(self, why: str) -> bool:
        """Drop the oldest pending connection (to free a file descriptor); False if none."""
        with self._lock:
            if not self._pending:
                return False
            victim, where = self._pending.popitem(last=False)
        self._drop(victim, where, why)
        return True

    def done(self, conn: socket.socket) -> None:
        """`conn` authenticated or closed: it no longer counts."""
        with self._lock:
            self._pending.pop(conn, None)

    def _drop(self, conn: socket.socket, where: str, why: str) -> None:
        # shutdown, not close: the connection's thread is blocked reading it; shutdown wakes it
        # (the read sees end-of-file) and that thread closes the socket as usual
        self.shed += 1
        log.debug("%s: dropped before authentication: %s", where, why)
        try:
            conn.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass


class AcceptBackoff:
    """How long the accept loop waits after a failure: 10 ms doubling to 1 s, reset on success.
    Logs a warning at most every `log_every` seconds, with the failures since the last one: a
    flood that keeps the process at its file limit must not flood the log as well."""

    def __init__(self, first: float = 0.01, cap: float = 1.0, log_every: float = 10.0) -> None:
        self.first, self.cap, self.log_every = first, cap, log_every
        self._delay = 0.0
        self._unlogged = 0  #: failures not yet reported
        self._logged_at = -float("inf")

    def failed(self, what: str, exc: BaseException) -> float:
        """Record a failure; returns the seconds to wait before the next accept."""
        self._unlogged += 1
        now = time.monotonic()
        if now - self._logged_at >= self.log_every:
            more = (
                f" ({self._unlogged - 1} more since the last report)" if self._unlogged > 1 else ""
            )
            log.warning("%s failed (%s); retrying with backoff%s", what, exc, more)
            self._logged_at, self._unlogged = now, 0
        self._delay = min(self.cap, self._delay * 2 if self._delay else self.first)
        return self._delay

    def succeeded(self) -> None:
        if self._delay:
            log.debug("accepting connections again")
        self._delay = 0.0


def is_resource_error(exc: BaseException) -> bool:
    """True for errors a dropped connection can cure (file descriptors, buffers, threads)."""
    if isinstance(exc, OSError):
        return exc.errno in RESOURCE_ERRNOS
    return isinstance(exc, RuntimeError)  # "can't start new thread"


def add_limit_arguments(parser: argparse.ArgumentParser) -> None:
    """The `vidihand serve` options that set `Limits` (defaults from the dataclass)."""
    d = Limits()
    g = parser.add_argument_group("limits (see docs/remote.md, 'Limits and refusals')")
    g.add_argument(
        "--handshake-timeout",
        type=float,
        default=d.handshake_timeout_s,
        metavar="S",
        help=f"seconds a new connection has to send its hello (default {d.handshake_timeout_s:g})",
    )
    g.add_argument(
        "--max-pending",
        type=int,
        default=d.max_pending,
        metavar="N",
        help="connections still in their handshake, in all; over it the oldest is dropped "
        f"(default {d.max_pending})",
    )
    g.add_argument(
        "--max-pending-per-address",
        type=int,
        default=d.max_pending_per_address,
        metavar="N",
        help=f"the same, from one address (default {d.max_pending_per_address})",
    )
    g.add_argument(
        "--upload-stall",
        type=float,
        default=d.upload_stall_s,
        metavar="S",
        help="an upload whose connection received nothing for S seconds may be taken over "
        f"(default {d.upload_stall_s:g})",
    )
    g.add_argument(
        "--partial-upload-hours",
        type=float,
        default=d.partial_ttl_s / 3600,
        metavar="H",
        help=f"unfinished uploads are deleted after H idle hours (default {d.partial_ttl_s / 3600:g})",
    )
    g.add_argument(
        "--max-partial-mb",
        type=float,
        metavar="MB",
        help="space for unfinished uploads, all together (default: twice --max-upload-mb)",
    )


def limits_from_args(args: argparse.Namespace) -> Limits:
    """`Limits` from the options of `add_limit_arguments`; a bad value is a VidihandError."""
    for name in ("handshake_timeout", "upload_stall", "partial_upload_hours", "max_partial_mb"):
        value = getattr(args, name)
        if value is not None and not value > 0:  # (also refuses NaN)
            flag = "--" + name.replace("_", "-")
            raise VidihandError(f"{flag} must be a positive number, got {value}.")
    return Limits(
        handshake_timeout_s=args.handshake_timeout,
        max_pending=max(1, args.max_pending),
        max_pending_per_address=max(1, args.max_pending_per_address),
        upload_stall_s=args.upload_stall,
        partial_ttl_s=args.partial_upload_hours * 3600,
        max_partial_bytes=None
        if args.max_partial_mb is None
        else int(args.max_partial_mb * (1 << 20)),
    )
