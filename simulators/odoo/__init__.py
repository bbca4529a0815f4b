"""A faithful simulator of Odoo 18's external API (JSON-RPC, XML-RPC, and Odoo 19's JSON-2).

    sim = OdooSimulator().start()            # version=19 adds /json/2
    transcript_world(sim)                    # or demo_world(sim); the base install is always there
    sim.add_webhook_automation(portal_url)   # base.automation "Send Webhook Notification"
    sim.validate_picking(30, "770000000001") # webhook before commit, then commit
    sim.clock = lambda: frozen_datetime      # write_date comes from this clock
    sim.webhook_calls, sim.rpc_calls, sim.get("stock.picking", 30), sim.records("stock.picking", domain)
    sim.stop()

`python -m simulators odoo --help` runs one on its own.
"""

from .seed import demo_world, transcript_world
from .server import ADMIN_PASSWORD, ADMIN_UID, BOT_API_KEY, BOT_UID, OdooSimulator

__all__ = [
    "ADMIN_PASSWORD",
    "ADMIN_UID",
    "BOT_API_KEY",
    "BOT_UID",
    "OdooSimulator",
    "demo_world",
    "transcript_world",
]
