"""A receiver that does not read blocks the sender, and the proxy holds only its bound."""

from __future__ import annotations

import asyncio
import hashlib
import os
import socket

import pytest

import shaper
from shaper.model.snapshots import BACKPRESSURED, BLOCKED

SOCKBUF = 16 * 1024
QUEUE = 64 * 1024


def effective(sock: socket.socket, option: int) -> int:
    return sock.getsockopt(socket.SOL_SOCKET, option)


async def push_until_blocked(sock: socket.socket, payload: bytes, quiet: float = 0.5) -> int:
    """Write without blocking until the sender has been unable to write for `quiet` seconds."""
    loop = asyncio.get_running_loop()
    sent = 0
    last_progress = loop.time()
    while loop.time() - last_progress < quiet and sent < len(payload):
        try:
            n = sock.send(payload[sent : sent + 65536])
            sent += n
            last_progress = loop.time()
        except BlockingIOError:
            await asyncio.sleep(0.01)
    return sent


@pytest.mark.timeout(30)
@pytest.mark.parametrize(
    "limits",
    [
        {},
        {"rate": "8Mbit", "latency": "20ms", "tcp": "off"},
        {"rate": "8Mbit", "latency": "20ms"},  # the emulated sender's window holds less
    ],
    ids=["unshaped", "paced", "emulated-tcp"],
)
async def test_sender_blocks_at_the_configured_bound_and_nothing_is_lost(limits):
    listener = socket.socket()
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, SOCKBUF)
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    listener.setblocking(False)
    loop = asyncio.get_running_loop()
    payload = os.urandom(1024 * 1024)
    async with shaper.open_proxy(
        upstream=listener.getsockname(), buffer=f"{QUEUE}B", sockbuf=f"{SOCKBUF}B", **limits
    ) as proxy:
        sender = socket.socket()
        sender.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, SOCKBUF)
        sender.setblocking(False)
        await loop.sock_connect(sender, proxy.address)
        receiver, _ = await asyncio.wait_for(loop.sock_accept(listener), 5)
        try:
            sent = await push_until_blocked(sender, payload)
            conn = next(iter(proxy.engine.connections.values()))
            snap = (await proxy.stats(connections=True)).connections[0]
            up = snap.upstream
            # Unshaped, the proxy reads whole chunks (no copy) and may hold one read past
            # the queue; a read is at most what the kernel held, its receive buffer.
            one_read = 0 if limits else effective(conn.client.sock, socket.SO_RCVBUF)
            # rate x latency, plus a slice: what the wire may hold.
            in_flight = 8_000_000 // 8 * 0.02 + 1500 if limits else 0
            # Everything the sender managed to write is somewhere on the path; no more
            # than the kernel buffers on each leg, the proxy's queue, and what was on the
            # emulated wire when the sink blocked (at most rate x latency).
            bound = (
                one_read
                + in_flight
                + effective(sender, socket.SO_SNDBUF)
                + effective(conn.client.sock, socket.SO_RCVBUF)
                + QUEUE
                + effective(conn.server.sock, socket.SO_SNDBUF)
                + effective(receiver, socket.SO_RCVBUF)
            )
            assert up.wire <= in_flight
            assert sent < len(payload), "the sender never blocked"
            assert sent <= bound, (sent, bound)
            assert up.state in (BACKPRESSURED, BLOCKED)
            held = up.queue + up.wire + up.sink_buffer
            if up.cwnd is None:
                assert sent >= QUEUE
                # Bytes released from the wire may land in the sink buffer on top of the queue.
                assert up.queue + up.sink_buffer <= QUEUE + in_flight + one_read
                assert up.queue + up.sink_buffer >= QUEUE // 2
            else:
                # Nothing was acknowledged (the receiver's kernel took nothing more): the
                # sender's window holds the path, well below the queue bound.
                assert 0 < held <= up.in_flight <= up.cwnd < QUEUE
            # Now read everything: all of it arrives, in order.
            sender.setblocking(True)
            rest = asyncio.create_task(asyncio.to_thread(send_rest, sender, payload, sent))
            received = await asyncio.wait_for(read_all(receiver, len(payload)), 20)
            await rest
            assert hashlib.sha256(received).digest() == hashlib.sha256(payload).digest()
        finally:
            sender.close()
            receiver.close()
            listener.close()


def send_rest(sock: socket.socket, payload: bytes, offset: int) -> None:
    sock.sendall(payload[offset:])
    sock.shutdown(socket.SHUT_WR)


async def read_all(sock: socket.socket, size: int) -> bytes:
    loop = asyncio.get_running_loop()
    chunks = bytearray()
    while len(chunks) < size:
        data = await loop.sock_recv(sock, 1 << 20)
        if not data:
            break
        chunks += data
    return bytes(chunks)
