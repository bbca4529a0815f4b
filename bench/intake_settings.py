"""The portal's settings plus a bare DRF view to compare the intake with (the intake benchmark only)."""

from portal.settings import *  # noqa: F403

ROOT_URLCONF = "bench.intake_urls"
