"""The tracking resource as AfterShip 2026-07 shapes it: fields, enums, body validation, progress.

Everything here is plain data and pure functions over dicts in the API's own shape; the server module
owns the store, the locking and the HTTP side.
"""

from __future__ import annotations

import bisect
import hashlib
import json
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pycountry

from ..base import load_data
from .couriers import Courier

API_VERSION = "2026-07"

_MODEL = load_data(Path(__file__).with_name("data") / "tracking_model.json")

# Keys of the Tracking model at 2026-07, in the model's order. The 2026-07 changelog adds
# `shipment_dimensions`, `multi_piece_info`, `proof_of_delivery`, `shipment_direction` and the
# forward/return links to what 2026-01 had.
TRACKING_FIELDS: tuple[str, ...] = tuple(_MODEL["tracking_fields"])

# Checkpoint keys at 2026-07: `zip` became `postal_code` in 2026-01, `hash` arrived in 2026-07.
CHECKPOINT_FIELDS: tuple[str, ...] = tuple(_MODEL["checkpoint_fields"])

CUSTOMER_FIELDS = ("role", "name", "phone_number", "email", "language", "id")

TAGS: tuple[str, ...] = (
    "Pending",
    "InfoReceived",
    "InTransit",
    "OutForDelivery",
    "AttemptFail",
    "Delivered",
    "AvailableForPickup",
    "Exception",
    "Expired",
)

# Documented sub-statuses whose normalised message is known. AfterShip adds sub-statuses without a
# version bump, so consumers must accept others; `advance()` accepts any `<Tag>_NNN`.
SUBTAG_MESSAGES: dict[str, str] = _MODEL["subtag_messages"]

DELIVERY_TYPES = ("pickup_at_store", "door_to_door", "pickup_at_courier")
SHIPMENT_DIRECTIONS = ("forward", "return")
SLUG_GROUPS: tuple[str, ...] = tuple(_MODEL["slug_groups"])
MARK_COMPLETED_REASONS = {
    "DELIVERED": ("Delivered", "Delivered_001"),
    "LOST": ("Exception", "Exception_013"),
    "RETURNED_TO_SENDER": ("Exception", "Exception_011"),
}

_STRING_FIELDS = (
    "id",
    "tracking_number",
    "slug",
    "title",
    "order_id",
    "order_id_path",
    "language",
    "pickup_location",
    "pickup_note",
    "tracking_account_number",
    "tracking_key",
    "tracking_ship_date",
    "origin_country_region",
    "origin_state",
    "origin_city",
    "origin_postal_code",
    "origin_raw_location",
    "destination_country_region",
    "destination_state",
    "destination_city",
    "destination_postal_code",
    "destination_raw_location",
    "note",
    "slug_group",
    "order_date",
    "order_number",
    "shipment_type",
    "courier_connection_id",
    "location_id",
    "shipping_method",
    "delivery_type",
    "shipment_direction",
)
# The flat POST /trackings body (CreateTrackingRequest).
CREATE_FIELDS = frozenset(
    (
        *_STRING_FIELDS,
        "custom_fields",
        "order_promised_delivery_date",
        "shipment_tags",
        "last_mile",
        "customers",
    )
)
# PUT /trackings/{id} (UpdateTrackingByIdRequest): no tracking number, id, group or shipment links.
UPDATE_FIELDS = frozenset(
    CREATE_FIELDS
    - {
        "id",
        "tracking_number",
        "slug_group",
        "courier_connection_id",
        "last_mile",
        "shipment_direction",
        "shipment_tags",
    }
)

TRACKING_NUMBER_MIN = 5
TRACKING_NUMBER_MAX = 100
_TRACKING_NUMBER_CHARS = re.compile(r"[A-Za-z0-9][A-Za-z0-9\-_./]*")
_ID = re.compile(r"[a-z0-9]{24,32}")
_LANGUAGE = re.compile(r"[a-z]{2}(-[A-Za-z]{2,4})?")
_POSTAL_CODE = re.compile(r"[A-Za-z0-9+\- ]{1,10}")
_TRACKING_KEY = re.compile(r"[A-Za-z0-9\-._]+")
_ACCOUNT_NUMBER = re.compile(r"[A-Za-z0-9]{1,512}")
_SHIP_DATE = re.compile(r"\d{8}|\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}:\d{2}(Z|[+-]\d{2}:?\d{2})?)?")
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
_PHONE = re.compile(r"\+?[0-9][0-9 ()\-]{4,19}")
_SUBTAG = re.compile(r"(?P<tag>[A-Za-z]+)_\d{3}")


# -- errors --------------------------------------------------------------------------------------
class ApiError(Exception):
    """An answer other than success, in AfterShip's envelope terms."""

    def __init__(self, status: int, code: int, message: str, type_: str = "BadRequest", data: Any = None):
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.type = type_
        self.data = {} if data is None else data

    def meta(self) -> dict:
        return {"code": self.code, "message": self.message, "type": self.type}


def bad_request(code: int, message: str) -> ApiError:
    return ApiError(400, code, message)


def value_invalid(field_name: str) -> ApiError:
    return bad_request(4008, f"The value of {field_name} is invalid.")


def tracking_not_found() -> ApiError:
    return ApiError(404, 4004, "Tracking does not exist.")


def invalid_json() -> ApiError:
    return bad_request(4001, "Invalid JSON data.")


def parse_json_object(body: bytes) -> dict:
    try:
        payload = json.loads(body.decode("utf-8")) if body.strip() else None
    except (UnicodeDecodeError, ValueError):
        raise invalid_json() from None
    if not isinstance(payload, dict):
        raise invalid_json()
    return payload


# -- time ----------------------------------------------------------------------------------------
def iso_utc(moment: datetime | None = None) -> str:
    """`YYYY-MM-DDTHH:mm:ss+00:00`, the form AfterShip uses for its own timestamps."""
    moment = moment or datetime.now(UTC)
    return moment.astimezone(UTC).replace(microsecond=0).isoformat()


def parse_iso(value: str) -> datetime | None:
    """An ISO 8601 date-time, naive ones read as UTC; None when it does not parse."""
    if not isinstance(value, str) or not value or len(value) < 10:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _parse_date_or_datetime(value: str) -> bool:
    if re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
        try:
            date.fromisoformat(value)
        except ValueError:
            return False
        return True
    return parse_iso(value) is not None and "T" in value


# -- validation ----------------------------------------------------------------------------------
def is_country_alpha3(value: str) -> bool:
    return isinstance(value, str) and len(value) == 3 and pycountry.countries.get(alpha_3=value) is not None


def country_name(alpha3: str | None) -> str | None:
    if not alpha3:
        return None
    country = pycountry.countries.get(alpha_3=alpha3)
    return country.name if country else None


def country_alpha2(alpha3: str | None) -> str | None:
    if not alpha3:
        return None
    country = pycountry.countries.get(alpha_3=alpha3)
    return country.alpha_2 if country else None


def check_tracking_number(value: Any) -> str:
    """4007 when absent, 4005 when it cannot be a tracking number at all (length, characters)."""
    if value is None or value == "":
        raise bad_request(4007, "tracking_number is required.")
    if not isinstance(value, str):
        raise bad_request(4005, "The value of tracking_number is invalid.")
    if not TRACKING_NUMBER_MIN <= len(value) <= TRACKING_NUMBER_MAX or not _TRACKING_NUMBER_CHARS.fullmatch(value):
        raise bad_request(4005, "The value of tracking_number is invalid.")
    return value


def _check_string_field(name: str, value: Any) -> str:
    if not isinstance(value, str):
        raise value_invalid(name)
    if name in ("origin_country_region", "destination_country_region") and not is_country_alpha3(value):
        raise value_invalid(name)
    if name == "language" and not _LANGUAGE.fullmatch(value):
        raise value_invalid(name)
    if name == "delivery_type" and value not in DELIVERY_TYPES:
        raise value_invalid(name)
    if name == "shipment_direction" and value not in SHIPMENT_DIRECTIONS:
        raise value_invalid(name)
    if name == "slug_group" and value not in SLUG_GROUPS:
        raise value_invalid(name)
    if name == "order_date" and parse_iso(value) is None:
        raise value_invalid(name)
    if name == "id" and not _ID.fullmatch(value):
        raise bad_request(4015, "The value of id is invalid.")
    # Carrier credential fields keep their own formats; a malformed one is a 4011 only when the
    # courier needs it, so these stay lenient here and are checked in `missing_required_fields`.
    return value


def _check_custom_fields(value: Any) -> dict:
    if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
        raise value_invalid("custom_fields")
    return dict(value)


def _check_promised_date(value: Any) -> dict:
    keys = ("promised_delivery_date", "promised_delivery_date_min", "promised_delivery_date_max")
    if not isinstance(value, dict) or set(value) - set(keys):
        raise value_invalid("order_promised_delivery_date")
    for key in keys:
        item = value.get(key)
        if item is not None and (not isinstance(item, str) or not _parse_date_or_datetime(item)):
            raise value_invalid("order_promised_delivery_date")
    return {key: value.get(key) for key in keys}


def _check_shipment_tags(value: Any) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise value_invalid("shipment_tags")
    return list(value)


def _check_last_mile(value: Any) -> dict:
    if not isinstance(value, dict) or set(value) - {"tracking_number", "slug"}:
        raise value_invalid("last_mile")
    for key in ("tracking_number", "slug"):
        if value.get(key) is not None and not isinstance(value[key], str):
            raise value_invalid(f"last_mile.{key}")
    return {
        "tracking_number": value.get("tracking_number"),
        "slug": value.get("slug"),
        "transit_time": None,
        "courier_tracking_link": None,
        "courier_redirect_link": None,
    }


def _check_customers(value: Any) -> list[dict]:
    # The API allows at most three customer objects per tracking.
    if not isinstance(value, list) or len(value) > 3:
        raise value_invalid("customers")
    customers = []
    for index, item in enumerate(value):
        if not isinstance(item, dict) or set(item) - set(CUSTOMER_FIELDS):
            raise value_invalid(f"customers[{index}]")
        for key, field_value in item.items():
            if field_value is not None and not isinstance(field_value, str):
                raise value_invalid(f"customers[{index}].{key}")
        email = item.get("email")
        if email and not _EMAIL.fullmatch(email):
            raise value_invalid(f"customers[{index}].email")
        phone = item.get("phone_number")
        if phone and not _PHONE.fullmatch(phone):
            raise value_invalid(f"customers[{index}].phone_number")
        language = item.get("language")
        if language and not _LANGUAGE.fullmatch(language):
            raise value_invalid(f"customers[{index}].language")
        customers.append({key: item.get(key) for key in CUSTOMER_FIELDS})
    return customers


_STRUCTURED = {
    "custom_fields": _check_custom_fields,
    "order_promised_delivery_date": _check_promised_date,
    "shipment_tags": _check_shipment_tags,
    "last_mile": _check_last_mile,
    "customers": _check_customers,
}


def check_fields(body: dict, allowed: frozenset[str]) -> dict:
    """Type- and format-check a create or update body; returns the cleaned fields (nulls dropped).

    Since 2025-01 a wrongly typed field is a 400 instead of being ignored.
    """
    cleaned: dict[str, Any] = {}
    for name, value in body.items():
        if name not in allowed:
            raise bad_request(400, f"The request was invalid or cannot be otherwise served. Unknown field: {name}")
        if value is None or name == "tracking_number":
            continue
        if name in _STRUCTURED:
            cleaned[name] = _STRUCTURED[name](value)
        else:
            cleaned[name] = _check_string_field(name, value)
    return cleaned


def missing_required_fields(courier: Courier, fields: dict) -> list[str]:
    """Names of the courier's extra fields that are absent or malformed (-> 4011)."""
    validators = {
        "destination_postal_code": lambda v: bool(_POSTAL_CODE.fullmatch(v)),
        "origin_postal_code": lambda v: bool(_POSTAL_CODE.fullmatch(v)),
        "tracking_ship_date": lambda v: bool(_SHIP_DATE.fullmatch(v)),
        "tracking_account_number": lambda v: bool(_ACCOUNT_NUMBER.fullmatch(v)),
        "tracking_key": lambda v: bool(_TRACKING_KEY.fullmatch(v)),
        "destination_state": lambda v: bool(v.strip()),
        "destination_country_region": is_country_alpha3,
        "origin_country_region": is_country_alpha3,
    }
    missing = []
    for name in courier.required_fields:
        value = fields.get(name)
        check = validators.get(name, lambda v: bool(v))
        if not isinstance(value, str) or not value or not check(value):
            missing.append(name)
    return missing


def courier_fields_error(missing: list[str]) -> ApiError:
    return bad_request(
        4011,
        "Missing or invalid value of the required fields for this courier. "
        f"Besides tracking_number, also required: {', '.join(missing)}",
    )


def check_subtag(tag: str, subtag: str | None) -> tuple[str, str]:
    if tag not in TAGS:
        raise ValueError(f"unknown tag {tag!r}; expected one of {', '.join(TAGS)}")
    subtag = subtag or f"{tag}_001"
    match = _SUBTAG.fullmatch(subtag)
    if not match or match.group("tag") != tag:
        raise ValueError(f"subtag {subtag!r} does not belong to tag {tag!r}")
    return tag, subtag


def subtag_message(subtag: str) -> str:
    tag = subtag.rsplit("_", 1)[0]
    return SUBTAG_MESSAGES.get(subtag, re.sub(r"(?<!^)(?=[A-Z])", " ", tag))


# -- building ------------------------------------------------------------------------------------
def new_tracking(
    *,
    tracking_id: str,
    tracking_number: str,
    courier: Courier,
    fields: dict,
    now: datetime,
    tracking_page_domain: str,
) -> dict:
    """A freshly created tracking: Pending, no checkpoints, every model key present."""
    stamp = iso_utc(now)
    data: dict[str, Any] = dict.fromkeys(TRACKING_FIELDS)
    data.update(
        {
            "id": tracking_id,
            "created_at": stamp,
            "updated_at": stamp,
            "tracking_number": tracking_number,
            "slug": courier.slug,
            "active": True,
            "source": "api",
            "tag": "Pending",
            "subtag": "Pending_001",
            "subtag_message": subtag_message("Pending_001"),
            "title": tracking_number,
            "tracked_count": 0,
            "checkpoints": [],
            "return_to_sender": False,
            "order_tags": [],
            "shipment_tags": [],
            "failed_delivery_attempts": 0,
            "customers": [],
            "proof_of_delivery": [],
            "shipment_direction": "forward",
            "courier_tracking_link": courier.link_for(tracking_number),
            "aftership_tracking_url": f"https://{tracking_page_domain}/{tracking_number}",
        }
    )
    for name, value in fields.items():
        if name in ("id", "slug", "slug_group"):
            continue
        data[name] = value
    return data


def checkpoint_hash(slug: str, checkpoint_time: str, message: str, location: str | None, subtag: str) -> str:
    raw = "|".join((slug, checkpoint_time, message, location or "", subtag))
    return hashlib.sha256(raw.encode("utf-8")).hexdigest()[:32]


@dataclass(frozen=True)
class Place:
    """Where a carrier scanned the parcel."""

    city: str | None
    country: str  # ISO 3166-1 alpha-3
    state: str | None = None
    postal_code: str | None = None
    latitude: float | None = None
    longitude: float | None = None
    tz: str = "UTC"

    def label(self) -> str:
        parts = [self.city, self.state, country_alpha2(self.country)]
        return ", ".join(p for p in parts if p)


def make_checkpoint(
    *,
    slug: str,
    tag: str,
    subtag: str,
    message: str,
    checkpoint_time: str,
    place: Place | None,
    raw_tag: str | None,
    events: list[dict] | None,
    source: str,
    now: datetime,
) -> dict:
    location = place.label() if place else None
    coordinate = None
    if place and place.latitude is not None and place.longitude is not None:
        coordinate = {"latitude": place.latitude, "longitude": place.longitude}
    return {
        "created_at": iso_utc(now),
        "slug": slug,
        "checkpoint_time": checkpoint_time,
        "location": location,
        "city": place.city if place else None,
        "state": place.state if place else None,
        "postal_code": place.postal_code if place else None,
        "coordinate": coordinate,
        "country_region": place.country if place else None,
        "country_region_name": country_name(place.country) if place else None,
        "message": message,
        "tag": tag,
        "subtag": subtag,
        "subtag_message": subtag_message(subtag),
        "raw_tag": raw_tag,
        "events": list(events or []),
        "source": source,
        "hash": checkpoint_hash(slug, checkpoint_time, message, location, subtag),
    }


def _edd_objects(day: date) -> dict[str, dict]:
    iso = day.isoformat()
    return {
        "courier_estimated_delivery_date": {
            "estimated_delivery_date": iso,
            "estimated_delivery_date_min": None,
            "estimated_delivery_date_max": None,
        },
        "aftership_estimated_delivery_date": {
            "estimated_delivery_date": iso,
            "confidence_code": None,
            "estimated_delivery_date_min": (day - timedelta(days=1)).isoformat(),
            "estimated_delivery_date_max": (day + timedelta(days=1)).isoformat(),
        },
    }


def _edd_range(day: date, *, with_reason: bool) -> dict:
    value: dict[str, Any] = {
        "type": "specific",
        "source": "Carrier EDD",
        "datetime": day.isoformat(),
        "datetime_min": None,
        "datetime_max": None,
    }
    if with_reason:  # only `latest_estimated_delivery` carries revise_reason
        value["revise_reason"] = None
    return value


def _naive(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        return datetime.fromisoformat(value).replace(tzinfo=None)
    except ValueError:
        return None


def apply_checkpoint(
    data: dict,
    checkpoint: dict,
    *,
    now: datetime,
    instant: float,
    instants: list[float],
    transit_days: int = 3,
) -> tuple[bool, bool]:
    """Add a checkpoint and bring the tracking-level fields in line with it.

    `instant` is the scan's absolute time and `instants` those of the checkpoints already there:
    checkpoint times are local to each scan, so they cannot be ordered as strings across borders.
    Returns (is_tracking_first_tag, estimated delivery revised).
    """
    tag = checkpoint["tag"]
    is_first_tag = all(c["tag"] != tag for c in data["checkpoints"])
    # AfterShip keeps checkpoints oldest first; a back-dated scan slots into place.
    position = bisect.bisect_right(instants, instant)
    instants.insert(position, instant)
    data["checkpoints"].insert(position, checkpoint)
    latest = data["checkpoints"][-1]
    data["tag"], data["subtag"], data["subtag_message"] = (
        latest["tag"],
        latest["subtag"],
        latest["subtag_message"],
    )
    data["updated_at"] = iso_utc(now)
    data["tracked_count"] = (data["tracked_count"] or 0) + 1
    when = checkpoint["checkpoint_time"]

    if tag == "InTransit" and not data["shipment_pickup_date"]:
        data["shipment_pickup_date"] = when
    if tag in ("InTransit", "OutForDelivery", "Delivered") and data["destination_country_region"]:
        data["courier_destination_country_region"] = data["destination_country_region"]
    if tag == "AttemptFail":
        data["failed_delivery_attempts"] = (data["failed_delivery_attempts"] or 0) + 1
    if tag in ("AttemptFail", "Delivered") and not data["first_attempted_at"]:
        data["first_attempted_at"] = when
    if checkpoint["subtag"] in ("Exception_010", "Exception_011"):
        data["return_to_sender"] = True

    edd_revised = False
    today = now.astimezone(UTC).date()
    latest_edd = data["latest_estimated_delivery"]
    current = date.fromisoformat(latest_edd["datetime"]) if latest_edd else None
    wanted = current
    if current is None and tag in ("InfoReceived", "InTransit", "OutForDelivery"):
        wanted = today + timedelta(days=0 if tag == "OutForDelivery" else transit_days)
    elif current is not None and tag == "AttemptFail":
        wanted = max(current, today) + timedelta(days=1)
    elif current is not None and tag == "OutForDelivery" and current != today:
        wanted = today
    if wanted != current and wanted is not None:
        data.update(_edd_objects(wanted))
        if data["first_estimated_delivery"] is None:
            data["first_estimated_delivery"] = _edd_range(wanted, with_reason=False)
        data["latest_estimated_delivery"] = _edd_range(wanted, with_reason=True)
        edd_revised = True

    pickup = _naive(data["shipment_pickup_date"])
    if tag == "Delivered":
        data["shipment_delivery_date"] = when
        data["active"] = False
        delivered = _naive(when)
        if pickup and delivered:
            data["transit_time"] = max((delivered.date() - pickup.date()).days, 0)
        if data["latest_estimated_delivery"] and delivered:
            promised = date.fromisoformat(data["latest_estimated_delivery"]["datetime"])
            late_by = (delivered.date() - promised).days
            data["on_time_status"] = "late" if late_by > 0 else "on-time"
            data["on_time_difference"] = max(late_by, 0)
    else:
        if pickup:
            data["transit_time"] = max((now.astimezone(UTC).replace(tzinfo=None).date() - pickup.date()).days, 0)
        if data["latest_estimated_delivery"] and tag not in ("Exception", "Expired"):
            data["on_time_status"] = "trending-on-time"
            data["on_time_difference"] = 0
    if checkpoint["subtag"] == "Exception_011":
        data["active"] = False
    return is_first_tag, edd_revised
