"""The Odoo 18 models the portal touches: deliveries, sales, partners, carriers, chatter, automation.

Each class keeps Odoo's model name, description (used in access and constraint messages), default
order, access groups and the behaviour clients can observe over RPC; fields are the ones the portal
and the transcripts use, not every field of the real model (stock.picking excepted: its field list is
the one a real 18.0 server returns, loaded from data/stock_picking_fields.json).
"""

from __future__ import annotations

import html
from datetime import timedelta
from pathlib import Path
from typing import Any, ClassVar

from ..base import load_data
from .errors import UserError, ValidationError
from .orm import (
    EVERYONE,
    INTERNAL,
    BaseModel,
    F,
    Field,
    api_model,
    api_returns,
)

SETTINGS = ("base.group_system",)
ACCESS_RIGHTS = ("base.group_erp_manager",)
STOCK_USER = ("stock.group_stock_user",)
SALESMAN = ("sales_team.group_sale_salesman",)

_DATA = Path(__file__).with_name("data")


def _read_only_everywhere(groups: tuple[str, ...]) -> dict[str, tuple[str, ...] | None]:
    return {"read": EVERYONE, "write": groups, "create": groups, "unlink": groups}


def _all(groups: tuple[str, ...]) -> dict[str, tuple[str, ...] | None]:
    return {"read": groups, "write": groups, "create": groups, "unlink": groups}


# -- base -------------------------------------------------------------------------------------------
class ResCompany(BaseModel):
    _name = "res.company"
    _description = "Companies"
    _order = "sequence, name"
    _acl = _read_only_everywhere(SETTINGS)
    _specs = (
        F("name", "char", "Company Name", required=True),
        F("sequence", "integer", "Sequence", default=10),
        F("stock_move_sms_validation", "boolean", "SMS Validation with stock move", default=True),
        F("has_received_warning_stock_sms", "boolean", "Has received warning stock sms", default=False),
    )


class ResUsers(BaseModel):
    _name = "res.users"
    _description = "User"
    _order = "name, login"
    _acl: ClassVar = {"read": INTERNAL, "write": ACCESS_RIGHTS, "create": ACCESS_RIGHTS, "unlink": ACCESS_RIGHTS}
    _specs = (
        F("name", "char", "Name"),
        F("login", "char", "Login", required=True),
        F("partner_id", "many2one", "Related Partner", "res.partner", required=True),
        F("active", "boolean", "Active", default=True),
        F("company_id", "many2one", "Company", "res.company", default=1),
        F("share", "boolean", "Share User", default=False),
        F("tz", "char", "Timezone"),
        F("lang", "char", "Language", default="en_US"),
        F("groups_id", "many2many", "Groups", "res.groups", store=False, compute=lambda r: r._group_ids()),
    )

    def _group_ids(self) -> list[int]:
        """The user's own groups (not the implied ones), as res.groups ids."""
        by_xmlid = {xmlid: rid for rid, xmlid in self.env["res.groups"].sudo()._xmlids().items()}
        auth = self.env.sim._auth.get(self.id)
        return sorted(by_xmlid[g] for g in (auth.groups if auth else ()) if g in by_xmlid)

    def write(self, vals):
        """Writing `groups_id` (Odoo 19: `group_ids`) with commands 4 (add), 3 (remove) and 6 (set) changes
        the user's groups, as Odoo's res.users does (read from source; not recorded)."""
        vals = dict(vals)
        commands = vals.pop("groups_id", None) or vals.pop("group_ids", None)
        if commands is not None:
            self._check_access("write")
            xmlids = self.env["res.groups"].sudo()._xmlids()
            for uid in self._ids:
                groups = set(self.env.sim._auth[uid].groups) if uid in self.env.sim._auth else set()
                for command in commands:
                    if command[0] == 4:
                        groups.add(xmlids[command[1]])
                    elif command[0] == 3:
                        groups.discard(xmlids[command[1]])
                    elif command[0] == 6:
                        groups = {xmlids[gid] for gid in command[2]}
                self.env.sim.set_groups(uid, sorted(groups))
            if not vals:
                return True
        return super().write(vals)

    def has_group(self, group_ext_id):
        """Whether this user is in the group, implied groups included (recorded in transcript 72; the
        singleton check and the fully-qualified xmlid rule are read from Odoo 18's `res.users.has_group`)."""
        self.ensure_one()
        if not isinstance(group_ext_id, str) or "." not in group_ext_id:
            raise ValueError("External ID must be fully qualified")
        return group_ext_id in self.env.sim.user_groups(self._ids[0])

    @api_model
    def context_get(self):
        row = self.env["res.users"].sudo()._row(self.env.uid) or {}
        return {"lang": row.get("lang") or "en_US", "tz": row.get("tz") or False, "uid": self.env.uid}


class ResGroups(BaseModel):
    """res.groups, for the groups the simulator knows (ids chosen here, not recorded); a user's membership
    lives with its credentials (`OdooSimulator.set_groups`)."""

    _name = "res.groups"
    _description = "Access Groups"
    _order = "name"
    _acl: ClassVar = {"read": INTERNAL, "write": SETTINGS, "create": SETTINGS, "unlink": SETTINGS}
    _specs = (F("name", "char", "Name", required=True),)

    def _xmlids(self) -> dict[int, str]:
        data = self.env["ir.model.data"].sudo()
        rows = data._search([("model", "=", "res.groups")])
        return {data._get(rid, "res_id"): f"{data._get(rid, 'module')}.{data._get(rid, 'name')}" for rid in rows}


# -- chatter ----------------------------------------------------------------------------------------
class MailThread(BaseModel):
    """mail.thread: chatter, activities, and write() reading tracked values first (hence MissingError)."""

    def write(self, vals):
        if not self:
            return True
        self._check_missing()
        return BaseModel.write(self, vals)

    @api_returns("id")
    def message_post(
        self,
        *,
        body="",
        subject=None,
        message_type="notification",
        email_from=None,
        author_id=None,
        parent_id=False,
        subtype_xmlid=None,
        subtype_id=False,
        partner_ids=None,
        attachments=None,
        attachment_ids=None,
        body_is_html=False,
        **kwargs,
    ):
        self.ensure_one()
        forbidden = sorted({"model", "res_id", "subtype"} & set(kwargs))
        if forbidden:
            raise ValueError(f"Those values are not supported when posting or notifying: {', '.join(forbidden)}")
        if message_type == "user_notification":
            raise ValueError("Use message_notify to send a notification to an user.")
        self._check_missing()
        self._check_access("write")
        if subtype_xmlid:
            subtype = self.env.ref(subtype_xmlid if "." in subtype_xmlid else f"mail.{subtype_xmlid}")
            subtype_id = subtype.id if subtype else False
        if not subtype_id:
            subtype_id = self.env.ref("mail.mt_note").id  # type: ignore[union-attr]
        if author_id is None:
            author_id = self.env["res.users"].sudo()._get(self.env.uid, "partner_id")
        text = body or ""
        if not body_is_html:
            text = html.escape(str(text), quote=False)
        message = (
            self.env["mail.message"]
            .sudo()
            .create(
                {
                    "model": self._name,
                    "res_id": self.id,
                    "body": text,
                    "subject": subject or False,
                    "message_type": message_type,
                    "subtype_id": subtype_id,
                    "author_id": author_id,
                    "email_from": email_from or False,
                    "parent_id": parent_id or False,
                    "partner_ids": [(6, 0, list(partner_ids or []))],
                    "date": self.env.now.replace(microsecond=0),
                    "record_name": self._display_name(self.id),
                }
            )
        )
        return message.with_context(self.env.context)

    def activity_schedule(self, act_type_xmlid="", date_deadline=None, summary="", note="", **act_values):
        activity_type = None
        if act_type_xmlid:
            activity_type = self.env.ref(act_type_xmlid, raise_if_not_found=False)
        elif act_values.get("activity_type_id"):
            activity_type = self.env["mail.activity.type"]._browse([act_values["activity_type_id"]])
        if not activity_type or not activity_type.sudo().exists():
            activity_type = self.env.ref("mail.mail_activity_data_todo")
        types = self.env["mail.activity.type"].sudo()
        type_id = activity_type.id  # type: ignore[union-attr]
        if not date_deadline:
            date_deadline = self.env.sim.clock().date() + timedelta(days=types._get(type_id, "delay_count") or 0)
        model_id = self.env["ir.model"].sudo()._id_for(self._name)
        created = []
        for record in self:
            values = {
                "activity_type_id": type_id,
                "summary": summary or types._get(type_id, "summary") or False,
                "automated": True,
                "note": note or False,
                "date_deadline": date_deadline,
                "res_model_id": model_id,
                "res_id": record.id,
            }
            values.update({k: v for k, v in act_values.items() if k != "activity_type_id"})
            created.extend(self.env["mail.activity"].create(values).ids)
        return self.env["mail.activity"]._browse(created)


class MailThreadSms(MailThread):
    """The sms module's override of message_post, whose keyword forwarding shapes Odoo's TypeError text."""

    @api_returns("id")
    def message_post(self, *args, body="", message_type="notification", **kwargs):
        return super().message_post(*args, body=body, message_type=message_type, **kwargs)


_PARTNER_TYPES = [
    ["contact", "Contact"],
    ["invoice", "Invoice Address"],
    ["delivery", "Delivery Address"],
    ["other", "Other Address"],
]


class ResPartner(MailThreadSms):
    _name = "res.partner"
    _description = "Contact"
    _order = "complete_name ASC, id DESC"
    _rec_name = "complete_name"
    _parent_name = "parent_id"
    _acl: ClassVar = {
        "read": INTERNAL,
        "write": ("base.group_partner_manager",),
        "create": ("base.group_partner_manager",),
        "unlink": ("base.group_partner_manager",),
    }

    @staticmethod
    def _complete_name(record: BaseModel) -> str:
        rid = record.id
        name = record._row(rid).get("name") if record._row(rid) else None  # type: ignore[union-attr]
        parent = record._get(rid, "parent_id")
        if not name and parent:
            ptype = record._get(rid, "type")
            name = dict(_PARTNER_TYPES).get(ptype) if ptype != "contact" else ""
        if parent and not record._get(rid, "is_company"):
            return f"{record._display_name(parent)}, {name or ''}"
        return name or ""

    @staticmethod
    def _is_blacklisted(record: BaseModel) -> bool:
        row = record._row(record.id) or {}
        return bool(row.get("is_blacklisted"))

    _specs = (
        F("name", "char", "Name"),
        F("complete_name", "char", "Complete Name", compute=_complete_name),
        F("parent_id", "many2one", "Related Company", "res.partner"),
        F("ref", "char", "Reference"),
        F("lang", "char", "Language"),
        F("active", "boolean", "Active", default=True),
        F("type", "selection", "Address Type", selection=_PARTNER_TYPES, default="contact"),
        F("street", "char", "Street"),
        F("street2", "char", "Street2"),
        F("zip", "char", "Zip"),
        F("city", "char", "City"),
        F("state_id", "many2one", "State", "res.country.state"),
        F("country_id", "many2one", "Country", "res.country"),
        F("country_code", "char", "Country Code", store=False, related="country_id.code", readonly=True),
        F("email", "char", "Email"),
        F("phone", "char", "Phone"),
        F("mobile", "char", "Mobile"),
        F("is_company", "boolean", "Is a Company", default=False),
        F(
            "is_blacklisted",
            "boolean",
            "Blacklist",
            store=False,
            searchable=True,
            readonly=True,
            compute=_is_blacklisted,
            help="If the email address is on the blacklist, the contact won't receive mass mailing anymore, "
            "from any list",
        ),
    )

    def _compute_display_name(self, rid: int, row: dict[str, Any]) -> str:
        return self._complete_name(self._browse([rid])) or f"{self._name},{rid}"


class ResCountry(BaseModel):
    _name = "res.country"
    _description = "Country"
    _order = "name"
    _acl = _read_only_everywhere(SETTINGS)
    _specs = (
        F("name", "char", "Country Name", required=True, translate=True),
        F(
            "code",
            "char",
            "Country Code",
            size=2,
            required=True,
            help="The ISO country code in two chars. \nYou can use this field for quick search.",
        ),
    )


class ResCountryState(BaseModel):
    _name = "res.country.state"
    _description = "Country state"
    _order = "code"
    _acl = _read_only_everywhere(SETTINGS)
    _specs = (
        F("country_id", "many2one", "Country", "res.country", required=True),
        F("name", "char", "State Name", required=True),
        F("code", "char", "State Code", required=True),
    )

    def _compute_display_name(self, rid: int, row: dict[str, Any]) -> str:
        country = self.env["res.country"]._get(row["country_id"], "code") if row.get("country_id") else ""
        return f"{row.get('name')} ({country})"


# -- delivery ---------------------------------------------------------------------------------------
class DeliveryCarrier(BaseModel):
    _name = "delivery.carrier"
    _description = "Shipping Methods"
    _order = "sequence, id"
    _acl: ClassVar = {
        "read": INTERNAL,
        "write": ("stock.group_stock_manager", "sales_team.group_sale_manager"),
        "create": ("stock.group_stock_manager", "sales_team.group_sale_manager"),
        "unlink": ("stock.group_stock_manager", "sales_team.group_sale_manager"),
    }
    _specs = (
        F("name", "char", "Delivery Method", required=True, translate=True),
        F("sequence", "integer", "Sequence", default=10),
        F(
            "delivery_type",
            "selection",
            "Provider",
            required=True,
            default="fixed",
            selection=[["base_on_rule", "Based on Rules"], ["fixed", "Fixed Price"]],
        ),
        F(
            "tracking_url",
            "char",
            "Tracking Link",
            help="This option adds a link for the customer in the portal to track their package easily. Use "
            "<shipmenttrackingnumber> as a placeholder in your URL.",
        ),
    )


class StockPickingType(BaseModel):
    _name = "stock.picking.type"
    _description = "Picking Type"
    _order = "sequence, id"
    _acl: ClassVar = {
        "read": INTERNAL,
        "write": ("stock.group_stock_manager",),
        "create": ("stock.group_stock_manager",),
        "unlink": ("stock.group_stock_manager",),
    }
    _specs = (
        F("name", "char", "Operation Type", required=True),
        F(
            "code",
            "selection",
            "Type of Operation",
            required=True,
            selection=[["incoming", "Receipt"], ["outgoing", "Delivery"], ["internal", "Internal Transfer"]],
        ),
        F("sequence_code", "char", "Sequence Prefix", required=True),
        F("sequence", "integer", "Sequence"),
        F("default_location_src_id", "many2one", "Source Location", "stock.location"),
        F("default_location_dest_id", "many2one", "Destination Location", "stock.location"),
    )


class StockLocation(BaseModel):
    _name = "stock.location"
    _description = "Inventory Locations"
    _order = "complete_name, id"
    _rec_name = "complete_name"
    _specs = (F("complete_name", "char", "Full Location Name"),)


class MailMessage(BaseModel):
    _name = "mail.message"
    _description = "Message"
    _order = "id desc"
    _rec_name = "record_name"
    _acl: ClassVar = {"read": INTERNAL, "create": INTERNAL, "write": SETTINGS, "unlink": SETTINGS}
    _specs = (
        F("subject", "char", "Subject"),
        F("date", "datetime", "Date"),
        F("body", "html", "Contents"),
        F("model", "char", "Related Document Model"),
        F("res_id", "many2one_reference", "Related Document ID"),
        F("record_name", "char", "Message Record Name"),
        F(
            "message_type",
            "selection",
            "Type",
            required=True,
            default="comment",
            selection=[
                ["email", "Incoming Email"],
                ["comment", "Comment"],
                ["email_outgoing", "Outgoing Email"],
                ["notification", "System notification"],
                ["auto_comment", "Automated Targeted Notification"],
                ["user_notification", "User Specific Notification"],
            ],
        ),
        F("subtype_id", "many2one", "Subtype", "mail.message.subtype"),
        F("author_id", "many2one", "Author", "res.partner"),
        F("email_from", "char", "From"),
        F("parent_id", "many2one", "Parent Message", "mail.message"),
        F("partner_ids", "many2many", "Recipients", "res.partner"),
        F("is_internal", "boolean", "Employee Only", default=False),
    )


class MailMessageSubtype(BaseModel):
    _name = "mail.message.subtype"
    _description = "Message subtypes"
    _order = "sequence, id"
    _acl: ClassVar = {"read": INTERNAL, "write": SETTINGS, "create": SETTINGS, "unlink": SETTINGS}
    _specs = (
        F("name", "char", "Message Type", required=True, translate=True),
        F("sequence", "integer", "Sequence", default=1),
    )


class MailActivityType(BaseModel):
    _name = "mail.activity.type"
    _description = "Activity Type"
    _order = "sequence, id"
    _acl: ClassVar = {"read": INTERNAL, "write": SETTINGS, "create": SETTINGS, "unlink": SETTINGS}
    _specs = (
        F("name", "char", "Name", required=True, translate=True),
        F("summary", "char", "Default Summary", translate=True),
        F("sequence", "integer", "Sequence", default=10),
        F("active", "boolean", "Active", default=True),
        F("delay_count", "integer", "Schedule", default=0),
        F("res_model", "char", "Model"),
        F(
            "category",
            "selection",
            "Action",
            default="default",
            selection=[["default", "None"], ["upload_file", "Upload Document"], ["phonecall", "Phonecall"]],
        ),
    )


class MailActivity(BaseModel):
    _name = "mail.activity"
    _description = "Activity"
    _order = "date_deadline ASC, id ASC"
    _rec_name = "summary"

    _specs = (
        F("res_model_id", "many2one", "Document Model", "ir.model", required=True),
        F("res_model", "char", "Related Document Model"),
        F("res_id", "many2one_reference", "Related Document ID"),
        F("res_name", "char", "Document Name"),
        F("activity_type_id", "many2one", "Activity Type", "mail.activity.type"),
        F("summary", "char", "Summary"),
        F("note", "html", "Note"),
        F("date_deadline", "date", "Due Date", required=True, default=lambda model: model.env.sim.clock().date()),
        F("automated", "boolean", "Automated activity", default=False),
        F("user_id", "many2one", "Assigned to", "res.users", default=lambda model: model.env.uid),
    )

    def _prepare_create(self, vals: dict[str, Any]) -> dict[str, Any]:
        models = self.env["ir.model"].sudo()
        if not vals.get("res_model_id") and vals.get("res_model"):
            vals["res_model_id"] = models._id_for(vals["res_model"]) or False
        if vals.get("res_model_id"):
            vals["res_model"] = models._get(vals["res_model_id"], "model")
            document_model = self.env.get(vals["res_model"])
            if document_model is not None and vals.get("res_id"):
                document = document_model._browse([vals["res_id"]])
                if not self.env.su:
                    document._check_access("write")
                if document._exists(vals["res_id"]):
                    vals.setdefault("res_name", document._display_name(vals["res_id"]))
        return vals


# -- sales ------------------------------------------------------------------------------------------
class SaleOrder(MailThreadSms):
    _name = "sale.order"
    _description = "Sales Order"
    _order = "date_order desc, id desc"
    _acl: ClassVar = {"read": (*SALESMAN, *STOCK_USER), "write": SALESMAN, "create": SALESMAN, "unlink": SALESMAN}
    _specs = (
        F("name", "char", "Order Reference", required=True, readonly=True, default="New"),
        F("client_order_ref", "char", "Customer Reference"),
        F(
            "state",
            "selection",
            "Status",
            default="draft",
            readonly=True,
            selection=[
                ["draft", "Quotation"],
                ["sent", "Quotation Sent"],
                ["sale", "Sales Order"],
                ["cancel", "Cancelled"],
            ],
        ),
        F("date_order", "datetime", "Order Date", required=True, default=lambda model: model.env.now),
        F("partner_id", "many2one", "Customer", "res.partner", required=True),
        F("partner_invoice_id", "many2one", "Invoice Address", "res.partner"),
        F("partner_shipping_id", "many2one", "Delivery Address", "res.partner"),
        F("company_id", "many2one", "Company", "res.company", default=1),
        F("carrier_id", "many2one", "Delivery Method", "delivery.carrier"),
        F("amount_total", "monetary", "Total"),
    )

    def _prepare_create(self, vals: dict[str, Any]) -> dict[str, Any]:
        if not vals.get("name") or vals["name"] == "New":
            vals["name"] = f"S{self.env.sim.next_sequence('sale.order'):05d}"
        if vals.get("partner_id"):
            vals.setdefault("partner_invoice_id", vals["partner_id"])
            vals.setdefault("partner_shipping_id", vals["partner_id"])
        return vals


# -- inventory ----------------------------------------------------------------------------------------
def _tracking_url(record: BaseModel) -> str | None:
    carrier = record._get(record.id, "carrier_id")
    ref = record._get(record.id, "carrier_tracking_ref")
    if not carrier or not ref:
        return None
    template = record.env["delivery.carrier"]._get(carrier, "tracking_url")
    # fixed/base_on_rule get_tracking_link: a plain substitution, the whole (comma-separated) ref included
    return template.replace("<shipmenttrackingnumber>", ref) if template else None


# The one computed field of the recorded list the portal reads; the others read as empty.
_PICKING_COMPUTES = {"carrier_tracking_url": _tracking_url}


class StockPicking(MailThreadSms):
    _name = "stock.picking"
    _description = "Transfer"
    _order = "priority desc, scheduled_date asc, id desc"
    _acl: ClassVar = {"read": (*STOCK_USER, *SALESMAN), "write": STOCK_USER, "create": STOCK_USER, "unlink": STOCK_USER}
    _defaults: ClassVar[dict[str, Any]] = {
        "state": "draft",
        "move_type": "direct",
        "priority": "0",
        "company_id": 1,
        "printed": False,
        "is_locked": True,
    }

    @classmethod
    def _build_fields(cls) -> dict[str, Field]:
        specs = load_data(_DATA / "stock_picking_fields.json")
        fields: dict[str, Field] = {}
        for spec in specs:
            name = spec["name"]
            fld = Field(
                name=name,
                type=spec["type"],
                string=spec["string"],
                relation=spec.get("relation"),
                relation_field=spec.get("relation_field"),
                readonly=spec["readonly"],
                required=spec["required"],
                store=spec["store"],
                searchable=spec["searchable"],
                selection=spec.get("selection"),
                related=spec.get("related"),
                field_id=spec["id"],
                compute=_PICKING_COMPUTES.get(name),
            )
            if name in cls._defaults:
                fld.default = cls._defaults[name]
            fields[name] = fld
        return fields

    def _prepare_create(self, vals: dict[str, Any]) -> dict[str, Any]:
        types = self.env["stock.picking.type"].sudo()
        if not vals.get("picking_type_id"):
            vals["picking_type_id"] = next(
                (tid for tid in types._all_ids() if types._get(tid, "code") == "outgoing"), False
            )
        type_id = vals.get("picking_type_id")
        if type_id and types._exists(type_id):
            vals.setdefault("location_id", types._get(type_id, "default_location_src_id"))
            vals.setdefault("location_dest_id", types._get(type_id, "default_location_dest_id"))
            if not vals.get("name") or vals["name"] == "/":
                prefix = f"WH/{types._get(type_id, 'sequence_code')}/"
                vals["name"] = f"{prefix}{self.env.sim.next_sequence(prefix):05d}"
        vals.setdefault("scheduled_date", self.env.now.replace(microsecond=0))
        vals.setdefault("date", self.env.now.replace(microsecond=0))
        return vals

    def button_validate(self):
        """stock_sms's override: without skip_sms the first validation asks about SMS and does nothing."""
        self._check_missing()
        drafts = [rid for rid in self._ids if self._get(rid, "state") == "draft"]
        if drafts:
            self._browse(drafts).sudo()._write({"state": "assigned"})
        context = dict(self.env.context)
        context.setdefault("button_validate_picking_ids", list(self._ids))
        if not context.get("skip_sms") and self._check_sms_confirmation_popup():
            wizard = self.env["confirm.stock.sms"].sudo().create({"picking_ids": [(6, 0, list(self._ids))]})
            return {
                "name": "SMS",
                "type": "ir.actions.act_window",
                "view_mode": "form",
                "res_model": "confirm.stock.sms",
                "views": [[1113, "form"]],
                "view_id": 1113,
                "target": "new",
                "res_id": wizard.id,
                "context": context,
            }
        return self._button_validate()

    def _check_sms_confirmation_popup(self) -> bool:
        companies = self.env["res.company"].sudo()
        partners = self.env["res.partner"].sudo()
        for rid in self._ids:
            company = self._get(rid, "company_id")
            if not company or not companies._get(company, "stock_move_sms_validation"):
                continue
            if companies._get(company, "has_received_warning_stock_sms"):
                continue
            partner = self._get(rid, "partner_id")
            if (
                self._get(rid, "picking_type_code") == "outgoing"
                and partner
                and (partners._get(partner, "mobile") or partners._get(partner, "phone"))
            ):
                return True
        return False

    def _button_validate(self) -> bool:
        self._check_access("write")
        for rid in self._ids:
            if self._get(rid, "state") == "cancel":
                raise UserError("Please add some items to move.")
        todo = [rid for rid in self._ids if self._get(rid, "state") != "done"]
        if todo:
            date_done = self.env.sim.clock().replace(microsecond=0, tzinfo=None)
            self._browse(todo)._write({"state": "done", "date_done": date_done, "priority": "0"})
        return True


class ConfirmStockSms(BaseModel):
    _name = "confirm.stock.sms"
    _description = "Confirm Stock SMS"
    _rec_name = None
    _specs = (F("picking_ids", "many2many", "Picking", "stock.picking"),)


# -- technical --------------------------------------------------------------------------------------
class IrModel(BaseModel):
    _name = "ir.model"
    _description = "Models"
    _order = "model"
    _acl = _all(ACCESS_RIGHTS)
    _specs = (
        F("name", "char", "Model Description", required=True, translate=True),
        F("model", "char", "Model", required=True),
    )

    def _id_for(self, model: str) -> int | None:
        for rid in self._all_ids():
            if self._get(rid, "model") == model:
                return rid
        return None


class IrModelFields(BaseModel):
    _name = "ir.model.fields"
    _description = "Fields"
    _order = "name"
    _rec_name = "field_description"
    _acl = _all(ACCESS_RIGHTS)
    _specs = (
        F("name", "char", "Field Name", required=True),
        F("model", "char", "Model Name", required=True),
        F("model_id", "many2one", "Model", "ir.model", required=True),
        F("field_description", "char", "Field Label", required=True, translate=True),
        F(
            "ttype",
            "selection",
            "Field Type",
            required=True,
            selection=[
                [t, t]
                for t in (
                    "binary",
                    "boolean",
                    "char",
                    "date",
                    "datetime",
                    "float",
                    "html",
                    "integer",
                    "json",
                    "many2many",
                    "many2one",
                    "many2one_reference",
                    "monetary",
                    "one2many",
                    "properties",
                    "properties_definition",
                    "reference",
                    "selection",
                    "text",
                )
            ],
        ),
        F("relation", "char", "Related Model"),
        F("required", "boolean", "Required", default=False),
        F("readonly", "boolean", "Readonly", default=False),
        F("store", "boolean", "Stored", default=True),
        F(
            "state",
            "selection",
            "Type",
            default="manual",
            required=True,
            selection=[["manual", "Custom Field"], ["base", "Base Field"]],
        ),
    )

    def create(self, vals_list):
        if not self.env.su:
            # Odoo resolves model_id first, and a user without access to ir.model fails there.
            self.env["ir.model"]._check_access("read")
        records = super().create(vals_list)
        for rid in records._ids:
            self.env.sim._register_custom_field(self.sudo()._browse([rid]))
        return records

    def _prepare_create(self, vals: dict[str, Any]) -> dict[str, Any]:
        if vals.get("model_id") and not vals.get("model"):
            vals["model"] = self.env["ir.model"].sudo()._get(vals["model_id"], "model")
        if vals.get("model") and not vals.get("model_id"):
            vals["model_id"] = self.env["ir.model"].sudo()._id_for(vals["model"])
        return vals

    def _unlink(self) -> None:
        """A manual field leaves its model, column and data with it (transcript 80; base field removal,
        which Odoo refuses, is not simulated)."""
        for rid in self._ids:
            if self._get(rid, "state") == "manual":
                self.env.sim.registry.remove_field(self._get(rid, "model"), self._get(rid, "name"))
        super()._unlink()


class IrModelFieldsSelection(BaseModel):
    _name = "ir.model.fields.selection"
    _description = "Fields Selection"
    _order = "sequence, id"
    _acl: ClassVar = {"read": INTERNAL, "write": ACCESS_RIGHTS, "create": ACCESS_RIGHTS, "unlink": ACCESS_RIGHTS}
    _specs = (
        F("field_id", "many2one", "Field", "ir.model.fields", required=True),
        F("value", "char", "Value", required=True),
        F("name", "char", "Name", required=True, translate=True),
        F("sequence", "integer", "Sequence", default=1000),
    )


class IrModelData(BaseModel):
    _name = "ir.model.data"
    _description = "Model Data"
    _order = "module, model, name"
    _acl: ClassVar = {"read": INTERNAL, "write": ACCESS_RIGHTS, "create": ACCESS_RIGHTS, "unlink": ACCESS_RIGHTS}
    _specs = (
        F("name", "char", "External Identifier", required=True),
        F("module", "char", "Module", required=True, default=""),
        F("model", "char", "Model Name", required=True),
        F("res_id", "many2one_reference", "Record ID"),
    )


class IrUiView(BaseModel):
    """ir.ui.view, as far as an integration extends a form: inherited views checked against their parent.

    Recorded: an integration user may not create views (73); an admin creates an inherited view of the
    picking form (76), is refused one whose anchor is not in the parent (77), reads it back (78) and
    removes it (79). Read from Odoo 18's source (`ir_ui_view.py`), not recorded: `arch` is stored as
    `arch_db`; `mode` is "extension" for a view with a parent and "primary" otherwise; the new view takes
    its parent's type; a field the extension adds must exist on the model (`_check_xml`; the message
    here is shorter than Odoo's, which also quotes the view).
    """

    _name = "ir.ui.view"
    _description = "View"
    _order = "priority,name,id"
    _acl: ClassVar = {"read": INTERNAL, "write": SETTINGS, "create": SETTINGS, "unlink": SETTINGS}
    _specs = (
        F("name", "char", "View Name", required=True),
        F("model", "char", "Model"),
        F("priority", "integer", "Sequence", default=16, required=True),
        F(
            "type",
            "selection",
            "View Type",
            selection=[[t, t.capitalize()] for t in ("list", "form", "graph", "pivot", "calendar", "kanban", "search")],
        ),
        F("arch_db", "text", "Arch Blob", translate=True),
        F("arch", "text", "View Architecture", store=False, compute=lambda record: record._row(record.id)["arch_db"]),
        F("inherit_id", "many2one", "Inherited View", "ir.ui.view"),
        F(
            "mode",
            "selection",
            "View inheritance mode",
            required=True,
            selection=[["primary", "Base view"], ["extension", "Extension View"]],
        ),
        F("active", "boolean", "Active", default=True),
    )

    def _prepare_create(self, vals: dict[str, Any]) -> dict[str, Any]:
        if "arch" in vals:
            vals["arch_db"] = vals.pop("arch")
        parent = vals.get("inherit_id")
        vals.setdefault("mode", "extension" if parent else "primary")
        if parent:
            views = self.sudo()
            vals.setdefault("type", views._get(parent, "type"))
            vals.setdefault("model", views._get(parent, "model"))
            self._check_extension(parent, vals)
        return vals

    def _check_extension(self, parent: int, vals: dict[str, Any]) -> None:
        from xml.etree import ElementTree

        model, arch = vals.get("model"), vals.get("arch_db") or ""

        def invalid(message: str) -> Exception:
            exc = ValidationError(f"Error while parsing or validating view:\n\n{message}")
            # Odoo checks the view once created, so the refused one has used up an id (recorded in 77).
            exc.context = {
                "view": f"ir.ui.view({self.env.sim.db.next_id(self._name)},)",
                "name": vals.get("name"),
                "xmlid": "",
                "view.model": model,
                "view.parent": f"ir.ui.view({parent},)",
                "file": None,
                "line": 1,
            }
            return exc

        try:
            specs = ElementTree.fromstring(arch)
            target = ElementTree.fromstring(self.sudo()._get(parent, "arch_db") or "<form/>")
        except ElementTree.ParseError as exc:
            raise invalid(f"Invalid view definition: {exc}") from None
        fields = self.env.registry.fields.get(model or "", {})
        for spec in [specs] if specs.tag != "data" else list(specs):
            if spec.tag == "xpath":
                expr = spec.get("expr") or ""
                found = target.findall("." + expr if expr.startswith("/") else expr)
                where = f'<xpath expr="{expr}">'
            else:
                found = [node for node in target.iter(spec.tag) if node.get("name") == spec.get("name")]
                where = f'<{spec.tag} name="{spec.get("name")}">'
            if not found:
                raise invalid(f"Element '{where}' cannot be located in parent view")
            for added in spec.iter("field"):
                if added is not spec and added.get("name") not in fields:
                    raise invalid(f'Field "{added.get("name")}" does not exist in model "{model}"')


class IrActionsServer(BaseModel):
    _name = "ir.actions.server"
    _description = "Server Action"
    _order = "sequence,name"
    _acl = _all(SETTINGS)

    _specs = (
        F("name", "char", "Action Name", required=True, translate=True),
        F("type", "char", "Action Type", default="ir.actions.server"),
        F(
            "usage",
            "selection",
            "Usage",
            default="ir_actions_server",
            selection=[
                ["ir_actions_server", "Server Action"],
                ["ir_cron", "Scheduled Action"],
                ["base_automation", "Automation Rule"],
            ],
        ),
        F(
            "state",
            "selection",
            "Type",
            required=True,
            default="object_write",
            selection=[
                ["object_write", "Update Record"],
                ["next_activity", "Create Activity"],
                ["mail_post", "Send Email"],
                ["sms", "Send SMS"],
                ["followers", "Add Followers"],
                ["remove_followers", "Remove Followers"],
                ["object_create", "Create Record"],
                ["code", "Execute Code"],
                ["webhook", "Send Webhook Notification"],
                ["multi", "Execute Existing Actions"],
            ],
        ),
        F("sequence", "integer", "Sequence", default=5),
        F("model_id", "many2one", "Model", "ir.model", required=True),
        F("model_name", "char", "Model Name"),
        F("webhook_url", "char", "Webhook URL"),
        F("webhook_field_ids", "many2many", "Webhook Fields", "ir.model.fields"),
        F("webhook_sample_payload", "text", "Sample Payload", store=False, readonly=True),
        F("base_automation_id", "many2one", "Automation Rule", "base.automation"),
    )

    def _prepare_create(self, vals: dict[str, Any]) -> dict[str, Any]:
        if vals.get("model_id"):
            vals["model_name"] = self.env["ir.model"].sudo()._get(vals["model_id"], "model")
        if vals.get("base_automation_id"):
            vals.setdefault("usage", "base_automation")
        return vals


class BaseAutomation(BaseModel):
    _name = "base.automation"
    _description = "Automation Rule"
    _order = "id"
    _acl = _all(SETTINGS)
    _specs = (
        F("name", "char", "Automation Rule Name", required=True, translate=True),
        F("model_id", "many2one", "Model", "ir.model", required=True),
        F("model_name", "char", "Model Name"),
        F("active", "boolean", "Active", default=True),
        F(
            "trigger",
            "selection",
            "Trigger",
            required=True,
            selection=[
                ["on_stage_set", "Stage is set to"],
                ["on_user_set", "User is set"],
                ["on_tag_set", "Tag is added"],
                ["on_state_set", "State is set to"],
                ["on_priority_set", "Priority is set to"],
                ["on_archive", "On archived"],
                ["on_unarchive", "On unarchived"],
                ["on_create_or_write", "On save"],
                ["on_create", "On creation"],
                ["on_write", "On update"],
                ["on_unlink", "On deletion"],
                ["on_change", "On UI change"],
                ["on_time", "Based on date field"],
                ["on_time_created", "After creation"],
                ["on_time_updated", "After last update"],
                ["on_message_received", "On incoming message"],
                ["on_message_sent", "On outgoing message"],
                ["on_webhook", "On webhook"],
            ],
        ),
        F("trg_selection_field_id", "many2one", "Trigger Field", "ir.model.fields.selection"),
        F("trg_field_ref", "many2one_reference", "Trigger Reference"),
        F("trigger_field_ids", "many2many", "Trigger Fields", "ir.model.fields"),
        F("filter_domain", "char", "Apply on"),
        F("filter_pre_domain", "char", "Before Update Domain"),
        F("action_server_ids", "one2many", "Actions", "ir.actions.server", relation_field="base_automation_id"),
        F("log_webhook_calls", "boolean", "Log Calls", default=False),
    )

    def _prepare_create(self, vals: dict[str, Any]) -> dict[str, Any]:
        if vals.get("model_id"):
            vals["model_name"] = self.env["ir.model"].sudo()._get(vals["model_id"], "model")
        if vals.get("trg_selection_field_id") and "trigger_field_ids" not in vals:
            selection = self.env["ir.model.fields.selection"].sudo()
            field_id = selection._get(vals["trg_selection_field_id"], "field_id")
            vals["trigger_field_ids"] = [(6, 0, [field_id])] if field_id else []
        commands = []
        for command in vals.get("action_server_ids") or ():
            if command and command[0] == 0:
                values = dict(command[2])
                values.setdefault("model_id", vals.get("model_id"))
                values.setdefault("usage", "base_automation")
                command = (0, 0, values)
            commands.append(command)
        if commands:
            vals["action_server_ids"] = commands
        return vals

    def _unlink(self) -> None:
        actions = self.env["ir.actions.server"].sudo()
        for rid in self._ids:
            actions._browse(list(self._get(rid, "action_server_ids")))._unlink()
        super()._unlink()
