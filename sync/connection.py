"""Connection checks for Odoo and AfterShip: used by the admin's tester and to lift a credentials pause."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

from .aftership import AfterShipAuthError, AfterShipError
from .clients import aftership_client, odoo_client
from .health import service_error, service_pause, service_resume, service_state
from .models import ServiceState
from .odoo import OdooAuthError, OdooError

logger = logging.getLogger(__name__)


@dataclass
class ProbeResult:
    service: str
    ok: bool
    message: str
    ms: int = 0


def odoo_probe() -> ProbeResult:
    started = time.monotonic()
    try:
        with odoo_client() as client:
            version = client.version().get("server_version", "?")
            uid = client.uid(fresh=True)  # a login now, not the one this process remembers
    except OdooAuthError as exc:
        service_pause(ServiceState.ODOO, str(exc))
        return ProbeResult("odoo", False, f"Odoo refused the login: {exc.message}")
    except OdooError as exc:
        service_error(ServiceState.ODOO, str(exc))
        return ProbeResult("odoo", False, f"Odoo is not reachable: {exc.message}")
    service_resume(ServiceState.ODOO)
    ms = int((time.monotonic() - started) * 1000)
    return ProbeResult("odoo", True, f"Connected to Odoo {version} as user #{uid}", ms)


def aftership_probe() -> ProbeResult:
    started = time.monotonic()
    client = aftership_client()
    try:
        couriers = client.list_couriers(active=True)
    except AfterShipAuthError as exc:
        service_pause(ServiceState.AFTERSHIP, str(exc))
        return ProbeResult("aftership", False, f"AfterShip refused the API key: {exc.message}")
    except AfterShipError as exc:
        service_error(ServiceState.AFTERSHIP, str(exc))
        return ProbeResult("aftership", False, f"AfterShip is not reachable: {exc.message}")
    finally:
        client.close()
    service_resume(ServiceState.AFTERSHIP)
    ms = int((time.monotonic() - started) * 1000)
    return ProbeResult("aftership", True, f"Connected to AfterShip; {len(couriers)} couriers active on the account", ms)


def aftership_probe_if_paused() -> ProbeResult | None:
    """While paused on a refused key, try once per dispatcher run whether the key works again."""
    state = service_state(ServiceState.AFTERSHIP)
    if state.credentials_ok:
        return None
    return aftership_probe()
