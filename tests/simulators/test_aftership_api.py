"""The AfterShip simulator answers like Tracking API 2026-07: auth, envelope, errors, limits, faults."""

from __future__ import annotations

import json
import time
from urllib.parse import quote

import pytest
import requests

from simulators.aftership import AfterShipSimulator

KEY = "asat_test_key"
HEADERS = {"as-api-key": KEY}
FROZEN = 1_800_000_000.25  # a quarter past a second boundary, so a whole burst fits one window


@pytest.fixture(scope="module")
def running_sim():
    simulator = AfterShipSimulator(api_keys=[KEY], seed=7).start()
    yield simulator
    simulator.stop()


@pytest.fixture
def sim(running_sim):
    running_sim.reset(configuration=True)
    return running_sim


def api(sim: AfterShipSimulator, method: str, path: str, *, key: str | None = KEY, **kwargs) -> requests.Response:
    headers = kwargs.pop("headers", {})
    if key is not None:
        headers.setdefault("as-api-key", key)
    return requests.request(method, sim.base_url + path, headers=headers, timeout=5, **kwargs)


def create(sim: AfterShipSimulator, **body) -> requests.Response:
    return api(sim, "POST", "/trackings", json=body)


def assert_error(response: requests.Response, status: int, code: int, message: str | None = None) -> dict:
    assert response.status_code == status, response.text
    payload = response.json()
    assert set(payload) == {"meta", "data"}
    assert payload["meta"]["code"] == code, payload
    assert payload["meta"]["type"]
    if message is not None:
        assert payload["meta"]["message"] == message
    return payload


# -- authentication ------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "headers",
    [{}, {"as-api-key": "wrong"}, {"aftership-api-key": KEY}],
    ids=["missing", "unknown", "legacy-header"],
)
def test_it_refuses_requests_without_a_valid_as_api_key(sim, headers):
    response = requests.get(sim.base_url + "/trackings", headers=headers, timeout=5)

    payload = assert_error(response, 401, 401, "The API Key is invalid.")
    assert payload == {
        "meta": {"code": 401, "message": "The API Key is invalid.", "type": "Unauthorized"},
        "data": {},
    }
    assert response.headers["as-api-version"] == "2026-07"
    assert sim.stats.unauthorized == 1


def test_rotated_and_revoked_keys_take_effect_immediately(sim):
    assert api(sim, "GET", "/couriers").status_code == 200

    sim.api_keys = ["asat_rotated"]

    assert_error(api(sim, "GET", "/couriers"), 401, 401)
    assert api(sim, "GET", "/couriers", key="asat_rotated").status_code == 200


# -- envelope and routing ------------------------------------------------------------------------
def test_success_answers_carry_the_envelope_version_and_rate_limit_headers(sim):
    sim.clock = lambda: FROZEN

    response = api(sim, "GET", "/couriers", params={"active": "true"})

    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("application/json")
    assert response.headers["as-api-version"] == "2026-07"
    assert response.headers["X-RateLimit-Limit"] == "5"
    assert response.headers["X-RateLimit-Remaining"] == "4"
    assert response.headers["X-RateLimit-Reset"] == str(int(FROZEN) + 1)
    payload = response.json()
    assert payload["meta"] == {"code": 200}
    assert payload["data"]["total"] == len(payload["data"]["couriers"]) > 0
    courier = payload["data"]["couriers"][0]
    assert set(courier) == {
        "slug",
        "name",
        "phone",
        "other_name",
        "web_url",
        "required_fields",
        "optional_fields",
        "default_language",
        "support_languages",
        "service_from_country_regions",
    }


@pytest.mark.parametrize(
    "path",
    ["/tracking/2024-04/trackings", "/v4/trackings", "/tracking/2026-07/parcels"],
)
def test_unknown_versions_and_paths_are_not_found(sim, path):
    response = requests.get(sim.url + path, headers=HEADERS, timeout=5)

    assert_error(response, 404, 404, "The URI requested is invalid or the resource requested does not exist.")
    assert response.json()["meta"]["type"] == "NotFound"


def test_the_courier_list_filters_on_activation_and_slug(sim):
    everything = api(sim, "GET", "/couriers").json()["data"]
    active = api(sim, "GET", "/couriers", params={"active": "true"}).json()["data"]
    two = api(sim, "GET", "/couriers", params={"slug": "ups,postnl-3s"}).json()["data"]

    assert active["total"] < everything["total"]
    assert "canada-post" in {c["slug"] for c in everything["couriers"]}
    assert "canada-post" not in {c["slug"] for c in active["couriers"]}
    assert {c["slug"] for c in two["couriers"]} == {"ups", "postnl-3s"}
    postnl = next(c for c in two["couriers"] if c["slug"] == "postnl-3s")
    assert postnl["required_fields"] == ["destination_postal_code", "destination_country_region"]


def test_detect_returns_every_active_courier_whose_format_matches(sim):
    response = api(sim, "POST", "/couriers/detect", json={"tracking_number": "123456789012"})

    assert response.status_code == 200
    assert [c["slug"] for c in response.json()["data"]["couriers"]] == ["fedex", "gls"]
    none = api(sim, "POST", "/couriers/detect", json={"tracking_number": "QQ-NOT-A-NUMBER"}).json()
    assert none["data"] == {"total": 0, "couriers": []}
    restricted = api(sim, "POST", "/couriers/detect", json={"tracking_number": "123456789012", "slug": ["gls"]})
    assert [c["slug"] for c in restricted.json()["data"]["couriers"]] == ["gls"]


# -- create, read, list --------------------------------------------------------------------------
def test_a_created_tracking_reads_back_by_id_and_in_the_list(sim):
    response = create(
        sim,
        tracking_number="1Z999AA10123456784",
        slug="ups",
        title="SO1234 / WH/OUT/00042",
        order_id="SO1234",
        order_number="SO1234",
        custom_fields={"odoo_picking_id": "42"},
        destination_country_region="FRA",
        destination_postal_code="69002",
        customers=[{"role": "buyer", "name": "Jeanne Dupont", "email": "jeanne@example.com"}],
    )

    assert response.status_code == 201
    assert response.json()["meta"] == {"code": 201}
    created = response.json()["data"]
    assert created["tag"] == "Pending" and created["subtag"] == "Pending_001"
    assert created["checkpoints"] == [] and created["active"] is True
    assert created["customers"] == [
        {
            "role": "buyer",
            "name": "Jeanne Dupont",
            "phone_number": None,
            "email": "jeanne@example.com",
            "language": None,
            "id": None,
        }
    ]
    fetched = api(sim, "GET", f"/trackings/{created['id']}")
    assert fetched.status_code == 200 and fetched.json()["meta"] == {"code": 200}
    assert fetched.json()["data"] == created
    listed = api(sim, "GET", "/trackings").json()["data"]
    assert listed["trackings"] == [created]
    assert listed["pagination"] == {"total": 1, "next_cursor": None, "has_next_page": False}


def test_the_list_pages_newest_first_with_a_cursor(sim):
    ids = [create(sim, tracking_number=f"{n:012d}", slug="fedex").json()["data"]["id"] for n in range(1, 6)]

    seen, cursor, pages = [], None, 0
    while True:
        params = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        data = api(sim, "GET", "/trackings", params=params).json()["data"]
        pages += 1
        assert data["pagination"]["total"] == 5
        seen += [t["id"] for t in data["trackings"]]
        if not data["pagination"]["has_next_page"]:
            assert data["pagination"]["next_cursor"] is None
            break
        cursor = data["pagination"]["next_cursor"]
        assert cursor

    assert pages == 3
    assert seen == list(reversed(ids))
    assert_error(api(sim, "GET", "/trackings", params={"cursor": "garbage!"}), 400, 4008)
    assert_error(api(sim, "GET", "/trackings", params={"limit": 201}), 400, 4008)


def test_the_list_filters_on_tracking_numbers_and_slug_together(sim):
    create(sim, tracking_number="123456789012", slug="fedex")
    gls = create(sim, tracking_number="123456789012", slug="gls").json()["data"]
    create(sim, tracking_number="210987654321", slug="gls")

    data = api(sim, "GET", "/trackings", params={"tracking_numbers": "123456789012", "slug": "gls"}).json()["data"]

    assert [t["id"] for t in data["trackings"]] == [gls["id"]]
    too_many = ",".join(f"{n:012d}" for n in range(51))
    assert_error(api(sim, "GET", "/trackings", params={"tracking_numbers": too_many}), 400, 4008)


def test_the_list_filters_on_updated_at_min(sim):
    start = 1_800_000_000.0
    sim.clock = lambda: start
    create(sim, tracking_number="123456789012", slug="fedex")
    moved = create(sim, tracking_number="210987654321", slug="fedex").json()["data"]
    sim.clock = lambda: start + 3600
    sim.advance(moved["id"], "InTransit", "InTransit_002")

    since = quote("2027-01-15T08:30:00+00:00", safe="")  # start + 30 min, `+` escaped as %2B
    response = requests.get(f"{sim.base_url}/trackings?updated_at_min={since}", headers=HEADERS, timeout=5)

    assert [t["id"] for t in response.json()["data"]["trackings"]] == [moved["id"]]
    assert response.json()["data"]["pagination"]["total"] == 1


@pytest.mark.parametrize(
    "query",
    [
        "updated_at_min=yesterday",
        "created_at_max=2027-13-40T00:00:00Z",
        "updated_at_min=2027-01-15T08:30:00+00:00",
    ],
    ids=["words", "impossible-date", "unescaped-plus"],
)
def test_an_invalid_date_filter_is_a_400(sim, query):
    response = requests.get(f"{sim.base_url}/trackings?{query}", headers=HEADERS, timeout=5)

    payload = assert_error(response, 400, 4008)
    assert query.split("=")[0] in payload["meta"]["message"]


# -- create errors -------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("body", "code", "message"),
    [
        ({"slug": "ups"}, 4007, "tracking_number is required."),
        ({"tracking_number": "12", "slug": "fedex"}, 4005, "The value of tracking_number is invalid."),
        ({"tracking_number": "1Z999 AA1012345678"}, 4005, "The value of tracking_number is invalid."),
        ({"tracking_number": "x" * 101}, 4005, "The value of tracking_number is invalid."),
        ({"tracking_number": "ABC123456", "slug": "ups"}, 4017, "The format of tracking_number is invalid."),
        (
            {"tracking_number": "123456789012", "slug": "fedex", "destination_country_region": "DE"},
            4008,
            "The value of destination_country_region is invalid.",
        ),
        (
            {"tracking_number": "123456789012", "slug": "fedex", "title": 42},
            4008,
            "The value of title is invalid.",
        ),
        (
            {"tracking_number": "123456789012", "slug": "fedex", "custom_fields": {"picking": 42}},
            4008,
            "The value of custom_fields is invalid.",
        ),
        (
            {"tracking_number": "123456789012", "slug": "fedex", "customers": {"name": "A"}},
            4008,
            "The value of customers is invalid.",
        ),
        (
            {
                "tracking_number": "123456789012",
                "slug": "fedex",
                "order_promised_delivery_date": "2026-09-05",
            },
            4008,
            "The value of order_promised_delivery_date is invalid.",
        ),
        (
            {"tracking_number": "123456789012", "slug": "no-such-courier"},
            4010,
            "The value of slug is invalid.",
        ),
        (
            {"tracking_number": "3SABCD1234567", "slug": "postnl-3s", "destination_postal_code": "1043AA"},
            4011,
            "Missing or invalid value of the required fields for this courier. "
            "Besides tracking_number, also required: destination_country_region",
        ),
        (
            {"tracking_number": "3SABCD1234567"},
            4011,
            "Missing or invalid value of the required fields for this courier. "
            "Besides tracking_number, also required: destination_postal_code, destination_country_region",
        ),
        (
            {
                "tracking_number": "ABC1234567",
                "slug": "dhl-global-forwarding",
                "tracking_ship_date": "Sept 1",
            },
            4011,
            "Missing or invalid value of the required fields for this courier. "
            "Besides tracking_number, also required: tracking_ship_date",
        ),
        (
            {"tracking_number": "QQ-NOT-A-NUMBER"},
            4012,
            "Unable to import shipment as we don't recognize the carrier from this tracking number.",
        ),
        (
            {"tracking_number": "RR123456789JP"},
            4012,
            "Unable to import shipment as the carrier is not on your approved list for carrier "
            "auto-detection. Add the carrier here: https://admin.aftership.com/settings/couriers",
        ),
        ({"tracking_number": "123456789012", "slug": "fedex", "tag": "Delivered"}, 400, None),
    ],
    ids=[
        "4007-missing-number",
        "4005-too-short",
        "4005-space",
        "4005-too-long",
        "4017-not-ups-format",
        "4008-alpha2-country",
        "4008-typed-title",
        "4008-custom-fields-not-strings",
        "4008-customers-not-a-list",
        "4008-promised-date-not-object",
        "4010-unknown-slug",
        "4011-postnl-country",
        "4011-detected-postnl",
        "4011-bad-ship-date",
        "4012-undetectable",
        "4012-courier-not-enabled",
        "400-unknown-field",
    ],
)
def test_invalid_creates_are_refused_with_aftership_codes(sim, body, code, message):
    response = create(sim, **body)

    assert_error(response, 400, code, message)
    assert response.json()["meta"]["type"] == "BadRequest"
    assert sim.trackings == {}
    assert sim.stats.created == 0


def test_malformed_json_is_4001(sim):
    response = api(
        sim, "POST", "/trackings", data=b'{"tracking_number": ', headers={"Content-Type": "application/json"}
    )

    assert_error(response, 400, 4001, "Invalid JSON data.")


def test_a_courier_needing_fields_accepts_them(sim):
    response = create(
        sim,
        tracking_number="3SABCD1234567",
        destination_postal_code="1043 AA",
        destination_country_region="NLD",
    )

    assert response.status_code == 201
    assert response.json()["data"]["slug"] == "postnl-3s"


def test_the_same_slug_and_number_twice_is_4003_with_http_400(sim):
    assert create(sim, tracking_number="123456789012", slug="fedex").status_code == 201

    response = create(sim, tracking_number="123456789012", slug="fedex")

    assert_error(response, 400, 4003, "Tracking already exists.")
    assert create(sim, tracking_number="123456789012", slug="gls").status_code == 201
    assert len(sim.trackings) == 2


def test_the_duplicate_answer_can_be_switched_to_http_409(sim):
    sim.duplicate_status = 409
    create(sim, tracking_number="123456789012", slug="fedex")

    response = create(sim, tracking_number="123456789012", slug="fedex")

    assert_error(response, 409, 4003, "Tracking already exists.")


# -- update, delete, retrack, complete -----------------------------------------------------------
def test_update_changes_fields_and_validates_them(sim):
    tracking = create(sim, tracking_number="123456789012", slug="fedex").json()["data"]

    response = api(sim, "PUT", f"/trackings/{tracking['id']}", json={"title": "SO9", "custom_fields": {"a": "b"}})

    assert response.status_code == 200
    assert response.json()["data"]["title"] == "SO9"
    assert sim.trackings[tracking["id"]]["custom_fields"] == {"a": "b"}
    assert_error(api(sim, "PUT", f"/trackings/{tracking['id']}", json={"title": ["x"]}), 400, 4008)
    assert_error(api(sim, "PUT", f"/trackings/{tracking['id']}", json={"slug": "nope"}), 400, 4010)
    assert_error(api(sim, "PUT", "/trackings/" + "0" * 32, json={"title": "x"}), 404, 4004)


def test_a_deleted_tracking_is_gone_and_can_be_created_again(sim):
    tracking = create(sim, tracking_number="123456789012", slug="fedex").json()["data"]

    deleted = api(sim, "DELETE", f"/trackings/{tracking['id']}")

    assert deleted.status_code == 200 and deleted.json()["data"]["id"] == tracking["id"]
    assert_error(api(sim, "GET", f"/trackings/{tracking['id']}"), 404, 4004, "Tracking does not exist.")
    assert create(sim, tracking_number="123456789012", slug="fedex").status_code == 201


def test_mark_as_completed_then_retrack(sim):
    tracking = create(sim, tracking_number="123456789012", slug="fedex").json()["data"]
    path = f"/trackings/{tracking['id']}"
    assert_error(api(sim, "POST", path + "/retrack"), 400, 4013)
    assert_error(api(sim, "POST", path + "/mark-as-completed", json={"reason": "EATEN"}), 400, 4008)

    done = api(sim, "POST", path + "/mark-as-completed", json={"reason": "LOST"}).json()["data"]

    assert (done["tag"], done["subtag"], done["active"]) == ("Exception", "Exception_013", False)
    assert done["checkpoints"][-1]["source"] == "user"
    retracked = api(sim, "POST", path + "/retrack")
    assert retracked.status_code == 200 and retracked.json()["data"]["active"] is True


# -- rate limits ---------------------------------------------------------------------------------
def test_a_burst_of_25_creates_gets_exactly_20_through_in_one_window(sim):
    sim.clock = lambda: FROZEN

    responses = [create(sim, tracking_number=f"{n:012d}", slug="fedex") for n in range(1, 26)]

    assert [r.status_code for r in responses] == [201] * 20 + [429] * 5
    assert [int(r.headers["X-RateLimit-Remaining"]) for r in responses[:20]] == list(range(19, -1, -1))
    reset = str(int(FROZEN) + 1)
    for response in responses:
        assert response.headers["X-RateLimit-Limit"] == "20"
        assert response.headers["X-RateLimit-Reset"] == reset
    for response in responses[20:]:
        assert response.headers["X-RateLimit-Remaining"] == "0"
        assert response.json() == {
            "meta": {
                "code": 429,
                "message": ("You have exceeded the API call rate limit. Please retry again at X-RateLimit-Reset."),
                "type": "TooManyRequests",
            },
            "data": {},
        }
    assert sim.stats.rate_limited == 5
    assert sim.stats.rate_limited_by_endpoint["POST /trackings"] == 5
    assert len(sim.trackings) == 20

    sim.clock = lambda: FROZEN + 1  # the next window opens
    assert create(sim, tracking_number="000000000026", slug="fedex").status_code == 201


def test_the_real_clock_windows_reset_every_second(sim):
    sim.rate_limits["GET /couriers"] = 2

    first = [api(sim, "GET", "/couriers") for _ in range(3)]
    resets = {r.headers["X-RateLimit-Reset"] for r in first}
    statuses = [r.status_code for r in first]

    if len(resets) == 1:  # the burst fitted one window (it almost always does)
        assert statuses == [200, 200, 429]
    time.sleep(max(int(max(resets)) - time.time(), 0) + 0.01)
    assert api(sim, "GET", "/couriers").status_code == 200


def test_each_endpoint_and_each_key_has_its_own_window(sim):
    sim.clock = lambda: FROZEN
    sim.api_keys = [KEY, "asat_second"]

    lists = [api(sim, "GET", "/trackings") for _ in range(7)]

    assert [r.status_code for r in lists] == [200] * 6 + [429]
    assert lists[0].headers["X-RateLimit-Limit"] == "6"
    assert api(sim, "GET", "/couriers").status_code == 200
    assert api(sim, "GET", "/trackings", key="asat_second").status_code == 200
    detect = [api(sim, "POST", "/couriers/detect", json={"tracking_number": "123456789012"}) for _ in range(4)]
    assert [r.status_code for r in detect] == [200, 200, 200, 429]


def test_the_daily_quota_runs_out_and_comes_back_the_next_day(sim):
    sim.clock = lambda: FROZEN
    sim.daily_quota = 3

    answers = [api(sim, "GET", "/couriers").status_code for _ in range(3)]
    refused = api(sim, "GET", "/couriers")

    assert answers == [200, 200, 200]
    assert_error(refused, 429, 429)
    assert refused.json()["meta"]["type"] == "TooManyRequests"
    assert "Daily limit of 3 requests exceeded" in refused.json()["meta"]["message"]
    assert refused.headers["X-RateLimit-Reset"] == "1800057600"  # next midnight UTC
    assert sim.stats.quota_exceeded == 1
    sim.clock = lambda: FROZEN + 86_400
    assert api(sim, "GET", "/couriers").status_code == 200


# -- faults --------------------------------------------------------------------------------------
def test_an_outage_answers_503_in_the_aftership_envelope(sim):
    sim.faults.start_outage(30)

    response = create(sim, tracking_number="123456789012", slug="fedex")

    assert response.status_code == 503
    assert response.json() == {
        "meta": {"code": 503, "message": "Something went wrong on AfterShip's end.", "type": "InternalError"},
        "data": {},
    }
    assert sim.trackings == {}
    sim.faults.reset()
    assert create(sim, tracking_number="123456789012", slug="fedex").status_code == 201


def test_random_errors_never_create_the_tracking(sim):
    sim.faults.error_rate = 1.0

    responses = [create(sim, tracking_number=f"{n:012d}", slug="fedex") for n in range(1, 6)]

    assert all(r.status_code in (500, 502, 503) for r in responses)
    assert all(r.json()["meta"]["type"] == "InternalError" for r in responses)
    assert sim.trackings == {}
    assert sim.stats.faults == 5


def test_a_failure_after_commit_leaves_the_tracking_so_the_retry_gets_4003(sim):
    sim.fail_after_commit_rate = 1.0

    first = create(sim, tracking_number="123456789012", slug="fedex")

    assert first.status_code == 500
    assert first.json()["meta"]["type"] == "InternalError"
    assert len(sim.trackings) == 1
    sim.fail_after_commit_rate = 0.0
    assert_error(create(sim, tracking_number="123456789012", slug="fedex"), 400, 4003)
    found = api(sim, "GET", "/trackings", params={"tracking_numbers": "123456789012", "slug": "fedex"})
    assert [t["id"] for t in found.json()["data"]["trackings"]] == list(sim.trackings)
    assert sim.stats.failed_after_commit == 1


def test_reset_forgets_trackings_counters_and_faults(sim):
    create(sim, tracking_number="123456789012", slug="fedex")
    sim.faults.error_rate = 0.5

    sim.reset()

    assert sim.trackings == {}
    assert sim.stats.snapshot()["created"] == 0
    assert sim.faults.error_rate == 0.0
    assert json.loads(api(sim, "GET", "/trackings").text)["data"]["pagination"]["total"] == 0
