from django.contrib import admin

from crm.models import FollowUp, Lead, Task


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
    list_display = ["call", "channel", "to", "status", "sent_at"]
    list_filter = ["channel", "status"]
    raw_id_fields = ["call", "lead"]
