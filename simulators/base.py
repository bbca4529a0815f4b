"""The HTTP plumbing shared by the simulators: a real threaded server, requests, fault switches, data files.

A simulator subclasses `SimulatorServer` and implements `handle(request) -> Response`. The server runs
on a background thread (tests, the demo) or in the foreground (`serve_forever`, the management
command). Nothing in here knows about Django; production code never imports this package.
"""

from __future__ import annotations

import contextlib
import functools
import json
import random
import socket
import sys
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit


@functools.cache
def load_data(path: Path) -> Any:
    """A data file next to a simulator (`data/*.json`, or text), read once per process; do not change it."""
    text = path.read_text(encoding="utf-8")
    return json.loads(text) if path.suffix == ".json" else text


class Headers:
    """Case-insensitive, read-only view of request headers."""

    def __init__(self, pairs: list[tuple[str, str]]):
        self._pairs = list(pairs)
        self._map = {k.lower(): v for k, v in self._pairs}

    def get(self, name: str, default: str | None = None) -> str | None:
        return self._map.get(name.lower(), default)

    def items(self) -> list[tuple[str, str]]:
        return list(self._pairs)


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: Headers
    body: bytes
    client: str

    def query_value(self, name: str, default: str | None = None) -> str | None:
        values = self.query.get(name)
        return values[-1] if values else default


@dataclass
class Response:
    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)

    @classmethod
    def json(cls, payload, status: int = 200, headers: dict[str, str] | None = None) -> Response:
        body = json.dumps(payload, ensure_ascii=False).encode("utf-8")
        all_headers = {"Content-Type": "application/json; charset=utf-8"}
        all_headers.update(headers or {})
        return cls(status=status, body=body, headers=all_headers)

    @classmethod
    def text(cls, text: str, status: int = 200, content_type: str = "text/plain; charset=utf-8") -> Response:
        return cls(status=status, body=text.encode("utf-8"), headers={"Content-Type": content_type})


# Returned by `handle` to make the server drop the connection without answering (a crashed peer).
DROP_CONNECTION = Response(status=0)


@dataclass
class Faults:
    """Switches a test or the demo flips to make a simulator misbehave.

    latency: seconds added before every answer; error_rate: share of requests answered with a 5xx;
    outage: answer every request with a 5xx until `outage_until` (or until switched off);
    refuse: drop connections without answering (a dead host behind a load balancer).
    """

    latency: float = 0.0
    error_rate: float = 0.0
    outage: bool = False
    outage_until: float | None = None
    refuse: bool = False

    def in_outage(self) -> bool:
        if self.outage_until is not None:
            if time.time() < self.outage_until:
                return True
            self.outage_until = None
        return self.outage

    def start_outage(self, seconds: float) -> None:
        self.outage_until = time.time() + seconds

    def reset(self) -> None:
        self.latency = 0.0
        self.error_rate = 0.0
        self.outage = False
        self.outage_until = None
        self.refuse = False


@dataclass
class LoggedRequest:
    method: str
    path: str
    status: int
    at: float
    body: bytes


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Headers and body go out in two writes; without TCP_NODELAY, Nagle and delayed ACKs add 40 ms a response.
    disable_nagle_algorithm = True
    server_version = "Simulator/1.0"
    sys_version = ""

    def log_message(self, format, *args):
        pass  # no stderr access log

    def setup(self) -> None:
        super().setup()
        self.server.simulator._connection_opened()  # type: ignore[attr-defined]

    def _dispatch(self) -> None:
        sim: SimulatorServer = self.server.simulator  # type: ignore[attr-defined]
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        parts = urlsplit(self.path)
        request = Request(
            method=self.command,
            path=parts.path,
            query=parse_qs(parts.query, keep_blank_values=True),
            headers=Headers(list(self.headers.items())),
            body=body,
            client=self.client_address[0],
        )
        response = sim._respond(request)
        if response.status == 0:
            self.close_connection = True
            with contextlib.suppress(OSError):
                self.connection.shutdown(socket.SHUT_RDWR)
            return
        self.send_response(response.status)
        headers = dict(response.headers)
        headers["Content-Length"] = str(len(response.body))
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(response.body)

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = _dispatch


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address) -> None:
        """A client that hung up before its answer (a stopped portal, a timed-out call) is no error."""
        if isinstance(sys.exc_info()[1], (BrokenPipeError, ConnectionResetError)):
            return
        super().handle_error(request, client_address)

    allow_reuse_address = True
    request_queue_size = 128


class SimulatorServer:
    """A real HTTP server speaking one service's wire format. Subclasses implement `handle`."""

    name = "simulator"

    def __init__(self, host: str = "127.0.0.1", port: int = 0, *, seed: int | None = None, workers: int | None = None):
        self.host = host
        self.port = port
        self.faults = Faults()
        self.random = random.Random(seed)
        self.lock = threading.RLock()
        self.request_log: list[LoggedRequest] = []
        # TCP connections accepted: a client that keeps its connections alive opens few.
        self.connections = 0
        # `workers`: requests served at once (1 for a single-worker server); None for as many as come.
        self._workers = threading.BoundedSemaphore(workers) if workers else None
        self._httpd: _Server | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle ------------------------------------------------------------------------------
    @property
    def url(self) -> str:
        if self._httpd is None:
            raise RuntimeError(f"{self.name} simulator is not running")
        return f"http://{self.host}:{self._httpd.server_address[1]}"

    def _bind(self) -> _Server:
        httpd = _Server((self.host, self.port), _Handler)
        httpd.simulator = self  # type: ignore[attr-defined]
        self._httpd = httpd
        self.port = httpd.server_address[1]
        return httpd

    def start(self) -> SimulatorServer:
        """Serve on a background thread; returns self so tests can write `sim = X().start()`."""
        httpd = self._bind()
        self._thread = threading.Thread(
            target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, name=f"{self.name}-sim", daemon=True
        )
        self._thread.start()
        self.on_start()
        return self

    def serve_forever(self) -> None:
        """Serve in the calling thread until interrupted (the management command)."""
        httpd = self._bind()
        self.on_start()
        try:
            httpd.serve_forever(poll_interval=0.05)
        finally:
            self.on_stop()
            httpd.server_close()

    def stop(self) -> None:
        self.on_stop()
        httpd, self._httpd = self._httpd, None
        if httpd is not None:
            httpd.shutdown()
            httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> SimulatorServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def on_start(self) -> None:
        """Hook for background activity (webhook emitters, carrier movement)."""

    def on_stop(self) -> None:
        """Hook to stop background activity."""

    # -- request handling -----------------------------------------------------------------------
    def _connection_opened(self) -> None:
        with self.lock:
            self.connections += 1

    def _respond(self, request: Request) -> Response:
        if self._workers is None:
            return self._respond_now(request)
        with self._workers:  # a busy single-worker server makes the next caller wait, as Odoo's does
            return self._respond_now(request)

    def _respond_now(self, request: Request) -> Response:
        faults = self.faults
        if faults.latency:
            time.sleep(faults.latency)
        if faults.refuse:
            response = DROP_CONNECTION
        elif faults.in_outage():
            response = self.fault_response(request, "outage")
        elif faults.error_rate and self.random.random() < faults.error_rate:
            response = self.fault_response(request, "error")
        else:
            try:
                response = self.handle(request)
            except Exception as exc:  # a simulator bug must show up as a 500, not a hung client
                response = self.crash_response(request, exc)
        with self.lock:
            self.request_log.append(
                LoggedRequest(request.method, request.path, response.status, time.time(), request.body)
            )
        return response

    def handle(self, request: Request) -> Response:
        raise NotImplementedError

    def fault_response(self, request: Request, kind: str) -> Response:
        """What the service answers when it is down ("outage") or failing at random ("error")."""
        return Response.text("Service Unavailable", status=503)

    def crash_response(self, request: Request, exc: Exception) -> Response:
        return Response.text(f"Internal Server Error: {exc!r}", status=500)

    # -- inspection for tests -------------------------------------------------------------------
    def requests_to(self, path_prefix: str = "", method: str | None = None) -> list[LoggedRequest]:
        with self.lock:
            return [
                r for r in self.request_log if r.path.startswith(path_prefix) and (method is None or r.method == method)
            ]

    def clear_log(self) -> None:
        with self.lock:
            self.request_log.clear()
            self.connections = 0
