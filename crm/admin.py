from django.contrib import admin
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _

from crm.models import FollowUp, Lead, OutboxMessage, Task, WebhookEndpoint
from crm.outbox import outbox_redeliver
from crm.services import follow_up_resend


@admin.register(Lead)
class LeadAdmin(admin.ModelAdmin):
    list_display = ["title", "company", "name", "status", "interest", "created_at"]
    list_filter = ["status"]
    search_fields = ["title", "company", "name", "email", "phone"]
    raw_id_fields = ["call", "contact", "owner"]


@admin.register(Task)
class TaskAdmin(admin.ModelAdmin):
    list_display = ["title", "kind", "lead", "due_text", "due_at", "done", "created_at"]
    list_filter = ["kind", "done"]
    search_fields = ["title", "lead__title"]
    raw_id_fields = ["lead", "call", "owner"]


@admin.register(FollowUp)
class FollowUpAdmin(admin.ModelAdmin):
    list_display = ["call", "channel", "to", "status", "attempts", "sent_at", "error"]
    list_filter = ["channel", "status"]
    raw_id_fields = ["call", "lead"]
    readonly_fields = ["status", "attempts", "sent_at", "external_id", "error"]
    actions = ["send_again"]

    @admin.action(description=_("Send the failed messages again"), permissions=["change"])
    def send_again(self, request, queryset):
        failed = list(queryset.filter(status=FollowUp.Status.FAILED).values_list("pk", flat=True))
        results = [follow_up_resend(message_id=pk) for pk in failed]
        sent = sum(1 for m in results if m.status == FollowUp.Status.SENT)
        self.message_user(request, gettext("%(sent)s of %(total)s failed messages sent.") % {
            "sent": sent, "total": len(failed)})


@admin.register(OutboxMessage)
class OutboxMessageAdmin(admin.ModelAdmin):
    """What is waiting to leave the house, what left, and what failed for good (with the reason)."""

    list_display = ["key", "kind", "target", "status", "attempts", "next_attempt_at", "final_reason", "last_error",
                    "delivered_at", "created_at"]
    list_filter = ["status", "kind", "target"]
    search_fields = ["key", "last_error", "final_reason"]
    raw_id_fields = ["call", "lead"]
    readonly_fields = ["kind", "key", "target", "payload", "status", "attempts", "max_attempts", "next_attempt_at",
                       "leased_until", "last_error", "final_reason", "result", "progress", "delivered_at",
                       "created_at"]
    actions = ["deliver_again"]

    def has_add_permission(self, request) -> bool:
        return False

    @admin.action(description=_("Deliver again"), permissions=["change"])
    def deliver_again(self, request, queryset):
        count = outbox_redeliver(message_ids=list(queryset.values_list("pk", flat=True)))
        self.message_user(request, ngettext("%(count)s message queued for delivery.",
                                            "%(count)s messages queued for delivery.", count) % {"count": count})


@admin.register(WebhookEndpoint)
class WebhookEndpointAdmin(admin.ModelAdmin):
    list_display = ["name", "url", "campaign", "active", "created_at"]
    list_filter = ["active"]
    raw_id_fields = ["campaign"]
