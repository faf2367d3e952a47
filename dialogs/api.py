"""Scripts over the API: managers edit, operators read; every save is a new version."""

from django.core.exceptions import ValidationError as DjangoValidationError
from rest_framework import serializers, viewsets
from rest_framework.exceptions import ValidationError

from config.permissions import ModelPermissionsWithView
from dialogs.models import Script
from dialogs.services import script_save


class ScriptSerializer(serializers.ModelSerializer):
    class Meta:
        model = Script
        fields = ["id", "name", "language", "description", "dialogue_map", "version", "is_active", "updated_at"]
        read_only_fields = ["version", "updated_at"]


class ScriptViewSet(viewsets.ModelViewSet):
    queryset = Script.objects.all()
    serializer_class = ScriptSerializer
    permission_classes = [ModelPermissionsWithView]

    def perform_create(self, serializer):
        self._save(Script(**serializer.validated_data), serializer)

    def perform_update(self, serializer):
        script = serializer.instance
        for field, value in serializer.validated_data.items():
            setattr(script, field, value)
        self._save(script, serializer)

    def _save(self, script: Script, serializer) -> None:
        try:
            serializer.instance = script_save(script=script, user=self.request.user)
        except DjangoValidationError as exc:
            raise ValidationError(exc.message_dict) from exc
