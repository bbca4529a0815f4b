"""Odoo-shaped records for tests that take deliveries in without an Odoo simulator."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from pathlib import Path

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


# -- the DHL parcel of WH/OUT/00015 (Odoo simulator's picking 20) and AfterShip's news about it ----------
JOURNEY = Path(__file__).parent / "fixtures" / "aftership" / "journey"
WEBHOOK_URL = "/aftership/webhook/tracking?token=url-token"


def journey_body(name: str) -> bytes:
    """A fixture's bytes as AfterShip would send them."""
    return (JOURNEY / f"{name}.json").read_bytes()


def journey_payload(name: str) -> dict:
    return json.loads(journey_body(name))


def signed(body: bytes, secret: str = "whsec-current") -> str:
    # Computed here independently of the portal's code, as AfterShip documents it.
    return base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()


def webhook(client, body: bytes | dict | str, **meta):
    """POST a tracking update to the portal's endpoint, signed with the current secret."""
    if isinstance(body, str):
        body = journey_body(body)
    elif isinstance(body, dict):
        body = json.dumps(body).encode()
    return client.post(
        WEBHOOK_URL,
        data=body,
        content_type="application/json",
        HTTP_AFTERSHIP_HMAC_SHA256=signed(body),
        HTTP_AS_WEBHOOK_VERSION="2026-07",
        **meta,
    )


def dhl_shipment(**overrides):
    """The shipment the portal holds for WH/OUT/00015 once its AfterShip tracking exists."""
    from sync.models import Shipment, ShipmentStatus

    values = {
        "picking_id": 20,
        "picking_name": "WH/OUT/00015",
        "sale_order_id": 25,
        "sale_order_name": "S00025",
        "partner_id": 45,
        "partner_name": "Müller Logistik GmbH",
        "tracking_number": "4815162342",
        "slug": "dhl",
        "aftership_id": "dhl4815162342trk000000001",
        "status": ShipmentStatus.PENDING,
        "tag": "Pending",
    }
    return Shipment.objects.create(**{**values, **overrides})
