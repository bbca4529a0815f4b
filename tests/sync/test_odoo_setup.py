"""`manage.py odoo_setup` against the Odoo simulator: fields, form view and push rule, idempotent; rights."""

from __future__ import annotations

import re
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from sync.models import AuditAction, AuditEntry

pytestmark = pytest.mark.django_db

PORTAL = "https://portal.example.com"
FIELDS = {
    "status": "x_aftership_status",
    "expected_delivery": "x_aftership_expected_delivery",
    "tracking_url": "x_aftership_tracking_url",
}


@pytest.fixture
def admin_key(tmp_path, odoo, settings, monkeypatch):
    settings.ODOO_WRITEBACK_FIELDS = dict(FIELDS)
    settings.ODOO_WEBHOOK_TOKEN = "push-secret-token"
    monkeypatch.delenv("ODOO_ADMIN_LOGIN", raising=False)
    monkeypatch.delenv("ODOO_ADMIN_API_KEY", raising=False)
    key = tmp_path / "admin.key"
    key.write_text("OdooAdmin18\n")
    return str(key)


def run(*args) -> tuple[int, str, str]:
    out, err = StringIO(), StringIO()
    try:
        call_command("odoo_setup", *args, stdout=out, stderr=err)
        code = 0
    except SystemExit as exit_:
        code = exit_.code
    return code, out.getvalue(), err.getvalue()


def setup(key: str, *extra: str) -> tuple[int, str, str]:
    return run("--admin-login", "admin", "--admin-key-file", key, "--portal-url", PORTAL, *extra)


def rules(odoo) -> list[dict]:
    return [r for r in odoo.records("base.automation") if r["model_name"] == "stock.picking"]


def views(odoo) -> list[dict]:
    return [v for v in odoo.records("ir.ui.view") if v["name"] == "stock.picking.form.shiptrack"]


def action_of(odoo, rule: dict) -> dict:
    (action,) = [a for a in odoo.records("ir.actions.server") if a.get("base_automation_id") == rule["id"]]
    return action


def picking_fields(odoo) -> dict[str, str]:
    return {f["name"]: f["ttype"] for f in odoo.records("ir.model.fields") if f["model"] == "stock.picking"}


def test_a_first_run_creates_fields_view_and_rule_and_a_second_changes_nothing(odoo, admin_key):
    code, out, _ = setup(admin_key, "--yes")

    assert code == 0, out
    assert "create Field x_aftership_expected_delivery (date) on delivery orders" in out
    assert "ok     Field x_aftership_status (char) on delivery orders" in out  # made by hand earlier
    assert "push-secret-token" not in out  # the token is a secret: printed as token=…
    fields = picking_fields(odoo)
    assert (fields["x_aftership_expected_delivery"], fields["x_aftership_tracking_url"]) == ("date", "char")
    (view,) = views(odoo)
    assert view["inherit_id"] == 971 and view["mode"] == "extension"
    assert '<field name="x_aftership_tracking_url" readonly="1"/>' in view["arch_db"]
    (rule,) = rules(odoo)
    assert (rule["trigger"], rule["filter_domain"]) == ("on_state_set", "[('picking_type_code', '=', 'outgoing')]")
    assert action_of(odoo, rule)["webhook_url"] == f"{PORTAL}/odoo/webhook/picking?token=push-secret-token"
    entry = AuditEntry.objects.get(action=AuditAction.ODOO_SETUP)
    assert entry.after["by administrator"] == "admin" and len(entry.after["changes"]) == 4

    code, out, _ = setup(admin_key, "--yes")

    assert code == 0 and "Nothing to change." in out
    assert len(rules(odoo)) == 1 and len(views(odoo)) == 1
    assert AuditEntry.objects.filter(action=AuditAction.ODOO_SETUP).count() == 1


@pytest.mark.django_db(transaction=True)
def test_the_rule_it_creates_pushes_a_validated_delivery_to_the_portal(odoo, admin_key, live_server):
    code, out, _ = run(
        *("--admin-login", "admin", "--admin-key-file", admin_key, "--portal-url", live_server.url, "--yes")
    )
    assert code == 0, out

    odoo.validate_picking(30, "4815162399")

    call = odoo.webhook_calls[-1]
    assert (call.outcome, call.status, call.record_id) == ("ok", 202, 30)


def test_a_dry_run_shows_the_plan_and_changes_nothing(odoo, admin_key):
    code, out, err = setup(admin_key, "--dry-run")

    assert code == 1  # Odoo is not set up yet: a script can tell
    assert "Dry run: 4 changes not applied." in out and "run without --dry-run" in err
    assert "create Automation rule pushing validated deliveries" in out
    assert "https://portal.example.com/odoo/webhook/picking?token=…" in out
    assert rules(odoo) == [] and views(odoo) == []
    assert "x_aftership_tracking_url" not in picking_fields(odoo)


def test_a_rule_pointed_elsewhere_or_switched_off_is_put_right(odoo, admin_key):
    setup(admin_key, "--yes")
    (rule,) = rules(odoo)
    odoo.write("base.automation", [rule["id"]], {"active": False})
    odoo.write("ir.actions.server", [action_of(odoo, rule)["id"]], {"webhook_url": "https://old.example.com/x?token=t"})

    code, out, _ = setup(admin_key, "--yes")

    assert code == 0
    assert "update Automation rule pushing validated deliveries" in out
    assert "switched off; posts to https://old.example.com/x?token=…" in out
    (rule,) = rules(odoo)
    assert rule["active"]
    assert action_of(odoo, rule)["webhook_url"].startswith(PORTAL)


def test_remove_takes_out_rule_and_view_and_keeps_the_fields_unless_asked(odoo, admin_key):
    setup(admin_key, "--yes")

    code, out, _ = run("--admin-login", "admin", "--admin-key-file", admin_key, "--remove", "--yes")

    assert code == 0, out
    assert rules(odoo) == [] and views(odoo) == []
    assert "x_aftership_tracking_url" in picking_fields(odoo)
    assert not [a for a in odoo.records("ir.actions.server") if a["name"] == "Send Webhook Notification"]

    run("--admin-login", "admin", "--admin-key-file", admin_key, "--remove", "--drop-fields", "--yes")

    assert not {"x_aftership_tracking_url", "x_aftership_expected_delivery"} & set(picking_fields(odoo))


def test_missing_rights_are_reported_with_the_group_and_granted_only_when_asked(odoo, admin_key):
    odoo.set_groups(8, ["base.group_user"])  # an internal user with neither Inventory nor Sales

    code, out, err = setup(admin_key, "--yes")

    assert code == 1
    assert "FIX    Odoo right to read validated deliveries: read on stock.picking is not allowed" in out
    assert "add aftership-bot to the group 'Inventory / User' (Settings > Users). Or run with --grant." in out
    assert re.search(r"\d+ things still to fix in Odoo", err)
    assert "stock.group_stock_user" not in odoo.user_groups(8)  # nothing granted without --grant

    code, out, _ = setup(admin_key, "--yes", "--grant")

    assert code == 0, out
    assert "grant  Odoo right to read validated deliveries: add to 'Inventory / User'" in out
    assert "done   aftership-bot added to 'Inventory / User'" in out
    assert {"stock.group_stock_user", "sales_team.group_sale_salesman_all_leads"} <= odoo.user_groups(8)


def test_a_wrong_admin_key_fails_with_one_line(odoo, admin_key, tmp_path):
    wrong = tmp_path / "wrong.key"
    wrong.write_text("not-the-password")

    with pytest.raises(CommandError, match=r"^Odoo refused the administrator's login admin: .*Check --admin-login"):
        setup(str(wrong), "--yes")


def test_a_user_who_is_not_an_administrator_is_told_so(odoo, admin_key, tmp_path):
    from tests.conftest import ODOO_KEY

    key = tmp_path / "bot.key"
    key.write_text(ODOO_KEY)

    with pytest.raises(CommandError, match="aftership-bot is not an Odoo administrator"):
        run("--admin-login", "aftership-bot", "--admin-key-file", str(key), "--portal-url", PORTAL, "--yes")


def test_without_credentials_or_portal_address_it_says_what_to_give(odoo, admin_key):
    with pytest.raises(CommandError, match="--admin-login and --admin-key-file, or ODOO_ADMIN_LOGIN"):
        run("--portal-url", PORTAL)
    with pytest.raises(CommandError, match="Give the portal's address as Odoo reaches it"):
        run("--admin-login", "admin", "--admin-key-file", admin_key)


def test_the_same_setup_works_over_json2_on_odoo_19(admin_key, settings):
    from simulators.odoo import OdooSimulator, transcript_world

    sim = OdooSimulator(version=19, password_rounds=1).start()
    try:
        transcript_world(sim)
        key = sim.add_api_key(2, name="setup")
        settings.ODOO_URL, settings.ODOO_PROTOCOL = sim.url, "json2"
        with open(admin_key, "w") as handle:
            handle.write(key)
        code, out, _ = setup(admin_key, "--yes")
        assert code == 0, out
        assert len(rules(sim)) == 1 and len(views(sim)) == 1
        assert setup(admin_key, "--yes")[1].strip().endswith("Nothing to change.")
    finally:
        sim.stop()


def test_a_field_odoo_will_not_create_is_reported_and_the_rest_still_set_up(odoo, admin_key, settings):
    settings.ODOO_WRITEBACK_FIELDS = {**FIELDS, "tracking_url": "tracking_page"}  # not x_...: Odoo refuses it

    code, out, err = setup(admin_key, "--yes")

    assert code == 1 and "1 thing still to fix in Odoo" in err
    assert "FIX    Field tracking_page (char) on delivery orders" in out
    (view,) = views(odoo)
    assert "tracking_page" not in view["arch_db"] and "x_aftership_expected_delivery" in view["arch_db"]
    assert len(rules(odoo)) == 1  # the push rule did not wait for the field
