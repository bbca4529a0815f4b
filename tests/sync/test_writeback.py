"""Write-back over real HTTP to the Odoo simulator, as the non-admin integration user (uid 8) of the transcripts.

Each test posts AfterShip's webhooks for WH/OUT/00015 (picking 20) to the portal, applies them, runs the
write-back jobs the way a worker does, and reads what Odoo then holds.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from simulators.odoo import ADMIN_UID, BOT_UID
from sync.inbound import events_process
from sync.jobs import jobs_drain
from sync.models import JobKind, JobState, ServiceState, Shipment, StatusChange, SyncJob
from sync.writeback import writebacks_ensure, writebacks_release
from tests.factories import dhl_shipment, journey_payload, webhook

pytestmark = pytest.mark.django_db

NOTE_SUBTYPE, COMMENT_SUBTYPE = 2, 1  # mail.mt_note and mail.mt_comment in the simulator's base data
TODO_TYPE = 4  # mail.mail_activity_data_todo


def news(client, *names: str) -> None:
    """AfterShip sends these webhooks, one after another, and the worker applies each."""
    for name in names:
        assert webhook(client, name).status_code == 200
        events_process()


def write_back() -> None:
    jobs_drain(kinds=[JobKind.WRITEBACK], once=True)


def notes(odoo) -> list[dict]:
    return [m for m in odoo.messages_for("stock.picking", 20) if m["subtype_id"] == NOTE_SUBTYPE]


def object_calls(odoo) -> list[tuple[str, str]]:
    return [(c.model, c.method) for c in odoo.rpc_calls]


@pytest.fixture
def all_fields(odoo):
    """The two write-back fields the transcripts' database lacks, added as an admin would in Settings."""
    odoo.add_custom_field("stock.picking", "x_aftership_expected_delivery", "date", "Expected Delivery")
    odoo.add_custom_field("stock.picking", "x_aftership_tracking_url", "char", "Tracking Page")
    return odoo


def test_each_change_of_status_becomes_one_note_in_order_and_the_fields_end_at_the_last(client, all_fields):
    odoo = all_fields
    dhl_shipment()
    news(client, "01_in_transit", "02_out_for_delivery", "03_delivered")
    odoo.clear_log()

    write_back()

    posted = notes(odoo)
    assert [m["body"].split("</b>")[0] for m in posted] == [
        "<p><b>In transit",
        "<p><b>Out for delivery",
        "<p><b>Delivered",
    ]
    first = posted[0]
    assert (first["model"], first["res_id"], first["message_type"]) == ("stock.picking", 20, "comment")
    assert first["author_id"] == 44  # the integration user's partner: written as aftership-bot, not as an admin
    assert "Tracking number 4815162342 (dhl)" in first["body"]
    assert "Last scan: Departed facility, Leipzig, DE (25 Nov 2026 09:12)" in first["body"]
    assert "Expected delivery: 26 Nov 2026" in first["body"]
    assert 'href="https://www.dhl.com/en/express/tracking.html?AWB=4815162342"' in first["body"]
    picking = odoo.get("stock.picking", 20)
    assert picking["x_aftership_status"] == "Delivered"
    assert str(picking["x_aftership_expected_delivery"]) == "2026-11-26"
    assert picking["x_aftership_tracking_url"] == "https://www.dhl.com/en/express/tracking.html?AWB=4815162342"
    assert object_calls(odoo) == [
        ("stock.picking", "message_post"),
        ("stock.picking", "message_post"),
        ("stock.picking", "message_post"),
        ("stock.picking", "fields_get"),
        ("stock.picking", "write"),
    ]
    assert {entry.uid for entry in odoo.rpc_log if entry.service == "object"} == {BOT_UID}
    assert not StatusChange.objects.filter(written_at=None).exists()
    assert Shipment.objects.get().writeback_due_at is None
    assert SyncJob.objects.get(kind=JobKind.WRITEBACK).last_outcome == (
        "Odoo updated: 3 notes, 3 fields, 0 activities, 0 customer messages"
    )


def test_news_that_does_not_change_the_status_posts_no_note(client, odoo):
    dhl_shipment()
    again = journey_payload("01_in_transit")
    again["event_id"] = "5f1c0b7e-1d2a-4c3b-8e4f-0000000000c1"
    again["msg"]["updated_at"] = "2026-11-25T11:00:00+00:00"
    again["msg"]["checkpoints"].append({**again["msg"]["checkpoints"][0], "checkpoint_time": "2026-11-25T12:00:00"})
    news(client, "01_in_transit")
    webhook(client, again)
    events_process()

    write_back()

    assert len(notes(odoo)) == 1


def test_fields_the_odoo_database_lacks_are_skipped(client, odoo):
    dhl_shipment()
    news(client, "01_in_transit")

    write_back()

    assert odoo.get("stock.picking", 20)["x_aftership_status"] == "In transit"
    assert SyncJob.objects.get(kind=JobKind.WRITEBACK).state == JobState.DONE


def test_a_field_removed_in_odoo_is_noticed_at_the_next_write(client, all_fields):
    odoo = all_fields
    dhl_shipment()
    news(client, "01_in_transit")
    write_back()
    with odoo.transaction() as env:  # an admin deletes the status field in Settings
        fields = env["ir.model.fields"]
        fields._browse(fields._search([("model", "=", "stock.picking"), ("name", "=", "x_aftership_status")])).unlink()

    news(client, "05_exception_lost")
    write_back()

    assert SyncJob.objects.filter(kind=JobKind.WRITEBACK, state=JobState.DONE).count() == 2
    assert len(notes(odoo)) == 2
    assert object_calls(odoo)[-2:] == [
        ("stock.picking", "write"),  # refused: Invalid field 'x_aftership_status'
        ("stock.picking", "fields_get"),  # asked again: only the status changed, and it is gone; nothing to write
    ]


def test_a_parcel_in_trouble_opens_one_to_do_activity_until_it_is_done(client, odoo):
    dhl_shipment()
    news(client, "01_in_transit", "05_exception_lost")
    write_back()

    [activity] = odoo.activities_for("stock.picking", 20)
    assert activity["activity_type_id"] == TODO_TYPE
    assert activity["user_id"] == BOT_UID  # no responsible on the delivery: the integration user
    assert activity["date_deadline"] == timezone.localdate()
    assert activity["summary"] == "Parcel 4815162342: Exception: Shipment lost"

    address = journey_payload("05_exception_lost")
    address["event_id"] = "5f1c0b7e-1d2a-4c3b-8e4f-0000000000d1"
    address["msg"].update({"updated_at": "2026-11-25T17:00:00+00:00", "subtag": "Exception_007"})
    address["msg"]["subtag_message"] = "Incorrect address"
    address["msg"]["checkpoints"].append(
        {**address["msg"]["checkpoints"][-1], "checkpoint_time": "2026-11-25T16:55:00"}
    )
    webhook(client, address)
    events_process()
    write_back()
    assert len(notes(odoo)) == 3  # a note for the new reason...
    assert len(odoo.activities_for("stock.picking", 20)) == 1  # ...but the open activity is enough
    assert StatusChange.objects.last().activity_outcome == f"Activity #{activity['id']} is still open"

    with odoo.transaction() as env:  # the logistics manager marks it done
        env["mail.activity"]._browse([activity["id"]]).unlink()
    lost_again = journey_payload("05_exception_lost")
    lost_again["event_id"] = "5f1c0b7e-1d2a-4c3b-8e4f-0000000000d2"
    lost_again["msg"]["updated_at"] = "2026-11-25T18:00:00+00:00"
    lost_again["msg"]["checkpoints"].append(
        {**lost_again["msg"]["checkpoints"][-1], "checkpoint_time": "2026-11-25T17:55:00"}
    )
    webhook(client, lost_again)
    events_process()
    write_back()
    assert len(odoo.activities_for("stock.picking", 20)) == 1
    assert odoo.activities_for("stock.picking", 20)[0]["id"] != activity["id"]


def test_the_activity_goes_to_the_deliverys_responsible(client, odoo):
    dhl_shipment(odoo_user_id=ADMIN_UID)  # the picking's "Responsible", read by the pull
    news(client, "01_in_transit", "05_exception_lost")
    write_back()

    assert odoo.activities_for("stock.picking", 20)[0]["user_id"] == ADMIN_UID


def test_the_activity_goes_to_the_configured_login_before_anyone_else(client, odoo, settings):
    manager = odoo.add_user("lena.logistics", "Lena Logistics")
    settings.ODOO_ACTIVITY_USER = "lena.logistics"
    dhl_shipment(odoo_user_id=ADMIN_UID)
    news(client, "01_in_transit", "05_exception_lost")
    write_back()

    assert odoo.activities_for("stock.picking", 20)[0]["user_id"] == manager


@pytest.mark.parametrize(
    ("notify", "blacklisted", "told"),
    [(False, False, False), (True, False, True), (True, True, False)],
    ids=["off", "on", "blacklisted"],
)
def test_the_customer_is_told_on_the_sale_order_only_when_wanted(client, odoo, settings, notify, blacklisted, told):
    settings.ODOO_NOTIFY_CUSTOMER = notify
    if blacklisted:
        with odoo.transaction() as env:
            env.txn.update("res.partner", 45, {"is_blacklisted": True})
    dhl_shipment()
    news(client, "01_in_transit", "03_delivered")

    write_back()

    messages = [m for m in odoo.messages_for("sale.order", 25) if m["subtype_id"] == COMMENT_SUBTYPE]
    assert len(messages) == (1 if told else 0)  # Delivered is a notified status, In transit is not
    if told:
        assert list(messages[0]["partner_ids"]) == [45]
        assert messages[0]["message_type"] == "comment"
        assert "Your parcel 4815162342 (dhl) for order S00025 has been delivered." in messages[0]["body"]
    delivered = StatusChange.objects.get(status="done")
    if blacklisted:
        assert delivered.customer_outcome == "Not sent: the customer is on Odoo's blacklist"


def test_while_odoo_is_down_the_news_waits_and_then_arrives_in_order(client, all_fields):
    odoo = all_fields
    dhl_shipment()
    odoo.faults.outage = True
    news(client, "01_in_transit", "02_out_for_delivery", "03_delivered")
    write_back()
    job = SyncJob.objects.get(kind=JobKind.WRITEBACK)
    assert job.state == JobState.PENDING and job.next_attempt_at > timezone.now()
    assert job.last_error == "Odoo answered HTTP 502"  # the outage, as a proxy in front of Odoo reports it

    odoo.faults.outage = False
    odoo.clear_log()
    writebacks_release()  # what the scheduled pull does once Odoo answers it
    write_back()

    assert [m["body"].split("</b>")[0] for m in notes(odoo)] == [
        "<p><b>In transit",
        "<p><b>Out for delivery",
        "<p><b>Delivered",
    ]
    assert odoo.get("stock.picking", 20)["x_aftership_status"] == "Delivered"

    # Did the note refused during the outage reach Odoo after all? One look, then three notes, the field
    # list and one write: not one call per webhook.
    assert object_calls(odoo) == [
        ("mail.message", "search"),
        *[("stock.picking", "message_post")] * 3,
        ("stock.picking", "fields_get"),
        ("stock.picking", "write"),
    ]


def test_once_odoo_answers_a_write_back_whose_backoff_ran_out_unnoticed_is_rung_for(
    client, odoo, monkeypatch, django_capture_on_commit_callbacks
):
    import django_q.tasks

    rung = []
    monkeypatch.setattr(django_q.tasks, "async_task", lambda func, *args, **kwargs: rung.append(func))
    dhl_shipment()
    odoo.faults.outage = True
    news(client, "01_in_transit")
    write_back()
    SyncJob.objects.filter(kind=JobKind.WRITEBACK).update(next_attempt_at=timezone.now())  # due, no drain left
    rung.clear()

    odoo.faults.outage = False
    with django_capture_on_commit_callbacks(execute=True):
        assert writebacks_release() == 0  # nothing to hurry...

    assert rung == ["sync.tasks.drain_jobs"]  # ...but a drain for the one that is due


def test_a_refused_key_pauses_write_backs_and_nothing_is_lost(client, odoo, settings):
    dhl_shipment()
    settings.ODOO_API_KEY = "revoked"
    news(client, "01_in_transit")
    write_back()

    job = SyncJob.objects.get(kind=JobKind.WRITEBACK)
    assert job.state == JobState.PENDING and job.attempts == 0
    assert ServiceState.objects.get(service=ServiceState.ODOO).credentials_ok is False
    assert webhook(client, "02_out_for_delivery").status_code == 200  # intake goes on
    events_process()
    write_back()  # paused: does not even try
    assert SyncJob.objects.get(kind=JobKind.WRITEBACK).attempts == 0
    assert notes(odoo) == []


def test_a_delivery_deleted_in_odoo_fails_its_write_back_with_a_reason(client, odoo):
    dhl_shipment(picking_id=999999)
    news(client, "01_in_transit")

    write_back()

    job = SyncJob.objects.get(kind=JobKind.WRITEBACK)
    assert job.state == JobState.FAILED
    assert job.last_error.startswith("Delivery WH/OUT/00015 (id 999999) no longer exists in Odoo")


def test_the_sweep_queues_a_write_back_that_lost_its_job(client, odoo):
    dhl_shipment()
    news(client, "01_in_transit")
    SyncJob.objects.all().delete()  # e.g. the row was removed by hand

    assert writebacks_ensure(stale_after_seconds=0) == 1
    write_back()

    assert len(notes(odoo)) == 1


def test_news_applied_while_a_write_back_runs_is_written_by_that_same_job(client, odoo, monkeypatch):
    from sync import writeback

    dhl_shipment()
    news(client, "01_in_transit")
    real = writeback._fields_write
    arrived = []

    def news_meanwhile(*args, **kwargs):
        if not arrived:  # a worker applies the next webhook while this job talks to Odoo
            arrived.append(True)
            news(client, "02_out_for_delivery")
        return real(*args, **kwargs)

    monkeypatch.setattr(writeback, "_fields_write", news_meanwhile)
    write_back()

    assert [m["body"].split("</b>")[0] for m in notes(odoo)] == ["<p><b>In transit", "<p><b>Out for delivery"]
    assert odoo.get("stock.picking", 20)["x_aftership_status"] == "Out for delivery"
    assert SyncJob.objects.filter(kind=JobKind.WRITEBACK).count() == 1
    assert Shipment.objects.get().writeback_due_at is None


def test_a_job_that_outlived_its_lease_posts_nothing_twice(client, odoo, monkeypatch):
    from sync import jobs
    from sync.odoo import OdooClient

    dhl_shipment()
    for name in ("01_in_transit", "02_out_for_delivery", "03_delivered"):
        webhook(client, name)
    events_process()
    real = OdooClient.message_post
    slow = [True]

    def slow_first_answer(self, *args, **kwargs):
        posted = real(self, *args, **kwargs)
        if slow and slow.pop():
            # Odoo's answer to worker 1 comes after its lease ran out: the dispatcher has handed the job to
            # worker 2, which finishes it before worker 1 hears back.
            SyncJob.objects.update(lease_until=timezone.now() - timedelta(seconds=1))
            jobs.jobs_recover_stale()
            jobs_drain(kinds=[JobKind.WRITEBACK], once=True, worker="worker-2")
        return posted

    monkeypatch.setattr(OdooClient, "message_post", slow_first_answer)
    jobs_drain(kinds=[JobKind.WRITEBACK], once=True, worker="worker-1")

    assert [m["body"].split("</b>")[0] for m in notes(odoo)] == [
        "<p><b>In transit",  # posted by worker 1; worker 2 found it in the chatter rather than post it again
        "<p><b>Out for delivery",
        "<p><b>Delivered",
    ]
    job = SyncJob.objects.get(kind=JobKind.WRITEBACK)
    assert (job.state, job.worker) == (JobState.DONE, "worker-2")  # worker 1's late result was dropped
    assert job.attempt_log.filter(outcome__contains="dropped").count() == 1


def test_an_activity_odoo_refuses_is_noted_and_later_news_still_arrives(client, odoo, monkeypatch):
    from sync.odoo import OdooClient, OdooValidationError

    def refuse(self, *args, **kwargs):
        raise OdooValidationError("The assigned user cannot see this transfer.", name="odoo.exceptions.UserError")

    monkeypatch.setattr(OdooClient, "activity_schedule", refuse)
    dhl_shipment()
    news(client, "01_in_transit", "05_exception_lost")
    write_back()
    news(client, "02_out_for_delivery")
    write_back()

    assert len(notes(odoo)) == 3
    assert odoo.get("stock.picking", 20)["x_aftership_status"] == "Out for delivery"
    lost = StatusChange.objects.get(status="exception")
    assert lost.activity_outcome == "Odoo refused it: The assigned user cannot see this transfer."
    assert set(SyncJob.objects.values_list("state", flat=True)) == {JobState.DONE}


def test_a_delivery_with_several_parcels_shows_the_parcel_furthest_behind(client, odoo):
    dhl_shipment()
    dhl_shipment(tracking_number="4815162343", aftership_id="trk-second")
    second = journey_payload("01_in_transit")
    second["event_id"] = "second-1"
    second["msg"].update({"id": "trk-second", "tracking_number": "4815162343"})
    news(client, "03_delivered")
    webhook(client, second)
    events_process()

    write_back()

    assert odoo.get("stock.picking", 20)["x_aftership_status"] == "In transit (1 of 2 parcels delivered)"


def test_a_note_odoo_took_without_answering_is_not_posted_again(client, odoo, monkeypatch):
    from sync.odoo import OdooClient, OdooTransientError

    real = OdooClient.message_post
    lost_answer = [True]

    def post_then_time_out(self, *args, **kwargs):
        real(self, *args, **kwargs)  # Odoo commits the note...
        if lost_answer and lost_answer.pop():
            raise OdooTransientError("Odoo did not answer within 30 s")  # ...but the answer never arrives
        return 0

    dhl_shipment()
    news(client, "01_in_transit")
    monkeypatch.setattr(OdooClient, "message_post", post_then_time_out)
    write_back()
    SyncJob.objects.update(next_attempt_at=timezone.now())
    write_back()

    assert len(notes(odoo)) == 1
    assert SyncJob.objects.get().state == JobState.DONE


def test_news_overtaken_while_odoo_was_away_opens_no_activity_and_tells_no_customer(client, odoo, settings):
    settings.ODOO_NOTIFY_CUSTOMER = True
    dhl_shipment()
    odoo.faults.outage = True
    news(client, "01_in_transit", "05_exception_lost", "02_out_for_delivery", "03_delivered")
    write_back()
    odoo.faults.outage = False
    writebacks_release()

    write_back()

    assert len(notes(odoo)) == 4  # the history in full...
    assert odoo.activities_for("stock.picking", 20) == []  # ...but no To-Do for a problem already over
    told = [m for m in odoo.messages_for("sale.order", 25) if m["subtype_id"] == COMMENT_SUBTYPE]
    assert len(told) == 1 and "has been delivered" in told[0]["body"]  # not "out for delivery today"


def test_with_write_back_off_the_history_is_kept_and_nothing_is_sent_later(client, odoo, settings):
    settings.ODOO_WRITEBACK = False
    dhl_shipment()
    news(client, "01_in_transit")
    settings.ODOO_WRITEBACK = True

    assert writebacks_ensure(stale_after_seconds=0) == 0
    write_back()

    assert notes(odoo) == []
    assert StatusChange.objects.get().activity_outcome == "Not written: write-back to Odoo was off"


def test_drains_reuse_the_processs_login(client, odoo):
    dhl_shipment()
    for name in ("01_in_transit", "02_out_for_delivery", "03_delivered"):
        news(client, name)
        jobs_drain(kinds=[JobKind.WRITEBACK])  # a drain per webhook, as the doorbell rings them

    assert len(notes(odoo)) == 3
    assert sum(1 for e in odoo.rpc_log if (e.service, e.method) == ("common", "authenticate")) == 1
