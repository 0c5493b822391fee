"""The HTTP server of both sides: GET /N answers N bytes. Python's http.server, threaded,
HTTP/1.1 with Content-Length, CUBIC on the listening socket (accepted sockets inherit
it; each response names the accepted socket's algorithm in an X-TCP-CC header so the
bench can check it from curl).

Run as `python -m bench.fidelity.server --host H --port P`; prints {"port": ..., "cc": ...}
on stdout once listening."""

from __future__ import annotations

import argparse
import contextlib
import json
import socket
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

TCP_CONGESTION = getattr(socket, "TCP_CONGESTION", 13)
CC = b"cubic"  # Linux's default sender; this kernel's default (BBR) behaves very differently
CHUNK = 64 * 1024
BLOCK = bytes(CHUNK)
MAX_BODY = 1 << 30


def congestion_control(sock: socket.socket) -> str:
    return sock.getsockopt(socket.IPPROTO_TCP, TCP_CONGESTION, 16).rstrip(b"\0").decode()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def setup(self) -> None:
        super().setup()
        # Headers and body leave in one send; NODELAY so the tail of a response is not
        # held for an ACK (Nagle) -- as nginx and most servers run.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def do_GET(self) -> None:  # noqa: N802 (http.server's name)
        try:
            size = int(self.path.lstrip("/").split("?", 1)[0])
            if not 0 <= size <= MAX_BODY:
                raise ValueError
        except ValueError:
            self.send_error(404)
            return
        head = (
            "HTTP/1.1 200 OK\r\n"
            "Content-Type: application/octet-stream\r\n"
            f"Content-Length: {size}\r\n"
            f"X-TCP-CC: {congestion_control(self.connection)}\r\n"
            "\r\n"
        ).encode()
        first = min(size, CHUNK - len(head))
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            self.wfile.write(head + BLOCK[:first])
            left = size - first
            while left > 0:
                n = min(left, CHUNK)
                self.wfile.write(BLOCK[:n])
                left -= n

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        pass


class Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128

    def server_bind(self) -> None:
        self.socket.setsockopt(socket.IPPROTO_TCP, TCP_CONGESTION, CC)
        super().server_bind()

    def handle_error(self, request: object, client_address: object) -> None:
        pass  # a client that went away (the bulk download is killed on purpose)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="bench.fidelity.server")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=0)
    a = p.parse_args(argv)
    server = Server((a.host, a.port), Handler)
    info = {"port": server.server_address[1], "cc": congestion_control(server.socket)}
    sys.stdout.write(json.dumps(info) + "\n")
    sys.stdout.flush()
    with contextlib.suppress(KeyboardInterrupt):
        server.serve_forever(poll_interval=0.5)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
