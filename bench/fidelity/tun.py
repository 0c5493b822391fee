"""A TUN device made inside a namespace, owned by the file descriptor that made it (the
device disappears when that descriptor closes, so a dead forwarder leaves nothing)."""

from __future__ import annotations

import fcntl
import os
import struct
import subprocess

from bench.fidelity.netns import entered

TUNSETIFF = 0x400454CA
IFF_TUN = 0x0001
IFF_NO_PI = 0x1000  # bare IP packets, no 4-byte header
MTU = 1500
# No IFF_VNET_HDR: without a virtio-net header the device offers no GSO/TSO/checksum
# offload, so the kernel segments and checksums before handing packets over, and every
# read is one IP packet of at most MTU bytes (the self-test checks the largest one seen).


def open_tun(netns: str, name: str, local: str, peer: str) -> int:
    """Make TUN device `name` in `netns`, address it local/peer (point to point), bring it
    up with MTU 1500, and return its non-blocking descriptor."""
    with entered(netns):
        fd = os.open("/dev/net/tun", os.O_RDWR | os.O_NONBLOCK | os.O_CLOEXEC)
        try:
            fcntl.ioctl(fd, TUNSETIFF, struct.pack("16sH22x", name.encode(), IFF_TUN | IFF_NO_PI))
        except OSError:
            os.close(fd)
            raise
    for args in (
        ["addr", "add", local, "peer", peer, "dev", name],
        ["link", "set", "dev", name, "mtu", str(MTU), "up"],
    ):
        subprocess.run(["ip", "-n", netns, *args], check=True, capture_output=True, text=True)
    return fd
