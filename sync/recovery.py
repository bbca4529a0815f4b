"""Manual recovery, as the admin's actions and the commands offer it: retry, resync, reprocess.

Each acts on what it is given, does what applies (a job still running is not retried), records every
change in the audit log under the person who asked, and returns how many it changed.
"""

from __future__ import annotations

from collections.abc import Iterable

from django.db import transaction

from .audit import Actor, audit_record
from .carriers import carrier_mapping_save
from .inbound import event_reprocess
from .jobs import job_retry
from .models import AuditAction, CarrierMapping, JobKind, JobState, Shipment, SyncJob, TrackingEvent
from .queue import job_enqueue_picking_sync


def jobs_retry(*, jobs: Iterable[SyncJob], actor: Actor, reason: str = "") -> int:
    """Give failed or abandoned jobs a fresh start; others are left alone."""
    retried = 0
    for job in jobs:
        before = {"state": job.state, "attempts": job.attempts, "last_error": job.last_error[:300]}
        with transaction.atomic():
            if not job_retry(job=job, reason=reason or f"Retried by {actor}"):
                continue
            audit_record(
                actor=actor,
                action=AuditAction.RETRY,
                obj=job,
                target=_job_target(job),
                before=before,
                after={"state": JobState.PENDING, "attempts": 0},
                detail=reason,
            )
        retried += 1
    return retried


def _job_target(job: SyncJob) -> str:
    shipment = job.shipment
    what = f"{shipment.picking_name} ({shipment.tracking_number})" if shipment else f"delivery #{job.picking_id}"
    return f"{job.get_kind_display()} for {what}"


def shipments_retry(*, shipments: Iterable[Shipment], actor: Actor) -> int:
    """Retry creating the AfterShip tracking of parcels that have none (their last tracking job failed)."""
    retried = 0
    for shipment in shipments:
        if shipment.aftership_id:
            continue
        job = (
            shipment.jobs.filter(kind=JobKind.CREATE_TRACKING)
            .exclude(state__in=[JobState.PENDING, JobState.RUNNING])
            .order_by("-created_at")
            .first()
        )
        if job is not None:
            retried += jobs_retry(jobs=[job], actor=actor, reason=f"Retried by {actor}")
    return retried


def carriers_retry(*, carriers: Iterable[CarrierMapping], actor: Actor) -> int:
    """Retry the parcels of these carriers whose tracking failed (after their mapping was fixed)."""
    failed = SyncJob.objects.filter(
        kind=JobKind.CREATE_TRACKING,
        shipment__carrier__in=list(carriers),
        state__in=[JobState.FAILED, JobState.DEAD],
    )
    return jobs_retry(jobs=failed, actor=actor, reason=f"Retried by {actor} after a carrier mapping change")


def carrier_mapping_update(*, mapping: CarrierMapping, actor: Actor) -> int:
    """Save a person's change to a mapping; when its courier or its tracking switch changed, queue again
    the carrier's parcels that failed for lack of it. Returns the parcels queued."""
    entry = carrier_mapping_save(mapping=mapping, actor=actor)
    if entry is not None and {"slug", "enabled"} & set(entry.after or {}):
        return carriers_retry(carriers=[mapping], actor=actor)
    return 0


def shipments_mark_reviewed(*, shipments: Iterable[Shipment], actor: Actor) -> int:
    """Take parcels off the review list (the problem was dealt with elsewhere); returns how many."""
    marked = 0
    for shipment in shipments:
        with transaction.atomic():
            if not Shipment.objects.filter(pk=shipment.pk, needs_review=True).update(needs_review=False):
                continue
            audit_record(
                actor=actor,
                action=AuditAction.REVIEWED,
                obj=shipment,
                target=f"Parcel {shipment.picking_name} {shipment.tracking_number}",
                before={"needs review": True, "reason": shipment.review_reason[:300]},
                after={"needs review": False},
            )
        marked += 1
    return marked


def shipments_resync(*, shipments: Iterable[Shipment], actor: Actor) -> int:
    """Read these parcels' deliveries again from Odoo; returns the number of deliveries."""
    deliveries: dict[int, str] = {}
    for shipment in shipments:
        deliveries.setdefault(shipment.picking_id, shipment.picking_name)
    for picking_id, name in sorted(deliveries.items()):
        with transaction.atomic():
            job_enqueue_picking_sync(picking_id=picking_id)
            audit_record(
                actor=actor,
                action=AuditAction.RESYNC,
                target=f"Delivery {name or picking_id}",
                after={"picking_id": picking_id, "queued": "read from Odoo"},
            )
    return len(deliveries)


def events_reprocess(*, events: Iterable[TrackingEvent], actor: Actor) -> int:
    """Apply failed, unmatched or ignored webhook events again; others are left alone."""
    queued = 0
    for event in events:
        before = {"state": event.state, "error": event.error[:300]}
        with transaction.atomic():
            if not event_reprocess(event=event):
                continue
            audit_record(
                actor=actor,
                action=AuditAction.REPROCESS,
                obj=event,
                target=f"Webhook event #{event.pk} {event.tracking_number}".strip(),
                before=before,
                after={"state": event.state, "error": event.error[:300]},
            )
        queued += 1
    return queued
