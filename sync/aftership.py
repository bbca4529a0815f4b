"""Client for AfterShip's Tracking API, pinned to one version (`API_VERSION`).

Thin on purpose: the endpoints the portal uses, one HTTP session, timeouts, the shared rate limiter,
and every answer's `meta.code` turned into a typed outcome (`Tracking` data or one of the exceptions
below) that the job runner acts on.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import requests
from django.conf import settings

from .ratelimit import RateLimiter, aftership_limiter

logger = logging.getLogger(__name__)

API_VERSION = "2026-07"
USER_AGENT = "shiptrack-portal/0.1 (+odoo-aftership)"
# A 429 whose window resets this soon is waited out in place rather than rescheduled.
INLINE_429_WAIT_SECONDS = 5.0


class AfterShipError(Exception):
    """AfterShip refused or failed a call. `code` is AfterShip's meta.code (4003, 4012, 401, ...)."""

    retryable = False

    def __init__(self, message: str, *, code: int = 0, http_status: int = 0, meta_type: str = ""):
        super().__init__(message)
        self.message = message
        self.code = code
        self.http_status = http_status
        self.meta_type = meta_type

    def __str__(self) -> str:
        return f"{self.message} (AfterShip {self.code or self.http_status})"


class AfterShipAuthError(AfterShipError):
    """The API key was refused (401): outbound calls stop until the key is fixed."""


class AfterShipRateLimited(AfterShipError):
    """429: too many calls for the window or the plan; try again at `reset_at` (Unix time)."""

    retryable = True

    def __init__(self, message: str, *, reset_at: float, **kwargs):
        super().__init__(message, **kwargs)
        self.reset_at = reset_at


class AfterShipTransientError(AfterShipError):
    """AfterShip could not be reached or failed on its side (timeouts, connection errors, 5xx)."""

    retryable = True


class TrackingAlreadyExists(AfterShipError):
    """4003 (or HTTP 409): this slug and tracking number are already tracked."""


class InvalidTrackingNumber(AfterShipError):
    """4005 / 4017: AfterShip does not accept the tracking number."""


class InvalidSlug(AfterShipError):
    """4010: the courier slug is unknown to AfterShip."""


class CourierNeedsFields(AfterShipError):
    """4011: this courier needs more fields (postal code, ship date, account number...)."""


class CourierNotDetected(AfterShipError):
    """4012: no courier given and AfterShip could not tell which one from the number."""


class AfterShipRequestError(AfterShipError):
    """Any other refusal (bad field values, forbidden by the plan, not found)."""


class TrackingNotFound(AfterShipRequestError):
    """4004 (HTTP 404): no such tracking (deleted, or expired after 120 days)."""


_ERRORS_BY_CODE: dict[int, type[AfterShipError]] = {
    401: AfterShipAuthError,
    429: AfterShipRateLimited,
    4003: TrackingAlreadyExists,
    4004: TrackingNotFound,
    4005: InvalidTrackingNumber,
    4017: InvalidTrackingNumber,
    4010: InvalidSlug,
    4011: CourierNeedsFields,
    4012: CourierNotDetected,
}


@dataclass(frozen=True)
class CallRecord:
    endpoint: str
    status: int
    code: int
    ms: int
    api_version: str


class AfterShipClient:
    """Calls AfterShip's Tracking API at `API_VERSION`; every call waits its turn in the rate limiter."""

    def __init__(
        self,
        *,
        api_key: str | None = None,
        base_url: str | None = None,
        timeout: float | None = None,
        limiter: RateLimiter | None = None,
        on_call: Callable[[CallRecord], None] | None = None,
    ):
        self.api_key = api_key or settings.AFTERSHIP_API_KEY
        base = (base_url or settings.AFTERSHIP_API_BASE).rstrip("/")
        self.base_url = f"{base}/tracking/{API_VERSION}"
        self.timeout = timeout or settings.AFTERSHIP_TIMEOUT
        self.limiter = limiter if limiter is not None else aftership_limiter()
        self.on_call = on_call
        self.session = requests.Session()
        self.session.headers.update(
            {"as-api-key": self.api_key, "Content-Type": "application/json", "User-Agent": USER_AGENT}
        )

    def close(self) -> None:
        self.session.close()

    # -- endpoints -----------------------------------------------------------------------------
    def create_tracking(self, body: dict) -> dict:
        """POST /trackings; returns the created tracking."""
        return self._call("create_tracking", "POST", "/trackings", json=body)

    def find_tracking(self, tracking_number: str, slug: str = "") -> dict | None:
        """The tracking with this number (and courier), via GET /trackings?tracking_numbers=&slug=."""
        params = {"tracking_numbers": tracking_number, "limit": 10}
        if slug:
            params["slug"] = slug
        data = self.list_trackings(**params)
        matches = [t for t in data.get("trackings", []) if t.get("tracking_number") == tracking_number]
        if slug:
            matches = [t for t in matches if t.get("slug") == slug] or matches
        return matches[0] if matches else None

    def delete_tracking(self, tracking_id: str) -> dict:
        """DELETE /trackings/{id}; returns the deleted tracking."""
        return self._call("delete_tracking", "DELETE", f"/trackings/{quote(tracking_id, safe='')}")

    def list_trackings(self, **params: Any) -> dict:
        return self._call("list_trackings", "GET", "/trackings", params=params)

    def list_couriers(self, *, active: bool | None = None) -> list[dict]:
        params = {} if active is None else {"active": "true" if active else "false"}
        return self._call("list_couriers", "GET", "/couriers", params=params).get("couriers", [])

    def detect_courier(self, tracking_number: str, **hints: Any) -> list[dict]:
        body = {"tracking_number": tracking_number, **{k: v for k, v in hints.items() if v}}
        return self._call("detect_courier", "POST", "/couriers/detect", json=body).get("couriers", [])

    # -- plumbing ------------------------------------------------------------------------------
    def _call(self, endpoint: str, method: str, path: str, **kwargs: Any) -> Any:
        for _ in range(3):
            try:
                return self._send(endpoint, method, path, **kwargs)
            except AfterShipRateLimited as exc:
                wait = exc.reset_at - time.time()
                if wait > INLINE_429_WAIT_SECONDS:
                    raise
                time.sleep(max(wait, 0.05))
        return self._send(endpoint, method, path, **kwargs)

    def _send(self, endpoint: str, method: str, path: str, **kwargs: Any) -> Any:
        self.limiter.acquire(endpoint)
        started = time.monotonic()
        try:
            response = self.session.request(method, self.base_url + path, timeout=(5.0, self.timeout), **kwargs)
        except requests.Timeout as exc:
            self._record(endpoint, 0, 0, started, "")
            self.limiter.report(endpoint, ok=False)
            raise AfterShipTransientError(f"AfterShip did not answer within {self.timeout:g} s") from exc
        except requests.ConnectionError as exc:
            self._record(endpoint, 0, 0, started, "")
            self.limiter.report(endpoint, ok=False)
            raise AfterShipTransientError(f"Cannot reach AfterShip: {type(exc).__name__}") from exc

        served_by = response.headers.get("as-api-version", "")
        meta, data = self._envelope(response)
        code = int(meta.get("code") or response.status_code)
        self._record(endpoint, response.status_code, code, started, served_by)
        self.limiter.report(endpoint, ok=response.status_code < 500)
        if served_by and served_by != API_VERSION:
            logger.warning(
                "AfterShip served another API version",
                extra={"asked": API_VERSION, "served": served_by, "endpoint": endpoint},
            )
        if 200 <= response.status_code < 300:
            return data if data is not None else {}
        raise self._error(endpoint, response, meta, code)

    @staticmethod
    def _envelope(response: requests.Response) -> tuple[dict, Any]:
        try:
            payload = response.json()
        except ValueError:
            return {}, None
        if not isinstance(payload, dict):
            return {}, None
        return payload.get("meta") or {}, payload.get("data")

    def _error(self, endpoint: str, response: requests.Response, meta: dict, code: int) -> AfterShipError:
        status = response.status_code
        message = str(meta.get("message") or response.reason or "no message")
        kwargs = {"code": code, "http_status": status, "meta_type": str(meta.get("type") or "")}
        if status == 429 or code == 429:
            reset = response.headers.get("X-RateLimit-Reset")
            try:
                reset_at = float(reset) if reset else time.time() + 1.0
            except ValueError:
                reset_at = time.time() + 1.0
            if self.limiter is not None:
                self.limiter.hold_until(endpoint, reset_at)
            return AfterShipRateLimited(message, reset_at=reset_at, **kwargs)
        if status == 409:
            return TrackingAlreadyExists(message, **kwargs)
        if status >= 500:
            return AfterShipTransientError(message, **kwargs)
        if status == 401 or code == 401:
            return AfterShipAuthError(message, **kwargs)
        return _ERRORS_BY_CODE.get(code, AfterShipRequestError)(message, **kwargs)

    def _record(self, endpoint: str, status: int, code: int, started: float, served_by: str) -> None:
        ms = int((time.monotonic() - started) * 1000)
        logger.info(
            "aftership call",
            extra={"endpoint": endpoint, "http_status": status, "meta_code": code, "ms": ms, "api_version": served_by},
        )
        if self.on_call:
            self.on_call(CallRecord(endpoint, status, code, ms, served_by))
