"""Queueing work: SyncJob rows are the work, and django-q2 tasks only ring the doorbell.

Services queue work with `jobs_create` (or `job_enqueue_picking_sync` for a delivery Odoo pushed); the
doorbell rings once the rows are committed. A lost ring is harmless: the dispatcher rings for due work
every minute. Running the jobs is `jobs`'s business.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from datetime import datetime, timedelta

from django.conf import settings
from django.core.cache import cache
from django.db import IntegrityError, OperationalError, connection, transaction
from django.utils import timezone

from portal.cache import cache_count

from .models import JobKind, JobState, Shipment, SyncJob

logger = logging.getLogger(__name__)


def job_build(
    *, kind: str, shipment: Shipment | None = None, picking_id: int | None = None, payload: dict | None = None
) -> SyncJob:
    return SyncJob(
        kind=kind,
        shipment=shipment,
        picking_id=picking_id if picking_id is not None else (shipment.picking_id if shipment else None),
        payload=payload or {},
    )


def jobs_create(*, jobs: list[SyncJob]) -> int:
    """Save jobs, skipping any whose shipment already has an open job of that kind; rings on commit."""
    created = 0
    for job in jobs:
        try:
            with transaction.atomic():
                job.save()
            created += 1
        except IntegrityError:
            continue
    if created:
        transaction.on_commit(lambda: jobs_ring(count=created))
    return created


def _write_soon(write: Callable[[], object]) -> None:
    """Run `write` in a transaction that takes SQLite's write lock as soon as a worker lets go of it.

    SQLite's own wait for a busy lock sleeps in growing steps (1, 2, 5, 10, 15, 20 ms...), so a webhook
    behind a worker's 4 ms commit could wait 8; here it looks again every half millisecond. Other
    databases lock rows, not the file: a plain transaction.
    """
    if connection.vendor != "sqlite":
        with transaction.atomic():
            write()
        return
    connection.ensure_connection()
    deadline = time.monotonic() + 30
    with connection.cursor() as cursor:
        cursor.execute("PRAGMA busy_timeout = 0")
    try:
        while True:
            try:
                with transaction.atomic():
                    write()
                return
            except OperationalError as exc:
                if "locked" not in str(exc) or time.monotonic() > deadline:
                    raise
                time.sleep(0.0005)
    finally:
        with connection.cursor() as cursor:
            cursor.execute("PRAGMA busy_timeout = 30000")


# The batch this process opened last: a push that can join it needs no query to find it.
_open_batch: dict[str, datetime] = {}


def picking_batch_due(*, min_delay: float) -> tuple[datetime, bool]:
    """When the next batch of pushed deliveries is read, and whether this call opened that batch.

    A read waits for Odoo to commit (it posts before), and every delivery pushed meanwhile joins it: a
    batch is the pending reads due between `min_delay` from now and one settle delay from now.
    """
    now = timezone.now()
    settle = timedelta(seconds=max(settings.SYNC_PUSH_SETTLE_SECONDS, min_delay))
    known = _open_batch.get("due")
    if known is not None and now + timedelta(seconds=min_delay) <= known <= now + settle:
        return known, False
    joined = (
        SyncJob.objects.filter(
            kind=JobKind.PICKING_SYNC,
            state=JobState.PENDING,
            next_attempt_at__gte=now + timedelta(seconds=min_delay),
            next_attempt_at__lte=now + settle,
        )
        .order_by("next_attempt_at")
        .values_list("next_attempt_at", flat=True)
        .first()
    )
    if joined:
        return joined, False
    _open_batch["due"] = now + settle
    return now + settle, True


def job_enqueue_picking_sync(*, picking_id: int) -> None:
    """Queue a read of one delivery (Odoo told us it was validated), in the batch of pushes being gathered."""
    # It joins a batch only if Odoo has a quarter of the settle delay left to commit before the read.
    due, opened = picking_batch_due(min_delay=settings.SYNC_PUSH_SETTLE_SECONDS / 4)
    try:
        _write_soon(
            lambda: SyncJob.objects.create(kind=JobKind.PICKING_SYNC, picking_id=picking_id, next_attempt_at=due)
        )
    except IntegrityError:
        SyncJob.objects.filter(
            kind=JobKind.PICKING_SYNC, picking_id=picking_id, shipment__isnull=True, state=JobState.PENDING
        ).update(next_attempt_at=due)
    if opened:  # one doorbell per batch: the drain it wakes waits for the batch to be due
        transaction.on_commit(lambda: jobs_ring())


_brokers: dict[int, object] = {}


def doorbell_ring(*, task: str, args: tuple = (), name: str) -> None:
    """Queue a django-q2 task through this process's one broker connection (not a new one per ring)."""
    from django_q.brokers import get_broker
    from django_q.tasks import async_task

    broker = _brokers.get(os.getpid())
    if broker is None:
        broker = _brokers[os.getpid()] = get_broker()
    async_task(task, *args, task_name=name, group=name, broker=broker)


# Drains rung and not started yet (counted in the cache, forgotten after a while: the dispatcher rings
# again every minute), so a backlog queued page by page does not fill the task queue with drains that
# would make the scheduled pulls wait behind them.
DRAIN_RINGS_KEY = "shiptrack:drain-rings"
DRAIN_RINGS_SECONDS = 120
# A running drain holds one of SYNC_DRAIN_PARALLELISM slots, across every worker of every machine. A slot
# is let go when its drain ends, or expires a while after the longest a drain can run (a killed worker).
DRAIN_SLOT_KEY = "shiptrack:drain-slot:{}"


def _drain_slot_seconds() -> int:
    return int(settings.Q_TIMEOUT) + 30


def drain_slot_take(*, owner: str) -> int | None:
    """A free drain slot for `owner` (its number), or None when SYNC_DRAIN_PARALLELISM drains are running.
    With the cache down, the drain runs (-1): a stopped queue costs more than a drain too many."""
    try:
        for slot in range(settings.SYNC_DRAIN_PARALLELISM):
            if cache.add(DRAIN_SLOT_KEY.format(slot), owner, timeout=_drain_slot_seconds()):
                return slot
    except Exception:
        logger.exception("the cache is not answering; draining without a slot")
        return -1
    return None


def drain_slot_release(*, slot: int, owner: str) -> None:
    if slot < 0:
        return
    key = DRAIN_SLOT_KEY.format(slot)
    try:
        if cache.get(key) == owner:  # not a slot that expired and was taken by another drain since
            cache.delete(key)
    except Exception:
        logger.exception("the cache is not answering; the drain slot expires by itself")


def _drains_running() -> int:
    keys = [DRAIN_SLOT_KEY.format(slot) for slot in range(settings.SYNC_DRAIN_PARALLELISM)]
    return len(cache.get_many(keys))


def jobs_ring(*, count: int = 1, recount: bool = False) -> None:
    """Have as many drains running or waiting for a worker as there are due jobs, up to
    SYNC_DRAIN_PARALLELISM in all. Losing a ring is harmless: the dispatcher rings again.

    `recount` (the dispatcher, once a minute) trusts only the running drains' slots and starts the count
    of waiting ones afresh: a count that drifted (a lost decrement) cannot keep the backlog unrung. A
    drain rung once too often finds no slot and ends at once."""
    wanted = max(1, min(count, settings.SYNC_DRAIN_PARALLELISM))
    try:
        running = _drains_running()
        if recount:
            cache.delete(DRAIN_RINGS_KEY)
        busy = running + max(cache_count(DRAIN_RINGS_KEY, timeout=DRAIN_RINGS_SECONDS, by=0), 0)
    except Exception:
        logger.exception("the cache is not answering; ringing anyway")
        busy = 0
    for _ in range(min(wanted, settings.SYNC_DRAIN_PARALLELISM - busy)):
        try:
            doorbell_ring(task="sync.tasks.drain_jobs", name="drain-jobs")
            cache_count(DRAIN_RINGS_KEY, timeout=DRAIN_RINGS_SECONDS)
        except Exception:
            logger.exception("could not ring the job doorbell; the dispatcher will pick the jobs up")
            return


def jobs_doorbell_answered() -> None:
    """A drain starts: one fewer waiting."""
    try:
        cache_count(DRAIN_RINGS_KEY, timeout=DRAIN_RINGS_SECONDS, by=-1)
    except Exception:
        logger.exception("the cache is not answering")


def jobs_cancel_open(*, shipment: Shipment) -> int:
    return SyncJob.objects.filter(shipment=shipment).move(
        "cancel", last_outcome="Cancelled: nothing left to do", finished_at=timezone.now()
    )


def jobs_release_after_outage() -> int:
    """AfterShip answers again: tracking jobs waiting out a backoff (or a credentials pause) go now.

    Backoff spares a service that is down; once it is back, the rate limiter spaces the retries.
    """
    now = timezone.now()
    waiting = SyncJob.objects.filter(kind=JobKind.CREATE_TRACKING, next_attempt_at__gt=now)
    count = waiting.move("hurry", next_attempt_at=now)
    if count:
        logger.warning("AfterShip answers again: retrying waiting trackings now", extra={"jobs": count})
        transaction.on_commit(lambda: jobs_ring(count=count))
    return count
