"""What the kernel holds for a socket: queue sizes, buffer sizes, TCP_INFO.

Linux only; elsewhere every reader returns None, which the UI shows as n/a.
"""

from __future__ import annotations

import fcntl
import socket
import struct
import sys

from shaper.stats import KernelStats

SIOCINQ = 0x541B  # unread bytes in the receive queue
SIOCOUTQ = 0x5411  # unsent + unacknowledged bytes in the send queue
_INT = struct.Struct("i")
# struct tcp_info (linux/tcp.h): 8 bytes of u8 fields, then u32 fields;
# rtt is the 16th u32 (offset 68), snd_cwnd the 19th (offset 80).
_TCP_INFO_LEN = 104
_RTT_OFFSET = 68
_CWND_OFFSET = 80
LINUX = sys.platform.startswith("linux")


def _ioctl_int(fd: int, request: int) -> int | None:
    try:
        return _INT.unpack(fcntl.ioctl(fd, request, b"\0\0\0\0"))[0]
    except OSError:
        return None


def set_buffers(sock: socket.socket, rcvbuf: int | None, sndbuf: int | None) -> None:
    """Set SO_RCVBUF / SO_SNDBUF (None leaves the OS default and its autotuning)."""
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


def read_kernel(sock: socket.socket | None, tcp_info: bool = True) -> KernelStats:
    if sock is None or not LINUX:
        return KernelStats()
    try:
        fd = sock.fileno()
    except OSError:
        return KernelStats()
    if fd < 0:
        return KernelStats()
    rtt = cwnd = None
    if tcp_info:
        try:
            raw = sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, _TCP_INFO_LEN)
            if len(raw) >= _CWND_OFFSET + 4:
                rtt = struct.unpack_from("I", raw, _RTT_OFFSET)[0]
                cwnd = struct.unpack_from("I", raw, _CWND_OFFSET)[0]
        except OSError:
            pass
    try:
        rcvbuf = sock.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF)
        sndbuf = sock.getsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF)
    except OSError:
        rcvbuf = sndbuf = None
    return KernelStats(
        rx_queue=_ioctl_int(fd, SIOCINQ),
        tx_queue=_ioctl_int(fd, SIOCOUTQ),
        rcvbuf=rcvbuf,
        sndbuf=sndbuf,
        rtt_us=rtt,
        cwnd=cwnd,
    )
