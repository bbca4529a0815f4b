"""POST /aftership/webhook/tracking: stored first, authenticated by URL token and HMAC, applied by a worker."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from pathlib import Path

import pytest

from sync.inbound import events_process
from sync.models import Checkpoint, EventState, Shipment, ShipmentStatus, SignatureResult, TrackingEvent

pytestmark = pytest.mark.django_db

FIXTURES = Path(__file__).parent.parent / "fixtures" / "aftership"
URL = "/aftership/webhook/tracking?token=url-token"


def sign(body: bytes, secret: str) -> str:
    # Computed here independently of the portal's code, as AfterShip documents it.
    return base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()


def deliver(client, body: bytes, *, secret="whsec-current", url=URL, signature=None):
    headers = {"HTTP_AFTERSHIP_HMAC_SHA256": signature if signature is not None else sign(body, secret)}
    headers["HTTP_AS_WEBHOOK_VERSION"] = "2026-07"
    return client.post(url, data=body, content_type="application/json", **headers)


@pytest.fixture
def ups_shipment(db):
    return Shipment.objects.create(
        picking_id=22,
        picking_name="WH/OUT/00017",
        tracking_number="1Z999AA10123456784",
        slug="ups",
        aftership_id="k5lh7dy7vvqeck71p5loe011",
        status=ShipmentStatus.PENDING,
    )


@pytest.mark.parametrize("fixture", sorted(p.name for p in FIXTURES.glob("*.json")))
def test_each_sample_payload_is_accepted_and_stored_byte_for_byte(client, fixture):
    body = (FIXTURES / fixture).read_bytes()

    response = deliver(client, body)

    assert response.status_code == 200
    event = TrackingEvent.objects.get()
    assert bytes(event.body) == body
    assert event.signature == SignatureResult.VALID
    assert event.state == EventState.RECEIVED
    assert event.event_id == json.loads(body)["event_id"]
    assert event.headers["as-webhook-version"] == "2026-07"


def test_the_answer_is_json_whatever_the_sender_accepts(client):
    body = (FIXTURES / "tracking_update_in_transit.json").read_bytes()
    headers = {"HTTP_AFTERSHIP_HMAC_SHA256": sign(body, "whsec-current"), "HTTP_ACCEPT": "text/html"}

    response = client.post(URL, data=body, content_type="application/json", **headers)

    assert response.status_code == 200  # not 406, which AfterShip would resend for days
    assert response["Content-Type"] == "application/json"
    assert response.json() == {"received": TrackingEvent.objects.get().pk}


def test_a_delivered_update_moves_the_shipment_to_done_with_its_history(client, ups_shipment):
    deliver(client, (FIXTURES / "tracking_update_delivered.json").read_bytes())

    assert events_process().applied == 1

    ups_shipment.refresh_from_db()
    assert ups_shipment.status == ShipmentStatus.DONE
    assert ups_shipment.tag == "Delivered"
    assert list(Checkpoint.objects.filter(shipment=ups_shipment).values_list("tag", flat=True)) == [
        "InTransit",
        "Delivered",
    ]
    assert TrackingEvent.objects.get().state == EventState.PROCESSED


def test_the_previous_secret_still_works_during_a_rotation(client):
    body = (FIXTURES / "tracking_update_in_transit.json").read_bytes()
    assert deliver(client, body, secret="whsec-previous").status_code == 200
    assert TrackingEvent.objects.get().signature == SignatureResult.VALID_PREVIOUS


@pytest.mark.parametrize(
    ("kwargs", "result"),
    [
        ({"secret": "someone-elses-secret"}, "invalid_signature"),
        ({"signature": ""}, "missing_signature"),
        ({"url": "/aftership/webhook/tracking?token=guess"}, "bad_token"),
        ({"url": "/aftership/webhook/tracking"}, "bad_token"),
    ],
)
def test_failed_authentication_is_refused_and_logged_without_its_body(client, kwargs, result):
    from webhooks.models import SecurityEvent

    body = (FIXTURES / "tracking_update_in_transit.json").read_bytes()

    response = deliver(client, body, **kwargs)

    assert response.status_code == 401
    assert not TrackingEvent.objects.exists()  # a forgery is not an event: nothing of it is applied or kept
    logged = SecurityEvent.objects.get()
    assert (logged.reason, logged.count, logged.address, logged.path) == (
        result,
        1,
        "127.0.0.1",
        "/aftership/webhook/tracking",
    )
    assert logged.body_bytes == len(body)
    assert "token" not in json.dumps(logged.last_headers)


def test_a_re_serialised_body_does_not_pass_the_signature(client):
    raw = (FIXTURES / "tracking_update_in_transit.json").read_bytes()
    reserialised = json.dumps(json.loads(raw), separators=(",", ":")).encode()
    assert deliver(client, reserialised, signature=sign(raw, "whsec-current")).status_code == 401


def test_a_duplicate_delivery_is_recorded_and_skipped(client, ups_shipment):
    body = (FIXTURES / "tracking_update_delivered.json").read_bytes()
    deliver(client, body)
    deliver(client, body)

    events_process()

    assert sorted(TrackingEvent.objects.values_list("state", flat=True)) == [EventState.DUPLICATE, EventState.PROCESSED]
    assert Checkpoint.objects.count() == 2


def test_an_older_update_arriving_late_does_not_undo_a_newer_one(client, ups_shipment):
    delivered = json.loads((FIXTURES / "tracking_update_delivered.json").read_bytes())
    in_transit = json.loads(json.dumps(delivered))
    in_transit["event_id"] = "a9a8f0e2-0000-4000-8000-000000000001"
    in_transit["msg"]["tag"] = "InTransit"
    in_transit["msg"]["checkpoints"] = in_transit["msg"]["checkpoints"][:1]
    deliver(client, json.dumps(delivered).encode())
    deliver(client, json.dumps(in_transit).encode())

    events_process()

    ups_shipment.refresh_from_db()
    assert ups_shipment.status == ShipmentStatus.DONE


def test_a_body_that_is_not_json_is_kept_and_marked_failed(client):
    response = deliver(client, b"<html>not json</html>")
    assert response.status_code == 200  # authentic: AfterShip must not retry it forever
    event = TrackingEvent.objects.get()
    assert event.state == EventState.FAILED
    assert "not an AfterShip tracking event" in event.error


def test_addresses_outside_the_allow_list_are_refused(client, settings):
    settings.WEBHOOK_IP_ALLOWLIST = ["104.154.18.15", "34.122.118.0/24"]
    body = (FIXTURES / "tracking_update_in_transit.json").read_bytes()
    assert deliver(client, body).status_code == 403  # the test client comes from 127.0.0.1
    settings.WEBHOOK_IP_ALLOWLIST = ["127.0.0.0/8"]
    assert deliver(client, body).status_code == 200
