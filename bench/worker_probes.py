"""Counts every SQL statement a portal process runs, by the work it served, and notes when each django-q2
task starts, in Redis (benchmarks only).

`install(redis_url)` wraps each new database connection with an execute wrapper. A statement is put
under the work its thread is doing: "drain" (the job runner's threads), "pull", "catch-up", "push",
"dispatcher", or "django-q" (the queue's own bookkeeping, schedules, anything else), and under its
shape (the SQL with the values left as placeholders, an IN list as one). Each process adds its counts
and time to Redis hashes once a second from a thread of its own, so the workers of a qcluster (forked
processes, thread pools) all end up in the same place. django-q2 stamps a task's `started` when it is
queued; the time a worker begins it goes to the `bench:task-started` hash, by task id, and the number of
tasks run to `bench:tasks`, by function.
"""

from __future__ import annotations

import os
import re
import sys
import threading
import time
from collections import Counter

STARTED_KEY = "bench:task-started"
TASKS_KEY = "bench:tasks"
COUNTS_KEY = "bench:queries:count"
MILLIS_KEY = "bench:queries:ms"
# Function names that say which work a statement serves, nearest frame first.
_WORK = {
    "pull_incremental": "pull",
    "pull_catchup": "catch-up",
    "picking_sync_run": "push",
    "dispatch_jobs": "dispatcher",
    "jobs_drain": "drain",
}
_LIST = re.compile(r"%s(?:, %s)+")

_lock = threading.Lock()
_counts: Counter = Counter()
_millis: Counter = Counter()
_state = {"pid": 0, "url": ""}


def _work() -> str:
    if threading.current_thread().name.startswith("drain-"):
        return "drain"
    frame = sys._getframe(3)
    while frame is not None:
        label = _WORK.get(frame.f_code.co_name)
        if label:
            return label
        frame = frame.f_back
    return "django-q"


def _flusher() -> None:
    import redis

    client = redis.Redis.from_url(_state["url"])
    while True:
        time.sleep(1.0)
        with _lock:
            counts, millis = dict(_counts), dict(_millis)
            _counts.clear()
            _millis.clear()
        if not counts:
            continue
        pipe = client.pipeline(transaction=False)
        for key, value in counts.items():
            pipe.hincrby(COUNTS_KEY, key, value)
        for key, value in millis.items():
            pipe.hincrbyfloat(MILLIS_KEY, key, value)
        pipe.execute()


def _count(execute, sql, params, many, context):
    started = time.perf_counter()
    try:
        return execute(sql, params, many, context)
    finally:
        elapsed = (time.perf_counter() - started) * 1000
        key = f"{_work()}\t{_LIST.sub('%s…', ' '.join(str(sql).split()))}"
        with _lock:
            if _state["pid"] != os.getpid():  # a forked child: its own counts, its own flusher
                _state["pid"] = os.getpid()
                _counts.clear()
                _millis.clear()
                threading.Thread(target=_flusher, name="bench-query-counts", daemon=True).start()
            _counts[key] += 1
            _millis[key] += elapsed


def _task_started(sender, func, task, **kwargs) -> None:
    import redis

    pipe = redis.Redis.from_url(_state["url"]).pipeline(transaction=False)
    pipe.hset(STARTED_KEY, task["id"], repr(time.time()))
    pipe.hincrby(TASKS_KEY, getattr(func, "__name__", str(func)), 1)
    pipe.execute()


def _wrap(sender, connection, **kwargs) -> None:
    if _count not in connection.execute_wrappers:
        connection.execute_wrappers.append(_count)
    # The apps are ready by the time a connection opens; forked workers inherit the receiver.
    from django_q.signals import pre_execute

    pre_execute.connect(_task_started, weak=False, dispatch_uid="bench-task-started")


def install(redis_url: str) -> None:
    from django.db.backends.signals import connection_created

    _state["url"] = redis_url
    connection_created.connect(_wrap, weak=False, dispatch_uid="bench-query-counts")


def read(redis_url: str) -> dict[str, dict[str, tuple[int, float]]]:
    """{work: {shape: (statements, milliseconds)}} gathered so far."""
    import redis

    client = redis.Redis.from_url(redis_url)
    counts = client.hgetall(COUNTS_KEY)
    millis = client.hgetall(MILLIS_KEY)
    result: dict[str, dict[str, tuple[int, float]]] = {}
    for key, value in counts.items():
        work, shape = key.decode().split("\t", 1)
        result.setdefault(work, {})[shape] = (int(value), float(millis.get(key, 0)))
    return result


def task_started(redis_url: str, task_id: str) -> float | None:
    """When a worker began this task (Unix time), if one has."""
    import redis

    value = redis.Redis.from_url(redis_url).hget(STARTED_KEY, task_id)
    return float(value) if value else None


def tasks_run(redis_url: str) -> dict[str, int]:
    """Tasks the workers began, by function name."""
    import redis

    return {k.decode(): int(v) for k, v in redis.Redis.from_url(redis_url).hgetall(TASKS_KEY).items()}


def reset(redis_url: str) -> None:
    import redis

    redis.Redis.from_url(redis_url).delete(COUNTS_KEY, MILLIS_KEY, TASKS_KEY)
