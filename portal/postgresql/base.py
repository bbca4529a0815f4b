"""Django's PostgreSQL backend, with the connection health check skipped while the connection is known good.

With CONN_HEALTH_CHECKS, Django sends `SELECT 1` before the first query of every request: a second
round trip for a webhook whose whole work is one INSERT. Here a connection that finished a request
without an error less than FRESH_SECONDS ago is taken as alive; an older one is checked as before. A
server restarted within that second costs one request an error (AfterShip and Odoo resend), after
which the broken connection is closed as usual.
"""

from __future__ import annotations

import time

from django.db.backends.postgresql import base

FRESH_SECONDS = 1.0


class DatabaseWrapper(base.DatabaseWrapper):
    _known_good_at = float("-inf")

    def close_if_unusable_or_obsolete(self):
        # Called as each request (or django-q2 task) starts and ends. `health_check_done` is set by the
        # first query since the last call: a connection that ran a query since, free of errors, was good.
        clean = self.connection is not None and not self.errors_occurred and self.health_check_done
        super().close_if_unusable_or_obsolete()
        if clean and self.connection is not None:
            self._known_good_at = time.monotonic()

    def close_if_health_check_failed(self):
        if self.connection is not None and time.monotonic() - self._known_good_at < FRESH_SECONDS:
            self.health_check_done = True
            return
        super().close_if_health_check_failed()

    def close(self):
        self._known_good_at = float("-inf")
        super().close()
