"""A qcluster that is told to stop ends its drains at the next job: calls in flight finish, the rest stays queued.

django-q2 stops a cluster by letting each worker finish the task it holds, and a drain holds its task for up
to SYNC_DRAIN_BUDGET_SECONDS. So each worker process watches its cluster's stop event (the one SIGTERM or
Ctrl-C sets in the cluster's main process) and `stopping` tells the drains running in it.

django-q2 gives a worker no handle on that event: the worker finds it on the sentinel that forked it, which
is still on its call stack. If a later django-q2 moves it, `stopping` is simply never set and a stop waits
for the drain's budget as before (a warning says so once).
"""

from __future__ import annotations

import logging
import sys
import threading
import time

logger = logging.getLogger(__name__)

POLL_SECONDS = 0.25

# Set in a worker process once its cluster is stopping; never set elsewhere.
stopping = threading.Event()


def _cluster_stop_event():
    from django_q.cluster import Sentinel

    frame = sys._getframe()
    while frame is not None:
        owner = frame.f_locals.get("self")
        if isinstance(owner, Sentinel):
            return owner.stop_event
        frame = frame.f_back
    return None


def worker_watch_stop(**kwargs) -> None:
    """django-q2's post_spawn: in each new worker process, relay the cluster's stop event to `stopping`."""
    event = _cluster_stop_event()
    if event is None:
        logger.warning("cannot see the cluster's stop event: a stop waits for running drains to finish")
        return

    # Polled, never waited on: a waiter on a multiprocessing Event is counted, and setting the event waits
    # for every counted waiter to wake, forever for one in a worker that django-q2 has since recycled.
    # The flag's value is read without the event's lock, which a process ending at the wrong moment
    # could otherwise leave taken.
    flag = getattr(event, "_flag", None)
    is_set = event.is_set
    try:
        if flag is not None:
            flag.get_value()  # not on every platform (macOS)
            is_set = lambda: flag.get_value() > 0  # noqa: E731
    except (NotImplementedError, AttributeError):
        pass

    def watch() -> None:
        while not is_set():
            time.sleep(POLL_SECONDS)
        stopping.set()

    threading.Thread(target=watch, name="cluster-stop-watch", daemon=True).start()
