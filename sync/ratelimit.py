"""A rate limiter shared by every worker on every machine, so the account stays inside AfterShip's limits.

Each bucket hands out evenly spaced time slots (a generic cell-rate algorithm): a caller reserves the
next free slot in one atomic statement and sleeps until it. Even spacing means no 1-second window
AfterShip counts can hold more calls than the limit, whoever sends them. The state lives in Redis
when `REDIS_URL` is set, else in the database; the plan's daily quota is counted the same way.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Protocol

from django.conf import settings
from django.db import connection

from .models import RateLimitSlot


class RateLimitBusy(Exception):
    """The next free slot is further away than the caller is willing to wait."""

    def __init__(self, bucket: str, wait: float):
        super().__init__(f"AfterShip {bucket} calls are booked for the next {wait:.0f} s")
        self.bucket = bucket
        self.retry_after = wait


class WaitInterrupted(Exception):
    """The caller was told to stop while it waited for its slot: the call was not sent."""


def interruptible_sleep(stop: threading.Event) -> Callable[[float], None]:
    """A `sleep` for RateLimiter that gives up its slot when `stop` is set rather than send late."""

    def sleep(seconds: float) -> None:
        if stop.wait(seconds):
            raise WaitInterrupted("stopped while waiting for an AfterShip call slot")

    return sleep


class QuotaExhausted(Exception):
    """The plan's daily API quota is used up; calls resume the next UTC day."""

    def __init__(self, quota: int, resets_at: datetime):
        super().__init__(
            f"The AfterShip daily quota of {quota} calls is used up; calls resume at {resets_at:%H:%M} UTC"
        )
        self.quota = quota
        self.resets_at = resets_at


class Backend(Protocol):
    def reserve(self, key: str, interval: float, now: float, max_wait: float) -> float | None:
        """Book the next slot at least `interval` after the previous one; None if beyond `max_wait`."""

    def push_back(self, key: str, until: float) -> None:
        """Make the bucket's next slot no earlier than `until` (after a 429)."""

    def count_today(self, key: str, day: str, quota: int) -> bool:
        """Count one call against today's quota; False (and not counted) when the quota is used up."""

    def failure(self, key: str) -> int:
        """Count a transient failure in a row; returns the streak."""

    def next_free(self, key: str) -> float:
        """The bucket's next free slot (Unix time), without booking it."""

    def success(self, key: str) -> int:
        """End a failure streak; returns how long it was."""


class DatabaseBackend:
    """Slots in the `RateLimitSlot` table, updated with single atomic statements (PostgreSQL and SQLite)."""

    table = RateLimitSlot._meta.db_table

    def _ensure(self, key: str) -> None:
        RateLimitSlot.objects.get_or_create(key=key)

    def _update(self, key: str, sql: str, params: list) -> tuple | None:
        """Run an `UPDATE ... WHERE key = %s ... RETURNING` on the bucket's row, creating the row on first use.

        None means the statement's own condition did not hold (bucket booked, quota used). It is asked twice,
        because another worker may create the row between our first attempt and our look for it.
        """
        for _ in range(2):
            with connection.cursor() as cursor:
                cursor.execute(sql, params)
                row = cursor.fetchone()
            if row is not None:
                return row
            if not RateLimitSlot.objects.filter(key=key).exists():
                self._ensure(key)
        return None

    def reserve(self, key: str, interval: float, now: float, max_wait: float) -> float | None:
        greatest = "GREATEST" if connection.vendor == "postgresql" else "MAX"
        sql = (
            f"UPDATE {self.table} SET next_free = {greatest}(next_free, %s) + %s "  # noqa: S608 - fixed identifiers
            "WHERE key = %s AND next_free <= %s RETURNING next_free"
        )
        row = self._update(key, sql, [now, interval, key, now + max_wait])
        return row[0] - interval if row else None

    def push_back(self, key: str, until: float) -> None:
        self._ensure(key)
        RateLimitSlot.objects.filter(key=key, next_free__lt=until).update(next_free=until)

    def count_today(self, key: str, day: str, quota: int) -> bool:
        sql = (
            f"UPDATE {self.table} SET day_count = CASE WHEN day = %s THEN day_count + 1 ELSE 1 END, day = %s "  # noqa: S608
            "WHERE key = %s AND (day <> %s OR day_count < %s) RETURNING day_count"
        )
        return self._update(key, sql, [day, day, key, day, quota]) is not None

    def failure(self, key: str) -> int:
        sql = f"UPDATE {self.table} SET failures = failures + 1 WHERE key = %s RETURNING failures"  # noqa: S608
        return self._update(key, sql, [key])[0]

    def next_free(self, key: str) -> float:
        return RateLimitSlot.objects.filter(key=key).values_list("next_free", flat=True).first() or 0.0

    def success(self, key: str) -> int:
        # Read first: almost every call succeeds, and a read takes no write lock.
        streak = RateLimitSlot.objects.filter(key=key, failures__gt=0).values_list("failures", flat=True).first()
        if streak:
            RateLimitSlot.objects.filter(key=key).update(failures=0)
        return streak or 0


_RESERVE_LUA = """
local next_free = tonumber(redis.call('GET', KEYS[1]) or '0')
local now = tonumber(ARGV[1])
local interval = tonumber(ARGV[2])
local max_wait = tonumber(ARGV[3])
if next_free > now + max_wait then return nil end
local slot = math.max(next_free, now)
redis.call('SET', KEYS[1], tostring(slot + interval), 'EX', 3600)
return tostring(slot)
"""

_QUOTA_LUA = """
local used = tonumber(redis.call('GET', KEYS[1]) or '0')
if used >= tonumber(ARGV[1]) then return 0 end
redis.call('INCR', KEYS[1])
redis.call('EXPIRE', KEYS[1], 172800)
return 1
"""


class RedisBackend:
    """Slots in Redis, updated by small Lua scripts (atomic on the server)."""

    def __init__(self, url: str):
        import redis

        self.redis = redis.Redis.from_url(url)
        self._reserve = self.redis.register_script(_RESERVE_LUA)
        self._quota = self.redis.register_script(_QUOTA_LUA)

    def reserve(self, key: str, interval: float, now: float, max_wait: float) -> float | None:
        slot = self._reserve(keys=[f"shiptrack:rl:{key}"], args=[repr(now), repr(interval), repr(max_wait)])
        return float(slot) if slot is not None else None

    def push_back(self, key: str, until: float) -> None:
        name = f"shiptrack:rl:{key}"
        current = float(self.redis.get(name) or 0)
        if current < until:
            self.redis.set(name, repr(until), ex=3600)

    def count_today(self, key: str, day: str, quota: int) -> bool:
        return bool(self._quota(keys=[f"shiptrack:quota:{key}:{day}"], args=[quota]))

    def failure(self, key: str) -> int:
        name = f"shiptrack:failures:{key}"
        streak = self.redis.incr(name)
        self.redis.expire(name, 600)
        return int(streak)

    def success(self, key: str) -> int:
        return int(self.redis.getdel(f"shiptrack:failures:{key}") or 0)

    def next_free(self, key: str) -> float:
        return float(self.redis.get(f"shiptrack:rl:{key}") or 0)


class RateLimiter:
    """Spaces calls per bucket at `rate * headroom` per second and enforces the plan's daily quota."""

    def __init__(
        self,
        backend: Backend,
        *,
        rates: dict[str, float],
        headroom: float = 0.97,
        daily_quota: int = 0,
        max_wait: float = 30.0,
        tolerance: float = 0.015,
        breaker_threshold: int = 3,
        breaker_max_hold: float = 5.0,
        on_recovery: Callable[[], None] | None = None,
        namespace: str = "aftership",
        clock=time.time,
        sleep=time.sleep,
    ):
        self.backend = backend
        self.rates = rates
        self.headroom = headroom
        self.daily_quota = daily_quota
        self.max_wait = max_wait
        self.tolerance = tolerance
        self.breaker_threshold = breaker_threshold
        self.breaker_max_hold = breaker_max_hold
        self.on_recovery = on_recovery
        self.namespace = namespace
        self.clock = clock
        self.sleep = sleep

    def interval(self, bucket: str) -> float:
        rate = self.rates.get(bucket) or self.rates["default"]
        return 1.0 / (rate * self.headroom)

    def acquire(self, bucket: str) -> float:
        """Wait for this bucket's next slot; returns the seconds waited."""
        if self.daily_quota:
            today = datetime.now(UTC)
            if not self.backend.count_today(f"{self.namespace}:daily", today.strftime("%Y-%m-%d"), self.daily_quota):
                tomorrow = (today + timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)
                raise QuotaExhausted(self.daily_quota, tomorrow)
        waited = 0.0
        circuit_wait = self.backend.next_free(self._circuit) - self.clock()
        if circuit_wait > self.max_wait:
            raise RateLimitBusy(bucket, circuit_wait)
        if circuit_wait > 0:
            self.sleep(circuit_wait)
            waited += circuit_wait
        for _ in range(3):
            now = self.clock()
            slot = self.backend.reserve(f"{self.namespace}:{bucket}", self.interval(bucket), now, self.max_wait)
            if slot is None:
                raise RateLimitBusy(bucket, self.max_wait)
            if slot > now:
                self.sleep(slot - now)
                waited += slot - now
            # Woken (or answered) too late to use the slot: sending now would crowd the next caller's slot
            # and, across a second, put one call too many in AfterShip's window. Take a fresh slot instead.
            if self.clock() - slot <= self.tolerance:
                break
        return waited

    @property
    def _circuit(self) -> str:
        return f"{self.namespace}:circuit"

    def report(self, bucket: str, *, ok: bool) -> float:
        """How a call to any endpoint went. Returns the pause now imposed on every call (0 while it works)."""
        key = self._circuit
        if ok:
            if self.backend.success(key) >= self.breaker_threshold and self.on_recovery:
                self.on_recovery()  # the circuit was open: AfterShip is back
            return 0.0
        streak = self.backend.failure(key)
        if streak < self.breaker_threshold:
            return 0.0
        hold = min(2.0 ** (streak - self.breaker_threshold), self.breaker_max_hold)
        self.backend.push_back(key, self.clock() + hold)
        return hold

    def circuit_open(self) -> bool:
        """Calls fail in a row: every call is held back for a while (the breaker is open)."""
        return self.backend.next_free(self._circuit) > self.clock()

    def held_for(self, bucket: str) -> float:
        """Seconds until a call may go: more than a moment means a 429 on the bucket or an open circuit."""
        until = max(self.backend.next_free(f"{self.namespace}:{bucket}"), self.backend.next_free(self._circuit))
        return max(until - self.clock(), 0.0)

    def hold_until(self, bucket: str, until: float) -> None:
        """AfterShip said 429: nobody calls this bucket again before `until` (Unix time)."""
        self.backend.push_back(f"{self.namespace}:{bucket}", until)


def aftership_limiter(on_recovery: Callable[[], None] | None = None) -> RateLimiter:
    backend: Backend = RedisBackend(settings.REDIS_URL) if settings.REDIS_URL else DatabaseBackend()
    return RateLimiter(
        backend,
        rates=settings.AFTERSHIP_RATE_LIMITS,
        headroom=settings.AFTERSHIP_RATE_HEADROOM,
        daily_quota=settings.AFTERSHIP_DAILY_QUOTA,
        on_recovery=on_recovery,
    )
