"""`python manage.py process_events`: apply, write back, say what waits and why, exit 0 only when nothing does."""

from __future__ import annotations

import io
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.utils import timezone

from sync.models import EventState, TrackingEvent
from tests.factories import dhl_shipment, webhook

pytestmark = pytest.mark.django_db


def run() -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    try:
        call_command("process_events", stdout=out, stderr=err)
        code = 0
    except SystemExit as exit_:
        code = exit_.code
    return code, out.getvalue(), err.getvalue()


def test_it_applies_the_events_writes_to_odoo_and_a_second_run_writes_nothing(client, odoo):
    dhl_shipment()
    for name in ("01_in_transit", "02_out_for_delivery", "05_exception_lost"):
        webhook(client, name)

    code, out, err = run()

    assert code == 0, err
    assert (
        "3 events applied, 0 duplicates skipped, 3 changes of status; in Odoo: 3 notes posted, fields written on "
        "1 delivery, 0 activities created, 0 customer messages sent." in out
    )  # in AfterShip's order: in transit, lost, found and out for delivery; no To-Do for a problem already over
    assert out.rstrip().endswith("Nothing left waiting.")
    calls = len(odoo.rpc_calls)

    code, out, _ = run()

    assert code == 0
    assert "0 events applied" in out and "0 notes posted" in out
    assert len(odoo.rpc_calls) == calls  # idempotent: nothing new reached Odoo


def test_it_exits_1_and_says_why_while_odoo_is_unreachable(client, odoo):
    dhl_shipment()
    webhook(client, "01_in_transit")
    odoo.faults.refuse = True

    code, out, err = run()

    assert code == 1
    assert "1 event applied" in out and "0 notes posted" in out
    assert "1 delivery waiting to be written to Odoo: Cannot reach Odoo at" in err

    odoo.faults.refuse = False
    from sync.writeback import writebacks_release

    writebacks_release()
    code, out, _ = run()
    assert code == 0 and "1 note posted" in out


def test_it_exits_1_on_a_failed_event_and_names_the_next_step(client, odoo):
    webhook(client, b'{"event": "tracking_update", "msg": ')  # authentic, but cut short

    code, _, err = run()

    assert code == 1
    assert TrackingEvent.objects.get().state == EventState.FAILED
    assert "1 event failed: see Tracking events (state Failed)" in err


def test_news_for_a_delivery_not_pulled_yet_waits_and_old_unknown_trackings_do_not(client, odoo):
    webhook(client, "01_in_transit")  # no shipment has this number yet

    code, _, err = run()

    assert code == 1
    assert "1 event for trackings the portal does not know yet: applied once their delivery is pulled" in err

    TrackingEvent.objects.update(received_at=timezone.now() - timedelta(days=3))
    code, out, _ = run()

    assert code == 0
    assert "1 event for trackings the portal does not know, older than 48 hours" in out
