"""What the kernel holds for a socket: queue sizes, buffer sizes, TCP_INFO.

Linux only; elsewhere every reader returns None, which the UI shows as n/a.
"""

from __future__ import annotations

import array
import fcntl
import socket
import struct
import sys

from shaper.model.snapshots import KernelStats

SIOCINQ = 0x541B  # unread bytes in the receive queue
SIOCOUTQ = 0x5411  # unsent + unacknowledged bytes in the send queue
SIOCOUTQNSD = 0x894B  # unsent bytes only
# struct tcp_info (linux/tcp.h): 8 bytes of u8 fields, then u32 fields;
# rtt is the 16th u32 (offset 68), snd_cwnd the 19th (offset 80).
_TCP_INFO_LEN = 104
_RTT_OFFSET = 68
_CWND_OFFSET = 80
LINUX = sys.platform.startswith("linux")


# One int the kernel writes into in place: half the cost of an ioctl returning bytes
# (0.55 against 1.16 us here), which counts at four reads per connection per snapshot.
# Only the engine's loop thread reads, and nothing yields between the call and the read.
_OUT = array.array("i", [0])


def _ioctl_int(fd: int, request: int) -> int | None:
    try:
        fcntl.ioctl(fd, request, _OUT, True)
    except OSError:
        return None
    return _OUT[0]


def set_buffers(sock: socket.socket | None, rcvbuf: int | None, sndbuf: int | None) -> None:
    """Set SO_RCVBUF / SO_SNDBUF (None leaves the OS default and its autotuning).

    No socket (limits changed while the server leg is still being dialed) is left alone;
    the dialer set the sizes in force when it started."""
    if sock is None:
        return
    try:
        if rcvbuf:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        if sndbuf:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, sndbuf)
    except OSError:
        pass


def set_reset_on_close(sock: socket.socket) -> None:
    """SO_LINGER (1, 0): closing sends RST instead of FIN."""
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    except OSError:
        pass


class KernelReader:
    """Reads one socket's kernel state. Queue sizes are read on every call (they move
    with every byte); buffer sizes and TCP_INFO change slowly and are re-read at most
    every `slow_every` seconds, which keeps a snapshot of a thousand connections cheap."""

    __slots__ = ("_sock", "_fd", "_slow", "slow_at", "slow_every", "version")

    def __init__(self, sock: socket.socket | None, slow_every: float = 0.5):
        self._sock = sock
        self._fd = -1
        if sock is not None and LINUX:
            try:
                self._fd = sock.fileno()
            except OSError:
                self._fd = -1
        self._slow: tuple[int | None, int | None, int | None, int | None] = (None,) * 4
        self.slow_at = float("-inf")  # when the slow figures were read
        self.slow_every = slow_every
        # Counts the changes of the slow figures: a resting connection's kept snapshot is
        # good while it is the same (see shaper.engine.resting).
        self.version = 0

    def rx_queue(self) -> int | None:
        """Unread bytes in the receive queue now (None: the OS does not tell)."""
        return _ioctl_int(self._fd, SIOCINQ) if self._fd >= 0 else None

    def tx_queue(self) -> int | None:
        """Unsent or unacknowledged bytes in the send queue now (None: not known)."""
        return _ioctl_int(self._fd, SIOCOUTQ) if self._fd >= 0 else None

    def tx_unsent(self) -> int | None:
        """Bytes of the send queue not sent yet (None: not known). On loopback a byte sent
        is in the peer's receive queue at once, while the acknowledgement that would take
        it out of SIOCOUTQ comes a moment later (right after a write, 5 of 2,000 reads
        of SIOCOUTQ were 0 here)."""
        return _ioctl_int(self._fd, SIOCOUTQNSD) if self._fd >= 0 else None

    def invalidate(self) -> None:
        """Buffer sizes were just changed: re-read them on the next call."""
        self.slow_at = float("-inf")
        self.version += 1

    def refresh_slow(self, now: float) -> None:
        """Re-read buffer sizes and TCP_INFO; `version` moves if any of them changed."""
        sock = self._sock
        if self._fd < 0 or sock is None:
            return
        slow = _read_slow(sock)
        if slow != self._slow:
            self._slow = slow
            self.version += 1
        self.slow_at = now

    def read(self, now: float) -> KernelStats:
        fd, sock = self._fd, self._sock
        if fd < 0 or sock is None:  # a valid fd implies a socket; this says so to mypy
            return EMPTY
        if now - self.slow_at >= self.slow_every:
            self.refresh_slow(now)
        rcvbuf, sndbuf, rtt, cwnd = self._slow
        return KernelStats(
            _ioctl_int(fd, SIOCINQ), _ioctl_int(fd, SIOCOUTQ), rcvbuf, sndbuf, rtt, cwnd
        )


EMPTY = KernelStats()


def _read_slow(sock: socket.socket) -> tuple[int | None, int | None, int | None, int | None]:
    rtt = cwnd = rcvbuf = sndbuf = None
    try:
        raw = sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, _TCP_INFO_LEN)
        if len(raw) >= _CWND_OFFSET + 4:
            rtt = struct.unpack_from("I", raw, _RTT_OFFSET)[0]
            cwnd = struct.unpack_from("I", raw, _CWND_OFFSET)[0]
        rcvbuf = sock.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF)
        sndbuf = sock.getsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF)
    except OSError:
        pass
    return rcvbuf, sndbuf, rtt, cwnd


TCP_CLOSE = 7  # tcp_info.tcpi_state after a reset


def was_reset(sock: socket.socket | None) -> bool:
    """True when the kernel has closed this socket (an RST arrived) but nobody has read
    it yet: a paused reader would otherwise only learn of it when it reads again."""
    if sock is None or not LINUX:
        return False
    try:
        raw = sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 8)
        if not raw or raw[0] != TCP_CLOSE:
            return False
        # CLOSE is also where an orderly close ends (our FIN acknowledged after the peer's),
        # with the peer's last bytes still unread: only a pending error says it was a reset.
        return sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR) != 0
    except OSError:
        return False
