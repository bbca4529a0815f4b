"""Webhook intake benchmark: the AfterShip endpoint against a bare DRF view, then a forged flood.

    python -m bench.webhook_intake [--webhooks 5000] [--rounds 5] [--connections 32]
                                   [--database postgres://...] [--redis redis://...]

The production stack on this machine: gunicorn with 2 workers (the project's gunicorn.conf.py),
PostgreSQL, Redis and one qcluster applying what arrives. `wrk` (Debian's package) posts, over
`--connections` connections:
1. `--webhooks` genuine signed tracking updates (500 parcels, each event distinct) to the endpoint, in
   `--rounds` rounds, each right after a round of as many requests to `/bench/bare`, a DRF view on the
   same gunicorn that only answers 200 (interleaved, so both see the same machine);
2. `--webhooks` forged ones (wrong signature) from one address.
Prints requests/s (answered over first sent to last answered), p50 and p99 latency of each round; that
every acknowledged webhook was stored and applied; how much the forged flood grew the database, and
when it was blocked.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import hmac
import json
import os
import re
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SECRET = "bench-webhook-secret"
TOKEN = "bench-url-token"
PARCELS = 500
STORED_APPLIED = (
    "from sync.models import TrackingEvent as E\n"
    "print(E.objects.count(), E.objects.filter(state__in=['processed', 'duplicate']).count())"
)
SIZE = (
    "from django.db import connection\n"
    "with connection.cursor() as cursor:\n"
    "    cursor.execute('select pg_database_size(current_database())')\n"
    "    print(cursor.fetchone()[0])"
)


def _environment(args) -> dict[str, str]:
    return {
        **os.environ,
        "ENV_FILE": "/nonexistent",
        "DJANGO_SETTINGS_MODULE": "bench.intake_settings",
        "SECRET_KEY": "bench-secret-key-not-for-production-0123456789abcdef",
        "DEBUG": "false",
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "SECURE_SSL_REDIRECT": "false",
        "DATABASE_URL": args.database,
        "REDIS_URL": args.redis,
        "ODOO_URL": "http://127.0.0.1:9",
        "ODOO_DB": "bench",
        "ODOO_USERNAME": "bench",
        "ODOO_API_KEY": "bench",
        "ODOO_WEBHOOK_TOKEN": "bench-push-token",
        "AFTERSHIP_API_KEY": "bench",
        "AFTERSHIP_API_BASE": "http://127.0.0.1:9",
        "AFTERSHIP_WEBHOOK_SECRETS": SECRET,
        "WEBHOOK_URL_TOKEN": TOKEN,
        "LOG_LEVEL": "ERROR",
        "LOG_FORMAT": "text",
        "ODOO_WRITEBACK": "false",  # the intake and the applying only: no Odoo here
        "AFTERSHIP_RECONCILE_INTERVAL_HOURS": "0",
        # Every request comes from 127.0.0.1: the per-address rate is not what is measured here.
        "WEBHOOK_THROTTLE_RATE": "100000000/min",
        "WEB_CONCURRENCY": "2",
    }


def _fresh(args, env) -> None:
    import psycopg

    name = args.database.rsplit("/", 1)[1]
    with psycopg.connect(args.database.rsplit("/", 1)[0] + "/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    subprocess.run(
        [sys.executable, "-c", "import redis,sys; redis.Redis.from_url(sys.argv[1]).flushdb()", args.redis], check=True
    )
    subprocess.run([sys.executable, "manage.py", "migrate", "-v", "0"], cwd=ROOT, env=env, check=True)
    seed = (
        "from django_q.models import Schedule; from sync.models import Shipment\n"
        "Schedule.objects.exclude(func='sync.tasks.dispatch_jobs').delete()\n"
        "Shipment.objects.bulk_create([Shipment(picking_id=i, picking_name=f'WH/OUT/I{i:05d}',\n"
        "    tracking_number=str(4900000000 + i), slug='dhl', aftership_id=f'intake{i:05d}', status='pending')\n"
        f"    for i in range({PARCELS})])\n"
    )
    subprocess.run([sys.executable, "manage.py", "shell", "--no-imports", "-c", seed], cwd=ROOT, env=env, check=True)


def _sql(env, code: str) -> str:
    run = subprocess.run(
        [sys.executable, "manage.py", "shell", "--no-imports", "-c", code],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    return run.stdout.strip().splitlines()[-1]


def _requests_file(directory: Path, name: str, count: int, *, path: str, genuine: bool, first: int = 0) -> Path:
    template = json.loads((ROOT / "tests/fixtures/aftership/journey/01_in_transit.json").read_text())
    lines = []
    for i in range(first, first + count):
        parcel = i % PARCELS
        template["event_id"] = str(uuid.uuid4())
        template["msg"].update(
            {
                "id": f"intake{parcel:05d}",
                "tracking_number": str(4900000000 + parcel),
                "updated_at": f"2026-11-25T{8 + i // (PARCELS * 60) % 12:02d}:{i // PARCELS % 60:02d}:00+00:00",
            }
        )
        body = json.dumps(template, separators=(",", ":"))
        key = SECRET if genuine else "not-the-secret"
        signature = base64.b64encode(hmac.new(key.encode(), body.encode(), hashlib.sha256).digest()).decode()
        lines.append(f"{path}\t{signature}\t{body}")
    target = directory / f"{name}.txt"
    target.write_text("\n".join(lines) + "\n")
    return target


def _cpu_seconds(pid: int) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:  # gone
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class CpuMeter:
    """CPU seconds spent by the gunicorn workers and by the database's server processes serving them:
    a figure of the work a request costs that the other programs on the machine do not move."""

    def __init__(self, web: subprocess.Popen, database: str) -> None:
        self.web, self.database = web, database

    def _pids(self) -> tuple[list[int], list[int]]:
        import psycopg

        children = Path(f"/proc/{self.web.pid}/task/{self.web.pid}/children").read_text().split()
        name = self.database.rsplit("/", 1)[1]
        with psycopg.connect(self.database.rsplit("/", 1)[0] + "/postgres", autocommit=True) as conn:
            rows = conn.execute(
                "select pid from pg_stat_activity where datname = %s and pid <> pg_backend_pid()", [name]
            ).fetchall()
        return [int(pid) for pid in children], [row[0] for row in rows]

    def read(self) -> dict[int, float]:
        web, database = self._pids()
        return {("web", pid): _cpu_seconds(pid) for pid in web} | {("db", pid): _cpu_seconds(pid) for pid in database}

    def since(self, before: dict, requests: int) -> tuple[float, float]:
        """Milliseconds of CPU per request (web, database) since `before`."""
        after = self.read()
        spent = {"web": 0.0, "db": 0.0}
        for key, seconds in after.items():
            spent[key[0]] += seconds - before.get(key, 0.0)
        return tuple(1000 * spent[side] / max(requests, 1) for side in ("web", "db"))


def _wrk(url: str, requests_file: Path, connections: int, meter: CpuMeter | None = None) -> dict:
    """Post every request of the file once; the rate is answered requests over first sent to last answered."""
    threads = 2
    before = meter.read() if meter is not None else None
    wrk = subprocess.Popen(
        [
            *("wrk", f"-t{threads}", f"-c{connections}", "-d300s", "--latency"),
            *("-s", str(ROOT / "bench/intake.lua"), url, "--", str(requests_file), str(threads)),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    finished = []
    for line in wrk.stderr:
        if line.startswith("finished "):
            finished.append(line.split()[1:])
            if len(finished) == threads:
                wrk.send_signal(signal.SIGINT)  # wrk prints its figures and exits
                break
    out = wrk.communicate(timeout=60)[0]

    def latency(percent: str) -> str:
        match = re.search(rf"^\s+{percent}%\s+(\S+)", out, re.M)
        return match.group(1) if match else "?"

    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    errors = re.search(r"Socket errors: (.*)", out)
    answered = int(re.search(r"(\d+) requests in", out).group(1))
    first = min(float(start) for start, _, _ in finished) if finished else 0.0
    last = max(float(end) for _, end, _ in finished) if finished else 1.0
    cpu = meter.since(before, answered) if meter is not None else (0.0, 0.0)
    return {
        "cpu_web": cpu[0],
        "cpu_db": cpu[1],
        "rate": sum(int(count) for _, _, count in finished) / (last - first),
        "p50": latency("50"),
        "p99": latency("99"),
        "requests": answered,
        "non_2xx": int(non_2xx.group(1)) if non_2xx else 0,
        "errors": errors.group(1) if errors else "none",
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--webhooks", type=int, default=5000)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=5, help="bare and genuine rounds, interleaved")
    parser.add_argument("--database", default="postgres://postgres@127.0.0.1:5432/shiptrack_bench_intake")
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/14")
    parser.add_argument(
        "--apply-after",
        action="store_true",
        help="start the qcluster only after the intake rounds (as when the workers run on their own machines)",
    )
    args = parser.parse_args(argv)
    env = _environment(args)
    print(
        f"{args.webhooks} webhooks in {args.rounds} rounds, {args.connections} connections (wrk); "
        "gunicorn 2 workers (gunicorn.conf.py), "
        "PostgreSQL, Redis, one qcluster" + (" started after the intake rounds" if args.apply_after else ""),
        flush=True,
    )
    _fresh(args, env)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env["WEB_BIND"] = f"127.0.0.1:{port}"
    url = f"http://127.0.0.1:{port}"
    web = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "portal.wsgi"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )

    def start_worker() -> subprocess.Popen:
        return subprocess.Popen(
            [sys.executable, "manage.py", "qcluster"],
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )

    worker = None if args.apply_after else start_worker()
    work = Path(tempfile.mkdtemp(prefix="shiptrack-intake-"))
    endpoint = f"/aftership/webhook/tracking?token={TOKEN}"
    per_round = args.webhooks // args.rounds
    bare_file = _requests_file(work, "bare", per_round, path="/bench/bare", genuine=True)
    rounds = [
        _requests_file(work, f"genuine{r}", per_round, path=endpoint, genuine=True, first=r * per_round)
        for r in range(args.rounds)
    ]
    forged_file = _requests_file(work, "forged", args.webhooks, path=endpoint, genuine=False)
    try:
        time.sleep(4)
        _wrk(url, bare_file, 4)  # warm both workers up
        meter = CpuMeter(web, args.database)
        bare, genuine = [], []
        for genuine_file in rounds:  # interleaved, so that both see the same machine
            bare.append(_wrk(url, bare_file, args.connections, meter))
            genuine.append(_wrk(url, genuine_file, args.connections, meter))
        acknowledged = sum(figures["requests"] - figures["non_2xx"] for figures in genuine)
        if worker is None:
            worker = start_worker()
        deadline = time.monotonic() + 600
        while True:  # every stored event applied (wrk's last requests in flight are stored, not counted)
            stored, applied = (int(x) for x in _sql(env, STORED_APPLIED).split())
            if applied >= stored or time.monotonic() > deadline:
                break
            time.sleep(2)
        before = int(_sql(env, SIZE))
        forged = _wrk(url, forged_file, args.connections, meter)
        after = int(_sql(env, SIZE))
        refused = _sql(
            env,
            "from webhooks.models import SecurityEvent as S, AddressBlock as B; from django.db.models import Sum; "
            "print(S.objects.aggregate(n=Sum('count'))['n'] or 0, S.objects.count(), B.objects.count())",
        )
        counted, rows, blocks = (int(x) for x in refused.split())
        print(
            f"\n{'':28} {'requests/s':>11} {'p50':>9} {'p99':>9} {'answered':>9} {'non-2xx':>8}  "
            "CPU ms/request (web + database)  socket errors"
        )
        lines = [(f"bare DRF view, round {r + 1}", figures) for r, figures in enumerate(bare)]
        lines += [(f"genuine webhooks, round {r + 1}", figures) for r, figures in enumerate(genuine)]
        for label, figures in [*lines, ("forged webhooks", forged)]:
            print(
                f"{label:28} {figures['rate']:11.0f} {figures['p50']:>9} {figures['p99']:>9} "
                f"{figures['requests']:9d} {figures['non_2xx']:8d}  "
                f"{figures['cpu_web'] + figures['cpu_db']:6.2f} ({figures['cpu_web']:.2f} + {figures['cpu_db']:.2f})"
                f"{'':15} {figures['errors']}"
            )
        bare_rate = statistics.median(figures["rate"] for figures in bare)
        genuine_rate = statistics.median(figures["rate"] for figures in genuine)
        print(
            f"\nintake throughput (medians): {genuine_rate:.0f}/s against {bare_rate:.0f}/s for the bare view, "
            f"{genuine_rate / bare_rate:.0%}"
        )
        bare_cpu = statistics.median(figures["cpu_web"] + figures["cpu_db"] for figures in bare)
        genuine_cpu = statistics.median(figures["cpu_web"] + figures["cpu_db"] for figures in genuine)
        print(
            f"CPU per request (medians, gunicorn workers and their database server processes): "
            f"{genuine_cpu:.2f} ms against {bare_cpu:.2f} ms for the bare view"
        )
        print(
            f"genuine: {acknowledged} acknowledged (and {stored - acknowledged} in flight when wrk stopped); "
            f"{stored} stored, {applied} applied (processed or duplicate)"
        )
        print(
            f"forged: database grew by {(after - before) / 1024:.0f} KiB; {counted} refusals logged in {rows} rows, "
            f"then blocked ({blocks} block); {forged['non_2xx'] - counted} refused from the block alone"
        )
    finally:
        running = [process for process in (web, worker) if process is not None]
        for process in running:
            process.send_signal(signal.SIGTERM)
        for process in running:
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()


if __name__ == "__main__":
    main()
