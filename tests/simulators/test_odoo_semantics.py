"""Behaviour of the Odoo simulator beyond the recorded transcripts: domains, paging, write_date,
credentials, chatter, automations, faults, XML-RPC, and Odoo 19's JSON-2."""

from __future__ import annotations

import json
import logging
import time
import xmlrpc.client
from datetime import datetime, timedelta
from typing import Any

import pytest
import requests

from simulators.base import Request, Response, SimulatorServer
from simulators.odoo import (
    ADMIN_PASSWORD,
    ADMIN_UID,
    BOT_API_KEY,
    BOT_UID,
    OdooSimulator,
    demo_world,
    transcript_world,
)
from simulators.odoo.models import ResUsers
from simulators.odoo.orm import api_model

DONE_WITH_REF = [["picking_type_code", "=", "outgoing"], ["state", "=", "done"], ["carrier_tracking_ref", "!=", False]]


class OdooError(Exception):
    def __init__(self, data: dict[str, Any]):
        super().__init__(data["name"], data["message"])
        self.data = data
        self.name = data["name"]
        self.message = data["message"]


class Client:
    """A bare JSON-RPC client, enough to drive the simulator like the portal does."""

    def __init__(self, sim: OdooSimulator, uid: int = BOT_UID, secret: str = BOT_API_KEY, db: str = "odoo18"):
        self.sim, self.uid, self.secret, self.db = sim, uid, secret, db

    def rpc(self, service: str, method: str, *args: Any) -> dict[str, Any]:
        payload = {
            "jsonrpc": "2.0",
            "method": "call",
            "id": 7,
            "params": {"service": service, "method": method, "args": list(args)},
        }
        response = requests.post(f"{self.sim.url}/jsonrpc", json=payload, timeout=10)
        assert response.status_code == 200
        return response.json()

    def __call__(self, model: str, method: str, *args: Any, **kwargs: Any) -> Any:
        answer = self.rpc("object", "execute_kw", self.db, self.uid, self.secret, model, method, list(args), kwargs)
        if "error" in answer:
            raise OdooError(answer["error"]["data"])
        return answer.get("result")


@pytest.fixture(scope="module")
def server18():
    server = OdooSimulator(password_rounds=1).start()  # logins counted, not paid for
    yield server
    server.stop()


@pytest.fixture
def sim(server18):
    server18.reset()
    transcript_world(server18)
    return server18


@pytest.fixture
def bot(sim):
    return Client(sim)


@pytest.fixture
def admin(sim):
    return Client(sim, ADMIN_UID, ADMIN_PASSWORD)


def ids(records: list[dict[str, Any]]) -> list[int]:
    return [r["id"] for r in records]


class FrozenClock:
    """A clock tests move by hand; each call can also advance it by `step`."""

    def __init__(self, start: datetime, step: timedelta = timedelta(0)):
        self.now, self.step = start, step

    def __call__(self) -> datetime:
        value = self.now
        self.now += self.step
        return value


# -- domains -----------------------------------------------------------------------------------------------
def test_done_with_tracking_ref_domain_excludes_receipts_unvalidated_and_untracked(bot):
    assert bot("stock.picking", "search_count", DONE_WITH_REF) == 8
    assert bot("stock.picking", "search", DONE_WITH_REF, order="id") == [20, 21, 22, 23, 24, 25, 26, 29]
    assert 27 in bot("stock.picking", "search", [["carrier_tracking_ref", "=", False]])
    assert set(bot("stock.picking", "search", [["picking_type_code", "=", "incoming"]])) == {18, 19}


@pytest.mark.parametrize(
    ("domain", "expected"),
    [
        ([["carrier_id", "=", 5]], [21, 25, 28, 30, 31, 32]),
        ([["carrier_id", "=", "FedEx"]], [21, 25, 28, 30, 31, 32]),
        ([["carrier_id.name", "ilike", "dhl"]], [20, 24, 29]),
        ([["carrier_id", "in", [6, 7]], ["state", "=", "done"]], [22, 23, 26, 27]),
        (["|", ["carrier_id", "=", 7], ["sale_id", "=", False]], [18, 19, 23, 29]),
        (["!", ["state", "in", ["done", "assigned"]]], []),
        ([["sale_id", "!=", False], ["state", "not in", ["done"]]], [28, 30, 31, 32]),
        ([["carrier_tracking_ref", "like", "1Z"]], [22, 26]),
        ([["carrier_tracking_ref", "=like", "77%"]], [25, 28, 30, 31, 32]),
        (
            [["carrier_tracking_ref", "not ilike", "1z"], ["picking_type_code", "=", "outgoing"]],
            [20, 21, 23, 24, 25, 27, 28, 29, 30, 31, 32],
        ),
        ([["name", "=ilike", "wh/out/0002_"]], [25, 26, 27, 28, 29, 30, 31, 32]),
        ([["partner_id.country_id.code", "=", "DE"]], [18, 19, 20, 29, 32]),
        ([["partner_id", "child_of", 49]], [24]),
        ([["weight", ">", 9], ["weight", "<=", 18.5]], [22, 32]),
        ([["date_done", ">=", "2026-11-25"], ["date_done", "<", "2026-11-25 01:36:30"]], [18, 19, 20, 21]),
        ([["carrier_tracking_url", "=", "no such url"], ["id", "in", [20, 21]]], [20, 21]),
    ],
)
def test_domain_operators(bot, domain, expected):
    assert sorted(bot("stock.picking", "search", domain)) == expected


def test_write_date_comparison_uses_stored_microseconds(bot):
    # 22 is stamped 01:36:30.417902 and reads back as "01:36:30" (transcript 13 relies on this).
    [row] = bot("stock.picking", "read", [22], fields=["write_date"])
    assert row["write_date"] == "2026-11-25 01:36:30"
    assert 22 in bot("stock.picking", "search", [["write_date", ">", "2026-11-25 01:36:30"]])
    assert bot("stock.picking", "search", [["write_date", "=", "2026-11-25 01:36:30"]]) == []
    assert bot("stock.picking", "search", [["write_date", "=", "2026-11-25 01:36:30.417902"]]) == [22]


def test_invalid_domain_order_and_field_errors(bot):
    with pytest.raises(OdooError) as leaf:
        bot("stock.picking", "search", [["partner_id.nope", "=", 1]])
    assert (leaf.value.name, leaf.value.message) == (
        "builtins.ValueError",
        "Invalid field res.partner.nope in leaf ('nope', '=', 1)",
    )
    with pytest.raises(OdooError) as order:
        bot("stock.picking", "search", [], order="name sideways")
    assert order.value.message.startswith('Invalid "order" specified (name sideways).')
    with pytest.raises(OdooError) as operator:
        bot("stock.picking", "search", [["name", "~", "x"]])
    assert operator.value.message == "Invalid leaf ('name', '~', 'x')"


# -- order, offset, limit --------------------------------------------------------------------------------
def test_default_order_is_the_models_order(bot, sim):
    sim.write("stock.picking", [29], {"priority": "1"})
    explicit = bot("stock.picking", "search", [], order="priority desc, scheduled_date asc, id desc")
    assert bot("stock.picking", "search", []) == explicit
    assert explicit[0] == 29
    assert explicit[1:4] == [19, 18, 20]  # receipts were scheduled earlier; same date: id desc


def test_multi_key_order_offset_and_limit(bot):
    order = "write_date asc, id asc"
    everything = bot("stock.picking", "search_read", DONE_WITH_REF, fields=["write_date"], order=order)
    pages = [
        bot("stock.picking", "search_read", DONE_WITH_REF, fields=["write_date"], order=order, offset=offset, limit=3)
        for offset in (0, 3, 6, 9)
    ]
    assert [ids(page) for page in pages] == [[20, 21, 22], [23, 24, 25], [26, 29], []]
    assert [row for page in pages for row in page] == everything
    assert ids(
        bot("stock.picking", "search_read", DONE_WITH_REF, fields=["name"], order="carrier_id desc, id desc", limit=3)
    ) == [26, 22, 25]


def test_keyset_pages_when_many_records_share_one_second(sim, bot):
    clock = FrozenClock(datetime(2026, 11, 26, 10, 0, 0, 1), step=timedelta(microseconds=10))
    sim.clock = clock
    created = [
        sim.create("stock.picking", {"partner_id": 45, "state": "done", "carrier_tracking_ref": f"{i:010d}"})
        for i in range(7)
    ]
    cursor = [["id", "in", created]]
    first = bot("stock.picking", "search_read", cursor, fields=["write_date"], order="write_date asc, id asc", limit=3)
    assert {r["write_date"] for r in first} == {"2026-11-26 10:00:00"}
    ts, last_id = first[-1]["write_date"], first[-1]["id"]
    keyset = ["|", ["write_date", ">", ts], "&", ["write_date", "=", ts], ["id", ">", last_id]]
    # The stored microseconds make every row of that second "greater" than its truncated string: a
    # (write_date, id) keyset re-reads the page it just got, so the portal must dedupe.
    again = bot("stock.picking", "search_read", [*cursor, *keyset], fields=["id"], order="write_date asc, id asc")
    assert ids(again) == created
    assert bot("stock.picking", "search", [*cursor, ["write_date", "=", ts]]) == []


def test_one_call_stamps_every_record_with_the_transaction_start(sim, bot):
    sim.clock = FrozenClock(datetime(2026, 11, 26, 11, 0, 0, 250000), step=timedelta(milliseconds=400))
    assert bot("stock.picking", "write", [20, 21, 22], {"x_aftership_status": "InTransit"}) is True
    stamps = {sim.get("stock.picking", rid)["write_date"] for rid in (20, 21, 22)}
    assert stamps == {datetime(2026, 11, 26, 11, 0, 0, 250000)}
    assert {sim.get("stock.picking", rid)["write_uid"] for rid in (20, 21, 22)} == {BOT_UID}


def test_long_transaction_commits_with_an_older_write_date(sim, bot):
    start = datetime(2026, 11, 26, 12, 0, 0)
    sim.clock = FrozenClock(start)
    with sim.transaction(uid=ADMIN_UID) as env:
        env["stock.picking"]._browse([21]).write({"x_aftership_status": "Pending"})
        # Meanwhile other transactions commit later timestamps and the portal's cursor moves past them.
        sim.clock = FrozenClock(start + timedelta(minutes=3))
        bot("stock.picking", "write", [20], {"x_aftership_status": "InTransit"})
        assert bot("stock.picking", "read", [21], fields=["x_aftership_status"])[0]["x_aftership_status"] is False
        cursor = bot("stock.picking", "read", [20], fields=["write_date"])[0]["write_date"]
    [late] = bot("stock.picking", "read", [21], fields=["x_aftership_status", "write_date"])
    assert late == {"id": 21, "x_aftership_status": "Pending", "write_date": "2026-11-26 12:00:00"}
    assert 21 not in bot("stock.picking", "search", [["write_date", ">=", cursor]])


# -- write_date and chatter --------------------------------------------------------------------------------
def test_write_bumps_write_date_but_chatter_does_not(sim, bot):
    sim.clock = FrozenClock(datetime(2026, 11, 26, 9, 30, 0, 5))
    before = sim.get("stock.picking", 20)["write_date"]
    message_id = bot(
        "stock.picking",
        "message_post",
        [20],
        body="AfterShip: <b>Delivered</b>",
        message_type="comment",
        subtype_xmlid="mail.mt_note",
    )
    activity = bot(
        "stock.picking",
        "activity_schedule",
        [20],
        act_type_xmlid="mail.mail_activity_data_todo",
        summary="Check exception",
        user_id=ADMIN_UID,
    )
    assert sim.get("stock.picking", 20)["write_date"] == before
    [message] = sim.messages_for("stock.picking", 20)
    assert message["id"] == message_id and message["body"] == "AfterShip: &lt;b&gt;Delivered&lt;/b&gt;"
    assert message["author_id"] == 44 and message["subtype_id"] == 2 and message["message_type"] == "comment"
    [scheduled] = sim.activities_for("stock.picking", 20)
    assert activity == f"mail.activity({scheduled['id']},)"
    assert scheduled["activity_type_id"] == 4 and scheduled["user_id"] == ADMIN_UID and scheduled["res_model_id"] == 522
    bot("stock.picking", "write", [20], {"x_aftership_status": "Delivered"})
    assert sim.get("stock.picking", 20)["write_date"] == datetime(2026, 11, 26, 9, 30, 0, 5)
    assert sim.get("stock.picking", 20)["write_date"] > before


def test_message_post_is_keyword_only_and_needs_one_record(bot):
    with pytest.raises(OdooError) as positional:
        bot("stock.picking", "message_post", [20], "body", "subject")
    assert positional.value.message == (
        "MailThread.message_post() takes 1 positional argument but 3 positional arguments "
        "(and 2 keyword-only arguments) were given"
    )
    with pytest.raises(OdooError) as many:
        bot("stock.picking", "message_post", [20, 21], body="x")
    assert many.value.message == "Expected singleton: stock.picking(20, 21)"


def test_mail_activity_create_needs_a_document_model(bot, sim):
    created = bot(
        "mail.activity",
        "create",
        {"res_id": 29, "activity_type_id": 4, "summary": "Call carrier"},
        context={"default_res_model": "stock.picking"},
    )
    assert sim.get("mail.activity", created)["res_model_id"] == 522
    pair = [{"res_model_id": 522, "res_id": 29, "summary": "a"}, {"res_model_id": 522, "res_id": 29, "summary": "b"}]
    assert bot("mail.activity", "create", pair) == [created + 1, created + 2]
    with pytest.raises(OdooError) as missing:
        bot("mail.activity", "create", {"res_id": 29, "summary": "no model"})
    assert missing.value.name == "odoo.exceptions.ValidationError"
    assert missing.value.message.endswith("Model: Activity (mail.activity)\nField: Document Model (res_model_id)\n")


def test_read_drops_missing_ids_but_write_and_unlink_raise(bot, admin):
    assert ids(bot("stock.picking", "read", [999, 20, 998], fields=["name"])) == [20]
    with pytest.raises(OdooError) as write:
        bot("stock.picking", "write", [20, 999], {"x_aftership_status": "x"})
    assert write.value.message == "Record does not exist or has been deleted.\n(Record: stock.picking(999,), User: 8)"
    partner = admin("res.partner", "create", {"name": "Temp"})
    assert admin("res.partner", "unlink", [partner]) is True
    assert admin("res.partner", "read", [partner], fields=["name"]) == []
    with pytest.raises(OdooError) as unlink:
        admin("res.partner", "unlink", [partner])
    assert unlink.value.name == "odoo.exceptions.MissingError"


def test_many2one_values_and_empty_values(bot):
    [row] = bot("stock.picking", "read", [29], fields=["sale_id", "partner_id", "origin", "date_done", "user_id"])
    assert row == {
        "id": 29,
        "sale_id": False,
        "partner_id": [53, "Hamburg Hafen AG"],
        "origin": "Replacement for damaged parcel",
        "date_done": "2026-11-25 01:36:39",
        "user_id": False,
    }
    [bare] = bot("stock.picking", "read", [24], fields=["partner_id", "carrier_id"], load=None)
    assert bare == {"id": 24, "partner_id": 55, "carrier_id": 4}
    [partner] = bot("res.partner", "read", [55], fields=["display_name", "state_id", "country_code"])
    assert partner == {
        "id": 55,
        "display_name": "株式会社サクラ商事, 大阪倉庫",
        "state_id": [233, "Osaka (JP)"],
        "country_code": "JP",
    }


def test_every_iso_country_resolves_with_odoo_ids(bot):
    countries = bot(
        "res.country", "search_read", [["code", "in", ["NZ", "GB", "US", "XK"]]], fields=["code"], order="code"
    )
    assert [(c["code"], c["id"]) for c in countries] == [("GB", 231), ("NZ", 170), ("US", 233), ("XK", 245)]
    assert bot("res.country", "search_count", []) == 250


# -- credentials -------------------------------------------------------------------------------------------
def test_authenticate_answers_false_for_bad_credentials(sim):
    client = Client(sim)
    assert client.rpc("common", "authenticate", "odoo18", "aftership-bot", BOT_API_KEY, {})["result"] == BOT_UID
    assert client.rpc("common", "authenticate", "odoo18", "admin", ADMIN_PASSWORD, {})["result"] == ADMIN_UID
    assert client.rpc("common", "authenticate", "odoo18", "aftership-bot", "wrong", {})["result"] is False
    assert client.rpc("common", "authenticate", "odoo18", "nobody", BOT_API_KEY, {})["result"] is False
    assert client.rpc("common", "authenticate", "odoo18", "aftership-bot", "", {})["result"] is False
    assert client.rpc("common", "login", "odoo18", "aftership-bot", BOT_API_KEY)["result"] == BOT_UID
    bad_db = client.rpc("common", "authenticate", "other", "aftership-bot", BOT_API_KEY, {})["error"]["data"]
    assert bad_db["name"] == "psycopg2.OperationalError" and 'database "other" does not exist' in bad_db["message"]


def test_rotated_revoked_and_expired_keys(sim):
    new_key = sim.add_api_key(BOT_UID, name="rotated")
    assert len(new_key) == 40
    assert Client(sim, secret=new_key)("stock.picking", "search_count", []) == 15
    sim.revoke_api_key(BOT_API_KEY)
    with pytest.raises(OdooError) as revoked:
        Client(sim)("stock.picking", "search_count", [])
    assert (revoked.value.name, revoked.value.message, revoked.value.data["arguments"]) == (
        "odoo.exceptions.AccessDenied",
        "Access Denied",
        ["Access Denied"],
    )
    assert revoked.value.data["debug"].startswith("Traceback (most recent call last):")
    assert Client(sim).rpc("common", "authenticate", "odoo18", "aftership-bot", BOT_API_KEY, {})["result"] is False
    sim.clock = FrozenClock(datetime(2026, 12, 1))
    expiring = sim.add_api_key(BOT_UID, expires_at=datetime(2026, 12, 2))
    assert Client(sim, secret=expiring)("res.partner", "search_count", []) > 0
    sim.clock = FrozenClock(datetime(2026, 12, 3))
    with pytest.raises(OdooError, match="Access Denied"):
        Client(sim, secret=expiring)("res.partner", "search_count", [])


def test_key_of_another_user_and_inactive_user_are_denied(sim):
    with pytest.raises(OdooError, match="Access Denied"):
        Client(sim, uid=ADMIN_UID, secret=BOT_API_KEY)("res.partner", "search_count", [])
    sim.set_user_active(BOT_UID, False)
    with pytest.raises(OdooError, match="Access Denied"):
        Client(sim)("res.partner", "search_count", [])
    assert Client(sim).rpc("common", "authenticate", "odoo18", "aftership-bot", BOT_API_KEY, {})["result"] is False


def test_integration_user_access_rights(bot, admin):
    with pytest.raises(OdooError) as automation:
        bot("base.automation", "search", [])
    assert automation.value.message.startswith("You are not allowed to access 'Automation Rule' (base.automation)")
    with pytest.raises(OdooError) as carrier:
        bot("delivery.carrier", "write", [4], {"name": "DHL"})
    assert "\t- Inventory/Administrator\n\t- Sales/Administrator\n" in carrier.value.message
    assert bot("res.country", "check_access_rights", "write", raise_exception=False) is False
    assert admin("res.country", "check_access_rights", "write") is True
    assert admin("ir.model", "search", [["model", "=", "sale.order"]]) == [585]


def test_unknown_service_method_and_rpc_log(sim, bot):
    bot("stock.picking", "search_count", [])
    bot("res.partner", "read", [45], fields=["name"])
    assert sim.rpc_calls[-2:] == [("object", "stock.picking", "search_count"), ("object", "res.partner", "read")]
    answer = bot.rpc("db", "list")
    assert answer["result"] == ["odoo18"]


# -- automations -------------------------------------------------------------------------------------------
class Hook(SimulatorServer):
    """Collects webhook bodies on a real socket and what the receiver read over RPC while handling them."""

    name = "hook"

    def __init__(self, odoo: OdooSimulator):
        super().__init__()
        self.odoo = odoo
        self.received: list[tuple[dict, str, bytes]] = []

    def handle(self, request: Request) -> Response:
        body = json.loads(request.body)
        seen = Client(self.odoo)("stock.picking", "read", [body["_id"]], fields=["state"])[0]["state"]
        self.received.append((body, seen, request.body))
        return Response.json({"ok": True})

    @property
    def endpoint(self) -> str:
        return f"{self.url}/hook"


@pytest.fixture
def hook(sim):
    receiver = Hook(sim).start()
    yield receiver
    receiver.stop()


def test_python_helpers_configure_and_fire_the_webhook_before_commit(sim, hook):
    fields = ["name", "state", "carrier_tracking_ref", "write_date"]
    automation = sim.add_webhook_automation(hook.endpoint, fields=fields)
    calls = sim.validate_picking(31, tracking_ref="770000000099")

    [(body, seen, raw)] = hook.received
    assert seen == "assigned"
    assert body["_action"] == "Send Webhook Notification(#455)" and body["_model"] == "stock.picking"
    assert (body["_id"], body["id"], body["state"], body["carrier_tracking_ref"]) == (31, 31, "done", "770000000099")
    # write_date goes through json.dumps(default=str): the stored microseconds show, unlike over RPC.
    stored = sim.get("stock.picking", 31)["write_date"]
    assert body["write_date"] == str(stored) and "." in body["write_date"]
    assert list(json.loads(raw)) == sorted(json.loads(raw))
    assert [(c.outcome, c.automation_id) for c in calls] == [("ok", automation)]
    assert sim.get("stock.picking", 31)["state"] == "done"


def test_on_save_automation_fires_on_the_portals_own_writes(sim, hook, bot):
    sim.add_webhook_automation(hook.endpoint, trigger="on_create_or_write", filter_domain="[('state', '=', 'done')]")
    bot("stock.picking", "write", [20], {"x_aftership_status": "InTransit"})
    bot("stock.picking", "write", [30], {"x_aftership_status": "InTransit"})
    assert [body["_id"] for body, _seen, _raw in hook.received] == [20]


def test_button_validate_asks_about_sms_once_without_skip_sms(bot, sim):
    wizard = bot("stock.picking", "button_validate", [28], context={"lang": "en_US"})
    assert wizard["res_model"] == "confirm.stock.sms"
    assert wizard["context"] == {"lang": "en_US", "button_validate_picking_ids": [28]}
    assert sim.get("stock.picking", 28)["state"] == "assigned"
    assert bot("stock.picking", "button_validate", [28], context={"skip_sms": True}) is True
    assert sim.get("stock.picking", 28)["state"] == "done"
    assert sim.get("stock.picking", 28)["date_done"].microsecond == 0


# -- transports and faults ---------------------------------------------------------------------------------
def test_result_key_is_omitted_when_the_method_returns_none(sim, bot, monkeypatch):
    monkeypatch.setattr(ResUsers, "context_get", api_model(lambda self: None))
    answer = bot.rpc("object", "execute_kw", "odoo18", BOT_UID, BOT_API_KEY, "res.users", "context_get", [])
    assert answer == {"jsonrpc": "2.0", "id": 7}
    proxy = xmlrpc.client.ServerProxy(f"{sim.url}/xmlrpc/2/object")
    with pytest.raises(xmlrpc.client.Fault) as fault:
        proxy.execute_kw("odoo18", BOT_UID, BOT_API_KEY, "res.users", "context_get", [])
    assert fault.value.faultCode == 1
    assert fault.value.faultString.endswith("TypeError: cannot marshal None unless allow_none is enabled\n")


def test_xmlrpc_results_and_fault_codes(sim):
    common = xmlrpc.client.ServerProxy(f"{sim.url}/xmlrpc/2/common")
    assert common.authenticate("odoo18", "aftership-bot", BOT_API_KEY, {}) == BOT_UID
    proxy = xmlrpc.client.ServerProxy(f"{sim.url}/xmlrpc/2/object")
    rows = proxy.execute_kw(
        "odoo18",
        BOT_UID,
        BOT_API_KEY,
        "stock.picking",
        "search_read",
        [[["id", "=", 20]]],
        {"fields": ["write_date", "partner_id"]},
    )
    assert rows == [{"id": 20, "write_date": "2026-11-25 01:36:28", "partner_id": [45, "Müller Logistik GmbH"]}]
    expected = {
        3: ("stock.picking", "search_count", [[]], "wrong-key"),
        4: ("ir.model", "search", [[]], BOT_API_KEY),
        2: ("stock.picking", "write", [[999], {"x_aftership_status": "x"}], BOT_API_KEY),
        1: ("stock.picking", "search", [[["nope", "=", 1]]], BOT_API_KEY),
    }
    for code, (model, method, args, secret) in expected.items():
        with pytest.raises(xmlrpc.client.Fault) as fault:
            proxy.execute_kw("odoo18", BOT_UID, secret, model, method, args)
        assert fault.value.faultCode == code
    assert fault.value.faultString.startswith("Traceback (most recent call last):")
    with pytest.raises(xmlrpc.client.Fault) as recordset:
        proxy.execute_kw("odoo18", BOT_UID, BOT_API_KEY, "stock.picking", "activity_schedule", [[20]], {"summary": "x"})
    assert recordset.value.faultString.endswith("TypeError: cannot marshal <class 'odoo.api.mail.activity'> objects\n")
    legacy = xmlrpc.client.ServerProxy(f"{sim.url}/xmlrpc/object")
    with pytest.raises(xmlrpc.client.Fault) as old:
        legacy.execute_kw("odoo18", BOT_UID, BOT_API_KEY, "ir.model", "search", [[]])
    assert old.value.faultCode.startswith("warning -- AccessError\n\nYou are not allowed to access 'Models'")


def test_outage_and_random_errors_answer_like_nginx(sim):
    sim.faults.outage = True
    down = requests.post(f"{sim.url}/jsonrpc", json={}, timeout=5)
    assert down.status_code == 502 and down.headers["Content-Type"] == "text/html"
    assert "<center><h1>502 Bad Gateway</h1></center>" in down.text
    sim.faults.reset()
    sim.faults.error_rate = 1.0
    busy = requests.post(f"{sim.url}/jsonrpc", json={}, timeout=5)
    assert busy.status_code == 503 and "Service Temporarily Unavailable" in busy.text
    sim.faults.reset()
    sim.faults.start_outage(0.2)
    assert requests.get(f"{sim.url}/web/health", timeout=5).status_code == 502
    time.sleep(0.25)
    assert requests.get(f"{sim.url}/web/health", timeout=5).json() == {"status": "pass"}


def test_latency_and_serialization_failures(sim, bot):
    sim.faults.latency = 0.2
    started = time.monotonic()
    assert bot("res.partner", "search_count", [["id", "=", 45]]) == 1
    assert time.monotonic() - started >= 0.2
    sim.faults.reset()
    sim.serialization_failures = 1
    with pytest.raises(OdooError) as conflict:
        bot("stock.picking", "write", [20], {"x_aftership_status": "x"})
    assert conflict.value.name == "psycopg2.errors.SerializationFailure"
    assert bot("stock.picking", "write", [20], {"x_aftership_status": "x"}) is True


def test_json2_is_not_served_by_odoo_18(sim):
    response = requests.post(
        f"{sim.url}/json/2/stock.picking/search_read",
        json={},
        headers={"Authorization": f"bearer {BOT_API_KEY}"},
        timeout=5,
    )
    assert response.status_code == 404 and response.headers["Content-Type"] == "text/html; charset=utf-8"
    assert "<title>404 Not Found</title>" in response.text
    assert requests.get(f"{sim.url}/web/version", timeout=5).status_code == 404


# -- Odoo 19 JSON-2 ----------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def server19():
    server = OdooSimulator(version=19, password_rounds=1).start()
    yield server
    server.stop()


@pytest.fixture
def sim19(server19):
    server19.reset()
    transcript_world(server19)
    return server19


def json2(sim: OdooSimulator, model: str, method: str, key: str | None = BOT_API_KEY, **body: Any) -> requests.Response:
    headers = {"Authorization": f"bearer {key}"} if key else {}
    return requests.post(f"{sim.url}/json/2/{model}/{method}", json=body, headers=headers, timeout=5)


def test_json2_happy_path(sim19):
    found = json2(
        sim19,
        "stock.picking",
        "search_read",
        domain=DONE_WITH_REF,
        fields=["name", "carrier_id"],
        order="write_date asc, id asc",
        limit=2,
    )
    assert found.status_code == 200
    assert found.json() == [
        {"id": 20, "name": "WH/OUT/00015", "carrier_id": [4, "DHL Express"]},
        {"id": 21, "name": "WH/OUT/00016", "carrier_id": [5, "FedEx"]},
    ]
    assert json2(sim19, "stock.picking", "write", ids=[20], vals={"x_aftership_status": "Delivered"}).json() is True
    message = json2(sim19, "stock.picking", "message_post", ids=[20], body="Delivered").json()
    assert isinstance(message, list) and len(message) == 1  # recordsets come back as ids, not one id
    assert json2(sim19, "res.partner", "create", vals_list=[{"name": "New"}]).json() == [57]
    assert json2(sim19, "res.users", "context_get").json()["uid"] == BOT_UID
    version = requests.get(f"{sim19.url}/web/version", timeout=5).json()
    assert version == {"version_info": [19, 0, 0, "final", 0, ""], "version": "19.0"}
    assert sim19.rpc_calls[-1] == ("object", "res.users", "context_get")


@pytest.mark.parametrize(
    ("model", "method", "key", "body", "status", "name", "message"),
    [
        ("stock.picking", "search_read", "not-a-key", {}, 401, "werkzeug.exceptions.Unauthorized", "Invalid apikey"),
        (
            "stock.picking",
            "search_read",
            None,
            {},
            401,
            "werkzeug.exceptions.Unauthorized",
            'User not authenticated, use the "Authorization" header',
        ),
        ("x.nope", "search", BOT_API_KEY, {}, 404, "werkzeug.exceptions.NotFound", "the model 'x.nope' does not exist"),
        (
            "stock.picking",
            "nope",
            BOT_API_KEY,
            {},
            404,
            "werkzeug.exceptions.NotFound",
            "The method 'stock.picking.nope' does not exist",
        ),
        (
            "stock.picking",
            "search",
            BOT_API_KEY,
            {"ids": [20], "domain": []},
            422,
            "werkzeug.exceptions.UnprocessableEntity",
            "cannot call stock.picking.search with ids",
        ),
        (
            "stock.picking",
            "write",
            BOT_API_KEY,
            {"ids": [20], "values": {}},
            422,
            "werkzeug.exceptions.UnprocessableEntity",
            "missing a required argument: 'vals'",
        ),
        (
            "stock.picking",
            "_action_done",
            BOT_API_KEY,
            {"ids": [20]},
            403,
            "odoo.exceptions.AccessError",
            "Private methods (such as 'stock.picking._action_done') cannot be called remotely.",
        ),
        (
            "res.country",
            "write",
            BOT_API_KEY,
            {"ids": [31], "vals": {"name": "x"}},
            403,
            "odoo.exceptions.AccessError",
            None,
        ),
        (
            "stock.picking",
            "write",
            BOT_API_KEY,
            {"ids": [999], "vals": {"name": "x"}},
            404,
            "odoo.exceptions.MissingError",
            None,
        ),
        (
            "mail.activity",
            "create",
            BOT_API_KEY,
            {"vals_list": [{"summary": "x"}]},
            422,
            "odoo.exceptions.ValidationError",
            None,
        ),
        (
            "stock.picking",
            "read",
            BOT_API_KEY,
            {"ids": [20], "fields": ["nope"]},
            500,
            "builtins.ValueError",
            "Invalid field 'nope' on model 'stock.picking'",
        ),
    ],
)
def test_json2_errors(sim19, model, method, key, body, status, name, message):
    response = json2(sim19, model, method, key, **body)
    assert response.status_code == status
    error = response.json()
    assert list(error) == ["name", "message", "arguments", "context", "debug"]
    assert error["name"] == name
    if message is not None:
        assert error["message"] == message
    assert error["debug"].startswith("Traceback (most recent call last):")
    if status == 401:
        assert response.headers["WWW-Authenticate"] == "Bearer"
        assert error["arguments"] == [message, 401]


def test_json2_rejects_bodies_that_are_not_json_objects(sim19):
    headers = {"Authorization": f"bearer {BOT_API_KEY}", "Content-Type": "application/json"}
    broken = requests.post(f"{sim19.url}/json/2/res.partner/search", data="{nope", headers=headers, timeout=5)
    assert broken.status_code == 400 and broken.json()["message"].startswith("could not parse the body as json")
    wrong_type = requests.post(
        f"{sim19.url}/json/2/res.partner/search",
        data="{}",
        headers={**headers, "Content-Type": "text/plain"},
        timeout=5,
    )
    assert wrong_type.status_code == 400 and wrong_type.headers["Content-Type"].startswith("text/html")
    elsewhere = requests.get(f"{sim19.url}/json/2/res.partner", headers=headers, timeout=5)
    assert elsewhere.status_code == 404
    assert elsewhere.json()["message"] == "Did you mean POST /json/2/<model>/<method>?"


def test_jsonrpc_still_answers_on_odoo_19(sim19):
    assert Client(sim19)("res.partner", "search_count", [["id", "=", 45]]) == 1
    version = Client(sim19).rpc("common", "version")["result"]
    assert version["server_serie"] == "19.0"


# -- seeds -------------------------------------------------------------------------------------------------
def test_demo_world_is_realistic_and_the_warehouse_ships(caplog):
    caplog.set_level(logging.WARNING)
    server = OdooSimulator()
    demo_world(server, count=30)
    done = server.records("stock.picking", [("state", "=", "done")])
    ready = server.records("stock.picking", [("state", "=", "assigned")])
    assert len(done) == 30 and len(ready) == 6
    refs = [p["carrier_tracking_ref"] for p in done]
    assert "N/A" in refs and sum("," in (ref or "") for ref in refs) == 3
    assert sum(1 for p in done if not p["sale_id"]) == 4
    carriers = {server.get("delivery.carrier", p["carrier_id"])["name"] for p in done}
    assert {"UPS", "DHL Express"} <= carriers
    assert server.records("delivery.carrier", [("name", "=", "Coursier Express Lyon")])
    stamps = [p["write_date"] for p in done]
    assert max(stamps) - min(stamps) > timedelta(hours=1) and max(stamps) <= server.now()
    partners = server.records("res.partner", [("id", ">", 44)])
    assert any(not p["country_id"] for p in partners) and any(p.get("is_blacklisted") for p in partners)
    assert any(not p["street2"] for p in partners) and any(p["name"] == "大阪倉庫" for p in partners)

    import random

    from simulators.odoo.seed import warehouse_tick

    shipped = warehouse_tick(server, random.Random(1))
    assert server.get("stock.picking", shipped)["state"] == "done"
    assert server.get("stock.picking", shipped)["carrier_tracking_ref"]


def test_tracking_numbers_have_valid_check_digits():
    import random

    from simulators.odoo import seed

    rng = random.Random(3)
    ups = seed.ups_number(rng)
    assert ups.startswith("1Z") and len(ups) == 18 and seed._ups_check(ups[2:17]) == int(ups[-1])
    assert seed._ups_check("999AA1012345678") == 4  # 1Z999AA10123456784, UPS's published sample
    assert len(seed.fedex_number(rng)) == 12 and len(seed.dhl_number(rng)) == 10
    usps = seed.usps_number(rng)
    assert usps.startswith("9400") and len(usps) == 22
    royal = seed.royal_mail_number(rng)
    assert royal.endswith("GB") and len(royal) == 13
