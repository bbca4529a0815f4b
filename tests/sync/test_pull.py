"""Finding validated deliveries in the Odoo simulator: bulk reads, keyset paging, cursor, resyncs, push."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone

from sync.jobs import jobs_claim, jobs_drain
from sync.models import CarrierMapping, JobKind, JobState, Shipment, SyncCursor, SyncJob
from sync.pull import (
    DELIVERY_DOMAIN,
    picking_sync_run,
    pickings_pull,
    pull_catchup,
    pull_incremental,
    pull_selection,
    push_receive,
)

pytestmark = pytest.mark.django_db

# The recorded Odoo world was validated on 2026-11-25 (its transcripts keep their dates).
RECORDED_ON = datetime(2026, 11, 25, tzinfo=UTC)


@pytest.fixture(autouse=True)
def _lookback_reaches_the_recorded_world(settings):
    """The pulls' first window and the catch-up look back 48 hours: far enough to see the recorded
    deliveries, whatever today's date."""
    days = (timezone.now() - RECORDED_ON).days + 2
    settings.SYNC_FULL_PULL_LOOKBACK_HOURS = max(settings.SYNC_FULL_PULL_LOOKBACK_HOURS, 24 * days)


# The recorded Odoo holds 8 validated outgoing deliveries; WH/OUT/00017 has two parcels.
TRANSCRIPT_PARCELS = {
    ("WH/OUT/00015", "4815162342"),
    ("WH/OUT/00016", "794612345678"),
    ("WH/OUT/00017", "1Z999AA10123456784"),
    ("WH/OUT/00017", "1Z999AA10123456785"),
    ("WH/OUT/00018", "6A18923456789"),
    ("WH/OUT/00019", "5566778899"),
    ("WH/OUT/00020", "771234567890"),
    ("WH/OUT/00021", "1Z12345E0205271688"),
    ("WH/OUT/00024", "8765432109"),
}


def parcels():
    return set(Shipment.objects.values_list("picking_name", "tracking_number"))


def object_calls(sim):
    return [(c.model, c.method) for c in sim.rpc_calls]


def test_it_takes_in_every_parcel_of_the_validated_deliveries(odoo, odoo_client):
    stats = pull_selection(odoo_client)

    assert parcels() == TRANSCRIPT_PARCELS
    assert stats.pickings == 8 and stats.shipments_new == 9 and stats.jobs_queued == 9
    assert SyncJob.objects.filter(kind=JobKind.CREATE_TRACKING, state=JobState.PENDING).count() == 9
    # Carriers seen for the first time are listed for the logistics manager to map.
    assert set(CarrierMapping.objects.values_list("odoo_carrier_name", "slug")) == {
        ("DHL Express", ""),
        ("FedEx", ""),
        ("UPS", ""),
        ("Colissimo", ""),
    }


def test_it_reads_related_records_once_per_page_not_once_per_delivery(odoo, odoo_client, settings):
    settings.SYNC_PAGE_SIZE = 3
    stats = pull_selection(odoo_client)

    calls = object_calls(odoo)
    assert stats.pages == 3
    assert calls.count(("stock.picking", "search_read")) == 3
    for model in ("res.partner", "sale.order", "res.country", "res.country.state"):
        assert calls.count((model, "read")) == 3, model
    assert len(calls) == 3 * 5 + 1  # + one fields_get to learn whether is_blacklisted exists
    assert stats.odoo_calls == len(calls)


def odoo_order_date(sim, sale_id: int) -> str:
    """The sale order's date as Odoo stores it, in the ISO 8601 form AfterShip takes."""
    return sim.get("sale.order", sale_id)["date_order"].strftime("%Y-%m-%dT%H:%M:%SZ")


def test_the_tracking_body_is_built_from_the_odoo_records(odoo, odoo_client):
    pull_selection(odoo_client)

    def body(number):
        return SyncJob.objects.get(shipment__tracking_number=number).payload["body"]

    assert body("4815162342") == {
        "tracking_number": "4815162342",
        "title": "S00025",
        "order_id": "25",
        "order_number": "S00025",
        "order_date": odoo_order_date(odoo, 25),
        "tracking_ship_date": "20261125",
        "shipment_direction": "forward",
        "destination_raw_location": "Friedrichstraße 123, Hinterhaus, 3. OG",
        "destination_city": "Berlin",
        "destination_state": "BE",
        "destination_postal_code": "10117",
        "destination_country_region": "DEU",
        "customers": [{"role": "buyer", "name": "Müller Logistik GmbH"}],
    }
    without_order = body("8765432109")
    assert without_order["title"] == without_order["order_id"] == without_order["order_number"] == "WH/OUT/00024"
    osaka = body("5566778899")
    assert osaka["destination_country_region"] == "JPN" and osaka["destination_city"] == "大阪"


def test_paging_loses_nothing_when_many_deliveries_share_one_second(odoo, odoo_client, settings):
    """A batch validation stamps every delivery with one write_date (the transaction start)."""
    settings.SYNC_PAGE_SIZE = 10
    stamp = datetime(2026, 11, 25, 2, 0, 0, 123456)
    odoo.clock = lambda: stamp
    with odoo.transaction() as env:
        for i in range(25):
            env["stock.picking"].create(
                {
                    "name": f"WH/OUT/9{i:04d}",
                    "picking_type_id": 2,
                    "partner_id": 45,
                    "carrier_id": 4,
                    "carrier_tracking_ref": f"48151{i:05d}",
                    "state": "done",
                    "date_done": stamp,
                }
            )

    stats = pickings_pull(odoo_client, [*DELIVERY_DOMAIN, ("write_date", ">=", "2026-11-25 02:00:00")])

    assert stats.pickings == 25
    assert Shipment.objects.filter(picking_name__startswith="WH/OUT/9").count() == 25
    assert stats.pages == 3


def test_the_incremental_pull_moves_its_cursor_and_rereads_an_overlap(odoo, odoo_client, settings):
    settings.SYNC_PULL_OVERLAP_MINUTES = 10
    SyncCursor.objects.create(name="odoo_deliveries", write_date=timezone.make_aware(datetime(2026, 11, 25, 1, 0)))

    first = pull_incremental(odoo_client)
    cursor = SyncCursor.objects.get()
    assert first.pickings == 8
    assert cursor.write_date == timezone.make_aware(datetime(2026, 11, 25, 1, 36, 39))
    assert cursor.last_run_summary["pickings"] == 8

    # A long Odoo transaction commits late with an older write_date, inside the overlap window.
    odoo.clock = lambda: datetime(2026, 11, 25, 1, 30, 0)
    odoo.validate_picking(30)
    second = pull_incremental(odoo_client)

    assert ("WH/OUT/00025", "770000000001") in parcels()
    assert second.jobs_queued == 1  # only the new one: the re-read deliveries are already known
    assert SyncJob.objects.filter(kind=JobKind.CREATE_TRACKING).count() == 10


def test_the_portals_own_writes_coming_back_queue_nothing(odoo, odoo_client):
    SyncCursor.objects.create(name="odoo_deliveries", write_date=timezone.make_aware(datetime(2026, 11, 25, 1, 0)))
    pull_incremental(odoo_client)
    odoo_client.write("stock.picking", [20, 21], {"x_aftership_status": "InTransit"})  # bumps write_date

    odoo.clear_log()
    again = pull_incremental(odoo_client)

    assert again.jobs_queued == 0
    assert SyncJob.objects.count() == 9
    # Known deliveries, as the portal holds them: one light read of the page, nothing read in full.
    assert object_calls(odoo) == [("stock.picking", "search_read")]
    assert (again.pickings, again.unchanged) == (8, 8)


def test_a_delivery_edited_in_odoo_is_read_again_in_full(odoo, odoo_client):
    SyncCursor.objects.create(name="odoo_deliveries", write_date=timezone.make_aware(datetime(2026, 11, 25, 1, 0)))
    pull_incremental(odoo_client)
    odoo.write("stock.picking", 20, {"carrier_tracking_ref": "4815162342,4815162343"})  # a second parcel
    odoo.clear_log()

    again = pull_incremental(odoo_client)

    assert ("WH/OUT/00015", "4815162343") in parcels()
    assert again.unchanged == 7 and again.jobs_queued == 1
    full_reads = [c for c in odoo.rpc_calls if c.method == "search_read"]
    assert len(full_reads) == 2  # the light page, then the one changed delivery in full


def test_the_catch_up_stops_within_its_budget_and_resumes_where_it_stopped(odoo, odoo_client, settings):
    settings.SYNC_PAGE_SIZE = 3

    first = pull_catchup(odoo_client, budget_seconds=0)  # out of time after its first page
    assert (first.complete, first.pages, first.pickings) == (False, 1, 3)

    second = pull_catchup(odoo_client, budget_seconds=0)
    assert (second.complete, second.pages) == (False, 1)
    third = pull_catchup(odoo_client, budget_seconds=60)
    assert third.complete and third.pages == 1  # the rest of the window, not the whole of it again
    assert parcels() == TRANSCRIPT_PARCELS

    again = pull_catchup(odoo_client, budget_seconds=60)  # a new sweep: everything known, nothing read in full
    assert (again.pages, again.pickings, again.unchanged) == (3, 8, 8)


def test_a_resync_can_target_sale_orders_or_deliveries(odoo, odoo_client):
    stats = pull_selection(odoo_client, orders=["S00026", "S00028"])
    assert parcels() == {("WH/OUT/00016", "794612345678"), ("WH/OUT/00018", "6A18923456789")}
    assert stats.pickings == 2

    pull_selection(odoo_client, pickings=["WH/OUT/00024", "22"])
    assert ("WH/OUT/00024", "8765432109") in parcels()
    assert ("WH/OUT/00017", "1Z999AA10123456785") in parcels()
    assert len(parcels()) == 5


def test_a_resync_by_date_range_uses_the_validation_date(odoo, odoo_client):
    since = timezone.make_aware(datetime(2026, 11, 25, 1, 36, 33))
    until = timezone.make_aware(datetime(2026, 11, 25, 1, 36, 36))
    pull_selection(odoo_client, since=since, until=until)
    assert {name for name, _ in parcels()} == {"WH/OUT/00019", "WH/OUT/00020", "WH/OUT/00021"}


def test_an_unknown_sale_order_is_reported(odoo, odoo_client):
    stats = pull_selection(odoo_client, orders=["S99999"])
    assert stats.errors == ["No sale order named S99999 in Odoo."]
    assert not Shipment.objects.exists()


def test_a_removed_tracking_number_is_retired_not_tracked(odoo, odoo_client):
    pull_selection(odoo_client, pickings=["WH/OUT/00017"])
    odoo.write("stock.picking", [22], {"carrier_tracking_ref": "1Z999AA10123456784"})
    pull_selection(odoo_client, pickings=["WH/OUT/00017"])

    retired = Shipment.objects.get(tracking_number="1Z999AA10123456785")
    assert retired.status == "ignored"
    assert retired.review_reason == "This tracking number was removed from the Odoo delivery."
    assert not retired.jobs.filter(state__in=["pending", "running"]).exists()


# -- push ----------------------------------------------------------------------------------------------
def test_a_pushed_delivery_not_yet_visible_as_done_is_read_again_later(odoo, odoo_client):
    push_receive({"_model": "stock.picking", "_id": 30})  # Odoo posts before it commits
    SyncJob.objects.update(next_attempt_at=timezone.now())  # the settle delay has passed
    job = jobs_claim(kinds=[JobKind.PICKING_SYNC])[0]

    picking_sync_run(odoo_client, [job])

    job.refresh_from_db()
    assert job.state == JobState.PENDING
    assert job.last_outcome == "delivery is assigned in Odoo; looking again"
    assert job.next_attempt_at > timezone.now()
    assert not Shipment.objects.exists()

    odoo.validate_picking(30)  # the warehouse transaction commits
    SyncJob.objects.update(next_attempt_at=timezone.now())
    job = jobs_claim(kinds=[JobKind.PICKING_SYNC])[0]
    picking_sync_run(odoo_client, [job])

    job.refresh_from_db()
    assert job.state == JobState.DONE
    assert parcels() == {("WH/OUT/00025", "770000000001")}
    assert SyncJob.objects.filter(kind=JobKind.CREATE_TRACKING, state=JobState.PENDING).count() == 1


def test_a_push_for_a_delivery_that_never_commits_is_left_to_the_pull(odoo, odoo_client, settings):
    settings.SYNC_PUSH_RECHECK_SECONDS = [0.0, 0.0]
    push_receive({"_model": "stock.picking", "_id": 31})
    for _ in range(3):
        SyncJob.objects.update(next_attempt_at=timezone.now())
        picking_sync_run(odoo_client, jobs_claim(kinds=[JobKind.PICKING_SYNC]))

    job = SyncJob.objects.get()
    assert job.state == JobState.DONE
    assert job.last_outcome == "delivery is assigned in Odoo after 3 reads; the scheduled pull will take it in"


def test_pushed_deliveries_are_read_in_one_batch_then_tracked(
    odoo, odoo_client, aftership, aftership_client_factory, carrier_mappings, settings
):
    settings.SYNC_PUSH_SETTLE_SECONDS = 2.0  # long enough for the five pushes to join one batch on a slow machine
    for picking_id in (20, 21, 22, 23, 24):
        push_receive({"_model": "stock.picking", "_id": picking_id})

    jobs_drain(odoo_factory=lambda: odoo_client, aftership_factory=aftership_client_factory, budget_seconds=10)

    assert object_calls(odoo).count(("stock.picking", "search_read")) == 1
    assert len(parcels()) == 6
    assert set(SyncJob.objects.values_list("kind", "state").distinct()) == {
        (JobKind.PICKING_SYNC, JobState.DONE),
        (JobKind.CREATE_TRACKING, JobState.DONE),
    }
    assert len(aftership.trackings) == 6


def test_odoo_down_during_a_push_read_retries_with_backoff(odoo, odoo_client):
    push_receive({"_model": "stock.picking", "_id": 20})
    odoo.faults.outage = True

    jobs_drain(odoo_factory=lambda: odoo_client, aftership_factory=lambda: None, budget_seconds=10)

    job = SyncJob.objects.get()
    assert job.state == JobState.PENDING and job.attempts == 1
    assert "Odoo answered HTTP 502" in job.last_error  # nginx in front of a stopped Odoo
    assert job.next_attempt_at > timezone.now() + timedelta(seconds=10)


def test_pushes_are_read_together_once_settled_at_a_cost_that_does_not_grow_with_the_batch(odoo, odoo_client, settings):
    settings.SYNC_PUSH_SETTLE_SECONDS = 1.0

    def read_pushes(picking_ids) -> list[tuple[str, str]]:
        odoo.clear_log()
        for picking_id in picking_ids:
            push_receive({"_model": "stock.picking", "_id": picking_id})
        assert (
            SyncJob.objects.filter(kind=JobKind.PICKING_SYNC, state=JobState.PENDING)
            .values("next_attempt_at")
            .distinct()
            .count()
            == 1
        )  # one batch, due one settle delay after its first push
        jobs_drain(odoo_factory=lambda: odoo_client, aftership_factory=lambda: None, kinds=[JobKind.PICKING_SYNC])
        return object_calls(odoo)

    small = read_pushes([20, 21])
    large = read_pushes([22, 23, 24, 25, 26, 29])

    assert [c for c in large if c != ("res.partner", "fields_get")] == [
        ("stock.picking", "search_read"),
        ("res.partner", "read"),
        ("sale.order", "read"),
        ("res.country", "read"),  # countries and states not seen in the first batch; cached from now on
        ("res.country.state", "read"),
    ]
    assert len(large) <= len(small) <= 6  # the first batch also asked which partner fields exist


def test_the_pull_stops_within_its_budget_and_the_next_run_goes_on_from_its_cursor(odoo, odoo_client, settings):
    settings.SYNC_PAGE_SIZE = 3

    first = pull_incremental(odoo_client, budget_seconds=0)  # out of time after its first page
    assert (first.complete, first.pages, first.pickings) == (False, 1, 3)

    rest = pull_incremental(odoo_client, budget_seconds=60)
    assert rest.complete
    assert parcels() == TRANSCRIPT_PARCELS


def test_a_stopping_worker_ends_the_pull_after_its_page_and_the_next_run_goes_on_from_there(
    odoo, odoo_client, settings
):
    settings.SYNC_PAGE_SIZE = 3
    stop = threading.Event()
    stop.set()

    first = pull_incremental(odoo_client, budget_seconds=60, stop=stop)
    assert (first.complete, first.pages, first.pickings) == (False, 1, 3)
    caught_up = pull_catchup(odoo_client, budget_seconds=60, stop=stop)
    assert (caught_up.complete, caught_up.pages) == (False, 1)

    assert pull_incremental(odoo_client, budget_seconds=60).complete
    assert parcels() == TRANSCRIPT_PARCELS


def test_a_pull_out_of_time_queues_the_next_run_at_once(odoo, odoo_client, settings, monkeypatch):
    import django_q.tasks

    from sync import tasks

    queued = []
    monkeypatch.setattr(django_q.tasks, "async_task", lambda func, *args, **kwargs: queued.append(func))
    settings.SYNC_PAGE_SIZE = 3
    settings.SYNC_PULL_BUDGET_SECONDS = 0

    assert tasks.pull_deliveries()["complete"] is False
    assert queued.count("sync.tasks.pull_deliveries") == 1
    settings.SYNC_PULL_BUDGET_SECONDS = 60
    queued.clear()
    assert tasks.pull_deliveries()["complete"] is True
    assert "sync.tasks.pull_deliveries" not in queued
