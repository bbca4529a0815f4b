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
from pathlib import Path

from ..base import load_data
from .trackings import Place

EU = frozenset({"DEU", "FRA", "NLD", "BEL", "AUT", "ITA", "ESP", "LUX", "POL", "DNK", "IRL", "PRT", "SWE"})

# data/places.json: per country (ISO alpha-3) its time zone and places as (city, state, postal code,
# latitude, longitude); the first is the carrier's usual export hub, the rest are sorting centres and
# delivery depots.
_PLACES = Path(__file__).with_name("data") / "places.json"


def places_in(country: str) -> list[Place]:
    known = load_data(_PLACES).get(country)
    if known is None:
        return [Place(city=None, country=country)]
    return [
        Place(city=c, state=s, postal_code=p, latitude=la, longitude=lo, country=country, tz=known["tz"])
        for c, s, p, la, lo in known["places"]
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

    def _run(self) -> None:
        while not self._stop.wait(self.step_seconds):
            self.tick()
