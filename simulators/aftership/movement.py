"""Carriers moving parcels: a journey planned per tracking at creation, played back in accelerated time.

Each journey is drawn from a generator seeded by the simulator seed, the courier and the number, so
the same tracking always travels the same way. Most parcels are delivered; about one in ten has a
failed attempt first and about one in ten ends in an exception (lost, or returned to sender).
"""

from __future__ import annotations

import random
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

from .trackings import Place

EU = frozenset({"DEU", "FRA", "NLD", "BEL", "AUT", "ITA", "ESP", "LUX", "POL", "DNK", "IRL", "PRT", "SWE"})

# (city, state, postal code, latitude, longitude) per country; the first is the carrier's usual
# export hub, the rest are sorting centres and delivery depots.
_PLACES: dict[str, tuple[str, list[tuple[str, str | None, str | None, float, float]]]] = {
    "DEU": (
        "Europe/Berlin",
        [
            ("Leipzig", "Sachsen", "04435", 51.4233, 12.2362),
            ("Hamburg", "Hamburg", "20095", 53.5511, 9.9937),
            ("Köln", "Nordrhein-Westfalen", "50667", 50.9375, 6.9603),
            ("Frankfurt am Main", "Hessen", "60311", 50.1109, 8.6821),
            ("Berlin", "Berlin", "10115", 52.5200, 13.4050),
            ("München", "Bayern", "80331", 48.1351, 11.5820),
        ],
    ),
    "FRA": (
        "Europe/Paris",
        [
            ("Roissy-en-France", "Île-de-France", "95700", 49.0097, 2.5479),
            ("Chilly-Mazarin", "Île-de-France", "91380", 48.7060, 2.3160),
            ("Lyon", "Auvergne-Rhône-Alpes", "69002", 45.7640, 4.8357),
            ("Marseille", "Provence-Alpes-Côte d'Azur", "13001", 43.2965, 5.3698),
            ("Bordeaux", "Nouvelle-Aquitaine", "33000", 44.8378, -0.5792),
        ],
    ),
    "USA": (
        "America/New_York",
        [
            ("Louisville", "KY", "40209", 38.1744, -85.7360),
            ("Memphis", "TN", "38118", 35.0421, -89.9792),
            ("Chicago", "IL", "60666", 41.9742, -87.9073),
            ("New York", "NY", "10001", 40.7506, -73.9972),
            ("Los Angeles", "CA", "90045", 33.9416, -118.4085),
        ],
    ),
    "GBR": (
        "Europe/London",
        [
            ("London Heathrow", "England", "TW6 2GA", 51.4700, -0.4543),
            ("Coventry", "England", "CV3 4PQ", 52.4068, -1.5197),
            ("Birmingham", "England", "B1 1BB", 52.4862, -1.8904),
            ("Manchester", "England", "M1 1AE", 53.4808, -2.2426),
        ],
    ),
    "NLD": (
        "Europe/Amsterdam",
        [
            ("Amsterdam", "Noord-Holland", "1043 AA", 52.3676, 4.9041),
            ("Nieuwegein", "Utrecht", "3439 LM", 52.0290, 5.0890),
            ("Rotterdam", "Zuid-Holland", "3011 AA", 51.9244, 4.4777),
            ("Utrecht", "Utrecht", "3511 AA", 52.0907, 5.1214),
        ],
    ),
    "BEL": (
        "Europe/Brussels",
        [
            ("Brussels", "Brussels", "1000", 50.8503, 4.3517),
            ("Antwerpen", "Antwerpen", "2000", 51.2194, 4.4025),
            ("Gent", "Oost-Vlaanderen", "9000", 51.0543, 3.7174),
        ],
    ),
    "CAN": (
        "America/Toronto",
        [
            ("Mississauga", "ON", "L5P 1B2", 43.6777, -79.6248),
            ("Toronto", "ON", "M5V 2T6", 43.6532, -79.3832),
            ("Montréal", "QC", "H3B 4W8", 45.5017, -73.5673),
        ],
    ),
    "AUS": (
        "Australia/Sydney",
        [
            ("Sydney", "NSW", "2020", -33.9399, 151.1753),
            ("Melbourne", "VIC", "3000", -37.8136, 144.9631),
            ("Brisbane", "QLD", "4000", -27.4698, 153.0251),
        ],
    ),
    "JPN": (
        "Asia/Tokyo",
        [
            ("Tokyo", "Tokyo", "100-0001", 35.6762, 139.6503),
            ("Osaka", "Osaka", "530-0001", 34.6937, 135.5023),
        ],
    ),
    "CHN": (
        "Asia/Shanghai",
        [
            ("Shenzhen", "Guangdong", "518000", 22.5431, 114.0579),
            ("Shanghai", "Shanghai", "200000", 31.2304, 121.4737),
        ],
    ),
    "HKG": ("Asia/Hong_Kong", [("Hong Kong", None, None, 22.3080, 113.9185)]),
    "ITA": (
        "Europe/Rome",
        [("Milano", "Lombardia", "20121", 45.4642, 9.1900), ("Roma", "Lazio", "00118", 41.9028, 12.4964)],
    ),
    "ESP": (
        "Europe/Madrid",
        [
            ("Madrid", "Madrid", "28001", 40.4168, -3.7038),
            ("Barcelona", "Cataluña", "08001", 41.3874, 2.1686),
        ],
    ),
    "AUT": (
        "Europe/Vienna",
        [("Wien", "Wien", "1010", 48.2082, 16.3738), ("Linz", "Oberösterreich", "4020", 48.3069, 14.2858)],
    ),
}


def places_in(country: str) -> list[Place]:
    tz, rows = _PLACES.get(country, ("UTC", []))
    if not rows:
        return [Place(city=None, country=country)]
    return [
        Place(city=c, state=s, postal_code=p, latitude=la, longitude=lo, country=country, tz=tz)
        for c, s, p, la, lo in rows
    ]


@dataclass(frozen=True)
class Step:
    """One carrier scan to play back."""

    tag: str
    subtag: str
    message: str
    place: Place | None
    raw_tag: str
    events: tuple[dict, ...] = ()
    signed_by: str | None = None


@dataclass
class Journey:
    """The planned scans of one tracking; `None` entries are ticks where the carrier says nothing."""

    outcome: str
    steps: list[Step | None]
    transit_days: int
    position: int = 0

    @property
    def finished(self) -> bool:
        return self.position >= len(self.steps)

    def remaining(self) -> list[Step | None]:
        return self.steps[self.position :]


_SIGNERS = ("DUPONT", "MÜLLER", "SMITH", "JANSEN", "ROSSI", "GARCIA", "TANAKA", "MARTIN")


def _event(code: str) -> dict:
    return {"code": code, "reason": {"code": None}}


def plan_journey(
    *,
    seed: int | str | None,
    slug: str,
    tracking_number: str,
    origin: str,
    destination: str,
    destination_city: str | None = None,
    destination_postal_code: str | None = None,
) -> Journey:
    """A realistic, reproducible sequence of scans from `origin` to `destination` (ISO alpha-3)."""
    rng = random.Random(f"{seed}|{slug}|{tracking_number}")
    origin_places = places_in(origin)
    dest_places = places_in(destination)
    pickup_place = rng.choice(origin_places[1:] or origin_places)
    export_hub = origin_places[0]
    import_hub = dest_places[0]
    depot = rng.choice(dest_places[1:] or dest_places)
    if destination_city:
        depot = Place(
            city=destination_city,
            country=destination,
            postal_code=destination_postal_code,
            state=depot.state if depot.city == destination_city else None,
            tz=depot.tz,
        )
    cross_border = origin != destination
    customs = cross_border and not (origin in EU and destination in EU)

    steps: list[Step | None] = [None] * rng.randint(0, 1)  # some carriers are slow to send label data
    steps.append(Step("InfoReceived", "InfoReceived_001", "Shipment information received", None, "IR"))
    steps.append(Step("InTransit", "InTransit_002", "Picked up by courier", pickup_place, "PU", (_event("picked_up"),)))
    steps.append(Step("InTransit", "InTransit_003", "Arrived at sort facility", export_hub, "AR"))
    steps.append(Step("InTransit", "InTransit_007", "Departed from sort facility", export_hub, "DP"))
    if cross_border:
        steps.append(Step("InTransit", "InTransit_004", "Arrived in destination country", import_hub, "AD"))
        if customs:
            steps.append(Step("InTransit", "InTransit_006", "Customs clearance started", import_hub, "CC"))
            steps.append(Step("InTransit", "InTransit_005", "Customs clearance completed", import_hub, "CR"))
    steps.append(Step("InTransit", "InTransit_003", "Arrived at delivery facility", depot, "AF"))

    roll = rng.random()
    if roll < 0.05:
        outcome = "lost"
        # The parcel vanishes somewhere in the network: cut the journey short and declare it lost.
        steps = steps[: max(3, len(steps) - 2)]
        steps.append(Step("Exception", "Exception_013", "Shipment lost in transit", None, "LS"))
    elif roll < 0.10:
        outcome = "returned"
        steps.append(Step("OutForDelivery", "OutForDelivery_001", "Out for delivery", depot, "OD"))
        steps.append(Step("Exception", "Exception_007", "Incorrect address, delivery not possible", depot, "IA"))
        steps.append(Step("Exception", "Exception_010", "Returning to sender", depot, "RS"))
        steps.append(Step("InTransit", "InTransit_003", "Arrived at sort facility", export_hub, "AR"))
        steps.append(
            Step(
                "Exception",
                "Exception_011",
                "Returned to sender",
                pickup_place,
                "RT",
                (_event("returned_to_sender"),),
            )
        )
    elif roll < 0.20:
        outcome = "attempt_fail"
        steps.append(Step("OutForDelivery", "OutForDelivery_001", "Out for delivery", depot, "OD"))
        steps.append(Step("AttemptFail", "AttemptFail_002", "Delivery attempted, recipient not available", depot, "NA"))
        if rng.random() < 0.5:
            steps.append(
                Step(
                    "AvailableForPickup",
                    "AvailableForPickup_001",
                    "Available for pickup at service point",
                    depot,
                    "PK",
                )
            )
            steps.append(
                Step(
                    "Delivered",
                    "Delivered_002",
                    "Picked up by the customer",
                    depot,
                    "DL",
                    (_event("picked_up_by_customer"),),
                )
            )
        else:
            steps.append(Step("OutForDelivery", "OutForDelivery_001", "Out for delivery", depot, "OD"))
            steps.append(Step("Delivered", "Delivered_001", "Delivered", depot, "DL"))
    else:
        outcome = "delivered"
        steps.append(Step("OutForDelivery", "OutForDelivery_001", "Out for delivery", depot, "OD"))
        if rng.random() < 0.3:
            signer = rng.choice(_SIGNERS)
            steps.append(
                Step(
                    "Delivered",
                    "Delivered_003",
                    f"Delivered, signed for by {signer}",
                    depot,
                    "DL",
                    (_event("signed_by_customer"),),
                    signed_by=signer,
                )
            )
        else:
            steps.append(Step("Delivered", "Delivered_001", "Delivered", depot, "DL"))
    transit_days = rng.randint(3, 6) if cross_border else rng.randint(1, 3)
    return Journey(outcome=outcome, steps=steps, transit_days=transit_days)


@dataclass
class Carriers:
    """The background thread that plays every journey forward, one tick every `step_seconds`."""

    tick: Callable[[], int]
    step_seconds: float = 5.0
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def start(self) -> None:
        if self._thread is not None:
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="aftership-carriers", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    @property
    def running(self) -> bool:
        return self._thread is not None

    def _run(self) -> None:
        while not self._stop.wait(self.step_seconds):
            self.tick()
