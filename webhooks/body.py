"""Reading a webhook's raw body: whole (by Content-Length, or to the end of a chunked body), at most so
many bytes, within so many seconds. Django's `request.body` reads Content-Length bytes only, so a chunked
body would come back empty."""

from __future__ import annotations

import contextlib
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


def read_body(request, *, limit: int, timeout: float) -> bytes:
    """The raw body; raises BodyTooLarge past `limit` bytes, BodyTooSlow past `timeout` seconds.

    Under gunicorn, whose reads wait for all the bytes asked for, a watchdog closes the reading side of
    the socket at the deadline, so a sender that trickles bytes or goes quiet gives its thread back
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
    expired = threading.Event()

    def cut_off() -> None:
        expired.set()
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RD)

    watchdog = threading.Timer(timeout, cut_off) if sock is not None else None
    if watchdog is not None:
        watchdog.daemon = True
        watchdog.start()
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
                if expired.is_set():
                    raise BodyTooSlow from exc
                raise
            if not chunk:
                break
            chunks.append(chunk)
            received += len(chunk)
            if received > limit:
                raise BodyTooLarge
    finally:
        if watchdog is not None:
            watchdog.cancel()
    if expired.is_set() or (length is not None and received < length):
        raise BodyTooSlow  # cut off, or the sender hung up before sending what it announced
    return b"".join(chunks)
