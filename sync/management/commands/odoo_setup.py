"""Set up an Odoo for the portal: write-back fields, the delivery form, the push rule; check the user's rights."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError


class Command(BaseCommand):
    help = (
        "Set up the connected Odoo for the portal with an Odoo administrator's credentials (used for this run "
        "only, never stored): create the write-back fields on delivery orders, show them on the delivery form, "
        "and create the automation rule that pushes validated outgoing deliveries to the portal. Then check "
        "what the integration user (ODOO_USERNAME) may do. Shows the plan and asks before changing anything; "
        "a second run changes nothing. Exits with status 1 while something is still missing."
    )

    def add_arguments(self, parser):
        parser.add_argument("--admin-login", help="an Odoo administrator's login (or ODOO_ADMIN_LOGIN)")
        parser.add_argument(
            "--admin-key-file",
            help="a file holding that administrator's API key or password (or ODOO_ADMIN_API_KEY)",
        )
        parser.add_argument(
            "--portal-url",
            help="the portal's address as Odoo reaches it (or PORTAL_BASE_URL), e.g. https://portal.example.com",
        )
        parser.add_argument("--yes", action="store_true", help="apply without asking")
        parser.add_argument("--dry-run", action="store_true", help="only show what would change")
        parser.add_argument("--grant", action="store_true", help="add the integration user to the groups it lacks")
        parser.add_argument("--remove", action="store_true", help="remove the push rule and the form view")
        parser.add_argument(
            "--drop-fields", action="store_true", help="with --remove, delete the fields too (their values go)"
        )

    def handle(self, *args, **options):
        from sync.odoo import OdooClient, OdooConfig

        if options["drop_fields"] and not options["remove"]:
            raise CommandError("--drop-fields goes with --remove.")
        login, key = self._admin_credentials(options)
        portal_url = (options["portal_url"] or settings.PORTAL_BASE_URL or "").rstrip("/")
        if not portal_url and not options["remove"]:
            raise CommandError(
                "Give the portal's address as Odoo reaches it: --portal-url https://portal.example.com "
                "(or PORTAL_BASE_URL)."
            )
        if portal_url and not portal_url.startswith(("http://", "https://")):
            raise CommandError(f"--portal-url {portal_url!r} is not an http:// or https:// address.")
        config = OdooConfig.from_settings()
        admin = OdooClient(OdooConfig(**{**vars(config), "username": login, "api_key": key}))
        try:
            self._run(admin, config, login, portal_url, options)
        finally:
            admin.close()

    def _run(self, admin, config, login: str, portal_url: str, options) -> None:
        from sync.audit import Actor, audit_record
        from sync.models import AuditAction
        from sync.odoo import OdooAuthError, OdooError
        from sync.odoo_setup import OdooSetup, SetupError

        setup = OdooSetup(admin, portal_url=portal_url)
        try:
            self.stdout.write(f"Odoo at {config.url} (database {config.db}), as administrator {login}.")
            setup.check_admin()
            version = admin.version()
            steps = setup.plan(remove=options["remove"], drop_fields=options["drop_fields"])
            rights, uid = ([], None) if options["remove"] else self._rights(version)
        except OdooAuthError as exc:
            raise CommandError(
                f"Odoo refused the administrator's login {login}: {exc.message}. Check --admin-login and the key."
            ) from exc
        except SetupError as exc:
            raise CommandError(str(exc)) from exc
        except OdooError as exc:
            raise CommandError(f"Odoo: {exc}") from exc

        missing = [check for check in rights if not check.ok]
        grants = sorted({check.group for check in missing if check.group}) if options["grant"] else []
        try:
            group_ids = setup.groups_resolve(grants) if grants else {}
        except SetupError as exc:
            raise CommandError(str(exc)) from exc
        except OdooError as exc:
            raise CommandError(f"Odoo: {exc}") from exc
        self._show(steps, rights, grants)
        changes = [step for step in steps if step.apply is not None and not step.blocked]
        blocked = [step for step in steps if step.blocked]
        if not changes and not grants:
            self.stdout.write(self.style.SUCCESS("Nothing to change."))
            return self._finish(blocked, missing)
        count = len(changes) + len(grants)
        if options["dry_run"]:
            self.stdout.write(f"Dry run: {count} change{'s' if count != 1 else ''} not applied.")
            self.stderr.write(self.style.WARNING("Odoo is not set up for the portal yet: run without --dry-run."))
            raise SystemExit(1)
        if not options["yes"]:
            if not sys.stdin.isatty():
                raise CommandError("Add --yes to apply without a question (no terminal to ask on).")
            answer = input(f"Apply {count} change{'s' if count != 1 else ''} to Odoo? [y/N] ")
            if answer.strip().lower() not in ("y", "yes"):
                raise CommandError("Nothing changed.")
        done: list = []
        added: list[str] = []
        failure = ""
        try:
            setup.apply(changes, done)
            if group_ids:
                setup.grant(uid=uid, groups=group_ids, added=added)
        except (SetupError, OdooError) as exc:
            failure = str(exc)
        finally:
            for step in done:
                self.stdout.write(f"  done   {step.what}")
            for group in added:
                self.stdout.write(f"  done   {settings.ODOO_USERNAME} added to '{group}'")
            if done or added or failure:
                audit_record(
                    actor=Actor.from_command("odoo_setup" + (" --remove" if options["remove"] else "")),
                    action=AuditAction.ODOO_SETUP,
                    target=f"Odoo at {config.url} (database {config.db})",
                    after={
                        "changes": [f"{step.change} {step.what}" for step in done],
                        "groups granted": added,
                        "by administrator": login,
                    },
                    detail=f"Stopped: {failure}" if failure else "",
                )
        if failure:
            raise CommandError(
                f"Odoo refused a change: {failure}. What is marked done above stays; run the command again."
            )
        applied = len(done) + len(added)
        self.stdout.write(self.style.SUCCESS(f"{applied} change{'s' if applied != 1 else ''} applied."))
        return self._finish(blocked, [check for check in missing if check.group not in added])

    # -- parts ----------------------------------------------------------------------------------------
    def _admin_credentials(self, options) -> tuple[str, str]:
        login = options["admin_login"] or os.environ.get("ODOO_ADMIN_LOGIN", "")
        if options["admin_key_file"]:
            try:
                key = Path(options["admin_key_file"]).read_text(encoding="utf-8").strip()
            except OSError as exc:
                raise CommandError(f"Cannot read --admin-key-file: {exc.strerror}.") from exc
        else:
            key = os.environ.get("ODOO_ADMIN_API_KEY", "")
        if not login or not key:
            raise CommandError(
                "An Odoo administrator's login and key are needed for this run only: --admin-login and "
                "--admin-key-file, or ODOO_ADMIN_LOGIN and ODOO_ADMIN_API_KEY."
            )
        return login, key

    def _rights(self, version: dict):
        """The integration user's rights, asked with its own key."""
        from sync.clients import odoo_client
        from sync.odoo import OdooAuthError, odoo_major
        from sync.odoo_rights import RightCheck, odoo_rights_check

        with odoo_client() as client:
            try:
                uid = client.uid(fresh=True)
            except OdooAuthError as exc:
                check = RightCheck(
                    False,
                    f"Integration user {settings.ODOO_USERNAME}",
                    f"Odoo refused its login: {exc.message}",
                    "Check ODOO_USERNAME and ODOO_API_KEY (an API key of that user).",
                )
                return [check], None
            checks = odoo_rights_check(
                client=client, uid=uid, login=settings.ODOO_USERNAME, version_major=odoo_major(version)
            )
        return checks, uid

    def _show(self, steps, rights, grants) -> None:
        self.stdout.write("Plan:")
        width = max(len(step.what) for step in steps)
        for step in steps:
            if step.blocked:
                line = self.style.ERROR(f"  FIX    {step.what:<{width}}  {step.detail}")
            elif step.change:
                line = self.style.WARNING(f"  {step.change:<6} {step.what:<{width}}  {step.detail}")
            else:
                line = f"  ok     {step.what:<{width}}  {step.detail}"
            self.stdout.write(line)
        if rights:
            self.stdout.write(f"Rights of the integration user {settings.ODOO_USERNAME}:")
            for check in rights:
                if check.ok:
                    self.stdout.write(f"  ok     {check.what}")
                elif check.group in grants:
                    self.stdout.write(self.style.WARNING(f"  grant  {check.what}: add to '{check.group}'"))
                else:
                    self.stdout.write(self.style.ERROR(f"  FIX    {check.what}: {check.detail}"))
                    if check.advice:
                        self.stdout.write(f"         {check.advice}" + ("" if grants else " Or run with --grant."))

    def _finish(self, blocked, missing) -> None:
        problems = len(blocked) + len(missing)
        if problems:
            self.stderr.write(
                self.style.ERROR(
                    f"{problems} thing{'s' if problems != 1 else ''} still to fix in Odoo (see FIX above)."
                )
            )
            raise SystemExit(1)
