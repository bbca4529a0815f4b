"""Checks on incoming webhooks: who is calling, URL tokens, AfterShip's HMAC signature, and the rate.

Each check reads no more of the request than it needs; none of them writes to the database.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import ipaddress
import logging
import os
import threading
import time
from collections import OrderedDict
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
    _screens.note_block(address, blocked=True)
    return cache.add(_block_key(address), time.time(), timeout=settings.WEBHOOK_BLOCK_SECONDS)


def address_block_end(address: str) -> None:
    cache.delete_many([_block_key(address), _failures_key(address)])
    _screens.note_block(address, blocked=False)


# -- the rate ------------------------------------------------------------------------------------------------
_PERIODS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def _rate(scope: str) -> tuple[int, int]:
    """The limit and the window's length in seconds, from WEBHOOK_THROTTLE_RATE ("6000/min")."""
    number, period = settings.WEBHOOK_THROTTLE_RATE.split("/")
    return int(number), _PERIODS[period[0]]


def _rate_key(scope: str, address: str, window: int) -> str:
    return f"shiptrack:webhook-rate:{scope}:{address}:{window}"


@dataclass(frozen=True)
class Screen:
    """What this process knows of a caller: blocked or not, and this request's number in its rate window."""

    blocked: bool
    count: int


# How often a process tells the cache what it counted and reads the block back, per address. Between
# two exchanges it decides from what it last read plus what it counted itself since.
SCREEN_SYNC_SECONDS = 1.0
# ... and sooner once it has counted this share of the limit (so a small limit is exact).
SCREEN_SYNC_SHARE = 50
_SCREENS_KEPT = 10_000


@dataclass
class _Tally:
    window: int
    shared: int = 0  # the window's count in the cache at the last exchange (ours included)
    pending: int = 0  # counted here since, not yet told to the cache
    blocked: bool = False
    synced_at: float = float("-inf")
    syncing: bool = False


class _Screens:
    """Each process's view of the shared block flags and rate counters.

    A round trip to Redis for every request cost more than the rest of the intake together, so each
    process keeps a tally per address and exchanges it with the cache (adds what it counted, reads the
    total and the block flag back, in one round trip) once a second, or sooner once it has counted a
    fiftieth of the limit. An address's first request in a window, and every request until a first
    exchange has answered, asks the cache itself. A block started here applies here at once; one started
    or lifted elsewhere applies within a second. Across N processes the rate may run over by what they
    count between two exchanges: at most a fiftieth of the limit each. At most _SCREENS_KEPT addresses
    are remembered (the least recently seen are forgotten first), so a flood from many addresses costs
    bounded memory and no sweep.
    """

    def __init__(self, *, clock=time.monotonic, wall=time.time) -> None:
        self._clock, self._wall = clock, wall
        self._lock = threading.Lock()
        self._tallies: OrderedDict[tuple[str, str], _Tally] = OrderedDict()
        self._pid = os.getpid()

    def forget(self) -> None:
        with self._lock:
            self._tallies.clear()

    def note_block(self, address: str, *, blocked: bool) -> None:
        with self._lock:
            for (_, known), tally in self._tallies.items():
                if known == address:
                    tally.blocked = blocked

    def screen(self, *, address: str, scope: str) -> Screen:
        limit, duration = _rate(scope)
        window = int(self._wall() // duration)
        clock = self._clock()
        key = (scope, address)
        with self._lock:
            if self._pid != os.getpid():  # forked: the parent's tallies are not this process's
                self._pid, self._tallies = os.getpid(), OrderedDict()
            tally = self._tallies.get(key)
            if tally is None or tally.window != window:
                tally = self._tallies[key] = _Tally(window, blocked=bool(tally and tally.blocked))
                if len(self._tallies) > _SCREENS_KEPT:
                    self._tallies.popitem(last=False)
            self._tallies.move_to_end(key)
            tally.pending += 1
            first = tally.synced_at == float("-inf")  # nothing read yet: the block flag is unknown
            due = clock - tally.synced_at >= SCREEN_SYNC_SECONDS or tally.pending >= max(1, limit // SCREEN_SYNC_SHARE)
            if not first and (tally.syncing or not due):
                return Screen(tally.blocked, tally.shared + tally.pending)
            tally.syncing, sending, tally.pending = True, tally.pending, 0
        try:
            blocked, shared = _exchange(
                address=address, key=_rate_key(scope, address, window), add=sending, timeout=duration + 1
            )
        except Exception:
            logger.exception("the cache is not answering; block and rate not checked")
            with self._lock:
                tally.syncing, tally.pending = False, tally.pending + sending
                tally.synced_at = clock  # try again in a second, not on every request
            return Screen(False, 0)
        with self._lock:
            tally.syncing, tally.synced_at = False, clock
            # Exchanges may answer out of order; the counter only grows within its window.
            tally.shared, tally.blocked = max(tally.shared, shared), bool(address) and blocked
            return Screen(tally.blocked, tally.shared + tally.pending)


def _exchange(*, address: str, key: str, add: int, timeout: int) -> tuple[bool, int]:
    """Add `add` to the rate counter `key` (which expires `timeout` seconds after its first count) and read
    the address's block flag: one round trip on Redis. Returns (blocked, the counter's total)."""
    from django.core.cache import caches

    from portal.cache import DjangoRedisCache

    backend = caches["default"]
    if isinstance(backend, DjangoRedisCache):
        block_key = backend.make_and_validate_key(_block_key(address))
        counter = backend.make_and_validate_key(key)
        pipeline = backend._cache.get_client(counter, write=True).pipeline(transaction=False)
        pipeline.exists(block_key)
        pipeline.set(counter, 0, ex=timeout, nx=True)  # the window starts with the first count
        pipeline.incrby(counter, add)
        blocked, _, total = pipeline.execute()
        return bool(blocked), total
    return address_blocked(address), cache_count(key, timeout=timeout, by=add)


_screens = _Screens()


def address_screen(*, address: str, scope: str) -> Screen:
    """Whether the address is blocked, and this request's number in its rate window (every request to an
    endpoint is counted, refused or not; only authenticated ones can be throttled). Mostly decided in the
    process, with a round trip to the cache about once a second per address (`_Screens`). A request whose
    exchange with the cache fails is neither blocked nor throttled (the token and signature still
    decide); the others go on with what the process last read."""
    return _screens.screen(address=address, scope=scope)


def screens_forget() -> None:
    """Drop this process's tallies (the next request of each address asks the cache)."""
    _screens.forget()


class AddressRateThrottle(BaseThrottle):
    """WEBHOOK_THROTTLE_RATE per client address, counted in fixed windows shared through the cache.

    A count per request, not DRF's list of every request's time (which at thousands a minute costs more
    than the webhook itself). The intake counts the request while it checks the block
    (`address_screen`, which tells the cache about once a second); the throttle then only compares.
    """

    def allow_request(self, request, view) -> bool:
        address = client_address(request)
        limit, self.duration = _rate(view.rate_scope)
        self.retry_after = self.duration - time.time() % self.duration
        screen = getattr(request, "webhook_screen", None)
        if screen is None:
            screen = address_screen(address=address, scope=view.rate_scope)
        return screen.count <= limit

    def wait(self) -> float:
        return max(self.retry_after, 1)
