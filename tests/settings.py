"""Test settings: the portal's one settings module, fed with a test environment.

DATABASE_URL and REDIS_URL pass through, so `make test` runs on SQLite and `.ci/run` on PostgreSQL
and Redis. The external URLs are placeholders: each test points the clients at its simulators.
"""

import os

_TEST_ENV = {
    "ENV_FILE": "/nonexistent",
    "SECRET_KEY": "test-secret-key-not-for-production-0123456789",
    "DEBUG": "false",
    "ALLOWED_HOSTS": "testserver,localhost,127.0.0.1",
    "SECURE_SSL_REDIRECT": "false",
    "ODOO_URL": "http://127.0.0.1:9",
    "ODOO_DB": "odoo18",
    "ODOO_USERNAME": "aftership-bot",
    "ODOO_API_KEY": "e7cab076b7ad4a90745ab1d66decba764b676077",
    "ODOO_WEBHOOK_TOKEN": "odoo-push-token",
    "AFTERSHIP_API_KEY": "asat_test_key",
    "AFTERSHIP_API_BASE": "http://127.0.0.1:9",
    "AFTERSHIP_WEBHOOK_SECRETS": "whsec-current,whsec-previous",
    "WEBHOOK_URL_TOKEN": "url-token",
    "LOG_FORMAT": "text",
    "LOG_LEVEL": "WARNING",
    "SYNC_PUSH_RECHECK_SECONDS": "0.2,0.5,1",
    "SYNC_PUSH_SETTLE_SECONDS": "0.2",
}
for _name, _value in _TEST_ENV.items():
    os.environ.setdefault(_name, _value)
os.environ["ENV_FILE"] = "/nonexistent"

from portal.settings import *  # noqa: E402,F403

if "simulators" not in INSTALLED_APPS:  # noqa: F405
    INSTALLED_APPS.append("simulators")  # noqa: F405

# Every webhook rings at once: no background thread rings later, into another test's database.
WEBHOOK_RING_INTERVAL_SECONDS = 0
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"

if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":  # noqa: F405
    # A file, not SQLite's shared in-memory database: tests with worker threads need real locking.
    import tempfile

    DATABASES["default"]["TEST"] = {  # noqa: F405
        "NAME": os.path.join(tempfile.gettempdir(), f"shiptrack-test-{os.getpid()}.sqlite3")
    }
