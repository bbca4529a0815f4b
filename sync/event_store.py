"""Storing webhook events: one INSERT for the webhooks a process's threads store at the same moment.

Each webhook is answered only once its row is committed. Under load, several threads of one gunicorn
worker store events at the same moment; instead of one statement and one commit each, the first of
them inserts what is waiting as one multi-row INSERT (in autocommit: one commit) and wakes the others,
and whoever arrived meanwhile goes next, led by the first of them. Alone, a webhook is inserted at once:
nothing waits for a group to fill. If a group's INSERT fails (a value that does not fit, the database
gone), each of its events is inserted on its own, so one bad event never costs the others.
"""

from __future__ import annotations

import functools
import logging
import os
import threading
from dataclasses import dataclass, field

from django.db import transaction

from .models import TrackingEvent

logger = logging.getLogger(__name__)

# Rows of one INSERT at most (parameters per statement stay far below every database's limit).
GROUP_MAX = 100


def event_store(*, event: TrackingEvent) -> None:
    """INSERT the event (its `pk` set) with what other threads of this process store at the same moment;
    inside a caller's transaction, on its own in that transaction. Raises what the database raised."""
    if transaction.get_connection().in_atomic_block or not _group.store(event):
        events_insert(events=[event])


def events_insert(*, events: list[TrackingEvent]) -> None:
    """One INSERT for these events, as `save(force_insert=True)` would write each, without the ORM's
    query compiler (at thousands of webhooks a second, building the statement cost more than running it)."""
    connection = transaction.get_connection()
    returning = connection.features.can_return_columns_from_insert or len(events) > 1
    sql, fields = _insert_statement(len(events), returning=returning)
    values = [field.get_db_prep_save(field.pre_save(event, True), connection) for event in events for field in fields]
    with connection.cursor() as cursor:
        # Query logs and execute wrappers (tests, benchmarks) see only Django's cursor: use it for them.
        if connection.vendor == "postgresql" and not (connection.queries_logged or connection.execute_wrappers):
            # Parameters bound on the server: the body travels as bytes, not as escaped text in the SQL.
            import psycopg

            with connection.wrap_database_errors, psycopg.Cursor(cursor.cursor.connection) as bound:
                bound.execute(sql, values)
                keys = [row[0] for row in bound.fetchall()]
        else:
            cursor.execute(sql, values)
            keys = [row[0] for row in cursor.fetchall()] if returning else [cursor.lastrowid]
    for event, key in zip(events, keys, strict=True):  # RETURNING gives the rows in the order of VALUES
        event.pk = key
        event._state.adding, event._state.db = False, connection.alias


@functools.cache
def _insert_statement(rows: int, *, returning: bool) -> tuple[str, list]:
    connection = transaction.get_connection()
    quote = connection.ops.quote_name
    meta = TrackingEvent._meta
    fields = [field for field in meta.concrete_fields if not field.primary_key]
    columns = ", ".join(quote(field.column) for field in fields)
    row = "(" + ", ".join(["%s"] * len(fields)) + ")"
    # Names from the model, quoted; every value is a bound parameter.
    sql = f"INSERT INTO {quote(meta.db_table)} ({columns}) VALUES {', '.join([row] * rows)}"  # noqa: S608
    return (f"{sql} RETURNING {quote(meta.pk.column)}" if returning else sql), fields


@dataclass(eq=False)
class _Waiting:
    event: TrackingEvent
    done: threading.Event = field(default_factory=threading.Event)
    role: str = "wait"  # "lead": insert the queue; "stored": done; "alone": insert your own


class _Group:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._queue: list[_Waiting] = []
        self._leading = False
        self._pid = os.getpid()

    def store(self, event: TrackingEvent) -> bool:
        """True once the event is stored with a group; False when its thread must insert it alone."""
        me = _Waiting(event)
        with self._lock:
            if self._pid != os.getpid():  # forked: the parent's queue and leader are not this process's
                self._pid, self._queue, self._leading = os.getpid(), [], False
            self._queue.append(me)
            if not self._leading:
                self._leading, me.role = True, "lead"
        if me.role != "lead":
            me.done.wait()
        if me.role == "lead":
            self._lead()
        return me.role == "stored"

    def _lead(self) -> None:
        with self._lock:
            group, self._queue = self._queue[:GROUP_MAX], self._queue[GROUP_MAX:]
        role = "alone"
        try:
            events_insert(events=[waiting.event for waiting in group])
            role = "stored"
        except Exception:
            if len(group) == 1:
                raise  # the leader's own event alone: its caller handles what the database said
            logger.warning("a group of %d webhook events could not be inserted; inserting each alone", len(group))
        finally:
            for waiting in group:
                waiting.role = role
                waiting.done.set()
            with self._lock:
                if self._queue:  # arrived during this INSERT: the first of them leads the next one
                    self._queue[0].role = "lead"
                    self._queue[0].done.set()
                else:
                    self._leading = False


_group = _Group()
