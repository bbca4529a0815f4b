"""Odoo-shaped records for tests that take deliveries in without an Odoo simulator."""

from __future__ import annotations

from sync.mapping import Delivery

CARRIER_NAMES = {4: "DHL Express", 5: "FedEx", 6: "UPS", 7: "Colissimo", 9: "Coursier Express Lyon"}


def delivery(
    picking_id: int,
    ref: str,
    *,
    carrier_id: int | None = 4,
    sale_id: int | None = None,
    country: str = "DE",
    name: str | None = None,
) -> Delivery:
    sale_id = sale_id if sale_id is not None else picking_id + 100
    picking = {
        "id": picking_id,
        "name": name or f"WH/OUT/{picking_id:05d}",
        "state": "done",
        "carrier_id": [carrier_id, CARRIER_NAMES.get(carrier_id, f"Carrier {carrier_id}")] if carrier_id else False,
        "carrier_tracking_ref": ref,
        "sale_id": [sale_id, f"S{sale_id:05d}"] if sale_id else False,
        "partner_id": [45, "Müller Logistik GmbH"],
        "origin": f"S{sale_id:05d}" if sale_id else False,
        "date_done": "2026-11-25 01:36:28",
        "write_date": "2026-11-25 01:36:28",
    }
    partner = {
        "id": 45,
        "name": "Müller Logistik GmbH",
        "street": "Friedrichstraße 123",
        "street2": False,
        "city": "Berlin",
        "zip": "10117",
        "state_id": False,
        "country_id": [57, "Germany"],
        "email": "versand@mueller-logistik.example.de",
        "phone": "+49 30 1234567",
        "lang": "de_DE",
    }
    sale = {"id": sale_id, "name": f"S{sale_id:05d}", "client_order_ref": False, "date_order": False} if sale_id else {}
    return Delivery(picking=picking, partner=partner, sale_order=sale, country_code=country)
