"""The simulated account's courier catalogue: AfterShip slugs, the fields each courier needs, number patterns.

Patterns drive both auto-detection (POST /couriers/detect, create without `slug`) and the format check
behind 4017. Which couriers are "active" mirrors the account's courier settings in the AfterShip admin.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

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
    """A fresh copy of the default catalogue, in detection priority order."""
    return [
        Courier(
            slug="dhl",
            name="DHL Express",
            phone="+1 800 225 5345",
            other_name="DHL International",
            web_url="https://www.dhl.com/",
            home_country="DEU",
            patterns=(r"\d{10}",),
            tracking_link="https://www.dhl.com/global-en/home/tracking.html?tracking-id={number}",
            support_languages=("en", "de"),
            service_from_country_regions=("DEU", "USA", "GBR", "FRA", "NLD", "HKG", "CHN"),
            strict_format=True,
        ),
        Courier(
            slug="ups",
            name="UPS",
            phone="+1 800 742 5877",
            other_name="United Parcel Service",
            web_url="https://www.ups.com/",
            home_country="USA",
            patterns=(r"1Z[0-9A-Z]{16}",),
            tracking_link="https://www.ups.com/track?tracknum={number}",
            support_languages=("en", "de", "fr"),
            service_from_country_regions=("USA", "DEU", "FRA", "GBR", "CAN"),
            strict_format=True,
        ),
        Courier(
            slug="fedex",
            name="FedEx",
            phone="+1 800 247 4747",
            other_name="Federal Express",
            web_url="https://www.fedex.com/",
            home_country="USA",
            patterns=(r"\d{12}", r"\d{15}"),
            tracking_link="https://www.fedex.com/fedextrack/?trknbr={number}",
            service_from_country_regions=("USA", "CAN", "GBR", "FRA", "DEU"),
            strict_format=True,
        ),
        Courier(
            slug="usps",
            name="USPS",
            phone="+1 800 275 8777",
            other_name="United States Postal Service",
            web_url="https://www.usps.com/",
            home_country="USA",
            patterns=(r"9[2-5]\d{18,20}", r"[A-Z]{2}\d{9}US"),
            tracking_link="https://tools.usps.com/go/TrackConfirmAction?tLabels={number}",
            service_from_country_regions=("USA",),
            strict_format=True,
        ),
        Courier(
            slug="colissimo",
            name="Colissimo",
            phone="+33 3631",
            other_name="La Poste Colissimo",
            web_url="https://www.colissimo.fr/",
            home_country="FRA",
            patterns=(r"\d[A-Z]\d{11}", r"[A-Z]{2}\d{9}FR"),
            tracking_link="https://www.laposte.fr/outils/suivre-vos-envois?code={number}",
            default_language="fr",
            support_languages=("fr", "en"),
        ),
        Courier(
            slug="la-poste-colissimo",
            name="La Poste",
            phone="+33 3631",
            other_name="Coliposte",
            web_url="https://www.laposte.fr/",
            home_country="FRA",
            patterns=(r"\d[A-Z]\d{11}", r"[A-Z]{2}\d{9}FR"),
            tracking_link="https://www.laposte.fr/outils/suivre-vos-envois?code={number}",
            default_language="fr",
            support_languages=("fr", "en"),
            active=False,
        ),
        Courier(
            slug="royal-mail",
            name="Royal Mail",
            phone="+44 3457 740 740",
            other_name="Parcelforce Worldwide",
            web_url="https://www.royalmail.com/",
            home_country="GBR",
            patterns=(r"[A-Z]{2}\d{9}GB",),
            tracking_link="https://www.royalmail.com/track-your-item#/tracking-results/{number}",
            strict_format=True,
        ),
        Courier(
            slug="postnl-3s",
            name="PostNL International 3S",
            phone="+31 88 868 6161",
            other_name="TNT Post parcel service United Kingdom",
            web_url="https://www.postnl.nl/",
            home_country="NLD",
            patterns=(r"3S[A-Z0-9]{8,13}",),
            tracking_link="https://jouw.postnl.nl/track-and-trace/{number}",
            required_fields=("destination_postal_code", "destination_country_region"),
            default_language="nl",
            support_languages=("nl", "en"),
            service_from_country_regions=("NLD", "BEL"),
        ),
        Courier(
            slug="dhl-germany",
            name="Deutsche Post DHL",
            phone="+49 228 4333112",
            other_name="DHL Paket",
            web_url="https://www.dhl.de/",
            home_country="DEU",
            patterns=(r"00340\d{15}", r"JJD\d{16,18}"),
            tracking_link="https://www.dhl.de/de/privatkunden/dhl-sendungsverfolgung.html?piececode={number}",
            default_language="de",
            support_languages=("de", "en"),
        ),
        Courier(
            slug="dpd",
            name="DPD",
            phone="+49 1806 373 200",
            other_name="Dynamic Parcel Distribution",
            web_url="https://www.dpd.com/",
            home_country="DEU",
            patterns=(r"\d{14}",),
            tracking_link="https://tracking.dpd.de/status/en_US/parcel/{number}",
            support_languages=("en", "de", "fr"),
            service_from_country_regions=("DEU", "FRA", "NLD", "BEL", "AUT"),
        ),
        Courier(
            slug="gls",
            name="GLS",
            phone="+49 6677 646 907 000",
            other_name="General Logistics Systems",
            web_url="https://gls-group.com/",
            home_country="DEU",
            patterns=(r"\d{11}", r"\d{12}"),
            tracking_link="https://gls-group.com/track/{number}",
            support_languages=("en", "de", "fr"),
            service_from_country_regions=("DEU", "FRA", "NLD", "BEL", "AUT", "ITA"),
        ),
        Courier(
            slug="sf-express",
            name="S.F. Express",
            phone="+86 95338",
            other_name="SF Express",
            web_url="https://www.sf-express.com/",
            home_country="CHN",
            patterns=(r"SF\d{12,13}",),
            tracking_link="https://www.sf-express.com/chn/en/waybill/waybill-detail/{number}",
            default_language="zh-Hans",
            support_languages=("zh-Hans", "en"),
            service_from_country_regions=("CHN", "HKG"),
        ),
        Courier(
            slug="canada-post",
            name="Canada Post",
            phone="+1 866 607 6301",
            other_name="Postes Canada",
            web_url="https://www.canadapost-postescanada.ca/",
            home_country="CAN",
            patterns=(r"\d{16}", r"[A-Z]{2}\d{9}CA"),
            tracking_link="https://www.canadapost-postescanada.ca/track-reperage/en#/search?searchFor={number}",
            support_languages=("en", "fr"),
            active=False,
        ),
        Courier(
            slug="australia-post",
            name="Australia Post",
            phone="+61 13 13 18",
            other_name="AusPost",
            web_url="https://auspost.com.au/",
            home_country="AUS",
            patterns=(r"[A-Z]{2}\d{9}AU", r"[A-Z0-9]{3}\d{8}"),
            tracking_link="https://auspost.com.au/mypost/track/details/{number}",
            active=False,
        ),
        Courier(
            slug="japan-post",
            name="Japan Post",
            phone="+81 570 046 111",
            other_name="Nippon Yubin",
            web_url="https://www.post.japanpost.jp/",
            home_country="JPN",
            patterns=(r"[A-Z]{2}\d{9}JP",),
            tracking_link="https://trackings.post.japanpost.jp/services/srv/search/direct?reqCodeNo1={number}",
            default_language="ja",
            support_languages=("ja", "en"),
            active=False,
        ),
        Courier(
            slug="dpd-uk",
            name="DPD UK",
            phone="+44 121 275 0500",
            other_name="DPD Local",
            web_url="https://www.dpd.co.uk/",
            home_country="GBR",
            patterns=(r"\d{10}", r"\d{14}"),
            tracking_link="https://track.dpd.co.uk/parcels/{number}",
            required_fields=("destination_postal_code",),
            active=False,
        ),
        Courier(
            slug="dhl-global-forwarding",
            name="DHL Global Forwarding",
            phone="+1 800 225 5345",
            other_name="DHL Freight",
            web_url="https://www.dhl.com/global-en/home/our-divisions/global-forwarding.html",
            home_country="DEU",
            patterns=(r"\d{7}", r"[A-Z]{3}\d{7}"),
            tracking_link="https://www.dhl.com/global-en/home/tracking/tracking-freight.html?tracking-id={number}",
            required_fields=("tracking_ship_date",),
            optional_fields=("tracking_account_number",),
            active=False,
        ),
    ]
