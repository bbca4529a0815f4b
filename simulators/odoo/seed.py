"""Worlds to load into the Odoo simulator: the base install, the records behind the recorded
transcripts, and a realistic demo warehouse (plus the tick that keeps it validating deliveries).

`install_base` runs on every OdooSimulator (and `reset()`); the two worlds are loaded on top:

    sim = OdooSimulator().start()
    transcript_world(sim)      # exactly the ids and values the 18.0 transcripts show
    demo_world(sim, count=40)  # a few dozen realistic deliveries for the demo

The records themselves live in `data/`: `base.json` (ir.model ids, stock.picking's being the one a real
18.0 database gave; group ids, chosen; the base records), `carriers.json`, `transcript_world.json`
and `demo_world.json`.
"""

from __future__ import annotations

import functools
import random
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pycountry

from ..base import load_data
from .orm import GROUP_NAMES, SUPERUSER_ID, Environment

if TYPE_CHECKING:
    from .server import OdooSimulator

DATA = Path(__file__).with_name("data")
BASE_TIME = datetime(2026, 11, 24, 9, 0, 0)


def data(name: str) -> Any:
    return load_data(DATA / name)


def insert(env: Environment, model_name: str, rid: int, /, **values: Any) -> None:
    """Put a row in with a chosen id (as Odoo data files do), defaults filled and the sequence moved past it."""
    records = env[model_name]
    row = {**records._default_values(values), **values}
    for name in list(row):
        fld = records._fields.get(name)
        if fld is None or not fld.store or fld.type == "one2many" or fld.compute is not None:
            row.pop(name)
        elif fld.type == "many2many":
            row[name] = tuple(row[name] or ())
    if records._log_access:
        row.setdefault("create_date", env.now)
        row.setdefault("write_date", row["create_date"])
        row.setdefault("create_uid", SUPERUSER_ID)
        row.setdefault("write_uid", row["create_uid"])
    env.txn.insert(model_name, rid, row)
    env.sim.db.bump_sequence(model_name, rid + 1)


def xmlid(env: Environment, module: str, name: str, model: str, res_id: int) -> None:
    insert(
        env,
        "ir.model.data",
        env.sim.db.next_id("ir.model.data"),
        module=module,
        name=name,
        model=model,
        res_id=res_id,
    )


@functools.cache
def countries() -> tuple[tuple[int, str, str], ...]:
    """(odoo id, alpha-2 code, name) for every ISO country plus Kosovo, in Odoo's id order: that of the
    xml ids in base/data/res_country_data.xml, where GB is "uk"."""
    entries = [(c.alpha_2, getattr(c, "common_name", None) or c.name) for c in pycountry.countries]
    entries.append(("XK", "Kosovo"))
    entries.sort(key=lambda item: "uk" if item[0] == "GB" else item[0].lower())
    return tuple((index, code, name) for index, (code, name) in enumerate(entries, start=1))


def install_base(sim: OdooSimulator) -> None:
    """What a fresh Odoo with Inventory, Sales, Delivery and base_automation holds before business data."""
    base = data("base.json")
    with sim.transaction(now=BASE_TIME) as env:
        country_ids = {}
        for rid, code, name in countries():
            insert(env, "res.country", rid, name=name, code=code)
            xmlid(env, "base", "uk" if code == "GB" else code.lower(), "res.country", rid)
            country_ids[code] = rid
        for rid, country, name, code in base["states"]:
            insert(env, "res.country.state", rid, country_id=country_ids[country], name=name, code=code)
        for (xml, full_name), (rid, data_id) in zip(GROUP_NAMES.items(), base["group_ids"], strict=True):
            insert(env, "res.groups", rid, name=full_name.rsplit("/", 1)[-1].strip())
            module, _, name = xml.partition(".")
            insert(env, "ir.model.data", data_id, module=module, name=name, model="res.groups", res_id=rid)
        for record in base["records"]:
            values = dict(record["values"])
            if "country_id" in values:  # given by ISO code: Odoo's ids follow pycountry's list
                values["country_id"] = country_ids[values["country_id"]]
            insert(env, record["model"], record["id"], **values)
            if "xmlid" in record:
                module, _, name = record["xmlid"].partition(".")
                xmlid(env, module, name, record["model"], record["id"])
        # The delivery order's form, as far as an extension anchors on it (stock.view_picking_form).
        insert(
            env,
            "ir.ui.view",
            971,
            name="stock.picking.form",
            model="stock.picking",
            type="form",
            mode="primary",
            priority=16,
            arch_db=data("stock_picking_form.xml").strip(),
        )
        insert(env, "ir.model.data", 30500, module="stock", name="view_picking_form", model="ir.ui.view", res_id=971)
        _install_schema(env, base)
    sim.set_password(2, "OdooAdmin18")
    sim.set_groups(2, ["base.group_system", "stock.group_stock_manager", "sales_team.group_sale_manager"])
    sim.set_groups(8, ["stock.group_stock_user", "sales_team.group_sale_salesman_all_leads"])
    sim.add_api_key(8, "e7cab076b7ad4a90745ab1d66decba764b676077", name="AfterShip portal")


def _install_schema(env: Environment, base: dict[str, Any]) -> None:
    """ir.model / ir.model.fields rows describing the registry, with the ids a real database uses."""
    registry = env.registry
    next_field_id = 10001
    for model, fields in registry.fields.items():
        cls = registry.models[model]
        model_id = base["model_ids"][model]
        insert(env, "ir.model", model_id, name=cls._description, model=model)
        for name, fld in fields.items():
            field_id = fld.field_id
            if field_id is None:
                field_id = next_field_id
                next_field_id += 1
                fld.field_id = field_id
            insert(
                env,
                "ir.model.fields",
                field_id,
                name=name,
                model=model,
                model_id=model_id,
                field_description=fld.string,
                ttype=fld.type,
                relation=fld.relation or False,
                required=fld.required,
                readonly=fld.readonly,
                store=fld.store,
                state="manual" if fld.manual else "base",
            )
    state_field = registry.fields["stock.picking"]["state"].field_id
    for sequence, (value, label) in enumerate(registry.fields["stock.picking"]["state"].selection or ()):
        insert(
            env,
            "ir.model.fields.selection",
            base["state_selection_ids"][value],
            field_id=state_field,
            value=value,
            name=label,
            sequence=sequence,
        )


# -- tracking numbers in each carrier's real format ---------------------------------------------------------
def _ups_check(body: str) -> int:
    total = 0
    for index, char in enumerate(body):
        value = int(char) if char.isdigit() else (ord(char) - ord("A") + 2) % 10
        total += value * (2 if index % 2 else 1)
    return (10 - total % 10) % 10


def ups_number(rng: random.Random) -> str:
    shipper = "".join(rng.choice("0123456789ABCDEFGHJKLMNPRSTUVWXYZ") for _ in range(6))
    body = f"{shipper}{rng.choice(['01', '02', '03', '12', '13'])}{rng.randrange(10**7):07d}"
    return f"1Z{body}{_ups_check(body)}"


def fedex_number(rng: random.Random) -> str:
    digits = f"{rng.randrange(7, 8)}{rng.randrange(10**10):010d}"
    weights = (1, 3, 7)
    total = sum(int(d) * weights[i % 3] for i, d in enumerate(reversed(digits)))
    return f"{digits}{total % 11 % 10}"


def dhl_number(rng: random.Random) -> str:
    body = rng.randrange(10**8, 10**9)
    return f"{body}{body % 7}"


def usps_number(rng: random.Random) -> str:
    digits = f"9400{rng.randrange(10**17):017d}"
    total = sum(int(d) * (3 if i % 2 == 0 else 1) for i, d in enumerate(reversed(digits)))
    return f"{digits}{(10 - total % 10) % 10}"


def royal_mail_number(rng: random.Random) -> str:
    serial = f"{rng.randrange(10**8):08d}"
    total = sum(int(d) * w for d, w in zip(serial, (8, 6, 4, 2, 3, 5, 9, 7), strict=True))
    check = 11 - total % 11
    check = 0 if check == 10 else 5 if check == 11 else check
    return f"{rng.choice(['RR', 'RF', 'AB', 'JD'])}{serial}{check}GB"


def postnl_number(rng: random.Random) -> str:
    return f"3S{''.join(rng.choice('ABCDEFGHKLMNPRSTUVWXYZ') for _ in range(4))}{rng.randrange(10**9):09d}"


def colissimo_number(rng: random.Random) -> str:
    return f"6A{rng.randrange(10**11):011d}"


def local_courier_number(rng: random.Random) -> str:
    return f"CEL-{rng.randrange(10**6):06d}"


# delivery.carrier id -> its tracking numbers
NUMBERS = {
    4: dhl_number,
    5: fedex_number,
    6: ups_number,
    7: colissimo_number,
    8: usps_number,
    9: royal_mail_number,
    10: postnl_number,
    11: local_courier_number,
}


def _install_carriers(env: Environment, ids: set[int]) -> None:
    """Odoo's three default shipping methods, and the carriers `ids` of data/carriers.json."""
    for carrier in data("carriers.json"):
        if carrier["id"] <= 3 or carrier["id"] in ids:
            insert(env, "delivery.carrier", carrier["id"], **{k: v for k, v in carrier.items() if k != "id"})


# -- the world behind the transcripts ------------------------------------------------------------------
def _at(text: str) -> datetime:
    return datetime.fromisoformat(text)


def transcript_world(sim: OdooSimulator) -> None:
    """Exactly the records the 18.0 transcripts were recorded against (ids, names, refs, timestamps)."""
    world = data("transcript_world.json")
    created = _at("2026-11-25 01:36:20")
    with sim.transaction(now=created) as env:
        country_ids = {row["code"]: rid for rid, row in env.txn.snapshot["res.country"].items()}
        _install_carriers(env, {4, 5, 6, 7})
        for partner in world["partners"]:
            values = {k: v for k, v in partner.items() if k not in ("id", "country")}
            insert(env, "res.partner", partner["id"], **values, country_id=country_ids[partner["country"]])
        sim.db.bump_sequence("res.partner", 57)  # 56 was created and deleted before transcript 40
        for order in world["sale_orders"]:
            rid, customer = order["id"], order["partner_id"]
            insert(
                env,
                "sale.order",
                rid,
                name=f"S{rid:05d}",
                client_order_ref=order["client_order_ref"],
                partner_id=customer,
                partner_invoice_id=customer,
                partner_shipping_id=order["partner_shipping_id"],
                state="sale",
                date_order=created,
                carrier_id=None,
                amount_total=round(100 + rid * 37.5, 2),
            )
        client_refs = {order["id"]: order["client_order_ref"] for order in world["sale_orders"]}
        for picking in world["pickings"]:
            rid, sale, scheduled = picking["id"], picking["sale_id"], _at(picking["scheduled_date"])
            origin = "Replacement for damaged parcel"
            if sale:
                origin = f"S{sale:05d} - {client_refs[sale]}" if client_refs[sale] else f"S{sale:05d}"
            insert(
                env,
                "stock.picking",
                rid,
                name=f"WH/OUT/{rid - 5:05d}",
                origin=origin,
                state=picking["state"],
                picking_type_id=2,
                location_id=8,
                location_dest_id=5,
                partner_id=picking["partner_id"],
                company_id=1,
                carrier_id=picking["carrier_id"],
                carrier_tracking_ref=picking["carrier_tracking_ref"],
                sale_id=sale,
                weight=picking["weight"],
                scheduled_date=scheduled,
                date=scheduled,
                date_done=_at(picking["date_done"]) if picking["date_done"] else None,
                create_date=scheduled - timedelta(seconds=1),
                write_date=_at(picking["write_date"]),
                create_uid=2,
                write_uid=8 if picking["state"] == "done" else 2,
            )
        for rid, number, partner in ((18, 4, 53), (19, 5, 45)):
            insert(
                env,
                "stock.picking",
                rid,
                name=f"WH/IN/{number:05d}",
                origin=f"P0000{number}",
                state="done",
                picking_type_id=1,
                location_id=4,
                location_dest_id=8,
                partner_id=partner,
                company_id=1,
                scheduled_date=created,
                date=created,
                date_done=created,
                write_date=created,
            )
        sim.set_sequence("WH/OUT/", 28)
        sim.set_sequence("WH/IN/", 6)
        sim.set_sequence("sale.order", 37)
        for model, next_id in (
            ("ir.ui.view", 1263),
            ("mail.message", 381),
            ("mail.activity", 13),
            ("base.automation", 1),
            ("ir.actions.server", 455),
            ("confirm.stock.sms", 1),
            ("stock.picking", 33),
        ):
            sim.db.bump_sequence(model, next_id)
    sim.add_custom_field("stock.picking", "x_aftership_status", "char", "AfterShip Status", field_id=7882)
    # Like PostgreSQL's sequence, not the highest id: the next field created is the recorded 7886 (74).
    sim.db.restart_sequence("ir.model.fields", 7886)
    # The write-back transcripts (65-68) were recorded a day later with a new key of the same user.
    sim.add_api_key(8, "6ef0ce5ea7b7c2d537ba363f6e04230ff723b71e", name="AfterShip portal (renewed)")


# -- the demo warehouse ------------------------------------------------------------------------------------
def demo_world(
    sim: OdooSimulator, count: int = 40, rng: random.Random | None = None, *, seed: int | None = None
) -> None:
    """Validated deliveries spread over the last hours, plus a few ready ones for the warehouse to ship.

    Pass `rng` or `seed` for another (still reproducible) world.
    """
    world = data("demo_world.json")
    rng = rng or random.Random(20261125 if seed is None else seed)
    now = sim.now()
    with sim.transaction(now=now - timedelta(hours=8)) as env:
        country_ids = {row["code"]: rid for rid, row in env.txn.snapshot["res.country"].items()}
        state_ids = {
            (row["country_id"], row["code"]): rid for rid, row in env.txn.snapshot["res.country.state"].items()
        }
        _install_carriers(env, set(NUMBERS))
        for customer in world["customers"]:
            country_id = country_ids.get(customer["country"]) if customer["country"] else None
            partner = env["res.partner"].create(
                {
                    "name": customer["name"],
                    "street": customer["street"],
                    "street2": customer["street2"] or False,
                    "city": customer["city"] or False,
                    "zip": customer["zip"] or False,
                    "country_id": country_id or False,
                    "state_id": state_ids.get((country_id, customer["state"]), False) if customer["state"] else False,
                    "email": customer["email"] or False,
                    "phone": customer["phone"],
                    "is_company": True,
                    "ref": "local" if customer.get("local") else False,
                }
            )
            if customer.get("is_blacklisted"):
                env.txn.update("res.partner", partner.id, {"is_blacklisted": True})
        for address in world["delivery_addresses"]:
            values = {k: v for k, v in address.items() if k not in ("parent", "country")}
            parent = env["res.partner"]._search([("name", "=", address["parent"])])[0]
            env["res.partner"].create({**values, "parent_id": parent, "country_id": country_ids[address["country"]]})
    sim.add_custom_field("stock.picking", "x_aftership_status", "char", "AfterShip Status")
    sim.add_custom_field("stock.picking", "x_aftership_expected_delivery", "date", "Expected Delivery")
    sim.add_custom_field("stock.picking", "x_aftership_tracking_url", "char", "Tracking Page")

    customers = [p["id"] for p in sim.records("res.partner", [("is_company", "=", True), ("id", ">", 44)])]
    trackable = [p["id"] for p in sim.records("res.partner", [("id", "in", customers), ("country_id", "!=", False)])]
    osaka = sim.records("res.partner", [("name", "=", "大阪倉庫")])[0]["id"]
    stamps = sorted(now - timedelta(seconds=rng.randrange(600, 6 * 3600)) for _ in range(count))
    no_sale = set(rng.sample(range(count), min(4, count)))
    multi = set(rng.sample([i for i in range(count) if i not in no_sale], min(3, count)))
    invalid = rng.choice([i for i in range(count) if i not in no_sale and i not in multi]) if count > 8 else -1
    for index, stamp in enumerate(stamps):
        partner = osaka if index == 5 else rng.choice(customers if index not in multi else trackable)
        picking = _new_delivery(sim, rng, partner, with_sale=index not in no_sale, at=stamp - timedelta(minutes=30))
        carrier = sim.get("stock.picking", picking)["carrier_id"]  # type: ignore[index]
        ref = _tracking_ref(rng, carrier, parcels=3 if index in multi else 1)
        if index == invalid:
            ref = "N/A"
        with sim.transaction(uid=2, context={"skip_sms": True}, now=stamp) as env:
            env["stock.picking"]._browse([picking]).write({"carrier_tracking_ref": ref})
            env["stock.picking"]._browse([picking]).button_validate()
    for _ in range(6):
        _new_delivery(sim, rng, rng.choice(customers), with_sale=True, at=now - timedelta(minutes=rng.randrange(5, 90)))


def _tracking_ref(rng: random.Random, carrier: int | None, parcels: int = 1) -> str | bool:
    generator = NUMBERS.get(carrier or 0)
    if generator is None:
        return False
    return ",".join(generator(rng) for _ in range(parcels))


def _new_delivery(sim: OdooSimulator, rng: random.Random, partner: int, *, with_sale: bool, at: datetime) -> int:
    """A sale order (optionally) and its delivery, reserved and ready to validate."""
    row = sim.get("res.partner", partner) or {}
    country = sim.get("res.country", row.get("country_id")) if row.get("country_id") else None  # type: ignore[arg-type]
    parent = sim.get("res.partner", row["parent_id"]) if row.get("parent_id") else None
    code = (country or {}).get("code")
    by_country = data("demo_world.json")["carriers_by_country"]
    choices = (11,) if row.get("ref") == "local" else by_country.get(code or "", (4, 5))
    carrier = rng.choice(choices)
    with sim.transaction(uid=2, now=at) as env:
        sale = None
        origin = "Manual replacement shipment"
        if with_sale:
            customer = parent["id"] if parent else partner
            client_ref = rng.choice([False, False, f"PO-{rng.randrange(1000, 99999)}"])
            order = env["sale.order"].create(
                {
                    "partner_id": customer,
                    "partner_shipping_id": partner,
                    "client_order_ref": client_ref,
                    "state": "sale",
                    "carrier_id": carrier,
                    "amount_total": round(rng.uniform(40, 2400), 2),
                }
            )
            sale = order.id
            name = env["sale.order"]._get(sale, "name")
            origin = f"{name} - {client_ref}" if client_ref else name
        picking = env["stock.picking"].create(
            {
                "partner_id": partner,
                "carrier_id": carrier,
                "sale_id": sale or False,
                "origin": origin,
                "state": "assigned",
                "weight": round(rng.uniform(0.2, 25), 2),
                "user_id": 2,
            }
        )
        return picking.id  # type: ignore[return-value]


def warehouse_tick(sim: OdooSimulator, rng: random.Random) -> int | None:
    """Validate the oldest ready delivery (creating ready ones when the queue runs low); returns its id."""
    domain = [("picking_type_code", "=", "outgoing"), ("state", "=", "assigned")]
    ready = sim.records("stock.picking", domain)
    if len(ready) < 2:
        customers = [p["id"] for p in sim.records("res.partner", [("is_company", "=", True), ("id", ">", 44)])]
        for _ in range(3):
            if customers:
                _new_delivery(sim, rng, rng.choice(customers), with_sale=rng.random() > 0.1, at=sim.now())
        ready = sim.records("stock.picking", domain)
    if not ready:
        return None
    picking = min(ready, key=lambda row: (row.get("scheduled_date") or datetime.min, row["id"]))
    ref = picking.get("carrier_tracking_ref") or _tracking_ref(rng, picking.get("carrier_id"))
    sim.validate_picking(picking["id"], ref or None)
    return picking["id"]
