"""Connection checks for Odoo and AfterShip: used by the admin's tester and to lift a credentials pause."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

from .aftership import AfterShipAuthError, AfterShipError
from .audit import Actor, audit_record
from .clients import aftership_client, odoo_client
from .health import service_error, service_pause, service_resume, service_state
from .models import AuditAction, ServiceState
from .odoo import OdooAuthError, OdooError, odoo_major
from .odoo_rights import odoo_rights_check

logger = logging.getLogger(__name__)


@dataclass
class ProbeResult:
    service: str
    ok: bool
    message: str
    ms: int = 0


def _resume(service: str, actor: Actor | None) -> bool:
    """Lift a credentials pause; a person's check that lifts one is recorded in the audit log."""
    resumed = service_resume(service)
    if resumed and actor is not None:
        audit_record(
            actor=actor,
            action=AuditAction.RESUME,
            target=dict(ServiceState.SERVICES)[service],
            before={"credentials accepted": False},
            after={"credentials accepted": True},
        )
    return resumed


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


# -- the full check, for `manage.py check_connections` -------------------------------------------------
@dataclass
class CheckLine:
    ok: bool
    what: str
    detail: str
    advice: str = ""


def connections_check(*, actor: Actor | None = None) -> list[CheckLine]:
    """Each thing the portal needs from Odoo and AfterShip, one line each, with what to do when it fails.

    Changes nothing, except that a service paused for refused credentials is resumed when they work.
    """
    return [*_odoo_lines(actor), *_aftership_lines(actor)]


def _odoo_lines(actor: Actor | None) -> list[CheckLine]:
    from django.conf import settings

    lines: list[CheckLine] = []
    try:
        with odoo_client() as client:
            version_info = client.version()
            version = version_info.get("server_version", "?")
            lines.append(CheckLine(True, "Odoo reachable", f"Odoo {version} at {client.config.url}"))
            try:
                uid = client.uid(fresh=True)
            except OdooAuthError as exc:
                lines.append(
                    CheckLine(
                        False,
                        "Odoo login",
                        exc.message,
                        f"Check ODOO_DB, ODOO_USERNAME and ODOO_API_KEY (an API key of {settings.ODOO_USERNAME}).",
                    )
                )
                return lines
            if _resume(ServiceState.ODOO, actor):
                lines.append(CheckLine(True, "Odoo login", f"user #{uid}; write-backs resumed"))
            else:
                lines.append(CheckLine(True, "Odoo login", f"as {settings.ODOO_USERNAME} (user #{uid})"))
            lines += [
                CheckLine(
                    check.ok,
                    check.what,
                    check.detail,
                    check.advice + (" Or run python manage.py odoo_setup --grant." if check.group else ""),
                )
                for check in odoo_rights_check(
                    client=client, uid=uid, login=settings.ODOO_USERNAME, version_major=odoo_major(version_info)
                )
            ]
            wanted = {name for name in settings.ODOO_WRITEBACK_FIELDS.values() if name}
            if settings.ODOO_WRITEBACK and wanted:
                present = set(client.fields_get("stock.picking", sorted(wanted), attributes=["type"]))
                for key, name in sorted(settings.ODOO_WRITEBACK_FIELDS.items()):
                    if not name:
                        continue
                    if name in present:
                        lines.append(CheckLine(True, f"Delivery field {name}", f"the {key.replace('_', ' ')}"))
                    else:
                        lines.append(
                            CheckLine(
                                False,
                                f"Delivery field {name}",
                                "not in this Odoo database: the portal skips it",
                                "Run python manage.py odoo_setup (with an Odoo administrator's key) to create "
                                "it, or leave it out of ODOO_WRITEBACK_FIELDS.",
                            )
                        )
            lines.append(_push_line())
    except OdooError as exc:
        lines.append(
            CheckLine(False, "Odoo reachable", exc.message, "Check ODOO_URL, and that Odoo answers from this machine.")
        )
    return lines


def _push_line() -> CheckLine:
    """Whether Odoo's push rule reaches the portal, from the pushes received (the integration user may not
    read automation rules; `odoo_setup --dry-run` checks the rule itself with an administrator's key)."""
    from django.conf import settings
    from django.utils.timesince import timesince

    from .models import JobKind, SyncJob

    last = (
        SyncJob.objects.filter(kind=JobKind.PICKING_SYNC)
        .order_by("-created_at")
        .values_list("created_at", flat=True)
        .first()
    )
    if last is not None:
        ago = timesince(last)
        when = "just now" if ago.startswith("0\xa0minutes") else f"{ago} ago"
        return CheckLine(True, "Odoo push rule", f"last delivery pushed by Odoo {when}")
    return CheckLine(
        True,
        "Odoo push rule",
        f"no delivery pushed yet: the pull syncs every {settings.SYNC_PULL_INTERVAL_MINUTES} min meanwhile; "
        "python manage.py odoo_setup creates the rule",
    )


def _aftership_lines(actor: Actor | None) -> list[CheckLine]:
    from django.conf import settings
    from django.db.models import Sum
    from django.utils import timezone

    from .models import ApiUsage

    client = aftership_client()
    try:
        couriers = client.list_couriers(active=True)
    except AfterShipAuthError as exc:
        return [CheckLine(False, "AfterShip API key", exc.message, "Set AFTERSHIP_API_KEY to a key of the account.")]
    except AfterShipError as exc:
        return [
            CheckLine(False, "AfterShip reachable", exc.message, "Check AFTERSHIP_API_BASE and this machine's way out.")
        ]
    finally:
        client.close()
    resumed = _resume(ServiceState.AFTERSHIP, actor)
    lines = [
        CheckLine(True, "AfterShip API key", "accepted; trackings resumed" if resumed else "accepted"),
        CheckLine(
            bool(couriers),
            "AfterShip couriers",
            f"{len(couriers)} active on the account",
            "" if couriers else "Activate the carriers you ship with in AfterShip's courier settings.",
        ),
    ]
    quota = settings.AFTERSHIP_DAILY_QUOTA
    if quota:
        today = timezone.now().replace(hour=0, minute=0, second=0, microsecond=0)
        used = ApiUsage.objects.filter(service="aftership", hour__gte=today).aggregate(n=Sum("calls"))["n"] or 0
        left = quota - used
        lines.append(
            CheckLine(
                left > quota * 0.05,
                "AfterShip daily quota",
                f"{used} of {quota} calls used today",
                "" if left > quota * 0.05 else "Raise AFTERSHIP_DAILY_QUOTA with your plan, or wait for tomorrow.",
            )
        )
    else:
        lines.append(
            CheckLine(
                True,
                "AfterShip rate limit",
                f"{settings.AFTERSHIP_RATE_LIMITS['create_tracking']:g} trackings a second at most "
                "(AFTERSHIP_RATE_POST_TRACKINGS; no daily quota set)",
            )
        )
    return lines
