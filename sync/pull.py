"""Finding validated deliveries in Odoo: the incremental pull, the catch-up, manual resyncs and push intake.

Odoo stamps `write_date` at transaction start and returns it cut to whole seconds, so the pull pages
on (write_date, id) with the last second's ids excluded rather than by offset, re-reads an overlap
window, and relies on idempotent intake: a delivery read twice never queues a second tracking.

Each page is read light first (id, write_date, tracking reference, carrier); only the deliveries the
portal does not already hold as they are are read in full, with one read per related model (and none
for what the cache holds). The overlap, the catch-up and the portal's own write-backs (which move
write_date) thus cost Odoo one small read per page. The catch-up keeps its place between runs and
stops within its time budget, so a long window is read over several runs, never restarted.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from .carriers import carrier_mappings_ensure
from .inbound import events_rematch
from .jobs import job_batch_handler, job_finish, job_recheck_later
from .mapping import (
    PARTNER_FIELDS,
    PICKING_FIELDS,
    SALE_FIELDS,
    Delivery,
    custom_field_sources,
    many2one,
    odoo_datetime,
    split_tracking_numbers,
    tracking_body,
)
from .models import CarrierMapping, JobKind, Shipment, ShipmentStatus, SyncCursor
from .odoo import OdooClient
from .odoo_fields import odoo_fields_existing
from .odoo_records import odoo_read_cached
from .queue import job_build, job_enqueue_picking_sync, jobs_cancel_open, jobs_create

logger = logging.getLogger(__name__)

DELIVERY_DOMAIN = [
    ("picking_type_code", "=", "outgoing"),
    ("state", "=", "done"),
    ("carrier_tracking_ref", "!=", False),
]
ORDER = "write_date asc, id asc"
INCREMENTAL_CURSOR = "odoo_deliveries"
CATCHUP_CURSOR = "odoo_catchup"
# What the light read of a page asks for: enough to tell whether the portal holds the delivery as it is.
LIGHT_FIELDS = ["write_date", "carrier_tracking_ref", "carrier_id"]
_ODOO_FORMAT = "%Y-%m-%d %H:%M:%S"


@dataclass
class PullStats:
    pages: int = 0
    pickings: int = 0
    shipments_new: int = 0
    jobs_queued: int = 0
    already_tracked: int = 0
    ignored: int = 0
    needs_review: int = 0
    unchanged: int = 0
    odoo_calls: int = 0
    newest_write_date: str = ""
    complete: bool = True
    errors: list[str] = field(default_factory=list)
    position: dict = field(default_factory=dict)
    picking_ids: set[int] = field(default_factory=set)  # the deliveries taken in, for a summary of their state

    def as_dict(self) -> dict:
        skip = ("errors", "position", "picking_ids")
        return {k: v for k, v in vars(self).items() if k not in skip} | {"errors": self.errors[:20]}


def odoo_timestamp(moment: datetime) -> str:
    """An aware datetime as the naive-UTC string Odoo compares write_date and date_done with."""
    return moment.astimezone(UTC).strftime(_ODOO_FORMAT)


def _existing_fields(client: OdooClient, model: str, wanted: set[str]) -> set[str]:
    """Which of these fields exist in this Odoo (custom fields, optional modules); asked once an hour."""
    return set(odoo_fields_existing(client, model, wanted))


def _custom_field_config() -> dict[str, str]:
    merged: dict[str, str] = {}
    for custom in CarrierMapping.objects.exclude(custom_fields={}).values_list("custom_fields", flat=True):
        merged.update(custom or {})
    return merged


@dataclass
class _ReadPlan:
    picking_fields: list[str]
    sale_fields: list[str]
    partner_fields: list[str]


def _read_plan(client: OdooClient) -> _ReadPlan:
    picking_extra, sale_extra = custom_field_sources(_custom_field_config())
    picking_extra = _existing_fields(client, "stock.picking", picking_extra - set(PICKING_FIELDS))
    sale_extra = _existing_fields(client, "sale.order", sale_extra - set(SALE_FIELDS))
    partner_extra = _existing_fields(client, "res.partner", {"is_blacklisted"})
    return _ReadPlan(
        picking_fields=PICKING_FIELDS + sorted(picking_extra),
        sale_fields=SALE_FIELDS + sorted(sale_extra),
        partner_fields=PARTNER_FIELDS + sorted(partner_extra),
    )


def deliveries_read(client: OdooClient, rows: list[dict], plan: _ReadPlan) -> list[Delivery]:
    """Attach partners, sale orders, countries and states to a page of pickings: at most one read per model,
    none for what the cache holds (`odoo_records`)."""
    partner_ids = {ref[0] for row in rows if (ref := many2one(row.get("partner_id")))}
    sale_ids = {ref[0] for row in rows if (ref := many2one(row.get("sale_id")))}
    partners = odoo_read_cached(client, "res.partner", list(partner_ids), plan.partner_fields)
    sales = odoo_read_cached(client, "sale.order", list(sale_ids), plan.sale_fields)
    country_ids = {ref[0] for p in partners.values() if (ref := many2one(p.get("country_id")))}
    state_ids = {ref[0] for p in partners.values() if (ref := many2one(p.get("state_id")))}
    countries = odoo_read_cached(client, "res.country", list(country_ids), ["code"])
    states = odoo_read_cached(client, "res.country.state", list(state_ids), ["code", "name"])

    deliveries = []
    for row in rows:
        partner = partners.get((many2one(row.get("partner_id")) or (0,))[0], {})
        sale = sales.get((many2one(row.get("sale_id")) or (0,))[0], {})
        country = countries.get((many2one(partner.get("country_id")) or (0,))[0], {})
        state = states.get((many2one(partner.get("state_id")) or (0,))[0], {})
        deliveries.append(
            Delivery(picking=row, partner=partner, sale_order=sale, country_code=country.get("code") or "", state=state)
        )
    return deliveries


def deliveries_intake(deliveries: list[Delivery], stats: PullStats | None = None) -> PullStats:
    """Record each parcel of these deliveries as a Shipment and queue its tracking, exactly once."""
    stats = stats or PullStats()
    if not deliveries:
        return stats
    carriers = {ref[0]: ref[1] for d in deliveries if (ref := d.carrier)}
    mappings = carrier_mappings_ensure(carriers)
    picking_ids = [d.picking_id for d in deliveries]
    stats.picking_ids.update(picking_ids)
    with transaction.atomic():
        existing = {
            (s.picking_id, s.tracking_number): s
            for s in Shipment.objects.select_for_update().filter(picking_id__in=picking_ids)
        }
        to_create: list[Shipment] = []
        wanted: set[tuple[int, str]] = set()
        for delivery in deliveries:
            mapping = mappings.get(delivery.carrier[0]) if delivery.carrier else None
            for number in delivery.tracking_numbers:
                wanted.add((delivery.picking_id, number))
                if (delivery.picking_id, number) not in existing:
                    to_create.append(_new_shipment(delivery, number, mapping))
        Shipment.objects.bulk_create(to_create, ignore_conflicts=True)
        stats.shipments_new += len(to_create)
        if to_create:
            events_rematch()  # AfterShip's news about a tracking made outside the portal may be waiting
            existing = {
                (s.picking_id, s.tracking_number): s for s in Shipment.objects.filter(picking_id__in=picking_ids)
            }

        new_jobs = []
        for delivery in deliveries:
            mapping = mappings.get(delivery.carrier[0]) if delivery.carrier else None
            for number in delivery.tracking_numbers:
                shipment = existing[(delivery.picking_id, number)]
                if shipment.is_tracked:
                    stats.already_tracked += 1
                elif shipment.ignore_if_carrier_off(mapping):
                    stats.ignored += 1
                elif shipment.needs_review:
                    stats.needs_review += 1
                elif shipment.status == ShipmentStatus.NEW:
                    new_jobs.append(_tracking_job(delivery, shipment, mapping))
        stats.jobs_queued += jobs_create(jobs=new_jobs)
        _retire_removed_numbers(picking_ids, existing, wanted)
    return stats


def _new_shipment(delivery: Delivery, number: str, mapping: CarrierMapping | None) -> Shipment:
    sale = delivery.sale_order_ref
    partner = many2one(delivery.picking.get("partner_id"))
    return Shipment(
        picking_id=delivery.picking_id,
        picking_name=delivery.picking_name,
        sale_order_id=sale[0] if sale else None,
        sale_order_name=(delivery.sale_order.get("name") or (sale[1] if sale else "")) or "",
        partner_id=partner[0] if partner else None,
        partner_name=(partner[1] if partner else "") or delivery.partner.get("name") or "",
        carrier=mapping,
        tracking_number=number,
        slug=mapping.slug if mapping else "",
        odoo_user_id=(many2one(delivery.picking.get("user_id")) or (None,))[0],
        odoo_validated_at=odoo_datetime(delivery.picking.get("date_done")),
        odoo_write_date=odoo_datetime(delivery.picking.get("write_date")),
    )


def _tracking_job(delivery: Delivery, shipment: Shipment, mapping: CarrierMapping | None):
    allow_email = mapping.allows_email() if mapping else settings.AFTERSHIP_SEND_CONTACT_DEFAULT
    allow_phone = mapping.allows_phone() if mapping else settings.AFTERSHIP_SEND_CONTACT_DEFAULT
    body = tracking_body(
        delivery,
        shipment.tracking_number,
        custom_fields=mapping.custom_fields if mapping else None,
        send_email=allow_email,
        send_phone=allow_phone,
    )
    return job_build(kind=JobKind.CREATE_TRACKING, shipment=shipment, payload={"body": body})


def _retire_removed_numbers(picking_ids, existing, wanted) -> None:
    """A number edited out of the Odoo delivery before it was tracked is no longer a parcel to track."""
    for key, shipment in existing.items():
        if key in wanted or shipment.is_tracked or shipment.status == ShipmentStatus.IGNORED:
            continue
        shipment.status = ShipmentStatus.IGNORED
        shipment.needs_review = False
        shipment.review_reason = "This tracking number was removed from the Odoo delivery."
        shipment.save(update_fields=["status", "needs_review", "review_reason", "updated_at"])
        jobs_cancel_open(shipment=shipment)


def _changed(rows: list[dict]) -> list[int]:
    """Ids of these (lightly read) deliveries that the portal does not hold as they are in Odoo."""
    held: dict[int, list[tuple]] = {}
    for picking_id, number, carrier_id, tracked, status in Shipment.objects.filter(
        picking_id__in=[row["id"] for row in rows]
    ).values_list("picking_id", "tracking_number", "carrier__odoo_carrier_id", "aftership_id", "status"):
        held.setdefault(picking_id, []).append((number, carrier_id, bool(tracked), status))
    changed = []
    for row in rows:
        numbers = set(split_tracking_numbers(row.get("carrier_tracking_ref")))
        carrier = (many2one(row.get("carrier_id")) or (None,))[0]
        parcels = held.get(row["id"], [])
        # Parcels not tracked yet still follow the delivery: a number removed or a carrier changed matters.
        waiting = [
            (number, carrier_id)
            for number, carrier_id, tracked, status in parcels
            if not tracked and status != ShipmentStatus.IGNORED
        ]
        if not numbers <= {number for number, *_ in parcels} or any(
            number not in numbers or carrier_id != carrier for number, carrier_id in waiting
        ):
            changed.append(row["id"])
    return changed


def pickings_pull(
    client: OdooClient,
    domain: list,
    *,
    page_size: int | None = None,
    on_page: Callable[[PullStats], None] | None = None,
    full: bool = False,
    position: dict | None = None,
    deadline: float | None = None,
    stop: threading.Event | None = None,
) -> PullStats:
    """Read every matching delivery page by page on (write_date, id) and take in those that changed.

    `full` reads every delivery in full (a manual resync). `position` resumes where an earlier call
    stopped; with a `deadline` (time.monotonic()), the pull stops after the page that crosses it and
    leaves `complete` False and its `position` to resume from. Setting `stop` ends it the same way.
    """
    page_size = page_size or settings.SYNC_PAGE_SIZE
    stats = PullStats()
    calls_before = client.calls
    plan = _read_plan(client)
    boundary = (position or {}).get("boundary", "")
    seen_at_boundary: list[int] = list((position or {}).get("seen", []))
    while True:
        page_domain = list(domain)
        if boundary:
            page_domain.append(("write_date", ">=", boundary))
        if seen_at_boundary:
            page_domain.append(("id", "not in", seen_at_boundary))
        fields = plan.picking_fields if full else LIGHT_FIELDS
        rows = client.search_read("stock.picking", page_domain, fields, order=ORDER, limit=page_size)
        if not rows:
            break
        if full:
            complete_rows = rows
        else:
            changed = _changed(rows)
            stats.unchanged += len(rows) - len(changed)
            complete_rows = (
                client.search_read("stock.picking", [("id", "in", changed)], plan.picking_fields, order=ORDER)
                if changed
                else []
            )
        deliveries_intake(deliveries_read(client, complete_rows, plan), stats)
        stats.pages += 1
        stats.pickings += len(rows)
        last = rows[-1].get("write_date") or ""
        stats.newest_write_date = max(stats.newest_write_date, last)
        stats.odoo_calls = client.calls - calls_before
        same_second = [row["id"] for row in rows if row.get("write_date") == last]
        seen_at_boundary = (seen_at_boundary + same_second) if last == boundary else same_second
        boundary = last
        stats.position = {"boundary": boundary, "seen": seen_at_boundary}
        if on_page:
            on_page(stats)
        if len(rows) < page_size:
            break
        if (deadline is not None and time.monotonic() >= deadline) or (stop is not None and stop.is_set()):
            stats.complete = False
            break
    stats.odoo_calls = client.calls - calls_before
    return stats


def pull_incremental(
    client: OdooClient, *, on_page=None, budget_seconds: float | None = None, stop: threading.Event | None = None
) -> PullStats:
    """The scheduled pull: deliveries written since the cursor, minus an overlap for late commits.

    A run stops after the page that crosses its time budget (SYNC_PULL_BUDGET_SECONDS), well inside the
    task timeout, with the cursor at the last page read; `complete` False says there is more to read.
    """
    cursor, _ = SyncCursor.objects.get_or_create(name=INCREMENTAL_CURSOR)
    if cursor.write_date:
        start = cursor.write_date - timedelta(minutes=settings.SYNC_PULL_OVERLAP_MINUTES)
    else:
        start = timezone.now() - timedelta(hours=settings.SYNC_FULL_PULL_LOOKBACK_HOURS)
    domain = [*DELIVERY_DOMAIN, ("write_date", ">=", odoo_timestamp(start))]

    def advance(stats: PullStats) -> None:
        newest = odoo_datetime(stats.newest_write_date)
        if newest and (cursor.write_date is None or newest > cursor.write_date):
            cursor.write_date = newest
            cursor.save(update_fields=["write_date"])
        if on_page:
            on_page(stats)

    budget = budget_seconds if budget_seconds is not None else settings.SYNC_PULL_BUDGET_SECONDS
    stats = pickings_pull(client, domain, on_page=advance, deadline=time.monotonic() + budget, stop=stop)
    cursor.last_run_at = timezone.now()
    cursor.last_run_summary = stats.as_dict()
    cursor.save(update_fields=["last_run_at", "last_run_summary"])
    return stats


def pull_catchup(
    client: OdooClient, *, on_page=None, budget_seconds: float | None = None, stop: threading.Event | None = None
) -> PullStats:
    """The hourly catch-up: deliveries validated in the lookback window that the portal missed.

    One sweep of the window may take several runs: each stops within its time budget and the next one
    resumes at its place (cursor "odoo_catchup"); a finished sweep makes the next run start a new one.
    """
    cursor, _ = SyncCursor.objects.get_or_create(name=CATCHUP_CURSOR)
    sweep = (cursor.last_run_summary or {}).get("sweep") or {}
    if not sweep.get("since"):
        since = timezone.now() - timedelta(hours=settings.SYNC_FULL_PULL_LOOKBACK_HOURS)
        sweep = {"since": odoo_timestamp(since), "position": {}}
    budget = budget_seconds if budget_seconds is not None else settings.SYNC_CATCHUP_BUDGET_SECONDS

    def keep_place(stats: PullStats) -> None:
        cursor.last_run_summary = {**stats.as_dict(), "sweep": {**sweep, "position": stats.position}}
        cursor.save(update_fields=["last_run_summary"])
        if on_page:
            on_page(stats)

    stats = pickings_pull(
        client,
        [*DELIVERY_DOMAIN, ("date_done", ">=", sweep["since"])],
        on_page=keep_place,
        position=sweep["position"],
        deadline=time.monotonic() + budget,
        stop=stop,
    )
    cursor.last_run_at = timezone.now()
    cursor.last_run_summary = {
        **stats.as_dict(),
        "sweep": {**sweep, "position": stats.position} if not stats.complete else {},
    }
    cursor.save(update_fields=["last_run_at", "last_run_summary"])
    return stats


def pull_selection(
    client: OdooClient,
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    orders: list[str] | None = None,
    pickings: list[str] | None = None,
    on_page=None,
    position: dict | None = None,
    deadline: float | None = None,
) -> PullStats:
    """A manual resync: deliveries validated in a date range, of chosen sale orders, or chosen deliveries.

    Order and delivery names that Odoo does not know are reported in `errors`; the others are read. With a
    `deadline` it stops after the page that crosses it (`complete` false) and `position` resumes it.
    """
    domain = list(DELIVERY_DOMAIN)
    if since:
        domain.append(("date_done", ">=", odoo_timestamp(since)))
    if until:
        domain.append(("date_done", "<", odoo_timestamp(until)))
    unknown: list[str] = []
    if orders:
        found = client.search_read("sale.order", [("name", "in", orders)], ["name"])
        unknown += [f"No sale order named {name} in Odoo." for name in orders if name not in {r["name"] for r in found}]
        if not found:
            return PullStats(errors=unknown)
        domain.append(("sale_id", "in", [r["id"] for r in found]))
    if pickings:
        ids = [int(p) for p in pickings if p.isascii() and p.isdigit()]
        names = [p for p in pickings if not (p.isascii() and p.isdigit())]
        if ids and names:
            which = ["|", ("id", "in", ids), ("name", "in", names)]
        else:
            which = [("id", "in", ids)] if ids else [("name", "in", names)]
        found = client.search_read("stock.picking", which, ["name"])
        known = {str(r["id"]) for r in found} | {r["name"] for r in found}
        unknown += [f"No delivery named {name} in Odoo." for name in pickings if name not in known]
        if not found:
            return PullStats(errors=unknown)
        domain += which
    stats = pickings_pull(client, domain, on_page=on_page, full=True, position=position, deadline=deadline)
    stats.errors[:0] = unknown
    return stats


# -- push ------------------------------------------------------------------------------------------
def push_receive(payload: dict) -> int | None:
    """Take in Odoo's "Send Webhook Notification" for a validated delivery: queue a read of it, nothing more.

    Odoo 18 posts before its transaction commits, so the delivery may not look done yet when the job
    first reads it; the job re-reads a few times before leaving it to the scheduled pull.
    """
    if payload.get("_model", "stock.picking") != "stock.picking":
        return None
    picking_id = payload.get("_id", payload.get("id"))
    if isinstance(picking_id, bool) or not isinstance(picking_id, int) or picking_id <= 0:
        return None
    job_enqueue_picking_sync(picking_id=picking_id)
    return picking_id


@job_batch_handler(JobKind.PICKING_SYNC, service="odoo")
def picking_sync_run(client: OdooClient, picking_jobs: list) -> None:
    """Read the pushed deliveries in one RPC (plus related reads) and take in those that are done."""
    ids = sorted({job.picking_id for job in picking_jobs})
    plan = _read_plan(client)
    fields = [*plan.picking_fields, "picking_type_code"]
    rows = {row["id"]: row for row in client.search_read("stock.picking", [("id", "in", ids)], fields)}
    ready = [
        row
        for row in rows.values()
        if row.get("state") == "done" and row.get("picking_type_code") == "outgoing" and row.get("carrier_tracking_ref")
    ]
    stats = deliveries_intake(deliveries_read(client, ready, plan)) if ready else PullStats()
    ready_ids = {row["id"] for row in ready}
    for job in picking_jobs:
        row = rows.get(job.picking_id)
        if job.picking_id in ready_ids:
            job_finish(job=job, outcome=f"delivery read; {stats.jobs_queued} tracking(s) queued")
        elif row and row.get("picking_type_code") not in (None, "outgoing"):
            job_finish(job=job, outcome="not an outgoing delivery; nothing to track")
        elif row and row.get("state") == "done" and not row.get("carrier_tracking_ref"):
            job_finish(job=job, outcome="validated without a tracking number; nothing to track yet")
        else:
            state = row.get("state") if row else "not visible yet"
            job_recheck_later(job=job, reason=f"delivery is {state} in Odoo")
