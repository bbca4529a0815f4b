"""`manage.py sync_now`: pull and send in the foreground, with progress, a summary and an exit status."""

from __future__ import annotations

import re
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from sync.models import Shipment

pytestmark = pytest.mark.django_db


@pytest.fixture
def world(odoo, aftership, carrier_mappings, settings):
    settings.SYNC_DRAIN_THREADS = 1  # worker threads could not see this test's uncommitted transaction
    return odoo, aftership


def run(*args) -> tuple[int, str, str]:
    out, err = StringIO(), StringIO()
    try:
        call_command("sync_now", *args, stdout=out, stderr=err)
        code = 0
    except SystemExit as exit_:
        code = exit_.code
    return code, out.getvalue(), err.getvalue()


def test_a_resync_of_chosen_orders_tracks_them_and_says_so(world):
    code, out, _ = run("--orders", "S00025,S00026")

    _, aftership = world
    assert code == 0
    assert "Reading validated deliveries from Odoo (resync) ..." in out
    assert "page 1: 2 deliveries read, 2 trackings queued" in out
    assert out.strip().endswith(
        "2 deliveries read (1 page, 6 Odoo calls); 2 new parcels; 2 jobs done, 0 parcels need review, "
        "0 still queued; 0 already tracked."
    )
    assert aftership.find("dhl", "4815162342") and aftership.find("fedex", "794612345678")


def test_it_exits_with_status_1_when_a_parcel_needs_review(world):
    odoo, _ = world
    odoo.write("stock.picking", [20], {"carrier_tracking_ref": "N/A"})

    code, _, err = run("--pickings", "WH/OUT/00015")

    assert code == 1
    assert "1 parcel needs review" in err and "1 parcel is not tracked yet." in err
    assert "See Shipments needing review in the admin for the reasons." in err
    assert Shipment.objects.get().needs_review

    again, _, err = run("--pickings", "WH/OUT/00015")  # nothing new, but the parcel still waits

    assert again == 1
    assert "1 parcel needs review" in err and "1 parcel is not tracked yet." in err


def test_unknown_orders_and_deliveries_are_reported_and_the_rest_is_synced(world):
    code, _, err = run("--orders", "S00025,S00999", "--pickings", "WH/OUT/99999")

    assert code == 1
    assert "No sale order named S00999 in Odoo." in err
    assert "No delivery named WH/OUT/99999 in Odoo." in err

    code, _, err = run("--orders", "S00025,S00999")

    assert code == 1
    assert "No sale order named S00999 in Odoo." in err
    assert Shipment.objects.filter(sale_order_name="S00025", aftership_id__gt="").exists()  # the known one


def test_it_exits_with_status_1_while_aftership_is_down(world):
    _, aftership = world
    aftership.faults.outage = True
    code, _, err = run("--since", "2026-11-01")
    assert code == 1
    assert "0 jobs done, 0 parcels need review, 9 still queued" in err
    assert "Queued trackings are retried by the workers" in err


def test_odoo_down_is_a_clear_error(world):
    odoo, _ = world
    odoo.faults.outage = True
    with pytest.raises(CommandError, match=r"Odoo: .*Odoo answered HTTP 502"):
        call_command("sync_now", stdout=StringIO())


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--since", "last tuesday"], "--since 'last tuesday' is not a date: use YYYY-MM-DD or YYYY-MM-DD HH:MM."),
        (["--since", "2026-13-01"], "--since '2026-13-01' is not a date: use YYYY-MM-DD or YYYY-MM-DD HH:MM."),
        (
            ["--until", "2026-02-30 10:00"],
            "--until '2026-02-30 10:00' is not a date: use YYYY-MM-DD or YYYY-MM-DD HH:MM.",
        ),
        (["--since", "2026-11-10", "--until", "2026-11-01"], "--since must be before --until."),
    ],
)
def test_bad_dates_are_explained(world, args, message):
    with pytest.raises(CommandError) as info:
        call_command("sync_now", *args, stdout=StringIO())
    assert str(info.value) == message


def test_a_429_storm_is_waited_out_and_nothing_fails(
    transactional_db, aftership, aftership_client_factory, carrier_mappings
):
    """AfterShip's limit is lower than the portal believes (e.g. a smaller plan): every 429 is honoured."""
    from sync.jobs import jobs_drain
    from sync.models import JobState, SyncJob
    from sync.pull import deliveries_intake
    from tests.factories import delivery

    aftership.rate_limits["POST /trackings"] = 3
    deliveries_intake([delivery(500 + i, f"{4815170000 + i}") for i in range(12)])

    jobs_drain(aftership_factory=aftership_client_factory, odoo_factory=lambda: None, threads=4, budget_seconds=60)

    statuses = [r.status for r in aftership.requests_to("/tracking/2026-07/trackings", "POST")]
    assert statuses.count(429) > 0  # the storm happened
    assert statuses.count(201) == 12
    assert set(SyncJob.objects.values_list("state", flat=True)) == {JobState.DONE}


def test_ctrl_c_lets_the_calls_in_flight_finish_and_says_what_stays_queued(world, settings):
    import os
    import signal
    import threading

    _, aftership = world
    aftership.faults.latency = 0.5  # each AfterShip call takes half a second
    sent = threading.Event()

    def interrupt():
        while not aftership.requests_to("/tracking/2026-07/trackings", "POST") and not sent.wait(0.02):
            pass
        os.kill(os.getpid(), signal.SIGINT)  # Ctrl-C while the first call is in flight

    threading.Thread(target=interrupt, daemon=True).start()
    try:
        code, _, err = run("--since", "2026-01-01", "--threads", "1")
    finally:
        sent.set()

    assert code == 1
    assert "Stopped early." in err
    parcels = int(re.search(r"(\d+) new parcels", err).group(1))
    done = int(re.search(r"(\d+) jobs? done", err).group(1))
    queued = int(re.search(r"(\d+) still queued", err).group(1))
    # The call in flight when Ctrl-C came finished (the one before it too, perhaps); no new one started.
    assert 1 <= done <= 2 and done + queued == parcels > 2
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # Ctrl-C is Ctrl-C again
