"""Telling Odoo what AfterShip heard: the delivery order's chatter and fields, an activity when a parcel
is in trouble, and optionally the customer.

1. Applying news (`inbound`) records each change of status as a `StatusChange` and marks the shipment
   due (`writeback_mark_due`), which queues one write-back job per shipment: whatever piles up while
   Odoo is away is written by that one job, in order, when it is back.
2. The job (`writeback_run`) posts one note per change, oldest first, and keeps each step's result at
   once (note, activity, customer message), so a retry resumes where the last attempt stopped. Then it
   writes the fields once, with the newest values, where the database has them.
3. A scheduled sweep (`writebacks_ensure`) queues a job for any shipment left due without one.

What the portal writes and what it never writes: AfterShip wins on delivery progress (status, scans,
expected delivery, tracking link); Odoo wins on customer and order data, which the portal only reads.
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.core.cache import cache
from django.db import transaction
from django.utils import timezone
from django.utils.html import format_html, format_html_join

from .alerts import alert_admins
from .carriers import courier_list_cached
from .jobs import job_handler, job_heartbeat
from .models import JobKind, JobState, ServiceState, Shipment, ShipmentStatus, StatusChange, SyncJob
from .odoo import (
    OdooAccessError,
    OdooAuthError,
    OdooClient,
    OdooError,
    OdooMissingError,
    OdooProgrammingError,
    OdooTransientError,
)
from .odoo_fields import odoo_fields_existing, odoo_fields_forget
from .outcomes import Outcome
from .queue import job_build, jobs_create, jobs_ring
from .status import status_words

logger = logging.getLogger(__name__)

PICKING = "stock.picking"
# Shipments left due longer than this without a job are picked up by the sweep.
SWEEP_AFTER_SECONDS = 60
_TEXT_TYPES = ("char", "text", "html")


# -- queueing --------------------------------------------------------------------------------------------
def writeback_mark_due(*, shipment: Shipment) -> bool:
    """There is news for Odoo: mark the shipment due (the caller saves it). False when write-back is off.

    The counter tells a write-back running right now that more came while it ran. Jobs are queued for a
    whole batch of shipments at once (`writebacks_queue`), with one doorbell.
    """
    if not settings.ODOO_WRITEBACK:
        return False
    shipment.writeback_due_at = shipment.writeback_due_at or timezone.now()
    shipment.writeback_seq += 1
    return True


def writebacks_queue(*, shipment_ids) -> int:
    """Queue a write-back for each of these shipments that is due and has no open one; rings once."""
    if not settings.ODOO_WRITEBACK or not shipment_ids:
        return 0
    due = Shipment.objects.filter(pk__in=list(shipment_ids), writeback_due_at__isnull=False)
    return jobs_create(jobs=[job_build(kind=JobKind.WRITEBACK, shipment=shipment) for shipment in due])


def writebacks_due(*, stale_after_seconds: float = 0) -> dict[int, SyncJob | None]:
    """Shipments with news for Odoo (due, or with unwritten changes), each with its latest write-back job."""
    stale = timezone.now() - timedelta(seconds=stale_after_seconds)
    due = set(Shipment.objects.filter(writeback_due_at__lte=stale).values_list("id", flat=True)[:1000])
    due |= set(
        StatusChange.objects.filter(written_at__isnull=True, created_at__lte=stale)
        .values_list("shipment_id", flat=True)
        .distinct()[:1000]
    )
    latest: dict[int, SyncJob | None] = dict.fromkeys(due)
    for job in SyncJob.objects.filter(kind=JobKind.WRITEBACK, shipment_id__in=due).order_by("shipment_id", "-id"):
        if latest[job.shipment_id] is None:
            latest[job.shipment_id] = job
    return latest


def writebacks_backlog() -> tuple[Counter, Counter]:
    """(deliveries waiting to be written, by reason; write-backs failed, by reason) for the commands."""
    latest = [job for job in writebacks_due().values() if job is not None]
    waiting = Counter(job.last_error or job.last_outcome or "queued" for job in latest if job.is_open)
    failed = Counter(job.last_error for job in latest if job.can_retry)
    return waiting, failed


def writebacks_ensure(*, stale_after_seconds: float = SWEEP_AFTER_SECONDS) -> int:
    """The sweep: queue a write-back for shipments with news for Odoo and no job to write it.

    Shipments whose last write-back job failed or gave up wait for a person (Retry in the admin) or
    for the next news; the sweep does not retry them every minute.
    """
    if not settings.ODOO_WRITEBACK:
        return 0
    due = writebacks_due(stale_after_seconds=stale_after_seconds)
    waiting = [pk for pk, job in due.items() if job is None or job.state == JobState.DONE]
    if not waiting:
        return 0
    created = jobs_create(
        jobs=[job_build(kind=JobKind.WRITEBACK, shipment=s) for s in Shipment.objects.filter(pk__in=waiting)]
    )
    if created and stale_after_seconds:
        logger.warning("write-backs queued by the sweep", extra={"jobs": created})
    return created


def writebacks_release() -> int:
    """Odoo answers again: write-backs waiting out a backoff go now (the outage is over, not their fault)."""
    now = timezone.now()
    count = SyncJob.objects.filter(kind=JobKind.WRITEBACK, attempts__gt=0, next_attempt_at__gt=now).move(
        "hurry", next_attempt_at=now
    )
    if count:
        logger.warning("Odoo answers again: waiting write-backs go now", extra={"jobs": count})
    # Those whose backoff ran out since their last drain ended have no drain coming before the dispatcher's.
    due = (
        count
        or SyncJob.objects.filter(kind=JobKind.WRITEBACK, state=JobState.PENDING, next_attempt_at__lte=now).count()
    )
    if due:
        transaction.on_commit(lambda: jobs_ring(count=due))
    return count


# -- the job -----------------------------------------------------------------------------------------------
@dataclass
class WritebackSummary:
    notes: int = 0
    fields: int = 0
    activities: int = 0
    customer_messages: int = 0

    def text(self) -> str:
        parts = [
            _count(self.notes, "note"),
            _count(self.fields, "field"),
            _count(self.activities, "activity", "activities"),
            _count(self.customer_messages, "customer message"),
        ]
        return "Odoo updated: " + ", ".join(parts)


def _count(n: int, one: str, many: str | None = None) -> str:
    return f"{n} {one if n == 1 else (many or one + 's')}"


def _after_writeback(job: SyncJob) -> None:
    # News that came while the job was finishing found it still running and queued nothing: queue it now.
    if job.state == JobState.DONE:
        writebacks_queue(shipment_ids=[job.shipment_id])


# Activities and customer messages are for news that is still news: not for a change that later news
# overtook while Odoo was away, nor for one the portal has held this long.
CURRENT_FOR = timedelta(hours=24)


@job_handler(JobKind.WRITEBACK, service="odoo", after=_after_writeback)
def writeback_run(job: SyncJob, odoo: OdooClient) -> Outcome:
    """Write a shipment's news to its Odoo delivery order: notes in order, then the fields."""
    shipment = job.shipment
    summary = WritebackSummary()
    try:
        for _ in range(5):
            shipment.refresh_from_db()  # the news as committed now, not as it was when the job was claimed
            seen = shipment.writeback_seq
            changes = list(shipment.status_changes.filter(written_at__isnull=True).order_by("id"))
            for change in changes:
                _change_write(odoo, shipment, change, summary, current=change is changes[-1], job=job)
            _still_ours(job)
            _fields_write(odoo, shipment, summary)
            # Done unless news came meanwhile (on PostgreSQL this waits for a worker applying news to commit).
            if Shipment.objects.filter(pk=shipment.pk, writeback_seq=seen).update(writeback_due_at=None):
                break
    except _TakenOver:
        return Outcome.done("Handed to another worker before it finished")
    except OdooMissingError as exc:
        if exc.model != PICKING:
            raise
        return _failed(
            f"Delivery {shipment.picking_name} (id {shipment.picking_id}) no longer exists in Odoo, so its "
            "tracking news cannot be written to it."
        )
    except OdooAccessError as exc:
        return _failed(
            f"Odoo refused the integration user: {exc.message} Give it Inventory / User (notes, fields, "
            "activities on deliveries) and Sales / User (messages to customers), then retry.",
            alert=True,
        )
    if not ServiceState.objects.filter(service=ServiceState.ODOO).update(last_ok_at=timezone.now()):
        ServiceState.objects.get_or_create(service=ServiceState.ODOO, defaults={"last_ok_at": timezone.now()})
    if job.attempts > 1:
        writebacks_release()  # this one had failed before and Odoo answers now: the others may go too
    return Outcome.done(summary.text())


class _TakenOver(Exception):
    """This worker outlived its lease: another one has the job now."""


def _still_ours(job: SyncJob) -> None:
    # Checked before each call to Odoo, each shorter than the lease: a worker that lost the job stops
    # before it writes anything more.
    if not job_heartbeat(job=job):
        raise _TakenOver


def _failed(reason: str, *, alert: bool = False) -> Outcome:
    if alert and cache.add(f"shiptrack:alert:writeback:{reason[:80]}", 1, 3600):  # one mail an hour per cause
        alert_admins(
            "Odoo refuses the portal's write-back",
            f"{reason}\n\nThe news waits in the portal; retry the write-backs from the admin (Sync jobs, "
            "action 'Retry') once the cause is fixed.",
        )
    return Outcome.fail(reason)


def _change_write(
    odoo: OdooClient, shipment: Shipment, change: StatusChange, summary: WritebackSummary, *, current: bool, job
) -> None:
    """One change of status: the note, then the activity and the customer message where due.

    Each step's result is kept as soon as Odoo answers. A step that was sent but not answered (a timeout
    after Odoo committed) is looked up in Odoo before it is sent again, so a retry posts nothing twice.
    """
    _still_ours(job)
    retry = change.attempted_at is not None
    if not retry:
        change.attempted_at = timezone.now()
        change.save(update_fields=["attempted_at"])
    if change.note_id is None:
        body = note_html(shipment, change)
        change.note_id = (retry and _posted(odoo, PICKING, shipment.picking_id, _marker(change))) or odoo.message_post(
            PICKING, shipment.picking_id, body, html=True
        )
        change.note_id = change.note_id or 0
        change.save(update_fields=["note_id"])
        summary.notes += 1
    fresh = current and change.created_at >= timezone.now() - CURRENT_FOR
    if change.tag in settings.ODOO_ACTIVITY_STATUSES and not change.activity_outcome:
        _still_ours(job)
        if fresh:
            change.activity_outcome = _optional(lambda: _activity_ensure(odoo, shipment, change, summary, retry=retry))
        else:
            change.activity_outcome = "Not created: later news came first, or the news is more than a day old"
        change.save(update_fields=["activity_id", "activity_reason", "activity_outcome"])
    customer_due = settings.ODOO_NOTIFY_CUSTOMER and change.tag in settings.ODOO_NOTIFY_CUSTOMER_STATUSES
    if customer_due and not change.customer_outcome:
        _still_ours(job)
        if fresh:
            change.customer_outcome = _optional(lambda: _customer_tell(odoo, shipment, change, summary, retry=retry))
        else:
            change.customer_outcome = "Not sent: later news came first, or the news is more than a day old"
        change.save(update_fields=["customer_message_id", "customer_outcome"])
    change.written_at = timezone.now()
    change.save(update_fields=["written_at"])


def _optional(step) -> str:
    """An activity or a customer message that Odoo refuses is noted, not fatal: the notes and fields go on.
    Odoo being away or refusing the login still stops the job (it is retried, or paused)."""
    try:
        return step()[:200]
    except (OdooTransientError, OdooAuthError, OdooAccessError):
        raise
    except OdooError as exc:
        logger.warning("Odoo refused an optional write-back step", extra={"error": str(exc)})
        return f"Odoo refused it: {exc.message}"[:200]


def _marker(change: StatusChange) -> str:
    return f"Shiptrack update {change.pk}"


def _posted(odoo: OdooClient, model: str, res_id: int, text: str) -> int | None:
    """The id of a message on this record whose body has this text, if one was posted already."""
    found = odoo.call(
        "mail.message", "search", [("model", "=", model), ("res_id", "=", res_id), ("body", "ilike", text)], limit=1
    )
    return found[0] if found else None


# -- what the clerk reads ------------------------------------------------------------------------------------
def _courier(shipment: Shipment) -> str:
    names = courier_list_cached() or {}
    return names.get(shipment.slug, shipment.slug) if shipment.slug else ""


def _moment(value: datetime | None) -> str:
    return timezone.localtime(value).strftime("%d %b %Y %H:%M") if value else ""


def _day(value: datetime | None) -> str:
    return timezone.localtime(value).strftime("%d %b %Y") if value else ""


def _safe_link(url: str) -> str:
    return url if url.startswith(("https://", "http://")) else ""


def note_html(shipment: Shipment, change: StatusChange) -> str:
    """The chatter note: status in words, number and courier, last scan, expected delivery, tracking link."""
    lines = [format_html("Tracking number {} ({})", shipment.tracking_number, _courier(shipment) or "courier unknown")]
    if change.checkpoint_message or change.checkpoint_location:
        scan = ", ".join(p for p in (change.checkpoint_message, change.checkpoint_location) if p)
        when = f" ({_moment(change.checkpoint_time)})" if change.checkpoint_time else ""
        lines.append(format_html("Last scan: {}{}", scan, when))
    if change.expected_delivery:
        lines.append(format_html("Expected delivery: {}", _day(change.expected_delivery)))
    details = format_html_join("", "{}<br/>", ((line,) for line in lines))
    body = format_html("<p><b>{}</b> (AfterShip)</p><p>{}</p>", change.status_text, details)
    if link := _safe_link(change.tracking_url):
        body += format_html('<p><a href="{}" target="_blank">Follow the parcel on the carrier\'s page</a></p>', link)
    body += format_html("<p><small>{}</small></p>", _marker(change))  # lets a retry find a note already posted
    return str(body)


def _customer_sentence(shipment: Shipment, change: StatusChange) -> str:
    parcel = f"your parcel {shipment.tracking_number}" + (f" ({_courier(shipment)})" if shipment.slug else "")
    order = f" for order {shipment.sale_order_name}" if shipment.sale_order_name else ""
    if change.status == ShipmentStatus.OUT_FOR_DELIVERY:
        return f"Good news: {parcel}{order} is out for delivery today."
    if change.status == ShipmentStatus.DONE:
        return f"{parcel[0].upper()}{parcel[1:]}{order} has been delivered."
    if change.status == ShipmentStatus.EXCEPTION:
        reason = f": {change.subtag_message}" if change.subtag_message else ""
        return f"There is a problem with the delivery of {parcel}{order}{reason}. We are looking into it."
    return f"News about {parcel}{order}: {change.status_text}."


def customer_html(shipment: Shipment, change: StatusChange) -> str:
    body = format_html("<p>{}</p>", _customer_sentence(shipment, change))
    if link := _safe_link(change.tracking_url):
        body += format_html('<p><a href="{}">Follow your parcel</a></p>', link)
    return str(body)


# -- activity ---------------------------------------------------------------------------------------------
def _activity_user(odoo: OdooClient, shipment: Shipment) -> int:
    """ODOO_ACTIVITY_USER (a login) if it names a user, else the delivery's responsible, else the integration user."""
    login = settings.ODOO_ACTIVITY_USER
    if login:
        key = f"shiptrack:odoo-user:{odoo.config.url}:{odoo.config.db}:{login}"
        uid = cache.get(key)
        if uid is None:
            found = odoo.call("res.users", "search", [("login", "=", login)], limit=1)
            uid = found[0] if found else 0
            cache.set(key, uid, 3600)
        if uid:
            return uid
        logger.warning(
            "ODOO_ACTIVITY_USER names no Odoo user; using the delivery's responsible", extra={"login": login}
        )
    return shipment.odoo_user_id or odoo.uid()


def _activity_ensure(
    odoo: OdooClient, shipment: Shipment, change: StatusChange, summary: WritebackSummary, *, retry: bool
) -> str:
    """One open activity per shipment and reason: a repeat of the same trouble does not add another."""
    summary_text = f"Parcel {shipment.tracking_number}: {change.status_text}"[:250]
    if retry:  # sent before without an answer: it may exist
        found = odoo.call(
            "mail.activity",
            "search",
            [("res_model", "=", PICKING), ("res_id", "=", shipment.picking_id), ("summary", "=", summary_text)],
            limit=1,
        )
        if found:
            change.activity_id, change.activity_reason = found[0], change.status
            return f"Activity #{found[0]} created"
    previous = (
        StatusChange.objects.filter(shipment=shipment, activity_reason=change.status, activity_id__isnull=False)
        .exclude(pk=change.pk)
        .order_by("-id")
        .first()
    )
    if previous and odoo.call("mail.activity", "search_count", [("id", "=", previous.activity_id)]):
        return f"Activity #{previous.activity_id} is still open"
    user_id = _activity_user(odoo, shipment)
    change.activity_id = odoo.activity_schedule(
        PICKING,
        shipment.picking_id,
        summary=summary_text,
        note=note_html(shipment, change),
        user_id=user_id,
        date_deadline=timezone.localdate().isoformat(),
    )
    change.activity_reason = change.status
    summary.activities += 1
    return f"Activity #{change.activity_id} for user #{user_id}"


# -- customer ---------------------------------------------------------------------------------------------
def _customer_tell(
    odoo: OdooClient, shipment: Shipment, change: StatusChange, summary: WritebackSummary, *, retry: bool
) -> str:
    """A message on the sale order to the customer, which Odoo mails in the company's own layout."""
    if not shipment.sale_order_id:
        return "Not sent: the delivery has no sale order"
    if not shipment.partner_id:
        return "Not sent: the delivery has no customer"
    if retry and (found := _posted(odoo, "sale.order", shipment.sale_order_id, _customer_sentence(shipment, change))):
        change.customer_message_id = found
        return f"Sent to the customer on {shipment.sale_order_name or 'the sale order'}"
    if odoo_fields_existing(odoo, "res.partner", {"is_blacklisted"}):
        rows = odoo.read("res.partner", [shipment.partner_id], ["is_blacklisted"])
        if rows and rows[0].get("is_blacklisted"):
            return "Not sent: the customer is on Odoo's blacklist"
    change.customer_message_id = odoo.message_post(
        "sale.order",
        shipment.sale_order_id,
        customer_html(shipment, change),
        subtype_xmlid="mail.mt_comment",
        partner_ids=[shipment.partner_id],
        html=True,
    )
    summary.customer_messages += 1
    return f"Sent to the customer on {shipment.sale_order_name or 'the sale order'}"


# -- fields -----------------------------------------------------------------------------------------------
# How far along a parcel is; a delivery with several parcels shows the one furthest behind (trouble first).
_PROGRESS = [
    ShipmentStatus.EXCEPTION,
    ShipmentStatus.ATTEMPT_FAIL,
    ShipmentStatus.EXPIRED,
    ShipmentStatus.NEW,
    ShipmentStatus.PENDING,
    ShipmentStatus.INFO_RECEIVED,
    ShipmentStatus.IN_TRANSIT,
    ShipmentStatus.AVAILABLE_FOR_PICKUP,
    ShipmentStatus.OUT_FOR_DELIVERY,
    ShipmentStatus.DONE,
]


@dataclass
class DeliveryNews:
    """What the delivery order's fields should say, over all its parcels."""

    status: str
    expected_delivery: datetime | None
    tracking_url: str
    seen: int  # the parcels' news counters, to tell whether any moved while the fields were written


def delivery_news(*, picking_id: int) -> DeliveryNews:
    parcels = list(Shipment.objects.filter(picking_id=picking_id).exclude(status=ShipmentStatus.IGNORED).order_by("id"))
    seen = sum(p.writeback_seq for p in parcels)
    if not parcels:
        return DeliveryNews("", None, "", seen)
    rank = {status: i for i, status in enumerate(_PROGRESS)}
    lead = min(parcels, key=lambda p: rank.get(p.status, len(_PROGRESS)))
    words = status_words(lead.status, lead.subtag_message)
    if len(parcels) > 1:
        delivered = sum(p.status == ShipmentStatus.DONE for p in parcels)
        words = f"{words} ({delivered} of {len(parcels)} parcels delivered)" if delivered < len(parcels) else words
    dates = [p.expected_delivery for p in parcels if p.expected_delivery]
    link = lead.tracking_url or next((p.tracking_url for p in parcels if p.tracking_url), "")
    return DeliveryNews(words, max(dates) if dates else None, link, seen)


def _field_value(key: str, field_type: str, news: DeliveryNews):
    """The value for a write-back field, in the form its Odoo type takes; None when the type does not fit."""
    if key == "status":
        return news.status if field_type in _TEXT_TYPES else None
    if key == "tracking_url":
        return (_safe_link(news.tracking_url) or False) if field_type in _TEXT_TYPES else None
    when = news.expected_delivery
    if field_type == "date":
        return timezone.localtime(when).date().isoformat() if when else False
    if field_type == "datetime":
        return when.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S") if when else False
    if field_type in _TEXT_TYPES:
        return _day(when) or False
    return None


def _fields_write(odoo: OdooClient, shipment: Shipment, summary: WritebackSummary) -> None:
    """Bring the delivery order's write-back fields to what its parcels say, in one write of what changed.

    The fields belong to the delivery, which several parcels (and their jobs) share: the values come
    from all of them, and if any parcel's news moved while writing, they are worked out and written again.
    """
    wanted = settings.ODOO_WRITEBACK_FIELDS
    names = set(wanted.values())
    for attempt in range(3):
        news = delivery_news(picking_id=shipment.picking_id)
        existing = odoo_fields_existing(odoo, PICKING, names)
        values = {}
        for key, name in wanted.items():
            attrs = existing.get(name)
            if attrs is None or attrs.get("readonly"):
                continue
            value = _field_value(key, attrs.get("type", ""), news)
            if value is not None:
                values[name] = value
        written = Shipment.objects.filter(pk=shipment.pk).values_list("odoo_fields", flat=True).first() or {}
        changed = {name: value for name, value in values.items() if written.get(name, ...) != value}
        if not changed:
            return
        try:
            odoo.write(PICKING, [shipment.picking_id], changed)
        except OdooProgrammingError as exc:
            if attempt == 0 and "Invalid field" in exc.message:
                odoo_fields_forget(odoo, PICKING, names)  # a field was removed in Odoo since we asked
                continue
            raise
        summary.fields += len(changed)
        Shipment.objects.filter(picking_id=shipment.picking_id).update(
            odoo_fields={**written, **changed}, odoo_written_at=timezone.now()
        )
        if delivery_news(picking_id=shipment.picking_id).seen == news.seen:
            return
