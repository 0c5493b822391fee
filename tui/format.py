"""Display formatting shared by the widgets: rates, sizes, gauges, limit steps."""

from __future__ import annotations

import time
from typing import Any

from rich.text import Text

from shaper.model import units
from shaper.model.limits import DirectionLimits

# Seconds between the engine snapshots the panels are drawn from. At 10 a second the
# display used 17 % of a core beside an unshaped transfer on two cores (the transfer
# lost as much); at 5 a second, 10 %, and the panels still move with the traffic.
SNAPSHOT_INTERVAL = 0.2

STATE_STYLES = {
    "flowing": "bold green",
    "idle": "dim",
    "backpressured": "bold yellow",
    "blocked": "bold red",
    "stalled": "bold magenta",
    "held": "bold dark_orange",
    "half-closed": "cyan",
    "opening": "blue",
    "closed": "dim",
    "open": "green",
    "connecting": "cyan",
    "closing": "yellow",
}

STATE_HELP = {
    "flowing": "bytes move, nothing is full",
    "idle": "nothing to move",
    "backpressured": "the queue or the sender's window is full: reading from it is paused",
    "blocked": "the receiver is slow: its write buffer is over the high mark",
    "stalled": "stalled by you: nothing is released, the queue fills",
    "held": "a fault (timeout) holds the bytes: nothing is delivered until it is removed",
    "half-closed": "the sender has finished; remaining bytes drain",
    "opening": "the emulated handshake is under way: no byte may go yet",
    "closed": "closed",
}

# asyncio's default high-water mark for a transport's write buffer
SINK_HIGH_WATER = 64 * 1024


# The name of the fault the offline key adds and removes: a timeout in both directions.
OFFLINE = "offline"


def fault_label(fault: dict[str, Any]) -> str:
    """One fault, compactly: 'cut (timeout)', 'flaky 20% (reset_peer)'; a fault named
    after its type is written once ('timeout')."""
    name, type_ = str(fault.get("name", "?")), str(fault.get("type", "?"))
    toxicity = fault.get("toxicity", 1.0)
    share = f" {toxicity * 100:.0f}%" if isinstance(toxicity, int | float) and toxicity < 1 else ""
    kind = "" if name == type_ else f" ({type_})"
    return f"{name}{share}{kind}"


def fault_detail(fault: dict[str, Any]) -> str:
    """One fault in full: where, how often, its settings, how many connections it touches."""
    settings = ", ".join(f"{k}={v}" for k, v in (fault.get("settings") or {}).items())
    line = f"{fault.get('type')} {fault.get('direction')}"
    if fault.get("route"):
        line += f" on route {fault['route']}"
    line += f", toxicity {fault.get('toxicity', 1):g}"
    if settings:
        line += f", {settings}"
    if "connections" in fault:
        line += f"; touching {fault['connections']} open"
    return line


def rate(bytes_per_second: float, bits: bool) -> str:
    return units.human_rate(bytes_per_second, bits=bits)


def size(value: int | float | None) -> str:
    if value is None:
        return "n/a"
    return units.human_bytes(value)


def short_size(value: int | float | None) -> str:
    """Compact size for narrow cells: 64K, 1.5M, 900B."""
    if value is None:
        return "n/a"
    for name, factor in (("G", 1024**3), ("M", 1024**2), ("K", 1024)):
        if value >= factor:
            scaled = value / factor
            return f"{scaled:.1f}{name}" if scaled < 10 else f"{scaled:.0f}{name}"
    return f"{value:.0f}B"


def limit_rate(bits_per_second: int, bits: bool) -> str:
    if not bits_per_second:
        return "off"
    return units.human_rate(bits_per_second / 8, bits=bits)


def trace_rate(limits: DirectionLimits, bits: bool) -> str:
    """The rate limit as shown: a number, or a trace's mean rate marked as such."""
    if limits.trace is None:
        return limit_rate(limits.rate, bits)
    mean = limit_rate(limits.rate, bits) if limits.rate else "?"
    return f"~{mean} (trace)"


def fill_style(fraction: float | None) -> str:
    if fraction is None:
        return "dim"
    if fraction >= 0.85:
        return "red"
    if fraction >= 0.5:
        return "yellow"
    if fraction > 0:
        return "green"
    return "dim green"


def gauge(value: int | None, capacity: int | None, width: int, style: str | None = None) -> Text:
    """A bar of `width` cells, filled by value/capacity, coloured by fill."""
    width = max(width, 1)
    if value is None:
        return Text("·" * width, style="dim")
    if not capacity:
        capacity = max(value, 1)
    fraction = min(value / capacity, 1.0) if capacity else 0.0
    eighths = round(fraction * width * 8)
    if value and eighths == 0:
        eighths = 1
    full, rest = divmod(eighths, 8)
    bar = "█" * full + (" ▏▎▍▌▋▊▉"[rest] if rest else "")
    text = Text(bar, style=style or fill_style(fraction))
    text.append("░" * (width - len(bar)), style="dim")
    return text


def fraction(value: int | None, capacity: int | None) -> float | None:
    if value is None or not capacity:
        return None
    return min(value / capacity, 1.0)


def clock(unix_time: float) -> str:
    return time.strftime("%H:%M:%S", time.localtime(unix_time))


def age(seconds: float) -> str:
    seconds = int(seconds)
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds // 3600}h{(seconds % 3600) // 60:02d}m"


# ---- limits: what the quick keys step through -------------------------------------

STEP_FIELDS = ("rate", "latency", "jitter", "buffer")
FIELD_LABELS = {"rate": "rate", "latency": "lat", "jitter": "jitter", "buffer": "buf"}

_KIB = 1024
RATE_STEPS_BYTES = [
    8 * v * _KIB
    for v in (8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096, 8192, 16384, 65536)
]  # in bits per second: KiB/s and MiB/s steps
RATE_STEPS_BITS = [
    v * 1000 for v in (64, 128, 256, 512, 1000, 2000, 5000, 10000, 20000, 50000, 100000, 1000000)
]
DURATION_STEPS = [
    v * 1000 for v in (0, 1, 2, 5, 10, 20, 40, 50, 100, 200, 500, 1000, 2000)
]
BUFFER_STEPS = [v * _KIB for v in (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096, 16384)]


def step_limit(limits: DirectionLimits, field: str, up: bool, bits: bool) -> str | None:
    """The unit string one step up or down from the current value, or None at the end."""
    if field == "rate":
        steps = RATE_STEPS_BITS if bits else RATE_STEPS_BYTES
        current = limits.rate
        if up:
            if current == 0:
                return None
            bigger = [s for s in steps if s > current]
            return units.format_rate(bigger[0]) if bigger else "off"
        if current == 0:
            return units.format_rate(steps[-1])
        smaller = [s for s in steps if s < current]
        return units.format_rate(smaller[-1]) if smaller else None
    if field in ("latency", "jitter"):
        current = getattr(limits, field)
        candidates = [s for s in DURATION_STEPS if (s > current if up else s < current)]
        if not candidates:
            return None
        return units.format_duration(candidates[0] if up else candidates[-1])
    if field == "buffer":
        current = limits.buffer
        candidates = [s for s in BUFFER_STEPS if (s > current if up else s < current)]
        if not candidates:
            return None
        return units.format_size(candidates[0] if up else candidates[-1])
    raise ValueError(field)


def limits_summary(
    limits: DirectionLimits, bits: bool, selected: str | None = None,
    width: int | None = None, link: bool = True,
) -> Text:
    """One line: rate, latency±jitter, buffer, sockbuf, link, tcp, stall; the selected field
    highlighted. Within `width`: the link and tcp modes show always when they are not the
    defaults (a link per connection, tcp off), and the defaults only where they fit.
    `link=False`: leave the link out (one connection's: its sender line says which)."""
    text = Text()
    parts = [
        ("rate", trace_rate(limits, bits)),
        ("latency", units.format_duration(limits.latency)),
        ("jitter", "±" + units.format_duration(limits.jitter)),
        ("buffer", units.format_size(limits.buffer)),
    ]
    for name, value in parts:
        if text:
            text.append(" ")
        style = "reverse bold" if name == selected else ""
        label = "" if name == "jitter" else f"{FIELD_LABELS[name]} "
        text.append(f"{label}{value}", style=style)
    if limits.sockbuf:
        text.append(f" sock {units.format_size(limits.sockbuf)}")
    modes: list[tuple[str, bool]] = []  # (text, whether it is the default)
    if link:
        shared = limits.link == "shared"
        modes.append(("link shared" if shared else "link per-conn", shared))
    modes.append((f"tcp {limits.tcp}", limits.tcp == "emulated"))
    stall = " STALL " if limits.stall else ""
    room = None if width is None else width - text.cell_len - len(stall)
    for mode, default in modes:
        if not default:
            text.append(f" {mode}", style="bold cyan")
            if room is not None:
                room -= len(mode) + 1
    for mode, default in modes:
        if default and (room is None or len(mode) + 1 <= room):
            text.append(f" {mode}", style="dim")
            if room is not None:
                room -= len(mode) + 1
    if stall:
        text.append(stall, style="bold reverse magenta")
    return text
