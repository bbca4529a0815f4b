"""AfterShip's tracking updates: record each delivery as it arrived, then apply it to its shipment.

1. `event_record` (in the request): the raw bytes are stored with the bits needed to find and order
   the event (event id, tracking number, AfterShip's `updated_at`); nothing else happens there.
2. `events_match` (in a worker): each new event is attached to its shipment; an event for a tracking
   the portal does not know waits as "unmatched" until the shipment appears (`events_rematch`).
3. `events_process`: shipments with waiting events are claimed one at a time (row lock, SKIP LOCKED on
   PostgreSQL), so two workers never apply one shipment's events at once, and its events are applied
   in the order of AfterShip's news, each in its own savepoint: a bad event is marked failed, with its
   traceback, and the next one goes on.
4. Applying merges the checkpoints (one query, whatever their number) and moves the status only on
   newer news (`status.news_moves_status`); a change of status is kept as a `StatusChange` and the
   shipment is marked for write-back to Odoo (`writeback`).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import threading
import time
import traceback
from contextlib import nullcontext
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.core.cache import cache
from django.db import DataError, IntegrityError, connections, transaction
from django.db.models import Count, F, Min, Q
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from portal.logging import log_context

from .event_store import event_store
from .models import (
    Checkpoint,
    EventSource,
    EventState,
    Shipment,
    ShipmentStatus,
    SignatureResult,
    StatusChange,
    TrackingEvent,
)
from .queue import doorbell_ring
from .status import news_moves_status, status_for_tag, status_words
from .writeback import writeback_mark_due, writebacks_queue

logger = logging.getLogger(__name__)

# Headers worth keeping with the raw body (never the whole request: no cookies, no proxies' internals).
KEPT_HEADERS = ("content-type", "user-agent", "as-webhook-version", "aftership-hmac-sha256", "x-forwarded-for")
APPLIED_EVENTS = ("tracking_update", "edd_revise")
REVIEW_EVENTS = ("tracking_pending_time",)
# Shipments claimed per round of `events_process`.
SHIPMENTS_PER_ROUND = 50


def _text(value, limit: int) -> str:
    """A string fit for a column: text, without NUL bytes or lone surrogates (no database stores them), cut
    to the column."""
    if value is None or isinstance(value, dict | list):
        return ""
    text = str(value).replace("\x00", "")
    return text.encode("utf-8", "replace").decode("utf-8")[:limit]


# AfterShip's timestamps outside these years are nonsense (and some databases cannot store them).
_PLAUSIBLE_YEARS = range(2000, 2200)


def aftership_time(value) -> datetime | None:
    """AfterShip's own timestamps (`updated_at`): ISO 8601 with an offset; a bare one is taken as UTC."""
    if not value or not isinstance(value, str):
        return None
    try:
        parsed = parse_datetime(_text(value, 64))
        if parsed is None:
            return None
        parsed = parsed.replace(tzinfo=UTC) if timezone.is_naive(parsed) else parsed.astimezone(UTC)
    except (ValueError, OverflowError):
        return None
    return parsed if parsed.year in _PLAUSIBLE_YEARS else None


def _news_at(payload: dict, msg: dict) -> datetime | None:
    when = aftership_time(msg.get("updated_at"))
    if when is None and isinstance(payload.get("ts"), int | float) and not isinstance(payload.get("ts"), bool):
        try:
            when = datetime.fromtimestamp(payload["ts"], tz=UTC)
        except (OverflowError, OSError, ValueError):
            when = None
    return when if when is None or when.year in _PLAUSIBLE_YEARS else None


# -- intake ------------------------------------------------------------------------------------------
def event_record(*, body: bytes, headers: dict[str, str], remote_addr: str | None, signature: str) -> TrackingEvent:
    """Store a webhook delivery exactly as received, with the outcome of its authentication, in one insert."""
    event = event_build(body=body, headers=headers, remote_addr=remote_addr, signature=signature)
    event_insert(event=event)
    return event


def event_build(*, body: bytes, headers: dict[str, str], remote_addr: str | None, signature: str) -> TrackingEvent:
    """The event a webhook delivery becomes (not saved), indexed when its signature was good."""
    kept = {k: _text(v, 500) for k, v in ((k.lower(), v) for k, v in headers.items()) if k in KEPT_HEADERS}
    accepted = signature in (SignatureResult.VALID, SignatureResult.VALID_PREVIOUS)
    event = TrackingEvent(
        body=body,
        headers=kept,
        remote_addr=remote_addr,
        signature=signature,
        state=EventState.RECEIVED if accepted else EventState.REJECTED,
        body_sha256=hashlib.sha256(body).hexdigest(),
    )
    if accepted:
        _index(event)
    return event


def event_insert(*, event: TrackingEvent) -> None:
    """Insert one built event; when what was read out of its body does not fit the database, keep the raw
    delivery all the same, marked failed with the reason."""
    try:
        # One INSERT in autocommit (a savepoint only inside a caller's transaction, which a failure
        # would otherwise leave aborted on PostgreSQL).
        with transaction.atomic() if transaction.get_connection().in_atomic_block else nullcontext():
            event_store(event=event)
    except (DataError, IntegrityError) as exc:  # what it holds does not fit (a database gone raises on)
        event.pk = None
        for name in ("kind", "event_id", "tracking_number", "slug", "tag"):
            setattr(event, name, "")
        event.news_at = None
        event.state = EventState.FAILED if event.state == EventState.RECEIVED else event.state
        event.error = _text(f"The body could not be indexed: {exc}", 2000)
        event.save(force_insert=True)


def _index(event: TrackingEvent) -> None:
    """Pull the searchable bits out of the body; a body we cannot read is kept and marked failed."""
    event.body_sha256 = event.body_sha256 or hashlib.sha256(bytes(event.body)).hexdigest()
    event.dedupe_key = event.body_sha256
    try:
        payload = json.loads(bytes(event.body))
        if not isinstance(payload, dict) or not isinstance(payload.get("msg"), dict):
            raise ValueError("expected an object with a 'msg' object")
    except (ValueError, RecursionError) as exc:  # RecursionError: nested deeper than Python parses
        event.state = EventState.FAILED
        event.error = f"The body is not an AfterShip tracking event: {_text(exc, 500)}"
        return
    msg = payload["msg"]
    event.kind = _text(payload.get("event"), 40)
    event.event_id = _text(payload.get("event_id"), 64)
    event.tracking_number = _text(msg.get("tracking_number"), 100)
    event.slug = _text(msg.get("slug"), 100)
    event.tag = _text(msg.get("tag"), 50)
    event.news_at = _news_at(payload, msg)
    if event.event_id:
        event.dedupe_key = event.event_id


def event_record_polled(*, tracking: dict, shipment: Shipment | None = None) -> TrackingEvent:
    """Keep a tracking read by the reconciliation poll as an event, so it is applied by the same path."""
    body = json.dumps({"event": "tracking_update", "msg": tracking}, separators=(",", ":")).encode()
    news_at = aftership_time(tracking.get("updated_at"))
    return TrackingEvent.objects.create(
        body=body,
        body_sha256=hashlib.sha256(body).hexdigest(),
        source=EventSource.RECONCILE,
        signature=SignatureResult.NOT_CHECKED,
        kind="tracking_update",
        dedupe_key=_text(f"poll:{tracking.get('id')}:{tracking.get('updated_at')}", 128),
        tracking_number=_text(tracking.get("tracking_number"), 100),
        slug=_text(tracking.get("slug"), 100),
        tag=_text(tracking.get("tag"), 50),
        news_at=news_at,
        shipment=shipment,
    )


# Set while a ring waits for a worker: the webhooks that come meanwhile do not ring again.
DOORBELL_KEY = "shiptrack:events-doorbell"
DOORBELL_SECONDS = 30


def events_ring() -> None:
    """Queue a worker to apply received events, unless one is already queued and has not started.

    The worker clears the flag as it starts (`events_doorbell_answered`), so news committed after that
    rings again; a lost ring is found by the dispatcher within a minute.
    """
    try:
        if not cache.add(DOORBELL_KEY, 1, timeout=DOORBELL_SECONDS):
            return
    except Exception:
        logger.exception("the cache is not answering; ringing anyway")
    try:
        doorbell_ring(task="sync.tasks.process_events", name="process-events")
    except Exception:
        logger.exception("could not queue event processing; the dispatcher will pick the events up")


class _Ringer:
    """Rings for new webhooks at most once per WEBHOOK_RING_INTERVAL_SECONDS in this process.

    `events_ring` costs a round trip to the cache (and, when the flag was not set, one to the broker):
    at thousands of webhooks a second that was a third of the intake. A webhook that arrives within the
    interval of the last ring books one more ring for the interval's end (a timer thread), so the last
    webhook of a burst never waits for the dispatcher.
    """

    def __init__(self, *, ring=None, clock=time.monotonic, timer=threading.Timer) -> None:
        self._ring = ring or (lambda: events_ring())  # looked up at each ring
        self._clock, self._timer = clock, timer
        self._lock = threading.Lock()
        self._quiet_until = float("-inf")
        self._booked: threading.Timer | None = None
        self._pid = os.getpid()

    def webhook_arrived(self) -> str:
        """Ring now, or book a ring for the interval's end; says which ("rung", "booked", "already booked")."""
        interval = settings.WEBHOOK_RING_INTERVAL_SECONDS
        if interval <= 0:
            self._ring()
            return "rung"
        now = self._clock()
        with self._lock:
            if self._pid != os.getpid():  # forked: the parent's timer is not running here
                self._pid, self._quiet_until, self._booked = os.getpid(), float("-inf"), None
            if now >= self._quiet_until:
                self._quiet_until = now + interval
                decision = "rung"
            elif self._booked is None:
                # A daemon thread: a ring booked when the process stops is lost, and the dispatcher rings
                # within a minute instead.
                self._booked = self._timer(self._quiet_until - now, self._ring_booked)
                self._booked.daemon = True
                self._booked.start()
                decision = "booked"
            else:
                return "already booked"
        if decision == "rung":
            self._ring()
        return decision

    def _ring_booked(self) -> None:
        with self._lock:
            self._booked = None
            self._quiet_until = self._clock() + settings.WEBHOOK_RING_INTERVAL_SECONDS
        try:
            self._ring()
        finally:
            connections.close_all()  # this thread's database connection, if the broker opened one


_ringer = _Ringer()


def events_ring_for_webhook() -> None:
    """What the intake calls once a new webhook is stored: a ring, at most one per interval per process."""
    _ringer.webhook_arrived()


def events_doorbell_answered() -> None:
    try:
        cache.delete(DOORBELL_KEY)
    except Exception:
        logger.exception("the cache is not answering")


# -- matching ----------------------------------------------------------------------------------------
def _aftership_id(event: TrackingEvent) -> str:
    try:
        msg = json.loads(bytes(event.body)).get("msg") or {}
        return _text(msg.get("id"), 64)
    except (ValueError, RecursionError, AttributeError):
        return ""


def events_match(*, limit: int = 500) -> tuple[int, int]:
    """Attach new events to their shipments; (matched, unmatched).

    A shipment matches by AfterShip tracking id; without one, by tracking number, if its courier is the
    event's (or not chosen yet) and it is not linked to another tracking: the same number at another
    courier is someone else's parcel. Two deliveries linked to one tracking each get their copy.
    """
    events = list(
        TrackingEvent.objects.filter(state=EventState.RECEIVED, shipment__isnull=True).order_by("received_at", "id")[
            :limit
        ]
    )
    if not events:
        return 0, 0
    ids = {event.pk: _aftership_id(event) for event in events}
    numbers = {e.tracking_number for e in events if e.tracking_number}
    candidates = Shipment.objects.filter(
        Q(aftership_id__in={i for i in ids.values() if i}) | Q(tracking_number__in=numbers)
    ).only("id", "aftership_id", "tracking_number", "slug")
    by_id: dict[str, list[int]] = {}
    by_number: dict[str, list[Shipment]] = {}
    for shipment in candidates.order_by("id"):
        if shipment.aftership_id:
            by_id.setdefault(shipment.aftership_id, []).append(shipment.pk)
        by_number.setdefault(shipment.tracking_number, []).append(shipment)
    matched, unmatched = 0, 0
    for event in events:
        tracking_id = ids[event.pk]
        targets = by_id.get(tracking_id, []) if tracking_id else []
        if not targets:
            targets = [
                s.pk
                for s in by_number.get(event.tracking_number, [])
                if s.slug in ("", event.slug) and s.aftership_id in ("", tracking_id)
            ]
        if not targets:
            unmatched += TrackingEvent.objects.filter(pk=event.pk, state=EventState.RECEIVED).update(
                state=EventState.UNMATCHED,
                error="No shipment in the portal has this tracking yet; applied as soon as one does.",
            )
            continue
        if TrackingEvent.objects.filter(pk=event.pk, state=EventState.RECEIVED, shipment__isnull=True).update(
            shipment_id=targets[0]
        ):
            matched += 1
            _copies_for(event, targets[1:])
    return matched, unmatched


def _copies_for(event: TrackingEvent, shipment_ids: list[int]) -> None:
    """The same news for the other deliveries that share this tracking (linked to it when it existed)."""
    copies = []
    for shipment_id in shipment_ids:
        copy = TrackingEvent.objects.get(pk=event.pk)
        copy.pk = None
        copy.shipment_id = shipment_id
        copies.append(copy)
    if copies:
        TrackingEvent.objects.bulk_create(copies)


def events_rematch() -> int:
    """Unmatched events whose shipment now exists go back to be applied. Returns how many."""
    numbers = Shipment.objects.filter(tracking_number__in=_unmatched_numbers()).values_list(
        "tracking_number", flat=True
    )
    count = TrackingEvent.objects.filter(state=EventState.UNMATCHED, tracking_number__in=list(numbers)).update(
        state=EventState.RECEIVED, error=""
    )
    if count:
        logger.info("events for newly known shipments queued", extra={"events": count})
        transaction.on_commit(events_ring)
    return count


def _unmatched_numbers():
    return (
        TrackingEvent.objects.filter(state=EventState.UNMATCHED)
        .exclude(tracking_number="")
        .values_list("tracking_number", flat=True)
        .distinct()
    )


# -- applying ----------------------------------------------------------------------------------------
@dataclass
class EventStats:
    applied: int = 0
    duplicates: int = 0
    ignored: int = 0
    failed: int = 0
    status_changes: int = 0
    unmatched: int = 0
    shipments: set[int] = field(default_factory=set)
    more: bool = False  # stopped at the limit: events may be left for another round

    @property
    def handled(self) -> int:
        return self.applied + self.duplicates + self.ignored + self.failed


def events_process(*, limit: int = 500) -> EventStats:
    """Apply waiting events, a shipment at a time, until none are left or `limit` events were handled.

    `more` says it stopped at the limit; the task rings for another round rather than running long.
    """
    stats = EventStats()
    matched, stats.unmatched = events_match(limit=limit)
    stats.more = matched + stats.unmatched >= limit
    # Shipments another worker holds. A shipment this worker applied stays a candidate: news that came
    # while it was applying (and that the other worker skipped, finding it locked) is applied next round.
    tried: set[int] = set()
    while stats.handled < limit:
        candidates = [
            row["shipment_id"]
            for row in TrackingEvent.objects.filter(state=EventState.RECEIVED, shipment__isnull=False)
            .exclude(shipment_id__in=tried)
            .values("shipment_id")
            .annotate(first=Min("received_at"))
            .order_by("first")[:SHIPMENTS_PER_ROUND]
        ]
        if not candidates:
            break
        for shipment_id in candidates:
            if not shipment_events_apply(shipment_id=shipment_id, stats=stats):
                tried.add(shipment_id)
    stats.more = stats.more or stats.handled >= limit
    writebacks_queue(shipment_ids=stats.shipments)  # one doorbell for the batch
    return stats


def shipment_events_apply(*, shipment_id: int, stats: EventStats) -> bool:
    """Apply one shipment's waiting events in the order of AfterShip's news; False if another worker has it."""
    with transaction.atomic():
        shipment = Shipment.objects.select_for_update(skip_locked=True).filter(pk=shipment_id).first()
        if shipment is None:
            return False  # another worker holds it (or it was deleted)
        events = TrackingEvent.objects.filter(shipment_id=shipment_id, state=EventState.RECEIVED)
        for event in sorted(events, key=_news_order):
            _event_apply_safely(shipment, event, stats)
        stats.shipments.add(shipment_id)
    return True


def _news_order(event: TrackingEvent) -> tuple:
    """AfterShip's updated_at first; within one second (scans reported together), the fuller picture last."""
    try:
        scans = len(json.loads(bytes(event.body))["msg"].get("checkpoints") or [])
    except (ValueError, RecursionError, KeyError, TypeError, AttributeError):
        scans = 0
    return (event.news_at or datetime.min.replace(tzinfo=UTC), scans, event.received_at, event.pk)


def _event_apply_safely(shipment: Shipment, event: TrackingEvent, stats: EventStats) -> None:
    with log_context(event_id=event.pk, aftership_event_id=event.event_id, shipment_id=shipment.pk):
        try:
            with transaction.atomic():  # a savepoint: a failure here leaves the rest of the batch intact
                event_apply(event=event, shipment=shipment, stats=stats)
        except Exception as exc:
            logger.exception("could not apply a tracking event")
            shipment.refresh_from_db()  # drop what the failed savepoint changed in memory
            stats.failed += 1
            TrackingEvent.objects.filter(pk=event.pk).update(
                state=EventState.FAILED,
                error=_text(f"{type(exc).__name__}: {exc}", 2000),
                traceback=_text(traceback.format_exc(), 20000),
                attempts=F("attempts") + 1,
                processed_at=timezone.now(),
            )


def event_apply(*, event: TrackingEvent, shipment: Shipment, stats: EventStats) -> None:
    """Apply one event to its (locked) shipment and record how it ended."""
    event.attempts += 1
    event.error = ""
    event.traceback = ""
    same = Q()
    for name in ("dedupe_key", "body_sha256"):  # same event id, or the same bytes
        if value := getattr(event, name):
            same |= Q(**{name: value})
    duplicate = (
        bool(same)
        and TrackingEvent.objects.filter(same, shipment=shipment, state=EventState.PROCESSED)
        .exclude(pk=event.pk)
        .exists()
    )
    if duplicate:
        event.state = EventState.DUPLICATE
        stats.duplicates += 1
    elif event.kind in REVIEW_EVENTS:
        shipment_flag_stalled(shipment=shipment, news_at=event.news_at)
        event.state = EventState.PROCESSED
        stats.applied += 1
    elif event.kind and event.kind not in APPLIED_EVENTS:
        event.state = EventState.IGNORED
        event.error = f"AfterShip's '{event.kind}' event has nothing for the portal to apply."
        stats.ignored += 1
    else:
        msg = json.loads(bytes(event.body))["msg"]
        change = shipment_apply_tracking(shipment=shipment, msg=msg, news_at=event.news_at, event=event)
        event.state = EventState.PROCESSED
        stats.applied += 1
        stats.status_changes += change is not None
    event.processed_at = timezone.now()
    event.save(update_fields=["state", "error", "traceback", "attempts", "processed_at"])


STALLED = "AfterShip has had no carrier scan"
_NOT_SCANNED = (ShipmentStatus.NEW, ShipmentStatus.PENDING, ShipmentStatus.INFO_RECEIVED)


def shipment_flag_stalled(*, shipment: Shipment, news_at: datetime | None) -> None:
    """AfterShip's tracking_pending_time: no carrier scan for longer than expected. Late news of it (the parcel
    has been scanned since) changes nothing; the flag goes by itself with the next scan."""
    older = news_at is not None and shipment.news_at is not None and news_at < shipment.news_at
    if shipment.needs_review or older or shipment.status not in _NOT_SCANNED:
        return
    shipment.flag_for_review(
        f"{STALLED} for {shipment.tracking_number} for longer than expected. Check with the carrier that the "
        "parcel was handed over, then mark it reviewed."
    )
    shipment.save(update_fields=["needs_review", "review_reason", "updated_at"])


# -- merging one tracking into its shipment -------------------------------------------------------------
def _scan_time(value) -> datetime | None:
    """A checkpoint's time: carriers report local times, often without an offset; for display and history."""
    if not value or not isinstance(value, str):
        return None
    try:
        parsed = parse_datetime(value.replace("\x00", ""))
    except ValueError:
        return None
    if parsed is not None and timezone.is_naive(parsed):
        parsed = timezone.make_aware(parsed, timezone.get_current_timezone())
    return parsed


def _checkpoint_key(checkpoint: dict) -> str:
    if checkpoint.get("hash"):
        return _text(checkpoint["hash"], 64)
    parts = [_text(checkpoint.get(k), 1000) for k in ("checkpoint_time", "tag", "subtag", "message", "location")]
    return hashlib.sha256("|".join(parts).encode()).hexdigest()


def _location(checkpoint: dict) -> str:
    if checkpoint.get("location"):
        return _text(checkpoint["location"], 300)
    parts = [_text(checkpoint.get(k), 100) for k in ("city", "state", "country_region")]
    return ", ".join(p for p in parts if p)[:300]


def _expected_delivery(msg: dict) -> datetime | None:
    for key in ("latest_estimated_delivery", "courier_estimated_delivery_date", "aftership_estimated_delivery_date"):
        value = msg.get(key)
        if not isinstance(value, dict):
            continue
        raw = value.get("datetime") or value.get("estimated_delivery_date")
        if raw and isinstance(raw, str):
            parsed = _scan_time(raw if "T" in raw else f"{raw}T00:00:00")
            if parsed:
                return parsed
    return None


def _checkpoints_merge(shipment: Shipment, checkpoints: list[dict]) -> tuple[int, dict | None, datetime | None]:
    """Store the checkpoints the shipment does not have yet, in one insert. (new ones, last one, newest time)."""
    rows: dict[str, Checkpoint] = {}
    newest = None
    for checkpoint in checkpoints:
        when = _scan_time(checkpoint.get("checkpoint_time"))
        newest = max(newest, when) if newest and when else (when or newest)
        key = _checkpoint_key(checkpoint)
        rows.setdefault(
            key,
            Checkpoint(
                shipment=shipment,
                checkpoint_time=when,
                location=_location(checkpoint),
                message=_text(checkpoint.get("message"), 5000),
                tag=_text(checkpoint.get("tag"), 50),
                subtag=_text(checkpoint.get("subtag"), 50),
                dedupe_key=key,
            ),
        )
    if not rows:
        return 0, None, None
    known = set(
        Checkpoint.objects.filter(shipment=shipment, dedupe_key__in=list(rows)).values_list("dedupe_key", flat=True)
    )
    new = [row for key, row in rows.items() if key not in known]
    if new:
        Checkpoint.objects.bulk_create(new, ignore_conflicts=True)
    return len(new), checkpoints[-1], newest


def shipment_apply_tracking(
    *, shipment: Shipment, msg: dict, news_at: datetime | None, event: TrackingEvent | None = None
) -> StatusChange | None:
    """Merge a tracking object into its shipment; returns the change of status to tell Odoo about, if any.

    Scans are always merged. The expected delivery and the tracking link follow any news not older than
    the shipment's; the status follows `news_moves_status`.
    """
    checkpoints = msg.get("checkpoints") or []
    if not isinstance(checkpoints, list):
        raise ValueError(f"msg.checkpoints is a {type(checkpoints).__name__}, not a list of checkpoints")
    checkpoints = [c for c in checkpoints if isinstance(c, dict)]
    new_count, last, newest_scan = _checkpoints_merge(shipment, checkpoints)
    update = {"updated_at"}
    if newest_scan and (shipment.last_checkpoint_at is None or newest_scan > shipment.last_checkpoint_at):
        shipment.last_checkpoint_at = newest_scan
        update.add("last_checkpoint_at")
    if msg.get("id") and not shipment.aftership_id:
        shipment.aftership_id = _text(msg["id"], 64)
        update.add("aftership_id")
    if new_count and shipment.needs_review and shipment.review_reason.startswith(STALLED):
        shipment.clear_review()  # the carrier scans the parcel again
        update |= {"needs_review", "review_reason"}

    before = status_words(shipment.status, shipment.subtag_message)
    before_fields = (shipment.expected_delivery, shipment.tracking_url)
    moves = news_moves_status(
        current_status=shipment.status,
        current_news_at=shipment.news_at,
        news_at=news_at,
        new_checkpoints=new_count,
    )
    if news_at is not None and (shipment.news_at is None or news_at >= shipment.news_at):
        shipment.expected_delivery = _expected_delivery(msg) or shipment.expected_delivery
        link = _text(msg.get("courier_tracking_link") or msg.get("aftership_tracking_url"), 500)
        shipment.tracking_url = link or shipment.tracking_url
        shipment.news_at = news_at
        update |= {"expected_delivery", "tracking_url", "news_at"}
    if moves:
        tag = _text(msg.get("tag"), 50) or shipment.tag
        shipment.tag = tag
        shipment.subtag = _text(msg.get("subtag"), 50)
        shipment.subtag_message = _text(msg.get("subtag_message"), 200)
        if tag:
            shipment.status = status_for_tag(tag)
        update |= {"tag", "subtag", "subtag_message", "status"}
    after = status_words(shipment.status, shipment.subtag_message)

    change = None
    if after != before:
        last = last or {}
        writeback = settings.ODOO_WRITEBACK
        change = StatusChange.objects.create(
            shipment=shipment,
            event=event,
            status=shipment.status,
            status_text=after[:300],
            tag=shipment.tag,
            subtag=shipment.subtag,
            subtag_message=shipment.subtag_message,
            checkpoint_time=_scan_time(last.get("checkpoint_time")),
            checkpoint_location=_location(last) if last else "",
            checkpoint_message=_text(last.get("message"), 5000),
            expected_delivery=shipment.expected_delivery,
            tracking_url=shipment.tracking_url,
            news_at=shipment.news_at,
            # Kept as history, not sent later, while write-back is off.
            written_at=None if writeback else timezone.now(),
            activity_outcome="" if writeback else "Not written: write-back to Odoo was off",
        )
    news_for_odoo = change is not None or (shipment.expected_delivery, shipment.tracking_url) != before_fields
    if news_for_odoo and writeback_mark_due(shipment=shipment):
        update |= {"writeback_due_at", "writeback_seq"}
    shipment.save(update_fields=sorted(update))
    return change


# -- what is left --------------------------------------------------------------------------------------
@dataclass
class EventBacklog:
    received: int
    failed: int
    unmatched_recent: int  # their delivery may not be pulled from Odoo yet
    unmatched_old: int  # trackings made outside this Odoo, most likely


def events_backlog() -> EventBacklog:
    recent = timezone.now() - timedelta(hours=settings.SYNC_FULL_PULL_LOOKBACK_HOURS)
    counts = TrackingEvent.objects.aggregate(
        received=Count("id", filter=Q(state=EventState.RECEIVED)),
        failed=Count("id", filter=Q(state=EventState.FAILED)),
        unmatched_recent=Count("id", filter=Q(state=EventState.UNMATCHED, received_at__gte=recent)),
        unmatched_old=Count("id", filter=Q(state=EventState.UNMATCHED, received_at__lt=recent)),
    )
    return EventBacklog(**counts)


# -- reprocessing ------------------------------------------------------------------------------------
def event_reprocess(*, event: TrackingEvent) -> bool:
    """Send a stored event through the worker's path again (after the cause of its failure was fixed).

    Like dj-stripe's `WebhookEventTrigger.process()`: the error is cleared, the body read again, and the
    event queued; it ends processed, duplicate or failed again with the new error.
    """
    if not event.can_reprocess:
        return False
    previous = event.state
    event.state, event.error = EventState.RECEIVED, ""
    if event.source == EventSource.WEBHOOK:
        _index(event)  # what failed to parse before may parse now
    fields = ("state", "error", "kind", "event_id", "dedupe_key", "tracking_number", "slug", "tag", "news_at")
    updated = TrackingEvent.objects.filter(pk=event.pk, state=previous).update(
        shipment=None, traceback="", **{name: getattr(event, name) for name in fields}
    )
    if updated and event.state == EventState.RECEIVED:
        transaction.on_commit(events_ring)
    return bool(updated)
