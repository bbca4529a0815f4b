"""Who the two endpoints refuse, in the order the rules are checked, and what a refusal leaves behind."""

from __future__ import annotations

import io
import json

import pytest
from django.db import connection
from django.test import RequestFactory
from django.test.utils import CaptureQueriesContext

from sync.models import SyncJob, TrackingEvent
from tests.factories import journey_body, signed, webhook
from webhooks.models import AddressBlock, SecurityEvent
from webhooks.views import AfterShipTrackingWebhook, OdooPickingWebhook

pytestmark = pytest.mark.django_db

AFTERSHIP = "/aftership/webhook/tracking?token=url-token"
ODOO = "/odoo/webhook/picking?token=odoo-push-token"
ODOO_BODY = json.dumps({"_id": 30, "_model": "stock.picking", "state": "done"}).encode()


def forged(client, *, address="203.0.113.9", url=AFTERSHIP, **headers):
    body = journey_body("01_in_transit")
    return client.post(
        url,
        data=body,
        content_type="application/json",
        REMOTE_ADDR=address,
        HTTP_AFTERSHIP_HMAC_SHA256=signed(body, "not-the-secret"),
        **headers,
    )


def own_queries(queries) -> list[str]:
    """Statements on the portal's own tables (the cache is a table too when there is no Redis)."""
    return [
        q["sql"] for q in queries.captured_queries if "portal_cache" not in q["sql"] and "SAVEPOINT" not in q["sql"]
    ]


# -- 1. size -------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("url", [AFTERSHIP, ODOO])
def test_a_body_over_the_limit_is_refused_before_it_is_read(client, settings, url):
    settings.WEBHOOK_MAX_BODY_BYTES = 1000
    body = b"{" + b" " * 5000 + b"}"

    response = client.post(url, data=body, content_type="application/json")

    assert response.status_code == 413
    assert not TrackingEvent.objects.exists() and not SyncJob.objects.exists()
    assert SecurityEvent.objects.get().reason == "too_large"


def chunked_request(url: str, body: bytes, **meta):
    """A chunked request as a WSGI server hands it over: no Content-Length, the body read to its end."""
    request = RequestFactory().post(url, data=b"", content_type="application/json", **meta)
    request.META.pop("CONTENT_LENGTH", None)
    request.META["HTTP_TRANSFER_ENCODING"] = "chunked"
    request.META["wsgi.input"] = io.BytesIO(body)
    return request


def test_a_genuine_chunked_webhook_is_read_whole_and_kept(settings):
    body = journey_body("01_in_transit")
    request = chunked_request(AFTERSHIP, body, HTTP_AFTERSHIP_HMAC_SHA256=signed(body))

    response = AfterShipTrackingWebhook.as_view()(request)

    assert response.status_code == 200
    assert bytes(TrackingEvent.objects.get().body) == body


def test_a_chunked_body_over_the_limit_is_refused_while_it_is_read(settings):
    settings.WEBHOOK_MAX_BODY_BYTES = 1000
    request = chunked_request(ODOO, b"{" + b" " * 100_000 + b"}")

    assert OdooPickingWebhook.as_view()(request).status_code == 413
    assert not SyncJob.objects.exists()


# -- 2. blocked ----------------------------------------------------------------------------------------------
def test_an_address_that_keeps_failing_is_blocked_without_reading_or_writing_anything(client, settings, mailoutbox):
    settings.WEBHOOK_BLOCK_AFTER = 5
    settings.SYNC_ALERT_EMAILS = ["ops@example.com"]
    statuses = [forged(client).status_code for _ in range(5)]
    assert statuses == [401] * 5
    block = AddressBlock.objects.get()
    assert (block.address, block.failures) == ("203.0.113.9", 5)
    from sync.alerts import alerts_send

    assert mailoutbox == []  # not from the request: the scheduler mails the digest
    alerts_send()
    assert "203.0.113.9 blocked" in mailoutbox[-1].subject

    with CaptureQueriesContext(connection) as queries:
        response = forged(client)
    assert response.status_code == 403
    assert own_queries(queries) == []  # no security log row, nothing: a flood of blocked requests costs nothing
    assert SecurityEvent.objects.get().count == 5
    # A genuine sender from elsewhere is not affected.
    assert webhook(client, "01_in_transit").status_code == 200


def test_an_admin_lifts_a_block(client, admin_client, settings, django_capture_on_commit_callbacks):
    from django.urls import reverse

    settings.WEBHOOK_BLOCK_AFTER = 2
    forged(client), forged(client)
    assert forged(client).status_code == 403

    with django_capture_on_commit_callbacks(execute=True) as lifted:
        admin_client.post(
            reverse("admin:webhooks_addressblock_changelist"),
            {"action": "lift", "_selected_action": [AddressBlock.objects.get().pk]},
        )
    assert len(lifted) == 1  # the live block goes once the lifting is committed

    assert forged(client).status_code == 401  # heard again (and counted again)
    assert AddressBlock.objects.get().lifted_by == "admin"


@pytest.mark.redis
def test_blocks_and_rates_are_shared_through_redis(client, settings):
    from django.core.cache import caches
    from django.core.cache.backends.redis import RedisCache

    assert isinstance(caches["default"], RedisCache)
    settings.WEBHOOK_BLOCK_AFTER = 3
    for _ in range(3):
        forged(client)
    with CaptureQueriesContext(connection) as queries:
        assert forged(client).status_code == 403
    assert queries.captured_queries == []  # from Redis alone: not a single database statement


@pytest.mark.redis
def test_one_redis_client_per_process_and_one_round_trip_per_count():
    import threading

    from django.core.cache import caches

    from portal.cache import cache_count

    clients = []

    def client_of_this_thread():
        cache = caches["default"]  # Django builds one cache object per thread
        clients.append(cache._cache.get_client(write=True))

    threads = [threading.Thread(target=client_of_this_thread) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    client_of_this_thread()
    assert len({id(client) for client in clients}) == 1  # every thread shares one client and its pool

    redis = clients[0]
    key = caches["default"].make_and_validate_key("shiptrack:test-count")
    redis.delete(key)
    sent = []
    connection = redis.connection_pool.get_connection()  # the one this thread will be given again
    redis.connection_pool.release(connection)
    send = connection.send_packed_command
    connection.send_packed_command = lambda command, *args, **kwargs: (
        sent.append(command),
        send(command, *args, **kwargs),
    )[1]
    try:
        assert [cache_count("shiptrack:test-count", timeout=30) for _ in range(3)] == [1, 2, 3]
    finally:
        del connection.send_packed_command
    assert len(sent) == 3  # INCR and EXPIRE NX go together: one round trip a count
    assert 0 < redis.ttl(key) <= 30  # the first count set the expiry; later counts did not extend it


def test_with_the_cache_down_genuine_webhooks_are_kept_and_forgeries_still_refused(client, monkeypatch):
    from webhooks import security

    class Down:
        def __getattr__(self, name):
            def refuse(*args, **kwargs):
                raise ConnectionError("cache down")

            return refuse

    monkeypatch.setattr(security, "cache", Down())
    monkeypatch.setattr(security, "cache_count", Down().count)
    monkeypatch.setattr("sync.inbound.cache", Down())

    assert webhook(client, "01_in_transit").status_code == 200
    assert TrackingEvent.objects.count() == 1
    assert forged(client).status_code == 401
    assert SecurityEvent.objects.get().count == 1


# -- 3. allow-list -------------------------------------------------------------------------------------------
@pytest.mark.parametrize("url", [AFTERSHIP, ODOO])
def test_an_address_outside_the_allow_list_is_refused(client, settings, url):
    settings.WEBHOOK_IP_ALLOWLIST = ["104.154.18.15", "34.122.118.0/24"]

    assert client.post(url, data=b"{}", content_type="application/json").status_code == 403
    assert client.post(url, data=b"{}", content_type="application/json", REMOTE_ADDR="34.122.118.39").status_code != 403
    assert SecurityEvent.objects.filter(reason="not_allowed").count() == 1


# -- the order -----------------------------------------------------------------------------------------------
def test_the_rules_are_checked_in_order(client, settings):
    settings.WEBHOOK_MAX_BODY_BYTES = 20_000
    settings.WEBHOOK_BLOCK_AFTER = 1
    settings.WEBHOOK_IP_ALLOWLIST = ["203.0.113.0/24"]
    big = b"{" + b" " * 50_000 + b"}"
    forged(client)  # blocked from now on

    # Size before the block, the block before the allow-list, the allow-list before the token.
    assert (
        client.post(AFTERSHIP, data=big, content_type="application/json", REMOTE_ADDR="203.0.113.9").status_code == 413
    )
    assert (
        client.post(
            "/aftership/webhook/tracking", data=b"{}", content_type="application/json", REMOTE_ADDR="203.0.113.9"
        ).status_code
        == 403
    )
    assert (
        client.post(
            "/aftership/webhook/tracking", data=b"{}", content_type="application/json", REMOTE_ADDR="198.51.100.1"
        ).status_code
        == 403
    )
    # The token before the signature, the signature before the rate.
    settings.WEBHOOK_IP_ALLOWLIST = []
    assert forged(client, address="198.51.100.1", url="/aftership/webhook/tracking?token=x").status_code == 401
    assert SecurityEvent.objects.filter(address="198.51.100.1", reason="bad_token").exists()


# -- 5. rate -------------------------------------------------------------------------------------------------
def test_genuine_senders_over_the_rate_get_429_with_retry_after(client, settings):
    settings.WEBHOOK_THROTTLE_RATE = "3/min"
    statuses = [webhook(client, "01_in_transit").status_code for _ in range(4)]

    assert statuses == [200, 200, 200, 429]
    response = webhook(client, "01_in_transit")
    assert 1 <= int(response["Retry-After"]) <= 60
    assert TrackingEvent.objects.count() == 3
    # Refused forgeries are not counted against the genuine sender's rate: they are refused earlier.


def test_the_odoo_push_has_its_own_rate(client, settings):
    settings.WEBHOOK_THROTTLE_RATE = "2/min"
    webhook(client, "01_in_transit")
    webhook(client, "01_in_transit")

    assert client.post(ODOO, data=ODOO_BODY, content_type="application/json").status_code == 202


# -- the client's address ------------------------------------------------------------------------------------
def test_a_spoofed_forwarded_header_without_a_trusted_proxy_changes_nothing(client, settings):
    settings.WEBHOOK_IP_ALLOWLIST = ["34.122.118.0/24"]
    settings.WEBHOOK_BLOCK_AFTER = 2
    spoof = {"HTTP_X_FORWARDED_FOR": "34.122.118.39"}

    # It does not pass the allow-list...
    assert client.post(AFTERSHIP, data=b"{}", content_type="application/json", **spoof).status_code == 403
    # ...nor does it get someone else blocked: the failures count against the real peer.
    settings.WEBHOOK_IP_ALLOWLIST = []
    forged(client, address="198.51.100.7", HTTP_X_FORWARDED_FOR="34.122.118.39")
    forged(client, address="198.51.100.7", HTTP_X_FORWARDED_FOR="34.122.118.39")
    assert list(AddressBlock.objects.values_list("address", flat=True)) == ["198.51.100.7"]
    assert webhook(client, "01_in_transit", REMOTE_ADDR="34.122.118.39").status_code == 200


def test_behind_a_trusted_proxy_the_address_it_saw_is_the_clients(client, settings):
    settings.TRUSTED_PROXY_COUNT = 1
    settings.WEBHOOK_IP_ALLOWLIST = ["34.122.118.0/24"]

    # The proxy (10.0.0.2) appends the address it saw; whatever the client wrote before that is ignored.
    response = webhook(client, "01_in_transit", REMOTE_ADDR="10.0.0.2", HTTP_X_FORWARDED_FOR="1.2.3.4, 34.122.118.39")

    assert response.status_code == 200
    assert TrackingEvent.objects.get().remote_addr == "34.122.118.39"
    refused = webhook(client, "01_in_transit", REMOTE_ADDR="10.0.0.2", HTTP_X_FORWARDED_FOR="34.122.118.39, 1.2.3.4")
    assert refused.status_code == 403


# -- floods and odd bodies -----------------------------------------------------------------------------------
def test_a_forged_flood_costs_a_bounded_number_of_rows(client, settings):
    settings.WEBHOOK_BLOCK_AFTER = 20
    big = b'{"msg": "' + b"x" * 500_000 + b'"}'
    for _ in range(200):
        client.post(
            AFTERSHIP,
            data=big,
            content_type="application/json",
            REMOTE_ADDR="203.0.113.66",
            HTTP_AFTERSHIP_HMAC_SHA256="forged",
        )

    assert not TrackingEvent.objects.exists()
    assert SecurityEvent.objects.count() <= 2  # one row a minute (two if the minute turned)
    assert sum(SecurityEvent.objects.values_list("count", flat=True)) == 20  # then blocked: not even counted
    assert AddressBlock.objects.count() == 1


@pytest.mark.parametrize(
    ("name", "body"),
    [
        ("nested 100,000 deep", b'{"msg": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"),
        ("invalid UTF-8", b'{"event": "tracking_update", "msg": {"tag": "\xff\xfe"}}'),
        ("NUL in a field", b'{"event_id": "a\\u0000b", "msg": {"tracking_number": "48\\u000015", "tag": "InTransit"}}'),
        ("not an object", b"[1, 2, 3]"),
        ("wrong types", b'{"event": 7, "msg": {"checkpoints": "none", "updated_at": {"a": 1}}}'),
    ],
)
def test_a_genuine_body_that_cannot_be_read_is_kept_answered_200_and_shown_in_the_admin(
    client, admin_client, name, body
):
    from django.urls import reverse

    response = webhook(client, body)

    assert response.status_code == 200, name
    event = TrackingEvent.objects.get()
    assert bytes(event.body) == body
    page = admin_client.get(reverse("admin:sync_trackingevent_change", args=[event.pk]))
    assert page.status_code == 200


def test_a_deeply_nested_odoo_push_is_a_clear_400(client):
    body = b"[" * 100_000 + b"]" * 100_000
    response = client.post(ODOO, data=body, content_type="application/json")
    assert response.status_code == 400
    assert response.json() == {"error": "The body is not JSON."}


def test_the_security_log_is_purged_after_its_retention(client, settings):
    from datetime import timedelta

    from django.utils import timezone

    from webhooks.refusals import security_log_purge

    settings.SECURITY_LOG_RETENTION_DAYS = 90
    forged(client)
    SecurityEvent.objects.update(last_at=timezone.now() - timedelta(days=91))
    forged(client, address="198.51.100.2")

    assert security_log_purge() == 1
    assert list(SecurityEvent.objects.values_list("address", flat=True)) == ["198.51.100.2"]


@pytest.mark.redis
def test_a_process_exchanges_its_tally_with_redis_about_once_a_second(monkeypatch, settings):
    import redis
    from django.core.cache import caches

    from webhooks.security import SCREEN_SYNC_SECONDS, _rate_key, _Screens

    settings.WEBHOOK_THROTTLE_RATE = "6000/min"
    sent = []
    original = redis.connection.AbstractConnection.send_packed_command

    def counting(self, command, *args, **kwargs):
        sent.append(command)
        return original(self, command, *args, **kwargs)

    monkeypatch.setattr(redis.connection.AbstractConnection, "send_packed_command", counting)
    now = [1000.0]
    wall = 1_800_000_000.0  # a fixed minute: no new window starts during the test
    here = _Screens(clock=lambda: now[0], wall=lambda: wall)
    elsewhere = _Screens(clock=lambda: now[0], wall=lambda: wall)
    address = "198.51.100.7"

    counts = [here.screen(address=address, scope="aftership").count for _ in range(3)]
    assert counts == [1, 2, 3]
    assert len(sent) == 1  # the first request asked the cache (block flag and count, one round trip)
    assert [elsewhere.screen(address=address, scope="aftership").count for _ in range(2)] == [2, 3]
    assert len(sent) == 2  # the other process knows only its own count and the one total it read

    now[0] += SCREEN_SYNC_SECONDS
    assert here.screen(address=address, scope="aftership").count == 5  # told its 2 + 1, read the total
    assert len(sent) == 3
    window = int(wall // 60)
    counter = caches["default"].make_and_validate_key(_rate_key("aftership", address, window))
    assert int(caches["default"]._cache.get_client(counter).get(counter)) == 5

    caches["default"].set(f"shiptrack:webhook-block:{address}", 1, timeout=60)  # blocked by another process
    assert not here.screen(address=address, scope="aftership").blocked  # ... seen at the next exchange
    now[0] += SCREEN_SYNC_SECONDS
    assert here.screen(address=address, scope="aftership").blocked


@pytest.mark.redis
def test_a_small_rate_is_counted_exactly_and_a_block_started_here_applies_at_once(settings):
    from webhooks.security import _Screens, address_block_start, address_screen

    settings.WEBHOOK_THROTTLE_RATE = "30/min"  # every request is told to the cache (30 // 50 < 1)
    screens = _Screens(wall=lambda: 1_800_000_000.0)  # a fixed minute
    counts = [screens.screen(address="198.51.100.8", scope="aftership") for _ in range(3)]
    assert [(s.blocked, s.count) for s in counts] == [(False, 1), (False, 2), (False, 3)]
    address_block_start("198.51.100.8")
    assert address_screen(address="198.51.100.8", scope="aftership").blocked


def test_a_flood_from_many_addresses_keeps_a_bounded_tally_forgetting_the_least_recent(monkeypatch):
    from webhooks import security

    monkeypatch.setattr(security, "_SCREENS_KEPT", 3)
    screens = security._Screens()
    for address in ("192.0.2.1", "192.0.2.2", "192.0.2.3", "192.0.2.1", "192.0.2.4"):
        screens.screen(address=address, scope="aftership")

    assert [address for _, address in screens._tallies] == ["192.0.2.3", "192.0.2.1", "192.0.2.4"]


def test_until_a_first_exchange_answers_every_request_asks_the_cache(monkeypatch):
    from webhooks import security

    asked = []
    monkeypatch.setattr(security, "_exchange", lambda **kwargs: asked.append(kwargs["add"]) or (True, len(asked)))
    screens = security._Screens(clock=lambda: 100.0)
    tally_key = ("aftership", "203.0.113.9")
    screens.screen(address="203.0.113.9", scope="aftership")
    assert asked == [1]
    screens._tallies[tally_key].synced_at = float("-inf")  # as if that exchange were still under way ...
    screens._tallies[tally_key].syncing = True
    assert screens.screen(address="203.0.113.9", scope="aftership").blocked  # ... the next asks, and learns
    assert asked == [1, 1]
