"""Scenarios and training sessions over the API; trainees only ever see their own sessions."""

from rest_framework import serializers, viewsets

from config.permissions import ModelPermissionsWithView
from training.models import Scenario, Score, TrainingSession
from training.selectors import scenarios_available, sessions_visible_to


class ScenarioSerializer(serializers.ModelSerializer):
    class Meta:
        model = Scenario
        fields = ["id", "title", "language", "product_description", "persona", "difficulty", "voice", "mode"]


class ScoreSerializer(serializers.ModelSerializer):
    class Meta:
        model = Score
        fields = ["total", "rubric", "metrics", "advice", "created_at"]


class TrainingSessionSerializer(serializers.ModelSerializer):
    trainee = serializers.StringRelatedField()
    score = ScoreSerializer(read_only=True, allow_null=True)  # null until the session is scored

    class Meta:
        model = TrainingSession
        fields = [
            "id", "trainee", "scenario", "language", "persona", "difficulty", "status",
            "started_at", "ended_at", "end_reason", "score",
        ]
        read_only_fields = fields


class ScenarioViewSet(viewsets.ReadOnlyModelViewSet):
    serializer_class = ScenarioSerializer
    permission_classes = [ModelPermissionsWithView]
    queryset = Scenario.objects.none()  # for the schema; get_queryset is the real one

    def get_queryset(self):
        return scenarios_available()


class TrainingSessionViewSet(viewsets.ReadOnlyModelViewSet):
    serializer_class = TrainingSessionSerializer
    permission_classes = [ModelPermissionsWithView]
    queryset = TrainingSession.objects.none()

    def get_queryset(self):
        return sessions_visible_to(user=self.request.user).select_related("score")
