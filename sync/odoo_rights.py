"""What the integration user must be allowed to do in Odoo, and which group grants it.

Read by `check_connections` and the admin's connection tester. Each need is asked of Odoo as it stands
(`has_access` on the model, `has_group` where record rules decide), never by trying the operation.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from django.conf import settings

from .odoo import OdooClient, OdooError


def _always() -> bool:
    return True


def _writeback() -> bool:
    return settings.ODOO_WRITEBACK


def _activities() -> bool:
    return settings.ODOO_WRITEBACK and bool(settings.ODOO_ACTIVITY_STATUSES)


def _customer() -> bool:
    return settings.ODOO_WRITEBACK and settings.ODOO_NOTIFY_CUSTOMER


# The groups named below, by their external ids (what `odoo_setup --grant` adds the user to).
GROUP_XMLIDS = {
    "Inventory / User": "stock.group_stock_user",
    "Internal User": "base.group_user",
    "Sales / User: All Documents": "sales_team.group_sale_salesman_all_leads",
}


@dataclass(frozen=True)
class Need:
    model: str
    operation: str
    why: str
    group: str  # the group (by Odoo's name) that grants it in a standard Odoo
    applies: Callable[[], bool] = _always


NEEDS = [
    Need("stock.picking", "read", "read validated deliveries", "Inventory / User"),
    Need("res.partner", "read", "read the customers' delivery addresses", "Internal User"),
    Need("res.country", "read", "read countries", "Internal User"),
    Need("sale.order", "read", "read sale orders", "Sales / User: All Documents"),
    Need("stock.picking", "write", "post notes and write fields on delivery orders", "Inventory / User", _writeback),
    Need("mail.activity", "create", "schedule activities for parcels in trouble", "Internal User", _activities),
    Need("sale.order", "write", "message customers on their sale orders", "Sales / User: All Documents", _customer),
]
# Record rules let a salesperson of "own documents only" read some sale orders and not others: the model's
# access rights pass, the groups say whether all orders can be read. Users outside Sales are not limited so.
SALESPERSON = "sales_team.group_sale_salesman"
ALL_SALE_ORDERS = ("sales_team.group_sale_salesman_all_leads", "Sales / User: All Documents")


@dataclass
class RightCheck:
    ok: bool
    what: str
    detail: str
    advice: str = ""
    group: str = ""  # the group that grants it, when missing


def odoo_rights_check(*, client: OdooClient, uid: int, login: str, version_major: int) -> list[RightCheck]:
    """One line per right the portal needs (as configured), with the group to add when one is missing."""
    checks: list[RightCheck] = []
    before_18 = version_major < 18
    for need in NEEDS:
        if not need.applies():
            continue
        what = f"Odoo right to {need.why}"
        try:
            allowed = client.has_access(need.model, need.operation, before_18=before_18)
        except OdooError as exc:
            checks.append(RightCheck(False, what, f"Odoo could not say: {exc.message}"))
            continue
        detail = f"{need.operation} on {need.model}"
        advice = "" if allowed else f"In Odoo, add {login} to the group '{need.group}' (Settings > Users)."
        checks.append(
            RightCheck(
                allowed, what, detail if allowed else f"{detail} is not allowed", advice, "" if allowed else need.group
            )
        )
    xmlid, name = ALL_SALE_ORDERS
    what = "Odoo right to read every sale order"
    try:
        limited = client.has_group(uid, SALESPERSON) and not client.has_group(uid, xmlid)
    except OdooError as exc:
        checks.append(RightCheck(False, what, f"Odoo could not say: {exc.message}"))
    else:
        checks.append(
            RightCheck(
                not limited,
                what,
                "a salesperson of own orders only: other salespeople's orders stay unread"
                if limited
                else "no record rule limits the orders it reads",
                f"In Odoo, add {login} to the group '{name}' (Settings > Users)." if limited else "",
                name if limited else "",
            )
        )
    return checks
