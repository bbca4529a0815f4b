"""Retention: what the portal keeps no longer than RETENTION_DAYS (and the security log its own period)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import QuerySet
from django.utils import timezone

from .aftership import AfterShipAuthError, AfterShipClient, AfterShipError, AfterShipRequestError, TrackingNotFound
from .audit import Actor, audit_purge, audit_record
from .health import service_pause
from .models import (
    FINAL_STATUSES,
    ApiUsage,
    AuditAction,
    Checkpoint,
    EventState,
    JobAttempt,
    JobState,
    ServiceState,
    Shipment,
    SyncJob,
    TrackingEvent,
)
from .ratelimit import QuotaExhausted, RateLimitBusy

BATCH = 2000  # rows per DELETE: short transactions, no long lock on a table that webhooks write to


def _old(cutoff: datetime) -> dict[str, QuerySet]:
    return {
        # An event still waiting to be applied is kept whatever its age: nothing that came is lost.
        "webhook events": TrackingEvent.objects.filter(received_at__lt=cutoff).exclude(state=EventState.RECEIVED),
        "job attempts": JobAttempt.objects.filter(started_at__lt=cutoff),
        "finished jobs": SyncJob.objects.filter(state=JobState.DONE, finished_at__lt=cutoff),
        "API usage hours": ApiUsage.objects.filter(hour__lt=cutoff),
        "checkpoints of parcels delivered or expired before then": Checkpoint.objects.filter(
            shipment__status__in=FINAL_STATUSES, shipment__updated_at__lt=cutoff
        ),
    }


def _delete(queryset: QuerySet) -> int:
    removed = 0
    while ids := list(queryset.values_list("pk", flat=True)[:BATCH]):
        queryset.model.objects.filter(pk__in=ids).delete()
        removed += len(ids)
    return removed


def records_purge(
    *, dry_run: bool = False, now: datetime | None = None, actor: Actor | None = None
) -> tuple[datetime, dict[str, int]]:
    """Delete (or only count) what is older than RETENTION_DAYS; returns the cutoff and the rows per kind.

    Job attempts of a deleted job go with it and are counted with the attempts. The webhook security
    log follows SECURITY_LOG_RETENTION_DAYS, the audit log AUDIT_RETENTION_DAYS. A purge someone ran
    (`actor`) is itself audited.
    """
    from webhooks.refusals import security_log_purge

    cutoff = (now or timezone.now()) - timedelta(days=settings.RETENTION_DAYS)
    counts = {label: queryset.count() if dry_run else _delete(queryset) for label, queryset in _old(cutoff).items()}
    counts["webhook security log (its own period)"] = security_log_purge(now=now, dry_run=dry_run)
    counts["audit log (its own period)"] = audit_purge(now=now, dry_run=dry_run)
    if actor is not None and not dry_run:
        audit_record(
            actor=actor,
            action=AuditAction.PURGE,
            target=f"Records from before {cutoff:%Y-%m-%d %H:%M} UTC",
            after={"deleted": counts},
        )
    return cutoff, counts


@dataclass
class AfterShipPurge:
    cutoff: datetime
    candidates: int = 0
    deleted: int = 0
    already_gone: int = 0
    refused: list[str] = field(default_factory=list)  # "tracking number: AfterShip's reason"
    error: str = ""

    @property
    def handled(self) -> int:
        return self.deleted + self.already_gone + len(self.refused)


def aftership_completed(cutoff: datetime) -> QuerySet:
    """Parcels delivered or expired before `cutoff` whose AfterShip tracking is still there."""
    return Shipment.objects.filter(
        status__in=FINAL_STATUSES, updated_at__lt=cutoff, aftership_deleted_at__isnull=True
    ).exclude(aftership_id="")


def aftership_trackings_purge(
    *,
    client: AfterShipClient,
    dry_run: bool = False,
    limit: int | None = None,
    now: datetime | None = None,
    actor: Actor | None = None,
    on_progress: Callable[[AfterShipPurge], None] | None = None,
) -> AfterShipPurge:
    """Delete the AfterShip trackings of parcels completed before the retention date, one call at a time
    through the rate limiter (AfterShip allows 5 deletions a second), at most `limit` in this run.

    The parcel stays in the portal, marked `aftership_deleted_at`. A tracking AfterShip no longer has
    counts as gone; one AfterShip refuses is reported and skipped. A refused key, an outage or the
    daily quota stops the run with its reason; the next run goes on where it stopped. What was deleted
    is audited even when the run is cut short.
    """
    moment = now or timezone.now()
    result = AfterShipPurge(cutoff=moment - timedelta(days=settings.RETENTION_DAYS))
    pending = aftership_completed(result.cutoff).order_by("pk")
    result.candidates = pending.count()
    if dry_run or not result.candidates:
        return result
    try:
        for shipment in pending.only("pk", "aftership_id", "tracking_number")[:limit].iterator(chunk_size=500):
            try:
                client.delete_tracking(shipment.aftership_id)
                result.deleted += 1
            except TrackingNotFound:
                result.already_gone += 1
            except AfterShipRequestError as exc:  # this tracking only: the others may go
                result.refused.append(f"{shipment.tracking_number}: {exc.message}")
                continue
            Shipment.objects.filter(pk=shipment.pk, aftership_deleted_at__isnull=True).update(
                aftership_deleted_at=timezone.now()
            )
            if on_progress is not None:
                on_progress(result)
    except AfterShipAuthError as exc:
        service_pause(ServiceState.AFTERSHIP, str(exc))
        result.error = str(exc)
    except (AfterShipError, RateLimitBusy, QuotaExhausted) as exc:
        result.error = str(exc)
    finally:
        if actor is not None and result.handled:
            audit_record(
                actor=actor,
                action=AuditAction.PURGE,
                target=f"AfterShip trackings of parcels completed before {result.cutoff:%Y-%m-%d %H:%M} UTC",
                after={"deleted": result.deleted, "already gone": result.already_gone, "refused": len(result.refused)},
                detail="; ".join(filter(None, [result.error, *result.refused[:20]])),
            )
    return result
