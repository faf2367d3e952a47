"""The manager's dashboard."""

from django.contrib.auth.decorators import login_required, permission_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from analytics.selectors import kpis, leaderboard
from calls.selectors import campaign_progress_list


@login_required
@permission_required(["calls.view_campaign", "training.view_score"], raise_exception=True)
def dashboard(request: HttpRequest) -> HttpResponse:
    return render(
        request,
        "analytics/dashboard.html",
        {"kpis": kpis(), "leaders": leaderboard(), "progress": campaign_progress_list()},
    )
