"""A fault-injecting HTTP proxy in front of the S3 server on 127.0.0.1 (a test helper, stdlib only).

Point ``ANALYTICS_S3_ENDPOINT_URL`` at ``proxy.endpoint``; every request is forwarded unchanged to
the real server unless a fault says otherwise:

- ``proxy.down()`` / ``proxy.up()``: the port refuses connections (a server that is down), then
  listens again on the same port;
- ``proxy.delay = 0.5``: every response is held back that many seconds (a slow server);
- ``proxy.fail(methods, status, every=..., nth=..., fraction=..., path=...)``: matching requests get an
  S3 error response (500 InternalError, 503 SlowDown/ServiceUnavailable) instead of reaching the
  server — always, the nth match only, every k-th match, or a seeded random fraction.

``proxy.injected`` counts the faults injected, ``proxy.requests`` the requests seen (per method).
"""

from __future__ import annotations

import http.client
import random
import re
import socket
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

_CODES = {500: ("InternalError", "We encountered an internal error. Please try again."),
          503: ("SlowDown", "Please reduce your request rate.")}
_HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "proxy-connection", "te", "trailer", "upgrade"}


@dataclass
class Fault:
    methods: set[str]
    status: int
    path: re.Pattern | None = None
    nth: int | None = None          # only the nth matching request (1-based)
    every: int | None = None        # every k-th matching request
    fraction: float | None = None   # a seeded random share of matching requests
    seen: int = 0
    rng: random.Random = field(default_factory=lambda: random.Random(6))

    def hits(self, method: str, path: str) -> bool:
        if method not in self.methods or (self.path is not None and not self.path.search(path)):
            return False
        self.seen += 1
        if self.nth is not None:
            return self.seen == self.nth
        if self.every is not None:
            return self.seen % self.every == 0
        if self.fraction is not None:
            return self.rng.random() < self.fraction
        return True


class FaultProxy:
    def __init__(self, upstream: str):
        self.upstream = urlsplit(upstream)
        self.delay = 0.0
        self.faults: list[Fault] = []
        self.injected = Counter()
        self.requests = Counter()
        self._lock = threading.Lock()
        self._connections: set = set()
        self._server = self._listen(0)
        self.port = self._server.server_address[1]
        self.endpoint = f"http://127.0.0.1:{self.port}"

    # -- faults
    def fail(self, methods: str | set[str], status: int = 503, *, path: str | None = None, nth: int | None = None,
             every: int | None = None, fraction: float | None = None) -> Fault:
        fault = Fault({methods} if isinstance(methods, str) else set(methods), status,
                      re.compile(path) if path else None, nth, every, fraction)
        with self._lock:
            self.faults.append(fault)
        return fault

    def heal(self) -> None:
        with self._lock:
            self.faults.clear()
        self.delay = 0.0

    def down(self) -> None:
        """Refuse new connections and cut the open ones (clients keep pooled connections alive)."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        with self._lock:
            for connection in list(self._connections):
                try:
                    connection.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def up(self) -> None:
        if self._server is None:
            self._server = self._listen(self.port)

    def close(self) -> None:
        self.down()

    # -- plumbing
    def _listen(self, port: int) -> ThreadingHTTPServer:
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            # headers and body go out in two writes: with Nagle's algorithm the body waited for the client's
            # delayed ACK of the headers, 40 ms on every GET with a body
            disable_nagle_algorithm = True

            def log_message(self, *args):
                pass

            def setup(self):
                super().setup()
                with proxy._lock:
                    proxy._connections.add(self.connection)

            def finish(self):
                with proxy._lock:
                    proxy._connections.discard(self.connection)
                try:
                    super().finish()
                except OSError:
                    pass

            def _handle(self):
                body = self._body()
                with proxy._lock:
                    proxy.requests[self.command] += 1
                    fault = next((f for f in proxy.faults if f.hits(self.command, self.path)), None)
                    if fault:
                        proxy.injected[f"{self.command} {fault.status}"] += 1
                if proxy.delay:
                    time.sleep(proxy.delay)
                if fault:
                    return self._error(fault.status)
                status, headers, payload = proxy._forward(self.command, self.path, self.headers, body)
                self.send_response(status)
                for name, value in headers:
                    if name.lower() not in _HOP_BY_HOP and name.lower() != "content-length":
                        self.send_header(name, value)
                length = dict((k.lower(), v) for k, v in headers).get("content-length", "0")
                self.send_header("Content-Length", length if self.command == "HEAD" else str(len(payload)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(payload)

            def _body(self) -> bytes:
                if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
                    chunks = []
                    while True:
                        size = int(self.rfile.readline().split(b";")[0], 16)
                        if size == 0:
                            while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                                pass
                            return b"".join(chunks)
                        chunks.append(self.rfile.read(size))
                        self.rfile.readline()
                length = int(self.headers.get("Content-Length") or 0)
                return self.rfile.read(length) if length else b""

            def _error(self, status: int):
                code, message = _CODES.get(status, ("InternalError", "injected fault"))
                payload = (f'<?xml version="1.0" encoding="UTF-8"?><Error><Code>{code}</Code>'
                           f"<Message>{message}</Message><RequestId>fault</RequestId></Error>").encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/xml")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(payload)

            do_GET = do_PUT = do_POST = do_HEAD = do_DELETE = _handle

        server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        server.daemon_threads = True
        threading.Thread(target=server.serve_forever, daemon=True).start()
        return server

    def _forward(self, method: str, path: str, headers, body: bytes):
        connection = http.client.HTTPConnection(self.upstream.hostname, self.upstream.port, timeout=60)
        try:
            forwarded = {k: v for k, v in headers.items() if k.lower() not in _HOP_BY_HOP}
            if body or method in ("PUT", "POST"):
                forwarded["Content-Length"] = str(len(body))
            connection.request(method, path, body=body or None, headers=forwarded)
            response = connection.getresponse()
            return response.status, response.getheaders(), response.read()
        finally:
            connection.close()
