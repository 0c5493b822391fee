"""What the reference needs, checked before anything is made, each with a plain message."""

from __future__ import annotations

import os
import shutil
import subprocess

from bench.fidelity.workloads import CURL


def problems() -> list[str]:
    found = []
    if os.geteuid() != 0:
        found.append("must run as root (it makes network namespaces and TUN devices)")
    if not os.path.exists("/dev/net/tun"):
        found.append("/dev/net/tun is missing (no TUN support: modprobe tun)")
    elif os.geteuid() == 0:
        try:
            os.close(os.open("/dev/net/tun", os.O_RDWR))
        except OSError as exc:
            found.append(f"cannot open /dev/net/tun: {exc.strerror}")
    if not os.access(CURL, os.X_OK):
        found.append(f"curl is missing ({CURL})")
    if shutil.which("ip") is None:
        found.append("the ip command (iproute2) is missing")
    elif os.geteuid() == 0:
        out = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True)
        if out.returncode != 0:
            found.append(f"ip netns does not work here: {out.stderr.strip()}")
    with open("/proc/sys/net/ipv4/tcp_available_congestion_control") as f:
        if "cubic" not in f.read().split():
            found.append("the kernel offers no CUBIC congestion control")
    return found
