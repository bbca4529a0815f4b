"""Both endpoints against random bytes, random headers, deep nesting and broken UTF-8: never a 500, and a
stored event always holds exactly the bytes that came. Bounded: a few hundred examples, no deadline."""

from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from sync.models import TrackingEvent
from tests.factories import journey_payload, signed

pytestmark = pytest.mark.django_db

ANSWERS = {200, 202, 400, 401, 403, 408, 413, 429}
FUZZ = hypothesis_settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture], database=None
)


def nested(depth: int) -> bytes:
    return b'{"event": "tracking_update", "msg": ' + b'{"a": ' * depth + b"1" + b"}" * depth + b"}"


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=20,
)
bodies = st.one_of(
    st.binary(max_size=3000),  # anything at all
    st.integers(min_value=1, max_value=200_000).map(nested),  # nested up to far past what Python parses
    json_values.map(lambda value: json.dumps(value).encode()),  # JSON of the wrong shape
    st.binary(max_size=200).map(lambda junk: json.dumps(journey_payload("01_in_transit")).encode()[:-2] + junk),
    st.text().map(lambda text: json.dumps({"event": "tracking_update", "msg": {"tag": text}}).encode()),
)
headers = st.dictionaries(
    st.sampled_from(["HTTP_AS_WEBHOOK_VERSION", "HTTP_USER_AGENT", "HTTP_X_FORWARDED_FOR", "HTTP_CONTENT_ENCODING"]),
    st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=126), max_size=60),
    max_size=3,
)


@FUZZ
@given(
    body=bodies,
    genuine=st.booleans(),
    extra=headers,
    content_type=st.sampled_from(["application/json", "text/plain", ""]),
)
def test_the_aftership_endpoint_never_fails_and_keeps_what_it_accepts(
    client, settings, body, genuine, extra, content_type
):
    settings.WEBHOOK_BLOCK_AFTER = 10_000  # the forged examples should not block the genuine ones
    before = TrackingEvent.objects.count()
    signature = signed(body) if genuine else "forged"

    response = client.post(
        "/aftership/webhook/tracking?token=url-token",
        data=body,
        content_type=content_type,
        HTTP_AFTERSHIP_HMAC_SHA256=signature,
        **extra,
    )

    assert response.status_code in ANSWERS
    if response.status_code == 200:
        assert genuine
        event = TrackingEvent.objects.order_by("-id").first()
        assert bytes(event.body) == body
    else:
        assert TrackingEvent.objects.count() == before  # nothing of a refused request is kept as an event


@FUZZ
@given(body=bodies, token=st.sampled_from(["odoo-push-token", "", "wrong"]), extra=headers)
def test_the_odoo_push_never_fails(client, settings, body, token, extra):
    settings.WEBHOOK_BLOCK_AFTER = 10_000
    response = client.post(f"/odoo/webhook/picking?token={token}", data=body, content_type="application/json", **extra)
    assert response.status_code in ANSWERS
