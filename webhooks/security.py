"""Checks on incoming webhooks: who is calling, URL tokens, AfterShip's HMAC signature, and the rate.

Each check reads no more of the request than it needs; none of them writes to the database.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import ipaddress
import logging
import time
from dataclasses import dataclass

from django.conf import settings
from django.core.cache import cache
from rest_framework.throttling import BaseThrottle

from portal.cache import cache_count

logger = logging.getLogger(__name__)


def client_address(request) -> str:
    """The caller's address: the socket's peer, or with TRUSTED_PROXY_COUNT proxies in front, the address
    the outermost of them saw. X-Forwarded-For is believed only that far: a client can write anything in
    it, and with no trusted proxy it changes nothing."""
    remote = request.META.get("REMOTE_ADDR") or ""
    proxies = settings.TRUSTED_PROXY_COUNT
    if proxies <= 0:
        return remote
    forwarded = [part.strip() for part in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",") if part.strip()]
    if len(forwarded) < proxies:
        return remote
    candidate = forwarded[-proxies]
    try:
        return str(ipaddress.ip_address(candidate))
    except ValueError:
        return remote


def client_allowed(address: str | None, allowlist: list[str]) -> bool:
    """True when no allow-list is set, or the caller's address is in one of its networks."""
    if not allowlist:
        return True
    try:
        ip = ipaddress.ip_address(address or "")
    except ValueError:
        return False
    return any(ip in ipaddress.ip_network(entry, strict=False) for entry in allowlist)


def token_matches(given: str | None, expected: str) -> bool:
    return bool(given) and bool(expected) and hmac.compare_digest(given.encode(), expected.encode())


def aftership_signature(body: bytes, secret: str) -> str:
    """base64(HMAC-SHA256(secret, raw body)), as AfterShip puts in `aftership-hmac-sha256`."""
    digest = hmac.new(secret.encode("utf-8"), body, hashlib.sha256).digest()
    return base64.b64encode(digest).decode("ascii")


def signature_check(body: bytes, header: str | None, secrets: list[str]) -> str:
    """ "valid" (current secret), "valid_previous" (an older one, mid-rotation), "missing" or "invalid"."""
    if not header:
        return "missing"
    given = header.strip().encode()
    result = "invalid"
    # Compare against every secret, so timing does not reveal which one matched.
    for index, secret in enumerate(secrets):
        if hmac.compare_digest(aftership_signature(body, secret).encode(), given) and result == "invalid":
            result = "valid" if index == 0 else "valid_previous"
    return result


# -- blocking repeat offenders (the cache holds the live state) ---------------------------------------------
def _block_key(address: str) -> str:
    return f"shiptrack:webhook-block:{address}"


def _failures_key(address: str) -> str:
    return f"shiptrack:webhook-failures:{address}"


def address_blocked(address: str) -> bool:
    try:
        return bool(address) and cache.get(_block_key(address)) is not None
    except Exception:  # the cache is down: hear the caller (the token and signature still decide)
        logger.exception("the cache is not answering; block not checked")
        return False


def address_failure_count(address: str) -> int:
    """Count one failed authentication; returns how many this address had within the window."""
    return cache_count(_failures_key(address), timeout=settings.WEBHOOK_BLOCK_WINDOW_SECONDS)


def address_block_start(address: str) -> bool:
    """Refuse this address for WEBHOOK_BLOCK_SECONDS; False if it already was."""
    return cache.add(_block_key(address), time.time(), timeout=settings.WEBHOOK_BLOCK_SECONDS)


def address_block_end(address: str) -> None:
    cache.delete_many([_block_key(address), _failures_key(address)])


# -- the rate ------------------------------------------------------------------------------------------------
_PERIODS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def _rate_window(scope: str, address: str) -> tuple[str, int, int, float]:
    """This request's counter key, the limit, the window's length and the seconds left in it."""
    number, period = settings.WEBHOOK_THROTTLE_RATE.split("/")
    duration = _PERIODS[period[0]]
    now = time.time()
    window = int(now // duration)
    return f"shiptrack:webhook-rate:{scope}:{address}:{window}", int(number), duration, (window + 1) * duration - now


@dataclass(frozen=True)
class Screen:
    """What the cache says of a caller: blocked or not, and this request's number in its rate window."""

    blocked: bool
    count: int


def address_screen(*, address: str, scope: str) -> Screen:
    """Read the block and count this request against the rate in one round trip to Redis (two calls on
    other caches). Every request to an endpoint is counted, refused or not; only authenticated ones can be
    throttled. When the cache does not answer, nobody is blocked or throttled: the token and signature
    still decide."""
    from django.core.cache import caches

    from portal.cache import DjangoRedisCache

    rate_key, _, duration, _ = _rate_window(scope, address)
    backend = caches["default"]
    try:
        if isinstance(backend, DjangoRedisCache):
            block_key = backend.make_and_validate_key(_block_key(address))
            counter = backend.make_and_validate_key(rate_key)
            pipeline = backend._cache.get_client(counter, write=True).pipeline(transaction=False)
            pipeline.exists(block_key)
            pipeline.set(counter, 0, ex=duration + 1, nx=True)  # the window starts with the first count
            pipeline.incr(counter)
            blocked, _, count = pipeline.execute()
            return Screen(bool(address) and bool(blocked), count)
        return Screen(address_blocked(address), cache_count(rate_key, timeout=duration + 1))
    except Exception:
        logger.exception("the cache is not answering; block and rate not checked")
        return Screen(False, 0)


class AddressRateThrottle(BaseThrottle):
    """WEBHOOK_THROTTLE_RATE per client address, counted in fixed windows in the shared cache.

    One counter increment a request (DRF's own throttles keep a list of every request's time, which
    at thousands a minute costs more than the webhook itself). The intake counts the request while it
    checks the block (`address_screen`, one round trip); the throttle then only compares.
    """

    def allow_request(self, request, view) -> bool:
        address = client_address(request)
        _, limit, self.duration, self.retry_after = _rate_window(view.rate_scope, address)
        screen = getattr(request, "webhook_screen", None)
        if screen is None:
            screen = address_screen(address=address, scope=view.rate_scope)
        return screen.count <= limit

    def wait(self) -> float:
        return max(self.retry_after, 1)
