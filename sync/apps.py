from django.apps import AppConfig
from django.db.models.signals import post_migrate


def _after_migrate(sender, **kwargs) -> None:
    from django.apps import apps
    from django.contrib.auth.management import create_permissions
    from django.core.management import call_command

    from .permissions import groups_ensure
    from .schedules import schedules_ensure

    # The shared cache (courier list, Odoo field lists) lives in a table when there is no Redis.
    call_command("createcachetable", verbosity=0)
    for config in apps.get_app_configs():  # the roles take permissions of apps migrated after this one
        create_permissions(config, verbosity=0)
    schedules_ensure()
    groups_ensure()


class SyncConfig(AppConfig):
    name = "sync"
    verbose_name = "Shipment sync"

    def ready(self) -> None:
        # Recurring tasks exist as soon as the database does; re-running migrate only updates them.
        post_migrate.connect(_after_migrate, sender=self)
        from django_q.signals import post_spawn

        # The job handlers register themselves with the runner by kind.
        from . import outbound, pull, writeback  # noqa: F401
        from .worker_stop import worker_watch_stop

        # A stopping qcluster ends its drains at the next job rather than at the end of their budget.
        post_spawn.connect(worker_watch_stop, dispatch_uid="sync.worker_watch_stop")
