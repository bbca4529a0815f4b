"""Applying AfterShip's news: in the order of AfterShip's updated_at, each event once, one bad event alone.

Fixture-driven: `tests/fixtures/aftership/journey/` holds the webhooks of one DHL parcel (WH/OUT/00015),
posted to the real endpoint and applied by the worker's code.
"""

from __future__ import annotations

import copy
import itertools
import json
import threading
import time

import pytest
from django.db import connection, connections
from django.test.utils import CaptureQueriesContext

from sync import inbound
from sync.inbound import event_reprocess, events_process
from sync.models import (
    Checkpoint,
    EventState,
    JobKind,
    Shipment,
    ShipmentStatus,
    StatusChange,
    SyncJob,
    TrackingEvent,
)
from sync.pull import deliveries_intake
from tests.factories import delivery, dhl_shipment, journey_body, journey_payload, webhook

pytestmark = pytest.mark.django_db


def statuses(shipment: Shipment) -> list[str]:
    return list(shipment.status_changes.order_by("id").values_list("status_text", flat=True))


def test_news_in_order_moves_the_status_and_records_each_change_once(client):
    shipment = dhl_shipment()
    for name in ("01_in_transit", "02_out_for_delivery", "03_delivered"):
        assert webhook(client, name).status_code == 200

    stats = events_process()

    shipment.refresh_from_db()
    assert (stats.applied, stats.status_changes) == (3, 3)
    assert shipment.status == ShipmentStatus.DONE
    assert statuses(shipment) == ["In transit", "Out for delivery", "Delivered"]
    assert shipment.checkpoints.count() == 3
    assert shipment.tracking_url == "https://www.dhl.com/en/express/tracking.html?AWB=4815162342"
    assert shipment.news_at.isoformat() == "2026-11-26T10:06:12+00:00"


def test_news_posted_out_of_order_in_one_batch_is_applied_in_aftershipss_order(client):
    shipment = dhl_shipment()
    for name in ("03_delivered", "01_in_transit", "02_out_for_delivery"):
        webhook(client, name)

    events_process()

    shipment.refresh_from_db()
    assert shipment.status == ShipmentStatus.DONE
    assert statuses(shipment) == ["In transit", "Out for delivery", "Delivered"]


def test_news_stamped_in_the_same_second_is_ordered_by_how_much_it_knows(client):
    shipment = dhl_shipment()
    for name in ("03_delivered", "02_out_for_delivery", "01_in_transit"):  # reported together, sent out of order
        payload = journey_payload(name)
        payload["msg"]["updated_at"] = "2026-11-26T10:06:12+00:00"
        webhook(client, payload)

    events_process()

    assert statuses(shipment) == ["In transit", "Out for delivery", "Delivered"]


def test_a_late_older_event_without_checkpoints_does_not_undo_delivered(client):
    shipment = dhl_shipment()
    webhook(client, "03_delivered")
    events_process()

    webhook(client, "00_info_received_late")  # label created, no scans, hours older
    events_process()

    shipment.refresh_from_db()
    assert shipment.status == ShipmentStatus.DONE
    assert statuses(shipment) == ["Delivered"]
    assert TrackingEvent.objects.filter(state=EventState.PROCESSED).count() == 2


def test_a_late_older_event_with_checkpoints_only_adds_the_missing_scans(client):
    shipment = dhl_shipment()
    delivered = journey_payload("03_delivered")
    delivered["msg"]["checkpoints"] = delivered["msg"]["checkpoints"][-1:]  # AfterShip sent only the last scan
    webhook(client, delivered)
    events_process()

    webhook(client, "01_in_transit")
    events_process()

    shipment.refresh_from_db()
    assert shipment.status == ShipmentStatus.DONE
    assert statuses(shipment) == ["Delivered"]
    assert sorted(shipment.checkpoints.values_list("tag", flat=True)) == ["Delivered", "InTransit"]


def test_delivered_is_left_only_on_newer_news_that_brings_new_scans(client):
    shipment = dhl_shipment()
    webhook(client, "03_delivered")
    events_process()
    stale = journey_payload("02_out_for_delivery")
    stale["event_id"] = "5f1c0b7e-1d2a-4c3b-8e4f-0000000000a1"
    stale["msg"]["updated_at"] = "2026-11-26T12:00:00+00:00"  # newer stamp, but nothing the parcel did not have
    webhook(client, stale)
    events_process()
    shipment.refresh_from_db()
    assert shipment.status == ShipmentStatus.DONE

    returned = journey_payload("03_delivered")
    returned["event_id"] = "5f1c0b7e-1d2a-4c3b-8e4f-0000000000a2"
    returned["msg"].update({"updated_at": "2026-11-27T09:00:00+00:00", "tag": "Exception", "subtag": "Exception_011"})
    returned["msg"]["subtag_message"] = "Returned to sender"
    returned["msg"]["checkpoints"].append(
        {
            **returned["msg"]["checkpoints"][-1],
            "checkpoint_time": "2026-11-27T08:30:00",
            "message": "Refused",
            "tag": "Exception",
            "subtag": "Exception_011",
        }
    )
    webhook(client, returned)
    events_process()

    shipment.refresh_from_db()
    assert shipment.status == ShipmentStatus.EXCEPTION
    assert statuses(shipment) == ["Delivered", "Exception: Returned to sender"]


def test_a_duplicate_is_applied_once_whether_it_comes_at_once_or_later(client):
    shipment = dhl_shipment()
    webhook(client, "01_in_transit")
    webhook(client, "01_in_transit")
    events_process()
    webhook(client, "01_in_transit")  # AfterShip's retry after a timeout on its side
    events_process()

    states = sorted(TrackingEvent.objects.values_list("state", flat=True))
    assert states == [EventState.DUPLICATE, EventState.DUPLICATE, EventState.PROCESSED]
    assert statuses(shipment) == ["In transit"]
    assert Checkpoint.objects.count() == 1


def test_an_event_for_an_unknown_tracking_waits_and_is_applied_when_the_shipment_appears(client):
    webhook(client, "01_in_transit")
    stats = events_process()
    event = TrackingEvent.objects.get()
    assert (stats.unmatched, event.state) == (1, EventState.UNMATCHED)

    # The pull then takes in the Odoo delivery with this number.
    deliveries_intake([delivery(20, "4815162342", name="WH/OUT/00015", sale_id=25)])
    events_process()

    event.refresh_from_db()
    shipment = Shipment.objects.get(tracking_number="4815162342")
    assert event.state == EventState.PROCESSED and event.shipment == shipment
    assert shipment.status == ShipmentStatus.IN_TRANSIT
    assert shipment.aftership_id == "dhl4815162342trk000000001"  # linked: no second tracking will be created
    assert statuses(shipment) == ["In transit"]


def test_tracking_pending_time_flags_the_parcel_for_review(client):
    shipment = dhl_shipment()
    webhook(client, "07_tracking_pending_time")
    events_process()

    shipment.refresh_from_db()
    assert shipment.needs_review
    assert "no carrier scan" in shipment.review_reason
    assert shipment.status == ShipmentStatus.PENDING


def test_edd_revise_moves_the_expected_delivery_and_marks_the_news_for_odoo(client):
    shipment = dhl_shipment()
    webhook(client, "01_in_transit")
    events_process()
    SyncJob.objects.all().delete()
    Shipment.objects.update(writeback_due_at=None)

    webhook(client, "06_edd_revise")
    events_process()

    shipment.refresh_from_db()
    assert shipment.expected_delivery.date().isoformat() == "2026-11-27"
    assert statuses(shipment) == ["In transit"]  # no new note for a new date
    assert shipment.writeback_due_at is not None
    assert SyncJob.objects.filter(kind=JobKind.WRITEBACK, shipment=shipment).count() == 1


def test_a_change_queues_one_write_back_job_per_shipment_however_many_events(client):
    shipment = dhl_shipment()
    for name in ("01_in_transit", "02_out_for_delivery", "03_delivered"):
        webhook(client, name)
        events_process()

    assert SyncJob.objects.filter(kind=JobKind.WRITEBACK, shipment=shipment).count() == 1
    assert StatusChange.objects.filter(shipment=shipment, written_at=None).count() == 3


def test_an_event_kind_the_portal_does_not_apply_is_kept_as_ignored(client):
    dhl_shipment()
    payload = journey_payload("01_in_transit")
    payload["event"] = "tracking_deleted"
    webhook(client, payload)
    events_process()

    event = TrackingEvent.objects.get()
    assert event.state == EventState.IGNORED
    assert "tracking_deleted" in event.error


def test_applying_an_event_costs_the_same_queries_whatever_its_number_of_checkpoints(client):
    def queries_for(checkpoints: int, number: str) -> int:
        dhl_shipment(tracking_number=number, aftership_id=f"trk{number}")
        payload = journey_payload("01_in_transit")
        payload["event_id"] = f"evt-{number}"
        payload["msg"].update({"id": f"trk{number}", "tracking_number": number})
        template = payload["msg"]["checkpoints"][0]
        payload["msg"]["checkpoints"] = [
            {**template, "checkpoint_time": f"2026-11-25T{9 + i // 60:02d}:{i % 60:02d}:00", "message": f"scan {i}"}
            for i in range(checkpoints)
        ]
        webhook(client, payload)
        with CaptureQueriesContext(connection) as queries:
            events_process()
        assert Shipment.objects.get(tracking_number=number).checkpoints.count() == checkpoints
        return len(queries)

    assert queries_for(1, "4815160001") == queries_for(40, "4815160002")


def test_one_event_that_fails_does_not_stop_the_others_and_can_be_reprocessed(client, monkeypatch):
    first, second = dhl_shipment(), dhl_shipment(tracking_number="4815162343", aftership_id="other")
    bad = journey_payload("01_in_transit")
    webhook(client, bad)
    other = copy.deepcopy(bad)
    other["event_id"] = "5f1c0b7e-1d2a-4c3b-8e4f-0000000000b1"
    other["msg"].update({"id": "other", "tracking_number": "4815162343"})
    webhook(client, other)
    real = inbound._checkpoints_merge

    def broken_for_the_first(shipment, checkpoints):
        if shipment.pk == first.pk:
            with connection.cursor() as cursor:  # a real database error inside the savepoint
                cursor.execute("SELECT * FROM no_such_table")
        return real(shipment, checkpoints)

    monkeypatch.setattr(inbound, "_checkpoints_merge", broken_for_the_first)
    stats = events_process()

    assert (stats.failed, stats.applied) == (1, 1)
    failed = TrackingEvent.objects.get(shipment=first)
    assert failed.state == EventState.FAILED
    assert "no_such_table" in failed.error
    assert "Traceback" in failed.traceback
    second.refresh_from_db()
    assert second.status == ShipmentStatus.IN_TRANSIT
    first.refresh_from_db()
    assert first.status == ShipmentStatus.PENDING and not first.checkpoints.exists()

    monkeypatch.setattr(inbound, "_checkpoints_merge", real)  # the cause is fixed
    assert event_reprocess(event=failed)
    events_process()
    failed.refresh_from_db()
    first.refresh_from_db()
    assert failed.state == EventState.PROCESSED and failed.traceback == ""
    assert first.status == ShipmentStatus.IN_TRANSIT


@pytest.mark.postgres
def test_a_value_longer_than_its_column_is_cut_not_fatal_on_postgresql(client):
    shipment = dhl_shipment()
    payload = journey_payload("05_exception_lost")
    payload["msg"]["subtag"] = "Exception_" + "9" * 80
    payload["msg"]["subtag_message"] = "Lost " * 100 + "\u0000"
    payload["msg"]["checkpoints"][-1]["location"] = "Hannover\u0000" * 60
    webhook(client, payload)

    stats = events_process()

    shipment.refresh_from_db()
    assert stats.failed == 0
    assert shipment.status == ShipmentStatus.EXCEPTION
    assert len(shipment.subtag) == 50 and len(shipment.subtag_message) == 200
    assert "\x00" not in shipment.subtag_message


@pytest.mark.postgres
def test_the_same_event_twice_at_once_is_applied_once(transactional_db, client):
    shipment = dhl_shipment()
    webhook(client, "01_in_transit")
    webhook(client, "01_in_transit")
    barrier = threading.Barrier(2)

    def worker() -> None:
        try:
            barrier.wait()
            events_process()
        finally:
            connection.close()

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    assert sorted(TrackingEvent.objects.values_list("state", flat=True)) == [EventState.DUPLICATE, EventState.PROCESSED]
    assert statuses(shipment) == ["In transit"]


@pytest.mark.postgres
def test_two_workers_never_apply_one_shipments_events_at_once(transactional_db, client, monkeypatch):
    shipments = [dhl_shipment(tracking_number=f"48151600{i:02d}", aftership_id=f"trk{i}") for i in range(4)]
    for i, shipment in enumerate(shipments):
        for step, name in enumerate(("01_in_transit", "02_out_for_delivery", "03_delivered")):
            payload = journey_payload(name)
            payload["event_id"] = f"evt-{i}-{step}"
            payload["msg"].update({"id": shipment.aftership_id, "tracking_number": shipment.tracking_number})
            webhook(client, json.dumps(payload).encode())
    spans: list[tuple[int, float, float, str]] = []
    lock = threading.Lock()
    real = inbound.event_apply

    def timed(*, event, shipment, stats):
        started = time.monotonic()
        time.sleep(0.02)  # long enough for a second worker to collide if it could
        real(event=event, shipment=shipment, stats=stats)
        with lock:
            spans.append((shipment.pk, started, time.monotonic(), threading.current_thread().name))

    monkeypatch.setattr(inbound, "event_apply", timed)

    def worker() -> None:
        try:
            events_process()
        finally:
            connection.close()

    threads = [threading.Thread(target=worker, name=f"w{i}") for i in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    assert len(spans) == 12
    for pk in {s.pk for s in shipments}:
        mine = sorted((start, end, who) for shipment_id, start, end, who in spans if shipment_id == pk)
        assert len({who for _, _, who in mine}) == 1  # one worker had this shipment
        assert all(a[1] <= b[0] for a, b in itertools.pairwise(mine))  # one event after the other
    assert len({who for *_, who in spans}) > 1  # and the shipments were shared out
    for shipment in shipments:
        assert statuses(shipment) == ["In transit", "Out for delivery", "Delivered"]
    connections.close_all()


def test_delivered_then_a_late_in_transit_with_no_scans_changes_nothing(client):
    shipment = dhl_shipment()
    webhook(client, "03_delivered")
    events_process()
    late = journey_payload("01_in_transit")
    late["event_id"] = "5f1c0b7e-1d2a-4c3b-8e4f-0000000000e1"
    late["msg"]["checkpoints"] = []
    webhook(client, late)  # AfterShip's retry of an old update, hours later

    events_process()

    shipment.refresh_from_db()
    assert shipment.status == ShipmentStatus.DONE
    assert statuses(shipment) == ["Delivered"]


def test_a_duplicate_is_known_by_its_event_id_or_by_its_bytes(client):
    shipment = dhl_shipment()
    webhook(client, "01_in_transit")
    same_id = journey_payload("01_in_transit")
    same_id["msg"]["checkpoints"].append({**same_id["msg"]["checkpoints"][0], "message": "other bytes"})
    webhook(client, same_id)  # AfterShip's event id again, other bytes
    no_id = journey_payload("02_out_for_delivery")
    del no_id["event_id"]
    webhook(client, no_id)
    webhook(client, no_id)  # no event id: the same bytes twice

    events_process()

    assert sorted(TrackingEvent.objects.values_list("state", flat=True)) == sorted(
        [EventState.PROCESSED, EventState.DUPLICATE, EventState.PROCESSED, EventState.DUPLICATE]
    )
    assert statuses(shipment) == ["In transit", "Out for delivery"]


def test_a_failed_event_does_not_stop_the_next_one_of_the_same_shipment(client, monkeypatch):
    shipment = dhl_shipment()
    webhook(client, "01_in_transit")
    webhook(client, "02_out_for_delivery")
    real = inbound._checkpoints_merge

    def broken_once(target, checkpoints):
        if len(checkpoints) == 1:  # the first event of the two
            with connection.cursor() as cursor:
                cursor.execute("SELECT * FROM no_such_table")
        return real(target, checkpoints)

    monkeypatch.setattr(inbound, "_checkpoints_merge", broken_once)
    stats = events_process()

    assert (stats.failed, stats.applied) == (1, 1)
    shipment.refresh_from_db()
    assert shipment.status == ShipmentStatus.OUT_FOR_DELIVERY
    assert shipment.checkpoints.count() == 2  # the failed event's savepoint left nothing half-done


def test_the_same_number_at_another_courier_is_someone_elses_parcel(client):
    shipment = dhl_shipment()
    theirs = journey_payload("05_exception_lost")
    theirs["msg"].update({"id": "ups-someone-elses-tracking", "slug": "ups"})
    webhook(client, theirs)

    events_process()

    assert TrackingEvent.objects.get().state == EventState.UNMATCHED
    shipment.refresh_from_db()
    assert shipment.status == ShipmentStatus.PENDING


def test_two_deliveries_linked_to_one_tracking_both_hear_its_news(client):
    first = dhl_shipment()
    second = dhl_shipment(picking_id=21, picking_name="WH/OUT/00016")  # linked to the same tracking on 4003
    webhook(client, "01_in_transit")

    events_process()

    for shipment in (first, second):
        shipment.refresh_from_db()
        assert shipment.status == ShipmentStatus.IN_TRANSIT
        assert statuses(shipment) == ["In transit"]
    assert TrackingEvent.objects.filter(state=EventState.PROCESSED).count() == 2


def test_an_expected_delivery_revised_in_the_same_second_is_kept(client):
    shipment = dhl_shipment()
    webhook(client, "01_in_transit")
    revised = journey_payload("06_edd_revise")
    revised["msg"]["updated_at"] = "2026-11-25T08:14:05+00:00"  # stamped with the update it came with
    webhook(client, revised)

    events_process()

    shipment.refresh_from_db()
    assert shipment.expected_delivery.date().isoformat() == "2026-11-27"


def test_a_late_no_scan_notice_leaves_a_scanned_parcel_alone_and_the_flag_goes_with_the_next_scan(client):
    delivered = dhl_shipment()
    webhook(client, "03_delivered")
    webhook(client, "07_tracking_pending_time")
    events_process()
    delivered.refresh_from_db()
    assert delivered.status == ShipmentStatus.DONE and not delivered.needs_review

    waiting = dhl_shipment(tracking_number="4815162344", aftership_id="trk-waiting")
    notice = journey_payload("07_tracking_pending_time")
    notice["msg"].update({"id": "trk-waiting", "tracking_number": "4815162344"})
    webhook(client, notice)
    events_process()
    waiting.refresh_from_db()
    assert waiting.needs_review

    scanned = journey_payload("01_in_transit")
    scanned["msg"].update({"id": "trk-waiting", "tracking_number": "4815162344"})
    webhook(client, scanned)
    events_process()
    waiting.refresh_from_db()
    assert not waiting.needs_review and waiting.status == ShipmentStatus.IN_TRANSIT


@pytest.mark.parametrize(
    "patch", [{"updated_at": "0001-01-01T00:00:00+05:00"}, {"tracking_number": "\ud800 lone surrogate"}]
)
def test_a_genuine_body_with_values_no_database_takes_is_kept(client, patch):
    payload = journey_payload("01_in_transit")
    payload["msg"].update(patch)

    assert webhook(client, json.dumps(payload).encode()).status_code == 200

    event = TrackingEvent.objects.get()
    assert bytes(event.body) == json.dumps(payload).encode()


def test_events_stored_before_the_upgrade_are_indexed_and_applied(client):
    import importlib

    from django.apps import apps

    shipment = dhl_shipment()
    # As the earlier version stored them: one applied, one still waiting; no hash, kind or news time.
    TrackingEvent.objects.create(
        body=journey_body("01_in_transit"),
        event_id="old-1",
        dedupe_key="old-1",
        state=EventState.PROCESSED,
        tracking_number="4815162342",
        shipment=shipment,
    )
    waiting = TrackingEvent.objects.create(
        body=journey_body("02_out_for_delivery"), event_id="old-2", dedupe_key="old-2", tracking_number="4815162342"
    )

    importlib.import_module("sync.migrations.0005_writeback").index_stored_events(apps, None)
    events_process()

    waiting.refresh_from_db()
    assert (waiting.state, waiting.kind) == (EventState.PROCESSED, "tracking_update")
    assert waiting.news_at.isoformat() == "2026-11-26T06:41:09+00:00"
    shipment.refresh_from_db()
    assert shipment.status == ShipmentStatus.OUT_FOR_DELIVERY


def test_a_round_that_stops_at_its_limit_rings_for_the_rest(client, monkeypatch):
    import django_q.tasks

    from sync import tasks

    for i in range(3):
        shipment = dhl_shipment(tracking_number=f"48151680{i:02d}", aftership_id=f"trk-limit-{i}")
        payload = journey_payload("01_in_transit")
        payload["event_id"] = f"evt-limit-{i}"
        payload["msg"].update({"id": shipment.aftership_id, "tracking_number": shipment.tracking_number})
        webhook(client, payload)
    rung = []
    monkeypatch.setattr(django_q.tasks, "async_task", lambda func, **kwargs: rung.append(func))
    whole_round = inbound.events_process
    monkeypatch.setattr(inbound, "events_process", lambda **kwargs: whole_round(limit=2))

    first = tasks.process_events()

    assert first["applied"] == 2 and first["more"] is True
    assert rung.count("sync.tasks.process_events") == 1  # the third waits for the next round, not a minute
    second = tasks.process_events()
    assert second["applied"] == 1 and second["more"] is False
    assert rung.count("sync.tasks.process_events") == 1
    assert TrackingEvent.objects.filter(state=EventState.PROCESSED).count() == 3


def test_the_doorbell_rings_once_for_a_batch_not_once_per_webhook(client, monkeypatch):
    import django_q.tasks

    rung = []
    monkeypatch.setattr(django_q.tasks, "async_task", lambda func, **kwargs: rung.append(func))
    for i in range(20):
        shipment = dhl_shipment(tracking_number=f"48151690{i:02d}", aftership_id=f"trk{i}")
        payload = journey_payload("01_in_transit")
        payload["event_id"] = f"evt-{i}"
        payload["msg"].update({"id": shipment.aftership_id, "tracking_number": shipment.tracking_number})
        webhook(client, payload)
        inbound.events_ring()  # what the view does once the event is committed

    assert rung == ["sync.tasks.process_events"]  # the worker has not started: one ring is enough
    inbound.events_doorbell_answered()
    rung.clear()

    events_process()

    assert rung.count("sync.tasks.drain_jobs") <= 2  # the write-backs of 20 parcels: one doorbell


def test_a_process_rings_for_webhooks_at_most_once_an_interval_and_books_one_ring_for_its_end(settings):
    settings.WEBHOOK_RING_INTERVAL_SECONDS = 0.5
    rings, now, timers = [], [100.0], []

    class Timer:  # fired by the test, when it says the interval is over
        def __init__(self, interval, function):
            self.interval, self.function, self.daemon = interval, function, False
            timers.append(self)

        def start(self):
            pass

    ringer = inbound._Ringer(ring=lambda: rings.append(now[0]), clock=lambda: now[0], timer=Timer)

    assert ringer.webhook_arrived() == "rung"
    now[0] += 0.1
    assert ringer.webhook_arrived() == "booked"
    assert [timer.interval for timer in timers] == [pytest.approx(0.4)]  # the end of the interval, no later
    now[0] += 0.1
    assert ringer.webhook_arrived() == "already booked"
    now[0] += 0.3
    timers[0].function()
    assert rings == pytest.approx([100.0, 100.5])  # the first webhook's ring, and one for the two within its interval

    now[0] += 0.1  # within the interval the booked ring started
    assert ringer.webhook_arrived() == "booked"
    now[0] += 0.4
    timers[1].function()
    now[0] += 1  # a quiet spell: the next webhook rings at once
    assert ringer.webhook_arrived() == "rung"
    assert rings == pytest.approx([100.0, 100.5, 101.0, 102.0])
