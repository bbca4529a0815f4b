"""From an Odoo delivery to the body of an AfterShip tracking (API 2026-07). Pure functions, no I/O.

Odoo answers `False` for an empty field (never null) and many2one fields as `[id, name]`; AfterShip
rejects nulls and wrongly typed values, so empty values are left out and everything else converted.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pycountry

# Odoo's separators between several parcels in carrier_tracking_ref ("1Z..1,1Z..2"); people also type ";".
_TRACKING_SPLIT = re.compile(r"[,;\n]+")
_ODOO_DATETIME = "%Y-%m-%d %H:%M:%S"
_ODOO_DATE = "%Y-%m-%d"

# The fields of the picking every pull reads; mapping-specific custom fields are added to these.
PICKING_FIELDS = [
    "name",
    "state",
    "carrier_id",
    "carrier_tracking_ref",
    "sale_id",
    "partner_id",
    "origin",
    "date_done",
    "write_date",
    "user_id",
]
PARTNER_FIELDS = ["name", "street", "street2", "city", "zip", "state_id", "country_id", "email", "phone", "lang"]
SALE_FIELDS = ["name", "client_order_ref", "date_order"]


@dataclass
class Delivery:
    """One Odoo outgoing picking with the related records the tracking needs, read in bulk by the pull."""

    picking: dict
    partner: dict = field(default_factory=dict)
    sale_order: dict = field(default_factory=dict)
    country_code: str = ""
    state: dict = field(default_factory=dict)

    @property
    def picking_id(self) -> int:
        return self.picking["id"]

    @property
    def picking_name(self) -> str:
        return self.picking.get("name") or f"delivery #{self.picking['id']}"

    @property
    def carrier(self) -> tuple[int, str] | None:
        return many2one(self.picking.get("carrier_id"))

    @property
    def sale_order_ref(self) -> tuple[int, str] | None:
        return many2one(self.picking.get("sale_id"))

    @property
    def tracking_numbers(self) -> list[str]:
        return split_tracking_numbers(self.picking.get("carrier_tracking_ref"))


def many2one(value: Any) -> tuple[int, str] | None:
    """Odoo's `[id, display_name]` (or a bare id, with load=None) as a tuple; None for False."""
    if isinstance(value, list | tuple) and value:
        return int(value[0]), str(value[1]) if len(value) > 1 else ""
    if isinstance(value, int) and not isinstance(value, bool) and value:
        return value, ""
    return None


def split_tracking_numbers(ref: Any) -> list[str]:
    """The parcels of a multi-parcel delivery: "1Z..84, 1Z..85" -> two numbers; spaces inside are removed."""
    if not ref or not isinstance(ref, str):
        return []
    numbers = []
    for part in _TRACKING_SPLIT.split(ref):
        number = re.sub(r"\s+", "", part)
        if number and number not in numbers:
            numbers.append(number)
    return numbers


def iso3_country(alpha2: Any) -> str:
    """Odoo's ISO 3166-1 alpha-2 country code as the alpha-3 code AfterShip wants; "" when unknown."""
    if not alpha2 or not isinstance(alpha2, str):
        return ""
    country = pycountry.countries.get(alpha_2=alpha2.strip().upper())
    return country.alpha_3 if country else ""


def odoo_datetime(value: Any) -> datetime | None:
    """Odoo's naive-UTC "YYYY-MM-DD HH:MM:SS" (or a date) as an aware datetime."""
    if not value or not isinstance(value, str):
        return None
    for fmt in (_ODOO_DATETIME, _ODOO_DATE):
        try:
            return datetime.strptime(value, fmt).replace(tzinfo=UTC)
        except ValueError:
            continue
    return None


def custom_field_value(value: Any) -> str | None:
    """An Odoo field value as the string AfterShip custom fields hold; None when the field is empty.

    Whole floats become integers ("6", not "6.0"), dates and datetimes ISO 8601, many2one their name,
    x2many their ids.
    """
    if value is False or value is None or value == "" or value == []:
        return None
    if isinstance(value, bool):
        return "true"
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else repr(value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, list | tuple):
        if len(value) == 2 and isinstance(value[0], int) and isinstance(value[1], str):
            return value[1]
        return ",".join(str(v) for v in value)
    if isinstance(value, str):
        if re.fullmatch(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}", value):
            return value.replace(" ", "T") + "Z"
        return value.strip()
    return str(value)


def _text(value: Any) -> str:
    return value.strip() if isinstance(value, str) else ""


def _one_line(*parts: Any) -> str:
    return ", ".join(" ".join(_text(p).split()) for p in parts if _text(p))


def _language(lang: Any) -> str:
    """Odoo's "de_DE" / "zh_CN" as the ISO 639-1 code AfterShip's notifications use."""
    code = _text(lang).split("_")[0].lower()
    return code if len(code) == 2 else ""


def tracking_body(
    delivery: Delivery,
    tracking_number: str,
    *,
    custom_fields: dict[str, str] | None = None,
    send_email: bool = False,
    send_phone: bool = False,
) -> dict:
    """The POST /trackings body for one parcel, without the courier slug (resolved when sending).

    `custom_fields` maps AfterShip custom field names to Odoo field names of the picking ("weight") or
    of the sale order ("sale.client_order_ref"). E-mail and phone go only where allowed, and never for
    a customer who opted out of marketing in Odoo (blacklisted).
    """
    picking, partner, sale = delivery.picking, delivery.partner, delivery.sale_order
    body: dict[str, Any] = {"tracking_number": tracking_number}

    sale_ref = delivery.sale_order_ref
    sale_name = _text(sale.get("name")) or (sale_ref[1] if sale_ref else "")
    body["title"] = sale_name or delivery.picking_name
    if sale_ref:
        body["order_id"] = str(sale_ref[0])
        body["order_number"] = sale_name
        if order_date := odoo_datetime(sale.get("date_order")):
            body["order_date"] = order_date.strftime("%Y-%m-%dT%H:%M:%SZ")
    else:  # a delivery made without a sale order: it is the order AfterShip and the customer know
        body["order_id"] = body["order_number"] = delivery.picking_name
    if shipped := odoo_datetime(picking.get("date_done")):
        body["tracking_ship_date"] = shipped.strftime("%Y%m%d")
    body["shipment_direction"] = "forward"

    destination = {
        "destination_raw_location": _one_line(partner.get("street"), partner.get("street2")),
        "destination_city": _text(partner.get("city")),
        "destination_state": _text(delivery.state.get("code")) or _text(delivery.state.get("name")),
        "destination_postal_code": _text(partner.get("zip")),
        "destination_country_region": iso3_country(delivery.country_code),
    }
    body.update({k: v for k, v in destination.items() if v})

    customer: dict[str, str] = {"role": "buyer"}
    partner_name = _text(partner.get("name")) or (many2one(picking.get("partner_id")) or (0, ""))[1]
    if partner_name:
        customer["name"] = partner_name
    opted_out = bool(partner.get("is_blacklisted"))
    if send_email and not opted_out and _text(partner.get("email")):
        customer["email"] = _text(partner["email"])
    if send_phone and not opted_out and _text(partner.get("phone")):
        customer["phone_number"] = _text(partner["phone"])
    if language := _language(partner.get("lang")):
        customer["language"] = language
    if len(customer) > 1:
        body["customers"] = [customer]

    values = {}
    for name, odoo_field in (custom_fields or {}).items():
        source = sale if odoo_field.startswith("sale.") else picking
        value = custom_field_value(source.get(odoo_field.removeprefix("sale.")))
        if value is not None:
            values[name] = value
    if values:
        body["custom_fields"] = values
    return body


def custom_field_sources(custom_fields: dict[str, str]) -> tuple[set[str], set[str]]:
    """The Odoo fields to read for these custom fields: (picking fields, sale order fields)."""
    picking_fields, sale_fields = set(), set()
    for odoo_field in custom_fields.values():
        if odoo_field.startswith("sale."):
            sale_fields.add(odoo_field.removeprefix("sale."))
        else:
            picking_fields.add(odoo_field)
    return picking_fields, sale_fields
