"""The exact AfterShip body built from realistic Odoo deliveries (shapes as Odoo 18 returns them)."""

from __future__ import annotations

import pytest

from sync.mapping import (
    Delivery,
    custom_field_value,
    iso3_country,
    split_tracking_numbers,
    tracking_body,
)

MUELLER = {
    "id": 45,
    "name": "Müller Logistik GmbH",
    "street": "Friedrichstraße 123",
    "street2": "Hinterhaus, 3. OG",
    "city": "Berlin",
    "zip": "10117",
    "state_id": [1390, "Berlin (DE)"],
    "country_id": [57, "Germany"],
    "email": "versand@mueller-logistik.example.de",
    "phone": "+49 30 1234567",
    "lang": "de_DE",
    "is_blacklisted": False,
}


def picking(**overrides):
    base = {
        "id": 20,
        "name": "WH/OUT/00015",
        "state": "done",
        "carrier_id": [4, "DHL Express"],
        "carrier_tracking_ref": "4815162342",
        "sale_id": [25, "S00025"],
        "partner_id": [45, "Müller Logistik GmbH"],
        "origin": "S00025 - PO-DE-4711",
        "date_done": "2026-11-25 01:36:28",
        "write_date": "2026-11-25 01:36:28",
    }
    base.update(overrides)
    return base


def test_it_builds_the_full_body_for_a_sale_order_delivery():
    delivery = Delivery(
        picking=picking(),
        partner=MUELLER,
        sale_order={"id": 25, "name": "S00025", "client_order_ref": "PO-DE-4711", "date_order": "2026-11-20 09:15:00"},
        country_code="DE",
        state={"id": 1390, "code": "BE", "name": "Berlin"},
    )

    body = tracking_body(delivery, "4815162342")

    assert body == {
        "tracking_number": "4815162342",
        "title": "S00025",
        "order_id": "25",
        "order_number": "S00025",
        "order_date": "2026-11-20T09:15:00Z",
        "tracking_ship_date": "20261125",
        "shipment_direction": "forward",
        "destination_raw_location": "Friedrichstraße 123, Hinterhaus, 3. OG",
        "destination_city": "Berlin",
        "destination_state": "BE",
        "destination_postal_code": "10117",
        "destination_country_region": "DEU",
        "customers": [{"role": "buyer", "name": "Müller Logistik GmbH", "language": "de"}],
    }


def test_it_titles_a_delivery_without_sale_order_by_its_own_name_and_sends_no_order():
    hamburg = {
        "id": 53,
        "name": "Hamburg Hafen AG",
        "street": "Am Sandtorkai 50",
        "street2": False,
        "city": "Hamburg",
        "zip": "20457",
        "state_id": [1393, "Hamburg (DE)"],
        "country_id": [57, "Germany"],
        "email": "wareneingang@hamburg-hafen.example.de",
        "phone": "+49 40 9876543",
        "lang": False,
    }
    delivery = Delivery(
        picking=picking(id=29, name="WH/OUT/00024", sale_id=False, partner_id=[53, "Hamburg Hafen AG"]),
        partner=hamburg,
        country_code="DE",
        state={"code": "HH", "name": "Hamburg"},
    )

    body = tracking_body(delivery, "8765432109")

    assert body["title"] == "WH/OUT/00024"
    assert body["order_id"] == body["order_number"] == "WH/OUT/00024"  # no sale order: the delivery's name
    assert "order_date" not in body
    assert body["destination_raw_location"] == "Am Sandtorkai 50"  # no street2: no dangling comma
    assert body["customers"] == [{"role": "buyer", "name": "Hamburg Hafen AG"}]


def test_it_leaves_out_a_country_it_cannot_convert_and_keeps_the_rest():
    partner = dict(MUELLER, country_id=[999, "Kosovo"], state_id=False)
    delivery = Delivery(picking=picking(), partner=partner, country_code="XK")

    body = tracking_body(delivery, "4815162342")

    assert "destination_country_region" not in body
    assert "destination_state" not in body
    assert body["destination_city"] == "Berlin"


def test_it_keeps_non_ascii_names_and_addresses_intact():
    osaka = {
        "id": 55,
        "name": "大阪倉庫",
        "street": "大阪市北区梅田3-1-1",
        "street2": False,
        "city": "大阪",
        "zip": "530-0001",
        "state_id": [233, "Osaka (JP)"],
        "country_id": [113, "Japan"],
        "email": False,
        "phone": "+81 6-6345-0000",
        "lang": "ja_JP",
    }
    delivery = Delivery(
        picking=picking(id=24, partner_id=[55, "株式会社サクラ商事, 大阪倉庫"], sale_id=[29, "S00029"]),
        partner=osaka,
        sale_order={"id": 29, "name": "S00029"},
        country_code="JP",
        state={"code": "27", "name": "Osaka"},
    )

    body = tracking_body(delivery, "5566778899", send_email=True, send_phone=True)

    assert body["destination_raw_location"] == "大阪市北区梅田3-1-1"
    assert body["destination_city"] == "大阪"
    assert body["destination_country_region"] == "JPN"
    # No e-mail in Odoo (False): only the phone goes, and the partner's own name is used.
    assert body["customers"] == [
        {"role": "buyer", "name": "大阪倉庫", "phone_number": "+81 6-6345-0000", "language": "ja"}
    ]


def test_it_sends_contact_details_only_when_allowed_and_never_to_a_blacklisted_partner():
    delivery = Delivery(picking=picking(), partner=MUELLER, country_code="DE")
    assert "email" not in tracking_body(delivery, "1")["customers"][0]

    allowed = tracking_body(delivery, "1", send_email=True, send_phone=True)["customers"][0]
    assert allowed["email"] == "versand@mueller-logistik.example.de"
    assert allowed["phone_number"] == "+49 30 1234567"

    opted_out = Delivery(picking=picking(), partner=dict(MUELLER, is_blacklisted=True), country_code="DE")
    customer = tracking_body(opted_out, "1", send_email=True, send_phone=True)["customers"][0]
    assert "email" not in customer and "phone_number" not in customer


def test_it_converts_custom_fields_of_each_odoo_type():
    delivery = Delivery(
        picking=picking(
            weight=6.0,
            shipping_volume=0.25,
            number_of_packages=3,
            scheduled_date="2026-11-25 01:36:28",
            date_deadline=False,
            picking_type_id=[2, "San Francisco: Delivery Orders"],
            is_return_picking=False,
            x_priority_shipping=True,
            note="Fragile — handle with care",
        ),
        partner=MUELLER,
        sale_order={"id": 25, "name": "S00025", "client_order_ref": "PO-DE-4711"},
        country_code="DE",
    )
    mapping_fields = {
        "weight_kg": "weight",
        "volume_m3": "shipping_volume",
        "packages": "number_of_packages",
        "scheduled": "scheduled_date",
        "deadline": "date_deadline",
        "operation": "picking_type_id",
        "express": "x_priority_shipping",
        "note": "note",
        "customer_po": "sale.client_order_ref",
        "missing": "x_not_read",
    }

    body = tracking_body(delivery, "4815162342", custom_fields=mapping_fields)

    assert body["custom_fields"] == {
        "weight_kg": "6",
        "volume_m3": "0.25",
        "packages": "3",
        "scheduled": "2026-11-25T01:36:28Z",
        "operation": "San Francisco: Delivery Orders",
        "express": "true",
        "note": "Fragile — handle with care",
        "customer_po": "PO-DE-4711",
    }


@pytest.mark.parametrize(
    ("ref", "numbers"),
    [
        ("4815162342", ["4815162342"]),
        ("1Z999AA10123456784,1Z999AA10123456785", ["1Z999AA10123456784", "1Z999AA10123456785"]),
        ("1Z999AA10123456784, 1Z999AA10123456785 ;", ["1Z999AA10123456784", "1Z999AA10123456785"]),
        ("JD01 4600 0031 4567", ["JD01460000314567"]),
        ("123,123", ["123"]),
        (False, []),
        ("", []),
    ],
)
def test_it_splits_carrier_tracking_ref_into_parcels(ref, numbers):
    assert split_tracking_numbers(ref) == numbers


@pytest.mark.parametrize(("alpha2", "alpha3"), [("DE", "DEU"), ("us", "USA"), ("GB", "GBR"), ("XK", ""), (False, "")])
def test_it_converts_odoo_country_codes_to_iso3(alpha2, alpha3):
    assert iso3_country(alpha2) == alpha3


@pytest.mark.parametrize(
    ("value", "text"),
    [(False, None), (None, None), ("", None), (2.5, "2.5"), (7.0, "7"), (0, "0"), ([3, "Shelf A"], "Shelf A")],
)
def test_custom_field_values(value, text):
    assert custom_field_value(value) == text
