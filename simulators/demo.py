"""`make demo`: the portal, a worker and both simulators on this machine, with seeded deliveries.

1. Writes `.demo/env` once (secrets, ports, SQLite in `.demo/`) and reuses it on later runs.
2. Migrates, creates the admin (and a logistics manager) and maps the demo carriers.
3. Starts the Odoo simulator (a few dozen validated deliveries, a warehouse validating more over
   time) and sets it up with `manage.py odoo_setup`, as for a real Odoo (fields, form view, push rule);
   starts the AfterShip simulator (carriers moving parcels along in accelerated time, webhooks to the
   portal), then a django-q2 worker and the web server.
4. Prints the admin URL and login, and a line of figures every half minute; Ctrl-C stops everything.
"""

from __future__ import annotations

import logging
import os
import secrets
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEMO_DIR = ROOT / ".demo"
ENV_PATH = DEMO_DIR / "env"
LOG_DIR = DEMO_DIR / "logs"

PORTAL_PORT = int(os.environ.get("DEMO_PORTAL_PORT", 8000))
ODOO_PORT = int(os.environ.get("DEMO_ODOO_PORT", 8069))
AFTERSHIP_PORT = int(os.environ.get("DEMO_AFTERSHIP_PORT", 8070))

# Odoo carriers of the demo world -> AfterShip couriers. "Coursier Express Lyon" is left for you to map.
DEMO_MAPPINGS = {
    "DHL Express": "dhl",
    "FedEx": "fedex",
    "UPS": "ups",
    "USPS": "usps",
    "Colissimo": "colissimo",
    "Royal Mail": "royal-mail",
    "PostNL": "postnl-3s",
}


def _write_env() -> dict[str, str]:
    values = {
        "SECRET_KEY": secrets.token_urlsafe(50),
        "DEBUG": "true",
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "DATABASE_URL": f"sqlite:///{DEMO_DIR / 'db.sqlite3'}",
        "LOG_FORMAT": "text",
        "ODOO_URL": f"http://127.0.0.1:{ODOO_PORT}",
        "ODOO_DB": "odoo18",
        "ODOO_USERNAME": "aftership-bot",
        "ODOO_API_KEY": "e7cab076b7ad4a90745ab1d66decba764b676077",
        "ODOO_WEBHOOK_TOKEN": secrets.token_urlsafe(24),
        "AFTERSHIP_API_KEY": "asat_" + secrets.token_hex(16),
        "AFTERSHIP_API_BASE": f"http://127.0.0.1:{AFTERSHIP_PORT}",
        "AFTERSHIP_WEBHOOK_SECRETS": secrets.token_urlsafe(32),
        "WEBHOOK_URL_TOKEN": secrets.token_urlsafe(24),
        "SYNC_PULL_INTERVAL_MINUTES": "1",
        "SYNC_LOGISTICS_EMAILS": "warehouse@example.com",
        "Q_WORKERS": "2",
        "DEMO_ADMIN_PASSWORD": secrets.token_urlsafe(12),
    }
    _save_env(values)
    return values


def _save_env(values: dict[str, str]) -> None:
    DEMO_DIR.mkdir(exist_ok=True)
    ENV_PATH.write_text(
        "# Written by `make demo` (the ports follow DEMO_*_PORT on each start); delete .demo/ to start over.\n"
        + "".join(f"{k}={v}\n" for k, v in values.items()),
        encoding="utf-8",
    )


def _read_env() -> dict[str, str]:
    """The demo's settings, kept from the first run; the simulators' addresses follow this run's ports."""
    if not ENV_PATH.exists():
        return _write_env()
    values = {}
    for line in ENV_PATH.read_text(encoding="utf-8").splitlines():
        if line and not line.startswith("#") and "=" in line:
            key, value = line.split("=", 1)
            values[key] = value
    ports = {
        "ODOO_URL": f"http://127.0.0.1:{ODOO_PORT}",
        "AFTERSHIP_API_BASE": f"http://127.0.0.1:{AFTERSHIP_PORT}",
    }
    if any(values.get(key) != value for key, value in ports.items()):
        values.update(ports)
        _save_env(values)
    return values


def _prepare_portal(env: dict[str, str]) -> None:
    import django

    django.setup()
    from django.contrib.auth.models import Group, User
    from django.core.management import call_command

    from sync.models import (
        ApiUsage,
        ServiceState,
        Shipment,
        SyncCursor,
        SyncJob,
        TrackingEvent,
    )
    from sync.permissions import LOGISTICS_MANAGERS

    call_command("migrate", verbosity=0)
    # The simulators start empty each run, so last run's parcels would point at trackings that no longer exist.
    for model in (TrackingEvent, SyncJob, Shipment, SyncCursor, ServiceState, ApiUsage):
        model.objects.all().delete()
    from django_q.models import OrmQ

    OrmQ.objects.all().delete()

    admin, _ = User.objects.get_or_create(username="admin", defaults={"email": "admin@example.com"})
    admin.is_staff = admin.is_superuser = True
    admin.set_password(env["DEMO_ADMIN_PASSWORD"])
    admin.save()
    manager, _ = User.objects.get_or_create(username="logistics", defaults={"email": "warehouse@example.com"})
    manager.is_staff = True
    manager.set_password(env["DEMO_ADMIN_PASSWORD"])
    manager.save()
    manager.groups.add(Group.objects.get(name=LOGISTICS_MANAGERS))


def _map_carriers(odoo) -> None:
    """Map the demo carriers as a logistics manager would; the local courier stays for you to map."""
    from sync.models import CarrierMapping

    for carrier in odoo.records("delivery.carrier"):
        if carrier["name"] in DEMO_MAPPINGS:
            CarrierMapping.objects.update_or_create(
                odoo_carrier_id=carrier["id"],
                defaults={"odoo_carrier_name": carrier["name"], "slug": DEMO_MAPPINGS[carrier["name"]]},
            )


def _setup_odoo() -> None:
    """Connect the Odoo simulator as a user would a real Odoo: `manage.py odoo_setup` with the admin's key
    creates the write-back fields, the delivery form view and the push rule (on every start: the simulator
    starts empty)."""
    from django.core.management import CommandError, call_command

    LOG_DIR.mkdir(parents=True, exist_ok=True)
    key_file = DEMO_DIR / "odoo-admin.key"
    key_file.write_text("OdooAdmin18\n", encoding="utf-8")  # the simulator's administrator (Mitchell Admin)
    key_file.chmod(0o600)
    with open(LOG_DIR / "odoo_setup.log", "w", encoding="utf-8") as log:
        try:
            call_command(
                "odoo_setup",
                *("--admin-login", "admin", "--admin-key-file", str(key_file), "--yes"),
                portal_url=f"http://127.0.0.1:{PORTAL_PORT}",
                stdout=log,
                stderr=log,
            )
        except (SystemExit, CommandError) as exc:
            print(f"odoo_setup did not finish ({exc}); see {LOG_DIR / 'odoo_setup.log'}.", flush=True)


def _start_simulators(env: dict[str, str]):
    from simulators.aftership import AfterShipSimulator
    from simulators.odoo import OdooSimulator
    from simulators.odoo.seed import demo_world

    portal = f"http://127.0.0.1:{PORTAL_PORT}"
    odoo = OdooSimulator("127.0.0.1", ODOO_PORT)
    demo_world(odoo, count=40, seed=18)
    aftership = AfterShipSimulator(
        "127.0.0.1",
        AFTERSHIP_PORT,
        api_keys=[env["AFTERSHIP_API_KEY"]],
        webhook_urls=[f"{portal}/aftership/webhook/tracking?token={env['WEBHOOK_URL_TOKEN']}"],
        webhook_secret=env["AFTERSHIP_WEBHOOK_SECRETS"].split(",")[0],
        seed=18,
    )
    aftership.webhook_event_types = {"tracking_update", "edd_revise"}
    odoo.start()
    aftership.start()
    aftership.start_carriers(step_seconds=8)
    odoo.start_warehouse(20)
    return odoo, aftership


def _spawn(name: str, args: list[str], env: dict[str, str]) -> subprocess.Popen:
    """`manage.py <args>`, or `-m gunicorn ...` when args starts with "-m"."""
    LOG_DIR.mkdir(parents=True, exist_ok=True)
    log = open(LOG_DIR / f"{name}.log", "ab")  # noqa: SIM115 - lives as long as the child
    command = [sys.executable, *args] if args[0] == "-m" else [sys.executable, "manage.py", *args]
    return subprocess.Popen(
        command,
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def _wait_for(url: str, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=1):
                return True
        except OSError:
            time.sleep(0.3)
    return False


def _figures() -> str:
    from django.db.models import Count, Q

    from sync.models import EventState, JobState, Shipment, SyncJob, TrackingEvent

    shipments = Shipment.objects.aggregate(
        total=Count("id"),
        tracked=Count("id", filter=~Q(aftership_id="")),
        delivered=Count("id", filter=Q(status="done")),
        review=Count("id", filter=Q(needs_review=True)),
    )
    waiting = SyncJob.objects.filter(state__in=[JobState.PENDING, JobState.RUNNING]).count()
    events = TrackingEvent.objects.filter(state=EventState.PROCESSED).count()
    return (
        f"parcels {shipments['total']}: {shipments['tracked']} tracked, {shipments['delivered']} delivered, "
        f"{shipments['review']} need review; {waiting} jobs waiting; {events} carrier updates received"
    )


def _port_free(port: int) -> bool:
    import socket

    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) != 0


def _interrupt(signum, frame) -> None:
    raise KeyboardInterrupt


def main() -> None:
    # `kill` (and `timeout`) stop the demo as cleanly as Ctrl-C does, at any moment.
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        _run()
    except KeyboardInterrupt:  # before anything was started: nothing to stop
        print("\nStopped.", flush=True)


def _run() -> None:
    for port in (PORTAL_PORT, ODOO_PORT, AFTERSHIP_PORT):
        if not _port_free(port):
            sys.exit(
                f"Port {port} is already in use. Stop what runs there, or choose other ports with "
                "DEMO_PORTAL_PORT, DEMO_ODOO_PORT and DEMO_AFTERSHIP_PORT."
            )
    first_run = not ENV_PATH.exists()
    env_values = _read_env()
    os.environ["ENV_FILE"] = str(ENV_PATH)
    os.environ["DJANGO_SETTINGS_MODULE"] = "portal.settings"
    children: dict[str, subprocess.Popen] = {}
    simulators: list = []
    try:
        print("Setting up the portal (first run: a minute) ..." if first_run else "Reusing .demo/ ...", flush=True)
        _prepare_portal(env_values)
        odoo, aftership = _start_simulators(env_values)
        simulators += [aftership, odoo]
        _setup_odoo()
        _map_carriers(odoo)
        for noisy in ("simulators", "django-q"):
            logging.getLogger(noisy).setLevel(logging.WARNING)

        child_env = {**os.environ, "ENV_FILE": str(ENV_PATH), "PYTHONUNBUFFERED": "1"}
        children["worker"] = _spawn("worker", ["qcluster"], child_env)
        # The production recipe (gunicorn.conf.py: threads, body deadlines, redacted logs), one worker.
        children["web"] = _spawn(
            "web", ["-m", "gunicorn", "portal.wsgi", "--workers", "1", "--bind", f"127.0.0.1:{PORTAL_PORT}"], child_env
        )
        if not _wait_for(f"http://127.0.0.1:{PORTAL_PORT}/admin/login/", 30):
            raise SystemExit(f"The web server did not start; see {LOG_DIR / 'web.log'}.")
        from sync.tasks import pull_deliveries

        pull_deliveries()  # the first pull now rather than at the first scheduled minute
        print(
            f"""
  Shiptrack Portal demo is running.

    Admin        http://127.0.0.1:{PORTAL_PORT}/admin/
    Login        admin / {env_values["DEMO_ADMIN_PASSWORD"]}     (logistics manager: logistics / same password)

    Odoo 18 simulator     {odoo.url}   (a warehouse validates a delivery every 20 s)
    AfterShip simulator   {aftership.url}   (carriers scan parcels every 8 s; webhooks to the portal)
    Logs                  {LOG_DIR}/

  Ctrl-C stops everything.
""",
            flush=True,
        )
        while True:
            for name, child in children.items():
                if child.poll() is not None:
                    raise SystemExit(f"The {name} process stopped; see {LOG_DIR / (name + '.log')}.")
            time.sleep(30)
            print(time.strftime("%H:%M:%S"), _figures(), flush=True)
    except KeyboardInterrupt:
        print("\nStopping ...", flush=True)
    finally:
        # A second Ctrl-C or SIGTERM must not cut the cleanup short (and leave the web server running).
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        for child in children.values():
            if child.poll() is None:
                os.killpg(child.pid, signal.SIGINT)
        for child in children.values():
            try:
                child.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(child.pid, signal.SIGKILL)
                child.wait()
        for simulator in simulators:
            simulator.stop()
        print("Stopped.", flush=True)


if __name__ == "__main__":
    main()
