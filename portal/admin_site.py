"""The admin site, whose front page carries the sync status (`sync.dashboard`) above the app list."""

from __future__ import annotations

from django.contrib import admin


class PortalAdminSite(admin.AdminSite):
    site_header = "Shiptrack Portal"
    site_title = "Shiptrack"
    index_title = "Odoo ⇄ AfterShip"
    site_url = None  # the portal has no public site: no "View site" link leading to a 404
    # The lists need the page's whole width at 1366 px; the app list is one click away (the header's links).
    enable_nav_sidebar = False

    def index(self, request, extra_context=None):
        from sync.dashboard import ago, chart_svg, dashboard_summary

        extra_context = dict(extra_context or {})
        if request.user.has_perm("sync.view_shipment"):
            summary = dashboard_summary()
            extra_context["sync"] = summary
            extra_context["sync_chart"] = chart_svg(summary["chart"])
            extra_context["sync_last"] = {
                "pull": ago(summary["last_pull"]),
                "webhook": ago(summary["webhooks"]["last"]),
                "odoo_write": ago(summary["last_odoo_write"]),
            }
        return super().index(request, extra_context)
