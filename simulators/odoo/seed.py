"""Worlds to load into the Odoo simulator: the base install, the records behind the recorded
transcripts, and a realistic demo warehouse (plus the tick that keeps it validating deliveries).

`install_base` runs on every OdooSimulator (and `reset()`); the two worlds are loaded on top:

    sim = OdooSimulator().start()
    transcript_world(sim)      # exactly the ids and values the 18.0 transcripts show
    demo_world(sim, count=40)  # a few dozen realistic deliveries for the demo
"""

from __future__ import annotations

import random
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import pycountry

from .orm import GROUP_NAMES, SUPERUSER_ID, Environment

if TYPE_CHECKING:
    from .server import OdooSimulator

# ir.model ids; stock.picking's is the one a real 18.0 database gave.
MODEL_IDS = {
    "ir.model": 1,
    "ir.model.fields": 2,
    "ir.model.fields.selection": 3,
    "ir.model.data": 5,
    "ir.ui.view": 26,
    "ir.actions.server": 20,
    "res.company": 84,
    "res.country": 81,
    "res.country.state": 82,
    "res.partner": 78,
    "res.users": 89,
    "res.groups": 91,
    "mail.message": 133,
    "mail.message.subtype": 134,
    "mail.activity.type": 141,
    "mail.activity": 142,
    "stock.location": 515,
    "stock.picking.type": 520,
    "stock.picking": 522,
    "confirm.stock.sms": 560,
    "sale.order": 585,
    "delivery.carrier": 597,
    "base.automation": 612,
}
# res.groups ids and their ir.model.data ids, in the order of orm.GROUP_NAMES (chosen, not recorded).
GROUP_IDS = [(1, 40001), (10, 40002), (8, 40003), (2, 40004), (3, 40005), (50, 40006), (51, 40007), (30, 40008)]
GROUP_IDS += [(31, 40009), (32, 40010)]
STATE_SELECTION_IDS = {
    "draft": 1641,
    "waiting": 1642,
    "confirmed": 1643,
    "assigned": 1644,
    "done": 1645,
    "cancel": 1646,
}
# Odoo's country ids follow the order of the xml ids in base/data/res_country_data.xml (GB is "uk").
PINNED_STATES = [
    (13, "US", "California", "CA"),
    (35, "US", "New York", "NY"),
    (95, "BR", "São Paulo", "SP"),
    (1390, "DE", "Berlin", "BE"),
    (1393, "DE", "Hamburg", "HH"),
    (233, "JP", "Osaka", "27"),
]
EXTRA_STATES = [
    (14, "US", "Colorado", "CO"),
    (22, "US", "Illinois", "IL"),
    (52, "US", "Texas", "TX"),
    (58, "US", "Washington", "WA"),
    (96, "BR", "Rio de Janeiro", "RJ"),
    (1389, "DE", "Bayern", "BY"),
    (1396, "DE", "Nordrhein-Westfalen", "NW"),
    (239, "JP", "Tokyo", "13"),
    (512, "CA", "Ontario", "ON"),
    (545, "AU", "New South Wales", "NSW"),
]
PHONE_CODES = {
    "US": 1,
    "CA": 1,
    "DE": 49,
    "FR": 33,
    "GB": 44,
    "JP": 81,
    "BR": 55,
    "NL": 31,
    "ES": 34,
    "IT": 39,
    "CH": 41,
    "AU": 61,
    "SE": 46,
    "BE": 32,
    "AT": 43,
}
BASE_TIME = datetime(2026, 11, 24, 9, 0, 0)


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
        noupdate=True,
    )


def countries() -> list[tuple[int, str, str]]:
    """(odoo id, alpha-2 code, name) for every ISO country plus Kosovo, in Odoo's id order."""
    entries = [(c.alpha_2, getattr(c, "common_name", None) or c.name) for c in pycountry.countries]
    entries.append(("XK", "Kosovo"))
    entries.sort(key=lambda item: "uk" if item[0] == "GB" else item[0].lower())
    return [(index, code, name) for index, (code, name) in enumerate(entries, start=1)]


def install_base(sim: OdooSimulator) -> None:
    """What a fresh Odoo with Inventory, Sales, Delivery and base_automation holds before business data."""
    with sim.transaction(now=BASE_TIME) as env:
        country_ids = {}
        for rid, code, name in countries():
            insert(
                env,
                "res.country",
                rid,
                name=name,
                code=code,
                phone_code=PHONE_CODES.get(code, 0),
                state_required=code in ("US", "CA", "BR", "AU", "JP"),
                zip_required=code not in ("HK", "AE"),
            )
            xmlid(env, "base", "uk" if code == "GB" else code.lower(), "res.country", rid)
            country_ids[code] = rid
        for rid, country, name, code in PINNED_STATES + EXTRA_STATES:
            insert(env, "res.country.state", rid, country_id=country_ids[country], name=name, code=code)

        insert(
            env,
            "res.partner",
            1,
            name="My Company (San Francisco)",
            is_company=True,
            street="250 Executive Park Blvd",
            street2="Suite 3400",
            city="San Francisco",
            zip="94134",
            state_id=13,
            country_id=country_ids["US"],
            email="info@yourcompany.com",
            phone="+1 555-555-5556",
            company_id=1,
        )
        insert(env, "res.partner", 2, name="OdooBot", email="odoobot@example.com", active=False)
        insert(
            env,
            "res.partner",
            3,
            name="Mitchell Admin",
            email="admin@yourcompany.example.com",
            parent_id=1,
            city="San Francisco",
            country_id=country_ids["US"],
            company_id=1,
        )
        insert(
            env,
            "res.partner",
            44,
            name="AfterShip Integration",
            email="aftership-bot@yourcompany.example.com",
            company_id=1,
        )
        insert(env, "res.company", 1, name="My Company (San Francisco)", partner_id=1, country_id=country_ids["US"])
        insert(env, "res.users", 1, name="OdooBot", login="__system__", partner_id=2, active=False)
        insert(env, "res.users", 2, name="Mitchell Admin", login="admin", partner_id=3, tz="Europe/Brussels")
        insert(env, "res.users", 8, name="AfterShip Integration", login="aftership-bot", partner_id=44)
        for (xml, full_name), (rid, data_id) in zip(GROUP_NAMES.items(), GROUP_IDS, strict=True):
            insert(env, "res.groups", rid, name=full_name.rsplit("/", 1)[-1].strip(), full_name=full_name)
            module, _, name = xml.partition(".")
            insert(env, "ir.model.data", data_id, module=module, name=name, model="res.groups", res_id=rid)
        for module, name, model, rid in (
            ("base", "main_company", "res.company", 1),
            ("base", "main_partner", "res.partner", 1),
            ("base", "partner_root", "res.partner", 2),
            ("base", "partner_admin", "res.partner", 3),
            ("base", "user_root", "res.users", 1),
            ("base", "user_admin", "res.users", 2),
        ):
            xmlid(env, module, name, model, rid)

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
            arch_db=PICKING_FORM_ARCH,
        )
        insert(env, "ir.model.data", 30500, module="stock", name="view_picking_form", model="ir.ui.view", res_id=971)
        insert(env, "stock.location", 4, name="Vendors", complete_name="Partners/Vendors", usage="supplier")
        insert(env, "stock.location", 5, name="Customers", complete_name="Partners/Customers", usage="customer")
        insert(env, "stock.location", 8, name="Stock", complete_name="WH/Stock", usage="internal")
        for rid, name, code, prefix, src, dest in (
            (1, "Receipts", "incoming", "IN", 4, 8),
            (2, "Delivery Orders", "outgoing", "OUT", 8, 5),
            (5, "Internal Transfers", "internal", "INT", 8, 8),
        ):
            insert(
                env,
                "stock.picking.type",
                rid,
                name=name,
                code=code,
                sequence_code=prefix,
                sequence=rid,
                warehouse_name="San Francisco",
                company_id=1,
                default_location_src_id=src,
                default_location_dest_id=dest,
            )
        xmlid(env, "stock", "picking_type_in", "stock.picking.type", 1)
        xmlid(env, "stock", "picking_type_out", "stock.picking.type", 2)
        xmlid(env, "stock", "stock_location_stock", "stock.location", 8)
        xmlid(env, "stock", "stock_location_customers", "stock.location", 5)

        for rid, name, xml, internal in (
            (1, "Discussions", "mt_comment", False),
            (2, "Note", "mt_note", True),
            (3, "Activities", "mt_activities", False),
        ):
            insert(env, "mail.message.subtype", rid, name=name, internal=internal, sequence=rid)
            xmlid(env, "mail", xml, "mail.message.subtype", rid)
        for rid, name, xml, category, icon, decoration in (
            (1, "Email", "mail_activity_data_email", "default", "fa-envelope", False),
            (2, "Call", "mail_activity_data_call", "phonecall", "fa-phone", False),
            (3, "Meeting", "mail_activity_data_meeting", "default", "fa-users", False),
            (4, "To-Do", "mail_activity_data_todo", "default", "fa-check", False),
            (5, "Document", "mail_activity_data_upload_document", "upload_file", "fa-upload", False),
            (6, "Exception", "mail_activity_data_warning", "default", "fa-warning", "warning"),
        ):
            insert(
                env,
                "mail.activity.type",
                rid,
                name=name,
                category=category,
                icon=icon,
                decoration_type=decoration,
                sequence=rid,
                delay_count=5 if xml.endswith("todo") else 0,
            )
            xmlid(env, "mail", xml, "mail.activity.type", rid)

        _install_schema(env)
    sim.set_password(2, "OdooAdmin18")
    sim.set_groups(2, ["base.group_system", "stock.group_stock_manager", "sales_team.group_sale_manager"])
    sim.set_groups(8, ["stock.group_stock_user", "sales_team.group_sale_salesman_all_leads"])
    sim.add_api_key(8, "e7cab076b7ad4a90745ab1d66decba764b676077", name="AfterShip portal")


def _install_schema(env: Environment) -> None:
    """ir.model / ir.model.fields rows describing the registry, with the ids a real database uses."""
    registry = env.registry
    next_field_id = 10001
    for model, fields in registry.fields.items():
        cls = registry.models[model]
        model_id = MODEL_IDS[model]
        insert(env, "ir.model", model_id, name=cls._description, model=model, state="base")
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
                relation_field=fld.relation_field or False,
                required=fld.required,
                readonly=fld.readonly,
                store=fld.store,
                state="manual" if fld.manual else "base",
                help=fld.help or False,
            )
    state_field = registry.fields["stock.picking"]["state"].field_id
    for sequence, (value, label) in enumerate(registry.fields["stock.picking"]["state"].selection or ()):
        insert(
            env,
            "ir.model.fields.selection",
            STATE_SELECTION_IDS[value],
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


CARRIERS = [
    # id, name, tracking url template, number generator
    (4, "DHL Express", "https://www.dhl.com/en/express/tracking.html?AWB=<shipmenttrackingnumber>", dhl_number),
    (5, "FedEx", "https://www.fedex.com/fedextrack/?trknbr=<shipmenttrackingnumber>", fedex_number),
    (6, "UPS", "https://www.ups.com/track?tracknum=<shipmenttrackingnumber>", ups_number),
    (7, "Colissimo", "https://www.laposte.fr/outils/suivre-vos-envois?code=<shipmenttrackingnumber>", colissimo_number),
    (8, "USPS", "https://tools.usps.com/go/TrackConfirmAction?tLabels=<shipmenttrackingnumber>", usps_number),
    (
        9,
        "Royal Mail",
        "https://www.royalmail.com/track-your-item#/tracking-results/<shipmenttrackingnumber>",
        royal_mail_number,
    ),
    (10, "PostNL", "https://jouw.postnl.nl/track-and-trace/<shipmenttrackingnumber>", postnl_number),
    (
        11,
        "Coursier Express Lyon",
        "https://coursier-express-lyon.example.fr/suivi?colis=<shipmenttrackingnumber>",
        local_courier_number,
    ),
]
_GENERATORS = {cid: generator for cid, _name, _url, generator in CARRIERS}


def _install_carriers(env: Environment, ids: set[int]) -> None:
    insert(env, "delivery.carrier", 1, name="Standard delivery", delivery_type="fixed", sequence=1, fixed_price=0.0)
    insert(
        env, "delivery.carrier", 2, name="Normal Delivery Charges", delivery_type="fixed", sequence=2, fixed_price=10.0
    )
    insert(env, "delivery.carrier", 3, name="Free delivery charges", delivery_type="base_on_rule", sequence=3)
    for cid, name, url, _generator in CARRIERS:
        if cid in ids:
            insert(
                env,
                "delivery.carrier",
                cid,
                name=name,
                delivery_type="fixed",
                tracking_url=url,
                sequence=cid,
                fixed_price=20.0,
            )


# -- the world behind the transcripts ------------------------------------------------------------------
def _at(text: str) -> datetime:
    return datetime.fromisoformat(text)


TRANSCRIPT_PARTNERS = [
    # id, name, street, street2, city, zip, state id, country, email, phone, extra
    (
        45,
        "Müller Logistik GmbH",
        "Friedrichstraße 123",
        "Hinterhaus, 3. OG",
        "Berlin",
        "10117",
        1390,
        "DE",
        "versand@mueller-logistik.example.de",
        "+49 30 1234567",
        {},
    ),
    (
        46,
        "Acme Corporation",
        "1200 Market Street",
        "Suite 400",
        "San Francisco",
        "94103",
        13,
        "US",
        "shipping@acme.example.com",
        "+1 415-555-0134",
        {},
    ),
    (
        47,
        "Brooklyn Supplies LLC",
        "85 Kent Avenue",
        "Unit 2B",
        "Brooklyn",
        "11249",
        35,
        "US",
        "orders@brooklyn-supplies.example.com",
        "+1 718-555-0199",
        {},
    ),
    (
        48,
        "Boulangerie Dupont SARL",
        "12 rue de Rivoli",
        "Bâtiment A",
        "Paris",
        "75004",
        None,
        "FR",
        "contact@boulangerie-dupont.example.fr",
        "+33 1 42 68 53 00",
        {},
    ),
    (
        49,
        "株式会社サクラ商事",
        "千代田区丸の内1-9-1",
        "グラントウキョウノースタワー 12階",
        "東京",
        "100-0005",
        239,
        "JP",
        "info@sakura-shoji.example.jp",
        "+81 3-5555-0101",
        {},
    ),
    (
        50,
        "Comércio São Paulo Ltda",
        "Avenida Paulista, 1578",
        "Conjunto 52",
        "São Paulo",
        "01310-200",
        95,
        "BR",
        "logistica@comercio-sp.example.com.br",
        "+55 11 3456-7890",
        {},
    ),
    (
        51,
        "Thames Retail Ltd",
        "221B Baker Street",
        None,
        "London",
        "NW1 6XE",
        None,
        "GB",
        "dispatch@thames-retail.example.co.uk",
        "+44 20 7946 0018",
        {},
    ),
    (
        52,
        "Norrsken Friluft AB",
        "Drottninggatan 53",
        None,
        "Stockholm",
        "111 21",
        None,
        "SE",
        "order@norrsken-friluft.example.se",
        "+46 8 555 012 34",
        {},
    ),
    (
        53,
        "Hamburg Hafen AG",
        "Am Sandtorkai 50",
        None,
        "Hamburg",
        "20457",
        1393,
        "DE",
        "wareneingang@hamburg-hafen.example.de",
        "+49 40 9876543",
        {},
    ),
    (
        54,
        "Rocky Mountain Gear Co.",
        "1701 Wynkoop Street",
        "Suite 300",
        "Denver",
        "80202",
        14,
        "US",
        "receiving@rockymountaingear.example.com",
        "+1 303-555-0147",
        {},
    ),
    (
        55,
        "大阪倉庫",
        "大阪市北区梅田3-1-1",
        None,
        "大阪",
        "530-0001",
        233,
        "JP",
        None,
        "+81 6-6345-0000",
        {"parent_id": 49, "type": "delivery", "is_company": False},
    ),
]
TRANSCRIPT_ORDERS = [
    # id, client ref, customer, delivery address
    (25, "PO-DE-4711", 45, 45),
    (26, "ACME-PO-88231", 46, 46),
    (27, None, 47, 47),
    (28, "CMD-2025-0042", 48, 48),
    (29, "発注-2025-77", 49, 55),
    (30, None, 50, 50),
    (31, "TR-PO-1001", 51, 51),
    (32, "NF-2025-118", 52, 52),
    (33, None, 54, 54),
    (34, None, 46, 46),
    (35, None, 47, 47),
    (36, None, 53, 53),
]
TRANSCRIPT_PICKINGS = [
    # id, state, carrier, tracking ref, sale order, partner, write_date (stored precision), date_done, scheduled, weight
    (
        20,
        "done",
        4,
        "4815162342",
        25,
        45,
        "2026-11-25 01:36:28.214370",
        "2026-11-25 01:36:28",
        "2026-11-25 01:36:28",
        6.25,
    ),
    (
        21,
        "done",
        5,
        "794612345678",
        26,
        46,
        "2026-11-25 01:36:29.305118",
        "2026-11-25 01:36:29",
        "2026-11-25 01:36:29",
        2.4,
    ),
    (
        22,
        "done",
        6,
        "1Z999AA10123456784,1Z999AA10123456785",
        27,
        47,
        "2026-11-25 01:36:30.417902",
        "2026-11-25 01:36:30",
        "2026-11-25 01:36:30",
        18.5,
    ),
    (
        23,
        "done",
        7,
        "6A18923456789",
        28,
        48,
        "2026-11-25 01:36:31.936541",
        "2026-11-25 01:36:32",
        "2026-11-25 01:36:31",
        1.2,
    ),
    (
        24,
        "done",
        4,
        "5566778899",
        29,
        55,
        "2026-11-25 01:36:33.108764",
        "2026-11-25 01:36:33",
        "2026-11-25 01:36:33",
        3.75,
    ),
    (
        25,
        "done",
        5,
        "771234567890",
        30,
        50,
        "2026-11-25 01:36:34.207355",
        "2026-11-25 01:36:34",
        "2026-11-25 01:36:34",
        9.0,
    ),
    (
        26,
        "done",
        6,
        "1Z12345E0205271688",
        31,
        51,
        "2026-11-25 01:36:35.311620",
        "2026-11-25 01:36:35",
        "2026-11-25 01:36:35",
        0.8,
    ),
    (27, "done", 6, None, 32, 52, "2026-11-25 01:36:36.502893", "2026-11-25 01:36:36", "2026-11-25 01:36:36", 4.1),
    (28, "assigned", 5, "779012345674", 33, 54, "2026-11-25 01:36:37.615004", None, "2026-11-25 01:36:37", 7.3),
    (
        29,
        "done",
        4,
        "8765432109",
        None,
        53,
        "2026-11-25 01:36:39.206117",
        "2026-11-25 01:36:39",
        "2026-11-25 01:36:39",
        2.0,
    ),
    (30, "assigned", 5, "770000000001", 34, 46, "2026-11-25 01:36:51.314277", None, "2026-11-25 01:36:51", 5.5),
    (31, "assigned", 5, "770000000002", 35, 47, "2026-11-25 01:36:55.052660", None, "2026-11-25 01:36:55", 1.9),
    (32, "assigned", 5, "770000000003", 36, 53, "2026-11-25 01:37:02.411938", None, "2026-11-25 01:37:02", 12.0),
]


PICKING_FORM_ARCH = (
    '<form string="Transfer"><header><field name="state" widget="statusbar"/></header><sheet>'
    '<div class="oe_title"><h1><field name="name"/></h1></div><group><group>'
    '<field name="partner_id"/><field name="picking_type_id"/><field name="location_id"/>'
    '<field name="location_dest_id"/></group><group><field name="scheduled_date"/><field name="date_done"/>'
    '<field name="origin"/></group></group><notebook><page string="Additional Info" name="extra"><group>'
    '<group string="Shipping Information" name="carrier_data"><field name="carrier_id"/>'
    '<field name="carrier_tracking_ref"/><field name="weight"/></group></group></page></notebook>'
    "</sheet></form>"
)


def transcript_world(sim: OdooSimulator) -> None:
    """Exactly the records the 18.0 transcripts were recorded against (ids, names, refs, timestamps)."""
    created = _at("2026-11-25 01:36:20")
    with sim.transaction(now=created) as env:
        country_ids = {row["code"]: rid for rid, row in env.txn.snapshot["res.country"].items()}
        _install_carriers(env, {4, 5, 6, 7})
        for rid, name, street, street2, city, zip_code, state, country, email, phone, extra in TRANSCRIPT_PARTNERS:
            insert(
                env,
                "res.partner",
                rid,
                name=name,
                street=street,
                street2=street2,
                city=city,
                zip=zip_code,
                state_id=state,
                country_id=country_ids[country],
                email=email,
                phone=phone,
                is_company=extra.get("is_company", True),
                type=extra.get("type", "contact"),
                parent_id=extra.get("parent_id"),
                company_id=None,
            )
        sim.db.bump_sequence("res.partner", 57)  # 56 was created and deleted before transcript 40
        for rid, ref, customer, shipping in TRANSCRIPT_ORDERS:
            insert(
                env,
                "sale.order",
                rid,
                name=f"S{rid:05d}",
                client_order_ref=ref,
                partner_id=customer,
                partner_invoice_id=customer,
                partner_shipping_id=shipping,
                state="sale",
                date_order=created,
                carrier_id=None,
                user_id=2,
                amount_total=round(100 + rid * 37.5, 2),
            )
        orders = {rid: (ref, customer) for rid, ref, customer, _shipping in TRANSCRIPT_ORDERS}
        for rid, state, carrier, ref, sale, partner, write, done, scheduled, weight in TRANSCRIPT_PICKINGS:
            origin = "Replacement for damaged parcel"
            if sale:
                client_ref = orders[sale][0]
                origin = f"S{sale:05d} - {client_ref}" if client_ref else f"S{sale:05d}"
            insert(
                env,
                "stock.picking",
                rid,
                name=f"WH/OUT/{rid - 5:05d}",
                origin=origin,
                state=state,
                picking_type_id=2,
                location_id=8,
                location_dest_id=5,
                partner_id=partner,
                company_id=1,
                carrier_id=carrier,
                carrier_tracking_ref=ref,
                sale_id=sale,
                weight=weight,
                scheduled_date=_at(scheduled),
                date=_at(scheduled),
                date_done=_at(done) if done else None,
                create_date=_at(scheduled) - timedelta(seconds=1),
                write_date=_at(write),
                create_uid=2,
                write_uid=8 if state == "done" else 2,
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
DEMO_CUSTOMERS = [
    # name, street, street2, city, zip, country, state code, email, phone, extra
    (
        "Müller Logistik GmbH",
        "Friedrichstraße 123",
        "Hinterhaus, 3. OG",
        "Berlin",
        "10117",
        "DE",
        "BE",
        "versand@mueller-logistik.example.de",
        "+49 30 1234567",
        {},
    ),
    (
        "Acme Corporation",
        "1200 Market Street",
        "Suite 400",
        "San Francisco",
        "94103",
        "US",
        "CA",
        "shipping@acme.example.com",
        "+1 415-555-0134",
        {},
    ),
    (
        "Brooklyn Supplies LLC",
        "85 Kent Avenue",
        "Unit 2B",
        "Brooklyn",
        "11249",
        "US",
        "NY",
        "orders@brooklyn-supplies.example.com",
        "+1 718-555-0199",
        {},
    ),
    (
        "Boulangerie Dupont SARL",
        "12 rue de Rivoli",
        "Bâtiment A",
        "Paris",
        "75004",
        "FR",
        None,
        "contact@boulangerie-dupont.example.fr",
        "+33 1 42 68 53 00",
        {},
    ),
    (
        "Thames Retail Ltd",
        "221B Baker Street",
        None,
        "London",
        "NW1 6XE",
        "GB",
        None,
        "dispatch@thames-retail.example.co.uk",
        "+44 20 7946 0018",
        {},
    ),
    (
        "Comércio São Paulo Ltda",
        "Avenida Paulista, 1578",
        "Conjunto 52",
        "São Paulo",
        "01310-200",
        "BR",
        "SP",
        "logistica@comercio-sp.example.com.br",
        "+55 11 3456-7890",
        {},
    ),
    (
        "株式会社サクラ商事",
        "千代田区丸の内1-9-1",
        None,
        "東京",
        "100-0005",
        "JP",
        "13",
        "info@sakura-shoji.example.jp",
        "+81 3-5555-0101",
        {},
    ),
    (
        "Fietsenwinkel De Vries B.V.",
        "Prinsengracht 263",
        None,
        "Amsterdam",
        "1016 GV",
        "NL",
        None,
        "bestellingen@devries-fietsen.example.nl",
        "+31 20 555 0182",
        {},
    ),
    (
        "Ölmühle Schäfer KG",
        "Königsallee 92",
        None,
        "Düsseldorf",
        "40212",
        "DE",
        "NW",
        "lager@oelmuehle-schaefer.example.de",
        "+49 211 5550 1470",
        {},
    ),
    (
        "Lone Star Outfitters Inc.",
        "600 Congress Avenue",
        "Floor 14",
        "Austin",
        "78701",
        "US",
        "TX",
        "receiving@lonestar-outfitters.example.com",
        "+1 512-555-0163",
        {},
    ),
    (
        "Pike Place Provisions",
        "1501 Pike Place",
        None,
        "Seattle",
        "98101",
        "US",
        "WA",
        "hello@pikeplace-provisions.example.com",
        "+1 206-555-0110",
        {},
    ),
    (
        "Librairie Œuvre & Papier",
        "8 place Bellecour",
        None,
        "Lyon",
        "69002",
        "FR",
        None,
        "commandes@oeuvre-papier.example.fr",
        "+33 4 72 55 01 23",
        {"local": True},
    ),
    (
        "Bodega Peñalver S.L.",
        "Calle de Alcalá 48",
        "2º izquierda",
        "Madrid",
        "28014",
        "ES",
        None,
        "pedidos@bodega-penalver.example.es",
        "+34 915 55 01 87",
        {},
    ),
    (
        "Maple Leaf Hardware Ltd.",
        "220 Yonge Street",
        "Unit 118",
        "Toronto",
        "M5B 2H1",
        "CA",
        "ON",
        "orders@mapleleaf-hardware.example.ca",
        "+1 416-555-0199",
        {},
    ),
    (
        "Kangaroo Crafts Pty Ltd",
        "1 Macquarie Street",
        None,
        "Sydney",
        "2000",
        "AU",
        "NSW",
        "dispatch@kangaroo-crafts.example.com.au",
        "+61 2 5550 1234",
        {},
    ),
    (
        "Zürcher Uhrenatelier AG",
        "Bahnhofstrasse 21",
        None,
        "Zürich",
        "8001",
        "CH",
        None,
        "atelier@zuercher-uhren.example.ch",
        "+41 44 555 01 21",
        {},
    ),
    (
        "Spam Catchers Ltd",
        "14 Fleet Street",
        None,
        "London",
        "EC4Y 1AA",
        "GB",
        None,
        "bounce@spam-catchers.example.co.uk",
        "+44 20 7946 0999",
        {"is_blacklisted": True},
    ),
    ("Walk-in Customer", "Counter pickup", None, None, None, None, None, None, "+1 555-555-0100", {}),
]
_CARRIERS_BY_COUNTRY = {
    "US": (6, 5, 8),
    "CA": (6, 5),
    "GB": (9, 4),
    "NL": (10, 4),
    "FR": (7,),
    "DE": (4, 6),
    "JP": (4, 5),
    "BR": (4, 5),
    "ES": (4, 6),
    "AU": (4, 5),
    "CH": (4, 6),
    None: (1,),
}


def demo_world(
    sim: OdooSimulator, count: int = 40, rng: random.Random | None = None, *, seed: int | None = None
) -> None:
    """Validated deliveries spread over the last hours, plus a few ready ones for the warehouse to ship.

    Pass `rng` or `seed` for another (still reproducible) world.
    """
    rng = rng or random.Random(20261125 if seed is None else seed)
    now = sim.now()
    with sim.transaction(now=now - timedelta(hours=8)) as env:
        country_ids = {row["code"]: rid for rid, row in env.txn.snapshot["res.country"].items()}
        state_ids = {
            (row["country_id"], row["code"]): rid for rid, row in env.txn.snapshot["res.country.state"].items()
        }
        _install_carriers(env, {cid for cid, *_rest in CARRIERS})
        for name, street, street2, city, zip_code, country, state, email, phone, extra in DEMO_CUSTOMERS:
            country_id = country_ids.get(country) if country else None
            partner = env["res.partner"].create(
                {
                    "name": name,
                    "street": street,
                    "street2": street2 or False,
                    "city": city or False,
                    "zip": zip_code or False,
                    "country_id": country_id or False,
                    "state_id": state_ids.get((country_id, state), False) if state else False,
                    "email": email or False,
                    "phone": phone,
                    "is_company": True,
                    "ref": "local" if extra.get("local") else False,
                }
            )
            if extra.get("is_blacklisted"):
                env.txn.update("res.partner", partner.id, {"is_blacklisted": True})
        sakura = env["res.partner"]._search([("name", "=", "株式会社サクラ商事")])[0]
        env["res.partner"].create(
            {
                "name": "大阪倉庫",
                "parent_id": sakura,
                "type": "delivery",
                "is_company": False,
                "street": "大阪市北区梅田3-1-1",
                "city": "大阪",
                "zip": "530-0001",
                "state_id": 233,
                "country_id": country_ids["JP"],
                "phone": "+81 6-6345-0000",
            }
        )
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
    generator = _GENERATORS.get(carrier or 0)
    if generator is None:
        return False
    return ",".join(generator(rng) for _ in range(parcels))


def _new_delivery(sim: OdooSimulator, rng: random.Random, partner: int, *, with_sale: bool, at: datetime) -> int:
    """A sale order (optionally) and its delivery, reserved and ready to validate."""
    row = sim.get("res.partner", partner) or {}
    country = sim.get("res.country", row.get("country_id")) if row.get("country_id") else None  # type: ignore[arg-type]
    parent = sim.get("res.partner", row["parent_id"]) if row.get("parent_id") else None
    code = (country or {}).get("code")
    choices = (11,) if row.get("ref") == "local" else _CARRIERS_BY_COUNTRY.get(code, (4, 5))
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
