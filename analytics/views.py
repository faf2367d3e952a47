"""The manager's dashboard, the trainer leaderboard with per-trainee progress, and the training CSV export."""

import csv

from django.contrib.auth.decorators import login_required, permission_required
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import get_object_or_404, render

from analytics.selectors import kpis, leaderboard, training_export_rows
from calls.selectors import campaign_progress_list
from training.models import Trainee
from training.selectors import progress_chart, sessions_visible_to


@login_required
@permission_required(["calls.view_campaign", "training.view_score"], raise_exception=True)
def dashboard(request: HttpRequest) -> HttpResponse:
    return render(
        request,
        "analytics/dashboard.html",
        {"kpis": kpis(), "leaders": leaderboard(), "progress": campaign_progress_list()},
    )


@login_required
@permission_required(["training.view_score", "training.view_trainee"], raise_exception=True)
def training_leaderboard(request: HttpRequest) -> HttpResponse:
    return render(request, "analytics/training.html", {"leaders": leaderboard(limit=200)})


@login_required
@permission_required(["training.view_score", "training.view_trainee"], raise_exception=True)
def trainee_progress(request: HttpRequest, pk: int) -> HttpResponse:
    trainee = get_object_or_404(Trainee.objects.select_related("user"), pk=pk)
    sessions = sessions_visible_to(user=request.user).filter(trainee=trainee).select_related("score")[:200]
    return render(
        request,
        "analytics/trainee.html",
        {"trainee": trainee, "chart": progress_chart(trainee=trainee), "sessions": sessions},
    )


class _Echo:
    """A file-like that hands each CSV line straight back, for streaming."""

    def write(self, value: str) -> str:
        return value


@login_required
@permission_required(["training.view_score", "training.view_trainee"], raise_exception=True)
def training_csv(request: HttpRequest) -> StreamingHttpResponse:
    trainee_id = request.GET.get("trainee")
    writer = csv.writer(_Echo())
    rows = training_export_rows(trainee_id=int(trainee_id) if trainee_id and trainee_id.isdigit() else None)
    response = StreamingHttpResponse(
        ("\ufeff" if i == 0 else "") + writer.writerow(row) for i, row in enumerate(rows)
    )  # the BOM lets Excel open Cyrillic names correctly
    response["Content-Type"] = "text/csv; charset=utf-8"
    response["Content-Disposition"] = 'attachment; filename="training-sessions.csv"'
    return response
