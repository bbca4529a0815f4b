"""The shared rate limiter: evenly spaced slots across threads and processes, daily quota, 429 hold."""

from __future__ import annotations

import threading
import time

import pytest
from django.conf import settings
from django.db import connection

from sync.ratelimit import (
    DatabaseBackend,
    QuotaExhausted,
    RateLimitBusy,
    RateLimiter,
    RedisBackend,
    WaitInterrupted,
    interruptible_sleep,
)


class FakeClock:
    def __init__(self, now: float = 1_000_000.0):
        self.now = now
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(round(seconds, 6))


def limiter(backend, clock=None, **kwargs):
    clock = clock or FakeClock()
    defaults = {"rates": {"create_tracking": 20, "default": 5}, "headroom": 1.0, "clock": clock, "sleep": clock.sleep}
    return RateLimiter(backend, **(defaults | kwargs)), clock


@pytest.fixture(params=["database", "redis"])
def backend(request, transactional_db):
    if request.param == "redis":
        if not settings.REDIS_URL:
            pytest.skip("needs Redis: run with REDIS_URL=redis://...")
        backend = RedisBackend(settings.REDIS_URL)
        for key in backend.redis.scan_iter("shiptrack:*"):
            backend.redis.delete(key)
        return backend
    return DatabaseBackend()


def test_calls_are_spaced_evenly_at_the_rate(backend):
    rl, clock = limiter(backend, namespace="t1")
    for _ in range(5):
        rl.acquire("create_tracking")
    assert clock.slept == [0.05, 0.1, 0.15, 0.2]  # the first call goes at once


def test_a_caller_told_to_stop_while_it_waits_sends_nothing(backend):
    stop = threading.Event()
    rl, _ = limiter(backend, namespace="t1s", sleep=interruptible_sleep(stop))
    rl.acquire("detect_courier")  # the first call goes at once; the next waits a fifth of a second
    stop.set()
    with pytest.raises(WaitInterrupted):
        rl.acquire("detect_courier")


def test_buckets_are_independent(backend):
    rl, clock = limiter(backend, namespace="t2")
    rl.acquire("create_tracking")
    rl.acquire("detect_courier")  # "default" rate, own bucket: no wait
    assert clock.slept == []


def test_headroom_keeps_the_portal_under_the_limit(backend):
    rl, clock = limiter(backend, namespace="t3", headroom=0.9)
    rl.acquire("create_tracking")
    rl.acquire("create_tracking")
    assert clock.slept == [pytest.approx(1 / 18, abs=1e-6)]


def test_it_refuses_to_book_further_than_max_wait(backend):
    rl, _ = limiter(backend, namespace="t4", max_wait=0.21)
    for _ in range(5):  # slots at +0, +0.05, ... +0.2
        rl.acquire("create_tracking")
    with pytest.raises(RateLimitBusy):
        rl.acquire("create_tracking")


def test_a_429_holds_the_bucket_until_reset(backend):
    rl, clock = limiter(backend, namespace="t5")
    rl.hold_until("create_tracking", clock.now + 0.7)
    rl.acquire("create_tracking")
    assert clock.slept == [pytest.approx(0.7)]


def test_daily_quota_is_enforced(backend):
    rl, _ = limiter(backend, namespace="t6", daily_quota=3)
    for _ in range(3):
        rl.acquire("default")
    with pytest.raises(QuotaExhausted) as info:
        rl.acquire("default")
    assert "daily quota of 3 calls is used up" in str(info.value)


def test_concurrent_callers_never_exceed_the_limit_in_any_second(backend):
    """Real clock, real sleeps, 6 threads sharing one bucket through the backend: count per 1-second window."""
    rl = RateLimiter(backend, rates={"default": 20}, headroom=0.96, namespace="t7")
    stamps: list[float] = []
    lock = threading.Lock()

    def caller():
        try:
            for _ in range(12):
                rl.acquire("default")
                with lock:
                    stamps.append(time.time())
        finally:
            connection.close()

    threads = [threading.Thread(target=caller) for _ in range(6)]
    started = time.time()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.time() - started
    stamps.sort()
    busiest = max(sum(1 for s in stamps if start <= s < start + 1.0) for start in stamps)
    assert len(stamps) == 72
    assert busiest <= 20
    assert elapsed >= 72 / 20 * 0.9  # it did not cheat by running everything at once


def test_consecutive_failures_open_the_circuit_for_a_growing_pause(backend):
    rl, clock = limiter(backend, namespace="t8", breaker_threshold=3, breaker_max_hold=5)
    assert [rl.report("create_tracking", ok=False) for _ in range(6)] == [0, 0, 1, 2, 4, 5]
    rl.acquire("create_tracking")
    assert clock.slept == [pytest.approx(5)]  # nobody calls AfterShip while it is down


def test_a_success_closes_the_circuit(backend):
    rl, _ = limiter(backend, namespace="t9", breaker_threshold=2)
    rl.report("create_tracking", ok=False)
    rl.report("create_tracking", ok=True)
    assert rl.report("create_tracking", ok=False) == 0  # the streak started again


def test_a_success_from_any_worker_ends_the_streak(backend):
    first, _ = limiter(backend, namespace="t10", breaker_threshold=2)
    second, _ = limiter(backend, namespace="t10", breaker_threshold=2)
    first.report("create_tracking", ok=False)
    second.report("create_tracking", ok=True)  # AfterShip answers the other worker: it is not down
    assert first.report("create_tracking", ok=False) == 0


def test_many_workers_starting_on_a_new_bucket_all_get_a_slot(backend):
    """The first calls race to create the bucket's row; none of them may be told the bucket is booked."""
    rl = RateLimiter(backend, rates={"default": 1000}, headroom=1.0, namespace="t11")
    errors: list[Exception] = []

    def caller():
        try:
            rl.acquire("fresh")
        except Exception as exc:
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=caller) for _ in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
