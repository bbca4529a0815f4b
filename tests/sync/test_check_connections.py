"""`manage.py check_connections`: one line per thing the portal needs, and an exit status to script against."""

from __future__ import annotations

import re
from io import StringIO

import pytest
from django.core.management import call_command

from sync.health import service_pause, service_state
from sync.models import ServiceState

pytestmark = pytest.mark.django_db


def run() -> tuple[int, str, str]:
    out, err = StringIO(), StringIO()
    try:
        call_command("check_connections", stdout=out, stderr=err)
        code = 0
    except SystemExit as exit_:
        code = exit_.code
    return code, out.getvalue(), err.getvalue()


def test_all_checks_pass_against_a_good_odoo_and_aftership(odoo, aftership, settings):
    settings.ODOO_WRITEBACK_FIELDS = {"status": "x_aftership_status"}

    code, out, _ = run()

    assert code == 0, out
    assert "Odoo reachable" in out and "Odoo 18" in out
    assert "as aftership-bot" in out
    assert "Delivery field x_aftership_status" in out
    assert "AfterShip API key" in out and "active on the account" in out
    assert out.strip().endswith("checks passed.")


def test_a_refused_odoo_key_fails_with_what_to_do(odoo, aftership, settings):
    settings.ODOO_API_KEY = "not-the-key"

    code, out, err = run()

    assert code == 1
    assert "FAIL  Odoo login" in out
    assert "Check ODOO_DB, ODOO_USERNAME and ODOO_API_KEY" in out
    assert re.search(r"\b1 of \d+ checks failed\.", err), err
    assert service_state(ServiceState.ODOO).credentials_ok  # a check pauses nothing


def test_a_refused_aftership_key_and_a_missing_field_fail(odoo, aftership, settings):
    settings.AFTERSHIP_API_KEY = "not-the-key"
    settings.ODOO_WRITEBACK_FIELDS = {"status": "x_aftership_status", "tracking_url": "x_no_such_field"}

    code, out, _ = run()

    assert code == 1
    assert "FAIL  AfterShip API key" in out and "Set AFTERSHIP_API_KEY" in out
    assert "FAIL  Delivery field x_no_such_field" in out
    assert "ok    Delivery field x_aftership_status" in out


def test_odoo_down_is_one_line_and_the_rest_still_checked(odoo, aftership, settings):
    odoo.faults.outage = True

    code, out, _ = run()

    assert code == 1
    assert "FAIL  Odoo reachable" in out and "Check ODOO_URL" in out
    assert "ok    AfterShip API key" in out


def test_a_check_that_succeeds_lifts_a_credentials_pause(odoo, aftership, settings):
    settings.ODOO_WRITEBACK_FIELDS = {"status": "x_aftership_status"}  # the one this Odoo database has
    service_pause(ServiceState.AFTERSHIP, "401 from AfterShip")

    code, out, _ = run()

    assert code == 0, out
    assert "accepted; trackings resumed" in out
    assert service_state(ServiceState.AFTERSHIP).credentials_ok


def test_the_integration_users_rights_are_checked_with_the_group_that_grants_each(odoo, aftership, settings):
    settings.ODOO_NOTIFY_CUSTOMER = True
    settings.ODOO_WRITEBACK_FIELDS = {"status": "x_aftership_status"}
    code, out, _ = run()
    assert code == 0, out
    for what in (
        "Odoo right to read validated deliveries",
        "Odoo right to post notes and write fields on delivery orders",
        "Odoo right to schedule activities for parcels in trouble",
        "Odoo right to message customers on their sale orders",
        "Odoo right to read every sale order",
    ):
        assert f"ok    {what}" in out

    # An integration user who is an internal user without Inventory or Sales rights.
    odoo.set_groups(8, ["base.group_user"])
    code, out, err = run()

    assert code == 1
    assert "FAIL  Odoo right to read validated deliveries" in out
    assert "read on stock.picking is not allowed" in out
    assert "In Odoo, add aftership-bot to the group 'Inventory / User' (Settings > Users)." in out
    assert "FAIL  Odoo right to read sale orders" in out
    assert "ok    Odoo right to read every sale order" in out  # no salesperson: no own-orders rule
    assert "ok    Odoo right to read the customers' delivery addresses" in out
    assert "ok    Odoo right to schedule activities for parcels in trouble" in out  # any internal user may
    assert re.search(r"\b4 of \d+ checks failed\.", err), err


def test_a_salesman_of_own_orders_passes_the_access_rights_but_not_every_order(odoo, aftership, settings):
    settings.ODOO_WRITEBACK_FIELDS = {"status": "x_aftership_status"}
    odoo.set_groups(8, ["stock.group_stock_user", "sales_team.group_sale_salesman"])

    code, out, err = run()

    assert code == 1
    assert "ok    Odoo right to read sale orders" in out  # the model's access rights pass ...
    assert "FAIL  Odoo right to read every sale order" in out  # ... record rules hide other salespeople's orders
    assert "other salespeople's orders stay unread" in out
    assert re.search(r"\b1 of \d+ checks failed\.", err), err


def test_the_push_rule_is_judged_by_the_pushes_that_arrive(odoo, aftership, settings):
    from sync.models import JobKind, SyncJob

    settings.ODOO_WRITEBACK_FIELDS = {"status": "x_aftership_status"}
    _, out, _ = run()
    assert "no delivery pushed yet: the pull syncs every 5 min meanwhile; python manage.py odoo_setup" in out

    SyncJob.objects.create(kind=JobKind.PICKING_SYNC, picking_id=30)
    _, out, _ = run()
    assert "last delivery pushed by Odoo just now" in out
