"""Reading a webhook's raw body: whole (by Content-Length, or to the end of a chunked body), at most so
many bytes, within so many seconds. Django's `request.body` reads Content-Length bytes only, so a chunked
body would come back empty."""

from __future__ import annotations

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

    Under gunicorn the socket's own timeout bounds every read, so a sender that trickles bytes or goes
    quiet gives its thread back after `timeout` seconds.
    """
    length = declared_length(request)
    if length is None and not is_chunked(request):
        return b""
    if length is not None and length > limit:
        raise BodyTooLarge
    stream = request.META["wsgi.input"]
    sock = request.META.get("gunicorn.socket")
    previous = sock.gettimeout() if sock is not None else None
    deadline = time.monotonic() + timeout
    wanted = length if length is not None else limit + 1
    chunks: list[bytes] = []
    received = 0
    try:
        while received < wanted:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise BodyTooSlow
            if sock is not None:
                sock.settimeout(remaining)
            try:
                chunk = stream.read(min(65536, wanted - received))
            except OSError as exc:  # socket.timeout is an OSError
                raise BodyTooSlow from exc
            if not chunk:
                break
            chunks.append(chunk)
            received += len(chunk)
            if received > limit:
                raise BodyTooLarge
    finally:
        if sock is not None:
            sock.settimeout(previous)
    return b"".join(chunks)
