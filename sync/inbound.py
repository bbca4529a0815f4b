"""AfterShip's tracking updates: record each delivery as it arrived, then apply it to its shipment.

Recording happens in the request (raw bytes first, parsing after); applying happens in a worker. Events
can arrive twice or out of order: duplicates are skipped by event id, checkpoints are merged by their
content, and a shipment's status only moves to what the newest carrier news says.
"""

from __future__ import annotations

import hashlib
import json
import logging
from datetime import datetime

from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from portal.logging import log_context

from .models import Checkpoint, EventState, Shipment, SignatureResult, TrackingEvent
from .status import status_for_tag

logger = logging.getLogger(__name__)

# Headers worth keeping with the raw body (never the whole request: no cookies, no proxies' internals).
KEPT_HEADERS = ("content-type", "user-agent", "as-webhook-version", "aftership-hmac-sha256", "x-forwarded-for")


def event_record(*, body: bytes, headers: dict[str, str], remote_addr: str | None, signature: str) -> TrackingEvent:
    """Store a webhook delivery exactly as received, with the outcome of its authentication."""
    kept = {k: v for k, v in ((k.lower(), v) for k, v in headers.items()) if k in KEPT_HEADERS}
    accepted = signature in (SignatureResult.VALID, SignatureResult.VALID_PREVIOUS)
    event = TrackingEvent.objects.create(
        body=body,
        headers=kept,
        remote_addr=remote_addr,
        signature=signature,
        state=EventState.RECEIVED if accepted else EventState.REJECTED,
    )
    if accepted:
        _index(event)
    return event


def _index(event: TrackingEvent) -> None:
    """Pull the searchable bits out of the body; a body we cannot read is kept and marked failed."""
    try:
        payload = json.loads(bytes(event.body))
        msg = payload.get("msg") or {}
        event.event_id = str(payload.get("event_id") or "")[:64]
        event.tracking_number = str(msg.get("tracking_number") or "")[:100]
        event.slug = str(msg.get("slug") or "")[:100]
        event.tag = str(msg.get("tag") or "")[:50]
        event.dedupe_key = event.event_id or hashlib.sha256(bytes(event.body)).hexdigest()
    except (ValueError, AttributeError, TypeError) as exc:
        event.state = EventState.FAILED
        event.error = f"The body is not an AfterShip tracking event: {exc}"
        event.dedupe_key = hashlib.sha256(bytes(event.body)).hexdigest()
    event.save(update_fields=["event_id", "tracking_number", "slug", "tag", "dedupe_key", "state", "error"])


def events_process(limit: int = 500) -> int:
    """Apply received events, oldest first. Returns how many were handled."""
    handled = 0
    for event_id in (
        TrackingEvent.objects.filter(state=EventState.RECEIVED)
        .order_by("received_at", "id")
        .values_list("id", flat=True)[:limit]
    ):
        with transaction.atomic():
            event = TrackingEvent.objects.select_for_update().filter(pk=event_id, state=EventState.RECEIVED).first()
            if event is not None:
                event_apply(event)
                handled += 1
    return handled


def event_apply(event: TrackingEvent) -> None:
    with log_context(event_id=event.pk, aftership_event_id=event.event_id):
        duplicate = (
            TrackingEvent.objects.filter(dedupe_key=event.dedupe_key, state=EventState.PROCESSED)
            .exclude(pk=event.pk)
            .exists()
        )
        if duplicate:
            event.state = EventState.DUPLICATE
        else:
            try:
                event.shipment = shipment_apply_tracking(json.loads(bytes(event.body)).get("msg") or {})
                event.state = EventState.PROCESSED
                if event.shipment is None:
                    event.error = "No shipment in the portal has this tracking number (created outside Odoo?)."
            except Exception as exc:
                logger.exception("could not apply a tracking event")
                event.state = EventState.FAILED
                event.error = f"{type(exc).__name__}: {exc}"
        event.processed_at = timezone.now()
        event.save(update_fields=["state", "shipment", "error", "processed_at"])


def _when(value) -> datetime | None:
    if not value or not isinstance(value, str):
        return None
    parsed = parse_datetime(value)
    if parsed is not None and timezone.is_naive(parsed):
        # Carriers report local times without an offset; close enough for ordering and display.
        parsed = timezone.make_aware(parsed, timezone.get_current_timezone())
    return parsed


def _checkpoint_key(checkpoint: dict) -> str:
    if checkpoint.get("hash"):
        return str(checkpoint["hash"])[:64]
    parts = [str(checkpoint.get(k) or "") for k in ("checkpoint_time", "tag", "subtag", "message", "location")]
    return hashlib.sha256("|".join(parts).encode()).hexdigest()


def _location(checkpoint: dict) -> str:
    if checkpoint.get("location"):
        return str(checkpoint["location"])
    parts = [checkpoint.get(k) for k in ("city", "state", "country_region")]
    return ", ".join(str(p) for p in parts if p)


def _expected_delivery(msg: dict) -> datetime | None:
    for key in ("latest_estimated_delivery", "courier_estimated_delivery_date", "aftership_estimated_delivery_date"):
        value = msg.get(key)
        raw = (value.get("datetime") or value.get("estimated_delivery_date")) if isinstance(value, dict) else None
        if raw:
            parsed = _when(raw if "T" in raw else f"{raw}T00:00:00")
            if parsed:
                return parsed
    return None


def shipment_apply_tracking(msg: dict) -> Shipment | None:
    """Merge a tracking object into its shipment: new checkpoints, and the status if the news is newer."""
    shipment = None
    if msg.get("id"):
        shipment = Shipment.objects.select_for_update().filter(aftership_id=msg["id"]).first()
    if shipment is None and msg.get("tracking_number"):
        candidates = Shipment.objects.select_for_update().filter(tracking_number=msg["tracking_number"])
        shipment = candidates.filter(slug=msg.get("slug") or "").first() or candidates.first()
    if shipment is None:
        return None

    latest = None
    for checkpoint in msg.get("checkpoints") or []:
        when = _when(checkpoint.get("checkpoint_time"))
        latest = max(latest, when) if latest and when else (when or latest)
        try:
            with transaction.atomic():
                Checkpoint.objects.create(
                    shipment=shipment,
                    checkpoint_time=when,
                    location=_location(checkpoint)[:300],
                    message=str(checkpoint.get("message") or ""),
                    tag=str(checkpoint.get("tag") or "")[:50],
                    subtag=str(checkpoint.get("subtag") or "")[:50],
                    dedupe_key=_checkpoint_key(checkpoint),
                )
        except IntegrityError:
            continue  # already known

    # Out-of-order delivery: an older picture of the parcel never overwrites a newer one.
    if latest is not None and shipment.last_checkpoint_at and latest < shipment.last_checkpoint_at:
        return shipment
    if msg.get("id") and not shipment.aftership_id:
        shipment.aftership_id = msg["id"]
    tag = msg.get("tag") or shipment.tag
    shipment.tag = tag
    shipment.subtag = msg.get("subtag") or ""
    shipment.subtag_message = (msg.get("subtag_message") or "")[:200]
    shipment.status = status_for_tag(tag)
    shipment.last_checkpoint_at = latest or shipment.last_checkpoint_at
    shipment.expected_delivery = _expected_delivery(msg) or shipment.expected_delivery
    shipment.save()
    return shipment


def events_ring() -> None:
    """Queue a worker to apply received events; if the queue is unreachable the dispatcher does it later."""
    from django_q.tasks import async_task

    try:
        async_task("sync.tasks.process_events", task_name="process-events", group="events")
    except Exception:
        logger.exception("could not queue event processing; the dispatcher will pick the events up")
