"""`python manage.py run_simulator odoo|aftership --port N ...`: one simulator in the foreground."""

from __future__ import annotations

from django.core.management.base import BaseCommand

from simulators.cli import main


class Command(BaseCommand):
    help = "Run the Odoo or AfterShip simulator in the foreground (see --help of each)."

    def add_arguments(self, parser):
        parser.add_argument("args", nargs="*", help="odoo|aftership and its options, e.g. aftership --port 8070")

    def run_from_argv(self, argv):
        # Everything after the command name belongs to the simulator's own parser.
        main(argv[2:])

    def handle(self, *args, **options):
        main(list(args))
