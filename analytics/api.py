"""``GET /api/analytics/``: the dashboard's figures for the same filters, as JSON."""

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.permissions import BasePermission, IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from analytics.filters import FilterForm, default_filters
from analytics.selectors import call_analytics_cached
from dialogs.models import Language


class CanViewAnalytics(BasePermission):
    def has_permission(self, request, view) -> bool:
        return request.user.has_perm("analytics.view_call_analytics")


class FilterQuerySerializer(serializers.Serializer):
    date_from = serializers.DateField(required=False, help_text="First day (default: 29 days before date_to).")
    date_to = serializers.DateField(required=False, help_text="Last day, inclusive (default: today).")
    campaign = serializers.IntegerField(required=False)
    script = serializers.IntegerField(required=False)
    script_version = serializers.IntegerField(required=False)
    language = serializers.ChoiceField(choices=Language.choices, required=False)
    # a plain string: an enum here would be the campaigns' telephony_provider enum under a second name
    provider = serializers.CharField(required=False, help_text="simulated, voximplant or twilio")


class AppliedFiltersSerializer(FilterQuerySerializer):
    """The filters the figures were computed under: both dates always, ``null`` for a filter not applied."""

    date_from = serializers.DateField()
    date_to = serializers.DateField()
    campaign = serializers.IntegerField(allow_null=True)
    script = serializers.IntegerField(allow_null=True)
    script_version = serializers.IntegerField(allow_null=True)
    language = serializers.ChoiceField(choices=Language.choices, allow_null=True)
    provider = serializers.CharField(allow_null=True, help_text="simulated, voximplant or twilio")


class KpiSerializer(serializers.Serializer):
    calls = serializers.IntegerField()
    connect_rate = serializers.FloatField(allow_null=True, help_text="Percent of finished calls.")
    talk_rate = serializers.FloatField(allow_null=True)
    interest_rate = serializers.FloatField(allow_null=True)
    lead_rate = serializers.FloatField(allow_null=True)
    contact_obtained_rate = serializers.FloatField(allow_null=True)
    quote_requested_rate = serializers.FloatField(allow_null=True)
    average_talk_s = serializers.FloatField(allow_null=True)
    median_talk_s = serializers.FloatField(allow_null=True)
    voicemail_share = serializers.FloatField(allow_null=True)
    no_answer_share = serializers.FloatField(allow_null=True)
    busy_share = serializers.FloatField(allow_null=True)
    transfer_rate = serializers.FloatField(allow_null=True)


class DaySerializer(serializers.Serializer):
    day = serializers.DateField()
    calls = serializers.IntegerField()
    connect_rate = serializers.FloatField(allow_null=True)
    talk_rate = serializers.FloatField(allow_null=True)
    interest_rate = serializers.FloatField(allow_null=True)
    lead_rate = serializers.FloatField(allow_null=True)


class FunnelStepSerializer(serializers.Serializer):
    key = serializers.CharField()
    label = serializers.CharField()
    count = serializers.IntegerField()
    share = serializers.FloatField(allow_null=True)
    step_rate = serializers.FloatField(allow_null=True)
    dropped = serializers.IntegerField()


class StageSerializer(serializers.Serializer):
    stage = serializers.CharField()
    label = serializers.CharField()
    ended = serializers.IntegerField()
    share = serializers.FloatField(allow_null=True)


class ObjectionSerializer(serializers.Serializer):
    kind = serializers.CharField()
    label = serializers.CharField()
    raised = serializers.IntegerField()
    share = serializers.FloatField(allow_null=True)
    handled = serializers.IntegerField()
    handled_rate = serializers.FloatField(allow_null=True)
    converted = serializers.IntegerField()
    converted_rate = serializers.FloatField(allow_null=True)


class AnalyticsSerializer(serializers.Serializer):
    filters = AppliedFiltersSerializer()
    kpis = KpiSerializer()
    trend = DaySerializer(many=True)
    funnel = FunnelStepSerializer(many=True)
    stages = StageSerializer(many=True)
    objections = ObjectionSerializer(many=True)
    other_turns = serializers.IntegerField(help_text="Callee answers the classifier could not place.")


class AnalyticsView(APIView):
    """The call dashboard's figures under the dashboard's filters (managers)."""

    permission_classes = [IsAuthenticated, CanViewAnalytics]

    @extend_schema(parameters=[FilterQuerySerializer], responses=AnalyticsSerializer, tags=["analytics"])
    def get(self, request: Request) -> Response:
        form = FilterForm(request.query_params or None)
        if form.is_bound and not form.is_valid():
            return Response(form.errors.get_json_data(), status=400)
        filters = form.filters() if form.is_bound else default_filters()
        data = call_analytics_cached(filters=filters)
        f = filters
        payload = {
            "filters": {"date_from": f.date_from, "date_to": f.date_to, "campaign": f.campaign, "script": f.script,
                        "script_version": f.script_version, "language": f.language or None,
                        "provider": f.provider or None},
            "kpis": data.kpis(),
            "trend": data.trend,
            "funnel": data.funnel(),
            "stages": data.stages(),
            "objections": data.objections(),
            "other_turns": data.totals.other_turns,
        }
        return Response(AnalyticsSerializer(payload).data)
