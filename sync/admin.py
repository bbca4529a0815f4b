"""The admin: carrier mappings for logistics managers; shipments, jobs and webhooks with recovery actions."""

from __future__ import annotations

import json
import time

from django import forms
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.core.exceptions import PermissionDenied
from django.db.models import Count, Q
from django.http import HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.safestring import mark_safe
from django.utils.translation import ngettext

from .audit import Actor
from .carriers import carrier_mapping_delete, courier_slug_check
from .models import (
    Alert,
    ApiUsage,
    AuditAction,
    AuditEntry,
    CarrierMapping,
    Checkpoint,
    EventState,
    JobAttempt,
    JobKind,
    JobState,
    Resync,
    ResyncState,
    ServiceState,
    Shipment,
    ShipmentStatus,
    StatusChange,
    SyncCursor,
    SyncJob,
    TrackingEvent,
)
from .recovery import (
    carrier_mapping_update,
    carriers_retry,
    events_reprocess,
    jobs_retry,
    shipments_mark_reviewed,
    shipments_resync,
    shipments_retry,
)
from .resync import resync_request

RESYNC_PERMISSION = "sync.resync_shipments"
RETRY_PERMISSION = "sync.retry_parcels"
BODY_SHOWN = 200_000

_STATUS_COLOURS = {
    ShipmentStatus.DONE: "#2e7d32",
    ShipmentStatus.EXCEPTION: "#c62828",
    ShipmentStatus.ATTEMPT_FAIL: "#ef6c00",
    ShipmentStatus.EXPIRED: "#6d4c41",
    ShipmentStatus.NEW: "#757575",
    ShipmentStatus.IGNORED: "#9e9e9e",
}
_JOB_COLOURS = {JobState.DONE: "#2e7d32", JobState.FAILED: "#c62828", JobState.DEAD: "#6a1b9a"}


def _badge(text: str, colour: str):
    return format_html(
        '<span style="display:inline-block;max-width:13em;padding:1px 6px;border-radius:8px;background:{};'
        'color:#fff;line-height:1.4">{}</span>',
        colour,
        text,
    )


def _cut(text: str, limit: int):
    """Text cut to fit a list column, whole in the tooltip."""
    text = text or ""
    if len(text) <= limit:
        return text
    return format_html('<span title="{}">{}…</span>', text, text[: limit - 1].rstrip())


def _when(moment):
    """A short local date and time for list columns ("26 Nov 14:05")."""
    return timezone.localtime(moment).strftime("%d %b %H:%M") if moment else "—"


def confirm_bulk(modeladmin, request, queryset, *, title: str, what: str):
    """For an action on several objects: a page that says what will happen, and asks. None to go ahead
    (one object, or confirmed)."""
    count = queryset.count()
    if count <= 1 or request.POST.get("confirmed") == "yes":
        return None
    context = {
        **modeladmin.admin_site.each_context(request),
        "title": title,
        "what": what,
        "objects": list(queryset[:20]),
        "more": max(count - 20, 0),
        "action": request.POST.get("action", ""),
        "ids": request.POST.getlist(helpers.ACTION_CHECKBOX_NAME),
        "select_across": request.POST.get("select_across", "0"),
        "opts": modeladmin.model._meta,
        "list_url": request.get_full_path(),  # the list as filtered: "all" means all of what it shows
    }
    return TemplateResponse(request, "admin/sync/confirm_action.html", context)


def _left_alone(count: int) -> str:
    return "" if not count else " 1 other is left alone." if count == 1 else f" {count} others are left alone."


def _n(count: int, one: str, many: str) -> str:
    return f"{count} {one if count == 1 else many}"


class ObjectActionsMixin:
    """The list's actions that apply to one object, as buttons on its page (for the roles allowed them)."""

    object_actions: dict[str, str] = {}  # action name -> the button's label
    change_form_template = "admin/sync/change_form_actions.html"

    def render_change_form(self, request, context, add=False, change=False, form_url="", obj=None):
        available = self.get_actions(request) if obj is not None else {}
        context["object_actions"] = [(name, label) for name, label in self.object_actions.items() if name in available]
        return super().render_change_form(request, context, add=add, change=change, form_url=form_url, obj=obj)

    def response_action(self, request, queryset):
        """A button on an object's page brings its reader back to that page, with the action's message."""
        response = super().response_action(request, queryset)
        back = request.POST.get("_back", "")
        if response is not None and back and url_has_allowed_host_and_scheme(back, allowed_hosts={request.get_host()}):
            return HttpResponseRedirect(back)
        return response


class ReadOnlyAdmin(admin.ModelAdmin):
    """Logs and traces: visible, never edited by hand."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


class ReadOnlyInline(admin.TabularInline):
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False


class MappedFilter(admin.SimpleListFilter):
    title = "mapping"
    parameter_name = "mapped"

    def lookups(self, request, model_admin):
        return [("no", "Needs a courier"), ("yes", "Mapped")]

    def queryset(self, request, queryset):
        if self.value() == "no":
            return queryset.filter(slug="")
        if self.value() == "yes":
            return queryset.exclude(slug="")
        return queryset


class CourierFilter(admin.SimpleListFilter):
    """Couriers from the carrier mappings (a few rows), not a DISTINCT over every parcel."""

    title = "AfterShip courier"
    parameter_name = "courier"

    def lookups(self, request, model_admin):
        slugs = CarrierMapping.objects.exclude(slug="").values_list("slug", flat=True).distinct().order_by("slug")
        return [(slug, slug) for slug in slugs]

    def queryset(self, request, queryset):
        return queryset.filter(slug=self.value()) if self.value() else queryset


class TagFilter(admin.SimpleListFilter):
    """AfterShip's tags, from its documented list, not a DISTINCT over every event."""

    title = "AfterShip tag"
    parameter_name = "tag"

    def lookups(self, request, model_admin):
        from .status import STATUS_BY_TAG

        return [(tag, tag) for tag in STATUS_BY_TAG]

    def queryset(self, request, queryset):
        return queryset.filter(tag=self.value()) if self.value() else queryset


class _GlobalOrYesNo(forms.NullBooleanSelect):
    """Empty means the global setting (AFTERSHIP_SEND_CONTACT_DEFAULT), not "unknown"."""

    def __init__(self, attrs=None):
        super().__init__(attrs)
        self.choices = [("unknown", "Use the global setting"), ("true", "Yes, send it"), ("false", "No, never")]


class CarrierMappingForm(forms.ModelForm):
    """Checks the courier against AfterShip's list (cached for a day) and names the closest ones."""

    class Meta:
        model = CarrierMapping
        fields = ["slug", "enabled", "custom_fields", "send_customer_email", "send_customer_phone"]
        widgets = {"send_customer_email": _GlobalOrYesNo(), "send_customer_phone": _GlobalOrYesNo()}

    def clean_slug(self):
        slug = (self.cleaned_data.get("slug") or "").strip().lower()
        self.slug_unchecked = False
        if not slug or slug == (self.instance.slug if self.instance.pk else None):
            return slug
        check = courier_slug_check(slug=slug)
        if check.known is None:
            self.slug_unchecked = True
        elif not check.known:
            hint = f" Closest: {', '.join(check.closest)}." if check.closest else ""
            raise forms.ValidationError(
                f"AfterShip has no courier '{slug}'.{hint} Slugs are listed on https://www.aftership.com/couriers."
            )
        return slug


@admin.register(CarrierMapping)
class CarrierMappingAdmin(admin.ModelAdmin):
    list_display = [
        "odoo_carrier_name",
        "courier",
        "enabled",
        "suggested",
        "parcels",
        "parcels_in_review",
        "email_sent",
        "phone_sent",
    ]
    list_filter = [MappedFilter, "enabled"]
    search_fields = ["odoo_carrier_name", "slug", "suggested_slug"]
    readonly_fields = ["odoo_carrier_id", "odoo_carrier_name", "suggested_slug", "first_seen_at", "updated_at"]
    fields = [
        "odoo_carrier_name",
        "odoo_carrier_id",
        "slug",
        "suggested_slug",
        "enabled",
        "custom_fields",
        "send_customer_email",
        "send_customer_phone",
        "first_seen_at",
        "updated_at",
    ]
    actions = ["use_suggested", "retry_parcels"]
    form = CarrierMappingForm

    def get_queryset(self, request):
        return (
            super()
            .get_queryset(request)
            .annotate(
                parcel_count=Count("shipments"),
                review_count=Count("shipments", filter=Q(shipments__needs_review=True)),
            )
        )

    @admin.display(description="AfterShip courier", ordering="slug")
    def courier(self, obj):
        if obj.slug:
            return obj.slug
        return _badge("not mapped", "#ef6c00")

    @admin.display(description="suggested", ordering="suggested_slug")
    def suggested(self, obj):
        return obj.suggested_slug or "—"

    @admin.display(description="e-mail sent")
    def email_sent(self, obj):
        return {None: "global setting", True: "yes", False: "no"}[obj.send_customer_email]

    @admin.display(description="phone sent")
    def phone_sent(self, obj):
        return {None: "global setting", True: "yes", False: "no"}[obj.send_customer_phone]

    @admin.display(description="parcels", ordering="parcel_count")
    def parcels(self, obj):
        return obj.parcel_count

    @admin.display(description="in review", ordering="review_count")
    def parcels_in_review(self, obj):
        return obj.review_count or ""

    def save_model(self, request, obj, form, change):
        if getattr(form, "slug_unchecked", False):
            messages.warning(
                request,
                f"AfterShip's courier list could not be fetched just now, so '{obj.slug}' was saved unchecked. "
                "If AfterShip does not know it, the parcels fall back to courier detection.",
            )
        queued = carrier_mapping_update(mapping=obj, actor=Actor.from_request(request))
        if queued:
            messages.info(
                request,
                ngettext(
                    "%(n)d parcel of %(carrier)s that was waiting for review is queued again.",
                    "%(n)d parcels of %(carrier)s that were waiting for review are queued again.",
                    queued,
                )
                % {"n": queued, "carrier": obj.odoo_carrier_name},
            )

    def delete_model(self, request, obj):
        carrier_mapping_delete(mapping=obj, actor=Actor.from_request(request))

    def delete_queryset(self, request, queryset):
        for mapping in queryset:
            carrier_mapping_delete(mapping=mapping, actor=Actor.from_request(request))

    @admin.action(description="Retry the parcels of these carriers that need review", permissions=["retry"])
    def retry_parcels(self, request, queryset):
        failed = SyncJob.objects.filter(
            kind=JobKind.CREATE_TRACKING, shipment__carrier__in=queryset, state__in=[JobState.FAILED, JobState.DEAD]
        ).count()
        what = f"The failed trackings of these {queryset.count()} carriers' parcels ({failed}) are tried again."
        if page := confirm_bulk(self, request, queryset, title="Retry the parcels of these carriers?", what=what):
            return page
        retried = carriers_retry(carriers=queryset, actor=Actor.from_request(request))
        self.message_user(request, ngettext("%d parcel queued again.", "%d parcels queued again.", retried) % retried)

    @admin.action(description="Use the courier AfterShip suggested", permissions=["change"])
    def use_suggested(self, request, queryset):
        actor = Actor.from_request(request)
        mapped = queued = 0
        for mapping in queryset.filter(slug="").exclude(suggested_slug=""):
            mapping.slug = mapping.suggested_slug
            queued += carrier_mapping_update(mapping=mapping, actor=actor)
            mapped += 1
        skipped = queryset.count() - mapped
        message = ngettext("%d carrier mapped", "%d carriers mapped", mapped) % mapped
        message += ngettext("; %d parcel queued again", "; %d parcels queued again", queued) % queued
        if skipped:
            message += f"; {skipped} left alone (already mapped, or no suggestion yet)"
        self.message_user(request, message + ".")

    def has_retry_permission(self, request):
        return request.user.has_perm(RETRY_PERMISSION)


class CheckpointInline(ReadOnlyInline):
    model = Checkpoint
    fields = ["checkpoint_time", "tag", "subtag", "location", "message"]
    readonly_fields = fields


class StatusChangeInline(ReadOnlyInline):
    model = StatusChange
    fields = ["created_at", "status_text", "checkpoint_message", "written_at", "activity_outcome", "customer_outcome"]
    readonly_fields = fields
    verbose_name_plural = "status changes told to Odoo"


class JobInline(ReadOnlyInline):
    model = SyncJob
    fields = ["kind", "state", "attempts", "next_attempt_at", "last_outcome", "last_error"]
    readonly_fields = fields
    show_change_link = True


class ReviewFilter(admin.SimpleListFilter):
    title = "attention"
    parameter_name = "attention"

    def lookups(self, request, model_admin):
        return [("review", "Needs review"), ("untracked", "Not in AfterShip yet")]

    def queryset(self, request, queryset):
        if self.value() == "review":
            return queryset.filter(needs_review=True)
        if self.value() == "untracked":
            return queryset.filter(aftership_id="").exclude(status=ShipmentStatus.IGNORED)
        return queryset


@admin.register(Shipment)
class ShipmentAdmin(ObjectActionsMixin, admin.ModelAdmin):
    list_display = [
        "picking_name",
        "status_badge",
        "review",
        "sale_order_name",
        "customer",
        "tracking_number",
        "courier",
        "tracked",
    ]
    list_filter = [ReviewFilter, "status", CourierFilter, "carrier"]
    search_fields = ["tracking_number", "picking_name", "sale_order_name", "partner_name", "aftership_id"]
    list_select_related = ["carrier"]
    date_hierarchy = "created_at"
    readonly_fields = [f.name for f in Shipment._meta.fields if f.name != "writeback_seq"]
    exclude = ["writeback_seq"]
    inlines = [StatusChangeInline, CheckpointInline, JobInline]
    actions = ["retry_tracking", "resync_from_odoo", "mark_reviewed"]
    object_actions = {
        "retry_tracking": "Retry",
        "resync_from_odoo": "Resync from Odoo",
        "mark_reviewed": "Mark reviewed",
    }
    show_full_result_count = False

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False  # what the portal knows of a parcel comes from Odoo and AfterShip: viewed, acted on

    def has_delete_permission(self, request, obj=None):
        return request.user.is_superuser

    @admin.display(description="status", ordering="status")
    def status_badge(self, obj):
        if obj.needs_review:
            return _badge(obj.review_label, "#ef6c00")
        label = obj.get_status_display()
        if obj.status in (ShipmentStatus.EXCEPTION, ShipmentStatus.ATTEMPT_FAIL) and obj.subtag_message:
            label = f"{label}: {obj.subtag_message[:40]}"  # AfterShip's reason
        return _badge(label, _STATUS_COLOURS.get(obj.status, "#1565c0"))

    @admin.display(description="needs review", ordering="needs_review")
    def review(self, obj):
        if not obj.needs_review:
            return ""
        return _cut(obj.review_reason, 48)

    @admin.display(description="courier", ordering="slug")
    def courier(self, obj):
        return obj.slug or "—"

    @admin.display(description="customer", ordering="partner_name")
    def customer(self, obj):
        return _cut(obj.partner_name, 26)

    @admin.display(description="tracked", ordering="tracked_at")
    def tracked(self, obj):
        return _when(obj.tracked_at)

    @admin.action(description="Retry creating the AfterShip tracking", permissions=["retry"])
    def retry_tracking(self, request, queryset):
        untracked = queryset.filter(aftership_id="").count()
        what = (
            f"Creating the AfterShip tracking is tried again for {_n(untracked, 'parcel', 'parcels')} not in AfterShip."
            + _left_alone(queryset.count() - untracked)
        )
        if page := confirm_bulk(self, request, queryset, title="Retry these parcels?", what=what):
            return page
        retried = shipments_retry(shipments=queryset.filter(aftership_id=""), actor=Actor.from_request(request))
        self.message_user(request, ngettext("%d parcel queued again.", "%d parcels queued again.", retried) % retried)

    @admin.action(description="Resync from Odoo (re-read the delivery)", permissions=["retry"])
    def resync_from_odoo(self, request, queryset):
        deliveries = queryset.values("picking_id").distinct().count()
        what = f"The {_n(deliveries, 'delivery', 'deliveries')} of these parcels are read again from Odoo by a worker."
        if page := confirm_bulk(self, request, queryset, title="Resync these parcels from Odoo?", what=what):
            return page
        count = shipments_resync(shipments=queryset, actor=Actor.from_request(request))
        self.message_user(
            request,
            ngettext("%d delivery will be read again from Odoo.", "%d deliveries will be read again from Odoo.", count)
            % count,
        )

    @admin.action(description="Mark reviewed (dealt with; take off the review list)", permissions=["retry"])
    def mark_reviewed(self, request, queryset):
        in_review = queryset.filter(needs_review=True).count()
        leave = _n(in_review, "parcel leaves", "parcels leave")
        what = f"{leave} the review list: the problem is taken as dealt with." + _left_alone(
            queryset.count() - in_review
        )
        if page := confirm_bulk(self, request, queryset, title="Mark these parcels reviewed?", what=what):
            return page
        marked = shipments_mark_reviewed(shipments=queryset, actor=Actor.from_request(request))
        self.message_user(
            request, ngettext("%d parcel marked reviewed.", "%d parcels marked reviewed.", marked) % marked
        )

    def has_retry_permission(self, request):
        return request.user.has_perm(RETRY_PERMISSION)


class AttemptInline(ReadOnlyInline):
    model = JobAttempt
    fields = ["started_at", "duration_ms", "outcome", "error", "worker"]
    readonly_fields = fields


@admin.register(SyncJob)
class SyncJobAdmin(ObjectActionsMixin, ReadOnlyAdmin):
    list_display = ["id", "kind", "target", "state_badge", "attempts", "next_try", "outcome", "short_error", "created"]
    list_filter = ["state", "kind"]
    search_fields = ["shipment__tracking_number", "shipment__picking_name", "shipment__sale_order_name", "=picking_id"]
    list_select_related = ["shipment"]
    readonly_fields = [
        "kind",
        "shipment",
        "picking_id",
        "state",
        "attempts",
        "next_attempt_at",
        "expires_at",
        "lease_until",
        "worker",
        "last_outcome",
        "last_error",
        "last_latency_ms",
        "created_at",
        "finished_at",
        "payload_pretty",
    ]
    exclude = ["payload"]
    inlines = [AttemptInline]
    actions = ["retry_jobs"]
    object_actions = {"retry_jobs": "Retry"}
    show_full_result_count = False

    @admin.display(description="for")
    def target(self, obj):
        if obj.shipment_id:
            return f"{obj.shipment.picking_name} / {obj.shipment.tracking_number}"
        return f"delivery #{obj.picking_id}"

    @admin.display(description="state", ordering="state")
    def state_badge(self, obj):
        return _badge(obj.get_state_display(), _JOB_COLOURS.get(obj.state, "#1565c0"))

    @admin.display(description="last error")
    def short_error(self, obj):
        return _cut(obj.last_error, 48)

    @admin.display(description="next try", ordering="next_attempt_at")
    def next_try(self, obj):
        return _when(obj.next_attempt_at) if obj.state == JobState.PENDING else "—"

    @admin.display(description="last outcome")
    def outcome(self, obj):
        return _cut(obj.last_outcome, 40)

    @admin.display(description="created", ordering="created_at")
    def created(self, obj):
        return _when(obj.created_at)

    @admin.display(description="request body")
    def payload_pretty(self, obj):
        return format_html("<pre>{}</pre>", json.dumps(obj.payload, indent=2, ensure_ascii=False))

    def get_readonly_fields(self, request, obj=None):
        fields = super().get_readonly_fields(request, obj)
        if not request.user.has_perm(RESYNC_PERMISSION):  # the request may hold the customer's e-mail and phone
            fields = [f for f in fields if f != "payload_pretty"]
        return fields

    @admin.action(description="Retry the selected failed or abandoned jobs", permissions=["resync"])
    def retry_jobs(self, request, queryset):
        stuck = queryset.filter(state__in=[JobState.FAILED, JobState.DEAD]).count()
        start = _n(stuck, "failed or abandoned job starts", "failed or abandoned jobs start")
        what = f"{start} again from the first attempt." + _left_alone(queryset.count() - stuck)
        if page := confirm_bulk(self, request, queryset, title="Retry these jobs?", what=what):
            return page
        retried = jobs_retry(jobs=queryset, actor=Actor.from_request(request))
        skipped = queryset.count() - retried
        message = ngettext("%d job queued again", "%d jobs queued again", retried) % retried
        if skipped:
            message += ngettext("; %d was not failed or abandoned", "; %d were not failed or abandoned", skipped) % (
                skipped
            )
        self.message_user(request, message + ".")

    def has_resync_permission(self, request):
        return request.user.has_perm(RESYNC_PERMISSION)


@admin.register(TrackingEvent)
class TrackingEventAdmin(ObjectActionsMixin, ReadOnlyAdmin):
    list_display = ["received", "kind", "tracking_number", "slug", "tag", "state", "short_error", "delivery"]
    list_filter = ["state", "source", "kind", "signature", TagFilter]
    actions = ["reprocess"]
    object_actions = {"reprocess": "Reprocess"}
    change_list_template = "admin/sync/trackingevent_changelist.html"

    def get_urls(self):
        view = self.admin_site.admin_view(self.test_webhook)
        return [path("test/", view, name="sync_test_webhook"), *super().get_urls()]

    def test_webhook(self, request):
        """Send a signed sample tracking update to the portal's own endpoint (on POST) and show what came of it."""
        if not request.user.has_perm(RESYNC_PERMISSION):
            raise PermissionDenied
        from django.conf import settings

        from .webhook_test import webhook_test_send

        context = {**self.admin_site.each_context(request), "title": "Test the AfterShip webhook", "result": None}
        if request.method == "POST":
            base_url = settings.PORTAL_BASE_URL or request.build_absolute_uri("/")
            context["result"] = webhook_test_send(base_url=base_url)
        return TemplateResponse(request, "admin/sync/webhook_test.html", context)

    search_fields = ["=event_id", "tracking_number"]
    list_select_related = ["shipment"]
    show_full_result_count = False
    exclude = ["body"]
    readonly_fields = [
        "received_at",
        "source",
        "remote_addr",
        "signature",
        "kind",
        "news_at",
        "event_id",
        "dedupe_key",
        "tracking_number",
        "slug",
        "tag",
        "shipment",
        "state",
        "error",
        "traceback",
        "attempts",
        "processed_at",
        "headers",
        "body_text",
    ]

    @admin.display(description="error")
    def short_error(self, obj):
        return _cut(obj.error, 48)

    @admin.display(description="received", ordering="received_at")
    def received(self, obj):
        return _when(obj.received_at)

    @admin.display(description="delivery")
    def delivery(self, obj):
        return obj.shipment.picking_name if obj.shipment else "—"

    @admin.action(description="Reprocess the selected events (failed, unmatched or ignored)", permissions=["resync"])
    def reprocess(self, request, queryset):
        again = queryset.filter(state__in=[EventState.FAILED, EventState.UNMATCHED, EventState.IGNORED]).count()
        applied = _n(again, "event (failed, unmatched or ignored) is", "events (failed, unmatched or ignored) are")
        what = f"{applied} applied again by a worker." + _left_alone(queryset.count() - again)
        if page := confirm_bulk(self, request, queryset, title="Reprocess these events?", what=what):
            return page
        queued = events_reprocess(
            events=queryset.exclude(state__in=["rejected", "received"]), actor=Actor.from_request(request)
        )
        self.message_user(
            request,
            ngettext("%d event queued to be applied again.", "%d events queued to be applied again.", queued) % queued,
        )

    def has_resync_permission(self, request):
        return request.user.has_perm(RESYNC_PERMISSION)

    @admin.display(description="body")
    def body_text(self, obj):
        """The body as received, pretty-printed when it is JSON; shown whatever it holds (cut at 200 KB)."""
        raw = bytes(obj.body or b"")
        try:
            text = json.dumps(json.loads(raw), indent=2, ensure_ascii=False)
        except (ValueError, RecursionError):  # not JSON, or nested deeper than Python reads
            text = raw.decode("utf-8", errors="replace")
        shown = text[:BODY_SHOWN]
        if len(text) > BODY_SHOWN:
            shown += f"\n… {len(text) - BODY_SHOWN} more characters"
        return format_html("<pre style='white-space:pre-wrap;max-height:40em;overflow:auto'>{}</pre>", shown)


class WrittenFilter(admin.SimpleListFilter):
    title = "in Odoo"
    parameter_name = "written"

    def lookups(self, request, model_admin):
        return [("no", "Waiting to be written"), ("yes", "Written")]

    def queryset(self, request, queryset):
        if self.value() == "no":
            return queryset.filter(written_at__isnull=True)
        if self.value() == "yes":
            return queryset.filter(written_at__isnull=False)
        return queryset


@admin.register(StatusChange)
class StatusChangeAdmin(ReadOnlyAdmin):
    list_display = ["created", "shipment", "status_text", "written", "activity_outcome", "customer_outcome"]

    @admin.display(description="created", ordering="created_at")
    def created(self, obj):
        return _when(obj.created_at)

    @admin.display(description="written to Odoo", ordering="written_at")
    def written(self, obj):
        return _when(obj.written_at)

    list_filter = [WrittenFilter, "status"]
    search_fields = ["shipment__tracking_number", "shipment__picking_name", "shipment__sale_order_name"]
    list_select_related = ["shipment"]
    show_full_result_count = False
    readonly_fields = [f.name for f in StatusChange._meta.fields]


@admin.register(SyncCursor)
class SyncCursorAdmin(ReadOnlyAdmin):
    list_display = ["name", "write_date", "last_run_at", "last_run_summary"]


@admin.register(ServiceState)
class ServiceStateAdmin(ReadOnlyAdmin):
    list_display = ["service", "credentials_ok", "paused_since", "paused_reason", "last_ok_at", "last_error_at"]
    change_list_template = "admin/sync/servicestate_changelist.html"

    def has_delete_permission(self, request, obj=None):
        return False  # a service's state is the portal's own; deleting it would only forget a pause

    def get_urls(self):
        view = self.admin_site.admin_view(self.test_connections)
        return [path("test/", view, name="sync_test_connections"), *super().get_urls()]

    def test_connections(self, request):
        """The checks of `manage.py check_connections`, with what to do about each failure (run on POST)."""
        if not request.user.has_perm(RESYNC_PERMISSION):
            raise PermissionDenied
        from .connection import connections_check

        context = {
            **self.admin_site.each_context(request),
            "title": "Test connections",
            "lines": None,
            "states": ServiceState.objects.order_by("service"),
        }
        if request.method == "POST":  # a check may resume a paused service: never on a mere visit
            started = time.monotonic()
            lines = connections_check(actor=Actor.from_request(request))
            context.update(
                lines=lines,
                failed=sum(not line.ok for line in lines),
                ms=int((time.monotonic() - started) * 1000),
            )
        return TemplateResponse(request, "admin/sync/connections.html", context)


@admin.register(ApiUsage)
class ApiUsageAdmin(ReadOnlyAdmin):
    list_display = ["hour", "service", "endpoint", "calls", "errors", "rate_limited"]
    list_filter = ["service", "endpoint"]
    show_full_result_count = False
    date_hierarchy = "hour"


@admin.register(Alert)
class AlertAdmin(ReadOnlyAdmin):
    """What the portal mailed (or will, in the next digest), one line per subject and period."""

    list_display = ["topic", "audience", "count", "first_at", "last_at", "state", "sent_at"]
    list_filter = ["state", "audience"]
    search_fields = ["topic", "latest_subject"]
    readonly_fields = [f.name for f in Alert._meta.fields]
    show_full_result_count = False


@admin.register(AuditEntry)
class AuditEntryAdmin(ReadOnlyAdmin):
    """Who changed a carrier mapping or took a manual action, from the admin or a command."""

    list_display = ["at", "actor", "via", "action", "target", "change"]
    list_filter = ["action", "via", "actor"]
    search_fields = ["actor", "target", "=object_id"]
    date_hierarchy = "at"
    show_full_result_count = False
    fields = ["at", "actor", "via", "action", "target", "change_in_full", "detail"]
    readonly_fields = fields

    def get_queryset(self, request):
        queryset = super().get_queryset(request)
        if not request.user.has_perm("webhooks.view_addressblock"):  # callers' addresses: integration admins only
            queryset = queryset.exclude(action=AuditAction.UNBLOCK)
        return queryset

    def has_delete_permission(self, request, obj=None):
        return False  # not even a superuser: the log of who did what stays whole

    @admin.display(description="before → after")
    def change(self, obj):
        return _changes(obj, limit=120)

    @admin.display(description="before → after")
    def change_in_full(self, obj):
        return _changes(obj, limit=None)


def _changes(obj, *, limit: int | None) -> str:
    """An audit entry's values before and after, in words (cut at `limit` characters a value in lists)."""
    before, after = obj.before or {}, obj.after or {}
    if not isinstance(before, dict) or not isinstance(after, dict):
        return f"{before} → {after}"
    parts = []
    for key in [*before, *(k for k in after if k not in before)]:
        old, new = _said(key, before.get(key), limit), _said(key, after.get(key), limit)
        parts.append(f"{_label(key)}: {old} → {new}" if key in before else f"{_label(key)}: {new}")
    return "; ".join(parts)


def _label(key: str) -> str:
    try:
        return str(CarrierMapping._meta.get_field(key).verbose_name)
    except Exception:  # not a mapping's field: the key is already in words, or nearly
        return key.replace("_", " ")


def _said(key: str, value, limit: int | None = 120) -> str:
    if value is None:
        return "default" if key.startswith("send_customer_") else "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if key == "state" and isinstance(value, str):
        for choices in (JobState, EventState):
            if value in choices.values:
                return str(choices(value).label)
    if key == "slug" and value == "":
        return "(not mapped)"
    if isinstance(value, list):
        return "; ".join(_said(key, item, limit) for item in value) if value else "none"
    if isinstance(value, dict) and key == "deleted":
        return ", ".join(f"{label}: {count}" for label, count in value.items())
    return _short(value, limit)


def _short(value, limit: int | None = 120) -> str:
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)
    return text if limit is None or len(text) <= limit else text[: limit - 1] + "…"


class ResyncForm(forms.ModelForm):
    class Meta:
        model = Resync
        fields = ["since", "until", "orders", "pickings"]
        widgets = {
            "orders": forms.TextInput(attrs={"size": 60, "placeholder": "S00025, S00026"}),
            "pickings": forms.TextInput(attrs={"size": 60, "placeholder": "WH/OUT/00012, 42"}),
        }

    def clean(self):
        data = super().clean()
        since, until = data.get("since"), data.get("until")
        if not (since or until or (data.get("orders") or "").strip() or (data.get("pickings") or "").strip()):
            raise forms.ValidationError("Say what to resync: a period, sale orders or deliveries (or several).")
        if since and until and since >= until:
            raise forms.ValidationError("'Validated on or after' must come before 'validated before'.")
        for name in ("orders", "pickings"):
            data[name] = ", ".join(part.strip() for part in (data.get(name) or "").split(",") if part.strip())
        return data


_RESYNC_COLOURS = {ResyncState.DONE: "#2e7d32", ResyncState.FAILED: "#c62828", ResyncState.RUNNING: "#1565c0"}


@admin.register(Resync)
class ResyncAdmin(admin.ModelAdmin):
    """Deliveries read again from Odoo, by period, sale order or name, in the background."""

    form = ResyncForm
    list_display = ["created_at", "requested_by", "scope", "state_badge", "deliveries", "trackings_queued", "missing"]
    list_filter = ["state"]
    show_full_result_count = False
    change_form_template = "admin/sync/resync_change_form.html"
    readonly_fields = [
        "state_badge",
        "requested_by",
        "created_at",
        "started_at",
        "finished_at",
        "pages",
        "deliveries",
        "new_parcels",
        "trackings_queued",
        "already_tracked",
        "not_found_list",
        "error",
    ]

    def get_fields(self, request, obj=None):
        if obj is None:
            return ["since", "until", "orders", "pickings"]
        return ["since", "until", "orders", "pickings", *self.readonly_fields]

    def get_readonly_fields(self, request, obj=None):
        return [] if obj is None else ["since", "until", "orders", "pickings", *self.readonly_fields]

    def has_change_permission(self, request, obj=None):
        return False  # what was asked stays as asked; ask another

    def has_delete_permission(self, request, obj=None):
        return False

    def save_model(self, request, obj, form, change):
        resync_request(resync=obj, actor=Actor.from_request(request))

    def response_add(self, request, obj, post_url_continue=None):
        self.message_user(
            request, "Resync asked: a worker reads the deliveries from Odoo; this page shows how it goes."
        )
        return HttpResponseRedirect(reverse("admin:sync_resync_change", args=[obj.pk]))

    def render_change_form(self, request, context, add=False, change=False, form_url="", obj=None):
        context["refresh"] = obj is not None and obj.state in (ResyncState.QUEUED, ResyncState.RUNNING)
        return super().render_change_form(request, context, add=add, change=change, form_url=form_url, obj=obj)

    @admin.display(description="what")
    def scope(self, obj):
        parts = [
            *([f"since {_when(obj.since)}"] if obj.since else []),
            *([f"before {_when(obj.until)}"] if obj.until else []),
            *([f"orders {obj.orders}"] if obj.orders else []),
            *([f"deliveries {obj.pickings}"] if obj.pickings else []),
        ]
        return _cut("; ".join(parts), 60)

    @admin.display(description="state", ordering="state")
    def state_badge(self, obj):
        return _badge(obj.get_state_display(), _RESYNC_COLOURS.get(obj.state, "#757575"))

    @admin.display(description="not found in Odoo")
    def missing(self, obj):
        return len(obj.not_found) or ""

    @admin.display(description="not found in Odoo")
    def not_found_list(self, obj):
        return format_html_join(mark_safe("<br>"), "{}", ((line,) for line in obj.not_found)) or "—"
