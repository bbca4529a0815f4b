"""Reading a webhook's raw body: whole (by Content-Length, or to the end of a chunked body), at most so
many bytes, within so many seconds. Django's `request.body` reads Content-Length bytes only, so a chunked
body would come back empty."""

from __future__ import annotations

import contextlib
import heapq
import os
import socket
import threading
import time


class BodyTooLarge(Exception):
    """More bytes than the limit."""


class BodyTooSlow(Exception):
    """The body did not arrive within the time allowed."""


def declared_length(request) -> int | None:
    """Content-Length as sent, None when there is none (chunked) or it is not a number."""
    value = request.META.get("CONTENT_LENGTH") or ""
    return int(value) if value.isdigit() else None


def is_chunked(request) -> bool:
    return "chunked" in request.META.get("HTTP_TRANSFER_ENCODING", "").lower()


class _Watch:
    __slots__ = ("deadline", "expired", "released", "sock")

    def __init__(self, deadline: float, sock) -> None:
        self.deadline, self.sock, self.expired, self.released = deadline, sock, False, False


class _Watchdog:
    """One thread per process that closes the reading side of sockets whose body is late.

    Registering and releasing a read costs a lock and a heap push: no thread per request (starting and
    stopping one per request, under gunicorn's threads, cost more than the webhook itself).
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        self._heap: list[tuple[float, int, _Watch]] = []
        self._count = 0
        self._pid = 0

    def watch(self, sock, timeout: float) -> _Watch:
        entry = _Watch(time.monotonic() + timeout, sock)
        with self._lock:
            if self._pid != os.getpid():  # first use in this process (or after a fork)
                self._pid, self._heap = os.getpid(), []
                threading.Thread(target=self._run, name="body-watchdog", daemon=True).start()
            self._count += 1
            heapq.heappush(self._heap, (entry.deadline, self._count, entry))
            if self._heap[0][2] is entry:
                self._changed.notify()
        return entry

    def release(self, entry: _Watch) -> bool:
        """Stop watching; True if the read was cut off first (then the socket was shut, never later)."""
        with self._lock:
            entry.released = True  # left in the heap; dropped when its deadline comes
            return entry.expired

    def _run(self) -> None:
        while True:
            with self._lock:
                while not self._heap:
                    self._changed.wait()
                deadline, _, entry = self._heap[0]
                wait = deadline - time.monotonic()
                if wait > 0:
                    # Deadlines come a few per millisecond under load: wake at most five times a second.
                    self._changed.wait(max(wait, 0.2))
                    continue
                heapq.heappop(self._heap)
                if entry.released:
                    continue
                # Under the lock: a read that was released first is never cut off afterwards (its
                # connection may already carry the next request).
                entry.expired = True
                with contextlib.suppress(OSError):
                    entry.sock.shutdown(socket.SHUT_RD)


_watchdog = _Watchdog()


def read_body(request, *, limit: int, timeout: float) -> bytes:
    """The raw body; raises BodyTooLarge past `limit` bytes, BodyTooSlow past `timeout` seconds.

    Under gunicorn, whose reads wait for all the bytes asked for, the watchdog closes the reading side
    of the socket at the deadline, so a sender that trickles bytes or goes quiet gives its thread back
    after `timeout` seconds (the answer, 408, still goes out).
    """
    length = declared_length(request)
    if length is None and not is_chunked(request):
        return b""
    if length is not None and length > limit:
        raise BodyTooLarge
    stream = request.META["wsgi.input"]
    sock = request.META.get("gunicorn.socket")
    deadline = time.monotonic() + timeout
    watch = _watchdog.watch(sock, timeout) if sock is not None else None
    wanted = length if length is not None else limit + 1
    chunks: list[bytes] = []
    received = 0
    try:
        while received < wanted:
            if time.monotonic() > deadline:
                raise BodyTooSlow
            try:
                chunk = stream.read(min(65536, wanted - received))
            except Exception as exc:  # the cut-off connection, as the server's reader reports it
                if watch is not None and watch.expired:
                    raise BodyTooSlow from exc
                raise
            if not chunk:
                break
            chunks.append(chunk)
            received += len(chunk)
            if received > limit:
                raise BodyTooLarge
    finally:
        cut_off = _watchdog.release(watch) if watch is not None else False
    if cut_off or (length is not None and received < length):
        raise BodyTooSlow  # cut off, or the sender hung up before sending what it announced
    return b"".join(chunks)
