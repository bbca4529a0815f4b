"""Reconciliation: what changed in AfterShip without a webhook reaching the portal, applied by the same path.

Every few hours (`AFTERSHIP_RECONCILE_INTERVAL_HOURS`) the trackings AfterShip updated since the last
run are listed (`GET /trackings?updated_at_min=`, paged by cursor, inside the endpoint's rate limit).
Those of the portal's shipments with news newer than what the shipment has are kept as events
(source "reconciliation poll") and applied like webhooks: ordering rules, checkpoints, write-back.
"""

from __future__ import annotations

import logging
import time
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from .aftership import AfterShipClient
from .inbound import aftership_time, event_record_polled, events_ring
from .models import Shipment, SyncCursor

logger = logging.getLogger(__name__)

RECONCILE_CURSOR = "aftership_trackings"
PAGE_SIZE = 200
# Re-read a little before the cursor: AfterShip's updated_at is stamped before its search index has it.
OVERLAP = timedelta(minutes=10)


@dataclass
class ReconcileStats:
    pages: int = 0
    trackings: int = 0
    recorded: int = 0
    up_to_date: int = 0
    not_ours: int = 0
    newest: str = ""
    complete: bool = True

    def as_dict(self) -> dict:
        return asdict(self)


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).replace(microsecond=0).strftime("%Y-%m-%dT%H:%M:%SZ")


def trackings_reconcile(
    *, client: AfterShipClient, since: datetime | None = None, budget_seconds: float | None = None
) -> ReconcileStats:
    """Record, as events, AfterShip's newer news about the portal's shipments since the cursor (or `since`).

    AfterShip lists trackings newest-created first, not by update, so the cursor moves only once a
    sweep has read every page. A sweep that runs out of its time budget keeps its page and resumes there
    on the next run; what it recorded is applied meanwhile.
    """
    cursor, _ = SyncCursor.objects.get_or_create(name=RECONCILE_CURSOR)
    sweep = (cursor.last_run_summary or {}).get("sweep") or {}
    if since is not None or not sweep.get("since"):
        if since is None:
            lookback = timedelta(hours=max(settings.AFTERSHIP_RECONCILE_INTERVAL_HOURS, 1) * 2)
            since = (cursor.write_date or timezone.now() - lookback) - OVERLAP
        sweep = {"since": _iso(since), "page": None, "newest": None}
    newest = aftership_time(sweep.get("newest")) or cursor.write_date
    deadline = time.monotonic() + (
        budget_seconds if budget_seconds is not None else settings.SYNC_CATCHUP_BUDGET_SECONDS
    )
    stats = ReconcileStats()
    page_cursor = sweep.get("page")
    while True:
        params = {"updated_at_min": sweep["since"], "limit": PAGE_SIZE}
        if page_cursor:
            params["cursor"] = page_cursor
        data = client.list_trackings(**params)
        trackings = [t for t in data.get("trackings") or [] if isinstance(t, dict) and t.get("id")]
        stats.pages += 1
        stats.trackings += len(trackings)
        for tracking in trackings:
            updated = aftership_time(tracking.get("updated_at"))
            if updated and (newest is None or updated > newest):
                newest = updated
        _record_page(trackings, stats)
        pagination = data.get("pagination") or {}
        page_cursor = pagination.get("next_cursor")
        if not trackings or not pagination.get("has_next_page") or not page_cursor:
            break
        if time.monotonic() >= deadline:
            stats.complete = False
            break
    stats.newest = newest.isoformat() if newest else ""
    cursor.last_run_at = timezone.now()
    if stats.complete:
        cursor.write_date = newest
        cursor.last_run_summary = stats.as_dict()
    else:
        cursor.last_run_summary = {**stats.as_dict(), "sweep": {**sweep, "page": page_cursor, "newest": stats.newest}}
    cursor.save(update_fields=["write_date", "last_run_at", "last_run_summary"])
    if stats.recorded:
        transaction.on_commit(events_ring)
    logger.info("reconciliation finished" if stats.complete else "reconciliation paused", extra=stats.as_dict())
    return stats


def _record_page(trackings: list[dict], stats: ReconcileStats) -> None:
    ids = {str(t["id"]) for t in trackings}
    numbers = {str(t.get("tracking_number") or "") for t in trackings} - {""}
    by_id = {s.aftership_id: s for s in Shipment.objects.filter(aftership_id__in=ids)}
    by_number = {s.tracking_number: s for s in Shipment.objects.filter(tracking_number__in=numbers, aftership_id="")}
    for tracking in trackings:
        shipment = by_id.get(str(tracking["id"])) or by_number.get(str(tracking.get("tracking_number") or ""))
        if shipment is None:
            stats.not_ours += 1  # made outside the portal: not a delivery of this Odoo
            continue
        updated = aftership_time(tracking.get("updated_at"))
        if shipment.news_at and updated and updated <= shipment.news_at:
            stats.up_to_date += 1
            continue
        event_record_polled(tracking=tracking, shipment=shipment)
        stats.recorded += 1
