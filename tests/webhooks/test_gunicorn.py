"""The intake under the production web server: gunicorn with the project's gunicorn.conf.py, real sockets.

Chunked bodies, clients that trickle their body, and gunicorn's own logs.
"""

from __future__ import annotations

import json
import logging.config
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import requests
from django.conf import settings
from django.db import connection

from sync.models import TrackingEvent
from tests.factories import journey_body, signed

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.slow


def database_url() -> str:
    db = settings.DATABASES["default"]
    if connection.vendor == "sqlite":
        return f"sqlite:///{db['NAME']}"
    return f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


@pytest.fixture
def gunicorn(transactional_db):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tests.settings",
        "DATABASE_URL": database_url(),
        "WEBHOOK_BODY_TIMEOUT_SECONDS": "2",
        "WEB_CONCURRENCY": "1",
        "WEB_THREADS": "6",
        "WEB_BIND": f"127.0.0.1:{port}",
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "portal.wsgi"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    url = f"http://127.0.0.1:{port}"
    for _ in range(100):
        try:
            requests.get(f"{url}/admin/login/", timeout=1)
            break
        except requests.RequestException:
            time.sleep(0.1)
    yield url
    process.send_signal(signal.SIGTERM)
    process.wait(timeout=10)


def post_genuine(url: str, body: bytes, *, chunked: bool = False) -> requests.Response:
    data = (body[i : i + 1000] for i in range(0, len(body), 1000)) if chunked else body  # a generator goes chunked
    return requests.post(
        f"{url}/aftership/webhook/tracking?token=url-token",
        data=data,
        headers={"Content-Type": "application/json", "aftership-hmac-sha256": signed(body)},
        timeout=10,
    )


def test_a_genuine_webhook_sent_chunked_is_read_whole(gunicorn):
    body = journey_body("01_in_transit")

    response = post_genuine(gunicorn, body, chunked=True)

    assert response.status_code == 200
    assert bytes(TrackingEvent.objects.get().body) == body


def trickle(url: str, results: list) -> None:
    """Send headers, then the body one byte every half second, as an attacker holding a connection does."""
    host, port = url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=30) as sock:
        sock.sendall(
            b"POST /aftership/webhook/tracking?token=url-token HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            b"Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n"
        )
        started = time.monotonic()
        sock.settimeout(0.5)
        answer = b""
        while not answer and time.monotonic() - started < 20:
            try:
                sock.sendall(b" ")
                answer = sock.recv(200)
            except TimeoutError:
                continue  # no answer yet: one more byte
            except OSError:
                break
        results.append((answer.split(b"\r\n", 1)[0], time.monotonic() - started))


def test_slow_senders_cannot_starve_genuine_webhooks(gunicorn):
    slow: list = []
    attackers = [threading.Thread(target=trickle, args=(gunicorn, slow)) for _ in range(4)]
    for attacker in attackers:
        attacker.start()
    time.sleep(0.5)

    answered = []
    for i in range(7):
        payload = json.loads(journey_body("01_in_transit"))
        payload["event_id"] = f"genuine-{i}"
        started = time.monotonic()
        response = post_genuine(gunicorn, json.dumps(payload).encode())
        answered.append((response.status_code, time.monotonic() - started))
    for attacker in attackers:
        attacker.join()

    assert [status for status, _ in answered] == [200] * 7
    assert max(seconds for _, seconds in answered) < 1.0  # Odoo's push gives up after 1 s
    assert [line for line, _ in slow] == [b"HTTP/1.1 408 Request Timeout"] * 4
    assert all(seconds < 4 for _, seconds in slow)  # cut off after WEBHOOK_BODY_TIMEOUT_SECONDS


def test_gunicorns_own_log_lines_never_carry_a_url_token(capsys):
    namespace: dict = {}
    exec((ROOT / "gunicorn.conf.py").read_text(), namespace)  # the file gunicorn reads
    logging.config.dictConfig(namespace["logconfig_dict"])

    logging.getLogger("gunicorn.error").error("Error handling request /aftership/webhook/tracking?token=url-token")

    err = capsys.readouterr().err
    assert "url-token" not in err and "token=***" in err
