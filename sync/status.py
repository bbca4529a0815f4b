"""AfterShip tags as the portal's shipment statuses, and the order in which a parcel moves through them."""

from __future__ import annotations

from .models import ShipmentStatus

STATUS_BY_TAG = {
    "Pending": ShipmentStatus.PENDING,
    "InfoReceived": ShipmentStatus.INFO_RECEIVED,
    "InTransit": ShipmentStatus.IN_TRANSIT,
    "OutForDelivery": ShipmentStatus.OUT_FOR_DELIVERY,
    "AttemptFail": ShipmentStatus.ATTEMPT_FAIL,
    "AvailableForPickup": ShipmentStatus.AVAILABLE_FOR_PICKUP,
    "Exception": ShipmentStatus.EXCEPTION,
    "Delivered": ShipmentStatus.DONE,
    "Expired": ShipmentStatus.EXPIRED,
}


def status_for_tag(tag: str | None) -> ShipmentStatus:
    """The portal status for an AfterShip tag; tags AfterShip adds later count as in transit, not as errors."""
    if not tag:
        return ShipmentStatus.PENDING
    return STATUS_BY_TAG.get(tag, ShipmentStatus.IN_TRANSIT)
