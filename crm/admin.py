from django.contrib import admin

from crm.models import Lead


@admin.register(Lead)
class LeadAdmin(admin.ModelAdmin):
    list_display = ["title", "company", "name", "status", "interest", "created_at"]
    list_filter = ["status"]
    search_fields = ["title", "company", "name", "email", "phone"]
    raw_id_fields = ["call", "contact", "owner"]
