"""Medians, ratios and the markdown page of a fidelity run."""

from __future__ import annotations

from bench.common import median
from bench.fidelity import selftest


def summarize(runs: list[dict]) -> dict:
    return {
        "ttfb": median([r["ttfb"] for r in runs]),
        "total": median([r["total"] for r in runs]),
        "connect": median([r["connect"] for r in runs]),
    }


def paired_ratio(ref_runs: list[dict], sh_runs: list[dict]) -> float | None:
    """Median over the seeds run on both sides of shaper ÷ reference (a lossy case loses
    the same packets on both sides for the same seed, see paired_loss.py)."""
    ref = {r["seed"]: r["total"] for r in ref_runs if "seed" in r}
    ratios = [r["total"] / ref[r["seed"]] for r in sh_runs if r.get("seed") in ref]
    return median(ratios) if ratios else None


def _run_ms(run: dict) -> str:
    """A run's total; * marks one under the machine's TCP memory pressure."""
    calm = run.get("tcp_memory", {}).get("calm", True)
    return ms(run["total"]) + ("" if calm else "*")


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.0f}"


def _drops(runs: list[dict]) -> str:
    down = [r["path"]["down"]["dropped"] for r in runs]
    up = [r["path"]["up"]["dropped"] for r in runs]
    text = f"{median(down):g} / {median(up):g}"
    lost_down = [r["path"]["down"].get("lost", 0) for r in runs]
    lost_up = [r["path"]["up"].get("lost", 0) for r in runs]
    if any(lost_down) or any(lost_up):
        text += f"; lost {median(lost_down):g} / {median(lost_up):g}"
    return text


def table(results: dict) -> str:
    m = results["machine"]
    cc = results["congestion_control"]
    lines = [
        "# Fidelity: shaper against a packet-level reference",
        "",
        f"Machine: {m['cpu']}, {m['cores']} cores, Linux {m['kernel']}, Python {m['python']}; "
        f"{m['date']}; revision {m['revision']}; load average (1 min) at start / end "
        f"{m['loadavg_at_start']:.2f} / {m['loadavg_at_end']:.2f}"
        + (" (--quick: smoke run, not the benchmark)" if results["quick"] else ""),
        "",
        f"Each case {results['runs']}× per side, reference and shaper runs interleaved "
        "(alternating which goes first), medians; times in ms; ratio = shaper ÷ reference. "
        "Reference: curl in one network namespace, the server in another, every IP packet "
        "through a drop-tail byte queue, a rate clock and a one-way delay per direction "
        "(the mm-link + mm-delay model), real kernel TCP end to end. Shaper: the same "
        "server and curl on 127.0.0.1 with `shaper serve` between them, same rates, "
        "delays and queues. TTFB = curl's time_starttransfer (from the start, so it "
        "includes the connection set-up).",
        "",
        "Congestion control: reference server "
        f"**{cc['reference_server']}** (set on the listening socket, checked on every "
        f"accepted one), reference client {cc['reference_client']} (the namespace's "
        f"default; it only sends requests and ACKs); shaper side: server "
        f"{cc['shaper_server']}, curl and shaper's own sockets {cc['shaper_client']} (the "
        "default here; all on loopback, where the emulated path is shaper's).",
        "",
        "| case | path (down/up) | ref TTFB | ref total | shaper TTFB | shaper total "
        "| TTFB ratio | total ratio | ref queue drops down / up (; lost to the loss model) |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for c in results["cases"]:
        if "error" in c:
            lines.append(f"| {c['name']} | {c['path']} | error: {c['error']} ||||||")
            continue
        ref = c["reference"]
        if "shaper_error" in c:
            lines.append(
                f"| {c['name']} | {c['path']} | {ms(ref['ttfb'])} | {ms(ref['total'])} "
                f"| shaper side unavailable: {c['shaper_error']} |||| "
                f"{_drops(c['reference_runs'])} |"
            )
            continue
        sh = c["shaper"]
        lines.append(
            f"| {c['name']} | {c['path']} | {ms(ref['ttfb'])} | {ms(ref['total'])} "
            f"| {ms(sh['ttfb'])} | {ms(sh['total'])} | {c['ratio_ttfb']:.2f}× "
            f"| {c['ratio_total']:.2f}× | {_drops(c['reference_runs'])} |"
        )
    lines += [
        "",
        "Every run (total, ms): reference | shaper; lossy cases also give the median over "
        "seeds of shaper ÷ reference for the same seed (both sides lost the same packets); "
        "* marks a run that started or ended under TCP memory pressure",
        "",
    ]
    for c in results["cases"]:
        if "error" in c:
            continue
        ref = ", ".join(_run_ms(r) for r in c["reference_runs"])
        sh = ", ".join(_run_ms(r) for r in c["shaper_runs"]) or "-"
        extra = ""
        if c.get("ratio_total_paired") is not None:
            extra = f" (paired: {c['ratio_total_paired']:.2f}×)"
        queued = [
            r["queued_at_start"]["down_bytes"]
            for r in c["reference_runs"]
            if "queued_at_start" in r
        ]
        if queued:
            extra = f" (reference down queue when the timed GET started: {median(queued):.0f} B)"
        if c["workload"]["kind"] == "parallel":
            conns = c["reference_runs"][0]["connections"]
            extra = f" ({conns} connections; first of them done, reference median " + (
                f"{ms(median([r['first_total'] for r in c['reference_runs']]))} ms)"
            )
        lines.append(f"- {c['name']}: {ref} | {sh}{extra}")
    lines += [
        "",
        "Reading the figures:",
        "",
        "- The reference's link carries IP packets: 1500 bytes on the link for 1448 bytes "
        "of payload (IPv4, TCP, timestamps), and the ACKs use the uplink; shaper's rate "
        "counts payload bytes. On a long transfer that alone makes shaper ~3.5 % faster.",
        "- The reference serializes a whole packet before its delay starts (store and "
        "forward), so its TTFB includes one full packet's time at the down rate "
        "(7.5 ms at 1.6 Mbit/s).",
        "- Loss (the loss cases): each packet is lost on arrival with the given probability, "
        "independently, or in runs of the given mean length (Gilbert's two states) at the "
        "same average; per direction, seeded: run i uses seed i on both sides, and the "
        "reference draws its SYN, SYN-ACK and new data packets from the engine's own loss "
        "streams for that seed, so both sides lose the same packets of the stream (ACKs "
        "and retransmissions draw from streams of each side's own). "
        "Traces: the link delivers at the trace's opportunities (1500 bytes each, looping, "
        "as mm-link), restarted from the first line at every run.",
        "- bulk + small: the queue is what the bulk download's CUBIC has built when the "
        "timed GET starts (the figure above), not the full 2 MiB: HyStart leaves slow start "
        "early on this 20 ms path and congestion avoidance then adds only ~50 KB/s.",
    ]
    st = results.get("selftest")
    if st is not None:
        lines += ["", "Forwarder self-test (20 Mbit/s, 50 ms each way, 256 KiB queues):", ""]
        if "error" in st:
            lines.append(f"- error: {st['error']}")
        else:
            lines += [f"- {line}" for line in selftest.summary(st)]
    return "\n".join(lines) + "\n"
