"""Trainer pages (HTMX): home with progress, the start form, the live session, the review, audio, ElevenLabs mode.

Trainees see only their own sessions (404 for anyone else's: its existence is not the viewer's
business); managers see every session's review but never join a live one.
"""

from __future__ import annotations

import json
from typing import Any

from django.contrib.auth.decorators import login_required, permission_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST
from rest_framework import serializers

from config.media import private_file_response
from integrations.errors import ProviderError
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
def session_audio(request: HttpRequest, pk: int) -> HttpResponse:
    session = get_object_or_404(sessions_visible_to(user=request.user), pk=pk)
    return private_file_response(file=session.audio, filename=f"session-{pk}.wav")


# --- ElevenLabs Conversational AI mode -----------------------------------------------------------


@login_required
@permission_required("training.add_trainingsession", raise_exception=True)
@require_POST
def elevenlabs_signed_url(request: HttpRequest, pk: int) -> JsonResponse:
    from training.elevenlabs import signed_url  # noqa: PLC0415  httpx (via training.elevenlabs): only when the ElevenLabs mode asks for a link

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
MAX_OFFSET_MS = 24 * 3600 * 1000  # a turn's offset within one conversation; the column is a 32-bit integer


class TranscriptTurnForm(serializers.Serializer):
    speaker = serializers.ChoiceField(choices=sorted(SPEAKERS))
    text = serializers.CharField(allow_blank=True, allow_null=True, trim_whitespace=True)
    started_ms = serializers.IntegerField(min_value=0, max_value=MAX_OFFSET_MS, required=False, allow_null=True)
    ended_ms = serializers.IntegerField(min_value=0, max_value=MAX_OFFSET_MS, required=False, allow_null=True)
    interrupted = serializers.BooleanField(required=False, default=False)

    def to_internal_value(self, data):
        if isinstance(data, dict) and isinstance(data.get("speaker"), str):
            data = {**data, "speaker": data["speaker"].lower()}
        return super().to_internal_value(data)


class TranscriptForm(serializers.Serializer):
    turns = TranscriptTurnForm(many=True, max_length=500)


@login_required
@permission_required("training.add_trainingsession", raise_exception=True)
@require_POST
def session_transcript(request: HttpRequest, pk: int) -> JsonResponse:
    """The transcript of a conversation held with the ElevenLabs agent, posted by the page at the end."""
    session = _own_session(request, pk)
    try:
        payload = json.loads(request.body or b"{}")
    except ValueError:
        return JsonResponse({"error": "bad transcript: not JSON"}, status=400)
    form = TranscriptForm(data=payload)
    if not form.is_valid():
        return JsonResponse({"error": "bad transcript", "detail": form.errors}, status=400)
    turns = [
        services.TurnRecord(speaker=SPEAKERS[item["speaker"]], text=item["text"][:5000],
                            started_ms=item.get("started_ms"), ended_ms=item.get("ended_ms"),
                            interrupted=item["interrupted"])
        for item in form.validated_data["turns"] if item["text"]
    ]
    try:
        services.session_elevenlabs_transcript_import(session_id=session.pk, turns=turns)
    except services.TransitionError as exc:
        return JsonResponse({"error": str(exc)}, status=409)
    return JsonResponse({"review_url": reverse("training:session_detail", args=[pk])})
