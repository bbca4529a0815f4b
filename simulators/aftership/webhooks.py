"""AfterShip's webhook delivery: signed POSTs to the account's URLs, retried on a doubling schedule.

Deliveries run on a scheduler thread and a small worker pool, so a slow or dead receiver never holds up
the API. Retry delays are AfterShip's real ones multiplied by the simulator's `time_scale`.
"""

from __future__ import annotations

import base64
import hashlib
import heapq
import hmac
import itertools
import json
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import requests

USER_AGENT = "AfterShipTrackingWebhook/4.0.0 (https://www.aftership.com)"
MAX_ATTEMPTS = 14
FIRST_RETRY_DELAY = 30.0  # seconds before the second attempt; doubles after each failure
MAX_URLS = 10
EVENTS = ("tracking_update", "edd_revise", "tracking_pending_time")


def sign(body: bytes, secret: str) -> str:
    """The `aftership-hmac-sha256` header: base64 of HMAC-SHA256 over the raw body, keyed by the secret."""
    digest = hmac.new(secret.encode("utf-8"), body, hashlib.sha256).digest()
    return base64.b64encode(digest).decode("ascii")


def retry_delay(failed_attempt: int) -> float:
    """Real seconds to wait after attempt `failed_attempt` (1-based) fails: 30, 60, 120, ... 122 880."""
    return FIRST_RETRY_DELAY * 2 ** (failed_attempt - 1)


def encode_body(payload: dict) -> bytes:
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


@dataclass(frozen=True)
class WebhookEvent:
    """One event as AfterShip composed it: the exact bytes and headers every attempt re-sends."""

    event_id: str
    event: str
    tracking_id: str
    body: bytes
    headers: dict[str, str]
    ts: int


@dataclass(frozen=True)
class WebhookDelivery:
    """One HTTP attempt to deliver an event to one URL."""

    event_id: str
    event: str
    tracking_id: str
    url: str
    attempt: int
    status: int | None
    error: str | None
    at: float
    duration: float

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 300


@dataclass(order=True)
class _Job:
    due: float
    seq: int
    event: WebhookEvent = field(compare=False)
    url: str = field(compare=False)
    attempt: int = field(compare=False)
    generation: int = field(compare=False, default=0)


class WebhookEmitter:
    """Schedules, signs, sends and retries webhook deliveries."""

    def __init__(
        self,
        *,
        time_scale: Callable[[], float],
        timeout: float = 10.0,
        max_attempts: int = MAX_ATTEMPTS,
        workers: int = 8,
        history_limit: int = 20_000,
    ):
        self._time_scale = time_scale
        self.timeout = timeout
        self.max_attempts = max_attempts
        # A long demo run emits without end; keep the latest events and attempts for inspection only.
        self.history_limit = history_limit
        self._workers = workers
        self.events: dict[str, WebhookEvent] = {}
        self.deliveries: list[WebhookDelivery] = []
        self._queue: list[_Job] = []
        self._seq = itertools.count()
        self._cond = threading.Condition()
        self._in_flight = 0
        self._held: list[tuple[WebhookEvent, str]] | None = None
        self._thread: threading.Thread | None = None
        self._pool: ThreadPoolExecutor | None = None
        self._stopping = False
        # Bumped by `clear()`: attempts already in flight then neither record nor retry.
        self._generation = 0

    # -- lifecycle ------------------------------------------------------------------------------
    def start(self) -> None:
        with self._cond:
            if self._thread is not None:
                return
            self._stopping = False
            self._pool = ThreadPoolExecutor(max_workers=self._workers, thread_name_prefix="aftership-webhook")
            self._thread = threading.Thread(target=self._run, name="aftership-webhook-scheduler", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        with self._cond:
            self._stopping = True
            self._queue.clear()
            self._cond.notify_all()
            thread, pool = self._thread, self._pool
            self._thread, self._pool = None, None
        if thread is not None:
            thread.join(timeout=5)
        if pool is not None:
            pool.shutdown(wait=False, cancel_futures=True)

    def clear(self) -> None:
        with self._cond:
            self._generation += 1
            self._queue.clear()
            self.events.clear()
            self.deliveries.clear()
            self._held = None

    # -- sending --------------------------------------------------------------------------------
    def submit(self, event: WebhookEvent, urls: Iterable[str]) -> None:
        """Record the event and queue a first attempt to each URL (held back while paused)."""
        urls = list(urls)
        with self._cond:
            self.events[event.event_id] = event
            while len(self.events) > self.history_limit:
                del self.events[next(iter(self.events))]
            if self._held is not None:
                self._held.extend((event, url) for url in urls)
                return
        for url in urls:
            self._schedule(event, url, attempt=1, delay=0.0)

    def pause(self) -> None:
        """Hold new first attempts until `resume`, to stage out-of-order arrivals."""
        with self._cond:
            if self._held is None:
                self._held = []

    def resume(self, order: str = "fifo") -> None:
        """Send the held events, one at a time in `order` ("fifo" or "reverse")."""
        with self._cond:
            held, self._held = self._held or [], None
        if order == "reverse":
            held.reverse()
        elif order != "fifo":
            raise ValueError("order must be 'fifo' or 'reverse'")
        if not held:
            return
        self.start()
        with self._cond:
            self._in_flight += 1
            generation = self._generation

        def send_in_order() -> None:
            try:
                for event, url in held:
                    self._attempt(_Job(0.0, 0, event, url, 1, generation))
            finally:
                with self._cond:
                    self._in_flight -= 1
                    self._cond.notify_all()

        threading.Thread(target=send_in_order, name="aftership-webhook-release", daemon=True).start()

    def wait_idle(self, timeout: float = 10.0) -> bool:
        """Block until nothing is queued or in flight; False on timeout."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while self._queue or self._in_flight:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._cond.wait(min(remaining, 0.05))
        return True

    def event_history(self) -> dict[str, WebhookEvent]:
        with self._cond:
            return dict(self.events)

    def delivery_history(self) -> list[WebhookDelivery]:
        with self._cond:
            return list(self.deliveries)

    def _schedule(self, event: WebhookEvent, url: str, *, attempt: int, delay: float) -> None:
        self.start()
        with self._cond:
            if self._stopping:
                return
            due = time.monotonic() + delay
            heapq.heappush(self._queue, _Job(due, next(self._seq), event, url, attempt, self._generation))
            self._cond.notify_all()

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._stopping and (not self._queue or self._queue[0].due > time.monotonic()):
                    wait = self._queue[0].due - time.monotonic() if self._queue else None
                    self._cond.wait(wait)
                if self._stopping:
                    return
                job = heapq.heappop(self._queue)
                self._in_flight += 1
                pool = self._pool
            if pool is None:
                return
            try:
                pool.submit(self._attempt_and_release, job)
            except RuntimeError:  # pool shut down under us: the emitter is stopping
                return

    def _attempt_and_release(self, job: _Job) -> None:
        try:
            self._attempt(job)
        finally:
            with self._cond:
                self._in_flight -= 1
                self._cond.notify_all()

    def _attempt(self, job: _Job) -> None:
        event = job.event
        started_wall, started = time.time(), time.monotonic()
        status: int | None = None
        error: str | None = None
        try:
            # A fresh connection per attempt, as a remote sender would open.
            response = requests.post(job.url, data=event.body, headers=event.headers, timeout=self.timeout)
            status = response.status_code
            response.close()
        except requests.Timeout:
            error = f"timeout after {self.timeout:g} s"
        except requests.RequestException as exc:
            error = f"{type(exc).__name__}: {exc}"
        delivery = WebhookDelivery(
            event_id=event.event_id,
            event=event.event,
            tracking_id=event.tracking_id,
            url=job.url,
            attempt=job.attempt,
            status=status,
            error=error,
            at=started_wall,
            duration=time.monotonic() - started,
        )
        with self._cond:
            if job.generation != self._generation:
                return
            self.deliveries.append(delivery)
            if len(self.deliveries) > 5 * self.history_limit:
                del self.deliveries[: len(self.deliveries) - 5 * self.history_limit]
            self._cond.notify_all()
        if not delivery.ok and job.attempt < self.max_attempts:
            delay = retry_delay(job.attempt) * self._time_scale()
            self._schedule(event, job.url, attempt=job.attempt + 1, delay=delay)
