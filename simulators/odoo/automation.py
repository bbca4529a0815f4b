"""base.automation as Odoo 18 runs it: triggers hooked into create/write, and the webhook server action.

The webhook is sent the way 18.0's `_run_action_webhook` does it: synchronously, inside the
transaction that changed the record (so before commit), body `json.dumps(vals, sort_keys=True,
default=str)` of `_model`, `_id`, `_action` and the chosen fields read with `load=None`, only a
Content-Type header, a 1 s timeout, no retry, and failures only logged. A receiver that reads the
record back over RPC while handling the POST therefore still sees the old state.
"""

from __future__ import annotations

import ast
import json
import logging
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import requests

if TYPE_CHECKING:
    from .orm import BaseModel

# Same messages as odoo.addons.base.models.ir_actions, so log-based assertions read like Odoo's logs.
_logger = logging.getLogger("simulators.odoo.ir_actions")

WRITE_TRIGGERS = frozenset(
    {
        "on_write",
        "on_create_or_write",
        "on_priority_set",
        "on_stage_set",
        "on_state_set",
        "on_tag_set",
        "on_user_set",
    }
)
CREATE_TRIGGERS = frozenset(
    {
        "on_create",
        "on_create_or_write",
        "on_priority_set",
        "on_stage_set",
        "on_state_set",
        "on_tag_set",
        "on_user_set",
    }
)


@dataclass
class WebhookCall:
    """One POST of a "Send Webhook Notification" action, as the simulator saw it go out."""

    url: str
    body: bytes
    headers: dict[str, str]
    outcome: str  # "ok", "http_error", "timeout" or "failed"
    status: int | None
    error: str | None
    started_at: float
    duration: float
    action_id: int
    automation_id: int | None
    model: str
    record_id: int
    payload: dict[str, Any] = field(default_factory=dict)


def _automations(records: BaseModel, triggers: frozenset[str]) -> list[dict[str, Any]]:
    env = records.env
    if "base.automation" not in env or records._name in ("base.automation", "ir.actions.server"):
        return []
    rules = env["base.automation"].sudo()
    found = []
    for rid in rules._all_ids():
        row = rules._row(rid)
        if row and row.get("active") and row.get("model_name") == records._name and row.get("trigger") in triggers:
            found.append({**row, "id": rid})
    return found


def _eval_domain(text: Any) -> list | None:
    if not text:
        return []
    try:
        domain = ast.literal_eval(text) if isinstance(text, str) else text
    except (ValueError, SyntaxError):
        _logger.warning("Automation domain %r uses names the simulator cannot evaluate; rule skipped", text)
        return None
    return list(domain)


def _trigger_domain(records: BaseModel, rule: dict[str, Any]) -> list:
    trigger = rule.get("trigger")
    if trigger in ("on_state_set", "on_stage_set", "on_priority_set") and rule.get("trg_selection_field_id"):
        selection = records.env["ir.model.fields.selection"].sudo()
        row = selection._row(rule["trg_selection_field_id"])
        if row:
            fname = records.env["ir.model.fields"].sudo()._get(row["field_id"], "name")
            return [(fname, "=", row["value"])]
    return []


def _filter(records: BaseModel, domain: list | None) -> list[int]:
    if domain is None:
        return []
    if not domain:
        return list(records._ids)
    ids = set(records.sudo().with_context(active_test=False)._search([("id", "in", list(records._ids)), *domain]))
    return [rid for rid in records._ids if rid in ids]


def _trigger_field_names(records: BaseModel, rule: dict[str, Any]) -> set[str]:
    fields = records.env["ir.model.fields"].sudo()
    return {fields._get(fid, "name") for fid in rule.get("trigger_field_ids") or ()}


def before_write(records: BaseModel, fnames: list[str]) -> list[tuple[dict, list[int], dict]] | None:
    """Preconditions and old values, taken before the write as base_automation's patched write does."""
    rules = _automations(records, WRITE_TRIGGERS)
    if not rules or not records:
        return None
    pending = []
    for rule in rules:
        pre_ids = _filter(records, _eval_domain(rule.get("filter_pre_domain")))
        old = {rid: {f: records._get(rid, f) for f in fnames if f in records._fields} for rid in records._ids}
        pending.append((rule, pre_ids, old))
    return pending


def after_write(records: BaseModel, pending: list[tuple[dict, list[int], dict]] | None) -> None:
    for rule, pre_ids, old in pending or ():
        domain = _eval_domain(rule.get("filter_domain"))
        if domain is None:
            continue
        candidates = records._browse(pre_ids)
        post_ids = _filter(candidates, domain + _trigger_domain(records, rule))
        watched = _trigger_field_names(records, rule)
        if watched:
            post_ids = [
                rid
                for rid in post_ids
                if any(f in old.get(rid, {}) and old[rid][f] != records._get(rid, f) for f in watched)
            ]
        _process(records, rule, post_ids)


def after_create(records: BaseModel) -> None:
    for rule in _automations(records, CREATE_TRIGGERS):
        domain = _eval_domain(rule.get("filter_domain"))
        if domain is None:
            continue
        _process(records, rule, _filter(records, domain + _trigger_domain(records, rule)))


def _process(records: BaseModel, rule: dict[str, Any], ids: list[int]) -> None:
    txn = records.env.txn
    done: set = txn.__dict__.setdefault("automation_done", set())
    todo = [rid for rid in ids if (rule["id"], rid) not in done]
    if not todo:
        return
    done.update((rule["id"], rid) for rid in todo)
    actions = records.env["ir.actions.server"].sudo()
    action_ids = records.env["base.automation"].sudo()._get(rule["id"], "action_server_ids")
    for action_id in sorted(action_ids, key=lambda aid: (actions._get(aid, "sequence") or 0, aid)):
        for rid in todo:
            run_server_action(records.sudo()._browse([rid]), action_id, automation_id=rule["id"])


def run_server_action(record: BaseModel, action_id: int, automation_id: int | None = None) -> None:
    actions = record.env["ir.actions.server"].sudo()
    row = actions._row(action_id)
    if row is None:
        return
    state = row.get("state")
    if state == "webhook":
        send_webhook(record, action_id, row, automation_id)
    else:
        _logger.warning("Server action %s (state %r) is not supported by the simulator; skipped", action_id, state)


def send_webhook(record: BaseModel, action_id: int, action: dict[str, Any], automation_id: int | None) -> WebhookCall:
    env = record.env
    sim = env.sim
    fields_model = env["ir.model.fields"].sudo()
    fnames = [fields_model._get(fid, "name") for fid in action.get("webhook_field_ids") or ()]
    vals: dict[str, Any] = {"_model": record._name, "_id": record.id, "_action": f"{action.get('name')}(#{action_id})"}
    vals.update(record._read_format([f for f in fnames if f in record._fields], load=None)[0])
    body = json.dumps(vals, sort_keys=True, default=str)
    url = action.get("webhook_url") or ""
    headers = {"Content-Type": "application/json"}
    _logger.info("Webhook call to %s", url)
    started = time.time()
    clock = time.monotonic()
    outcome, status, error = "ok", None, None
    try:
        response = requests.post(url, data=body, headers=headers, timeout=sim.webhook_timeout)
        status = response.status_code
        response.raise_for_status()
    except requests.exceptions.ReadTimeout:
        outcome, error = "timeout", "ReadTimeout"
        _logger.warning(
            "Webhook call timed out after %ss - it may or may not have failed. If this happens often, it may be "
            "a sign that the system you're trying to reach is slow or non-functional.",
            _seconds(sim.webhook_timeout),
        )
    except requests.exceptions.RequestException as exc:
        outcome = "http_error" if isinstance(exc, requests.exceptions.HTTPError) else "failed"
        error = str(exc)
        _logger.warning("Webhook call failed: %s", exc)
    call = WebhookCall(
        url=url,
        body=body.encode(),
        headers=headers,
        outcome=outcome,
        status=status,
        error=error,
        started_at=started,
        duration=time.monotonic() - clock,
        action_id=action_id,
        automation_id=automation_id,
        model=record._name,
        record_id=record.id,
        payload=json.loads(body),
    )
    sim._record_webhook(call)
    return call


def _seconds(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)
