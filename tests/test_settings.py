"""Configuration errors stop the portal at start with a message naming the setting."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

COMPLETE = {
    "SECRET_KEY": "x" * 50,
    "ODOO_URL": "https://odoo.example.com",
    "ODOO_DB": "prod",
    "ODOO_USERNAME": "bot",
    "ODOO_API_KEY": "key",
    "ODOO_WEBHOOK_TOKEN": "t1",
    "AFTERSHIP_API_KEY": "k",
    "AFTERSHIP_WEBHOOK_SECRETS": "s1,s2",
    "WEBHOOK_URL_TOKEN": "t2",
}


def load_settings(env: dict, tmp_path: Path, code: str = "print('ok')") -> subprocess.CompletedProcess:
    """Import the real settings module in a fresh interpreter with exactly this environment."""
    clean = {"PATH": os.environ["PATH"], "ENV_FILE": str(tmp_path / "absent.env"), **env}
    script = f"import portal.settings as s\n{code}"
    return subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, env=clean, capture_output=True, text=True, timeout=60
    )


def test_complete_settings_load(tmp_path):
    result = load_settings(COMPLETE, tmp_path, "print(s.AFTERSHIP_WEBHOOK_SECRETS, s.Q_CLUSTER.get('orm'))")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "['s1', 's2'] default"


def test_missing_settings_are_named_in_one_message(tmp_path):
    env = {k: v for k, v in COMPLETE.items() if k not in ("ODOO_API_KEY", "AFTERSHIP_WEBHOOK_SECRETS")}
    result = load_settings(env, tmp_path)
    assert result.returncode != 0
    last_line = result.stderr.strip().splitlines()[-1]
    assert "ImproperlyConfigured" in last_line
    assert "missing: ODOO_API_KEY, AFTERSHIP_WEBHOOK_SECRETS" in last_line
    assert "see .env.example" in last_line


def test_invalid_values_are_explained(tmp_path):
    env = {**COMPLETE, "ODOO_PROTOCOL": "xmlrpc", "Q_TIMEOUT": "300", "Q_RETRY": "200", "ODOO_URL": "odoo.local"}
    result = load_settings(env, tmp_path)
    message = result.stderr.strip().splitlines()[-1]
    assert "ODOO_PROTOCOL='xmlrpc' (expected one of: jsonrpc, json2)" in message
    assert "Q_RETRY=200 must be larger than Q_TIMEOUT=300" in message
    assert "ODOO_URL='odoo.local' (expected an http:// or https:// URL)" in message


def test_secrets_can_come_from_files(tmp_path):
    key_file = tmp_path / "odoo_key"
    key_file.write_text("from-a-file\n")
    env = {k: v for k, v in COMPLETE.items() if k != "ODOO_API_KEY"} | {"ODOO_API_KEY_FILE": str(key_file)}
    result = load_settings(env, tmp_path, "print(s.ODOO_API_KEY)")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "from-a-file"


def test_env_file_is_read_and_the_environment_wins(tmp_path):
    env_file = tmp_path / "portal.env"
    env_file.write_text("".join(f"{k}={v}\n" for k, v in COMPLETE.items()) + "ODOO_DB=from-file\n")
    result = subprocess.run(
        [sys.executable, "-c", "import portal.settings as s; print(s.ODOO_DB, s.ODOO_USERNAME)"],
        cwd=ROOT,
        env={"PATH": os.environ["PATH"], "ENV_FILE": str(env_file), "ODOO_DB": "from-env"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "from-env bot"


def test_redis_url_switches_the_broker_and_the_cache(tmp_path):
    env = {**COMPLETE, "REDIS_URL": "redis://127.0.0.1:6379/3"}
    code = "print(s.Q_CLUSTER.get('redis'), 'orm' in s.Q_CLUSTER, s.CACHES['default']['BACKEND'].rsplit('.', 1)[-1])"
    result = load_settings(env, tmp_path, code)
    assert result.stdout.strip() == "redis://127.0.0.1:6379/3 False RedisCache"


def test_production_settings_pass_the_deploy_check(tmp_path):
    env = {
        **COMPLETE,
        "SECRET_KEY": "k8#f2!Lq9zR4vX7mN1pW6sT3yB5hJ0cD8eG2aQ4uV7iO9lK1nM3bZ6xC5",
        "ALLOWED_HOSTS": "portal.example.com",
        "DJANGO_SETTINGS_MODULE": "portal.settings",
    }
    clean = {"PATH": os.environ["PATH"], "ENV_FILE": str(tmp_path / "absent.env"), **env}
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env=clean,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_manage_py_names_the_missing_setting_without_a_traceback(tmp_path):
    env = {"PATH": os.environ["PATH"], "ENV_FILE": str(tmp_path / "absent.env")}
    result = subprocess.run(
        [sys.executable, "manage.py", "migrate"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert result.stderr.startswith("Shiptrack Portal cannot start, settings are missing: SECRET_KEY, ODOO_URL")


def test_write_back_fields_take_the_defaults_and_a_key_left_empty_is_not_written(tmp_path):
    code = "print(sorted(s.ODOO_WRITEBACK_FIELDS.items()), s.ODOO_NOTIFY_CUSTOMER, s.ODOO_ACTIVITY_STATUSES)"
    result = load_settings(
        {**COMPLETE, "ODOO_WRITEBACK_FIELDS": "status=x_studio_parcel,tracking_url="}, tmp_path, code
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == (
        "[('expected_delivery', 'x_aftership_expected_delivery'), ('status', 'x_studio_parcel')] False "
        "['Exception', 'AttemptFail', 'Expired', 'AvailableForPickup']"
    )


def test_write_back_mistakes_are_explained(tmp_path):
    env = {
        **COMPLETE,
        "ODOO_WRITEBACK_FIELDS": "state=x_status,status=X Status",
        "ODOO_NOTIFY_CUSTOMER_STATUSES": "Delivered,Lost",
        "ODOO_NOTIFY_CUSTOMER": "sometimes",
    }
    message = load_settings(env, tmp_path).stderr.strip().splitlines()[-1]
    assert (
        "ODOO_WRITEBACK_FIELDS: 'state=x_status' (expected status=..., expected_delivery=..., tracking_url=...)"
        in message
    )
    assert "ODOO_WRITEBACK_FIELDS: 'X Status' is not an Odoo field name" in message
    assert "ODOO_NOTIFY_CUSTOMER_STATUSES has Lost" in message
    assert "ODOO_NOTIFY_CUSTOMER='sometimes' (expected true or false)" in message


def test_a_lease_too_short_for_one_call_is_refused(tmp_path):
    message = load_settings({**COMPLETE, "SYNC_JOB_LEASE_SECONDS": "40"}, tmp_path).stderr.strip().splitlines()[-1]
    assert "SYNC_JOB_LEASE_SECONDS=40 must be at least twice ODOO_TIMEOUT and AFTERSHIP_TIMEOUT" in message


def test_an_empty_value_means_the_default(tmp_path):
    empty = {name: "" for name in ("DATABASE_URL", "REDIS_URL", "ODOO_TIMEOUT", "ALLOWED_HOSTS", "DEBUG")}
    code = (
        "print(s.DATABASES['default']['ENGINE'].rsplit('.', 1)[-1], 'orm' in s.Q_CLUSTER, s.ODOO_TIMEOUT, "
        "s.ALLOWED_HOSTS, s.DEBUG)"
    )

    result = load_settings({**COMPLETE, **empty}, tmp_path, code)

    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "sqlite3 True 30.0 [] False"


def test_a_copy_of_env_example_names_only_the_secrets_to_fill_in(tmp_path):
    env_file = tmp_path / ".env"
    env_file.write_text((ROOT / ".env.example").read_text())
    clean = {"PATH": os.environ["PATH"], "ENV_FILE": str(env_file)}

    result = subprocess.run(
        [sys.executable, "manage.py", "check"], cwd=ROOT, env=clean, capture_output=True, text=True, timeout=60
    )

    assert result.returncode != 0
    assert "Traceback" not in result.stderr and "KeyError" not in result.stderr
    assert "settings are missing: SECRET_KEY, ODOO_API_KEY" in result.stderr + result.stdout


@pytest.mark.parametrize("command", [["sync_now", "--help"], ["process_events", "-h"], ["help", "sync_now"]])
def test_help_needs_no_settings(tmp_path, command):
    clean = {"PATH": os.environ["PATH"], "ENV_FILE": str(tmp_path / "absent.env")}

    result = subprocess.run(
        [sys.executable, "manage.py", *command], cwd=ROOT, env=clean, capture_output=True, text=True, timeout=60
    )

    assert result.returncode == 0, result.stderr
    assert "usage: manage.py" in result.stdout


def test_a_lease_shorter_than_a_task_may_run_is_refused(tmp_path):
    env = {**COMPLETE, "SYNC_JOB_LEASE_SECONDS": "100", "Q_TIMEOUT": "110", "Q_RETRY": "200"}
    message = load_settings(env, tmp_path).stderr.strip().splitlines()[-1]
    assert "SYNC_JOB_LEASE_SECONDS=100 must be at least Q_TIMEOUT=110" in message
