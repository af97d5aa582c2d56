"""A real HTTP endpoint for outbox deliveries (back-channel logout, webhooks) in tests.

It answers ``fail_status`` to the first ``failures`` requests, then ``ok_status``, and keeps
every request it saw.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest


@dataclass(frozen=True)
class Call:
    status: int
    headers: dict[str, str]
    body: bytes


@dataclass
class Receiver:
    url: str = ""
    failures: int = 0
    fail_status: int = 503
    ok_status: int = 200
    calls: list[Call] = field(default_factory=list)

    @property
    def statuses(self) -> list[int]:
        return [c.status for c in self.calls]

    @property
    def delivered(self) -> list[Call]:
        return [c for c in self.calls if c.status < 300]


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    state = Receiver()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # http.server's hook name
            body = self.rfile.read(int(self.headers.get("content-length") or 0))
            status = state.fail_status if len(state.calls) < state.failures else state.ok_status
            headers = {k.lower(): v for k, v in self.headers.items()}
            state.calls.append(Call(status, headers, body))
            self.send_response(status)
            self.send_header("cache-control", "no-store")
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = HTTPServer(("127.0.0.1", port), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    state.url = f"http://127.0.0.1:{port}/receive"
    yield state
    server.shutdown()
    server.server_close()
