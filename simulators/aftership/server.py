"""The AfterShip Tracking API 2026-07 simulator: routes, authentication, envelope, rate limits, faults.

`AfterShipSimulator` is a real HTTP server. Tests, the benchmark and the demo drive it over the wire
exactly as the portal drives AfterShip, and steer it through the helpers below (`advance`, `emit`,
`start_carriers`, fault switches, `stats`).
"""

from __future__ import annotations

import base64
import contextlib
import copy
import random
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from ..base import Request, Response, SimulatorServer
from . import trackings as tr
from .couriers import Courier, default_couriers
from .movement import Carriers, Journey, Step, plan_journey
from .trackings import API_VERSION, ApiError, Place
from .webhooks import (
    EVENTS,
    MAX_URLS,
    USER_AGENT,
    WebhookEmitter,
    WebhookEvent,
    encode_body,
    sign,
)

BASE_PATH = f"/tracking/{API_VERSION}"
DEFAULT_API_KEY = "asat_test_key"
DEFAULT_WEBHOOK_SECRET = "whsec-current"
TRACKING_PAGE_DOMAIN = "shiptrack.aftership.com"
MAX_RETRACKS = 3
# The chance that a parcel moves at each tick of the background carriers, so parcels drift apart.
CARRIER_MOVE_SHARE = 0.75

# Requests per second per endpoint (AfterShip's per-endpoint limits since 2024-07).
DEFAULT_RATE_LIMITS: dict[str, int] = {
    "GET /trackings": 6,
    "POST /trackings": 20,
    "GET /trackings/:id": 5,
    "PUT /trackings/:id": 5,
    "DELETE /trackings/:id": 5,
    "POST /trackings/:id/retrack": 5,
    "POST /trackings/:id/mark-as-completed": 5,
    "GET /couriers": 5,
    "POST /couriers/detect": 3,
}
_OTHER_ENDPOINT_LIMIT = 5

MSG_NOT_FOUND = "The URI requested is invalid or the resource requested does not exist."
MSG_UNAUTHORIZED = "The API Key is invalid."
MSG_RATE_LIMITED = "You have exceeded the API call rate limit. Please retry again at X-RateLimit-Reset."
MSG_INTERNAL = "Something went wrong on AfterShip's end."


@dataclass
class Stats:
    """Counters for tests and the benchmark; `snapshot()` gives a plain dict."""

    requests: Counter = field(default_factory=Counter)  # by endpoint key, e.g. "POST /trackings"
    rate_limited: int = 0
    rate_limited_by_endpoint: Counter = field(default_factory=Counter)
    quota_exceeded: int = 0
    unauthorized: int = 0
    created: int = 0
    faults: int = 0
    failed_after_commit: int = 0

    def snapshot(self) -> dict:
        return {
            "requests": dict(self.requests),
            "rate_limited": self.rate_limited,
            "rate_limited_by_endpoint": dict(self.rate_limited_by_endpoint),
            "quota_exceeded": self.quota_exceeded,
            "unauthorized": self.unauthorized,
            "created": self.created,
            "faults": self.faults,
            "failed_after_commit": self.failed_after_commit,
        }


@dataclass
class _Stored:
    data: dict
    seq: int
    journey: Journey | None = None
    retracks: int = 0
    instants: list[float] = field(default_factory=list)  # absolute time of each checkpoint, in order


class AfterShipSimulator(SimulatorServer):
    """AfterShip's Tracking API (2026-07) and webhook delivery, over real HTTP.

    Point a client at `base_url` (or at `url` and let it append `/tracking/2026-07`). Switches a
    test may flip, all put back by `reset(configuration=True)`:

    - `api_keys` (list), `rate_limits` ({"POST /trackings": 20, ...}), `daily_quota`, `clock`
      (Unix-seconds callable behind timestamps and rate windows);
    - `duplicate_status` (400, or 409), `fail_after_commit_rate` (create, then answer 500), `faults`
      (base switches);
    - `webhook_urls` (<= 10), `webhook_secret`, `webhook_timeout`, `webhook_event_types`
      ({"tracking_update"}; add "edd_revise"), `time_scale` (multiplies the retry delays);
    - `couriers` (slug -> `Courier`, the catalogue of data/couriers.json).
    """

    name = "aftership"

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        api_keys: Iterable[str] = (DEFAULT_API_KEY,),
        webhook_urls: Iterable[str] = (),
        webhook_secret: str = DEFAULT_WEBHOOK_SECRET,
        webhook_timeout: float = 10.0,
        time_scale: float = 1.0,
        seed: int | None = None,
        daily_quota: int | None = None,
        duplicate_status: int = 400,
    ):
        super().__init__(host, port, seed=seed)
        self.seed = seed
        self._initial = {
            "api_keys": list(api_keys),
            "webhook_urls": list(webhook_urls),
            "webhook_secret": webhook_secret,
            "webhook_timeout": webhook_timeout,
            "time_scale": time_scale,
            "daily_quota": daily_quota,
            "duplicate_status": duplicate_status,
        }
        self.stats = Stats()
        self._store: dict[str, _Stored] = {}
        self._seq = 0
        self._windows: dict[tuple[str, str], tuple[int, int]] = {}
        self._quota: tuple[str, int] = ("", 0)
        self._webhooks = WebhookEmitter(time_scale=lambda: self.time_scale, timeout=webhook_timeout)
        self._carriers = Carriers(tick=lambda: self.step_carriers(CARRIER_MOVE_SHARE))
        self._movement_random = random.Random(seed)
        self._tick_lock = threading.Lock()
        self._configure()

    def _configure(self) -> None:
        """Apply the constructor's configuration and the documented defaults of every switch."""
        initial = self._initial
        self.api_keys: list[str] = list(initial["api_keys"])
        self.webhook_urls = initial["webhook_urls"]
        self.webhook_secret: str = initial["webhook_secret"]
        self.webhook_timeout = initial["webhook_timeout"]
        # Events the account subscribes to; AfterShip lets the admin pick them per URL.
        self.webhook_event_types: set[str] = {"tracking_update"}
        self.time_scale: float = initial["time_scale"]
        self.daily_quota: int | None = initial["daily_quota"]
        self.duplicate_status: int = initial["duplicate_status"]
        self.fail_after_commit_rate = 0.0
        self.rate_limits: dict[str, int] = dict(DEFAULT_RATE_LIMITS)
        self.clock: Callable[[], float] = time.time
        self.couriers: dict[str, Courier] = {c.slug: c for c in default_couriers()}

    # -- configuration --------------------------------------------------------------------------
    @property
    def base_url(self) -> str:
        """Where a client points its API base: `<url>/tracking/2026-07`."""
        return self.url + BASE_PATH

    @property
    def webhook_urls(self) -> list[str]:
        return list(self._webhook_urls)

    @webhook_urls.setter
    def webhook_urls(self, urls: Iterable[str]) -> None:
        urls = list(urls)
        if len(urls) > MAX_URLS:
            raise ValueError(f"AfterShip accepts at most {MAX_URLS} webhook URLs, got {len(urls)}")
        self._webhook_urls = urls

    @property
    def webhook_timeout(self) -> float:
        return self._webhooks.timeout

    @webhook_timeout.setter
    def webhook_timeout(self, seconds: float) -> None:
        self._webhooks.timeout = seconds

    def now(self) -> datetime:
        """The simulator's time; tests move it by replacing `clock` (Unix seconds)."""
        return datetime.fromtimestamp(self.clock(), UTC)

    # -- lifecycle ------------------------------------------------------------------------------
    def on_start(self) -> None:
        self._webhooks.start()

    def on_stop(self) -> None:
        self._carriers.stop()
        self._webhooks.stop()

    def start_carriers(self, step_seconds: float = 5.0) -> None:
        """Move every active tracking one scan forward every `step_seconds` on a background thread."""
        self._carriers.step_seconds = step_seconds
        self._carriers.start()

    def stop_carriers(self) -> None:
        self._carriers.stop()

    def reset(self, *, configuration: bool = False) -> None:
        """Forget all trackings, counters, windows, deliveries and faults.

        With `configuration=True` also put back the constructor's settings and every switch's
        default (keys, webhook settings, limits, quota, clock, courier catalogue), so one running
        simulator can serve many tests.
        """
        with self.lock:
            self._store.clear()
            self._seq = 0
            self._windows.clear()
            self._quota = ("", 0)
            self.stats = Stats()
            self.request_log.clear()
            if self.seed is not None:
                self.random.seed(self.seed)
                self._movement_random.seed(self.seed)
            if configuration:
                self._configure()
        self.faults.reset()
        self._webhooks.clear()

    # -- inspection -----------------------------------------------------------------------------
    @property
    def trackings(self) -> dict[str, dict]:
        """Every tracking by id, as GET /trackings/{id} would return it (copies)."""
        with self.lock:
            return {tid: copy.deepcopy(s.data) for tid, s in self._store.items()}

    def find(self, slug: str, tracking_number: str) -> dict | None:
        with self.lock:
            stored = self._by_key(slug, tracking_number)
            return copy.deepcopy(stored.data) if stored else None

    def journey(self, tracking: str) -> Journey | None:
        """The scans planned for a tracking (id or number), for tests that want to know the ending."""
        with self.lock:
            return self._resolve(tracking).journey

    @property
    def webhook_deliveries(self) -> list:
        """Every delivery attempt so far (`WebhookDelivery`: event_id, url, attempt, status, error, at)."""
        return self._webhooks.delivery_history()

    def wait_for_webhooks(self, timeout: float = 10.0) -> bool:
        """Block until no webhook attempt is queued or in flight (held events excluded)."""
        return self._webhooks.wait_idle(timeout)

    # -- steering -------------------------------------------------------------------------------
    def create_tracking(self, body: dict) -> dict:
        """Create a tracking as POST /trackings would, without HTTP; raises `ApiError` on refusal."""
        return copy.deepcopy(self._create(body))

    def advance(
        self,
        tracking: str,
        tag: str,
        subtag: str | None = None,
        *,
        message: str | None = None,
        location: Place | dict | str | None = None,
        checkpoint_time: str | None = None,
        raw_tag: str | None = None,
        events: list[dict] | None = None,
        signed_by: str | None = None,
        source: str = "carrier",
        emit: bool = True,
    ) -> dict:
        """Add a carrier checkpoint to a tracking (id or number), update it, and send the webhook.

        `location` is a `Place`, a dict of Place fields (`city`, `country` alpha-3, `state`,
        `postal_code`, ...) or a free-text location. `checkpoint_time` defaults to now at the place.
        Returns the checkpoint.
        """
        tag, subtag = tr.check_subtag(tag, subtag)
        place = _to_place(location)
        with self.lock:
            stored = self._resolve(tracking)
            now = self.now()
            when = checkpoint_time or _local_now(place, now)
            checkpoint = tr.make_checkpoint(
                slug=stored.data["slug"],
                tag=tag,
                subtag=subtag,
                message=message or tr.subtag_message(subtag),
                checkpoint_time=when,
                place=place,
                raw_tag=raw_tag,
                events=events,
                source=source,
                now=now,
            )
            if isinstance(location, str):
                checkpoint["location"] = location
                checkpoint["hash"] = tr.checkpoint_hash(
                    checkpoint["slug"], when, checkpoint["message"], location, subtag
                )
            transit_days = stored.journey.transit_days if stored.journey else 3
            first_tag, edd_revised = tr.apply_checkpoint(
                stored.data,
                checkpoint,
                now=now,
                instant=_instant(when, place, now) if checkpoint_time else now.timestamp(),
                instants=stored.instants,
                transit_days=transit_days,
            )
            if signed_by:
                stored.data["signed_by"] = signed_by
            if source == "user":  # marked as completed: AfterShip stops tracking it
                stored.data["active"] = False
            snapshot = copy.deepcopy(stored.data)
        if emit:
            if "tracking_update" in self.webhook_event_types:
                self._emit(snapshot, "tracking_update", first_tag)
            if edd_revised and "edd_revise" in self.webhook_event_types:
                self._emit(snapshot, "edd_revise", first_tag)
        return copy.deepcopy(checkpoint)

    def emit(self, tracking: str, event: str = "tracking_update", *, is_tracking_first_tag: bool = False) -> str:
        """Send a webhook for the tracking's current state now; returns the event_id."""
        if event not in EVENTS:
            raise ValueError(f"unknown webhook event {event!r}")
        with self.lock:
            snapshot = copy.deepcopy(self._resolve(tracking).data)
        return self._emit(snapshot, event, is_tracking_first_tag)

    def redeliver(self, event_id: str, urls: Iterable[str] | None = None) -> None:
        """Send an already delivered event again, byte for byte (AfterShip's duplicates and late replays)."""
        event = self._webhooks.event_history()[event_id]
        self._webhooks.submit(event, list(urls) if urls is not None else self.webhook_urls)

    def pause_webhooks(self) -> None:
        """Hold new webhook events back (they are composed and signed, not sent) until `release_webhooks`."""
        self._webhooks.pause()

    def release_webhooks(self, order: str = "fifo") -> None:
        """Send the held events one after another: "fifo", or "reverse" (out of order)."""
        self._webhooks.resume(order)

    def step_carriers(self, share: float = 1.0) -> int:
        """Move active trackings one tick along their journey now; returns the scans made.

        `share` is the chance that a given parcel moves this tick (the background carriers use
        `CARRIER_MOVE_SHARE`, so parcels drift apart instead of moving in lockstep).
        """
        with self._tick_lock:
            with self.lock:
                due: list[tuple[str, Step]] = []
                for tid, stored in sorted(self._store.items(), key=lambda item: item[1].seq):
                    journey = stored.journey
                    if journey is None or journey.finished or not stored.data["active"]:
                        continue
                    if share < 1.0 and self._movement_random.random() >= share:
                        continue
                    step = journey.steps[journey.position]
                    journey.position += 1
                    if step is not None:
                        due.append((tid, step))
            for tid, step in due:
                with contextlib.suppress(KeyError):  # deleted since the tick was planned
                    self.advance(
                        tid,
                        step.tag,
                        step.subtag,
                        message=step.message,
                        location=step.place,
                        raw_tag=step.raw_tag,
                        events=list(step.events),
                        signed_by=step.signed_by,
                    )
            return len(due)

    # -- HTTP -----------------------------------------------------------------------------------
    def handle(self, request: Request) -> Response:
        path = request.path.rstrip("/") or "/"
        if path != BASE_PATH and not path.startswith(BASE_PATH + "/"):
            return self._error_response(ApiError(404, 404, MSG_NOT_FOUND, "NotFound"), "other")
        route = _route(request.method, path[len(BASE_PATH) :])
        endpoint = route[0] if route else "other"
        api_key = request.headers.get("as-api-key")
        with self.lock:
            self.stats.requests[endpoint] += 1
            if not api_key or api_key not in self.api_keys:
                self.stats.unauthorized += 1
                return self._error_response(ApiError(401, 401, MSG_UNAUTHORIZED, "Unauthorized"), endpoint)
            if route is None:
                return self._error_response(ApiError(404, 404, MSG_NOT_FOUND, "NotFound"), endpoint)
            limited, headers = self._take_token(api_key, endpoint)
        if limited is not None:
            return self._envelope(429, limited.meta(), {}, headers)
        _, handler, params = route
        try:
            status, data = handler(self, request, *params)
        except ApiError as exc:
            return self._envelope(exc.status, exc.meta(), exc.data, headers)
        meta = {"code": status}
        return self._envelope(status, meta, data, headers)

    def fault_response(self, request: Request, kind: str) -> Response:
        with self.lock:
            self.stats.faults += 1
        status = 503 if kind == "outage" else self.random.choice((500, 502, 503))
        return self._envelope(status, {"code": status, "message": MSG_INTERNAL, "type": "InternalError"}, {}, {})

    def crash_response(self, request: Request, exc: Exception) -> Response:
        return self._envelope(500, {"code": 500, "message": MSG_INTERNAL, "type": "InternalError"}, {}, {})

    def _envelope(self, status: int, meta: dict, data: Any, headers: dict[str, str]) -> Response:
        all_headers = {"as-api-version": API_VERSION, **headers}
        return Response.json({"meta": meta, "data": data}, status=status, headers=all_headers)

    def _error_response(self, error: ApiError, endpoint: str) -> Response:
        limit = self.rate_limits.get(endpoint, _OTHER_ENDPOINT_LIMIT)
        now = self.clock()
        headers = _rate_headers(limit, limit, int(now) + 1)
        return self._envelope(error.status, error.meta(), error.data, headers)

    def _take_token(self, api_key: str, endpoint: str) -> tuple[ApiError | None, dict[str, str]]:
        """Count one call in the key's fixed one-second window for this endpoint and the daily quota."""
        now = self.clock()
        window = int(now)
        limit = self.rate_limits.get(endpoint, _OTHER_ENDPOINT_LIMIT)
        start, used = self._windows.get((api_key, endpoint), (window, 0))
        if start != window:
            used = 0
        if used >= limit:
            self.stats.rate_limited += 1
            self.stats.rate_limited_by_endpoint[endpoint] += 1
            return ApiError(429, 429, MSG_RATE_LIMITED, "TooManyRequests"), _rate_headers(limit, 0, window + 1)
        day = datetime.fromtimestamp(now, UTC).date()
        quota_day, quota_used = self._quota
        if quota_day != day.isoformat():
            quota_used = 0
        if self.daily_quota is not None and quota_used >= self.daily_quota:
            self.stats.quota_exceeded += 1
            midnight = datetime.combine(day + timedelta(days=1), datetime.min.time(), UTC)
            message = (
                "You have exceeded the API call rate limit. "
                f"Daily limit of {self.daily_quota} requests exceeded for your plan. "
                f"The limit will be reset at {tr.iso_utc(midnight)}."
            )
            headers = _rate_headers(limit, max(limit - used, 0), int(midnight.timestamp()))
            return ApiError(429, 429, message, "TooManyRequests"), headers
        self._windows[(api_key, endpoint)] = (window, used + 1)
        self._quota = (day.isoformat(), quota_used + 1)
        return None, _rate_headers(limit, limit - used - 1, window + 1)

    # -- endpoint handlers ----------------------------------------------------------------------
    def _list_trackings(self, request: Request) -> tuple[int, dict]:
        query = {k: request.query_value(k) for k in request.query}
        limit = _int_param(query, "limit", default=100, low=1, high=200)
        numbers = _csv(query.get("tracking_numbers"))
        if len(numbers) > 50:
            raise tr.value_invalid("tracking_numbers")
        bounds = {}
        for name in ("created_at_min", "created_at_max", "updated_at_min", "updated_at_max"):
            if query.get(name) is not None:
                parsed = tr.parse_iso(query[name])
                if parsed is None:
                    raise tr.value_invalid(name)
                bounds[name] = parsed
        after_seq = _decode_cursor(query.get("cursor"))
        filters = _ListFilters(numbers=set(numbers), slugs=set(_csv(query.get("slug"))), bounds=bounds)
        with self.lock:
            # Newest first, like AfterShip; the cursor is the creation sequence already returned.
            matching = [s for s in sorted(self._store.values(), key=lambda s: -s.seq) if filters.accepts(s.data)]
            total = len(matching)
            if after_seq is not None:
                matching = [s for s in matching if s.seq < after_seq]
            page = matching[:limit]
            has_next = len(matching) > limit
            items = [copy.deepcopy(s.data) for s in page]
        next_cursor = _encode_cursor(page[-1].seq) if has_next and page else None
        return 200, {
            "pagination": {"total": total, "next_cursor": next_cursor, "has_next_page": has_next},
            "trackings": items,
        }

    def _post_tracking(self, request: Request) -> tuple[int, dict]:
        body = tr.parse_json_object(request.body)
        data = self._create(body)
        if self.fail_after_commit_rate and self.random.random() < self.fail_after_commit_rate:
            with self.lock:
                self.stats.failed_after_commit += 1
            raise ApiError(500, 500, MSG_INTERNAL, "InternalError")
        return 201, copy.deepcopy(data)

    def _get_tracking(self, request: Request, tracking_id: str) -> tuple[int, dict]:
        with self.lock:
            return 200, copy.deepcopy(self._by_id(tracking_id).data)

    def _put_tracking(self, request: Request, tracking_id: str) -> tuple[int, dict]:
        body = tr.parse_json_object(request.body)
        fields = tr.check_fields(body, tr.UPDATE_FIELDS)
        with self.lock:
            stored = self._by_id(tracking_id)
            data = stored.data
            courier = self.couriers.get(data["slug"])
            if "slug" in fields and fields["slug"] != data["slug"]:
                courier = self.couriers.get(fields["slug"])
                if courier is None:
                    raise tr.bad_request(4010, "The value of slug is invalid.")
                if self._by_key(courier.slug, data["tracking_number"]) is not None:
                    raise self._duplicate_error()
            if courier is not None:
                merged = {**data, **fields}
                missing = tr.missing_required_fields(courier, merged)
                if missing:
                    raise tr.courier_fields_error(missing)
            for name, value in fields.items():
                data[name] = value
            if courier is not None and "slug" in fields:
                data["courier_tracking_link"] = courier.link_for(data["tracking_number"])
            data["updated_at"] = tr.iso_utc(self.now())
            return 200, copy.deepcopy(data)

    def _delete_tracking(self, request: Request, tracking_id: str) -> tuple[int, dict]:
        with self.lock:
            stored = self._by_id(tracking_id)
            del self._store[tracking_id]
            return 200, copy.deepcopy(stored.data)

    def _retrack(self, request: Request, tracking_id: str) -> tuple[int, dict]:
        with self.lock:
            stored = self._by_id(tracking_id)
            if stored.data["active"]:
                raise tr.bad_request(4013, "Retrack is not allowed. You can only retrack an inactive tracking.")
            if stored.retracks >= MAX_RETRACKS:
                raise tr.bad_request(4016, "Retrack is not allowed. You can only retrack each shipment once.")
            stored.retracks += 1
            stored.data["active"] = True
            stored.data["updated_at"] = tr.iso_utc(self.now())
            return 200, copy.deepcopy(stored.data)

    def _mark_completed(self, request: Request, tracking_id: str) -> tuple[int, dict]:
        body = tr.parse_json_object(request.body)
        reason = body.get("reason")
        if reason is None:
            raise tr.bad_request(4009, "reason is required.")
        if reason not in tr.MARK_COMPLETED_REASONS:
            raise tr.value_invalid("reason")
        event_datetime = body.get("event_datetime")
        if event_datetime is not None and (not isinstance(event_datetime, str) or tr.parse_iso(event_datetime) is None):
            raise tr.value_invalid("event_datetime")
        with self.lock:
            self._by_id(tracking_id)
        tag, subtag = tr.MARK_COMPLETED_REASONS[reason]
        when = None
        if event_datetime:
            when = tr.parse_iso(event_datetime).astimezone(UTC).replace(tzinfo=None, microsecond=0).isoformat()
        self.advance(
            tracking_id,
            tag,
            subtag,
            message=f"Marked as completed: {reason}",
            checkpoint_time=when,
            source="user",
        )
        with self.lock:
            return 200, copy.deepcopy(self._by_id(tracking_id).data)

    def _get_couriers(self, request: Request) -> tuple[int, dict]:
        active = (request.query_value("active") or "").lower()
        if active not in ("", "true", "false"):
            raise tr.value_invalid("active")
        slugs = set(_csv(request.query_value("slug")))
        with self.lock:
            couriers = [
                c.to_api()
                for c in self.couriers.values()
                if (active != "true" or c.active) and (not slugs or c.slug in slugs)
            ]
        return 200, {"total": len(couriers), "couriers": couriers}

    def _detect(self, request: Request) -> tuple[int, dict]:
        body = tr.parse_json_object(request.body)
        number = tr.check_tracking_number(body.get("tracking_number"))
        slugs = body.get("slug")
        if slugs is not None and (not isinstance(slugs, list) or not all(isinstance(s, str) for s in slugs)):
            raise tr.value_invalid("slug")
        if slugs and body.get("slug_group"):
            raise tr.value_invalid("slug_group")
        with self.lock:
            if slugs:
                unknown = [s for s in slugs if s not in self.couriers]
                if unknown:
                    raise tr.bad_request(4010, "The value of slug is invalid.")
                candidates = [self.couriers[s] for s in slugs]
            else:
                candidates = [c for c in self.couriers.values() if c.active]
            found = [c.to_api() for c in candidates if c.matches(number.upper())]
        return 200, {"total": len(found), "couriers": found}

    # -- internals ------------------------------------------------------------------------------
    def _create(self, body: dict) -> dict:
        """Validate a create body in AfterShip's order of checks and store the tracking."""
        number = tr.check_tracking_number(body.get("tracking_number"))
        fields = tr.check_fields(body, tr.CREATE_FIELDS)
        with self.lock:
            courier = self._pick_courier(number, fields.get("slug"))
            missing = tr.missing_required_fields(courier, fields)
            if missing:
                raise tr.courier_fields_error(missing)
            if self._by_key(courier.slug, number) is not None:
                raise self._duplicate_error()
            tracking_id = fields.get("id") or f"{self.random.getrandbits(128):032x}"
            if tracking_id in self._store:
                raise tr.bad_request(4015, "The value of id is invalid.")
            now = self.now()
            data = tr.new_tracking(
                tracking_id=tracking_id,
                tracking_number=number,
                courier=courier,
                fields=fields,
                now=now,
                tracking_page_domain=TRACKING_PAGE_DOMAIN,
            )
            self._seq += 1
            journey = plan_journey(
                seed=self.seed if self.seed is not None else self.random.getrandbits(64),
                slug=courier.slug,
                tracking_number=number,
                origin=data["origin_country_region"] or courier.home_country,
                destination=data["destination_country_region"] or courier.home_country,
                destination_city=data["destination_city"],
                destination_postal_code=data["destination_postal_code"],
            )
            self._store[tracking_id] = _Stored(data=data, seq=self._seq, journey=journey)
            self.stats.created += 1
            return data

    def _pick_courier(self, number: str, slug: str | None) -> Courier:
        if slug is not None:
            courier = self.couriers.get(slug)
            if courier is None:
                raise tr.bad_request(4010, "The value of slug is invalid.")
            if courier.strict_format and not courier.matches(number.upper()):
                raise tr.bad_request(4017, "The format of tracking_number is invalid.")
            return courier
        matches = [c for c in self.couriers.values() if c.matches(number.upper())]
        active = [c for c in matches if c.active]
        if active:
            return active[0]
        if matches:
            message = (
                "Unable to import shipment as the carrier is not on your approved list for carrier "
                "auto-detection. Add the carrier here: https://admin.aftership.com/settings/couriers"
            )
        else:
            message = "Unable to import shipment as we don't recognize the carrier from this tracking number."
        raise tr.bad_request(4012, message)

    def _duplicate_error(self) -> ApiError:
        return ApiError(self.duplicate_status, 4003, "Tracking already exists.")

    def _by_id(self, tracking_id: str) -> _Stored:
        stored = self._store.get(tracking_id)
        if stored is None:
            raise tr.tracking_not_found()
        return stored

    def _by_key(self, slug: str, number: str) -> _Stored | None:
        for stored in self._store.values():
            if stored.data["slug"] == slug and stored.data["tracking_number"] == number:
                return stored
        return None

    def _resolve(self, tracking: str) -> _Stored:
        """A tracking by id, by number, or by "slug:number"; KeyError when unknown or ambiguous."""
        if tracking in self._store:
            return self._store[tracking]
        slug, _, number = tracking.rpartition(":")
        found = [
            s
            for s in self._store.values()
            if s.data["tracking_number"] == number and (not slug or s.data["slug"] == slug)
        ]
        if len(found) != 1:
            raise KeyError(f"{'no' if not found else 'more than one'} tracking matches {tracking!r}")
        return found[0]

    def _emit(self, snapshot: dict, event: str, is_first_tag: bool) -> str:
        event_id = str(uuid.UUID(int=self.random.getrandbits(128), version=4))
        payload = {
            "event": event,
            "event_id": event_id,
            "is_tracking_first_tag": is_first_tag,
            "msg": snapshot,
            "ts": int(self.clock()),
        }
        body = encode_body(payload)
        headers = {
            "aftership-hmac-sha256": sign(body, self.webhook_secret),
            "content-type": "application/json",
            "as-webhook-version": API_VERSION,
            "user-agent": USER_AGENT,
        }
        self._webhooks.submit(
            WebhookEvent(event_id, event, snapshot["id"], body, headers, payload["ts"]), self.webhook_urls
        )
        return event_id


# -- routing -------------------------------------------------------------------------------------
_Handler = Callable[..., tuple[int, Any]]


def _route(method: str, path: str) -> tuple[str, _Handler, tuple[str, ...]] | None:
    parts = [p for p in path.split("/") if p]
    sim = AfterShipSimulator
    if parts == ["trackings"]:
        handlers = {"GET": sim._list_trackings, "POST": sim._post_tracking}
        return (f"{method} /trackings", handlers[method], ()) if method in handlers else None
    if len(parts) == 2 and parts[0] == "trackings":
        handlers = {"GET": sim._get_tracking, "PUT": sim._put_tracking, "DELETE": sim._delete_tracking}
        return (f"{method} /trackings/:id", handlers[method], (parts[1],)) if method in handlers else None
    if len(parts) == 3 and parts[0] == "trackings" and method == "POST":
        actions = {"retrack": sim._retrack, "mark-as-completed": sim._mark_completed}
        if parts[2] in actions:
            return f"POST /trackings/:id/{parts[2]}", actions[parts[2]], (parts[1],)
        return None
    if parts == ["couriers"] and method == "GET":
        return "GET /couriers", sim._get_couriers, ()
    if parts == ["couriers", "detect"] and method == "POST":
        return "POST /couriers/detect", sim._detect, ()
    return None


def _rate_headers(limit: int, remaining: int, reset: int) -> dict[str, str]:
    return {
        "X-RateLimit-Limit": str(limit),
        "X-RateLimit-Remaining": str(max(remaining, 0)),
        "X-RateLimit-Reset": str(reset),
    }


# -- listing helpers -----------------------------------------------------------------------------
@dataclass
class _ListFilters:
    """The filters of GET /trackings the portal uses: numbers, slugs and created/updated bounds."""

    numbers: set[str]
    slugs: set[str]
    bounds: dict[str, datetime]

    def accepts(self, data: dict) -> bool:
        if (self.numbers and data["tracking_number"] not in self.numbers) or (
            self.slugs and data["slug"] not in self.slugs
        ):
            return False
        for name, bound in self.bounds.items():
            stamp = tr.parse_iso(data["created_at" if name.startswith("created") else "updated_at"])
            if (name.endswith("_min") and stamp < bound) or (name.endswith("_max") and stamp > bound):
                return False
        return True


def _csv(value: str | None) -> list[str]:
    return [v.strip() for v in (value or "").split(",") if v.strip()]


def _int_param(query: dict, name: str, *, default: int, low: int, high: int) -> int:
    raw = query.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise tr.value_invalid(name) from None
    if not low <= value <= high:
        raise tr.value_invalid(name)
    return value


def _encode_cursor(seq: int) -> str:
    return base64.urlsafe_b64encode(f"seq:{seq}".encode()).decode().rstrip("=")


def _decode_cursor(cursor: str | None) -> int | None:
    if not cursor:
        return None
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        prefix, _, seq = raw.partition(":")
        if prefix != "seq":
            raise ValueError(raw)
        return int(seq)
    except ValueError:
        raise tr.value_invalid("cursor") from None


def _to_place(location: Place | dict | str | None) -> Place | None:
    if location is None or isinstance(location, Place):
        return location
    if isinstance(location, str):
        return None
    return Place(**location)


def _zone(place: Place | None):
    if place is not None and place.tz != "UTC":
        try:
            return ZoneInfo(place.tz)
        except (KeyError, ValueError):
            pass
    return UTC


def _local_now(place: Place | None, now: datetime) -> str:
    """Carrier checkpoint times are local to the scan and usually carry no offset."""
    return now.astimezone(_zone(place)).replace(tzinfo=None, microsecond=0).isoformat()


def _instant(checkpoint_time: str, place: Place | None, now: datetime) -> float:
    """The absolute time of a carrier timestamp, read in the scan's zone when it has no offset."""
    try:
        parsed = datetime.fromisoformat(checkpoint_time)
    except ValueError:
        return now.timestamp()
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=_zone(place))
    return parsed.timestamp()
