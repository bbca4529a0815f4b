"""Check what the portal needs from Odoo and AfterShip, one line each; exit status 1 if anything fails."""

from __future__ import annotations

from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = (
        "Check the connections to Odoo (reachable, version, login, the delivery fields written back) and "
        "AfterShip (API key, active couriers, quota), one line each with what to do. Exits with status 1 if "
        "any check fails. Changes nothing, except resuming a service paused for refused credentials once "
        "they work."
    )

    def handle(self, *args, **options):
        from sync.audit import Actor
        from sync.connection import connections_check

        lines = connections_check(actor=Actor.from_command("check_connections"))
        width = max(len(line.what) for line in lines)
        for line in lines:
            text = f"{'ok  ' if line.ok else 'FAIL'}  {line.what:<{width}}  {line.detail}"
            if line.ok:
                self.stdout.write(text)
            else:
                self.stdout.write(self.style.ERROR(text))
                if line.advice:
                    self.stdout.write(f"      {'':<{width}}  {line.advice}")
        failed = sum(not line.ok for line in lines)
        if failed:
            self.stderr.write(self.style.ERROR(f"{failed} of {len(lines)} checks failed."))
            raise SystemExit(1)
        self.stdout.write(self.style.SUCCESS(f"All {len(lines)} checks passed."))
