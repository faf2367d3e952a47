"""Leads over the API."""

from rest_framework import serializers, viewsets

from config.permissions import ModelPermissionsWithView
from crm.models import Lead


class LeadSerializer(serializers.ModelSerializer):
    class Meta:
        model = Lead
        fields = [
            "id", "call", "contact", "title", "name", "company", "phone", "email", "status", "interest",
            "notes", "data", "external_id", "created_at", "updated_at",
        ]
        read_only_fields = ["call", "contact", "external_id", "created_at", "updated_at"]


class LeadViewSet(viewsets.ModelViewSet):
    queryset = Lead.objects.all()
    serializer_class = LeadSerializer
    permission_classes = [ModelPermissionsWithView]
