"""AfterShip tags as the portal's shipment statuses, the words a clerk reads, and which news wins.

Conflict rules between the two systems: AfterShip wins on delivery progress (status, scans, expected
delivery); Odoo wins on customer and order data, which the portal reads and never writes back.
"""

from __future__ import annotations

from datetime import datetime

from .models import FINAL_STATUSES, ShipmentStatus

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

# What a warehouse clerk reads in Odoo (the note's first line and the status field).
_WORDS = {
    ShipmentStatus.PENDING: "Waiting for the carrier's first scan",
    ShipmentStatus.INFO_RECEIVED: "Label created",
    ShipmentStatus.IN_TRANSIT: "In transit",
    ShipmentStatus.OUT_FOR_DELIVERY: "Out for delivery",
    ShipmentStatus.AVAILABLE_FOR_PICKUP: "Available for pickup",
    ShipmentStatus.ATTEMPT_FAIL: "Delivery attempt failed",
    ShipmentStatus.DONE: "Delivered",
    ShipmentStatus.EXPIRED: "Expired: no carrier news for 30 days",
}


def status_for_tag(tag: str | None) -> ShipmentStatus:
    """The portal status for an AfterShip tag; tags AfterShip adds later count as in transit, not as errors."""
    if not tag:
        return ShipmentStatus.PENDING
    return STATUS_BY_TAG.get(tag, ShipmentStatus.IN_TRANSIT)


def status_words(status: str, subtag_message: str = "") -> str:
    """The status as a clerk reads it: "In transit", "Exception: Shipment lost"."""
    if status == ShipmentStatus.EXCEPTION:
        reason = (subtag_message or "").strip()
        return f"Exception: {reason}" if reason else "Exception"
    if status in _WORDS:
        return _WORDS[status]
    return ShipmentStatus(status).label if status in ShipmentStatus.values else str(status)


def news_moves_status(
    *,
    current_status: str,
    current_news_at: datetime | None,
    news_at: datetime | None,
    new_checkpoints: int,
) -> bool:
    """Whether an event may set the shipment's status (it always adds the checkpoints it brings).

    The order of news is AfterShip's `updated_at`, not the carriers' local scan times:
    - newer news moves the status, except away from Delivered or Expired, which needs new scans too;
    - news of the same second moves it only if it brings scans the shipment did not have;
    - older news never moves it.
    """
    if current_news_at is None:
        return current_status not in FINAL_STATUSES or new_checkpoints > 0
    if news_at is None or news_at < current_news_at:
        return False
    if news_at == current_news_at or current_status in FINAL_STATUSES:
        return new_checkpoints > 0
    return True
