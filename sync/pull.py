"""Finding validated deliveries in Odoo: the incremental pull, the catch-up, manual resyncs and push intake.

Odoo stamps `write_date` at transaction start and returns it cut to whole seconds, so the pull pages
on (write_date, id) with the last second's ids excluded rather than by offset, re-reads an overlap
window, and relies on idempotent intake: a delivery read twice never queues a second tracking.
Every page costs a fixed number of RPCs (the pickings, then one read per related model).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from . import jobs
from .carriers import carrier_mappings_ensure
from .inbound import events_rematch
from .mapping import (
    PARTNER_FIELDS,
    PICKING_FIELDS,
    SALE_FIELDS,
    Delivery,
    custom_field_sources,
    many2one,
    odoo_datetime,
    tracking_body,
)
from .models import CarrierMapping, JobKind, Shipment, ShipmentStatus, SyncCursor
from .odoo import OdooClient
from .odoo_fields import odoo_fields_existing

logger = logging.getLogger(__name__)

DELIVERY_DOMAIN = [
    ("picking_type_code", "=", "outgoing"),
    ("state", "=", "done"),
    ("carrier_tracking_ref", "!=", False),
]
ORDER = "write_date asc, id asc"
INCREMENTAL_CURSOR = "odoo_deliveries"
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
    odoo_calls: int = 0
    newest_write_date: str = ""
    errors: list[str] = field(default_factory=list)

    def as_dict(self) -> dict:
        return {k: v for k, v in vars(self).items() if k != "errors"} | {"errors": self.errors[:20]}


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
    """Attach partners, sale orders, countries and states to a page of pickings: one read per model."""
    partner_ids = {ref[0] for row in rows if (ref := many2one(row.get("partner_id")))}
    sale_ids = {ref[0] for row in rows if (ref := many2one(row.get("sale_id")))}
    partners = client.read_by_id("res.partner", list(partner_ids), plan.partner_fields)
    sales = client.read_by_id("sale.order", list(sale_ids), plan.sale_fields)
    country_ids = {ref[0] for p in partners.values() if (ref := many2one(p.get("country_id")))}
    state_ids = {ref[0] for p in partners.values() if (ref := many2one(p.get("state_id")))}
    countries = client.read_by_id("res.country", list(country_ids), ["code"])
    states = client.read_by_id("res.country.state", list(state_ids), ["code", "name"])

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
                elif mapping is not None and not mapping.enabled:
                    if shipment.status != ShipmentStatus.IGNORED:
                        shipment.status = ShipmentStatus.IGNORED
                        shipment.review_reason = f"Carrier {mapping.odoo_carrier_name} is set not to be tracked."
                        shipment.save(update_fields=["status", "review_reason", "updated_at"])
                    stats.ignored += 1
                elif shipment.needs_review:
                    stats.needs_review += 1
                elif shipment.status == ShipmentStatus.NEW:
                    new_jobs.append(_tracking_job(delivery, shipment, mapping))
        stats.jobs_queued += jobs.jobs_create(new_jobs)
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
    return jobs.job_build(JobKind.CREATE_TRACKING, shipment=shipment, payload={"body": body})


def _retire_removed_numbers(picking_ids, existing, wanted) -> None:
    """A number edited out of the Odoo delivery before it was tracked is no longer a parcel to track."""
    for key, shipment in existing.items():
        if key in wanted or shipment.is_tracked or shipment.status == ShipmentStatus.IGNORED:
            continue
        shipment.status = ShipmentStatus.IGNORED
        shipment.needs_review = False
        shipment.review_reason = "This tracking number was removed from the Odoo delivery."
        shipment.save(update_fields=["status", "needs_review", "review_reason", "updated_at"])
        jobs.jobs_cancel_open(shipment)


def pickings_pull(
    client: OdooClient,
    domain: list,
    *,
    page_size: int | None = None,
    on_page: Callable[[PullStats], None] | None = None,
) -> PullStats:
    """Read every matching delivery page by page on (write_date, id) and take each page in."""
    page_size = page_size or settings.SYNC_PAGE_SIZE
    stats = PullStats()
    calls_before = client.calls
    plan = _read_plan(client)
    boundary = ""
    seen_at_boundary: list[int] = []
    while True:
        page_domain = list(domain)
        if boundary:
            page_domain.append(("write_date", ">=", boundary))
        if seen_at_boundary:
            page_domain.append(("id", "not in", seen_at_boundary))
        rows = client.search_read("stock.picking", page_domain, plan.picking_fields, order=ORDER, limit=page_size)
        if not rows:
            break
        deliveries = deliveries_read(client, rows, plan)
        deliveries_intake(deliveries, stats)
        stats.pages += 1
        stats.pickings += len(rows)
        last = rows[-1].get("write_date") or ""
        stats.newest_write_date = max(stats.newest_write_date, last)
        stats.odoo_calls = client.calls - calls_before
        if on_page:
            on_page(stats)
        if len(rows) < page_size:
            break
        same_second = [row["id"] for row in rows if row.get("write_date") == last]
        seen_at_boundary = (seen_at_boundary + same_second) if last == boundary else same_second
        boundary = last
    stats.odoo_calls = client.calls - calls_before
    return stats


def pull_incremental(client: OdooClient, *, on_page=None) -> PullStats:
    """The scheduled pull: deliveries written since the cursor, minus an overlap for late commits."""
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

    stats = pickings_pull(client, domain, on_page=advance)
    cursor.last_run_at = timezone.now()
    cursor.last_run_summary = stats.as_dict()
    cursor.save(update_fields=["last_run_at", "last_run_summary"])
    return stats


def pull_catchup(client: OdooClient, *, on_page=None) -> PullStats:
    """The hourly catch-up: every delivery validated in the lookback window, whatever the cursor says."""
    since = timezone.now() - timedelta(hours=settings.SYNC_FULL_PULL_LOOKBACK_HOURS)
    return pickings_pull(client, [*DELIVERY_DOMAIN, ("date_done", ">=", odoo_timestamp(since))], on_page=on_page)


def pull_selection(
    client: OdooClient,
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    orders: list[str] | None = None,
    pickings: list[str] | None = None,
    on_page=None,
) -> PullStats:
    """A manual resync: deliveries validated in a date range, of chosen sale orders, or chosen deliveries."""
    domain = list(DELIVERY_DOMAIN)
    if since:
        domain.append(("date_done", ">=", odoo_timestamp(since)))
    if until:
        domain.append(("date_done", "<", odoo_timestamp(until)))
    if orders:
        order_ids = client.call("sale.order", "search", [("name", "in", orders)])
        if not order_ids:
            return PullStats(errors=[f"No sale order named {', '.join(orders)} in Odoo."])
        domain.append(("sale_id", "in", order_ids))
    if pickings:
        ids = [int(p) for p in pickings if p.isdigit()]
        names = [p for p in pickings if not p.isdigit()]
        if ids and names:
            domain += ["|", ("id", "in", ids), ("name", "in", names)]
        elif ids:
            domain.append(("id", "in", ids))
        else:
            domain.append(("name", "in", names))
    return pickings_pull(client, domain, on_page=on_page)


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
    jobs.job_enqueue_picking_sync(picking_id)
    return picking_id


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
            jobs.job_finish(job, outcome=f"delivery read; {stats.jobs_queued} tracking(s) queued")
        elif row and row.get("picking_type_code") not in (None, "outgoing"):
            jobs.job_finish(job, outcome="not an outgoing delivery; nothing to track")
        elif row and row.get("state") == "done" and not row.get("carrier_tracking_ref"):
            jobs.job_finish(job, outcome="validated without a tracking number; nothing to track yet")
        else:
            state = row.get("state") if row else "not visible yet"
            jobs.job_recheck_later(job, reason=f"delivery is {state} in Odoo")
