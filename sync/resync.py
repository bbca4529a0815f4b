"""Resyncs asked from the admin: recorded, run by a worker, their progress and outcome kept on the row."""

from __future__ import annotations

import logging
from datetime import timedelta

from django.db import transaction
from django.utils import timezone

from .audit import Actor, audit_record
from .models import AuditAction, Resync, ResyncState

logger = logging.getLogger(__name__)


def _ring(resync_id: int) -> None:
    from .jobs import doorbell_ring

    try:
        doorbell_ring("sync.tasks.run_resync", resync_id, name=f"resync-{resync_id}")
    except Exception:  # the dispatcher rings again within a minute
        logger.exception("could not queue the resync", extra={"resync_id": resync_id})


def resyncs_ring_stale() -> int:
    """Ring again for resyncs still waiting a minute after they were asked (a lost ring), and give back to
    the queue one whose worker died (running longer than a task may: django-q2's Q_TIMEOUT)."""
    from django.conf import settings

    now = timezone.now()
    Resync.objects.filter(
        state=ResyncState.RUNNING, started_at__lt=now - timedelta(seconds=2 * settings.Q_TIMEOUT)
    ).update(state=ResyncState.QUEUED, started_at=None)
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
    """Read the resync's deliveries from Odoo (the worker that takes it first; others find it taken)."""
    from .clients import odoo_client
    from .jobs import jobs_ring
    from .odoo import OdooError
    from .pull import pull_selection

    now = timezone.now()
    if not Resync.objects.filter(pk=resync_id, state=ResyncState.QUEUED).update(
        state=ResyncState.RUNNING, started_at=now
    ):
        return None
    resync = Resync.objects.get(pk=resync_id)

    def progress(stats) -> None:
        Resync.objects.filter(pk=resync_id).update(
            pages=stats.pages, deliveries=stats.pickings, trackings_queued=stats.jobs_queued
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
            )
    except OdooError as exc:
        Resync.objects.filter(pk=resync_id).update(
            state=ResyncState.FAILED, finished_at=timezone.now(), error=f"Odoo: {exc}"[:2000]
        )
        return Resync.objects.get(pk=resync_id)
    Resync.objects.filter(pk=resync_id).update(
        state=ResyncState.DONE,
        finished_at=timezone.now(),
        pages=stats.pages,
        deliveries=stats.pickings,
        new_parcels=stats.shipments_new,
        trackings_queued=stats.jobs_queued,
        already_tracked=stats.already_tracked,
        not_found=stats.errors[:200],
    )
    if stats.jobs_queued:
        jobs_ring(1)
    return Resync.objects.get(pk=resync_id)
