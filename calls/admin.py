"""Admin for campaigns, contact lists (with CSV/XLSX import that reports bad rows), DNC and calls."""

from __future__ import annotations

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.shortcuts import get_object_or_404, render
from django.urls import path, reverse
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _
from import_export.admin import ExportMixin

from calls.forms import ContactImportForm
from calls.models import Call, CallEvent, Campaign, Contact, ContactList, DoNotCall, Turn
from calls.resources import ContactResource
from calls.services.contacts import contacts_import
from calls.services.schedules import campaign_plan_now, campaign_schedule_sync
from config.templatetags.console import call_event_kind, call_status


@admin.register(Campaign)
class CampaignAdmin(admin.ModelAdmin):
    list_display = ["name", "status", "script", "contact_list", "telephony_provider", "max_concurrent_calls"]
    list_filter = ["status", "telephony_provider", "language"]
    search_fields = ["name"]
    readonly_fields = ["created_by", "created_at", "schedule_name", "created_by_name"]
    fieldsets = [
        (None, {"fields": ["name", "status", "script", "contact_list", "language", "voice", "follow_up_channel"]}),
        (_("Telephony"), {"fields": ["telephony_provider", "caller_id", "simulation"]}),
        (_("Answering machines"), {"fields": ["voicemail_mode", "carrier_amd"]}),
        (_("Calling window"), {"fields": ["window_start", "window_end", "weekdays", "timezone_policy", "timezone"]}),
        (_("Pacing and retries"), {"fields": [
            "max_concurrent_calls", "average_call_seconds", "max_attempts", "retry_interval_minutes", "retry_outcomes",
        ]}),
        (_("Schedule"), {"fields": ["schedule", "created_by", "created_at"]}),
    ]

    actions = ["run_planning_now"]
    # Django links a read-only foreign key to its object's admin page whoever looks: for someone who may not
    # view that object (an operator and the planning schedule, a manager and a user) the link led to a 403.
    LINKED_ONLY_FOR = {"schedule": ("django_celery_beat.view_periodictask", "schedule_name"),
                       "created_by": ("auth.view_user", "created_by_name")}

    def get_fieldsets(self, request, obj=None):
        swap = {field: plain for field, (perm, plain) in self.LINKED_ONLY_FOR.items()
                if not request.user.has_perm(perm)}
        return [(title, {**options, "fields": [swap.get(f, f) for f in options["fields"]]})
                for title, options in super().get_fieldsets(request, obj)]

    @admin.display(description=_("planning schedule"))
    def schedule_name(self, obj):
        return str(obj.schedule) if obj.schedule_id else "—"

    @admin.display(description=_("created by"))
    def created_by_name(self, obj):
        return obj.created_by.get_username() if obj.created_by_id else "—"

    def save_model(self, request, obj, form, change):
        if not change:
            obj.created_by = request.user
        super().save_model(request, obj, form, change)
        campaign_schedule_sync(campaign=obj)

    @admin.action(description=_("Run planning now"), permissions=["change"])
    def run_planning_now(self, request, queryset):
        for campaign in queryset:
            campaign_schedule_sync(campaign=campaign)
            campaign_plan_now(campaign_id=campaign.pk)
        self.message_user(request, _("Planning started for %(n)s campaign(s).") % {"n": queryset.count()},
                          messages.SUCCESS)


@admin.register(ContactList)
class ContactListAdmin(admin.ModelAdmin):
    list_display = ["name", "contacts_count", "created_at", "import_link"]
    search_fields = ["name"]

    def get_urls(self):
        custom = [
            path("<int:pk>/import/", self.admin_site.admin_view(self.import_view), name="calls_contactlist_import"),
        ]
        return custom + super().get_urls()

    def get_list_display(self, request):
        # the import page needs calls.add_contact: without it (an operator) the link would only lead to a 403
        shown = super().get_list_display(request)
        return shown if request.user.has_perm("calls.add_contact") else [f for f in shown if f != "import_link"]

    @admin.display(description=_("contacts"))
    def contacts_count(self, obj):
        return obj.contacts.count()

    @admin.display(description=_("import"))
    def import_link(self, obj):
        return format_html('<a href="{}">{}</a>', reverse("admin:calls_contactlist_import", args=[obj.pk]),
                           _("Import CSV/XLSX"))

    def import_view(self, request, pk: int):
        if not request.user.has_perm("calls.add_contact"):
            raise PermissionDenied
        contact_list = get_object_or_404(ContactList, pk=pk)
        report = None
        form = ContactImportForm(request.POST or None, request.FILES or None)
        if request.method == "POST" and form.is_valid():
            report = contacts_import(
                contact_list=contact_list, content=form.cleaned_data["file"].read(), file_format=form.file_format
            )
            if report.fatal:
                messages.error(request, report.fatal)
            else:
                level = messages.WARNING if report.problems else messages.SUCCESS
                messages.add_message(
                    request, level,
                    _("Imported %(created)s contact(s); %(rejected)s row(s) rejected.")
                    % {"created": report.created, "rejected": report.rejected_rows},
                )
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "original": contact_list,
            "title": _("Import contacts into “%(name)s”") % {"name": contact_list.name},
            "form": form,
            "report": report,
        }
        return render(request, "admin/calls/contact_import.html", context)


@admin.register(Contact)
class ContactAdmin(ExportMixin, admin.ModelAdmin):
    resource_classes = [ContactResource]
    list_display = ["phone", "name", "company", "timezone", "contact_list", "do_not_call", "finished"]
    list_filter = ["contact_list", "do_not_call", "finished", "timezone"]
    search_fields = ["phone", "name", "company"]


@admin.register(DoNotCall)
class DoNotCallAdmin(admin.ModelAdmin):
    list_display = ["phone", "reason", "created_at", "added_by"]
    search_fields = ["phone", "reason"]
    readonly_fields = ["added_by", "created_at"]

    def save_model(self, request, obj, form, change):
        if not change:
            obj.added_by = request.user
        super().save_model(request, obj, form, change)


class CallEventInline(admin.TabularInline):
    model = CallEvent
    fields = ["created_at", "kind_label", "from_label", "to_label", "data"]
    readonly_fields = fields
    extra = 0
    can_delete = False

    # status codes as their labels: the Russian console never shows «queued → dialing»
    @admin.display(description=_("kind"))
    def kind_label(self, obj: CallEvent) -> str:
        return call_event_kind(obj.kind)

    @admin.display(description=_("from"))
    def from_label(self, obj: CallEvent) -> str:
        return call_status(obj.from_status)

    @admin.display(description=_("to"))
    def to_label(self, obj: CallEvent) -> str:
        return call_status(obj.to_status)


class TurnInline(admin.TabularInline):
    model = Turn
    fields = ["index", "speaker", "text", "stage", "intent", "objection", "interrupted", "voice_to_voice_ms"]
    readonly_fields = fields
    extra = 0
    can_delete = False


@admin.register(Call)
class CallAdmin(admin.ModelAdmin):
    """Read-only: calls change only through the lifecycle services."""

    list_display = ["id", "contact", "campaign", "status", "outcome", "disposition", "queued_at"]
    list_filter = ["status", "outcome", "disposition", "campaign"]
    search_fields = ["contact__phone", "contact__name", "provider_call_id"]
    inlines = [CallEventInline, TurnInline]

    def get_readonly_fields(self, request, obj=None):
        return [f.name for f in self.model._meta.fields]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False
