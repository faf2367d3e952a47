"""Campaigns, contacts, the do-not-call list and calls over the API, guarded by model permissions."""

from django.db import models
from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers, status, viewsets
from rest_framework.response import Response
from rest_framework.validators import UniqueValidator

from calls.models import Call, CallOutcome, Campaign, Contact, ContactList, DoNotCall
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


@extend_schema_field({"type": "string", "pattern": r"^([01]\d|2[0-3]):[0-5]\d(:[0-5]\d(\.\d{1,6})?)?$",
                     "example": "08:00:00"})
class LocalTimeField(serializers.TimeField):
    """A wall-clock time without a zone (the campaign applies the callee's zone); JSON Schema's ``time`` needs one."""

    def to_internal_value(self, value):
        parsed = super().to_internal_value(value)
        if parsed.tzinfo is not None:
            raise serializers.ValidationError(_("Give the time without a time zone, e.g. 08:00."))
        return parsed


class CampaignSerializer(serializers.ModelSerializer):
    serializer_field_mapping = {**serializers.ModelSerializer.serializer_field_mapping,
                                models.TimeField: LocalTimeField}

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
    phone = PhoneField(max_length=32, validators=[UniqueValidator(
        queryset=DoNotCall.objects.all(), message=_("This number is already on the do-not-call list."))])

    class Meta:
        model = DoNotCall
        fields = ["id", "phone", "reason", "created_at"]


class CallSerializer(serializers.ModelSerializer):
    # blank until the call has one: declared so the schema's enums include ""
    outcome = serializers.ChoiceField(choices=CallOutcome.choices, allow_blank=True,
                                      read_only=True)
    disposition = serializers.ChoiceField(choices=Call.Disposition.choices, allow_blank=True, read_only=True)
    crm_status = serializers.ChoiceField(choices=Call.CrmStatus.choices, allow_blank=True, read_only=True)

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

    def destroy(self, request, *args, **kwargs):
        campaign = self.get_object()
        if campaign.calls.exists():  # its calls are the record of who was rung: archive the campaign instead
            return Response({"detail": _("The campaign has calls and cannot be deleted; set its status to "
                                         "archived instead.")}, status=status.HTTP_409_CONFLICT)
        return super().destroy(request, *args, **kwargs)


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
