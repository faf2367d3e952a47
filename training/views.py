"""Trainer pages (HTMX): home with progress, the start form, the live session, the review, audio, ElevenLabs mode.

Trainees see only their own sessions (404 for anyone else's: its existence is not the viewer's
business); managers see every session's review but never join a live one.
"""

from __future__ import annotations

import json
from typing import Any

from django.contrib.auth.decorators import login_required, permission_required
from django.core.exceptions import PermissionDenied
from django.http import FileResponse, Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from training import services
from training.forms import SessionStartForm
from training.models import Certification, Scenario, TrainingSession
from training.selectors import (
    assignments_for_trainee,
    assignments_overview,
    certifications_of,
    progress_chart,
    scenarios_available,
    sessions_visible_to,
    trainee_for,
)

LIVE = (TrainingSession.Status.CREATED, TrainingSession.Status.ACTIVE)


def _own_session(request: HttpRequest, pk: int) -> TrainingSession:
    session = get_object_or_404(sessions_visible_to(user=request.user), pk=pk)
    if session.trainee.user_id != request.user.pk:
        raise Http404  # a manager may look at it, but only its trainee may act on it
    return session


@login_required
@permission_required("training.view_trainingsession", raise_exception=True)
def home(request: HttpRequest) -> HttpResponse:
    trainee = trainee_for(user=request.user)
    sessions = sessions_visible_to(user=request.user).select_related("score")[:20]
    return render(
        request,
        "training/home.html",
        {
            "scenarios": scenarios_available(),
            "sessions": sessions,
            "form": SessionStartForm() if trainee else None,
            "chart": progress_chart(trainee=trainee) if trainee else None,
            "assignments": assignments_for_trainee(trainee=trainee) if trainee else None,
            "certifications": certifications_of(trainee=trainee) if trainee else None,
            "overview": assignments_overview() if trainee is None and request.user.has_perm(
                "training.view_assignment") else None,
        },
    )


@login_required
@permission_required("training.view_trainingsession", raise_exception=True)
def history(request: HttpRequest) -> HttpResponse:
    sessions = sessions_visible_to(user=request.user).select_related("score")[:500]
    return render(request, "training/history.html", {"sessions": sessions})


@login_required
@permission_required("training.add_trainingsession", raise_exception=True)
def session_start(request: HttpRequest) -> HttpResponse:
    trainee = trainee_for(user=request.user)
    if trainee is None:
        raise PermissionDenied("only trainees practise")
    initial: dict[str, Any] = {}
    if request.GET.get("scenario"):
        initial["scenario"] = request.GET["scenario"]
    form = SessionStartForm(request.POST if request.method == "POST" else None, initial=initial)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        session = services.session_create(
            trainee=trainee,
            scenario=data.get("scenario"),
            product_description=data.get("product_description", ""),
            persona=data.get("persona", ""),
            difficulty=data.get("difficulty", ""),
            voice=data.get("voice", ""),
            language=data.get("language", ""),
        )
        url = reverse("training:session_live", args=[session.pk])
        if request.htmx:
            response = HttpResponse(status=204)
            response["HX-Redirect"] = url
            return response
        return redirect(url)
    template = "training/start.html#start-form" if request.htmx else "training/start.html"
    return render(request, template, {"form": form})


@login_required
@permission_required("training.view_trainingsession", raise_exception=True)
def session_live(request: HttpRequest, pk: int) -> HttpResponse:
    session = _own_session(request, pk)
    if session.status not in LIVE:
        return redirect("training:session_detail", pk=pk)
    scenario = session.scenario
    elevenlabs = bool(scenario and scenario.mode == Scenario.Mode.ELEVENLABS)
    return render(
        request,
        "training/live.html",
        {
            "session": session,
            "end_phrase": services.end_phrase_for(session=session),
            "elevenlabs": elevenlabs,
            "turns": session.turns.all(),
        },
    )


def _review_context(session: TrainingSession) -> dict[str, Any]:
    score = getattr(session, "score", None)
    stages = (score.rubric or {}).get("stages", []) if score else []
    rubric = (score.rubric or {}) if score else {}
    certified = bool(score) and Certification.objects.filter(
        trainee_id=session.trainee_id, scenario_id=session.scenario_id, session=session).exists()
    return {
        "session": session,
        "score": score,
        "rubric": rubric,
        "certified": certified,
        "stages": stages,
        "metrics": score.metrics if score else {},
        "advice": [line for line in (score.advice.splitlines() if score else []) if line.strip()],
        "turns": session.turns.all(),
        "is_owner": False,
    }


@login_required
@permission_required("training.view_trainingsession", raise_exception=True)
def session_detail(request: HttpRequest, pk: int) -> HttpResponse:
    session = get_object_or_404(sessions_visible_to(user=request.user).select_related("score"), pk=pk)
    context = _review_context(session)
    context["is_owner"] = session.trainee.user_id == request.user.pk
    return render(request, "training/session_detail.html", context)


@login_required
@permission_required("training.view_trainingsession", raise_exception=True)
@require_GET
def session_review(request: HttpRequest, pk: int) -> HttpResponse:
    """The review block alone, fetched by the page when the socket says the score is ready."""
    session = get_object_or_404(sessions_visible_to(user=request.user).select_related("score"), pk=pk)
    return render(request, "training/session_detail.html#review", _review_context(session))


@login_required
@permission_required("training.view_trainingsession", raise_exception=True)
@require_POST
def session_end(request: HttpRequest, pk: int) -> HttpResponse:
    """End a session whose socket is gone (dropped connection): it keeps what was said and gets scored."""
    session = _own_session(request, pk)
    services.session_end(session_id=session.pk, reason="button")
    url = reverse("training:session_detail", args=[pk])
    if request.htmx:
        response = HttpResponse(status=204)
        response["HX-Redirect"] = url
        return response
    return redirect(url)


@login_required
@permission_required("training.rescore_trainingsession", raise_exception=True)
@require_POST
def session_rescore(request: HttpRequest, pk: int) -> HttpResponse:
    """A manager runs the review again; the page shows it pending and gets the new one by push."""
    session = get_object_or_404(sessions_visible_to(user=request.user), pk=pk)
    try:
        services.session_rescore(session_id=session.pk, by=request.user)
    except services.TransitionError as exc:
        return HttpResponse(str(exc), status=409)
    if request.htmx:
        session = get_object_or_404(sessions_visible_to(user=request.user).select_related("score"), pk=pk)
        return render(request, "training/session_detail.html#review", _review_context(session))
    return redirect("training:session_detail", pk=pk)


@login_required
@permission_required("training.view_trainingsession", raise_exception=True)
@require_GET
def session_audio(request: HttpRequest, pk: int) -> FileResponse:
    session = get_object_or_404(sessions_visible_to(user=request.user), pk=pk)
    if not session.audio:
        raise Http404
    return FileResponse(session.audio.open("rb"), content_type="audio/wav", filename=f"session-{pk}.wav")


# --- ElevenLabs Conversational AI mode -----------------------------------------------------------


@login_required
@permission_required("training.add_trainingsession", raise_exception=True)
@require_POST
def elevenlabs_signed_url(request: HttpRequest, pk: int) -> JsonResponse:
    from training.elevenlabs import signed_url
    from voice.errors import ProviderError

    session = _own_session(request, pk)
    scenario = session.scenario
    if session.status not in LIVE or scenario is None or scenario.mode != Scenario.Mode.ELEVENLABS:
        return JsonResponse({"error": "not an open ElevenLabs session"}, status=409)
    try:
        url = signed_url(agent_id=scenario.elevenlabs_agent_id)
    except ProviderError as exc:
        return JsonResponse({"error": str(exc)}, status=502)
    services.session_start(session_id=session.pk)
    return JsonResponse({"signed_url": url})


SPEAKERS = {"user": "user", "trainee": "user", "bot": "bot", "agent": "bot", "ai": "bot"}


@login_required
@permission_required("training.add_trainingsession", raise_exception=True)
@require_POST
def session_transcript(request: HttpRequest, pk: int) -> JsonResponse:
    """The transcript of a conversation held with the ElevenLabs agent, posted by the page at the end."""
    session = _own_session(request, pk)
    try:
        payload = json.loads(request.body or b"{}")
        raw = payload["turns"]
        if not isinstance(raw, list) or len(raw) > 500:
            raise ValueError("turns must be a list of at most 500")
        turns = []
        for item in raw:
            speaker = SPEAKERS.get(str(item.get("speaker", "")).lower())
            text = str(item.get("text", "")).strip()
            if speaker is None:
                raise ValueError(f"unknown speaker {item.get('speaker')!r}")
            if text:
                turns.append(services.TurnRecord(
                    speaker=speaker, text=text[:5000],
                    started_ms=_int_or_none(item.get("started_ms")), ended_ms=_int_or_none(item.get("ended_ms")),
                    interrupted=bool(item.get("interrupted", False)),
                ))
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        return JsonResponse({"error": f"bad transcript: {exc}"}, status=400)
    try:
        services.session_transcript_import(session_id=session.pk, turns=turns, reason="elevenlabs")
    except services.TransitionError as exc:
        return JsonResponse({"error": str(exc)}, status=409)
    return JsonResponse({"review_url": reverse("training:session_detail", args=[pk])})


def _int_or_none(value: Any) -> int | None:
    try:
        return None if value is None else max(0, int(value))
    except (TypeError, ValueError):
        return None
