"""Running jobs: SyncJob rows are the work (queued by `queue`); django-q2 tasks only ring the doorbell.

1. Services queue work (`queue`); the doorbell rings on commit.
2. A drain (`jobs_drain`) claims due jobs atomically (row locks with SKIP LOCKED on PostgreSQL, the
   write lock on SQLite), runs them, and records each attempt.
3. The outcome decides what follows: done; retried with exponential backoff and jitter until the job
   expires (then dead, with an alert); waiting without burning an attempt (rate limits, paused
   credentials, "not visible in Odoo yet"); or failed on an error a person must look at.
4. A scheduled dispatcher (`jobs_dispatch`) returns jobs of crashed workers to the queue and rings for
   due jobs whose doorbell was lost.
"""

from __future__ import annotations

import logging
import os
import random
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.db.models import F, Q, Subquery
from django.utils import timezone

from portal.logging import log_context

from .alerts import alert_admins
from .clients import aftership_client, odoo_client
from .models import JobAttempt, JobKind, JobState, ServiceState, Shipment, SyncJob
from .outcomes import Outcome, outcome_for_exception
from .queue import jobs_ring, picking_batch_due
from .ratelimit import interruptible_sleep
from .usage import usage_flush

logger = logging.getLogger(__name__)

WORKER_ID = f"{socket.gethostname()}:{os.getpid()}"
# A bucket booked further ahead than this is held (429 or open circuit), not merely busy.
HELD_SECONDS = 2.0
# How stale a drain's view of paused services and of due delivery reads may be while its jobs succeed.
CHECK_SECONDS = 0.5
# A drain that waits for a job due soon looks again this often for work queued meanwhile.
LINGER_STEP_SECONDS = 1.0


# -- handlers ----------------------------------------------------------------------------------------
# Each job kind has one handler, registered by the module that owns the work (`outbound`, `writeback`,
# `pull`), with the service whose client it takes; the runner knows no handler module.
_HANDLERS: dict[str, tuple[str, Callable[..., Outcome], Callable[[SyncJob], None] | None]] = {}
# Kinds run a page at a time (reads of pushed deliveries): `fn(client, jobs)` settles each job itself.
_BATCH_HANDLERS: dict[str, tuple[str, Callable[..., None]]] = {}


def job_handler(kind: str, *, service: str, after: Callable[[SyncJob], None] | None = None):
    """Register `fn(job, client) -> Outcome` as the handler of `kind`; `service` is "aftership" or "odoo".

    `after(job)` runs once the job's new state is saved (e.g. to queue what came in while it ran).
    """

    def register(fn: Callable[..., Outcome]) -> Callable[..., Outcome]:
        _HANDLERS[kind] = (service, fn, after)
        return fn

    return register


def job_batch_handler(kind: str, *, service: str):
    """Register `fn(client, jobs)` as the handler of `kind`, run on up to SYNC_PAGE_SIZE claimed jobs at once."""

    def register(fn: Callable[..., None]) -> Callable[..., None]:
        _BATCH_HANDLERS[kind] = (service, fn)
        return fn

    return register


def backoff_delay(attempts: int, *, healthy: bool = False, rng: random.Random | None = None) -> float:
    """Seconds before the next try, with jitter.

    A job's first few failures while its service is otherwise healthy (its circuit closed: other calls
    succeed) are retried soon, from SYNC_RETRY_SOON_SECONDS doubling: a stray 5xx should not hold a
    parcel for minutes. Failures beyond those, or while the service is failing, back off exponentially
    from SYNC_BACKOFF_BASE_SECONDS, capped at SYNC_BACKOFF_MAX_SECONDS.
    """
    soon = settings.SYNC_RETRY_SOON_ATTEMPTS
    if healthy and attempts <= soon:
        delay = settings.SYNC_RETRY_SOON_SECONDS * (2 ** max(attempts - 1, 0))
    else:
        # While AfterShip answers, the long backoff starts where the quick retries end; while it fails, at once.
        repeated = max(attempts - 1 - (soon if healthy else 0), 0)
        delay = min(settings.SYNC_BACKOFF_BASE_SECONDS * (2**repeated), settings.SYNC_BACKOFF_MAX_SECONDS)
    # "Equal jitter": never sooner than half the delay, spread so a burst of failures does not retry as one.
    return delay / 2 + (rng or random).uniform(0, delay / 2)


# -- claiming ----------------------------------------------------------------------------------------
def jobs_claim(
    *, kinds: list[str], limit: int = 1, worker: str = WORKER_ID, due_by: datetime | None = None
) -> list[SyncJob]:
    """Take up to `limit` due jobs for this worker; no two workers ever hold the same job.

    `due_by` takes only jobs due by then (a drain that runs each job once: a job it ran and that must be
    tried again is due later, so it is not taken twice, with no list of what was run).
    """
    if not kinds:
        return []
    now = timezone.now()
    cutoff = min(now, due_by) if due_by else now
    lease = now + timedelta(seconds=settings.SYNC_JOB_LEASE_SECONDS)
    with transaction.atomic():
        due = SyncJob.objects.filter(state=JobState.PENDING, next_attempt_at__lte=cutoff, kind__in=kinds).order_by(
            "next_attempt_at", "id"
        )
        if connection.features.has_select_for_update_skip_locked:
            due = due.select_for_update(skip_locked=True)
        # One statement: the due ids picked and locked alone (the job_due index, whatever the backlog), then
        # their rows with what the handlers need (on SQLite, under the write lock the transaction holds).
        taken = SyncJob.objects.filter(id__in=Subquery(due.values("id")[:limit]))
        claimed = list(taken.select_related("shipment", "shipment__carrier").order_by("next_attempt_at", "id"))
        if not claimed:
            return []
        moved = SyncJob.objects.filter(id__in=[job.id for job in claimed]).move(
            "claim", worker=worker, lease_until=lease, attempts=F("attempts") + 1
        )
        if moved != len(claimed):  # cannot happen while the rows are locked; if it did, take only what moved
            ids = [job.id for job in claimed]
            return list(
                SyncJob.objects.filter(
                    id__in=ids, state=JobState.RUNNING, worker=worker, lease_until=lease
                ).select_related("shipment", "shipment__carrier")
            )
    for job in claimed:
        job.state, job.worker, job.lease_until, job.attempts = JobState.RUNNING, worker, lease, job.attempts + 1
    return claimed


# -- finishing ---------------------------------------------------------------------------------------
def job_finish(*, job: SyncJob, outcome: str) -> None:
    _apply(job, Outcome.done(outcome))


def job_recheck_later(*, job: SyncJob, reason: str) -> None:
    """A pushed delivery not visible as done yet: it joins a later batch, a few times, then is left to the pull."""
    delays = settings.SYNC_PUSH_RECHECK_SECONDS
    if job.attempts <= len(delays):
        at, opened = picking_batch_due(min_delay=delays[job.attempts - 1])
        _apply(job, Outcome.wait(f"{reason}; looking again", at), count_attempt=True)
        if opened:
            transaction.on_commit(lambda: jobs_ring())
    else:
        _apply(job, Outcome.done(f"{reason} after {job.attempts} reads; the scheduled pull will take it in"))


def _settle(job: SyncJob, outcome: Outcome, *, count_attempt: bool) -> tuple[str, dict]:
    """The transition an outcome calls for, and the values it writes."""
    now = timezone.now()
    if outcome.kind == "done":
        return "finish", {"last_outcome": outcome.message[:200], "last_error": "", "finished_at": now}
    if outcome.kind == "fail":
        return "fail", {"last_outcome": "Needs attention", "last_error": outcome.message, "finished_at": now}
    if outcome.kind == "wait":  # no failure: the attempt it was claimed with is given back, unless counted
        attempts = job.attempts if count_attempt else max(job.attempts - 1, 0)
        return "reschedule", {
            "next_attempt_at": outcome.at or now,
            "last_outcome": outcome.message[:200],
            "attempts": attempts,
        }
    next_at = outcome.at or now + timedelta(seconds=backoff_delay(job.attempts, healthy=outcome.healthy))
    if next_at > job.expires_at:
        return "give_up", {
            "last_error": outcome.message,
            "last_outcome": f"Gave up after {job.attempts} attempts",
            "finished_at": now,
        }
    return "reschedule", {
        "last_error": outcome.message,
        "next_attempt_at": next_at,
        "last_outcome": f"Attempt {job.attempts} failed; next try at {timezone.localtime(next_at):%H:%M:%S}",
    }


def _apply(job: SyncJob, outcome: Outcome, *, duration_ms: int = 0, count_attempt: bool = False) -> None:
    transition, values = _settle(job, outcome, count_attempt=count_attempt)
    # Only the worker that holds the job may settle it: one that outlived its lease finds the job handed
    # to another and drops its result (0 rows).
    latency = duration_ms or job.last_latency_ms
    if not job.move(transition, held=True, lease_until=None, last_latency_ms=latency, **values):
        job.lost = True
        logger.warning(
            "the job was handed to another worker meanwhile; this result is dropped", extra={"job_id": job.pk}
        )
        return
    if job.state == JobState.DEAD:
        _alert_dead(job)


def job_heartbeat(*, job: SyncJob) -> bool:
    """Still this worker's job? Extends its lease if so (long work checks in between its steps)."""
    lease = timezone.now() + timedelta(seconds=settings.SYNC_JOB_LEASE_SECONDS)
    return job.move("heartbeat", held=True, lease_until=lease)


def _alert_dead(job: SyncJob) -> None:
    shipment = job.shipment
    what = f"{shipment.picking_name} ({shipment.tracking_number})" if shipment else f"delivery #{job.picking_id}"
    alert_admins(
        f"Gave up on {job.get_kind_display().lower()} for {what}",
        f"The portal kept failing for {settings.SYNC_JOB_EXPIRY_HOURS:g} hours and stopped trying.\n"
        f"Last error: {job.last_error}\n\nRetry it from the admin (Sync jobs, action 'Retry') once the cause is fixed.",
        topic="Sync jobs given up",
        job_id=job.id,
        shipment_id=job.shipment_id,
    )


def job_retry(*, job: SyncJob, reason: str = "Retried from the admin") -> bool:
    """Give a failed or dead job a fresh start (and its shipment a clean review flag)."""
    if not job.can_retry:
        return False
    now = timezone.now()
    try:
        with transaction.atomic():
            updated = SyncJob.objects.filter(pk=job.pk).move(
                "retry",
                attempts=0,
                next_attempt_at=now,
                expires_at=now + timedelta(hours=settings.SYNC_JOB_EXPIRY_HOURS),
                finished_at=None,
                last_outcome=reason[:200],
            )
            if updated and job.shipment_id:
                Shipment.objects.filter(pk=job.shipment_id).update(needs_review=False, review_reason="")
    except IntegrityError:
        return False  # another open job of this kind exists for the shipment; that one will do the work
    if updated:
        transaction.on_commit(lambda: jobs_ring())
    return bool(updated)


# -- running -----------------------------------------------------------------------------------------
@dataclass
class DrainStats:
    ran: int = 0
    outcomes: dict[str, int] = field(default_factory=dict)
    out_of_time: bool = False  # stopped by its time budget while it still had work

    def count(self, kind: str) -> None:
        self.ran += 1
        self.outcomes[kind] = self.outcomes.get(kind, 0) + 1


class _Clients:
    """Per-thread clients, made on first use and closed at the end of a drain."""

    def __init__(self, aftership_factory: Callable, odoo_factory: Callable, stop: threading.Event | None = None):
        self._stop = stop
        self._aftership_factory = aftership_factory
        self._odoo_factory = odoo_factory
        self._aftership = None
        self._odoo = None

    @property
    def aftership(self):
        if self._aftership is None:
            self._aftership = self._aftership_factory()
            limiter = getattr(self._aftership, "limiter", None)
            if self._stop is not None and limiter is not None:
                limiter.sleep = interruptible_sleep(self._stop)  # a stopping drain sends no call it waits for
        return self._aftership

    @property
    def odoo(self):
        if self._odoo is None:
            self._odoo = self._odoo_factory()
        return self._odoo

    def close(self) -> None:
        for client in (self._aftership, self._odoo):
            if client is not None:
                client.close()


def _aftership_healthy(clients: _Clients) -> bool:
    """AfterShip answers other calls: its circuit is closed (no pause imposed on every call)."""
    limiter = getattr(clients.aftership, "limiter", None)
    try:
        return limiter is not None and not limiter.circuit_open()
    except Exception:  # the limiter's store is not answering: take the careful path
        logger.exception("could not read the circuit breaker")
        return False


def job_execute(*, job: SyncJob, clients: _Clients) -> Outcome:
    """Run one claimed job and record the attempt."""
    started = time.monotonic()
    started_at = timezone.now()
    with log_context(job_id=job.id, shipment_id=job.shipment_id, picking_id=job.picking_id):
        service, handler, after = _HANDLERS[job.kind]
        try:
            outcome = handler(job, clients.aftership if service == ServiceState.AFTERSHIP else clients.odoo)
        except Exception as exc:
            outcome = outcome_for_exception(exc)
        if outcome.kind == "retry" and service == ServiceState.AFTERSHIP:
            outcome = replace(outcome, healthy=_aftership_healthy(clients))
        duration_ms = int((time.monotonic() - started) * 1000)
        _apply(job, outcome, duration_ms=duration_ms)
        JobAttempt.objects.create(
            job=job,
            started_at=started_at,
            duration_ms=duration_ms,
            outcome=f"{outcome.kind} (dropped: another worker had the job)" if job.lost else outcome.kind,
            error=outcome.message if outcome.kind in ("retry", "fail") else "",
            worker=job.worker,
        )
        log = logger.info if outcome.kind in ("done", "wait") else logger.warning
        log("job %s", outcome.kind, extra={"outcome": outcome.message, "attempt": job.attempts, "ms": duration_ms})
        if after is not None and not job.lost:
            try:
                after(job)
            except Exception:
                logger.exception("could not finish up after a job; the dispatcher's sweep will")
    return outcome


def jobs_batch_execute(*, kind: str, jobs: list[SyncJob], clients: _Clients) -> None:
    """Run a page of claimed jobs of a batch kind; an error the handler let through settles them all."""
    service, handler = _BATCH_HANDLERS[kind]
    started_at = timezone.now()
    try:
        handler(clients.aftership if service == ServiceState.AFTERSHIP else clients.odoo, jobs)
        return
    except Exception as exc:
        outcome = outcome_for_exception(exc)
    for job in jobs:
        with log_context(job_id=job.id, picking_id=job.picking_id):
            _apply(job, outcome)
            JobAttempt.objects.create(job=job, started_at=started_at, outcome=outcome.kind, error=outcome.message)
            logger.warning("%s %s", job.get_kind_display().lower(), outcome.kind, extra={"outcome": outcome.message})


def _paused_services() -> set[str]:
    return set(ServiceState.objects.filter(credentials_ok=False).values_list("service", flat=True))


def jobs_drain(
    *,
    budget_seconds: float | None = None,
    threads: int = 1,
    aftership_factory: Callable = aftership_client,
    odoo_factory: Callable = odoo_client,
    worker: str = WORKER_ID,
    on_job: Callable[[DrainStats], None] | None = None,
    stop: threading.Event | None = None,
    once: bool = False,
    kinds: list[str] | None = None,
    linger: bool = False,
) -> DrainStats:
    """Run due jobs until none are left or the time budget is spent; `threads` > 1 runs several at once.

    With `once`, each job runs at most once in this drain (a command in the foreground reports and exits
    rather than waiting out the backoff of failing jobs). `kinds` limits the drain to some kinds of work.
    With `linger` (the queue's drains), it waits for jobs due within the quick retries' span before ending.
    """
    wanted = set(kinds or JobKind.values)
    deadline = time.monotonic() + (budget_seconds or settings.SYNC_DRAIN_BUDGET_SECONDS)
    stats = DrainStats()
    lock = threading.Lock()
    due_by = timezone.now() if once else None  # with `once`, what was due when the drain started

    # Shared by the drain's threads and read again at most every CHECK_SECONDS while jobs succeed (a query
    # each per job otherwise): the paused services (at once after any other outcome), and whether
    # deliveries are due to be read (one thread looks; the others go on with their jobs).
    view = {"paused": set(), "paused_read_at": float("-inf"), "pickings_read_at": float("-inf")}

    def loop(in_thread: bool, worker: str) -> None:
        clients = _Clients(aftership_factory, odoo_factory, stop)
        outcome = None
        try:
            while time.monotonic() < deadline and not (stop and stop.is_set()):
                pickings_checked = False
                now = time.monotonic()
                with lock:
                    reread = outcome is None or outcome.kind != "done" or now - view["paused_read_at"] >= CHECK_SECONDS
                    if reread:
                        view["paused_read_at"] = now
                if reread:
                    fresh = _paused_services()
                    with lock:
                        view["paused"] = fresh
                paused = view["paused"]
                with lock:
                    look = (
                        ServiceState.ODOO not in paused
                        and JobKind.PICKING_SYNC in wanted
                        and now - view["pickings_read_at"] >= CHECK_SECONDS
                    )
                    if look:
                        view["pickings_read_at"] = now
                if look:
                    batch = jobs_claim(
                        kinds=[JobKind.PICKING_SYNC], limit=settings.SYNC_PAGE_SIZE, worker=worker, due_by=due_by
                    )
                    pickings_checked = True
                    if batch:
                        view["pickings_read_at"] = float("-inf")  # more may be due: look again at once
                        outcome = None
                        jobs_batch_execute(kind=JobKind.PICKING_SYNC, jobs=batch, clients=clients)
                        with lock:
                            stats.count("picking_sync")
                            if on_job:
                                on_job(stats)
                        continue
                claimed = jobs_claim(kinds=_runnable(wanted, paused), limit=1, worker=worker, due_by=due_by)
                if not claimed:
                    if paused and _paused_services() != paused:
                        view["paused_read_at"] = float("-inf")  # a service resumed meanwhile: its jobs may be due
                        continue
                    if not pickings_checked and ServiceState.ODOO not in paused and JobKind.PICKING_SYNC in wanted:
                        view["pickings_read_at"] = float("-inf")  # nothing else to do: look at the deliveries first
                        continue
                    if not once and _wait_for_due(wanted, paused, deadline, stop, linger=linger):
                        view["pickings_read_at"] = float("-inf")
                        continue
                    break
                if (
                    claimed[0].kind == JobKind.CREATE_TRACKING
                    and (held := clients.aftership.limiter.held_for("create_tracking")) > HELD_SECONDS
                ):
                    # AfterShip is down (open circuit) or said 429: put the job back untouched and wait.
                    _apply(claimed[0], Outcome.wait("Waiting: AfterShip is not answering", timezone.now()))
                    if once:
                        break
                    _pause(min(held, max(deadline - time.monotonic(), 0)), stop)
                    continue
                outcome = job_execute(job=claimed[0], clients=clients)
                with lock:
                    stats.count(outcome.kind)
                    if on_job:
                        on_job(stats)
            else:
                stats.out_of_time = stats.out_of_time or time.monotonic() >= deadline
        finally:
            clients.close()
            usage_flush()
            if in_thread:
                connection.close()

    if threads <= 1:
        loop(False, worker)
    else:
        # Each thread owns its jobs under a name of its own, so the guards tell the threads apart.
        pool = [threading.Thread(target=loop, args=(True, f"{worker}/{i}"), name=f"drain-{i}") for i in range(threads)]
        for thread in pool:
            thread.start()
        for thread in pool:
            thread.join()
    return stats


def _pause(seconds: float, stop: threading.Event | None) -> None:
    if stop is not None:
        stop.wait(seconds)
    else:
        time.sleep(seconds)


def _wait_for_due(
    wanted: set[str], paused: set[str], deadline: float, stop: threading.Event | None, *, linger: bool
) -> bool:
    """Work due in a moment: wait for it rather than end the drain (True: look again).

    Pushed deliveries due within a settle delay (their batch); with `linger` (a drain of the queue), also
    any job due within the quick retries' span, so a stray failure is retried in seconds rather than at
    the dispatcher's next round. A lingering drain looks again every second for work queued meanwhile
    (its slot keeps that work from ringing another drain).
    """
    now = timezone.now()
    soon = Q()
    if JobKind.PICKING_SYNC in wanted and ServiceState.ODOO not in paused:
        settle = timedelta(seconds=settings.SYNC_PUSH_SETTLE_SECONDS + 0.5)
        soon |= Q(kind=JobKind.PICKING_SYNC, next_attempt_at__lte=now + settle)
    if linger and (kinds := _runnable(wanted, paused)):
        span = settings.SYNC_RETRY_SOON_SECONDS * 2 ** max(settings.SYNC_RETRY_SOON_ATTEMPTS - 1, 0)
        soon |= Q(kind__in=kinds, next_attempt_at__lte=now + timedelta(seconds=span))
    if not soon:
        return False
    due = (
        SyncJob.objects.filter(soon, state=JobState.PENDING)
        .order_by("next_attempt_at")
        .values_list("next_attempt_at", flat=True)
        .first()
    )
    if due is None:
        return False
    wait = min(
        (due - now).total_seconds(), deadline - time.monotonic(), LINGER_STEP_SECONDS if linger else float("inf")
    )
    if wait > 0:
        _pause(wait, stop)
    return time.monotonic() < deadline and not (stop and stop.is_set())


def _runnable(wanted: set[str], paused: set[str]) -> list[str]:
    """The one-at-a-time kinds whose service is not paused on refused credentials."""
    kinds = []
    if JobKind.CREATE_TRACKING in wanted and ServiceState.AFTERSHIP not in paused:
        kinds.append(JobKind.CREATE_TRACKING)
    if JobKind.WRITEBACK in wanted and ServiceState.ODOO not in paused:
        kinds.append(JobKind.WRITEBACK)
    return kinds


def jobs_recover_stale() -> int:
    """Jobs whose worker died mid-run (lease expired) go back to the queue."""
    now = timezone.now()
    count = SyncJob.objects.filter(lease_until__lt=now).move(
        "recover",
        next_attempt_at=now,
        worker="",
        lease_until=None,
        last_outcome="The worker running this job stopped before finishing; queued again",
    )
    if count:
        logger.warning("returned jobs of stopped workers to the queue", extra={"jobs": count})
    return count


def _due_jobs():
    """Jobs a drain could run now: waiting, due, and not of a service paused on refused credentials."""
    paused = _paused_services()
    kinds = _runnable(set(JobKind.values), paused)
    if ServiceState.ODOO not in paused:
        kinds.append(JobKind.PICKING_SYNC)
    return SyncJob.objects.filter(state=JobState.PENDING, next_attempt_at__lte=timezone.now(), kind__in=kinds)


def jobs_due() -> bool:
    return _due_jobs().exists()


def jobs_dispatch() -> int:
    """The safety net: recover stale jobs and ring for due ones whose doorbell was lost. Returns due count."""
    jobs_recover_stale()
    due = _due_jobs().count()
    if due:
        jobs_ring(count=due, recount=True)
    return due
