"""Carrier mappings (Odoo carrier -> AfterShip courier) and AfterShip's courier list, cached for a day."""

from __future__ import annotations

import difflib
import logging
from dataclasses import dataclass

from django.core.cache import cache
from django.db import IntegrityError, transaction

from .aftership import AfterShipClient, AfterShipError
from .audit import Actor, audit_changes, audit_record, audit_snapshot
from .models import AuditAction, AuditEntry, CarrierMapping
from .ratelimit import QuotaExhausted, RateLimitBusy

logger = logging.getLogger(__name__)

COURIERS_CACHE_KEY = "shiptrack:aftership:couriers"
COURIERS_CACHE_SECONDS = 24 * 3600


def courier_list(client: AfterShipClient, *, refresh: bool = False) -> dict[str, str]:
    """AfterShip's couriers as {slug: name}, from the cache or GET /couriers."""
    couriers = None if refresh else cache.get(COURIERS_CACHE_KEY)
    if couriers is None:
        couriers = {c["slug"]: c.get("name") or c["slug"] for c in client.list_couriers() if c.get("slug")}
        cache.set(COURIERS_CACHE_KEY, couriers, COURIERS_CACHE_SECONDS)
    return couriers


def courier_list_cached() -> dict[str, str] | None:
    """The cached courier list without calling AfterShip (None when not cached yet)."""
    return cache.get(COURIERS_CACHE_KEY)


def courier_forget() -> None:
    cache.delete(COURIERS_CACHE_KEY)


def carrier_mappings_ensure(carriers: dict[int, str]) -> dict[int, CarrierMapping]:
    """Mappings for these Odoo carriers ({id: name}); carriers seen for the first time are listed unmapped."""
    if not carriers:
        return {}
    mappings = {m.odoo_carrier_id: m for m in CarrierMapping.objects.filter(odoo_carrier_id__in=carriers)}
    for carrier_id, name in carriers.items():
        if carrier_id in mappings:
            continue
        try:
            with transaction.atomic():
                mappings[carrier_id] = CarrierMapping.objects.create(
                    odoo_carrier_id=carrier_id, odoo_carrier_name=name or f"Carrier #{carrier_id}"
                )
            logger.warning(
                "new Odoo carrier without an AfterShip courier",
                extra={"odoo_carrier_id": carrier_id, "odoo_carrier_name": name},
            )
        except IntegrityError:
            mappings[carrier_id] = CarrierMapping.objects.get(odoo_carrier_id=carrier_id)
    return mappings


# What a person may change on a mapping, and what the audit log keeps of it.
MAPPING_AUDITED = [
    "odoo_carrier_name",
    "slug",
    "enabled",
    "custom_fields",
    "send_customer_email",
    "send_customer_phone",
]


def carrier_mapping_save(*, mapping: CarrierMapping, actor: Actor) -> AuditEntry | None:
    """Save a mapping edited by a person, and record what changed (nothing is recorded if nothing did)."""
    previous = CarrierMapping.objects.filter(pk=mapping.pk).first() if mapping.pk else None
    before = audit_snapshot(previous, MAPPING_AUDITED) if previous else {}
    with transaction.atomic():
        mapping.save()
        return audit_changes(
            actor=actor,
            action=AuditAction.MAPPING_CHANGED if previous else AuditAction.MAPPING_ADDED,
            obj=mapping,
            before=before,
            fields=MAPPING_AUDITED,
            target=f"Carrier {mapping.odoo_carrier_name}",
        )


def carrier_mapping_delete(*, mapping: CarrierMapping, actor: Actor) -> None:
    with transaction.atomic():
        audit_record(
            actor=actor,
            action=AuditAction.MAPPING_DELETED,
            obj=mapping,
            target=f"Carrier {mapping.odoo_carrier_name}",
            before=audit_snapshot(mapping, MAPPING_AUDITED),
        )
        mapping.delete()


@dataclass(frozen=True)
class SlugCheck:
    known: bool | None  # None: AfterShip's list could not be had, so the slug was not checked
    closest: list[str]


def courier_slug_check(*, slug: str) -> SlugCheck:
    """Whether AfterShip knows this courier slug (its list, cached for a day), with the closest ones if not."""
    from .clients import aftership_client

    couriers = courier_list_cached()
    if couriers is None:
        client = aftership_client()
        try:
            couriers = courier_list(client)
        except (AfterShipError, RateLimitBusy, QuotaExhausted) as exc:
            logger.warning("courier list not available; slug not checked", extra={"slug": slug, "error": str(exc)})
            return SlugCheck(None, [])
        finally:
            client.close()
    if slug in couriers:
        return SlugCheck(True, [])

    def likeness(known: str) -> float:  # to the slug or to the courier's name, whichever is closer
        return max(
            difflib.SequenceMatcher(None, slug, known).ratio(),
            difflib.SequenceMatcher(None, slug, couriers[known].lower()).ratio(),
        )

    ranked = sorted(((likeness(known), known) for known in couriers), reverse=True)
    return SlugCheck(False, [known for score, known in ranked[:3] if score >= 0.5])


def carrier_slugs_verify() -> list[CarrierMapping]:
    """Mappings whose courier AfterShip does not know, checked against its list (fetched at most once a day);
    the logistics managers are told. For slugs saved while the list could not be had."""
    from .alerts import alert_logistics
    from .clients import aftership_client

    mapped = list(CarrierMapping.objects.exclude(slug="").filter(enabled=True))
    if not mapped:
        return []
    client = aftership_client()
    try:
        known = courier_list(client)
    except (AfterShipError, RateLimitBusy, QuotaExhausted):
        return []  # not now; the next run checks
    finally:
        client.close()
    unknown = [mapping for mapping in mapped if mapping.slug not in known]
    for mapping in unknown:
        alert_logistics(
            f"Carrier {mapping.odoo_carrier_name} is mapped to '{mapping.slug}', which AfterShip does not know",
            f"AfterShip's courier list has no '{mapping.slug}'. Its parcels fall back to AfterShip's courier "
            "detection, and those it cannot place wait for review. Fix the slug in Carrier mappings; saving it "
            "sends the parcels waiting for review again.",
            topic="Carrier mappings to fix",
            carrier=mapping.odoo_carrier_name,
        )
    return unknown
