#!/usr/bin/env python
"""Django's command-line utility for Shiptrack Portal."""

import os
import sys


def main():
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")
    from django.core.exceptions import ImproperlyConfigured
    from django.core.management import execute_from_command_line

    try:
        execute_from_command_line(sys.argv)
    except ImproperlyConfigured as exc:
        if "cannot start" not in str(exc):
            raise
        sys.exit(str(exc))  # a configuration mistake: the message, not a traceback


if __name__ == "__main__":
    main()
