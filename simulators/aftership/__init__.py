"""A faithful simulator of AfterShip's Tracking API (2026-07) and its webhook delivery."""

from __future__ import annotations

from .couriers import Courier, default_couriers
from .server import BASE_PATH, DEFAULT_API_KEY, DEFAULT_WEBHOOK_SECRET, AfterShipSimulator, Stats
from .trackings import API_VERSION, CHECKPOINT_FIELDS, SUBTAG_MESSAGES, TAGS, TRACKING_FIELDS, ApiError, Place
from .webhooks import WebhookDelivery, WebhookEvent, sign

__all__ = [
    "API_VERSION",
    "BASE_PATH",
    "CHECKPOINT_FIELDS",
    "DEFAULT_API_KEY",
    "DEFAULT_WEBHOOK_SECRET",
    "SUBTAG_MESSAGES",
    "TAGS",
    "TRACKING_FIELDS",
    "AfterShipSimulator",
    "ApiError",
    "Courier",
    "Place",
    "Stats",
    "WebhookDelivery",
    "WebhookEvent",
    "default_couriers",
    "sign",
]
