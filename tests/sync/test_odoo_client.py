"""The Odoo client against the Odoo 18 simulator: results, and Odoo's errors as typed exceptions."""

from __future__ import annotations

import pytest

from sync.odoo import (
    OdooAccessError,
    OdooAuthError,
    OdooClient,
    OdooConfig,
    OdooMissingError,
    OdooProgrammingError,
    OdooTransientError,
    OdooValidationError,
)

DONE_OUTGOING = [("picking_type_code", "=", "outgoing"), ("state", "=", "done"), ("carrier_tracking_ref", "!=", False)]


def client_for(sim, **overrides) -> OdooClient:
    config = {
        "url": sim.url,
        "db": "odoo18",
        "username": "aftership-bot",
        "api_key": "e7cab076b7ad4a90745ab1d66decba764b676077",
    } | overrides
    return OdooClient(OdooConfig(**config))


def test_it_logs_in_once_and_reads(odoo):
    client = client_for(odoo)
    rows = client.search_read("stock.picking", DONE_OUTGOING, ["name"], order="write_date asc, id asc", limit=3)
    client.search_read("stock.picking", DONE_OUTGOING, ["name"], limit=1)

    assert [r["name"] for r in rows] == ["WH/OUT/00015", "WH/OUT/00016", "WH/OUT/00017"]
    services = [(c.service, c.method) for c in odoo.rpc_log]
    assert services.count(("common", "authenticate")) == 1
    assert client.uid() == 8


def test_a_method_returning_none_comes_back_as_none(odoo):
    # Odoo omits "result" entirely for None; the client must not mistake that for an error.
    client = client_for(odoo)
    assert client.read("stock.picking", [999999], ["name"]) == []


@pytest.mark.parametrize("api_key", ["0123456789abcdef0123456789abcdef01234567", ""])
def test_a_refused_key_is_an_auth_error(odoo, api_key):
    with pytest.raises(OdooAuthError) as info:
        client_for(odoo, api_key=api_key).search_read("stock.picking", [], ["name"], limit=1)
    assert "ODOO_API_KEY" in str(info.value)


def test_a_key_revoked_after_login_is_an_auth_error(odoo):
    client = client_for(odoo)
    client.uid()
    odoo.revoke_api_key("e7cab076b7ad4a90745ab1d66decba764b676077")
    with pytest.raises(OdooAuthError) as info:
        client.search_read("stock.picking", [], ["name"], limit=1)
    assert info.value.name == "odoo.exceptions.AccessDenied"


def test_missing_rights_are_an_access_error(odoo):
    with pytest.raises(OdooAccessError) as info:
        client_for(odoo).write("res.country", [31], {"name": "Renamed"})
    assert "Administration/Settings" in info.value.message


def test_writing_a_deleted_record_is_a_missing_error(odoo):
    with pytest.raises(OdooMissingError):
        client_for(odoo).write("stock.picking", [999999], {"x_aftership_status": "Delivered"})


def test_a_constraint_is_a_validation_error(odoo):
    with pytest.raises(OdooValidationError) as info:
        client_for(odoo).call("mail.activity", "create", {"res_id": 20, "activity_type_id": 4, "summary": "x"})
    assert "res_model_id" in info.value.message


def test_an_unknown_field_is_a_programming_error(odoo):
    with pytest.raises(OdooProgrammingError) as info:
        client_for(odoo).search_read("stock.picking", [("no_such_field", "=", 1)], ["name"])
    assert info.value.name == "builtins.ValueError"


def test_an_outage_is_transient(odoo):
    odoo.faults.outage = True
    with pytest.raises(OdooTransientError):
        client_for(odoo).search_read("stock.picking", [], ["name"])


def test_a_database_conflict_on_odoos_side_is_transient(odoo):
    client = client_for(odoo)
    client.uid()
    odoo.serialization_failures = 1
    with pytest.raises(OdooTransientError):
        client.search_read("stock.picking", [], ["name"], limit=1)


def test_an_unreachable_odoo_is_transient():
    with pytest.raises(OdooTransientError) as info:
        OdooClient(OdooConfig(url="http://127.0.0.1:9", db="x", username="x", api_key="x", timeout=2)).uid()
    assert "Cannot reach Odoo" in str(info.value)


def test_message_post_adds_a_note_without_touching_write_date(odoo):
    before = odoo.get("stock.picking", 20)["write_date"]
    message_id = client_for(odoo).message_post("stock.picking", 20, "AfterShip: in transit")
    assert isinstance(message_id, int)
    assert any("AfterShip: in transit" in str(m.get("body")) for m in odoo.messages_for("stock.picking", 20))
    assert odoo.get("stock.picking", 20)["write_date"] == before


@pytest.fixture
def odoo19(odoo_server):
    from simulators.odoo import OdooSimulator, transcript_world

    sim = OdooSimulator(version=19, password_rounds=1).start()
    transcript_world(sim)
    yield sim
    sim.stop()


def test_the_same_calls_work_over_json2_on_odoo_19(odoo19):
    client = client_for(odoo19, protocol="json2")
    rows = client.search_read("stock.picking", DONE_OUTGOING, ["name"], order="write_date asc, id asc", limit=2)
    assert [r["name"] for r in rows] == ["WH/OUT/00015", "WH/OUT/00016"]
    assert client.read_by_id("res.country", [57], ["code"])[57]["code"] == "DE"
    assert client.write("stock.picking", [20], {"x_aftership_status": "InTransit"}) is True
    assert odoo19.get("stock.picking", 20)["x_aftership_status"] == "InTransit"
    assert isinstance(client.message_post("stock.picking", 20, "note"), int)
    assert client.version()["server_version"].startswith("19")


def test_json2_errors_are_typed_too(odoo19):
    with pytest.raises(OdooAuthError):
        client_for(odoo19, protocol="json2", api_key="wrong").search_read("stock.picking", [], ["name"])
    with pytest.raises(OdooMissingError):
        client_for(odoo19, protocol="json2").write("stock.picking", [999999], {"x_aftership_status": "x"})


def logins(sim) -> int:
    return sum(1 for entry in sim.rpc_log if (entry.service, entry.method) == ("common", "authenticate"))


def test_clients_of_one_process_share_one_login_and_keep_their_connections(odoo):
    import threading

    def work() -> None:
        for _ in range(3):
            client_for(odoo).search_read("stock.picking", DONE_OUTGOING, ["name"], limit=1)

    work()
    threads = [threading.Thread(target=work) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert logins(odoo) == 1  # a login costs Odoo half a second of CPU: once per process
    assert len(odoo.rpc_calls) == 15
    assert odoo.connections <= 5  # one kept-alive connection per thread, not one per client


def test_another_worker_process_reuses_the_login_through_the_shared_cache(odoo, db):
    from sync.odoo import odoo_logins_forget

    client_for(odoo).search_read("stock.picking", DONE_OUTGOING, ["name"], limit=1)
    odoo_logins_forget()  # what a second worker process knows: nothing of its own

    client_for(odoo).search_read("stock.picking", DONE_OUTGOING, ["name"], limit=1)

    assert logins(odoo) == 1


def test_a_refused_uid_logs_in_again_once_and_goes_on(odoo):
    from sync.odoo import _LOGINS, _share_uid

    client = client_for(odoo)
    client.uid()
    _LOGINS[client.config.login_key] = 2  # what the portal remembers no longer matches the key (a restore)
    _share_uid(client.config.login_key, 2)

    rows = client.search_read("stock.picking", DONE_OUTGOING, ["name"], limit=1)

    assert rows and client.uid() == 8
    assert logins(odoo) == 2
    # The call as uid 2 was refused before Odoo logs it; one login again, then the call goes through.
    assert [(e.service, e.method) for e in odoo.rpc_log] == [
        ("common", "authenticate"),
        ("common", "authenticate"),
        ("object", "search_read"),
    ]


def test_the_simulator_charges_a_login_the_cpu_of_odoos_password_hash():
    from simulators.odoo import OdooSimulator, transcript_world

    with OdooSimulator(password_rounds=60_000) as sim:
        transcript_world(sim)
        client = client_for(sim)
        client.search_read("stock.picking", DONE_OUTGOING, ["name"], limit=1)  # login + the key's first check
        spent = sim.cpu_seconds_hashing
        client.search_read("stock.picking", DONE_OUTGOING, ["name"], limit=1)  # checked key: no hashing

        assert spent > 0 and sim.cpu_seconds_hashing == spent


def test_rights_are_asked_the_way_each_odoo_version_answers(odoo, odoo19):
    """Odoo 18 and 19: has_access on an empty recordset; Odoo 17: check_access_rights without raising."""
    for client in (client_for(odoo), client_for(odoo19, protocol="json2")):
        assert client.has_access("stock.picking", "write") is True
        assert client.has_access("res.country", "write") is False
        assert client.has_group(8, "stock.group_stock_user") is True
        assert client.has_group(8, "base.group_system") is False
    legacy = client_for(odoo)
    assert legacy.has_access("mail.activity", "create", before_18=True) is True
    assert legacy.has_access("res.country", "write", before_18=True) is False
    assert odoo.rpc_log[-1].method == "check_access_rights"
