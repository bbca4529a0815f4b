"""In-memory tables with Odoo's transaction semantics: snapshot reads, changes visible only on commit.

Committed tables are never mutated in place: a commit swaps in new table dicts, so a transaction that
grabbed `Database.tables` at its start keeps a consistent snapshot (PostgreSQL REPEATABLE READ, which
Odoo uses) without holding any lock while it runs. Ids come from per-model sequences that, like
PostgreSQL sequences, are not rolled back.
"""

from __future__ import annotations

import threading
from datetime import datetime
from typing import Any

Row = dict[str, Any]
_MISSING = object()


class Database:
    """The committed state of one Odoo database."""

    def __init__(self, name: str):
        self.name = name
        self.lock = threading.RLock()
        self.tables: dict[str, dict[int, Row]] = {}
        self.sequences: dict[str, int] = {}
        self.exact: set[str] = set()  # models whose ids follow the sequence alone (restart_sequence)

    def next_id(self, model: str) -> int:
        with self.lock:
            current = self.sequences.get(model, 1)
            table = self.tables.get(model, {})
            if model in self.exact:
                while current in table:  # never an id in use
                    current += 1
            elif table:
                current = max(current, max(table) + 1)
            self.sequences[model] = current + 1
            return current

    def restart_sequence(self, model: str, next_id: int) -> None:
        """Allocate from `next_id` on, as PostgreSQL's sequence does, whatever ids the table holds above it."""
        with self.lock:
            self.sequences[model] = next_id
            self.exact.add(model)

    def bump_sequence(self, model: str, next_id: int) -> None:
        """Make the next allocated id at least `next_id` (ids Odoo already used elsewhere)."""
        with self.lock:
            self.sequences[model] = max(self.sequences.get(model, 1), next_id)

    def committed_row(self, model: str, rid: int) -> Row | None:
        return self.tables.get(model, {}).get(rid)

    def apply(self, changes: dict[str, dict[int, Row | None]], created: dict[str, set[int]]) -> None:
        """Commit: merge changed fields onto the latest committed rows (last writer wins per field)."""
        with self.lock:
            tables = dict(self.tables)
            for model, rows in changes.items():
                table = dict(tables.get(model, {}))
                new_ids = created.get(model, set())
                for rid, change in rows.items():
                    if change is None:
                        table.pop(rid, None)
                    elif rid in new_ids:
                        table[rid] = dict(change)
                    elif rid in table:
                        table[rid] = {**table[rid], **change}
                tables[model] = table
            self.tables = tables


class Transaction:
    """One Odoo transaction: reads see the snapshot plus this transaction's own changes."""

    def __init__(self, db: Database, now: datetime):
        self.db = db
        self.now = now
        self.snapshot = db.tables
        self.changes: dict[str, dict[int, Row | None]] = {}
        self.created: dict[str, set[int]] = {}
        self.closed = False

    def row(self, model: str, rid: int) -> Row | None:
        change = self.changes.get(model, {}).get(rid, _MISSING)
        base = self.snapshot.get(model, {}).get(rid)
        if change is _MISSING:
            return base
        if change is None:
            return None
        if rid in self.created.get(model, ()):
            return change
        return {**base, **change} if base is not None else None

    def ids(self, model: str) -> list[int]:
        ids = set(self.snapshot.get(model, {}))
        changes = self.changes.get(model, {})
        ids.update(self.created.get(model, ()))
        ids.difference_update(rid for rid, change in changes.items() if change is None)
        return sorted(ids)

    def insert(self, model: str, rid: int, row: Row) -> None:
        self.changes.setdefault(model, {})[rid] = dict(row)
        self.created.setdefault(model, set()).add(rid)

    def update(self, model: str, rid: int, values: Row) -> None:
        rows = self.changes.setdefault(model, {})
        current = rows.get(rid, _MISSING)
        if current is None:
            return
        if current is _MISSING:
            rows[rid] = dict(values)
        else:
            current.update(values)

    def delete(self, model: str, rid: int) -> None:
        self.changes.setdefault(model, {})[rid] = None
        self.created.get(model, set()).discard(rid)

    def commit(self) -> None:
        if not self.closed:
            self.db.apply(self.changes, self.created)
            self.closed = True

    def rollback(self) -> None:
        self.changes.clear()
        self.created.clear()
        self.closed = True
