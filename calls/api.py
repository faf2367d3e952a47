"""Campaigns, contacts, the do-not-call list and calls over the API, guarded by model permissions."""

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import models
from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import extend_schema, extend_schema_field
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.permissions import BasePermission
from rest_framework.response import Response
from rest_framework.validators import UniqueValidator

from calls.models import Call, CallOutcome, Campaign, Contact, ContactList, DoNotCall
from calls.services.contacts import (
    contact_delete,
    contact_list_delete,
    contact_list_save,
    contact_save,
    do_not_call_delete,
    do_not_call_save,
)
from calls.services.dialing import SingleCallError, call_single_start
from calls.services.schedules import CampaignHasCalls, campaign_delete, campaign_save
from calls.validators import normalize_phone
from config.permissions import ModelPermissionsWithView
from dialogs.models import CampaignLanguage


class PhoneField(serializers.CharField):
    """Accepts the ways people write numbers and stores E.164."""

    def to_internal_value(self, data):
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
            "disposition", "summary", "follow_up", "interest", "crm_status", "language",
        ]
        read_only_fields = fields


class CampaignViewSet(viewsets.ModelViewSet):
    queryset = Campaign.objects.select_related("script", "contact_list")
    serializer_class = CampaignSerializer
    permission_classes = [ModelPermissionsWithView]

    # the serializer validates; the services write (and keep the beat schedule in step)
    def perform_create(self, serializer):
        serializer.instance = campaign_save(fields=serializer.validated_data, created_by=self.request.user)

    def perform_update(self, serializer):
        serializer.instance = campaign_save(fields=serializer.validated_data, campaign=serializer.instance)

    def destroy(self, request, *args, **kwargs):
        try:
            campaign_delete(campaign=self.get_object())
        except CampaignHasCalls:
            return Response({"detail": _("The campaign has calls and cannot be deleted; set its status to "
                                         "archived instead.")}, status=status.HTTP_409_CONFLICT)
        return Response(status=status.HTTP_204_NO_CONTENT)


class ContactListViewSet(viewsets.ModelViewSet):
    queryset = ContactList.objects.all()
    serializer_class = ContactListSerializer
    permission_classes = [ModelPermissionsWithView]

    def perform_create(self, serializer):
        serializer.instance = contact_list_save(fields=serializer.validated_data)

    def perform_update(self, serializer):
        serializer.instance = contact_list_save(fields=serializer.validated_data, contact_list=serializer.instance)

    def perform_destroy(self, instance):
        contact_list_delete(contact_list=instance)


class ContactViewSet(viewsets.ModelViewSet):
    queryset = Contact.objects.all()
    serializer_class = ContactSerializer
    permission_classes = [ModelPermissionsWithView]

    def perform_create(self, serializer):
        serializer.instance = contact_save(fields=serializer.validated_data)

    def perform_update(self, serializer):
        serializer.instance = contact_save(fields=serializer.validated_data, contact=serializer.instance)

    def perform_destroy(self, instance):
        contact_delete(contact=instance)


class DoNotCallViewSet(viewsets.ModelViewSet):
    queryset = DoNotCall.objects.all()
    serializer_class = DoNotCallSerializer
    permission_classes = [ModelPermissionsWithView]

    def perform_create(self, serializer):
        serializer.instance = do_not_call_save(fields=serializer.validated_data, added_by=self.request.user)

    def perform_update(self, serializer):
        serializer.instance = do_not_call_save(fields=serializer.validated_data, entry=serializer.instance)

    def perform_destroy(self, instance):
        do_not_call_delete(entry=instance)


class SingleCallSerializer(serializers.Serializer):
    """``POST /api/calls/``: one call now (phone, language, voice, script or greeting)."""

    phone = PhoneField(max_length=32)
    name = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")
    company = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")
    language = serializers.ChoiceField(choices=CampaignLanguage.choices, default=CampaignLanguage.RU)
    voice = serializers.CharField(max_length=100, required=False, allow_blank=True, default="")
    script = serializers.IntegerField(required=False, allow_null=True, default=None,
                                      help_text="Script id; default: the first active script in the language")
    greeting = serializers.CharField(max_length=1000, required=False, allow_blank=True, default="",
                                     help_text="Opening line instead of the script's greeting")
    timezone = serializers.CharField(max_length=64, required=False, allow_blank=True, default="",
                                     help_text="The callee's time zone; default: from the number")
    telephony_provider = serializers.ChoiceField(choices=Campaign.Provider.choices, required=False,
                                                 allow_blank=True, default="")


class CanStartSingleCall(BasePermission):
    """A single call makes a one-call campaign: whoever may add campaigns (managers) may start one."""

    def has_permission(self, request, view) -> bool:
        return bool(request.user and request.user.is_authenticated and request.user.has_perm("calls.add_campaign"))


class CallViewSet(mixins.CreateModelMixin, viewsets.ReadOnlyModelViewSet):
    """Calls change state only through the lifecycle services; POST starts a single call."""

    queryset = Call.objects.select_related("contact", "campaign")
    serializer_class = CallSerializer
    permission_classes = [ModelPermissionsWithView]

    def get_permissions(self):
        if self.action == "create":
            return [CanStartSingleCall()]
        return super().get_permissions()

    def get_serializer_class(self):
        return SingleCallSerializer if self.action == "create" else CallSerializer

    @extend_schema(request=SingleCallSerializer, responses={201: CallSerializer})
    def create(self, request, *args, **kwargs):
        incoming = SingleCallSerializer(data=request.data)
        incoming.is_valid(raise_exception=True)
        data = incoming.validated_data
        try:
            call = call_single_start(
                phone=data["phone"], language=data["language"], user=request.user, name=data["name"],
                company=data["company"], timezone_name=data["timezone"], voice=data["voice"],
                script_id=data["script"], greeting=data["greeting"], provider=data["telephony_provider"],
            )
        except SingleCallError as exc:
            raise serializers.ValidationError({exc.field: [exc.message]}) from exc
        return Response(CallSerializer(call).data, status=status.HTTP_201_CREATED)
