"""Settings for Shiptrack Portal, read from the environment or a `.env` file (see `.env.example`).

Every secret can also be read from a file named by `<NAME>_FILE` (Docker/Kubernetes secrets).
A missing required setting stops the portal at start with a message that names it.
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import MutableMapping
from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent


class _SetValues(MutableMapping):
    """The environment without its empty values: `NAME=` (as `cp .env.example .env` leaves the optional
    settings) means "use the default", not an empty database URL or list."""

    def __init__(self, environ_: MutableMapping) -> None:
        self._environ = environ_

    def __getitem__(self, name: str) -> str:
        value = self._environ[name]
        if value == "":
            raise KeyError(name)
        return value

    def __setitem__(self, name: str, value: str) -> None:
        self._environ[name] = value

    def __delitem__(self, name: str) -> None:
        del self._environ[name]

    def __iter__(self):
        return (name for name, value in self._environ.items() if value != "")

    def __len__(self) -> int:
        return sum(1 for _ in self)


env = environ.Env()
ENV_FILE = Path(os.environ.get("ENV_FILE", BASE_DIR / ".env"))
if ENV_FILE.is_file():
    # Values already in the environment win over the file.
    env.read_env(str(ENV_FILE))
env.ENVIRON = _SetValues(os.environ)

_missing: list[str] = []
_invalid: list[str] = []


def _read(name: str, default: str = "") -> str:
    """A setting from NAME, or from the file named by NAME_FILE."""
    value = os.environ.get(name, "")
    path = os.environ.get(f"{name}_FILE", "")
    if not value and path:
        try:
            value = Path(path).read_text(encoding="utf-8").strip()
        except OSError as exc:
            _invalid.append(f"{name}_FILE ({path}: {exc.strerror})")
    return value or default


def _required(name: str) -> str:
    value = _read(name)
    if not value:
        _missing.append(name)
    return value


def _choice(name: str, default: str, choices: tuple[str, ...]) -> str:
    value = _read(name, default).strip().lower()
    if value not in choices:
        _invalid.append(f"{name}={value!r} (expected one of: {', '.join(choices)})")
    return value


def _url(name: str, value: str) -> str:
    if value and not value.startswith(("http://", "https://")):
        _invalid.append(f"{name}={value!r} (expected an http:// or https:// URL)")
    return value.rstrip("/")


def _int(name: str, default: int) -> int:
    try:
        return env.int(name, default=default)
    except (ValueError, ImproperlyConfigured):
        _invalid.append(f"{name} (expected a whole number)")
        return default


def _bool(name: str, default: bool) -> bool:
    value = _read(name).strip().lower()
    if not value:
        return default
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off"):
        return False
    _invalid.append(f"{name}={value!r} (expected true or false)")
    return default


AFTERSHIP_TAGS = (
    "Pending",
    "InfoReceived",
    "InTransit",
    "OutForDelivery",
    "AttemptFail",
    "AvailableForPickup",
    "Exception",
    "Delivered",
    "Expired",
)


def _tags(name: str, default: str) -> list[str]:
    """A comma-separated list of AfterShip tags (statuses), each checked against AfterShip's list."""
    tags = [t.strip() for t in (_read(name) or default).split(",") if t.strip()]
    unknown = [t for t in tags if t not in AFTERSHIP_TAGS]
    if unknown:
        _invalid.append(f"{name} has {', '.join(unknown)} (expected AfterShip tags: {', '.join(AFTERSHIP_TAGS)})")
    return [t for t in tags if t in AFTERSHIP_TAGS]


WRITEBACK_FIELD_KEYS = ("status", "expected_delivery", "tracking_url")


def _writeback_fields(name: str) -> dict[str, str]:
    """`status=x_aftership_status,expected_delivery=...,tracking_url=...`; a key left empty is not written."""
    fields = {
        "status": "x_aftership_status",
        "expected_delivery": "x_aftership_expected_delivery",
        "tracking_url": "x_aftership_tracking_url",
    }
    for part in (p.strip() for p in _read(name).split(",") if p.strip()):
        key, sep, field = (x.strip() for x in part.partition("="))
        if key not in WRITEBACK_FIELD_KEYS or not sep:
            _invalid.append(f"{name}: {part!r} (expected {'=..., '.join(WRITEBACK_FIELD_KEYS)}=...)")
        elif field and not re.fullmatch(r"[a-z_][a-z0-9_]*", field):
            _invalid.append(f"{name}: {field!r} is not an Odoo field name")
        else:
            fields[key] = field
    return {key: field for key, field in fields.items() if field}


def _networks(name: str) -> list[str]:
    """Comma-separated addresses or CIDR networks, each checked now rather than at the first request."""
    import ipaddress

    networks = [part.strip() for part in _read(name).split(",") if part.strip()]
    for network in networks:
        try:
            ipaddress.ip_network(network, strict=False)
        except ValueError:
            _invalid.append(f"{name} has {network!r} (expected an address or a network such as 34.122.118.0/24)")
    return networks


def _rate(name: str, default: str) -> str:
    value = _read(name, default).strip()
    if not re.fullmatch(r"\d+/(s|sec|second|m|min|minute|h|hour|d|day)", value):
        _invalid.append(f"{name}={value!r} (expected a number per second, minute, hour or day, e.g. 6000/min)")
        return default
    return value


def _float(name: str, default: float) -> float:
    try:
        return env.float(name, default=default)
    except (ValueError, ImproperlyConfigured):
        _invalid.append(f"{name} (expected a number)")
        return default


# --- Django core --------------------------------------------------------------------------------
SECRET_KEY = _required("SECRET_KEY")
DEBUG = env.bool("DEBUG", default=False)
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["localhost", "127.0.0.1"] if DEBUG else [])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "portal.apps.PortalAdminConfig",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "django_q",
    "sync",
    "webhooks",
]
# The simulators' management command (run_simulator), for development and the demo only.
if env.bool("SIMULATORS_ENABLED", default=DEBUG):
    INSTALLED_APPS.append("simulators")

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "portal.urls"
WSGI_APPLICATION = "portal.wsgi.application"
ASGI_APPLICATION = "portal.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

DATABASES = {"default": env.db("DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}")}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Several processes (web, workers) share the file: wait for locks instead of failing at once,
    # and take the write lock at BEGIN so claims never deadlock on a lock upgrade. In WAL mode,
    # synchronous=NORMAL keeps the file consistent on a crash and makes each commit a write, not an
    # fsync, so a webhook rarely waits behind a worker's commit.
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {
            "timeout": 30,
            "transaction_mode": "IMMEDIATE",
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        }
    )
else:
    if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
        # Django's, minus the `SELECT 1` before each request on a connection used within the last second.
        DATABASES["default"]["ENGINE"] = "portal.postgresql"
    DATABASES["default"]["CONN_MAX_AGE"] = _int("DATABASE_CONN_MAX_AGE", 60)
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

REDIS_URL = _read("REDIS_URL")
if REDIS_URL:
    CACHES = {"default": {"BACKEND": "portal.cache.RedisCache", "LOCATION": REDIS_URL}}
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.db.DatabaseCache", "LOCATION": "portal_cache"}}

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = env.str("TIME_ZONE", default="UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}

# --- Security (production defaults; the demo and tests run with DEBUG or override them) ----------
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=not DEBUG)
SESSION_COOKIE_SECURE = env.bool("SESSION_COOKIE_SECURE", default=not DEBUG)
CSRF_COOKIE_SECURE = env.bool("CSRF_COOKIE_SECURE", default=not DEBUG)
SECURE_HSTS_SECONDS = _int("SECURE_HSTS_SECONDS", 0 if DEBUG else 31536000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", default=not DEBUG)
SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=not DEBUG)
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
if env.bool("USE_X_FORWARDED_PROTO", default=False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

# --- Odoo ---------------------------------------------------------------------------------------
ODOO_URL = _url("ODOO_URL", _required("ODOO_URL"))
ODOO_DB = _required("ODOO_DB")
ODOO_USERNAME = _required("ODOO_USERNAME")
ODOO_API_KEY = _required("ODOO_API_KEY")
ODOO_PROTOCOL = _choice("ODOO_PROTOCOL", "jsonrpc", ("jsonrpc", "json2"))
ODOO_TIMEOUT = _float("ODOO_TIMEOUT", 30.0)
ODOO_WEBHOOK_TOKEN = _required("ODOO_WEBHOOK_TOKEN")
# The portal's address as Odoo reaches it, for the push rule `manage.py odoo_setup` creates (optional).
PORTAL_BASE_URL = _url("PORTAL_BASE_URL", _read("PORTAL_BASE_URL").strip())

# --- Write-back to Odoo (AfterShip's news on the delivery order) ---------------------------------
ODOO_WRITEBACK = _bool("ODOO_WRITEBACK", True)
# Fields of the delivery order the portal fills where the Odoo database has them (missing ones are skipped).
ODOO_WRITEBACK_FIELDS = _writeback_fields("ODOO_WRITEBACK_FIELDS")
# Who gets the To-Do activity when a parcel is in trouble (an Odoo login); empty: the delivery's
# responsible user, else the integration user.
ODOO_ACTIVITY_USER = _read("ODOO_ACTIVITY_USER").strip()
ODOO_ACTIVITY_STATUSES = _tags("ODOO_ACTIVITY_STATUSES", "Exception,AttemptFail,Expired,AvailableForPickup")
# Tell the customer (a message on the sale order, which Odoo e-mails) on these statuses.
ODOO_NOTIFY_CUSTOMER = _bool("ODOO_NOTIFY_CUSTOMER", False)
ODOO_NOTIFY_CUSTOMER_STATUSES = _tags("ODOO_NOTIFY_CUSTOMER_STATUSES", "OutForDelivery,Delivered,Exception")

# --- AfterShip ----------------------------------------------------------------------------------
AFTERSHIP_API_KEY = _required("AFTERSHIP_API_KEY")
AFTERSHIP_API_BASE = _url("AFTERSHIP_API_BASE", _read("AFTERSHIP_API_BASE", "https://api.aftership.com"))
AFTERSHIP_TIMEOUT = _float("AFTERSHIP_TIMEOUT", 15.0)
# First secret signs today; the others are still accepted while a rotation is under way.
AFTERSHIP_WEBHOOK_SECRETS = [s.strip() for s in _required("AFTERSHIP_WEBHOOK_SECRETS").split(",") if s.strip()]
WEBHOOK_URL_TOKEN = _required("WEBHOOK_URL_TOKEN")
WEBHOOK_IP_ALLOWLIST = _networks("WEBHOOK_IP_ALLOWLIST")

# --- Webhook endpoints: who is refused, and how much they may send -------------------------------
# Larger bodies are refused (413) before they are read; both endpoints.
WEBHOOK_MAX_BODY_BYTES = _int("WEBHOOK_MAX_BODY_BYTES", 2 * 1024 * 1024)
# A body that takes longer than this to arrive is refused (408): a slow sender cannot hold a worker.
WEBHOOK_BODY_TIMEOUT_SECONDS = _float("WEBHOOK_BODY_TIMEOUT_SECONDS", 10)
# An address that fails authentication this many times within the window is refused (403) for a while.
WEBHOOK_BLOCK_AFTER = _int("WEBHOOK_BLOCK_AFTER", 20)
WEBHOOK_BLOCK_WINDOW_SECONDS = _int("WEBHOOK_BLOCK_WINDOW_SECONDS", 600)
WEBHOOK_BLOCK_SECONDS = _int("WEBHOOK_BLOCK_SECONDS", 3600)
# Authenticated requests allowed per address ("number/second|minute|hour|day"); more get 429.
WEBHOOK_THROTTLE_RATE = _rate("WEBHOOK_THROTTLE_RATE", "6000/min")
# A process rings the workers for new webhooks at most this often (the webhooks between two rings are
# picked up by the same worker run); not read from the environment.
WEBHOOK_RING_INTERVAL_SECONDS = 0.5
# How many proxies in front of the portal add to X-Forwarded-For (0: believe no such header).
TRUSTED_PROXY_COUNT = _int("TRUSTED_PROXY_COUNT", 0)
# Refused requests are logged (never their bodies), one row per address, path, reason and minute.
SECURITY_LOG_RETENTION_DAYS = _int("SECURITY_LOG_RETENTION_DAYS", 90)
# Webhook events, job attempts, finished jobs, API usage and the scans of delivered parcels older than
# this are deleted daily (`manage.py purge`); events still waiting to be applied are kept.
RETENTION_DAYS = _int("RETENTION_DAYS", 180)
if RETENTION_DAYS < 1:
    _invalid.append(f"RETENTION_DAYS={RETENTION_DAYS} (expected at least 1 day)")
# The audit log (who changed a mapping or retried, resynced, purged...) is kept this long.
AUDIT_RETENTION_DAYS = _int("AUDIT_RETENTION_DAYS", 730)
if AUDIT_RETENTION_DAYS < 1:
    _invalid.append(f"AUDIT_RETENTION_DAYS={AUDIT_RETENTION_DAYS} (expected at least 1 day)")
DATA_UPLOAD_MAX_MEMORY_SIZE = WEBHOOK_MAX_BODY_BYTES

# Client-side rate limits per AfterShip endpoint (calls per second) and the plan's daily quota (0: none).
AFTERSHIP_RATE_LIMITS = {
    "create_tracking": _float("AFTERSHIP_RATE_POST_TRACKINGS", 20),
    "list_trackings": _float("AFTERSHIP_RATE_GET_TRACKINGS", 6),
    "detect_courier": _float("AFTERSHIP_RATE_DETECT", 3),
    "default": _float("AFTERSHIP_RATE_OTHER", 5),
}
# Share of each limit the portal allows itself, so clock skew and jitter never cross AfterShip's line.
AFTERSHIP_RATE_HEADROOM = _float("AFTERSHIP_RATE_HEADROOM", 0.96)
AFTERSHIP_DAILY_QUOTA = _int("AFTERSHIP_DAILY_QUOTA", 0)
# Whether customer e-mail and phone may go to AfterShip for carriers that do not say otherwise.
AFTERSHIP_SEND_CONTACT_DEFAULT = env.bool("AFTERSHIP_SEND_CONTACT_DEFAULT", default=False)
# How often trackings changed in AfterShip are polled, in case a webhook never reached the portal (0: never).
AFTERSHIP_RECONCILE_INTERVAL_HOURS = _float("AFTERSHIP_RECONCILE_INTERVAL_HOURS", 6)

# --- Sync ---------------------------------------------------------------------------------------
SYNC_PULL_INTERVAL_MINUTES = _int("SYNC_PULL_INTERVAL_MINUTES", 5)
SYNC_FULL_PULL_INTERVAL_MINUTES = _int("SYNC_FULL_PULL_INTERVAL_MINUTES", 60)
SYNC_FULL_PULL_LOOKBACK_HOURS = _int("SYNC_FULL_PULL_LOOKBACK_HOURS", 48)
SYNC_PULL_OVERLAP_MINUTES = _int("SYNC_PULL_OVERLAP_MINUTES", 10)
# How long one catch-up run may read before it stops and leaves the rest of its sweep to the next run.
SYNC_CATCHUP_BUDGET_SECONDS = _float("SYNC_CATCHUP_BUDGET_SECONDS", 60)
SYNC_PULL_BUDGET_SECONDS = _float("SYNC_PULL_BUDGET_SECONDS", 60)
SYNC_PAGE_SIZE = _int("SYNC_PAGE_SIZE", 200)
SYNC_JOB_EXPIRY_HOURS = _float("SYNC_JOB_EXPIRY_HOURS", 24)
SYNC_BACKOFF_BASE_SECONDS = _float("SYNC_BACKOFF_BASE_SECONDS", 30)
# A job's first failures while AfterShip otherwise answers are retried after this many seconds, doubling.
SYNC_RETRY_SOON_SECONDS = _float("SYNC_RETRY_SOON_SECONDS", 2)
SYNC_RETRY_SOON_ATTEMPTS = _int("SYNC_RETRY_SOON_ATTEMPTS", 3)
SYNC_BACKOFF_MAX_SECONDS = _float("SYNC_BACKOFF_MAX_SECONDS", 3600)
# Odoo posts a validation before it commits it: pushed deliveries are read together, this long after the
# first push of a batch.
SYNC_PUSH_SETTLE_SECONDS = _float("SYNC_PUSH_SETTLE_SECONDS", 2.0)
# How long partners and sale orders read from Odoo are kept for the next deliveries (0: read every time).
SYNC_ODOO_RECORDS_CACHE_SECONDS = _int("SYNC_ODOO_RECORDS_CACHE_SECONDS", 300)
SYNC_PUSH_RECHECK_SECONDS = [float(s) for s in env.list("SYNC_PUSH_RECHECK_SECONDS", default=["2", "5", "15", "30"])]
SYNC_DRAIN_PARALLELISM = _int("SYNC_DRAIN_PARALLELISM", 2)
SYNC_DRAIN_THREADS = _int("SYNC_DRAIN_THREADS", 4)
SYNC_DRAIN_BUDGET_SECONDS = _float("SYNC_DRAIN_BUDGET_SECONDS", 50)
SYNC_JOB_LEASE_SECONDS = _float("SYNC_JOB_LEASE_SECONDS", 120)
SYNC_AUTH_PAUSE_RECHECK_MINUTES = _int("SYNC_AUTH_PAUSE_RECHECK_MINUTES", 15)
SYNC_ALERT_EMAILS = env.list("SYNC_ALERT_EMAILS", default=[])
SYNC_LOGISTICS_EMAILS = env.list("SYNC_LOGISTICS_EMAILS", default=[])

# --- django-q2 ----------------------------------------------------------------------------------
Q_TIMEOUT = _int("Q_TIMEOUT", 120)
Q_RETRY = _int("Q_RETRY", 180)
if Q_RETRY <= Q_TIMEOUT:
    _invalid.append(f"Q_RETRY={Q_RETRY} must be larger than Q_TIMEOUT={Q_TIMEOUT}")
if SYNC_DRAIN_BUDGET_SECONDS >= Q_TIMEOUT:
    _invalid.append(f"SYNC_DRAIN_BUDGET_SECONDS must be shorter than Q_TIMEOUT={Q_TIMEOUT}")
if SYNC_JOB_LEASE_SECONDS < Q_TIMEOUT:
    # A task django-q2 still lets run must still own its jobs: a shorter lease would hand them to another.
    _invalid.append(f"SYNC_JOB_LEASE_SECONDS={SYNC_JOB_LEASE_SECONDS:g} must be at least Q_TIMEOUT={Q_TIMEOUT}")
if 2 * max(ODOO_TIMEOUT, AFTERSHIP_TIMEOUT) > SYNC_JOB_LEASE_SECONDS:
    _invalid.append(
        f"SYNC_JOB_LEASE_SECONDS={SYNC_JOB_LEASE_SECONDS:g} must be at least twice ODOO_TIMEOUT and AFTERSHIP_TIMEOUT"
    )
for _budget in ("SYNC_CATCHUP_BUDGET_SECONDS", "SYNC_PULL_BUDGET_SECONDS"):
    if globals()[_budget] >= Q_TIMEOUT * 0.8:
        _invalid.append(f"{_budget} must leave a page's time within Q_TIMEOUT={Q_TIMEOUT}")
Q_CLUSTER = {
    "name": env.str("Q_CLUSTER_NAME", default="shiptrack"),
    "workers": _int("Q_WORKERS", 4),
    "timeout": Q_TIMEOUT,
    "retry": Q_RETRY,
    # SyncJob rows own retries and backoff; a task is only a doorbell and is never re-run by the queue.
    "max_attempts": 1,
    "ack_failures": True,
    "save_limit": 500,
    # A worker process is replaced after this many tasks (what a long-lived process holds is given back).
    "recycle": _int("Q_RECYCLE", 500),
    "catch_up": False,
    "poll": 0.5,
    "label": "Task queue",
}
if REDIS_URL:
    Q_CLUSTER["redis"] = REDIS_URL
else:
    Q_CLUSTER["orm"] = "default"

# --- E-mail (alerts) ----------------------------------------------------------------------------
EMAIL_CONFIG = env.email_url("EMAIL_URL", default="consolemail://")
globals().update(EMAIL_CONFIG)
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="shiptrack@localhost")
EMAIL_TIMEOUT = _int("EMAIL_TIMEOUT", 10)  # seconds: a mail server that does not answer holds no worker
# At most one alert mail per subject in this many minutes: what happens meanwhile goes in the next digest.
ALERT_DIGEST_MINUTES = _int("ALERT_DIGEST_MINUTES", 60)
SERVER_EMAIL = DEFAULT_FROM_EMAIL

# --- REST framework (webhook ingestion only) ----------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [],
    "DEFAULT_PERMISSION_CLASSES": [],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "UNAUTHENTICATED_USER": None,
}

# --- Logging ------------------------------------------------------------------------------------
LOG_LEVEL = env.str("LOG_LEVEL", default="INFO")
LOG_FORMAT = _choice("LOG_FORMAT", "text" if DEBUG else "json", ("json", "text"))
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "json": {"()": "portal.logging.JsonFormatter"},
        "text": {"()": "portal.logging.TextFormatter"},
    },
    "filters": {"ids": {"()": "portal.logging.ContextFilter"}, "redact": {"()": "portal.logging.RedactFilter"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": LOG_FORMAT, "filters": ["redact", "ids"]}},
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {
        "django": {"level": "INFO"},
        "django.server": {"handlers": ["console"], "level": "INFO", "propagate": False},
        "urllib3": {"level": "WARNING"},
    },
}

# `manage.py <command> --help` (or `manage.py help`) only prints: it needs no secret.
_HELP_ONLY = Path(sys.argv[0]).name == "manage.py" and (
    "-h" in sys.argv[2:] or "--help" in sys.argv[2:] or sys.argv[1:2] in (["help"], ["-h"], ["--help"])
)
if _invalid or (_missing and not _HELP_ONLY):
    problems = []
    if _missing:
        problems.append("missing: " + ", ".join(_missing))
    if _invalid:
        problems.append("invalid: " + "; ".join(_invalid))
    raise ImproperlyConfigured(
        "Shiptrack Portal cannot start, settings are "
        + " | ".join(problems)
        + f". Set them in the environment or in {ENV_FILE} (see .env.example)."
    )
