"""Retention: what the portal keeps no longer than RETENTION_DAYS (and the security log its own period)."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import QuerySet
from django.utils import timezone

from .models import (
    FINAL_STATUSES,
    ApiUsage,
    Checkpoint,
    EventState,
    JobAttempt,
    JobState,
    SyncJob,
    TrackingEvent,
)

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


def records_purge(*, dry_run: bool = False, now: datetime | None = None) -> tuple[datetime, dict[str, int]]:
    """Delete (or only count) what is older than RETENTION_DAYS; returns the cutoff and the rows per kind.

    Job attempts of a deleted job go with it and are counted with the attempts. The webhook security
    log follows SECURITY_LOG_RETENTION_DAYS.
    """
    from webhooks.refusals import security_log_purge

    cutoff = (now or timezone.now()) - timedelta(days=settings.RETENTION_DAYS)
    counts = {label: queryset.count() if dry_run else _delete(queryset) for label, queryset in _old(cutoff).items()}
    counts["webhook security log (its own period)"] = security_log_purge(now=now, dry_run=dry_run)
    return cutoff, counts
