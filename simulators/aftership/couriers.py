"""The simulated account's courier catalogue: AfterShip slugs, the fields each courier needs, number patterns.

Patterns drive both auto-detection (POST /couriers/detect, create without `slug`) and the format check
behind 4017. Which couriers are "active" mirrors the account's courier settings in the AfterShip admin.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from ..base import load_data

# The courier fields GET /couriers exposes, in the order of the API's Courier model.
COURIER_FIELDS = (
    "slug",
    "name",
    "phone",
    "other_name",
    "web_url",
    "required_fields",
    "optional_fields",
    "default_language",
    "support_languages",
    "service_from_country_regions",
)


@dataclass
class Courier:
    slug: str
    name: str
    phone: str | None
    other_name: str | None
    web_url: str
    home_country: str  # ISO 3166-1 alpha-3, where the carrier's own network starts
    patterns: tuple[str, ...]
    tracking_link: str  # format string with {number}
    required_fields: tuple[str, ...] = ()
    optional_fields: tuple[str, ...] = ()
    default_language: str = "en"
    support_languages: tuple[str, ...] = ("en",)
    service_from_country_regions: tuple[str, ...] = ()
    active: bool = True
    # A courier whose numbers have a fixed published format rejects others with 4017 even when the
    # slug is given; loose ones accept any plausible number once the slug is explicit.
    strict_format: bool = False

    def __post_init__(self) -> None:
        self._compiled = [re.compile(p) for p in self.patterns]

    def matches(self, tracking_number: str) -> bool:
        return any(p.fullmatch(tracking_number) for p in self._compiled)

    def link_for(self, tracking_number: str) -> str:
        return self.tracking_link.format(number=tracking_number)

    def to_api(self) -> dict:
        return {
            "slug": self.slug,
            "name": self.name,
            "phone": self.phone,
            "other_name": self.other_name,
            "web_url": self.web_url,
            "required_fields": list(self.required_fields),
            "optional_fields": list(self.optional_fields),
            "default_language": self.default_language,
            "support_languages": list(self.support_languages),
            "service_from_country_regions": list(self.service_from_country_regions or (self.home_country,)),
        }


def default_couriers() -> list[Courier]:
    """A fresh copy of the default catalogue (data/couriers.json), in detection priority order."""
    return [
        Courier(**{key: tuple(value) if isinstance(value, list) else value for key, value in row.items()})
        for row in load_data(Path(__file__).with_name("data") / "couriers.json")
    ]
