"""Campaigns, contacts, the do-not-call list and calls over the API, guarded by model permissions."""

from rest_framework import serializers, viewsets

from calls.models import Call, Campaign, Contact, ContactList, DoNotCall
from calls.services import campaign_schedule_sync
from calls.validators import normalize_phone
from config.permissions import ModelPermissionsWithView


class PhoneField(serializers.CharField):
    """Accepts the ways people write numbers and stores E.164."""

    def to_internal_value(self, data):
        from django.core.exceptions import ValidationError as DjangoValidationError

        try:
            return normalize_phone(super().to_internal_value(data))
        except DjangoValidationError as exc:
            raise serializers.ValidationError(exc.messages) from exc


class CampaignSerializer(serializers.ModelSerializer):
    class Meta:
        model = Campaign
        exclude = ["schedule", "created_by"]
        read_only_fields = ["created_at"]


class ContactListSerializer(serializers.ModelSerializer):
    class Meta:
        model = ContactList
        fields = ["id", "name", "description", "created_at"]


class ContactSerializer(serializers.ModelSerializer):
    phone = PhoneField(max_length=32)

    class Meta:
        model = Contact
        fields = ["id", "contact_list", "phone", "name", "company", "timezone", "variables", "do_not_call", "finished"]


class DoNotCallSerializer(serializers.ModelSerializer):
    phone = PhoneField(max_length=32)

    class Meta:
        model = DoNotCall
        fields = ["id", "phone", "reason", "created_at"]


class CallSerializer(serializers.ModelSerializer):
    class Meta:
        model = Call
        fields = [
            "id", "campaign", "contact", "attempt", "provider", "provider_call_id", "status", "outcome",
            "scheduled_for", "queued_at", "dialing_at", "answered_at", "ended_at", "done_at", "duration_s",
            "disposition", "summary", "follow_up", "interest", "crm_status",
        ]
        read_only_fields = fields


class CampaignViewSet(viewsets.ModelViewSet):
    queryset = Campaign.objects.select_related("script", "contact_list")
    serializer_class = CampaignSerializer
    permission_classes = [ModelPermissionsWithView]

    def perform_create(self, serializer):
        campaign_schedule_sync(campaign=serializer.save(created_by=self.request.user))

    def perform_update(self, serializer):
        campaign_schedule_sync(campaign=serializer.save())


class ContactListViewSet(viewsets.ModelViewSet):
    queryset = ContactList.objects.all()
    serializer_class = ContactListSerializer
    permission_classes = [ModelPermissionsWithView]


class ContactViewSet(viewsets.ModelViewSet):
    queryset = Contact.objects.all()
    serializer_class = ContactSerializer
    permission_classes = [ModelPermissionsWithView]


class DoNotCallViewSet(viewsets.ModelViewSet):
    queryset = DoNotCall.objects.all()
    serializer_class = DoNotCallSerializer
    permission_classes = [ModelPermissionsWithView]

    def perform_create(self, serializer):
        serializer.save(added_by=self.request.user)


class CallViewSet(viewsets.ReadOnlyModelViewSet):
    """Calls change state only through the lifecycle services, never by API writes."""

    queryset = Call.objects.select_related("contact", "campaign")
    serializer_class = CallSerializer
    permission_classes = [ModelPermissionsWithView]
