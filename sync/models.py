"""What the portal knows: carrier mappings, shipments and their history, webhooks received, work to do.

Models hold state and the rules about it (what is final, what may be retried); the I/O that moves a
shipment along lives in the service modules (`pull`, `jobs`, `outbound`, ...).
"""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q
from django.utils import timezone


class CarrierMapping(models.Model):
    """How an Odoo delivery carrier (`delivery.carrier`) is known to AfterShip."""

    odoo_carrier_id = models.PositiveIntegerField("Odoo carrier id", unique=True)
    odoo_carrier_name = models.CharField("Odoo carrier", max_length=200)
    slug = models.CharField(
        "AfterShip courier",
        max_length=100,
        blank=True,
        help_text="AfterShip's courier slug, e.g. dhl, ups, fedex, royal-mail. Leave empty to let AfterShip detect "
        "the courier from each tracking number.",
    )
    enabled = models.BooleanField(
        default=True,
        help_text="Untick for carriers whose parcels should not be tracked in AfterShip (e.g. customer pick-up).",
    )
    custom_fields = models.JSONField(
        default=dict,
        blank=True,
        help_text='AfterShip custom field name -> Odoo field of the delivery order, e.g. {"weight": "weight", '
        '"warehouse": "picking_type_id"}. Prefix with "sale." for a field of the sale order.',
    )
    send_customer_email = models.BooleanField(
        "send customer e-mail",
        null=True,
        blank=True,
        help_text="Send the customer's e-mail to AfterShip (for its notifications). Empty: use the global setting.",
    )
    send_customer_phone = models.BooleanField(
        "send customer phone",
        null=True,
        blank=True,
        help_text="Send the customer's phone to AfterShip (for SMS notifications). Empty: use the global setting.",
    )
    suggested_slug = models.CharField(
        "courier suggested by AfterShip",
        max_length=100,
        blank=True,
        help_text="What AfterShip's courier detection proposed for this carrier's last tracking number.",
    )
    first_seen_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["odoo_carrier_name"]
        permissions = [
            ("resync_shipments", "Can retry failed work and resync deliveries from Odoo"),
            ("retry_parcels", "Can retry, resync and mark reviewed single parcels and a carrier's parcels"),
        ]

    def __str__(self) -> str:
        return f"{self.odoo_carrier_name} → {self.slug or '(not mapped)'}"

    @property
    def is_mapped(self) -> bool:
        return bool(self.slug)

    def allows_email(self) -> bool:
        if self.send_customer_email is None:
            return settings.AFTERSHIP_SEND_CONTACT_DEFAULT
        return self.send_customer_email

    def allows_phone(self) -> bool:
        if self.send_customer_phone is None:
            return settings.AFTERSHIP_SEND_CONTACT_DEFAULT
        return self.send_customer_phone

    def clean(self) -> None:
        if not isinstance(self.custom_fields, dict) or not all(
            isinstance(k, str) and isinstance(v, str) and v for k, v in self.custom_fields.items()
        ):
            raise ValidationError({"custom_fields": "Use an object of AfterShip field name → Odoo field name."})
        self.slug = self.slug.strip().lower()


class ShipmentStatus(models.TextChoices):
    """The portal's own view of a parcel; AfterShip's raw tag is kept next to it."""

    NEW = "new", "Waiting to be sent to AfterShip"
    PENDING = "pending", "Tracking created, no carrier news yet"
    INFO_RECEIVED = "info_received", "Label created"
    IN_TRANSIT = "in_transit", "In transit"
    OUT_FOR_DELIVERY = "out_for_delivery", "Out for delivery"
    AVAILABLE_FOR_PICKUP = "available_for_pickup", "Available for pickup"
    ATTEMPT_FAIL = "attempt_fail", "Delivery attempt failed"
    EXCEPTION = "exception", "Exception"
    DONE = "done", "Delivered"
    EXPIRED = "expired", "Expired (no news for 30 days)"
    IGNORED = "ignored", "Not tracked (carrier disabled)"


FINAL_STATUSES = (ShipmentStatus.DONE, ShipmentStatus.EXPIRED)


class Shipment(models.Model):
    """One parcel: one tracking number of an outgoing Odoo delivery (a multi-parcel delivery has several)."""

    picking_id = models.PositiveIntegerField("Odoo delivery id", db_index=True)
    picking_name = models.CharField("delivery", max_length=100)
    sale_order_id = models.PositiveIntegerField("Odoo sale order id", null=True, blank=True)
    sale_order_name = models.CharField("sale order", max_length=100, blank=True, db_index=True)
    partner_id = models.PositiveIntegerField("Odoo customer id", null=True, blank=True)
    partner_name = models.CharField("customer", max_length=200, blank=True)
    carrier = models.ForeignKey(
        CarrierMapping, null=True, blank=True, on_delete=models.SET_NULL, related_name="shipments"
    )
    tracking_number = models.CharField(max_length=100, db_index=True)
    slug = models.CharField("AfterShip courier", max_length=100, blank=True, db_index=True)
    suggested_slug = models.CharField("courier suggested by AfterShip", max_length=100, blank=True)
    aftership_id = models.CharField("AfterShip tracking id", max_length=64, blank=True, db_index=True)
    status = models.CharField(max_length=32, choices=ShipmentStatus.choices, default=ShipmentStatus.NEW, db_index=True)
    tag = models.CharField("AfterShip tag", max_length=50, blank=True)
    subtag = models.CharField("AfterShip subtag", max_length=50, blank=True)
    subtag_message = models.CharField(max_length=200, blank=True)
    expected_delivery = models.DateTimeField(null=True, blank=True)
    last_checkpoint_at = models.DateTimeField(null=True, blank=True)
    tracking_url = models.CharField("tracking page", max_length=500, blank=True)
    news_at = models.DateTimeField(
        "AfterShip news as of",
        null=True,
        blank=True,
        help_text="AfterShip's updated_at of the newest news applied; older news only adds checkpoints.",
    )
    needs_review = models.BooleanField(default=False, db_index=True)
    review_reason = models.TextField(blank=True)
    odoo_user_id = models.PositiveIntegerField("responsible in Odoo (user id)", null=True, blank=True)
    odoo_fields = models.JSONField(
        "fields last written to Odoo", default=dict, blank=True, help_text="What the delivery order's fields hold."
    )
    odoo_written_at = models.DateTimeField("last written to Odoo", null=True, blank=True)
    writeback_due_at = models.DateTimeField(
        "news waiting for Odoo since",
        null=True,
        blank=True,
        db_index=True,
        help_text="Set when there is news to write to the Odoo delivery order; cleared once it is written.",
    )
    writeback_seq = models.PositiveIntegerField(
        default=0, editable=False, help_text="Counts the news for Odoo, so a write-back knows if more came meanwhile."
    )
    odoo_validated_at = models.DateTimeField("validated in Odoo", null=True, blank=True)
    odoo_write_date = models.DateTimeField(null=True, blank=True)
    tracked_at = models.DateTimeField("tracking created at", null=True, blank=True)
    aftership_deleted_at = models.DateTimeField(
        "tracking deleted from AfterShip at",
        null=True,
        blank=True,
        help_text="Set by manage.py purge --aftership once the parcel was completed before the retention date.",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(fields=["picking_id", "tracking_number"], name="shipment_unique_parcel"),
        ]
        indexes = [
            models.Index(fields=["slug", "tracking_number"], name="shipment_slug_number"),
            models.Index(fields=["-created_at"], name="shipment_created"),  # the admin's list order
        ]

    def __str__(self) -> str:
        return f"{self.picking_name} {self.tracking_number}"

    @property
    def is_tracked(self) -> bool:
        return bool(self.aftership_id)

    # What the review reason is about, in two words for a badge (the reason itself says what to do).
    _REVIEW_LABELS = (
        ("with no AfterShip courier", "unknown courier"),
        ("does not accept the courier", "courier refused"),
        ("rejected tracking number", "tracking number refused"),
        ("needs more information", "courier needs details"),
        ("could not import", "not imported"),
        ("refused tracking", "refused by AfterShip"),
        ("has had no carrier scan", "no carrier scan"),
    )

    @property
    def review_label(self) -> str:
        for words, label in self._REVIEW_LABELS:
            if words in self.review_reason:
                return f"Needs review: {label}"
        return "Needs review"

    def flag_for_review(self, reason: str) -> None:
        self.needs_review = True
        self.review_reason = reason

    def clear_review(self) -> None:
        self.needs_review = False
        self.review_reason = ""

    def ignore_if_carrier_off(self, mapping: CarrierMapping | None) -> bool:
        """The one rule for a carrier switched off in its mapping: its parcels are not tracked, on purpose,
        so nothing is left for a person to review. Marks (and saves) this parcel so when `mapping`, its
        carrier's, is off; True when it is off, whether or not the parcel was already marked."""
        if mapping is None or mapping.enabled:
            return False
        if self.status != ShipmentStatus.IGNORED or self.needs_review:
            self.status = ShipmentStatus.IGNORED
            self.needs_review = False
            self.review_reason = f"Carrier {mapping.odoo_carrier_name} is set not to be tracked."
            self.save(update_fields=["status", "needs_review", "review_reason", "updated_at"])
        return True

    @property
    def is_final(self) -> bool:
        """Delivered or expired: only newer news with new carrier scans may move it on."""
        return self.status in FINAL_STATUSES


class Checkpoint(models.Model):
    """One step of a shipment's carrier history, as AfterShip reported it; never stored twice."""

    shipment = models.ForeignKey(Shipment, on_delete=models.CASCADE, related_name="checkpoints")
    checkpoint_time = models.DateTimeField(null=True, blank=True)
    location = models.CharField(max_length=300, blank=True)
    message = models.TextField(blank=True)
    tag = models.CharField(max_length=50, blank=True)
    subtag = models.CharField(max_length=50, blank=True)
    dedupe_key = models.CharField(max_length=64)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["shipment", "checkpoint_time", "id"]
        constraints = [models.UniqueConstraint(fields=["shipment", "dedupe_key"], name="checkpoint_unique")]

    def __str__(self) -> str:
        return f"{self.checkpoint_time} {self.tag} {self.message[:40]}"


class SignatureResult(models.TextChoices):
    VALID = "valid", "Valid"
    VALID_PREVIOUS = "valid_previous", "Valid (previous secret)"
    MISSING = "missing", "Missing signature"
    INVALID = "invalid", "Invalid signature"
    BAD_TOKEN = "bad_token", "Wrong URL token"
    NOT_CHECKED = "not_checked", "Not checked"


class EventState(models.TextChoices):
    RECEIVED = "received", "Received, waiting to be processed"
    PROCESSED = "processed", "Processed"
    DUPLICATE = "duplicate", "Duplicate (already processed)"
    UNMATCHED = "unmatched", "Waiting for its shipment (tracking not known yet)"
    IGNORED = "ignored", "Nothing to apply"
    REJECTED = "rejected", "Rejected (failed authentication)"
    FAILED = "failed", "Failed"


class EventSource(models.TextChoices):
    WEBHOOK = "webhook", "Webhook"
    RECONCILE = "reconcile", "Reconciliation poll"


class TrackingEvent(models.Model):
    """A webhook delivery from AfterShip, stored as it arrived, before anything tries to parse it."""

    received_at = models.DateTimeField(default=timezone.now, db_index=True)
    remote_addr = models.GenericIPAddressField(null=True, blank=True)
    headers = models.JSONField(default=dict)
    body = models.BinaryField()
    signature = models.CharField(max_length=20, choices=SignatureResult.choices, default=SignatureResult.NOT_CHECKED)
    source = models.CharField(max_length=20, choices=EventSource.choices, default=EventSource.WEBHOOK)
    kind = models.CharField("event", max_length=40, blank=True)
    event_id = models.CharField(max_length=64, blank=True)
    dedupe_key = models.CharField(max_length=128, blank=True)
    body_sha256 = models.CharField("body SHA-256", max_length=64, blank=True)
    news_at = models.DateTimeField(
        "AfterShip news as of", null=True, blank=True, help_text="The tracking's updated_at in the event (UTC)."
    )
    tracking_number = models.CharField(max_length=100, blank=True)
    slug = models.CharField(max_length=100, blank=True)
    tag = models.CharField(max_length=50, blank=True)
    shipment = models.ForeignKey(Shipment, null=True, blank=True, on_delete=models.SET_NULL, related_name="events")
    state = models.CharField(max_length=20, choices=EventState.choices, default=EventState.RECEIVED)
    error = models.TextField(blank=True)
    traceback = models.TextField(blank=True)
    attempts = models.PositiveIntegerField("times processed", default=0)
    processed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-received_at"]
        # Each index is paid on every webhook's insert: only those the workers and the admin use.
        # Duplicates are looked up among one shipment's events, through event_state_shipment.
        indexes = [
            models.Index(fields=["state", "shipment"], name="event_state_shipment"),
            models.Index(fields=["state", "tracking_number"], name="event_state_number"),
        ]

    def __str__(self) -> str:
        return f"{self.event_id or 'event'} {self.tracking_number} {self.tag}".strip()

    @property
    def can_reprocess(self) -> bool:
        return self.state in (EventState.FAILED, EventState.UNMATCHED, EventState.IGNORED)


class StatusChange(models.Model):
    """A parcel's move to a new status, told to Odoo in order: a note, the fields, an activity, the customer.

    Each step's result is kept as soon as Odoo confirms it, so a write-back interrupted by an outage
    resumes where it stopped and never posts the same note twice.
    """

    shipment = models.ForeignKey(Shipment, on_delete=models.CASCADE, related_name="status_changes")
    event = models.ForeignKey(
        "TrackingEvent", null=True, blank=True, on_delete=models.SET_NULL, related_name="status_changes"
    )
    status = models.CharField(max_length=32, choices=ShipmentStatus.choices)
    status_text = models.CharField("status in words", max_length=300)
    tag = models.CharField("AfterShip tag", max_length=50, blank=True)
    subtag = models.CharField("AfterShip subtag", max_length=50, blank=True)
    subtag_message = models.CharField(max_length=200, blank=True)
    checkpoint_time = models.DateTimeField("last scan at", null=True, blank=True)
    checkpoint_location = models.CharField("last scan place", max_length=300, blank=True)
    checkpoint_message = models.TextField("last scan", blank=True)
    expected_delivery = models.DateTimeField(null=True, blank=True)
    tracking_url = models.CharField("tracking page", max_length=500, blank=True)
    news_at = models.DateTimeField("AfterShip news as of", null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    note_id = models.PositiveIntegerField("Odoo note id", null=True, blank=True)
    activity_reason = models.CharField("activity for", max_length=32, blank=True)
    activity_id = models.PositiveIntegerField("Odoo activity id", null=True, blank=True)
    activity_outcome = models.CharField("activity", max_length=200, blank=True)
    customer_message_id = models.PositiveIntegerField("Odoo customer message id", null=True, blank=True)
    customer_outcome = models.CharField("customer message", max_length=200, blank=True)
    attempted_at = models.DateTimeField("first sent to Odoo at", null=True, blank=True)
    written_at = models.DateTimeField("written to Odoo at", null=True, blank=True)

    class Meta:
        ordering = ["shipment", "id"]
        verbose_name = "status change"
        indexes = [
            models.Index(fields=["shipment", "written_at"], name="change_shipment_written"),
            models.Index(fields=["created_at"], condition=Q(written_at__isnull=True), name="change_unwritten"),
        ]

    def __str__(self) -> str:
        return f"{self.shipment} → {self.status_text}"

    @property
    def is_written(self) -> bool:
        return self.written_at is not None


class JobKind(models.TextChoices):
    PICKING_SYNC = "picking_sync", "Read a delivery from Odoo"
    CREATE_TRACKING = "create_tracking", "Create the AfterShip tracking"
    WRITEBACK = "writeback", "Write the status back to Odoo"


class JobState(models.TextChoices):
    PENDING = "pending", "Waiting"
    RUNNING = "running", "Running"
    DONE = "done", "Done"
    FAILED = "failed", "Failed (needs attention)"
    DEAD = "dead", "Gave up"


OPEN_JOB_STATES = (JobState.PENDING, JobState.RUNNING)

# What may follow what: each transition of a job, the states it starts from, and the state it leads to.
# Each is one conditional UPDATE (`SyncJobQuerySet.move`): 0 rows means the job was no longer in a state
# the transition starts from (or, for its worker's transitions, no longer that worker's): someone else
# moved it first, and the caller drops what it meant to write.
JOB_TRANSITIONS: dict[str, tuple[frozenset[str], str]] = {
    "claim": (frozenset({JobState.PENDING}), JobState.RUNNING),  # a worker takes a due job, under a lease
    "heartbeat": (frozenset({JobState.RUNNING}), JobState.RUNNING),  # its worker extends the lease
    "finish": (frozenset({JobState.RUNNING}), JobState.DONE),
    "fail": (frozenset({JobState.RUNNING}), JobState.FAILED),  # an error a person must look at
    "reschedule": (frozenset({JobState.RUNNING}), JobState.PENDING),  # retried after a delay, or waiting
    "give_up": (frozenset({JobState.RUNNING}), JobState.DEAD),  # failing past its expiry
    "recover": (frozenset({JobState.RUNNING}), JobState.PENDING),  # its worker stopped: back in the queue
    "retry": (frozenset({JobState.FAILED, JobState.DEAD}), JobState.PENDING),  # a person starts it afresh
    "hurry": (frozenset({JobState.PENDING}), JobState.PENDING),  # its service is back: due now
    "cancel": (frozenset(OPEN_JOB_STATES), JobState.DONE),  # nothing left to do
}


class SyncJobQuerySet(models.QuerySet):
    def move(self, transition: str, **values) -> int:
        """Apply `transition` to the jobs of this queryset that are in a state it starts from, with
        `values`; returns how many moved."""
        starts, target = JOB_TRANSITIONS[transition]
        return self.filter(state__in=starts).update(state=target, updated_at=timezone.now(), **values)


def _default_expiry():
    return timezone.now() + timedelta(hours=settings.SYNC_JOB_EXPIRY_HOURS)


class SyncJob(models.Model):
    """One unit of outbound or write-back work; the row is the truth, the task queue only a doorbell.

    pending: due at `next_attempt_at` (a retry if `attempts` > 0); running: claimed by a worker until
    `lease_until`; done; failed: stopped on an error a person must look at; dead: kept failing until
    `expires_at`. Failed and dead jobs can be retried from the admin.
    """

    kind = models.CharField(max_length=32, choices=JobKind.choices, db_index=True)
    shipment = models.ForeignKey(Shipment, null=True, blank=True, on_delete=models.CASCADE, related_name="jobs")
    picking_id = models.PositiveIntegerField("Odoo delivery id", null=True, blank=True, db_index=True)
    payload = models.JSONField(default=dict, blank=True)
    state = models.CharField(max_length=16, choices=JobState.choices, default=JobState.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(default=timezone.now)
    lease_until = models.DateTimeField(null=True, blank=True)
    worker = models.CharField(max_length=100, blank=True)
    last_error = models.TextField(blank=True)
    last_outcome = models.CharField(max_length=200, blank=True)
    last_latency_ms = models.PositiveIntegerField(null=True, blank=True)
    expires_at = models.DateTimeField(default=_default_expiry)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    objects = SyncJobQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["state", "next_attempt_at"], name="job_due"),
            models.Index(fields=["-created_at"], name="job_created"),  # the admin's list order
        ]
        constraints = [
            # A shipment never has two open jobs of one kind: a re-pulled delivery cannot queue a second create.
            models.UniqueConstraint(
                fields=["kind", "shipment"],
                condition=Q(state__in=["pending", "running"]) & Q(shipment__isnull=False),
                name="job_one_open_per_shipment",
            ),
            models.UniqueConstraint(
                fields=["kind", "picking_id"],
                condition=Q(state__in=["pending", "running"]) & Q(shipment__isnull=True),
                name="job_one_open_per_picking",
            ),
        ]

    def __str__(self) -> str:
        target = f"shipment {self.shipment_id}" if self.shipment_id else f"delivery {self.picking_id}"
        return f"{self.get_kind_display()} ({target})"

    @property
    def is_open(self) -> bool:
        return self.state in OPEN_JOB_STATES

    @property
    def can_retry(self) -> bool:
        return self.state in (JobState.FAILED, JobState.DEAD)

    # Set by the runner when the job was handed to another worker while this one still ran it.
    lost = False

    def move(self, transition: str, *, held: bool = False, **values) -> bool:
        """Apply `transition` to this job if it is still in a state the transition starts from (with
        `held`, and still held by this object's worker); on success this object shows the new state and
        `values`. False: another worker or a person moved the job first."""
        rows = SyncJob.objects.filter(pk=self.pk)
        if held:
            rows = rows.filter(worker=self.worker)
        if not rows.move(transition, **values):
            return False
        self.state = JOB_TRANSITIONS[transition][1]
        for name, value in values.items():
            if not hasattr(value, "resolve_expression"):
                setattr(self, name, value)
        return True


class JobAttempt(models.Model):
    """The trace of one attempt at a job: when, how long, and how it ended."""

    job = models.ForeignKey(SyncJob, on_delete=models.CASCADE, related_name="attempt_log")
    started_at = models.DateTimeField(default=timezone.now)
    duration_ms = models.PositiveIntegerField(default=0)
    outcome = models.CharField(max_length=200)
    error = models.TextField(blank=True)
    worker = models.CharField(max_length=100, blank=True)

    class Meta:
        ordering = ["-started_at"]

    def __str__(self) -> str:
        return f"{self.started_at:%Y-%m-%d %H:%M:%S} {self.outcome}"


class SyncCursor(models.Model):
    """Where an incremental Odoo pull stands: the newest `write_date` it has fully read."""

    name = models.CharField(max_length=50, unique=True)
    write_date = models.DateTimeField("read up to (Odoo write date)", null=True, blank=True)
    last_run_at = models.DateTimeField(null=True, blank=True)
    last_run_summary = models.JSONField(default=dict, blank=True)

    class Meta:
        verbose_name = "pull cursor"

    def __str__(self) -> str:
        return f"{self.name} @ {self.write_date}"


class ServiceState(models.Model):
    """Health of one external service as the portal sees it: paused on bad credentials, alerts sent."""

    AFTERSHIP = "aftership"
    ODOO = "odoo"
    SERVICES = [(AFTERSHIP, "AfterShip"), (ODOO, "Odoo")]

    service = models.CharField(max_length=20, choices=SERVICES, unique=True)
    credentials_ok = models.BooleanField("credentials accepted", default=True)
    paused_reason = models.TextField(blank=True)
    paused_since = models.DateTimeField(null=True, blank=True)
    last_ok_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    last_error_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = "connection"
        verbose_name_plural = "connections"

    def __str__(self) -> str:
        return f"{self.get_service_display()}: {'ok' if self.credentials_ok else 'paused'}"


class ApiUsage(models.Model):
    """Calls made to an external API, counted per hour and endpoint for the dashboard."""

    service = models.CharField(max_length=20)
    endpoint = models.CharField(max_length=60)
    hour = models.DateTimeField()
    calls = models.PositiveIntegerField(default=0)
    errors = models.PositiveIntegerField(default=0)
    rate_limited = models.PositiveIntegerField(default=0)

    class Meta:
        verbose_name = "API usage"
        verbose_name_plural = "API usage per hour"
        ordering = ["-hour", "service", "endpoint"]
        constraints = [models.UniqueConstraint(fields=["service", "endpoint", "hour"], name="api_usage_unique")]

    def __str__(self) -> str:
        return f"{self.service} {self.endpoint} {self.hour:%Y-%m-%d %H:00}: {self.calls}"


class RateLimitSlot(models.Model):
    """Shared rate-limiter state (when there is no Redis): the next free time slot of a bucket."""

    key = models.CharField(max_length=100, unique=True)
    next_free = models.FloatField(default=0.0)
    day = models.CharField(max_length=10, blank=True)
    day_count = models.PositiveIntegerField(default=0)
    failures = models.PositiveIntegerField(default=0, help_text="consecutive transient failures (circuit breaker)")

    def __str__(self) -> str:
        return self.key


class AlertState(models.TextChoices):
    WAITING = "waiting", "Waiting for the next digest"
    SENT = "sent", "Sent"


class Alert(models.Model):
    """Trouble worth a mail, gathered by subject: the scheduler sends one digest per subject and period."""

    audience = models.CharField(max_length=20)  # "admins" or "logistics"
    topic = models.CharField("subject", max_length=200)
    count = models.PositiveIntegerField("times", default=0)
    first_at = models.DateTimeField("first at", default=timezone.now)
    last_at = models.DateTimeField("last at", default=timezone.now)
    latest_subject = models.CharField("latest", max_length=300, blank=True)
    latest_text = models.TextField(blank=True)
    state = models.CharField(max_length=10, choices=AlertState.choices, default=AlertState.WAITING)
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-last_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["audience", "topic"], condition=models.Q(state="waiting"), name="alert_one_waiting"
            )
        ]

    def __str__(self) -> str:
        return self.topic


class AuditAction(models.TextChoices):
    MAPPING_ADDED = "mapping_added", "Carrier mapping added"
    MAPPING_CHANGED = "mapping_changed", "Carrier mapping changed"
    MAPPING_DELETED = "mapping_deleted", "Carrier mapping deleted"
    RETRY = "retry", "Retried"
    RESYNC = "resync", "Resynced from Odoo"
    REPROCESS = "reprocess", "Webhook event applied again"
    PURGE = "purge", "Old records purged"
    UNBLOCK = "unblock", "Address unblocked"
    RESUME = "resume", "Connection resumed"
    REVIEWED = "reviewed", "Parcel marked reviewed"
    ODOO_SETUP = "odoo_setup", "Odoo set up for the portal"


class AuditVia(models.TextChoices):
    ADMIN = "admin", "Admin"
    COMMAND = "command", "Command"


class AuditEntry(models.Model):
    """Who changed the configuration or took a manual action, when, from where, and what it was before and after.

    Written by the services the admin and the commands call; never edited, kept AUDIT_RETENTION_DAYS.
    """

    at = models.DateTimeField("when", default=timezone.now)
    actor = models.CharField("who", max_length=150)
    via = models.CharField("from", max_length=10, choices=AuditVia.choices)
    action = models.CharField("what", max_length=20, choices=AuditAction.choices)
    target = models.CharField("on", max_length=300, blank=True)
    object_type = models.CharField(max_length=40, blank=True)
    object_id = models.CharField(max_length=40, blank=True)
    before = models.JSONField(null=True, blank=True)
    after = models.JSONField(null=True, blank=True)
    detail = models.TextField(blank=True)

    class Meta:
        verbose_name = "audit log entry"
        verbose_name_plural = "audit log entries"
        ordering = ["-at", "-id"]
        indexes = [
            models.Index(fields=["-at", "-id"], name="audit_at"),
            models.Index(fields=["object_type", "object_id"], name="audit_object"),
        ]

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M} {self.actor}: {self.get_action_display()} {self.target}".strip()


class ResyncState(models.TextChoices):
    QUEUED = "queued", "Waiting for a worker"
    RUNNING = "running", "Reading Odoo"
    DONE = "done", "Done"
    FAILED = "failed", "Failed"


class Resync(models.Model):
    """A resync asked from the admin: deliveries of a period, of sale orders or by name, read again from Odoo
    by a worker, with its progress and what came of it."""

    created_at = models.DateTimeField("asked at", default=timezone.now)
    requested_by = models.CharField("asked by", max_length=150)
    since = models.DateTimeField(
        "validated on or after",
        null=True,
        blank=True,
        help_text="Give a period, sale orders, deliveries, or several: the deliveries that match all of it are read.",
    )
    until = models.DateTimeField("validated before", null=True, blank=True)
    orders = models.TextField(
        "sale orders", blank=True, help_text="Comma-separated sale order names, e.g. S00025, S00026."
    )
    pickings = models.TextField(
        "deliveries",
        blank=True,
        help_text="Comma-separated delivery names or Odoo ids, e.g. WH/OUT/00012, 42; deliveries the portal has "
        "never seen are read too.",
    )
    state = models.CharField(max_length=10, choices=ResyncState.choices, default=ResyncState.QUEUED)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    pages = models.PositiveIntegerField("pages read", default=0)
    deliveries = models.PositiveIntegerField("deliveries read", default=0)
    new_parcels = models.PositiveIntegerField(default=0)
    trackings_queued = models.PositiveIntegerField(default=0)
    already_tracked = models.PositiveIntegerField(default=0)
    not_found = models.JSONField("not found in Odoo", default=list, blank=True)
    error = models.TextField(blank=True)
    runs = models.PositiveIntegerField(default=0, editable=False)  # a large one is read over several
    position = models.JSONField(null=True, blank=True, editable=False)  # where the last run stopped

    class Meta:
        ordering = ["-created_at"]
        verbose_name = "resync"

    def __str__(self) -> str:
        return f"Resync #{self.pk} ({self.get_state_display().lower()})"

    def names(self, field: str) -> list[str]:
        return [part.strip() for part in getattr(self, field).split(",") if part.strip()]
