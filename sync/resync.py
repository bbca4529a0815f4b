"""Resyncs asked from the admin: recorded, run by a worker, their progress and outcome kept on the row."""

from __future__ import annotations

import logging
import time
from datetime import timedelta

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from .audit import Actor, audit_record
from .models import AuditAction, Resync, ResyncState

logger = logging.getLogger(__name__)


def _ring(resync_id: int) -> None:
    from .queue import doorbell_ring

    try:
        doorbell_ring(task="sync.tasks.run_resync", args=(resync_id,), name=f"resync-{resync_id}")
    except Exception:  # the dispatcher rings again within a minute
        logger.exception("could not queue the resync", extra={"resync_id": resync_id})


def resyncs_ring_stale() -> int:
    """Ring again for resyncs still waiting a minute after they were asked (a lost ring), and give back to
    the queue one whose worker died (running longer than a task may: django-q2's Q_TIMEOUT)."""
    from django.conf import settings

    now = timezone.now()
    dead = Resync.objects.filter(
        state=ResyncState.RUNNING, started_at__lt=now - timedelta(seconds=2 * settings.Q_TIMEOUT)
    )
    dead.filter(runs__gte=3).update(
        state=ResyncState.FAILED,
        finished_at=now,
        error="Its worker stopped three times before it ended: split it into shorter periods or fewer names.",
    )
    dead.update(state=ResyncState.QUEUED, started_at=None)
    stale = Resync.objects.filter(state=ResyncState.QUEUED, created_at__lt=now - timedelta(minutes=1))
    ids = list(stale.values_list("pk", flat=True)[:20])
    for resync_id in ids:
        _ring(resync_id)
    return len(ids)


def resync_request(*, resync: Resync, actor: Actor) -> Resync:
    """Record a resync asked by a person and queue it for a worker."""
    resync.requested_by = actor.name[:150]
    with transaction.atomic():
        resync.save()
        scope = [
            *([f"validated since {resync.since:%Y-%m-%d %H:%M}"] if resync.since else []),
            *([f"validated before {resync.until:%Y-%m-%d %H:%M}"] if resync.until else []),
            *([f"of orders {resync.orders}"] if resync.orders else []),
            *([f"named {resync.pickings}"] if resync.pickings else []),
        ]
        audit_record(
            actor=actor,
            action=AuditAction.RESYNC,
            obj=resync,
            target=("Deliveries " + "; ".join(scope))[:300],
            after={
                "since": resync.since,
                "until": resync.until,
                "orders": resync.orders,
                "deliveries": resync.pickings,
            },
        )
        transaction.on_commit(lambda: _ring(resync.pk))
    return resync


def resync_run(*, resync_id: int) -> Resync | None:
    """Read the resync's deliveries from Odoo, for at most SYNC_CATCHUP_BUDGET_SECONDS a run: a large one
    goes back to the queue where it stopped and the next run goes on (the worker that takes it first;
    others find it taken). Its figures add up over the runs."""
    from django.conf import settings

    from .clients import odoo_client
    from .pull import pull_selection
    from .queue import jobs_ring

    started = timezone.now()
    if not Resync.objects.filter(pk=resync_id, state=ResyncState.QUEUED).update(
        state=ResyncState.RUNNING, started_at=started, runs=F("runs") + 1
    ):
        return None
    resync = Resync.objects.get(pk=resync_id)
    mine = Resync.objects.filter(pk=resync_id, state=ResyncState.RUNNING, started_at=started)  # not a rerun's
    base = {"pages": resync.pages, "deliveries": resync.deliveries, "trackings_queued": resync.trackings_queued}

    def progress(stats) -> None:
        mine.update(
            pages=base["pages"] + stats.pages,
            deliveries=base["deliveries"] + stats.pickings,
            trackings_queued=base["trackings_queued"] + stats.jobs_queued,
        )

    try:
        with odoo_client() as client:
            stats = pull_selection(
                client,
                since=resync.since,
                until=resync.until,
                orders=resync.names("orders"),
                pickings=resync.names("pickings"),
                on_page=progress,
                position=resync.position,
                deadline=time.monotonic() + settings.SYNC_CATCHUP_BUDGET_SECONDS,
            )
    except Exception as exc:
        logger.exception("resync failed", extra={"resync_id": resync_id})
        mine.update(state=ResyncState.FAILED, finished_at=timezone.now(), error=f"{type(exc).__name__}: {exc}"[:2000])
        return Resync.objects.get(pk=resync_id)
    figures = {
        "pages": base["pages"] + stats.pages,
        "deliveries": base["deliveries"] + stats.pickings,
        "trackings_queued": base["trackings_queued"] + stats.jobs_queued,
        "new_parcels": resync.new_parcels + stats.shipments_new,
        "already_tracked": resync.already_tracked + stats.already_tracked,
        "not_found": resync.not_found or stats.errors[:200],
    }
    if stats.complete:
        mine.update(state=ResyncState.DONE, finished_at=timezone.now(), position=None, **figures)
    elif mine.update(state=ResyncState.QUEUED, position=stats.position, **figures):
        transaction.on_commit(lambda: _ring(resync_id))
    if stats.jobs_queued:
        jobs_ring()
    return Resync.objects.get(pk=resync_id)
