"""The intake's security records in the admin: refused requests (read-only) and blocked addresses."""

from __future__ import annotations

from django.contrib import admin
from django.utils import timezone
from django.utils.translation import ngettext

from sync.audit import Actor

from .models import AddressBlock, SecurityEvent
from .refusals import address_unblock

RESYNC_PERMISSION = "sync.resync_shipments"


@admin.register(SecurityEvent)
class SecurityEventAdmin(admin.ModelAdmin):
    list_display = ["minute", "address", "path", "reason", "count", "body_bytes", "last_at"]
    list_filter = ["reason", "path"]
    search_fields = ["=address"]
    date_hierarchy = "minute"
    show_full_result_count = False
    readonly_fields = [f.name for f in SecurityEvent._meta.fields]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(AddressBlock)
class AddressBlockAdmin(admin.ModelAdmin):
    list_display = ["address", "blocked_at", "blocked_until", "failures", "state", "lifted_by"]
    search_fields = ["=address"]
    readonly_fields = [f.name for f in AddressBlock._meta.fields]
    actions = ["lift"]

    @admin.display(description="state")
    def state(self, obj):
        if obj.lifted_at:
            return "Lifted"
        return "Blocked" if obj.blocked_until > timezone.now() else "Ended"

    @admin.action(description="Lift the block of the selected addresses", permissions=["lift"])
    def lift(self, request, queryset):
        from sync.admin import confirm_bulk

        live = queryset.filter(lifted_at__isnull=True).count()
        what = f"{live} {'block is' if live == 1 else 'blocks are'} lifted: the addresses may call the endpoints again."
        if page := confirm_bulk(self, request, queryset, title="Lift these blocks?", what=what):
            return page
        lifted = sum(address_unblock(block=block, actor=Actor.from_request(request)) for block in queryset)
        self.message_user(request, ngettext("%d block lifted.", "%d blocks lifted.", lifted) % lifted)

    def has_lift_permission(self, request):
        return request.user.has_perm(RESYNC_PERMISSION)

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False
