"""Operator console pages: the campaign board and a call's page."""

from django.contrib.auth.decorators import login_required, permission_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render

from calls.models import Call
from calls.selectors import calls_recent, campaign_progress_list


@login_required
@permission_required("calls.view_call", raise_exception=True)
def board(request: HttpRequest) -> HttpResponse:
    return render(request, "calls/board.html", {"progress": campaign_progress_list(), "calls": calls_recent()})


@login_required
@permission_required("calls.view_call", raise_exception=True)
def call_detail(request: HttpRequest, pk: int) -> HttpResponse:
    call = get_object_or_404(Call.objects.select_related("contact", "campaign"), pk=pk)
    return render(
        request, "calls/call_detail.html", {"call": call, "turns": call.turns.all(), "events": call.events.all()}
    )
