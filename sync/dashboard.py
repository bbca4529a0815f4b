"""The figures at the top of the admin: is the integration healthy, and is anything waiting for a person."""

from __future__ import annotations

from datetime import timedelta

from django.db.models import Count, Q, Sum
from django.utils import timezone

from .models import (
    OPEN_JOB_STATES,
    ApiUsage,
    CarrierMapping,
    EventState,
    JobState,
    ServiceState,
    Shipment,
    ShipmentStatus,
    SyncCursor,
    SyncJob,
    TrackingEvent,
)
from .pull import INCREMENTAL_CURSOR


def dashboard_summary() -> dict:
    """A handful of aggregate queries, cheap enough for every visit to the admin's front page."""
    now = timezone.now()
    parcels = Shipment.objects.aggregate(
        total=Count("id"),
        tracked=Count("id", filter=~Q(aftership_id="")),
        review=Count("id", filter=Q(needs_review=True)),
        untracked=Count("id", filter=Q(aftership_id="", needs_review=False) & ~Q(status=ShipmentStatus.IGNORED)),
        delivered=Count("id", filter=Q(status=ShipmentStatus.DONE)),
        exceptions=Count("id", filter=Q(status__in=[ShipmentStatus.EXCEPTION, ShipmentStatus.ATTEMPT_FAIL])),
    )
    jobs = SyncJob.objects.aggregate(
        waiting=Count("id", filter=Q(state__in=OPEN_JOB_STATES)),
        retrying=Count("id", filter=Q(state=JobState.PENDING, attempts__gt=0)),
        failed=Count("id", filter=Q(state=JobState.FAILED)),
        dead=Count("id", filter=Q(state=JobState.DEAD)),
    )
    events = TrackingEvent.objects.filter(received_at__gte=now - timedelta(hours=1)).aggregate(
        received=Count("id"),
        rejected=Count("id", filter=Q(state=EventState.REJECTED)),
        failed=Count("id", filter=Q(state=EventState.FAILED)),
    )
    hour = now.replace(minute=0, second=0, microsecond=0)
    calls = dict(
        ApiUsage.objects.filter(hour=hour).values_list("service").annotate(n=Sum("calls")).values_list("service", "n")
    )
    cursor = SyncCursor.objects.filter(name=INCREMENTAL_CURSOR).first()
    writebacks = Shipment.objects.filter(writeback_due_at__isnull=False).count()
    odoo = ServiceState.objects.filter(service=ServiceState.ODOO).first()
    return {
        "paused": list(ServiceState.objects.filter(credentials_ok=False)),
        "parcels": parcels,
        "jobs": jobs,
        "events": events,
        "calls": {"aftership": calls.get("aftership", 0), "odoo": calls.get("odoo", 0)},
        "unmapped": CarrierMapping.objects.filter(slug="", enabled=True).count(),
        "last_pull": cursor.last_run_at if cursor else None,
        "writebacks_waiting": writebacks,
        "last_odoo_ok": odoo.last_ok_at if odoo else None,
    }
