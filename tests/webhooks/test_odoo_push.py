"""POST /odoo/webhook/picking: Odoo's automation rule tells us a delivery was validated."""

from __future__ import annotations

from pathlib import Path

import pytest

from sync.models import JobKind, JobState, SyncJob

pytestmark = pytest.mark.django_db

URL = "/odoo/webhook/picking"
# Exactly what Odoo 18's "Send Webhook Notification" posted when WH/OUT/00025 was validated.
ODOO_BODY = (Path(__file__).parent.parent / "fixtures" / "odoo_automation_picking_done.json").read_bytes()


def post(client, body: bytes, token: str | None = "odoo-push-token", content_type="application/json"):
    url = URL if token is None else f"{URL}?token={token}"
    return client.post(url, data=body, content_type=content_type)


def test_it_queues_a_read_of_the_validated_delivery(client):
    response = post(client, ODOO_BODY)

    assert response.status_code == 202
    assert response.json() == {"queued": 30}
    job = SyncJob.objects.get()
    assert (job.kind, job.picking_id, job.state, job.shipment_id) == (JobKind.PICKING_SYNC, 30, JobState.PENDING, None)


def test_it_does_no_more_than_queue_the_job(client):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    # No Odoo RPC, no AfterShip call: Odoo holds the warehouse worker's validation until we answer.
    with CaptureQueriesContext(connection) as queries:
        assert post(client, ODOO_BODY).status_code == 202
    # Find the batch, insert the job; the block and rate checks go to the cache (a table only without Redis).
    own = [q["sql"] for q in queries.captured_queries if '"sync_' in q["sql"]]
    assert len(own) == 2, own


def test_a_second_push_for_the_same_delivery_does_not_queue_twice(client):
    post(client, ODOO_BODY)
    post(client, ODOO_BODY)
    assert SyncJob.objects.filter(picking_id=30).count() == 1


@pytest.mark.parametrize("token", [None, "", "wrong", "odoo-push-token-but-longer"])
def test_it_refuses_a_wrong_or_missing_token(client, token):
    response = post(client, ODOO_BODY, token=token)
    assert response.status_code == 401
    assert response.json() == {"error": "Unknown or missing token."}
    assert not SyncJob.objects.exists()


@pytest.mark.parametrize(
    ("body", "error"),
    [
        (b"this is { not json", "The body is not JSON."),
        (b'{"_model": "sale.order", "_id": 34}', "Expected the notification of a stock.picking with its id (_id)."),
        (b'{"_model": "stock.picking"}', "Expected the notification of a stock.picking with its id (_id)."),
        (
            b'{"_model": "stock.picking", "_id": "30"}',
            "Expected the notification of a stock.picking with its id (_id).",
        ),
        (b"[30]", "Expected the notification of a stock.picking with its id (_id)."),
    ],
)
def test_it_explains_what_is_wrong_with_a_bad_body(client, body, error):
    response = post(client, body)
    assert response.status_code == 400
    assert response.json() == {"error": error}
    assert not SyncJob.objects.exists()


def test_get_is_not_allowed(client):
    assert client.get(f"{URL}?token=odoo-push-token").status_code == 405
