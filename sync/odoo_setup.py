"""Connect an Odoo to the portal over its external API, as an Odoo administrator would by hand.

Three idempotent steps, each planned from what Odoo holds now and applied only where it differs:
1. the write-back fields on delivery orders (`ir.model.fields`, manual fields);
2. an inherited view of the delivery form that shows them after the tracking reference (`ir.ui.view`);
3. the automation rule that pushes validated outgoing deliveries to the portal (`base.automation` with a
   "Send Webhook Notification" server action).
`--remove` plans the opposite (fields only with `drop_fields`). The integration user's rights are checked
with its own key (`odoo_rights`), and granted by the administrator only when asked.
"""

from __future__ import annotations

import ast
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import urlsplit, urlunsplit

from django.conf import settings

from .odoo import OdooClient
from .odoo_rights import GROUP_XMLIDS

PICKING = "stock.picking"
VIEW_NAME = "stock.picking.form.shiptrack"
RULE_NAME = "Shiptrack: validated delivery"
RULE_DOMAIN = "[('picking_type_code', '=', 'outgoing')]"
ACTION_NAME = "Send Webhook Notification"
# What the push carries: the portal reads the delivery again, but these tell it what it is about.
PUSH_FIELDS = ("name", "state", "carrier_id", "carrier_tracking_ref", "sale_id")
# The write-back fields by role: Odoo type and label.
FIELD_TYPES = {
    "status": ("char", "AfterShip status"),
    "expected_delivery": ("date", "AfterShip expected delivery"),
    "tracking_url": ("char", "AfterShip tracking page"),
}


class SetupError(Exception):
    """Something the administrator must fix before the setup can go on."""


@dataclass
class Step:
    what: str
    change: str  # "" when Odoo already holds what is wanted
    detail: str = ""
    apply: Callable[[], None] | None = field(default=None, repr=False)
    blocked: bool = False  # something in the way that the command does not change (says what to do)


def push_url(portal_url: str) -> str:
    return f"{portal_url.rstrip('/')}/odoo/webhook/picking?token={settings.ODOO_WEBHOOK_TOKEN}"


def redacted(url: str) -> str:
    """A push URL fit to print: the token is a secret."""
    parts = urlsplit(url or "")
    if "token=" not in parts.query:
        return url
    return urlunsplit(parts._replace(query="token=…"))


class OdooSetup:
    """Plans (and applies) the portal's fields, view and push rule in one Odoo, as its administrator."""

    def __init__(self, admin: OdooClient, *, portal_url: str):
        self.admin = admin
        self.portal_url = portal_url
        self._model_id: int | None = None

    # -- who is asking ----------------------------------------------------------------------------
    def check_admin(self) -> int:
        uid = self.admin.uid(fresh=True)
        if not self.admin.has_group(uid, "base.group_system"):
            raise SetupError(
                f"{self.admin.config.username} is not an Odoo administrator (Settings): give the key of a user "
                "in Administration / Settings."
            )
        return uid

    # -- the plan ---------------------------------------------------------------------------------
    def plan(self, *, remove: bool = False, drop_fields: bool = False) -> list[Step]:
        if remove:
            steps = [self._rule_removal(), self._view_removal()]
            steps += self._field_removals() if drop_fields else []
            return steps
        fields = self._field_steps()
        shown = [name for name, step in zip(self._wanted_fields(), fields, strict=True) if not step.blocked]
        return [*fields, self._view_step(shown), self._rule_step()]

    def apply(self, steps: list[Step], done: list[Step]) -> None:
        """Apply the steps that change something, in order, adding each to `done` once Odoo took it (so a
        failure midway still says what was applied)."""
        for step in steps:
            if step.apply is not None and not step.blocked:
                step.apply()
                done.append(step)

    # -- 1. fields --------------------------------------------------------------------------------
    def _wanted_fields(self) -> dict[str, tuple[str, str]]:
        """{field name: (type, label)} of the write-back fields the portal is configured to fill."""
        if not settings.ODOO_WRITEBACK:
            return {}
        return {name: FIELD_TYPES[key] for key, name in settings.ODOO_WRITEBACK_FIELDS.items() if name}

    def _existing_fields(self, names: list[str]) -> dict[str, dict]:
        rows = self.admin.search_read(
            "ir.model.fields", [("model", "=", PICKING), ("name", "in", names)], ["name", "ttype", "state"]
        )
        return {row["name"]: row for row in rows}

    def model_id(self) -> int:
        if self._model_id is None:
            rows = self.admin.search_read("ir.model", [("model", "=", PICKING)], ["id"])
            if not rows:
                raise SetupError("This Odoo has no delivery orders (stock.picking): install the Inventory app.")
            self._model_id = rows[0]["id"]
        return self._model_id

    def _field_steps(self) -> list[Step]:
        wanted = self._wanted_fields()
        existing = self._existing_fields(sorted(wanted))
        steps = []
        for name, (ttype, label) in wanted.items():
            what = f"Field {name} ({ttype}) on delivery orders"
            row = existing.get(name)
            if row is None and not name.startswith("x_"):
                steps.append(
                    Step(
                        what,
                        "",
                        f"Odoo only creates custom fields named x_…: rename it in ODOO_WRITEBACK_FIELDS "
                        f"(e.g. x_{name}) or create {name} in a module",
                        blocked=True,
                    )
                )
            elif row is None:
                values = {"name": name, "field_description": label, "ttype": ttype, "state": "manual"}
                steps.append(Step(what, "create", label, apply=lambda v=values: self._create_field(v)))
            elif row["ttype"] != ttype:
                steps.append(
                    Step(
                        what,
                        "",
                        f"exists as {row['ttype']}; the portal writes {ttype}: "
                        "change ODOO_WRITEBACK_FIELDS or the field",
                        blocked=True,
                    )
                )
            else:
                steps.append(Step(what, "", "present"))
        return steps

    def _create_field(self, values: dict) -> None:
        self.admin.call("ir.model.fields", "create", {"model_id": self.model_id(), **values})

    def _field_removals(self) -> list[Step]:
        wanted = self._wanted_fields()
        existing = self._existing_fields(sorted(wanted))
        steps = []
        for name in wanted:
            row = existing.get(name)
            what = f"Field {name} on delivery orders"
            if row is None:
                steps.append(Step(what, "", "not there"))
            elif row.get("state") != "manual":
                steps.append(Step(what, "", "not a custom field: left alone", blocked=True))
            else:
                unlink = lambda rid=row["id"]: self.admin.call("ir.model.fields", "unlink", [rid])  # noqa: E731
                steps.append(Step(what, "remove", "its values on every delivery go with it", apply=unlink))
        return steps

    # -- 2. the form view -------------------------------------------------------------------------
    def _picking_form(self) -> int:
        rows = self.admin.search_read(
            "ir.model.data", [("module", "=", "stock"), ("name", "=", "view_picking_form")], ["res_id", "model"]
        )
        if not rows:
            raise SetupError("The delivery order form (stock.view_picking_form) is missing from this Odoo.")
        return rows[0]["res_id"]

    def _our_view(self) -> dict | None:
        rows = self.admin.search_read(
            "ir.ui.view",
            [("name", "=", VIEW_NAME), ("model", "=", PICKING)],
            ["arch_db", "inherit_id", "active"],
            context={"active_test": False},
        )
        return rows[0] if rows else None

    @staticmethod
    def view_arch(names: list[str]) -> str:
        shown = "".join(f'<field name="{name}" readonly="1"/>' for name in names)
        return f'<data><field name="carrier_tracking_ref" position="after">{shown}</field></data>'

    def _view_step(self, names: list[str]) -> Step:
        """The form view showing `names` (the fields that exist or are about to: Odoo refuses a view naming
        a field its model lacks)."""
        what = "Delivery form shows the AfterShip fields"
        if not names:
            return Step(what, "", "no write-back fields to show: no view needed")
        arch, view = self.view_arch(names), self._our_view()
        if view is None:
            form = self._picking_form()
            values = {
                "name": VIEW_NAME,
                "model": PICKING,
                "inherit_id": form,
                "mode": "extension",
                "priority": 99,
                "arch": arch,
            }
            return Step(
                what,
                "create",
                "after the tracking reference",
                apply=lambda: self.admin.call("ir.ui.view", "create", values),
            )
        if view["arch_db"] != arch or not view["active"]:
            changes = {"arch_db": arch, "active": True}
            return Step(
                what,
                "update",
                "the fields it shows changed" if view["active"] else "switched off: switch it on",
                apply=lambda: self.admin.write("ir.ui.view", [view["id"]], changes),
            )
        return Step(what, "", "present")

    def _view_removal(self) -> Step:
        what = "Delivery form view of the AfterShip fields"
        view = self._our_view()
        if view is None:
            return Step(what, "", "not there")
        return Step(what, "remove", apply=lambda: self.admin.call("ir.ui.view", "unlink", [view["id"]]))

    # -- 3. the push rule -------------------------------------------------------------------------
    def _our_rule(self) -> tuple[dict | None, dict | None]:
        rules = self.admin.search_read(
            "base.automation",
            [("model_name", "=", PICKING), ("name", "=", RULE_NAME)],
            ["name", "trigger", "active", "action_server_ids", "filter_domain", "trg_selection_field_id"],
            context={"active_test": False},
        )
        if not rules:
            return None, None
        rule = rules[0]
        actions = (
            self.admin.read(
                "ir.actions.server", rule["action_server_ids"], ["name", "state", "webhook_url", "webhook_field_ids"]
            )
            if rule["action_server_ids"]
            else []
        )
        webhook = next((a for a in actions if a["state"] == "webhook"), None)
        return rule, webhook

    def _done_state_id(self) -> int:
        rows = self.admin.search_read(
            "ir.model.fields.selection",
            [("field_id.model", "=", PICKING), ("field_id.name", "=", "state"), ("value", "=", "done")],
            ["id"],
        )
        if not rows:
            raise SetupError("Delivery orders in this Odoo have no 'done' state to trigger on.")
        return rows[0]["id"]

    def _push_field_ids(self) -> list[int]:
        rows = self.admin.search_read(
            "ir.model.fields", [("model", "=", PICKING), ("name", "in", list(PUSH_FIELDS))], ["name"]
        )
        order = {name: index for index, name in enumerate(PUSH_FIELDS)}
        return [row["id"] for row in sorted(rows, key=lambda row: order[row["name"]])]

    def _rule_step(self) -> Step:
        what = "Automation rule pushing validated deliveries"
        url = push_url(self.portal_url)
        rule, webhook = self._our_rule()
        if rule is None:
            action = {
                "name": ACTION_NAME,
                "model_id": self.model_id(),
                "state": "webhook",
                "webhook_url": url,
                "webhook_field_ids": [(6, 0, self._push_field_ids())],
            }
            values = {
                "name": RULE_NAME,
                "model_id": self.model_id(),
                "trigger": "on_state_set",
                "trg_selection_field_id": self._done_state_id(),
                "filter_domain": RULE_DOMAIN,
                "action_server_ids": [(0, 0, action)],
            }
            return Step(
                what,
                "create",
                f"on Done, outgoing only, to {redacted(url)}",
                apply=lambda: self.admin.call("base.automation", "create", values),
            )
        rule_changes: dict = {}
        reasons = []
        if not rule["active"]:
            rule_changes["active"] = True
            reasons.append("switched off")
        if rule["trigger"] != "on_state_set" or _many2one_id(rule["trg_selection_field_id"]) != self._done_state_id():
            rule_changes.update(trigger="on_state_set", trg_selection_field_id=self._done_state_id())
            reasons.append("another trigger")
        if _domain(rule["filter_domain"]) != _domain(RULE_DOMAIN):
            rule_changes["filter_domain"] = RULE_DOMAIN
            reasons.append("another filter")
        action_changes: dict = {}
        if webhook is not None:
            if webhook["webhook_url"] != url:
                action_changes["webhook_url"] = url
                reasons.append(f"posts to {redacted(webhook['webhook_url'])}")
            if sorted(webhook["webhook_field_ids"]) != sorted(self._push_field_ids()):
                action_changes["webhook_field_ids"] = [(6, 0, self._push_field_ids())]
                reasons.append("other fields")
        else:
            reasons.append("no webhook action")
        if not reasons:
            return Step(what, "", f"present, to {redacted(url)}")

        def update() -> None:
            if rule_changes:
                self.admin.write("base.automation", [rule["id"]], rule_changes)
            if webhook is None:
                action = {
                    "name": ACTION_NAME,
                    "model_id": self.model_id(),
                    "state": "webhook",
                    "webhook_url": url,
                    "webhook_field_ids": [(6, 0, self._push_field_ids())],
                }
                self.admin.write("base.automation", [rule["id"]], {"action_server_ids": [(0, 0, action)]})
            elif action_changes:
                self.admin.write("ir.actions.server", [webhook["id"]], action_changes)

        return Step(what, "update", "; ".join(reasons), apply=update)

    def _rule_removal(self) -> Step:
        what = "Automation rule pushing validated deliveries"
        rule, _ = self._our_rule()
        if rule is None:
            return Step(what, "", "not there")
        # Its webhook action goes with it (recorded: transcript 88).
        return Step(what, "remove", apply=lambda: self.admin.call("base.automation", "unlink", [rule["id"]]))

    # -- the integration user's groups --------------------------------------------------------------
    def groups_resolve(self, group_names: list[str]) -> dict[str, int]:
        """The res.groups ids of these groups (by the names odoo_rights gives), before anything is changed."""
        ids = {}
        for name in dict.fromkeys(group_names):
            module, _, xmlid = GROUP_XMLIDS[name].partition(".")
            domain = [("module", "=", module), ("name", "=", xmlid), ("model", "=", "res.groups")]
            rows = self.admin.search_read("ir.model.data", domain, ["res_id"])
            if not rows:
                raise SetupError(f"The group '{name}' does not exist in this Odoo (is its app installed?).")
            ids[name] = rows[0]["res_id"]
        return ids

    def grant(self, *, uid: int, groups: dict[str, int], added: list[str]) -> None:
        """Add the integration user to these groups, adding each name to `added` once Odoo took it."""
        # The field is `groups_id` up to Odoo 18 and `group_ids` from 19 (and some saas releases): ask Odoo.
        fields = self.admin.fields_get("res.users", ["groups_id", "group_ids"], attributes=["type"])
        field_name = "group_ids" if "group_ids" in fields else "groups_id"
        for name, group_id in groups.items():
            self.admin.write("res.users", [uid], {field_name: [(4, group_id)]})
            added.append(name)


def _many2one_id(value) -> int | None:
    if isinstance(value, list | tuple) and value:
        return value[0]
    return value or None


def _domain(text) -> object:
    try:
        return ast.literal_eval(text) if isinstance(text, str) else text
    except (ValueError, SyntaxError):
        return text
