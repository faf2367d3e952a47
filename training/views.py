"""Trainer pages (HTMX): the trainee's home and a session's page. Trainees see only their own sessions."""

from django.contrib.auth.decorators import login_required, permission_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render

from training.selectors import scenarios_available, sessions_visible_to


@login_required
@permission_required("training.view_trainingsession", raise_exception=True)
def home(request: HttpRequest) -> HttpResponse:
    sessions = sessions_visible_to(user=request.user).select_related("score")[:20]
    return render(request, "training/home.html", {"scenarios": scenarios_available(), "sessions": sessions})


@login_required
@permission_required("training.view_trainingsession", raise_exception=True)
def session_detail(request: HttpRequest, pk: int) -> HttpResponse:
    # 404, not 403, for someone else's session: its existence is not the viewer's business.
    session = get_object_or_404(sessions_visible_to(user=request.user), pk=pk)
    return render(request, "training/session_detail.html", {"session": session, "turns": session.turns.all()})
