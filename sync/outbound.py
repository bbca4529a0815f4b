"""Creating a shipment's AfterShip tracking: pick the courier, send, and link or flag the result."""

from __future__ import annotations

import logging

from django.db.models import Case, F, Value, When
from django.utils import timezone

from .aftership import (
    AfterShipClient,
    AfterShipRequestError,
    CourierNeedsFields,
    CourierNotDetected,
    InvalidSlug,
    InvalidTrackingNumber,
    TrackingAlreadyExists,
)
from .alerts import alert_logistics
from .carriers import courier_forget, courier_list
from .jobs import job_handler
from .models import CarrierMapping, JobKind, Shipment, SyncJob
from .outcomes import Outcome
from .status import status_for_tag

logger = logging.getLogger(__name__)


@job_handler(JobKind.CREATE_TRACKING, service="aftership")
def tracking_create(job: SyncJob, client: AfterShipClient) -> Outcome:
    """Create (or link) the AfterShip tracking of the job's shipment."""
    shipment = job.shipment  # loaded with its carrier by the claim, a moment ago
    if shipment.is_tracked:
        return Outcome.done(f"Already tracked in AfterShip ({shipment.aftership_id})")
    mapping = shipment.carrier
    if shipment.ignore_if_carrier_off(mapping):
        return Outcome.done("Carrier not tracked; nothing sent")

    body = dict(job.payload.get("body") or {})
    body["tracking_number"] = shipment.tracking_number
    slug = mapping.slug if mapping is not None else ""
    if slug and slug not in courier_list(client):
        logger.warning("mapped courier unknown to AfterShip", extra={"slug": slug})
        slug = ""
    if not slug:
        slug = _detect(client, shipment, body, mapping)
        if not slug:
            return _needs_review(shipment, _unknown_carrier_reason(shipment, mapping), notify=True)

    try:
        tracking, how = _create_or_link(client, body, slug)
    except InvalidSlug:
        courier_forget()
        detected = _detect(client, shipment, body, mapping)
        if not detected or detected == slug:
            return _needs_review(shipment, f"AfterShip does not accept the courier '{slug}'.", notify=True)
        try:
            tracking, how = _create_or_link(client, body, detected)
        except AfterShipRequestError as exc:
            return _rejected(shipment, exc)
    except (InvalidTrackingNumber, CourierNeedsFields, CourierNotDetected, AfterShipRequestError) as exc:
        return _rejected(shipment, exc)
    if tracking is None:
        return Outcome.retry("AfterShip says the tracking exists but does not list it yet")
    _link(shipment, tracking)
    job_forget_contact(job=job)
    return Outcome.done(how)


def job_forget_contact(*, job: SyncJob) -> None:
    """The tracking exists: the customer's e-mail and phone need not stay in the request kept on its job."""
    body = dict(job.payload.get("body") or {})
    customers = [
        {k: v for k, v in customer.items() if k not in ("email", "phone_number")}
        for customer in body.get("customers") or []
        if isinstance(customer, dict)
    ]
    if customers != body.get("customers", []):
        body["customers"] = customers
        job.payload = {**job.payload, "body": body}
        SyncJob.objects.filter(pk=job.pk).update(payload=job.payload)


def _create_or_link(client: AfterShipClient, body: dict, slug: str) -> tuple[dict | None, str]:
    try:
        return client.create_tracking({**body, "slug": slug}), f"Tracking created ({slug})"
    except TrackingAlreadyExists:
        # Our earlier attempt may have succeeded without us hearing back: link, don't duplicate.
        return client.find_tracking(body["tracking_number"], slug), f"Linked to the existing tracking ({slug})"


def _detect(client: AfterShipClient, shipment: Shipment, body: dict, mapping: CarrierMapping | None) -> str:
    """Ask AfterShip which courier the number belongs to; remember the suggestion."""
    hints = {
        "destination_country_region": body.get("destination_country_region"),
        "destination_postal_code": body.get("destination_postal_code"),
    }
    couriers = client.detect_courier(shipment.tracking_number, **hints)
    if not couriers:
        return ""
    suggested = couriers[0]["slug"]
    shipment.suggested_slug = suggested
    shipment.save(update_fields=["suggested_slug", "updated_at"])
    if mapping is not None and not mapping.slug and mapping.suggested_slug != suggested:
        CarrierMapping.objects.filter(pk=mapping.pk).update(suggested_slug=suggested)
    logger.info("courier detected", extra={"slug": suggested, "candidates": len(couriers)})
    return suggested


def _unknown_carrier_reason(shipment: Shipment, mapping: CarrierMapping | None) -> str:
    carrier = f"carrier {mapping.odoo_carrier_name}" if mapping else "no carrier in Odoo"
    return (
        f"Tracking number {shipment.tracking_number} has {carrier} with no AfterShip courier, and AfterShip could "
        "not recognise the number. Map the carrier in Carrier mappings, then retry."
    )


def _rejected(shipment: Shipment, exc: AfterShipRequestError | Exception) -> Outcome:
    if isinstance(exc, InvalidTrackingNumber):
        reason = f"AfterShip rejected tracking number {shipment.tracking_number}: {exc.message}"
    elif isinstance(exc, CourierNeedsFields):
        reason = f"The courier needs more information for {shipment.tracking_number}: {exc.message}"
    elif isinstance(exc, CourierNotDetected):
        reason = f"AfterShip could not import {shipment.tracking_number}: {exc.message}"
    else:
        reason = f"AfterShip refused tracking {shipment.tracking_number}: {exc}"
    return _needs_review(shipment, reason, notify=True)


def _needs_review(shipment: Shipment, reason: str, *, notify: bool) -> Outcome:
    shipment.flag_for_review(reason)
    shipment.save(update_fields=["needs_review", "review_reason", "updated_at"])
    if notify:
        alert_logistics(
            f"Delivery {shipment.picking_name} needs a look",
            f"{reason}\n\nDelivery: {shipment.picking_name}\nSale order: {shipment.sale_order_name or '-'}\n"
            f"Customer: {shipment.partner_name or '-'}\n\nFix it in Odoo or in the portal, then use 'Retry' on the "
            "shipment in the portal's admin.",
            topic="Deliveries need a look",
            shipment_id=shipment.id,
        )
    return Outcome.fail(reason)


def _link(shipment: Shipment, tracking: dict) -> None:
    """Remember the tracking, and its status unless a webhook has brought newer news meanwhile: one UPDATE."""
    link = tracking.get("courier_tracking_link") or tracking.get("aftership_tracking_url") or ""
    linked = {
        "aftership_id": tracking.get("id") or "",
        "slug": tracking.get("slug") or shipment.slug,
        "tracked_at": timezone.now(),
        "tracking_url": link[:500],
        "needs_review": False,
        "review_reason": "",
        "updated_at": timezone.now(),
    }
    tag = tracking.get("tag") or ""
    news = {
        "tag": tag,
        "subtag": tracking.get("subtag") or "",
        "subtag_message": (tracking.get("subtag_message") or "")[:200],
        "status": status_for_tag(tag),
    }
    # The news only where the row has none yet (decided by the database, not by this possibly stale object).
    guarded = {name: Case(When(news_at__isnull=True, then=Value(v)), default=F(name)) for name, v in news.items()}
    Shipment.objects.filter(pk=shipment.pk).update(**linked, **guarded)
    for name, value in linked.items():
        setattr(shipment, name, value)
    if shipment.news_at is None:
        for name, value in news.items():
            setattr(shipment, name, value)
