"""The webhook tester: a signed sample tracking update sent over HTTP to the portal's own AfterShip endpoint,
as AfterShip would send it, to show the whole way in (address, proxy, URL token, signature) works.

The sample is for a tracking number no parcel has (SHIPTRACK-TEST-...), so it is stored, verified and
then set aside as unmatched: it changes no parcel and writes nothing to Odoo.
"""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

import requests
from django.conf import settings
from django.urls import reverse

from webhooks.security import aftership_signature

from .models import TrackingEvent


@dataclass
class WebhookTestResult:
    url: str  # without its token
    status: int
    answer: str
    ms: int
    event: TrackingEvent | None = None
    error: str = ""

    @property
    def ok(self) -> bool:
        return self.status == 200 and self.event is not None


def sample_body(*, now: datetime | None = None) -> bytes:
    now = now or datetime.now(UTC)
    number = f"SHIPTRACK-TEST-{now:%Y%m%d%H%M%S}"
    payload = {
        "event": "tracking_update",
        "event_id": str(uuid.uuid4()),
        "is_tracking_first_tag": False,
        "msg": {
            "id": f"shiptrack-test-{uuid.uuid4().hex[:16]}",
            "tracking_number": number,
            "slug": "dhl",
            "tag": "InTransit",
            "subtag": "InTransit_001",
            "subtag_message": "In Transit",
            "updated_at": now.isoformat(timespec="seconds"),
            "checkpoints": [],
        },
        "ts": int(now.timestamp()),
    }
    return json.dumps(payload, separators=(",", ":")).encode()


def webhook_test_send(*, base_url: str) -> WebhookTestResult:
    """POST a signed sample to `<base_url>/aftership/webhook/tracking?token=...` and find the event it made."""
    path = reverse("aftership-tracking-webhook")
    url = f"{base_url.rstrip('/')}{path}"
    body = sample_body()
    headers = {
        "Content-Type": "application/json",
        "aftership-hmac-sha256": aftership_signature(body, settings.AFTERSHIP_WEBHOOK_SECRETS[0]),
        "User-Agent": "Shiptrack webhook tester",
    }
    started = time.monotonic()
    try:
        token = {"token": settings.WEBHOOK_URL_TOKEN}
        with requests.Session() as session:
            session.trust_env = False  # straight to the portal, not through a proxy set for outgoing calls
            # A redirect (http -> https, a login page) is reported, not followed: AfterShip does not follow one.
            response = session.post(url, params=token, data=body, headers=headers, timeout=10, allow_redirects=False)
    except requests.RequestException as exc:
        ms = int((time.monotonic() - started) * 1000)
        error = f"The portal could not be reached at {url}: {type(exc).__name__}"
        return WebhookTestResult(url, 0, "", ms, error=error)
    ms = int((time.monotonic() - started) * 1000)
    event = None
    try:
        received = response.json().get("received")
    except ValueError:
        received = None
    if received:
        event = TrackingEvent.objects.filter(pk=received).first()
    return WebhookTestResult(url, response.status_code, response.text[:500], ms, event=event)
