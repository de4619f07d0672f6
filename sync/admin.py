from django.contrib import admin

from sync.models import Alert, DeliveryBatch, JobRun, Schedule, WebhookEvent


@admin.register(Schedule)
class ScheduleAdmin(admin.ModelAdmin):
    list_display = [
        "__str__",
        "interval",
        "enabled",
        "next_run_at",
        "lease_until",
        "consecutive_failures",
        "last_outcome",
    ]
    list_filter = ["flow", "enabled", "last_outcome", "account"]
    search_fields = ["merchant__name", "cart__order_source"]
    raw_id_fields = ["merchant", "cart", "account"]


@admin.register(JobRun)
class JobRunAdmin(admin.ModelAdmin):
    list_display = ["flow", "merchant", "cart", "trigger", "outcome", "started_at", "finished_at"]
    list_filter = ["flow", "outcome", "trigger", "account"]
    search_fields = ["merchant__name", "cart__order_source", "error"]
    raw_id_fields = ["merchant", "cart", "account", "schedule"]


@admin.register(Alert)
class AlertAdmin(admin.ModelAdmin):
    list_display = ["message", "kind", "opened_at", "resolved_at"]
    list_filter = ["kind", "account", ("resolved_at", admin.EmptyFieldListFilter)]
    search_fields = ["message", "key"]
    raw_id_fields = ["merchant", "cart", "account"]


@admin.register(WebhookEvent)
class WebhookEventAdmin(admin.ModelAdmin):
    list_display = ["event_id", "topic", "cart", "received_at"]
    list_filter = ["topic", "account"]
    search_fields = ["event_id"]
    raw_id_fields = ["cart", "account"]


@admin.register(DeliveryBatch)
class DeliveryBatchAdmin(admin.ModelAdmin):
    list_display = [
        "__str__",
        "merchant",
        "wms_kind",
        "state",
        "order_count",
        "attempts",
        "reference",
        "created_at",
        "next_attempt_at",
    ]
    list_filter = ["state", "wms_kind", "account"]
    search_fields = ["reference", "last_error", "merchant__name"]
    raw_id_fields = ["merchant", "account"]
    readonly_fields = ["payload", "payload_hash"]
