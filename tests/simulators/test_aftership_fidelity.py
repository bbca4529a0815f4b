"""The simulator's trackings and webhooks have AfterShip 2026-07's shapes, signature and retry schedule.

Expectations are written out here from the API reference and the reference samples, not imported from
the simulator, so a drift in the simulator shows up as a failure.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import itertools
import json
import re
import threading
import time
import uuid
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import requests

from simulators.aftership import AfterShipSimulator

KEY = "asat_test_key"
SECRET = "whsec-current"
SAMPLES = Path("/work/shared/reference/aftership-webhook-samples")
CONSTRUCTED_SAMPLE = SAMPLES / "tracking_update_2026-07_delivered_constructed.json"

# The 2026-07 Tracking model. The constructed sample was built from the SDK models; the 2026-07
# changelog also lists `shipment_dimensions` and `multi_piece_info` on the tracking object and
# `hash` on checkpoints, which the sample lacks.
TRACKING_ADDED_IN_2026_07 = {"shipment_dimensions", "multi_piece_info"}
CHECKPOINT_ADDED_IN_2026_07 = {"hash"}
TRACKING_KEYS = {
    "id", "legacy_id", "created_at", "updated_at", "tracking_number", "slug", "active", "custom_fields",
    "transit_time", "origin_country_region", "origin_state", "origin_city", "origin_postal_code",
    "origin_raw_location", "destination_country_region", "destination_state", "destination_city",
    "destination_postal_code", "destination_raw_location", "courier_destination_country_region",
    "courier_estimated_delivery_date", "note", "order_id", "order_id_path", "order_date", "order_number",
    "shipment_package_count", "shipment_pickup_date", "shipment_delivery_date", "shipment_type",
    "shipment_weight", "signed_by", "source", "tag", "subtag", "subtag_message", "title", "tracked_count",
    "language", "checkpoints", "return_to_sender", "order_promised_delivery_date", "delivery_type",
    "pickup_location", "pickup_note", "courier_tracking_link", "first_attempted_at", "courier_redirect_link",
    "tracking_account_number", "tracking_key", "tracking_ship_date", "on_time_status", "on_time_difference",
    "order_tags", "aftership_estimated_delivery_date", "custom_estimated_delivery_date",
    "first_estimated_delivery", "latest_estimated_delivery", "shipment_tags", "courier_connection_id",
    "location_id", "shipping_method", "failed_delivery_attempts", "signature_requirement",
    "delivery_location_type", "aftership_tracking_url", "aftership_tracking_order_url", "first_mile",
    "last_mile", "customers", "proof_of_delivery", "shipment_direction", "return_shipment",
    "forward_shipment", "shipment_dimensions", "multi_piece_info",
}  # fmt: skip
CHECKPOINT_KEYS = {
    "created_at", "slug", "checkpoint_time", "location", "city", "state", "postal_code", "coordinate",
    "country_region", "country_region_name", "message", "tag", "subtag", "subtag_message", "raw_tag",
    "events", "source", "hash",
}  # fmt: skip
WEBHOOK_KEYS = {"event", "event_id", "is_tracking_first_tag", "msg", "ts"}
TAGS = {
    "Pending", "InfoReceived", "InTransit", "OutForDelivery", "AttemptFail", "Delivered",
    "AvailableForPickup", "Exception", "Expired",
}  # fmt: skip
# Documented delivery sub-statuses (AfterShip's "Delivery Sub-statuses" enum, 2026-07).
SUBTAGS = (
    {f"Pending_{n:03d}" for n in range(1, 7)}
    | {"InfoReceived_001", "AvailableForPickup_001", "Expired_001"}
    | {f"InTransit_{n:03d}" for n in (*range(1, 10), 11, 12, 13)}
    | {"OutForDelivery_001", "OutForDelivery_003", "OutForDelivery_004"}
    | {f"AttemptFail_{n:03d}" for n in range(1, 4)}
    | {f"Delivered_{n:03d}" for n in range(1, 6)}
    | {f"Exception_{n:03d}" for n in (*range(1, 14), *range(16, 22))}
)
ISO_WITH_OFFSET = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}[+-]\d{2}:\d{2}")
CARRIER_TIME = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}([+-]\d{2}:\d{2}|Z)?")


class Receiver:
    """A webhook endpoint on a free local port that records raw deliveries and answers as scripted."""

    def __init__(self, statuses: list[int] | None = None, default: int = 200, delay: float = 0.0):
        self.statuses = list(statuses or [])
        self.default = default
        self.delay = delay
        self.received: list[dict] = []
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with receiver.lock:
                    receiver.received.append(
                        {"at": time.monotonic(), "headers": dict(self.headers.items()), "body": body}
                    )
                    status = receiver.statuses.pop(0) if receiver.statuses else receiver.default
                if receiver.delay:
                    time.sleep(receiver.delay)
                try:
                    self.send_response(status)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                except OSError:  # the sender gave up waiting
                    pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/webhooks/aftership"
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def wait_for(self, count: int, timeout: float = 5.0) -> list[dict]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                if len(self.received) >= count:
                    return list(self.received)
            time.sleep(0.005)
        raise AssertionError(f"expected {count} deliveries, got {len(self.received)}")

    def payloads(self) -> list[dict]:
        with self.lock:
            return [json.loads(r["body"]) for r in self.received]


@pytest.fixture(scope="module")
def running_sim():
    simulator = AfterShipSimulator(api_keys=[KEY], webhook_secret=SECRET, seed=11).start()
    yield simulator
    simulator.stop()


@pytest.fixture
def sim(running_sim):
    running_sim.reset(configuration=True)
    running_sim.time_scale = 0.001
    yield running_sim
    running_sim.stop_carriers()
    running_sim.reset()  # drops queued retries so they cannot leak into the next test


@pytest.fixture
def receiver():
    endpoint = Receiver()
    yield endpoint
    endpoint.close()


def create(sim: AfterShipSimulator, **body) -> dict:
    response = requests.post(sim.base_url + "/trackings", json=body, headers={"as-api-key": KEY}, timeout=5)
    assert response.status_code == 201, response.text
    return response.json()["data"]


def get(sim: AfterShipSimulator, tracking_id: str) -> dict:
    response = requests.get(f"{sim.base_url}/trackings/{tracking_id}", headers={"as-api-key": KEY}, timeout=5)
    assert response.status_code == 200, response.text
    return response.json()["data"]


def expected_signature(body: bytes, secret: str) -> str:
    return base64.b64encode(hmac.new(secret.encode("utf-8"), body, hashlib.sha256).digest()).decode()


# -- the tracking object -------------------------------------------------------------------------
def test_the_expected_key_sets_are_the_constructed_sample_plus_the_2026_07_additions():
    sample = json.loads(CONSTRUCTED_SAMPLE.read_text())

    assert set(sample) == WEBHOOK_KEYS
    assert TRACKING_KEYS - set(sample["msg"]) == TRACKING_ADDED_IN_2026_07
    assert set(sample["msg"]) <= TRACKING_KEYS
    for checkpoint in sample["msg"]["checkpoints"]:
        assert CHECKPOINT_KEYS - set(checkpoint) == CHECKPOINT_ADDED_IN_2026_07


def test_a_tracking_has_exactly_the_2026_07_tracking_keys_and_types(sim):
    created = create(sim, tracking_number="1Z999AA10123456784", slug="ups", order_id="SO1234")
    fetched = get(sim, created["id"])

    for tracking in (created, fetched):
        assert set(tracking) == TRACKING_KEYS
    assert re.fullmatch(r"[0-9a-f]{32}", fetched["id"])
    assert ISO_WITH_OFFSET.fullmatch(fetched["created_at"])
    assert ISO_WITH_OFFSET.fullmatch(fetched["updated_at"])
    assert datetime.fromisoformat(fetched["created_at"]).utcoffset() is not None
    assert fetched["tracking_number"] == "1Z999AA10123456784" and fetched["slug"] == "ups"
    assert fetched["title"] == "1Z999AA10123456784"  # AfterShip's default title is the number
    assert (
        fetched["courier_tracking_link"].startswith("https://")
        and "1Z999AA10123456784" in fetched["courier_tracking_link"]
    )
    assert fetched["aftership_tracking_url"].startswith("https://")
    for list_field in ("checkpoints", "order_tags", "shipment_tags", "customers", "proof_of_delivery"):
        assert fetched[list_field] == []
    assert fetched["custom_fields"] is None  # null by default since 2025-07
    assert fetched["shipment_direction"] == "forward"


def test_checkpoints_have_exactly_the_2026_07_checkpoint_keys(sim):
    tracking = create(sim, tracking_number="1Z999AA10123456784", slug="ups")

    sim.advance(
        tracking["id"],
        "InTransit",
        "InTransit_002",
        message="Pickup Scan",
        location={"city": "Hamburg", "country": "DEU", "postal_code": "20095", "tz": "Europe/Berlin"},
        raw_tag="PU",
    )
    sim.advance(tracking["id"], "OutForDelivery", location="Lyon, FR")

    checkpoints = get(sim, tracking["id"])["checkpoints"]
    assert len(checkpoints) == 2
    first = checkpoints[0]
    for checkpoint in checkpoints:
        assert set(checkpoint) == CHECKPOINT_KEYS
        assert CARRIER_TIME.fullmatch(checkpoint["checkpoint_time"])
        assert ISO_WITH_OFFSET.fullmatch(checkpoint["created_at"])
        assert re.fullmatch(r"[0-9a-f]+", checkpoint["hash"])
    assert first["country_region"] == "DEU" and first["country_region_name"] == "Germany"
    assert first["city"] == "Hamburg" and first["location"] == "Hamburg, DE"
    assert (first["tag"], first["subtag"], first["subtag_message"]) == (
        "InTransit",
        "InTransit_002",
        "Acceptance scan",
    )
    assert checkpoints[1]["location"] == "Lyon, FR"
    assert checkpoints[0]["hash"] != checkpoints[1]["hash"]


def test_carrier_journeys_only_use_documented_tags_and_sub_statuses(sim):
    sim.rate_limits["POST /trackings"] = 1000
    ids = [create(sim, tracking_number=f"{n:012d}", slug="fedex")["id"] for n in range(1, 41)]

    for _ in range(20):
        sim.step_carriers()

    trackings = sim.trackings
    outcomes = set()
    for tracking_id in ids:
        tracking = trackings[tracking_id]
        assert tracking["checkpoints"], tracking_id
        outcomes.add(tracking["tag"])
        assert tracking["tag"] in {"Delivered", "Exception"}
        for checkpoint in tracking["checkpoints"]:
            assert checkpoint["tag"] in TAGS
            assert checkpoint["subtag"] in SUBTAGS, checkpoint["subtag"]
            assert checkpoint["subtag"].startswith(checkpoint["tag"] + "_")
        assert tracking["subtag"] == tracking["checkpoints"][-1]["subtag"]
    assert "Delivered" in outcomes


def test_a_delivered_tracking_carries_its_dates_and_estimates(sim):
    tracking = create(sim, tracking_number="123456789012", slug="fedex")
    sim.advance(tracking["id"], "InfoReceived", checkpoint_time="2026-09-01T08:00:00")
    sim.advance(tracking["id"], "InTransit", "InTransit_002", checkpoint_time="2026-09-01T17:30:00")
    sim.advance(
        tracking["id"],
        "Delivered",
        "Delivered_003",
        checkpoint_time="2026-09-04T13:58:00",
        signed_by="DUPONT",
    )

    delivered = get(sim, tracking["id"])

    assert (delivered["tag"], delivered["subtag"], delivered["subtag_message"]) == (
        "Delivered",
        "Delivered_003",
        "Sign by customer",
    )
    assert delivered["active"] is False
    assert delivered["shipment_pickup_date"] == "2026-09-01T17:30:00"
    assert delivered["shipment_delivery_date"] == "2026-09-04T13:58:00"
    assert delivered["first_attempted_at"] == "2026-09-04T13:58:00"
    assert delivered["transit_time"] == 3
    assert delivered["signed_by"] == "DUPONT"
    assert set(delivered["courier_estimated_delivery_date"]) == {
        "estimated_delivery_date",
        "estimated_delivery_date_min",
        "estimated_delivery_date_max",
    }
    assert set(delivered["latest_estimated_delivery"]) == {
        "type",
        "source",
        "datetime",
        "datetime_min",
        "datetime_max",
        "revise_reason",
    }
    assert set(delivered["first_estimated_delivery"]) == {
        "type",
        "source",
        "datetime",
        "datetime_min",
        "datetime_max",
    }


# -- webhook bodies and signatures ---------------------------------------------------------------
def test_a_webhook_body_parses_like_the_sample_and_matches_the_api(sim, receiver):
    sim.webhook_urls = [receiver.url]
    tracking = create(
        sim, tracking_number="1Z999AA10123456784", slug="ups", title="SO1234 / WH/OUT/00042 \u2013 Müller"
    )

    sim.advance(tracking["id"], "InTransit", "InTransit_002")
    delivery = receiver.wait_for(1)[0]

    payload = json.loads(delivery["body"])
    sample = json.loads(CONSTRUCTED_SAMPLE.read_text())
    assert set(payload) == set(sample) == WEBHOOK_KEYS
    assert payload["event"] == "tracking_update"
    assert uuid.UUID(payload["event_id"]).version == 4
    assert payload["is_tracking_first_tag"] is True
    assert isinstance(payload["ts"], int) and abs(payload["ts"] - time.time()) < 60
    assert set(payload["msg"]) == TRACKING_KEYS
    assert payload["msg"] == get(sim, tracking["id"])
    assert payload["msg"]["title"] == "SO1234 / WH/OUT/00042 \u2013 Müller"
    headers = {k.lower(): v for k, v in delivery["headers"].items()}
    assert headers["content-type"] == "application/json"
    assert headers["as-webhook-version"] == "2026-07"
    assert headers["user-agent"] == "AfterShipTrackingWebhook/4.0.0 (https://www.aftership.com)"


def test_the_signature_is_base64_hmac_sha256_of_the_raw_body(sim, receiver):
    sim.webhook_urls = [receiver.url]
    tracking = create(sim, tracking_number="1Z999AA10123456784", slug="ups", title="Colis \u2013 été")

    sim.advance(tracking["id"], "InTransit", "InTransit_002")
    delivery = receiver.wait_for(1)[0]

    signature = {k.lower(): v for k, v in delivery["headers"].items()}["aftership-hmac-sha256"]
    body = delivery["body"]
    assert len(signature) == 44
    assert hmac.compare_digest(signature, expected_signature(body, SECRET))
    assert not hmac.compare_digest(signature, expected_signature(body, "whsec-previous"))
    reserialised = json.dumps(json.loads(body)).encode("utf-8")
    assert reserialised != body
    assert not hmac.compare_digest(signature, expected_signature(reserialised, SECRET))
    assert not hmac.compare_digest(signature, hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest())


def test_is_tracking_first_tag_is_true_only_for_the_first_update_under_a_tag(sim, receiver):
    sim.webhook_urls = [receiver.url]
    tracking = create(sim, tracking_number="123456789012", slug="fedex")

    sim.advance(tracking["id"], "InTransit", "InTransit_002")
    sim.advance(tracking["id"], "InTransit", "InTransit_003")
    sim.advance(tracking["id"], "OutForDelivery")
    receiver.wait_for(3)

    flags = {p["msg"]["subtag"]: p["is_tracking_first_tag"] for p in receiver.payloads()}
    assert flags == {"InTransit_002": True, "InTransit_003": False, "OutForDelivery_001": True}


def test_every_url_gets_the_same_event(sim):
    receivers = [Receiver(), Receiver()]
    try:
        sim.webhook_urls = [r.url for r in receivers]
        tracking = create(sim, tracking_number="123456789012", slug="fedex")

        event_id = sim.emit(tracking["id"])

        bodies = [r.wait_for(1)[0]["body"] for r in receivers]
        assert bodies[0] == bodies[1]
        assert json.loads(bodies[0])["event_id"] == event_id
    finally:
        for r in receivers:
            r.close()
    with pytest.raises(ValueError):
        sim.webhook_urls = [f"https://example.com/hook/{n}" for n in range(11)]


def test_edd_revisions_are_sent_when_subscribed(sim, receiver):
    sim.webhook_urls = [receiver.url]
    sim.webhook_event_types = {"tracking_update", "edd_revise"}
    tracking = create(sim, tracking_number="123456789012", slug="fedex")

    sim.advance(tracking["id"], "InTransit", "InTransit_002")
    receiver.wait_for(2)

    assert sorted(p["event"] for p in receiver.payloads()) == ["edd_revise", "tracking_update"]


# -- delivery and retries ------------------------------------------------------------------------
def test_a_receiver_failing_three_times_gets_four_attempts_on_a_doubling_schedule(sim):
    sim.time_scale = 0.002  # 30 s -> 60 ms
    failing = Receiver(statuses=[500, 503, 404])
    try:
        sim.webhook_urls = [failing.url]
        tracking = create(sim, tracking_number="123456789012", slug="fedex")

        event_id = sim.emit(tracking["id"])
        arrivals = failing.wait_for(4)
        assert sim.wait_for_webhooks(timeout=5)
        time.sleep(0.2)
    finally:
        failing.close()

    assert len(failing.received) == 4
    bodies = {a["body"] for a in arrivals}
    assert len(bodies) == 1  # every attempt re-sends the same bytes
    # The schedule it keeps (AfterShip's, scaled): never sooner than due. How much later a loaded machine
    # delivers is not the simulator's decision, so it is not asserted.
    from simulators.aftership.webhooks import retry_delay

    assert [retry_delay(n) for n in (1, 2, 3)] == [30.0, 60.0, 120.0]
    gaps = [b["at"] - a["at"] for a, b in itertools.pairwise(arrivals)]
    for gap, expected in zip(gaps, (0.06, 0.12, 0.24), strict=True):
        assert gap >= expected * 0.9, gaps
    attempts = [(d.attempt, d.status) for d in sim.webhook_deliveries if d.event_id == event_id]
    assert attempts == [(1, 500), (2, 503), (3, 404), (4, 200)]


def test_a_receiver_that_always_fails_gets_exactly_fourteen_attempts(sim):
    sim.time_scale = 2e-6  # the whole 68-hour schedule in half a second
    failing = Receiver(default=500)
    try:
        sim.webhook_urls = [failing.url]
        tracking = create(sim, tracking_number="123456789012", slug="fedex")

        sim.emit(tracking["id"])
        failing.wait_for(14)
        assert sim.wait_for_webhooks(timeout=5)
        time.sleep(0.3)
    finally:
        failing.close()

    assert len(failing.received) == 14
    assert [d.attempt for d in sim.webhook_deliveries] == list(range(1, 15))
    assert not any(d.ok for d in sim.webhook_deliveries)


def test_a_timeout_counts_as_a_failed_attempt(sim):
    sim.time_scale = 0.001
    sim.webhook_timeout = 0.1
    slow = Receiver(delay=0.5)
    try:
        sim.webhook_urls = [slow.url]
        tracking = create(sim, tracking_number="123456789012", slug="fedex")

        sim.emit(tracking["id"])
        slow.wait_for(2, timeout=5)
    finally:
        sim.webhook_urls = []
        slow.close()

    first = sim.webhook_deliveries[0]
    assert first.attempt == 1 and first.status is None and "timeout" in first.error


def test_a_slow_receiver_never_holds_up_the_api(sim):
    slow = Receiver(delay=1.0)
    try:
        sim.webhook_urls = [slow.url]
        tracking = create(sim, tracking_number="123456789012", slug="fedex")

        started = time.monotonic()
        sim.advance(tracking["id"], "InTransit", "InTransit_002")
        get(sim, tracking["id"])
        elapsed = time.monotonic() - started
        slow.wait_for(1)
    finally:
        sim.webhook_urls = []
        slow.close()

    assert elapsed < 1.0  # shorter than the receiver takes: the API did not wait for the webhook


def test_redeliver_sends_the_identical_event_again(sim, receiver):
    sim.webhook_urls = [receiver.url]
    tracking = create(sim, tracking_number="123456789012", slug="fedex")
    event_id = sim.emit(tracking["id"])
    receiver.wait_for(1)

    sim.redeliver(event_id)
    first, second = receiver.wait_for(2)

    assert first["body"] == second["body"]
    assert first["headers"]["aftership-hmac-sha256"] == second["headers"]["aftership-hmac-sha256"]
    assert json.loads(second["body"])["event_id"] == event_id


def test_held_events_can_be_released_out_of_order(sim, receiver):
    sim.webhook_urls = [receiver.url]
    tracking = create(sim, tracking_number="123456789012", slug="fedex")
    sim.pause_webhooks()

    sim.advance(tracking["id"], "InTransit", "InTransit_002")
    sim.advance(tracking["id"], "OutForDelivery")
    sim.advance(tracking["id"], "Delivered")
    time.sleep(0.05)
    assert receiver.received == []
    sim.release_webhooks("reverse")
    receiver.wait_for(3)

    assert [p["msg"]["tag"] for p in receiver.payloads()] == ["Delivered", "OutForDelivery", "InTransit"]
    updated = [p["msg"]["updated_at"] for p in receiver.payloads()]
    assert updated == sorted(updated, reverse=True)


# -- carriers ------------------------------------------------------------------------------------
def test_carriers_move_parcels_to_the_end_of_their_journey_in_the_background(sim, receiver):
    sim.webhook_urls = [receiver.url]
    ids = [create(sim, tracking_number=f"{n:012d}", slug="fedex")["id"] for n in range(1, 6)]

    sim.start_carriers(step_seconds=0.01)
    try:
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            if all(sim.journey(i).finished for i in ids):
                break
            time.sleep(0.02)
    finally:
        sim.stop_carriers()

    trackings = sim.trackings
    assert all(sim.journey(i).finished for i in ids)
    for tracking_id in ids:
        tags = [c["tag"] for c in trackings[tracking_id]["checkpoints"]]
        assert tags[0] == "InfoReceived"
        assert tags[-1] in {"Delivered", "Exception"}
    assert sim.wait_for_webhooks(timeout=5)
    sent = sum(len(trackings[i]["checkpoints"]) for i in ids)
    assert len(receiver.received) == sent


def test_journeys_are_reproducible_from_the_seed_and_mostly_end_delivered():
    def journeys(seed: int) -> list[tuple[str, list]]:
        sim = AfterShipSimulator(seed=seed)
        result = []
        for n in range(200):
            tracking = sim.create_tracking({"tracking_number": f"{n:012d}", "slug": "fedex"})
            journey = sim.journey(tracking["id"])
            result.append((journey.outcome, [s and s.subtag for s in journey.steps]))
        return result

    first, again, other = journeys(3), journeys(3), journeys(4)

    assert first == again
    assert first != other
    outcomes = [outcome for outcome, _ in first]
    delivered = outcomes.count("delivered") + outcomes.count("attempt_fail")
    exceptions = outcomes.count("lost") + outcomes.count("returned")
    assert 0.8 <= delivered / 200 <= 0.97
    assert 0.03 <= exceptions / 200 <= 0.2
    assert 0.03 <= outcomes.count("attempt_fail") / 200 <= 0.2
